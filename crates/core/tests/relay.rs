//! The supervising path of `exec` (used when leases must be revoked after
//! the command): signals sent to sesame reach the command exactly once and
//! sesame reports the command's status. The "sesame" here is this test
//! binary re-run as a child process that supervises a signal recorder.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use sesame_core::process::{ChildExit, SignalRelay};
use sesame_test_support::signals::SignalRecorder;

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
    let exit = relay
        .run(&args[0], &args[1..], &Default::default(), &Default::default())
        .unwrap();
    drop(relay);
    sesame_core::process::exit_like(exit);
}

fn supervise(args: &[impl AsRef<str>]) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "relay_child",
            "--include-ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env(
            "RELAY_ARGS",
            args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join("\x1f"),
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn signals_sent_to_the_supervisor_reach_the_command_once() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = SignalRecorder::in_dir(dir.path());
    let mut child = supervise(&recorder.argv());
    recorder.wait_until_ready();
    recorder.send_each_then_stop(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(
        recorder.lines(),
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
