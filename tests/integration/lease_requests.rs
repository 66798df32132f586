//! How many Cloudflare API requests a run's leases cost, counted by the
//! stand-in: leases minted from one parent verify and read it once per run
//! and share the answer (the run cache of `sesame_core::run_cache`).

use sesame_test_support::cloudflare::{groups, RequestLogEntry};

use crate::cloudflare::Cloud;
use crate::support::Sandbox;

/// `[leases.NAME]` tables that inherit the parent's policies, one per name.
fn inheriting_leases(names: &[&str], reuse: bool) -> String {
    names
        .iter()
        .map(|name| {
            format!(
                "[leases.{name}]\ntype = \"cloudflare\"\nduration = \"1h\"\nenv_var = \"{}_TOKEN\"\nreuse = {reuse}\n\n",
                name.to_uppercase()
            )
        })
        .collect()
}

/// Runs `exec` with a command that needs every lease's variable.
fn exec_with(sb: &Sandbox, vars: &[&str]) {
    let test = vars
        .iter()
        .map(|v| format!("test -n \"${v}\""))
        .collect::<Vec<_>>()
        .join(" && ");
    sb.run(&["exec", "--", "sh", "-c", &test]).assert_code(0);
}

fn count(log: &[RequestLogEntry], method: &str, path_ends: &str) -> usize {
    log.iter()
        .filter(|r| r.method == method && r.path.ends_with(path_ends))
        .count()
}

#[test]
fn three_leases_on_one_parent_verify_and_read_it_once() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    let sb = cloud.sandbox(&inheriting_leases(&["a", "b", "c"], true));
    exec_with(&sb, &["A_TOKEN", "B_TOKEN", "C_TOKEN"]);

    let log = cloud.standin.request_log();
    let parent = format!("/user/tokens/{}", cloud.parent.id);
    assert_eq!(count(&log, "GET", "/user/tokens/verify"), 1, "{log:#?}");
    assert_eq!(count(&log, "GET", &parent), 1, "{log:#?}");
    assert_eq!(count(&log, "POST", "/user/tokens"), 3, "{log:#?}");
    assert!(cloud.standin.request_count() <= 5, "{log:#?}");
    let children = cloud.live_children();
    assert_eq!(children.len(), 3, "one token per lease");
    for child in &children {
        assert!(child.has_group(groups::ZONE_READ), "inherited from the parent");
        assert!(
            !child.has_group(groups::API_TOKENS_WRITE),
            "but not the API-token group"
        );
    }
}

#[test]
fn leases_revoked_after_the_run_add_only_their_deletions() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    let sb = cloud.sandbox(&inheriting_leases(&["a", "b", "c"], false));
    exec_with(&sb, &["A_TOKEN", "B_TOKEN", "C_TOKEN"]);

    let log = cloud.standin.request_log();
    assert_eq!(count(&log, "GET", "/user/tokens/verify"), 1, "{log:#?}");
    assert_eq!(count(&log, "DELETE", ""), 3, "{log:#?}");
    assert!(cloud.standin.request_count() <= 8, "{log:#?}");
    assert!(cloud.live_children().is_empty(), "every lease revoked");

    // The answer lives for one run only: the next run asks again (a parent
    // may have been revoked in between).
    exec_with(&sb, &["A_TOKEN", "B_TOKEN", "C_TOKEN"]);
    let log = cloud.standin.request_log();
    assert_eq!(count(&log, "GET", "/user/tokens/verify"), 2, "{log:#?}");
}

#[test]
fn an_invalid_parent_fails_every_lease_with_one_verification() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    let mut sb = cloud.sandbox(&inheriting_leases(&["a", "b", "c"], false));
    sb.set("CLOUDFLARE_API_TOKEN", "not-a-token-the-standin-knows");
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(
        run.stderr().contains("parent Cloudflare API token is not valid"),
        "{}",
        run.stderr()
    );
    let log = cloud.standin.request_log();
    assert_eq!(count(&log, "GET", "/user/tokens/verify"), 1, "{log:#?}");
    assert_eq!(count(&log, "POST", "/user/tokens"), 0, "{log:#?}");
}
