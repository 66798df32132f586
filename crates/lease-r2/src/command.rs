//! `sesame r2 verify`, contributed to the CLI through
//! [`sesame_core::command`]: proves that R2 credentials work on their bucket
//! and do no more than they should (docs/leases/r2.md,
//! docs/migration-preflight.md).
//!
//! Targets are `[leases.NAME] type = "r2"` tables. Static credentials are
//! read as they are; the other leases are acquired each on its own through
//! the run's [`RunLeases`] (reused from the ledger or minted, as `exec`
//! does) and released afterwards. The checks are [`crate::verify`].

use std::collections::BTreeSet;

use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::json;
use sesame_core::command::{format_arg, CommandError, CommandHost, CommandRegistration, CommandReport, Table};
use sesame_core::config::did_you_mean;
use sesame_core::leasing::{prepare, LeaseError, LeasePlan, Obtained, PreparedLease, RunLeases};
use sesame_core::{BackendContext, BackendError};

use crate::s3;
use crate::verify::{self, Check, Role, Status, Target, TokenCheck};
use crate::{R2Lease, Source};

sesame_core::inventory::submit! {
    CommandRegistration { name: "r2", command, run }
}

fn command() -> Command {
    Command::new("r2")
        .about("Cloudflare R2: prove that bucket credentials work and do no more than they should")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("verify")
                .about(
                    "Check R2 leases and static credentials on their S3 endpoint: accepted, bucket readable, \
                     writable only when they should be, bucket-scoped, token not expiring unnoticed",
                )
                .arg(
                    Arg::new("names").value_name("NAME").action(ArgAction::Append).help(
                        "The `type = \"r2\"` leases to check (default: all of them, unless --source/--destination)",
                    ),
                )
                .arg(
                    Arg::new("source")
                        .long("source")
                        .value_name("NAME")
                        .help("The migration source: must be read-only (`access = \"read\"`) and is checked to be"),
                )
                .arg(
                    Arg::new("destination")
                        .long("destination")
                        .value_name("NAME")
                        .help("The migration destination: must be read-write (`access = \"read-write\"`)"),
                )
                .arg(format_arg()),
        )
}

/// A usage mistake, with how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{message}\n  hint: {hint}")]
struct Usage {
    message: String,
    hint: String,
}

fn usage(message: String, hint: impl Into<String>) -> CommandError {
    Box::new(Usage {
        message,
        hint: hint.into(),
    })
}

fn run(matches: &ArgMatches, host: &dyn CommandHost) -> Result<CommandReport, CommandError> {
    let Some(("verify", args)) = matches.subcommand() else {
        unreachable!("clap requires a subcommand");
    };
    let get = |id: &str| args.get_one::<String>(id).cloned();
    let names: Vec<String> = args
        .get_many::<String>("names")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let mut leases = host.leases()?;
    let wanted = wanted(host, get("source"), get("destination"), &names)?;
    let ctx = host.resolved_context()?;
    let report = verify_targets(host, &ctx, &mut leases, &wanted)?;
    Ok(report)
}

/// The leases to verify, in order, with their role.
fn wanted(
    host: &dyn CommandHost,
    source: Option<String>,
    destination: Option<String>,
    names: &[String],
) -> Result<Vec<(String, Option<Role>)>, CommandError> {
    let config = host.config();
    if let (Some(s), Some(d)) = (&source, &destination) {
        if s == d {
            return Err(usage(
                format!("`--source` and `--destination` name the same lease `{s}`"),
                "a migration reads one bucket and writes another",
            ));
        }
    }
    let mut wanted: Vec<(String, Option<Role>)> = Vec::new();
    wanted.extend(source.map(|s| (s, Some(Role::Source))));
    wanted.extend(destination.map(|d| (d, Some(Role::Destination))));
    for name in names {
        if !wanted.iter().any(|(w, _)| w == name) {
            wanted.push((name.clone(), None));
        }
    }
    let r2: Vec<&str> = config
        .leases
        .values()
        .filter(|s| s.type_name == "r2")
        .map(|s| s.name.as_str())
        .collect();
    if wanted.is_empty() {
        wanted = r2.iter().map(|n| (n.to_string(), None)).collect();
    }
    if wanted.is_empty() {
        return Err(usage(
            "no R2 leases are configured".into(),
            "add a `[leases.NAME]` table with `type = \"r2\"` (see docs/leases/r2.md)",
        ));
    }
    for (name, _) in &wanted {
        match config.leases.get(name) {
            None => {
                let hint = match did_you_mean(name, r2.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None if r2.is_empty() => "no R2 leases are configured (see docs/leases/r2.md)".to_string(),
                    None => format!("the R2 leases are: {}", r2.join(", ")),
                };
                return Err(usage(format!("no lease named `{name}`"), hint));
            }
            Some(spec) if spec.type_name != "r2" => {
                return Err(usage(
                    format!("lease `{name}` is of type `{}`, not `r2`", spec.type_name),
                    "`sesame r2 verify` checks R2 leases only",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(wanted)
}

/// A lease that could not be turned into a target, as a failed check:
/// the error's message is the detail, its hint the fix.
fn setup_failure(name: &str, detail: String, hint: Option<String>) -> Check {
    Check {
        target: name.to_string(),
        check: "lease",
        status: Status::Fail,
        required: true,
        detail: detail.replace('\n', " "),
        cause: Some("no-credentials"),
        fix: hint.or_else(|| Some("fix the lease (see the message), then run `sesame r2 verify` again".into())),
    }
}

fn backend_failure(name: &str, error: &BackendError) -> Check {
    setup_failure(name, error.message().to_string(), error.hint().map(str::to_string))
}

fn lease_failure(name: &str, error: &LeaseError) -> Check {
    match error {
        LeaseError::Backend { error, .. } => backend_failure(name, error),
        LeaseError::Config(e) => setup_failure(name, e.message(), e.hint().map(str::to_string)),
        other => setup_failure(name, other.to_string(), None),
    }
}

/// The R2 lease behind a prepared lease.
fn r2(lease: &PreparedLease) -> &R2Lease {
    lease
        .backend
        .as_any()
        .and_then(|any| any.downcast_ref::<R2Lease>())
        .expect("`sesame r2 verify` prepares R2 leases only")
}

/// A target for static credentials, read (and a token verified) as they are.
async fn static_target(lease: &PreparedLease, role: Option<Role>, ctx: &BackendContext) -> Result<Target, Check> {
    let r2 = r2(lease);
    let (credentials, verified) = r2
        .static_credentials(ctx)
        .await
        .map_err(|e| backend_failure(&lease.name, &e))?;
    Ok(Target {
        name: lease.name.clone(),
        settings: r2.settings().clone(),
        credentials,
        origin: "static".into(),
        token: verified.map_or(TokenCheck::NotHeld, TokenCheck::Verified),
        role,
    })
}

fn verify_targets(
    host: &dyn CommandHost,
    ctx: &BackendContext,
    leases: &mut RunLeases,
    wanted: &[(String, Option<Role>)],
) -> Result<CommandReport, CommandError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut checks = Vec::new();
    let mut prepared = Vec::new();
    for (name, role) in wanted {
        let mut one = host.config().clone();
        one.leases.retain(|n, _| n == name);
        match prepare(&one, ctx) {
            Ok(mut list) => prepared.push((list.remove(0), *role)),
            Err(e) => checks.push(setup_failure(name, e.message(), e.hint().map(str::to_string))),
        }
    }
    let mut targets = Vec::new();
    let mut statics = Vec::new();
    let mut minted = Vec::new();
    for (lease, role) in prepared {
        match sesame_core::leasing::plan_lease(&lease, &[], None, 0) {
            LeasePlan::Static { .. } => statics.push((lease, role)),
            _ => minted.push(lease),
        }
    }
    leases.adopt(minted, ctx);
    let roles = |name: &str| wanted.iter().find(|(n, _)| n == name).and_then(|(_, r)| *r);
    rt.block_on(async {
        // The helper loads while the targets are set up (and minted). If
        // it cannot start, the minted leases and the checks below say so.
        if !statics.is_empty() || !leases.leases().is_empty() {
            let _ = s3::shared::helper(ctx).await;
        }
        let built = futures_util::future::join_all(statics.iter().map(|(l, r)| static_target(l, *r, ctx))).await;
        for result in built {
            match result {
                Ok(target) => targets.push(target),
                Err(check) => checks.push(check),
            }
        }
        let minted = leases.leases().to_vec();
        for (name, result) in leases.acquire_each().await {
            let lease = minted
                .iter()
                .find(|l| l.name == name)
                .expect("acquired what was prepared");
            match result {
                Ok(held) => match acquired_target(lease, &held, roles(&name), ctx) {
                    Ok(target) => targets.push(target),
                    Err(check) => checks.push(check),
                },
                Err(e) => checks.push(lease_failure(&name, &e)),
            }
        }
    });
    let interrupted = leases.interrupted();
    let mut helper_failure = None;
    if interrupted == 0 && !targets.is_empty() {
        // The run's S3 helper: the one the minted leases waited through.
        match rt.block_on(s3::shared::helper(ctx)) {
            Ok(helper) => checks.extend(rt.block_on(verify::verify(&targets, helper, ctx.timeout))),
            Err(e) => helper_failure = Some(e),
        }
    }
    // Ends the helper (closes its pipe, waits) before revoking.
    rt.block_on(s3::shared::stop(ctx));
    for problem in rt.block_on(leases.release()) {
        host.warn(&problem.to_string());
    }
    leases.stop_catching_signals();
    if interrupted != 0 {
        return Ok(CommandReport {
            interrupted,
            ..CommandReport::default()
        });
    }
    if let Some(e) = helper_failure {
        return Err(Box::new(e));
    }
    // Keep the order the user asked for.
    targets.sort_by_key(|t| wanted.iter().position(|(n, _)| *n == t.name));
    checks.sort_by_key(|c| wanted.iter().position(|(n, _)| *n == c.target).unwrap_or(usize::MAX));
    Ok(report(&targets, &checks))
}

/// A target for an acquired (minted or reused) lease.
fn acquired_target(
    lease: &PreparedLease,
    held: &sesame_core::leasing::HeldLease,
    role: Option<Role>,
    ctx: &BackendContext,
) -> Result<Target, Check> {
    let r2 = r2(lease);
    let settings = r2.settings().clone();
    let credentials = r2.credentials_from_env(&held.env).ok_or_else(|| {
        setup_failure(
            &lease.name,
            "the lease's credentials are incomplete (no AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY)".into(),
            None,
        )
    })?;
    let token = match &settings.source {
        Source::Token { owner } => match r2.parent_client(ctx, &settings.api_base) {
            Ok(client) => TokenCheck::ViaParent {
                client,
                owner: owner.clone(),
                id: credentials.access_key_id.clone(),
            },
            Err(_) => TokenCheck::NotHeld,
        },
        _ => TokenCheck::Temporary {
            expires_at: held
                .expires_at
                .map(|t| std::time::UNIX_EPOCH + std::time::Duration::from_secs(t)),
        },
    };
    Ok(Target {
        name: lease.name.clone(),
        settings,
        credentials,
        origin: match held.obtained {
            Obtained::Minted => "minted",
            Obtained::Reused => "reused",
            Obtained::Static => "static",
        }
        .into(),
        token,
        role,
    })
}

/// The report: JSON (docs/reference/json.md, "sesame r2 verify"), a table
/// of checks, the fixes, and a verdict.
fn report(targets: &[Target], checks: &[Check]) -> CommandReport {
    let failed = checks.iter().filter(|c| c.is_failure()).count();
    let warnings = checks
        .iter()
        .filter(|c| c.status == Status::Warn || (c.status == Status::Fail && !c.required))
        .count();
    let target_json: Vec<_> = targets
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "bucket": t.settings.bucket,
                "endpoint": t.settings.endpoint,
                "access": t.settings.access.as_str(),
                "role": t.role,
                "credentials": t.origin,
                "access_key_id": verify::short(&t.credentials.access_key_id),
            })
        })
        .collect();
    let rows = checks
        .iter()
        .map(|c| {
            let detail = match c.cause {
                Some(cause) if c.status != Status::Pass => format!("{cause}: {}", c.detail),
                _ => c.detail.clone(),
            };
            vec![
                c.target.clone(),
                c.check.to_string(),
                c.status.label().to_string(),
                detail,
            ]
        })
        .collect();
    let advice: Vec<String> = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Warn) && c.fix.is_some())
        .map(|c| {
            format!(
                "{} {} ({}): {}",
                c.target,
                c.check,
                c.cause.unwrap_or("failed"),
                c.fix.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    let target_count = targets
        .len()
        .max(checks.iter().map(|c| &c.target).collect::<BTreeSet<_>>().len());
    let mut notes = Vec::new();
    if !advice.is_empty() {
        notes.push(advice);
    }
    notes.push(vec![format!(
        "r2 verify {verdict}: {target_count} target(s), {} checks, {failed} required check(s) failed, {warnings} warning(s)",
        checks.len()
    )]);
    CommandReport {
        json: json!({
            "ok": failed == 0,
            "failed": failed,
            "warnings": warnings,
            "targets": target_json,
            "checks": checks,
        }),
        table: Table {
            header: ["TARGET", "CHECK", "RESULT", "DETAIL"].map(String::from).to_vec(),
            rows,
        },
        notes,
        failed: failed > 0,
        interrupted: 0,
    }
}
