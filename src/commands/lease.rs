//! `sesame lease create|list|revoke|cleanup`: leases outside `exec`.
//!
//! Only `lease create` prints credential values, on stdout, on request.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use serde_json::json;
use sesame_core::env_format::{held_json, held_lines, LineStyle};
use sesame_core::leasing::{
    self, check_selection, CleanupOutcome, CleanupTally, LeaseError, NotFoundToRevoke, RemoteOutcome,
};
use sesame_core::ledger::unix_now;
use sesame_core::ledger_view::{entry_json, entry_row, find_entry, listed, outlives_revoke, TABLE_HEADER};
use sesame_core::process::{exit_like, ChildExit};
use sesame_core::BackendContext;

use crate::app::App;
use crate::cli::{GlobalArgs, LeaseCleanupArgs, LeaseCommand, LeaseCreateArgs, LeaseFormat, LeaseListArgs, ReadFormat};
use crate::output::{table, warning};

/// Runs a `sesame lease` subcommand.
pub fn run(global: &GlobalArgs, command: &LeaseCommand) -> Result<i32> {
    match command {
        LeaseCommand::Create(args) => create(global, args),
        LeaseCommand::List(args) => list(global, args),
        LeaseCommand::Revoke(args) => revoke(global, &args.id),
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
            warning(&format!(
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
    check_selection(&app.config, args.name.as_deref())?;
    let rt = super::runtime()?;
    let ctx = context(&app, &rt, true)?;
    leases.prepare(&app.config, &ctx)?;
    leases.select_fresh(args.name.as_deref(), args.duration)?;
    if let Err(e) = rt.block_on(leases.acquire()) {
        drop(leases);
        match e {
            LeaseError::Interrupted(signal) => exit_like(ChildExit::Signal(signal)),
            e => return Err(e.into()),
        }
    }
    let held = leases.hand_over()?;
    let text = match args.format {
        LeaseFormat::Json => serde_json::to_string_pretty(&held_json(&held))? + "\n",
        LeaseFormat::Shell => held_lines(LineStyle::Shell, &held),
        LeaseFormat::Env => held_lines(LineStyle::Env, &held),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}

fn list(global: &GlobalArgs, args: &LeaseListArgs) -> Result<i32> {
    let app = App::load(global)?;
    let now = unix_now();
    let entries = listed(app.ledger().entries()?, args.active, args.expired, now);
    if args.format == ReadFormat::Json {
        let list: Vec<_> = entries.iter().map(|e| entry_json(e, now)).collect();
        // docs/reference/json.md, "sesame lease list".
        crate::output::json(json!({ "leases": list }))?;
        return Ok(0);
    }
    if entries.is_empty() {
        println!("no leases in this project's ledger");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = entries.iter().map(|e| entry_row(e, now)).collect();
    table(&TABLE_HEADER, &rows);
    let kept: Vec<_> = entries.iter().filter(|e| outlives_revoke(e, now)).collect();
    if !kept.is_empty() {
        println!();
    }
    for e in kept {
        let (lease, id) = (&e.lease, &e.id);
        println!("lease `{lease}` ({id}): cannot be revoked one by one; it stays valid until it expires");
    }
    Ok(0)
}

fn revoke(global: &GlobalArgs, id: &str) -> Result<i32> {
    let app = App::load(global)?;
    let ledger = app.ledger();
    let entry = find_entry(&ledger.entries()?, id)?.clone();
    let rt = super::runtime()?;
    let ctx = context(&app, &rt, false)?;
    let backend = leasing::backend_for_entry(&app.config, &ctx, &entry)?;
    if !rt.block_on(leasing::revoke_and_forget(backend.as_ref(), &ctx, &ledger, &entry))? {
        return Err(NotFoundToRevoke::of(&entry).into());
    }
    println!("revoked lease `{}` ({})", entry.lease, entry.id);
    Ok(0)
}

fn cleanup(global: &GlobalArgs, args: &LeaseCleanupArgs) -> Result<i32> {
    let app = App::load(global)?;
    sesame_core::secret_files::sweep_and_log(&sesame_core::locations::state_dir(&app.env));
    let ledger = app.ledger();
    let rt = super::runtime()?;
    let ctx = context(&app, &rt, false)?;
    let items = rt.block_on(leasing::cleanup(&app.config, &ctx, &ledger))?;
    for item in &items {
        let (entry, reason) = (&item.entry, item.reason.describe());
        let what = format!("lease `{}` ({}, {reason})", entry.lease, entry.id);
        match &item.outcome {
            CleanupOutcome::Revoked => println!("revoked {what}"),
            CleanupOutcome::Pruned => println!("forgot {what}"),
            CleanupOutcome::Kept(why) => println!("kept {what}: {why}"),
            CleanupOutcome::Failed(e) => warning(&format!("could not revoke {what}: {e}")),
        }
    }
    let CleanupTally {
        revoked,
        pruned,
        kept,
        mut failed,
    } = CleanupTally::of(&items);
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
                let (scope, examined, deleted) = (&report.scope, report.examined, report.deleted.len());
                println!("remote: {scope}: examined {examined}, deleted {deleted} expired credentials sesame created");
                report.deleted.iter().for_each(|name| println!("  deleted {name}"));
                for problem in &report.failures {
                    failures += 1;
                    warning(&format!("lease `{lease}`: could not delete {problem}"));
                }
            }
            RemoteOutcome::Unsupported { lease, type_name } => {
                println!("remote: lease `{lease}` ({type_name}): the backend cannot list its credentials; skipped")
            }
            RemoteOutcome::Failed { lease, error } => {
                failures += 1;
                warning(&format!("lease `{lease}`: remote cleanup failed: {error}"));
            }
        }
    }
    Ok(failures)
}
