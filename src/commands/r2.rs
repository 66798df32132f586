//! `sesame r2 verify`: proves that R2 credentials work on their bucket and
//! do no more than they should (docs/leases/r2.md, docs/migration-preflight.md).
//!
//! Targets are `[leases.NAME] type = "r2"` tables: leases sesame mints (or
//! reuses from the ledger) and `static` credentials a user made by hand.
//! Minted leases are acquired one by one, concurrently, through the ledger
//! like `exec` does, and released afterwards (`reuse = false` ones are
//! revoked). The checks themselves are `sesame_lease_r2::verify`.

use std::sync::Arc;

use anyhow::{bail, Result};
use serde_json::json;
use sesame_core::config::did_you_mean;
use sesame_core::lease::find_lease_type;
use sesame_core::leasing::{self, Acquired, Obtained};
use sesame_core::ledger::Ledger;
use sesame_core::process::{exit_like, ChildExit, SignalRelay};
use sesame_core::resolve;
use sesame_core::BackendContext;
use sesame_lease_r2::s3::helper::HelperProcess;
use sesame_lease_r2::verify::{self, Check, Role, Status, Target, TokenCheck};
use sesame_lease_r2::{R2Lease, Source};

use crate::app::App;
use crate::cli::{GlobalArgs, R2Command, R2VerifyArgs, ReadFormat};

/// Runs a `sesame r2` subcommand.
pub fn run(global: &GlobalArgs, command: &R2Command) -> Result<i32> {
    match command {
        R2Command::Verify(args) => verify_command(global, args),
    }
}

/// The leases to verify, in order, with their role.
fn wanted(app: &App, args: &R2VerifyArgs) -> Result<Vec<(String, Option<Role>)>> {
    let mut wanted: Vec<(String, Option<Role>)> = Vec::new();
    if let (Some(s), Some(d)) = (&args.source, &args.destination) {
        if s == d {
            bail!("`--source` and `--destination` name the same lease `{s}`\n  hint: a migration reads one bucket and writes another");
        }
    }
    if let Some(source) = &args.source {
        wanted.push((source.clone(), Some(Role::Source)));
    }
    if let Some(destination) = &args.destination {
        wanted.push((destination.clone(), Some(Role::Destination)));
    }
    for name in &args.names {
        if !wanted.iter().any(|(w, _)| w == name) {
            wanted.push((name.clone(), None));
        }
    }
    let r2: Vec<&str> = app
        .config
        .leases
        .values()
        .filter(|s| s.type_name == "r2")
        .map(|s| s.name.as_str())
        .collect();
    if wanted.is_empty() {
        wanted = r2.iter().map(|n| (n.to_string(), None)).collect();
    }
    if wanted.is_empty() {
        bail!("no R2 leases are configured\n  hint: add a `[leases.NAME]` table with `type = \"r2\"` (see docs/leases/r2.md)");
    }
    for (name, _) in &wanted {
        match app.config.leases.get(name) {
            None => {
                let hint = match did_you_mean(name, r2.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None if r2.is_empty() => "no R2 leases are configured (see docs/leases/r2.md)".to_string(),
                    None => format!("the R2 leases are: {}", r2.join(", ")),
                };
                bail!("no lease named `{name}`\n  hint: {hint}");
            }
            Some(spec) if spec.type_name != "r2" => bail!(
                "lease `{name}` is of type `{}`, not `r2`\n  hint: `sesame r2 verify` checks R2 leases only",
                spec.type_name
            ),
            Some(_) => {}
        }
    }
    Ok(wanted)
}

/// A lease that could not be turned into a target, as a failed check.
fn setup_failure(name: &str, error: &str) -> Check {
    let (detail, fix) = match error.split_once("\n  hint: ") {
        Some((d, f)) => (d.to_string(), Some(f.replace("\n  hint: ", "; "))),
        None => (error.to_string(), None),
    };
    Check {
        target: name.to_string(),
        check: "lease",
        status: Status::Fail,
        required: true,
        detail: detail.replace('\n', " "),
        cause: Some("no-credentials"),
        fix: fix.or_else(|| Some("fix the lease (see the message), then run `sesame r2 verify` again".into())),
    }
}

/// Builds one target: reads static credentials, or acquires the lease.
async fn target(
    app: &App,
    ctx: &BackendContext,
    ledger: &Ledger,
    name: &str,
    role: Option<Role>,
    relay: &SignalRelay,
) -> Result<(Target, Option<Acquired>), String> {
    let registration = find_lease_type("r2").ok_or("the r2 lease type is not linked")?;
    let mut spec = app.config.leases[name].clone();
    spec.table.remove("reuse");
    let table = resolve::backend_config(&app.config, &spec, registration.trust_sensitive, &ctx.secrets, ctx)
        .map_err(|e| e.to_string())?;
    let lease = R2Lease::parse(&table, ctx).map_err(|e| e.to_string())?;
    let settings = lease.settings().clone();
    if let Source::Static(_) = settings.source {
        let (credentials, verified) = lease.static_credentials(ctx).await.map_err(|e| e.to_string())?;
        let token = verified.map_or(TokenCheck::NotHeld, TokenCheck::Verified);
        return Ok((
            Target {
                name: name.to_string(),
                settings,
                credentials,
                origin: "static".into(),
                token,
                role,
            },
            None,
        ));
    }
    let mut config = app.config.clone();
    config.leases.retain(|n, _| n == name);
    let prepared = leasing::prepare(&config, ctx).map_err(|e| e.to_string())?;
    let acquired = leasing::acquire(
        prepared,
        ctx,
        ledger,
        app.config.profile.as_deref(),
        relay.interrupted_flag(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let held = acquired.leases.first().ok_or("the lease was not acquired")?;
    let credentials = lease
        .credentials_from_env(&held.env)
        .ok_or("the lease's credentials are incomplete (no AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY)")?;
    let origin = match held.obtained {
        Obtained::Minted => "minted",
        Obtained::Reused => "reused",
    };
    let token = match &settings.source {
        Source::Token { owner } => match lease.parent_client(ctx, &settings.api_base) {
            Ok(client) => TokenCheck::ViaParent {
                client,
                owner: owner.clone(),
                id: credentials.access_key_id.clone(),
            },
            Err(_) => TokenCheck::NotHeld,
        },
        _ => {
            let expires_at = ledger
                .entries()
                .ok()
                .and_then(|entries| entries.into_iter().find(|e| e.id == held.entry))
                .and_then(|e| e.expires_at)
                .map(|t| std::time::UNIX_EPOCH + std::time::Duration::from_secs(t));
            TokenCheck::Temporary { expires_at }
        }
    };
    Ok((
        Target {
            name: name.to_string(),
            settings,
            credentials,
            origin: origin.into(),
            token,
            role,
        },
        Some(acquired),
    ))
}

fn verify_command(global: &GlobalArgs, args: &R2VerifyArgs) -> Result<i32> {
    let relay = SignalRelay::install()?;
    let app = App::load(global)?;
    let wanted = wanted(&app, args)?;
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, None)?;
    let ctx = app.context().with_secrets(Arc::new(resolution.values));
    let ledger = app.ledger();

    let (targets, acquired, mut checks) = rt.block_on(async {
        let built = futures_util::future::join_all(
            wanted
                .iter()
                .map(|(name, role)| target(&app, &ctx, &ledger, name, *role, &relay)),
        )
        .await;
        let mut targets = Vec::new();
        let mut acquired = Vec::new();
        let mut failures = Vec::new();
        for ((name, _), result) in wanted.iter().zip(built) {
            match result {
                Ok((target, held)) => {
                    targets.push(target);
                    acquired.extend(held);
                }
                Err(e) => failures.push(setup_failure(name, &e)),
            }
        }
        (targets, acquired, failures)
    });
    let interrupted = relay.interrupted();
    let mut helper_failure = None;
    if interrupted == 0 && !targets.is_empty() {
        // S3 runs in the helper executable; its reply reader is a task.
        let _inside = rt.enter();
        match HelperProcess::spawn(&ctx.env) {
            Ok(helper) => {
                let helper = Arc::new(helper);
                checks.extend(rt.block_on(verify::verify(&targets, helper.clone(), ctx.timeout)));
                rt.block_on(helper.shutdown());
            }
            Err(e) => helper_failure = Some(e),
        }
    }
    for held in &acquired {
        for problem in rt.block_on(leasing::release(held, &ctx, &ledger)) {
            crate::output::warning(&format!("{problem}"));
        }
    }
    drop(relay);
    if interrupted != 0 {
        exit_like(ChildExit::Signal(interrupted));
    }
    if let Some(e) = helper_failure {
        return Err(e.into());
    }
    // Keep the order the user asked for.
    checks.sort_by_key(|c| wanted.iter().position(|(n, _)| *n == c.target).unwrap_or(usize::MAX));
    print(&targets, &checks, args.format)?;
    Ok(if checks.iter().any(Check::is_failure) { 1 } else { 0 })
}

fn print(targets: &[Target], checks: &[Check], format: ReadFormat) -> Result<()> {
    let failed = checks.iter().filter(|c| c.is_failure()).count();
    let warnings = checks
        .iter()
        .filter(|c| c.status == Status::Warn || (c.status == Status::Fail && !c.required))
        .count();
    match format {
        ReadFormat::Json => {
            let targets: Vec<_> = targets
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
            // docs/reference/json.md, "sesame r2 verify".
            crate::output::json(json!({
                "ok": failed == 0,
                "failed": failed,
                "warnings": warnings,
                "targets": targets,
                "checks": checks,
            }))?;
        }
        ReadFormat::Text => {
            let rows: Vec<Vec<String>> = checks
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
            crate::output::table(&["TARGET", "CHECK", "RESULT", "DETAIL"], &rows);
            let advice: Vec<&Check> = checks
                .iter()
                .filter(|c| matches!(c.status, Status::Fail | Status::Warn) && c.fix.is_some())
                .collect();
            if !advice.is_empty() {
                println!();
                for c in advice {
                    println!(
                        "{} {} ({}): {}",
                        c.target,
                        c.check,
                        c.cause.unwrap_or("failed"),
                        c.fix.as_deref().unwrap_or_default()
                    );
                }
            }
            println!();
            let verdict = if failed == 0 { "ok" } else { "FAILED" };
            println!(
                "r2 verify {verdict}: {} target(s), {} checks, {failed} required check(s) failed, {warnings} warning(s)",
                targets.len().max(checks.iter().map(|c| &c.target).collect::<std::collections::BTreeSet<_>>().len()),
                checks.len()
            );
        }
    }
    Ok(())
}
