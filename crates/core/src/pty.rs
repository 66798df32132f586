//! The pseudo-terminal a masked command runs on when sesame's stdout is a
//! terminal: opening it (libc `openpty`, with sesame's terminal settings and
//! window size), making it the command's controlling terminal, putting
//! sesame's own terminal in raw mode for the run, and copying window sizes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Both ends of a new pseudo-terminal.
pub struct Pty {
    /// The end sesame reads and writes.
    pub master: OwnedFd,
    /// The end the command gets as its terminal.
    pub slave: OwnedFd,
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Opens a pseudo-terminal with the settings of the terminal `like` (and
/// its window size), so the command sees what it would see on that terminal.
pub fn open_like(like: RawFd) -> io::Result<Pty> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: zeroed termios/winsize are valid plain-old-data; tcgetattr and
    // ioctl fill them or fail.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    let have_termios = unsafe { libc::tcgetattr(like, &mut termios) } == 0;
    let size = window_size(like);
    // SAFETY: openpty writes two descriptors into the given ints; the name
    // buffer may be null; termios and winsize pointers are valid or null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            if have_termios { &termios } else { std::ptr::null() },
            size.as_ref().map_or(std::ptr::null(), |s| s as *const libc::winsize),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty returned two new descriptors that nothing else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on descriptors we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(Pty { master, slave })
}

fn window_size(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: TIOCGWINSZ fills a winsize.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0).then_some(size)
}

/// Copies the window size of terminal `from` to the pseudo-terminal
/// `master`; the kernel then sends SIGWINCH to the command's foreground
/// group, as a terminal does.
pub fn copy_window_size(from: RawFd, master: RawFd) {
    if let Some(size) = window_size(from) {
        // SAFETY: TIOCSWINSZ reads a valid winsize.
        unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &size) };
    }
}

/// The foreground process group of the pseudo-terminal, if any.
pub fn foreground_group(master: RawFd) -> Option<libc::pid_t> {
    // SAFETY: tcgetpgrp only reads.
    let group = unsafe { libc::tcgetpgrp(master) };
    (group > 0).then_some(group)
}

/// Makes the command start a session of its own whose controlling terminal
/// is its stdout (the pseudo-terminal's slave end), as a login terminal
/// does: the command and its children are the terminal's foreground group,
/// so Ctrl-C, Ctrl-\ and window changes typed on it reach them.
pub fn control_terminal_on_stdout(command: &mut Command) {
    // SAFETY: setsid and ioctl are async-signal-safe and touch only the
    // child between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(1, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// sesame's terminal in raw mode for as long as this lives: every key,
/// Ctrl-C included, goes to the command's pseudo-terminal untouched, whose
/// own settings then decide what it means. The old settings come back on drop.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Switches terminal `fd` to raw mode.
    pub fn enable(fd: RawFd) -> io::Result<Self> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct; tcsetattr reads it.
        unsafe { libc::cfmakeraw(&mut raw) };
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved) };
    }
}
