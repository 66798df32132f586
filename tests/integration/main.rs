//! End-to-end tests of the real `sesame` binary (one test binary, as
//! ripgrep does). Each test gets its own temporary project, HOME, config
//! and state directories, and a cleared environment.

mod support;

mod age_identity;
mod attacker;
mod canary;
mod cli;
mod cloudflare;
mod command_lease;
mod config_errors;
mod exec;
mod fnox_age;
mod fnox_corpus;
mod fnox_fields;
mod hostile;
mod json_contract;
mod lease_requests;
mod leases;
mod mask;
mod migration;
mod onepassword;
mod plan_agreement;
mod r2;
mod r2_moto;
mod record;
mod schema;
mod signals;
mod trust;
