//! What every command needs: the environment snapshot, the loaded config,
//! the backend context and the ledger location (see `sesame_core::locations`).

use std::sync::Arc;

use anyhow::Result;
use sesame_core::config::{self, Config, LoadOptions};
use sesame_core::leasing::RunLeases;
use sesame_core::ledger::Ledger;
use sesame_core::{locations, BackendContext, EnvSnapshot};

use crate::cli::GlobalArgs;

/// The state of one invocation.
pub struct App {
    /// The environment sesame started with.
    pub env: Arc<EnvSnapshot>,
    /// Where the config came from (`sesame check` loads each profile with it).
    pub options: LoadOptions,
    /// The merged configuration.
    pub config: Config,
    /// Per-operation timeout.
    pub timeout: std::time::Duration,
}

impl App {
    /// Reads the environment and loads the configuration.
    pub fn load(args: &GlobalArgs) -> Result<Self> {
        let env = Arc::new(EnvSnapshot::capture());
        let cwd = std::env::current_dir()?;
        let options = locations::load_options(&env, cwd, args.config.clone(), args.profile.clone());
        let config = config::load(&options)?;
        Ok(Self {
            env,
            options,
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
        locations::ledger(&self.env, &self.config)
    }
}
