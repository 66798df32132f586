//! `sesame check`: validates the config and reports, without values, what
//! would resolve and which leases would be minted, reused or taken as they
//! are (static credentials).

use std::sync::Arc;

use anyhow::Result;
use serde_json::json;
use sesame_core::config::display_path;
use sesame_core::leasing::LeaseError;
use sesame_core::ledger::unix_now;
use sesame_core::resolve::{self, ResolveError};

use crate::app::App;
use crate::cli::{CheckArgs, GlobalArgs, ReadFormat};

/// One line of the report (docs/reference/json.md, "sesame check").
struct Row {
    /// `file`, `config`, `secret`, `provider` or `lease`.
    kind: &'static str,
    name: String,
    /// `ok`, `missing` or `error`.
    status: &'static str,
    detail: String,
    /// Lease rows that are ok: `mint`, `reuse` or `static`.
    action: Option<&'static str>,
}

impl Row {
    fn new(kind: &'static str, name: impl Into<String>, status: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            status,
            detail: detail.into(),
            action: None,
        }
    }
}

/// Runs the checks; exit 1 if any failed.
pub fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<i32> {
    let app = App::load(global)?;
    let mut rows = Vec::new();
    for file in &app.config.files {
        rows.push(Row::new(
            "file",
            display_path(&file.path).display().to_string(),
            "ok",
            format!(
                "{}, {}",
                serde_json::to_value(file.kind)?.as_str().unwrap_or_default(),
                serde_json::to_value(file.trust)?.as_str().unwrap_or_default()
            ),
        ));
    }
    // Every profile's problems, and placeholder syntax, without values.
    let base_error = resolve::validate_secrets(&app.config).err().map(|e| e.to_string());
    for problem in crate::validate::problems(global, &app)? {
        let name = match &problem.profile {
            Some(profile) => format!("profile {profile}"),
            None => "config".to_string(),
        };
        let detail = match &problem.profile {
            Some(profile) => format!("with -P {profile}: {}", problem.error),
            None => problem.error.to_string(),
        };
        // The base config's secret validation shows below, as `secrets`.
        if problem.profile.is_some() || Some(detail.clone()) != base_error {
            rows.push(Row::new("config", name, "error", detail));
        }
    }
    let mut values = Default::default();
    match resolve::plan(&app.config, None) {
        Err(e) => rows.push(Row::new("config", "secrets", "error", e.to_string())),
        Ok(_) if args.no_resolve => {
            for secret in app.config.secrets.values() {
                let provider = app.config.provider_of(secret).unwrap_or("-");
                rows.push(Row::new(
                    "secret",
                    secret.name.clone(),
                    "ok",
                    format!("provider {provider} (not resolved: --no-resolve)"),
                ));
            }
        }
        Ok(plan) => {
            let rt = super::runtime()?;
            match rt.block_on(resolve::resolve(&app.config, &plan, &app.context())) {
                Ok(resolution) => {
                    for secret in app.config.secrets.values() {
                        let provider = if secret.value.is_some() {
                            app.config.provider_of(secret)
                        } else {
                            None
                        };
                        let resolved = resolution.values.contains_key(&secret.name);
                        let configured = provider.is_some_and(|p| app.config.providers.contains_key(p));
                        rows.push(Row::new(
                            "secret",
                            secret.name.clone(),
                            if resolved { "ok" } else { "missing" },
                            match (resolved, provider) {
                                (true, Some(p)) if configured => format!("resolves through provider {p}"),
                                (true, Some(p)) => {
                                    format!("resolves to its default (provider {p} is not configured)")
                                }
                                (true, None) if secret.default.is_some() => "resolves to its default".into(),
                                (true, None) => format!("from environment variable {}", secret.name),
                                (false, _) => "not resolved; allowed by if_missing".into(),
                            },
                        ));
                    }
                    values = resolution.values;
                }
                Err(ResolveError::Secrets(failures)) => {
                    for failure in failures {
                        rows.push(Row::new("secret", failure.secret.clone(), "error", failure.to_string()));
                    }
                }
                Err(e) => rows.push(Row::new("config", "secrets", "error", e.to_string())),
            }
        }
    }
    let ctx = app.context().with_secrets(Arc::new(values));
    // Every provider, used or not, must build from its table.
    if resolve::validate_secrets(&app.config).is_ok() {
        for name in app.config.providers.keys() {
            if let Err(e) = resolve::build_provider(&app.config, name, &ctx.secrets, &ctx) {
                rows.push(Row::new("provider", name.clone(), "error", e.to_string()));
            }
        }
    }
    let mut leases = app.leases(false)?;
    let planned = leases
        .prepare(&app.config, &ctx)
        .map_err(LeaseError::from)
        .and_then(|()| Ok(leases.plan()?));
    match planned {
        Err(e) => rows.push(Row::new("lease", "leases", "error", e.to_string())),
        Ok(plans) => {
            let now = unix_now();
            for (lease, plan) in plans {
                let mut row = Row::new("lease", lease.name.clone(), "ok", plan.describe(lease, now));
                row.action = Some(plan.action());
                rows.push(row);
            }
        }
    }
    let failed = rows.iter().any(|r| r.status == "error");
    match args.format {
        ReadFormat::Json => {
            let checks: Vec<_> = rows
                .iter()
                .map(|r| {
                    let mut check = json!({"kind": r.kind, "name": r.name, "status": r.status, "detail": r.detail});
                    if let Some(action) = r.action {
                        check["action"] = action.into();
                    }
                    check
                })
                .collect();
            // docs/reference/json.md, "sesame check".
            crate::output::json(json!({"ok": !failed, "checks": checks}))?;
        }
        ReadFormat::Text => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.kind.to_string(),
                        r.name.clone(),
                        r.status.to_string(),
                        r.detail.replace('\n', " "),
                    ]
                })
                .collect();
            crate::output::table(&["KIND", "NAME", "STATUS", "DETAIL"], &table);
        }
    }
    Ok(if failed { 1 } else { 0 })
}
