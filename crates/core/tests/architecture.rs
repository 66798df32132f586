//! Architecture invariants of docs/architecture.md that a reading of the
//! source can check: core knows no backend by name and never prints, and
//! the binary names no backend outside `linked_backends.rs`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, with its text up to its `#[cfg(test)]` module.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let product = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            out.push((path, product));
        }
    }
    out
}

/// Code lines (comments dropped).
fn code(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .filter(|l| !l.trim().is_empty())
}

const BACKEND_NAMES: &[&str] = &[
    "\"r2\"",
    "\"cloudflare\"",
    "\"1password\"",
    "sesame_lease_",
    "sesame_provider_",
];

#[test]
fn core_names_no_backend_and_never_prints() {
    for (path, text) in sources(&root().join("crates/core/src")) {
        for line in code(&text) {
            for name in BACKEND_NAMES {
                assert!(!line.contains(name), "{}: names a backend: {line}", path.display());
            }
            let prints = ["println!", "print!(", "eprintln!", "eprint!("]
                .iter()
                .any(|p| line.contains(p));
            assert!(
                !prints || path.ends_with("failpoint.rs"),
                "{}: core prints: {line}",
                path.display()
            );
        }
    }
}

#[test]
fn the_binary_names_no_backend_outside_linked_backends() {
    for (path, text) in sources(&root().join("src")) {
        if path.ends_with("linked_backends.rs") {
            continue;
        }
        for line in code(&text) {
            for name in BACKEND_NAMES {
                assert!(!line.contains(name), "{}: names a backend: {line}", path.display());
            }
        }
    }
}
