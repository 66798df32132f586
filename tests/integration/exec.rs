//! `sesame exec`: environment, exit codes, stdin, and failure before run.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::support::{env_config, exec_args, masked_sandbox, Sandbox, EXEC_MODES};

#[test]
fn injects_secrets_into_the_child_environment() {
    let mut sb = Sandbox::new(&env_config(&[("API_KEY", "PROD_API_KEY")]));
    sb.set("PROD_API_KEY", "k=v with 'quotes'\nand a newline ✓");
    let run = sb.run(&["exec", "--", "sh", "-c", "printf %s \"$API_KEY\""]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "k=v with 'quotes'\nand a newline ✓");
}

#[test]
fn run_is_an_alias_and_arguments_pass_without_a_shell() {
    let mut sb = Sandbox::new(&env_config(&[("A", "A_SRC")]));
    sb.set("A_SRC", "1");
    let run = sb.run(&["run", "--", "printf", "%s|", "$A", "two words", "--flag"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "$A|two words|--flag|");
}

#[test]
fn exit_codes_pass_through_exactly() {
    let sb = masked_sandbox();
    for mode in EXEC_MODES {
        for code in [0, 1, 2, 42, 127, 255] {
            sb.run(&exec_args(mode, &["sh", "-c", &format!("exit {code}")]))
                .assert_code(code);
        }
    }
}

#[test]
fn a_missing_command_is_127_and_a_non_executable_one_126() {
    let sb = masked_sandbox();
    sb.write("notexec.sh", "#!/bin/sh\n");
    let path = sb.path("notexec.sh");
    for mode in EXEC_MODES {
        let run = sb.run(&exec_args(mode, &["no-such-command-xyz"]));
        run.assert_code(127);
        assert!(
            run.stderr().contains("command not found: no-such-command-xyz"),
            "{}",
            run.stderr()
        );
        sb.run(&exec_args(mode, &[path.to_str().unwrap()])).assert_code(126);
    }
}

#[test]
fn death_by_signal_is_reported_as_the_same_signal() {
    let sb = masked_sandbox();
    for (mode, signal) in EXEC_MODES
        .iter()
        .flat_map(|m| [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGUSR1].map(|s| (*m, s)))
    {
        let run = sb.run(&exec_args(mode, &["sh", "-c", &format!("kill -{signal} $$")]));
        assert_eq!(
            run.0.status.signal(),
            Some(signal),
            "sesame dies like its child: {:?}",
            run.0.status
        );
    }
}

#[test]
fn death_by_signal_in_a_shell_gives_128_plus_n() {
    let sb = masked_sandbox();
    for mode in EXEC_MODES {
        let script = format!(
            "'{}' exec {} -- sh -c 'kill -TERM $$'; echo \"status=$?\"",
            crate::support::sesame_bin(),
            mode.join(" ")
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(sb.project())
            .env_clear()
            .envs(&sb.env)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("status=143"), "{:?}", out);
    }
}

#[test]
fn stdin_passes_through_untouched() {
    let sb = masked_sandbox();
    for mode in EXEC_MODES {
        stdin_passes_through_untouched_in(&sb, mode);
    }
}

fn stdin_passes_through_untouched_in(sb: &Sandbox, mode: &[&str]) {
    let mut child = sb
        .cmd(&exec_args(mode, &["cat"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let payload: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let payload = payload.clone();
        std::thread::spawn(move || stdin.write_all(&payload).unwrap())
    };
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, payload);
}

#[test]
fn a_failed_resolution_runs_nothing_and_exits_125() {
    let sb = Sandbox::new(&env_config(&[("API_KEY", "UNSET_VARIABLE")]));
    let marker = sb.path("ran");
    let run = sb.run(&["exec", "--", "touch", marker.to_str().unwrap()]);
    run.assert_code(125);
    assert!(!marker.exists(), "the command must not run");
    let err = run.stderr();
    assert!(
        err.contains("secret `API_KEY`") && err.contains("`UNSET_VARIABLE` is not set"),
        "{err}"
    );
}

#[test]
fn if_missing_warn_and_ignore_run_without_the_variable() {
    let config = "[providers.env]\ntype = \"env\"\n\n[secrets]\nW = { provider = \"env\", value = \"NOPE_W\", if_missing = \"warn\" }\nI = { provider = \"env\", value = \"NOPE_I\", if_missing = \"ignore\" }\n";
    let sb = Sandbox::new(config);
    let run = sb.run(&["exec", "--", "sh", "-c", "echo \"[${W-unset}][${I-unset}]\""]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "[unset][unset]\n");
    assert!(run.stderr().contains("warning: secret `W`"), "{}", run.stderr());
    assert!(!run.stderr().contains("`I`"), "ignore is silent: {}", run.stderr());
}

#[test]
fn defaults_expand_references_to_secrets_and_environment() {
    let config = "[providers.env]\ntype = \"env\"\n\n[secrets]\nUSER_ID = { provider = \"env\", value = \"RAW_ID\" }\nURL = { default = \"https://${USER_ID}@${HOSTPART}/x\" }\nFALLBACK = { provider = \"env\", value = \"NOT_SET\", default = \"fallback\" }\n";
    let mut sb = Sandbox::new(config);
    sb.set("RAW_ID", "u1").set("HOSTPART", "example.org");
    let run = sb.run(&["exec", "--", "sh", "-c", "echo $URL $FALLBACK"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "https://u1@example.org/x fallback\n");
}

#[test]
fn nearer_files_win_local_overlays_and_root_stops_the_walk() {
    let sb = Sandbox::new(&env_config(&[("A", "FROM_PROJECT"), ("B", "FROM_PROJECT")]));
    let mut sb = sb;
    sb.set("FROM_PROJECT", "project")
        .set("FROM_SUB", "sub")
        .set("FROM_LOCAL", "local")
        .set("FROM_PARENT", "parent");
    // A parent file above the project is read (no root = true in project)...
    sb.write("sesame.toml", &env_config(&[("C", "FROM_PARENT")]));
    // ...a nested one overrides A, and its local overlay overrides B.
    sb.write("project/sub/sesame.toml", &env_config(&[("A", "FROM_SUB")]));
    sb.write("project/sub/sesame.local.toml", &env_config(&[("B", "FROM_LOCAL")]));
    let sub = sb.project().join("sub");
    let out = sb
        .cmd_in(&sub, &["exec", "--", "sh", "-c", "echo $A $B $C"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "sub local parent\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // root = true in the project file stops the walk before the parent.
    let mut rooted = String::from("root = true\n");
    rooted.push_str(&env_config(&[("A", "FROM_PROJECT"), ("B", "FROM_PROJECT")]));
    sb.write("project/sesame.toml", &rooted);
    let out = sb
        .cmd_in(&sub, &["exec", "--", "sh", "-c", "echo ${C-none}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "none\n");
}

#[test]
fn profiles_replace_entries_and_explicit_config_skips_the_walk() {
    let config = format!(
        "{}\n[profiles.prod.secrets]\nA = {{ provider = \"env\", value = \"PROD_A\" }}\n",
        env_config(&[("A", "DEV_A")])
    );
    let mut sb = Sandbox::new(&config);
    sb.set("DEV_A", "dev").set("PROD_A", "prod");
    assert_eq!(sb.run(&["exec", "--", "sh", "-c", "echo $A"]).stdout(), "dev\n");
    assert_eq!(
        sb.run(&["-P", "prod", "exec", "--", "sh", "-c", "echo $A"]).stdout(),
        "prod\n"
    );
    sb.set("SESAME_PROFILE", "prod");
    assert_eq!(sb.run(&["exec", "--", "sh", "-c", "echo $A"]).stdout(), "prod\n");
    sb.write("elsewhere.toml", &env_config(&[("A", "DEV_A")]));
    let elsewhere = sb.path("elsewhere.toml");
    sb.env.remove("SESAME_PROFILE");
    let run = sb.run(&["-c", elsewhere.to_str().unwrap(), "exec", "--", "sh", "-c", "echo $A"]);
    assert_eq!(run.stdout(), "dev\n");
}

#[test]
fn the_global_config_is_the_lowest_layer() {
    let mut sb = Sandbox::new(&env_config(&[("A", "PROJECT_A")]));
    sb.set("PROJECT_A", "project").set("GLOBAL_G", "global");
    sb.write(
        "config/sesame/config.toml",
        &env_config(&[("G", "GLOBAL_G"), ("A", "GLOBAL_G")]),
    );
    assert_eq!(
        sb.run(&["exec", "--", "sh", "-c", "echo $A $G"]).stdout(),
        "project global\n"
    );
}
