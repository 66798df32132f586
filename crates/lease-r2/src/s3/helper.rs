//! The S3 helper process, `sesame-s3`: where aws-sdk-s3 runs.
//!
//! One is started per run, on its first R2 operation (minting an R2 lease,
//! `sesame r2 verify`), and shared by all of them ([`super::shared`]). It
//! answers any number of concurrent requests over its
//! stdin and stdout ([`super::protocol`]), and exits when sesame closes its
//! stdin: [`HelperProcess::shutdown`] closes the pipe and waits for it, so
//! no helper outlives the command that started it. (Dropped without a
//! shutdown, on a panic say, it is killed.) Credentials
//! travel only through that pipe, never through arguments or the
//! environment.
//!
//! It is found beside the running `sesame` executable (`cargo install` and
//! release archives put both there), or at `SESAME_S3_HELPER`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_core::{BackendError, EnvSnapshot};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

use super::protocol::{Connection, Operation, Reply, Request, Response};
use super::Transport;

/// The helper executable's file name.
pub const HELPER_NAME: &str = "sesame-s3";

/// The variable that overrides where the helper is.
pub const HELPER_ENV: &str = "SESAME_S3_HELPER";

/// How long past an operation's own timeout and retries sesame waits for
/// the helper's reply before giving up on it.
const GRACE: Duration = Duration::from_secs(5);

/// Who waits for which reply; `None` once the helper has exited.
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Reply>>>>>;

/// A running helper: a [`Transport`] to it.
pub struct HelperProcess {
    path: PathBuf,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    /// Waited for by [`HelperProcess::shutdown`]; killed on drop.
    child: tokio::sync::Mutex<Child>,
}

impl std::fmt::Debug for HelperProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelperProcess")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Where the helper is: `SESAME_S3_HELPER`, or beside this executable.
pub fn locate(env: &EnvSnapshot) -> Result<PathBuf, BackendError> {
    if let Some(path) = env.var(HELPER_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| {
        BackendError::failed(
            format!("cannot tell where this executable is, to find `{HELPER_NAME}` beside it: {e}"),
            Some(format!("set {HELPER_ENV} to the path of `{HELPER_NAME}`")),
        )
    })?;
    Ok(exe.with_file_name(format!("{HELPER_NAME}{}", std::env::consts::EXE_SUFFIX)))
}

impl HelperProcess {
    /// Starts the helper. Must be called inside a Tokio runtime (a task
    /// reads its replies).
    pub fn spawn(env: &EnvSnapshot) -> Result<Self, BackendError> {
        let path = locate(env)?;
        Self::spawn_at(&path)
    }

    /// Starts the helper at `path`.
    pub fn spawn_at(path: &Path) -> Result<Self, BackendError> {
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                BackendError::failed(
                    format!("cannot start the S3 helper `{}`: {e}", path.display()),
                    Some(format!(
                        "`{HELPER_NAME}` is installed beside `sesame` (cargo install installs both); \
                         reinstall sesame, or set {HELPER_ENV} to its path"
                    )),
                )
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(BackendError::failed("the S3 helper's pipes could not be opened", None));
        };
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let replies = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Response>(&line) {
                    Ok(response) => {
                        let waiting = replies
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .as_mut()
                            .and_then(|p| p.remove(&response.id));
                        if let Some(waiting) = waiting {
                            let _ = waiting.send(response.reply);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the S3 helper wrote a line sesame cannot read"),
                }
            }
            // The helper is gone: whoever still waits hears so.
            replies.lock().unwrap_or_else(|e| e.into_inner()).take();
        });
        Ok(Self {
            path: path.to_path_buf(),
            stdin: tokio::sync::Mutex::new(Some(stdin)),
            pending,
            next_id: AtomicU64::new(1),
            child: tokio::sync::Mutex::new(child),
        })
    }

    /// Ends the helper cleanly: closes its stdin, which it reads as the end
    /// of requests, and waits until it has exited (reaped, so nothing is
    /// left behind). A helper that does not exit within [`GRACE`] is killed
    /// and then waited for.
    pub async fn shutdown(&self) {
        drop(self.stdin.lock().await.take());
        let mut child = self.child.lock().await;
        match tokio::time::timeout(GRACE, child.wait()).await {
            Ok(Ok(status)) => tracing::debug!(%status, "the S3 helper exited"),
            Ok(Err(e)) => tracing::debug!(error = %e, "waiting for the S3 helper failed"),
            Err(_) => {
                tracing::warn!("the S3 helper did not exit when its input closed; killing it");
                let _ = child.kill().await;
            }
        }
    }

    /// The helper's process id, until it has been waited for.
    pub async fn id(&self) -> Option<u32> {
        self.child.lock().await.id()
    }

    fn forget(&self, id: u64) {
        if let Some(pending) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            pending.remove(&id);
        }
    }

    fn exited(&self) -> Reply {
        Reply::transport(format!("the S3 helper `{}` exited", self.path.display()))
    }
}

#[async_trait::async_trait]
impl Transport for HelperProcess {
    async fn call(&self, connection: &Connection, operation: Operation) -> Reply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        match self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(pending) => pending.insert(id, sender),
            None => return self.exited(),
        };
        let request = Request {
            id,
            connection: connection.clone(),
            operation,
        };
        let mut line = match serde_json::to_vec(&request) {
            Ok(line) => line,
            Err(e) => {
                self.forget(id);
                return Reply::transport(format!("cannot encode the request for the S3 helper: {e}"));
            }
        };
        line.push(b'\n');
        let written = {
            let mut stdin = self.stdin.lock().await;
            match stdin.as_mut() {
                Some(pipe) => pipe.write_all(&line).await.and(pipe.flush().await),
                None => Err(std::io::ErrorKind::BrokenPipe.into()),
            }
        };
        if let Err(e) = written {
            self.forget(id);
            return Reply::transport(format!("the S3 helper `{}` is gone ({e})", self.path.display()));
        }
        let limit = Duration::from_millis(connection.timeout_ms).saturating_mul(connection.attempts.max(1)) + GRACE;
        match tokio::time::timeout(limit, receiver).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => self.exited(),
            Err(_) => {
                self.forget(id);
                Reply::transport(format!(
                    "the S3 helper `{}` did not answer within {}s",
                    self.path.display(),
                    limit.as_secs()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        Connection {
            endpoint: "http://127.0.0.1:9".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            session_token: None,
            timeout_ms: 1000,
            attempts: 1,
        }
    }

    #[test]
    fn the_variable_wins_over_the_neighbour() {
        let env = EnvSnapshot::from_pairs([(HELPER_ENV, "/opt/sesame/sesame-s3")]);
        assert_eq!(locate(&env).unwrap(), PathBuf::from("/opt/sesame/sesame-s3"));
        let beside = locate(&EnvSnapshot::default()).unwrap();
        assert_eq!(beside.file_name().unwrap(), HELPER_NAME);
        assert_eq!(beside.parent(), std::env::current_exe().unwrap().parent());
    }

    #[tokio::test]
    async fn a_missing_helper_is_a_clear_error() {
        let err = HelperProcess::spawn_at(Path::new("/nonexistent/sesame-s3")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cannot start the S3 helper `/nonexistent/sesame-s3`"),
            "{text}"
        );
        assert!(text.contains(HELPER_ENV), "{text}");
    }

    /// Closing the pipe ends the helper, which is waited for.
    #[tokio::test]
    async fn shutdown_closes_the_pipe_and_reaps_the_helper() {
        // `cat` exits when its stdin closes, as the helper does.
        let helper = HelperProcess::spawn_at(Path::new("/bin/cat")).unwrap();
        let pid = helper.child.lock().await.id().unwrap();
        helper.shutdown().await;
        assert!(helper
            .child
            .lock()
            .await
            .try_wait()
            .unwrap()
            .is_some_and(|s| s.success()));
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "reaped, not a zombie");
        let reply = helper.call(&connection(), Operation::ListBuckets).await;
        assert!(reply.result.unwrap_err().transport.is_some());
    }

    /// A "helper" that reads requests and never answers, then one that dies:
    /// callers get a transport failure, not a hang.
    #[tokio::test]
    async fn a_helper_that_dies_fails_the_waiting_calls() {
        let helper = HelperProcess::spawn_at(Path::new("/bin/true")).unwrap();
        let reply = helper.call(&connection(), Operation::ListBuckets).await;
        let failure = reply.result.unwrap_err();
        let text = failure.transport.unwrap();
        assert!(text.contains("exited") || text.contains("is gone"), "{text}");
    }
}
