//! `sesame export --format env|shell|json`: prints every secret, on request.

use std::io::Write;

use anyhow::Result;
use sesame_core::secret_env;

use crate::app::App;
use crate::cli::{ExportArgs, ExportFormat, GlobalArgs};
use crate::output::{dotenv_quote, shell_quote};

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
    let mut text = String::new();
    match args.format {
        ExportFormat::Env => {
            for (name, value) in &values {
                text.push_str(&format!("{name}={}\n", dotenv_quote(value.expose())));
            }
        }
        ExportFormat::Shell => {
            for (name, value) in &values {
                text.push_str(&format!("export {name}={}\n", shell_quote(value.expose())));
            }
        }
        ExportFormat::Json => {
            let object: serde_json::Map<String, serde_json::Value> = values
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.expose().to_string())))
                .collect();
            text = serde_json::to_string_pretty(&object)? + "\n";
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}
