//! [`EnvSnapshot`]: sesame's environment, read once at start-up.
//!
//! Backends read variables only through a snapshot handed to them, so no
//! code in the libraries touches the process environment, and tests can
//! give each backend exactly the environment they mean.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::SecretValue;

/// An immutable copy of environment variables (valid UTF-8 ones).
#[derive(Clone, Default)]
pub struct EnvSnapshot {
    vars: Arc<BTreeMap<String, String>>,
}

impl EnvSnapshot {
    /// Reads the current process environment. Variables whose names say
    /// they hold a credential ([`crate::scrub::is_credential_name`]) are
    /// registered with the scrubber (which reads the names when it is
    /// first used).
    pub fn capture() -> Self {
        let vars: Arc<BTreeMap<String, String>> = Arc::new(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        );
        crate::scrub::register_credential_variables(vars.clone());
        Self { vars }
    }

    /// A snapshot of exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            vars: Arc::new(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()),
        }
    }

    /// A variable that holds no secret (a path, an account id, a flag).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A variable that may hold a secret, wrapped so it cannot be printed.
    pub fn secret(&self, name: &str) -> Option<SecretValue> {
        self.vars.get(name).map(SecretValue::new)
    }

    /// The names of every variable, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Every variable, by name, for handing the whole environment to a
    /// program sesame runs on a backend's behalf (`op`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True if the variable is set and not empty.
    pub fn is_set(&self, name: &str) -> bool {
        self.vars.get(name).is_some_and(|v| !v.is_empty())
    }
}

impl fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSnapshot")
            .field("vars", &self.vars.len())
            .finish_non_exhaustive()
    }
}
