//! Architecture invariants of docs/architecture.md that a reading of the
//! source can check: core knows no backend by name and never prints, the
//! binary names no backend outside `linked_backends.rs`, and no two modules
//! of core or of the binary import each other (directly or round a longer
//! circle), at any level of the module tree; libraries leave the process
//! environment alone; and the binary stays under 1,500 lines.

use std::collections::{BTreeMap, BTreeSet};
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
            assert!(!prints, "{}: core prints: {line}", path.display());
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

/// Every module of a crate's `src` as `a::b` (`lib.rs` is ``, `x/mod.rs`
/// is `x`), with its product code (comments and test modules dropped).
fn modules(src: &Path) -> BTreeMap<String, String> {
    sources(src)
        .into_iter()
        .map(|(path, text)| {
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            let code: Vec<&str> = code(&text).collect();
            (parts.join("::"), code.join("\n"))
        })
        .collect()
}

/// The paths a module's code names: each `crate::a::b` (and each branch of
/// `crate::{a, b::c}`) as absolute segments, each `super::x` resolved
/// against the module's parent.
fn references(module: &str, code: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|seg| {
                seg.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|seg| !seg.is_empty())
            .collect()
    };
    let parent: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
    let parent = &parent[..parent.len().saturating_sub(1)];
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", &[][..]), ("super::", parent)] {
        for (at, _) in code.match_indices(prefix) {
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let branches: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())].split(',').collect(),
                None => vec![rest],
            };
            for branch in branches {
                let mut path: Vec<String> = base.to_vec();
                path.extend(ident(branch.trim()));
                out.push(path);
            }
        }
    }
    out
}

/// The module a path names: the longest module prefix, or, when the next
/// segment is an item a child module defines (re-exported), that child.
fn target(modules: &BTreeMap<String, String>, path: &[String]) -> String {
    let mut module = String::new();
    for segment in path {
        let child = if module.is_empty() {
            segment.clone()
        } else {
            format!("{module}::{segment}")
        };
        if modules.contains_key(&child) {
            module = child;
            continue;
        }
        let prefix = if module.is_empty() {
            String::new()
        } else {
            format!("{module}::")
        };
        let defines = |code: &str| {
            ["fn ", "struct ", "enum ", "trait ", "const ", "type ", "static "]
                .iter()
                .any(|kind| {
                    code.contains(&format!("pub {kind}{segment}"))
                        || code.contains(&format!("pub async {kind}{segment}"))
                })
        };
        if let Some((owner, _)) = modules.iter().find(|(name, code)| {
            name.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains("::"))
                && defines(code)
        }) {
            module = owner.clone();
        }
        break;
    }
    module
}

/// The import graph between sibling modules: `a -> b` when code in `a` (or
/// below it) names `b` (or something in it), for every pair of modules with
/// the same parent.
fn sibling_graph(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, code) in modules {
        for path in references(from, code) {
            let to = target(modules, &path);
            let (a, b): (Vec<&str>, Vec<&str>) = (from.split("::").collect(), to.split("::").collect());
            let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            // A module naming its own ancestor or descendant is no circle.
            if to.is_empty() || common == a.len() || common == b.len() {
                continue;
            }
            graph
                .entry(a[..=common].join("::"))
                .or_default()
                .insert(b[..=common].join("::"));
        }
    }
    graph
}

/// A circle in `graph`, as the path that closes it, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    for src in ["crates/core/src", "src"] {
        let modules = modules(&root().join(src));
        let graph = sibling_graph(&modules);
        assert_eq!(circle(&graph), None, "{src}: modules import each other in a circle");
    }
    // The reading finds the edges it must (or it would pass on anything).
    let graph = sibling_graph(&modules(&root().join("crates/core/src")));
    for (from, to) in [
        ("trust", "config"),
        ("leasing", "ledger"),
        ("leasing::run", "leasing::acquire"),
        ("parent_env", "leasing"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains(to)),
            "{from} -> {to} not seen: {graph:?}"
        );
    }
}

#[test]
fn the_circle_check_finds_a_circle_through_a_re_export() {
    let modules: BTreeMap<String, String> = [
        ("", "pub mod a;\npub mod b;"),
        ("a", "mod inner;\npub use inner::*;"),
        ("a::inner", "use crate::b::helper;\npub struct Thing;"),
        ("b", "use crate::a::Thing;\npub fn helper() {}"),
    ]
    .into_iter()
    .map(|(name, code)| (name.to_string(), code.to_string()))
    .collect();
    let found = circle(&sibling_graph(&modules)).expect("a -> b -> a");
    assert_eq!(found.first(), found.last());
    assert!(
        found.contains(&"a".to_string()) && found.contains(&"b".to_string()),
        "{found:?}"
    );
}

#[test]
fn libraries_never_touch_the_process_environment() {
    const TOUCH: &[&str] = &[
        "env::var(",
        "env::var_os(",
        "env::vars(",
        "env::vars_os(",
        "set_var(",
        "remove_var(",
    ];
    // Core reads it in `EnvSnapshot::capture` and `exec_replace` (the
    // command inherits sesame's environment); backends never.
    const ALLOWED: &[&str] = &["crates/core/src/env.rs", "crates/core/src/process.rs"];
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        // Test stand-ins are no library; the S3 helper is its own executable.
        if name == "test-support" || name == "s3-helper" {
            continue;
        }
        for (path, text) in sources(&dir.join("src")) {
            checked += 1;
            let test_module =
                path.file_stem().is_some_and(|s| s == "tests") || path.parent().is_some_and(|p| p.ends_with("tests"));
            if test_module || ALLOWED.iter().any(|a| root().join(a) == path) {
                continue;
            }
            for line in code(&text) {
                let touches = TOUCH.iter().any(|t| line.contains(t));
                assert!(!touches, "{}: touches the process environment: {line}", path.display());
            }
        }
    }
    assert!(checked > 50, "only {checked} library files read");
}

/// The binary stays thin (issue #12): parsing, wiring and rendering, with
/// the decisions in core. Its lines, tests included, stay under 1,500.
#[test]
fn the_binary_stays_under_1500_lines() {
    fn count(dir: &Path) -> usize {
        let mut lines = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                lines += count(&path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                lines += std::fs::read_to_string(&path).unwrap().lines().count();
            }
        }
        lines
    }
    let lines = count(&root().join("src"));
    assert!(lines > 500 && lines < 1500, "src/ has {lines} lines");
}
