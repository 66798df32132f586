//! `[exec]`: the defaults of `sesame exec` (`mask`, `record`,
//! `record_args`). Top level only, not per profile.
//!
//! A file that is not trusted cannot weaken or redirect a run: its
//! `mask = false` and its `record` are kept but marked untrusted, and
//! `sesame exec` ignores them with a warning (an untrusted project could
//! otherwise turn masking off in CI, or make sesame rewrite any file of
//! the user's). `mask = true` counts from any file.

use std::path::PathBuf;

use serde::Deserialize;

use super::source::SourceFile;

/// `[exec]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExec {
    mask: Option<bool>,
    record: Option<PathBuf>,
    record_args: Option<bool>,
}

/// One `[exec]` setting and the file that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value (a `record` path is made absolute against the file's directory).
    pub value: T,
    /// Index into [`super::Config::files`].
    pub file: usize,
    /// Whether that file's trust-sensitive settings count.
    pub trusted: bool,
}

/// The merged `[exec]` settings: the last file that sets a key wins.
#[derive(Debug, Clone, Default)]
pub struct ExecSettings {
    /// `mask`.
    pub mask: Option<Setting<bool>>,
    /// `record`.
    pub record: Option<Setting<PathBuf>>,
    /// `record_args`.
    pub record_args: Option<Setting<bool>>,
}

impl ExecSettings {
    pub(crate) fn apply(&mut self, raw: RawExec, file: usize, source: &SourceFile) {
        let trusted = source.trust.allows_sensitive();
        let set = |value| Setting { value, file, trusted };
        if let Some(mask) = raw.mask {
            self.mask = Some(set(mask));
        }
        if let Some(path) = raw.record {
            let dir = source.path.parent().map(PathBuf::from).unwrap_or_default();
            self.record = Some(Setting {
                value: dir.join(path),
                file,
                trusted,
            });
        }
        if let Some(args) = raw.record_args {
            self.record_args = Some(set(args));
        }
    }
}
