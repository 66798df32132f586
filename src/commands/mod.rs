//! One module per subcommand.

pub mod backends;
pub mod check;
pub mod completions;
pub mod contributed;
pub mod exec;
pub mod export;
pub mod get;
pub mod lease;
pub mod list;
pub mod schema;
pub mod set;
pub mod trust;

use anyhow::Result;
use sesame_core::resolve::{self, Resolution};

use crate::app::App;

/// A single-threaded runtime: sesame's work is waiting on processes and
/// sockets, and one thread starts fastest.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Resolves `wanted` secrets (all when `None`) and prints warnings.
pub fn resolve_secrets(app: &App, rt: &tokio::runtime::Runtime, wanted: Option<&[String]>) -> Result<Resolution> {
    let plan = resolve::plan(&app.config, wanted)?;
    let resolution = rt.block_on(resolve::resolve(&app.config, &plan, &app.context()))?;
    for notice in &resolution.notices {
        crate::output::warning(notice);
    }
    for warning in &resolution.warnings {
        crate::output::warning(&format!("{warning} (if_missing = \"warn\": left out)"));
    }
    Ok(resolution)
}
