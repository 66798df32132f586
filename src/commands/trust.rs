//! `sesame trust [PATH] [--revoke] [--list]`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;
use sesame_core::config::{display_path, SourceKind, LOCAL_FILE, PROJECT_FILE};

use crate::app::{trust_store, App};
use crate::cli::{GlobalArgs, ReadFormat, TrustArgs};
use sesame_core::EnvSnapshot;

/// Records, forgets or lists trusted files.
pub fn run(global: &GlobalArgs, args: &TrustArgs) -> Result<i32> {
    let env = EnvSnapshot::capture();
    let store = trust_store(&env);
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
                    let state = match std::fs::read_to_string(&f.path) {
                        Ok(text) if sesame_core::trust::content_hash(&text) == f.sha256 => "trusted",
                        Ok(_) => "changed since trusted",
                        Err(_) => "missing",
                    };
                    println!("{}  ({state})", f.path.display());
                }
            }
        }
        return Ok(0);
    }
    let targets = match &args.path {
        Some(path) => vec![resolve_target(path)?],
        None => project_files(global)?,
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

/// A named file, or the project file in a named directory, made absolute.
fn resolve_target(path: &Path) -> Result<PathBuf> {
    let path = if path.is_dir() {
        path.join(PROJECT_FILE)
    } else {
        path.to_path_buf()
    };
    std::fs::canonicalize(&path).with_context(|| format!("{} does not exist", path.display()))
}

/// The project and local files that apply in the current directory.
fn project_files(global: &GlobalArgs) -> Result<Vec<PathBuf>> {
    let app = App::load(global)?;
    Ok(app
        .config
        .files
        .iter()
        .filter(|f| matches!(f.kind, SourceKind::Project | SourceKind::Local))
        .filter(|f| f.path.file_name().is_some_and(|n| n == PROJECT_FILE || n == LOCAL_FILE))
        .map(|f| f.path.clone())
        .collect())
}
