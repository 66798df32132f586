//! The `plain` provider: the secret's `value` is the value itself.
//!
//! ```toml
//! [providers.plain]
//! type = "plain"
//!
//! [secrets]
//! GREETING = { provider = "plain", value = "hello" }
//! ```
//!
//! It exists for fnox compatibility (fnox's `plain` provider reads the same
//! way) and for tests. The value is written in the config file, so it is
//! no secret: use it for settings that sit beside secrets, never for
//! credentials.

use schemars::JsonSchema;
use serde::Deserialize;
use sesame_core::{
    async_trait, BackendConfig, BackendContext, BackendError, Provider, ProviderRegistration, SecretRequest,
    SecretValue,
};

/// `[providers.NAME]` with `type = "plain"`: no fields.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlainConfig {}

/// Answers each request with its reference.
#[derive(Debug)]
pub struct PlainProvider;

impl PlainProvider {
    /// Builds the provider from its config table (no I/O here).
    pub fn from_config(config: &BackendConfig, _ctx: &BackendContext) -> Result<Box<dyn Provider>, BackendError> {
        let _: PlainConfig = config.parse()?;
        Ok(Box::new(Self))
    }
}

#[async_trait]
impl Provider for PlainProvider {
    async fn resolve(&self, _ctx: &BackendContext, request: &SecretRequest) -> Result<SecretValue, BackendError> {
        Ok(SecretValue::new(request.reference.clone()))
    }

    /// The reference is the value: keep it out of messages.
    fn reference_is_sensitive(&self) -> bool {
        true
    }
}

inventory::submit! {
    ProviderRegistration {
        type_name: "plain",
        description: "the secret's `value` is the value itself (fnox compatibility, tests)",
        trust_sensitive: &[],
        factory: PlainProvider::from_config,
        schema: sesame_core::schema::table_schema::<PlainConfig>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_core::EnvSnapshot;
    use std::sync::Arc;

    fn ctx() -> BackendContext {
        BackendContext::new(Arc::new(EnvSnapshot::default()))
    }

    #[tokio::test]
    async fn the_value_is_the_reference_byte_for_byte() {
        let provider = PlainProvider::from_config(&BackendConfig::for_test("plain", "plain", ""), &ctx()).unwrap();
        for value in ["hello", "two\nlines ünï", " spaced ", ""] {
            let request = SecretRequest {
                name: "X".into(),
                reference: value.into(),
            };
            assert_eq!(provider.resolve(&ctx(), &request).await.unwrap().expose(), value);
        }
    }

    #[test]
    fn registered_schema_has_no_fields() {
        let registration = sesame_core::provider::find_provider_type("plain").expect("registered");
        let schema = (registration.schema)();
        assert_eq!(schema["additionalProperties"], false, "{schema}");
        assert!(
            schema["properties"].as_object().is_none_or(|p| p.is_empty()),
            "{schema}"
        );
    }

    #[test]
    fn unknown_field_is_rejected() {
        let config = BackendConfig::for_test("plain", "plain", "values = {}");
        let Err(err) = PlainProvider::from_config(&config, &ctx()) else {
            panic!("plain takes no fields");
        };
        assert!(err.to_string().contains("unknown key `values`"), "{err}");
    }
}
