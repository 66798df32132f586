//! The merged configuration: what `[providers.*]`, `[secrets]` and
//! `[leases.*]` say once every file and the chosen profile are applied.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::source::{Location, SourceFile};
use crate::SecretValue;

/// What to do when a secret cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IfMissing {
    /// Fail: print why and run nothing (sesame's default).
    #[default]
    Error,
    /// Print a warning and go on without the variable.
    Warn,
    /// Go on without the variable, silently.
    Ignore,
}

/// Where an entry was written: which file, and its key path in that file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index into [`Config::files`].
    pub file: usize,
    /// Key path of the entry's table, e.g. `["leases", "cf"]`.
    pub path: Vec<String>,
}

impl Origin {
    /// The origin of a key below this entry.
    pub fn child(&self, key: &str) -> Origin {
        let mut path = self.path.clone();
        path.push(key.to_string());
        Origin { file: self.file, path }
    }

    /// `[leases.cf]`-style name of the table, for messages.
    pub fn table_name(&self) -> String {
        format!("[{}]", self.path.join("."))
    }
}

/// One entry of `[secrets]`.
#[derive(Debug, Clone)]
pub struct SecretSpec {
    /// The environment variable name.
    pub name: String,
    /// The provider's name; `None` means the default provider.
    pub provider: Option<String>,
    /// The reference the provider resolves (not itself a secret).
    pub value: Option<String>,
    /// Value used when the provider has none; may hold `${NAME}` references.
    pub default: Option<SecretValue>,
    /// Free text shown by `sesame list`.
    pub description: Option<String>,
    /// Policy when the secret cannot be resolved; `None` inherits the top level.
    pub if_missing: Option<IfMissing>,
    /// Where it was written.
    pub origin: Origin,
}

/// One `[providers.NAME]` or `[leases.NAME]` table.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    /// The table's name (`op` in `[providers.op]`).
    pub name: String,
    /// The registered backend type (`type = "..."`).
    pub type_name: String,
    /// Every other field, as written (placeholders not yet filled).
    pub table: toml::Table,
    /// Where it was written.
    pub origin: Origin,
}

/// The whole configuration after merging files and the profile.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Every file read, lowest precedence first.
    pub files: Vec<SourceFile>,
    /// The profile in effect, if any.
    pub profile: Option<String>,
    /// `default_provider`.
    pub default_provider: Option<String>,
    /// Top-level `if_missing`.
    pub if_missing: Option<IfMissing>,
    /// `[providers.*]`.
    pub providers: BTreeMap<String, BackendSpec>,
    /// `[secrets]`.
    pub secrets: BTreeMap<String, SecretSpec>,
    /// `[leases.*]`.
    pub leases: BTreeMap<String, BackendSpec>,
    /// The nearest project file's directory (the project's identity for
    /// the lease ledger); `None` when only global or explicit files apply.
    pub project_root: Option<PathBuf>,
    /// `[exec]`: defaults of `sesame exec`.
    pub exec: super::exec::ExecSettings,
}

impl Config {
    /// `file:line:col` of an entry, or of a key path below it.
    pub fn locate(&self, origin: &Origin, below: &[String]) -> Location {
        let mut path = origin.path.clone();
        path.extend(below.iter().cloned());
        self.files[origin.file].locate(&path)
    }

    /// The provider a secret uses: its own, else `default_provider`, else
    /// the only provider there is.
    pub fn provider_of<'a>(&'a self, secret: &'a SecretSpec) -> Option<&'a str> {
        secret
            .provider
            .as_deref()
            .or(self.default_provider.as_deref())
            .or_else(|| match self.providers.len() {
                1 => self.providers.keys().next().map(String::as_str),
                _ => None,
            })
    }

    /// The `if_missing` policy of a secret.
    pub fn if_missing_of(&self, secret: &SecretSpec) -> IfMissing {
        secret.if_missing.or(self.if_missing).unwrap_or_default()
    }
}
