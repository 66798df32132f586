//! `sesame get NAME`: prints one value, on request.

use std::io::Write;

use anyhow::Result;

use crate::app::App;
use crate::cli::{GetArgs, GlobalArgs};

/// Resolves one secret (and what it depends on) and prints it.
pub fn run(global: &GlobalArgs, args: &GetArgs) -> Result<i32> {
    let app = App::load(global)?;
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, Some(std::slice::from_ref(&args.name)))?;
    let Some(value) = resolution.values.get(&args.name) else {
        anyhow::bail!("secret `{}` has no value (if_missing let it be skipped)", args.name);
    };
    let mut out = std::io::stdout().lock();
    out.write_all(value.expose().as_bytes())?;
    if !args.no_newline {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(0)
}
