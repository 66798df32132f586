//! Which resolved secrets reach the command's environment or `export`, and
//! in what form (fnox's `env` and `as_file` fields; docs/config.md).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use sesame_core::secret_files::{self, SecretFiles};
use sesame_core::SecretValue;

use crate::app::{state_dir, App};

/// The command's variables: secrets whose `env` allows `exec`, with
/// `as_file` ones replaced by the path of a private file (kept until the
/// returned [`SecretFiles`] is dropped).
pub fn for_exec(
    app: &App,
    mut values: BTreeMap<String, SecretValue>,
) -> Result<(BTreeMap<String, SecretValue>, Option<SecretFiles>)> {
    let config = &app.config;
    values.retain(|name, _| config.secrets.get(name).is_none_or(|s| config.env_of(s).in_exec()));
    let as_file: Vec<(&str, &SecretValue)> = values
        .iter()
        .filter(|(name, _)| config.secrets.get(*name).is_some_and(|s| s.as_file))
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    if as_file.is_empty() {
        return Ok((values, None));
    }
    let (files, paths) = SecretFiles::write(&state_dir(&app.env), &as_file)
        .context("cannot write the `as_file` secrets to private files in the state directory")?;
    values.extend(paths);
    Ok((values, Some(files)))
}

/// What `sesame export` prints: secrets with `env = true` (the default).
/// `as_file` secrets are left out with a warning: a file that outlives the
/// export could not be cleaned up.
pub fn for_export(app: &App, mut values: BTreeMap<String, SecretValue>) -> BTreeMap<String, SecretValue> {
    let config = &app.config;
    values.retain(|name, _| match config.secrets.get(name) {
        Some(secret) if secret.as_file && config.env_of(secret).in_export() => {
            crate::output::warning(&format!(
                "secret `{name}` has `as_file = true`: left out of export (use `sesame exec`, which removes the file afterwards)"
            ));
            false
        }
        Some(secret) => config.env_of(secret).in_export(),
        None => true,
    });
    values
}

/// Removes secret files left by runs that were killed (SIGKILL).
pub fn sweep_files(app: &App) {
    match secret_files::sweep(&state_dir(&app.env)) {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "removed secret files left by killed runs"),
        Err(e) => tracing::warn!("cannot sweep old secret files: {e}"),
    }
}
