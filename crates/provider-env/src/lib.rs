//! The `env` provider: secrets from sesame's own environment.
//!
//! ```toml
//! [providers.env]
//! type = "env"
//! prefix = "PROD_"          # optional, prepended to every reference
//!
//! [secrets]
//! API_KEY = { provider = "env", value = "API_KEY" }   # reads PROD_API_KEY
//! ```
//!
//! Useful to rename variables, to give CI-provided variables a
//! `description` and an `if_missing` policy, and as the simplest example of
//! a provider.

use schemars::JsonSchema;
use serde::Deserialize;
use sesame_core::{
    async_trait, BackendConfig, BackendContext, BackendError, Provider, ProviderRegistration, SecretRequest,
    SecretValue,
};

/// `[providers.NAME]` with `type = "env"`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Prepended to each secret's `value` to form the name of the variable
    /// to read (`prefix = "PROD_"` and `value = "API_KEY"` read
    /// `PROD_API_KEY`). Default: nothing.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Reads variables from the environment snapshot sesame started with.
#[derive(Debug)]
pub struct EnvProvider {
    prefix: String,
}

impl EnvProvider {
    /// Builds the provider from its config table.
    pub fn from_config(config: &BackendConfig, _ctx: &BackendContext) -> Result<Box<dyn Provider>, BackendError> {
        let parsed: EnvConfig = config.parse()?;
        Ok(Box::new(Self {
            prefix: parsed.prefix.unwrap_or_default(),
        }))
    }
}

impl EnvProvider {
    /// Reads one variable from the run's environment snapshot (no I/O).
    fn read(&self, ctx: &BackendContext, request: &SecretRequest) -> Result<SecretValue, BackendError> {
        let variable = format!("{}{}", self.prefix, request.reference);
        ctx.env
            .secret(&variable)
            .ok_or_else(|| BackendError::not_found(format!("environment variable `{variable}` is not set")))
    }
}

#[async_trait]
impl Provider for EnvProvider {
    async fn resolve(&self, ctx: &BackendContext, request: &SecretRequest) -> Result<SecretValue, BackendError> {
        self.read(ctx, request)
    }

    /// A plain loop: the default runs one boxed future per secret
    /// concurrently, which a lookup in memory does not need (about 2k
    /// instructions a secret at 200 secrets).
    async fn resolve_batch(
        &self,
        ctx: &BackendContext,
        requests: &[SecretRequest],
    ) -> Vec<Result<SecretValue, BackendError>> {
        requests.iter().map(|request| self.read(ctx, request)).collect()
    }
}

inventory::submit! {
    ProviderRegistration {
        type_name: "env",
        description: "sesame's own environment variables (optionally with a prefix)",
        trust_sensitive: &[],
        factory: EnvProvider::from_config,
        schema: sesame_core::schema::table_schema::<EnvConfig>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_core::EnvSnapshot;
    use std::sync::Arc;

    fn ctx() -> BackendContext {
        BackendContext::new(Arc::new(EnvSnapshot::from_pairs([
            ("PROD_API_KEY", "k-1"),
            ("PLAIN", "p"),
        ])))
    }

    fn request(reference: &str) -> SecretRequest {
        SecretRequest {
            name: "API_KEY".into(),
            reference: reference.into(),
        }
    }

    #[tokio::test]
    async fn a_batch_answers_each_request_in_order() {
        let provider = EnvProvider::from_config(&BackendConfig::for_test("env", "env", ""), &ctx()).unwrap();
        let requests = [request("PLAIN"), request("UNSET"), request("PROD_API_KEY")];
        let results = provider.resolve_batch(&ctx(), &requests).await;
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().unwrap().expose(), "p");
        assert!(matches!(results[1], Err(BackendError::NotFound { .. })));
        assert_eq!(results[2].as_ref().unwrap().expose(), "k-1");
    }

    #[tokio::test]
    async fn reads_with_and_without_prefix() {
        let prefixed =
            EnvProvider::from_config(&BackendConfig::for_test("env", "env", "prefix = \"PROD_\""), &ctx()).unwrap();
        assert_eq!(
            prefixed.resolve(&ctx(), &request("API_KEY")).await.unwrap().expose(),
            "k-1"
        );
        let plain = EnvProvider::from_config(&BackendConfig::for_test("env", "env", ""), &ctx()).unwrap();
        assert_eq!(plain.resolve(&ctx(), &request("PLAIN")).await.unwrap().expose(), "p");
    }

    #[tokio::test]
    async fn unset_variable_is_not_found_and_named() {
        let provider = EnvProvider::from_config(&BackendConfig::for_test("env", "env", ""), &ctx()).unwrap();
        let err = provider.resolve(&ctx(), &request("NOPE")).await.unwrap_err();
        assert!(
            matches!(&err, BackendError::NotFound { message } if message.contains("`NOPE`")),
            "{err}"
        );
    }

    #[test]
    fn registered_schema_covers_every_field() {
        let registration = sesame_core::provider::find_provider_type("env").expect("registered");
        let schema = (registration.schema)();
        sesame_core::schema::check_table_schema::<EnvConfig>(&schema).unwrap();
        assert_eq!(
            schema["additionalProperties"], false,
            "unknown keys are rejected: {schema}"
        );
    }

    #[test]
    fn unknown_field_is_located_with_a_suggestion() {
        let Err(err) = EnvProvider::from_config(&BackendConfig::for_test("env", "env", "prefx = \"A\""), &ctx()) else {
            panic!("a misspelt key must be rejected");
        };
        let text = err.to_string();
        assert!(
            text.contains("unknown key `prefx`") && text.contains("did you mean `prefix`?"),
            "{text}"
        );
    }
}
