//! `sesame set NAME --provider P`: stores a value read from stdin in the
//! config, through a provider that can (fnox's `fnox set`). With `age`, the
//! file gets the ciphertext; the plaintext stays in memory.

use std::io::{IsTerminal, Read};

use anyhow::{bail, Context, Result};
use sesame_core::config::{display_path, SourceKind};
use sesame_core::resolve;
use sesame_core::trust::TrustState;
use sesame_core::SecretValue;

use crate::app::{trust_store, App};
use crate::cli::{GlobalArgs, SetArgs};
use crate::config_edit::{secret_line, upsert_secret};

/// Encrypts stdin with the provider and writes the entry.
pub fn run(global: &GlobalArgs, args: &SetArgs) -> Result<i32> {
    let app = App::load(global)?;
    if !resolve::is_variable_name(&args.name) {
        bail!("`{}` is not a valid environment variable name", args.name);
    }
    let Some(provider) = args.provider.clone().or_else(|| app.config.default_provider.clone()) else {
        bail!("name the provider with --provider (e.g. `--provider age`)");
    };
    if !app.config.providers.contains_key(&provider) {
        bail!("provider `{provider}` is not configured; add a [providers.{provider}] table first");
    }
    let Some(index) = app
        .config
        .files
        .iter()
        .rposition(|f| matches!(f.kind, SourceKind::Project | SourceKind::Explicit))
    else {
        bail!("no sesame.toml here to write to; create one or name it with -c");
    };
    let file = &app.config.files[index];
    // The provider's fields (age's `recipients`) decide who can read the
    // value: they must come from a file the user trusts.
    let spec = &app.config.providers[&provider];
    let provider_file = &app.config.files[spec.origin.file];
    if !provider_file.trust.allows_sensitive() {
        bail!(
            "{}: [providers.{provider}] decides who can read the value, and {} is not trusted\n  hint: review the file, then run `sesame trust {}`",
            display_path(&provider_file.path).display(),
            display_path(&provider_file.path).display(),
            display_path(&provider_file.path).display()
        );
    }
    let plaintext = read_value()?;
    let rt = super::runtime()?;
    let ctx = app.context();
    let instance = resolve::build_provider(&app.config, &provider, &ctx.secrets, &ctx)?;
    let Some(value) = rt.block_on(instance.encrypt(&ctx, &plaintext))? else {
        bail!("provider `{provider}` cannot store values; put the value in its service and write `value = \"REFERENCE\"` by hand");
    };
    drop(plaintext);
    let mut fields = vec![("provider", provider.as_str()), ("value", value.as_str())];
    if let Some(description) = &args.description {
        fields.push(("description", description));
    }
    let text = upsert_secret(&file.text, &args.name, &secret_line(&args.name, &fields))
        .with_context(|| format!("{}", display_path(&file.path).display()))?;
    write_keeping_mode(&file.path, &text)?;
    // The user changed a file they trusted: it stays trusted.
    if file.trust == TrustState::Trusted {
        trust_store(&app.env).trust(&file.path, &text)?;
    }
    eprintln!(
        "sesame: set `{}` through provider `{provider}` in {}",
        args.name,
        display_path(&file.path).display()
    );
    Ok(0)
}

/// The value from stdin; one trailing newline dropped, as fnox does.
fn read_value() -> Result<SecretValue> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("sesame: type the value, then Ctrl-D (it is shown as you type; pipe it to avoid that)");
    }
    let mut bytes = Vec::new();
    stdin.read_to_end(&mut bytes)?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let mut bytes = e.into_bytes();
        bytes.fill(0);
        anyhow::anyhow!("the value on stdin is not UTF-8 text")
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(SecretValue::new(text))
}

/// Replaces the file atomically with the same permissions.
fn write_keeping_mode(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let permissions = std::fs::metadata(path)?.permissions();
    let mut temp = tempfile::Builder::new().prefix(".sesame-set-").tempfile_in(dir)?;
    temp.write_all(text.as_bytes())?;
    temp.as_file().set_permissions(permissions)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
