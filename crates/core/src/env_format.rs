//! The formats `sesame export` and `sesame lease create` print variables
//! in, when the user asks for values: `.env` lines, `export` lines for a
//! POSIX shell, and a JSON object.

use serde_json::json;

use crate::leasing::HeldLease;
use crate::ledger_view::format_time;
use crate::SecretValue;

/// A line-per-variable format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    /// `NAME="value"`, quoted for .env readers (docker, dotenv).
    Env,
    /// `export NAME='value'`, for `eval` in sh, bash and zsh.
    Shell,
}

/// One variable as a line of `style`, with its newline.
pub fn line(style: LineStyle, name: &str, value: &SecretValue) -> String {
    match style {
        LineStyle::Env => format!("{name}={}\n", dotenv_quote(value.expose())),
        LineStyle::Shell => format!("export {name}={}\n", shell_quote(value.expose())),
    }
}

/// The variables as lines of `style`.
pub fn lines<'a>(style: LineStyle, vars: impl IntoIterator<Item = (&'a String, &'a SecretValue)>) -> String {
    vars.into_iter().map(|(name, value)| line(style, name, value)).collect()
}

/// The variables as one JSON object of strings.
pub fn json_object<'a>(vars: impl IntoIterator<Item = (&'a String, &'a SecretValue)>) -> serde_json::Value {
    let object: serde_json::Map<String, serde_json::Value> = vars
        .into_iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.expose().to_string())))
        .collect();
    object.into()
}

/// `sesame lease create`'s lines: per lease, a comment with its id, expiry
/// and how to revoke it, then its variables.
pub fn held_lines(style: LineStyle, held: &[HeldLease]) -> String {
    let mut text = String::new();
    for held in held {
        let expires = held.expires_at.map_or_else(|| "unknown".to_string(), format_time);
        text.push_str(&match &held.entry {
            Some(id) => format!(
                "# lease {} (id {id}), expires {expires}; revoke: sesame lease revoke {id}\n",
                held.lease
            ),
            None => format!("# lease {}: static credentials, as configured\n", held.lease),
        });
        text.push_str(&lines(style, &held.env));
    }
    text
}

/// `sesame lease create --format json`: each lease with its id, expiry and
/// variables.
pub fn held_json(held: &[HeldLease]) -> serde_json::Value {
    let list: Vec<_> = held
        .iter()
        .map(|h| {
            let expires_at = h.expires_at.map(format_time);
            json!({"lease": h.lease, "id": h.entry, "expires_at": expires_at, "env": json_object(&h.env)})
        })
        .collect();
    json!({ "leases": list })
}

/// Quotes a value for a POSIX shell: `'...'` with `'` written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Quotes a value for .env readers (docker, dotenv): double quotes with
/// backslash escapes for `\`, `"`, `$` and newlines.
pub fn dotenv_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(dotenv_quote("a\"b$c\nd\\"), "\"a\\\"b\\$c\\nd\\\\\"");
    }
}
