//! `cargo xtask`: project chores that are code, not shell scripts.
//!
//! - `cargo xtask bench [NAME...]`: benchmarks against a baseline measured
//!   in the same run, reported as ratios (see docs/benchmarks.md).
//! - `cargo xtask docs [--check]`: the generated CLI reference, man pages
//!   and config schema (docs/reference/sesame.schema.json).
//! - `cargo xtask new-backend provider|lease NAME`: a new backend crate.

mod bench;
mod docs;
mod scaffold;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("docs") => docs::run(&workspace_root(), &args[1..]),
        Some("new-backend") => scaffold::run(&workspace_root(), &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask bench [--iterations N] [NAME...] | docs [--check] | new-backend provider|lease NAME");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    /// A cold `cargo xtask` builds what xtask links: never the S3 SDK, which
    /// only the `sesame-s3` helper needs (xtask takes `sesame` without its
    /// default `s3-helper` feature).
    #[test]
    fn xtask_does_not_build_the_s3_sdk() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let tree = |package: &str| {
            let out = std::process::Command::new(&cargo)
                .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "-p", package])
                .current_dir(super::workspace_root())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(!tree("xtask").contains("aws-sdk-s3"), "xtask depends on aws-sdk-s3");
        // The check can fail: the binary package, with its default features, does.
        assert!(tree("sesame").contains("aws-sdk-s3"));
    }
}
