//! Placeholder substitution, in one place.
//!
//! Two forms:
//! - `{field}`: filled from a top-level field of the same backend table, in
//!   keys and string values at any depth (the seed's
//!   `"com.cloudflare.api.account.{account_id}"`). `{{` and `}}` stand for
//!   literal braces; braces around anything but a name are left alone.
//! - `${NAME}`: filled from another secret or, failing that, sesame's
//!   environment, in secret `default` values and backend string fields.
//!   `$${` stands for a literal `${`.
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

/// Fills `{field}` placeholders in every key and string below `table` from
/// the table's own top-level string, integer and boolean fields.
pub fn fill_fields(table: &toml::Table) -> Result<toml::Table, PlaceholderError> {
    let lookup = |name: &str| -> Option<String> {
        match table.get(name)? {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let mut path = Vec::new();
    map_table(table, &mut path, &|text, path| fill_braces(text, path, &lookup))
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

/// Applies `f` to every key and string value below `table`.
pub fn map_table(
    table: &toml::Table,
    path: &mut Vec<String>,
    f: &StringMap<'_>,
) -> Result<toml::Table, PlaceholderError> {
    let mut out = toml::Table::new();
    for (key, value) in table {
        path.push(key.clone());
        let new_key = f(key, path)?;
        let new_value = map_value(value, path, f)?;
        path.pop();
        out.insert(new_key, new_value);
    }
    Ok(out)
}

fn map_value(value: &toml::Value, path: &mut Vec<String>, f: &StringMap<'_>) -> Result<toml::Value, PlaceholderError> {
    Ok(match value {
        toml::Value::String(s) => toml::Value::String(f(s, path)?),
        toml::Value::Table(t) => toml::Value::Table(map_table(t, path, f)?),
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

    #[test]
    fn fills_account_id_in_resource_keys() {
        let t = table(
            "account_id = \"abc123\"\n[[policies]]\nresources = { \"com.cloudflare.api.account.{account_id}\" = \"*\" }\n",
        );
        let filled = fill_fields(&t).unwrap();
        let resources = filled["policies"][0]["resources"].as_table().unwrap();
        assert!(resources.contains_key("com.cloudflare.api.account.abc123"));
    }

    #[test]
    fn unknown_field_names_placeholder_and_path() {
        let t = table("[[policies]]\nresources = { \"acct.{account_id}\" = \"*\" }\n");
        let err = fill_fields(&t).unwrap_err();
        assert_eq!(err.placeholder, "{account_id}");
        assert_eq!(err.path, ["policies", "0", "resources", "acct.{account_id}"]);
        assert!(err.to_string().contains("set `account_id`"));
    }

    #[test]
    fn braces_escape_and_non_names_stay() {
        let t = table("a = \"x\"\nb = \"{{a}} {a} { not a name } ${HOME}\"\n");
        assert_eq!(
            fill_fields(&t).unwrap()["b"].as_str(),
            Some("{a} x { not a name } ${HOME}")
        );
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
