//! `sesame exec --record FILE`: one complete, values-free JSON document per
//! run, however the run ends.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use serde_json::Value;

use crate::support::{env_config, Sandbox};

const TOKEN: &str = "tok-record-0123456789";
const DEFAULT: &str = "default-value-98765";

fn sandbox() -> Sandbox {
    let mut config = env_config(&[("TOKEN", "SRC_TOKEN")]);
    config.push_str("FALLBACK = { provider = \"env\", value = \"SRC_UNSET\", default = \"default-value-98765\" }\n");
    let mut sb = Sandbox::new(&config);
    sb.set("SRC_TOKEN", TOKEN);
    sb
}

/// Every record in `path`, after checking the file is private and holds
/// no value (not the secret, not the default, not in any encoding a
/// program would print: plain, or masked-out).
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    for value in [TOKEN, DEFAULT] {
        assert!(!text.contains(value), "a value reached the record: {text}");
    }
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[track_caller]
fn assert_complete(record: &Value) {
    assert_eq!(record["format_version"], 1);
    assert!(record["sesame_version"].is_string());
    assert!(record["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(record["ended_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(record["config_files"][0]["trust"], "untrusted");
    let names: Vec<&str> = record["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["FALLBACK", "TOKEN"]);
    assert_eq!(record["secrets"][1]["provider"], "env");
    assert_eq!(record["secrets"][1]["reference"], "SRC_TOKEN");
    assert_eq!(record["leases_revoked"], true);
}

#[test]
fn success_failure_and_death_by_signal_each_leave_one_record() {
    let mut sb = sandbox();
    let path = sb.path("runs/record.jsonl");
    let file = path.to_str().unwrap();
    sb.run(&[
        "exec",
        "--record",
        file,
        "--record-args",
        "--",
        "sh",
        "-c",
        "exit 0",
        "x",
        TOKEN,
    ])
    .assert_code(0);
    sb.run(&["exec", "--record", file, "--", "sh", "-c", "exit 4"])
        .assert_code(4);
    // A crash of the command.
    let crash = sb.run(&["exec", "--record", file, "--", "sh", "-c", "kill -SEGV $$"]);
    assert_eq!(crash.0.status.signal(), Some(libc::SIGSEGV));
    sb.run(&["exec", "--record", file, "--", "no-such-command-xyz"])
        .assert_code(127);
    // Failure before run: a secret that cannot be resolved.
    sb.set("SESAME_RECORD", file);
    std::fs::write(
        sb.project().join("sesame.toml"),
        env_config(&[("TOKEN", "SRC_MISSING")]),
    )
    .unwrap();
    sb.run(&["exec", "--", "true"]).assert_code(125);

    let all = records(&path);
    assert_eq!(all.len(), 5);
    for record in &all[..4] {
        assert_complete(record);
    }
    assert_eq!(all[0]["outcome"], serde_json::json!({"status": "exited", "code": 0}));
    assert_eq!(all[0]["command"]["program"], "sh");
    assert_eq!(
        all[0]["command"]["args"],
        serde_json::json!(["-c", "exit 0", "x", "<concealed by sesame>"]),
        "arguments on request, with values masked"
    );
    assert!(all[1]["command"].get("args").is_none(), "no arguments unless asked");
    assert_eq!(all[1]["outcome"], serde_json::json!({"status": "exited", "code": 4}));
    assert_eq!(
        all[2]["outcome"],
        serde_json::json!({"status": "signaled", "signal": libc::SIGSEGV})
    );
    assert_eq!(
        all[3]["outcome"],
        serde_json::json!({"status": "not-run", "stage": "start", "exit_code": 127})
    );
    assert_eq!(
        all[4]["outcome"],
        serde_json::json!({"status": "not-run", "stage": "resolve", "exit_code": 125})
    );
}

#[test]
fn sigterm_to_sesame_still_writes_a_complete_record() {
    let sb = sandbox();
    let path = sb.path("record.jsonl");
    let ready = sb.path("ready");
    let script = format!("touch '{}'; exec sleep 30", ready.display());
    let mut child = sb
        .cmd(&["exec", "--record", path.to_str().unwrap(), "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    while !ready.exists() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: signal to the sesame process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "sesame dies like its command");
    let all = records(&path);
    assert_eq!(all.len(), 1);
    assert_complete(&all[0]);
    assert_eq!(
        all[0]["outcome"],
        serde_json::json!({"status": "signaled", "signal": libc::SIGTERM})
    );
}

#[test]
fn record_from_an_untrusted_project_file_is_ignored() {
    let sb = sandbox();
    let mut config = std::fs::read_to_string(sb.project().join("sesame.toml")).unwrap();
    config.push_str("\n[exec]\nrecord = \"runs.jsonl\"\n");
    std::fs::write(sb.project().join("sesame.toml"), config).unwrap();
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(0);
    assert!(run.stderr().contains("`record` in"), "{}", run.stderr());
    assert!(!sb.project().join("runs.jsonl").exists());
    sb.trust_project();
    sb.run(&["exec", "--", "true"]).assert_code(0);
    let all = records(&sb.project().join("runs.jsonl"));
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["config_files"][0]["trust"], "trusted");
}

#[test]
fn a_lease_run_is_masked_and_recorded_without_its_credentials() {
    use crate::cloudflare::{seed, with_reuse_false, Cloud};
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&with_reuse_false(&seed("06-custom-env-var.toml")));
    let path = sb.path("record.jsonl");
    let run = sb.run(&[
        "exec",
        "--mask",
        "--record",
        path.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "printf 'token=%s' \"$CF_TOKEN\"",
    ]);
    run.assert_code(0);
    let children = cloud.children();
    assert_eq!(children.len(), 1);
    assert!(cloud.live_children().is_empty(), "revoked");
    let token = &children[0].value;
    assert_eq!(
        run.stdout(),
        "token=<concealed by sesame>",
        "the minted credential is masked"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    for value in [token.as_str(), cloud.parent.value.as_str()] {
        assert!(!text.contains(value), "a credential reached the record: {text}");
    }
    let record: Value = serde_json::from_str(text.trim_end()).unwrap();
    let lease = &record["leases"][0];
    assert_eq!(lease["name"], "cf");
    assert_eq!(lease["type"], "cloudflare");
    assert_eq!(lease["obtained"], "minted");
    assert_eq!(lease["revoke_after"], true);
    assert_eq!(lease["release"], "revoked");
    assert!(lease["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lease["ledger_id"].as_str().unwrap().len(), 16);
    assert_eq!(record["leases_revoked"], true);
    assert_eq!(record["outcome"], serde_json::json!({"status": "exited", "code": 0}));
}
