//! `sesame list`: names, providers and descriptions; never values.

use anyhow::Result;
use serde_json::json;

use crate::app::App;
use crate::cli::{FormatArgs, GlobalArgs, ReadFormat};

/// Lists secrets and leases.
pub fn run(global: &GlobalArgs, args: &FormatArgs) -> Result<i32> {
    let app = App::load(global)?;
    let config = &app.config;
    // (name, provider, description); no provider: the secret only has a default.
    let secrets: Vec<(String, Option<String>, Option<String>)> = config
        .secrets
        .values()
        .map(|s| {
            let provider = if s.value.is_some() { config.provider_of(s) } else { None };
            (
                s.name.clone(),
                provider.map(str::to_string),
                s.description.clone().filter(|d| !d.is_empty()),
            )
        })
        .collect();
    let leases: Vec<_> = config
        .leases
        .values()
        .map(|l| (l.name.clone(), l.type_name.clone()))
        .collect();
    match args.format {
        ReadFormat::Json => {
            // docs/reference/json.md, "sesame list".
            crate::output::json(json!({
                "secrets": secrets.iter().map(|(n, p, d)| json!({"name": n, "provider": p, "description": d})).collect::<Vec<_>>(),
                "leases": leases.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
            }))?;
        }
        ReadFormat::Text => {
            let rows: Vec<Vec<String>> = secrets
                .into_iter()
                .map(|(n, p, d)| vec![n, p.unwrap_or_else(|| "-".into()), d.unwrap_or_default()])
                .collect();
            crate::output::table(&["SECRET", "PROVIDER", "DESCRIPTION"], &rows);
            if !leases.is_empty() {
                println!();
                let rows: Vec<Vec<String>> = leases.into_iter().map(|(n, t)| vec![n, t]).collect();
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
