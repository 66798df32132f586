//! The supervising path of `exec` (used when leases must be revoked after
//! the command): signals sent to sesame reach the command exactly once and
//! sesame reports the command's status. The "sesame" here is this test
//! binary re-run as a child process that supervises a signal recorder.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sesame_core::process::{ChildExit, SignalRelay};

fn recorder() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/support/signal_recorder.py").to_string()
}

/// Runs in a child process: supervises the command in `RELAY_ARGS`.
#[test]
#[ignore = "run as a child process by the tests below"]
fn relay_child() {
    let args: Vec<std::ffi::OsString> = std::env::var("RELAY_ARGS")
        .expect("run by a parent test")
        .split('\x1f')
        .map(Into::into)
        .collect();
    let relay = SignalRelay::install().unwrap();
    let exit = relay.run(&args[0], &args[1..], &Default::default()).unwrap();
    drop(relay);
    sesame_core::process::exit_like(exit);
}

fn supervise(args: &[&str]) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "relay_child",
            "--include-ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env("RELAY_ARGS", args.join("\x1f"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn signals_sent_to_the_supervisor_reach_the_command_once() {
    let dir = tempfile::tempdir().unwrap();
    let (log, ready) = (dir.path().join("log"), dir.path().join("ready"));
    let mut child = supervise(&["python3", &recorder(), log.to_str().unwrap(), ready.to_str().unwrap()]);
    wait_for(&ready);
    let pid = child.id() as i32;
    let sent = [
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGHUP,
        libc::SIGWINCH,
        libc::SIGINT,
        libc::SIGQUIT,
    ];
    for (i, signal) in sent.iter().enumerate() {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, *signal) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines(&log).len() < i + 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(
        lines(&log),
        ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGWINCH", "SIGINT", "SIGQUIT", "SIGTERM"]
    );
}

#[test]
fn the_supervisor_exits_with_the_code_and_dies_by_the_signal() {
    let status = supervise(&["sh", "-c", "exit 42"]).wait().unwrap();
    assert_eq!(status.code(), Some(42));
    let status = supervise(&["sh", "-c", "kill -KILL $$"]).wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(ChildExit::Signal(9).shell_status(), 137);
}
