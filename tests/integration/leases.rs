//! `sesame lease create|list|revoke|cleanup` end to end, with Cloudflare
//! leases against the stand-in.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use sesame_test_support::cloudflare::TokenSpec;

use crate::cloudflare::{seed, with_reuse_false, Cloud};
use crate::support::Sandbox;

fn json_of(sb: &Sandbox, args: &[&str]) -> Value {
    let run = sb.run(args);
    run.assert_code(0);
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
}

fn ledger(sb: &Sandbox) -> Vec<Value> {
    json_of(sb, &["lease", "list", "--format", "json"])["leases"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn create_prints_credentials_in_each_format_and_list_shows_them_without_values() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));

    let shell = sb.run(&["lease", "create"]);
    shell.assert_code(0);
    let out = shell.stdout();
    let line = out.lines().find(|l| l.starts_with("export CF_TOKEN='")).expect(&out);
    let value = line.trim_start_matches("export CF_TOKEN='").trim_end_matches('\'');
    assert!(out.starts_with("# lease cf (id "), "{out}");
    let env = sb.run(&["lease", "create", "cf", "--format", "env"]);
    env.assert_code(0);
    assert!(
        env.stdout().lines().any(|l| l.starts_with("CF_TOKEN=\"")),
        "{}",
        env.stdout()
    );
    let json = json_of(&sb, &["lease", "create", "--format", "json"]);
    let from_json = json["leases"][0]["env"]["CF_TOKEN"].as_str().unwrap();

    let live = cloud.live_children();
    assert_eq!(live.len(), 3, "each create mints a fresh token");
    for printed in [value, from_json] {
        assert!(live.iter().any(|t| t.value == printed));
    }
    let entries = ledger(&sb);
    assert_eq!(entries.len(), 3);
    for entry in &entries {
        assert_eq!(entry["status"], "active");
        assert_eq!(entry["revocable"], true);
        assert_eq!(entry["reuse"], false);
        assert_eq!(entry["variables"], serde_json::json!(["CF_TOKEN"]));
    }
    let text = sb.run(&["lease", "list"]);
    text.assert_code(0);
    let table = text.stdout();
    assert!(
        table.starts_with("ID") && table.contains("REVOCABLE") && table.contains(" yes "),
        "{table}"
    );
    for token in &live {
        assert!(!table.contains(&token.value) && !text.stderr().contains(&token.value));
    }
    // Created leases are not reused by exec, and cleanup leaves them alone.
    sb.run(&["exec", "--", "true"]).assert_code(0);
    assert_eq!(cloud.live_children().len(), 4);
    let cleanup = sb.run(&["lease", "cleanup"]);
    cleanup.assert_code(0);
    assert_eq!(cloud.live_children().len(), 4, "{}", cleanup.stdout());
}

#[test]
fn create_takes_a_duration_and_checks_names_and_limits() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    sb.run(&["lease", "create", "cf", "--duration", "10m"]).assert_code(0);
    let token = &cloud.live_children()[0];
    let lifetime = token.expires_on.unwrap().duration_since(token.issued_on).unwrap();
    assert!(lifetime.abs_diff(Duration::from_secs(600)) < Duration::from_secs(5));

    let run = sb.run(&["lease", "create", "cg"]);
    run.assert_code(1);
    assert!(run.stderr().contains("no lease named `cg`") && run.stderr().contains("did you mean `cf`?"));
    let run = sb.run(&["lease", "create", "--duration", "2d"]);
    run.assert_code(1);
    assert!(
        run.stderr().contains("more than the cloudflare backend allows (1d)"),
        "{}",
        run.stderr()
    );
    let empty = cloud.sandbox("");
    let run = empty.run(&["lease", "create"]);
    run.assert_code(1);
    assert!(run.stderr().contains("no leases are configured"), "{}", run.stderr());
}

#[test]
fn revoke_by_id_deletes_the_token_and_the_entry() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    let created = json_of(&sb, &["lease", "create", "--format", "json"]);
    let id = created["leases"][0]["id"].as_str().unwrap();
    let run = sb.run(&["lease", "revoke", id]);
    run.assert_code(0);
    assert!(
        run.stdout().contains(&format!("revoked lease `cf` ({id})")),
        "{}",
        run.stdout()
    );
    assert!(cloud.live_children().is_empty());
    assert!(ledger(&sb).is_empty());
    let run = sb.run(&["lease", "revoke", id]);
    run.assert_code(1);
    assert!(run.stderr().contains("sesame lease list"), "{}", run.stderr());
    // The credential's own id works too, and so does a lease whose
    // config is gone (the ledger says where the token lives).
    let created = json_of(&sb, &["lease", "create", "--format", "json"]);
    let token_id = cloud.live_children()[0].id.clone();
    assert!(created["leases"][0]["id"].is_string());
    std::fs::write(sb.project().join("sesame.toml"), "").unwrap();
    sb.trust_project();
    sb.run(&["lease", "revoke", &token_id]).assert_code(0);
    assert!(cloud.live_children().is_empty());
}

#[test]
fn list_filters_active_and_expired_and_cleanup_deletes_expired_tokens() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    sb.run(&["lease", "create", "--duration", "1s"]).assert_code(0);
    sb.run(&["lease", "create"]).assert_code(0);
    std::thread::sleep(Duration::from_millis(2100));
    let expired = json_of(&sb, &["lease", "list", "--expired", "--format", "json"]);
    let active = json_of(&sb, &["lease", "list", "--active", "--format", "json"]);
    assert_eq!(expired["leases"].as_array().unwrap().len(), 1);
    assert_eq!(expired["leases"][0]["status"], "expired");
    assert_eq!(active["leases"].as_array().unwrap().len(), 1);
    let both = sb.run(&["lease", "list", "--active", "--expired"]);
    both.assert_code(2);
    // The expired token still exists at Cloudflare (and counts against the
    // quota) until cleanup deletes it.
    assert_eq!(cloud.live_children().len(), 2);
    let run = sb.run(&["lease", "cleanup"]);
    run.assert_code(0);
    assert!(
        run.stdout().contains("(") && run.stdout().contains("expired)"),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("ledger: 1 revoked"), "{}", run.stdout());
    assert_eq!(cloud.live_children().len(), 1);
    assert_eq!(ledger(&sb).len(), 1);
}

#[test]
fn cleanup_finds_a_token_whose_minting_was_interrupted() {
    use std::os::unix::process::ExitStatusExt;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Arc;
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&with_reuse_false(&seed("06-custom-env-var.toml")));
    // A crash at the worst moment: Cloudflare has made the token and sesame
    // is killed before the answer (with the token's id) reaches it.
    let pid = Arc::new(AtomicI32::new(0));
    let victim = pid.clone();
    cloud.standin.on_token_created(move |_| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while victim.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Once, and never with 0 (that would signal the test's own process
        // group): the pid is taken out as it is used.
        let target = victim.swap(-1, Ordering::SeqCst);
        if target > 0 {
            // SAFETY: signals the sesame process this test started and has
            // not yet waited for.
            unsafe { libc::kill(target, libc::SIGKILL) };
        }
    });
    let mut child = sb
        .cmd(&["exec", "--", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Stored only if the hook has not given up waiting (it leaves -1).
    let _ = pid.compare_exchange(0, child.id() as i32, Ordering::SeqCst, Ordering::SeqCst);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(cloud.live_children().len(), 1);
    let entries = ledger(&sb);
    assert_eq!(entries[0]["status"], "interrupted");
    assert_eq!(
        entries[0]["credential_id"],
        Value::Null,
        "sesame never saw the token's id"
    );
    let run = sb.run(&["lease", "cleanup"]);
    run.assert_code(0);
    assert!(run.stdout().contains("minting was interrupted"), "{}", run.stdout());
    assert!(cloud.live_children().is_empty(), "found by its label and deleted");
    assert!(ledger(&sb).is_empty());
}

#[test]
fn cleanup_keeps_reusable_leases_and_revokes_unconfigured_ones() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    sb.run(&["exec", "--", "true"]).assert_code(0);
    sb.run(&["lease", "cleanup"]).assert_code(0);
    assert_eq!(cloud.live_children().len(), 1, "a reusable lease in its lifetime stays");
    assert_eq!(ledger(&sb).len(), 1);
    // The lease leaves the config: its token is revoked.
    std::fs::write(
        sb.project().join("sesame.toml"),
        "[leases.other]\ntype = \"cloudflare\"\nduration = \"1h\"\n",
    )
    .unwrap();
    sb.trust_project();
    let run = sb.run(&["lease", "cleanup"]);
    run.assert_code(0);
    assert!(run.stdout().contains("no longer configured"), "{}", run.stdout());
    assert!(cloud.live_children().is_empty());
}

#[test]
fn remote_cleanup_deletes_expired_tokens_sesame_created_across_pages() {
    let cloud = Cloud::start(&[]);
    cloud.standin.set_quotas(100, 500);
    let past = SystemTime::now() - Duration::from_secs(600);
    for i in 0..55 {
        cloud
            .standin
            .add_user_token(TokenSpec::new(format!("sesame cf oldhost {i:016x}")).with_expires_on(past));
    }
    cloud
        .standin
        .add_user_token(TokenSpec::new("deploy token (not sesame's)").with_expires_on(past));
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    sb.run(&["exec", "--", "true"]).assert_code(0);
    let run = sb.run(&["lease", "cleanup", "--remote"]);
    run.assert_code(0);
    assert!(
        run.stdout().contains("remote: user tokens at http://127.0.0.1:")
            && run
                .stdout()
                .contains("examined 58, deleted 55 expired credentials sesame created"),
        "{}",
        run.stdout()
    );
    let live: Vec<String> = cloud.standin.live_tokens().user.into_iter().map(|t| t.name).collect();
    assert_eq!(live.len(), 3, "{live:?}");
    assert!(live.contains(&"deploy token (not sesame's)".to_string()));
    assert_eq!(cloud.live_children().len(), 1, "the unexpired lease token stays");
}

#[test]
fn quota_errors_point_at_cleanup() {
    let cloud = Cloud::start(&[]);
    cloud.standin.set_quotas(1, 500);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(
        run.stderr().contains("code 1002") && run.stderr().contains("sesame lease cleanup --remote"),
        "{}",
        run.stderr()
    );
}
