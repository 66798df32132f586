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

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use std::collections::BTreeSet;

use crate::config::{BackendSpec, Config, ConfigError, SourceKind};
use crate::ledger::{hex, unix_now};
use crate::placeholder::{referenced_names, Substitution, ValueSource};
use crate::private_file;

pub use crate::config::TrustState;

/// One trusted file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Lowercase hex SHA-256 of the content trusted.
    pub sha256: String,
    /// Seconds since the epoch when trusted.
    pub trusted_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    files: Vec<TrustedFile>,
}

/// Trust store failures.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file system refused.
    #[error("trust store {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store is not readable; it is left as it is.
    #[error("trust store {} is unreadable ({message}); it was left as it is\n  hint: move it aside and trust your files again", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The user's trust store (`trusted.json` in sesame's config directory).
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
    trust_all: bool,
}

/// The SHA-256 of a file's content, as stored.
pub fn content_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

impl TrustStore {
    /// The store at `path`; `trust_all` (from `SESAME_TRUST_ALL`) trusts every file.
    pub fn new(path: PathBuf, trust_all: bool) -> Self {
        Self { path, trust_all }
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every trusted file.
    pub fn list(&self) -> Result<Vec<TrustedFile>, TrustError> {
        Ok(self.read()?.files)
    }

    /// The trust state of a file of this kind with this content.
    pub fn state(&self, path: &Path, kind: SourceKind, text: &str) -> Result<TrustState, TrustError> {
        if matches!(kind, SourceKind::Global | SourceKind::Explicit) {
            return Ok(TrustState::Own);
        }
        if self.trust_all {
            return Ok(TrustState::TrustAll);
        }
        // Hash only a file the store knows: most runs in an untrusted
        // checkout never need it.
        Ok(match self.read()?.files.iter().find(|f| f.path == path) {
            Some(f) if f.sha256 == content_hash(text) => TrustState::Trusted,
            Some(_) => TrustState::Changed,
            None => TrustState::Untrusted,
        })
    }

    /// Records `path` with its current content as trusted.
    pub fn trust(&self, path: &Path, text: &str) -> Result<(), TrustError> {
        let entry = TrustedFile {
            path: path.to_path_buf(),
            sha256: content_hash(text),
            trusted_at: unix_now(),
        };
        self.update(|files| {
            files.retain(|f| f.path != path);
            files.push(entry);
        })
    }

    /// Forgets `path`; returns whether it was trusted.
    pub fn revoke(&self, path: &Path) -> Result<bool, TrustError> {
        self.update(|files| {
            let before = files.len();
            files.retain(|f| f.path != path);
            before != files.len()
        })
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
        move |source| TrustError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<StoreFile, TrustError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoreFile::default()),
            Err(e) => return Err(self.io()(e)),
        };
        serde_json::from_str(&text).map_err(|e| TrustError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    fn update<R>(&self, change: impl FnOnce(&mut Vec<TrustedFile>) -> R) -> Result<R, TrustError> {
        let _lock = private_file::lock(&self.path.with_extension("lock")).map_err(self.io())?;
        let mut store = self.read()?;
        let result = change(&mut store.files);
        store.version = 1;
        store.files.sort_by(|a, b| a.path.cmp(&b.path));
        let json = serde_json::to_vec_pretty(&store).expect("store serializes");
        private_file::write_atomic(&self.path, &json).map_err(self.io())?;
        Ok(result)
    }
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
