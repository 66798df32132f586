//! Placeholder substitution, in one place.
//!
//! Two forms, both in string **values** only; keys are literal (a key that
//! holds `${` anywhere, or a top-level key that holds `{name}`, is a config
//! error: a placeholder must not be able to write a field name, which is
//! what the trust check looks at):
//! - `{field}`: filled from a top-level field of the same backend table, in
//!   string values at any depth. `{{` and `}}` stand for literal braces;
//!   braces around anything but a name are left alone.
//! - `${NAME}`: filled from another secret or, failing that, sesame's
//!   environment, in secret `default` values and backend string fields.
//!   `$${` stands for a literal `${`.
//!
//! [`substitute`] records every substitution it makes ([`Substitution`]):
//! where, which placeholder, and where the value came from, so the trust
//! check can follow a value to its source and messages can name the source
//! instead of showing the value.
//!
//! An unknown name is an error that names it and the key path where it is.

use std::fmt;

/// A placeholder that could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlaceholderError {
    /// Key path inside the table where the placeholder is.
    pub path: Vec<String>,
    /// The placeholder as written, e.g. `{account_id}` or `${HOME}`.
    pub placeholder: String,
    /// Why it could not be filled.
    pub reason: String,
}

impl fmt::Display for PlaceholderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "placeholder `{}`", self.placeholder)?;
        if !self.path.is_empty() {
            write!(f, " in `{}`", self.path.join("."))?;
        }
        write!(f, " {}", self.reason)
    }
}

/// Where a substituted value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// `{field}`: another field of the same table.
    Field(String),
    /// `${NAME}` filled from the configured secret `NAME`.
    Secret(String),
    /// `${NAME}` filled from sesame's environment.
    Env(String),
}

/// One substitution [`substitute`] made.
#[derive(Debug, Clone)]
pub struct Substitution {
    /// Key path of the string value it is in.
    pub path: Vec<String>,
    /// The placeholder as written: `{field}` or `${NAME}`.
    pub placeholder: String,
    /// The value put in its place.
    pub value: String,
    /// Where that value came from.
    pub source: ValueSource,
}

/// The first key below `table` that holds a placeholder: `${` at any depth,
/// or `{name}` in a top-level key (a field name). Returns its key path.
pub fn placeholder_key(table: &toml::Table) -> Option<Vec<String>> {
    fn walk(table: &toml::Table, path: &mut Vec<String>) -> Option<Vec<String>> {
        for (key, value) in table {
            path.push(key.clone());
            let top = path.len() == 1;
            if key.contains("${") || (top && fill_braces(key, &[], &|_| Some(String::new())).ok()? != *key) {
                return Some(path.clone());
            }
            let found = match value {
                toml::Value::Table(t) => walk(t, path),
                toml::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                    let toml::Value::Table(t) = item else { return None };
                    path.push(i.to_string());
                    let found = walk(t, path);
                    path.pop();
                    found
                }),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
            path.pop();
        }
        None
    }
    walk(table, &mut Vec::new())
}

/// Fills `{field}` placeholders, then expands `${NAME}` references, in
/// every string value below `table` (never in keys), recording each
/// substitution. `lookup` answers a `${NAME}` with the value and its source.
pub fn substitute(
    table: &toml::Table,
    lookup: &dyn Fn(&str) -> Option<(String, ValueSource)>,
) -> Result<(toml::Table, Vec<Substitution>), PlaceholderError> {
    let fields = |name: &str| -> Option<String> {
        match table.get(name)? {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let made = std::cell::RefCell::new(Vec::new());
    let filled = map_values(table, &mut Vec::new(), &|text, path| {
        let braced = fill_braces(text, path, &|name| {
            let value = fields(name)?;
            made.borrow_mut().push(Substitution {
                path: path.to_vec(),
                placeholder: format!("{{{name}}}"),
                value: value.clone(),
                source: ValueSource::Field(name.to_string()),
            });
            Some(value)
        })?;
        expand_refs(&braced, path, &|name| {
            let (value, source) = lookup(name)?;
            made.borrow_mut().push(Substitution {
                path: path.to_vec(),
                placeholder: format!("${{{name}}}"),
                value: value.clone(),
                source,
            });
            Some(value)
        })
    })?;
    Ok((filled, made.into_inner()))
}

/// Applies `f` to every string value (not key) below `table`.
fn map_values(table: &toml::Table, path: &mut Vec<String>, f: &StringMap<'_>) -> Result<toml::Table, PlaceholderError> {
    let mut out = toml::Table::new();
    for (key, value) in table {
        path.push(key.clone());
        let new_value = map_value(value, path, f)?;
        path.pop();
        out.insert(key.clone(), new_value);
    }
    Ok(out)
}

/// Expands `${NAME}` references in `text`; `lookup` answers a name.
pub fn expand_refs(
    text: &str,
    path: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(PlaceholderError {
                    path: path.to_vec(),
                    placeholder: tail.to_string(),
                    reason: "is not closed: write `${NAME}`, or `$${` for a literal `${`".into(),
                });
            };
            let name = &after[..end];
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => {
                    return Err(PlaceholderError {
                        path: path.to_vec(),
                        placeholder: format!("${{{name}}}"),
                        reason: format!("names `{name}`, which is neither a secret nor set in the environment"),
                    })
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `text` holds a `${` that is never closed (checked without
/// resolving anything, for `sesame check --no-resolve`).
pub fn has_unclosed_ref(text: &str) -> bool {
    expand_refs(text, &[], &|_| Some(String::new())).is_err()
}

/// The names `${NAME}` references in `text` (for ordering resolution).
pub fn referenced_names(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            match after.find('}') {
                Some(end) => {
                    names.push(&after[..end]);
                    rest = &after[end + 1..];
                }
                None => break,
            }
        } else {
            rest = &tail[1..];
        }
    }
    names
}

/// A rewrite of one string, given its key path.
pub type StringMap<'a> = dyn Fn(&str, &[String]) -> Result<String, PlaceholderError> + 'a;

fn map_value(value: &toml::Value, path: &mut Vec<String>, f: &StringMap<'_>) -> Result<toml::Value, PlaceholderError> {
    Ok(match value {
        toml::Value::String(s) => toml::Value::String(f(s, path)?),
        toml::Value::Table(t) => toml::Value::Table(map_values(t, path, f)?),
        toml::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                out.push(map_value(item, path, f)?);
                path.pop();
            }
            toml::Value::Array(out)
        }
        other => other.clone(),
    })
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn fill_braces(
    text: &str,
    path: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(after) = tail.strip_prefix('{') {
            if let Some(end) = after.find('}') {
                let name = &after[..end];
                if is_name(name) && !out.ends_with('$') {
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            return Err(PlaceholderError {
                                path: path.to_vec(),
                                placeholder: format!("{{{name}}}"),
                                reason: format!(
                                    "has no value: set `{name}` in the same table, or write `{{{{{name}}}}}` for literal braces"
                                ),
                            })
                        }
                    }
                    rest = &after[end + 1..];
                    continue;
                }
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    fn fill(t: &toml::Table) -> Result<(toml::Table, Vec<Substitution>), PlaceholderError> {
        substitute(t, &|n: &str| {
            (n == "K").then(|| ("api_base".to_string(), ValueSource::Env(n.into())))
        })
    }

    #[test]
    fn keys_are_never_substituted() {
        let t = table("account_id = \"abc123\"\n[[policies]]\nresources = { \"acct.{account_id}\" = \"*\" }\n");
        let (filled, _) = fill(&t).unwrap();
        assert!(filled["policies"][0]["resources"]
            .as_table()
            .unwrap()
            .contains_key("acct.{account_id}"));
        assert_eq!(placeholder_key(&t), None);
    }

    #[test]
    fn placeholder_keys_are_found() {
        for text in [
            "env_var = \"api_base\"\n\"{env_var}\" = \"x\"\n",
            "\"${K}\" = \"x\"\n",
            "[[policies]]\nresources = { \"a.${K}\" = \"*\" }\n",
        ] {
            assert!(placeholder_key(&table(text)).is_some(), "{text}");
        }
    }

    #[test]
    fn substitutions_are_recorded_with_their_source() {
        let t = table("a = \"x\"\nb = \"{{a}} {a} { not a name } ${K}\"\n");
        let (filled, made) = fill(&t).unwrap();
        assert_eq!(filled["b"].as_str(), Some("{a} x { not a name } api_base"));
        assert_eq!(made.len(), 2);
        assert_eq!(made[0].source, ValueSource::Field("a".into()));
        assert_eq!(made[1].placeholder, "${K}");
        let err = fill(&table("[[p]]\nr = \"{nope}\"\n")).unwrap_err();
        assert_eq!(err.path, ["p", "0", "r"]);
    }

    #[test]
    fn expands_references_and_reports_unknown_ones() {
        let lookup = |n: &str| (n == "HOME").then(|| "/home/me".to_string());
        assert_eq!(
            expand_refs("${HOME}/x $$ $${HOME}", &[], &lookup).unwrap(),
            "/home/me/x $$ ${HOME}"
        );
        let err = expand_refs("${NOPE}", &["default".into()], &lookup).unwrap_err();
        assert!(err.to_string().contains("`${NOPE}` in `default` names `NOPE`"), "{err}");
        assert!(expand_refs("${OPEN", &[], &lookup).is_err());
        assert_eq!(referenced_names("a ${X} $${Y} ${Z}"), ["X", "Z"]);
    }
}
