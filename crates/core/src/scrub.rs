//! The one redaction boundary: a process-wide scrubber that knows every
//! secret value the run resolved or handled, and replaces each one wherever
//! it appears in text sesame is about to write.
//!
//! Values reach it by construction: every [`crate::SecretValue`] registers
//! its value when it is created (resolved secrets, provider credentials,
//! parent tokens, minted tokens, R2 secret keys, ledger outputs), and
//! [`crate::EnvSnapshot::capture`] registers the variables whose names say
//! they hold a credential. The binary passes everything it writes (errors,
//! warnings, log lines, tables, JSON, panic messages) through [`scrub`];
//! only `get`, `export` and `lease create` print values, on request.
//!
//! Matching uses `aho-corasick`, leftmost-longest, so a value that contains
//! another is replaced whole. Besides the value itself the scrubber knows
//! the forms it takes when quoted or escaped (JSON, Rust `Debug`, shell and
//! .env quoting) and, for multi-line values, each line. Values shorter
//! than [`MIN_LEN`] bytes are not registered: replacing every `1` or `on`
//! in a message would make it unreadable and such values protect nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

/// What a value is replaced with.
pub const MARKER: &str = "<redacted>";

/// The shortest value the scrubber registers, in bytes.
pub const MIN_LEN: usize = 4;

/// How many passes [`scrub`] makes before giving up on the text: a
/// replacement can, next to the text around it, spell another value.
const MAX_PASSES: usize = 8;

/// The values registered so far, and the matcher built from them.
///
/// Registering is a push: the forms of each value (its quoted and escaped
/// spellings, its lines) and the matcher are built on the first [`scrub`]
/// after a registration, so a run that never writes a message (`exec`
/// that becomes its command) pays nothing per secret.
#[derive(Default)]
struct Registry {
    /// Values registered since the matcher was last built.
    pending: Vec<String>,
    /// Environments whose credential-named variables
    /// ([`is_credential_name`]) are still to be added to `pending`.
    environments: Vec<Arc<BTreeMap<String, String>>>,
    /// Every form of every value the matcher was built from.
    patterns: BTreeSet<String>,
    matcher: Option<Arc<AhoCorasick>>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        for value in &mut self.pending {
            // SAFETY: zero bytes keep the buffer valid UTF-8.
            unsafe { value.as_bytes_mut() }.fill(0);
        }
    }
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn cached() -> &'static RwLock<Option<Arc<AhoCorasick>>> {
    static CACHED: OnceLock<RwLock<Option<Arc<AhoCorasick>>>> = OnceLock::new();
    CACHED.get_or_init(RwLock::default)
}

/// The forms a value takes in text: itself, each of its lines, and its
/// quoted or escaped spellings.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    let json = serde_json::to_string(value).unwrap_or_default();
    out.push(json[1..json.len().saturating_sub(1).max(1)].to_string());
    let debug = format!("{value:?}");
    out.push(debug[1..debug.len() - 1].to_string());
    out.push(value.escape_default().to_string());
    out.push(value.replace('\'', "'\\''"));
    out.push(
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('\n', "\\n")
            .replace('\r', "\\r"),
    );
    if value.contains(['\n', '\r']) {
        out.extend(value.split(['\n', '\r']).map(|l| l.trim().to_string()));
    }
    out.retain(|f| f.len() >= MIN_LEN && !MARKER.contains(f.as_str()));
    out
}

/// Registers a value with the process-wide scrubber. Cheap (one copy of
/// the value); its forms and the matcher are built on the next [`scrub`].
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    queue(|registry| registry.pending.push(value.to_string()));
}

/// Registers the values of `vars` whose names say they hold a credential
/// ([`is_credential_name`]). Cheap: the names are read on the next
/// [`scrub`], so a run that never writes a message does not read them.
pub fn register_credential_variables(vars: Arc<BTreeMap<String, String>>) {
    queue(|registry| registry.environments.push(vars));
}

/// Adds to what the next [`scrub`] folds in, and drops the cached matcher,
/// which no longer covers everything (the next scrub rebuilds it only if
/// a new form came in).
fn queue(add: impl FnOnce(&mut Registry)) {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    add(&mut registry);
    if registry.matcher.is_some() {
        *cached().write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn matcher() -> Option<Arc<AhoCorasick>> {
    if let Some(m) = cached().read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Some(m.clone());
    }
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    for vars in std::mem::take(&mut registry.environments) {
        let credentials = vars
            .iter()
            .filter(|(name, value)| value.len() >= MIN_LEN && is_credential_name(name));
        registry.pending.extend(credentials.map(|(_, value)| value.clone()));
    }
    let mut pending = std::mem::take(&mut registry.pending);
    let mut added = false;
    for value in &mut pending {
        for form in forms(value) {
            added |= registry.patterns.insert(form);
        }
        // SAFETY: zero bytes keep the buffer valid UTF-8.
        unsafe { value.as_bytes_mut() }.fill(0);
    }
    if added {
        registry.matcher = None;
    }
    if registry.patterns.is_empty() {
        return None;
    }
    if registry.matcher.is_none() {
        let built = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(registry.patterns.iter())
            .expect("literal patterns build");
        registry.matcher = Some(Arc::new(built));
    }
    let m = registry.matcher.clone();
    *cached().write().unwrap_or_else(|e| e.into_inner()) = m.clone();
    m
}

/// `text` with every registered value replaced by [`MARKER`].
pub fn scrub(text: &str) -> String {
    let Some(matcher) = matcher() else {
        return text.to_string();
    };
    let mut current = text.to_string();
    for _ in 0..MAX_PASSES {
        if !matcher.is_match(&current) {
            return current;
        }
        current = matcher.replace_all(&current, &vec![MARKER; matcher.patterns_len()]);
    }
    if matcher.is_match(&current) {
        // Replacements keep spelling values with the text around them:
        // withhold the text rather than risk showing one.
        return format!("{MARKER} (text withheld: it kept containing a secret value)");
    }
    current
}

/// [`scrub`] for bytes: valid UTF-8 runs are scrubbed; the rest passes as is.
pub fn scrub_bytes(bytes: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(text) => scrub(text).into_bytes(),
        Err(_) => scrub(&String::from_utf8_lossy(bytes)).into_bytes(),
    }
}

/// Whether a variable's name says it holds a credential (`*TOKEN*`,
/// `*SECRET*`, `*PASSWORD*`, `*_KEY`, ...): such values in sesame's
/// environment are registered at start-up.
pub fn is_credential_name(name: &str) -> bool {
    let upper: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_lowercase()) {
        name.to_ascii_uppercase().into()
    } else {
        name.into()
    };
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE_KEY",
        "API_KEY",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|w| upper.contains(w))
        || upper.ends_with("_KEY")
        || upper.ends_with("_PAT")
}

/// Cuts text from outside (a server's error body, another program's
/// stderr) to at most `max` characters after scrubbing it, saying so.
pub fn scrub_truncated(text: &str, max: usize) -> String {
    let clean = scrub(text.trim());
    if clean.chars().count() <= max {
        return clean;
    }
    let cut: String = clean.chars().take(max).collect();
    // The cut may have split a marker; a partial marker shows nothing.
    format!("{cut}... (cut)")
}

#[cfg(test)]
mod tests;
