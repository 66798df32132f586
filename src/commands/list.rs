//! `sesame list`: names, providers and descriptions; never values.

use anyhow::Result;
use serde_json::json;
use sesame_core::listing;

use crate::app::App;
use crate::cli::{FormatArgs, GlobalArgs, ReadFormat};

/// Lists secrets and leases.
pub fn run(global: &GlobalArgs, args: &FormatArgs) -> Result<i32> {
    let app = App::load(global)?;
    let (secrets, leases) = (listing::secrets(&app.config), listing::leases(&app.config));
    match args.format {
        // docs/reference/json.md, "sesame list".
        ReadFormat::Json => crate::output::json(json!({"secrets": secrets, "leases": leases}))?,
        ReadFormat::Text => {
            let rows: Vec<Vec<String>> = secrets
                .into_iter()
                .map(|s| {
                    vec![
                        s.name,
                        s.provider.unwrap_or_else(|| "-".into()),
                        s.description.unwrap_or_default(),
                    ]
                })
                .collect();
            crate::output::table(&["SECRET", "PROVIDER", "DESCRIPTION"], &rows);
            if !leases.is_empty() {
                println!();
                let rows: Vec<Vec<String>> = leases.into_iter().map(|l| vec![l.name, l.type_name]).collect();
                crate::output::table(&["LEASE", "TYPE"], &rows);
            }
        }
    }
    // A config `check` rejects is not listed as if it worked.
    let problems = sesame_core::validate::problems(&app.config, &app.options);
    for problem in &problems {
        let scope = problem
            .profile
            .as_ref()
            .map(|p| format!(" (profile `{p}`)"))
            .unwrap_or_default();
        eprintln!("sesame: error{scope}: {}", problem.error);
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}
