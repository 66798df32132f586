//! The `cloudflare` lease end to end: the real binary against the Cloudflare
//! stand-in (`sesame_test_support::cloudflare`) started in the test process,
//! reached through `CLOUDFLARE_API_BASE_URL`.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_test_support::cloudflare::{
    groups, CloudflareStandin, CreatedToken, TokenRecord, TokenSpec, DEFAULT_ACCOUNT_ID,
};

use crate::support::{start_recorder, Sandbox};

/// The account id the seed examples use (not 32 hex chars; the stand-in is
/// told to accept it).
pub const SEED_ACCOUNT: &str = "abc123def456";

/// A stand-in with a parent user token.
pub struct Cloud {
    pub standin: CloudflareStandin,
    pub parent: CreatedToken,
}

impl Cloud {
    /// A parent that can create tokens, plus `extra` groups on every account.
    pub fn start(extra: &[&str]) -> Self {
        let standin = CloudflareStandin::start();
        standin.accept_account_id(SEED_ACCOUNT);
        let parent = standin.add_user_token(TokenSpec::parent(extra));
        Self { standin, parent }
    }

    /// A sandbox pointed at the stand-in, with the parent in the environment.
    pub fn sandbox(&self, config: &str) -> Sandbox {
        let mut sb = self.sandbox_without_parent(config);
        sb.set("CLOUDFLARE_API_TOKEN", &self.parent.value);
        sb
    }

    /// A sandbox pointed at the stand-in, with no parent token.
    pub fn sandbox_without_parent(&self, config: &str) -> Sandbox {
        let mut sb = Sandbox::new(config);
        sb.set("CLOUDFLARE_API_BASE_URL", &self.standin.base_url());
        // As a user who reviewed it: `policies`, `token_type` and
        // `account_id` only count from a trusted file.
        sb.trust_project();
        sb
    }

    /// Every token created through the API (seeded ones excluded).
    pub fn children(&self) -> Vec<TokenRecord> {
        self.standin
            .tokens()
            .into_iter()
            .filter(|t| t.created_by.is_some())
            .collect()
    }

    /// Children not deleted.
    pub fn live_children(&self) -> Vec<TokenRecord> {
        self.children().into_iter().filter(|t| t.is_live()).collect()
    }
}

/// A seed example, verbatim.
pub fn seed(file: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/seed/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Appends `reuse = false` to the `[leases.NAME]` table at the end of `config`.
pub fn with_reuse_false(config: &str) -> String {
    config.replacen("duration = ", "reuse = false\nduration = ", 1)
}

/// Runs `exec` with a command that writes `$VAR` to a file; returns what
/// the command saw.
#[track_caller]
pub fn seen_by_child(sb: &Sandbox, var: &str) -> String {
    let out = sb.path(&format!("seen-{var}"));
    let script = format!("printf %s \"${var}\" > \"$1\"");
    let run = sb.run(&["exec", "--", "sh", "-c", &script, "sh", out.to_str().unwrap()]);
    run.assert_code(0);
    std::fs::read_to_string(out).unwrap()
}

fn lifetime(token: &TokenRecord) -> Duration {
    token.expires_on.unwrap().duration_since(token.issued_on).unwrap()
}

#[track_caller]
fn assert_close(actual: Duration, expected: Duration) {
    assert!(
        actual.abs_diff(expected) <= Duration::from_secs(5),
        "{actual:?} vs {expected:?}"
    );
}

#[test]
fn seed_configuration_example_mints_a_zone_read_user_token() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("01-configuration.toml"));
    let seen = seen_by_child(&sb, "CLOUDFLARE_API_TOKEN");
    let children = cloud.live_children();
    assert_eq!(children.len(), 1);
    let child = &children[0];
    assert_eq!(seen, child.value, "the child sees the child token, not the parent");
    assert_ne!(seen, cloud.parent.value);
    assert!(child.name.starts_with("sesame cf "), "{}", child.name);
    assert_eq!(child.owner.account_id(), None, "user-owned");
    assert_close(lifetime(child), Duration::from_secs(3600));
    let body = cloud.standin.created_bodies()[0].json.clone().unwrap();
    assert_eq!(
        body["policies"],
        json!([{"effect": "allow",
                "resources": {"com.cloudflare.api.account.abc123def456": "*"},
                "permission_groups": [{"id": groups::ZONE_READ}]}])
    );
}

#[test]
fn seed_minimal_example_inherits_the_parents_policies() {
    let cloud = Cloud::start(&[groups::ZONE_READ, groups::DNS_WRITE]);
    let sb = cloud.sandbox(&seed("02-minimal-inherit.toml"));
    let seen = seen_by_child(&sb, "CLOUDFLARE_API_TOKEN");
    let child = &cloud.live_children()[0];
    assert_eq!(seen, child.value);
    assert!(child.has_group(groups::ZONE_READ) && child.has_group(groups::DNS_WRITE));
    for api_tokens in [groups::API_TOKENS_WRITE, groups::ACCOUNT_API_TOKENS_WRITE] {
        assert!(!child.has_group(api_tokens), "{:?}", child.policies);
    }
    assert_close(lifetime(child), Duration::from_secs(3600));
}

#[test]
fn seed_account_owned_example_mints_an_account_token() {
    let cloud = Cloud::start(&[]);
    let account_parent = cloud.standin.add_account_token(
        SEED_ACCOUNT,
        TokenSpec::account_parent(SEED_ACCOUNT, &[groups::WORKERS_SCRIPTS_WRITE]),
    );
    let mut sb = cloud.sandbox(&seed("03-account-owned.toml"));
    sb.set("CLOUDFLARE_API_TOKEN", &account_parent.value);
    let seen = seen_by_child(&sb, "CLOUDFLARE_API_TOKEN");
    let children = cloud.live_children();
    assert_eq!(children.len(), 1);
    let child = &children[0];
    assert_eq!(seen, child.value);
    assert_eq!(child.owner.account_id(), Some(SEED_ACCOUNT));
    assert!(child.has_group(groups::WORKERS_SCRIPTS_WRITE));
    assert!(!child.has_group(groups::ACCOUNT_API_TOKENS_WRITE));
    let log = cloud.standin.request_log();
    let paths: Vec<String> = log.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "GET /client/v4/accounts/abc123def456/tokens/verify",
            &format!("GET /client/v4/accounts/abc123def456/tokens/{}", account_parent.id),
            "POST /client/v4/accounts/abc123def456/tokens",
        ]
    );
}

#[test]
fn seed_account_owned_example_works_with_a_user_parent_too() {
    let cloud = Cloud::start(&[groups::DNS_READ]);
    let sb = cloud.sandbox(&seed("03-account-owned.toml"));
    let seen = seen_by_child(&sb, "CLOUDFLARE_API_TOKEN");
    let child = &cloud.live_children()[0];
    assert_eq!(seen, child.value);
    assert_eq!(child.owner.account_id(), Some(SEED_ACCOUNT));
    assert!(child.has_group(groups::DNS_READ));
}

#[test]
fn seed_stored_credentials_example_takes_the_parent_from_1password() {
    let cloud = Cloud::start(&[]);
    let mut sb = cloud.sandbox_without_parent(&seed("04-stored-credentials.toml"));
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/op"), bin.join("op")).unwrap();
    let data = json!({"vaults": [{"name": "Development", "items": [
        {"title": "Cloudflare", "category": "API_CREDENTIAL", "fields": [
            {"id": "k1", "type": "CONCEALED", "label": "api token", "value": cloud.parent.value}
        ]}
    ]}]});
    std::fs::write(sb.path("op-data.json"), data.to_string()).unwrap();
    let path = format!("{}:{}", bin.display(), sb.env["PATH"]);
    let data_path = sb.path("op-data.json");
    sb.set("PATH", &path)
        .set("OP_STANDIN_DATA", data_path.to_str().unwrap());
    let seen = seen_by_child(&sb, "CLOUDFLARE_API_TOKEN");
    let child = &cloud.live_children()[0];
    assert_eq!(seen, child.value, "the child token replaces the parent secret");
    assert!(child.has_group(groups::ZONE_READ) && child.has_group(groups::DNS_READ));
    assert_eq!(child.policies.len(), 1);
    assert_eq!(
        child.policies[0]["resources"],
        json!({"com.cloudflare.api.account.abc123def456": "*"})
    );
}

#[test]
fn seed_placeholder_example_fills_the_account_id() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("05-account-id-placeholder.toml"));
    let seen = seen_by_child(&sb, "CLOUDFLARE_API_TOKEN");
    let child = &cloud.live_children()[0];
    assert_eq!(seen, child.value);
    assert_eq!(
        child.policies[0]["resources"],
        json!({"com.cloudflare.api.account.abc123def456": "*"})
    );
    assert!(child.has_group(groups::WORKERS_SCRIPTS_WRITE));
    assert_close(lifetime(child), Duration::from_secs(2 * 3600));
}

#[test]
fn seed_custom_env_var_example_sets_cf_token() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    let seen = seen_by_child(&sb, "CF_TOKEN");
    let child = &cloud.live_children()[0];
    assert_eq!(seen, child.value);
    assert_close(lifetime(child), Duration::from_secs(30 * 60));
    assert_eq!(
        child.policies[0]["resources"],
        json!({"com.cloudflare.api.account.*": "*"})
    );
}

#[test]
fn a_reusable_lease_is_minted_once_and_the_next_run_makes_no_request() {
    let cloud = Cloud::start(&[]);
    let mut sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    let first = seen_by_child(&sb, "CF_TOKEN");
    let requests = cloud.standin.request_count();
    let second = seen_by_child(&sb, "CF_TOKEN");
    assert_eq!(first, second);
    assert_eq!(cloud.standin.request_count(), requests, "no HTTP request on reuse");
    assert_eq!(cloud.children().len(), 1);
    // Another parent changes the fingerprint: a new token.
    let other = cloud.standin.add_user_token(TokenSpec::parent(&[]));
    sb.set("CLOUDFLARE_API_TOKEN", &other.value);
    assert_ne!(seen_by_child(&sb, "CF_TOKEN"), first);
    assert_eq!(cloud.children().len(), 2);
}

#[test]
fn reuse_false_is_revoked_when_the_command_ends() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&with_reuse_false(&seed("06-custom-env-var.toml")));
    for code in [0, 3] {
        let run = sb.run(&[
            "exec",
            "--",
            "sh",
            "-c",
            &format!("test -n \"$CF_TOKEN\" && exit {code}"),
        ]);
        run.assert_code(code);
    }
    assert_eq!(cloud.children().len(), 2);
    assert!(cloud.live_children().is_empty(), "both revoked");
    sb.run(&["lease", "list", "--format", "json"]).assert_code(0);
    let list: Value = serde_json::from_str(&sb.run(&["lease", "list", "--format", "json"]).stdout()).unwrap();
    assert_eq!(list["leases"], json!([]), "and gone from the ledger");
}

#[test]
fn reuse_false_is_revoked_when_sesame_gets_sigterm() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&with_reuse_false(&seed("06-custom-env-var.toml")));
    let (mut child, recorder) = start_recorder(&sb);
    recorder.wait_until_ready();
    assert_eq!(cloud.live_children().len(), 1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the recorder exits 0 after SIGTERM");
    assert_eq!(recorder.lines(), ["SIGTERM"], "forwarded once");
    assert!(cloud.live_children().is_empty(), "revoked after the command ended");
}

#[test]
fn supervised_exec_forwards_each_signal_exactly_once() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&with_reuse_false(&seed("06-custom-env-var.toml")));
    let (mut child, recorder) = start_recorder(&sb);
    recorder.wait_until_ready();
    recorder.send_each_then_stop(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        recorder.lines(),
        ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGWINCH", "SIGINT", "SIGQUIT", "SIGTERM"],
        "every signal once, in order"
    );
    assert!(cloud.live_children().is_empty());
}

#[test]
fn kill_9_of_sesame_then_lease_cleanup_leaves_no_live_token() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&with_reuse_false(&seed("06-custom-env-var.toml")));
    let (mut sesame, recorder) = start_recorder(&sb);
    let command_pid = recorder.wait_until_ready() as i32;
    // SAFETY: signalling our own child, then the command it started.
    unsafe { libc::kill(sesame.id() as i32, libc::SIGKILL) };
    sesame.wait().unwrap();
    unsafe { libc::kill(command_pid, libc::SIGKILL) };
    assert_eq!(cloud.live_children().len(), 1, "nobody revoked it");
    let list = sb.run(&["lease", "list"]);
    list.assert_code(0);
    assert!(list.stdout().contains("abandoned"), "{}", list.stdout());
    let run = sb.run(&["lease", "cleanup"]);
    run.assert_code(0);
    assert!(run.stdout().contains("revoked lease `cf`"), "{}", run.stdout());
    assert!(cloud.live_children().is_empty());
    assert!(sb.run(&["lease", "list"]).stdout().contains("no leases"));
}

#[test]
fn a_failing_second_lease_revokes_the_first_and_runs_nothing() {
    let cloud = Cloud::start(&[]);
    let config = format!(
        "{}\n[leases.bad]\ntype = \"cloudflare\"\n\n[[leases.bad.policies]]\nresources = {{ \"com.cloudflare.api.account.*\" = \"*\" }}\n\
         [[leases.bad.policies.permission_groups]]\nid = \"00000000000000000000000000000000\"\n",
        seed("06-custom-env-var.toml")
    );
    let sb = cloud.sandbox(&config);
    let marker = sb.path("ran");
    let run = sb.run(&["exec", "--", "touch", marker.to_str().unwrap()]);
    run.assert_code(125);
    let err = run.stderr();
    assert!(err.contains("lease `bad`") && err.contains("code 1001"), "{err}");
    assert!(!marker.exists(), "nothing ran");
    assert_eq!(cloud.children().len(), 1, "the good lease was minted");
    assert!(cloud.live_children().is_empty(), "and revoked");
    assert!(sb.run(&["lease", "list"]).stdout().contains("no leases"));
}

#[test]
fn a_rate_limit_is_waited_out_and_retried() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    cloud.standin.rate_limit_next(1, 1);
    let started = Instant::now();
    let seen = seen_by_child(&sb, "CF_TOKEN");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!(seen, cloud.live_children()[0].value);
    let statuses: Vec<Option<u16>> = cloud.standin.request_log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
}

#[test]
fn five_server_errors_fail_clearly_and_run_nothing() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    cloud.standin.fail_next(5);
    let marker = sb.path("ran");
    let run = sb.run(&["exec", "--", "touch", marker.to_str().unwrap()]);
    run.assert_code(125);
    let err = run.stderr();
    assert!(
        err.contains("lease `cf`: Cloudflare API POST /user/tokens: HTTP 500")
            && err.contains("code 10001")
            && err.contains("gave up after 5 attempts")
            && err.contains("hint: "),
        "{err}"
    );
    assert!(!marker.exists());
    assert!(cloud.live_children().is_empty());
    assert!(sb.run(&["lease", "list"]).stdout().contains("no leases"));
}

#[test]
fn ten_parallel_runs_with_reuse_mint_one_token() {
    let cloud = Cloud::start(&[]);
    cloud.standin.set_latency(Duration::from_millis(100));
    let sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    let children: Vec<Child> = (0..10)
        .map(|i| {
            let out = sb.path(&format!("seen-{i}"));
            sb.cmd(&[
                "exec",
                "--",
                "sh",
                "-c",
                "printf %s \"$CF_TOKEN\" > \"$1\"",
                "sh",
                out.to_str().unwrap(),
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let seen: Vec<String> = (0..10)
        .map(|i| std::fs::read_to_string(sb.path(&format!("seen-{i}"))).unwrap())
        .collect();
    assert_eq!(cloud.children().len(), 1, "one token minted");
    assert!(seen.iter().all(|s| *s == cloud.children()[0].value));
}

#[test]
fn a_missing_parent_token_is_reported_in_fnox_words() {
    let cloud = Cloud::start(&[]);
    let sb = cloud.sandbox_without_parent(&seed("02-minimal-inherit.toml"));
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(
        run.stderr().contains(
            "Cloudflare API token not found. Set CLOUDFLARE_API_TOKEN with a token that has 'API Tokens: Edit' permission."
        ),
        "{}",
        run.stderr()
    );
    assert_eq!(cloud.standin.request_count(), 0);
}

#[test]
fn cf_api_token_is_used_when_cloudflare_api_token_is_not_set() {
    let cloud = Cloud::start(&[]);
    let mut sb = cloud.sandbox_without_parent(&seed("06-custom-env-var.toml"));
    sb.set("CF_API_TOKEN", &cloud.parent.value);
    assert_eq!(seen_by_child(&sb, "CF_TOKEN"), cloud.live_children()[0].value);
}

#[test]
fn config_mistakes_name_the_lease_and_the_place() {
    let cloud = Cloud::start(&[]);
    let cases = [
        (
            "[leases.cf]\ntype = \"cloudflare\"\nduration = \"25h\"\n",
            "lease `cf` asks for 1d1h",
        ),
        (
            "[leases.cf]\ntype = \"cloudflare\"\ntoken_type = \"account\"\n",
            "sesame.toml:3:1: [leases.cf]: `token_type = \"account\"` needs `account_id`",
        ),
        (
            "[leases.cf]\ntype = \"cloudflare\"\n[[leases.cf.policies]]\nresources = { \"com.cloudflare.api.account.{account_id}\" = \"*\" }\n[[leases.cf.policies.permission_groups]]\nid = \"x\"\n",
            "placeholder `{account_id}`",
        ),
        (
            "[leases.cf]\ntype = \"cloudflare\"\ntoken_type = \"team\"\n",
            "token_type",
        ),
    ];
    for (config, expected) in cases {
        let sb = cloud.sandbox(config);
        let run = sb.run(&["exec", "--", "true"]);
        run.assert_code(125);
        assert!(run.stderr().contains(expected), "{config}\n{}", run.stderr());
    }
    assert_eq!(cloud.standin.request_count(), 0);
}

#[test]
fn an_unprivileged_parent_gets_cloudflares_code_and_a_hint() {
    let cloud = Cloud::start(&[]);
    let weak = cloud
        .standin
        .add_user_token(TokenSpec::parent_without_token_write(&[groups::ZONE_READ]));
    let mut sb = cloud.sandbox(&seed("06-custom-env-var.toml"));
    sb.set("CLOUDFLARE_API_TOKEN", &weak.value);
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    let err = run.stderr();
    assert!(
        err.contains("HTTP 403") && err.contains("code 10000") && err.contains("'API Tokens: Edit'"),
        "{err}"
    );
}

#[test]
fn account_tokens_with_the_stand_ins_default_account() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    let config = format!(
        "[leases.ci]\ntype = \"cloudflare\"\ntoken_type = \"account\"\naccount_id = \"{DEFAULT_ACCOUNT_ID}\"\nreuse = false\n"
    );
    let sb = cloud.sandbox(&config);
    sb.run(&["exec", "--", "sh", "-c", "test -n \"$CLOUDFLARE_API_TOKEN\""])
        .assert_code(0);
    let children = cloud.children();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].owner.account_id(), Some(DEFAULT_ACCOUNT_ID));
    assert!(cloud.live_children().is_empty(), "revoked through the account path");
}

/// No token value, parent or child, ever reaches sesame's own output;
/// only `lease create` prints the child's, on stdout.
#[test]
fn canary_no_token_value_in_sesames_output() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    let config = format!(
        "{}\n[leases.once]\ntype = \"cloudflare\"\nreuse = false\nenv_var = \"ONCE_TOKEN\"\n",
        seed("02-minimal-inherit.toml")
    );
    let sb = cloud.sandbox(&config);
    let commands: &[&[&str]] = &[
        &["exec", "--", "true"],
        &["exec", "--", "sh", "-c", "exit 3"],
        &["exec", "--", "no-such-command-xyz"],
        &["list"],
        &["list", "--format", "json"],
        &["check"],
        &["check", "--format", "json"],
        &["lease", "list"],
        &["lease", "list", "--format", "json"],
        &["lease", "cleanup"],
        &["lease", "cleanup", "--remote"],
        &["lease", "revoke", "nope"],
        &["lease", "create", "nope"],
    ];
    let check = |what: &str, text: &str| {
        let mut secrets = vec![cloud.parent.value.clone()];
        secrets.extend(cloud.children().into_iter().map(|t| t.value));
        for secret in secrets {
            assert!(!text.contains(&secret), "{what} leaked a token value:\n{text}");
        }
    };
    for verbosity in [None, Some("-v"), Some("-vv"), Some("-vvv")] {
        for command in commands {
            let mut args: Vec<&str> = verbosity.into_iter().collect();
            args.extend_from_slice(command);
            let run = sb.run(&args);
            check(&format!("stderr of {args:?}"), &run.stderr());
            check(&format!("stdout of {args:?}"), &run.stdout());
        }
        // `lease create` prints values on stdout, never on stderr.
        let mut args: Vec<&str> = verbosity.into_iter().collect();
        args.extend_from_slice(&["lease", "create", "cf", "--format", "json"]);
        let run = sb.run(&args);
        run.assert_code(0);
        check(&format!("stderr of {args:?}"), &run.stderr());
        let printed: Value = serde_json::from_str(&run.stdout()).unwrap();
        let value = printed["leases"][0]["env"]["CLOUDFLARE_API_TOKEN"].as_str().unwrap();
        assert!(cloud.children().iter().any(|t| t.value == value));
        // And revoking it says nothing secret either.
        let id = printed["leases"][0]["id"].as_str().unwrap().to_string();
        let mut args: Vec<&str> = verbosity.into_iter().collect();
        args.extend_from_slice(&["lease", "revoke", &id]);
        let run = sb.run(&args);
        run.assert_code(0);
        check(&format!("output of {args:?}"), &(run.stdout() + &run.stderr()));
    }
    // Error paths: an invalid parent, and a failing API.
    let mut bad = cloud.sandbox(&config);
    bad.set("CLOUDFLARE_API_TOKEN", "canary-parent-9f8e7d");
    for args in [&["-vvv", "exec", "--", "true"][..], &["-vvv", "lease", "create"]] {
        let run = bad.run(args);
        assert_ne!(run.code(), Some(0));
        assert!(!run.stderr().contains("canary-parent-9f8e7d"), "{}", run.stderr());
        assert!(!run.stdout().contains("canary-parent-9f8e7d"), "{}", run.stdout());
    }
    cloud.standin.fail_next(5);
    let run = sb.run(&["-vvv", "exec", "--", "true"]);
    check("stderr of a failing exec", &run.stderr());
}
