//! The command's output, masked on its way to sesame's stdout and stderr.
//!
//! When sesame's stdout is not a terminal, the command writes to two pipes
//! and its stdin is sesame's own: it shares sesame's process group, so
//! signals behave exactly as without masking. When sesame's stdout is a
//! terminal, the command gets a pseudo-terminal ([`crate::pty`]) as stdout
//! (and as stdin and stderr where those are sesame's terminal too): sesame
//! puts its terminal in raw mode and relays keys in and masked output out,
//! copies window size changes, and passes on the terminal signals its own
//! terminal sends it. Every byte of output goes through one
//! [`MaskStream`] per stream.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGWINCH};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;

use std::collections::BTreeMap;
use std::ffi::OsString;

use crate::mask::{MaskSet, MaskStream};
use crate::process::{ChildExit, ExecError, SignalRelay};
use crate::pty::{self, RawMode};
use crate::SecretValue;

/// Runs the command like [`SignalRelay::run`], with its stdout and stderr
/// masked with `set` on their way to sesame's.
pub fn run_masked(
    relay: &SignalRelay,
    program: &OsString,
    args: &[OsString],
    env: &BTreeMap<String, SecretValue>,
    remove: &std::collections::BTreeSet<String>,
    set: Arc<MaskSet>,
) -> Result<ChildExit, ExecError> {
    let mut io = None;
    let exit = relay.run_configured(program, args, env, remove, |command| {
        io = Some(MaskedIo::start(set, command)?);
        Ok(())
    });
    if let Some(io) = io {
        io.finish();
    }
    exit
}

/// Bytes read at a time: big reads keep the per-read work small.
const CHUNK: usize = 256 * 1024;

/// Output gathered before a write when values are replaced in a chunk.
const WRITE_BUFFER: usize = 64 * 1024;

/// The relay of one masked run; [`MaskedIo::finish`] once the command ended.
pub struct MaskedIo {
    pumps: Vec<JoinHandle<()>>,
    keys: Option<(JoinHandle<()>, OwnedFd)>,
    signals: Option<(Handle, JoinHandle<()>)>,
    raw: Option<RawMode>,
}

impl MaskedIo {
    /// Sets up `command`'s stdio (and, on a terminal, its session) and
    /// starts relaying. `command` must be dropped right after it is
    /// spawned, so sesame holds no writing end and sees the end of output.
    pub fn start(set: Arc<MaskSet>, command: &mut Command) -> io::Result<Self> {
        if pty::is_terminal(1) {
            Self::start_on_terminal(set, command)
        } else {
            let mut pumps = Vec::new();
            for target in [1, 2] {
                let (read, write) = pipe()?;
                if target == 1 {
                    command.stdout(Stdio::from(write));
                } else {
                    command.stderr(Stdio::from(write));
                }
                pumps.push(spawn_pump(read, target, set.clone())?);
            }
            Ok(Self {
                pumps,
                keys: None,
                signals: None,
                raw: None,
            })
        }
    }

    fn start_on_terminal(set: Arc<MaskSet>, command: &mut Command) -> io::Result<Self> {
        let stdin_is_terminal = pty::is_terminal(0);
        let terminal = if stdin_is_terminal { 0 } else { 1 };
        let pty = pty::open_like(terminal)?;
        let mut pumps = Vec::new();
        command.stdout(Stdio::from(pty.slave.try_clone()?));
        if pty::is_terminal(2) {
            command.stderr(Stdio::from(pty.slave.try_clone()?));
        } else {
            let (read, write) = pipe()?;
            command.stderr(Stdio::from(write));
            pumps.push(spawn_pump(read, 2, set.clone())?);
        }
        if stdin_is_terminal {
            command.stdin(Stdio::from(pty.slave.try_clone()?));
        }
        pty::control_terminal_on_stdout(command);
        drop(pty.slave);
        let master = pty.master;
        pumps.push(spawn_pump(master.try_clone()?, 1, set)?);
        let signals = spawn_terminal_signals(master.try_clone()?)?;
        let (keys, raw) = if stdin_is_terminal {
            let (wake_read, wake_write) = pipe()?;
            let to = master.try_clone()?;
            let thread = std::thread::Builder::new()
                .name("sesame-keys".into())
                .spawn(move || relay_keys(to, wake_read))?;
            (Some((thread, wake_write)), Some(RawMode::enable(0)?))
        } else {
            (None, None)
        };
        drop(master);
        Ok(Self {
            pumps,
            keys,
            signals: Some(signals),
            raw,
        })
    }

    /// Waits until all output is relayed, stops relaying keys and signals,
    /// and gives the terminal its settings back.
    pub fn finish(mut self) {
        for pump in self.pumps.drain(..) {
            let _ = pump.join();
        }
        self.stop();
    }

    fn stop(&mut self) {
        if let Some((thread, wake)) = self.keys.take() {
            drop(wake);
            let _ = thread.join();
        }
        if let Some((handle, thread)) = self.signals.take() {
            handle.close();
            let _ = thread.join();
        }
        self.raw.take();
    }
}

impl Drop for MaskedIo {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn spawn_pump(from: OwnedFd, to: RawFd, set: Arc<MaskSet>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sesame-mask".into())
        .spawn(move || pump(File::from(from), to, &set))
}

/// Copies `from` to sesame's descriptor `to` through the mask, until the
/// end of output (EOF on a pipe, EIO on a pseudo-terminal whose every
/// slave is closed). If `to` cannot be written (a closed pipe), stops
/// reading, so the command meets the closed pipe as it would unmasked.
fn pump(mut from: File, to: RawFd, set: &MaskSet) {
    // SAFETY: sesame's stdout/stderr stay open for the whole run; the File
    // is never dropped, so it never closes them.
    let out = ManuallyDrop::new(unsafe { File::from_raw_fd(to) });
    // Text between values and markers is gathered into one write per read;
    // a read with no value in it bypasses the buffer (it is larger).
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, &*out);
    let mut stream = MaskStream::new(set);
    loop {
        match stream.read_from(&mut from, CHUNK, &mut out) {
            Ok(0) => break,
            Ok(_) => {
                if out.flush().is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // A read error is the end of output (EIO on a pseudo-terminal
                // whose slaves are closed); a write error is a closed pipe.
                if out.flush().is_err() {
                    return;
                }
                break;
            }
        }
    }
    let _ = stream.finish(&mut out);
    let _ = out.flush();
}

/// Copies keys from sesame's stdin to the pseudo-terminal, untouched,
/// until stdin ends or `wake` is closed.
fn relay_keys(to: OwnedFd, wake: OwnedFd) {
    let mut to = File::from(to);
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on two valid pollfd entries.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP) == 0 {
            continue;
        }
        // SAFETY: reads into a valid buffer from sesame's stdin.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if to.write_all(&buf[..n as usize]).is_err() {
            return;
        }
    }
}

/// Window size changes and the signals sesame's terminal itself sends
/// (Ctrl-C when sesame's stdin is not that terminal, hangup): the command
/// is in its own session, so sesame passes them to the pseudo-terminal's
/// foreground group. Signals sent by another process are forwarded by
/// [`crate::process::SignalRelay`], once.
fn spawn_terminal_signals(master: OwnedFd) -> io::Result<(Handle, JoinHandle<()>)> {
    let relayed = crate::process::catchable([SIGWINCH, SIGINT, SIGQUIT, SIGHUP]);
    let mut signals = SignalsInfo::<WithOrigin>::new(relayed)?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("sesame-pty-signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                if !matches!(origin.cause, Cause::Kernel) {
                    continue;
                }
                if origin.signal == SIGWINCH {
                    pty::copy_window_size(1, master.as_raw_fd());
                } else if let Some(group) = pty::foreground_group(master.as_raw_fd()) {
                    // SAFETY: kill with a process group and a valid signal.
                    unsafe { libc::kill(-group, origin.signal) };
                }
            }
        })?;
    Ok((handle, thread))
}
