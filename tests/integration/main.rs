//! End-to-end tests of the real `sesame` binary (one test binary, as
//! ripgrep does). Each test gets its own temporary project, HOME, config
//! and state directories, and a cleared environment.

mod support;

mod canary;
mod cli;
mod cloudflare;
mod config_errors;
mod exec;
mod json_contract;
mod lease_requests;
mod leases;
mod mask;
mod migration;
mod onepassword;
mod r2;
mod r2_moto;
mod record;
mod schema;
mod signals;
mod trust;
