//! The [`Provider`] trait and its registry.
//!
//! A provider turns references (`value = "..."` of a secret) into values.
//! Each provider crate registers a [`ProviderRegistration`] with
//! `inventory::submit!`; core looks types up by name and never knows any.

use async_trait::async_trait;

use crate::backend::{BackendConfig, BackendContext, BackendError};
use crate::SecretValue;

/// One secret a provider is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRequest {
    /// The secret's name (the environment variable), for messages.
    pub name: String,
    /// What the provider looks up (`value` in the config).
    pub reference: String,
}

/// A source of secret values.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Resolves one reference.
    async fn resolve(&self, ctx: &BackendContext, request: &SecretRequest) -> Result<SecretValue, BackendError>;

    /// Resolves every reference of one run in one call; the result has one
    /// entry per request, in order. The default resolves them all
    /// concurrently with [`Provider::resolve`]; providers that can batch
    /// (one process or request for many secrets) override it.
    async fn resolve_batch(
        &self,
        ctx: &BackendContext,
        requests: &[SecretRequest],
    ) -> Vec<Result<SecretValue, BackendError>> {
        futures_util::future::join_all(requests.iter().map(|r| self.resolve(ctx, r))).await
    }

    /// True when a reference is data rather than a name (an encrypted
    /// value, a literal): core then leaves it out of messages. Default false.
    fn reference_is_sensitive(&self) -> bool {
        false
    }

    /// The `value` to write in the config so that this provider resolves it
    /// to `plaintext` (`sesame set`): for an encrypting provider, the
    /// ciphertext. `Ok(None)`, the default, means the provider cannot store
    /// values.
    async fn encrypt(&self, _ctx: &BackendContext, _plaintext: &SecretValue) -> Result<Option<String>, BackendError> {
        Ok(None)
    }
}

/// Builds a provider from its config table. Called once per run, after the
/// secrets its fields reference are resolved; must not do I/O.
pub type ProviderFactory = fn(&BackendConfig, &BackendContext) -> Result<Box<dyn Provider>, BackendError>;

/// A provider type, registered with `inventory::submit!`.
pub struct ProviderRegistration {
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
    pub factory: ProviderFactory,
    /// The JSON Schema (draft-07) of its table without `type`, generated
    /// from the struct `factory` parses: usually
    /// `sesame_core::schema::table_schema::<ItsConfig>`. `sesame schema`
    /// puts every type's part together.
    pub schema: fn() -> serde_json::Value,
}

inventory::collect!(ProviderRegistration);

/// [`Provider::resolve`] for a provider whose real work is batched: one
/// request as a batch of one. Such a provider implements `resolve_batch`
/// and answers `resolve` with this, so a single `get` takes the same path
/// as a whole run.
pub async fn resolve_as_batch<P: Provider + ?Sized>(
    provider: &P,
    ctx: &BackendContext,
    request: &SecretRequest,
) -> Result<SecretValue, BackendError> {
    provider
        .resolve_batch(ctx, std::slice::from_ref(request))
        .await
        .pop()
        .expect("one result per request")
}

/// Every registered provider type, sorted by name.
pub fn provider_types() -> Vec<&'static ProviderRegistration> {
    let mut all: Vec<_> = inventory::iter::<ProviderRegistration>.into_iter().collect();
    all.sort_by_key(|r| r.type_name);
    all
}

/// The registration of a provider type.
pub fn find_provider_type(type_name: &str) -> Option<&'static ProviderRegistration> {
    inventory::iter::<ProviderRegistration>
        .into_iter()
        .find(|r| r.type_name == type_name)
}
