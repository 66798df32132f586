//! Checks that need no values: every profile's secrets, provider and lease
//! types, and the placeholder syntax of defaults and backend tables.
//! `sesame check` reports them (with the profile they belong to); `sesame
//! list` refuses a config that has any.

use anyhow::Result;
use sesame_core::config::{Config, ConfigError};
use sesame_core::lease::{find_lease_type, lease_types};
use sesame_core::placeholder::{expand_refs, substitute, ValueSource};
use sesame_core::resolve::{unknown_type, validate_secrets};

use crate::app::App;
use crate::cli::GlobalArgs;

/// One problem: which profile (None: the config as loaded) and what.
pub struct Problem {
    /// `Some(name)` when it shows only with `-P name`.
    pub profile: Option<String>,
    /// The error, located.
    pub error: ConfigError,
}

/// The problems of the loaded config and, when no profile was chosen, of
/// every profile the files define.
pub fn problems(global: &GlobalArgs, app: &App) -> Result<Vec<Problem>> {
    let mut found: Vec<Problem> = check_one(&app.config)
        .into_iter()
        .map(|error| Problem { profile: None, error })
        .collect();
    if app.config.profile.is_some() {
        return Ok(found);
    }
    for name in profile_names(&app.config) {
        let args = GlobalArgs {
            config: global.config.clone(),
            profile: Some(name.clone()),
            verbose: global.verbose,
            timeout: global.timeout,
        };
        let errors = match App::load(&args) {
            Ok(profiled) => check_one(&profiled.config),
            Err(e) => match e.downcast::<ConfigError>() {
                Ok(error) => vec![error],
                Err(other) => return Err(other),
            },
        };
        for error in errors {
            // The base config's own problems show once, without a profile.
            if !found.iter().any(|p| p.error.to_string() == error.to_string()) {
                found.push(Problem {
                    profile: Some(name.clone()),
                    error,
                });
            }
        }
    }
    Ok(found)
}

/// The `[profiles.*]` names of every file, sorted.
fn profile_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = config
        .files
        .iter()
        .filter_map(|f| toml::from_str::<toml::Table>(&f.text).ok())
        .filter_map(|t| t.get("profiles").and_then(toml::Value::as_table).cloned())
        .flat_map(|p| p.keys().cloned().collect::<Vec<_>>())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn check_one(config: &Config) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if let Err(e) = validate_secrets(config) {
        errors.push(e);
    }
    let known: Vec<&str> = lease_types().iter().map(|r| r.type_name).collect();
    for spec in config.leases.values() {
        if find_lease_type(&spec.type_name).is_none() {
            errors.push(unknown_type(config, spec, "lease", &known));
        }
    }
    // Placeholder syntax (an unclosed `${`), with every name answered.
    let any = |_: &str| Some(String::new());
    for secret in config.secrets.values() {
        if let Some(default) = &secret.default {
            if let Err(e) = expand_refs(default.expose(), &["default".into()], &any) {
                errors.push(ConfigError::at(
                    config.locate(&secret.origin, &["default".into()]),
                    format!("secret `{}`: {e}", secret.name),
                    None,
                ));
            }
        }
    }
    for spec in config.providers.values().chain(config.leases.values()) {
        let checked = substitute(&spec.table, &|name| {
            Some((String::new(), ValueSource::Env(name.to_string())))
        });
        if let Err(e) = checked {
            errors.push(ConfigError::at(
                config.locate(&spec.origin, &e.path),
                format!("{}: {e}", spec.origin.table_name()),
                None,
            ));
        }
    }
    errors
}
