//! The admin HTTP API under `/__standin/...` (plain JSON, no envelope, no auth,
//! never subject to injected faults, not counted nor logged).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Value};

use super::api::json_response;
use super::model::{TokenSpec, TokenStatus};
use super::state::{CloudflareHandle, Shared};

type S = AxState<Arc<Shared>>;

fn handle(s: &Arc<Shared>) -> CloudflareHandle {
    CloudflareHandle::new(s.clone())
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// An admin-API failure: status and message, answered as `{"error": message}`.
struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        json_response(self.0, json!({ "error": self.1 }))
    }
}

fn bad(msg: impl Into<String>) -> AdminError {
    AdminError(StatusCode::BAD_REQUEST, msg.into())
}

fn answer(r: Result<Value, AdminError>) -> Response {
    r.map(ok).unwrap_or_else(IntoResponse::into_response)
}

fn parse_body(body: &str) -> Result<serde_json::Map<String, Value>, AdminError> {
    if body.trim().is_empty() {
        return Ok(Default::default());
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad("body must be a JSON object")),
    }
}

async fn health() -> Response {
    ok(json!({ "ok": true }))
}

async fn stats(AxState(s): S) -> Response {
    let h = handle(&s);
    let live = h.live_tokens();
    ok(json!({
        "request_count": h.request_count(),
        "live_user_tokens": live.user_count(),
        "live_account_tokens": live.account_count(),
        "tokens_ever_created": h.tokens().len(),
    }))
}

async fn tokens(AxState(s): S) -> Response {
    let all: Vec<Value> = handle(&s).tokens().iter().map(|t| t.to_admin_json()).collect();
    ok(Value::Array(all))
}

async fn requests(AxState(s): S) -> Response {
    let log: Vec<Value> = handle(&s).request_log().iter().map(|e| e.to_json()).collect();
    ok(Value::Array(log))
}

async fn clear_requests(AxState(s): S) -> Response {
    handle(&s).clear_request_log();
    ok(json!({ "ok": true }))
}

async fn bodies(AxState(s): S) -> Response {
    let b: Vec<Value> = handle(&s).created_bodies().iter().map(|b| b.to_json()).collect();
    ok(Value::Array(b))
}

async fn clear_bodies(AxState(s): S) -> Response {
    handle(&s).clear_created_bodies();
    ok(json!({ "ok": true }))
}

async fn faults(AxState(s): S) -> Response {
    ok(handle(&s).faults().to_json())
}

async fn reset_faults(AxState(s): S) -> Response {
    let h = handle(&s);
    h.reset_faults();
    ok(h.faults().to_json())
}

fn u64_field(m: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u64>, AdminError> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad(format!("{key} must be a non-negative integer"))),
    }
}

fn u32_field(m: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u32>, AdminError> {
    Ok(u64_field(m, key)?.map(|n| n.min(u32::MAX as u64) as u32))
}

async fn set_faults(AxState(s): S, body: String) -> Response {
    let result = (|| {
        let m = parse_body(&body)?;
        let known = [
            "latency_ms",
            "rate_limited",
            "retry_after_secs",
            "server_errors",
            "dropped",
            "responses_lost",
        ];
        if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(format!("unknown field {k:?}; known: {known:?}")));
        }
        let h = handle(&s);
        let mut f = h.faults();
        if let Some(ms) = u64_field(&m, "latency_ms")? {
            f.latency = Duration::from_millis(ms);
        }
        if let Some(n) = u32_field(&m, "rate_limited")? {
            f.rate_limited = n;
        }
        if let Some(n) = u64_field(&m, "retry_after_secs")? {
            f.retry_after_secs = n;
        }
        if let Some(n) = u32_field(&m, "server_errors")? {
            f.server_errors = n;
        }
        if let Some(n) = u32_field(&m, "dropped")? {
            f.dropped = n;
        }
        if let Some(n) = u32_field(&m, "responses_lost")? {
            f.responses_lost = n;
        }
        h.set_faults(f);
        Ok(h.faults().to_json())
    })();
    answer(result)
}

async fn set_quotas(AxState(s): S, body: String) -> Response {
    let result = (|| {
        let m = parse_body(&body)?;
        let h = handle(&s);
        let (cur_user, cur_account) = {
            let st = s.lock();
            (st.user_quota, st.account_quota)
        };
        let user = u64_field(&m, "user")?.map_or(cur_user, |n| n as usize);
        let account = u64_field(&m, "account")?.map_or(cur_account, |n| n as usize);
        h.set_quotas(user, account);
        Ok(json!({ "user": user, "account": account }))
    })();
    answer(result)
}

fn time_field(m: &serde_json::Map<String, Value>, key: &str) -> Result<Option<SystemTime>, AdminError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => humantime::parse_rfc3339(s)
            .map(Some)
            .map_err(|_| bad(format!("{key} must be RFC 3339 UTC"))),
        Some(_) => Err(bad(format!("{key} must be a string"))),
    }
}

fn status_field(m: &serde_json::Map<String, Value>) -> Result<Option<TokenStatus>, AdminError> {
    match m.get("status") {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(TokenStatus::parse)
            .map(Some)
            .ok_or_else(|| bad("status must be active, disabled or expired")),
    }
}

/// Builds a seeding spec from `{name?, permission_groups?: [id], token_write?:
/// bool (default true), expires_on?, not_before?, status?}`.
fn seed_spec(body: &str) -> Result<TokenSpec, AdminError> {
    let m = parse_body(body)?;
    let groups: Vec<String> = match m.get("permission_groups") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("permission_groups must be an array of ids"))?,
        Some(_) => return Err(bad("permission_groups must be an array of ids")),
    };
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let token_write = m.get("token_write").and_then(Value::as_bool).unwrap_or(true);
    let mut spec = if token_write {
        TokenSpec::parent(&group_refs)
    } else {
        TokenSpec::parent_without_token_write(&group_refs)
    };
    if let Some(name) = m.get("name").and_then(Value::as_str) {
        spec = spec.with_name(name);
    }
    if let Some(t) = time_field(&m, "expires_on")? {
        spec = spec.with_expires_on(t);
    }
    if let Some(t) = time_field(&m, "not_before")? {
        spec = spec.with_not_before(t);
    }
    if let Some(st) = status_field(&m)? {
        spec = spec.with_status(st);
    }
    Ok(spec)
}

async fn seed_user(AxState(s): S, body: String) -> Response {
    match seed_spec(&body) {
        Ok(spec) => {
            let t = handle(&s).add_user_token(spec);
            ok(json!({ "id": t.id, "value": t.value }))
        }
        Err(e) => e.into_response(),
    }
}

async fn seed_account(AxState(s): S, Path(account_id): Path<String>, body: String) -> Response {
    match seed_spec(&body) {
        Ok(spec) => {
            let t = handle(&s).add_account_token(&account_id, spec);
            ok(json!({ "id": t.id, "value": t.value }))
        }
        Err(e) => e.into_response(),
    }
}

async fn modify_token(AxState(s): S, Path(id): Path<String>, body: String) -> Response {
    let result = (|| {
        let m = parse_body(&body)?;
        let h = handle(&s);
        if h.token(&id).is_none() {
            return Err(AdminError(StatusCode::NOT_FOUND, "no such token".into()));
        }
        if let Some(st) = status_field(&m)? {
            h.set_token_status(&id, st);
        }
        if m.contains_key("expires_on") {
            h.set_token_expires_on(&id, time_field(&m, "expires_on")?);
        }
        Ok(h.token(&id).map(|t| t.to_admin_json()).unwrap_or(Value::Null))
    })();
    answer(result)
}

async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, json!({ "error": "no such admin endpoint" }))
}

/// The admin router, serving under `/__standin`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__standin/health", get(health))
        .route("/__standin/stats", get(stats))
        .route("/__standin/tokens", get(tokens))
        .route("/__standin/tokens/{id}", put(modify_token))
        .route("/__standin/requests", get(requests).delete(clear_requests))
        .route("/__standin/bodies", get(bodies).delete(clear_bodies))
        .route(
            "/__standin/faults",
            get(faults).put(set_faults).post(set_faults).delete(reset_faults),
        )
        .route("/__standin/quotas", put(set_quotas).post(set_quotas))
        .route("/__standin/user-tokens", post(seed_user))
        .route("/__standin/accounts/{account_id}/tokens", post(seed_account))
        .fallback(not_found)
        .with_state(shared)
}
