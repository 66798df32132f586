//! `sesame check`: validates the config and reports, without values, what
//! would resolve and which leases would be minted, reused or taken as they
//! are (static credentials). The checks are `sesame_core::check`'s.

use anyhow::Result;
use serde_json::json;
use sesame_core::check::{check, Status};

use crate::app::App;
use crate::cli::{CheckArgs, GlobalArgs, ReadFormat};

/// Runs the checks; exit 1 if any failed.
pub fn run(global: &GlobalArgs, args: &CheckArgs) -> Result<i32> {
    let app = App::load(global)?;
    let mut leases = app.leases(false)?;
    let rt = super::runtime()?;
    let checks = rt.block_on(check(
        &app.config,
        &app.options,
        &app.context(),
        &mut leases,
        !args.no_resolve,
    ));
    let failed = checks.iter().any(|c| c.status == Status::Error);
    match args.format {
        // docs/reference/json.md, "sesame check".
        ReadFormat::Json => crate::output::json(json!({"ok": !failed, "checks": checks}))?,
        ReadFormat::Text => {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|c| {
                    let detail = c.detail.replace('\n', " ");
                    vec![c.kind.into(), c.name.clone(), c.status.as_str().into(), detail]
                })
                .collect();
            crate::output::table(&["KIND", "NAME", "STATUS", "DETAIL"], &rows);
        }
    }
    Ok(if failed { 1 } else { 0 })
}
