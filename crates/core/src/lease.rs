//! The [`LeaseBackend`] trait and its registry.
//!
//! A lease mints short-lived credentials just before the command runs and
//! revokes them afterwards. The lease ledger (see [`crate::ledger`]) records
//! each lease before its credentials reach anyone, so nothing minted is
//! ever forgotten.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::backend::{BackendConfig, BackendContext, BackendError};
use crate::SecretValue;

/// What core asks a backend to mint.
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    /// The lease's name in the config (`cf` in `[leases.cf]`).
    pub lease: String,
    /// A unique, human-readable label for the credential: it says sesame,
    /// the lease and the host, and lets orphans be found by name.
    pub label: String,
    /// How long the credential should live (already checked against
    /// [`LeaseBackend::max_duration`]).
    pub duration: Duration,
}

/// Credentials a backend minted.
#[derive(Debug, Clone)]
pub struct LeaseGrant {
    /// The backend's id for the credential (what `revoke` needs).
    pub id: String,
    /// When the credential stops working.
    pub expires_at: SystemTime,
    /// Variables for the child's environment.
    pub env: BTreeMap<String, SecretValue>,
    /// False when the backend cannot revoke this credential by itself.
    pub revocable: bool,
    /// Non-secret facts `revoke` needs later (kept in the ledger).
    pub data: serde_json::Value,
}

/// What the ledger remembers of a lease, handed back for revocation.
#[derive(Debug, Clone)]
pub struct RevokeRequest {
    /// The backend id from [`LeaseGrant::id`], if minting got that far.
    pub id: Option<String>,
    /// The label the credential was minted with.
    pub label: String,
    /// [`LeaseGrant::data`].
    pub data: serde_json::Value,
}

/// What [`LeaseBackend::cleanup_remote`] did.
#[derive(Debug, Clone, Default)]
pub struct RemoteCleanup {
    /// Where the backend looked, for the report (e.g. "user tokens").
    pub scope: String,
    /// How many credentials it examined.
    pub examined: usize,
    /// Labels of the expired credentials sesame had created, now deleted.
    pub deleted: Vec<String>,
    /// Credentials that could not be deleted, with the reason.
    pub failures: Vec<String>,
}

/// Where a lease's credentials come from, as `sesame check` reports it
/// before anything is minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provision {
    /// The backend mints new credentials at the service for each lease (the
    /// default), and revokes them when it can.
    Mint,
    /// The backend mints nothing: it hands on credentials that already exist
    /// (made by hand, say), read from these secrets or variables. Nothing is
    /// created at the service, and nothing is revoked.
    Static {
        /// The secrets (or variables) the credentials are read from, in the
        /// order the config names them; empty if they are written in the
        /// config itself.
        from: Vec<String>,
    },
}

/// A backend that mints and revokes short-lived credentials.
#[async_trait]
pub trait LeaseBackend: Send + Sync {
    /// The longest lifetime this backend allows.
    fn max_duration(&self) -> Duration;

    /// The lifetime the config asks for (`duration`), or the default.
    fn duration(&self) -> Duration;

    /// Environment variables the grant will set in the child.
    fn produces(&self) -> Vec<String>;

    /// Secrets or environment variables it reads (its parent credential).
    /// A change in their values makes a cached lease unusable.
    fn consumes(&self) -> Vec<String>;

    /// The variables (secrets or environment) holding the parent credential
    /// this lease mints from. sesame removes them, and any variable holding
    /// the same value, from the command's environment, so the command holds
    /// only the short-lived credential (unless `keep_parent = true`). Default:
    /// none, for backends that consume no parent credential.
    fn parent_credentials(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether [`LeaseBackend::create`] mints new credentials or hands on
    /// existing ones; decided from the config alone (no I/O). The default
    /// is [`Provision::Mint`].
    fn provision(&self) -> Provision {
        Provision::Mint
    }

    /// The backend as [`std::any::Any`], for its own crate's commands to
    /// reach its concrete type (`sesame r2 verify` reads the R2 lease's
    /// settings). `None` by default.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// Mints a credential.
    async fn create(&self, ctx: &BackendContext, request: &LeaseRequest) -> Result<LeaseGrant, BackendError>;

    /// Revokes a credential. Must succeed when it is already gone. When
    /// `request.id` is `None` (sesame died while minting), find it by label
    /// or return `Ok(false)` if that cannot be done; `Ok(true)` means
    /// revoked or gone.
    async fn revoke(&self, ctx: &BackendContext, request: &RevokeRequest) -> Result<bool, BackendError>;

    /// Lists the credentials at the service (not the ledger) and deletes the
    /// expired ones sesame created, recognised by their label (see
    /// [`crate::leasing::is_label`]); for services where expired credentials
    /// still count against a quota. `Ok(None)` when the backend cannot list
    /// its credentials (the default).
    async fn cleanup_remote(&self, _ctx: &BackendContext) -> Result<Option<RemoteCleanup>, BackendError> {
        Ok(None)
    }
}

/// Builds a lease backend from its config table; must not do I/O.
pub type LeaseFactory = fn(&BackendConfig, &BackendContext) -> Result<Box<dyn LeaseBackend>, BackendError>;

/// A lease type, registered with `inventory::submit!`.
pub struct LeaseRegistration {
    /// The `type = "..."` name.
    pub type_name: &'static str,
    /// One line for `sesame backends`.
    pub description: &'static str,
    /// Fields that decide where credentials go or what is minted (network
    /// destinations, programs to run, policies). A project file the user has
    /// not trusted may not set them; see docs/security.md. Every backend
    /// states this list, empty or not, so none can forget it.
    pub trust_sensitive: &'static [&'static str],
    /// Builds an instance.
    pub factory: LeaseFactory,
    /// The JSON Schema (draft-07) of its table without `type`, generated
    /// from the struct `factory` parses: usually
    /// `sesame_core::schema::table_schema::<ItsConfig>`. `sesame schema`
    /// puts every type's part together.
    pub schema: fn() -> serde_json::Value,
}

inventory::collect!(LeaseRegistration);

/// Every registered lease type, sorted by name.
pub fn lease_types() -> Vec<&'static LeaseRegistration> {
    let mut all: Vec<_> = inventory::iter::<LeaseRegistration>.into_iter().collect();
    all.sort_by_key(|r| r.type_name);
    all
}

/// The registration of a lease type.
pub fn find_lease_type(type_name: &str) -> Option<&'static LeaseRegistration> {
    inventory::iter::<LeaseRegistration>
        .into_iter()
        .find(|r| r.type_name == type_name)
}
