//! Errors in configuration: each says what is wrong, where, and how to fix it.

use std::fmt;
use std::path::PathBuf;

use super::source::{display_path, Location};

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", display_path(path).display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file named with `-c` or `SESAME_CONFIG` does not exist.
    #[error("config file {} does not exist (named by {origin})", display_path(path).display())]
    ExplicitMissing {
        /// The file.
        path: PathBuf,
        /// `--config` or `SESAME_CONFIG`.
        origin: &'static str,
    },
    /// Invalid TOML, a wrong type or an unknown key, at a position.
    #[error("{at}: {message}{}", Hint(hint))]
    At {
        /// Where.
        at: Location,
        /// What.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// A problem not tied to one position.
    #[error("{message}{}", Hint(hint))]
    Invalid {
        /// What.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
}

impl ConfigError {
    /// What is wrong and where, without the hint.
    pub fn message(&self) -> String {
        match self {
            Self::At { at, message, .. } => format!("{at}: {message}"),
            Self::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// How to fix it, if known.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::At { hint, .. } | Self::Invalid { hint, .. } => hint.as_deref(),
            Self::Read { .. } | Self::ExplicitMissing { .. } => None,
        }
    }

    /// An error at a position.
    pub fn at(at: Location, message: impl Into<String>, hint: Option<String>) -> Self {
        Self::At {
            at,
            message: message.into(),
            hint,
        }
    }

    /// An error with no single position.
    pub fn invalid(message: impl Into<String>, hint: Option<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            hint,
        }
    }
}

struct Hint<'a>(&'a Option<String>);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hint) => write!(f, "\n  hint: {hint}"),
            None => Ok(()),
        }
    }
}

/// `text` for a message: control characters (a NUL, a newline, an escape)
/// shown escaped, so a name cannot hide in or rewrite the terminal.
pub fn escape(text: &str) -> String {
    text.escape_debug().to_string()
}

/// The closest candidate to `word`, if any is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let edits_allowed = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), strsim::damerau_levenshtein(word, c), c))
        .filter(|(score, edits, _)| *score > 0.8 || *edits <= edits_allowed)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, _, c)| c)
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown
/// variant") into a sentence plus a did-you-mean hint.
pub fn explain_serde_message(message: &str) -> (String, Option<String>) {
    let message = message.trim().trim_end_matches('\n');
    let first_line = message.lines().next().unwrap_or(message).to_string();
    for prefix in ["unknown field `", "unknown variant `"] {
        let Some(rest) = first_line.strip_prefix(prefix) else {
            continue;
        };
        let Some((word, expected)) = rest.split_once('`') else {
            continue;
        };
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let what = if prefix.contains("field") { "key" } else { "value" };
        let hint = match did_you_mean(word, candidates.iter().copied()) {
            Some(best) => Some(format!("did you mean `{best}`?")),
            None if candidates.is_empty() => None,
            None => Some(format!("expected one of: {}", candidates.join(", "))),
        };
        return (format!("unknown {what} `{word}`"), hint);
    }
    if let Some((found, expected)) = first_line
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        return (
            format!("found {found}, expected {}", plain_expected(expected)),
            Some("docs/config.md shows the form of every key".into()),
        );
    }
    if first_line.contains(" as i128") || first_line.contains("out of range") {
        return (
            "the number is out of range".into(),
            Some("write a smaller number, or a string".into()),
        );
    }
    (first_line, None)
}

/// serde's name of what it wanted, said for people: `struct RawSecret`
/// is a secret's table, and so on.
fn plain_expected(expected: &str) -> String {
    match expected.trim() {
        "struct RawSecret" => {
            "a secret table, e.g. `{ provider = \"env\", value = \"NAME\" }` or `{ default = \"...\" }`".into()
        }
        e if e.starts_with("struct ") || e == "a map" => "a table (`{ ... }`)".into(),
        "a sequence" => "a list (`[ ... ]`)".into(),
        "a boolean" => "`true` or `false`".into(),
        e if e.contains("string or table") || e.contains("string or map") => {
            "a string, or a table such as `{ secret = \"NAME\" }`".into()
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        let (msg, hint) =
            explain_serde_message("unknown field `provder`, expected one of `provider`, `value`, `default`");
        assert_eq!(msg, "unknown key `provder`");
        assert_eq!(hint.as_deref(), Some("did you mean `provider`?"));
    }

    #[test]
    fn lists_choices_when_nothing_is_close() {
        let (_, hint) = explain_serde_message("unknown variant `maybe`, expected one of `error`, `warn`, `ignore`");
        assert_eq!(hint.as_deref(), Some("expected one of: error, warn, ignore"));
    }
}
