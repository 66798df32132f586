//! `sesame trust [PATH] [--revoke] [--list]`.

use anyhow::{bail, Context, Result};
use serde_json::json;
use sesame_core::config::display_path;
use sesame_core::trust::{project_files, target_file};
use sesame_core::{locations, EnvSnapshot};

use crate::app::App;
use crate::cli::{GlobalArgs, ReadFormat, TrustArgs};

/// Records, forgets or lists trusted files.
pub fn run(global: &GlobalArgs, args: &TrustArgs) -> Result<i32> {
    let store = locations::trust_store(&EnvSnapshot::capture());
    if args.list {
        let files = store.list()?;
        match args.format {
            ReadFormat::Json => {
                let list: Vec<_> = files
                    .iter()
                    .map(|f| json!({"path": f.path, "sha256": f.sha256, "trusted_at": f.trusted_at}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json!({ "trusted": list }))?);
            }
            ReadFormat::Text => {
                for f in &files {
                    println!("{}  ({})", f.path.display(), f.state_now());
                }
            }
        }
        return Ok(0);
    }
    let targets = match &args.path {
        Some(path) => vec![target_file(path)?],
        None => project_files(&App::load(global)?.config),
    };
    if targets.is_empty() {
        bail!("no sesame.toml applies in this directory; name a file: `sesame trust PATH`");
    }
    for path in targets {
        let shown = display_path(&path);
        if args.revoke {
            if store.revoke(&path)? {
                eprintln!("sesame: no longer trusting {}", shown.display());
            } else {
                eprintln!("sesame: {} was not trusted", shown.display());
            }
        } else {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", shown.display()))?;
            store.trust(&path, &text)?;
            eprintln!(
                "sesame: trusting {} (as it is now; any edit makes it untrusted again)",
                shown.display()
            );
        }
    }
    Ok(0)
}
