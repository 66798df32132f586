//! Where sesame keeps its files, from the environment it started with: the
//! config directory (global config, trust store), the state directory
//! (ledgers, `as_file` secrets), and the config files of an invocation.

use std::path::{Path, PathBuf};

use crate::config::{Config, LoadOptions};
use crate::ledger::Ledger;
use crate::trust::TrustStore;
use crate::EnvSnapshot;

/// `$SESAME_CONFIG_DIR`, else `$XDG_CONFIG_HOME/sesame`, else `~/.config/sesame`.
pub fn config_dir(env: &EnvSnapshot) -> Option<PathBuf> {
    xdg_dir(env, "SESAME_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")
}

/// `$SESAME_STATE_DIR`, else `$XDG_STATE_HOME/sesame`, else `~/.local/state/sesame`.
pub fn state_dir(env: &EnvSnapshot) -> PathBuf {
    xdg_dir(env, "SESAME_STATE_DIR", "XDG_STATE_HOME", ".local/state")
        .unwrap_or_else(|| std::env::temp_dir().join("sesame-state"))
}

/// The user's trust store; `SESAME_TRUST_ALL=1` (or `true`, `yes`) trusts every file.
pub fn trust_store(env: &EnvSnapshot) -> TrustStore {
    let dir = config_dir(env).unwrap_or_else(|| std::env::temp_dir().join("sesame-config"));
    let trust_all = env
        .var("SESAME_TRUST_ALL")
        .is_some_and(|v| matches!(v, "1" | "true" | "yes"));
    TrustStore::new(dir.join("trusted.json"), trust_all)
}

/// What to load for an invocation in `cwd`: the file named with `--config`
/// or `SESAME_CONFIG` (`explicit`, told apart for error messages) or the
/// walk up from `cwd`, the global file, the profile and the trust store.
pub fn load_options(
    env: &EnvSnapshot,
    cwd: PathBuf,
    explicit: Option<PathBuf>,
    profile: Option<String>,
) -> LoadOptions {
    let explicit = explicit.map(|path| {
        let from_env = env.var("SESAME_CONFIG").is_some_and(|v| path == Path::new(v));
        (path, if from_env { "SESAME_CONFIG" } else { "--config" })
    });
    LoadOptions {
        cwd,
        explicit,
        global: config_dir(env).map(|d| d.join("config.toml")),
        profile,
        trust: Some(trust_store(env)),
    }
}

/// The lease ledger of the project `config` belongs to (its root, else its
/// nearest file, else the global ledger).
pub fn ledger(env: &EnvSnapshot, config: &Config) -> Ledger {
    let project = config
        .project_root
        .clone()
        .or_else(|| config.files.last().map(|f| f.path.clone()))
        .map_or_else(|| "global".to_string(), |p| p.display().to_string());
    Ledger::open(&state_dir(env), &project)
}

fn xdg_dir(env: &EnvSnapshot, own: &str, xdg: &str, home_relative: &str) -> Option<PathBuf> {
    let non_empty = |name: &str| env.var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty(own)
        .or_else(|| non_empty(xdg).map(|d| d.join("sesame")))
        .or_else(|| non_empty("HOME").map(|h| h.join(home_relative).join("sesame")))
}
