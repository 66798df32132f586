//! sesame's core: configuration, secret resolution, the backend traits and
//! their registries, the lease ledger, and running the command.
//!
//! This crate knows no backend by name. Providers and lease backends live
//! in their own crates and register themselves with `inventory::submit!`
//! ([`ProviderRegistration`], [`LeaseRegistration`]); the binary links them.
//! It never prints: it returns values and typed errors, and the binary
//! decides what the user sees.

pub mod backend;
pub mod check;
pub mod command;
pub mod config;
pub mod duration;
pub mod env;
pub mod env_format;
pub mod exec_options;
pub mod lease;
pub mod leasing;
pub mod ledger;
pub mod ledger_view;
pub mod listing;
pub mod locations;
pub mod mask;
pub mod masked_io;
pub mod parent_env;
pub mod placeholder;
pub mod private_file;
pub mod process;
pub mod provider;
pub mod provider_ref;
pub mod pty;
pub mod record;
pub mod resolve;
pub mod run_cache;
pub mod schema;
pub mod scrub;
pub mod secret;
pub mod secret_env;
pub mod secret_fields;
pub mod secret_files;
pub mod set_secret;
pub mod trust;
pub mod validate;

pub use backend::{BackendConfig, BackendContext, BackendError, SecretSource};
pub use env::EnvSnapshot;
pub use lease::{LeaseBackend, LeaseGrant, LeaseRegistration, LeaseRequest, Provision, RemoteCleanup, RevokeRequest};
pub use provider::{Provider, ProviderRegistration, SecretRequest};
pub use provider_ref::ProviderRef;
pub use secret::SecretValue;

/// Re-exported so backend crates use the same `inventory` and `async_trait`.
pub use async_trait::async_trait;
pub use inventory;
