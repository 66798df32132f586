//! The backend against the Cloudflare stand-in.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use sesame_core::{BackendConfig, BackendContext, EnvSnapshot, LeaseBackend, LeaseRequest, RevokeRequest};
use sesame_test_support::cloudflare::{groups, CloudflareStandin, TokenSpec, DEFAULT_ACCOUNT_ID};

use super::*;

fn ctx(standin: &CloudflareStandin, parent: Option<&str>) -> BackendContext {
    let mut pairs = vec![(api::API_BASE_VAR.to_string(), standin.base_url())];
    if let Some(parent) = parent {
        pairs.push(("CLOUDFLARE_API_TOKEN".into(), parent.to_string()));
    }
    BackendContext::new(Arc::new(EnvSnapshot::from_pairs(pairs))).with_timeout(Duration::from_secs(10))
}

fn lease(toml_text: &str, ctx: &BackendContext) -> CloudflareLease {
    CloudflareLease::parse(&BackendConfig::for_test("cf", "cloudflare", toml_text), ctx).unwrap()
}

fn parse_error(toml_text: &str) -> String {
    let ctx = BackendContext::new(Arc::default());
    CloudflareLease::parse(&BackendConfig::for_test("cf", "cloudflare", toml_text), &ctx)
        .unwrap_err()
        .to_string()
}

fn request(label: &str) -> LeaseRequest {
    LeaseRequest {
        lease: "cf".into(),
        label: label.into(),
        duration: Duration::from_secs(3600),
    }
}

const ZONE_READ_POLICY: &str = "[[policies]]\nresources = { \"com.cloudflare.api.account.*\" = \"*\" }\n\
     [[policies.permission_groups]]\nid = \"c8fed203ed3043cba015a93ad1616f1f\"\nname = \"Zone Read\"\n";

/// Live tokens the backend created (the seeded parents excluded).
fn children(standin: &CloudflareStandin) -> Vec<sesame_test_support::cloudflare::TokenRecord> {
    standin
        .tokens()
        .into_iter()
        .filter(|t| t.is_live() && t.created_by.is_some())
        .collect()
}

#[test]
fn config_errors_are_located_and_explained() {
    let err = parse_error("token_type = \"account\"\n");
    assert!(
        err.contains("needs `account_id`") && err.contains("<test>:token_type"),
        "{err}"
    );
    let err = parse_error("env_var = \"1BAD\"\n");
    assert!(err.contains("not a valid environment variable name"), "{err}");
    let err = parse_error("duration = \"soon\"\n");
    assert!(
        err.contains("<test>:duration") && err.contains("not a duration"),
        "{err}"
    );
    let err = parse_error("policies = []\n");
    assert!(err.contains("`policies` is empty"), "{err}");
    let err = parse_error("[[policies]]\nresources = { a = \"*\" }\npermission_groups = []\n");
    assert!(err.contains("no permission groups"), "{err}");
    let err =
        parse_error("[[policies]]\nresources = { a = \"*\" }\n[[policies.permission_groups]]\nname = \"Zone Read\"\n");
    assert!(err.contains("`id`"), "{err}");
    let err = parse_error(
        "[[policies]]\neffect = \"maybe\"\nresources = { a = \"*\" }\n[[policies.permission_groups]]\nid = \"x\"\n",
    );
    assert!(err.contains("effect"), "{err}");
    let err = parse_error("token_typ = \"user\"\n");
    assert!(err.contains("did you mean `token_type`"), "{err}");
    let err = parse_error("api_base = \"ftp://x\"\n");
    assert!(err.contains("not an http(s) URL"), "{err}");
}

#[test]
fn defaults() {
    let ctx = BackendContext::new(Arc::default());
    let lease = lease("", &ctx);
    assert_eq!(lease.duration(), MAX_DURATION);
    assert_eq!(lease.produces(), ["CLOUDFLARE_API_TOKEN"]);
    assert_eq!(lease.owner, Owner::User);
    assert_eq!(lease.api_base, api::DEFAULT_API_BASE);
    let custom = super::tests::lease("env_var = \"CF_TOKEN\"\nduration = \"2h30m\"\n", &ctx);
    assert_eq!(custom.produces(), ["CF_TOKEN"]);
    assert_eq!(custom.duration(), Duration::from_secs(9000));
}

#[test]
fn inheriting_drops_api_token_groups_and_empty_policies() {
    let group = |id: &str, name: Option<&str>| GroupRef {
        id: id.into(),
        name: name.map(Into::into),
    };
    let policies = vec![
        Policy {
            id: Some("p1".into()),
            effect: "allow".into(),
            resources: json!({"com.cloudflare.api.user.x": "*"}),
            permission_groups: vec![group("a", Some("API Tokens Write"))],
        },
        Policy {
            id: Some("p2".into()),
            effect: "allow".into(),
            resources: json!({"com.cloudflare.api.account.*": "*"}),
            permission_groups: vec![group("b", None), group("c", Some("Zone Read"))],
        },
    ];
    let names = [("b".to_string(), "Account API Tokens Write".to_string())].into();
    let kept = inherit(policies, &names);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, None);
    assert_eq!(kept[0].permission_groups, vec![group("c", Some("Zone Read"))]);
}

#[tokio::test]
async fn mints_with_explicit_policies_and_revokes() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[]));
    let ctx = ctx(&standin, Some(&parent.value));
    let lease = lease(&format!("duration = \"1h\"\n{ZONE_READ_POLICY}"), &ctx);
    let before = SystemTime::now();
    let grant = lease
        .create(&ctx, &request("sesame cf host 0123456789abcdef"))
        .await
        .unwrap();
    let child = standin.token(&grant.id).unwrap();
    assert_eq!(grant.env["CLOUDFLARE_API_TOKEN"].expose(), child.value);
    assert_eq!(child.name, "sesame cf host 0123456789abcdef");
    assert!(child.has_group(groups::ZONE_READ) && !child.has_group(groups::API_TOKENS_WRITE));
    let expires = child.expires_on.unwrap();
    let lifetime = expires.duration_since(before).unwrap();
    assert!(
        lifetime > Duration::from_secs(3590) && lifetime <= Duration::from_secs(3601),
        "{lifetime:?}"
    );
    assert_eq!(grant.expires_at, expires);
    let body = &standin.created_bodies()[0];
    assert_eq!(body.path, "/client/v4/user/tokens");
    let sent = body.json.as_ref().unwrap();
    assert_eq!(
        sent["policies"][0]["permission_groups"][0],
        json!({"id": groups::ZONE_READ}),
        "only ids are sent"
    );
    assert!(sent["expires_on"].as_str().unwrap().ends_with('Z'));

    let revoke = RevokeRequest {
        id: Some(grant.id.clone()),
        label: child.name.clone(),
        data: grant.data.clone(),
    };
    assert!(lease.revoke(&ctx, &revoke).await.unwrap());
    assert!(!standin.token(&grant.id).unwrap().is_live());
    // Already gone (404) is success too.
    assert!(lease.revoke(&ctx, &revoke).await.unwrap());
}

#[tokio::test]
async fn inherits_the_parents_policies_minus_api_tokens() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[groups::ZONE_READ, groups::DNS_READ]));
    let ctx = ctx(&standin, Some(&parent.value));
    let grant = lease("", &ctx)
        .create(&ctx, &request("sesame cf host 1123456789abcdef"))
        .await
        .unwrap();
    let child = standin.token(&grant.id).unwrap();
    assert!(child.has_group(groups::ZONE_READ) && child.has_group(groups::DNS_READ));
    for api_group in [groups::API_TOKENS_WRITE, groups::ACCOUNT_API_TOKENS_WRITE] {
        assert!(!child.has_group(api_group), "{:?}", child.policies);
    }
}

#[tokio::test]
async fn inheriting_nothing_but_api_tokens_fails_clearly() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[]));
    let ctx = ctx(&standin, Some(&parent.value));
    let err = lease("", &ctx)
        .create(&ctx, &request("sesame cf host 2123456789abcdef"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nothing besides 'API Tokens'") && err.contains("`policies`"),
        "{err}"
    );
    assert!(children(&standin).is_empty());
}

#[tokio::test]
async fn account_tokens_from_an_account_parent_and_from_a_user_parent() {
    let standin = CloudflareStandin::start_async().await;
    let account_parent = standin.add_account_token(
        DEFAULT_ACCOUNT_ID,
        TokenSpec::account_parent(DEFAULT_ACCOUNT_ID, &[groups::ZONE_READ]),
    );
    let user_parent = standin.add_user_token(TokenSpec::parent(&[groups::DNS_READ]));
    let config = format!("token_type = \"account\"\naccount_id = \"{DEFAULT_ACCOUNT_ID}\"\n");
    for (parent, group) in [(&account_parent, groups::ZONE_READ), (&user_parent, groups::DNS_READ)] {
        let ctx = ctx(&standin, Some(&parent.value));
        let lease = lease(&config, &ctx);
        let grant = lease
            .create(&ctx, &request("sesame cf host 3123456789abcdef"))
            .await
            .unwrap();
        let child = standin.token(&grant.id).unwrap();
        assert_eq!(child.owner.account_id(), Some(DEFAULT_ACCOUNT_ID));
        assert!(child.has_group(group), "{:?}", child.policies);
        assert!(!child.has_group(groups::ACCOUNT_API_TOKENS_WRITE));
        assert_eq!(grant.data["token_type"], "account");
        // Revocation uses the ledger data, even with another config.
        let other = super::tests::lease("", &ctx);
        let revoke = RevokeRequest {
            id: Some(grant.id.clone()),
            label: child.name,
            data: grant.data,
        };
        assert!(other.revoke(&ctx, &revoke).await.unwrap());
        assert!(!standin.token(&grant.id).unwrap().is_live());
    }
}

#[tokio::test]
async fn a_missing_parent_is_reported_exactly() {
    let standin = CloudflareStandin::start_async().await;
    let ctx = ctx(&standin, None);
    let err = lease("", &ctx).create(&ctx, &request("x")).await.unwrap_err();
    assert_eq!(err.to_string(), MISSING_PARENT);
    assert_eq!(standin.request_count(), 0);
}

#[tokio::test]
async fn cf_api_token_is_the_fallback_parent() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[]));
    let ctx = BackendContext::new(Arc::new(EnvSnapshot::from_pairs([
        ("CF_API_TOKEN", parent.value.as_str()),
        (api::API_BASE_VAR, standin.base_url().as_str()),
    ])));
    let grant = lease(ZONE_READ_POLICY, &ctx)
        .create(&ctx, &request("sesame cf h 4123456789abcdef"))
        .await;
    assert!(grant.is_ok(), "{grant:?}");
}

#[tokio::test]
async fn an_unprivileged_or_unknown_parent_gets_codes_and_a_hint() {
    let standin = CloudflareStandin::start_async().await;
    let weak = standin.add_user_token(TokenSpec::parent_without_token_write(&[groups::ZONE_READ]));
    let ctx1 = ctx(&standin, Some(&weak.value));
    let err = lease(ZONE_READ_POLICY, &ctx1)
        .create(&ctx1, &request("sesame cf h 5123456789abcdef"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 403") && err.contains("code 10000"), "{err}");
    assert!(err.contains("'API Tokens: Edit'"), "{err}");
    let ctx2 = ctx(&standin, Some("not-a-real-token"));
    let err = lease("", &ctx2)
        .create(&ctx2, &request("sesame cf h 6123456789abcdef"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid") && err.contains("code 1000"), "{err}");
    assert!(!err.contains("not-a-real-token"), "{err}");
}

#[tokio::test]
async fn revoke_without_an_id_finds_the_token_by_label() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[]));
    let ctx = ctx(&standin, Some(&parent.value));
    let lease = lease(ZONE_READ_POLICY, &ctx);
    let label = "sesame cf host 7123456789abcdef";
    let grant = lease.create(&ctx, &request(label)).await.unwrap();
    let revoke = RevokeRequest {
        id: None,
        label: label.into(),
        data: Value::Null,
    };
    assert!(lease.revoke(&ctx, &revoke).await.unwrap());
    assert!(!standin.token(&grant.id).unwrap().is_live());
    // Nothing by that name: nothing to revoke, which is success.
    assert!(lease.revoke(&ctx, &revoke).await.unwrap());
}

#[tokio::test]
async fn retries_rate_limits_drops_and_lost_answers_without_leaving_twins() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[]));
    let ctx = ctx(&standin, Some(&parent.value));
    let lease = lease(ZONE_READ_POLICY, &ctx);

    standin.rate_limit_next(1, 1);
    let started = std::time::Instant::now();
    lease
        .create(&ctx, &request("sesame cf h 8123456789abcdef"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");

    standin.drop_next(1);
    lease
        .create(&ctx, &request("sesame cf h 9123456789abcdef"))
        .await
        .unwrap();

    // The create happens but its answer is lost: the retry must not leave
    // the first token behind.
    standin.lose_next_responses(1);
    let grant = lease
        .create(&ctx, &request("sesame cf h a123456789abcdef"))
        .await
        .unwrap();
    let twins: Vec<_> = children(&standin)
        .into_iter()
        .filter(|t| t.name == "sesame cf h a123456789abcdef")
        .collect();
    assert_eq!(twins.len(), 1, "{twins:?}");
    assert_eq!(twins[0].id, grant.id);
    assert_eq!(children(&standin).len(), 3);
}

#[tokio::test]
async fn persistent_server_errors_fail_clearly() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[]));
    let ctx = ctx(&standin, Some(&parent.value));
    standin.fail_next(5);
    let err = lease(ZONE_READ_POLICY, &ctx)
        .create(&ctx, &request("sesame cf h b123456789abcdef"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 500") && err.contains("code 10001") && err.contains("gave up after"),
        "{err}"
    );
    assert!(children(&standin).is_empty());
}

#[tokio::test]
async fn remote_cleanup_pages_through_and_deletes_only_expired_sesame_tokens() {
    let standin = CloudflareStandin::start_async().await;
    let parent = standin.add_user_token(TokenSpec::parent(&[]));
    let past = SystemTime::now() - Duration::from_secs(60);
    let future = SystemTime::now() + Duration::from_secs(3600);
    for i in 0..60 {
        standin.add_user_token(TokenSpec::new(format!("sesame cf host {i:016x}")).with_expires_on(past));
    }
    standin.add_user_token(TokenSpec::new("sesame cf host ffffffffffffffff").with_expires_on(future));
    standin.add_user_token(TokenSpec::new("my own token").with_expires_on(past));
    standin.add_user_token(TokenSpec::new("sesame but not ours").with_expires_on(past));
    let ctx = ctx(&standin, Some(&parent.value));
    let report = lease("", &ctx).cleanup_remote(&ctx).await.unwrap().unwrap();
    assert_eq!(report.examined, 64);
    assert_eq!(report.deleted.len(), 60, "{:?}", report.failures);
    let live: Vec<String> = standin.live_tokens().user.into_iter().map(|t| t.name).collect();
    assert_eq!(
        live,
        [
            "sesame-test-parent",
            "sesame cf host ffffffffffffffff",
            "my own token",
            "sesame but not ours"
        ]
    );
    let pages = standin
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/client/v4/user/tokens")
        .count();
    assert_eq!(pages, 2, "64 tokens at 50 a page");
}

#[test]
fn registered_as_trust_sensitive() {
    let registration = sesame_core::lease::find_lease_type("cloudflare").unwrap();
    for field in ["api_base", "policies", "token_type", "account_id"] {
        assert!(registration.trust_sensitive.contains(&field), "{field}");
    }
}
