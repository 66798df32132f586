//! Running the command: spawn it with the injected environment, relay
//! signals to it exactly once, and end the way it ended.
//!
//! When nothing has to happen after the command (no lease to revoke),
//! sesame replaces itself with it ([`exec_replace`]) and everything below
//! is the kernel's doing. Otherwise sesame supervises it ([`SignalRelay::run`]).
//!
//! Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH
//! sent to sesame by another process (`kill PID`) are forwarded to the
//! command. Signals the kernel generated for the terminal's foreground
//! process group (Ctrl-C, Ctrl-\, window resize, hangup) already reach the
//! command, which shares sesame's process group, so they are not forwarded
//! again. Before the command has started, a terminating signal stops sesame
//! (leases minted so far are revoked).
//!
//! Exit: the command's exit code, exactly. If the command was killed by
//! signal N, sesame cleans up and then kills itself with the same signal,
//! so the shell reports the same death (`$?` is 128+N, and a shell script
//! interrupted by Ctrl-C stops as it would without sesame).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;

use crate::SecretValue;

/// The signals sesame relays to the command.
pub const FORWARDED_SIGNALS: [i32; 7] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH];

/// The forwarded signals that sesame's parent had set to ignored
/// (`nohup` ignores SIGHUP), recorded before sesame installs its own
/// handlers. sesame installs none for them, so they stay ignored, for
/// sesame and (an ignored disposition survives `fork` and `exec`) for the
/// command in every mode, as with env(1).
static INHERITED_IGNORED: OnceLock<Vec<i32>> = OnceLock::new();

/// `signals` without those ignored when sesame started: the ones sesame
/// may catch. Every handler sesame installs goes through this, so an
/// ignored signal keeps its disposition and the command inherits it.
pub(crate) fn catchable(signals: impl IntoIterator<Item = i32>) -> impl Iterator<Item = i32> {
    let ignored = inherited_ignored();
    signals.into_iter().filter(move |s| !ignored.contains(s))
}

/// See [`INHERITED_IGNORED`].
fn inherited_ignored() -> &'static [i32] {
    INHERITED_IGNORED.get_or_init(|| {
        FORWARDED_SIGNALS
            .iter()
            .copied()
            .filter(|&signal| {
                // SAFETY: querying (not changing) a disposition; `old` is
                // valid for writing.
                unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
                }
            })
            .collect()
    })
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl ChildExit {
    /// The status a shell would show in `$?`.
    pub fn shell_status(self) -> i32 {
        match self {
            Self::Code(code) => code,
            Self::Signal(signal) => 128 + signal,
        }
    }
}

/// Why the command could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No such program (exit 127, as a shell does).
    #[error("command not found: {0}")]
    NotFound(String),
    /// Not executable (exit 126, as a shell does).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Not a program the system can run: no `#!` line and not a binary
    /// format the kernel knows (exit 126, as env(1) documents).
    #[error("cannot run {0}: not an executable format (a script needs a `#!` line)")]
    NotExecutable(String),
    /// Anything else.
    #[error("cannot run {program}: {source}")]
    Other {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
}

impl ExecError {
    /// The exit status a shell uses for this failure.
    pub fn exit_status(&self) -> i32 {
        match self {
            Self::NotFound(_) => 127,
            _ => 126,
        }
    }
}

/// Catches the forwarded signals for the whole run of sesame.
pub struct SignalRelay {
    child: Arc<AtomicI32>,
    interrupted: Arc<AtomicI32>,
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalRelay {
    /// Starts catching signals. Until a child is set, a terminating signal
    /// is remembered (see [`SignalRelay::interrupted`]) instead of killing sesame.
    pub fn install() -> io::Result<Self> {
        // A signal ignored before sesame started gets no handler: it stays
        // ignored, and the command inherits that without a `pre_exec` hook
        // (which would make the standard library fork and `execvp`, and
        // `execvp` runs a file that is no executable with /bin/sh).
        let mut signals = SignalsInfo::<WithOrigin>::new(catchable(FORWARDED_SIGNALS))?;
        let handle = signals.handle();
        let child = Arc::new(AtomicI32::new(0));
        let interrupted = Arc::new(AtomicI32::new(0));
        let (child_for_thread, interrupted_for_thread) = (child.clone(), interrupted.clone());
        let thread = std::thread::Builder::new()
            .name("sesame-signals".into())
            .spawn(move || {
                for origin in signals.forever() {
                    let signal = origin.signal;
                    let pid = child_for_thread.load(Ordering::SeqCst);
                    if pid == 0 {
                        if signal != SIGWINCH && signal != SIGUSR1 && signal != SIGUSR2 {
                            interrupted_for_thread
                                .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                                .ok();
                        }
                        continue;
                    }
                    if matches!(origin.cause, Cause::Kernel) {
                        // The terminal sent it to the whole foreground group,
                        // the command included: forwarding would double it.
                        continue;
                    }
                    // SAFETY: kill with a valid pid and signal number.
                    unsafe { libc::kill(pid, signal) };
                }
            })?;
        Ok(Self {
            child,
            interrupted,
            handle,
            thread: Some(thread),
        })
    }

    /// The terminating signal sesame got before the command started, if any.
    pub fn interrupted(&self) -> i32 {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// The flag [`SignalRelay::interrupted`] reads, for code that checks it
    /// while it works.
    pub fn interrupted_flag(&self) -> &AtomicI32 {
        &self.interrupted
    }

    /// Runs `program` with `args`, sesame's environment plus `env`, and the
    /// terminal, stdin, stdout and stderr passed through; waits for it.
    /// Variables in `remove` are taken out of the inherited environment.
    pub fn run(
        &self,
        program: &OsString,
        args: &[OsString],
        env: &BTreeMap<String, SecretValue>,
        remove: &BTreeSet<String>,
    ) -> Result<ChildExit, ExecError> {
        self.run_configured(program, args, env, remove, |_| Ok(()))
    }

    /// Like [`SignalRelay::run`], with `configure` setting up the command
    /// (its stdio, say) before it is spawned; if it fails, nothing runs.
    /// The `Command` is dropped right after spawning, so sesame keeps no
    /// copy of the child's ends.
    pub fn run_configured(
        &self,
        program: &OsString,
        args: &[OsString],
        env: &BTreeMap<String, SecretValue>,
        remove: &BTreeSet<String>,
        configure: impl FnOnce(&mut Command) -> io::Result<()>,
    ) -> Result<ChildExit, ExecError> {
        let mut command = Command::new(program);
        command.args(args);
        for name in remove {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value.expose());
        }
        let shown = program.to_string_lossy().into_owned();
        configure(&mut command).map_err(|source| ExecError::Other {
            program: shown.clone(),
            source,
        })?;
        let spawned = command.spawn();
        drop(command);
        let mut child = spawned.map_err(|source| exec_error(&shown, source))?;
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        self.child.store(pid, Ordering::SeqCst);
        // A terminating signal that arrived between resolution and spawn is
        // passed on now, so it is not lost.
        let early = self.interrupted.swap(0, Ordering::SeqCst);
        if early != 0 {
            // SAFETY: valid pid and signal.
            unsafe { libc::kill(pid, early) };
        }
        let status = loop {
            match child.wait() {
                Ok(status) => break status,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(ExecError::Other { program: shown, source }),
            }
        };
        self.child.store(0, Ordering::SeqCst);
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => ChildExit::Code(code),
            (None, Some(signal)) => ChildExit::Signal(signal),
            (None, None) => ChildExit::Code(1),
        })
    }
}

impl Drop for SignalRelay {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn exec_error(shown: &str, source: io::Error) -> ExecError {
    if source.raw_os_error() == Some(libc::ENOEXEC) {
        return ExecError::NotExecutable(shown.to_string());
    }
    match source.kind() {
        io::ErrorKind::NotFound => ExecError::NotFound(shown.to_string()),
        io::ErrorKind::PermissionDenied => ExecError::PermissionDenied(shown.to_string()),
        _ => ExecError::Other {
            program: shown.to_string(),
            source,
        },
    }
}

/// Replaces sesame with the command: used when nothing has to happen after
/// the command ends, so the command gets sesame's PID, its signals, its
/// terminal and its exit status first-hand. Returns only on failure.
///
/// The program is looked up on PATH and started with `execve`, not
/// `execvp`: glibc's `execvp` hands a file the kernel cannot run to
/// `/bin/sh`, so a non-executable file would fail differently here than
/// when sesame supervises the command. Both modes exit 126 for it.
pub fn exec_replace(
    program: &OsString,
    args: &[OsString],
    env: &BTreeMap<String, SecretValue>,
    remove: &BTreeSet<String>,
) -> ExecError {
    let shown = program.to_string_lossy().into_owned();
    // The inherited variables sesame neither sets nor removes, then its own.
    let inherited: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| k.to_str().is_none_or(|k| !remove.contains(k) && !env.contains_key(k)))
        .collect();
    let cstring = |bytes: &[u8]| CString::new(bytes).ok();
    let Some(argv) = std::iter::once(program)
        .chain(args)
        .map(|a| cstring(a.as_bytes()))
        .collect::<Option<Vec<CString>>>()
    else {
        return ExecError::Other {
            program: shown,
            source: io::Error::new(io::ErrorKind::InvalidInput, "an argument holds a NUL byte"),
        };
    };
    let entry = |k: &[u8], v: &[u8]| {
        let mut bytes = Vec::with_capacity(k.len() + v.len() + 1);
        bytes.extend_from_slice(k);
        bytes.push(b'=');
        bytes.extend_from_slice(v);
        CString::new(bytes).ok()
    };
    let Some(envp) = inherited
        .iter()
        .map(|(k, v)| entry(k.as_bytes(), v.as_bytes()))
        .chain(env.iter().map(|(k, v)| entry(k.as_bytes(), v.expose().as_bytes())))
        .collect::<Option<Vec<CString>>>()
    else {
        return ExecError::Other {
            program: shown,
            source: io::Error::new(io::ErrorKind::InvalidInput, "a variable holds a NUL byte"),
        };
    };
    let path = env.get("PATH").map(|v| OsString::from(v.expose())).or_else(|| {
        inherited
            .iter()
            .find(|(k, _)| k.as_bytes() == b"PATH")
            .map(|(_, v)| v.clone())
    });
    let candidates: Vec<std::path::PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![program.into()]
    } else {
        let path = path.unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| if dir.as_os_str().is_empty() { ".".into() } else { dir }.join(program))
            .collect()
    };
    let argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();
    let mut denied = None;
    for candidate in candidates {
        let Some(path) = cstring(candidate.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: NUL-terminated strings and NULL-terminated arrays that
        // outlive the call; execve returns only on failure.
        unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            // As execvp: keep searching PATH after these.
            Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG) => continue,
            Some(libc::EACCES) => {
                denied = Some(error);
                continue;
            }
            _ => return exec_error(&shown, error),
        }
    }
    match denied {
        Some(error) => exec_error(&shown, error),
        None => ExecError::NotFound(shown),
    }
}

/// True while a process with this pid exists (a zombie counts). Pid 0
/// means "held by no process" (`sesame lease create`) and is never alive.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The first variable whose value holds a NUL byte, which no environment
/// variable can carry.
pub fn nul_in_env(env: &BTreeMap<String, SecretValue>) -> Option<&str> {
    env.iter()
        .find(|(_, v)| v.expose().contains('\0'))
        .map(|(k, _)| k.as_str())
}

/// Ends sesame the way the command ended: the same exit code, or death by
/// the same signal (falling back to 128+N if the signal does not kill).
pub fn exit_like(exit: ChildExit) -> ! {
    if let ChildExit::Signal(signal) = exit {
        // SAFETY: plain libc calls on this process; no memory is shared.
        unsafe {
            // No core file for sesame itself: the command already dumped
            // its own, if any.
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(signal);
        }
    }
    std::process::exit(exit.shell_status())
}
