//! The `--format json` and `NO_COLOR` contract of the read commands
//! (`list`, `check`, `backends`, `lease list`, `r2 verify`), as
//! docs/reference/json.md states it.
//!
//! Each test runs the real binary and compares the *shape* of its JSON
//! (keys and value types; values, ids, times, paths and ports do not
//! matter) with a committed snapshot in `tests/integration/snapshots/`.
//! Renaming, removing or retyping a field fails the test; adding one does
//! too, so the snapshot (and the doc) are updated on purpose:
//!
//! ```sh
//! SESAME_UPDATE_SNAPSHOTS=1 cargo test --test integration json_contract
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Map, Value};
use sesame_test_support::s3::{Access, Grant, S3Standin};

use crate::cloudflare::{seed, Cloud};
use crate::support::{Run, Sandbox};

/// The shape of a JSON value: `"string"`, `"number"`, `"bool"`, `"null"`;
/// objects keep their keys with the shapes of their values; an array is
/// `[shape]` with the shapes of all its items merged (`[]` when empty).
fn shape(value: &Value) -> Value {
    match value {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(items) => match items.iter().map(shape).reduce(merge) {
            Some(item) => json!([item]),
            None => json!([]),
        },
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

/// Two shapes as one: a key missing on one side is `absent` there, and
/// different primitive types join as `a|b` (sorted).
fn merge(a: Value, b: Value) -> Value {
    if a == b {
        return a;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<String> = x.keys().chain(y.keys()).cloned().collect();
            let absent = json!("absent");
            let fields: Map<String, Value> = keys
                .into_iter()
                .map(|k| {
                    let left = x.get(&k).cloned().unwrap_or_else(|| absent.clone());
                    let right = y.get(&k).cloned().unwrap_or_else(|| absent.clone());
                    (k, merge(left, right))
                })
                .collect();
            Value::Object(fields)
        }
        (Value::Array(x), Value::Array(y)) => match (x.into_iter().next(), y.into_iter().next()) {
            (Some(i), Some(j)) => json!([merge(i, j)]),
            (Some(i), None) | (None, Some(i)) => json!([i]),
            (None, None) => json!([]),
        },
        (Value::String(x), Value::String(y)) => {
            let parts: BTreeSet<&str> = x.split('|').chain(y.split('|')).collect();
            json!(parts.into_iter().collect::<Vec<_>>().join("|"))
        }
        (x, y) => json!({ "one_of": [x, y] }),
    }
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/integration/snapshots/{name}.json"))
}

/// Compares the merged shape of `documents` with `snapshots/<name>.json`,
/// or rewrites that file when `SESAME_UPDATE_SNAPSHOTS=1`.
#[track_caller]
fn assert_shape(name: &str, documents: &[&Value]) {
    let merged = documents.iter().map(|d| shape(d)).reduce(merge).expect("a document");
    let actual = serde_json::to_string_pretty(&merged).unwrap() + "\n";
    let path = snapshot_path(name);
    if std::env::var_os("SESAME_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with SESAME_UPDATE_SNAPSHOTS=1 to write it\nshape:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "the JSON shape of `{name}` changed (a field renamed, removed, added or retyped).\n\
         If that is intended, update docs/reference/json.md and run with SESAME_UPDATE_SNAPSHOTS=1.\n\
         --- expected ({})\n{expected}--- actual\n{actual}",
        path.display()
    );
}

/// The run's stdout as one JSON object, with the common fields checked.
#[track_caller]
fn document(run: &Run) -> Value {
    let out = run.stdout();
    assert!(
        out.ends_with("}\n"),
        "one JSON document and a newline on stdout:\n{out}"
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(doc.is_object(), "{doc}");
    assert_eq!(doc["format_version"], 1, "{doc}");
    doc
}

/// Every value `key` takes in `items` is one of `allowed`.
#[track_caller]
fn values_within(items: &Value, key: &str, allowed: &[&str]) {
    for item in items.as_array().unwrap() {
        let value = item[key].as_str().unwrap_or_else(|| panic!("{key} in {item}"));
        assert!(allowed.contains(&value), "{key} = {value:?} is not one of {allowed:?}");
    }
}

const SECRET_VALUE: &str = "canary-value-4f1d9a";

/// A project with the env provider, a secret with a provider and a
/// description, one with only a default, one optional and missing, and a
/// Cloudflare lease.
fn list_and_check_config() -> String {
    "[providers.env]\ntype = \"env\"\n\n[secrets]\n\
     A = { provider = \"env\", value = \"A_SRC\", description = \"the A\" }\n\
     B = { default = \"b\" }\n\
     C = { provider = \"env\", value = \"C_SRC\", if_missing = \"warn\" }\n\n"
        .to_string()
        + &seed("06-custom-env-var.toml")
}

#[test]
fn backends_json_shape() {
    let sb = Sandbox::new("");
    let run = sb.run(&["backends", "--format", "json"]);
    run.assert_code(0);
    let doc = document(&run);
    values_within(&doc["backends"], "kind", &["provider", "lease"]);
    assert_shape("backends", &[&doc]);
}

#[test]
fn list_json_shape_never_shows_values() {
    let mut sb = Sandbox::new(&list_and_check_config());
    sb.set("A_SRC", SECRET_VALUE);
    let run = sb.run(&["list", "--format", "json"]);
    run.assert_code(0);
    let doc = document(&run);
    assert!(!run.stdout().contains(SECRET_VALUE));
    assert_eq!(
        doc["secrets"][0],
        json!({"name": "A", "provider": "env", "description": "the A"})
    );
    assert_eq!(
        doc["secrets"][1],
        json!({"name": "B", "provider": null, "description": null})
    );
    assert_eq!(doc["leases"], json!([{"name": "cf", "type": "cloudflare"}]));
    assert_shape("list", &[&doc]);
}

#[test]
fn check_json_shape_and_status_values() {
    let mut sb = Sandbox::new(&list_and_check_config());
    sb.set("A_SRC", SECRET_VALUE)
        .set("CLOUDFLARE_API_TOKEN", "parent-token-canary");
    sb.trust_project();
    let run = sb.run(&["check", "--format", "json"]);
    run.assert_code(0);
    let passing = document(&run);
    assert!(!run.stdout().contains(SECRET_VALUE) && !run.stdout().contains("parent-token-canary"));
    assert_eq!(passing["ok"], true);
    let lease = passing["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "lease")
        .unwrap();
    assert_eq!(lease["action"], "mint", "{lease}");

    // D does not resolve: a failed check, exit 1, and still a report.
    sb.write(
        "project/sesame.toml",
        &(list_and_check_config() + "\n[secrets.D]\nprovider = \"env\"\nvalue = \"D_SRC\"\n"),
    );
    sb.trust_project();
    let run = sb.run(&["check", "--format", "json"]);
    run.assert_code(1);
    let failing = document(&run);
    assert_eq!(failing["ok"], false);

    let mut statuses = BTreeSet::new();
    for doc in [&passing, &failing] {
        let checks = &doc["checks"];
        values_within(checks, "kind", &["file", "config", "secret", "provider", "lease"]);
        values_within(checks, "status", &["ok", "missing", "error"]);
        for c in checks.as_array().unwrap() {
            statuses.insert(c["status"].as_str().unwrap().to_string());
            if c["kind"] == "lease" && c["status"] == "ok" {
                values_within(&json!([c]), "action", &["mint", "reuse", "static"]);
            } else {
                assert!(c.get("action").is_none(), "{c}");
            }
        }
    }
    assert_eq!(statuses, BTreeSet::from(["ok", "missing", "error"].map(String::from)));
    assert_shape("check", &[&passing, &failing]);
}

#[test]
fn lease_list_json_shape() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    let created = sb.run(&["lease", "create", "--format", "json"]);
    created.assert_code(0);
    let value = serde_json::from_str::<Value>(&created.stdout()).unwrap()["leases"][0]["env"]["CF_TOKEN"]
        .as_str()
        .unwrap()
        .to_string();
    let run = sb.run(&["lease", "list", "--format", "json"]);
    run.assert_code(0);
    let doc = document(&run);
    assert!(!run.stdout().contains(&value), "lease list shows no credential value");
    let leases = &doc["leases"];
    values_within(
        leases,
        "status",
        &["active", "expired", "minting", "interrupted", "abandoned"],
    );
    values_within(leases, "state", &["pending", "active"]);
    assert_shape("lease-list", &[&doc]);
}

#[test]
fn r2_verify_json_shape() {
    let s3 = S3Standin::start();
    s3.put_object("photos", "cat.jpg", b"meow");
    let (id, secret) = s3.new_key(&[Grant::bucket("photos", Access::ObjectRead)]);
    let config = format!(
        "[providers.env]\ntype = \"env\"\n\n[secrets]\n\
         SRC_KEY = {{ provider = \"env\", value = \"SRC_KEY\" }}\n\
         SRC_SECRET = {{ provider = \"env\", value = \"SRC_SECRET\" }}\n\n\
         [leases.src]\ntype = \"r2\"\nbucket = \"photos\"\naccess = \"read\"\nendpoint = \"{}\"\n\
         static = {{ access_key_id = {{ secret = \"SRC_KEY\" }}, secret_access_key = {{ secret = \"SRC_SECRET\" }} }}\n",
        s3.endpoint()
    );
    let mut sb = Sandbox::new(&config);
    sb.set("SRC_KEY", &id).set("SRC_SECRET", &secret);
    sb.trust_project();
    let run = sb.run(&["r2", "verify", "--source", "src", "--format", "json"]);
    run.assert_code(0);
    let doc = document(&run);
    assert!(!run.stdout().contains(&secret), "no secret access key in the report");
    values_within(&doc["checks"], "status", &["pass", "warn", "fail", "skip"]);
    values_within(&doc["targets"], "credentials", &["static", "minted", "reused"]);
    values_within(&doc["targets"], "access", &["read", "read-write"]);
    values_within(&doc["targets"], "role", &["source", "destination"]);
    assert_shape("r2-verify", &[&doc]);
}

/// The ESC byte that starts every ANSI colour sequence.
const ESC: u8 = 0x1b;

#[track_caller]
fn assert_no_escapes(what: &str, bytes: &[u8]) {
    if let Some(at) = bytes.iter().position(|b| *b == ESC) {
        let text = String::from_utf8_lossy(bytes);
        panic!("{what}: an escape sequence at byte {at}:\n{text}");
    }
}

/// Runs `args` with `NO_COLOR=1` and `-vv`, output piped, in each format;
/// no ESC on stdout or stderr.
#[track_caller]
fn no_colour_when_piped(sb: &Sandbox, args: &[&str]) {
    for format in ["text", "json"] {
        let mut full: Vec<&str> = vec!["-vv"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--format", format]);
        for no_color in [true, false] {
            let mut cmd = sb.cmd(&full);
            if no_color {
                cmd.env("NO_COLOR", "1");
            }
            let out = cmd.output().unwrap();
            let what = format!("sesame {} (NO_COLOR {no_color})", full.join(" "));
            assert_no_escapes(&format!("{what}: stdout"), &out.stdout);
            assert_no_escapes(&format!("{what}: stderr"), &out.stderr);
        }
    }
}

#[test]
fn read_commands_print_no_escapes_when_piped_or_with_no_color() {
    let cloud = Cloud::start(&[]);
    let mut sb = cloud.sandbox(&list_and_check_config());
    sb.set("A_SRC", SECRET_VALUE);
    sb.run(&["lease", "create"]).assert_code(0);
    no_colour_when_piped(&sb, &["backends"]);
    no_colour_when_piped(&sb, &["list"]);
    no_colour_when_piped(&sb, &["check"]);
    no_colour_when_piped(&sb, &["lease", "list"]);
    no_colour_when_piped(&sb, &["r2", "verify"]);

    // On a terminal (util-linux `script` gives the command a pty), NO_COLOR
    // still turns colour off; without it, the -vv logs are coloured, which
    // shows the check can see escapes at all.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` not found: the terminal half of this test is skipped");
        return;
    }
    let on_tty = |args: &str, no_color: bool| {
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c"])
            .arg(format!("{} -vv {args}", crate::support::sesame_bin()))
            .arg("/dev/null")
            .current_dir(sb.project())
            .env_clear()
            .envs(&sb.env)
            .stdin(std::process::Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        cmd.output().unwrap()
    };
    for args in [
        "backends",
        "list",
        "check",
        "lease list",
        "r2 verify",
        "list --format json",
        "check --format json",
        "lease list --format json",
    ] {
        let out = on_tty(args, true);
        assert_no_escapes(&format!("sesame -vv {args} on a terminal with NO_COLOR=1"), &out.stdout);
    }
    let coloured = on_tty("check", false);
    assert!(
        coloured.stdout.contains(&ESC),
        "without NO_COLOR, -vv logs on a terminal are coloured:\n{}",
        String::from_utf8_lossy(&coloured.stdout)
    );
}

/// `sesame check` on an R2 lease with `static = {...}` (keys made by hand):
/// nothing is minted, and check says where the credentials come from.
///
/// Needs `R2Lease` to answer `LeaseBackend::provision` with
/// `Provision::Static` for `static` leases (crates/lease-r2/src/lease.rs;
/// see docs/reference/json.md, "sesame check"); until then the trait's
/// default says `mint`.
#[test]
fn check_says_static_r2_credentials_are_not_minted() {
    let config = "[providers.env]\ntype = \"env\"\n\n[secrets]\n\
         SRC_KEY = { provider = \"env\", value = \"SRC_KEY\" }\n\
         SRC_SECRET = { provider = \"env\", value = \"SRC_SECRET\" }\n\n\
         [leases.src]\ntype = \"r2\"\nbucket = \"photos\"\naccess = \"read\"\n\
         endpoint = \"http://127.0.0.1:9\"\n\
         static = { access_key_id = { secret = \"SRC_KEY\" }, secret_access_key = { secret = \"SRC_SECRET\" } }\n";
    let mut sb = Sandbox::new(config);
    sb.set("SRC_KEY", "0123456789abcdef0123456789abcdef")
        .set("SRC_SECRET", SECRET_VALUE);
    sb.trust_project();
    let run = sb.run(&["check", "--format", "json"]);
    run.assert_code(0);
    let doc = document(&run);
    let lease = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "lease")
        .unwrap()
        .clone();
    assert_eq!(lease["action"], "static", "{lease}");
    assert_eq!(
        lease["detail"],
        "static credentials from `SRC_KEY`, `SRC_SECRET`; nothing is minted or revoked"
    );
    let text = sb.run(&["check"]).stdout();
    assert!(!text.contains("would mint"), "{text}");
    assert!(!text.contains(SECRET_VALUE));
}
