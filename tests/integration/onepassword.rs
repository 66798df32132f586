//! The `1password` provider end to end: the real binary with the `op`
//! stand-in (`tests/support/op`) first on PATH, or against the Connect
//! stand-in (`sesame_test_support::connect`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_test_support::connect::{ConnectData, ConnectStandin};

use crate::support::Sandbox;

const OP_STANDIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/op");

/// In every value, so a leak into sesame's output is easy to spot.
const CANARY: &str = "cnry7";

/// Values that must reach the command byte for byte (name, value).
const ODD: &[(&str, &str)] = &[
    ("MULTILINE", "first line cnry7\nsecond line\n"),
    ("CRLF", "a cnry7\r\nb\r\n"),
    ("EQUALS", "a=b==c=cnry7="),
    ("QUOTES", "it's \"quoted\" `tick` $HOME cnry7 \\n"),
    ("SPACES", "  leading and trailing cnry7  "),
    ("UNICODE", "ünïcødé € 😀 日本 cnry7"),
    ("TABS", "\tcnry7\t"),
    ("EMPTY", ""),
];

/// The data both stand-ins serve.
fn fixture() -> Value {
    let odd: Vec<Value> = ODD
        .iter()
        .map(|(name, value)| json!({"id": format!("odd{}", name.to_lowercase()), "type": "CONCEALED", "label": name.to_lowercase(), "value": value}))
        .collect();
    let mut services: Vec<Value> = Vec::new();
    for n in 1..=10 {
        services.push(json!({"title": format!("Service {n}"), "fields": [
            {"id": "f1", "type": "CONCEALED", "label": "key one", "value": format!("s{n}-one-cnry7")},
            {"id": "f2", "type": "CONCEALED", "label": "key two", "value": format!("s{n}-two-cnry7")},
            {"id": "f3", "type": "CONCEALED", "label": "key three", "value": format!("s{n}-three-cnry7")}
        ]}));
    }
    let mut development = vec![
        json!({"title": "Cloudflare", "category": "API_CREDENTIAL",
        "sections": [{"id": "s1", "label": "Admin"}],
        "fields": [
            {"id": "k3qz7", "type": "CONCEALED", "label": "api token", "value": "cf-token-cnry7"},
            {"id": "u1", "type": "STRING", "label": "account id", "value": "acct-cnry7", "section": {"id": "s1", "label": "Admin"}}
        ]}),
        json!({"title": "Login", "category": "LOGIN", "fields": [
            {"id": "username", "type": "STRING", "purpose": "USERNAME", "label": "username", "value": "me-cnry7"},
            {"id": "pw", "type": "CONCEALED", "purpose": "PASSWORD", "label": "secret", "value": "hunter2-cnry7"}
        ]}),
        json!({"title": "Café ✓ (prod) #1, \"x\"; 'y'", "fields": [
            {"id": "c1", "type": "CONCEALED", "label": "clé: «api» & <more>", "value": "unicode-name-cnry7"}
        ]}),
        json!({"title": "-dash item", "fields": [
            {"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "dash-cnry7"}
        ]}),
        json!({"title": "Odd", "category": "PASSWORD", "fields": odd}),
        json!({"id": "twinaaaaaaaaaaaaaaaaaaaaaa", "title": "Twin", "fields": []}),
        json!({"id": "twinbbbbbbbbbbbbbbbbbbbbbb", "title": "Twin", "fields": []}),
    ];
    development.extend(services);
    json!({
        "service_account_token": "ops_right",
        "vaults": [
            {"name": "Development", "items": development},
            {"name": "Équipe ☃ prod", "items": [
                {"title": "DB", "fields": [{"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "db-cnry7"}]}
            ]}
        ]
    })
}

/// A TOML basic string.
fn toml_str(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A config with the `op` provider (vault Development, plus `extra` lines)
/// and one secret per `(name, value)`.
fn op_config(extra: &str, secrets: &[(&str, &str)]) -> String {
    let mut text = format!("[providers.op]\ntype = \"1password\"\nvault = \"Development\"\n{extra}\n\n[secrets]\n");
    for (name, value) in secrets {
        text.push_str(&format!(
            "{name} = {{ provider = \"op\", value = {} }}\n",
            toml_str(value)
        ));
    }
    text
}

/// A sandbox with the `op` stand-in first on PATH, serving `data`.
fn op_sandbox(config: &str, data: &Value) -> Sandbox {
    let mut sb = Sandbox::new(config);
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(OP_STANDIN, bin.join("op")).unwrap();
    std::fs::write(sb.path("op-data.json"), serde_json::to_vec(data).unwrap()).unwrap();
    let path = format!("{}:{}", bin.display(), sb.env["PATH"]);
    let (data_path, log_path) = (sb.path("op-data.json"), sb.path("op-log.jsonl"));
    sb.set("PATH", &path)
        .set("OP_STANDIN_DATA", data_path.to_str().unwrap())
        .set("OP_STANDIN_LOG", log_path.to_str().unwrap());
    sb
}

/// Every `op` invocation so far, from the stand-in's log.
fn op_log(sb: &Sandbox) -> Vec<Value> {
    match std::fs::read_to_string(sb.path("op-log.jsonl")) {
        Ok(text) => text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The log entries of `op inject` calls and of the other calls.
fn split_log(log: &[Value]) -> (Vec<&Value>, Vec<&Value>) {
    log.iter().partition(|e| e["argv"][0] == "inject")
}

/// Asserts that only `op inject` got a stdin (a pipe holding its
/// template) and that every other call had /dev/null and read nothing.
#[track_caller]
fn assert_only_inject_reads_stdin(log: &[Value]) {
    for entry in log {
        if entry["argv"][0] == "inject" {
            assert_eq!(entry["stdin_kind"], "pipe", "{entry}");
            assert!(
                entry["stdin"].as_str().is_some_and(|t| t.contains("{{ op://")),
                "{entry}"
            );
        } else {
            assert_eq!(entry["stdin_kind"], "null", "{entry}");
            assert_eq!(entry["stdin"], Value::Null, "{entry}");
        }
        assert_eq!(entry["stdin_is_tty"], false, "{entry}");
    }
}

/// The references an `op inject` template held, in order.
fn injected_references(entry: &Value) -> Vec<String> {
    let template = entry["stdin"].as_str().unwrap();
    template
        .lines()
        .map(|line| {
            let start = line.find("{{ ").unwrap() + 3;
            let end = line.find(" }}").unwrap();
            line[start..end].to_string()
        })
        .collect()
}

/// How many of the logged calls ran at once, at most.
fn max_overlap(log: &[&Value]) -> usize {
    log.iter()
        .map(|e| {
            let t = e["start"].as_f64().unwrap();
            log.iter()
                .filter(|o| o["start"].as_f64().unwrap() <= t && o["end"].as_f64().unwrap() > t)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Runs `sesame [pre...] exec -- env -0` and returns the command's environment.
fn child_env(sb: &Sandbox, pre: &[&str]) -> (BTreeMap<String, String>, String) {
    let mut args: Vec<&str> = pre.to_vec();
    args.extend(["exec", "--", "env", "-0"]);
    let run = sb.run(&args);
    run.assert_code(0);
    assert_clean(&run.stderr());
    let vars = run
        .0
        .stdout
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = String::from_utf8(e.to_vec()).unwrap();
            let (k, v) = e.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    (vars, run.stderr())
}

#[track_caller]
fn assert_clean(stderr: &str) {
    assert!(
        !stderr.contains(CANARY),
        "a secret value reached sesame's stderr:\n{stderr}"
    );
}

/// Runs and expects the resolution to fail (125), returning stderr.
#[track_caller]
fn failing(sb: &Sandbox) -> String {
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    let err = run.stderr();
    assert_clean(&err);
    err
}

#[test]
fn the_seed_example_resolves_with_one_op_inject() {
    let sb = op_sandbox(
        &op_config("", &[("CLOUDFLARE_API_TOKEN", "Cloudflare/api token")]),
        &fixture(),
    );
    let (env, _) = child_env(&sb, &["-vvv"]);
    assert_eq!(env["CLOUDFLARE_API_TOKEN"], "cf-token-cnry7");
    let log = op_log(&sb);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["argv"], json!(["inject"]));
    assert_eq!(log[0]["stdin_kind"], "pipe");
    assert_eq!(log[0]["stdin_is_tty"], false);
    assert_eq!(log[0]["has_service_account_token"], false);
    // Enclosed, as the name holds a space; between markers with a
    // 128-bit nonce.
    let template = log[0]["stdin"].as_str().unwrap();
    let nonce = template
        .strip_prefix("<sesame-")
        .and_then(|t| t.split_once('-'))
        .unwrap()
        .0;
    assert!(
        nonce.len() == 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit()),
        "{template}"
    );
    assert_eq!(
        template,
        format!("<sesame-{nonce}-begin-0>{{{{ op://Development/Cloudflare/api token }}}}<sesame-{nonce}-end-0>\n")
    );
}

#[test]
fn the_account_is_passed_to_every_op_call() {
    let secrets = [
        ("CF", "Cloudflare/api token"),
        ("UNICODE", "Café ✓ (prod) #1, \"x\"; 'y'/clé: «api» & <more>"),
    ];
    let sb = op_sandbox(&op_config("account = \"my.1password.com\"", &secrets), &fixture());
    let (env, _) = child_env(&sb, &[]);
    assert_eq!(env["CF"], "cf-token-cnry7");
    assert_eq!(env["UNICODE"], "unicode-name-cnry7");
    let log = op_log(&sb);
    assert_eq!(log.len(), 2, "{log:?}");
    let (inject, others) = split_log(&log);
    assert_eq!(inject[0]["argv"], json!(["inject", "--account", "my.1password.com"]));
    assert!(
        others[0]["argv"]
            .as_array()
            .unwrap()
            .ends_with(&[json!("--account"), json!("my.1password.com")]),
        "{:?}",
        others[0]
    );
}

#[test]
fn op_never_sees_sesames_stdin() {
    let sb = op_sandbox(&op_config("", &[("A", "Login")]), &fixture());
    let mut child = sb
        .cmd(&["exec", "--", "sh", "-c", "cat; printf '|%s' \"$A\""])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"for the command").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "for the command|hunter2-cnry7");
    let log = op_log(&sb);
    assert_eq!(log.len(), 1);
    // op's stdin is sesame's template, never sesame's own stdin.
    assert_eq!(log[0]["stdin_kind"], "pipe", "{:?}", log[0]);
    assert_eq!(injected_references(&log[0]), ["op://Development/Login/password"]);
    assert!(!log[0]["stdin"].as_str().unwrap().contains("for the command"));
}

#[test]
fn every_value_form_resolves() {
    let secrets = [
        ("FULL", "op://Development/Cloudflare/api token"),
        ("FULL_SECTION", "op://Development/Cloudflare/Admin/account id"),
        ("ITEM_ONLY", "Login"),
        ("ITEM_FIELD", "Login/username"),
        ("ITEM_FIELD_BY_ID", "Cloudflare/k3qz7"),
        ("ITEM_SECTION_FIELD", "Cloudflare/Admin/account id"),
        ("CASE", "login/USERNAME"),
        ("OTHER_VAULT", "op://Équipe ☃ prod/DB/password"),
    ];
    let sb = op_sandbox(&op_config("", &secrets), &fixture());
    let (env, _) = child_env(&sb, &[]);
    let expected = [
        ("FULL", "cf-token-cnry7"),
        ("FULL_SECTION", "acct-cnry7"),
        ("ITEM_ONLY", "hunter2-cnry7"),
        ("ITEM_FIELD", "me-cnry7"),
        ("ITEM_FIELD_BY_ID", "cf-token-cnry7"),
        ("ITEM_SECTION_FIELD", "acct-cnry7"),
        ("CASE", "me-cnry7"),
        ("OTHER_VAULT", "db-cnry7"),
    ];
    for (name, value) in expected {
        assert_eq!(env[name], value, "{name}");
    }
    // One `op inject` for every reference op's syntax expresses (the two
    // with a section are one), one `op item get` for the vault whose name
    // it does not.
    let log = op_log(&sb);
    assert_eq!(log.len(), 2, "{log:?}");
    let (inject, others) = split_log(&log);
    assert_eq!(injected_references(inject[0]).len(), 6, "{:?}", inject[0]);
    assert_eq!(others[0]["argv"][2], "DB");
    assert_eq!(others[0]["argv"][4], "Équipe ☃ prod");
    assert_only_inject_reads_stdin(&log);
}

#[test]
fn names_with_spaces_punctuation_and_unicode_resolve() {
    let secrets = [
        ("UNICODE_NAMES", "Café ✓ (prod) #1, \"x\"; 'y'/clé: «api» & <more>"),
        ("DASH", "-dash item"),
    ];
    let sb = op_sandbox(&op_config("", &secrets), &fixture());
    let (env, _) = child_env(&sb, &[]);
    assert_eq!(env["UNICODE_NAMES"], "unicode-name-cnry7");
    assert_eq!(env["DASH"], "dash-cnry7");
    // Names outside op's reference syntax never reach a template.
    let log = op_log(&sb);
    assert_eq!(log.len(), 2, "{log:?}");
    let (inject, others) = split_log(&log);
    assert_eq!(injected_references(inject[0]), ["op://Development/-dash item/password"]);
    assert_eq!(others[0]["argv"][2], "Café ✓ (prod) #1, \"x\"; 'y'");

    // When op inject fails, a title starting with `-` is read with
    // `op item get ... -- TITLE`.
    let config =
        op_config("", &secrets) + "GONE = { provider = \"op\", value = \"Nothing/x\", if_missing = \"ignore\" }\n";
    let sb = op_sandbox(&config, &fixture());
    let (env, _) = child_env(&sb, &[]);
    assert_eq!(env["DASH"], "dash-cnry7");
    let log = op_log(&sb);
    let dash = log
        .iter()
        .find(|e| e["argv"].to_string().contains("-dash item") && e["argv"][0] == "item")
        .unwrap();
    assert_eq!(
        dash["argv"].as_array().unwrap().iter().rev().nth(1).unwrap(),
        "--",
        "{dash}"
    );
}

#[test]
fn odd_values_round_trip_byte_for_byte() {
    let secrets: Vec<(String, String)> = ODD
        .iter()
        .map(|(n, _)| (n.to_string(), format!("Odd/{}", n.to_lowercase())))
        .collect();
    let refs: Vec<(&str, &str)> = secrets.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let sb = op_sandbox(&op_config("", &refs), &fixture());
    let (env, _) = child_env(&sb, &[]);
    for (name, value) in ODD {
        assert_eq!(env[*name].as_bytes(), value.as_bytes(), "{name}");
    }
    let log = op_log(&sb);
    assert_eq!(log.len(), 1, "one call: {log:?}");
    assert_eq!(log[0]["argv"], json!(["inject"]), "the values went through op inject");
}

#[test]
fn values_that_look_like_markers_or_references_round_trip() {
    let zeros = "0".repeat(32);
    let values = [
        format!("<sesame-{zeros}-end-0>\n<sesame-{zeros}-begin-1>cnry7"),
        format!("x<sesame-{zeros}-end-1>"),
        "<sesame-begin-0>{{ op://Development/Cloudflare/api token }} op://Development/Login/password cnry7".to_string(),
        "}}\n{{ cnry7 <sesame-".to_string(),
    ];
    let mut data = fixture();
    let fields: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"id": format!("m{i}"), "type": "CONCEALED", "label": format!("marker {i}"), "value": v}))
        .collect();
    data["vaults"][0]["items"]
        .as_array_mut()
        .unwrap()
        .push(json!({"title": "Markers", "fields": fields}));
    let secrets: Vec<(String, String)> = (0..values.len())
        .map(|i| (format!("M{i}"), format!("Markers/marker {i}")))
        .collect();
    let mut refs: Vec<(&str, &str)> = secrets.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    refs.push(("AFTER", "Login/username"));
    let sb = op_sandbox(&op_config("", &refs), &data);
    let (env, _) = child_env(&sb, &[]);
    for (i, value) in values.iter().enumerate() {
        assert_eq!(env[&format!("M{i}")].as_bytes(), value.as_bytes(), "M{i}");
    }
    assert_eq!(env["AFTER"], "me-cnry7");
    let log = op_log(&sb);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["argv"], json!(["inject"]));
}

/// `Service N/key one|two|three` for N in 1..=10, as (name, value).
fn thirty_secrets() -> Vec<(String, String)> {
    let fields = ["key one", "key two", "key three"];
    (1..=10)
        .flat_map(|n| {
            fields
                .iter()
                .enumerate()
                .map(move |(i, f)| (format!("S{n}_{i}"), format!("Service {n}/{f}")))
        })
        .collect()
}

#[track_caller]
fn assert_thirty_values(env: &BTreeMap<String, String>) {
    for n in 1..=10 {
        assert_eq!(env[&format!("S{n}_0")], format!("s{n}-one-cnry7"));
        assert_eq!(env[&format!("S{n}_1")], format!("s{n}-two-cnry7"));
        assert_eq!(env[&format!("S{n}_2")], format!("s{n}-three-cnry7"));
    }
}

#[test]
fn thirty_references_across_ten_items_use_one_op_inject() {
    let secrets = thirty_secrets();
    let refs: Vec<(&str, &str)> = secrets.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut sb = op_sandbox(&op_config("", &refs), &fixture());
    sb.set("OP_STANDIN_DELAY_MS", "300");
    let started = Instant::now();
    let (env, _) = child_env(&sb, &[]);
    let elapsed = started.elapsed();
    assert_thirty_values(&env);
    let log = op_log(&sb);
    assert_eq!(log.len(), 1, "exactly one op process: {log:?}");
    assert_eq!(log[0]["argv"], json!(["inject"]));
    let mut injected = injected_references(&log[0]);
    injected.sort();
    let mut expected: Vec<String> = secrets.iter().map(|(_, v)| format!("op://Development/{v}")).collect();
    expected.sort();
    assert_eq!(injected, expected);
    assert_only_inject_reads_stdin(&log);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn when_op_inject_fails_items_are_read_one_by_one_concurrently_with_precise_errors() {
    let secrets = thirty_secrets();
    let mut refs: Vec<(&str, &str)> = secrets.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    refs.push(("ALSO_OK", "Login/username"));
    let tail = "GONE = { provider = \"op\", value = \"Nothing here/x\", if_missing = \"warn\" }\n\
                NOFIELD = { provider = \"op\", value = \"Service 3/nope\", default = \"fallback\" }\n";
    for (extra, bound) in [("", 16), ("concurrency = 3", 3), ("concurrency = 10", 10)] {
        let config = op_config(extra, &refs) + tail;
        let mut sb = op_sandbox(&config, &fixture());
        sb.set("OP_STANDIN_DELAY_MS", "300");
        let (env, stderr) = child_env(&sb, &[]);
        assert_thirty_values(&env);
        assert_eq!(env["ALSO_OK"], "me-cnry7");
        // Not found, whichever path found it: if_missing and default apply.
        assert!(!env.contains_key("GONE"));
        assert!(
            stderr.contains("warning: secret `GONE`")
                && stderr.contains("vault `Development` has no item `Nothing here`"),
            "{stderr}"
        );
        assert_eq!(env["NOFIELD"], "fallback");

        let log = op_log(&sb);
        let (inject, gets) = split_log(&log);
        assert_eq!(inject.len(), 1, "{log:?}");
        assert!(
            inject[0]["exit"] == 1
                && inject[0]["end"].as_f64() <= gets.iter().map(|g| g["start"].as_f64().unwrap()).reduce(f64::min),
            "op inject first, and it failed: {log:?}"
        );
        // At most one op item get per item (Service 1-10, Login, Nothing here).
        let mut items: Vec<&str> = gets.iter().map(|e| e["argv"][2].as_str().unwrap()).collect();
        assert_eq!(items.len(), 12, "{log:?}");
        items.sort();
        items.dedup();
        assert_eq!(items.len(), 12, "one call per item: {items:?}");
        assert_only_inject_reads_stdin(&log);
        let overlap = max_overlap(&gets);
        assert!(overlap <= bound, "at most {bound} at once, saw {overlap}");
        assert!(overlap >= 2, "calls run concurrently ({extra}), saw {overlap}");
    }
}

#[test]
fn a_token_from_another_secret_reaches_op_only() {
    let config = format!(
        "{}\n[providers.env]\ntype = \"env\"\n",
        op_config("token = { secret = \"OP_TOKEN\" }", &[("CF", "Cloudflare/api token")])
    )
    .replace(
        "[secrets]\n",
        "[secrets]\nOP_TOKEN = { provider = \"env\", value = \"CI_OP_TOKEN\" }\n",
    );
    let mut sb = op_sandbox(&config, &fixture());
    sb.set("CI_OP_TOKEN", "ops_right");
    let (env, stderr) = child_env(&sb, &["-vvv"]);
    assert_eq!(env["CF"], "cf-token-cnry7");
    assert!(
        !env.contains_key("OP_SERVICE_ACCOUNT_TOKEN"),
        "the command must not get op's token"
    );
    assert_eq!(env["OP_TOKEN"], "ops_right", "OP_TOKEN is a configured secret");
    assert!(!stderr.contains("ops_right"), "{stderr}");
    let log = op_log(&sb);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["argv"], json!(["inject"]));
    assert_eq!(log[0]["has_service_account_token"], true);

    // A wrong token is rejected by op, and said so.
    sb.set("CI_OP_TOKEN", "ops_wrong");
    let err = failing(&sb);
    assert!(
        err.contains("secret `CF`") && err.contains("rejected the service-account token"),
        "{err}"
    );
    assert!(!err.contains("ops_wrong"), "{err}");
    assert_eq!(op_log(&sb).len(), 2, "a rejected token is not asked again item by item");

    // Asked for as a secret, the variable does reach the command.
    let config = config
        .replace("\"OP_TOKEN\"", "\"OP_SERVICE_ACCOUNT_TOKEN\"")
        .replace("\nOP_TOKEN =", "\nOP_SERVICE_ACCOUNT_TOKEN =");
    let mut sb = op_sandbox(&config, &fixture());
    sb.set("CI_OP_TOKEN", "ops_right");
    let (env, _) = child_env(&sb, &[]);
    assert_eq!(env["OP_SERVICE_ACCOUNT_TOKEN"], "ops_right");
}

#[test]
fn op_not_installed_says_how_to_install_or_use_connect() {
    let mut sb = op_sandbox(&op_config("", &[("CF", "Cloudflare/api token")]), &fixture());
    let without_op = sb.env["PATH"].split_once(':').unwrap().1.to_string();
    sb.set("PATH", &without_op);
    let err = failing(&sb);
    assert!(
        err.contains("secret `CF` (provider `op`, reference `Cloudflare/api token`)"),
        "{err}"
    );
    assert!(err.contains("not installed"), "{err}");
    assert!(
        err.contains("hint: install the 1Password CLI") && err.contains("connect_host"),
        "{err}"
    );

    let sb = op_sandbox(
        &op_config("op_path = \"/nonexistent/op\"", &[("CF", "Cloudflare/api token")]),
        &fixture(),
    );
    sb.trust_project();
    let err = failing(&sb);
    assert!(err.contains("not installed at `/nonexistent/op`"), "{err}");
}

#[test]
fn not_signed_in_is_one_error_naming_cause_fix_and_count() {
    let mut data = fixture();
    data["signed_in"] = json!(false);
    let mut secrets = thirty_secrets();
    secrets.push(("CF".into(), "Cloudflare/api token".into()));
    secrets.push(("LOGIN".into(), "Login".into()));
    let refs: Vec<(&str, &str)> = secrets.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let sb = op_sandbox(&op_config("", &refs), &data);
    let err = failing(&sb);
    assert_eq!(err.matches("not signed in").count(), 1, "one cause, said once:\n{err}");
    assert!(err.contains("32 secrets, provider `op`"), "how many it affects:\n{err}");
    assert!(
        err.contains("op signin") && err.contains("OP_SERVICE_ACCOUNT_TOKEN"),
        "the fix:\n{err}"
    );
    assert!(err.lines().count() <= 3, "one error, not one per secret:\n{err}");
    // Reported for all from the one op inject, not asked again per item.
    let log = op_log(&sb);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["argv"], json!(["inject"]));
}

const OP_MINI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/op-mini");

/// A sandbox with the independent `op` stand-in (tests/support/op-mini)
/// first on PATH, serving two fields.
fn op_mini_sandbox(config: &str) -> Sandbox {
    let mut sb = Sandbox::new(config);
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(OP_MINI, bin.join("op")).unwrap();
    let vaults = json!({"Ops": {"Cloudflare": {"token": "cf-cnry7"}, "Db": {"password": "db pw cnry7"}}});
    std::fs::write(sb.path("vaults.json"), vaults.to_string()).unwrap();
    let path = format!("{}:{}", bin.display(), sb.env["PATH"]);
    let (vaults, seen) = (sb.path("vaults.json"), sb.path("seen.jsonl"));
    sb.set("PATH", &path)
        .set("MINIOP_VAULTS", vaults.to_str().unwrap())
        .set("MINIOP_SEEN", seen.to_str().unwrap());
    sb
}

/// The OP_* variables the independent stand-in was given, per call.
fn op_mini_seen(sb: &Sandbox) -> Vec<Value> {
    std::fs::read_to_string(sb.path("seen.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

#[test]
fn an_independent_op_gets_every_variable_op_documents() {
    let secrets = [("CF", "Cloudflare/token"), ("DB", "op://Ops/Db/password")];
    let config = op_config("account = \"my.1password.com\"", &secrets).replace("Development", "Ops");
    // Each documented way of signing op in, as op reads it.
    let cases: &[&[(&str, &str)]] = &[
        &[("OP_SESSION", "plain-session")],
        &[("OP_SESSION_personal", "shorthand-session"), ("OP_RUN_NO_MASKING", "1")],
        &[
            ("OP_CONNECT_HOST", "http://connect.internal:8080"),
            ("OP_CONNECT_TOKEN", "connect-token"),
        ],
    ];
    for vars in cases {
        // With OP_CONNECT_HOST set, naming op explicitly keeps the CLI mode
        // (op in front of Connect, the documented CI setup).
        let config = if vars[0].0 == "OP_CONNECT_HOST" {
            config.replace("account =", &format!("op_path = {}\naccount =", toml_str(OP_MINI)))
        } else {
            config.clone()
        };
        let mut sb = op_mini_sandbox(&config);
        sb.trust_project();
        for (k, v) in *vars {
            sb.set(k, v);
        }
        let (env, stderr) = child_env(&sb, &[]);
        assert_eq!(env["CF"], "cf-cnry7", "{vars:?}: {stderr}");
        assert_eq!(env["DB"], "db pw cnry7", "{vars:?}");
        let seen = op_mini_seen(&sb);
        assert!(!seen.is_empty());
        for call in &seen {
            for (k, v) in *vars {
                assert_eq!(call["op_vars"][k], *v, "{k} must reach op: {call}");
            }
        }
    }
    // Signed out, the independent op's own error comes through, once.
    let sb = op_mini_sandbox(&config);
    let err = failing(&sb);
    assert_eq!(err.matches("not signed in").count(), 1, "{err}");
    assert!(
        err.contains("2 secrets, provider `op`") && err.contains("op signin"),
        "{err}"
    );
    // An item op does not know is that secret's own error.
    let sb = op_mini_sandbox(&config.replace("Cloudflare/token", "Nope/token"));
    let mut sb = sb;
    sb.set("OP_SESSION", "s");
    let err = failing(&sb);
    assert!(
        err.contains("secret `CF`") && err.contains("has no item `Nope`"),
        "{err}"
    );
    assert!(!err.contains("secret `DB`"), "{err}");
}

#[test]
fn vault_account_and_token_accept_secret_references() {
    let config = format!(
        "{}\n[providers.env]\ntype = \"env\"\n",
        op_config(
            "account = { secret = \"OP_ACCT\" }\ntoken = { secret = \"OP_TOKEN\" }",
            &[("CF", "Cloudflare/api token")]
        )
        .replace("vault = \"Development\"", "vault = { secret = \"OP_VAULT\" }")
    )
    .replace(
        "[secrets]\n",
        "[secrets]\nOP_VAULT = { provider = \"env\", value = \"CI_VAULT\" }\n\
         OP_ACCT = { provider = \"env\", value = \"CI_ACCT\" }\n\
         OP_TOKEN = { provider = \"env\", value = \"CI_TOKEN\" }\n",
    );
    let mut sb = op_sandbox(&config, &fixture());
    sb.set("CI_VAULT", "Development")
        .set("CI_ACCT", "my.1password.com")
        .set("CI_TOKEN", "ops_right");
    let (env, _) = child_env(&sb, &[]);
    assert_eq!(env["CF"], "cf-token-cnry7");
    let log = op_log(&sb);
    assert_eq!(log[0]["argv"], json!(["inject", "--account", "my.1password.com"]));
    let injected = injected_references(&log[0]);
    assert_eq!(injected, ["op://Development/Cloudflare/api token"]);
    // A vault secret that does not resolve is said so, naming the field.
    sb.set("CI_VAULT", "");
    let err = failing(&sb);
    assert!(err.contains("the vault (`vault`) is empty"), "{err}");
}

#[test]
fn missing_vault_item_and_field_and_ambiguous_titles_are_explained() {
    let secrets = [
        ("NO_VAULT", "op://Nowhere/Cloudflare/api token"),
        ("NO_ITEM", "Nothing here/x"),
        ("NO_FIELD", "Cloudflare/api tokn"),
        ("NO_SECTION", "Cloudflare/Ops/account id"),
        ("TWIN", "Twin/x"),
    ];
    let sb = op_sandbox(&op_config("", &secrets), &fixture());
    let err = failing(&sb);
    let line = |name: &str| -> String {
        let start = err
            .find(&format!("secret `{name}`"))
            .unwrap_or_else(|| panic!("{name} not reported:\n{err}"));
        err[start..].lines().take(2).collect::<Vec<_>>().join("\n")
    };
    assert!(line("NO_VAULT").contains("vault `Nowhere` was not found"), "{err}");
    assert!(line("NO_VAULT").contains("hint: check its name"), "{err}");
    assert!(
        line("NO_ITEM").contains("vault `Development` has no item `Nothing here`"),
        "{err}"
    );
    let field = line("NO_FIELD");
    assert!(
        field.contains("has no field `api tokn`; its fields: `api token`, `Admin/account id`"),
        "{field}"
    );
    assert!(
        line("NO_SECTION").contains("has no section `Ops`; its sections: `Admin`"),
        "{err}"
    );
    let twin = line("TWIN");
    assert!(
        twin.contains("more than one item in vault `Development` is titled `Twin`"),
        "{err}"
    );
    assert!(
        err.contains("twinaaaaaaaaaaaaaaaaaaaaaa") && err.contains("twinbbbbbbbbbbbbbbbbbbbbbb"),
        "the IDs to use:\n{err}"
    );
    // One op inject (which fails), then one op item get per item:
    // Nowhere/Cloudflare, Nothing here, Cloudflare, Twin.
    let log = op_log(&sb);
    let (inject, gets) = split_log(&log);
    assert_eq!((inject.len(), gets.len()), (1, 4), "{log:?}");
    assert_only_inject_reads_stdin(&log);
}

#[test]
fn missing_items_and_fields_follow_if_missing_and_defaults() {
    let config = "[providers.op]\ntype = \"1password\"\nvault = \"Development\"\n\n[secrets]\n\
        GONE = { provider = \"op\", value = \"Nothing/x\", if_missing = \"warn\" }\n\
        NOFIELD = { provider = \"op\", value = \"Login/nope\", default = \"fallback\" }\n\
        OK = { provider = \"op\", value = \"Login\" }\n";
    let sb = op_sandbox(config, &fixture());
    let (env, stderr) = child_env(&sb, &[]);
    assert!(!env.contains_key("GONE"));
    assert_eq!(env["NOFIELD"], "fallback");
    assert_eq!(env["OK"], "hunter2-cnry7");
    assert!(
        stderr.contains("warning: secret `GONE`") && stderr.contains("has no item `Nothing`"),
        "{stderr}"
    );
    // op inject fails on `Nothing`; Nothing and Login are then read.
    let log = op_log(&sb);
    assert_eq!(log.len(), 3, "{log:?}");
}

#[test]
fn a_hanging_op_times_out_and_is_killed() {
    let mut sb = op_sandbox(
        &op_config("timeout = \"1s\"", &[("CF", "Cloudflare/api token")]),
        &fixture(),
    );
    sb.set("OP_STANDIN_HANG", "1");
    let started = Instant::now();
    let err = failing(&sb);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        err.contains("secret `CF`") && err.contains("did not answer within 1s"),
        "{err}"
    );
    assert!(err.contains("unlock or approve"), "{err}");
    let log = op_log(&sb);
    assert_eq!(log.len(), 1);
    let pid = log[0]["pid"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let gone = state
            .as_deref()
            .is_none_or(|s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'));
        if gone {
            break;
        }
        assert!(Instant::now() < deadline, "op (pid {pid}) still runs after the timeout");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Without a provider timeout, sesame's --timeout bounds the call.
    let mut sb = op_sandbox(&op_config("", &[("CF", "Cloudflare/api token")]), &fixture());
    sb.set("OP_STANDIN_HANG", "1");
    let run = sb.run(&["--timeout", "2s", "exec", "--", "true"]);
    run.assert_code(125);
    assert!(
        run.stderr().contains("`op inject` did not answer within 1.9s"),
        "{}",
        run.stderr()
    );
}

// ---------------------------------------------------------------- Connect

fn connect_config(host: &str, extra: &str, secrets: &[(&str, &str)]) -> String {
    let mut text = format!(
        "[providers.env]\ntype = \"env\"\n\n[providers.op]\ntype = \"1password\"\nvault = \"Development\"\n\
         connect_host = \"{host}\"\nconnect_token = {{ secret = \"CONNECT_TOKEN\" }}\n{extra}\n\n[secrets]\n\
         CONNECT_TOKEN = {{ provider = \"env\", value = \"CT\", if_missing = \"ignore\" }}\n"
    );
    for (name, value) in secrets {
        text.push_str(&format!(
            "{name} = {{ provider = \"op\", value = {} }}\n",
            toml_str(value)
        ));
    }
    text
}

/// A sandbox for Connect mode; no `op` on PATH.
fn connect_sandbox(config: &str, token: &str) -> Sandbox {
    let mut sb = Sandbox::new(config);
    sb.set("CT", token);
    // `connect_host` is trust-sensitive: the user trusts the file first.
    sb.trust_project();
    sb
}

#[test]
fn connect_mode_resolves_every_form_with_one_lookup_per_vault_and_item() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    let mut secrets: Vec<(String, String)> = vec![
        ("SEED".into(), "Cloudflare/api token".into()),
        (
            "FULL_SECTION".into(),
            "op://Development/Cloudflare/Admin/account id".into(),
        ),
        ("ITEM_ONLY".into(), "Login".into()),
        ("ITEM_FIELD".into(), "Login/username".into()),
        ("OTHER_VAULT".into(), "op://Équipe ☃ prod/DB/password".into()),
        (
            "UNICODE_NAMES".into(),
            "Café ✓ (prod) #1, \"x\"; 'y'/clé: «api» & <more>".into(),
        ),
    ];
    secrets.extend(
        ODD.iter()
            .map(|(n, _)| (n.to_string(), format!("Odd/{}", n.to_lowercase()))),
    );
    let refs: Vec<(&str, &str)> = secrets.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let sb = connect_sandbox(&connect_config(&server.base_url(), "", &refs), &server.token());
    let (env, stderr) = child_env(&sb, &["-vvv"]);
    assert!(!stderr.contains(&server.token()), "{stderr}");
    assert_eq!(env["SEED"], "cf-token-cnry7");
    assert_eq!(env["FULL_SECTION"], "acct-cnry7");
    assert_eq!(env["ITEM_ONLY"], "hunter2-cnry7");
    assert_eq!(env["ITEM_FIELD"], "me-cnry7");
    assert_eq!(env["OTHER_VAULT"], "db-cnry7");
    assert_eq!(env["UNICODE_NAMES"], "unicode-name-cnry7");
    for (name, value) in ODD {
        assert_eq!(env[*name].as_bytes(), value.as_bytes(), "{name}");
    }
    let log = server.request_log();
    assert!(
        log.iter()
            .all(|r| r.bearer.as_deref() == Some(server.token().as_str()) && r.status == 200),
        "{log:?}"
    );
    let count = |path: &str| log.iter().filter(|r| r.path == path).count();
    assert_eq!(count("/v1/vaults"), 2, "one lookup per vault: {log:?}");
    // Cloudflare, Login, Café, Odd, DB: one search and one read each.
    assert_eq!(log.len(), 2 + 5 * 2, "{log:?}");
}

#[test]
fn connect_mode_from_the_environment_needs_no_op() {
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    let config = "[providers.op]\ntype = \"1password\"\nvault = \"Development\"\n\n[secrets]\nCF = { provider = \"op\", value = \"Cloudflare/api token\" }\n";
    let mut sb = Sandbox::new(config);
    sb.set("OP_CONNECT_HOST", &server.base_url())
        .set("OP_CONNECT_TOKEN", &server.token());
    let (env, _) = child_env(&sb, &[]);
    assert_eq!(env["CF"], "cf-token-cnry7");
}

#[test]
fn connect_errors_are_explained() {
    let data = ConnectData::from_json(fixture())
        .with_token("all-vaults", None)
        .with_token("prod-only", Some(vec!["Équipe ☃ prod".into()]));
    let server = ConnectStandin::start(data);
    let secrets = [("CF", "Cloudflare/api token")];
    let config = connect_config(&server.base_url(), "", &secrets);

    // 401: a token the server does not know.
    let err = failing(&connect_sandbox(&config, "wrong-token"));
    assert!(
        err.contains("secret `CF`") && err.contains("rejected the token (401"),
        "{err}"
    );
    assert!(err.contains("hint: check `connect_token`"), "{err}");

    // 403: a token without access to the vault. The stand-in lists only
    // the vaults in scope; asking by ID shows the 403.
    let vault_id = sesame_test_support::connect::derived_id(&["vault", "Development"]);
    let by_id = connect_config(
        &server.base_url(),
        "",
        &[("CF", &format!("op://{vault_id}/Cloudflare/api token"))],
    );
    let err = failing(&connect_sandbox(&by_id, "prod-only"));
    assert!(err.contains("may not read vault") && err.contains("403"), "{err}");
    let err = failing(&connect_sandbox(&config, "prod-only"));
    assert!(err.contains("vault `Development` was not found"), "{err}");

    // 404: no such item (not found, so if_missing applies), field, vault.
    let missing = [
        ("NO_ITEM", "Nothing/x"),
        ("NO_FIELD", "Login/nope"),
        ("NO_VAULT", "op://Nowhere/x/y"),
        ("TWIN", "Twin/x"),
        ("BY_ID", "op://Development/zzzzzzzzzzzzzzzzzzzzzzzzzz/x"),
    ];
    let sb = connect_sandbox(&connect_config(&server.base_url(), "", &missing), "all-vaults");
    let err = failing(&sb);
    assert!(err.contains("vault `Development` has no item `Nothing`"), "{err}");
    assert!(
        err.contains("has no field `nope`; its fields: `username`, `secret`"),
        "{err}"
    );
    assert!(err.contains("vault `Nowhere` was not found"), "{err}");
    assert!(
        err.contains("more than one item in vault `Development` is titled `Twin`"),
        "{err}"
    );
    assert!(err.contains("twinaaaaaaaaaaaaaaaaaaaaaa"), "{err}");
    assert!(err.contains("has no item `zzzzzzzzzzzzzzzzzzzzzzzzzz`"), "{err}");
    let warn = connect_config(&server.base_url(), "", &[])
        + "GONE = { provider = \"op\", value = \"Nothing/x\", if_missing = \"warn\" }\n";
    let (env, stderr) = child_env(&connect_sandbox(&warn, "all-vaults"), &[]);
    assert!(
        !env.contains_key("GONE") && stderr.contains("warning: secret `GONE`"),
        "{stderr}"
    );

    // 5xx.
    server.fail_next(20, 503);
    let err = failing(&connect_sandbox(&config, "all-vaults"));
    assert!(err.contains("secret `CF`") && err.contains("failed (503"), "{err}");
    assert!(err.contains("/health"), "{err}");

    // A server that does not answer in time.
    let server = ConnectStandin::start(ConnectData::from_json(fixture()));
    server.set_latency(Duration::from_secs(3));
    let config = connect_config(&server.base_url(), "timeout = \"1s\"", &secrets);
    let started = Instant::now();
    let err = failing(&connect_sandbox(&config, &server.token()));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.contains("did not answer within 1s"), "{err}");

    // Nothing listening.
    let config = connect_config("http://127.0.0.1:9", "", &secrets);
    let err = failing(&connect_sandbox(&config, "t"));
    assert!(
        err.contains("cannot reach 1Password Connect at http://127.0.0.1:9"),
        "{err}"
    );
}
