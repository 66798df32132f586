//! `sesame backends`: the provider and lease types this binary registers.

use anyhow::Result;
use serde_json::json;
use sesame_core::{lease::lease_types, provider::provider_types};

use crate::cli::{FormatArgs, ReadFormat};

/// Lists registered backend types.
pub fn run(args: &FormatArgs) -> Result<i32> {
    let mut rows = Vec::new();
    for r in provider_types() {
        rows.push(("provider", r.type_name, r.description, r.trust_sensitive));
    }
    for r in lease_types() {
        rows.push(("lease", r.type_name, r.description, r.trust_sensitive));
    }
    match args.format {
        ReadFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(kind, name, description, sensitive)| {
                    json!({"kind": kind, "type": name, "description": description, "trust_sensitive": sensitive})
                })
                .collect();
            // docs/reference/json.md, "sesame backends".
            crate::output::json(json!({ "backends": list }))?;
        }
        ReadFormat::Text => {
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|(k, n, d, _)| vec![k.to_string(), n.to_string(), d.to_string()])
                .collect();
            crate::output::table(&["KIND", "TYPE", "DESCRIPTION"], &rows);
        }
    }
    Ok(0)
}
