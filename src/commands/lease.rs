//! `sesame lease create|list|revoke|cleanup`: leases outside `exec`.
//!
//! Only `lease create` prints credential values, on stdout, on request.

use std::io::Write;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde_json::json;
use sesame_core::config::did_you_mean;
use sesame_core::duration::format_duration;
use sesame_core::leasing::{self, CleanupOutcome, HeldLease, LeaseError, RemoteOutcome};
use sesame_core::ledger::{unix_now, LeaseState, LedgerEntry};
use sesame_core::ledger_view::{entry_json, find_entry, format_time, relative_time, EntryStatus};
use sesame_core::process::{exit_like, ChildExit};
use sesame_core::BackendContext;

use crate::app::App;
use crate::cli::{
    GlobalArgs, LeaseCleanupArgs, LeaseCommand, LeaseCreateArgs, LeaseFormat, LeaseListArgs, LeaseRevokeArgs,
    ReadFormat,
};
use crate::output::{dotenv_quote, shell_quote};

/// Runs a `sesame lease` subcommand.
pub fn run(global: &GlobalArgs, command: &LeaseCommand) -> Result<i32> {
    match command {
        LeaseCommand::Create(args) => create(global, args),
        LeaseCommand::List(args) => list(global, args),
        LeaseCommand::Revoke(args) => revoke(global, args),
        LeaseCommand::Cleanup(args) => cleanup(global, args),
    }
}

/// The backend context with every secret resolved. `strict = false` (for
/// revoking) goes on without the secrets when they do not resolve: the
/// parent credential may well be in the environment.
fn context(app: &App, rt: &tokio::runtime::Runtime, strict: bool) -> Result<BackendContext> {
    match super::resolve_secrets(app, rt, None) {
        Ok(resolution) => Ok(app.context().with_secrets(Arc::new(resolution.values))),
        Err(e) if !strict => {
            crate::output::warning(&format!(
                "secrets did not resolve, so leases whose parent credential is a secret may not be revoked:\n{e:#}"
            ));
            Ok(app.context())
        }
        Err(e) => Err(e),
    }
}

fn create(global: &GlobalArgs, args: &LeaseCreateArgs) -> Result<i32> {
    let app = App::load(global)?;
    let mut leases = app.leases(true)?;
    if app.config.leases.is_empty() {
        bail!("no leases are configured\n  hint: add a [leases.NAME] table, e.g. with `type = \"cloudflare\"`");
    }
    if let Some(name) = &args.name {
        if !app.config.leases.contains_key(name) {
            let names: Vec<&str> = app.config.leases.keys().map(String::as_str).collect();
            let hint = match did_you_mean(name, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("configured leases: {}", names.join(", ")),
            };
            bail!("no lease named `{name}`\n  hint: {hint}");
        }
    }
    let rt = super::runtime()?;
    let ctx = context(&app, &rt, true)?;
    leases.prepare(&app.config, &ctx)?;
    leases
        .leases_mut()
        .retain(|l| args.name.as_ref().is_none_or(|n| *n == l.name));
    for lease in leases.leases_mut() {
        // A fresh credential that belongs to the user, not a cached one.
        lease.reuse = false;
        if let Some(duration) = args.duration {
            let max = lease.backend.max_duration();
            if duration > max {
                bail!(
                    "lease `{}`: --duration {} is more than the {} backend allows ({})\n  hint: use at most `--duration {}`",
                    lease.name,
                    format_duration(duration),
                    lease.type_name,
                    format_duration(max),
                    format_duration(max)
                );
            }
            lease.duration = duration;
        }
    }
    if let Err(e) = rt.block_on(leases.acquire()) {
        drop(leases);
        match e {
            LeaseError::Interrupted(signal) => exit_like(ChildExit::Signal(signal)),
            e => return Err(e.into()),
        }
    }
    leases.stop_catching_signals();
    // Held by the user until it expires or `sesame lease revoke`: no run
    // owns it, so `lease cleanup` leaves it alone (pid 0).
    let held: Vec<HeldLease> = leases.held().cloned().collect();
    let ids: Vec<&String> = held.iter().filter_map(|h| h.entry.as_ref()).collect();
    leases.ledger().update(|all| {
        for entry in all.iter_mut().filter(|e| ids.contains(&&e.id)) {
            entry.pid = 0;
        }
    })?;
    let mut text = String::new();
    match args.format {
        LeaseFormat::Json => {
            let list: Vec<_> = held
                .iter()
                .map(|held| {
                    let env: serde_json::Map<String, serde_json::Value> =
                        held.env.iter().map(|(k, v)| (k.clone(), v.expose().into())).collect();
                    json!({
                        "lease": held.lease,
                        "id": held.entry,
                        "expires_at": held.expires_at.map(format_time),
                        "env": env,
                    })
                })
                .collect();
            text = serde_json::to_string_pretty(&json!({ "leases": list }))? + "\n";
        }
        LeaseFormat::Shell | LeaseFormat::Env => {
            for held in &held {
                let expires = held.expires_at.map_or_else(|| "unknown".to_string(), format_time);
                text.push_str(&match &held.entry {
                    Some(id) => format!(
                        "# lease {} (id {id}), expires {expires}; revoke: sesame lease revoke {id}\n",
                        held.lease
                    ),
                    None => format!("# lease {}: static credentials, as configured\n", held.lease),
                });
                for (name, value) in &held.env {
                    if args.format == LeaseFormat::Shell {
                        text.push_str(&format!("export {name}={}\n", shell_quote(value.expose())));
                    } else {
                        text.push_str(&format!("{name}={}\n", dotenv_quote(value.expose())));
                    }
                }
            }
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}

fn list(global: &GlobalArgs, args: &LeaseListArgs) -> Result<i32> {
    let app = App::load(global)?;
    let now = unix_now();
    let entries: Vec<LedgerEntry> = app
        .ledger()
        .entries()?
        .into_iter()
        .filter(|e| {
            let expired = e.is_expired(now);
            (!args.active || (!expired && e.state == LeaseState::Active)) && (!args.expired || expired)
        })
        .collect();
    match args.format {
        ReadFormat::Json => {
            let list: Vec<_> = entries.iter().map(|e| entry_json(e, now)).collect();
            // docs/reference/json.md, "sesame lease list".
            crate::output::json(json!({ "leases": list }))?;
        }
        ReadFormat::Text => {
            if entries.is_empty() {
                println!("no leases in this project's ledger");
                return Ok(0);
            }
            let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        e.lease.clone(),
                        e.backend.clone(),
                        EntryStatus::of(e, now).as_str().to_string(),
                        e.expires_at.map_or_else(|| "-".into(), |t| relative_time(t, now)),
                        yes_no(e.reuse),
                        yes_no(e.revocable),
                        e.env.keys().cloned().collect::<Vec<_>>().join(","),
                    ]
                })
                .collect();
            crate::output::table(
                &[
                    "ID",
                    "LEASE",
                    "TYPE",
                    "STATUS",
                    "EXPIRES",
                    "REUSE",
                    "REVOCABLE",
                    "VARIABLES",
                ],
                &rows,
            );
            let kept: Vec<&LedgerEntry> = entries
                .iter()
                .filter(|e| !e.revocable && e.state == LeaseState::Active && !e.is_expired(now))
                .collect();
            if !kept.is_empty() {
                println!();
                for e in kept {
                    println!(
                        "lease `{}` ({}): cannot be revoked one by one; it stays valid until it expires",
                        e.lease, e.id
                    );
                }
            }
        }
    }
    Ok(0)
}

fn revoke(global: &GlobalArgs, args: &LeaseRevokeArgs) -> Result<i32> {
    let app = App::load(global)?;
    let ledger = app.ledger();
    let entries = ledger.entries()?;
    let entry = find_entry(&entries, &args.id)?.clone();
    let rt = super::runtime()?;
    let ctx = context(&app, &rt, false)?;
    let backend = leasing::backend_for_entry(&app.config, &ctx, &entry)?;
    if rt.block_on(leasing::revoke_and_forget(backend.as_ref(), &ctx, &ledger, &entry))? {
        println!("revoked lease `{}` ({})", entry.lease, entry.id);
        Ok(0)
    } else {
        Err(anyhow!(
            "lease `{}` ({}): the credential could not be found to revoke; it stays in the ledger\n  hint: it stops working when it expires; `sesame lease cleanup` forgets it then",
            entry.lease,
            entry.id
        ))
    }
}

fn cleanup(global: &GlobalArgs, args: &LeaseCleanupArgs) -> Result<i32> {
    let app = App::load(global)?;
    crate::secret_env::sweep_files(&app);
    let ledger = app.ledger();
    let rt = super::runtime()?;
    let ctx = context(&app, &rt, false)?;
    let items = rt.block_on(leasing::cleanup(&app.config, &ctx, &ledger))?;
    let (mut revoked, mut pruned, mut kept, mut failed) = (0, 0, 0, 0);
    for item in &items {
        let what = format!(
            "lease `{}` ({}, {})",
            item.entry.lease,
            item.entry.id,
            item.reason.describe()
        );
        match &item.outcome {
            CleanupOutcome::Revoked => {
                revoked += 1;
                println!("revoked {what}");
            }
            CleanupOutcome::Pruned => {
                pruned += 1;
                println!("forgot {what}");
            }
            CleanupOutcome::Kept(why) => {
                kept += 1;
                println!("kept {what}: {why}");
            }
            CleanupOutcome::Failed(e) => {
                failed += 1;
                crate::output::warning(&format!("could not revoke {what}: {e}"));
            }
        }
    }
    println!("ledger: {revoked} revoked, {pruned} forgotten, {kept} kept, {failed} failed");
    if args.remote {
        failed += remote_cleanup(&app, &rt, &ctx)?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Asks every configured lease's backend to delete expired credentials
/// sesame created at the service; returns the number of failures.
fn remote_cleanup(app: &App, rt: &tokio::runtime::Runtime, ctx: &BackendContext) -> Result<usize> {
    let leases = leasing::prepare(&app.config, ctx)?;
    if leases.is_empty() {
        println!("remote: no leases are configured, so there is no service to clean up");
        return Ok(0);
    }
    let mut failures = 0;
    for outcome in rt.block_on(leasing::cleanup_remote(&leases, ctx)) {
        match outcome {
            RemoteOutcome::Cleaned { lease, report } => {
                println!(
                    "remote: {}: examined {}, deleted {} expired credentials sesame created",
                    report.scope,
                    report.examined,
                    report.deleted.len()
                );
                for name in &report.deleted {
                    println!("  deleted {name}");
                }
                for problem in &report.failures {
                    failures += 1;
                    crate::output::warning(&format!("lease `{lease}`: could not delete {problem}"));
                }
            }
            RemoteOutcome::Unsupported { lease, type_name } => {
                println!("remote: lease `{lease}` ({type_name}): the backend cannot list its credentials; skipped")
            }
            RemoteOutcome::Failed { lease, error } => {
                failures += 1;
                crate::output::warning(&format!("lease `{lease}`: remote cleanup failed: {error}"));
            }
        }
    }
    Ok(failures)
}
