//! How sesame talks to the user. Every message on stderr starts with
//! `sesame: ` so it stands apart from the command's own output; see
//! docs/style.md for the wording rules.
//!
//! The redaction boundary: everything sesame writes passes through
//! [`sesame_core::scrub`]. `println!`, `print!`, `eprintln!` and `eprint!`
//! are replaced for the whole binary (see `main.rs`) by [`out`] and
//! [`err`]; the log writer and the panic hook scrub too. Only `get`,
//! `export` and `lease create` write values unscrubbed, with their own
//! explicit writes to stdout, because the user asked for them.

use std::io::Write;

use sesame_core::leasing::LeaseError;
use sesame_core::scrub::scrub;

/// Writes `text` to stdout, scrubbed.
pub fn out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(scrub(text).as_bytes());
    let _ = out.flush();
}

/// Writes `text` to stderr, scrubbed.
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(scrub(text).as_bytes());
}

/// Prints an error (with its hint lines) to stderr; several lease
/// failures each on its own, and those with the same cause once.
pub fn error(err: &anyhow::Error) {
    let Some(many @ LeaseError::Many(_)) = err.downcast_ref::<LeaseError>() else {
        return eprintln!("sesame: error: {err:#}");
    };
    for group in many.by_cause() {
        match group.leases.as_slice() {
            [_, _, ..] => {
                let names: Vec<String> = group.leases.iter().map(|n| format!("`{n}`")).collect();
                eprintln!("sesame: error: leases {}: {}", names.join(", "), group.failure.cause());
            }
            _ => eprintln!("sesame: error: {}", group.failure),
        }
    }
}

/// Prints a warning to stderr.
pub fn warning(message: &str) {
    eprintln!("sesame: warning: {message}");
}

/// A writer for the tracing subscriber: each log line is scrubbed before it
/// reaches stderr (the fmt layer writes one event per `write`).
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr()
            .lock()
            .write_all(&sesame_core::scrub::scrub_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Prints panics scrubbed: a panic message may quote anything.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("sesame: internal error (a bug; please report it): {message}{place}");
    }));
}

/// The version of the JSON documents the read commands print with
/// `--format json` (docs/reference/json.md). Fields are only added within a
/// version; renaming or removing one, or changing its type or meaning,
/// needs a new version.
pub const JSON_FORMAT_VERSION: u64 = 1;

/// Prints a read command's JSON document on stdout, pretty, with a final
/// newline and `format_version` added. `document` must be an object; it never
/// holds a secret value (only `get`, `export` and `lease create` print values).
pub fn json(document: serde_json::Value) -> anyhow::Result<()> {
    let mut document = document;
    if let Some(fields) = document.as_object_mut() {
        fields.insert("format_version".into(), JSON_FORMAT_VERSION.into());
    }
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    out(&text);
    Ok(())
}

/// Prints rows as aligned columns: plain text, never colour or other
/// terminal escapes, whatever stdout is and whether or not `NO_COLOR` is set.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", text.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
