//! End-to-end tests of the Cloudflare stand-in over real HTTP.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use sesame_test_support::cloudflare::{
    groups, policy, CloudflareStandin, InjectedFault, TokenSpec, TokenStatus, DEFAULT_ACCOUNT_ID,
};

const OTHER_ACCOUNT: &str = "0123456789abcdef0123456789abcdef";

struct Resp {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Value,
}

impl Resp {
    fn code(&self) -> i64 {
        self.body["errors"][0]["code"].as_i64().unwrap_or(-1)
    }
    fn message(&self) -> String {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        assert_eq!(self.body["success"], true, "body: {}", self.body);
        &self.body["result"]
    }
    fn assert_err(&self, status: u16, code: i64) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["success"], false, "body: {}", self.body);
        assert_eq!(self.body["result"], Value::Null);
        assert_eq!(self.code(), code, "body: {}", self.body);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Resp, ureq::Error> {
    let mut r = r?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.body_mut().read_to_string()?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok(Resp { status, headers, body })
}

fn try_request(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> Result<Resp, ureq::Error> {
    let a = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    match method {
        "GET" | "DELETE" => {
            let mut req = if method == "GET" { a.get(url) } else { a.delete(url) };
            if let Some(h) = &auth {
                req = req.header("Authorization", h);
            }
            finish(req.call())
        }
        _ => {
            let mut req = if method == "POST" { a.post(url) } else { a.put(url) };
            if let Some(h) = &auth {
                req = req.header("Authorization", h);
            }
            req = req.header("Content-Type", "application/json");
            finish(req.send(body.unwrap_or("")))
        }
    }
}

fn request(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> Resp {
    try_request(method, url, token, body).expect("HTTP request")
}

fn get(url: &str, token: &str) -> Resp {
    request("GET", url, Some(token), None)
}

fn post(url: &str, token: &str, body: &Value) -> Resp {
    request("POST", url, Some(token), Some(&body.to_string()))
}

fn delete(url: &str, token: &str) -> Resp {
    request("DELETE", url, Some(token), None)
}

fn child_body(name: &str) -> Value {
    json!({
        "name": name,
        "policies": [policy("allow", &[groups::DNS_WRITE], json!({"com.cloudflare.api.account.zone.*": "*"}))],
    })
}

fn start_with_parent() -> (CloudflareStandin, String) {
    let cf = CloudflareStandin::start();
    let parent = cf.add_user_token(TokenSpec::parent(&[groups::ZONE_READ]));
    (cf, parent.value)
}

#[test]
fn create_verify_get_delete_roundtrip() {
    let (cf, parent) = start_with_parent();
    let base = cf.base_url();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/client/v4"));

    let created = post(&format!("{base}/user/tokens"), &parent, &child_body("child"));
    let result = created.assert_ok().clone();
    let id = result["id"].as_str().unwrap().to_owned();
    let value = result["value"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(value.len(), 40);
    assert_eq!(result["status"], "active");
    assert_eq!(result["name"], "child");
    assert_eq!(result["policies"][0]["permission_groups"][0]["name"], "DNS Write");
    assert_eq!(result["policies"][0]["id"].as_str().unwrap().len(), 32);

    let verified = get(&format!("{base}/user/tokens/verify"), &value);
    let v = verified.assert_ok();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["status"], "active");
    assert!(v.get("expires_on").is_none());

    // The child (DNS Write only) cannot read tokens; the parent can.
    get(&format!("{base}/user/tokens/{id}"), &value).assert_err(403, 10000);
    let details = get(&format!("{base}/user/tokens/{id}"), &parent);
    let d = details.assert_ok();
    assert_eq!(d["id"], id.as_str());
    assert!(d.get("value").is_none(), "GET must not return the value");
    assert_eq!(d["policies"][0]["effect"], "allow");

    assert_eq!(cf.live_tokens().user_count(), 2);
    let deleted = delete(&format!("{base}/user/tokens/{id}"), &parent);
    assert_eq!(deleted.assert_ok()["id"], id.as_str());
    assert_eq!(cf.live_tokens().user_count(), 1);
    assert!(cf.token(&id).unwrap().deleted_on.is_some());

    get(&format!("{base}/user/tokens/{id}"), &parent).assert_err(404, 1003);
    delete(&format!("{base}/user/tokens/{id}"), &parent).assert_err(404, 1003);
    get(&format!("{base}/user/tokens/verify"), &value).assert_err(401, 1000);
    get(&format!("{base}/user/tokens/not-an-id"), &parent).assert_err(400, 7003);

    // The create body was recorded verbatim.
    let bodies = cf.created_bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].path, "/client/v4/user/tokens");
    assert_eq!(bodies[0].json.as_ref().unwrap(), &child_body("child"));
    assert_eq!(bodies[0].status, 200);
}

#[test]
fn a_token_can_delete_itself() {
    let (cf, parent) = start_with_parent();
    let base = cf.base_url();
    let me = get(&format!("{base}/user/tokens/verify"), &parent).assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    delete(&format!("{base}/user/tokens/{me}"), &parent).assert_ok();
    get(&format!("{base}/user/tokens/verify"), &parent).assert_err(401, 1000);
    assert_eq!(cf.live_tokens().total(), 0);
}

#[test]
fn list_paginates() {
    let (cf, parent) = start_with_parent();
    let base = cf.base_url();
    for i in 0..12 {
        cf.add_user_token(TokenSpec::new(format!("seeded-{i}")));
    }
    let first = get(&format!("{base}/user/tokens"), &parent);
    assert_eq!(first.assert_ok().as_array().unwrap().len(), 13);
    assert_eq!(first.body["result_info"]["per_page"], 20);
    assert_eq!(first.body["result_info"]["total_count"], 13);
    assert!(first.assert_ok()[0].get("value").is_none());

    let p3 = get(&format!("{base}/user/tokens?page=3&per_page=5"), &parent);
    let items = p3.assert_ok().as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["name"], "seeded-11");
    let info = &p3.body["result_info"];
    assert_eq!(info["page"], 3);
    assert_eq!(info["per_page"], 5);
    assert_eq!(info["count"], 3);
    assert_eq!(info["total_count"], 13);
    assert_eq!(info["total_pages"], 3);

    let desc = get(&format!("{base}/user/tokens?per_page=5&direction=desc"), &parent);
    assert_eq!(desc.assert_ok()[0]["name"], "seeded-11");

    let past_end = get(&format!("{base}/user/tokens?page=9&per_page=5"), &parent);
    assert!(past_end.assert_ok().as_array().unwrap().is_empty());

    get(&format!("{base}/user/tokens?per_page=51"), &parent).assert_err(400, 1001);
    get(&format!("{base}/user/tokens?per_page=4"), &parent).assert_err(400, 1001);
    get(&format!("{base}/user/tokens?page=0"), &parent).assert_err(400, 1001);
    let r = get(&format!("{base}/user/tokens?per_page=abc"), &parent);
    r.assert_err(400, 1001);
    assert!(r.message().contains("per_page"));
}

#[test]
fn account_tokens_and_the_verify_quirk() {
    let (cf, user_parent) = start_with_parent();
    let base = cf.base_url();
    let acct = format!("{base}/accounts/{DEFAULT_ACCOUNT_ID}/tokens");
    let account_token = cf.add_account_token(
        DEFAULT_ACCOUNT_ID,
        TokenSpec::account_parent(DEFAULT_ACCOUNT_ID, &[groups::R2_STORAGE_READ]),
    );

    // Account token: only the account verify path accepts it.
    get(&format!("{base}/user/tokens/verify"), &account_token.value).assert_err(401, 1000);
    let v = get(&format!("{acct}/verify"), &account_token.value);
    assert_eq!(v.assert_ok()["id"], account_token.id.as_str());
    get(
        &format!("{base}/accounts/{OTHER_ACCOUNT}/tokens/verify"),
        &account_token.value,
    )
    .assert_err(401, 1000);
    // User token on the account verify path fails too.
    get(&format!("{acct}/verify"), &user_parent).assert_err(401, 1000);

    // Account token cannot manage user tokens, nor another account's tokens.
    get(&format!("{base}/user/tokens"), &account_token.value).assert_err(401, 9109);
    get(&format!("{base}/accounts/{OTHER_ACCOUNT}/tokens"), &account_token.value).assert_err(403, 9109);

    // Account token creates account tokens of its own account.
    let child = post(&acct, &account_token.value, &child_body("acct-child"));
    let child_id = child.assert_ok()["id"].as_str().unwrap().to_owned();
    // A user token whose policy covers com.cloudflare.api.account.* can too.
    post(&acct, &user_parent, &child_body("from-user")).assert_ok();
    assert_eq!(cf.live_tokens().account_count(), 3);
    assert_eq!(cf.live_tokens().user_count(), 1);
    assert_eq!(cf.live_account_tokens(DEFAULT_ACCOUNT_ID).len(), 3);

    // Account tokens are not visible through /user/tokens.
    get(&format!("{base}/user/tokens/{child_id}"), &user_parent).assert_err(404, 1003);
    let listed = get(&acct, &user_parent);
    assert_eq!(listed.body["result_info"]["total_count"], 3);
    delete(&format!("{acct}/{child_id}"), &account_token.value).assert_ok();
    assert_eq!(cf.live_tokens().account_count(), 2);

    // A user token limited to another account is refused here.
    let narrow = cf.add_user_token(TokenSpec::new("narrow").allow(
        &[groups::API_TOKENS_WRITE],
        json!({ format!("com.cloudflare.api.account.{OTHER_ACCOUNT}"): "*" }),
    ));
    post(&acct, &narrow.value, &child_body("x")).assert_err(403, 9109);
    post(
        &format!("{base}/accounts/{OTHER_ACCOUNT}/tokens"),
        &narrow.value,
        &child_body("x"),
    )
    .assert_ok();

    // User-scoped groups are not grantable to account tokens.
    let bad = json!({"name": "x", "policies": [policy("allow", &[groups::API_TOKENS_WRITE], json!({"com.cloudflare.api.account.*": "*"}))]});
    post(&acct, &account_token.value, &bad).assert_err(400, 1001);

    get(&format!("{base}/accounts/nothex/tokens"), &account_token.value).assert_err(400, 7003);
}

#[test]
fn include_expired_on_account_list() {
    let cf = CloudflareStandin::start();
    let parent = cf.add_account_token(DEFAULT_ACCOUNT_ID, TokenSpec::parent(&[]));
    cf.add_account_token(DEFAULT_ACCOUNT_ID, TokenSpec::expired_parent(&[]));
    let acct = format!("{}/accounts/{DEFAULT_ACCOUNT_ID}/tokens", cf.base_url());
    let r = get(&acct, &parent.value);
    assert_eq!(r.body["result_info"]["total_count"], 1);
    let r = get(&format!("{acct}?include_expired=true"), &parent.value);
    assert_eq!(r.body["result_info"]["total_count"], 2);
    assert_eq!(r.assert_ok()[1]["status"], "expired");
}

#[test]
fn auth_failures() {
    let (cf, parent) = start_with_parent();
    let base = cf.base_url();
    let tokens = format!("{base}/user/tokens");

    let r = request("GET", &tokens, None, None);
    r.assert_err(400, 6003);
    assert_eq!(r.body["errors"][0]["error_chain"][0]["code"], 6111);
    let r = try_request("GET", &tokens, None, None).unwrap();
    assert_eq!(r.status, 400);
    let a = agent();
    let r = finish(a.get(&tokens).header("Authorization", "Basic abc").call()).unwrap();
    r.assert_err(400, 6003);
    let r = finish(a.get(&tokens).header("Authorization", "Bearer ").call()).unwrap();
    r.assert_err(400, 6003);

    let unknown = "x".repeat(40);
    get(&format!("{tokens}/verify"), &unknown).assert_err(401, 1000);
    get(&tokens, &unknown).assert_err(401, 9109);
    post(&tokens, &unknown, &child_body("c")).assert_err(401, 9109);

    let expired = cf.add_user_token(TokenSpec::expired_parent(&[]));
    get(&format!("{tokens}/verify"), &expired.value).assert_err(401, 1000);
    post(&tokens, &expired.value, &child_body("c")).assert_err(401, 9109);
    get(&tokens, &expired.value).assert_err(401, 9109);

    let disabled = cf.add_user_token(TokenSpec::parent(&[]).with_status(TokenStatus::Disabled));
    get(&format!("{tokens}/verify"), &disabled.value).assert_err(401, 1000);
    post(&tokens, &disabled.value, &child_body("c")).assert_err(401, 9109);

    let later =
        cf.add_user_token(TokenSpec::parent(&[]).with_not_before(SystemTime::now() + Duration::from_secs(3600)));
    get(&format!("{tokens}/verify"), &later.value).assert_err(401, 1000);

    // Disabling at run time takes effect immediately.
    let live = cf.add_user_token(TokenSpec::parent(&[]));
    get(&format!("{tokens}/verify"), &live.value).assert_ok();
    cf.set_token_status(&live.id, TokenStatus::Disabled);
    get(&format!("{tokens}/verify"), &live.value).assert_err(401, 1000);

    let weak = cf.add_user_token(TokenSpec::parent_without_token_write(&[groups::ZONE_READ]));
    get(&format!("{tokens}/verify"), &weak.value).assert_ok();
    let r = post(&tokens, &weak.value, &child_body("c"));
    r.assert_err(403, 10000);
    assert_eq!(r.message(), "Authentication error");
    get(&tokens, &weak.value).assert_err(403, 10000);
    get(&format!("{tokens}/permission_groups"), &weak.value).assert_err(403, 10000);

    let reader = cf.add_user_token(TokenSpec::new("reader").allow(
        &[groups::API_TOKENS_READ],
        json!({ sesame_test_support::cloudflare::user_resource(): "*" }),
    ));
    get(&tokens, &reader.value).assert_ok();
    post(&tokens, &reader.value, &child_body("c")).assert_err(403, 10000);

    let denied = cf.add_user_token(TokenSpec::parent(&[]).deny(
        &[groups::API_TOKENS_WRITE],
        json!({ sesame_test_support::cloudflare::user_resource(): "*" }),
    ));
    post(&tokens, &denied.value, &child_body("c")).assert_err(403, 10000);

    // Nothing was created by any of these, and the parent still works.
    assert_eq!(cf.tokens().iter().filter(|t| t.created_by.is_some()).count(), 0);
    post(&tokens, &parent, &child_body("c")).assert_ok();

    // The log never holds token values, only whether auth was sent.
    let log = cf.request_log();
    assert!(!log[0].has_auth && !log[1].has_auth);
    assert!(log.iter().skip(2).all(|e| e.has_auth));
    assert!(log.iter().all(|e| !format!("{e:?}").contains(&parent)));
    assert!(!format!("{:?}", cf.tokens()).contains(&parent));
}

#[test]
fn quotas_count_expired_tokens() {
    let (cf, parent) = start_with_parent();
    let tokens = format!("{}/user/tokens", cf.base_url());
    let mut expired_ids = Vec::new();
    for i in 0..49 {
        let spec = if i % 10 == 0 {
            TokenSpec::expired_parent(&[])
        } else {
            TokenSpec::new(format!("t{i}"))
        };
        let t = cf.add_user_token(spec);
        if i % 10 == 0 {
            expired_ids.push(t.id);
        }
    }
    assert_eq!(cf.live_tokens().user_count(), 50);
    let r = post(&tokens, &parent, &child_body("one-too-many"));
    r.assert_err(400, 1002);
    assert!(r.message().contains("50"), "message: {}", r.message());
    assert_eq!(cf.live_tokens().user_count(), 50);

    delete(&format!("{tokens}/{}", expired_ids[0]), &parent).assert_ok();
    post(&tokens, &parent, &child_body("fits")).assert_ok();
    post(&tokens, &parent, &child_body("again-too-many")).assert_err(400, 1002);

    // Account quota is separate and per account.
    cf.set_quotas(50, 2);
    let acct = format!("{}/accounts/{DEFAULT_ACCOUNT_ID}/tokens", cf.base_url());
    post(&acct, &parent, &child_body("a1")).assert_ok();
    post(&acct, &parent, &child_body("a2")).assert_ok();
    let r = post(&acct, &parent, &child_body("a3"));
    r.assert_err(400, 1002);
    assert!(r.message().contains('2'));
    let other = format!("{}/accounts/{OTHER_ACCOUNT}/tokens", cf.base_url());
    post(&other, &parent, &child_body("b1")).assert_ok();
}

#[test]
fn create_validation_errors() {
    let (cf, parent) = start_with_parent();
    let tokens = format!("{}/user/tokens", cf.base_url());
    let zone = json!({"com.cloudflare.api.account.zone.*": "*"});
    let good_policy = policy("allow", &[groups::DNS_READ], zone.clone());

    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "n".repeat(121), "policies": [good_policy]}), "name"),
        (json!({"policies": [good_policy]}), "name"),
        (json!({"name": "  ", "policies": [good_policy]}), "name"),
        (json!({"name": 5, "policies": [good_policy]}), "name"),
        (json!({"name": "x"}), "policies"),
        (json!({"name": "x", "policies": {}}), "policies"),
        (json!({"name": "x", "policies": []}), "policies"),
        (
            json!({"name": "x", "policies": [policy("maybe", &[groups::DNS_READ], zone.clone())]}),
            "effect",
        ),
        (
            json!({"name": "x", "policies": [{"effect": "allow", "permission_groups": [{"id": groups::DNS_READ}]}]}),
            "resources",
        ),
        (
            json!({"name": "x", "policies": [policy("allow", &[groups::DNS_READ], json!("*"))]}),
            "resources",
        ),
        (
            json!({"name": "x", "policies": [policy("allow", &[], zone.clone())]}),
            "permission_groups",
        ),
        (
            json!({"name": "x", "policies": [{"effect": "allow", "resources": zone, "permission_groups": [{"name": "DNS Read"}]}]}),
            "id",
        ),
        (
            json!({"name": "x", "policies": [policy("allow", &["ffffffffffffffffffffffffffffffff"], zone.clone())]}),
            "unknown permission group",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "expires_on": "2030-07-01 05:20:00"}),
            "expires_on",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "expires_on": "2030-07-01T05:20:00+02:00"}),
            "expires_on",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "expires_on": 1_900_000_000}),
            "expires_on",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "expires_on": "2020-01-01T00:00:00Z"}),
            "future",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "not_before": "soon"}),
            "not_before",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "expires_on": "2030-01-01T00:00:00Z", "not_before": "2031-01-01T00:00:00Z"}),
            "not_before",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "condition": {"request.ip": {"in": ["not-a-cidr"]}}}),
            "CIDR",
        ),
        (
            json!({"name": "x", "policies": [good_policy], "condition": {"ip": {}}}),
            "condition",
        ),
        (json!(["not", "an", "object"]), "object"),
    ];
    for (body, needle) in &cases {
        let r = post(&tokens, &parent, body);
        r.assert_err(400, 1001);
        assert!(
            r.message().contains(needle),
            "message {:?} should mention {needle:?} for body {body}",
            r.message()
        );
    }
    let r = request("POST", &tokens, Some(&parent), Some("{not json"));
    r.assert_err(400, 6007);

    // Nothing was created, every attempt was recorded.
    assert_eq!(cf.live_tokens().user_count(), 1);
    let bodies = cf.created_bodies();
    assert_eq!(bodies.len(), cases.len() + 1);
    assert_eq!(bodies.last().unwrap().raw, "{not json");
    assert!(bodies.last().unwrap().json.is_none());
    assert!(bodies.iter().all(|b| b.status == 400));

    // Boundary cases that are valid.
    let ok_body = json!({
        "name": "n".repeat(120),
        "policies": [good_policy, policy("deny", &[groups::DNS_WRITE], json!({"com.cloudflare.api.account.abc": {"com.cloudflare.api.account.zone.*": "*"}}))],
        "expires_on": "2099-07-01T05:20:00Z",
        "not_before": "2020-07-01T05:20:00Z",
        "condition": {"request_ip": {"in": ["123.123.123.0/24", "2606:4700::/32"], "not_in": []}},
    });
    let created = post(&tokens, &parent, &ok_body);
    let r = created.assert_ok();
    assert_eq!(r["expires_on"], "2099-07-01T05:20:00Z");
    assert_eq!(r["not_before"], "2020-07-01T05:20:00Z");
    assert_eq!(r["condition"]["request_ip"]["in"][1], "2606:4700::/32");
    let v = get(&format!("{tokens}/verify"), r["value"].as_str().unwrap());
    assert_eq!(v.assert_ok()["expires_on"], "2099-07-01T05:20:00Z");
}

#[test]
fn permission_groups_filters() {
    let (cf, parent) = start_with_parent();
    let base = cf.base_url();
    let all = get(&format!("{base}/user/tokens/permission_groups"), &parent);
    let all = all.assert_ok().as_array().unwrap().clone();
    assert!(all.len() >= 15);
    assert!(all.iter().all(|g| g["id"].is_string() && g["scopes"].is_array()));

    let r = get(
        &format!("{base}/user/tokens/permission_groups?name=Workers%20R2%20Storage%20Bucket%20Item%20Write"),
        &parent,
    );
    let r = r.assert_ok();
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert_eq!(r[0]["id"], groups::R2_BUCKET_ITEM_WRITE);
    assert_eq!(r[0]["scopes"][0], "com.cloudflare.edge.r2.bucket");

    let r = get(
        &format!("{base}/user/tokens/permission_groups?scope=com.cloudflare.api.account.zone"),
        &parent,
    );
    let names: Vec<String> = r
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"DNS Write".to_owned()) && names.contains(&"Zone Read".to_owned()));
    assert!(!names.contains(&"Workers R2 Storage Read".to_owned()));

    let none = get(&format!("{base}/user/tokens/permission_groups?name=Nope"), &parent);
    assert!(none.assert_ok().as_array().unwrap().is_empty());

    // The account catalogue leaves out user-scoped groups.
    let acct = get(
        &format!("{base}/accounts/{DEFAULT_ACCOUNT_ID}/tokens/permission_groups?name=API%20Tokens%20Write"),
        &parent,
    );
    assert!(acct.assert_ok().as_array().unwrap().is_empty());
}

#[test]
fn injected_rate_limit_and_server_errors() {
    let (cf, parent) = start_with_parent();
    let verify = format!("{}/user/tokens/verify", cf.base_url());

    cf.rate_limit_next(2, 7);
    for _ in 0..2 {
        let r = get(&verify, &parent);
        r.assert_err(429, 971);
        assert_eq!(r.headers.get("retry-after").unwrap(), "7");
        assert_eq!(r.headers.get("x-ratelimit-remaining").unwrap(), "0");
    }
    get(&verify, &parent).assert_ok();

    cf.fail_next(1);
    get(&verify, &parent).assert_err(500, 10001);
    get(&verify, &parent).assert_ok();

    // Faults do not touch state: a rate-limited create creates nothing.
    cf.rate_limit_next(1, 1);
    post(&format!("{}/user/tokens", cf.base_url()), &parent, &child_body("c")).assert_err(429, 971);
    assert_eq!(cf.live_tokens().user_count(), 1);
    assert!(cf.created_bodies().is_empty());

    let log = cf.request_log();
    assert_eq!(log.len(), 6);
    assert_eq!(cf.request_count(), 6);
    assert_eq!(log[0].fault, Some(InjectedFault::RateLimited));
    assert_eq!(log[0].status, Some(429));
    assert_eq!(log[3].fault, Some(InjectedFault::ServerError));
    assert_eq!(log[4].fault, None);
    cf.clear_request_log();
    assert!(cf.request_log().is_empty());
    assert_eq!(cf.request_count(), 6);
}

#[test]
fn injected_connection_drops() {
    let (cf, parent) = start_with_parent();
    let tokens = format!("{}/user/tokens", cf.base_url());

    cf.drop_next(1);
    let err = try_request("POST", &tokens, Some(&parent), Some(&child_body("lost").to_string()));
    assert!(err.is_err(), "a dropped connection must be a client error");
    assert_eq!(cf.live_tokens().user_count(), 1, "a dropped request is not handled");
    get(&format!("{tokens}/verify"), &parent).assert_ok();

    // A lost response: the token IS created, the client never hears of it.
    cf.lose_next_responses(1);
    let err = try_request("POST", &tokens, Some(&parent), Some(&child_body("orphan").to_string()));
    assert!(err.is_err());
    let live = cf.live_tokens();
    assert_eq!(live.user_count(), 2);
    assert_eq!(live.user[1].name, "orphan");

    let log = cf.request_log();
    assert_eq!(log[0].fault, Some(InjectedFault::Dropped));
    assert_eq!(log[0].status, None);
    assert_eq!(log[2].fault, Some(InjectedFault::ResponseLost));
    assert_eq!(log[2].status, Some(200));
}

#[test]
fn injected_latency() {
    let (cf, parent) = start_with_parent();
    let verify = format!("{}/user/tokens/verify", cf.base_url());
    cf.set_latency(Duration::from_millis(300));
    let t = Instant::now();
    get(&verify, &parent).assert_ok();
    assert!(t.elapsed() >= Duration::from_millis(300));
    cf.reset_faults();
    assert_eq!(cf.faults().latency, Duration::ZERO);
    let t = Instant::now();
    get(&verify, &parent).assert_ok();
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[test]
fn concurrent_requests_are_not_serialised_by_latency() {
    let (cf, parent) = start_with_parent();
    let verify = format!("{}/user/tokens/verify", cf.base_url());
    cf.set_latency(Duration::from_millis(400));
    let t = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (url, tok) = (verify.clone(), parent.clone());
            std::thread::spawn(move || get(&url, &tok).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    assert!(t.elapsed() < Duration::from_millis(1500), "took {:?}", t.elapsed());
}

#[test]
fn admin_api() {
    let cf = CloudflareStandin::start();
    let admin = cf.admin_url();
    let seeded = request(
        "POST",
        &format!("{admin}/user-tokens"),
        None,
        Some(&json!({"permission_groups": [groups::ZONE_READ]}).to_string()),
    );
    assert_eq!(seeded.status, 200);
    let value = seeded.body["value"].as_str().unwrap().to_owned();
    let verify = format!("{}/user/tokens/verify", cf.base_url());
    get(&verify, &value).assert_ok();

    let f = request(
        "PUT",
        &format!("{admin}/faults"),
        None,
        Some(r#"{"rate_limited": 1, "retry_after_secs": 3, "latency_ms": 5}"#),
    );
    assert_eq!(f.status, 200);
    assert_eq!(f.body["rate_limited"], 1);
    let r = get(&verify, &value);
    r.assert_err(429, 971);
    assert_eq!(r.headers.get("retry-after").unwrap(), "3");
    request("PUT", &format!("{admin}/faults"), None, Some(r#"{"server_errors": 1}"#));
    get(&verify, &value).assert_err(500, 10001);
    request("PUT", &format!("{admin}/faults"), None, Some(r#"{"dropped": 1}"#));
    assert!(try_request("GET", &verify, Some(&value), None).is_err());
    let bad = request("PUT", &format!("{admin}/faults"), None, Some(r#"{"nope": 1}"#));
    assert_eq!(bad.status, 400);
    let reset = request("DELETE", &format!("{admin}/faults"), None, None);
    assert_eq!(reset.body["latency_ms"], 0);

    let acct = request(
        "POST",
        &format!("{admin}/accounts/{DEFAULT_ACCOUNT_ID}/tokens"),
        None,
        Some("{}"),
    );
    let acct_value = acct.body["value"].as_str().unwrap();
    get(
        &format!("{}/accounts/{DEFAULT_ACCOUNT_ID}/tokens/verify", cf.base_url()),
        acct_value,
    )
    .assert_ok();

    let stats = request("GET", &format!("{admin}/stats"), None, None);
    assert_eq!(stats.body["live_user_tokens"], 1);
    assert_eq!(stats.body["live_account_tokens"], 1);
    assert_eq!(stats.body["request_count"], 5);
    let log = request("GET", &format!("{admin}/requests"), None, None);
    assert_eq!(log.body.as_array().unwrap().len(), 5);
    assert_eq!(log.body[3]["fault"], "dropped");
    request("DELETE", &format!("{admin}/requests"), None, None);
    assert!(cf.request_log().is_empty());

    let all = request("GET", &format!("{admin}/tokens"), None, None);
    assert_eq!(all.body[0]["value"], value.as_str());
    let id = all.body[0]["id"].as_str().unwrap();
    let m = request(
        "PUT",
        &format!("{admin}/tokens/{id}"),
        None,
        Some(r#"{"expires_on": "2020-01-01T00:00:00Z"}"#),
    );
    assert_eq!(m.body["status"], "expired");
    get(&verify, &value).assert_err(401, 1000);

    let q = request("PUT", &format!("{admin}/quotas"), None, Some(r#"{"user": 1}"#));
    assert_eq!(q.body, json!({"user": 1, "account": 500}));
}

#[test]
fn hooks_see_creations_and_deletions() {
    use std::sync::{Arc, Mutex};
    let (cf, parent) = start_with_parent();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (c, d) = (seen.clone(), seen.clone());
    let h = cf.handle();
    cf.on_token_created(move |t| {
        // Hooks run outside the lock, so they may call back into the handle.
        assert!(h.token(&t.id).is_some());
        c.lock().unwrap().push(format!("created {} {}", t.name, t.value.len()));
    });
    cf.on_token_deleted(move |t| {
        assert!(t.deleted_on.is_some());
        d.lock().unwrap().push(format!("deleted {}", t.name));
    });
    let tokens = format!("{}/user/tokens", cf.base_url());
    let id = post(&tokens, &parent, &child_body("hooked")).assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    delete(&format!("{tokens}/{id}"), &parent).assert_ok();
    cf.add_account_token(DEFAULT_ACCOUNT_ID, TokenSpec::new("seeded"));
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["created hooked 40", "deleted hooked", "created seeded 40"]
    );
}

#[test]
fn unknown_routes_and_methods_use_the_envelope() {
    let (cf, parent) = start_with_parent();
    let base = cf.base_url();
    get(&format!("{base}/zones"), &parent).assert_err(404, 7000);
    request("PUT", &format!("{base}/user/tokens/verify"), Some(&parent), Some("{}")).assert_err(405, 7001);
}

#[test]
fn drop_stops_the_server_and_async_start_works() {
    let cf = CloudflareStandin::start();
    let url = format!("{}/user/tokens/verify", cf.base_url());
    drop(cf);
    assert!(try_request("GET", &url, Some("x"), None).is_err());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cf = rt.block_on(CloudflareStandin::start_async());
    let parent = cf.add_user_token(TokenSpec::parent(&[]));
    get(&format!("{}/user/tokens/verify", cf.base_url()), &parent.value).assert_ok();
    drop(cf);
    drop(rt);
}
