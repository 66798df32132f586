//! Signals reach the command exactly once.

use sesame_test_support::signals::SignalRecorder;

use crate::support::{exec_args, masked_sandbox, start_recorder_with, EXEC_MODES};

#[test]
fn each_forwarded_signal_arrives_exactly_once() {
    for mode in EXEC_MODES {
        each_forwarded_signal_arrives_exactly_once_in(mode);
    }
}

fn each_forwarded_signal_arrives_exactly_once_in(mode: &[&str]) {
    let sb = masked_sandbox();
    let (mut child, recorder) = start_recorder_with(&sb, mode);
    recorder.wait_until_ready();
    recorder.send_each_then_stop(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the recorder exits 0 after SIGTERM");
    assert_eq!(
        recorder.lines(),
        ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGWINCH", "SIGINT", "SIGQUIT", "SIGTERM"],
        "every signal once, in order"
    );
}

#[test]
fn ctrl_c_on_a_terminal_reaches_the_command_once() {
    for mode in EXEC_MODES {
        ctrl_c_on_a_terminal_reaches_the_command_once_in(mode);
    }
}

fn ctrl_c_on_a_terminal_reaches_the_command_once_in(mode: &[&str]) {
    let sb = masked_sandbox();
    let recorder = SignalRecorder::in_dir(sb.dir.path());
    let pty = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/pty_ctrl_c.py");
    let out = std::process::Command::new("python3")
        .args([
            pty,
            recorder.ready_file().to_str().unwrap(),
            "--",
            crate::support::sesame_bin(),
        ])
        .args(exec_args(mode, &[]))
        .args(recorder.argv())
        .arg("SIGINT")
        .current_dir(sb.project())
        .env_clear()
        .envs(&sb.env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The recorder stops half a second after the first SIGINT, so a
    // second delivery would be in the log.
    assert!(
        stdout.contains("exit 0"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = recorder.lines();
    assert_eq!(
        lines.iter().filter(|l| *l == "SIGINT").count(),
        1,
        "Ctrl-C delivered once: {lines:?}"
    );
}
