//! fnox's secret fields and forms, end to end: `as_file`, `json_path`,
//! `line`, `env`, the environment fallback, providers only in a profile,
//! and the validation `check` and `list` share.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::Sandbox;

const PLAIN: &str = "[providers]\nplain = { type = \"plain\" }\n";

#[test]
fn as_file_gives_a_private_file_removed_after_the_command() {
    let sb = Sandbox::new(&format!(
        "{PLAIN}[secrets]\nKEY = {{ provider = \"plain\", value = \"line1\\nline2\\n\", as_file = true }}\n"
    ));
    let out = sb.path("seen");
    let script = format!(
        "cp \"$KEY\" {o}.content; stat -c %a \"$KEY\" > {o}.mode; stat -c %a \"$(dirname \"$KEY\")\" > {o}.dirmode; echo \"$KEY\" > {o}",
        o = out.display()
    );
    sb.run(&["exec", "--", "sh", "-c", &script]).assert_code(0);
    let read = |suffix: &str| std::fs::read_to_string(format!("{}{suffix}", out.display())).unwrap();
    assert_eq!(read(".content"), "line1\nline2\n");
    assert_eq!(read(".mode").trim(), "600");
    assert_eq!(read(".dirmode").trim(), "700");
    let path = PathBuf::from(read("").trim());
    assert!(path.starts_with(sb.path("state")), "{}", path.display());
    assert!(!path.exists(), "the file outlived the command");
}

#[test]
fn as_file_left_by_kill_9_is_removed_by_the_next_run_and_by_cleanup() {
    let sb = Sandbox::new(&format!(
        "{PLAIN}[secrets]\nKEY = {{ provider = \"plain\", value = \"v\", as_file = true }}\n"
    ));
    let marker = sb.path("path");
    for follow_up in [&["lease", "cleanup"][..], &["exec", "--", "true"][..]] {
        let _ = std::fs::remove_file(&marker);
        let script = format!("echo \"$KEY\" > {}; exec sleep 30", marker.display());
        let mut child = sb.cmd(&["exec", "--", "sh", "-c", &script]).spawn().unwrap();
        let start = Instant::now();
        while !std::fs::read_to_string(&marker).is_ok_and(|t| t.ends_with('\n')) {
            assert!(start.elapsed() < Duration::from_secs(20), "the command never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        let path = PathBuf::from(std::fs::read_to_string(&marker).unwrap().trim());
        // SIGKILL sesame; its command (sleep) goes on, and must be ended too.
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-P", &child.id().to_string()])
            .status();
        assert!(path.exists(), "SIGKILL leaves the file behind");
        sb.run(follow_up).assert_code(0);
        assert!(
            !path.exists(),
            "`sesame {}` did not remove {}",
            follow_up.join(" "),
            path.display()
        );
    }
}

#[test]
fn json_path_and_line_pick_parts_and_exclude_each_other() {
    let mut sb = Sandbox::new(&format!(
        "{PLAIN}[secrets]\nPW = {{ provider = \"plain\", value = '{{\"db\":{{\"password\":\"deep\",\"port\":5432}}}}', json_path = \"db.password\" }}\nPORT = {{ provider = \"plain\", value = '{{\"db\":{{\"port\":5432}}}}', json_path = \"db.port\" }}\nSECOND = {{ provider = \"plain\", value = \"one\\ntwo\\n\", line = 2 }}\nFROM_ENV = {{ json_path = \"a\" }}\n"
    ));
    sb.set("FROM_ENV", "{\"a\":\"x\"}");
    let run = sb.run(&["export", "--format", "json"]);
    run.assert_code(0);
    let got: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(got["PW"], "deep");
    assert_eq!(got["PORT"], "5432");
    assert_eq!(got["SECOND"], "two");
    assert_eq!(got["FROM_ENV"], "x");
    let sb = Sandbox::new(&format!(
        "{PLAIN}[secrets]\nX = {{ provider = \"plain\", value = \"v\", json_path = \"a\", line = 1 }}\n"
    ));
    let run = sb.run(&["check", "--no-resolve"]);
    assert_ne!(run.code(), Some(0));
    assert!(
        run.stderr().contains("sesame.toml:4:") && run.stderr().contains("mutually exclusive"),
        "{}",
        run.stderr()
    );
    let sb = Sandbox::new(&format!(
        "{PLAIN}[secrets]\nX = {{ provider = \"plain\", value = \"a\\nb\", line = 5 }}\n"
    ));
    let run = sb.run(&["get", "X"]);
    assert!(
        run.stderr()
            .contains("line = 5 is out of range: the value has 2 line(s)"),
        "{}",
        run.stderr()
    );
}

#[test]
fn env_modes_decide_exec_and_export() {
    let sb = Sandbox::new(&format!(
        "env = \"exec\"\n{PLAIN}[secrets]\nDEFAULTED = {{ provider = \"plain\", value = \"d\" }}\nEXPORTED = {{ provider = \"plain\", value = \"s\", env = true }}\nHIDDEN = {{ provider = \"plain\", value = \"h\", env = false, daemon_cache = false, sync = {{ provider = \"x\", value = \"y\" }} }}\n"
    ));
    let run = sb.run(&[
        "exec",
        "--",
        "sh",
        "-c",
        "echo \"$DEFAULTED,$EXPORTED,${HIDDEN-unset}\"",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "d,s,unset\n");
    let run = sb.run(&["export", "--format", "env"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "EXPORTED=\"s\"\n");
    assert_eq!(sb.run(&["get", "HIDDEN"]).stdout(), "h\n");
}

#[test]
fn environment_fallback_forms_read_the_variable_also_in_profiles() {
    let mut sb = Sandbox::new(
        "[secrets]\nA = {}\nB = { if_missing = \"warn\" }\nC = { provider = \"env\" }\n[profiles.ci.secrets]\nD = {}\n",
    );
    sb.set("A", "a").set("C", "c").set("D", "d");
    let run = sb.run(&["exec", "--", "sh", "-c", "echo \"$A,${B-unset},$C\""]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "a,unset,c\n");
    assert!(
        run.stderr().contains("environment variable `B` is not set"),
        "{}",
        run.stderr()
    );
    let run = sb.run(&["-P", "ci", "exec", "--", "sh", "-c", "echo \"$A,$D\""]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "a,d\n");
    sb.run(&["check"]).assert_code(0);
}

#[test]
fn provider_only_in_a_profile_falls_back_to_the_default_with_a_warning() {
    let sb = Sandbox::new(
        "[secrets]\nTOKEN = { provider = \"vault\", value = \"secret/token\", default = \"dev-token\" }\n[profiles.prod.providers]\nvault = { type = \"plain\" }\n",
    );
    let run = sb.run(&["exec", "--", "sh", "-c", "echo $TOKEN"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "dev-token\n");
    assert!(
        run.stderr().contains("provider `vault`, which is not configured"),
        "{}",
        run.stderr()
    );
    let run = sb.run(&["-P", "prod", "exec", "--", "sh", "-c", "echo $TOKEN"]);
    assert_eq!(run.stdout(), "secret/token\n");
    let run = sb.run(&["check"]);
    run.assert_code(0);
    assert!(
        run.stdout().contains("provider vault is not configured"),
        "{}",
        run.stdout()
    );
}

#[test]
fn default_provider_error_is_located() {
    let sb = Sandbox::new(&format!("default_provider = \"nope\"\n{PLAIN}"));
    let run = sb.run(&["check", "--no-resolve"]);
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stdout().contains("sesame.toml:1:1: default_provider names `nope`"),
        "{}",
        run.stdout()
    );
    let run = sb.run(&["list"]);
    assert_eq!(run.code(), Some(1), "list must fail where check fails");
    assert!(run.stderr().contains("sesame.toml:1:1"), "{}", run.stderr());
}

#[test]
fn check_validates_every_profile_and_names_it() {
    let sb = Sandbox::new(&format!(
        "{PLAIN}[secrets]\nA = {{ provider = \"plain\", value = \"a\" }}\n[profiles.prod.providers]\nvault = {{ type = \"vaultx\" }}\n[profiles.prod.leases]\nl = {{ type = \"nolease\" }}\n"
    ));
    let run = sb.run(&["check", "--no-resolve"]);
    assert_eq!(run.code(), Some(1));
    let out = run.stdout();
    assert!(
        out.contains("profile prod") && out.contains("unknown provider type `vaultx`"),
        "{out}"
    );
    let run = sb.run(&["list"]);
    assert_eq!(run.code(), Some(1));
    assert!(run.stderr().contains("(profile `prod`)"), "{}", run.stderr());
}

#[test]
fn unclosed_placeholder_fails_check_without_resolving() {
    let sb = Sandbox::new("[secrets]\nA = { default = \"x ${B\" }\n");
    let run = sb.run(&["check", "--no-resolve"]);
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stdout().contains("sesame.toml:2:") && run.stdout().contains("is not closed"),
        "{}",
        run.stdout()
    );
}

#[test]
fn plain_values_are_not_shown_in_errors() {
    let sb = Sandbox::new(&format!(
        "{PLAIN}[secrets]\nX = {{ provider = \"plain\", value = \"plain-canary\", json_path = \"a\" }}\n"
    ));
    let run = sb.run(&["get", "X", "-vvv"]);
    assert_ne!(run.code(), Some(0));
    assert!(!run.stderr().contains("plain-canary"), "{}", run.stderr());
}
