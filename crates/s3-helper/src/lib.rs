//! The S3 client behind R2 leases and `sesame r2 verify`, and the
//! `sesame-s3` helper executable that runs it.
//!
//! aws-sdk-s3 lives here, not in `sesame-lease-r2`, so that the `sesame`
//! binary does not link it: the SDK doubled the binary and added a
//! millisecond of start-up to every `sesame exec`, R2 or not
//! (docs/benchmarks.md). `sesame` starts `sesame-s3` when it needs S3 and
//! talks to it over a pipe ([`sesame_lease_r2::s3::protocol`]); [`Local`] is
//! the same client in-process, used by the helper and by tests.
//!
//! Client settings (docs/leases/r2.md, "What sesame relies on"): region
//! `auto`, path-style addressing, `request_checksum_calculation` and
//! `response_checksum_validation` set to `WhenRequired` (R2 rejects the
//! SDK's default CRC32 checksums in several ways), the connection's timeout
//! per attempt and per operation, standard retries with the connection's
//! attempts, static credentials. The HTTP stack is hyper 1 with rustls and
//! *ring*, with the system's root certificates; no proxy.

mod client;
mod serve;

pub use client::Local;
pub use serve::{main, serve};

#[cfg(test)]
mod tests;
