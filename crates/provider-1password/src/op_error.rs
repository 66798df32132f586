//! What `op`'s errors mean: its stderr lines cut to their messages,
//! classified by meaning (not exact wording, which changes between
//! versions), and turned into errors that say what happened and how to fix
//! it.

use sesame_core::BackendError;

use crate::batch::ItemKey;

/// Who `op` runs as, for the hints of its errors.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// `--account`, if given.
    pub account: Option<&'a str>,
    /// True if `op` runs as a service account (token from config or env).
    pub service_account: bool,
}

impl Session<'_> {
    /// The error of a failure that concerns the whole session, whatever was
    /// asked: the account is unknown, or op is not signed in (or its token
    /// was rejected).
    pub fn session_failure(&self, kind: OpFailure, message: &str) -> Option<BackendError> {
        match kind {
            OpFailure::AccountNotFound => Some(BackendError::failed(
                format!(
                    "the 1Password account `{}` is not known to op",
                    self.account.unwrap_or("(default)")
                ),
                Some("`op account list` shows the accounts op knows; set `account` to one of them, or add it with `op account add`".into()),
            )),
            OpFailure::Auth if self.service_account => Some(BackendError::failed(
                format!("1Password rejected the service-account token ({})", one_line(message)),
                Some("check the token (`token` or OP_SERVICE_ACCOUNT_TOKEN): it may be mistyped, expired or revoked".into()),
            )),
            OpFailure::Auth => Some(BackendError::failed(
                format!("op is not signed in to 1Password ({})", one_line(message)),
                Some(
                    "run `op signin` (or unlock the 1Password app with CLI integration turned on), \
                     or set a service-account token: OP_SERVICE_ACCOUNT_TOKEN or `token = { secret = \"...\" }`"
                        .into(),
                ),
            )),
            _ => None,
        }
    }

    pub fn failure(&self, key: &ItemKey, message: &str, status: std::process::ExitStatus) -> BackendError {
        let vault = &key.vault;
        let item = &key.item;
        let kind = classify(message);
        if let Some(error) = self.session_failure(kind, message) {
            return error;
        }
        match kind {
            OpFailure::ItemNotFound => BackendError::not_found(format!("vault `{vault}` has no item `{item}`")),
            OpFailure::VaultNotFound => BackendError::failed(
                format!("vault `{vault}` was not found"),
                Some(if self.service_account {
                    "check its name (`op vault list`); a service account sees only the vaults it was granted".into()
                } else {
                    "check its name; `op vault list` shows the vaults you can read".into()
                }),
            ),
            OpFailure::Ambiguous => {
                let choices: Vec<&str> = message
                    .lines()
                    .skip(1)
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                BackendError::failed(
                    format!("more than one item in vault `{vault}` is titled `{item}`"),
                    Some(if choices.is_empty() {
                        "refer to the item by its ID instead of its title".to_string()
                    } else {
                        format!(
                            "refer to the item by its ID instead of its title:\n    {}",
                            choices.join("\n    ")
                        )
                    }),
                )
            }
            OpFailure::AccountNotFound | OpFailure::Auth | OpFailure::Other => {
                let what = if message.is_empty() {
                    match status.code() {
                        Some(code) => format!("op exited with status {code} and printed no error"),
                        None => "op was killed by a signal".to_string(),
                    }
                } else {
                    format!("op failed: {}", one_line(message))
                };
                BackendError::failed(
                    format!(
                        "`op item get {} --vault {}`: {what}",
                        quote(&key.item),
                        quote(&key.vault)
                    ),
                    Some("run that command in a terminal to see more".into()),
                )
            }
        }
    }
}

/// The message, lowercased, with every name in `names` taken out, so the
/// names a reference holds (an item titled "Sign in", say) cannot make the
/// message read as something else.
pub(crate) fn without_names(message: &str, names: &[String]) -> String {
    let mut names: Vec<String> = names
        .iter()
        .map(|n| n.to_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    // Longest first, so a full reference goes before the names in it.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut text = message.to_lowercase();
    for name in names {
        text = text.replace(&name, "");
    }
    text
}

/// `op`'s errors by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpFailure {
    /// No such item in the vault.
    ItemNotFound,
    /// No such vault (or not visible to this account).
    VaultNotFound,
    /// More than one item has that title.
    Ambiguous,
    /// `--account` names no account op knows.
    AccountNotFound,
    /// Not signed in, session expired, or the token was rejected.
    Auth,
    /// Anything else.
    Other,
}

/// Classifies an error message of `op` by what it says, not its exact
/// wording, which changes between versions.
pub fn classify(message: &str) -> OpFailure {
    // Names are quoted in op's messages; an item titled "signin" must not
    // read as a sign-in error.
    let m = without_quoted(message).to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    let missing = has(&[
        "not found",
        "doesn't exist",
        "does not exist",
        "isn't a",
        "is not a",
        "no such",
    ]);
    if has(&["more than one item", "more than one match", "multiple items"]) {
        OpFailure::Ambiguous
    } else if has(&[
        "no account found",
        "no accounts configured",
        "account not found",
        "isn't an account",
    ]) {
        OpFailure::AccountNotFound
    } else if has(&[
        "not currently signed in",
        "not signed in",
        "signin",
        "sign in",
        "session expired",
        "session has expired",
        "invalid session",
        "authorization prompt",
        "unauthorized",
        "(401)",
        "not authorized",
        "aren't authorized",
        "decodesacredentials",
        "service account token",
        "invalid token",
        "token is invalid",
        "app is locked",
        "connecting to desktop app",
    ]) {
        OpFailure::Auth
    } else if has(&["isn't an item", "is not an item"]) || (missing && m.contains("item")) {
        OpFailure::ItemNotFound
    } else if missing && m.contains("vault") {
        OpFailure::VaultNotFound
    } else {
        OpFailure::Other
    }
}

/// The text with every `"..."` emptied.
fn without_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            inside = !inside;
            out.push(c);
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// The messages of `op`'s `[ERROR] YYYY/MM/DD HH:MM:SS message` stderr
/// lines (continuation lines included), or the whole stderr if it has none.
pub fn error_message(stderr: &str) -> String {
    let mut messages: Vec<String> = Vec::new();
    let mut in_error = false;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("[ERROR]") {
            messages.push(strip_timestamp(rest.trim_start()).trim_end().to_string());
            in_error = true;
        } else if line.starts_with('[')
            && line.contains(']')
            && line[1..line.find(']').unwrap()].chars().all(|c| c.is_ascii_uppercase())
        {
            // [WARN], [INFO]: not the error.
            in_error = false;
        } else if in_error {
            if let Some(last) = messages.last_mut() {
                last.push('\n');
                last.push_str(line.trim_end());
            }
        }
    }
    let text = if messages.is_empty() {
        stderr.trim().to_string()
    } else {
        messages.join("\n")
    };
    truncate(text, 2000)
}

/// Drops a leading `YYYY/MM/DD HH:MM:SS `.
fn strip_timestamp(text: &str) -> &str {
    let bytes = text.as_bytes();
    let pattern = b"dddd/dd/dd dd:dd:dd";
    if bytes.len() >= pattern.len()
        && pattern
            .iter()
            .zip(bytes)
            .all(|(p, b)| if *p == b'd' { b.is_ascii_digit() } else { p == b })
    {
        text[pattern.len()..].trim_start()
    } else {
        text
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The first line of an error, for a one-line message.
pub(crate) fn one_line(message: &str) -> &str {
    message.lines().next().unwrap_or("").trim()
}

/// Quotes a name for a shell command line shown to the user.
pub fn quote(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c)) {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_lose_prefix_and_timestamp_and_keep_continuations() {
        let stderr = "[WARN] 2024/01/02 03:04:05 a warning\n[ERROR] 2024/01/02 03:04:05 More than one item matches \"login\". Try again and specify the item by its ID:\n\t* for the item \"Login\" in vault Private: aaa\n\t* for the item \"Login\" in vault Private: bbb\n";
        let message = error_message(stderr);
        assert!(
            message.starts_with("More than one item matches \"login\"."),
            "{message}"
        );
        assert!(
            message.contains("\n\t* for the item \"Login\" in vault Private: bbb"),
            "{message}"
        );
        assert!(!message.contains("warning"));
        assert_eq!(error_message("plain failure\n"), "plain failure");
        assert_eq!(error_message("[ERROR] no stamp here"), "no stamp here");
    }

    #[test]
    fn errors_are_classified_by_meaning() {
        let cases = [
            (
                "\"X\" isn't an item in the \"V\" vault. Specify the item with its UUID, name, or domain.",
                OpFailure::ItemNotFound,
            ),
            (
                "\"X\" isn't an item. Specify the item with its UUID, name, or domain.",
                OpFailure::ItemNotFound,
            ),
            ("item \"X\" not found", OpFailure::ItemNotFound),
            (
                "\"V\" isn't a vault in this account. Specify the vault with its ID or name.",
                OpFailure::VaultNotFound,
            ),
            ("vault \"V\" not found", OpFailure::VaultNotFound),
            ("More than one item matches \"login\". Try again", OpFailure::Ambiguous),
            (
                "You are not currently signed in. Please run `op signin --help` for instructions",
                OpFailure::Auth,
            ),
            ("account is not signed in", OpFailure::Auth),
            ("session expired, sign in to create a new session", OpFailure::Auth),
            ("authorization prompt dismissed, please try again", OpFailure::Auth),
            (
                "(401) Unauthorized: You aren't authorized to perform this action.",
                OpFailure::Auth,
            ),
            (
                "error initializing client: Validation: (failed to session.DecodeSACredentials), ...",
                OpFailure::Auth,
            ),
            ("no account found for filter my.example.com", OpFailure::AccountNotFound),
            ("unknown flag: --x", OpFailure::Other),
            (
                "\"signin\" isn't an item in the \"Unauthorized\" vault.",
                OpFailure::ItemNotFound,
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(classify(message), expected, "{message}");
        }
    }

    #[test]
    fn names_in_inject_errors_do_not_change_their_meaning() {
        let message = "could not read secret 'op://Unauthorized/Sign in page/password': could not get item \
                       Unauthorized/Sign in page: \"Sign in page\" isn't an item in the \"Unauthorized\" vault.";
        assert_eq!(classify(message), OpFailure::Auth, "the names alone would say so");
        let names = [
            "op://Unauthorized/Sign in page/password",
            "Unauthorized",
            "Sign in page",
            "password",
        ]
        .map(String::from);
        assert_eq!(classify(&without_names(message, &names)), OpFailure::ItemNotFound);
        let signed_out = "could not read secret 'op://V/I/F': error initializing client: You are not currently \
                          signed in. Please run `op signin --help` for instructions";
        assert_eq!(
            classify(&without_names(signed_out, &["op://V/I/F".into()])),
            OpFailure::Auth
        );
    }

    #[test]
    fn names_are_quoted_for_display() {
        assert_eq!(quote("Cloudflare"), "Cloudflare");
        assert_eq!(quote("api token"), "'api token'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
