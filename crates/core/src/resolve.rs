//! Secret resolution: plan the order, then resolve in waves.
//!
//! Every secret a provider serves in one wave goes to that provider in one
//! [`Provider::resolve_batch`] call, and the providers of a wave run
//! concurrently. A provider whose fields reference other secrets
//! (`token = { secret = "OP_TOKEN" }` or `${OP_TOKEN}`) waits for them;
//! a cycle is a config error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::backend::{referenced_secrets, BackendConfig, BackendContext, BackendError};
use crate::config::{did_you_mean, Config, ConfigError, IfMissing, SecretSpec};
use crate::placeholder::{expand_refs, fill_fields, map_table, referenced_names};
use crate::provider::{find_provider_type, provider_types, Provider, SecretRequest};
use crate::SecretValue;

/// The order secrets resolve in.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Waves of secret names; each wave depends only on earlier ones.
    pub waves: Vec<Vec<String>>,
}

/// The outcome of resolution.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Resolved values by secret name.
    pub values: BTreeMap<String, SecretValue>,
    /// Secrets left out under `if_missing = "warn"`, with the reason.
    pub warnings: Vec<String>,
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// One or more secrets could not be resolved (each message names the
    /// secret, its provider and its reference).
    #[error("{}", .0.join("\n"))]
    Secrets(Vec<String>),
}

/// Checks that every provider type is registered and every secret has a
/// provider or a default.
pub fn validate_secrets(config: &Config) -> Result<(), ConfigError> {
    for spec in config.providers.values() {
        if find_provider_type(&spec.type_name).is_none() {
            let known: Vec<&str> = provider_types().iter().map(|r| r.type_name).collect();
            return Err(unknown_type(config, spec, "provider", &known));
        }
    }
    if let Some(default) = &config.default_provider {
        if !config.providers.contains_key(default) {
            return Err(ConfigError::invalid(
                format!("default_provider names `{default}`, which is not a configured provider"),
                Some(provider_hint(config, default)),
            ));
        }
    }
    for secret in config.secrets.values() {
        if !is_variable_name(&secret.name) {
            return Err(ConfigError::at(
                config.locate(&secret.origin, &[]),
                format!("secret name `{}` is not a valid environment variable name", secret.name),
                Some("use letters, digits and `_`, not starting with a digit (e.g. `API_KEY`)".into()),
            ));
        }
        if secret.value.is_none() {
            if secret.default.is_none() {
                return Err(ConfigError::at(
                    config.locate(&secret.origin, &[]),
                    format!("secret `{}` has neither `value` nor `default`", secret.name),
                    Some("add `value = \"...\"` (what the provider looks up) or `default = \"...\"`".into()),
                ));
            }
            continue;
        }
        match config.provider_of(secret) {
            Some(p) if config.providers.contains_key(p) => {}
            Some(p) => {
                return Err(ConfigError::at(
                    config.locate(&secret.origin, &["provider".into()]),
                    format!("secret `{}` uses provider `{p}`, which is not configured", secret.name),
                    Some(provider_hint(config, p)),
                ))
            }
            None => {
                return Err(ConfigError::at(
                    config.locate(&secret.origin, &[]),
                    format!("secret `{}` names no provider and there is no default", secret.name),
                    Some(if config.providers.is_empty() {
                        "add a provider, e.g. `[providers.env]` with `type = \"env\"`".to_string()
                    } else {
                        "add `provider = \"...\"` to the secret, or `default_provider = \"...\"` at the top".to_string()
                    }),
                ))
            }
        }
    }
    Ok(())
}

/// True for names a shell and `env` accept: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An "unknown type" error with a did-you-mean and the registered types.
pub fn unknown_type(config: &Config, spec: &crate::config::BackendSpec, kind: &str, known: &[&str]) -> ConfigError {
    let hint = match did_you_mean(&spec.type_name, known.iter().copied()) {
        _ if known.is_empty() => format!("this build of sesame registers no {kind} types"),
        Some(best) => format!("did you mean `{best}`? registered {kind} types: {}", known.join(", ")),
        None => format!("registered {kind} types: {}", known.join(", ")),
    };
    ConfigError::at(
        config.locate(&spec.origin, &["type".into()]),
        format!(
            "unknown {kind} type `{}` in {}",
            spec.type_name,
            spec.origin.table_name()
        ),
        Some(hint),
    )
}

fn provider_hint(config: &Config, name: &str) -> String {
    let names: Vec<&str> = config.providers.keys().map(String::as_str).collect();
    match did_you_mean(name, names.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if names.is_empty() => "no providers are configured; add a [providers.NAME] table".into(),
        None => format!("configured providers: {}", names.join(", ")),
    }
}

/// The secrets one secret waits for: those its provider's fields reference
/// and those its `default` references.
fn dependencies(config: &Config, secret: &SecretSpec) -> Vec<String> {
    let known = |n: &str| config.secrets.contains_key(n);
    let mut deps = Vec::new();
    if secret.value.is_some() {
        if let Some(provider) = config.provider_of(secret).and_then(|p| config.providers.get(p)) {
            deps.extend(referenced_secrets(&provider.table, &known));
        }
    }
    if let Some(default) = &secret.default {
        deps.extend(
            referenced_names(default.expose())
                .into_iter()
                .filter(|n| known(n))
                .map(str::to_string),
        );
    }
    deps
}

/// Orders the `wanted` secrets (all when `None`) and what they depend on
/// into waves.
pub fn plan(config: &Config, wanted: Option<&[String]>) -> Result<Plan, ConfigError> {
    validate_secrets(config)?;
    let mut needed = BTreeSet::new();
    let mut stack: Vec<String> = match wanted {
        Some(names) => names.to_vec(),
        None => config.secrets.keys().cloned().collect(),
    };
    while let Some(name) = stack.pop() {
        let Some(secret) = config.secrets.get(&name) else {
            let names: Vec<&str> = config.secrets.keys().map(String::as_str).collect();
            let hint = match did_you_mean(&name, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "run `sesame list` to see the configured secrets".into(),
            };
            return Err(ConfigError::invalid(format!("no secret named `{name}`"), Some(hint)));
        };
        if needed.insert(name.clone()) {
            stack.extend(dependencies(config, secret));
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut waves = Vec::new();
    while done.len() < needed.len() {
        let wave: Vec<String> = needed
            .iter()
            .filter(|n| !done.contains(*n))
            .filter(|n| {
                dependencies(config, &config.secrets[*n])
                    .iter()
                    .all(|d| done.contains(d) && d != *n)
            })
            .cloned()
            .collect();
        if wave.is_empty() {
            let stuck: Vec<String> = needed.iter().filter(|n| !done.contains(*n)).cloned().collect();
            return Err(ConfigError::invalid(
                format!("secrets reference each other in a cycle: {}", stuck.join(" -> ")),
                Some("a provider field or default may not depend, directly or not, on a secret it provides".into()),
            ));
        }
        done.extend(wave.iter().cloned());
        waves.push(wave);
    }
    Ok(Plan { waves })
}

/// Looks `${NAME}` up in resolved secrets, then the environment.
fn lookup<'a>(
    values: &'a BTreeMap<String, SecretValue>,
    ctx: &'a BackendContext,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        values
            .get(name)
            .map(|v| v.expose().to_string())
            .or_else(|| ctx.env.var(name).map(str::to_string))
    }
}

/// Builds the config a backend receives: trust-sensitive fields refused
/// from untrusted files, `{field}` placeholders filled, `${NAME}`
/// references expanded.
pub fn backend_config(
    config: &Config,
    spec: &crate::config::BackendSpec,
    sensitive: &[&str],
    values: &BTreeMap<String, SecretValue>,
    ctx: &BackendContext,
) -> Result<BackendConfig, ConfigError> {
    crate::trust::check_backend(config, spec, sensitive)?;
    let located = |path: &[String], message: String| {
        ConfigError::at(
            config.locate(&spec.origin, path),
            format!("{}: {message}", spec.origin.table_name()),
            None,
        )
    };
    let filled = fill_fields(&spec.table).map_err(|e| located(&e.path, e.to_string()))?;
    let look = lookup(values, ctx);
    let expanded = map_table(&filled, &mut Vec::new(), &|text, path| expand_refs(text, path, &look))
        .map_err(|e| located(&e.path, e.to_string()))?;
    Ok(BackendConfig::from_config(
        config,
        &spec.origin,
        &spec.name,
        &spec.type_name,
        expanded,
    ))
}

/// Builds the configured provider `name` (no I/O), with `values` available
/// to its `${NAME}` references.
pub fn build_provider(
    config: &Config,
    name: &str,
    values: &BTreeMap<String, SecretValue>,
    ctx: &BackendContext,
) -> Result<Box<dyn Provider>, ResolveError> {
    let spec = &config.providers[name];
    let registration = find_provider_type(&spec.type_name).ok_or_else(|| {
        let known: Vec<&str> = provider_types().iter().map(|r| r.type_name).collect();
        unknown_type(config, spec, "provider", &known)
    })?;
    let backend = backend_config(config, spec, registration.trust_sensitive, values, ctx)?;
    (registration.factory)(&backend, ctx).map_err(|e| ResolveError::Secrets(vec![e.to_string()]))
}

/// Resolves the planned secrets.
pub async fn resolve(config: &Config, plan: &Plan, base: &BackendContext) -> Result<Resolution, ResolveError> {
    let mut resolution = Resolution::default();
    let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    let mut failures = Vec::new();
    for wave in &plan.waves {
        let ctx = base.with_secrets(Arc::new(resolution.values.clone()));
        // Group this wave's provider-backed secrets by provider.
        let mut batches: BTreeMap<String, Vec<SecretRequest>> = BTreeMap::new();
        for name in wave {
            let secret = &config.secrets[name];
            if let (Some(reference), Some(provider)) = (&secret.value, config.provider_of(secret)) {
                batches.entry(provider.to_string()).or_default().push(SecretRequest {
                    name: name.clone(),
                    reference: reference.clone(),
                });
            }
        }
        for provider in batches.keys() {
            if !providers.contains_key(provider) {
                let instance = build_provider(config, provider, &resolution.values, &ctx)?;
                providers.insert(provider.clone(), Arc::from(instance));
            }
        }
        let calls = batches.iter().map(|(provider, requests)| {
            let instance = providers[provider].clone();
            let ctx = &ctx;
            async move {
                tracing::debug!(provider, count = requests.len(), "resolving batch");
                let results = match tokio::time::timeout(ctx.timeout, instance.resolve_batch(ctx, requests)).await {
                    Ok(results) => results,
                    Err(_) => requests
                        .iter()
                        .map(|_| {
                            Err(BackendError::failed(
                                format!("provider `{provider}` did not answer within {:?}", ctx.timeout),
                                Some("check the provider is reachable, or raise --timeout".into()),
                            ))
                        })
                        .collect(),
                };
                (provider.clone(), results)
            }
        });
        let answered = futures_util::future::join_all(calls).await;
        let mut wave_values = BTreeMap::new();
        for (provider, results) in answered {
            for (request, result) in batches[&provider].iter().zip(results) {
                wave_values.insert(
                    request.name.clone(),
                    (provider.clone(), request.reference.clone(), result),
                );
            }
        }
        for name in wave {
            let secret = &config.secrets[name];
            let failure = |provider: &str, reference: &str, cause: String| Failure {
                name: name.clone(),
                source: Some((provider.to_string(), reference.to_string())),
                cause,
            };
            let outcome = match wave_values.remove(name) {
                Some((_, _, Ok(value))) => Ok(value),
                Some((provider, reference, Err(BackendError::NotFound { message }))) => {
                    Err((true, failure(&provider, &reference, message)))
                }
                Some((provider, reference, Err(e))) => Err((false, failure(&provider, &reference, e.to_string()))),
                None => Err((
                    true,
                    Failure {
                        name: name.clone(),
                        source: None,
                        cause: "it has no provider value".into(),
                    },
                )),
            };
            let outcome = match (outcome, &secret.default) {
                (Err((true, _)), Some(default)) => {
                    let look = lookup(&resolution.values, base);
                    expand_refs(default.expose(), &["default".into()], &look)
                        .map(SecretValue::new)
                        .map_err(|e| {
                            let cause = e.to_string();
                            (
                                false,
                                Failure {
                                    name: name.clone(),
                                    source: None,
                                    cause,
                                },
                            )
                        })
                }
                (other, _) => other,
            };
            match outcome {
                Ok(value) => {
                    resolution.values.insert(name.clone(), value);
                }
                Err((missing, failure)) => match (missing, config.if_missing_of(secret)) {
                    (true, IfMissing::Warn) => resolution.warnings.push(failure.to_string()),
                    (true, IfMissing::Ignore) => tracing::debug!(secret = %name, "missing, ignored"),
                    _ => failures.push(failure),
                },
            }
        }
        if !failures.is_empty() {
            return Err(ResolveError::Secrets(by_cause(failures)));
        }
    }
    Ok(resolution)
}

/// A secret that could not be resolved.
struct Failure {
    name: String,
    /// Its provider and reference, when a provider was asked.
    source: Option<(String, String)>,
    /// Why, with the fix (the backend's error).
    cause: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some((provider, reference)) => write!(
                f,
                "secret `{}` (provider `{provider}`, reference `{reference}`): {}",
                self.name, self.cause
            ),
            None => write!(f, "secret `{}`: {}", self.name, self.cause),
        }
    }
}

/// One message per cause: secrets of one provider that failed with the
/// very same error (op not signed in behind 32 secrets) are reported once,
/// naming how many secrets it affects and the first few of them.
fn by_cause(failures: Vec<Failure>) -> Vec<String> {
    const SHOWN: usize = 5;
    let mut groups: Vec<(Option<String>, String, Vec<Failure>)> = Vec::new();
    for failure in failures {
        let provider = failure.source.as_ref().map(|(p, _)| p.clone());
        match groups
            .iter_mut()
            .find(|(p, cause, _)| provider.is_some() && *p == provider && *cause == failure.cause)
        {
            Some((_, _, members)) => members.push(failure),
            None => groups.push((provider, failure.cause.clone(), vec![failure])),
        }
    }
    groups
        .into_iter()
        .map(|(provider, cause, mut members)| {
            if members.len() == 1 {
                return members.pop().expect("one member").to_string();
            }
            let count = members.len();
            let mut names: Vec<String> = members.iter().take(SHOWN).map(|m| format!("`{}`", m.name)).collect();
            if count > SHOWN {
                names.push(format!("{} more", count - SHOWN));
            }
            format!(
                "secrets {} ({count} secrets, provider `{}`): {cause}",
                names.join(", "),
                provider.unwrap_or_default()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(name: &str, provider: &str, cause: &str) -> Failure {
        Failure {
            name: name.into(),
            source: Some((provider.into(), format!("ref of {name}"))),
            cause: cause.into(),
        }
    }

    #[test]
    fn one_message_per_cause_says_how_many_secrets_it_affects() {
        let mut failures: Vec<Failure> = (0..32)
            .map(|i| failure(&format!("S{i}"), "op", "op is not signed in\n  hint: run `op signin`"))
            .collect();
        failures.push(failure("OTHER", "op", "vault `V` has no item `X`"));
        failures.push(failure("ENV", "env", "op is not signed in\n  hint: run `op signin`"));
        let messages = by_cause(failures);
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert_eq!(
            messages[0],
            "secrets `S0`, `S1`, `S2`, `S3`, `S4`, 27 more (32 secrets, provider `op`): op is not signed in\n  \
             hint: run `op signin`"
        );
        assert_eq!(
            messages[1],
            "secret `OTHER` (provider `op`, reference `ref of OTHER`): vault `V` has no item `X`"
        );
        assert!(
            messages[2].starts_with("secret `ENV` (provider `env`"),
            "another provider, another cause"
        );
    }
}
