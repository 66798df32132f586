//! What every command needs: the environment snapshot, the loaded config,
//! the backend context and the ledger location.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use sesame_core::config::{self, Config, LoadOptions};
use sesame_core::leasing::RunLeases;
use sesame_core::ledger::Ledger;
use sesame_core::trust::TrustStore;
use sesame_core::{BackendContext, EnvSnapshot};

use crate::cli::GlobalArgs;

/// The state of one invocation.
pub struct App {
    /// The environment sesame started with.
    pub env: Arc<EnvSnapshot>,
    /// The merged configuration.
    pub config: Config,
    /// Per-operation timeout.
    pub timeout: std::time::Duration,
}

impl App {
    /// Reads the environment and loads the configuration.
    pub fn load(args: &GlobalArgs) -> Result<Self> {
        let env = Arc::new(EnvSnapshot::capture());
        let explicit = args.config.clone().map(|path| {
            let origin = if env
                .var("SESAME_CONFIG")
                .is_some_and(|v| path == std::path::Path::new(v))
            {
                "SESAME_CONFIG"
            } else {
                "--config"
            };
            (path, origin)
        });
        let options = LoadOptions {
            cwd: std::env::current_dir()?,
            explicit,
            global: config_dir(&env).map(|d| d.join("config.toml")),
            profile: args.profile.clone(),
            trust: Some(trust_store(&env)),
        };
        let config = config::load(&options)?;
        Ok(Self {
            env,
            config,
            timeout: args.timeout,
        })
    }

    /// A backend context with no secrets yet.
    pub fn context(&self) -> BackendContext {
        BackendContext::new(self.env.clone()).with_timeout(self.timeout)
    }

    /// The owner of this run's leases, in this project's ledger and the
    /// profile in effect; catching signals from now on when `catch_signals`.
    pub fn leases(&self, catch_signals: bool) -> Result<RunLeases> {
        let leases = RunLeases::new(self.ledger(), self.config.profile.as_deref());
        Ok(if catch_signals { leases.catch_signals()? } else { leases })
    }

    /// The lease ledger of this project.
    pub fn ledger(&self) -> Ledger {
        let project = self
            .config
            .project_root
            .clone()
            .or_else(|| self.config.files.last().map(|f| f.path.clone()))
            .map_or_else(|| "global".to_string(), |p| p.display().to_string());
        Ledger::open(&state_dir(&self.env), &project)
    }
}

/// `$SESAME_CONFIG_DIR`, else `$XDG_CONFIG_HOME/sesame`, else `~/.config/sesame`.
pub fn config_dir(env: &EnvSnapshot) -> Option<PathBuf> {
    xdg_dir(env, "SESAME_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")
}

/// The user's trust store; `SESAME_TRUST_ALL=1` (or `true`) trusts every file.
pub fn trust_store(env: &EnvSnapshot) -> TrustStore {
    let dir = config_dir(env).unwrap_or_else(|| std::env::temp_dir().join("sesame-config"));
    let trust_all = env
        .var("SESAME_TRUST_ALL")
        .is_some_and(|v| matches!(v, "1" | "true" | "yes"));
    TrustStore::new(dir.join("trusted.json"), trust_all)
}

/// `$SESAME_STATE_DIR`, else `$XDG_STATE_HOME/sesame`, else `~/.local/state/sesame`.
pub fn state_dir(env: &EnvSnapshot) -> PathBuf {
    xdg_dir(env, "SESAME_STATE_DIR", "XDG_STATE_HOME", ".local/state")
        .unwrap_or_else(|| std::env::temp_dir().join("sesame-state"))
}

fn xdg_dir(env: &EnvSnapshot, own: &str, xdg: &str, home_relative: &str) -> Option<PathBuf> {
    let non_empty = |name: &str| env.var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty(own)
        .or_else(|| non_empty(xdg).map(|d| d.join("sesame")))
        .or_else(|| non_empty("HOME").map(|h| h.join(home_relative).join("sesame")))
}
