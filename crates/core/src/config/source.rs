//! Config files as text: where they came from, and how to turn a byte span
//! or a key path into the `file:line:col` that error messages show.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

/// Where a config file came from, which decides how far it is trusted and
/// how it is shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The user's global config (`$XDG_CONFIG_HOME/sesame/config.toml`).
    Global,
    /// A `sesame.toml` found by walking up from the current directory.
    Project,
    /// A `sesame.local.toml` beside a project file.
    Local,
    /// A file named with `-c/--config` or `SESAME_CONFIG`.
    Explicit,
}

/// One loaded config file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as found (absolute).
    pub path: PathBuf,
    /// How the file was found.
    pub kind: SourceKind,
    /// The file's text.
    pub text: String,
    /// Whether its trust-sensitive fields count (see [`crate::trust`]).
    pub trust: TrustState,
}

impl SourceFile {
    /// The 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// A [`Location`] for a byte span.
    pub fn location(&self, span: Range<usize>) -> Location {
        let (line, column) = self.line_col(span.start);
        Location {
            file: self.path.clone(),
            line,
            column,
        }
    }

    /// The location of the key at `path` (table names, then keys; array
    /// indices as decimal strings). Falls back to the nearest ancestor that
    /// exists, and to the start of the file.
    pub fn locate(&self, path: &[String]) -> Location {
        let span = DeTable::parse(&self.text)
            .ok()
            .and_then(|root| find_span(root.get_ref(), path))
            .unwrap_or(0..0);
        self.location(span)
    }
}

fn find_span(table: &DeTable<'_>, path: &[String]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == first.as_str())?;
    let deeper = match value.get_ref() {
        DeValue::Table(t) => find_span(t, rest),
        DeValue::Array(items) => rest.split_first().and_then(|(index, rest)| {
            let item = items.get(index.parse::<usize>().ok()?)?;
            match item.get_ref() {
                DeValue::Table(t) if !rest.is_empty() => find_span(t, rest),
                _ => Some(item.span()),
            }
        }),
        _ => None,
    };
    Some(deeper.unwrap_or_else(|| key.span()))
}

/// A position in a config file, shown as `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            display_path(&self.file).display(),
            self.line,
            self.column
        )
    }
}

/// A path relative to the current directory when it lies below it.
pub fn display_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
}

/// How far a loaded file is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustState {
    /// The user's own file (global config, `-c`, `SESAME_CONFIG`).
    Own,
    /// Trusted with `sesame trust`, unchanged since.
    Trusted,
    /// Trusted before, but its content changed since.
    Changed,
    /// Never trusted.
    Untrusted,
    /// Everything is trusted (`SESAME_TRUST_ALL=1`).
    TrustAll,
}

impl TrustState {
    /// Whether trust-sensitive fields from this file count.
    pub fn allows_sensitive(self) -> bool {
        matches!(self, Self::Own | Self::Trusted | Self::TrustAll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            path: PathBuf::from("/nowhere/sesame.toml"),
            kind: SourceKind::Project,
            text: text.into(),
            trust: TrustState::Untrusted,
        }
    }

    #[test]
    fn line_and_column_are_one_based() {
        let f = file("a = 1\nbé = 2\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        assert_eq!(f.line_col(9), (2, 3));
    }

    #[test]
    fn locates_nested_keys_and_array_items() {
        let f = file(
            "[leases.cf]\ntype = \"cloudflare\"\n\n[[leases.cf.policies]]\neffect = \"allow\"\n\n[[leases.cf.policies]]\neffect = \"nope\"\n",
        );
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(f.locate(&path(&["leases", "cf", "type"])).line, 2);
        assert_eq!(f.locate(&path(&["leases", "cf", "policies", "1", "effect"])).line, 8);
        assert_eq!(f.locate(&path(&["leases", "cf", "missing"])).line, 1);
    }
}
