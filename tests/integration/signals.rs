//! Signals reach the command exactly once.

use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::{env_config, wait_for_file, Sandbox};

fn recorder() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/signal_recorder.py").to_string()
}

fn start(sb: &Sandbox) -> Child {
    let log = sb.path("signals.log");
    let ready = sb.path("ready");
    sb.cmd(&[
        "exec",
        "--",
        "python3",
        &recorder(),
        log.to_str().unwrap(),
        ready.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .spawn()
    .unwrap()
}

fn log_lines(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.path("signals.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn each_forwarded_signal_arrives_exactly_once() {
    let sb = Sandbox::new(&env_config(&[]));
    let mut child = start(&sb);
    wait_for_file(&sb.path("ready"));
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
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while log_lines(&sb).len() < i + 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the recorder exits 0 after SIGTERM");
    assert_eq!(
        log_lines(&sb),
        ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGWINCH", "SIGINT", "SIGQUIT", "SIGTERM"],
        "every signal once, in order"
    );
}

#[test]
fn ctrl_c_on_a_terminal_reaches_the_command_once() {
    let sb = Sandbox::new(&env_config(&[]));
    let log = sb.path("signals.log");
    let ready = sb.path("ready");
    let pty = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/pty_ctrl_c.py");
    let out = std::process::Command::new("python3")
        .args([
            pty,
            ready.to_str().unwrap(),
            "--",
            crate::support::sesame_bin(),
            "exec",
            "--",
            "python3",
            &recorder(),
        ])
        .args([log.to_str().unwrap(), ready.to_str().unwrap(), "SIGINT"])
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
    let lines = log_lines(&sb);
    assert_eq!(
        lines.iter().filter(|l| *l == "SIGINT").count(),
        1,
        "Ctrl-C delivered once: {lines:?}"
    );
}
