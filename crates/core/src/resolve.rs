//! Secret resolution: plan the order, then resolve in waves.
//!
//! Every secret a provider serves in one wave goes to that provider in one
//! [`Provider::resolve_batch`] call, and the providers of a wave run
//! concurrently. A provider whose fields reference other secrets
//! (`token = { secret = "OP_TOKEN" }` or `${OP_TOKEN}`) waits for them;
//! a cycle is a config error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::backend::{BackendConfig, BackendContext, BackendError};
use crate::config::{did_you_mean, Config, ConfigError, IfMissing, SecretSpec};
use crate::placeholder::{expand_refs, placeholder_key, referenced_names, substitute, ValueSource};
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
    /// Other things the user should hear about (a secret whose provider is
    /// not configured took its default).
    pub notices: Vec<String>,
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A provider could not be built from its table.
    #[error("{error}")]
    Provider {
        /// The provider's config name.
        provider: String,
        /// Why (its message already names the table).
        error: BackendError,
    },
    /// One or more secrets could not be resolved. Failures with one cause
    /// (the same provider saying the same thing) are reported once, saying
    /// how many secrets they affect.
    #[error("{}", SecretFailure::grouped(.0).join("\n"))]
    Secrets(Vec<SecretFailure>),
}

/// Why one secret did not resolve: the secret, its provider and reference,
/// and the backend's error (with its hint) as fields.
#[derive(Debug)]
pub struct SecretFailure {
    /// The secret's name.
    pub secret: String,
    /// The provider asked, if any.
    pub provider: Option<String>,
    /// What the provider was asked for.
    pub reference: Option<String>,
    /// What went wrong.
    pub error: BackendError,
}

impl std::fmt::Display for SecretFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.provider, &self.reference) {
            (Some(p), Some(r)) => write!(
                f,
                "secret `{}` (provider `{p}`, reference `{r}`): {}",
                self.secret, self.error
            ),
            _ => write!(f, "secret `{}`: {}", self.secret, self.error),
        }
    }
}

impl SecretFailure {
    /// One message per cause: failures whose provider said the same thing
    /// (a signed-out CLI behind many secrets) become one message naming how
    /// many secrets, and which, it affects.
    pub fn grouped(failures: &[SecretFailure]) -> Vec<String> {
        /// Names shown for a group; the rest are counted.
        const SHOWN: usize = 5;
        let mut groups: Vec<(Option<&str>, String, Vec<&SecretFailure>)> = Vec::new();
        for failure in failures {
            let cause = failure.error.to_string();
            let provider = failure.provider.as_deref();
            match groups.iter_mut().find(|(p, c, _)| *p == provider && *c == cause) {
                Some((_, _, members)) => members.push(failure),
                None => groups.push((provider, cause, vec![failure])),
            }
        }
        groups
            .into_iter()
            .map(|(provider, cause, members)| match members.as_slice() {
                [one] => one.to_string(),
                many => {
                    let mut names: Vec<String> = many.iter().take(SHOWN).map(|m| format!("`{}`", m.secret)).collect();
                    if many.len() > SHOWN {
                        names.push(format!("{} more", many.len() - SHOWN));
                    }
                    let from = provider.map(|p| format!(", provider `{p}`")).unwrap_or_default();
                    format!("secrets {} ({} secrets{from}): {cause}", names.join(", "), many.len())
                }
            })
            .collect()
    }
}

/// Checks that every provider type is registered and every secret has a
/// provider or a default.
pub fn validate_secrets(config: &Config) -> Result<(), ConfigError> {
    crate::trust::check_secret_names(config)?;
    for spec in config.providers.values() {
        if find_provider_type(&spec.type_name).is_none() {
            let known: Vec<&str> = provider_types().iter().map(|r| r.type_name).collect();
            return Err(unknown_type(config, spec, "provider", &known));
        }
    }
    if let Some(default) = &config.default_provider {
        if !config.providers.contains_key(default) {
            let message = format!("default_provider names `{default}`, which is not a configured provider");
            let hint = Some(provider_hint(config, default));
            return Err(match &config.default_provider_origin {
                Some(origin) => ConfigError::at(config.locate(origin, &[]), message, hint),
                None => ConfigError::invalid(message, hint),
            });
        }
    }
    for secret in config.secrets.values() {
        if !is_variable_name(&secret.name) {
            return Err(ConfigError::at(
                config.locate(&secret.origin, &[]),
                format!(
                    "secret name `{}` is not a valid environment variable name",
                    crate::config::escape(&secret.name)
                ),
                Some("use letters, digits and `_`, not starting with a digit (e.g. `API_KEY`)".into()),
            ));
        }
        if let Some(default) = &secret.default {
            let at = || config.locate(&secret.origin, &["default".into()]);
            if default.expose().contains('\0') {
                return Err(ConfigError::at(
                    at(),
                    format!(
                        "the default of secret `{}` holds a NUL byte, which an environment variable cannot carry",
                        secret.name
                    ),
                    Some("remove the `\\u0000` from the value".into()),
                ));
            }
            if crate::placeholder::has_unclosed_ref(default.expose()) {
                return Err(ConfigError::at(
                    at(),
                    format!(
                        "the default of secret `{}` holds a `${{` that is not closed",
                        secret.name
                    ),
                    Some("write `${NAME}`, or `$${` for a literal `${`".into()),
                ));
            }
        }
        if secret.value.is_none() {
            // fnox's environment fallback: `NAME = {}` reads `$NAME`.
            continue;
        }
        match config.provider_of(secret) {
            Some(p) if config.providers.contains_key(p) => {}
            // fnox falls back to the default; resolution warns.
            Some(_) if secret.default.is_some() => {}
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
/// and those its `default` references. `by_provider` holds each provider's
/// references once computed (every secret of a provider shares them).
fn dependencies<'a>(
    config: &'a Config,
    secret: &SecretSpec,
    by_provider: &mut BTreeMap<&'a str, Vec<String>>,
) -> Vec<String> {
    let known = |n: &str| config.secrets.contains_key(n);
    let mut deps = Vec::new();
    if secret.value.is_some() {
        if let Some((provider, _)) = config
            .provider_of(secret)
            .and_then(|p| config.providers.get_key_value(p))
        {
            let of_provider = by_provider
                .entry(provider.as_str())
                .or_insert_with(|| crate::provider_ref::provider_secrets(config, provider, &known));
            deps.extend(of_provider.iter().cloned());
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

/// The provider a secret goes to, if it is configured.
fn configured_provider<'a>(config: &'a Config, secret: &'a SecretSpec) -> Option<&'a str> {
    config.provider_of(secret).filter(|p| config.providers.contains_key(*p))
}

/// fnox's rule for a secret with neither `value` nor `default`: the
/// variable of the same name in sesame's environment, `json_path`/`line`
/// applied.
fn environment_fallback(secret: &SecretSpec, ctx: &BackendContext) -> Result<SecretValue, (bool, String)> {
    let name = &secret.name;
    let value = ctx.env.secret(name).ok_or_else(|| {
        (
            true,
            format!("it has no `value` and environment variable `{name}` is not set"),
        )
    })?;
    match &secret.extract {
        Some(extract) => extract
            .apply(&value)
            .map_err(|e| (false, format!("(from the environment) {e}"))),
        None => Ok(value),
    }
}

/// Orders the `wanted` secrets (all when `None`) and what they depend on
/// into waves.
pub fn plan(config: &Config, wanted: Option<&[String]>) -> Result<Plan, ConfigError> {
    validate_secrets(config)?;
    // Each needed secret with what it depends on, computed once.
    let mut needed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut by_provider = BTreeMap::new();
    let mut stack: Vec<std::borrow::Cow<'_, str>> = match wanted {
        Some(names) => names.iter().map(|n| n.as_str().into()).collect(),
        None => config.secrets.keys().map(|n| n.as_str().into()).collect(),
    };
    while let Some(name) = stack.pop() {
        let name = name.as_ref();
        let Some((key, secret)) = config.secrets.get_key_value(name) else {
            let names: Vec<&str> = config.secrets.keys().map(String::as_str).collect();
            let hint = match did_you_mean(name, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "run `sesame list` to see the configured secrets".into(),
            };
            return Err(ConfigError::invalid(format!("no secret named `{name}`"), Some(hint)));
        };
        if !needed.contains_key(key.as_str()) {
            let deps = dependencies(config, secret, &mut by_provider);
            stack.extend(deps.iter().cloned().map(Into::into));
            needed.insert(key.as_str(), deps);
        }
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut waves = Vec::new();
    while done.len() < needed.len() {
        let wave: Vec<&str> = needed
            .iter()
            .filter(|(n, _)| !done.contains(*n))
            .filter(|(n, deps)| deps.iter().all(|d| done.contains(d.as_str()) && d != *n))
            .map(|(n, _)| *n)
            .collect();
        if wave.is_empty() {
            let stuck: Vec<&str> = needed.keys().filter(|n| !done.contains(*n)).copied().collect();
            return Err(ConfigError::invalid(
                format!("secrets reference each other in a cycle: {}", stuck.join(" -> ")),
                Some("a provider field or default may not depend, directly or not, on a secret it provides".into()),
            ));
        }
        done.extend(wave.iter().copied());
        waves.push(wave.into_iter().map(str::to_string).collect::<Vec<String>>());
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

/// Builds the config a backend receives, the only way a backend's table is
/// obtained: keys must be literal; `{field}` placeholders are filled and
/// `${NAME}` references expanded in values, each substitution recorded;
/// then the trust check runs on the final table, following every value of
/// a trust-sensitive field to the file it came from ([`crate::trust`]).
pub fn backend_config(
    config: &Config,
    spec: &crate::config::BackendSpec,
    sensitive: &[&str],
    values: &BTreeMap<String, SecretValue>,
    ctx: &BackendContext,
) -> Result<BackendConfig, ConfigError> {
    if let Some(path) = placeholder_key(&spec.table) {
        return Err(ConfigError::at(
            config.locate(&spec.origin, &path),
            format!(
                "{}: the key `{}` holds a placeholder, and keys are literal",
                spec.origin.table_name(),
                crate::config::escape(path.last().map_or("", String::as_str))
            ),
            Some("write the field name itself; `{field}` and `${NAME}` fill values only".into()),
        ));
    }
    crate::trust::check_backend(config, spec, sensitive)?;
    let lookup = |name: &str| -> Option<(String, ValueSource)> {
        values
            .get(name)
            .map(|v| (v.expose().to_string(), ValueSource::Secret(name.to_string())))
            .or_else(|| {
                ctx.env
                    .var(name)
                    .map(|v| (v.to_string(), ValueSource::Env(name.to_string())))
            })
    };
    let (table, made) = substitute(&spec.table, &lookup).map_err(|e| {
        ConfigError::at(
            config.locate(&spec.origin, &e.path),
            format!("{}: {e}", spec.origin.table_name()),
            None,
        )
    })?;
    crate::trust::check_sources(config, spec, sensitive, &table, &made)?;
    Ok(BackendConfig::from_config(config, &spec.origin, &spec.name, &spec.type_name, table).with_substitutions(&made))
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
    (registration.factory)(&backend, ctx).map_err(|error| ResolveError::Provider {
        provider: name.to_string(),
        error: error.map_text(|text| backend.name_sources(text)),
    })
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
            if let (Some(reference), Some(provider)) = (&secret.value, configured_provider(config, secret)) {
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
        // fnox's `{ provider, value }` references in a provider's table.
        let mut contexts = BTreeMap::new();
        for provider in batches.keys() {
            let mut build = |name: &str| -> Result<Arc<dyn Provider>, ResolveError> {
                if !providers.contains_key(name) {
                    let instance = build_provider(config, name, &resolution.values, &ctx)?;
                    providers.insert(name.to_string(), Arc::from(instance));
                }
                Ok(providers[name].clone())
            };
            let chain = vec![provider.clone()];
            let provider_ctx = crate::provider_ref::context_for(config, chain, &ctx, &mut build).await?;
            contexts.insert(provider.clone(), provider_ctx);
        }
        let calls = batches.iter().map(|(provider, requests)| {
            let instance = providers[provider].clone();
            let ctx = &contexts[provider];
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
                (provider.as_str(), results)
            }
        });
        let answered = futures_util::future::join_all(calls).await;
        // Each answered secret by name: its provider, its request, the result.
        let mut wave_values = BTreeMap::new();
        for (provider, results) in answered {
            for (request, result) in batches[provider].iter().zip(results) {
                wave_values.insert(request.name.as_str(), (provider, request, result));
            }
        }
        // How a failure names the reference. An encrypted value or a literal
        // is data, not a name: leave it out of messages.
        let shown_reference = |provider: &str, request: &SecretRequest| {
            if providers[provider].reference_is_sensitive() {
                format!("<{} characters, not shown>", request.reference.chars().count())
            } else {
                request.reference.clone()
            }
        };
        for name in wave {
            let secret = &config.secrets[name];
            let failure = |provider: Option<String>, reference: Option<String>, error| SecretFailure {
                secret: name.clone(),
                provider,
                reference,
                error,
            };
            let plain_failure = |cause: String| failure(None, None, BackendError::failed(cause, None));
            // `(missing, failure)`: a missing value may fall back to the default.
            let outcome =
                match wave_values.remove(name.as_str()) {
                    Some((provider, request, Ok(value))) => match &secret.extract {
                        Some(extract) => extract.apply(&value).map_err(|e| {
                            (
                                false,
                                failure(
                                    Some(provider.to_string()),
                                    Some(shown_reference(provider, request)),
                                    BackendError::failed(e.to_string(), None),
                                ),
                            )
                        }),
                        None => Ok(value),
                    },
                    Some((provider, request, Err(e))) => Err((
                        matches!(e, BackendError::NotFound { .. }),
                        failure(Some(provider.to_string()), Some(shown_reference(provider, request)), e),
                    )),
                    None => match (&secret.value, config.provider_of(secret)) {
                        (Some(_), Some(provider)) => {
                            // Validation let this through because of the default.
                            resolution.notices.push(format!(
                            "secret `{name}` uses provider `{provider}`, which is not configured{}; using its default",
                            config.profile.as_deref().map(|p| format!(" in profile `{p}`")).unwrap_or_default()
                        ));
                            Err((true, plain_failure("its provider is not configured".into())))
                        }
                        _ if secret.default.is_some() => Err((true, plain_failure("it has no provider value".into()))),
                        _ => environment_fallback(secret, base)
                            .map_err(|(missing, cause)| (missing, plain_failure(cause))),
                    },
                };
            let outcome = match (outcome, &secret.default) {
                (Err((true, _)), Some(default)) => {
                    let look = lookup(&resolution.values, base);
                    expand_refs(default.expose(), &["default".into()], &look)
                        .map(SecretValue::new)
                        .map_err(|e| (false, failure(None, None, BackendError::failed(e.to_string(), None))))
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
            return Err(ResolveError::Secrets(failures));
        }
    }
    Ok(resolution)
}

#[cfg(test)]
mod failure_tests {
    use super::*;

    fn failure(secret: &str, provider: &str, message: &str) -> SecretFailure {
        SecretFailure {
            secret: secret.into(),
            provider: Some(provider.into()),
            reference: Some(format!("ref-{secret}")),
            error: BackendError::failed(message, Some("sign in".into())),
        }
    }

    #[test]
    fn one_cause_behind_many_secrets_is_reported_once() {
        let mut failures: Vec<SecretFailure> = (0..32)
            .map(|i| failure(&format!("S{i}"), "op", "op is signed out"))
            .collect();
        failures.push(failure("OTHER", "op", "item not found"));
        let messages = SecretFailure::grouped(&failures);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].starts_with("secrets `S0`, `S1`, `S2`, `S3`, `S4`, 27 more (32 secrets, provider `op`): "),
            "{}",
            messages[0]
        );
        assert_eq!(messages[0].matches("op is signed out").count(), 1);
        assert_eq!(messages[0].matches("hint: sign in").count(), 1);
        assert_eq!(
            messages[1],
            "secret `OTHER` (provider `op`, reference `ref-OTHER`): item not found\n  hint: sign in"
        );
    }
}
