//! `sesame check`: validates the config and reports, without values, what
//! would resolve and which leases would be minted or reused.

use std::sync::Arc;

use anyhow::Result;
use serde_json::json;
use sesame_core::config::display_path;
use sesame_core::duration::format_duration;
use sesame_core::leasing::{self, REUSE_MARGIN};
use sesame_core::ledger::{unix_now, LeaseState};
use sesame_core::resolve::{self, ResolveError};

use crate::app::App;
use crate::cli::{CheckArgs, GlobalArgs, ReadFormat};

struct Row {
    kind: &'static str,
    name: String,
    status: &'static str,
    detail: String,
}

/// Runs the checks; exit 1 if any failed.
pub fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<i32> {
    let app = App::load(global)?;
    let mut rows = Vec::new();
    for file in &app.config.files {
        rows.push(Row {
            kind: "file",
            name: display_path(&file.path).display().to_string(),
            status: "ok",
            detail: format!(
                "{}, {}",
                serde_json::to_value(file.kind)?.as_str().unwrap_or_default(),
                serde_json::to_value(file.trust)?.as_str().unwrap_or_default()
            ),
        });
    }
    let mut values = Default::default();
    match resolve::plan(&app.config, None) {
        Err(e) => rows.push(Row {
            kind: "config",
            name: "secrets".into(),
            status: "error",
            detail: e.to_string(),
        }),
        Ok(_) if args.no_resolve => {
            for secret in app.config.secrets.values() {
                let provider = app.config.provider_of(secret).unwrap_or("-");
                rows.push(Row {
                    kind: "secret",
                    name: secret.name.clone(),
                    status: "ok",
                    detail: format!("provider {provider} (not resolved: --no-resolve)"),
                });
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
                        rows.push(Row {
                            kind: "secret",
                            name: secret.name.clone(),
                            status: if resolved { "ok" } else { "missing" },
                            detail: match (resolved, provider) {
                                (true, Some(p)) => format!("resolves through provider {p}"),
                                (true, None) => "resolves to its default".into(),
                                (false, _) => "not resolved; allowed by if_missing".into(),
                            },
                        });
                    }
                    values = resolution.values;
                }
                Err(ResolveError::Secrets(messages)) => {
                    for message in messages {
                        rows.push(Row {
                            kind: "secret",
                            name: message.split('`').nth(1).unwrap_or("?").to_string(),
                            status: "error",
                            detail: message,
                        });
                    }
                }
                Err(e) => rows.push(Row {
                    kind: "config",
                    name: "secrets".into(),
                    status: "error",
                    detail: e.to_string(),
                }),
            }
        }
    }
    let ctx = app.context().with_secrets(Arc::new(values));
    // Every provider, used or not, must build from its table.
    if resolve::validate_secrets(&app.config).is_ok() {
        for name in app.config.providers.keys() {
            if let Err(e) = resolve::build_provider(&app.config, name, &ctx.secrets, &ctx) {
                rows.push(Row {
                    kind: "provider",
                    name: name.clone(),
                    status: "error",
                    detail: e.to_string(),
                });
            }
        }
    }
    match leasing::prepare(&app.config, &ctx) {
        Err(e) => rows.push(Row {
            kind: "lease",
            name: "leases".into(),
            status: "error",
            detail: e.to_string(),
        }),
        Ok(leases) => {
            let entries = app.ledger().entries().unwrap_or_default();
            let now = unix_now();
            for lease in leases {
                let reusable = lease.reuse.then(|| {
                    entries.iter().find(|e| {
                        e.lease == lease.name
                            && e.state == LeaseState::Active
                            && e.fingerprint == lease.fingerprint
                            && e.profile == app.config.profile
                            && e.expires_at.is_some_and(|t| t > now + REUSE_MARGIN.as_secs())
                    })
                });
                let detail = match reusable.flatten() {
                    Some(entry) => format!(
                        "would reuse lease {} (expires in {})",
                        entry.id,
                        format_duration(std::time::Duration::from_secs(entry.expires_at.unwrap_or(now) - now))
                    ),
                    None if lease.reuse => format!(
                        "would mint a {} {} lease",
                        format_duration(lease.duration),
                        lease.type_name
                    ),
                    None => format!(
                        "would mint a {} {} lease and revoke it when the command ends",
                        format_duration(lease.duration),
                        lease.type_name
                    ),
                };
                rows.push(Row {
                    kind: "lease",
                    name: lease.name,
                    status: "ok",
                    detail,
                });
            }
        }
    }
    let failed = rows.iter().any(|r| r.status == "error");
    match args.format {
        ReadFormat::Json => {
            let checks: Vec<_> = rows
                .iter()
                .map(|r| json!({"kind": r.kind, "name": r.name, "status": r.status, "detail": r.detail}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"ok": !failed, "checks": checks}))?
            );
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
