//! `sesame set NAME --provider P`: stores a value read from stdin in the
//! config through a provider (see `sesame_core::set_secret`).

use std::io::{IsTerminal, Read};

use anyhow::Result;
use sesame_core::set_secret::{value_from_input, SetTarget};
use sesame_core::{locations, SecretValue};

use crate::app::App;
use crate::cli::{GlobalArgs, SetArgs};

/// Encrypts stdin with the provider and writes the entry.
pub fn run(global: &GlobalArgs, args: &SetArgs) -> Result<i32> {
    let app = App::load(global)?;
    let target = SetTarget::new(&app.config, &args.name, args.provider.as_deref())?;
    let plaintext = read_value()?;
    let rt = super::runtime()?;
    let trust = locations::trust_store(&app.env);
    let description = args.description.as_deref();
    rt.block_on(target.store(&app.context(), plaintext, description, &trust))?;
    let (name, provider, file) = (&args.name, &target.provider, target.file());
    eprintln!(
        "sesame: set `{name}` through provider `{provider}` in {}",
        file.display()
    );
    Ok(0)
}

/// The value from stdin (see `value_from_input`).
fn read_value() -> Result<SecretValue> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("sesame: type the value, then Ctrl-D (it is shown as you type; pipe it to avoid that)");
    }
    let mut bytes = Vec::new();
    stdin.read_to_end(&mut bytes)?;
    Ok(value_from_input(bytes)?)
}
