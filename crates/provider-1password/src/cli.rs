//! The `op` CLI mode: one `op inject` for every reference op's syntax can
//! express (the happy path is one process), and `op item get ITEM --vault V
//! --format json` per distinct item for the others and when `op inject`
//! fails, run concurrently with a bounded limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sesame_core::{BackendError, EnvSnapshot, SecretValue};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::item::Item;
use crate::reference::Reference;
use crate::{describe, ItemKey};

/// How to run `op`.
#[derive(Debug, Clone)]
pub struct OpCli {
    /// `op_path`: a path, or a name looked up on PATH (default `op`).
    pub op_path: Option<String>,
    /// `--account`.
    pub account: Option<String>,
}

const INSTALL_HINT: &str = "install the 1Password CLI (https://developer.1password.com/docs/cli/get-started/, \
     e.g. `brew install 1password-cli`), set `op_path` to where it is, \
     or use a 1Password Connect server instead (`connect_host` and `connect_token`)";

/// Variables `op` may need from sesame's environment. The child's
/// environment is built from these only (plus the token), so nothing
/// reaches `op` that the snapshot sesame was given does not hold.
const PASSED_VARS: &[&str] = &[
    // The basics of any process.
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TZ",
    "TERM",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    // Where op keeps its config, and how it reaches the desktop app.
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
    "XDG_SESSION_TYPE",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    // Networks that need a proxy or a private CA.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    // op's own settings.
    "OP_ACCOUNT",
    "OP_CACHE",
    "OP_CONFIG_DIR",
    "OP_DEBUG",
    "OP_FORMAT",
    "OP_ISO_TIMESTAMPS",
    "OP_INCLUDE_ARCHIVE",
    "OP_BIOMETRIC_UNLOCK_ENABLED",
    "OP_SERVICE_ACCOUNT_TOKEN",
    // The knobs of sesame's test stand-in (tests/support/op); unused by op.
    "OP_STANDIN_DATA",
    "OP_STANDIN_LOG",
    "OP_STANDIN_DELAY_MS",
    "OP_STANDIN_HANG",
    "OP_STANDIN_VERSION",
];

/// The environment `op` runs with.
fn op_env(env: &EnvSnapshot, account: Option<&str>) -> Vec<(String, String)> {
    let mut names: Vec<String> = PASSED_VARS.iter().map(|s| s.to_string()).collect();
    // A manual `op signin` session lives in OP_SESSION_<account shorthand>.
    if let Some(account) = account {
        let short = account.split('.').next().unwrap_or(account);
        for name in [account, short] {
            let var = format!("OP_SESSION_{name}");
            if var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.push(var);
            }
        }
    }
    names
        .into_iter()
        .filter_map(|name| env.var(&name).map(|v| (name, v.to_string())))
        .collect()
}

/// Finds the `op` binary: `op_path` as given when it holds a `/`, else the
/// first executable of that name on the snapshot's PATH.
pub fn find_op(op_path: Option<&str>, env: &EnvSnapshot) -> Result<PathBuf, BackendError> {
    let name = op_path.unwrap_or("op");
    if name.contains('/') {
        let path = PathBuf::from(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(BackendError::failed(
                format!("the 1Password CLI is not installed at `{name}` (`op_path`)"),
                Some(INSTALL_HINT.into()),
            ))
        };
    }
    let search = env.var("PATH").unwrap_or("");
    for dir in search.split(':') {
        let dir = if dir.is_empty() { Path::new(".") } else { Path::new(dir) };
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(BackendError::failed(
        format!("the 1Password CLI `{name}` is not installed (not found on PATH)"),
        Some(INSTALL_HINT.into()),
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Everything one batch's `op` calls share.
pub struct Batch<'a> {
    /// The binary.
    pub op: PathBuf,
    /// How to call it.
    pub settings: &'a OpCli,
    /// sesame's environment.
    pub env: &'a EnvSnapshot,
    /// The service-account token from `token`, if configured.
    pub token: Option<SecretValue>,
    /// True if `op` runs as a service account (token from config or env).
    pub service_account: bool,
    /// How long one call may take.
    pub timeout: Duration,
    /// No call runs past this.
    pub deadline: Instant,
    /// Bounds the `op` processes running at once.
    pub limit: Arc<Semaphore>,
}

/// What one `op inject` call gave.
#[derive(Debug)]
pub enum Injected {
    /// One value per reference, in order.
    Values(Vec<SecretValue>),
    /// A failure that concerns every reference alike (not signed in, token
    /// rejected, unknown account, timeout, op not runnable): asking item by
    /// item would only repeat it.
    Failed(BackendError),
    /// op refused the template (a reference it could not read, most
    /// likely) or answered something unexpected: read the items one by one
    /// for a precise error per secret. The reason is for the debug log and
    /// never holds a value.
    Fallback(String),
}

impl Batch<'_> {
    /// `op ARGS... [--account A]` with sesame's environment for op, the
    /// service-account token, stdout and stderr piped, and `stdin`.
    fn command(&self, args: &[&str], tail: &[&str], stdin: Stdio) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.op);
        cmd.args(args);
        if let Some(account) = &self.settings.account {
            cmd.args(["--account", account]);
        }
        cmd.args(tail);
        cmd.env_clear()
            .envs(op_env(self.env, self.settings.account.as_deref()))
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(token) = &self.token {
            cmd.env("OP_SERVICE_ACCOUNT_TOKEN", token.expose());
        }
        cmd
    }

    fn spawn_error(&self, e: std::io::Error) -> BackendError {
        match e.kind() {
            std::io::ErrorKind::NotFound => BackendError::failed(
                format!(
                    "the 1Password CLI is not installed (`{}` does not exist)",
                    self.op.display()
                ),
                Some(INSTALL_HINT.into()),
            ),
            _ => BackendError::failed(
                format!("could not run the 1Password CLI `{}`: {e}", self.op.display()),
                Some("check that `op_path` names the op binary and that it is executable".into()),
            ),
        }
    }

    /// Reads every reference with one `op inject`: the template goes to
    /// op's stdin (the only call that gets one; every other has /dev/null),
    /// each reference enclosed as `{{ op://... }}` (names may hold spaces)
    /// between markers holding a fresh random nonce, and the values are cut
    /// from stdout between those markers, byte for byte. Every reference
    /// must be [`Reference::is_plain`].
    pub async fn inject(&self, references: &[&Reference]) -> Injected {
        debug_assert!(references.iter().all(|r| r.is_plain()));
        let _permit = self.limit.acquire().await.expect("the semaphore is never closed");
        let nonce = nonce();
        let template = template(&nonce, references);
        let mut cmd = self.command(&["inject"], &[], Stdio::piped());
        let started = Instant::now();
        let deadline = (started + self.timeout).min(self.deadline);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => return Injected::Failed(self.spawn_error(e)),
        };
        tracing::debug!(references = references.len(), "running op inject");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let write = async move {
            let written = stdin.write_all(template.as_bytes()).await;
            // Closing stdin ends the template.
            drop(stdin);
            written
        };
        let (written, output) =
            match tokio::time::timeout_at(deadline, async { tokio::join!(write, child.wait_with_output()) }).await {
                Ok((written, Ok(output))) => (written, output),
                Ok((_, Err(e))) => return Injected::Fallback(format!("waiting for `op inject` failed: {e}")),
                // Dropping the future drops the child, which kills it. A
                // prompt nobody answered would only be asked again.
                Err(_) => {
                    return Injected::Failed(self.timed_out("`op inject`".into(), deadline - started));
                }
            };
        let mut stdout = output.stdout;
        tracing::debug!(status = ?output.status, elapsed = ?started.elapsed(), "op inject answered");
        if !output.status.success() {
            let message = error_message(&String::from_utf8_lossy(&output.stderr));
            let mut names: Vec<String> = Vec::new();
            for r in references {
                names.push(r.to_string());
                names.extend([r.vault.clone(), r.item.clone(), r.field.clone()]);
                names.extend(r.section.clone());
            }
            names.extend(self.settings.account.clone());
            let kind = classify(&without_names(&message, &names));
            return match self.session_failure(kind, &message) {
                Some(error) => Injected::Failed(error),
                None => Injected::Fallback(format!("op inject failed: {}", one_line(&message))),
            };
        }
        if let Err(e) = written {
            return Injected::Fallback(format!("writing the template to `op inject` failed: {e}"));
        }
        let values = parse_injected(&stdout, &nonce, references.len());
        stdout.fill(0);
        match values {
            Some(values) => Injected::Values(values),
            None => Injected::Fallback("`op inject` printed something unexpected".into()),
        }
    }

    /// Fetches one item.
    pub async fn item(&self, key: &ItemKey) -> Result<Item, BackendError> {
        let _permit = self.limit.acquire().await.expect("the semaphore is never closed");
        let mut cmd = if key.item.starts_with('-') {
            self.command(
                &["item", "get", "--vault", &key.vault, "--format", "json"],
                &["--", &key.item],
                Stdio::null(),
            )
        } else {
            self.command(
                &["item", "get", &key.item, "--vault", &key.vault, "--format", "json"],
                &[],
                Stdio::null(),
            )
        };
        let started = Instant::now();
        let deadline = (started + self.timeout).min(self.deadline);
        let child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        tracing::debug!(vault = %key.vault, item = %key.item, "running op item get");
        let output = match tokio::time::timeout_at(deadline, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(BackendError::failed(format!("waiting for `op` failed: {e}"), None)),
            // Dropping the future drops the child, which kills it.
            Err(_) => {
                return Err(self.timed_out(
                    format!("`op item get {} --vault {}`", quote(&key.item), quote(&key.vault)),
                    deadline - started,
                ))
            }
        };
        tracing::debug!(vault = %key.vault, item = %key.item, status = ?output.status, elapsed = ?started.elapsed(), "op answered");
        if output.status.success() {
            let mut stdout = output.stdout;
            let item = Item::from_json(&stdout).map_err(|e| {
                BackendError::failed(
                    format!("`op item get {}` printed something unexpected: {e}", quote(&key.item)),
                    Some("check the 1Password CLI is version 2 or later (`op --version`)".into()),
                )
            });
            stdout.fill(0);
            return item;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = error_message(&stderr);
        Err(self.failure(key, &message, output.status))
    }

    /// `what` (an op command line) did not answer within `after`.
    fn timed_out(&self, what: String, after: Duration) -> BackendError {
        BackendError::failed(
            format!("{what} did not answer within {}", describe(after)),
            Some(if self.service_account {
                "check the network, or raise the provider's `timeout` (and `--timeout`, which bounds the whole run)"
                    .into()
            } else {
                "op may be waiting for you to unlock or approve in the 1Password app: do so and run again, \
                 use a service-account token (`token` or OP_SERVICE_ACCOUNT_TOKEN), which never prompts, \
                 or raise the provider's `timeout` (and `--timeout`)"
                    .into()
            }),
        )
    }

    /// The error of a failure that concerns the whole session, whatever was
    /// asked: the account is unknown, or op is not signed in (or its token
    /// was rejected).
    fn session_failure(&self, kind: OpFailure, message: &str) -> Option<BackendError> {
        match kind {
            OpFailure::AccountNotFound => Some(BackendError::failed(
                format!(
                    "the 1Password account `{}` is not known to op",
                    self.settings.account.as_deref().unwrap_or("(default)")
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

    fn failure(&self, key: &ItemKey, message: &str, status: std::process::ExitStatus) -> BackendError {
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

/// A fresh 128-bit random nonce in hex, from the OS's random source.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // RandomState's keys come from the OS's random source too.
        use std::hash::{BuildHasher, Hasher};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(i);
            hasher.write_u128(now);
            hasher.write_u32(std::process::id());
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The markers around the value of reference `index`.
fn markers(nonce: &str, index: usize) -> (String, String) {
    (
        format!("<sesame-{nonce}-begin-{index}>"),
        format!("<sesame-{nonce}-end-{index}>"),
    )
}

/// The `op inject` template: one line per reference,
/// `<sesame-NONCE-begin-N>{{ op://V/ITEM/[SECTION/]FIELD }}<sesame-NONCE-end-N>`.
/// The markers hold nothing op reads as a reference or a variable.
pub fn template(nonce: &str, references: &[&Reference]) -> String {
    let mut text = String::new();
    for (index, reference) in references.iter().enumerate() {
        let (begin, end) = markers(nonce, index);
        text.push_str(&format!("{begin}{{{{ {reference} }}}}{end}\n"));
    }
    text
}

/// The `count` values in what `op inject` printed for [`template`]: the
/// bytes between each pair of markers, exactly. A value cannot hold a
/// marker: the nonce is fresh and random, so text that looks like a marker
/// has another nonce. None if a marker is missing or a value is not UTF-8.
pub fn parse_injected(output: &[u8], nonce: &str, count: usize) -> Option<Vec<SecretValue>> {
    let mut values = Vec::with_capacity(count);
    let mut at = 0;
    for index in 0..count {
        let (begin, end) = markers(nonce, index);
        let start = at + find(&output[at..], begin.as_bytes())? + begin.len();
        let stop = start + find(&output[start..], end.as_bytes())?;
        values.push(SecretValue::new(std::str::from_utf8(&output[start..stop]).ok()?));
        at = stop + end.len();
    }
    Some(values)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The message, lowercased, with every name in `names` taken out, so the
/// names a reference holds (an item titled "Sign in", say) cannot make the
/// message read as something else.
fn without_names(message: &str, names: &[String]) -> String {
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
fn one_line(message: &str) -> &str {
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
    fn op_is_found_on_the_snapshot_path_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let op = dir.join("op");
        std::fs::write(&op, "#!/bin/sh\n").unwrap();
        let env = EnvSnapshot::from_pairs([("PATH", format!("/nonexistent:{}", dir.display()))]);
        assert!(find_op(None, &env).is_err(), "not executable yet");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&op, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_op(None, &env).unwrap(), op);
        let err = find_op(None, &EnvSnapshot::from_pairs([("PATH", "/nonexistent")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not installed") && err.contains("connect_host"), "{err}");
        let err = find_op(Some("/nonexistent/op"), &env).unwrap_err().to_string();
        assert!(err.contains("op_path"), "{err}");
    }

    #[test]
    fn op_gets_only_known_variables() {
        let env = EnvSnapshot::from_pairs([
            ("PATH", "/bin"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("OP_SESSION_my", "s"),
            ("OP_ACCOUNT", "a"),
        ]);
        let names: Vec<String> = op_env(&env, Some("my.1password.com"))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, ["PATH", "OP_ACCOUNT", "OP_SESSION_my"]);
    }

    fn refs(values: &[&str]) -> Vec<Reference> {
        values
            .iter()
            .map(|v| Reference::parse(v, Some("Dev Vault")).unwrap())
            .collect()
    }

    #[test]
    fn the_template_encloses_every_reference_between_markers() {
        let references = refs(&["Service 1 api token/key one", "op://V/I/Admin/account id", "Login"]);
        let references: Vec<&Reference> = references.iter().collect();
        let text = template("00ff", &references);
        assert_eq!(
            text,
            "<sesame-00ff-begin-0>{{ op://Dev Vault/Service 1 api token/key one }}<sesame-00ff-end-0>\n\
             <sesame-00ff-begin-1>{{ op://V/I/Admin/account id }}<sesame-00ff-end-1>\n\
             <sesame-00ff-begin-2>{{ op://Dev Vault/Login/password }}<sesame-00ff-end-2>\n"
        );
        assert!(!text.contains('$'), "nothing op would expand");
    }

    #[test]
    fn nonces_are_128_bit_hex_and_fresh() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn injected_values_are_cut_byte_for_byte() {
        let nonce = nonce();
        let other = nonce_unlike(&nonce);
        let values = [
            "multi\nline\n".to_string(),
            "a=b \"q\" 'x' ünï 😀 \r\n\t ".to_string(),
            String::new(),
            format!("<sesame-{other}-end-3><sesame-{other}-begin-4>looks like a marker"),
            "<sesame-begin-0>{{ op://V/I/F }}</sesame>".to_string(),
        ];
        let mut output = String::new();
        for (i, value) in values.iter().enumerate() {
            let (begin, end) = markers(&nonce, i);
            output.push_str(&format!("{begin}{value}{end}\n"));
        }
        let parsed = parse_injected(output.as_bytes(), &nonce, values.len()).unwrap();
        let parsed: Vec<&str> = parsed.iter().map(SecretValue::expose).collect();
        assert_eq!(parsed, values);
        assert!(parse_injected(output.as_bytes(), &nonce, values.len() + 1).is_none());
        assert!(parse_injected(output.as_bytes(), &other, 1).is_none());
        assert!(parse_injected(b"", &nonce, 1).is_none());
        let (begin, end) = markers(&nonce, 0);
        let mut bad = begin.into_bytes();
        bad.extend([0xff, 0xfe]);
        bad.extend(end.into_bytes());
        assert!(parse_injected(&bad, &nonce, 1).is_none(), "not UTF-8");
    }

    fn nonce_unlike(nonce: &str) -> String {
        loop {
            let other = super::nonce();
            if other != nonce {
                return other;
            }
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
