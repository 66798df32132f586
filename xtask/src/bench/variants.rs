//! Build variants of `sesame` for `cargo xtask bench exec --variant NAME`:
//! the same sources built with one setting changed, measured interleaved
//! with the normal build so that the ratio shows what the setting is worth.
//! Each is a `variant` profile inheriting `release`, set with `--config` so
//! nothing in the repository changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A variant: its name, what it changes, and the `--config` values.
struct Variant {
    name: &'static str,
    what: &'static str,
    config: &'static [&'static str],
    /// Flags for the host target only (`--target` is then passed, so build
    /// scripts and proc macros are built without them).
    target_rustflags: &'static [&'static str],
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "panic-abort",
        what: "panic = \"abort\"",
        config: &["profile.variant.panic=\"abort\""],
        target_rustflags: &[],
    },
    Variant {
        name: "thin-lto",
        what: "lto = \"thin\", codegen-units = 16 (the release profile until session 5)",
        config: &["profile.variant.lto=\"thin\"", "profile.variant.codegen-units=16"],
        target_rustflags: &[],
    },
    Variant {
        name: "opt-s",
        what: "opt-level = \"s\"",
        config: &["profile.variant.opt-level=\"s\""],
        target_rustflags: &[],
    },
    Variant {
        name: "opt-2",
        what: "opt-level = 2",
        config: &["profile.variant.opt-level=2"],
        target_rustflags: &[],
    },
    Variant {
        name: "crt-static",
        what: "glibc statically linked (static-pie)",
        config: &[],
        target_rustflags: &["-C", "target-feature=+crt-static"],
    },
    Variant {
        name: "relr",
        what: "relative relocations packed (-z pack-relative-relocs)",
        config: &[],
        target_rustflags: &["-C", "link-arg=-Wl,-z,pack-relative-relocs"],
    },
    Variant {
        name: "no-pie",
        what: "not position-independent (no relocations to apply; no ASLR for the executable)",
        config: &[],
        target_rustflags: &["-C", "relocation-model=static"],
    },
];

/// Every variant's name, for usage messages.
pub fn names() -> Vec<&'static str> {
    VARIANTS.iter().map(|v| v.name).collect()
}

/// Builds variant `name` and returns a copy of its `sesame` in `dir`,
/// with a label for reports.
pub fn build(root: &Path, name: &str, dir: &Path) -> Result<(String, PathBuf)> {
    let Some(variant) = VARIANTS.iter().find(|v| v.name == name) else {
        bail!("unknown variant `{name}`; known: {}", names().join(", "));
    };
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "sesame",
        "--bin",
        "sesame",
        // Only `sesame` is measured: without the S3 helper's dependencies,
        // which do not all build for every variant (`crc-fast` cannot be
        // linked without PIC).
        "--no-default-features",
        "--profile",
        "variant",
    ])
    .args(["--config", "profile.variant.inherits=\"release\""])
    .current_dir(root);
    for setting in variant.config {
        cmd.args(["--config", setting]);
    }
    let mut out_dir = super::release_dir(root).with_file_name("variant");
    if !variant.target_rustflags.is_empty() {
        let host = host_target()?;
        let flags = variant
            .target_rustflags
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(",");
        cmd.args(["--target", &host])
            .args(["--config", &format!("target.{host}.rustflags=[{flags}]")]);
        out_dir = super::release_dir(root).with_file_name(&host).join("variant");
    }
    println!("building variant {name} ({})", variant.what);
    if !cmd.status()?.success() {
        bail!("building variant {name} failed: {cmd:?}");
    }
    let copy = dir.join(format!("variant-{name}")).join("sesame");
    std::fs::create_dir_all(copy.parent().expect("has a parent"))?;
    std::fs::copy(out_dir.join("sesame"), &copy).with_context(|| format!("copying variant {name}"))?;
    Ok((format!("variant {name} ({})", variant.what), copy))
}

fn host_target() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8(out.stdout)?
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("`rustc -vV` names no host")
}
