//! fnox's provider references in a provider's table:
//! `identity = { provider = "keychain", value = "age-key" }` is the value
//! that configured provider `keychain` returns for the reference `age-key`.
//!
//! Core resolves every reference in a provider's table, through the
//! provider it names (which may hold references itself; a cycle is a
//! config error), just before that provider resolves its batch, and hands
//! the values over in its [`BackendContext`]
//! ([`BackendContext::provider_ref`]). A reference that fails is kept as
//! its error: the provider decides whether it needs the value (the `age`
//! provider does not when `$SESAME_AGE_KEY` is set). References are never
//! resolved for `sesame set` (encrypting needs no identity), nor for a
//! provider no secret of the run uses.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::backend::{referenced_secrets, BackendContext, BackendError};
use crate::config::{Config, ConfigError};
use crate::provider::{Provider, SecretRequest};

pub use crate::backend::{ProviderRef, Resolved};

/// The references in `table` with the field each sits in: every inline
/// table of exactly the keys `provider` and `value`, both strings.
pub fn refs_in(table: &toml::Table) -> Vec<(String, ProviderRef)> {
    fn walk(field: &str, value: &toml::Value, out: &mut Vec<(String, ProviderRef)>) {
        match value {
            toml::Value::Table(t) => {
                if let (2, Some(toml::Value::String(provider)), Some(toml::Value::String(value))) =
                    (t.len(), t.get("provider"), t.get("value"))
                {
                    out.push((
                        field.to_string(),
                        ProviderRef {
                            provider: provider.clone(),
                            value: value.clone(),
                        },
                    ));
                } else {
                    t.values().for_each(|v| walk(field, v, out));
                }
            }
            toml::Value::Array(items) => items.iter().for_each(|v| walk(field, v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (field, value) in table {
        walk(field, value, &mut out);
    }
    out
}

/// The secrets provider `name` waits for: those its table references
/// (`{ secret = ... }`, `${NAME}`) and those of every provider it
/// references, transitively.
pub fn provider_secrets(config: &Config, name: &str, known: &dyn Fn(&str) -> bool) -> Vec<String> {
    fn walk(
        config: &Config,
        name: &str,
        known: &dyn Fn(&str) -> bool,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(name.to_string()) {
            return;
        }
        let Some(spec) = config.providers.get(name) else {
            return;
        };
        out.extend(referenced_secrets(&spec.table, known));
        for (_, r) in refs_in(&spec.table) {
            walk(config, &r.provider, known, seen, out);
        }
    }
    let mut out = Vec::new();
    walk(config, name, known, &mut BTreeSet::new(), &mut out);
    out
}

/// A boxed future (the resolution recurses).
type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Returns the run's instance of a configured provider, building it once.
pub type Build<'a, E> = dyn FnMut(&str) -> Result<Arc<dyn Provider>, E> + 'a;

/// `ctx` for provider `holder`, with the references in its table resolved.
/// `chain` is the providers being resolved (outermost first, ending with
/// `holder`); `build` returns the run's instance of a configured provider.
pub fn context_for<'a, E: From<ConfigError> + 'a>(
    config: &'a Config,
    chain: Vec<String>,
    ctx: &'a BackendContext,
    build: &'a mut Build<'a, E>,
) -> Boxed<'a, Result<BackendContext, E>> {
    Box::pin(async move {
        let holder = chain.last().expect("the chain ends with the holder").clone();
        let spec = &config.providers[&holder];
        let refs = refs_in(&spec.table);
        if refs.is_empty() {
            return Ok(ctx.clone());
        }
        let mut resolved = Resolved::new();
        for (field, r) in refs {
            if resolved.contains_key(&r) {
                continue;
            }
            if chain.contains(&r.provider) {
                let start = chain.iter().position(|p| *p == r.provider).unwrap_or(0);
                let mut cycle = chain[start..].to_vec();
                cycle.push(r.provider.clone());
                return Err(ConfigError::at(
                    config.locate(&spec.origin, &[field.clone(), "provider".into()]),
                    format!(
                        "`{field}` in {} takes its value from provider `{}`, and the providers reference each other in a cycle: {}",
                        spec.origin.table_name(),
                        r.provider,
                        cycle.join(" -> ")
                    ),
                    Some("take one of them from a key file, a secret or the environment instead".into()),
                )
                .into());
            }
            if !config.providers.contains_key(&r.provider) {
                let error = BackendError::failed(
                    format!(
                        "`{field}` in {} names provider `{}`, which is not configured",
                        spec.origin.table_name(),
                        r.provider
                    ),
                    Some(format!("add [providers.{}], or fix the name", r.provider)),
                );
                resolved.insert(r, Err(error));
                continue;
            }
            let instance = build(&r.provider)?;
            let mut inner = chain.clone();
            inner.push(r.provider.clone());
            let inner_ctx = context_for(config, inner, ctx, &mut *build).await?;
            let request = SecretRequest {
                name: format!("{}.{field}", spec.origin.table_name()),
                reference: r.value.clone(),
            };
            let result = match tokio::time::timeout(ctx.timeout, instance.resolve_batch(&inner_ctx, &[request])).await {
                Ok(mut results) => results
                    .pop()
                    .unwrap_or_else(|| Err(BackendError::failed("no answer", None))),
                Err(_) => Err(BackendError::failed(
                    format!("provider `{}` did not answer within {:?}", r.provider, ctx.timeout),
                    Some("check the provider is reachable, or raise --timeout".into()),
                )),
            };
            let result = result.map_err(|e| {
                e.map_text(|text| {
                    format!(
                        "`{field}` in {} (from provider `{}`): {text}",
                        spec.origin.table_name(),
                        r.provider
                    )
                })
            });
            resolved.insert(r, result);
        }
        Ok(ctx.with_provider_refs(Arc::new(resolved)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tables_of_exactly_provider_and_value_are_references() {
        let table: toml::Table = toml::from_str(
            r#"
            identity = { provider = "keychain", value = "age-key" }
            token = { secret = "OP_TOKEN" }
            other = { provider = "x", value = "y", extra = 1 }
            nested = [{ provider = "plain", value = "v" }]
            "#,
        )
        .unwrap();
        let refs = refs_in(&table);
        assert_eq!(
            refs.iter()
                .map(|(f, r)| (f.as_str(), r.provider.as_str()))
                .collect::<Vec<_>>(),
            [("identity", "keychain"), ("nested", "plain")]
        );
        assert!(
            !format!("{:?}", refs[0].1).contains("age-key"),
            "Debug hides the reference"
        );
    }
}
