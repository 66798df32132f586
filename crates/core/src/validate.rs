//! Checks that need no values: every profile's secrets, provider and lease
//! types, and the placeholder syntax of defaults and backend tables.
//! `sesame check` reports them (with the profile they belong to); `sesame
//! list` refuses a config that has any.

use crate::config::{self, Config, ConfigError, LoadOptions};
use crate::lease::{find_lease_type, lease_types};
use crate::placeholder::{expand_refs, substitute, ValueSource};
use crate::resolve::{unknown_type, validate_secrets};

/// One problem: which profile (None: the config as loaded) and what.
#[derive(Debug)]
pub struct Problem {
    /// `Some(name)` when it shows only with `-P name`.
    pub profile: Option<String>,
    /// The error, located.
    pub error: ConfigError,
}

/// The problems of `config` (loaded with `options`) and, when no profile
/// was chosen, of every profile its files define, each loaded on its own.
pub fn problems(config: &Config, options: &LoadOptions) -> Vec<Problem> {
    let mut found: Vec<Problem> = check_one(config)
        .into_iter()
        .map(|error| Problem { profile: None, error })
        .collect();
    if config.profile.is_some() {
        return found;
    }
    for name in profile_names(config) {
        let options = LoadOptions {
            profile: Some(name.clone()),
            ..options.clone()
        };
        let errors = match config::load(&options) {
            Ok(profiled) => check_one(&profiled),
            Err(error) => vec![error],
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
    found
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
