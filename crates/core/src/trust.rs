//! Which project files the user trusts, the way `direnv allow` and
//! `mise trust` work.
//!
//! A `sesame.toml` in a cloned repository was written by someone else. It
//! may still name secrets and leases, but the fields a backend marks
//! trust-sensitive (where credentials go, what program runs, what is
//! minted) count only from files the user trusted: `sesame trust` records a
//! file's path and the SHA-256 of its content, so any edit makes it
//! untrusted again. The global config, a file named with `-c` or
//! `SESAME_CONFIG`, and environment variables are the user's own and always
//! trusted; `SESAME_TRUST_ALL=1` trusts everything (for CI containers).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::{BackendSpec, Config, ConfigError, SourceKind, LOCAL_FILE, PROJECT_FILE};
use crate::placeholder::{referenced_names, Substitution, ValueSource};

pub use crate::config::trust_store::{content_hash, TrustError, TrustStore, TrustedFile};
pub use crate::config::TrustState;

/// A file `sesame trust` was given does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{} does not exist", path.display())]
pub struct NoSuchFile {
    /// The file looked for.
    pub path: PathBuf,
    /// Why it could not be found.
    pub source: std::io::Error,
}

/// A file named to `sesame trust`, or the project file in a named
/// directory, made absolute.
pub fn target_file(path: &Path) -> Result<PathBuf, NoSuchFile> {
    let path = if path.is_dir() {
        path.join(PROJECT_FILE)
    } else {
        path.to_path_buf()
    };
    std::fs::canonicalize(&path).map_err(|source| NoSuchFile { path, source })
}

/// The project and local files of `config` that `sesame trust` with no
/// path trusts: those that apply in the directory it was loaded from.
pub fn project_files(config: &Config) -> Vec<PathBuf> {
    config
        .files
        .iter()
        .filter(|f| matches!(f.kind, SourceKind::Project | SourceKind::Local))
        .filter(|f| f.path.file_name().is_some_and(|n| n == PROJECT_FILE || n == LOCAL_FILE))
        .map(|f| f.path.clone())
        .collect()
}

/// Refuses trust-sensitive fields of a backend table that comes from a file
/// the user has not trusted.
pub fn check_backend(config: &Config, spec: &BackendSpec, sensitive: &[&str]) -> Result<(), ConfigError> {
    let file = &config.files[spec.origin.file];
    if file.trust.allows_sensitive() {
        return Ok(());
    }
    let Some(field) = sensitive.iter().find(|f| spec.table.contains_key(**f)) else {
        return Ok(());
    };
    let shown = crate::config::display_path(&file.path);
    let why = match file.trust {
        TrustState::Changed => "changed since you trusted it",
        _ => "is not trusted",
    };
    Err(ConfigError::at(
        config.locate(&spec.origin, &[field.to_string()]),
        format!(
            "`{field}` in {} decides where credentials go or what is minted, and {} {why}",
            spec.origin.table_name(),
            shown.display()
        ),
        Some(format!(
            "review the file, then run `sesame trust {}`; or set `{field}` in your global config or an environment variable instead",
            shown.display()
        )),
    ))
}

/// The file that makes secret `name` untrusted, if any: the file that
/// defines it, the file that defines its provider, or (through `${NAME}` in
/// its `default`) the file of a secret it is made from. A name that is not
/// a configured secret is sesame's environment: the user's own.
pub fn untrusted_origin(config: &Config, name: &str) -> Option<usize> {
    fn walk(config: &Config, name: &str, seen: &mut BTreeSet<String>) -> Option<usize> {
        if !seen.insert(name.to_string()) {
            return None;
        }
        let spec = config.secrets.get(name)?;
        let allows = |file: usize| config.files[file].trust.allows_sensitive();
        if !allows(spec.origin.file) {
            return Some(spec.origin.file);
        }
        if spec.value.is_some() {
            if let Some(provider) = config.provider_of(spec).and_then(|p| config.providers.get(p)) {
                if !allows(provider.origin.file) {
                    return Some(provider.origin.file);
                }
            }
        }
        let default = spec.default.as_ref()?;
        referenced_names(default.expose())
            .into_iter()
            .find_map(|n| walk(config, n, seen))
    }
    walk(config, name, &mut BTreeSet::new())
}

/// The trust check on the final table a backend parses: every value of a
/// trust-sensitive field that was substituted from a secret (`${NAME}`), or
/// that names one (`{ secret = "NAME" }`), must come from trusted files,
/// whichever file holds the key.
pub fn check_sources(
    config: &Config,
    spec: &BackendSpec,
    sensitive: &[&str],
    table: &toml::Table,
    made: &[Substitution],
) -> Result<(), ConfigError> {
    let is_sensitive = |path: &[String]| path.first().is_some_and(|f| sensitive.contains(&f.as_str()));
    let mut uses: Vec<(Vec<String>, String, String)> = made
        .iter()
        .filter(|s| is_sensitive(&s.path))
        .filter_map(|s| match &s.source {
            ValueSource::Secret(name) => Some((s.path.clone(), format!("`{}`", s.placeholder), name.clone())),
            _ => None,
        })
        .collect();
    for field in sensitive {
        if let Some(value) = table.get(*field) {
            let mut names = Vec::new();
            secret_refs(value, &mut names);
            uses.extend(
                names
                    .into_iter()
                    .map(|n| (vec![field.to_string()], format!("`{{ secret = \"{n}\" }}`"), n)),
            );
        }
    }
    // `{ provider = "P", value = ... }`: provider P must come from a
    // trusted file too (its own sensitive fields are checked when it is built).
    for field in sensitive {
        let Some(value) = table.get(*field) else { continue };
        let holder = toml::Table::from_iter([(field.to_string(), value.clone())]);
        for (_, r) in crate::provider_ref::refs_in(&holder) {
            let Some(provider) = config.providers.get(&r.provider) else {
                continue;
            };
            let file = &config.files[provider.origin.file];
            if file.trust.allows_sensitive() {
                continue;
            }
            let shown = crate::config::display_path(&file.path);
            return Err(ConfigError::at(
                config.locate(&spec.origin, &[field.to_string()]),
                format!(
                    "`{field}` in {} takes its value from provider `{}`, which is defined in {}, and that file is not trusted",
                    spec.origin.table_name(),
                    r.provider,
                    shown.display()
                ),
                Some(format!(
                    "review {0}, then run `sesame trust {0}`; or define [providers.{1}] in your global config",
                    shown.display(),
                    r.provider
                )),
            ));
        }
    }
    for (path, how, name) in uses {
        let Some(file) = untrusted_origin(config, &name) else {
            continue;
        };
        let shown = crate::config::display_path(&config.files[file].path);
        let field = &path[0];
        return Err(ConfigError::at(
            config.locate(&spec.origin, std::slice::from_ref(field)),
            format!(
                "`{field}` in {} takes its value from {how}, and secret `{name}` comes from {}, which is not trusted",
                spec.origin.table_name(),
                shown.display()
            ),
            Some(format!(
                "review {0}, then run `sesame trust {0}`; or define `{name}` in your global config or the environment",
                shown.display()
            )),
        ));
    }
    Ok(())
}

fn secret_refs(value: &toml::Value, out: &mut Vec<String>) {
    match value {
        toml::Value::Table(t) => {
            if let Some(toml::Value::String(name)) = t.get("secret") {
                out.push(name.clone());
            }
            t.values().for_each(|v| secret_refs(v, out));
        }
        toml::Value::Array(items) => items.iter().for_each(|v| secret_refs(v, out)),
        _ => {}
    }
}

/// Variables that change how the command loads code or finds programs. An
/// untrusted project file may not set them as secrets (see
/// docs/security.md): sesame chose field-level trust, and these are the
/// "fields" of the command itself.
pub const CODE_LOADING_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "SHELL",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "IFS",
    "ZDOTDIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PERL5LIB",
    "PERL5OPT",
    "PERLLIB",
    "RUBYLIB",
    "RUBYOPT",
    "GEM_HOME",
    "GEM_PATH",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_EXEC_PATH",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_EDITOR",
    "GIT_PAGER",
    "GIT_DIR",
    "GIT_TEMPLATE_DIR",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "BROWSER",
    "LESSOPEN",
    "LESSCLOSE",
    "MANPAGER",
    "TMPDIR",
    "SESAME_S3_HELPER",
];

/// Whether `name` changes how the command loads code or finds programs:
/// [`CODE_LOADING_VARS`], and every `LD_*`, `DYLD_*` and `GIT_CONFIG*`.
pub fn is_code_loading_var(name: &str) -> bool {
    CODE_LOADING_VARS.contains(&name) || ["LD_", "DYLD_", "GIT_CONFIG"].iter().any(|p| name.starts_with(p))
}

/// Refuses a secret from an untrusted project file whose name changes how
/// the command loads code or finds programs (`LD_PRELOAD`, `PATH`, ...).
pub fn check_secret_names(config: &Config) -> Result<(), ConfigError> {
    for secret in config.secrets.values() {
        let file = &config.files[secret.origin.file];
        if file.trust.allows_sensitive() || !is_code_loading_var(&secret.name) {
            continue;
        }
        let shown = crate::config::display_path(&file.path);
        return Err(ConfigError::at(
            config.locate(&secret.origin, &[]),
            format!(
                "secret `{}` would change how the command loads code or finds programs, and {} is not trusted",
                secret.name,
                shown.display()
            ),
            Some(format!(
                "review {0}, then run `sesame trust {0}`; or define `{1}` in your global config",
                shown.display(),
                secret.name
            )),
        ));
    }
    Ok(())
}
