//! A stand-in for a 1Password Connect server.
//!
//! [`ConnectStandin::start`] runs a real HTTP server on `127.0.0.1` (a random port) in a
//! background thread with its own tokio runtime, and answers the read side of the Connect REST
//! API (see `docs/openapi/spec.yaml` in the `1Password/connect` repository):
//!
//! - `GET /heartbeat` answers `.` (text/plain) and needs no token;
//!   `GET /health` answers `{name, version, dependencies}`.
//! - `GET /v1/vaults` lists the vaults the token may read; `filter=name eq "X"` keeps those named
//!   exactly `X`.
//! - `GET /v1/vaults/{vault_id}` describes one vault.
//! - `GET /v1/vaults/{vault_id}/items` lists item summaries (no fields); `filter=title eq "X"` keeps
//!   the items titled exactly `X`.
//! - `GET /v1/vaults/{vault_id}/items/{item_id}` returns the full item: `sections: [{id, label}]`,
//!   `fields: [{id, type, purpose?, label, value?, section?: {id}}]` (a field never set has no
//!   `value`).
//!
//! Vaults and items are addressed by id only, as in Connect. Every `/v1` request needs
//! `Authorization: Bearer <token>`. Errors have Connect's shape `{"status": N, "message": "..."}`:
//! a missing or unknown token gets `401 Invalid token signature`; a token whose grant does not
//! cover the vault gets `403 vault {id} is not in scope`; an unknown vault or item gets
//! `404 vault {id} not found` / `404 item {id} not found` (messages from Connect's OpenAPI spec);
//! a malformed filter gets `400`. Unknown paths get a JSON `404`.
//!
//! Fault knobs: [`ConnectStandin::fail_next`] makes the next N responses (any path) fail with a
//! given status, and [`ConnectStandin::set_latency`] delays every response. Every request is
//! recorded ([`ConnectStandin::request_log`]).
//!
//! The data is [`ConnectData`], which [`ConnectData::from_json`] builds from the same JSON file
//! shape as the `op` stand-in's (`tests/support/op`), so one fixture feeds both.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// The token [`ConnectData`] grants when its data names none: it may read every vault.
pub const DEFAULT_TOKEN: &str = "connect-standin-token";

const DEFAULT_TIME: &str = "2024-01-01T00:00:00Z";

/// Everything a [`ConnectStandin`] serves: vaults with their items, and the tokens it accepts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectData {
    /// The vaults, in listing order.
    pub vaults: Vec<Vault>,
    /// The accepted tokens. When empty, [`DEFAULT_TOKEN`] is accepted for every vault.
    pub tokens: Vec<TokenGrant>,
}

/// A vault.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vault {
    /// The vault's id (Connect's `vaultUuid`).
    pub id: String,
    /// The vault's name.
    pub name: String,
    /// The items in the vault, in listing order.
    pub items: Vec<Item>,
}

/// An item in a vault.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Item {
    /// The item's id (Connect's `itemUuid`).
    pub id: String,
    /// The item's title.
    pub title: String,
    /// The category, e.g. `LOGIN` or `API_CREDENTIAL`.
    pub category: String,
    /// The item version.
    pub version: u64,
    /// Tags (omitted from the JSON when empty).
    pub tags: Vec<String>,
    /// The sections fields may belong to.
    pub sections: Vec<Section>,
    /// The fields, in order.
    pub fields: Vec<Field>,
    /// `createdAt`, RFC 3339.
    pub created_at: String,
    /// `updatedAt`, RFC 3339.
    pub updated_at: String,
}

/// A section of an item.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    /// The section's id.
    pub id: String,
    /// The section's label, if it has one.
    pub label: Option<String>,
}

/// A field of an item.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Field {
    /// The field's id.
    pub id: String,
    /// The field type, e.g. `STRING` or `CONCEALED`.
    pub field_type: String,
    /// `USERNAME`, `PASSWORD` or `NOTES`, if the field has a purpose.
    pub purpose: Option<String>,
    /// The field's label.
    pub label: String,
    /// The value; `None` for a field that was never set (the JSON then has no `value` key).
    pub value: Option<String>,
    /// The id of the section the field belongs to, if any.
    pub section: Option<String>,
}

/// A Connect token and the vaults it may read.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenGrant {
    /// The bearer token.
    pub token: String,
    /// The ids or names of the vaults the token may read; `None` for every vault.
    pub vaults: Option<Vec<String>>,
}

impl ConnectData {
    /// Builds the data from the JSON shape of the `op` stand-in's data file:
    ///
    /// ```json
    /// {"vaults": [{"id": "...", "name": "Development", "items": [
    ///    {"id": "...", "title": "Cloudflare", "category": "API_CREDENTIAL",
    ///     "sections": [{"id": "s1", "label": "Admin"}],
    ///     "fields": [{"id": "credential", "type": "CONCEALED", "purpose": "PASSWORD",
    ///                 "label": "credential", "value": "...", "section": {"id": "s1"}}]}]}],
    ///  "connect": {"tokens": [{"token": "t1", "vaults": ["Development"]}, {"token": "t2"}]}}
    /// ```
    ///
    /// Keys the `op` stand-in uses for its own purposes (`signed_in`, `accounts`,
    /// `service_account_token`, `service_account_access`) are ignored. Optional item keys:
    /// `version` (default 1), `tags`, `created_at`, `updated_at`; `category` defaults to `LOGIN`,
    /// a field's `type` to `STRING`. A vault or item without an `id` gets the same derived id
    /// the `op` stand-in gives it. `connect.tokens[].vaults` lists vault names or ids; without
    /// it the token may read every vault. Without `connect.tokens`, [`DEFAULT_TOKEN`] is the
    /// only token and may read every vault.
    ///
    /// # Panics
    ///
    /// If the JSON does not have this shape (this is test support: a broken fixture is a bug).
    pub fn from_json(value: Value) -> ConnectData {
        let mut data = ConnectData::default();
        for v in arr(&value, "vaults") {
            let name = string(v, "name");
            let id = opt_string(v, "id").unwrap_or_else(|| derived_id(&["vault", &name]));
            let mut vault = Vault {
                id,
                name,
                items: Vec::new(),
            };
            for i in arr(v, "items") {
                let title = string(i, "title");
                let id = opt_string(i, "id").unwrap_or_else(|| derived_id(&["item", &vault.id, &title]));
                let sections = arr(i, "sections")
                    .iter()
                    .map(|s| Section {
                        id: string(s, "id"),
                        label: opt_string(s, "label"),
                    })
                    .collect();
                let fields = arr(i, "fields")
                    .iter()
                    .map(|f| Field {
                        id: string(f, "id"),
                        field_type: opt_string(f, "type").unwrap_or_else(|| "STRING".into()),
                        purpose: opt_string(f, "purpose").filter(|p| !p.is_empty()),
                        label: opt_string(f, "label").unwrap_or_default(),
                        value: opt_string(f, "value"),
                        section: f.get("section").filter(|s| !s.is_null()).map(|s| string(s, "id")),
                    })
                    .collect();
                vault.items.push(Item {
                    id,
                    title,
                    category: opt_string(i, "category").unwrap_or_else(|| "LOGIN".into()),
                    version: i.get("version").and_then(Value::as_u64).unwrap_or(1),
                    tags: arr(i, "tags")
                        .iter()
                        .map(|t| t.as_str().expect("tags are strings").to_string())
                        .collect(),
                    sections,
                    fields,
                    created_at: opt_string(i, "created_at").unwrap_or_else(|| DEFAULT_TIME.into()),
                    updated_at: opt_string(i, "updated_at").unwrap_or_else(|| DEFAULT_TIME.into()),
                });
            }
            data.vaults.push(vault);
        }
        if let Some(connect) = value.get("connect") {
            for t in arr(connect, "tokens") {
                data.tokens.push(TokenGrant {
                    token: string(t, "token"),
                    vaults: t.get("vaults").filter(|v| !v.is_null()).map(|v| {
                        v.as_array()
                            .expect("connect.tokens[].vaults is an array")
                            .iter()
                            .map(|s| s.as_str().expect("vault names are strings").to_string())
                            .collect()
                    }),
                });
            }
        }
        data
    }

    /// Adds a token that may read the named vaults (ids or names), or every vault with `None`.
    pub fn with_token(mut self, token: impl Into<String>, vaults: Option<Vec<String>>) -> Self {
        self.tokens.push(TokenGrant {
            token: token.into(),
            vaults,
        });
        self
    }

    fn grants(&self) -> Vec<TokenGrant> {
        if self.tokens.is_empty() {
            vec![TokenGrant {
                token: DEFAULT_TOKEN.into(),
                vaults: None,
            }]
        } else {
            self.tokens.clone()
        }
    }
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    match v.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(other) => panic!("`{key}` must be an array, got {other}"),
    }
}

fn opt_string(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => panic!("`{key}` must be a string, got {other}"),
    }
}

fn string(v: &Value, key: &str) -> String {
    opt_string(v, key).unwrap_or_else(|| panic!("missing `{key}` in {v}"))
}

/// The id the `op` stand-in derives for data without one: FNV-1a 64 of the parts joined by NUL,
/// then one splitmix64 step per character of a 26-character lowercase base32 string.
pub fn derived_id(parts: &[&str]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.join("\0").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut id = String::with_capacity(26);
    for _ in 0..26 {
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        id.push(char::from(ALPHABET[(z % 32) as usize]));
    }
    id
}

/// One request the stand-in received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path, e.g. `/v1/vaults`.
    pub path: String,
    /// The raw (still percent-encoded) query string, if any.
    pub query: Option<String>,
    /// The bearer token sent, if the request had an `Authorization: Bearer` header.
    pub bearer: Option<String>,
    /// The status the stand-in answered with.
    pub status: u16,
}

#[derive(Default)]
struct Faults {
    fail_next: VecDeque<u16>,
    latency: Duration,
}

struct Shared {
    data: Mutex<ConnectData>,
    faults: Mutex<Faults>,
    log: Mutex<Vec<LoggedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running 1Password Connect stand-in. Dropping it stops the server.
pub struct ConnectStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectStandin {
    /// Starts the server on `127.0.0.1` (random port) in a background thread and returns once it
    /// accepts connections.
    ///
    /// # Panics
    ///
    /// If the port cannot be bound or the runtime cannot be built.
    pub fn start(data: ConnectData) -> ConnectStandin {
        let token = data.grants()[0].token.clone();
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("set_nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(shared.clone());
        let thread = std::thread::Builder::new()
            .name("connect-standin".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            result.expect("connect stand-in server");
                        }
                        _ = rx => {}
                    }
                });
            })
            .expect("spawn connect stand-in thread");
        ConnectStandin {
            addr,
            shared,
            token,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The server's base URL, e.g. `http://127.0.0.1:41234` (what `OP_CONNECT_HOST` holds; the
    /// API lives under `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A token that may read every vault it was granted: the first token of the data, or
    /// [`DEFAULT_TOKEN`] when the data names none.
    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// Every request received so far, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_request_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Makes the next `n` responses (to any path, before any other check) fail with `status`
    /// (e.g. 500 or 503) and a Connect-shaped JSON body. Calls add up.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut faults = lock(&self.shared.faults);
        faults.fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// Delays every response by `latency` (zero to stop).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.faults).latency = latency;
    }

    /// Changes the served data in place, e.g. to rotate a value between two requests.
    pub fn update(&self, change: impl FnOnce(&mut ConnectData)) {
        change(&mut lock(&self.shared.data));
    }
}

impl Drop for ConnectStandin {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/heartbeat", get(heartbeat))
        .route("/health", get(health))
        .route("/v1/vaults", get(list_vaults))
        .route("/v1/vaults/{vault_id}", get(get_vault))
        .route("/v1/vaults/{vault_id}/items", get(list_items))
        .route("/v1/vaults/{vault_id}/items/{item_id}", get(get_item))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), faults_and_log))
        .with_state(shared)
}

/// A Connect error: answered as `{"status": N, "message": "..."}` with status N.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"status": self.0.as_u16(), "message": self.1}))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

async fn faults_and_log(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let token = bearer(request.headers());
    let (latency, forced) = {
        let mut faults = lock(&shared.faults);
        (faults.latency, faults.fail_next.pop_front())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match forced {
        Some(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("Error");
            error(status, reason).into_response()
        }
        None => next.run(request).await,
    };
    lock(&shared.log).push(LoggedRequest {
        method,
        path,
        query,
        bearer: token,
        status: response.status().as_u16(),
    });
    response
}

async fn heartbeat() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], ".").into_response()
}

async fn health() -> Response {
    Json(json!({
        "name": "1Password Connect API",
        "version": "1.7.1",
        "dependencies": [
            {"service": "sync", "status": "ACTIVE", "message": "standin"},
            {"service": "sqlite", "status": "ACTIVE", "message": "standin"}
        ]
    }))
    .into_response()
}

async fn not_found() -> ApiError {
    error(StatusCode::NOT_FOUND, "Not Found")
}

/// The grant the request's token holds, or the 401 response.
fn authorize(data: &ConnectData, headers: &HeaderMap) -> Result<TokenGrant, ApiError> {
    let token = bearer(headers);
    data.grants()
        .into_iter()
        .find(|g| Some(&g.token) == token.as_ref())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "Invalid token signature"))
}

fn in_scope(grant: &TokenGrant, vault_id: &str, data: &ConnectData) -> bool {
    let Some(allowed) = &grant.vaults else {
        return true;
    };
    allowed
        .iter()
        .any(|a| a == vault_id || data.vaults.iter().any(|v| v.id == vault_id && &v.name == a))
}

/// The vault the request may read, or the 403/404 response.
fn vault<'a>(data: &'a ConnectData, grant: &TokenGrant, vault_id: &str) -> Result<&'a Vault, ApiError> {
    if !in_scope(grant, vault_id, data) {
        return Err(error(
            StatusCode::FORBIDDEN,
            format!("vault {vault_id} is not in scope"),
        ));
    }
    data.vaults
        .iter()
        .find(|v| v.id == vault_id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("vault {vault_id} not found")))
}

/// Parses a SCIM `ATTR eq "VALUE"` filter; `Err` is the 400 response.
fn parse_filter(filter: Option<&String>, attr: &str) -> Result<Option<String>, ApiError> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let bad = || error(StatusCode::BAD_REQUEST, format!("Invalid filter: {filter}"));
    let mut parts = filter.trim().splitn(3, ' ');
    let (Some(a), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let value = value.trim();
    if !a.eq_ignore_ascii_case(attr) || !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return Err(bad());
    };
    Ok(Some(inner.replace("\\\"", "\"")))
}

fn vault_json(v: &Vault) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "attributeVersion": 1,
        "contentVersion": v.items.len() + 1,
        "items": v.items.len(),
        "type": "USER_CREATED",
        "createdAt": DEFAULT_TIME,
        "updatedAt": DEFAULT_TIME,
    })
}

fn item_summary(vault_id: &str, i: &Item) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(i.id));
    m.insert("title".into(), json!(i.title));
    m.insert("version".into(), json!(i.version));
    m.insert("vault".into(), json!({"id": vault_id}));
    m.insert("category".into(), json!(i.category));
    if !i.tags.is_empty() {
        m.insert("tags".into(), json!(i.tags));
    }
    m.insert("lastEditedBy".into(), json!("STANDINUSERAAAAAAAAAAAAAAA"));
    m.insert("createdAt".into(), json!(i.created_at));
    m.insert("updatedAt".into(), json!(i.updated_at));
    m
}

fn item_full(vault_id: &str, i: &Item) -> Value {
    let mut m = item_summary(vault_id, i);
    let sections: Vec<Value> = i
        .sections
        .iter()
        .map(|s| {
            let mut o = Map::new();
            o.insert("id".into(), json!(s.id));
            if let Some(label) = &s.label {
                o.insert("label".into(), json!(label));
            }
            Value::Object(o)
        })
        .collect();
    let fields: Vec<Value> = i
        .fields
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("id".into(), json!(f.id));
            if let Some(section) = &f.section {
                o.insert("section".into(), json!({"id": section}));
            }
            o.insert("type".into(), json!(f.field_type));
            if let Some(purpose) = &f.purpose {
                o.insert("purpose".into(), json!(purpose));
            }
            o.insert("label".into(), json!(f.label));
            if let Some(value) = &f.value {
                o.insert("value".into(), json!(value));
            }
            Value::Object(o)
        })
        .collect();
    if !sections.is_empty() {
        m.insert("sections".into(), Value::Array(sections));
    }
    m.insert("fields".into(), Value::Array(fields));
    Value::Object(m)
}

async fn list_vaults(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let data = lock(&shared.data);
    let grant = authorize(&data, &headers)?;
    let name = parse_filter(query.get("filter"), "name")?;
    let vaults: Vec<Value> = data
        .vaults
        .iter()
        .filter(|v| in_scope(&grant, &v.id, &data))
        .filter(|v| name.as_ref().is_none_or(|n| &v.name == n))
        .map(vault_json)
        .collect();
    Ok(Json(Value::Array(vaults)))
}

async fn get_vault(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(vault_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let data = lock(&shared.data);
    let grant = authorize(&data, &headers)?;
    Ok(Json(vault_json(vault(&data, &grant, &vault_id)?)))
}

async fn list_items(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(vault_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let data = lock(&shared.data);
    let grant = authorize(&data, &headers)?;
    let v = vault(&data, &grant, &vault_id)?;
    let title = parse_filter(query.get("filter"), "title")?;
    let items: Vec<Value> = v
        .items
        .iter()
        .filter(|i| title.as_ref().is_none_or(|t| &i.title == t))
        .map(|i| Value::Object(item_summary(&v.id, i)))
        .collect();
    Ok(Json(Value::Array(items)))
}

async fn get_item(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((vault_id, item_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let data = lock(&shared.data);
    let grant = authorize(&data, &headers)?;
    let v = vault(&data, &grant, &vault_id)?;
    v.items
        .iter()
        .find(|i| i.id == item_id)
        .map(|i| Json(item_full(&v.id, i)))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("item {item_id} not found")))
}
