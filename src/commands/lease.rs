//! `sesame lease create|list|revoke|cleanup`: leases outside `exec`.
//!
//! Only `lease create` prints credential values, on stdout, on request.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde_json::json;
use sesame_core::config::did_you_mean;
use sesame_core::duration::format_duration;
use sesame_core::leasing::{self, CleanupOutcome, LeaseError};
use sesame_core::ledger::{unix_now, LeaseState, LedgerEntry};
use sesame_core::process::{exit_like, ChildExit, SignalRelay};
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
    let relay = SignalRelay::install()?;
    let app = App::load(global)?;
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
    let mut leases = leasing::prepare(&app.config, &ctx)?;
    leases.retain(|l| args.name.as_ref().is_none_or(|n| *n == l.name));
    for lease in &mut leases {
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
    let ledger = app.ledger();
    let acquired = rt.block_on(leasing::acquire(
        leases,
        &ctx,
        &ledger,
        app.config.profile.as_deref(),
        relay.interrupted_flag(),
    ));
    if let Err(LeaseError::Interrupted(signal)) = acquired {
        drop(relay);
        exit_like(ChildExit::Signal(signal));
    }
    let acquired = acquired?;
    drop(relay);
    // Held by the user until it expires or `sesame lease revoke`: no run
    // owns it, so `lease cleanup` leaves it alone (pid 0).
    let ids: Vec<String> = acquired.leases.iter().map(|h| h.entry.clone()).collect();
    let entries = ledger.update(|all| {
        for entry in all.iter_mut().filter(|e| ids.contains(&e.id)) {
            entry.pid = 0;
        }
        all.iter()
            .filter(|e| ids.contains(&e.id))
            .map(|e| (e.id.clone(), e.expires_at))
            .collect::<BTreeMap<_, _>>()
    })?;
    let mut text = String::new();
    match args.format {
        LeaseFormat::Json => {
            let list: Vec<_> = acquired
                .leases
                .iter()
                .map(|held| {
                    let expires = entries.get(&held.entry).copied().flatten();
                    let env: serde_json::Map<String, serde_json::Value> =
                        held.env.iter().map(|(k, v)| (k.clone(), v.expose().into())).collect();
                    json!({
                        "lease": held.lease,
                        "id": held.entry,
                        "expires_at": expires.map(format_time),
                        "env": env,
                    })
                })
                .collect();
            text = serde_json::to_string_pretty(&json!({ "leases": list }))? + "\n";
        }
        LeaseFormat::Shell | LeaseFormat::Env => {
            for held in &acquired.leases {
                let expires = entries
                    .get(&held.entry)
                    .copied()
                    .flatten()
                    .map_or_else(|| "unknown".to_string(), format_time);
                text.push_str(&format!(
                    "# lease {} (id {}), expires {expires}; revoke: sesame lease revoke {}\n",
                    held.lease, held.entry, held.entry
                ));
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

/// A ledger entry's status for people.
fn status(entry: &LedgerEntry, now: u64) -> &'static str {
    let alive = leasing::process_alive(entry.pid);
    match entry.state {
        _ if entry.is_expired(now) => "expired",
        LeaseState::Pending if alive => "minting",
        LeaseState::Pending => "interrupted",
        LeaseState::Active if !entry.reuse && entry.pid != 0 && !alive => "abandoned",
        LeaseState::Active => "active",
    }
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
            let list: Vec<_> = entries
                .iter()
                .map(|e| {
                    json!({
                        "id": e.id,
                        "lease": e.lease,
                        "type": e.backend,
                        "profile": e.profile,
                        "status": status(e, now),
                        "state": e.state,
                        "label": e.label,
                        "credential_id": e.backend_id,
                        "created_at": format_time(e.created_at),
                        "expires_at": e.expires_at.map(format_time),
                        "expires_in_seconds": e.expires_at.map(|t| t as i64 - now as i64),
                        "reuse": e.reuse,
                        "revocable": e.revocable,
                        "pid": (e.pid != 0).then_some(e.pid),
                        "variables": e.env.keys().collect::<Vec<_>>(),
                    })
                })
                .collect();
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
                        status(e, now).to_string(),
                        e.expires_at.map_or_else(|| "-".into(), |t| relative(t, now)),
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
    let wanted = args.id.trim();
    let matches: Vec<&LedgerEntry> = entries
        .iter()
        .filter(|e| e.id == wanted || e.backend_id.as_deref() == Some(wanted))
        .collect();
    let matches = if matches.is_empty() && wanted.len() >= 4 {
        entries.iter().filter(|e| e.id.starts_with(wanted)).collect()
    } else {
        matches
    };
    let entry = match matches.as_slice() {
        [one] => (*one).clone(),
        [] => bail!(
            "no lease with id `{wanted}` in this project's ledger\n  hint: run `sesame lease list` to see the ids"
        ),
        _ => bail!("`{wanted}` matches several leases\n  hint: give the whole id (see `sesame lease list`)"),
    };
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
    let mut seen = Vec::new();
    // One after another: leases that share a token collection find the
    // tokens the first one deleted already gone.
    for lease in leases {
        match rt.block_on(lease.backend.cleanup_remote(ctx)) {
            Ok(Some(report)) => {
                if seen.contains(&report.scope) {
                    continue;
                }
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
                    crate::output::warning(&format!("lease `{}`: could not delete {problem}", lease.name));
                }
                seen.push(report.scope);
            }
            Ok(None) => println!(
                "remote: lease `{}` ({}): the backend cannot list its credentials; skipped",
                lease.name, lease.type_name
            ),
            Err(e) => {
                failures += 1;
                crate::output::warning(&format!("lease `{}`: remote cleanup failed: {e}", lease.name));
            }
        }
    }
    Ok(failures)
}

/// `in 59m` or `3m ago`.
fn relative(at: u64, now: u64) -> String {
    if at > now {
        format!("in {}", format_duration(Duration::from_secs(at - now)))
    } else if at == now {
        "now".into()
    } else {
        format!("{} ago", format_duration(Duration::from_secs(now - at)))
    }
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-07-01T05:20:00Z`).
fn format_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_782_883_200), "2026-07-01T05:20:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(relative(100, 40), "in 1m");
        assert_eq!(relative(40, 100), "1m ago");
    }
}
