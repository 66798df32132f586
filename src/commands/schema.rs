//! `sesame schema`: the JSON Schema of sesame.toml (draft-07), assembled by
//! core from its own part and each linked backend's registration. Editors
//! (taplo, Even Better TOML) use it to complete and check the file; see
//! docs/config.md. docs/reference/sesame.schema.json is a copy.

use std::io::Write;

use anyhow::Result;

/// Prints the schema as pretty JSON on stdout.
pub fn run() -> Result<i32> {
    let mut text = serde_json::to_string_pretty(&sesame::config_schema())?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}
