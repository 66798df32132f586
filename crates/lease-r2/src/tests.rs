//! Unit tests: the table, names, derivation and offline checks. The checks
//! that need S3 are tested with the S3 client, in crates/s3-helper.

use std::sync::Arc;
use std::time::Duration;

use sesame_cloudflare_api::Owner;
use sesame_core::{BackendConfig, BackendContext, EnvSnapshot, SecretValue};

use crate::config::{self, R2Settings, Source};
use crate::s3::S3Credentials;
use crate::verify::{self, Status, Target, TokenCheck};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

fn ctx() -> BackendContext {
    BackendContext::new(Arc::new(EnvSnapshot::default()))
}

fn parse(body: &str) -> Result<R2Settings, String> {
    let text = format!("account_id = \"{ACCOUNT}\"\nbucket = \"photos\"\n{body}");
    config::parse(&BackendConfig::for_test("src", "r2", &text), &ctx()).map_err(|e| e.to_string())
}

#[test]
fn defaults_mint_a_read_token_on_the_derived_endpoint() {
    let s = parse("").unwrap();
    assert_eq!(s.endpoint, format!("https://{ACCOUNT}.r2.cloudflarestorage.com"));
    assert!(!s.endpoint_overridden && s.is_real_r2());
    assert_eq!(s.access, config::AccessLevel::Read);
    assert_eq!(s.duration, Duration::from_secs(3600));
    assert!(matches!(s.source, Source::Token { owner: Owner::User }));
    assert_eq!(
        s.resource_key().unwrap(),
        format!("com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_photos")
    );
    let names: Vec<&str> = s.names.values().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_ENDPOINT_URL_S3",
            "AWS_REGION",
            "AWS_SECRET_ACCESS_KEY",
            "R2_ACCOUNT_ID",
            "R2_BUCKET"
        ]
    );
}

#[test]
fn jurisdictions_have_their_own_endpoints_and_resource_keys() {
    let eu = parse("jurisdiction = \"eu\"").unwrap();
    assert_eq!(eu.endpoint, format!("https://{ACCOUNT}.eu.r2.cloudflarestorage.com"));
    assert!(eu.resource_key().unwrap().ends_with("_eu_photos"));
    let fed = parse("jurisdiction = \"fedramp\"\ntoken_type = \"account\"").unwrap();
    assert_eq!(
        fed.endpoint,
        format!("https://{ACCOUNT}.fedramp.r2.cloudflarestorage.com")
    );
    assert!(matches!(fed.source, Source::Token { owner: Owner::Account(ref a) } if a == ACCOUNT));
    assert_eq!(parse("wait = \"0s\"").unwrap().wait, Duration::ZERO);
    assert_eq!(parse("wait = \"5s\"").unwrap().wait, Duration::from_secs(5));
    let custom = parse("endpoint = \"http://127.0.0.1:9000/\"").unwrap();
    assert_eq!(custom.endpoint, "http://127.0.0.1:9000");
    assert!(custom.endpoint_overridden && !custom.is_real_r2());
}

#[test]
fn outputs_take_a_prefix_and_renames() {
    let s = parse("env_prefix = \"SRC_\"\nenv = { R2_BUCKET = \"SOURCE_BUCKET\" }").unwrap();
    assert_eq!(s.var("AWS_ACCESS_KEY_ID"), Some("SRC_AWS_ACCESS_KEY_ID"));
    assert_eq!(s.var("AWS_REGION"), Some("SRC_AWS_REGION"));
    assert_eq!(s.var("R2_BUCKET"), Some("SOURCE_BUCKET"));
    assert_eq!(s.var("AWS_SESSION_TOKEN"), None, "token mode has no session token");
    let t = parse("mode = \"temporary\"\nparent_access_key_id = \"abc\"").unwrap();
    assert_eq!(t.var("AWS_SESSION_TOKEN"), Some("AWS_SESSION_TOKEN"));
    let clash = parse("env = { AWS_REGION = \"X\", R2_BUCKET = \"X\" }").unwrap_err();
    assert!(clash.contains("would both go to `X`"), "{clash}");
    let typo = parse("env = { AWS_SECRET_KEY = \"X\" }").unwrap_err();
    assert!(typo.contains("did you mean `AWS_SECRET_ACCESS_KEY`?"), "{typo}");
}

#[test]
fn mode_specific_fields_are_checked() {
    let cases = [
        ("mode = \"temporary\"", "needs `parent_access_key_id`"),
        (
            "mode = \"temporary\"\nparent_access_key_id = \"k\"\nprefixes = []",
            "empty prefix or none",
        ),
        (
            "mode = \"temporary\"\nparent_access_key_id = \"k\"\ntoken_type = \"user\"",
            "`token_type` does not apply",
        ),
        ("parent_access_key_id = \"k\"", "only applies to `mode = \"temporary\"`"),
        ("static = {}", "`static` names no credentials"),
        (
            "static = { access_key_id = \"k\" }",
            "needs both `access_key_id` and `secret_access_key`",
        ),
        (
            "static = { token = \"t\", access_key_id = \"k\" }",
            "half a key pair besides `token`",
        ),
        (
            "static = { token = \"t\" }\nmode = \"temporary\"",
            "`mode` does not apply",
        ),
        ("endpoint = \"ftp://x\"", "is not an http(s) URL"),
        ("wait = \"soon\"", "`wait`"),
        ("acess = \"read\"", "acess"),
    ];
    for (body, expected) in cases {
        let err = parse(body).unwrap_err();
        assert!(err.contains(expected), "{body}: {err}");
        assert!(err.contains("<test>:"), "located: {err}");
    }
    let text = "bucket = \"photos\"";
    let err = config::parse(&BackendConfig::for_test("src", "r2", text), &ctx()).unwrap_err();
    assert!(err.to_string().contains("needs `account_id`"), "{err}");
    let text = "bucket = \"photos\"\nstatic = { token = \"t\" }";
    let err = config::parse(&BackendConfig::for_test("src", "r2", text), &ctx()).unwrap_err();
    assert!(err.to_string().contains("need `account_id` or `endpoint`"), "{err}");
    let text = "bucket = \"photos\"\nendpoint = \"http://127.0.0.1:1\"\nstatic = { token = \"t\" }";
    assert!(config::parse(&BackendConfig::for_test("src", "r2", text), &ctx()).is_ok());
}

#[test]
fn bucket_names_follow_r2_rules() {
    assert_eq!(config::bucket_name_problem("photos-2024"), None);
    assert!(config::bucket_name_problem("ab").is_some());
    assert!(config::bucket_name_problem("Photos").is_some());
    assert!(config::bucket_name_problem("-photos").is_some());
    assert!(config::bucket_name_problem("my_bucket").is_some());
}

#[test]
fn the_secret_is_the_hex_sha256_of_the_token_value() {
    assert_eq!(
        crate::derive_secret("abc").expose(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

fn target(settings: R2Settings, id: &str, secret: &str) -> Target {
    Target {
        name: "t".into(),
        settings,
        credentials: S3Credentials {
            access_key_id: id.into(),
            secret_access_key: SecretValue::new(secret),
            session_token: None,
        },
        origin: "static".into(),
        token: TokenCheck::NotHeld,
        role: None,
    }
}

#[test]
fn offline_checks_catch_what_users_paste_wrong() {
    let good_id = "0123456789abcdef0123456789abcdef";
    let good_secret = "a".repeat(64);
    let s = parse("").unwrap();
    assert_eq!(
        verify::offline(&target(s.clone(), good_id, &good_secret)).status,
        Status::Pass
    );
    let cases = [
        (
            good_id,
            "Abcdefghij_klmnopqrstuvwxyz0123456789-AB",
            "looks like an API token value",
        ),
        ("AKIAIOSFODNN7EXAMPLE", good_secret.as_str(), "looks like an AWS key"),
        ("0123", good_secret.as_str(), "Access Key ID is 4 characters"),
        (good_id, "abc", "Secret Access Key is 3 characters"),
    ];
    for (id, secret, expected) in cases {
        let check = verify::offline(&target(s.clone(), id, secret));
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains(expected), "{}", check.detail);
        assert!(check.fix.is_some());
    }
    let other = parse("endpoint = \"https://fedcba9876543210fedcba9876543210.r2.cloudflarestorage.com\"").unwrap();
    let check = verify::offline(&target(other, good_id, &good_secret));
    assert!(check.detail.contains("names account fedcba98"), "{}", check.detail);
    let eu = parse(&format!("endpoint = \"https://{ACCOUNT}.eu.r2.cloudflarestorage.com\"")).unwrap();
    let check = verify::offline(&target(eu, good_id, &good_secret));
    assert!(check.detail.contains("`eu` jurisdiction"), "{}", check.detail);
    let plain = parse("endpoint = \"http://s3.example.com\"").unwrap();
    assert_eq!(verify::offline(&target(plain, "x", "y")).status, Status::Warn);
}
