//! The `r2` lease and `sesame r2 verify` (issue 5), hermetic: the Cloudflare
//! API stand-in mints tokens, and the in-process S3 server (s3s, real SigV4)
//! registers each minted R2 token's derived S3 pair, so mint -> derive ->
//! wait until live -> verify -> exec -> revoke runs end to end on loopback.

use std::time::Duration;

use serde_json::Value;
use sesame_test_support::cloudflare::{groups, CloudflareStandin, TokenSpec, DEFAULT_ACCOUNT_ID};
use sesame_test_support::s3::{sha256_hex, Access, Grant, S3Standin};

use crate::support::{assert_checks, check_status, verify_check, Sandbox};

const ACCOUNT: &str = DEFAULT_ACCOUNT_ID;

/// A Cloudflare stand-in with a parent token, an S3 server that honours the
/// tokens it mints, buckets `photos` (two objects) and `archive` (empty).
struct World {
    cf: CloudflareStandin,
    s3: S3Standin,
    parent: String,
}

impl World {
    fn new() -> Self {
        let cf = CloudflareStandin::start();
        let s3 = S3Standin::start_for(ACCOUNT);
        s3.serve_cloudflare(&cf);
        s3.put_object("photos", "cat.jpg", b"meow, a jpeg");
        s3.put_object("photos", "dog.jpg", b"woof, a jpeg");
        s3.create_bucket("archive");
        let parent = cf.add_user_token(TokenSpec::parent(&[])).value;
        Self { cf, s3, parent }
    }

    /// A sandbox trusting `leases` (appended to nothing else), with the
    /// parent token and the API base in its environment.
    fn sandbox(&self, leases: &str) -> Sandbox {
        let mut sb = Sandbox::new(leases);
        sb.set("CLOUDFLARE_API_TOKEN", &self.parent)
            .set("CLOUDFLARE_API_BASE_URL", &self.cf.base_url());
        sb.trust_project();
        sb
    }

    /// A minted lease table.
    fn lease(&self, name: &str, bucket: &str, access: &str, extra: &str) -> String {
        format!(
            "[leases.{name}]\ntype = \"r2\"\naccount_id = \"{ACCOUNT}\"\nbucket = \"{bucket}\"\naccess = \"{access}\"\n\
             endpoint = \"{}\"\n{extra}\n",
            self.s3.endpoint()
        )
    }

    /// Live tokens that hold R2 groups (the minted ones).
    fn live_r2_tokens(&self) -> usize {
        self.cf
            .live_tokens()
            .user
            .iter()
            .filter(|t| t.has_group(groups::R2_BUCKET_ITEM_READ) || t.has_group(groups::R2_BUCKET_ITEM_WRITE))
            .count()
    }
}

/// A static lease table with env-provided key id and secret.
fn static_lease(name: &str, bucket: &str, access: &str, endpoint: &str, key_var: &str, secret_var: &str) -> String {
    format!(
        "[leases.{name}]\ntype = \"r2\"\nbucket = \"{bucket}\"\naccess = \"{access}\"\nendpoint = \"{endpoint}\"\n\
         static = {{ access_key_id = {{ secret = \"{key_var}\" }}, secret_access_key = {{ secret = \"{secret_var}\" }} }}\n\n"
    )
}

/// `[providers.env]` and one secret per variable.
fn env_secrets(vars: &[&str]) -> String {
    let mut text = String::from("[providers.env]\ntype = \"env\"\n\n[secrets]\n");
    for var in vars {
        text.push_str(&format!("{var} = {{ provider = \"env\", value = \"{var}\" }}\n"));
    }
    text.push('\n');
    text
}

fn no_probe_left(s3: &S3Standin, bucket: &str) {
    let leftovers: Vec<String> = s3
        .object_keys(bucket)
        .into_iter()
        .filter(|k| k.contains("sesame-verify-probe"))
        .collect();
    assert!(leftovers.is_empty(), "probe left behind in {bucket}: {leftovers:?}");
}

#[test]
fn preflight_mints_waits_verifies_and_revokes() {
    let world = World::new();
    // Fresh keys answer 401 for a while, as fresh R2 credentials do.
    world.s3.set_propagation_delay(Duration::from_millis(1200));
    let config = world.lease("src", "photos", "read", "env_prefix = \"SRC_\"\nreuse = false")
        + &world.lease("dst", "archive", "read-write", "env_prefix = \"DST_\"\nreuse = false");
    let sb = world.sandbox(&config);
    let run = sb.run(&["-v", "r2", "verify", "--source", "src", "--destination", "dst"]);
    run.assert_code(0);
    let out = run.stdout();
    for (target, check) in [
        ("src", "role"),
        ("src", "offline"),
        ("src", "credentials"),
        ("src", "bucket"),
        ("src", "read"),
        ("src", "least-privilege"),
        ("src", "scope"),
        ("src", "token"),
        ("dst", "role"),
        ("dst", "write"),
        ("dst", "scope"),
        ("dst", "token"),
    ] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().take(2).eq([target, check]))
            .unwrap_or_else(|| panic!("no {target} {check} line in:\n{out}"));
        assert!(line.split_whitespace().nth(2) == Some("pass"), "{line}\n{out}");
    }
    assert!(out.contains("r2 verify ok: 2 target(s)"), "{out}");
    // The wait was reported.
    let err = run.stderr();
    assert!(err.contains("R2 credentials answer on the bucket"), "{err}");
    let waited: Vec<u64> = err
        .lines()
        .filter(|l| l.contains("R2 credentials answer"))
        .filter_map(|l| l.split("waited_ms=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(waited.len(), 2, "{err}");
    assert!(waited.iter().all(|ms| *ms >= 1000), "waited {waited:?}");

    // What was minted: bucket-scoped tokens with groups looked up by name.
    let bodies = world.cf.created_bodies();
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        let json = body.json.as_ref().unwrap();
        let resources = json["policies"][0]["resources"].as_object().unwrap();
        let key = resources.keys().next().unwrap();
        assert!(
            key == &format!("com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_photos")
                || key == &format!("com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_archive"),
            "{key}"
        );
        let ids: Vec<&str> = json["policies"][0]["permission_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap())
            .collect();
        if key.ends_with("photos") {
            assert_eq!(ids, [groups::R2_BUCKET_ITEM_READ]);
        } else {
            assert_eq!(ids, [groups::R2_BUCKET_ITEM_READ, groups::R2_BUCKET_ITEM_WRITE]);
        }
        assert!(json["expires_on"].is_string());
    }
    let lookups = world
        .cf
        .request_log()
        .into_iter()
        .filter(|r| r.path.ends_with("/permission_groups"))
        .count();
    // By name, once per distinct name in the run: the read group both
    // leases need is looked up once and shared (the run cache).
    assert_eq!(lookups, 2, "permission groups are looked up by name, once each");
    // reuse = false: revoked after verifying; nothing left behind.
    assert_eq!(world.live_r2_tokens(), 0);
    assert!(world.s3.keys().is_empty(), "{:?}", world.s3.keys());
    no_probe_left(&world.s3, "photos");
    no_probe_left(&world.s3, "archive");
    assert_eq!(world.s3.object_keys("photos"), ["cat.jpg", "dog.jpg"]);
}

#[test]
fn two_leases_feed_one_copy_command() {
    let world = World::new();
    let config = world.lease("src", "photos", "read", "env_prefix = \"SRC_\"\nreuse = false")
        + &world.lease("dst", "archive", "read-write", "env_prefix = \"DST_\"\nreuse = false");
    let sb = world.sandbox(&config);
    let run = sb.run_s3_copy(&["SRC_", "DST_", "cat.jpg", "from-photos/cat.jpg"]);
    run.assert_code(0);
    assert!(
        run.stdout()
            .contains("copied photos/cat.jpg -> archive/from-photos/cat.jpg"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        world.s3.object("archive", "from-photos/cat.jpg").as_deref(),
        Some(&b"meow, a jpeg"[..])
    );
    // The source is read-only: copying the other way is refused.
    let back = sb.run_s3_copy(&["DST_", "SRC_", "from-photos/cat.jpg", "back.jpg"]);
    back.assert_code(1);
    assert!(back.stderr().contains("HTTP 403"), "{}", back.stderr());
    assert_eq!(world.s3.object("photos", "back.jpg"), None);
    assert_eq!(world.live_r2_tokens(), 0, "both tokens are revoked after each run");
}

#[test]
fn exec_injects_the_documented_variables() {
    let world = World::new();
    let config = world.lease("src", "photos", "read", "env = { R2_BUCKET = \"SOURCE_BUCKET\" }");
    let sb = world.sandbox(&config);
    let run = sb.run(&["exec", "--", "sh", "-c", "env | grep -E '^(AWS_|R2_|SOURCE_)' | sort"]);
    run.assert_code(0);
    let out = run.stdout();
    let names: Vec<&str> = out.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_ENDPOINT_URL_S3",
            "AWS_REGION",
            "AWS_SECRET_ACCESS_KEY",
            "R2_ACCOUNT_ID",
            "SOURCE_BUCKET"
        ],
        "{out}"
    );
    assert!(out.contains("AWS_REGION=auto\n"));
    assert!(out.contains(&format!("AWS_ENDPOINT_URL_S3={}\n", world.s3.endpoint())));
    assert!(out.contains("SOURCE_BUCKET=photos\n"));
    // The pair is derived from the token: id and SHA-256 of the value.
    let token = world
        .cf
        .live_tokens()
        .user
        .into_iter()
        .find(|t| t.has_group(groups::R2_BUCKET_ITEM_READ))
        .expect("a minted token (reuse keeps it)");
    assert!(out.contains(&format!("AWS_ACCESS_KEY_ID={}\n", token.id)));
    assert!(out.contains(&format!("AWS_SECRET_ACCESS_KEY={}\n", sha256_hex(&token.value))));
    // Reused by the next run: no second token.
    sb.run(&["exec", "--", "true"]).assert_code(0);
    assert_eq!(world.live_r2_tokens(), 1);
}

#[test]
fn over_privileged_source_is_caught_and_the_probe_removed() {
    let world = World::new();
    let (id, secret) = world.s3.new_key(&[Grant::bucket("photos", Access::ObjectReadWrite)]);
    let (did, dsecret) = world.s3.new_key(&[Grant::bucket("archive", Access::ObjectReadWrite)]);
    let config = env_secrets(&["SRC_KEY", "SRC_SECRET", "DST_KEY", "DST_SECRET"])
        + &static_lease("src", "photos", "read", &world.s3.endpoint(), "SRC_KEY", "SRC_SECRET")
        + &static_lease(
            "dst",
            "archive",
            "read-write",
            &world.s3.endpoint(),
            "DST_KEY",
            "DST_SECRET",
        );
    let mut sb = Sandbox::new(&config);
    sb.set("SRC_KEY", &id)
        .set("SRC_SECRET", &secret)
        .set("DST_KEY", &did)
        .set("DST_SECRET", &dsecret);
    sb.trust_project();
    let run = sb.run(&["r2", "verify", "--source", "src", "--destination", "dst"]);
    run.assert_code(1);
    let out = run.stdout();
    let line = out
        .lines()
        .find(|l| l.starts_with("src") && l.contains("least-privilege"))
        .unwrap();
    assert!(
        line.contains("FAIL") && line.contains("over-privileged") && line.contains("deleted again"),
        "{line}"
    );
    assert!(
        out.contains("src least-privilege (over-privileged): create a token with Object Read only on `photos`"),
        "{out}"
    );
    assert!(out.contains("r2 verify FAILED"), "{out}");
    no_probe_left(&world.s3, "photos");
    no_probe_left(&world.s3, "archive");
    assert_eq!(world.s3.object_keys("photos"), ["cat.jpg", "dog.jpg"]);
    // The destination passed, and the secrets never reached the output.
    assert!(!out.contains(&secret) && !run.stderr().contains(&secret));
    assert!(!out.contains(&dsecret));
    let dst_write = out
        .lines()
        .find(|l| l.starts_with("dst") && l.contains(" write "))
        .unwrap();
    assert!(dst_write.contains("pass"), "{dst_write}");
}

#[test]
fn every_check_fails_for_its_own_reason() {
    let world = World::new();
    let s3 = &world.s3;
    let ep = s3.endpoint();
    let (read_id, read_secret) = s3.new_key(&[Grant::bucket("photos", Access::ObjectRead)]);
    let (other_id, other_secret) = s3.new_key(&[Grant::bucket("archive", Access::ObjectRead)]);
    let (wide_id, wide_secret) = s3.new_key(&[Grant::account(Access::AdminReadWrite)]);
    let (acct_read_id, acct_read_secret) = s3.new_key(&[Grant::account(Access::ObjectRead)]);
    // A second server whose clock is 20 minutes ahead.
    let skewed = S3Standin::start_for(ACCOUNT);
    skewed.put_object("photos", "cat.jpg", b"meow");
    skewed.add_key(&read_id, &read_secret, &[Grant::bucket("photos", Access::ObjectRead)]);
    skewed.set_clock_offset(20 * 60);
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let vars = [
        "READ_ID",
        "READ_SECRET",
        "BAD_ID",
        "WRONG_SECRET",
        "OTHER_ID",
        "OTHER_SECRET",
        "WIDE_ID",
        "WIDE_SECRET",
        "ACCT_ID",
        "ACCT_SECRET",
    ];
    let mut config = env_secrets(&vars);
    config += &static_lease("unknown_key", "photos", "read", &ep, "BAD_ID", "READ_SECRET");
    config += &static_lease("wrong_secret", "photos", "read", &ep, "READ_ID", "WRONG_SECRET");
    config += &static_lease("missing_bucket", "nothere", "read", &ep, "ACCT_ID", "ACCT_SECRET");
    config += &static_lease("other_bucket", "photos", "read", &ep, "OTHER_ID", "OTHER_SECRET");
    config += &static_lease("read_only_dest", "photos", "read-write", &ep, "READ_ID", "READ_SECRET");
    config += &static_lease("admin_source", "photos", "read", &ep, "WIDE_ID", "WIDE_SECRET");
    config += &static_lease("skewed", "photos", "read", &skewed.endpoint(), "READ_ID", "READ_SECRET");
    config += &static_lease("unreachable", "photos", "read", &closed, "READ_ID", "READ_SECRET");
    config += &static_lease("good_source", "photos", "read", &ep, "READ_ID", "READ_SECRET");
    // Real-R2 formats checked offline; with offline failures nothing is sent.
    config += "[leases.bad_format]\ntype = \"r2\"\naccount_id = \"0123456789abcdef0123456789abcdef\"\nbucket = \"photos\"\n\
               endpoint = \"https://fedcba9876543210fedcba9876543210.eu.r2.cloudflarestorage.com\"\n\
               static = { access_key_id = { secret = \"BAD_ID\" }, secret_access_key = { secret = \"WRONG_SECRET\" } }\n";
    let mut sb = Sandbox::new(&config);
    for (var, value) in [
        ("READ_ID", read_id.as_str()),
        ("READ_SECRET", read_secret.as_str()),
        ("BAD_ID", "0000000000000000ffffffffffffffff"),
        ("WRONG_SECRET", &sha256_hex("not the token")),
        ("OTHER_ID", &other_id),
        ("OTHER_SECRET", &other_secret),
        ("WIDE_ID", &wide_id),
        ("WIDE_SECRET", &wide_secret),
        ("ACCT_ID", &acct_read_id),
        ("ACCT_SECRET", &acct_read_secret),
    ] {
        sb.set(var, value);
    }
    sb.trust_project();
    let run = sb.run(&["--timeout", "5s", "r2", "verify", "--format", "json"]);
    run.assert_code(1);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(json["ok"], false);
    let expect = [
        ("unknown_key", "credentials", "fail", "unknown-access-key"),
        ("unknown_key", "read", "skip", ""),
        ("wrong_secret", "credentials", "fail", "signature-mismatch"),
        ("missing_bucket", "credentials", "pass", ""),
        ("missing_bucket", "bucket", "fail", "no-such-bucket"),
        // R2 denies an object token everything on another bucket, ListBuckets
        // included: that cannot be told from an unknown key, and nothing passes.
        ("other_bucket", "credentials", "fail", "all-denied"),
        ("other_bucket", "bucket", "skip", ""),
        ("other_bucket", "read", "skip", ""),
        ("other_bucket", "least-privilege", "skip", ""),
        ("other_bucket", "scope", "skip", ""),
        ("read_only_dest", "read", "pass", ""),
        ("read_only_dest", "write", "fail", "read-only"),
        ("admin_source", "least-privilege", "fail", "over-privileged"),
        ("admin_source", "scope", "warn", "account-wide"),
        ("skewed", "credentials", "fail", "clock-skew"),
        ("unreachable", "credentials", "fail", "unreachable"),
        ("unreachable", "read", "skip", ""),
        ("good_source", "credentials", "pass", ""),
        ("good_source", "read", "pass", ""),
        ("good_source", "least-privilege", "pass", ""),
        ("good_source", "scope", "pass", ""),
        ("good_source", "token", "skip", ""),
        ("bad_format", "offline", "fail", "format"),
        ("bad_format", "credentials", "skip", ""),
    ];
    assert_checks(&json, &expect);
    // Every failure names its cause and a fix.
    for c in json["checks"].as_array().unwrap() {
        if c["status"] == "fail" || c["status"] == "warn" {
            assert!(c["cause"].is_string() && c["fix"].is_string(), "{c}");
        }
    }
    for check in ["bucket", "read", "least-privilege", "scope"] {
        let skipped = verify_check(&json, "unreachable", check)["detail"].as_str().unwrap();
        assert!(
            skipped.contains("did not answer") && !skipped.contains("rejected"),
            "an unreachable endpoint says nothing about the credentials: {skipped}"
        );
    }
    let all_denied = verify_check(&json, "other_bucket", "credentials")["detail"]
        .as_str()
        .unwrap();
    assert!(
        all_denied.contains("unknown") && all_denied.contains("wrong") && all_denied.contains("no grant"),
        "{all_denied}"
    );
    let offline = verify_check(&json, "bad_format", "offline");
    let detail = offline["detail"].as_str().unwrap();
    assert!(detail.contains("names account fedcba98"), "{detail}");
    assert!(detail.contains("`eu` jurisdiction"), "{detail}");
    assert!(!run.stdout().contains(&read_secret) && !run.stderr().contains(&read_secret));
    no_probe_left(s3, "photos");
    assert_eq!(s3.object_keys("photos"), ["cat.jpg", "dog.jpg"]);
}

/// Garage's answers (403 AccessDenied for an unknown key and a wrong secret,
/// told apart by the message; ListBuckets allowed to every key, showing only
/// its buckets) are read for what they say, and nothing passes on a denial
/// caused by bad credentials.
#[test]
fn a_server_answering_like_garage_is_read_right() {
    let world = World::new();
    let s3 = &world.s3;
    s3.answer_like_garage();
    let ep = s3.endpoint();
    let (read_id, read_secret) = s3.new_key(&[Grant::bucket("photos", Access::ObjectRead)]);
    let (write_id, write_secret) = s3.new_key(&[Grant::bucket("archive", Access::ObjectReadWrite)]);
    let (none_id, none_secret) = s3.new_key(&[]);
    let vars = [
        "READ_ID",
        "READ_SECRET",
        "WRITE_ID",
        "WRITE_SECRET",
        "BAD_ID",
        "WRONG_SECRET",
        "NONE_ID",
        "NONE_SECRET",
    ];
    let mut config = env_secrets(&vars);
    config += &static_lease("src", "photos", "read", &ep, "READ_ID", "READ_SECRET");
    config += &static_lease("dst", "archive", "read", &ep, "WRITE_ID", "WRITE_SECRET");
    config += &static_lease("unknown_key", "photos", "read", &ep, "BAD_ID", "READ_SECRET");
    config += &static_lease("wrong_secret", "photos", "read", &ep, "READ_ID", "WRONG_SECRET");
    config += &static_lease("no_grant", "photos", "read", &ep, "NONE_ID", "NONE_SECRET");
    let mut sb = Sandbox::new(&config);
    for (var, value) in [
        ("READ_ID", read_id.as_str()),
        ("READ_SECRET", read_secret.as_str()),
        ("WRITE_ID", &write_id),
        ("WRITE_SECRET", &write_secret),
        ("BAD_ID", "GK31c2f218a2e44f485b94239e"),
        ("WRONG_SECRET", &sha256_hex("not the secret")),
        ("NONE_ID", &none_id),
        ("NONE_SECRET", &none_secret),
    ] {
        sb.set(var, value);
    }
    sb.trust_project();
    let run = sb.run(&[
        "r2",
        "verify",
        "--format",
        "json",
        "unknown_key",
        "wrong_secret",
        "no_grant",
    ]);
    run.assert_code(1);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    let mut expect = vec![
        ("unknown_key", "credentials", "fail", "unknown-access-key"),
        ("wrong_secret", "credentials", "fail", "signature-mismatch"),
        // A known key without a grant: Garage lets it list (no) buckets, so
        // the key is accepted and the bucket denied.
        ("no_grant", "credentials", "pass", ""),
        ("no_grant", "bucket", "fail", "not-visible"),
        ("no_grant", "least-privilege", "pass", ""),
    ];
    for target in ["unknown_key", "wrong_secret"] {
        for check in ["bucket", "read", "least-privilege", "scope"] {
            expect.push((target, check, "skip", ""));
        }
    }
    assert_checks(&json, &expect);
    let fix = verify_check(&json, "unknown_key", "credentials")["fix"]
        .as_str()
        .unwrap();
    assert!(
        !fix.contains("Object Read"),
        "no grant advice for a key the server does not know: {fix}"
    );

    // The pre-flight of two bucket-scoped keys: each lists only its own
    // bucket, which this run targets, so no scope warning. The destination
    // is configured read-only: the advice never says to remove its write.
    let run = sb.run(&[
        "r2",
        "verify",
        "--format",
        "json",
        "--source",
        "src",
        "--destination",
        "dst",
    ]);
    run.assert_code(1);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_checks(
        &json,
        &[
            ("src", "scope", "pass", ""),
            ("dst", "scope", "pass", ""),
            ("src", "least-privilege", "pass", ""),
            ("dst", "role", "fail", "destination-read-only"),
            ("dst", "write", "pass", ""),
        ],
    );
    for c in json["checks"].as_array().unwrap() {
        let advice = format!("{} {}", c["fix"].as_str().unwrap_or(""), c["detail"]);
        assert!(
            c["target"] != "dst" || !(advice.contains("Object Read only") || advice.contains("remove write")),
            "contradictory advice for the destination: {c}"
        );
    }
    no_probe_left(s3, "photos");
    no_probe_left(s3, "archive");
}

#[test]
fn a_static_token_is_derived_and_its_expiry_checked() {
    let world = World::new();
    let resource = serde_json::json!({ format!("com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_photos"): "*" });
    let forever = world
        .cf
        .add_user_token(TokenSpec::new("cloney-source-token").allow(&[groups::R2_BUCKET_ITEM_READ], resource.clone()));
    let disabled = world.cf.add_user_token(
        TokenSpec::new("cloney-old-token")
            .allow(&[groups::R2_BUCKET_ITEM_READ], resource.clone())
            .with_expires_on(std::time::SystemTime::now() + Duration::from_secs(3600)),
    );
    world
        .cf
        .set_token_status(&disabled.id, sesame_test_support::cloudflare::TokenStatus::Disabled);
    let short = world.cf.add_user_token(
        TokenSpec::new("cloney-short-token")
            .allow(&[groups::R2_BUCKET_ITEM_READ], resource)
            .with_expires_on(std::time::SystemTime::now() + Duration::from_secs(7200)),
    );
    let lease = |name: &str, var: &str| {
        format!(
            "[leases.{name}]\ntype = \"r2\"\naccount_id = \"{ACCOUNT}\"\nbucket = \"photos\"\nendpoint = \"{}\"\n\
             static = {{ token = {{ secret = \"{var}\" }} }}\n\n",
            world.s3.endpoint()
        )
    };
    let config = env_secrets(&["FOREVER", "SHORT"]) + &lease("forever", "FOREVER") + &lease("short", "SHORT");
    let mut sb = world.sandbox(&config);
    sb.set("FOREVER", &forever.value).set("SHORT", &short.value);
    let run = sb.run(&["r2", "verify", "--format", "json"]);
    run.assert_code(0);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        check_status(&json, "forever", "token"),
        ("warn".into(), "no-ttl".into())
    );
    assert_eq!(
        check_status(&json, "forever", "least-privilege"),
        ("pass".into(), "".into())
    );
    assert_eq!(check_status(&json, "short", "token"), ("pass".into(), "".into()));

    // A disabled token cannot even be verified: the lease fails with a fix.
    let config = env_secrets(&["OLD"]) + &lease("old", "OLD");
    let mut sb = world.sandbox(&config);
    sb.set("OLD", &disabled.value);
    let run = sb.run(&["r2", "verify", "--format", "json"]);
    run.assert_code(1);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        check_status(&json, "old", "lease"),
        ("fail".into(), "no-credentials".into())
    );
    assert!(run.stdout().contains("is not valid"), "{}", run.stdout());
}

/// An R2 token with "Object Read & Write" on `bucket` (a parent access key
/// for temporary credentials); returns its id, the access key id.
fn r2_parent_key(world: &World, bucket: &str) -> String {
    world
        .cf
        .add_user_token(TokenSpec::new("r2-parent-key").allow(
            &[groups::R2_BUCKET_ITEM_WRITE],
            serde_json::json!({ format!("com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_{bucket}"): "*" }),
        ))
        .id
}

/// A `mode = "temporary"` lease on `archive` with `parent_key`.
fn temporary_lease(world: &World, parent_key: &str) -> String {
    format!(
        "[leases.tmp]\ntype = \"r2\"\naccount_id = \"{ACCOUNT}\"\nbucket = \"archive\"\naccess = \"read-write\"\n\
         mode = \"temporary\"\nparent_access_key_id = \"{parent_key}\"\nprefixes = [\"incoming/\"]\n\
         endpoint = \"{}\"\nduration = \"15m\"\n",
        world.s3.endpoint(),
    )
}

#[test]
fn temporary_credentials_carry_a_session_token_and_are_not_revocable() {
    let world = World::new();
    let parent_key = r2_parent_key(&world, "archive");
    // The API token that asks for them needs "Workers R2 Storage Write".
    let api_token = world
        .cf
        .add_user_token(TokenSpec::parent(&[groups::R2_STORAGE_WRITE]))
        .value;
    let mut sb = world.sandbox(&temporary_lease(&world, &parent_key));
    sb.set("CLOUDFLARE_API_TOKEN", &api_token);
    let run = sb.run(&["r2", "verify", "--format", "json"]);
    run.assert_code(0);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(check_status(&json, "tmp", "write"), ("pass".into(), "".into()));
    assert_eq!(check_status(&json, "tmp", "token"), ("pass".into(), "".into()));
    let detail = verify_check(&json, "tmp", "token")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("cannot be revoked one by one"), "{detail}");
    // The probe went under the allowed prefix and was removed.
    assert!(world
        .s3
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path.starts_with("/archive/incoming/.sesame-verify-probe")));
    no_probe_left(&world.s3, "archive");
    let temp: Vec<_> = world
        .s3
        .keys()
        .into_iter()
        .filter(|k| k.session_token.is_some())
        .collect();
    assert_eq!(temp.len(), 1, "the lease is reused, not minted twice");
    // Minted by the Cloudflare stand-in, as the OpenAPI fragment says.
    let issued = world.cf.temp_credentials();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].parent_access_key_id, parent_key);
    assert_eq!(issued[0].permission, "object-read-write");
    assert_eq!(issued[0].prefixes.as_deref(), Some(&["incoming/".to_string()][..]));
    assert_eq!(temp[0].access_key_id, issued[0].access_key_id);

    // exec gets the session token; the ledger knows it cannot be revoked.
    let run = sb.run(&[
        "exec",
        "--",
        "sh",
        "-c",
        "test -n \"$AWS_SESSION_TOKEN\" && echo has-session",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "has-session\n");
    let ledger = std::fs::read_dir(sb.path("state"))
        .unwrap()
        .flatten()
        .flat_map(|e| {
            std::fs::read_dir(e.path())
                .into_iter()
                .flatten()
                .flatten()
                .chain(std::iter::once(e))
        })
        .filter(|e| e.path().is_file())
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .find(|text| text.contains("\"backend\": \"r2\""))
        .expect("a ledger with the r2 lease");
    assert!(ledger.contains("\"revocable\": false"), "{ledger}");
    let list = sb.run(&["lease", "list"]);
    list.assert_code(0);
    assert!(
        list.stdout().contains("lease `tmp` (") && list.stdout().contains("cannot be revoked one by one"),
        "{}",
        list.stdout()
    );
}

#[test]
fn temporary_credentials_need_a_parent_token_with_r2_write() {
    let world = World::new();
    let parent_key = r2_parent_key(&world, "archive");
    let config = temporary_lease(&world, &parent_key);
    // The world's parent manages tokens but holds no R2 permission: 403.
    let sb = world.sandbox(&config);
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    let err = run.stderr();
    assert!(err.contains("r2/temp-access-credentials: HTTP 403"), "{err}");
    assert!(err.contains("'Workers R2 Storage Write'"), "{err}");
    assert!(!err.contains(&world.parent), "the token is never shown");
    // An unknown token: 401.
    let mut sb = world.sandbox(&config);
    sb.set("CLOUDFLARE_API_TOKEN", "not-a-real-token");
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(run.stderr().contains("HTTP 401"), "{}", run.stderr());
    // A good token, but a parent access key Cloudflare does not know: 400.
    let api_token = world
        .cf
        .add_user_token(TokenSpec::parent(&[groups::R2_STORAGE_WRITE]))
        .value;
    let mut sb = world.sandbox(&temporary_lease(&world, "0123456789abcdef0123456789abcdef"));
    sb.set("CLOUDFLARE_API_TOKEN", &api_token);
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    let err = run.stderr();
    assert!(
        err.contains("HTTP 400") && err.contains("parent access key does not exist"),
        "{err}"
    );
    assert!(err.contains("check `parent_access_key_id`"), "{err}");
    assert!(world.cf.temp_credentials().is_empty(), "nothing was issued");
}

#[test]
fn credentials_that_never_work_fail_the_run_and_the_token_is_deleted() {
    let world = World::new();
    world.s3.set_propagation_delay(Duration::from_secs(30));
    let config = world.lease("src", "photos", "read", "wait = \"1s\"");
    let sb = world.sandbox(&config);
    let run = sb.run(&["exec", "--", "sh", "-c", "echo ran"]);
    run.assert_code(125);
    assert_eq!(run.stdout(), "");
    let err = run.stderr();
    assert!(
        err.contains("the new credentials do not work on bucket `photos`"),
        "{err}"
    );
    assert!(err.contains("HTTP 401"), "{err}");
    assert_eq!(world.live_r2_tokens(), 0, "the token that did not work is deleted");
}

#[test]
fn a_missing_bucket_fails_at_once() {
    let world = World::new();
    let config = world.lease("src", "nothere", "read", "");
    let sb = world.sandbox(&config);
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(
        run.stderr().contains("bucket `nothere` does not exist"),
        "{}",
        run.stderr()
    );
    assert_eq!(world.live_r2_tokens(), 0);
}

#[test]
fn an_untrusted_project_cannot_choose_the_endpoint() {
    let world = World::new();
    let config = world.lease("src", "photos", "read", "");
    let mut sb = Sandbox::new(&config);
    sb.set("CLOUDFLARE_API_TOKEN", &world.parent)
        .set("CLOUDFLARE_API_BASE_URL", &world.cf.base_url());
    let run = sb.run(&["r2", "verify"]);
    run.assert_code(1);
    assert!(
        run.stdout().contains("is not trusted"),
        "{}\n{}",
        run.stdout(),
        run.stderr()
    );
    assert!(world.s3.requests().is_empty());
    assert!(world.cf.created_bodies().is_empty());
}

#[test]
fn config_errors_are_located() {
    let cases = [
        (
            "bucket = \"Photos\"",
            "bucket name `Photos` may only hold lowercase letters",
        ),
        (
            "bucket = \"photos\"\nmode = \"temporary\"",
            "`mode = \"temporary\"` needs `parent_access_key_id`",
        ),
        (
            "bucket = \"photos\"\nprefixes = [\"a/\"]",
            "`prefixes` only applies to `mode = \"temporary\"`",
        ),
        (
            "bucket = \"photos\"\nenv = { AWS_KEY = \"X\" }",
            "`env` renames `AWS_KEY`",
        ),
        (
            "bucket = \"photos\"\nenv_prefix = \"9\"",
            "`env_prefix` `9` cannot start",
        ),
        ("bucket = \"photos\"\naccess = \"write\"", "[leases.x] `access`"),
        (
            "bucket = \"photos\"\nduration = \"200h\"",
            "more than the r2 backend allows",
        ),
    ];
    for (body, expected) in cases {
        let config = format!("[leases.x]\ntype = \"r2\"\naccount_id = \"{ACCOUNT}\"\n{body}\n");
        let sb = Sandbox::new(&config);
        sb.trust_project();
        let run = sb.run(&["exec", "--", "true"]);
        run.assert_code(125);
        assert!(run.stderr().contains(expected), "{body}: {}", run.stderr());
        assert!(run.stderr().contains("sesame.toml:"), "{body}: {}", run.stderr());
    }
}

#[test]
fn verify_names_unknown_or_wrong_leases() {
    let sb = Sandbox::new(
        "[leases.cf]\ntype = \"cloudflare\"\n\n[leases.photos]\ntype = \"r2\"\naccount_id = \"0123456789abcdef0123456789abcdef\"\nbucket = \"photos\"\n",
    );
    let run = sb.run(&["r2", "verify", "photo"]);
    run.assert_code(1);
    assert!(run.stderr().contains("did you mean `photos`?"), "{}", run.stderr());
    let run = sb.run(&["r2", "verify", "cf"]);
    run.assert_code(1);
    assert!(
        run.stderr().contains("lease `cf` is of type `cloudflare`, not `r2`"),
        "{}",
        run.stderr()
    );
    let run = sb.run(&["r2", "verify", "--source", "photos", "--destination", "photos"]);
    run.assert_code(1);
    assert!(run.stderr().contains("name the same lease"), "{}", run.stderr());
}

/// Architecture invariant: `sesame` does not link aws-sdk-s3; the
/// `sesame-s3` helper does (so this test can fail both ways).
#[test]
fn only_the_helper_links_the_s3_sdk() {
    let has_sdk = |path: &str| {
        let bytes = std::fs::read(path).unwrap();
        bytes.windows(10).any(|w| w == b"aws_sdk_s3")
    };
    assert!(
        !has_sdk(env!("CARGO_BIN_EXE_sesame")),
        "sesame links aws-sdk-s3: keep it in crates/s3-helper"
    );
    assert!(
        has_sdk(env!("CARGO_BIN_EXE_sesame-s3")),
        "the helper should hold the S3 client"
    );
}

/// Without its S3 helper, an R2 lease fails before the command runs, says
/// what to do, and deletes the token it minted.
#[test]
fn a_missing_helper_fails_clearly_and_orphans_nothing() {
    let world = World::new();
    let config = world.lease("src", "photos", "read", "");
    let mut sb = world.sandbox(&config);
    sb.set("SESAME_S3_HELPER", "/nonexistent/sesame-s3");
    let run = sb.run(&["exec", "--", "sh", "-c", "echo ran"]);
    run.assert_code(125);
    assert_eq!(run.stdout(), "");
    let err = run.stderr();
    assert!(
        err.contains("cannot start the S3 helper `/nonexistent/sesame-s3`") && err.contains("SESAME_S3_HELPER"),
        "{err}"
    );
    assert_eq!(world.live_r2_tokens(), 0, "the minted token is deleted");

    let run = sb.run(&["r2", "verify"]);
    run.assert_code(1);
    // Minting waits for the credentials through the helper, so the lease's
    // setup fails and is reported as its check.
    let (out, err) = (run.stdout(), run.stderr());
    assert!(
        out.contains("cannot start the S3 helper") || err.contains("cannot start the S3 helper"),
        "{out}\n{err}"
    );
    assert_eq!(world.live_r2_tokens(), 0, "verify's lease is revoked too");
}

/// Points `SESAME_S3_HELPER` at a wrapper that runs the real helper as its
/// child and notes both pids (`start WRAPPER HELPER`) and how the helper
/// ended (`exit STATUS`) in the returned log; killed itself, it notes
/// nothing.
fn logging_helper(sb: &mut Sandbox) -> std::path::PathBuf {
    let real = std::path::Path::new(crate::support::sesame_bin()).with_file_name("sesame-s3");
    let log = sb.path("helper.log");
    let wrapper = sb.path("sesame-s3-wrapper");
    // (A background job's stdin is /dev/null unless handed on through
    // another descriptor.)
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec 3<&0\n\"{}\" <&3 3<&- &\nchild=$!\nexec 3<&-\necho \"start $$ $child\" >> \"{}\"\n\
             wait $child\necho \"exit $?\" >> \"{}\"\n",
            real.display(),
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.set("SESAME_S3_HELPER", wrapper.to_str().unwrap());
    log
}

/// The `start` and `exit` lines of a helper log.
fn helper_log(log: &std::path::Path) -> (String, Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines = |kind: &str| {
        text.lines()
            .filter(|l| l.starts_with(kind))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (starts, exits) = (lines("start"), lines("exit"));
    (text, starts, exits)
}

/// Every `sesame-s3` that sesame starts is ended by closing its pipe and
/// waited for: when sesame returns, each helper has already exited on its
/// own (status 0, not a signal) and nothing it started is still running.
#[test]
fn the_s3_helper_is_shut_down_and_reaped_before_sesame_returns() {
    let world = World::new();
    let config = world.lease("src", "photos", "read", "env_prefix = \"SRC_\"\nreuse = false")
        + &world.lease("dst", "archive", "read-write", "env_prefix = \"DST_\"\nreuse = false");
    let mut sb = world.sandbox(&config);
    let log = logging_helper(&mut sb);

    for args in [
        &["r2", "verify", "--source", "src", "--destination", "dst"][..],
        &["exec", "--", "true"][..],
    ] {
        std::fs::remove_file(&log).ok();
        let run = sb.run(args);
        run.assert_code(0);
        let (text, starts, exits) = helper_log(&log);
        assert!(!starts.is_empty(), "{args:?}: the helper ran\n{text}");
        assert_eq!(
            exits.len(),
            starts.len(),
            "{args:?}: every helper exited before sesame returned\n{text}"
        );
        assert!(
            exits.iter().all(|l| *l == "exit 0"),
            "{args:?}: ended by its input closing\n{text}"
        );
        for line in starts {
            for pid in line.split_whitespace().skip(1) {
                assert!(
                    !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                    "{args:?}: process {pid} is left behind (or unreaped)\n{text}"
                );
            }
        }
    }
}

/// A run with two R2 leases starts one `sesame-s3`, not one per lease:
/// both minted leases wait for their credentials through it, and `r2
/// verify` checks every target through the same one. `exec` has ended it
/// before the command starts (the command finds its exit in the log).
#[test]
fn one_s3_helper_serves_a_whole_run() {
    let world = World::new();
    // Fresh keys answer 401 for a while: both leases poll the helper.
    world.s3.set_propagation_delay(Duration::from_millis(300));
    let (id, secret) = world.s3.new_key(&[Grant::bucket("photos", Access::ObjectRead)]);
    let (did, dsecret) = world.s3.new_key(&[Grant::bucket("archive", Access::ObjectReadWrite)]);
    let endpoint = world.s3.endpoint();
    let config = env_secrets(&["S_KEY", "S_SECRET", "D_KEY", "D_SECRET"])
        + &world.lease("src", "photos", "read", "env_prefix = \"SRC_\"\nreuse = false")
        + &world.lease("dst", "archive", "read-write", "env_prefix = \"DST_\"\nreuse = false")
        + &static_lease("ssrc", "photos", "read", &endpoint, "S_KEY", "S_SECRET")
        + &static_lease("sdst", "archive", "read-write", &endpoint, "D_KEY", "D_SECRET");
    let mut sb = world.sandbox(&config);
    sb.set("S_KEY", &id)
        .set("S_SECRET", &secret)
        .set("D_KEY", &did)
        .set("D_SECRET", &dsecret);
    let log = logging_helper(&mut sb);
    let cat_log = format!("cat '{}'", log.display());

    for args in [
        &["r2", "verify", "--source", "src", "--destination", "dst"][..],
        &["r2", "verify", "--source", "ssrc", "--destination", "sdst"][..],
        &["r2", "verify"][..],
        &["exec", "--", "sh", "-c", &cat_log][..],
    ] {
        std::fs::remove_file(&log).ok();
        let run = sb.run(args);
        run.assert_code(0);
        let (text, starts, exits) = helper_log(&log);
        assert_eq!(starts.len(), 1, "{args:?}: one helper for the run\n{text}");
        assert_eq!(exits, ["exit 0"], "{args:?}: ended by its input closing\n{text}");
        if args[0] == "exec" {
            assert!(
                run.stdout().contains("exit 0"),
                "the helper ended before the command ran\n{}",
                run.stdout()
            );
        }
    }
    assert_eq!(world.live_r2_tokens(), 0, "the minted tokens are revoked");
}

/// `check` says a static target is taken as it is, and `exec` does just
/// that: no token minted, nothing in the ledger (see plan_agreement.rs for
/// the minted cases).
#[test]
fn check_and_exec_agree_on_a_static_target() {
    let world = World::new();
    let (id, secret) = world.s3.new_key(&[Grant::bucket("photos", Access::ObjectRead)]);
    let config = env_secrets(&["SRC_KEY", "SRC_SECRET"])
        + &static_lease("src", "photos", "read", &world.s3.endpoint(), "SRC_KEY", "SRC_SECRET");
    let mut sb = Sandbox::new(&config);
    sb.set("SRC_KEY", &id).set("SRC_SECRET", &secret);
    sb.trust_project();
    let check = sb.run(&["check", "--format", "json"]);
    check.assert_code(0);
    let json: Value = serde_json::from_str(&check.stdout()).unwrap();
    let row = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "src")
        .unwrap()
        .clone();
    assert_eq!(row["action"], "static", "{row}");
    let run = sb.run(&["exec", "--", "sh", "-c", "printf %s \"$AWS_ACCESS_KEY_ID\""]);
    run.assert_code(0);
    assert_eq!(run.stdout(), id);
    assert_eq!(world.live_r2_tokens(), 0, "nothing minted");
    let list: Value = serde_json::from_str(&sb.run(&["lease", "list", "--format", "json"]).stdout()).unwrap();
    assert_eq!(list["leases"], serde_json::json!([]), "nothing recorded");
}
