//! The `r2` lease: least-privilege S3 credentials for one Cloudflare R2
//! bucket, minted just before the command runs, proven to answer, and
//! revoked afterwards; and the engine behind `sesame r2 verify`.
//!
//! ```toml
//! [leases.src]
//! type = "r2"
//! account_id = "0123456789abcdef0123456789abcdef"
//! bucket = "photos"
//! access = "read"            # "read" = Object Read; "read-write" = Object Read & Write
//! jurisdiction = "default"   # or "eu", "fedramp"
//! duration = "6h"            # default 1h, at most 7 days
//! env_prefix = "SRC_"        # SRC_AWS_ACCESS_KEY_ID, ... (or `env = { AWS_ACCESS_KEY_ID = "..." }`)
//! # mode = "temporary"       # R2 temporary credentials (needs parent_access_key_id; prefixes)
//! # static = { access_key_id = { secret = "K" }, secret_access_key = { secret = "S" } }
//! ```
//!
//! - **token** mode (default): a token with the bucket-item permission
//!   group(s), looked up by name through `permission_groups`, on the resource
//!   `com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<bucket>`; the S3
//!   pair is derived from it (id, SHA-256 of the value). Revoked like any
//!   Cloudflare token. The Cloudflare API client is
//!   [`sesame_cloudflare_api`].
//! - **temporary** mode: `/accounts/{id}/r2/temp-access-credentials`; a
//!   session token; cannot be revoked one by one (`revocable = false`).
//! - **static**: credentials a user made by hand, from secrets; nothing is
//!   minted or revoked, but `sesame exec` injects them and `sesame r2 verify`
//!   checks them.
//!
//! After minting, the lease waits (bounded, with backoff) until the bucket
//! answers with the new credentials. The S3 client (aws-sdk-s3) is only
//! built then, or by `verify`: `sesame exec` without R2 leases never builds
//! one.
//!
//! Docs: `docs/leases/r2.md`, `docs/migration-preflight.md`.

mod command;
pub mod config;
mod lease;
pub mod s3;
pub mod temp;
pub mod verify;

pub use config::{AccessLevel, Jurisdiction, Mode, R2Settings, Source};
pub use lease::{derive_secret, verify_token, R2Lease, VerifiedToken};

use sesame_core::LeaseRegistration;

/// The fields that decide where credentials go or what is minted: where the
/// S3 requests and the parent token go (`endpoint`, `api_base`), what is
/// minted and on which bucket (`account_id`, `bucket`, `jurisdiction`,
/// `access`, `mode`, `token_type`, `parent_access_key_id`, `prefixes`), and
/// which secrets are handed to that endpoint (`static`).
pub const TRUST_SENSITIVE: &[&str] = &[
    "endpoint",
    "api_base",
    "account_id",
    "bucket",
    "jurisdiction",
    "access",
    "mode",
    "token_type",
    "parent_access_key_id",
    "prefixes",
    "static",
];

inventory::submit! {
    LeaseRegistration {
        type_name: "r2",
        description: "bucket-scoped Cloudflare R2 S3 credentials (API token or temporary credentials)",
        trust_sensitive: TRUST_SENSITIVE,
        factory: R2Lease::from_config,
        schema: sesame_core::schema::table_schema::<config::R2Table>,
    }
}

#[cfg(test)]
mod tests;
