//! An in-memory S3 server that behaves like Cloudflare R2 where sesame cares,
//! built on the `s3s` crate (real SigV4 checking), for hermetic tests.
//!
//! Start it with [`S3Standin::start`] (blocking, for plain `#[test]`s) or
//! [`S3Standin::start_async`]; its endpoint is [`S3Standin::endpoint`]
//! (`http://127.0.0.1:PORT`, path-style buckets, region `auto`).
//!
//! # Keys and permissions (R2's model)
//! Every access key holds [`Grant`]s: an [`Access`] level on one bucket or on
//! every bucket of the account, optionally limited to key prefixes, mirroring
//! R2's token permissions:
//!
//! | [`Access`] | R2 name | allows |
//! |---|---|---|
//! | `ObjectRead` | Object Read | HeadBucket, ListObjects(V2), GetObject, HeadObject |
//! | `ObjectReadWrite` | Object Read & Write | the above plus PutObject, DeleteObject, CopyObject, multipart |
//! | `AdminRead` | Admin Read | object reads, and ListBuckets when account-wide |
//! | `AdminReadWrite` | Admin Read & Write | everything, CreateBucket/DeleteBucket included |
//!
//! A request with an unknown (or not yet live, or expired) key answers
//! **401 `Unauthorized`** as R2 does (R2 does not say `InvalidAccessKeyId`);
//! a bad signature answers 403 `SignatureDoesNotMatch`; a denied operation
//! 403 `AccessDenied` (before the bucket is looked up, so a bucket-scoped
//! key cannot tell a missing bucket from another one); a missing bucket
//! that the key may see 404 `NoSuchBucket`. `PutObject` honours
//! `If-None-Match: *` (412 `PreconditionFailed` when the key exists).
//!
//! # Cloudflare tokens as S3 keys
//! [`S3Handle::serve_cloudflare`] hooks the Cloudflare stand-in: every token
//! created there whose policies grant R2 permission groups becomes an S3
//! key (access key id = token id, secret = lowercase hex SHA-256 of the
//! token value), with the permissions its policies give on this server's
//! account and jurisdiction; deleting the token deletes the key. Only
//! `allow` policies count.
//!
//! # R2 temporary credentials
//! The Cloudflare stand-in mints them
//! (`POST /accounts/{account}/r2/temp-access-credentials`); with
//! [`S3Handle::serve_cloudflare`], each issued set for this server's account
//! and jurisdiction becomes a key with a session token (sent as
//! `X-Amz-Security-Token`), limited to the bucket, permission and prefixes
//! asked for, expiring when they do.
//!
//! # Knobs
//! [`S3Handle::set_latency`] (per request), [`S3Handle::set_clock_offset`]
//! (the `Date` header the server sends; beyond 15 minutes requests fail with
//! `RequestTimeTooSkewed`, as SigV4 does), [`S3Handle::set_propagation_delay`]
//! (new keys answer 401 for that long, like fresh R2 credentials), a
//! request log ([`S3Handle::requests`]), and [`S3Handle::answer_like_garage`]:
//! bad credentials answered the way Garage (a real S3 server with per-bucket
//! keys) answers them, `403 AccessDenied` with the message `Forbidden: No
//! such key: ID` or `Forbidden: Invalid signature`, and ListBuckets allowed to
//! every key, listing only the buckets it has a grant on.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use hyper::body::{Bytes, Incoming};
use hyper::http::{HeaderValue, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{self, ETag, StreamingBlob};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cloudflare::{groups, CloudflareHandle, TempCredentialRecord, TokenRecord, DEFAULT_ACCOUNT_ID};

/// SigV4 rejects requests whose time differs from the server's by more.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// A permission level, as R2 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// "Object Read": read and list objects.
    ObjectRead,
    /// "Object Read & Write": read, write, list and delete objects.
    ObjectReadWrite,
    /// "Admin Read": object reads, list buckets, bucket settings.
    AdminRead,
    /// "Admin Read & Write": everything.
    AdminReadWrite,
}

impl Access {
    fn reads(self) -> bool {
        true
    }

    fn writes(self) -> bool {
        matches!(self, Self::ObjectReadWrite | Self::AdminReadWrite)
    }

    fn admin_reads(self) -> bool {
        matches!(self, Self::AdminRead | Self::AdminReadWrite)
    }

    fn admin_writes(self) -> bool {
        self == Self::AdminReadWrite
    }

    /// The R2 temporary-credential permission name.
    pub fn temp_permission(self) -> &'static str {
        match self {
            Self::ObjectRead => "object-read-only",
            Self::ObjectReadWrite => "object-read-write",
            Self::AdminRead => "admin-read-only",
            Self::AdminReadWrite => "admin-read-write",
        }
    }

    fn from_temp_permission(name: &str) -> Option<Self> {
        [
            Self::ObjectRead,
            Self::ObjectReadWrite,
            Self::AdminRead,
            Self::AdminReadWrite,
        ]
        .into_iter()
        .find(|a| a.temp_permission() == name)
    }

    fn from_group(id: &str) -> Option<Self> {
        match id {
            groups::R2_BUCKET_ITEM_READ => Some(Self::ObjectRead),
            groups::R2_BUCKET_ITEM_WRITE => Some(Self::ObjectReadWrite),
            groups::R2_STORAGE_READ => Some(Self::AdminRead),
            groups::R2_STORAGE_WRITE => Some(Self::AdminReadWrite),
            _ => None,
        }
    }
}

/// One permission of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `None`: every bucket of the account; `Some`: that bucket only.
    pub bucket: Option<String>,
    /// The level.
    pub access: Access,
    /// Object key prefixes it is limited to (temporary credentials); `None`: all keys.
    pub prefixes: Option<Vec<String>>,
}

impl Grant {
    /// `access` on one bucket.
    pub fn bucket(bucket: &str, access: Access) -> Self {
        Self {
            bucket: Some(bucket.to_string()),
            access,
            prefixes: None,
        }
    }

    /// `access` on every bucket of the account.
    pub fn account(access: Access) -> Self {
        Self {
            bucket: None,
            access,
            prefixes: None,
        }
    }

    fn covers(&self, bucket: &str, key: Option<&str>) -> bool {
        self.bucket.as_deref().is_none_or(|b| b == bucket)
            && match (&self.prefixes, key) {
                (Some(prefixes), Some(key)) => prefixes.iter().any(|p| key.starts_with(p.as_str())),
                _ => true,
            }
    }
}

/// An access key the server knows.
#[derive(Clone)]
pub struct KeyRecord {
    /// The access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret: String,
    /// What it may do.
    pub grants: Vec<Grant>,
    /// Temporary credentials: the session token every request must carry.
    pub session_token: Option<String>,
    /// It answers 401 before this instant (propagation delay).
    pub live_from: Instant,
    /// It answers 401 from this time on.
    pub expires_at: Option<SystemTime>,
    /// Where it came from (`seeded`, `cloudflare token NAME`, `temporary`).
    pub origin: String,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("grants", &self.grants)
            .field("temporary", &self.session_token.is_some())
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl KeyRecord {
    fn usable(&self) -> bool {
        Instant::now() >= self.live_from && self.expires_at.is_none_or(|t| t > SystemTime::now())
    }
}

/// A stored object.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The content.
    pub data: Bytes,
    /// Its ETag (hex MD5-like; here SHA-256 prefix), without quotes.
    pub etag: String,
    /// When it was written.
    pub last_modified: SystemTime,
}

/// One request the S3 server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3LogEntry {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path (`/bucket/key`), without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The access key id from the `Authorization` header, if signed.
    pub access_key_id: Option<String>,
    /// The status answered.
    pub status: u16,
}

struct State {
    buckets: BTreeMap<String, BTreeMap<String, StoredObject>>,
    keys: BTreeMap<String, KeyRecord>,
    log: Vec<S3LogEntry>,
    latency: Duration,
    clock_offset: i64,
    propagation_delay: Duration,
    garage: bool,
}

struct Shared {
    state: Mutex<State>,
    account_id: String,
    jurisdiction: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Lowercase hex SHA-256, how R2 derives a secret access key from a token value.
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).expect("hex digit"))
        .collect()
}

/// Cheap clonable handle to the server's state.
#[derive(Clone)]
pub struct S3Handle {
    shared: Arc<Shared>,
}

impl S3Handle {
    /// The account id the server plays (for resource keys).
    pub fn account_id(&self) -> &str {
        &self.shared.account_id
    }

    /// The jurisdiction it plays (`default`).
    pub fn jurisdiction(&self) -> &str {
        &self.shared.jurisdiction
    }

    /// Creates an empty bucket (no-op if it exists).
    pub fn create_bucket(&self, name: &str) {
        self.shared.lock().buckets.entry(name.to_string()).or_default();
    }

    /// Writes an object directly (the bucket is created if needed).
    pub fn put_object(&self, bucket: &str, key: &str, data: &[u8]) {
        let object = stored(Bytes::copy_from_slice(data));
        self.shared
            .lock()
            .buckets
            .entry(bucket.to_string())
            .or_default()
            .insert(key.to_string(), object);
    }

    /// One object's content, if it exists.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.shared
            .lock()
            .buckets
            .get(bucket)
            .and_then(|b| b.get(key))
            .map(|o| o.data.to_vec())
    }

    /// The keys of a bucket's objects, sorted (empty if no such bucket).
    pub fn object_keys(&self, bucket: &str) -> Vec<String> {
        self.shared
            .lock()
            .buckets
            .get(bucket)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds (or replaces) a key, live at once.
    pub fn add_key(&self, access_key_id: &str, secret: &str, grants: &[Grant]) {
        self.insert_key(KeyRecord {
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
            grants: grants.to_vec(),
            session_token: None,
            live_from: Instant::now(),
            expires_at: None,
            origin: "seeded".into(),
        });
    }

    /// Adds a key with random id (32 hex) and secret (64 hex) and returns `(id, secret)`.
    pub fn new_key(&self, grants: &[Grant]) -> (String, String) {
        let (id, secret) = (random_hex(32), random_hex(64));
        self.add_key(&id, &secret, grants);
        (id, secret)
    }

    /// Adds a key record as given.
    pub fn insert_key(&self, record: KeyRecord) {
        self.shared.lock().keys.insert(record.access_key_id.clone(), record);
    }

    /// Removes a key; returns whether it existed.
    pub fn remove_key(&self, access_key_id: &str) -> bool {
        self.shared.lock().keys.remove(access_key_id).is_some()
    }

    /// Every key (secrets included).
    pub fn keys(&self) -> Vec<KeyRecord> {
        self.shared.lock().keys.values().cloned().collect()
    }

    /// One key.
    pub fn key(&self, access_key_id: &str) -> Option<KeyRecord> {
        self.shared.lock().keys.get(access_key_id).cloned()
    }

    /// Adds `latency` before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// The server's clock runs `seconds` ahead (negative: behind) of the real one:
    /// its `Date` header shows it, and beyond 15 minutes it refuses signed requests.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared.lock().clock_offset = seconds;
    }

    /// From now on, answers bad credentials as Garage 2.5 does (measured):
    /// `403 AccessDenied` with the message `Forbidden: No such key: ID` for
    /// an unknown key and `Forbidden: Invalid signature` for a wrong secret;
    /// and lets every key call ListBuckets, listing only its buckets.
    pub fn answer_like_garage(&self) {
        self.shared.lock().garage = true;
    }

    /// Keys added from now on answer 401 for `delay` (fresh R2 credentials
    /// take a few seconds to work).
    pub fn set_propagation_delay(&self, delay: Duration) {
        self.shared.lock().propagation_delay = delay;
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<S3LogEntry> {
        self.shared.lock().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Registers every Cloudflare token created on `cloudflare` (seeded or through
    /// its API) that grants R2 permissions as an S3 key, and removes the key when
    /// the token is deleted; likewise registers the R2 temporary credentials it
    /// issues. Tokens and credentials from before this call are registered too.
    pub fn serve_cloudflare(&self, cloudflare: &CloudflareHandle) {
        for credentials in cloudflare.temp_credentials() {
            self.register_temp_credentials(&credentials);
        }
        let issued = self.clone();
        cloudflare.on_temp_credentials_issued(move |credentials| {
            issued.register_temp_credentials(credentials);
        });
        for token in cloudflare.tokens().iter().filter(|t| t.is_live()) {
            self.register_token(token);
        }
        let created = self.clone();
        cloudflare.on_token_created(move |token| {
            created.register_token(token);
        });
        let deleted = self.clone();
        cloudflare.on_token_deleted(move |token| {
            deleted.remove_key(&token.id);
        });
    }

    /// Registers one Cloudflare token's derived S3 key, if its policies grant R2
    /// permissions here. Returns the grants.
    pub fn register_token(&self, token: &TokenRecord) -> Vec<Grant> {
        let grants = grants_from_policies(&token.policies, &self.shared.account_id, &self.shared.jurisdiction);
        if grants.is_empty() {
            return grants;
        }
        let delay = self.shared.lock().propagation_delay;
        self.insert_key(KeyRecord {
            access_key_id: token.id.clone(),
            secret: sha256_hex(&token.value),
            grants: grants.clone(),
            session_token: None,
            live_from: Instant::now() + delay,
            expires_at: token.expires_on,
            origin: format!("cloudflare token {}", token.name),
        });
        grants
    }
}

impl S3Handle {
    /// Registers temporary credentials the Cloudflare stand-in issued as a
    /// key with their session token, if they are for this server's account and
    /// jurisdiction. Returns whether they were registered.
    pub fn register_temp_credentials(&self, credentials: &TempCredentialRecord) -> bool {
        let Some(access) = Access::from_temp_permission(&credentials.permission) else {
            return false;
        };
        if credentials.account_id != self.shared.account_id || credentials.jurisdiction != self.shared.jurisdiction {
            return false;
        }
        let delay = self.shared.lock().propagation_delay;
        self.insert_key(KeyRecord {
            access_key_id: credentials.access_key_id.clone(),
            secret: credentials.secret_access_key.clone(),
            grants: vec![Grant {
                bucket: Some(credentials.bucket.clone()),
                access,
                prefixes: credentials.prefixes.clone(),
            }],
            session_token: Some(credentials.session_token.clone()),
            live_from: Instant::now() + delay,
            expires_at: Some(credentials.expires_on),
            origin: "temporary".into(),
        });
        true
    }
}

/// The R2 grants that token policies give on `account`'s buckets in `jurisdiction`.
pub fn grants_from_policies(policies: &[Value], account: &str, jurisdiction: &str) -> Vec<Grant> {
    let bucket_prefix = format!("com.cloudflare.edge.r2.bucket.{account}_{jurisdiction}_");
    let account_keys = [
        format!("com.cloudflare.api.account.{account}"),
        "com.cloudflare.api.account.*".to_string(),
    ];
    let mut grants = Vec::new();
    for policy in policies {
        if policy["effect"].as_str().unwrap_or("allow") != "allow" {
            continue;
        }
        let levels: Vec<Access> = policy["permission_groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["id"].as_str().and_then(Access::from_group))
            .collect();
        if levels.is_empty() {
            continue;
        }
        let mut scopes: Vec<Option<String>> = Vec::new();
        let mut scan = |key: &str, value: &Value| {
            if key == "com.cloudflare.edge.r2.bucket.*" {
                scopes.push(None);
            } else if let Some(bucket) = key.strip_prefix(&bucket_prefix) {
                scopes.push(Some(bucket.to_string()));
            } else if account_keys.iter().any(|k| k == key) {
                match value {
                    Value::Object(inner) => {
                        for (k, _) in inner {
                            if k == "com.cloudflare.edge.r2.bucket.*" {
                                scopes.push(None);
                            } else if let Some(bucket) = k.strip_prefix(&bucket_prefix) {
                                scopes.push(Some(bucket.to_string()));
                            }
                        }
                    }
                    _ => scopes.push(None),
                }
            }
        };
        if let Some(resources) = policy["resources"].as_object() {
            for (key, value) in resources {
                scan(key, value);
            }
        }
        for scope in scopes {
            for access in &levels {
                grants.push(Grant {
                    bucket: scope.clone(),
                    access: *access,
                    prefixes: None,
                });
            }
        }
    }
    grants
}

fn stored(data: Bytes) -> StoredObject {
    StoredObject {
        etag: hex(&Sha256::digest(&data)[..16]),
        data,
        last_modified: SystemTime::now(),
    }
}

fn custom_error(code: &str, status: StatusCode, message: &str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.to_string().into()), message.to_string());
    e.set_status_code(status);
    e
}

struct Auth(Arc<Shared>);

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let st = self.0.lock();
        match st.keys.get(access_key).filter(|k| k.usable()) {
            Some(key) => Ok(SecretKey::from(key.secret.as_str())),
            None => Err(custom_error("Unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized")),
        }
    }
}

struct Policy(Arc<Shared>);

enum Needs {
    Read,
    Write,
    ListBuckets,
    AdminWrite,
}

#[async_trait::async_trait]
impl S3Access for Policy {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        };
        let st = self.0.lock();
        if st.clock_offset.unsigned_abs() > MAX_CLOCK_SKEW.as_secs() {
            return Err(custom_error(
                "RequestTimeTooSkewed",
                StatusCode::FORBIDDEN,
                "The difference between the request time and the server's time is too large.",
            ));
        }
        let Some(key) = st.keys.get(&credentials.access_key) else {
            return Err(custom_error("Unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized"));
        };
        if let Some(expected) = &key.session_token {
            let sent = cx.headers().get("x-amz-security-token").and_then(|v| v.to_str().ok());
            if sent != Some(expected.as_str()) {
                return Err(s3_error!(
                    InvalidToken,
                    "The provided token is malformed or otherwise invalid."
                ));
            }
        }
        let op = cx.s3_op().name();
        let needs = match op {
            "ListBuckets" => Needs::ListBuckets,
            "CreateBucket" | "DeleteBucket" => Needs::AdminWrite,
            "HeadBucket" | "ListObjects" | "ListObjectsV2" | "GetObject" | "HeadObject" | "GetBucketLocation" => {
                Needs::Read
            }
            "PutObject"
            | "DeleteObject"
            | "DeleteObjects"
            | "CopyObject"
            | "CreateMultipartUpload"
            | "UploadPart"
            | "CompleteMultipartUpload"
            | "AbortMultipartUpload" => Needs::Write,
            _ => Needs::AdminWrite,
        };
        let (bucket, object) = match cx.s3_path() {
            s3s::path::S3Path::Root => (None, None),
            s3s::path::S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            s3s::path::S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let allowed = match (&needs, &bucket) {
            (Needs::ListBuckets, _) => {
                st.garage || key.grants.iter().any(|g| g.bucket.is_none() && g.access.admin_reads())
            }
            (_, None) => false,
            (Needs::Read, Some(b)) => key
                .grants
                .iter()
                .any(|g| g.covers(b, object.as_deref()) && g.access.reads()),
            (Needs::Write, Some(b)) => key
                .grants
                .iter()
                .any(|g| g.covers(b, object.as_deref()) && g.access.writes()),
            (Needs::AdminWrite, Some(b)) => key.grants.iter().any(|g| g.covers(b, None) && g.access.admin_writes()),
        };
        if allowed {
            Ok(())
        } else {
            Err(s3_error!(AccessDenied, "Access Denied"))
        }
    }
}

#[derive(Clone)]
struct Store(Arc<Shared>);

fn no_such_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist.")
}

async fn read_body(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
            out.extend_from_slice(&chunk);
        }
    }
    Ok(Bytes::from(out))
}

#[async_trait::async_trait]
impl S3 for Store {
    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let st = self.0.lock();
        // Garage lists only the buckets the key has a grant on.
        let key = req.credentials.as_ref().and_then(|c| st.keys.get(&c.access_key));
        let visible = |name: &str| {
            !st.garage || key.is_some_and(|k| k.grants.iter().any(|g| g.bucket.is_none() || g.covers(name, None)))
        };
        let buckets = st
            .buckets
            .keys()
            .filter(|name| visible(name))
            .map(|name| dto::Bucket {
                name: Some(name.clone()),
                creation_date: Some(SystemTime::now().into()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(dto::ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let mut st = self.0.lock();
        if st.buckets.contains_key(&req.input.bucket) {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        st.buckets.insert(req.input.bucket.clone(), BTreeMap::new());
        Ok(S3Response::new(dto::CreateBucketOutput::default()))
    }

    async fn head_bucket(&self, req: S3Request<dto::HeadBucketInput>) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        if !self.0.lock().buckets.contains_key(&req.input.bucket) {
            return Err(no_such_bucket());
        }
        Ok(S3Response::new(dto::HeadBucketOutput {
            bucket_region: Some("auto".into()),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let st = self.0.lock();
        let bucket = st.buckets.get(&req.input.bucket).ok_or_else(no_such_bucket)?;
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let max = req.input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let after = req
            .input
            .continuation_token
            .clone()
            .or_else(|| req.input.start_after.clone())
            .unwrap_or_default();
        let matching: Vec<(&String, &StoredObject)> = bucket
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix) && (after.is_empty() || k.as_str() > after.as_str()))
            .collect();
        let page: Vec<_> = matching.iter().take(max).collect();
        let truncated = matching.len() > page.len();
        let contents: Vec<dto::Object> = page
            .iter()
            .map(|(k, o)| dto::Object {
                key: Some((*k).clone()),
                size: Some(o.data.len() as i64),
                e_tag: Some(ETag::Strong(o.etag.clone())),
                last_modified: Some(o.last_modified.into()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(dto::ListObjectsV2Output {
            name: Some(req.input.bucket.clone()),
            prefix: Some(prefix),
            max_keys: Some(max as i32),
            key_count: Some(contents.len() as i32),
            is_truncated: Some(truncated),
            next_continuation_token: if truncated {
                page.last().map(|(k, _)| (*k).clone())
            } else {
                None
            },
            contents: Some(contents),
            ..Default::default()
        }))
    }

    async fn put_object(&self, req: S3Request<dto::PutObjectInput>) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let input = req.input;
        if !self.0.lock().buckets.contains_key(&input.bucket) {
            return Err(no_such_bucket());
        }
        let data = read_body(input.body).await?;
        let object = stored(data);
        let etag = object.etag.clone();
        let mut st = self.0.lock();
        let bucket = st.buckets.get_mut(&input.bucket).ok_or_else(no_such_bucket)?;
        if input.if_none_match.is_some() && bucket.contains_key(&input.key) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        bucket.insert(input.key, object);
        Ok(S3Response::new(dto::PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<dto::GetObjectInput>) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let st = self.0.lock();
        let bucket = st.buckets.get(&req.input.bucket).ok_or_else(no_such_bucket)?;
        let object = bucket
            .get(&req.input.key)
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))?;
        let data = object.data.clone();
        Ok(S3Response::new(dto::GetObjectOutput {
            content_length: Some(data.len() as i64),
            e_tag: Some(ETag::Strong(object.etag.clone())),
            last_modified: Some(object.last_modified.into()),
            body: Some(StreamingBlob::from(s3s::Body::from(data))),
            ..Default::default()
        }))
    }

    async fn head_object(&self, req: S3Request<dto::HeadObjectInput>) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let st = self.0.lock();
        let bucket = st.buckets.get(&req.input.bucket).ok_or_else(no_such_bucket)?;
        let object = bucket
            .get(&req.input.key)
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))?;
        Ok(S3Response::new(dto::HeadObjectOutput {
            content_length: Some(object.data.len() as i64),
            e_tag: Some(ETag::Strong(object.etag.clone())),
            last_modified: Some(object.last_modified.into()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let mut st = self.0.lock();
        let bucket = st.buckets.get_mut(&req.input.bucket).ok_or_else(no_such_bucket)?;
        bucket.remove(&req.input.key);
        Ok(S3Response::new(dto::DeleteObjectOutput::default()))
    }
}

/// The access key id in a SigV4 `Authorization` header.
fn access_key_of(request: &Request<Incoming>) -> Option<String> {
    let auth = request.headers().get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_string())
}

async fn dispatch(
    shared: Arc<Shared>,
    service: S3Service,
    request: Request<Incoming>,
) -> Result<Response<s3s::Body>, Infallible> {
    let (latency, offset, garage) = {
        let st = shared.lock();
        (st.latency, st.clock_offset, st.garage)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let access_key_id = access_key_of(&request);
    let mut response = match hyper::service::Service::call(&service, request).await {
        Ok(response) => response,
        Err(e) => {
            let mut response = Response::new(s3s::Body::from(format!("{e:?}")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    };
    if garage {
        response = like_garage(response, access_key_id.as_deref());
    }
    let now = if offset >= 0 {
        SystemTime::now() + Duration::from_secs(offset as u64)
    } else {
        SystemTime::now() - Duration::from_secs(offset.unsigned_abs())
    };
    if let Ok(date) = HeaderValue::from_str(&httpdate(now)) {
        response.headers_mut().insert("date", date);
    }
    shared.lock().log.push(S3LogEntry {
        method,
        path,
        query,
        access_key_id,
        status: response.status().as_u16(),
    });
    Ok(response)
}

/// Garage's answer to bad credentials in place of the SigV4 one: 403
/// AccessDenied, told apart only by the message.
fn like_garage(response: Response<s3s::Body>, access_key_id: Option<&str>) -> Response<s3s::Body> {
    let body = response.body().bytes().unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = if response.status() == StatusCode::UNAUTHORIZED {
        format!("Forbidden: No such key: {}", access_key_id.unwrap_or_default())
    } else if response.status() == StatusCode::FORBIDDEN && text.contains("<Code>SignatureDoesNotMatch</Code>") {
        "Forbidden: Invalid signature".to_string()
    } else {
        return response;
    };
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>{message}</Message>\
         <Resource></Resource><Region>garage</Region></Error>"
    );
    let mut garage = Response::new(s3s::Body::from(xml));
    *garage.status_mut() = StatusCode::FORBIDDEN;
    garage
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    garage
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {name} {year} {h:02}:{m:02}:{s:02} GMT")
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut builder = S3ServiceBuilder::new(Store(shared.clone()));
    builder.set_auth(Auth(shared.clone()));
    builder.set_access(Policy(shared.clone()));
    let service = builder.build();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let service = service.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| dispatch(shared.clone(), service.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// A running S3 server on `127.0.0.1:<random port>`. Dereferences to its
/// [`S3Handle`]; dropping it stops the server.
pub struct S3Standin {
    handle: S3Handle,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn shared(account_id: &str) -> Arc<Shared> {
    Arc::new(Shared {
        state: Mutex::new(State {
            buckets: BTreeMap::new(),
            keys: BTreeMap::new(),
            log: Vec::new(),
            latency: Duration::ZERO,
            clock_offset: 0,
            propagation_delay: Duration::ZERO,
            garage: false,
        }),
        account_id: account_id.to_string(),
        jurisdiction: "default".into(),
    })
}

impl S3Standin {
    /// Starts the server for the stand-in's default account
    /// ([`DEFAULT_ACCOUNT_ID`]) on a background thread; returns once it listens.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start() -> Self {
        Self::start_for(DEFAULT_ACCOUNT_ID)
    }

    /// Like [`S3Standin::start`], playing the account `account_id`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start_for(account_id: &str) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the S3 stand-in");
        std_listener.set_nonblocking(true).expect("set_nonblocking");
        let addr = std_listener.local_addr().expect("local_addr");
        let shared = shared(account_id);
        let (tx, rx) = watch::channel(false);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("s3-standin".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for the S3 stand-in");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("register listener");
                    serve(listener, thread_shared, rx).await;
                });
            })
            .expect("spawn the S3 stand-in thread");
        Self {
            handle: S3Handle { shared },
            addr,
            shutdown: tx,
            thread: Some(thread),
        }
    }

    /// Starts the server as a task on the current tokio runtime.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start_async() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = shared(DEFAULT_ACCOUNT_ID);
        let (tx, rx) = watch::channel(false);
        tokio::spawn(serve(listener, shared.clone(), rx));
        Self {
            handle: S3Handle { shared },
            addr,
            shutdown: tx,
            thread: None,
        }
    }

    /// `http://127.0.0.1:PORT`: the S3 endpoint (path-style).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A clonable handle to the state.
    pub fn handle(&self) -> S3Handle {
        self.handle.clone()
    }
}

impl Deref for S3Standin {
    type Target = S3Handle;

    fn deref(&self) -> &S3Handle {
        &self.handle
    }
}

impl Drop for S3Standin {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(httpdate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn policies_become_grants() {
        let account = "0123456789abcdef0123456789abcdef";
        let policies = vec![
            json!({"effect": "allow", "resources": {format!("com.cloudflare.edge.r2.bucket.{account}_default_photos"): "*"},
                   "permission_groups": [{"id": groups::R2_BUCKET_ITEM_READ}]}),
            json!({"effect": "allow", "resources": {format!("com.cloudflare.api.account.{account}"): {"com.cloudflare.edge.r2.bucket.*": "*"}},
                   "permission_groups": [{"id": groups::R2_STORAGE_READ}]}),
            json!({"effect": "allow", "resources": {format!("com.cloudflare.edge.r2.bucket.{account}_eu_other"): "*"},
                   "permission_groups": [{"id": groups::R2_BUCKET_ITEM_WRITE}]}),
            json!({"effect": "deny", "resources": {"com.cloudflare.api.account.*": "*"},
                   "permission_groups": [{"id": groups::R2_STORAGE_WRITE}]}),
        ];
        assert_eq!(
            grants_from_policies(&policies, account, "default"),
            vec![
                Grant::bucket("photos", Access::ObjectRead),
                Grant::account(Access::AdminRead)
            ]
        );
    }
}
