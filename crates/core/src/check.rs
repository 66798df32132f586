//! What `sesame check` finds, without printing values: the files loaded,
//! every profile's problems, what each secret would resolve through, that
//! every provider builds, and what acquiring each lease would do (the very
//! plan `exec` follows, [`RunLeases::plan`]). The binary renders the rows.

use std::sync::Arc;

use serde::Serialize;

use crate::backend::BackendContext;
use crate::config::{display_path, Config, LoadOptions};
use crate::leasing::{LeaseError, RunLeases};
use crate::ledger::unix_now;
use crate::resolve::{self, ResolveError};

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// A secret with no value, which `if_missing` allows.
    Missing,
    /// A problem: `sesame check` fails.
    Error,
}

impl Status {
    /// `ok`, `missing` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Missing => "missing",
            Self::Error => "error",
        }
    }
}

/// One line of the report (docs/reference/json.md, "sesame check").
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `file`, `config`, `secret`, `provider` or `lease`.
    pub kind: &'static str,
    /// What was checked.
    pub name: String,
    /// How it went.
    pub status: Status,
    /// What was found, in a sentence (never a value).
    pub detail: String,
    /// Lease rows that are ok: `mint`, `reuse` or `static`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
}

impl Check {
    fn new(kind: &'static str, name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            status,
            detail: detail.into(),
            action: None,
        }
    }
}

/// Runs every check on `config` (loaded with `options`); resolves the
/// secrets through their providers unless `resolve` is false, with `base`
/// as the backend context, and plans `leases` (not yet prepared).
pub async fn check(
    config: &Config,
    options: &LoadOptions,
    base: &BackendContext,
    leases: &mut RunLeases,
    resolve: bool,
) -> Vec<Check> {
    let mut rows: Vec<Check> = config
        .files
        .iter()
        .map(|file| {
            let name = display_path(&file.path).display().to_string();
            let label = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
            let kind = label(serde_json::to_value(file.kind).unwrap_or_default());
            let trust = label(serde_json::to_value(file.trust).unwrap_or_default());
            Check::new("file", name, Status::Ok, format!("{kind}, {trust}"))
        })
        .collect();
    // Every profile's problems, and placeholder syntax, without values.
    let base_error = resolve::validate_secrets(config).err().map(|e| e.to_string());
    for problem in crate::validate::problems(config, options) {
        let (name, detail) = match &problem.profile {
            Some(profile) => (
                format!("profile {profile}"),
                format!("with -P {profile}: {}", problem.error),
            ),
            None => ("config".to_string(), problem.error.to_string()),
        };
        // The base config's secret validation shows below, as `secrets`.
        if problem.profile.is_some() || Some(&detail) != base_error.as_ref() {
            rows.push(Check::new("config", name, Status::Error, detail));
        }
    }
    let values = secrets(config, base, resolve, &mut rows).await;
    let ctx = base.clone().with_secrets(Arc::new(values));
    // Every provider, used or not, must build from its table.
    if base_error.is_none() {
        for name in config.providers.keys() {
            if let Err(e) = resolve::build_provider(config, name, &ctx.secrets, &ctx) {
                rows.push(Check::new("provider", name.clone(), Status::Error, e.to_string()));
            }
        }
    }
    let planned = leases
        .prepare(config, &ctx)
        .map_err(LeaseError::from)
        .and_then(|()| Ok(leases.plan()?));
    match planned {
        Err(e) => {
            let failures: Vec<String> = e.failures().iter().map(ToString::to_string).collect();
            rows.push(Check::new("lease", "leases", Status::Error, failures.join("\n")));
        }
        Ok(plans) => {
            let now = unix_now();
            for (lease, plan) in plans {
                let mut row = Check::new("lease", lease.name.clone(), Status::Ok, plan.describe(lease, now));
                row.action = Some(plan.action());
                rows.push(row);
            }
        }
    }
    rows
}

/// A row per secret; returns the values resolved (for the providers and
/// leases that need them).
async fn secrets(
    config: &Config,
    base: &BackendContext,
    resolve: bool,
    rows: &mut Vec<Check>,
) -> std::collections::BTreeMap<String, crate::SecretValue> {
    let plan = match resolve::plan(config, None) {
        Err(e) => {
            rows.push(Check::new("config", "secrets", Status::Error, e.to_string()));
            return Default::default();
        }
        Ok(plan) => plan,
    };
    if !resolve {
        for secret in config.secrets.values() {
            let provider = config.provider_of(secret).unwrap_or("-");
            let detail = format!("provider {provider} (not resolved: --no-resolve)");
            rows.push(Check::new("secret", secret.name.clone(), Status::Ok, detail));
        }
        return Default::default();
    }
    let resolution = match resolve::resolve(config, &plan, base).await {
        Ok(resolution) => resolution,
        Err(ResolveError::Secrets(failures)) => {
            for failure in failures {
                rows.push(Check::new(
                    "secret",
                    failure.secret.clone(),
                    Status::Error,
                    failure.to_string(),
                ));
            }
            return Default::default();
        }
        Err(e) => {
            rows.push(Check::new("config", "secrets", Status::Error, e.to_string()));
            return Default::default();
        }
    };
    for secret in config.secrets.values() {
        let provider = secret.value.is_some().then(|| config.provider_of(secret)).flatten();
        let resolved = resolution.values.contains_key(&secret.name);
        let configured = provider.is_some_and(|p| config.providers.contains_key(p));
        let detail = match (resolved, provider) {
            (true, Some(p)) if configured => format!("resolves through provider {p}"),
            (true, Some(p)) => format!("resolves to its default (provider {p} is not configured)"),
            (true, None) if secret.default.is_some() => "resolves to its default".into(),
            (true, None) => format!("from environment variable {}", secret.name),
            (false, _) => "not resolved; allowed by if_missing".into(),
        };
        let status = if resolved { Status::Ok } else { Status::Missing };
        rows.push(Check::new("secret", secret.name.clone(), status, detail));
    }
    resolution.values
}
