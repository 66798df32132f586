//! fnox's per-secret fields beyond `provider`/`value`/`default`: where a
//! secret goes (`env`, `as_file`) and which part of the value it is
//! (`json_path`, `line`). The meaning follows fnox 1.33 (its
//! `secret_resolver.rs` and `config.rs`); docs/config.md lists them.

use serde::{Deserialize, Deserializer};

use crate::SecretValue;

/// Where a secret is injected (`env = true | "exec" | false`, fnox's
/// `EnvMode`). sesame has no shell hook, so `true` and `"exec"` differ only
/// in `sesame export`, which prints `true` secrets alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvMode {
    /// `true` (the default): `exec` and `export`.
    #[default]
    Shell,
    /// `"exec"`: only the environment of `sesame exec`'s command.
    Exec,
    /// `false`: never an environment variable; only `sesame get`.
    Never,
}

impl EnvMode {
    /// Whether `sesame export` prints this secret.
    pub fn in_export(self) -> bool {
        self == Self::Shell
    }

    /// Whether `sesame exec` puts this secret in the command's environment.
    pub fn in_exec(self) -> bool {
        matches!(self, Self::Shell | Self::Exec)
    }
}

impl<'de> Deserialize<'de> for EnvMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("`env` must be true, false or \"exec\""))?
        {
            Raw::Bool(true) => Ok(Self::Shell),
            Raw::Bool(false) => Ok(Self::Never),
            Raw::Text(text) if text == "exec" => Ok(Self::Exec),
            Raw::Text(text) => Err(serde::de::Error::custom(format!(
                "`env` must be true, false or \"exec\", not \"{text}\""
            ))),
        }
    }
}

/// Which part of a resolved value a secret is (`json_path` or `line`; the
/// loader has checked they are not both set and `line` is at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extract {
    /// A key path in a JSON value, dot-separated; `\.` is a literal dot.
    JsonPath(String),
    /// The Nth line, 1-indexed (`\n` or `\r\n` endings).
    Line(usize),
}

/// Why a part could not be taken from a value. Messages never contain the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The value is not JSON.
    #[error("the value is not JSON (json_path = \"{path}\"): {reason}")]
    NotJson {
        /// The configured path.
        path: String,
        /// serde_json's position-only description (no content).
        reason: String,
    },
    /// The path names nothing.
    #[error("json_path \"{path}\" is not in the value (no key `{missing}`)")]
    NoSuchPath {
        /// The configured path.
        path: String,
        /// The first key that was not there.
        missing: String,
    },
    /// The value has fewer lines.
    #[error("line = {line} is out of range: the value has {count} line(s)")]
    NoSuchLine {
        /// The configured line.
        line: usize,
        /// How many lines the value has.
        count: usize,
    },
}

impl Extract {
    /// Takes the configured part of `value`. Like fnox, a JSON string comes
    /// out unquoted, `null` as `null`, anything else as compact JSON.
    pub fn apply(&self, value: &SecretValue) -> Result<SecretValue, ExtractError> {
        match self {
            Extract::JsonPath(path) => {
                let parsed: serde_json::Value =
                    serde_json::from_str(value.expose()).map_err(|e| ExtractError::NotJson {
                        path: path.clone(),
                        // Category, line and column only: serde_json's
                        // messages can quote the input.
                        reason: format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()),
                    })?;
                let mut current = &parsed;
                for part in split_key_path(path) {
                    current = current.get(&part).ok_or_else(|| ExtractError::NoSuchPath {
                        path: path.clone(),
                        missing: part.clone(),
                    })?;
                }
                Ok(SecretValue::new(match current {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }))
            }
            Extract::Line(line) => {
                let text = value.expose();
                match text.lines().nth(line.saturating_sub(1)) {
                    Some(found) if *line >= 1 => Ok(SecretValue::new(found)),
                    _ => Err(ExtractError::NoSuchLine {
                        line: *line,
                        count: text.lines().count(),
                    }),
                }
            }
        }
    }
}

/// Splits on unescaped dots; `\x` is a literal `x` (fnox's `split_key_path`).
fn split_key_path(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next().unwrap_or('\\')),
            '.' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(extract: Extract, value: &str) -> Result<String, ExtractError> {
        extract.apply(&SecretValue::new(value)).map(SecretValue::into_exposed)
    }

    #[test]
    fn json_path_follows_dots_and_escapes() {
        let blob = r#"{"db":{"password":"deep","port":5432,"a.b":{"c":null}}}"#;
        assert_eq!(take(Extract::JsonPath("db.password".into()), blob).unwrap(), "deep");
        assert_eq!(take(Extract::JsonPath("db.port".into()), blob).unwrap(), "5432");
        assert_eq!(take(Extract::JsonPath(r"db.a\.b.c".into()), blob).unwrap(), "null");
        assert_eq!(
            take(Extract::JsonPath("db".into()), r#"{"db":{"x":1}}"#).unwrap(),
            r#"{"x":1}"#
        );
    }

    #[test]
    fn json_errors_name_the_path_never_the_value() {
        let err = take(Extract::JsonPath("db.user".into()), r#"{"db":{"password":"deep"}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "json_path \"db.user\" is not in the value (no key `user`)"
        );
        let err = take(Extract::JsonPath("a".into()), "not json canary-xyz").unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
    }

    #[test]
    fn line_is_one_indexed_and_keeps_inner_whitespace() {
        let value = "hunter2\r\n  spaced  \nthird\n";
        assert_eq!(take(Extract::Line(1), value).unwrap(), "hunter2");
        assert_eq!(take(Extract::Line(2), value).unwrap(), "  spaced  ");
        assert_eq!(take(Extract::Line(3), value).unwrap(), "third");
        assert_eq!(
            take(Extract::Line(4), value).unwrap_err(),
            ExtractError::NoSuchLine { line: 4, count: 3 }
        );
    }

    #[test]
    fn env_mode_reads_fnox_forms() {
        #[derive(Deserialize)]
        struct T {
            env: EnvMode,
        }
        let read = |text: &str| toml::from_str::<T>(text).map(|t| t.env);
        assert_eq!(read("env = true").unwrap(), EnvMode::Shell);
        assert_eq!(read("env = \"exec\"").unwrap(), EnvMode::Exec);
        assert_eq!(read("env = false").unwrap(), EnvMode::Never);
        assert!(read("env = \"shell\"").unwrap_err().to_string().contains("\"exec\""));
    }
}
