//! The `op` CLI mode: one `op inject` for every reference op's syntax can
//! express (the happy path is one process), and `op item get ITEM --vault V
//! --format json` per distinct item for the others and when `op inject`
//! fails, run concurrently with a bounded limit.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sesame_core::{BackendError, EnvSnapshot, SecretValue};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::batch::ItemKey;
use crate::describe;
use crate::item::Item;
use crate::op_error::{classify, error_message, one_line, quote, without_names, Session};
use crate::reference::Reference;
use crate::template::{nonce, parse_injected, template};

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

/// The environment `op` runs with: sesame's, whole, as `op run` and fnox
/// pass theirs. op documents a dozen variables of its own (OP_SESSION and
/// OP_SESSION_<shorthand>, OP_CONNECT_HOST and OP_CONNECT_TOKEN, OP_CACHE,
/// OP_RUN_NO_MASKING, ...) and needs the desktop app's (XDG_*, DBUS_*,
/// DISPLAY), the network's (proxies, CA files) and the basics (PATH, HOME):
/// a list picked by hand would drop some. The configured service-account
/// token is added by [`Batch::command`].
fn op_env(env: &EnvSnapshot) -> impl Iterator<Item = (&str, &str)> {
    env.iter()
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
            .envs(op_env(self.env))
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
            return match self.session().session_failure(kind, &message) {
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
        Err(self.session().failure(key, &message, output.status))
    }

    /// Who op runs as, for its errors.
    fn session(&self) -> Session<'_> {
        Session {
            account: self.settings.account.as_deref(),
            service_account: self.service_account,
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn op_gets_sesames_whole_environment() {
        let env = EnvSnapshot::from_pairs([
            ("PATH", "/bin"),
            ("OP_SESSION", "s"),
            ("OP_SESSION_work", "w"),
            ("OP_CONNECT_HOST", "http://connect:8080"),
            ("OP_RUN_NO_MASKING", "1"),
            ("SOMETHING_ELSE", "x"),
        ]);
        let names: Vec<&str> = op_env(&env).map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "OP_CONNECT_HOST",
                "OP_RUN_NO_MASKING",
                "OP_SESSION",
                "OP_SESSION_work",
                "PATH",
                "SOMETHING_ELSE"
            ]
        );
    }
}
