//! The `age` provider: values encrypted with [age](https://age-encryption.org)
//! and committed with the config, in fnox's format.
//!
//! ```toml
//! [providers.age]
//! type = "age"
//! recipients = ["age1..."]      # who `sesame set --provider age` encrypts to
//! key_file = "~/.config/sesame/age.txt"   # optional; see identity.rs for the order
//!
//! [secrets]
//! DATABASE_URL = { provider = "age", value = "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+..." }
//! ```
//!
//! `value` is the standard base64 of the binary age file (what fnox writes);
//! ASCII armor (`age -a`) is read too. All cryptography is the `age` crate's.

mod cipher;
mod identity;

use schemars::JsonSchema;
use serde::Deserialize;
use sesame_core::{
    async_trait, BackendConfig, BackendContext, BackendError, Provider, ProviderRegistration, SecretRequest,
    SecretValue,
};

pub use cipher::CipherError;
pub use identity::IdentityError;

/// `[providers.NAME]` with `type = "age"` (fnox's fields).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeConfig {
    /// Public keys values are encrypted to by `sesame set --provider NAME`:
    /// age (`age1...`) or SSH (`ssh-ed25519 ...`, `ssh-rsa ...`) keys.
    /// Decryption does not need them. Default: none.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The identity file (an age identity file or an unencrypted SSH private
    /// key), relative to this config file; `~/` is the home directory. Used
    /// when neither $SESAME_AGE_KEY nor $FNOX_AGE_KEY nor `identity` is set.
    pub key_file: Option<String>,
    /// The identity from another provider, as fnox writes it:
    /// `{ provider = "keychain", value = "age-key" }`; or from another
    /// secret: `{ secret = "AGE_KEY" }`. Used when neither $SESAME_AGE_KEY
    /// nor $FNOX_AGE_KEY is set. Trust-sensitive.
    pub identity: Option<identity::IdentitySource>,
}

/// Decrypts values with the identity found at resolve time.
#[derive(Debug)]
pub struct AgeProvider {
    name: String,
    recipients: Vec<String>,
    sources: identity::Sources,
}

impl AgeProvider {
    /// Builds the provider from its config table (no I/O: the identity is
    /// read when a value is first decrypted).
    pub fn from_config(config: &BackendConfig, ctx: &BackendContext) -> Result<Box<dyn Provider>, BackendError> {
        let parsed: AgeConfig = config.parse()?;
        let key_file = parsed.key_file.as_deref().map(|path| {
            let expanded = identity::expand_home(path, ctx);
            match config.config_dir() {
                Some(dir) if expanded.is_relative() => dir.join(expanded),
                _ => expanded,
            }
        });
        // `recipients` are checked when `sesame set` encrypts, as fnox does:
        // decrypting does not need them, and fnox's docs write `age1...`.
        Ok(Box::new(Self {
            name: config.name().to_string(),
            recipients: parsed.recipients,
            sources: identity::Sources {
                identity: parsed.identity,
                key_file,
            },
        }))
    }

    fn identity_error(&self, error: IdentityError) -> BackendError {
        BackendError::failed(
            error.to_string(),
            Some(format!(
                "set $SESAME_AGE_KEY (or $FNOX_AGE_KEY) to the AGE-SECRET-KEY-1... line, or `key_file` in [providers.{}]",
                self.name
            )),
        )
    }
}

fn cipher_error(error: CipherError, origin: &identity::Origin) -> BackendError {
    match error {
        CipherError::WrongKey => BackendError::failed(
            format!("the age identity from {origin} is not one of the recipients this value was encrypted to"),
            Some(
                "use the key the value was encrypted for, or re-encrypt it with `sesame set NAME --provider age`"
                    .into(),
            ),
        ),
        CipherError::Corrupt(_) => BackendError::failed(
            error.to_string(),
            Some("the `value` was damaged (edited, truncated, re-wrapped); encrypt it again with `sesame set`".into()),
        ),
        other => BackendError::failed(other.to_string(), None),
    }
}

#[async_trait]
impl Provider for AgeProvider {
    async fn resolve(&self, ctx: &BackendContext, request: &SecretRequest) -> Result<SecretValue, BackendError> {
        sesame_core::provider::resolve_as_batch(self, ctx, request).await
    }

    /// Reads the identity once for the whole run, then decrypts each value.
    async fn resolve_batch(
        &self,
        ctx: &BackendContext,
        requests: &[SecretRequest],
    ) -> Vec<Result<SecretValue, BackendError>> {
        let (identities, origin) = match identity::load(&self.sources, ctx) {
            Ok(loaded) => loaded,
            Err(e) => {
                let error = self.identity_error(e);
                return requests.iter().map(|_| Err(error.clone())).collect();
            }
        };
        cipher::decrypt_all(
            &requests.iter().map(|r| r.reference.as_str()).collect::<Vec<_>>(),
            &identities,
        )
        .into_iter()
        .map(|result| result.map(SecretValue::new).map_err(|e| cipher_error(e, &origin)))
        .collect()
    }

    fn reference_is_sensitive(&self) -> bool {
        true
    }

    async fn encrypt(&self, _ctx: &BackendContext, plaintext: &SecretValue) -> Result<Option<String>, BackendError> {
        if self.recipients.is_empty() {
            return Err(BackendError::failed(
                format!("[providers.{}] has no `recipients` to encrypt to", self.name),
                Some("add `recipients = [\"age1...\"]` (from `age-keygen -y KEYFILE`)".into()),
            ));
        }
        let recipients = cipher::parse_recipients(&self.recipients).map_err(|e| {
            BackendError::failed(
                format!("[providers.{}]: {e}", self.name),
                Some("copy the line `age-keygen -y KEYFILE` prints, or the content of ~/.ssh/id_ed25519.pub".into()),
            )
        })?;
        cipher::encrypt(plaintext.expose(), &recipients)
            .map(Some)
            .map_err(|e| BackendError::failed(e.to_string(), None))
    }
}

inventory::submit! {
    ProviderRegistration {
        type_name: "age",
        description: "values encrypted with age in the config (fnox's format)",
        // Decrypting sends nothing anywhere. `recipients` decides who can
        // read what `sesame set` encrypts, so `set` itself refuses them
        // from an untrusted file. `identity` makes sesame fetch a key from
        // another secret or provider (a keychain, 1Password) and decide
        // what it decrypts with: like other credential sources, only a
        // trusted file may set it.
        trust_sensitive: &["identity"],
        factory: AgeProvider::from_config,
        schema: sesame_core::schema::table_schema::<AgeConfig>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_core::EnvSnapshot;
    use std::sync::Arc;

    const FIXTURE_KEY: &str = "AGE-SECRET-KEY-172GX8PAY33QQGQF82M8CLNDST5609MX5M0HRKG20H7UM3T7LEUWS8950NE";
    const FIXTURE_RECIPIENT: &str = "age12tyf00mahxs3qhr5dx38f0jlkzy4m7qqryc7r3a9kyv87z3x5cwqzqeqgw";

    fn ctx(pairs: &[(&str, &str)]) -> BackendContext {
        BackendContext::new(Arc::new(EnvSnapshot::from_pairs(pairs.iter().copied())))
    }

    fn provider(table: &str, ctx: &BackendContext) -> Box<dyn Provider> {
        AgeProvider::from_config(&BackendConfig::for_test("age", "age", table), ctx).unwrap()
    }

    fn request(value: &str) -> SecretRequest {
        SecretRequest {
            name: "X".into(),
            reference: value.into(),
        }
    }

    #[tokio::test]
    async fn set_then_resolve_round_trips() {
        let env = ctx(&[("FNOX_AGE_KEY", FIXTURE_KEY)]);
        let age = provider(&format!("recipients = [\"{FIXTURE_RECIPIENT}\"]"), &env);
        let value = age
            .encrypt(&env, &SecretValue::new("s3cr3t\nline"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            age.resolve(&env, &request(&value)).await.unwrap().expose(),
            "s3cr3t\nline"
        );
    }

    #[tokio::test]
    async fn errors_say_what_and_never_show_the_value() {
        let other =
            age::secrecy::ExposeSecret::expose_secret(&age::x25519::Identity::generate().to_string()).to_string();
        let encrypt_env = ctx(&[]);
        let age = provider(&format!("recipients = [\"{FIXTURE_RECIPIENT}\"]"), &encrypt_env);
        let value = age
            .encrypt(&encrypt_env, &SecretValue::new("canary-plain"))
            .await
            .unwrap()
            .unwrap();
        let wrong = ctx(&[("SESAME_AGE_KEY", &other)]);
        let wrong_err = age.resolve(&wrong, &request(&value)).await.unwrap_err().to_string();
        assert!(
            wrong_err.contains("$SESAME_AGE_KEY") && wrong_err.contains("not one of the recipients"),
            "{wrong_err}"
        );
        let right = ctx(&[("SESAME_AGE_KEY", FIXTURE_KEY)]);
        let corrupt = format!("{}AAAA{}", &value[..60], &value[64..]);
        let err = age.resolve(&right, &request(&corrupt)).await.unwrap_err().to_string();
        assert!(err.contains("not valid age ciphertext"), "{err}");
        for text in [&err, &wrong_err] {
            assert!(!text.contains(&value[..40]) && !text.contains("canary-plain"), "{text}");
        }
    }

    #[tokio::test]
    async fn bad_recipient_fails_set_but_not_decryption() {
        let env = ctx(&[("SESAME_AGE_KEY", FIXTURE_KEY)]);
        let age = provider("recipients = [\"age1...\"]", &env);
        let err = age.encrypt(&env, &SecretValue::new("v")).await.unwrap_err().to_string();
        assert!(err.contains("recipient 1"), "{err}");
    }

    #[test]
    fn registered_schema_covers_every_field() {
        let registration = sesame_core::provider::find_provider_type("age").expect("registered");
        sesame_core::schema::check_table_schema::<AgeConfig>(&(registration.schema)()).unwrap();
    }
}
