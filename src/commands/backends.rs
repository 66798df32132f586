//! `sesame backends`: the provider and lease types this binary registers.

use anyhow::Result;
use serde_json::json;

use crate::cli::{FormatArgs, ReadFormat};

/// Lists registered backend types.
pub fn run(args: &FormatArgs) -> Result<i32> {
    let backends = sesame_core::listing::backends();
    match args.format {
        // docs/reference/json.md, "sesame backends".
        ReadFormat::Json => crate::output::json(json!({ "backends": backends }))?,
        ReadFormat::Text => {
            let rows: Vec<Vec<String>> = backends
                .iter()
                .map(|b| vec![b.kind.into(), b.type_name.into(), b.description.into()])
                .collect();
            crate::output::table(&["KIND", "TYPE", "DESCRIPTION"], &rows);
        }
    }
    Ok(0)
}
