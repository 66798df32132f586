//! A config file from a cloned repository cannot send credentials
//! elsewhere: trust-sensitive fields count only from files the user
//! trusted, unchanged since (issue 7). Tested as an attacker would: the
//! "attacker's" server records every request it gets.

use serde_json::json;
use sesame_test_support::connect::{ConnectData, ConnectStandin};

use crate::support::Sandbox;

/// A repository file that points 1Password Connect at `host`.
fn repo_config(host: &str) -> String {
    format!(
        "[providers.op]\ntype = \"1password\"\nvault = \"Development\"\nconnect_host = \"{host}\"\n\
         connect_token = {{ secret = \"CONNECT_TOKEN\" }}\n\n[providers.env]\ntype = \"env\"\n\n[secrets]\n\
         CONNECT_TOKEN = {{ provider = \"env\", value = \"MY_CONNECT_TOKEN\" }}\n\
         DB = {{ provider = \"op\", value = \"Database/password\" }}\n"
    )
}

fn server() -> ConnectStandin {
    ConnectStandin::start(ConnectData::from_json(json!({
        "vaults": [{"name": "Development", "items": [
            {"title": "Database", "fields": [{"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "db-pass"}]}
        ]}]
    })))
}

fn sandbox(server: &ConnectStandin) -> Sandbox {
    let mut sb = Sandbox::new(&repo_config(&server.base_url()));
    sb.set("MY_CONNECT_TOKEN", &server.token());
    sb
}

#[test]
fn an_untrusted_file_cannot_send_the_connect_token_anywhere() {
    let attacker = server();
    let sb = sandbox(&attacker);
    let run = sb.run(&["exec", "--", "sh", "-c", "echo $DB"]);
    run.assert_code(125);
    let err = run.stderr();
    for part in [
        "sesame.toml:4:1",
        "`connect_host` in [providers.op]",
        "sesame.toml is not trusted",
        "run `sesame trust sesame.toml`",
    ] {
        assert!(err.contains(part), "expected {part:?} in:\n{err}");
    }
    assert!(
        attacker.request_log().is_empty(),
        "the untrusted host received: {:?}",
        attacker.request_log()
    );
}

#[test]
fn trusting_the_file_makes_it_work_and_an_edit_revokes_the_trust() {
    let server = server();
    let sb = sandbox(&server);
    let trusted = sb.run(&["trust"]);
    trusted.assert_code(0);
    assert!(
        trusted.stderr().contains("trusting sesame.toml"),
        "{}",
        trusted.stderr()
    );
    let run = sb.run(&["exec", "--", "sh", "-c", "echo $DB"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "db-pass\n");
    let requests = server.request_log().len();
    assert!(requests > 0);

    // The repository changes (a pull, or an attacker's commit): untrusted again.
    let path = sb.project().join("sesame.toml");
    let edited = std::fs::read_to_string(&path).unwrap() + "\n# harmless-looking edit\n";
    std::fs::write(&path, edited).unwrap();
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(
        run.stderr().contains("changed since you trusted it"),
        "{}",
        run.stderr()
    );
    assert_eq!(server.request_log().len(), requests, "nothing more was sent");

    let check = sb.run(&["check", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&check.stdout()).unwrap();
    let file = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "file")
        .unwrap()
        .clone();
    assert_eq!(file["detail"], "project, changed");
}

#[test]
fn trust_can_be_listed_and_revoked() {
    let server = server();
    let sb = sandbox(&server);
    sb.run(&["trust"]).assert_code(0);
    let list: serde_json::Value =
        serde_json::from_str(&sb.run(&["trust", "--list", "--format", "json"]).stdout()).unwrap();
    let path = list["trusted"][0]["path"].as_str().unwrap().to_string();
    assert!(path.ends_with("project/sesame.toml"), "{path}");
    assert_eq!(list["trusted"][0]["sha256"].as_str().unwrap().len(), 64);
    sb.run(&["trust", "--revoke"]).assert_code(0);
    sb.run(&["exec", "--", "true"]).assert_code(125);
    assert!(server.request_log().is_empty());
}

#[test]
fn a_program_named_by_an_untrusted_file_never_runs() {
    let sb = Sandbox::new(
        "[providers.op]\ntype = \"1password\"\nvault = \"V\"\nop_path = \"./evil-op\"\n\n[secrets]\nX = { provider = \"op\", value = \"item\" }\n",
    );
    let marker = sb.path("evil-ran");
    sb.write("project/evil-op", &format!("#!/bin/sh\ntouch {}\n", marker.display()));
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(sb.project().join("evil-op"))
        .status()
        .unwrap();
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(run.stderr().contains("`op_path` in [providers.op]"), "{}", run.stderr());
    assert!(!marker.exists(), "the repository's program must not run");
}

#[test]
fn the_users_own_sources_are_trusted() {
    let server = server();
    // The same settings in a file named with -c...
    let sb = sandbox(&server);
    sb.write("mine.toml", &repo_config(&server.base_url()));
    let mine = sb.path("mine.toml");
    sb.run(&["-c", mine.to_str().unwrap(), "exec", "--", "true"])
        .assert_code(0);
    // ...in the global config...
    let mut sb = Sandbox::new("");
    sb.set("MY_CONNECT_TOKEN", &server.token());
    sb.write("config/sesame/config.toml", &repo_config(&server.base_url()));
    sb.run(&["exec", "--", "true"]).assert_code(0);
    // ...or with SESAME_TRUST_ALL=1 for CI containers.
    let mut sb = sandbox(&server);
    sb.set("SESAME_TRUST_ALL", "1");
    sb.run(&["exec", "--", "true"]).assert_code(0);
}

#[test]
fn untrusted_files_still_load_without_sensitive_fields() {
    // The host from the environment, the rest from the repository file.
    let server = server();
    let config = "[providers.op]\ntype = \"1password\"\nvault = \"Development\"\n\n[secrets]\nDB = { provider = \"op\", value = \"Database/password\" }\n";
    let mut sb = Sandbox::new(config);
    sb.set("OP_CONNECT_HOST", &server.base_url())
        .set("OP_CONNECT_TOKEN", &server.token());
    let run = sb.run(&["exec", "--", "sh", "-c", "echo $DB"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "db-pass\n");
}

#[test]
fn an_untrusted_api_base_never_receives_the_parent_token() {
    use sesame_test_support::cloudflare::{groups, CloudflareStandin, TokenSpec};
    // The attacker's "Cloudflare" accepts the user's parent token, so if
    // sesame sent it there, minting would succeed and the log would show it.
    let attacker = CloudflareStandin::start();
    let parent = attacker.add_user_token(TokenSpec::parent(&[groups::ZONE_READ]));
    let config = format!(
        "[leases.cf]\ntype = \"cloudflare\"\napi_base = \"{}\"\nduration = \"1h\"\n",
        attacker.base_url()
    );
    let mut sb = Sandbox::new(&config);
    sb.set("CLOUDFLARE_API_TOKEN", &parent.value);
    let marker = sb.path("ran");
    let run = sb.run(&["exec", "--", "touch", marker.to_str().unwrap()]);
    run.assert_code(125);
    assert!(run.stderr().contains("`api_base` in [leases.cf]"), "{}", run.stderr());
    assert!(!marker.exists());
    assert_eq!(
        attacker.request_count(),
        0,
        "the parent token went nowhere: {:?}",
        attacker.request_log()
    );
    // Once the user trusts the file, the same config works.
    sb.trust_project();
    sb.run(&["exec", "--", "true"]).assert_code(0);
    assert!(attacker.request_count() > 0);
}
