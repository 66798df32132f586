//! Writing one `[secrets]` entry into a config file's text, leaving every
//! other line as it was (comments, order, formatting), and replacing the
//! file atomically. Used by `sesame set`.

use std::io::Write;
use std::path::Path;

/// Why an entry could not be written; each says to edit the file by hand.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file does not parse as TOML (before or after the edit).
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// The secret is defined, but not under a `[secrets]` header.
    #[error("secret `{0}` is not written in a `[secrets]` table; edit the file by hand")]
    NotUnderHeader(String),
    /// The secret is defined over several lines (a `[secrets.NAME]` table).
    #[error("secret `{0}` is not a one-line entry under `[secrets]`; edit the file by hand")]
    NotOneLine(String),
    /// `[secrets]` exists, written some other way (dotted keys, inline).
    #[error("the file's `[secrets]` table is not written as a `[secrets]` header; edit the file by hand")]
    NoHeader,
    /// The edited text would not hold the entry as asked.
    #[error("could not write secret `{0}` into the file safely; edit it by hand")]
    Unsafe(String),
}

/// `NAME = { provider = "...", value = "...", ... }` as one TOML line.
pub fn secret_line(name: &str, fields: &[(&str, &str)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{key} = {}", toml::Value::String((*value).to_string())))
        .collect();
    format!("{name} = {{ {} }}", body.join(", "))
}

/// Puts `line` (a whole `NAME = {...}` entry) into `text`: in place of a
/// one-line entry of the same name in `[secrets]`, else first in the
/// `[secrets]` table, else in a new `[secrets]` table at the end. The
/// result is checked to parse and to hold the entry.
pub fn upsert_secret(text: &str, name: &str, line: &str) -> Result<String, EditError> {
    let parsed: toml::Table = toml::from_str(text)?;
    let secrets = parsed.get("secrets").and_then(toml::Value::as_table);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = lines.iter().position(|l| l.trim() == "[secrets]");
    if secrets.is_some_and(|s| s.contains_key(name)) {
        let Some(start) = header else {
            return Err(EditError::NotUnderHeader(name.to_string()));
        };
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |i| start + 1 + i);
        let found = lines[start + 1..end].iter().position(|l| {
            l.trim_start()
                .strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        let Some(index) = found else {
            return Err(EditError::NotOneLine(name.to_string()));
        };
        lines[start + 1 + index] = line.to_string();
    } else if let Some(start) = header {
        lines.insert(start + 1, line.to_string());
    } else if secrets.is_some() {
        return Err(EditError::NoHeader);
    } else {
        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
            lines.push(String::new());
        }
        lines.push("[secrets]".into());
        lines.push(line.to_string());
    }
    let mut result = lines.join("\n");
    result.push('\n');
    let check: toml::Table = toml::from_str(&result)?;
    let written = check.get("secrets").and_then(|s| s.get(name));
    let expected: toml::Table = toml::from_str(line)?;
    if written != expected.get(name) {
        return Err(EditError::Unsafe(name.to_string()));
    }
    Ok(result)
}

/// Replaces the file at `path` with `text` atomically (a temporary file in
/// the same directory, renamed over it), with the same permissions.
pub fn write_keeping_mode(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path)?.permissions();
    let mut temp = tempfile::Builder::new().prefix(".sesame-set-").tempfile_in(dir)?;
    temp.write_all(text.as_bytes())?;
    temp.as_file().set_permissions(permissions)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_an_entry_and_keeps_the_rest() {
        let text = "# top\n[providers]\nage = { type = \"age\" }\n\n[secrets]\nA = { value = \"1\" }  # note\nAB = { value = \"2\" }\n";
        let out = upsert_secret(text, "A", &secret_line("A", &[("provider", "age"), ("value", "xyz")])).unwrap();
        assert_eq!(
            out,
            "# top\n[providers]\nage = { type = \"age\" }\n\n[secrets]\nA = { provider = \"age\", value = \"xyz\" }\nAB = { value = \"2\" }\n"
        );
    }

    #[test]
    fn adds_to_the_table_or_makes_one() {
        let out = upsert_secret("[secrets]\nB = {}\n", "A", "A = { value = \"v\" }").unwrap();
        assert_eq!(out, "[secrets]\nA = { value = \"v\" }\nB = {}\n");
        let out = upsert_secret("root = true", "A", "A = { value = \"v\" }").unwrap();
        assert_eq!(out, "root = true\n\n[secrets]\nA = { value = \"v\" }\n");
    }

    #[test]
    fn quotes_are_escaped() {
        let line = secret_line("A", &[("description", "say \"hi\"\n")]);
        let out = upsert_secret("", "A", &line).unwrap();
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(parsed["secrets"]["A"]["description"].as_str(), Some("say \"hi\"\n"));
    }

    #[test]
    fn table_form_is_left_alone() {
        let err = upsert_secret("[secrets.A]\nvalue = \"1\"\n", "A", "A = { value = \"v\" }").unwrap_err();
        assert!(matches!(&err, EditError::NotUnderHeader(name) if name == "A"), "{err}");
    }
}
