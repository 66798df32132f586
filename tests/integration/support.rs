//! A sandbox for running the binary: a temporary directory with a project
//! file, an isolated environment, and helpers to run and inspect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use sesame_test_support::signals::SignalRecorder;

/// The binary under test.
pub fn sesame_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sesame")
}

/// A temporary project and environment.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl Sandbox {
    /// An empty sandbox with `sesame.toml` holding `config`.
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["project", "home", "config", "state"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("project/sesame.toml"), config).unwrap();
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        env.insert("HOME".into(), root.join("home").display().to_string());
        env.insert("XDG_CONFIG_HOME".into(), root.join("config").display().to_string());
        env.insert("SESAME_STATE_DIR".into(), root.join("state").display().to_string());
        Self { dir, env }
    }

    /// The project directory (where sesame runs).
    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    /// A path inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sets a variable for every run.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Writes a file relative to the sandbox root.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A command for the binary, in the project directory, with the
    /// sandbox's environment only.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(&self.project(), args)
    }

    /// Like [`Sandbox::cmd`], in another directory.
    pub fn cmd_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(sesame_bin());
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null());
        default_signals(&mut cmd);
        cmd
    }

    /// Runs `sesame trust` in the project, as a user who reviewed the
    /// project files would, so their trust-sensitive fields count.
    pub fn trust_project(&self) -> &Self {
        self.run(&["trust"]).assert_code(0);
        self
    }

    /// Runs and returns the output.
    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.cmd(args).output().unwrap())
    }

    /// Runs `tests/support/s3_copy.py SRC_PREFIX DST_PREFIX KEY [DEST_KEY]`
    /// under `sesame exec`: one object copied between buckets, each side
    /// with the credentials a lease injects under its prefix.
    pub fn run_s3_copy(&self, args: &[&str]) -> Run {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/s3_copy.py");
        let mut argv = vec!["exec", "--", "python3", script];
        argv.extend(args);
        self.run(&argv)
    }
}

/// A finished run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts the exit code, showing both streams on failure.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// A config with the env provider and one secret per `(name, variable)`.
pub fn env_config(secrets: &[(&str, &str)]) -> String {
    let mut text = String::from("[providers.env]\ntype = \"env\"\n\n[secrets]\n");
    for (name, var) in secrets {
        text.push_str(&format!("{name} = {{ provider = \"env\", value = \"{var}\" }}\n"));
    }
    text
}

/// Starts `sesame exec` in `sb` on the signal recorder, whose files are in
/// the sandbox's root; wait for it with [`SignalRecorder::wait_until_ready`].
pub fn start_recorder(sb: &Sandbox) -> (Child, SignalRecorder) {
    start_recorder_with(sb, &[])
}

/// Like [`start_recorder`], with `options` for `sesame exec` (`--mask`).
pub fn start_recorder_with(sb: &Sandbox, options: &[&str]) -> (Child, SignalRecorder) {
    let recorder = SignalRecorder::in_dir(sb.dir.path());
    let argv = recorder.argv();
    let mut args = vec!["exec"];
    args.extend(options);
    args.push("--");
    args.extend(argv.iter().map(String::as_str));
    let child = sb.cmd(&args).stdout(Stdio::null()).spawn().unwrap();
    (child, recorder)
}

/// The check `check` of `target` in the output of `sesame r2 verify --format
/// json`; panics, showing the output, when there is none.
#[track_caller]
pub fn verify_check<'a>(json: &'a Value, target: &str, check: &str) -> &'a Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == target && c["check"] == check)
        .unwrap_or_else(|| panic!("no check {target}/{check} in {json:#}"))
}

/// That check's status and cause (`""` when it names none).
#[track_caller]
pub fn check_status(json: &Value, target: &str, check: &str) -> (String, String) {
    let c = verify_check(json, target, check);
    (
        c["status"].as_str().unwrap().to_string(),
        c["cause"].as_str().unwrap_or("").to_string(),
    )
}

/// Asserts the status and cause of each `(target, check, status, cause)`.
#[track_caller]
pub fn assert_checks(json: &Value, expect: &[(&str, &str, &str, &str)]) {
    for (target, check, status, cause) in expect {
        assert_eq!(
            check_status(json, target, check),
            (status.to_string(), cause.to_string()),
            "{target}/{check}"
        );
    }
}

/// The ways `sesame exec` runs a command that must not change how it
/// exits or gets signals: in its own place, and supervised with its
/// output masked.
pub const EXEC_MODES: [&[&str]; 2] = [&[], &["--mask"]];

/// A sandbox with one secret long enough to be masked (`MASKED_TOKEN`),
/// so `--mask` really puts the mask between the command and its output.
pub fn masked_sandbox() -> Sandbox {
    let mut sb = Sandbox::new(&env_config(&[("MASKED_TOKEN", "MASKED_TOKEN_SRC")]));
    sb.set("MASKED_TOKEN_SRC", "tok-0123456789abcdef");
    sb
}

/// `exec`, `mode`, `--`, then `command`.
pub fn exec_args<'a>(mode: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["exec"];
    args.extend(mode);
    args.push("--");
    args.extend(command);
    args
}

/// Starts sesame with the signals it forwards at their default disposition,
/// as from a fresh shell, whatever the test runner inherited (`nohup`
/// ignores SIGHUP). Tests of ignored signals start sesame themselves.
pub fn default_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls `signal`, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for signal in sesame_core::process::FORWARDED_SIGNALS {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
}
