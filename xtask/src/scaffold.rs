//! `cargo xtask new-backend provider|lease NAME`: a new backend crate with
//! a working skeleton, added to the workspace and linked from the binary.
//! The promise it keeps: a backend is a crate plus one line.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

const CARGO_TEMPLATE: &str = include_str!("../templates/Cargo.toml.tmpl");
const PROVIDER_TEMPLATE: &str = include_str!("../templates/provider.rs.tmpl");
const LEASE_TEMPLATE: &str = include_str!("../templates/lease.rs.tmpl");
const DOC_TEMPLATE: &str = include_str!("../templates/doc.md.tmpl");

/// Parses `provider|lease NAME` and generates the backend under `root`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let [kind, name] = args else {
        bail!("usage: cargo xtask new-backend provider|lease NAME");
    };
    generate(root, kind, name)?;
    println!("created crates/{kind}-{name} (type `{name}`), linked from src/linked_backends.rs");
    // The schema and CLI reference now include the backend: regenerate them
    // with an xtask that links it (this one was built before it existed).
    println!("regenerating the reference docs and schema (cargo xtask docs)...");
    regenerate_docs(root, &[])?;
    println!("next: cargo build && ./target/debug/sesame backends; then read docs/writing-a-backend.md");
    println!("when you change the config fields, update the example in docs/{kind}s/{name}.md (the docs tests validate it) and run `cargo xtask docs`");
    Ok(())
}

/// Runs `cargo xtask docs ARGS` in `root` with a freshly built xtask.
pub fn regenerate_docs(root: &Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["run", "--quiet", "-p", "xtask", "--", "docs"])
        .args(args)
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("`cargo xtask docs` failed; fix the error above, then run it again");
    }
    Ok(())
}

/// Formats the generated and edited Rust files with the workspace's
/// rustfmt.toml, so the result passes `cargo fmt --check` as generated.
fn format(files: &[std::path::PathBuf]) -> Result<()> {
    let status = Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(files)
        .status()
        .context("cannot run rustfmt (`rustup component add rustfmt`)")?;
    if !status.success() {
        bail!("rustfmt failed on the generated files");
    }
    Ok(())
}

/// Generates crate, docs page and wiring for a backend of `kind` named `name`.
pub fn generate(root: &Path, kind: &str, name: &str) -> Result<()> {
    let template = match kind {
        "provider" => PROVIDER_TEMPLATE,
        "lease" => LEASE_TEMPLATE,
        _ => bail!("the kind is `provider` or `lease`, not `{kind}`"),
    };
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!("`{name}` is not a backend name: use lowercase letters, digits and `-`, starting with a letter");
    }
    let crate_dir = root.join(format!("crates/{kind}-{name}"));
    if crate_dir.exists() {
        bail!("{} already exists", crate_dir.display());
    }
    let fill = |text: &str| {
        let camel: String = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let example = match kind {
            // The smallest table that loads: the docs tests validate it
            // against the schema, and it stays valid while the fields change
            // unless one becomes required (then it belongs here).
            "provider" => format!("[providers.{name}]\ntype = \"{name}\""),
            _ => format!("[leases.{name}]\ntype = \"{name}\""),
        };
        text.replace("{{name}}", name)
            .replace("{{kind}}", kind)
            .replace("{{Camel}}", &camel)
            .replace("{{UPPER}}", &name.replace('-', "_").to_uppercase())
            .replace("{{example}}", &example)
    };
    std::fs::create_dir_all(crate_dir.join("src"))?;
    std::fs::write(crate_dir.join("Cargo.toml"), fill(CARGO_TEMPLATE))?;
    std::fs::write(crate_dir.join("src/lib.rs"), fill(template))?;
    let docs_dir = root.join(if kind == "provider" {
        "docs/providers"
    } else {
        "docs/leases"
    });
    std::fs::create_dir_all(&docs_dir)?;
    std::fs::write(docs_dir.join(format!("{name}.md")), fill(DOC_TEMPLATE))?;

    let package = format!("sesame-{kind}-{name}");
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)?;
    let manifest = insert_after_last(
        &manifest,
        "[workspace]",
        |l| l.trim_start().starts_with("\"crates/"),
        &format!("    \"crates/{kind}-{name}\","),
    )?;
    let manifest = insert_after_last(
        &manifest,
        "[workspace.dependencies]",
        |l| l.starts_with("sesame-") && l.contains("path = "),
        &format!("{package} = {{ path = \"crates/{kind}-{name}\", version = \"0.1.0\" }}"),
    )?;
    let manifest = insert_after_last(
        &manifest,
        "[dependencies]",
        |l| l.starts_with("sesame-") && l.ends_with(".workspace = true"),
        &format!("{package}.workspace = true"),
    )?;
    std::fs::write(&manifest_path, manifest)?;

    let linked_path = root.join("src/linked_backends.rs");
    let linked = std::fs::read_to_string(&linked_path)?;
    let linked = insert_after_last(
        &linked,
        "",
        |l| l.starts_with("use sesame_") && l.ends_with(" as _;"),
        &format!("use {} as _;", package.replace('-', "_")),
    )?;
    let anchor = "const EXPECTED: &[(&str, &str)] = &[";
    if !linked.contains(anchor) {
        bail!("src/linked_backends.rs has no `{anchor}` list to extend");
    }
    let linked = linked.replacen(anchor, &format!("{anchor}(\"{kind}\", \"{name}\"), "), 1);
    std::fs::write(&linked_path, linked)?;
    format(&[crate_dir.join("src/lib.rs"), linked_path])
}

/// Inserts `line` after the last line matching `matches` in the section
/// that starts with the line `section` (the whole text when empty) and
/// ends at the next `[` header.
fn insert_after_last(text: &str, section: &str, matches: impl Fn(&str) -> bool, line: &str) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = if section.is_empty() {
        0
    } else {
        lines
            .iter()
            .position(|l| l.trim() == section)
            .with_context(|| format!("no `{section}` section"))?
    };
    let end = if section.is_empty() {
        lines.len()
    } else {
        lines[start + 1..]
            .iter()
            .position(|l| l.starts_with('['))
            .map_or(lines.len(), |i| start + 1 + i)
    };
    let at = (start..end)
        .rev()
        .find(|&i| matches(lines[i]))
        .with_context(|| format!("no line to insert after in `{section}`"))?;
    let mut out: Vec<&str> = lines[..=at].to_vec();
    out.push(line);
    out.extend_from_slice(&lines[at + 1..]);
    Ok(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Copies the workspace's files (tracked and untracked, not ignored)
    /// into `to`.
    fn copy_workspace(from: &Path, to: &Path) {
        let listed = Command::new("git")
            .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
            .current_dir(from)
            .output()
            .expect("git runs");
        for path in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
            let relative = PathBuf::from(String::from_utf8_lossy(path).into_owned());
            let source = from.join(&relative);
            if !source.is_file() {
                continue; // deleted in the working tree
            }
            let target = to.join(&relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&source, &target).unwrap();
        }
    }

    /// The outer `cargo test` holds the main target directory's lock, so
    /// the copy builds in its own; hard links to the already built
    /// dependencies (`cp -al`, no bytes copied) spare it rebuilding them.
    fn seed_target_dir(from: &Path, to: &Path) {
        if to.join(".fingerprint").exists() || !from.join(".fingerprint").exists() {
            return;
        }
        std::fs::create_dir_all(to).unwrap();
        for dir in ["deps", "build", ".fingerprint"] {
            let status = Command::new("cp")
                .arg("-al")
                .arg(from.join(dir))
                .arg(to)
                .status()
                .unwrap();
            assert!(status.success(), "cp -al {dir}");
        }
    }

    #[test]
    fn rejects_bad_kinds_and_names() {
        let dir = tempfile_dir("names");
        assert!(super::generate(&dir, "store", "x")
            .unwrap_err()
            .to_string()
            .contains("`provider` or `lease`"));
        assert!(super::generate(&dir, "lease", "Bad_Name")
            .unwrap_err()
            .to_string()
            .contains("not a backend name"));
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sesame-scaffold-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The scaffold in a copy of the workspace builds, and the built
    /// binary registers both new backends. Uses its own target directory
    /// (the outer `cargo test` holds the main one): slow the first time on
    /// a machine, incremental after.
    #[test]
    fn scaffolded_backends_build_and_register() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let copy = tempfile_dir("workspace");
        copy_workspace(root, &copy);
        super::generate(&copy, "provider", "demo").unwrap();
        super::generate(&copy, "lease", "demo-lease").unwrap();
        // The outer build's target directory, wherever CARGO_TARGET_DIR puts it.
        let outer = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let outer = if outer.is_absolute() { outer } else { root.join(outer) };
        let target = outer.join("scaffold-check");
        seed_target_dir(&outer.join("debug"), &target.join("debug"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let run = |args: &[&str]| {
            Command::new(&cargo)
                .args(args)
                .current_dir(&copy)
                .env("CARGO_TARGET_DIR", &target)
                .env_remove("RUSTFLAGS")
                .status()
                .unwrap()
                .success()
        };
        // As generated: formatted, clippy-clean, its own tests pass, and
        // the reference docs regenerate (then `docs --check` agrees).
        assert!(
            run(&["fmt", "--all", "--", "--check"]),
            "the scaffold's output is formatted"
        );
        let new = ["-p", "sesame-provider-demo", "-p", "sesame-lease-demo-lease"];
        let clippy = [
            &["clippy", "--quiet", "--offline", "--all-targets"][..],
            &new,
            &["--", "-D", "warnings"],
        ]
        .concat();
        assert!(run(&clippy), "the scaffold's output passes clippy");
        assert!(
            run(&[&["test", "--quiet", "--offline"][..], &new].concat()),
            "the scaffold's tests pass"
        );
        // `sesame` alone: the `sesame-s3` helper (aws-sdk-s3) is not under test.
        let build = ["build", "--quiet", "--offline", "-p", "sesame", "--no-default-features"];
        assert!(run(&build), "the scaffolded workspace builds");
        assert!(
            run(&["run", "--quiet", "--offline", "-p", "xtask", "--", "docs"]),
            "docs regenerate"
        );
        assert!(
            run(&["run", "--quiet", "--offline", "-p", "xtask", "--", "docs", "--check"]),
            "docs are fresh"
        );
        let out = Command::new(target.join("debug/sesame"))
            .args(["backends", "--format", "json"])
            .current_dir(&copy)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("\"type\": \"demo\""), "{listing}");
        assert!(listing.contains("\"type\": \"demo-lease\""), "{listing}");
        let cfg = copy.join("try.toml");
        std::fs::write(
            &cfg,
            "[providers.demo]\ntype = \"demo\"\nvalues = { A = \"from-demo\" }\n\n[secrets]\nA = { provider = \"demo\", value = \"A\" }\n\n[leases.tok]\ntype = \"demo-lease\"\nreuse = false\n",
        )
        .unwrap();
        let out = Command::new(target.join("debug/sesame"))
            .args([
                "-c",
                cfg.to_str().unwrap(),
                "exec",
                // Under CI=true with output on a pipe, masking is on by
                // default; this test reads the values back.
                "--no-mask",
                "--",
                "sh",
                "-c",
                "echo $A ${DEMO_LEASE_TOKEN%%-*}",
            ])
            .env("SESAME_STATE_DIR", copy.join("state"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "from-demo token\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&copy).ok();
    }
}
