//! No secret value ever reaches sesame's own output: every command, every
//! verbosity, every error path. Only `get` and `export` print values, on
//! request, on stdout.

use crate::support::Sandbox;

const CANARY: &str = "canary-9f8e7d-SECRET";

fn sandbox() -> Sandbox {
    let config = format!(
        "[providers.env]\ntype = \"env\"\n\n[secrets]\n\
         GOOD = {{ provider = \"env\", value = \"CANARY_SRC\", description = \"a canary\" }}\n\
         DEFAULTED = {{ default = \"{CANARY}-default\" }}\n\
         DERIVED = {{ default = \"prefix-${{GOOD}}\" }}\n"
    );
    let mut sb = Sandbox::new(&config);
    sb.set("CANARY_SRC", CANARY);
    sb
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains("canary-9f8e7d"), "{what} leaked a secret:\n{text}");
}

#[test]
fn no_command_at_any_verbosity_prints_a_value_on_stderr() {
    let sb = sandbox();
    let commands: &[&[&str]] = &[
        &["exec", "--", "true"],
        &["exec", "--", "sh", "-c", "exit 3"],
        &["exec", "--", "no-such-command-xyz"],
        &["get", "GOOD"],
        &["get", "NOPE"],
        &["list"],
        &["list", "--format", "json"],
        &["export"],
        &["export", "--format", "json"],
        &["check"],
        &["check", "--format", "json"],
        &["backends"],
    ];
    for verbosity in [None, Some("-v"), Some("-vv"), Some("-vvv")] {
        for command in commands {
            let mut args: Vec<&str> = verbosity.into_iter().collect();
            args.extend_from_slice(command);
            let run = sb.run(&args);
            assert_clean(&format!("stderr of {args:?}"), &run.stderr());
            if !matches!(command[0], "get" | "export") {
                assert_clean(&format!("stdout of {args:?}"), &run.stdout());
            }
        }
    }
}

#[test]
fn error_paths_print_no_value() {
    // A failing secret next to resolved ones, a placeholder error in a
    // default that sits next to a value, and a provider config error.
    // Each config with the secret that fails to resolve in it.
    let configs = [
        ("[providers.env]\ntype = \"env\"\n\n[secrets]\nGOOD = { provider = \"env\", value = \"CANARY_SRC\" }\nBAD = { provider = \"env\", value = \"UNSET\" }\n".to_string(), "BAD"),
        (format!("[secrets]\nA = {{ default = \"{CANARY}${{MISSING}}\" }}\n"), "A"),
        ("[providers.env]\ntype = \"env\"\nprefix = 42\n\n[secrets]\nGOOD = { value = \"CANARY_SRC\" }\n".to_string(), "GOOD"),
        ("[providers.env]\ntype = \"env\"\n[secrets]\nGOOD = { value = \"CANARY_SRC\" }\nLATER = { default = \"${GOOD}${NOPE}\" }\n".to_string(), "LATER"),
    ];
    for (config, failing) in configs {
        let mut sb = Sandbox::new(&config);
        sb.set("CANARY_SRC", CANARY);
        for verbosity in ["-vvv", "-v"] {
            for command in [&["exec", "--", "true"][..], &["get", failing], &["check"], &["export"]] {
                let mut args = vec![verbosity];
                args.extend_from_slice(command);
                let run = sb.run(&args);
                assert_ne!(run.code(), Some(0), "{args:?} should fail for {config}");
                assert_clean(&format!("stderr of {args:?}"), &run.stderr());
                assert_clean(&format!("stdout of {args:?}"), &run.stdout());
            }
        }
    }
}

#[test]
fn get_and_export_print_values_only_on_stdout() {
    let sb = sandbox();
    let run = sb.run(&["get", "GOOD"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), format!("{CANARY}\n"));
    let run = sb.run(&["export", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(json["DERIVED"], format!("prefix-{CANARY}"));
}
