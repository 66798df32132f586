//! `POST /accounts/{account_id}/r2/temp-access-credentials`
//! (`r2-create-temp-access-credentials` in
//! `shared/reference/cloudflare-openapi/r2-temp-access-credentials.*`):
//! R2 temporary credentials, minted from a parent R2 token.
//!
//! * The caller's API token must be usable on the account (an account token
//!   of it, or a user token whose policy names the account or all accounts)
//!   and hold "Workers R2 Storage Write" there; otherwise 401 code 9109
//!   (unusable token), 403 code 9109 (another account) or 403 code 10000
//!   (no such permission).
//! * The body follows `r2_temp_access_creds_request`: `bucket`,
//!   `parentAccessKeyId`, `permission` (`object-read-only`,
//!   `object-read-write`, `admin-read-only`, `admin-read-write`) and
//!   `ttlSeconds` (1 to 604800) are required; `prefixes` and `objects` are
//!   optional string arrays. Malformed JSON: 400 code 6007; a field that
//!   fails: 400 code 1001 naming it.
//! * `parentAccessKeyId` must be the id of a usable token the stand-in knows
//!   (the Access Key ID of an R2 API token): 400 code 10042 if not. Its
//!   `allow` policies must grant the permission on the bucket (a bucket
//!   resource `com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<bucket>`,
//!   or the account), with no `deny` for it: 403 code 10043 if not. The
//!   jurisdiction is the `cf-r2-jurisdiction` header (`default` without it).
//! * The answer is `{accessKeyId, secretAccessKey, sessionToken}`
//!   (`r2_temp_access_creds_response`). The credentials are recorded
//!   ([`CloudflareHandle::temp_credentials`](super::CloudflareHandle::temp_credentials))
//!   and handed to the hooks of
//!   [`CloudflareHandle::on_temp_credentials_issued`](super::CloudflareHandle::on_temp_credentials_issued),
//!   which is how the S3 stand-in learns them. They cannot be revoked one by
//!   one, as on Cloudflare.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::api::{account_location, authorize_account, err, invalid_request, ok, respond, ApiError};
use super::catalogue::groups;
use super::model::{policy_has_group, TempCredentialRecord};
use super::state::{random_id, Shared};

/// The permissions temporary credentials can carry.
pub const TEMP_PERMISSIONS: [&str; 4] = [
    "admin-read-write",
    "admin-read-only",
    "object-read-write",
    "object-read-only",
];

/// The longest `ttlSeconds` accepted (7 days).
pub const MAX_TEMP_TTL_SECS: f64 = 604_800.0;

fn hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).expect("hex digit"))
        .collect()
}

/// An optional array of strings.
fn strings(body: &Value, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid_request(format!("{key} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid_request(format!("{key} must be an array of strings"))),
    }
}

fn required_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(invalid_request(format!("{key} is required"))),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(invalid_request(format!("{key} must be a non-empty string"))),
    }
}

/// The R2 groups that give `permission`.
fn groups_for(permission: &str) -> &'static [&'static str] {
    match permission {
        "object-read-only" => &[
            groups::R2_BUCKET_ITEM_READ,
            groups::R2_BUCKET_ITEM_WRITE,
            groups::R2_STORAGE_READ,
            groups::R2_STORAGE_WRITE,
        ],
        "object-read-write" => &[groups::R2_BUCKET_ITEM_WRITE, groups::R2_STORAGE_WRITE],
        "admin-read-only" => &[groups::R2_STORAGE_READ, groups::R2_STORAGE_WRITE],
        _ => &[groups::R2_STORAGE_WRITE],
    }
}

/// Whether a policy's resources cover `bucket` of `account` in `jurisdiction`.
fn covers_bucket(policy: &Value, account: &str, jurisdiction: &str, bucket: &str) -> bool {
    let bucket_key = format!("com.cloudflare.edge.r2.bucket.{account}_{jurisdiction}_{bucket}");
    let account_key = format!("com.cloudflare.api.account.{account}");
    policy["resources"].as_object().is_some_and(|resources| {
        resources
            .keys()
            .any(|k| *k == bucket_key || *k == account_key || k == super::model::ALL_ACCOUNTS_RESOURCE)
    })
}

fn create(
    shared: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
    account_id: &str,
    body: &[u8],
) -> Result<TempCredentialRecord, ApiError> {
    let account = account_location(shared, uri, account_id)?;
    let mut st = shared.lock();
    let caller = authorize_account(&mut st, headers, &account, &[groups::R2_STORAGE_WRITE])?;
    let body: Value = serde_json::from_slice(body)
        .map_err(|_| err(StatusCode::BAD_REQUEST, 6007, "Malformed JSON in request body"))?;
    if !body.is_object() {
        return Err(invalid_request("request body must be a JSON object"));
    }
    let bucket = required_str(&body, "bucket")?;
    let parent = required_str(&body, "parentAccessKeyId")?;
    let permission = required_str(&body, "permission")?;
    if !TEMP_PERMISSIONS.contains(&permission) {
        return Err(invalid_request(format!(
            "permission must be one of {}, got {permission:?}",
            TEMP_PERMISSIONS.join(", ")
        )));
    }
    let ttl = match body.get("ttlSeconds") {
        None | Some(Value::Null) => return Err(invalid_request("ttlSeconds is required")),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| invalid_request("ttlSeconds must be a number"))?,
    };
    if !(1.0..=MAX_TEMP_TTL_SECS).contains(&ttl) {
        return Err(invalid_request(format!(
            "ttlSeconds must be between 1 and {MAX_TEMP_TTL_SECS}, got {ttl}"
        )));
    }
    let prefixes = strings(&body, "prefixes")?;
    let objects = strings(&body, "objects")?;
    let jurisdiction = headers
        .get("cf-r2-jurisdiction")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("default")
        .to_string();
    let now = SystemTime::now();
    let parent_token = st
        .tokens
        .iter()
        .find(|t| t.id == parent && t.usable_at(now))
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, 10042, "The parent access key does not exist"))?;
    let needed = groups_for(permission);
    let relevant = |p: &&Value| {
        needed.iter().any(|g| policy_has_group(p, g)) && covers_bucket(p, account_id, &jurisdiction, bucket)
    };
    let policies: Vec<&Value> = parent_token.policies.iter().filter(relevant).collect();
    if policies.iter().any(|p| p["effect"] == "deny") || !policies.iter().any(|p| p["effect"] == "allow") {
        return Err(err(
            StatusCode::FORBIDDEN,
            10043,
            "The parent access key does not have the requested permission on the bucket",
        ));
    }
    let record = TempCredentialRecord {
        access_key_id: random_id(),
        secret_access_key: hex(64),
        session_token: format!("sesame-standin-session-{}", hex(48)),
        account_id: account_id.to_string(),
        jurisdiction,
        bucket: bucket.to_string(),
        permission: permission.to_string(),
        prefixes,
        objects,
        parent_access_key_id: parent.to_string(),
        issued_by: st.tokens[caller].id.clone(),
        issued_on: now,
        expires_on: now + Duration::from_secs_f64(ttl),
    };
    st.temp_credentials.push(record.clone());
    Ok(record)
}

/// The route's handler.
pub(crate) async fn temp_access_credentials(
    AxState(s): AxState<Arc<Shared>>,
    uri: Uri,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    respond(create(&s, &headers, &uri, &account_id, &body).map(|record| {
        s.run_temp_issued_hooks(&record);
        ok(json!({
            "accessKeyId": record.access_key_id,
            "secretAccessKey": record.secret_access_key,
            "sessionToken": record.session_token,
        }))
    }))
}

/// The R2 routes of the API, for [`super::api::router`] to serve.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route(
        "/client/v4/accounts/{account_id}/r2/temp-access-credentials",
        post(temp_access_credentials),
    )
}
