//! `sesame set NAME --provider P`: stores a value in the config through a
//! provider that can (fnox's `fnox set`). With `age`, the file gets the
//! ciphertext; the plaintext stays in memory. [`SetTarget::new`] checks
//! everything before the value is read; [`SetTarget::store`] writes it.

use std::path::PathBuf;

use crate::backend::{BackendContext, BackendError};
use crate::config::edit::{secret_line, upsert_secret, write_keeping_mode, EditError};
use crate::config::{display_path, Config, SourceKind, TrustState};
use crate::resolve::{self, ResolveError};
use crate::trust::{TrustError, TrustStore};
use crate::SecretValue;

/// Why a value could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// The name cannot be an environment variable.
    #[error("`{0}` is not a valid environment variable name")]
    InvalidName(String),
    /// No `--provider` and no `default_provider`.
    #[error("name the provider with --provider (e.g. `--provider age`)")]
    NoProvider,
    /// The provider has no table.
    #[error("provider `{0}` is not configured; add a [providers.{0}] table first")]
    UnknownProvider(String),
    /// No project or explicit file applies.
    #[error("no sesame.toml here to write to; create one or name it with -c")]
    NoFile,
    /// The provider's table, which decides who can read the value, is in
    /// a file the user has not trusted.
    #[error("{}: [providers.{provider}] decides who can read the value, and {} is not trusted\n  hint: review the file, then run `sesame trust {}`", file.display(), file.display(), file.display())]
    UntrustedProvider {
        /// The provider.
        provider: String,
        /// Its file, as shown.
        file: PathBuf,
    },
    /// The provider does not build from its table.
    #[error(transparent)]
    Provider(#[from] ResolveError),
    /// Encrypting failed.
    #[error("provider `{provider}`: {error}")]
    Encrypt {
        /// The provider.
        provider: String,
        /// What it said.
        error: BackendError,
    },
    /// The provider stores nothing (its values live at its service).
    #[error(
        "provider `{0}` cannot store values; put the value in its service and write `value = \"REFERENCE\"` by hand"
    )]
    CannotStore(String),
    /// The entry could not be written into the file's text.
    #[error("{}: {error}", file.display())]
    Edit {
        /// The file, as shown.
        file: PathBuf,
        /// Why.
        error: EditError,
    },
    /// The file could not be replaced.
    #[error("cannot write {}: {source}", file.display())]
    Write {
        /// The file, as shown.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The value given is not UTF-8 text.
    #[error("the value on stdin is not UTF-8 text")]
    NotText,
    /// The file stays trusted, but the store refused.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// The value in `bytes` (read from stdin), one trailing newline dropped
/// as fnox does. Bytes that are not UTF-8 are zeroed before the error.
pub fn value_from_input(bytes: Vec<u8>) -> Result<SecretValue, SetError> {
    let mut text = String::from_utf8(bytes).map_err(|e| {
        e.into_bytes().fill(0);
        SetError::NotText
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(SecretValue::new(text))
}

/// Where and through what a secret will be stored, all checked.
#[derive(Debug)]
pub struct SetTarget<'a> {
    config: &'a Config,
    name: String,
    /// The provider that encrypts the value.
    pub provider: String,
    file: usize,
}

impl<'a> SetTarget<'a> {
    /// Checks the name, the provider (`provider`, else `default_provider`)
    /// and that its table is trusted, and picks the nearest project or
    /// explicit file to write to.
    pub fn new(config: &'a Config, name: &str, provider: Option<&str>) -> Result<Self, SetError> {
        if !resolve::is_variable_name(name) {
            return Err(SetError::InvalidName(name.to_string()));
        }
        let provider = provider
            .map(str::to_string)
            .or_else(|| config.default_provider.clone())
            .ok_or(SetError::NoProvider)?;
        let spec = config
            .providers
            .get(&provider)
            .ok_or_else(|| SetError::UnknownProvider(provider.clone()))?;
        let file = config
            .files
            .iter()
            .rposition(|f| matches!(f.kind, SourceKind::Project | SourceKind::Explicit))
            .ok_or(SetError::NoFile)?;
        // The provider's fields (age's `recipients`) decide who can read the
        // value: they must come from a file the user trusts.
        let provider_file = &config.files[spec.origin.file];
        if !provider_file.trust.allows_sensitive() {
            let file = display_path(&provider_file.path);
            return Err(SetError::UntrustedProvider { provider, file });
        }
        Ok(Self {
            config,
            name: name.to_string(),
            provider,
            file,
        })
    }

    /// The file the entry goes to.
    pub fn file(&self) -> PathBuf {
        display_path(&self.config.files[self.file].path)
    }

    /// Encrypts `plaintext` and writes the entry (with `description`) into
    /// the file, which stays trusted if it was.
    pub async fn store(
        &self,
        ctx: &BackendContext,
        plaintext: SecretValue,
        description: Option<&str>,
        trust: &TrustStore,
    ) -> Result<(), SetError> {
        let (config, provider) = (self.config, &self.provider);
        let instance = resolve::build_provider(config, provider, &ctx.secrets, ctx)?;
        let encrypted = instance.encrypt(ctx, &plaintext).await;
        drop(plaintext);
        let encrypt_error = |error| SetError::Encrypt {
            provider: provider.clone(),
            error,
        };
        let value = encrypted
            .map_err(encrypt_error)?
            .ok_or_else(|| SetError::CannotStore(provider.clone()))?;
        let mut fields = vec![("provider", provider.as_str()), ("value", value.as_str())];
        fields.extend(description.map(|d| ("description", d)));
        let file = &config.files[self.file];
        let text = upsert_secret(&file.text, &self.name, &secret_line(&self.name, &fields)).map_err(|error| {
            SetError::Edit {
                file: self.file(),
                error,
            }
        })?;
        write_keeping_mode(&file.path, &text).map_err(|source| SetError::Write {
            file: self.file(),
            source,
        })?;
        // The user changed a file they trusted: it stays trusted.
        if file.trust == TrustState::Trusted {
            trust.trust(&file.path, &text)?;
        }
        Ok(())
    }
}
