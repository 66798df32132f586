//! What every backend receives: its config table with located errors,
//! references to other secrets, and the context it runs in.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::config::{explain_serde_message, Config, ConfigError, Origin};
use crate::run_cache::RunCache;
use crate::{EnvSnapshot, SecretValue};

/// Maps a key path below a table to `file:line:col`.
type Locator = dyn Fn(&[String]) -> String + Send + Sync;

/// A backend's `[providers.NAME]` or `[leases.NAME]` table, ready to parse.
///
/// `{field}` placeholders are filled and `${NAME}` references expanded; the
/// table may therefore contain secret values, so its `Debug` shows none.
pub struct BackendConfig {
    name: String,
    type_name: String,
    label: String,
    table: toml::Table,
    locate: Box<Locator>,
    /// Substituted values and the placeholder that put each there, for
    /// [`BackendConfig::name_sources`].
    sources: Vec<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl BackendConfig {
    /// Wraps a table. `label` names it in messages (`[leases.cf]`);
    /// `locate` maps a key path below it to `file:line:col`.
    pub fn new(
        name: impl Into<String>,
        type_name: impl Into<String>,
        label: impl Into<String>,
        table: toml::Table,
        locate: impl Fn(&[String]) -> String + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            type_name: type_name.into(),
            label: label.into(),
            table,
            locate: Box::new(locate),
            sources: Vec::new(),
            dir: None,
        }
    }

    /// Records the substitutions that produced the table, so messages name
    /// a substituted value by its placeholder instead of showing it.
    pub(crate) fn with_substitutions(mut self, made: &[crate::placeholder::Substitution]) -> Self {
        for s in made {
            // `{field}` copies literal text of the same file, which may be shown.
            if matches!(s.source, crate::placeholder::ValueSource::Field(_)) || s.value.is_empty() {
                continue;
            }
            let debug = format!("{:?}", s.value);
            self.sources
                .push((debug[1..debug.len() - 1].to_string(), s.placeholder.clone()));
            self.sources.push((s.value.clone(), s.placeholder.clone()));
        }
        self
    }

    /// `text` with every value that came from a `${NAME}` placeholder
    /// replaced by that placeholder: a message shows a field's value only
    /// when it is literal text of the file.
    pub fn name_sources(&self, text: &str) -> String {
        if self.sources.is_empty() {
            return text.to_string();
        }
        let matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(self.sources.iter().map(|(v, _)| v))
            .expect("literal patterns build");
        let names: Vec<&str> = self.sources.iter().map(|(_, p)| p.as_str()).collect();
        matcher.replace_all(text, &names)
    }

    /// A config for tests: errors point nowhere in particular.
    pub fn for_test(name: &str, type_name: &str, toml_text: &str) -> Self {
        let table = toml::from_str(toml_text).expect("test config is valid TOML");
        Self::new(name, type_name, format!("[{name}]"), table, |path: &[String]| {
            format!("<test>:{}", path.join("."))
        })
    }

    /// Builds the config of a configured backend, locating errors in its file.
    pub(crate) fn from_config(
        config: &Config,
        origin: &Origin,
        name: &str,
        type_name: &str,
        table: toml::Table,
    ) -> Self {
        let file = config.files[origin.file].clone();
        let base = origin.path.clone();
        let dir = file.path.parent().map(std::path::Path::to_path_buf);
        let mut built = Self::new(
            name,
            type_name,
            origin.table_name(),
            table,
            move |below: &[String]| {
                let mut path = base.clone();
                path.extend(below.iter().cloned());
                file.locate(&path).to_string()
            },
        );
        built.dir = dir;
        built
    }

    /// The directory of the file the table was written in, against which
    /// relative paths in it are read; `None` in tests.
    pub fn config_dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }

    /// The table's name (`cf` in `[leases.cf]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The backend type.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The raw table (without `type`).
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// Deserializes the table into the backend's config struct. Errors name
    /// the file, line and column of the offending key and suggest fixes.
    /// Use `#[serde(deny_unknown_fields)]` on `T` so typos are caught.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, BackendError> {
        let value = toml::Value::Table(self.table.clone());
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let path: Vec<String> = e
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    _ => None,
                })
                .collect();
            let (message, hint) = explain_serde_message(&e.inner().to_string());
            let key = path.join(".");
            let message = if key.is_empty() || message.contains(&format!("`{key}`")) {
                format!("{}: {message}", self.label)
            } else {
                format!("{} `{key}`: {message}", self.label)
            };
            BackendError::Config {
                at: (self.locate)(&path),
                message: self.name_sources(&message),
                hint: hint.map(|h| self.name_sources(&h)),
            }
        })
    }

    /// A config error at `path` below this table.
    pub fn error_at(&self, path: &[&str], message: impl Into<String>, hint: Option<String>) -> BackendError {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        BackendError::Config {
            at: (self.locate)(&path),
            message: self.name_sources(&message.into()),
            hint: hint.map(|h| self.name_sources(&h)),
        }
    }

    /// `[leases.cf]`-style name of the table, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendConfig")
            .field("name", &self.name)
            .field("type", &self.type_name)
            .finish_non_exhaustive()
    }
}

/// A config field that holds a credential: either a reference to another
/// secret (`token = { secret = "OP_TOKEN" }`, resolved first) or, not
/// recommended, the value itself.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// `{ secret = "NAME" }`: the value of another configured secret.
    Secret {
        /// The secret's name.
        secret: String,
    },
    /// A literal written in the file. It is registered with the scrubber
    /// when it is used as a credential ([`BackendContext::source`]), not
    /// when it is read: the same form names non-secret things too (a
    /// 1Password vault).
    Literal(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret { secret } => f.debug_struct("Secret").field("secret", secret).finish(),
            Self::Literal(_) => f.write_str("Literal(<redacted>)"),
        }
    }
}

/// Errors a backend reports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// Its configuration is wrong.
    #[error("{at}: {message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Config {
        /// `file:line:col`.
        at: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The thing asked for does not exist (a missing variable, item, field).
    #[error("{message}")]
    NotFound {
        /// What is missing, naming the secret and reference.
        message: String,
    },
    /// Anything else: unreachable service, denied, timeout, bad answer.
    #[error("{message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Failed {
        /// What happened.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
}

/// An error and its causes on one line, `outer: cause: root`, leaving out a
/// cause whose text an outer one already says (HTTP clients often repeat
/// themselves). For backends turning library errors into messages.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

impl BackendError {
    /// What went wrong, without the hint (with `file:line:col` for a
    /// config error).
    pub fn message(&self) -> String {
        match self {
            Self::Config { at, message, .. } => format!("{at}: {message}"),
            Self::NotFound { message } | Self::Failed { message, .. } => message.clone(),
        }
    }

    /// How to fix it, if the backend knows.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::Config { hint, .. } | Self::Failed { hint, .. } => hint.as_deref(),
            Self::NotFound { .. } => None,
        }
    }

    /// The same error with `f` applied to its message and hint (to name a
    /// substituted value by its source instead of showing it).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> Self {
        match self {
            Self::Config { at, message, hint } => Self::Config {
                at,
                message: f(&message),
                hint: hint.map(|h| f(&h)),
            },
            Self::NotFound { message } => Self::NotFound { message: f(&message) },
            Self::Failed { message, hint } => Self::Failed {
                message: f(&message),
                hint: hint.map(|h| f(&h)),
            },
        }
    }

    /// A failure with a hint.
    pub fn failed(message: impl Into<String>, hint: Option<String>) -> Self {
        Self::Failed {
            message: message.into(),
            hint,
        }
    }

    /// Something that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            message: message.into(),
        }
    }
}

impl From<ConfigError> for BackendError {
    fn from(e: ConfigError) -> Self {
        Self::failed(e.to_string(), None)
    }
}

/// What a backend may use while it works. Nothing else: a backend never
/// reads or writes the process environment.
#[derive(Clone)]
pub struct BackendContext {
    /// sesame's environment, read once at start-up.
    pub env: Arc<EnvSnapshot>,
    /// Secrets resolved so far: for a provider, those of earlier waves
    /// (including every one its fields reference); for a lease, all of them.
    pub secrets: Arc<BTreeMap<String, SecretValue>>,
    /// How long one remote operation may take.
    pub timeout: Duration,
    /// The HTTP client, built on first use so runs without networked
    /// backends never pay for it; shared by every backend of a run.
    http: Arc<OnceLock<reqwest::Client>>,
    /// Answers shared by the backends of a run (see [`RunCache`]).
    cache: Arc<RunCache>,
    /// The provider references of this provider's table, resolved
    /// ([`crate::provider_ref`]).
    refs: Arc<Resolved>,
}

impl BackendContext {
    /// A context with the given environment and no secrets.
    pub fn new(env: Arc<EnvSnapshot>) -> Self {
        Self {
            env,
            secrets: Arc::default(),
            timeout: Duration::from_secs(30),
            http: Arc::default(),
            cache: Arc::default(),
            refs: Arc::default(),
        }
    }

    /// The same context with these provider references resolved.
    pub fn with_provider_refs(&self, refs: Arc<Resolved>) -> Self {
        Self { refs, ..self.clone() }
    }

    /// The value of a provider reference in this provider's table
    /// (`{ provider = "NAME", value = "..." }`), resolved by core before
    /// the provider was asked; its error if that failed.
    pub fn provider_ref(&self, reference: &ProviderRef) -> Result<SecretValue, BackendError> {
        self.refs.get(reference).cloned().unwrap_or_else(|| {
            Err(BackendError::failed(
                format!(
                    "the reference to provider `{}` was not resolved for this provider",
                    reference.provider
                ),
                None,
            ))
        })
    }

    /// The same context with these secrets visible.
    pub fn with_secrets(&self, secrets: Arc<BTreeMap<String, SecretValue>>) -> Self {
        Self {
            secrets,
            ..self.clone()
        }
    }

    /// The same context with another timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The run's HTTP client (rustls, `timeout` per request, sesame's
    /// user agent). Proxies come from the snapshot's `HTTPS_PROXY`,
    /// `HTTP_PROXY` and `NO_PROXY`, not from the process environment.
    pub fn http(&self) -> Result<reqwest::Client, BackendError> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")));
        let no_proxy = reqwest::NoProxy::from_string(
            self.env
                .var("NO_PROXY")
                .or_else(|| self.env.var("no_proxy"))
                .unwrap_or_default(),
        );
        for (names, scheme_all) in [
            (["HTTPS_PROXY", "https_proxy"], false),
            (["HTTP_PROXY", "http_proxy"], true),
        ] {
            if let Some(url) = names.iter().find_map(|n| self.env.var(n)).filter(|u| !u.is_empty()) {
                let proxy = if scheme_all {
                    reqwest::Proxy::http(url)
                } else {
                    reqwest::Proxy::https(url)
                };
                let proxy = proxy
                    .map_err(|e| BackendError::failed(format!("invalid proxy URL in the environment: {e}"), None))?;
                builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
            }
        }
        let client = builder
            .build()
            .map_err(|e| BackendError::failed(format!("cannot set up HTTPS: {e}"), None))?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    /// The run's cache: what one backend learnt that another may reuse
    /// (e.g. a parent credential's verification, which several leases
    /// minting from it need). Shared by every context cloned from this one.
    pub fn cache(&self) -> &RunCache {
        &self.cache
    }

    /// The value of a [`SecretSource`].
    pub fn source(&self, source: &SecretSource) -> Result<SecretValue, BackendError> {
        match source {
            SecretSource::Literal(value) => Ok(SecretValue::new(value.clone())),
            SecretSource::Secret { secret } => self.secrets.get(secret).cloned().ok_or_else(|| {
                BackendError::not_found(format!(
                    "secret `{secret}` (referenced by a backend field) has no value"
                ))
            }),
        }
    }

    /// A credential from resolved secrets first, then the environment, trying
    /// each name in order (e.g. `CLOUDFLARE_API_TOKEN`, then `CF_API_TOKEN`).
    pub fn credential(&self, names: &[&str]) -> Option<(String, SecretValue)> {
        names.iter().find_map(|name| {
            self.secrets
                .get(*name)
                .filter(|v| !v.is_empty())
                .cloned()
                .or_else(|| self.env.secret(name).filter(|v| !v.is_empty()))
                .map(|v| (name.to_string(), v))
        })
    }
}

impl fmt::Debug for BackendContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendContext")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Names of the secrets a table references through `{ secret = "NAME" }`
/// fields or `${NAME}` placeholders (only names in `known` count for the
/// latter, the rest are environment variables).
pub fn referenced_secrets(table: &toml::Table, known: &dyn Fn(&str) -> bool) -> Vec<String> {
    fn walk(value: &toml::Value, known: &dyn Fn(&str) -> bool, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) => out.extend(
                crate::placeholder::referenced_names(s)
                    .into_iter()
                    .filter(|n| known(n))
                    .map(str::to_string),
            ),
            toml::Value::Table(t) => {
                if let (1, Some(toml::Value::String(name))) = (t.len(), t.get("secret")) {
                    out.push(name.clone());
                }
                t.values().for_each(|v| walk(v, known, out));
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, known, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    table.values().for_each(|v| walk(v, known, &mut out));
    out.sort();
    out.dedup();
    out
}

/// `{ provider = "NAME", value = "REFERENCE" }`: what configured provider
/// `NAME` returns for `REFERENCE`. `Debug` hides the reference (for `plain`
/// it is the value itself).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderRef {
    /// The configured provider that holds the value.
    pub provider: String,
    /// What that provider looks up (its `value` in a secret).
    pub value: String,
}

impl fmt::Debug for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderRef")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// The resolved references of one provider's table ([`crate::provider_ref`]).
pub type Resolved = BTreeMap<ProviderRef, Result<SecretValue, BackendError>>;

#[cfg(test)]
mod error_chain_tests {
    use super::error_chain;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn causes_follow_on_one_line_without_repeats() {
        let root = Layer("connection refused", None);
        let middle = Layer("error sending request: connection refused", Some(Box::new(root)));
        let outer = Layer("dispatch failure", Some(Box::new(middle)));
        assert_eq!(
            error_chain(&outer),
            "dispatch failure: error sending request: connection refused"
        );
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}
