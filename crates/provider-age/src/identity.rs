//! Where the age identity (the private key) comes from, in fnox's order,
//! with sesame-named variables first:
//!
//! 1. `SESAME_AGE_KEY`, then `FNOX_AGE_KEY`: the key itself (the
//!    `AGE-SECRET-KEY-1...` line or a whole identity file);
//! 2. `identity`: fnox's `{ provider = "NAME", value = "..." }` (the value
//!    another configured provider returns, resolved by core), or
//!    `{ secret = "NAME" }` (another configured secret);
//! 3. `key_file` in the provider table (relative to that config file);
//! 4. `SESAME_AGE_KEY_FILE`, then `FNOX_AGE_KEY_FILE`;
//! 5. `age.txt` in sesame's config directory, then fnox's
//!    (`~/.config/fnox/age.txt`).
//!
//! Each source may hold an age identity file or an unencrypted SSH private
//! key (ed25519 or RSA).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use sesame_core::{BackendContext, ProviderRef, SecretSource, SecretValue};

/// `identity`: fnox's `{ provider = "NAME", value = "..." }`, or
/// `{ secret = "NAME" }` (or, not recommended, the key itself).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IdentitySource {
    /// The value configured provider `provider` returns for `value`
    /// (fnox's form, e.g. from the OS keychain or another `age` provider).
    Provider(ProviderRef),
    /// Another configured secret, or the key written in the config.
    Secret(SecretSource),
}

/// Where the identity was found, for messages (never its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable holding the key.
    Variable(&'static str),
    /// A configured secret.
    Secret(String),
    /// A configured provider (`identity = { provider = ... }`).
    Provider(String),
    /// A file.
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Variable(name) => write!(f, "${name}"),
            Origin::Secret(name) => write!(f, "secret `{name}`"),
            Origin::Provider(name) => write!(f, "provider `{name}`"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why no identity could be loaded. Names sources, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// No source is set.
    #[error("no age identity: none of $SESAME_AGE_KEY, $FNOX_AGE_KEY, `identity`, `key_file`, $SESAME_AGE_KEY_FILE, $FNOX_AGE_KEY_FILE is set, and {tried} does not exist")]
    Missing {
        /// The default files looked for.
        tried: String,
    },
    /// The file could not be read.
    #[error("cannot read the age identity file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error kind.
        reason: String,
    },
    /// The content is neither an age identity nor a usable SSH key.
    #[error("the age identity from {origin} is not an age identity (AGE-SECRET-KEY-1...) or an unencrypted SSH private key{detail}")]
    Invalid {
        /// Where it came from.
        origin: Origin,
        /// What the parser said, when it says something useful.
        detail: String,
    },
    /// `identity = { secret = ... }` names a secret with no value.
    #[error("`identity` names secret `{0}`, which has no value")]
    SecretMissing(String),
    /// `identity = { provider = ... }` could not be resolved.
    #[error("{reason}")]
    ProviderFailed {
        /// The provider named.
        provider: String,
        /// Why (core's message, naming the field and the provider).
        reason: String,
    },
}

/// The configured sources.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `identity`.
    pub identity: Option<IdentitySource>,
    /// `key_file`, already made absolute.
    pub key_file: Option<PathBuf>,
}

/// The identities to decrypt with, and where they came from.
pub type Loaded = (Vec<Box<dyn age::Identity + Send + Sync>>, Origin);

/// Finds the identity and parses it.
pub fn load(sources: &Sources, ctx: &BackendContext) -> Result<Loaded, IdentityError> {
    for name in ["SESAME_AGE_KEY", "FNOX_AGE_KEY"] {
        if let Some(key) = ctx.env.secret(name).filter(|k| !k.is_empty()) {
            return parse(&key, Origin::Variable(name));
        }
    }
    if let Some(IdentitySource::Provider(reference)) = &sources.identity {
        let key = ctx.provider_ref(reference).map_err(|e| IdentityError::ProviderFailed {
            provider: reference.provider.clone(),
            reason: e.to_string(),
        })?;
        return parse(&key, Origin::Provider(reference.provider.clone()));
    }
    if let Some(IdentitySource::Secret(source)) = &sources.identity {
        let origin = match source {
            SecretSource::Secret { secret } => Origin::Secret(secret.clone()),
            SecretSource::Literal(_) => Origin::Secret("identity (written in the config)".into()),
        };
        let key = ctx.source(source).map_err(|_| match source {
            SecretSource::Secret { secret } => IdentityError::SecretMissing(secret.clone()),
            SecretSource::Literal(_) => IdentityError::SecretMissing("identity".into()),
        })?;
        return parse(&key, origin);
    }
    if let Some(path) = &sources.key_file {
        return read_file(path);
    }
    for name in ["SESAME_AGE_KEY_FILE", "FNOX_AGE_KEY_FILE"] {
        if let Some(path) = ctx.env.var(name).filter(|p| !p.is_empty()) {
            return read_file(&expand_home(path, ctx));
        }
    }
    let defaults = default_files(ctx);
    match defaults.iter().find(|p| p.exists()) {
        Some(path) => read_file(path),
        None => Err(IdentityError::Missing {
            tried: defaults
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" or "),
        }),
    }
}

/// `age.txt` in sesame's config directory, then in fnox's.
fn default_files(ctx: &BackendContext) -> Vec<PathBuf> {
    let var = |name: &str| ctx.env.var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = var("HOME");
    let xdg = var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut files = Vec::new();
    if let Some(dir) = var("SESAME_CONFIG_DIR").or_else(|| xdg.as_ref().map(|x| x.join("sesame"))) {
        files.push(dir.join("age.txt"));
    }
    if let Some(dir) = var("FNOX_CONFIG_DIR").or_else(|| xdg.as_ref().map(|x| x.join("fnox"))) {
        files.push(dir.join("age.txt"));
    }
    files
}

/// `~/x` is `$HOME/x`; anything else is unchanged.
pub fn expand_home(path: &str, ctx: &BackendContext) -> PathBuf {
    match (path.strip_prefix("~/"), ctx.env.var("HOME")) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn read_file(path: &Path) -> Result<Loaded, IdentityError> {
    let text = std::fs::read_to_string(path).map_err(|e| IdentityError::Unreadable {
        path: path.to_path_buf(),
        reason: e.kind().to_string(),
    })?;
    parse(&SecretValue::new(text), Origin::File(path.to_path_buf()))
}

/// An SSH private key if it is one, else an age identity file.
fn parse(key: &SecretValue, origin: Origin) -> Result<Loaded, IdentityError> {
    let text = key.expose();
    let filename = match &origin {
        Origin::File(path) => Some(path.display().to_string()),
        _ => None,
    };
    if text.contains("PRIVATE KEY-----") {
        let invalid = |detail: &str| IdentityError::Invalid {
            origin: origin.clone(),
            detail: format!(": {detail}"),
        };
        return match age::ssh::Identity::from_buffer(text.as_bytes(), filename) {
            Ok(age::ssh::Identity::Unencrypted(key)) => {
                Ok((vec![Box::new(age::ssh::Identity::Unencrypted(key))], origin))
            }
            Ok(age::ssh::Identity::Encrypted(_)) => Err(invalid(
                "passphrase-protected SSH keys are not supported (fnox does not support them either)",
            )),
            Ok(age::ssh::Identity::Unsupported(_)) => Err(invalid("this SSH key type is not supported by age")),
            Err(_) => Err(invalid("the SSH key does not parse")),
        };
    }
    let invalid = || IdentityError::Invalid {
        origin: origin.clone(),
        detail: String::new(),
    };
    let identities = age::IdentityFile::from_buffer(text.as_bytes())
        .map_err(|_| invalid())?
        .into_identities()
        .map_err(|_| invalid())?;
    if identities.is_empty() {
        return Err(invalid());
    }
    Ok((identities, origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_core::EnvSnapshot;
    use std::sync::Arc;

    fn ctx(pairs: &[(&str, &str)]) -> BackendContext {
        BackendContext::new(Arc::new(EnvSnapshot::from_pairs(pairs.iter().copied())))
    }

    #[test]
    fn sesame_variable_wins_over_fnox_variable() {
        let ours = age::x25519::Identity::generate();
        let theirs = age::x25519::Identity::generate();
        let (ours_text, theirs_text) = (
            age::secrecy::ExposeSecret::expose_secret(&ours.to_string()).to_string(),
            age::secrecy::ExposeSecret::expose_secret(&theirs.to_string()).to_string(),
        );
        let env = ctx(&[("SESAME_AGE_KEY", &ours_text), ("FNOX_AGE_KEY", &theirs_text)]);
        let (_, origin) = load(&Sources::default(), &env).unwrap();
        assert_eq!(origin, Origin::Variable("SESAME_AGE_KEY"));
        let env = ctx(&[("FNOX_AGE_KEY", &theirs_text)]);
        assert_eq!(
            load(&Sources::default(), &env).unwrap().1,
            Origin::Variable("FNOX_AGE_KEY")
        );
    }

    #[test]
    fn nothing_configured_names_every_source_and_the_default_files() {
        let env = ctx(&[("HOME", "/nonexistent-home")]);
        let err = load(&Sources::default(), &env).err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains("$FNOX_AGE_KEY") && text.contains("/nonexistent-home/.config/fnox/age.txt"),
            "{text}"
        );
    }

    #[test]
    fn garbage_key_is_invalid_without_echoing_it() {
        let env = ctx(&[("SESAME_AGE_KEY", "AGE-SECRET-KEY-1CANARYNOTAKEY")]);
        let err = load(&Sources::default(), &env).err().unwrap();
        assert!(!err.to_string().contains("CANARY"), "{err}");
        assert!(err.to_string().contains("$SESAME_AGE_KEY"), "{err}");
    }
}
