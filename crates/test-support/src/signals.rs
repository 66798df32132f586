//! The signal recorder (`tests/support/signal_recorder.py`) as the tests of
//! signal forwarding drive it, shared by sesame-core's supervisor test
//! (`crates/core/tests/relay.rs`) and the end-to-end tests of the binary: a
//! command that logs each signal it receives, so a test can check that every
//! signal sent to sesame reaches the command exactly once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The signals [`SignalRecorder::send_each_then_stop`] sends, in order, by
/// the names the recorder logs; `SIGTERM` follows them and stops it.
pub const FORWARDED: [&str; 6] = ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGWINCH", "SIGINT", "SIGQUIT"];

/// The recorder's files in a test's directory: `signals.log`, one signal
/// name a line, and `ready`, which holds its pid once its handlers are
/// installed.
pub struct SignalRecorder {
    log: PathBuf,
    ready: PathBuf,
}

impl SignalRecorder {
    /// A recorder whose files are in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            log: dir.join("signals.log"),
            ready: dir.join("ready"),
        }
    }

    /// The script (run it with `python3`).
    pub fn script() -> &'static str {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/support/signal_recorder.py")
    }

    /// The command line that runs the recorder: `python3 SCRIPT LOG READY`
    /// (a further argument names the signal that stops it; SIGTERM if none).
    pub fn argv(&self) -> Vec<String> {
        [
            Path::new("python3"),
            Path::new(Self::script()),
            self.log.as_path(),
            self.ready.as_path(),
        ]
        .iter()
        .map(|p| p.to_str().expect("a UTF-8 path").to_string())
        .collect()
    }

    /// Where it writes its pid once ready.
    pub fn ready_file(&self) -> &Path {
        &self.ready
    }

    /// Waits until the recorder is ready (up to 10 s) and returns its pid.
    #[track_caller]
    pub fn wait_until_ready(&self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ready.exists() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {}",
                self.ready.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The file can exist before its pid is written.
        loop {
            let text = std::fs::read_to_string(&self.ready).unwrap_or_default();
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no pid in {}: {text:?}",
                self.ready.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The signals logged so far, in order of arrival.
    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Sends each of [`FORWARDED`] to `pid` (the process that should forward
    /// them to the recorder), waiting up to 5 s after each until the recorder
    /// has logged one more signal; then waits 200 ms, so a duplicate delivery
    /// would reach the log, and sends SIGTERM, after which the recorder exits
    /// 0. What arrived is left for the caller to check with
    /// [`SignalRecorder::lines`].
    pub fn send_each_then_stop(&self, pid: u32) {
        for (i, signal) in FORWARDED.iter().enumerate() {
            send(pid, signal);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.lines().len() < i + 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        send(pid, "SIGTERM");
    }
}

/// Sends the signal named `signal` (`SIGUSR1`, ...) to `pid`, with the
/// shell's `kill` (this crate does not link libc).
#[track_caller]
pub fn send(pid: u32, signal: &str) {
    let name = signal.strip_prefix("SIG").unwrap_or(signal);
    let status = Command::new("sh")
        .args(["-c", "kill -s \"$0\" \"$1\"", name, &pid.to_string()])
        .status()
        .expect("run sh");
    assert!(status.success(), "kill -s {name} {pid}: {status}");
}
