//! Building a run's lease backends from the config (no I/O).

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::backend::BackendContext;
use crate::config::{BackendSpec, Config, ConfigError};
use crate::duration::format_duration;
use crate::lease::{find_lease_type, lease_types, LeaseBackend};
use crate::ledger::hex;
use crate::resolve::{backend_config, unknown_type};

/// A cached lease is reused only while it has more than this left.
pub const REUSE_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A configured lease, ready to use.
#[derive(Clone)]
pub struct PreparedLease {
    /// Its config name.
    pub name: String,
    /// Its type.
    pub type_name: String,
    /// The backend instance.
    pub backend: Arc<dyn LeaseBackend>,
    /// Whether later runs may reuse it (`reuse`, default true).
    pub reuse: bool,
    /// Whether the command may keep the parent credentials this lease
    /// consumes (`keep_parent`, default false; see [`crate::parent_env`]).
    pub keep_parent: bool,
    /// Hash of config and parent credentials.
    pub fingerprint: String,
    /// The lifetime to ask for.
    pub duration: Duration,
}

/// Builds every configured lease's backend (no I/O) and checks durations.
pub fn prepare(config: &Config, ctx: &BackendContext) -> Result<Vec<PreparedLease>, ConfigError> {
    config
        .leases
        .values()
        .map(|spec| prepare_one(config, spec, ctx))
        .collect()
}

pub(crate) fn prepare_one(
    config: &Config,
    spec: &BackendSpec,
    ctx: &BackendContext,
) -> Result<PreparedLease, ConfigError> {
    let registration = find_lease_type(&spec.type_name).ok_or_else(|| {
        let known: Vec<&str> = lease_types().iter().map(|r| r.type_name).collect();
        unknown_type(config, spec, "lease", &known)
    })?;
    let mut spec = spec.clone();
    let reuse = take_flag(config, &mut spec, "reuse", true)?;
    // See [`crate::parent_env`].
    let keep_parent = take_flag(config, &mut spec, "keep_parent", false)?;
    let backend_cfg = backend_config(config, &spec, registration.trust_sensitive, &ctx.secrets, ctx)?;
    let backend = (registration.factory)(&backend_cfg, ctx)
        .map_err(|e| ConfigError::invalid(backend_cfg.name_sources(&e.message()), e.hint().map(str::to_string)))?;
    let duration = backend.duration();
    if duration > backend.max_duration() {
        return Err(ConfigError::at(
            config.locate(&spec.origin, &["duration".into()]),
            format!(
                "lease `{}` asks for {}, more than the {} backend allows ({})",
                spec.name,
                format_duration(duration),
                spec.type_name,
                format_duration(backend.max_duration())
            ),
            Some(format!(
                "set `duration` to at most \"{}\"",
                format_duration(backend.max_duration())
            )),
        ));
    }
    let mut hasher = Sha256::new();
    hasher.update(spec.type_name.as_bytes());
    hasher.update(toml::to_string(backend_cfg.table()).unwrap_or_default().as_bytes());
    for name in backend.consumes() {
        // Read without wrapping: a consumed name may hold no secret (an API
        // base URL), and a `SecretValue` would register it with the scrubber.
        let value = ctx
            .secrets
            .get(&name)
            .map(|v| v.expose())
            .filter(|v| !v.is_empty())
            .or_else(|| ctx.env.var(&name).filter(|v| !v.is_empty()));
        hasher.update(name.as_bytes());
        hasher.update(Sha256::digest(value.unwrap_or("").as_bytes()));
    }
    Ok(PreparedLease {
        name: spec.name.clone(),
        type_name: spec.type_name.clone(),
        backend: Arc::from(backend),
        reuse,
        keep_parent,
        fingerprint: hex(&hasher.finalize()),
        duration,
    })
}

/// Removes the core key `key` (`reuse`, `keep_parent`), a boolean, from a
/// lease table and returns it, or `default` when it is not set.
fn take_flag(config: &Config, spec: &mut BackendSpec, key: &str, default: bool) -> Result<bool, ConfigError> {
    match spec.table.remove(key) {
        None => Ok(default),
        Some(toml::Value::Boolean(b)) => Ok(b),
        Some(other) => Err(ConfigError::at(
            config.locate(&spec.origin, &[key.into()]),
            format!(
                "`{key}` in {} must be true or false, not {}",
                spec.origin.table_name(),
                other.type_str()
            ),
            None,
        )),
    }
}
