//! `sesame check` and `sesame exec` agree on every lease: what check says
//! it would do (mint, reuse, static) is what the next exec does, in every
//! reuse situation. Both follow `sesame_core::leasing::plan_lease`; these
//! tests hold the real binary to it against the Cloudflare stand-in.

use serde_json::Value;
use sesame_test_support::cloudflare::TokenSpec;

use crate::cloudflare::{seed, with_reuse_false, Cloud};
use crate::support::Sandbox;

/// What `check` says it would do with lease `cf`.
fn check_action(sb: &Sandbox) -> String {
    let run = sb.run(&["check", "--format", "json"]);
    run.assert_code(0);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    let row = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "lease" && c["name"] == "cf")
        .unwrap_or_else(|| panic!("no lease row: {json}"))
        .clone();
    row["action"].as_str().unwrap().to_string()
}

/// Asks check, runs exec, and asserts exec did what check said: returns
/// the action.
#[track_caller]
fn check_then_exec(cloud: &Cloud, sb: &Sandbox) -> String {
    let action = check_action(sb);
    let before = cloud.children().len();
    sb.run(&["exec", "--", "true"]).assert_code(0);
    let minted = cloud.children().len() - before;
    match action.as_str() {
        "mint" => assert_eq!(minted, 1, "check said mint, exec minted {minted}"),
        "reuse" => assert_eq!(minted, 0, "check said reuse, exec minted {minted}"),
        other => panic!("unexpected action {other}"),
    }
    action
}

#[test]
fn a_lease_from_lease_create_is_not_reused_by_either() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    sb.run(&["lease", "create", "cf"]).assert_code(0);
    assert_eq!(check_then_exec(&cloud, &sb), "mint");
    // exec's own lease is reusable: both now reuse it.
    assert_eq!(check_then_exec(&cloud, &sb), "reuse");
    assert_eq!(cloud.live_children().len(), 2);
}

#[test]
fn an_entry_near_expiry_is_minted_again_by_both() {
    let cloud = Cloud::start(&[]);
    let config = seed("06-custom-env-var.toml").replace("duration = \"30m\"", "duration = \"4m\"");
    let sb = cloud.sandbox(&config);
    assert_eq!(check_then_exec(&cloud, &sb), "mint");
    // 4 minutes left is inside the 5-minute reuse margin.
    assert_eq!(check_then_exec(&cloud, &sb), "mint");
}

#[test]
fn a_changed_config_is_minted_again_by_both() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    assert_eq!(check_then_exec(&cloud, &sb), "mint");
    assert_eq!(check_then_exec(&cloud, &sb), "reuse");
    sb.write(
        "project/sesame.toml",
        &seed("06-custom-env-var.toml").replace("duration = \"30m\"", "duration = \"45m\""),
    );
    sb.trust_project();
    assert_eq!(check_then_exec(&cloud, &sb), "mint");
    assert_eq!(check_then_exec(&cloud, &sb), "reuse");
}

#[test]
fn a_changed_parent_credential_is_minted_again_by_both() {
    let cloud = Cloud::start(&[]);
    let mut sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    assert_eq!(check_then_exec(&cloud, &sb), "mint");
    assert_eq!(check_then_exec(&cloud, &sb), "reuse");
    let other = cloud.standin.add_user_token(TokenSpec::parent(&[]));
    sb.set("CLOUDFLARE_API_TOKEN", &other.value);
    assert_eq!(check_then_exec(&cloud, &sb), "mint");
}

#[test]
fn reuse_false_is_minted_every_time_by_both() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&with_reuse_false(&seed("06-custom-env-var.toml")));
    for _ in 0..2 {
        assert_eq!(check_then_exec(&cloud, &sb), "mint");
    }
    assert!(cloud.live_children().is_empty(), "each was revoked after its run");
}
