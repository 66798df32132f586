//! fnox's own documentation and test configurations (tests/fixtures/fnox/corpus,
//! sources in SOURCES.tsv) pass `sesame check --no-resolve` unchanged.

use crate::support::Sandbox;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fnox/corpus");

/// Configurations that use fnox features sesame does not provide.
const UNSUPPORTED: &[&str] = &["005-proxy.toml"];

#[test]
fn fnox_configurations_pass_check_unchanged() {
    let sb = Sandbox::new("");
    let mut files: Vec<_> = std::fs::read_dir(CORPUS)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "corpus is missing: {}", files.len());
    let mut failures = Vec::new();
    let mut passed = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let run = sb.run(&["-c", file.to_str().unwrap(), "check", "--no-resolve"]);
        let ok = run.code() == Some(0);
        match (ok, UNSUPPORTED.contains(&name)) {
            (true, false) => passed += 1,
            (false, true) => {}
            (true, true) => failures.push(format!("{name} passes now: drop it from UNSUPPORTED")),
            (false, false) => failures.push(format!("{name}:\n{}{}", run.stdout(), run.stderr())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(passed + UNSUPPORTED.len(), files.len());
}
