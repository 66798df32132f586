//! The `command` lease: fnox's custom-command lease. Any credential system
//! becomes a lease without writing Rust: sesame runs `create_command`
//! before the command and `revoke_command` after (or at `lease revoke` /
//! `lease cleanup`), with the ledger, reuse and cleanup of every lease.
//!
//! ```toml
//! [leases.custom]
//! type = "command"
//! create_command = "./scripts/get-creds.sh"
//! revoke_command = "./scripts/revoke-creds.sh"   # optional
//! duration = "1h"
//! timeout = "30s"
//! ```
//!
//! `create_command` gets `FNOX_LEASE_DURATION` (seconds) and
//! `FNOX_LEASE_LABEL` (and `SESAME_LEASE_DURATION`, `SESAME_LEASE_LABEL`,
//! `SESAME_LEASE_NAME`) and prints
//! `{"credentials": {"NAME": "value"}, "expires_at": "RFC 3339", "lease_id": "..."}`.
//! `revoke_command` gets `FNOX_LEASE_ID` (and `SESAME_LEASE_ID`).

mod output;
mod run;

use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::Deserialize;
use sesame_core::duration::parse_duration;
use sesame_core::{
    async_trait, BackendConfig, BackendContext, BackendError, LeaseBackend, LeaseGrant, LeaseRegistration,
    LeaseRequest, RevokeRequest,
};

/// The longest lease (fnox's limit).
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// How long a command may run by default (fnox's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The lease length when `duration` is not set.
const DEFAULT_DURATION: Duration = Duration::from_secs(3600);

/// `[leases.NAME]` with `type = "command"` (fnox's fields).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// Shell command (run with `sh -c`) that mints the credentials and
    /// prints `{"credentials": {...}, "expires_at": "...", "lease_id": "..."}`.
    #[schemars(length(min = 1))]
    pub create_command: String,
    /// Shell command that revokes a lease; gets `FNOX_LEASE_ID`. Without
    /// it, leases cannot be revoked and expire by themselves.
    pub revoke_command: Option<String>,
    /// Lease lifetime, like `"1h"` or `"30m"` (default 1h, at most 24h).
    pub duration: Option<String>,
    /// How long each command may run, like `"30s"` (default 30s).
    pub timeout: Option<String>,
}

/// The `command` lease backend.
#[derive(Debug)]
pub struct CommandLease {
    name: String,
    create_command: String,
    revoke_command: Option<String>,
    duration: Duration,
    timeout: Duration,
}

impl CommandLease {
    /// Builds the backend from its config table (no I/O here).
    pub fn from_config(config: &BackendConfig, _ctx: &BackendContext) -> Result<Box<dyn LeaseBackend>, BackendError> {
        let parsed: CommandConfig = config.parse()?;
        if parsed.create_command.trim().is_empty() {
            return Err(config.error_at(
                &["create_command"],
                format!("{}: `create_command` is empty", config.label()),
                Some("write the shell command that prints the credentials as JSON".into()),
            ));
        }
        let parse = |key: &str, text: &Option<String>, default: Duration| match text {
            Some(text) => parse_duration(text).map_err(|e| config.error_at(&[key], e, None)),
            None => Ok(default),
        };
        Ok(Box::new(Self {
            name: config.name().to_string(),
            create_command: parsed.create_command.clone(),
            revoke_command: parsed.revoke_command.clone().filter(|c| !c.trim().is_empty()),
            duration: parse("duration", &parsed.duration, DEFAULT_DURATION)?,
            timeout: parse("timeout", &parsed.timeout, DEFAULT_TIMEOUT)?,
        }))
    }
}

#[async_trait]
impl LeaseBackend for CommandLease {
    fn max_duration(&self) -> Duration {
        MAX_DURATION
    }

    fn duration(&self) -> Duration {
        self.duration
    }

    /// Unknown until the command answers.
    fn produces(&self) -> Vec<String> {
        Vec::new()
    }

    fn consumes(&self) -> Vec<String> {
        Vec::new()
    }

    async fn create(&self, ctx: &BackendContext, request: &LeaseRequest) -> Result<LeaseGrant, BackendError> {
        let vars = run::create_vars(request.duration, &request.label, &self.name);
        let out = run::run(ctx, "create_command", &self.create_command, &vars, self.timeout).await?;
        let answer = output::parse(&out.stdout)?;
        let expires_at = answer
            .expires_at
            .unwrap_or_else(|| SystemTime::now() + request.duration);
        Ok(LeaseGrant {
            id: answer.lease_id.unwrap_or_else(|| request.label.clone()),
            expires_at,
            env: answer.credentials,
            revocable: self.revoke_command.is_some(),
            data: serde_json::Value::Null,
        })
    }

    async fn revoke(&self, ctx: &BackendContext, request: &RevokeRequest) -> Result<bool, BackendError> {
        let Some(command) = &self.revoke_command else {
            return Ok(true);
        };
        // Without an id (sesame died while minting) there is nothing to
        // name: keep the entry for `lease cleanup`.
        let Some(id) = &request.id else {
            return Ok(false);
        };
        let vars = run::revoke_vars(id, &request.label);
        run::run(ctx, "revoke_command", command, &vars, self.timeout).await?;
        Ok(true)
    }
}

inventory::submit! {
    LeaseRegistration {
        type_name: "command",
        description: "credentials from your own commands (fnox's custom-command lease)",
        // Both are programs sesame runs with your secrets in their environment.
        trust_sensitive: &["create_command", "revoke_command"],
        factory: CommandLease::from_config,
        schema: sesame_core::schema::table_schema::<CommandConfig>,
    }
}

#[cfg(test)]
mod tests;
