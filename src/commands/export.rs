//! `sesame export --format env|shell|json`: prints every secret, on request.

use std::io::Write;

use anyhow::Result;
use sesame_core::env_format::{json_object, lines, LineStyle};
use sesame_core::secret_env;

use crate::app::App;
use crate::cli::{ExportArgs, ExportFormat, GlobalArgs};

/// Resolves every secret and prints them in the chosen format.
pub fn run(global: &GlobalArgs, args: &ExportArgs) -> Result<i32> {
    let app = App::load(global)?;
    let rt = super::runtime()?;
    let resolution = super::resolve_secrets(&app, &rt, None)?;
    let (values, left_out) = secret_env::for_export(&app.config, resolution.values);
    for name in left_out {
        crate::output::warning(&format!(
            "secret `{name}` has `as_file = true`: left out of export (use `sesame exec`, which removes the file afterwards)"
        ));
    }
    let text = match args.format {
        ExportFormat::Env => lines(LineStyle::Env, &values),
        ExportFormat::Shell => lines(LineStyle::Shell, &values),
        ExportFormat::Json => serde_json::to_string_pretty(&json_object(&values))? + "\n",
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}
