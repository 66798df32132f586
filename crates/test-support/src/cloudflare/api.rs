//! The Cloudflare API routes (`/client/v4/...`): auth, validation and handlers.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::catalogue::{groups, permission_group, permission_groups, SCOPE_USER};
use super::model::{format_time, policy_has_group, RecordedBody, TokenOwner, TokenSpec};
use super::state::{Shared, State};

pub(crate) const PREFIX: &str = "/client/v4";

/// An API failure: HTTP status plus one `{code, message}` (and an optional
/// nested `error_chain` entry, as Cloudflare sends for header errors).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
    chain: Option<(u32, &'static str)>,
}

pub(crate) fn err(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
        chain: None,
    }
}

pub(crate) fn invalid_request(message: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, 1001, message)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some((code, message)) = self.chain {
            e["error_chain"] = json!([{ "code": code, "message": message }]);
        }
        json_response(
            self.status,
            json!({ "success": false, "errors": [e], "messages": [], "result": null }),
        )
    }
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Failure envelope for an injected fault or routing error.
pub(crate) fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    err(status, code, message).into_response()
}

pub(crate) fn ok(result: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({ "success": true, "errors": [], "messages": [], "result": result }),
    )
}

fn ok_list(result: Vec<Value>, page: usize, per_page: usize, total: usize) -> Response {
    let count = result.len();
    let total_pages = total.div_ceil(per_page.max(1));
    json_response(
        StatusCode::OK,
        json!({
            "success": true, "errors": [], "messages": [], "result": result,
            "result_info": {
                "page": page, "per_page": per_page, "count": count,
                "total_count": total, "total_pages": total_pages,
            },
        }),
    )
}

/// Which token collection a request addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    User,
    Account(String),
}

impl Location {
    fn owner(&self) -> TokenOwner {
        match self {
            Location::User => TokenOwner::User,
            Location::Account(id) => TokenOwner::Account(id.clone()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Verify,
    Read,
    Write,
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn bad_identifier(uri: &Uri) -> ApiError {
    err(
        StatusCode::BAD_REQUEST,
        7003,
        format!(
            "Could not route to {}, perhaps your object identifier is invalid?",
            uri.path()
        ),
    )
}

pub(crate) fn account_location(shared: &Shared, uri: &Uri, account_id: &str) -> Result<Location, ApiError> {
    if is_hex32(account_id) || shared.lock().extra_account_ids.iter().any(|a| a == account_id) {
        Ok(Location::Account(account_id.to_owned()))
    } else {
        Err(bad_identifier(uri))
    }
}

/// Extracts the bearer value. Missing or malformed header: 400, code 6003
/// "Invalid request headers" with error_chain 6111.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let bad = || ApiError {
        status: StatusCode::BAD_REQUEST,
        code: 6003,
        message: "Invalid request headers".into(),
        chain: Some((6111, "Invalid format for Authorization header")),
    };
    let raw = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(bad)?
        .to_str()
        .map_err(|_| bad())?;
    let (scheme, value) = raw.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("bearer")
        || value.is_empty()
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(value)
}

fn account_resource_matches(policy: &Value, account_id: &str) -> bool {
    let wanted = format!("com.cloudflare.api.account.{account_id}");
    policy["resources"].as_object().is_some_and(|r| {
        r.keys()
            .any(|k| k == &wanted || k == super::model::ALL_ACCOUNTS_RESOURCE)
    })
}

/// Authenticates and authorises the caller; returns the index of its token.
///
/// * unknown / deleted / disabled / expired / not-yet-valid token, or a token of
///   the wrong kind for a verify path: 401 code 1000 "Invalid API Token" on
///   verify, 401 code 9109 "Invalid access token" elsewhere (account tokens on
///   `/user/tokens*` included);
/// * account token used on another account's endpoints: 403 code 9109
///   "Unauthorized to access requested resource";
/// * user token on account endpoints holding the right group but no policy on
///   that account: 403 code 9109 likewise;
/// * token lacking the permission group: 403 code 10000 "Authentication error".
fn authorize(st: &mut State, headers: &HeaderMap, loc: &Location, op: Op) -> Result<usize, ApiError> {
    let needed: &[&str] = match (loc, op) {
        (_, Op::Verify) => &[],
        (Location::User, Op::Write) => &[groups::API_TOKENS_WRITE],
        (Location::User, _) => &[groups::API_TOKENS_WRITE, groups::API_TOKENS_READ],
        (Location::Account(_), Op::Write) => &[groups::ACCOUNT_API_TOKENS_WRITE, groups::API_TOKENS_WRITE],
        (Location::Account(_), _) => &[
            groups::ACCOUNT_API_TOKENS_WRITE,
            groups::ACCOUNT_API_TOKENS_READ,
            groups::API_TOKENS_WRITE,
            groups::API_TOKENS_READ,
        ],
    };
    authorize_with(st, headers, loc, op, needed)
}

/// Authenticates the caller for a non-token endpoint of an account (R2
/// temporary credentials): like token writes, with `needed` (any one of
/// them) as the permission groups; returns the index of its token.
pub(crate) fn authorize_account(
    st: &mut State,
    headers: &HeaderMap,
    loc: &Location,
    needed: &[&str],
) -> Result<usize, ApiError> {
    authorize_with(st, headers, loc, Op::Write, needed)
}

fn authorize_with(
    st: &mut State,
    headers: &HeaderMap,
    loc: &Location,
    op: Op,
    needed: &[&str],
) -> Result<usize, ApiError> {
    let value = bearer(headers)?;
    let now = SystemTime::now();
    let invalid = || {
        if op == Op::Verify {
            err(StatusCode::UNAUTHORIZED, 1000, "Invalid API Token")
        } else {
            err(StatusCode::UNAUTHORIZED, 9109, "Invalid access token")
        }
    };
    let unauthorized = || err(StatusCode::FORBIDDEN, 9109, "Unauthorized to access requested resource");
    let idx = st
        .tokens
        .iter()
        .position(|t| t.is_live() && t.value == value)
        .ok_or_else(invalid)?;
    let token = &st.tokens[idx];
    if !token.usable_at(now) {
        return Err(invalid());
    }
    match (loc, &token.owner) {
        (Location::User, TokenOwner::User) => {}
        (Location::User, TokenOwner::Account(_)) => return Err(invalid()),
        (Location::Account(a), TokenOwner::Account(b)) if a == b => {}
        (Location::Account(_), TokenOwner::Account(_)) if op == Op::Verify => return Err(invalid()),
        (Location::Account(_), TokenOwner::Account(_)) => return Err(unauthorized()),
        (Location::Account(_), TokenOwner::User) if op == Op::Verify => return Err(invalid()),
        (Location::Account(_), TokenOwner::User) => {}
    }
    if op != Op::Verify {
        let grants = |p: &&Value| needed.iter().any(|g| policy_has_group(p, g));
        let on_location = |p: &Value| match (loc, &token.owner) {
            (Location::Account(a), TokenOwner::User) => account_resource_matches(p, a),
            _ => true,
        };
        let with_group: Vec<&Value> = token.policies.iter().filter(grants).collect();
        let denied = with_group.iter().any(|p| p["effect"] == "deny" && on_location(p));
        let allowed = with_group.iter().any(|p| p["effect"] == "allow" && on_location(p));
        if denied || with_group.iter().all(|p| p["effect"] != "allow") {
            return Err(err(StatusCode::FORBIDDEN, 10000, "Authentication error"));
        }
        if !allowed {
            return Err(unauthorized());
        }
    }
    st.tokens[idx].last_used_on = Some(now);
    Ok(idx)
}

fn verify(shared: &Shared, headers: &HeaderMap, loc: Location) -> Result<Response, ApiError> {
    let mut st = shared.lock();
    let idx = authorize(&mut st, headers, &loc, Op::Verify)?;
    let t = &st.tokens[idx];
    let mut result = json!({ "id": t.id, "status": t.current_status().as_str() });
    if let Some(e) = t.expires_on {
        result["expires_on"] = format_time(e).into();
    }
    if let Some(nb) = t.not_before {
        result["not_before"] = format_time(nb).into();
    }
    // Cloudflare adds this informational message to a successful verify.
    Ok(json_response(
        StatusCode::OK,
        json!({
            "success": true, "errors": [],
            "messages": [{ "code": 10000, "message": "This API Token is valid and active", "type": null }],
            "result": result,
        }),
    ))
}

fn find_target<'a>(
    st: &'a State,
    loc: &Location,
    token_id: &str,
) -> Result<(usize, &'a super::model::TokenRecord), ApiError> {
    let owner = loc.owner();
    st.tokens
        .iter()
        .enumerate()
        .find(|(_, t)| t.is_live() && t.id == token_id && t.owner == owner)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, 1003, "Token not found"))
}

fn get_token(
    shared: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
    loc: Location,
    token_id: &str,
) -> Result<Response, ApiError> {
    let mut st = shared.lock();
    authorize(&mut st, headers, &loc, Op::Read)?;
    if !is_hex32(token_id) {
        return Err(bad_identifier(uri));
    }
    let (_, t) = find_target(&st, &loc, token_id)?;
    Ok(ok(t.to_api_json(false)))
}

fn delete_token(
    shared: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
    loc: Location,
    token_id: &str,
) -> Result<Response, ApiError> {
    let record = {
        let mut st = shared.lock();
        authorize(&mut st, headers, &loc, Op::Write)?;
        if !is_hex32(token_id) {
            return Err(bad_identifier(uri));
        }
        let (idx, _) = find_target(&st, &loc, token_id)?;
        let now = SystemTime::now();
        let t = &mut st.tokens[idx];
        t.deleted_on = Some(now);
        t.modified_on = now;
        t.clone()
    };
    shared.run_deleted_hooks(&record);
    Ok(ok(json!({ "id": record.id })))
}

type QueryParams = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn query_params(q: QueryParams) -> Result<Vec<(String, String)>, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| invalid_request(format!("invalid query string: {e}")))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Parses an integer query parameter within `[min, max]`; out of range or not a
/// number: 400 code 1001 (the spec declares `per_page` 5..=50, `page` >= 1).
fn int_param(
    params: &[(String, String)],
    name: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match param(params, name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid_request(if max == usize::MAX {
                format!("{name} must be an integer >= {min}, got {raw:?}")
            } else {
                format!("{name} must be an integer between {min} and {max}, got {raw:?}")
            })),
        },
    }
}

fn list_tokens(shared: &Shared, headers: &HeaderMap, loc: Location, params: QueryParams) -> Result<Response, ApiError> {
    let mut st = shared.lock();
    authorize(&mut st, headers, &loc, Op::Read)?;
    let params = query_params(params)?;
    let page = int_param(&params, "page", 1, 1, usize::MAX)?;
    let per_page = int_param(&params, "per_page", 20, 5, 50)?;
    let desc = match param(&params, "direction") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(invalid_request(format!(
                "direction must be one of asc, desc, got {other:?}"
            )))
        }
    };
    // The account endpoint only lists expired tokens with include_expired=true
    // (2026 spec); the user endpoint has no such parameter and lists them all.
    let include_expired = match &loc {
        Location::User => true,
        Location::Account(_) => match param(&params, "include_expired") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid_request(format!(
                    "include_expired must be true or false, got {other:?}"
                )))
            }
        },
    };
    let owner = loc.owner();
    let now = SystemTime::now();
    let mut all: Vec<&super::model::TokenRecord> = st
        .tokens
        .iter()
        .filter(|t| t.is_live() && t.owner == owner)
        .filter(|t| include_expired || t.status_at(now) != super::model::TokenStatus::Expired)
        .collect();
    if desc {
        all.reverse();
    }
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|t| t.to_api_json(false))
        .collect();
    Ok(ok_list(items, page, per_page, total))
}

fn list_groups(shared: &Shared, headers: &HeaderMap, loc: Location, params: QueryParams) -> Result<Response, ApiError> {
    let mut st = shared.lock();
    authorize(&mut st, headers, &loc, Op::Read)?;
    let params = query_params(params)?;
    let name = param(&params, "name");
    let scope = param(&params, "scope");
    let items: Vec<Value> = permission_groups()
        .iter()
        .filter(|g| loc == Location::User || g.available_to_accounts())
        .filter(|g| name.is_none_or(|n| g.name == n))
        .filter(|g| scope.is_none_or(|s| g.scopes.contains(&s)))
        .map(|g| g.to_json())
        .collect();
    let n = items.len();
    Ok(ok_list(items, 1, n.max(1), n))
}

/// A validated create body.
struct CreatePayload {
    name: String,
    policies: Vec<Value>,
    expires_on: Option<SystemTime>,
    not_before: Option<SystemTime>,
    condition: Option<Value>,
}

fn parse_time(obj: &Map<String, Value>, key: &str) -> Result<Option<SystemTime>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => humantime::parse_rfc3339(s).map(Some).map_err(|_| {
            invalid_request(format!(
                "{key} must be an RFC 3339 UTC date-time like 2026-07-01T05:20:00Z, got {s:?}"
            ))
        }),
        Some(_) => Err(invalid_request(format!(
            "{key} must be a string (RFC 3339 UTC date-time)"
        ))),
    }
}

fn valid_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| n <= max))
}

fn validate_condition(c: &Value) -> Result<(), ApiError> {
    let obj = c
        .as_object()
        .ok_or_else(|| invalid_request("condition must be an object"))?;
    for (key, v) in obj {
        // The key is `request.ip` in the 2024 spec and `request_ip` in 2026:
        // both are accepted.
        if key != "request.ip" && key != "request_ip" {
            return Err(invalid_request(format!(
                "condition.{key} is not supported (expected request.ip or request_ip)"
            )));
        }
        let ip = v
            .as_object()
            .ok_or_else(|| invalid_request(format!("condition.{key} must be an object")))?;
        for (list_key, list) in ip {
            if list_key != "in" && list_key != "not_in" {
                return Err(invalid_request(format!(
                    "condition.{key}.{list_key} is not supported (expected in or not_in)"
                )));
            }
            let items = list
                .as_array()
                .ok_or_else(|| invalid_request(format!("condition.{key}.{list_key} must be an array")))?;
            for item in items {
                if !item.as_str().is_some_and(valid_cidr) {
                    return Err(invalid_request(format!(
                        "condition.{key}.{list_key} has an invalid CIDR: {item}"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn validate_policy(i: usize, p: &Value, loc: &Location) -> Result<(), ApiError> {
    let obj = p
        .as_object()
        .ok_or_else(|| invalid_request(format!("policies[{i}] must be an object")))?;
    match obj.get("effect").and_then(Value::as_str) {
        Some("allow" | "deny") => {}
        Some(other) => {
            return Err(invalid_request(format!(
                "policies[{i}].effect must be one of allow, deny, got {other:?}"
            )))
        }
        None => {
            return Err(invalid_request(format!(
                "policies[{i}].effect is required (allow or deny)"
            )))
        }
    }
    let resources = obj
        .get("resources")
        .ok_or_else(|| invalid_request(format!("policies[{i}].resources is required")))?
        .as_object()
        .ok_or_else(|| invalid_request(format!("policies[{i}].resources must be an object")))?;
    if resources.is_empty() {
        return Err(invalid_request(format!("policies[{i}].resources must not be empty")));
    }
    for (key, v) in resources {
        let ok = match v {
            Value::String(_) => true,
            Value::Object(inner) => !inner.is_empty() && inner.values().all(Value::is_string),
            _ => false,
        };
        if !ok {
            return Err(invalid_request(format!(
                "policies[{i}].resources[{key:?}] must be a string or an object of strings"
            )));
        }
    }
    let pgs = obj
        .get("permission_groups")
        .ok_or_else(|| invalid_request(format!("policies[{i}].permission_groups is required")))?
        .as_array()
        .ok_or_else(|| invalid_request(format!("policies[{i}].permission_groups must be an array")))?;
    if pgs.is_empty() {
        return Err(invalid_request(format!(
            "policies[{i}].permission_groups must not be empty"
        )));
    }
    for (j, g) in pgs.iter().enumerate() {
        let id = g
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_request(format!("policies[{i}].permission_groups[{j}].id is required")))?;
        let group = permission_group(id).ok_or_else(|| {
            invalid_request(format!(
                "policies[{i}].permission_groups[{j}].id: unknown permission group {id:?}"
            ))
        })?;
        if matches!(loc, Location::Account(_)) && !group.available_to_accounts() {
            return Err(invalid_request(format!(
                "policies[{i}].permission_groups[{j}]: permission group {:?} ({}) is not \
                 available to account-owned tokens (scope {SCOPE_USER})",
                group.name, group.id
            )));
        }
    }
    Ok(())
}

/// Validates a create body against `iam_create_payload`: 400 code 6007 for
/// malformed JSON, 400 code 1001 naming the first problem otherwise.
fn validate_create(body: &[u8], loc: &Location) -> Result<CreatePayload, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| err(StatusCode::BAD_REQUEST, 6007, "Malformed JSON in request body"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| invalid_request("request body must be a JSON object"))?;
    let name = match obj.get("name") {
        None | Some(Value::Null) => return Err(invalid_request("name is required")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(invalid_request("name must be a string")),
    };
    if name.trim().is_empty() {
        return Err(invalid_request("name must not be empty"));
    }
    let len = name.chars().count();
    if len > 120 {
        return Err(invalid_request(format!(
            "name must be at most 120 characters, got {len}"
        )));
    }
    let policies = match obj.get("policies") {
        None | Some(Value::Null) => return Err(invalid_request("policies is required")),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(invalid_request("policies must be an array")),
    };
    if policies.is_empty() {
        return Err(invalid_request("policies must contain at least one policy"));
    }
    for (i, p) in policies.iter().enumerate() {
        validate_policy(i, p, loc)?;
    }
    let now = SystemTime::now();
    let expires_on = parse_time(obj, "expires_on")?;
    let not_before = parse_time(obj, "not_before")?;
    if let Some(exp) = expires_on {
        if exp <= now {
            return Err(invalid_request(format!(
                "expires_on must be in the future, got {}",
                format_time(exp)
            )));
        }
        if not_before.is_some_and(|nb| nb >= exp) {
            return Err(invalid_request("not_before must be before expires_on"));
        }
    }
    let condition = match obj.get("condition") {
        None | Some(Value::Null) => None,
        Some(c) => {
            validate_condition(c)?;
            Some(c.clone())
        }
    };
    Ok(CreatePayload {
        name,
        policies,
        expires_on,
        not_before,
        condition,
    })
}

fn create_token(shared: &Shared, headers: &HeaderMap, loc: Location, body: &[u8]) -> Result<Response, ApiError> {
    let record = {
        let mut st = shared.lock();
        let parent = authorize(&mut st, headers, &loc, Op::Write)?;
        let payload = validate_create(body, &loc)?;
        let owner = loc.owner();
        let (quota, kind) = match owner {
            TokenOwner::User => (st.user_quota, "user API tokens"),
            TokenOwner::Account(_) => (st.account_quota, "account API tokens for this account"),
        };
        if st.live_count(&owner) >= quota {
            return Err(err(
                StatusCode::BAD_REQUEST,
                1002,
                format!("Token quota exceeded: at most {quota} {kind}; expired tokens count until deleted"),
            ));
        }
        let parent_id = st.tokens[parent].id.clone();
        let spec = TokenSpec {
            name: payload.name,
            policies: payload.policies,
            expires_on: payload.expires_on,
            not_before: payload.not_before,
            status: super::model::TokenStatus::Active,
            condition: payload.condition,
        };
        st.insert(owner, spec, Some(parent_id))
    };
    shared.run_created_hooks(&record);
    Ok(ok(record.to_api_json(true)))
}

pub(crate) fn respond(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

type S = AxState<Arc<Shared>>;

async fn user_verify(AxState(s): S, headers: HeaderMap) -> Response {
    respond(verify(&s, &headers, Location::User))
}

async fn account_verify(AxState(s): S, uri: Uri, Path(account_id): Path<String>, headers: HeaderMap) -> Response {
    respond(account_location(&s, &uri, &account_id).and_then(|loc| verify(&s, &headers, loc)))
}

async fn user_list(AxState(s): S, headers: HeaderMap, q: QueryParams) -> Response {
    respond(list_tokens(&s, &headers, Location::User, q))
}

async fn account_list(
    AxState(s): S,
    uri: Uri,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    q: QueryParams,
) -> Response {
    respond(account_location(&s, &uri, &account_id).and_then(|loc| list_tokens(&s, &headers, loc, q)))
}

async fn user_groups(AxState(s): S, headers: HeaderMap, q: QueryParams) -> Response {
    respond(list_groups(&s, &headers, Location::User, q))
}

async fn account_groups(
    AxState(s): S,
    uri: Uri,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    q: QueryParams,
) -> Response {
    respond(account_location(&s, &uri, &account_id).and_then(|loc| list_groups(&s, &headers, loc, q)))
}

fn record_create(shared: &Shared, uri: &Uri, body: &Bytes, resp: &Response) {
    shared.lock().bodies.push(RecordedBody {
        path: uri.path().to_owned(),
        raw: String::from_utf8_lossy(body).into_owned(),
        json: serde_json::from_slice(body).ok(),
        status: resp.status().as_u16(),
    });
}

async fn user_create(AxState(s): S, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let resp = respond(create_token(&s, &headers, Location::User, &body));
    record_create(&s, &uri, &body, &resp);
    resp
}

async fn account_create(
    AxState(s): S,
    uri: Uri,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let resp = respond(account_location(&s, &uri, &account_id).and_then(|loc| create_token(&s, &headers, loc, &body)));
    record_create(&s, &uri, &body, &resp);
    resp
}

async fn user_get(AxState(s): S, uri: Uri, Path(token_id): Path<String>, headers: HeaderMap) -> Response {
    respond(get_token(&s, &headers, &uri, Location::User, &token_id))
}

async fn user_delete(AxState(s): S, uri: Uri, Path(token_id): Path<String>, headers: HeaderMap) -> Response {
    respond(delete_token(&s, &headers, &uri, Location::User, &token_id))
}

async fn account_get(
    AxState(s): S,
    uri: Uri,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(account_location(&s, &uri, &account_id).and_then(|loc| get_token(&s, &headers, &uri, loc, &token_id)))
}

async fn account_delete(
    AxState(s): S,
    uri: Uri,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(account_location(&s, &uri, &account_id).and_then(|loc| delete_token(&s, &headers, &uri, loc, &token_id)))
}

async fn no_route() -> Response {
    failure(StatusCode::NOT_FOUND, 7000, "No route for that URI")
}

async fn method_not_allowed() -> Response {
    failure(
        StatusCode::METHOD_NOT_ALLOWED,
        7001,
        "Method not allowed for this route",
    )
}

/// The API router, serving under [`PREFIX`], with `extra` routes (R2's)
/// under the same fallbacks.
pub(crate) fn router(shared: Arc<Shared>, extra: Router<Arc<Shared>>) -> Router {
    Router::new()
        .route("/client/v4/user/tokens", get(user_list).post(user_create))
        .route("/client/v4/user/tokens/verify", get(user_verify))
        .route("/client/v4/user/tokens/permission_groups", get(user_groups))
        .route("/client/v4/user/tokens/{token_id}", get(user_get).delete(user_delete))
        .route(
            "/client/v4/accounts/{account_id}/tokens",
            get(account_list).post(account_create),
        )
        .route("/client/v4/accounts/{account_id}/tokens/verify", get(account_verify))
        .route(
            "/client/v4/accounts/{account_id}/tokens/permission_groups",
            get(account_groups),
        )
        .route(
            "/client/v4/accounts/{account_id}/tokens/{token_id}",
            get(account_get).delete(account_delete),
        )
        .merge(extra)
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}
