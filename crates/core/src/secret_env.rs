//! Which resolved secrets reach the command's environment or `export`, and
//! in what form (fnox's `env` and `as_file` fields; docs/config.md).

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::Config;
use crate::secret_files::SecretFiles;
use crate::SecretValue;

/// The command's variables: secrets whose `env` allows `exec`, with
/// `as_file` ones replaced by the path of a private file under `state_dir`
/// (kept until the returned [`SecretFiles`] is dropped).
pub fn for_exec(
    config: &Config,
    state_dir: &Path,
    mut values: BTreeMap<String, SecretValue>,
) -> std::io::Result<(BTreeMap<String, SecretValue>, Option<SecretFiles>)> {
    values.retain(|name, _| config.secrets.get(name).is_none_or(|s| config.env_of(s).in_exec()));
    let as_file: Vec<(&str, &SecretValue)> = values
        .iter()
        .filter(|(name, _)| config.secrets.get(*name).is_some_and(|s| s.as_file))
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    if as_file.is_empty() {
        return Ok((values, None));
    }
    let (files, paths) = SecretFiles::write(state_dir, &as_file)?;
    values.extend(paths);
    Ok((values, Some(files)))
}

/// What `sesame export` prints: secrets with `env = true` (the default),
/// and the names of the `as_file` ones left out (a file that outlives the
/// export could not be cleaned up).
pub fn for_export(
    config: &Config,
    mut values: BTreeMap<String, SecretValue>,
) -> (BTreeMap<String, SecretValue>, Vec<String>) {
    let mut left_out = Vec::new();
    values.retain(|name, _| match config.secrets.get(name) {
        Some(secret) if secret.as_file && config.env_of(secret).in_export() => {
            left_out.push(name.clone());
            false
        }
        Some(secret) => config.env_of(secret).in_export(),
        None => true,
    });
    (values, left_out)
}
