//! What `sesame list` and `sesame backends` show: names, providers,
//! descriptions and types, never values (docs/reference/json.md).

use serde::Serialize;

use crate::config::Config;
use crate::lease::lease_types;
use crate::provider::provider_types;

/// A configured secret.
#[derive(Debug, Clone, Serialize)]
pub struct SecretItem {
    /// Its name.
    pub name: String,
    /// The provider it resolves through; `None` when it only has a default.
    pub provider: Option<String>,
    /// Its description, when not empty.
    pub description: Option<String>,
}

/// A configured lease.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseItem {
    /// Its name.
    pub name: String,
    /// Its backend type.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A registered backend type.
#[derive(Debug, Clone, Serialize)]
pub struct BackendItem {
    /// `provider` or `lease`.
    pub kind: &'static str,
    /// The `type` it answers to.
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// One line about it.
    pub description: &'static str,
    /// The fields that count only from trusted files.
    pub trust_sensitive: &'static [&'static str],
}

/// The secrets of `config`, in name order.
pub fn secrets(config: &Config) -> Vec<SecretItem> {
    let items = config.secrets.values().map(|s| SecretItem {
        name: s.name.clone(),
        provider: s
            .value
            .is_some()
            .then(|| config.provider_of(s))
            .flatten()
            .map(str::to_string),
        description: s.description.clone().filter(|d| !d.is_empty()),
    });
    items.collect()
}

/// The leases of `config`, in name order.
pub fn leases(config: &Config) -> Vec<LeaseItem> {
    let items = config.leases.values().map(|l| LeaseItem {
        name: l.name.clone(),
        type_name: l.type_name.clone(),
    });
    items.collect()
}

/// Every provider type, then every lease type, this build registers.
pub fn backends() -> Vec<BackendItem> {
    let (providers, leases) = (provider_types(), lease_types());
    let providers = providers
        .iter()
        .map(|r| ("provider", r.type_name, r.description, r.trust_sensitive));
    let leases = leases
        .iter()
        .map(|r| ("lease", r.type_name, r.description, r.trust_sensitive));
    providers
        .chain(leases)
        .map(|(kind, type_name, description, trust_sensitive)| BackendItem {
            kind,
            type_name,
            description,
            trust_sensitive,
        })
        .collect()
}
