//! The read commands and their formats.

use crate::support::{env_config, Sandbox};

#[test]
fn backends_lists_the_env_provider() {
    let sb = Sandbox::new("");
    let run = sb.run(&["backends", "--format", "json"]);
    run.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let list = json["backends"].as_array().unwrap();
    assert!(
        list.iter().any(|b| b["kind"] == "provider" && b["type"] == "env"),
        "{json}"
    );
    assert!(sb.run(&["backends"]).stdout().contains("provider  env"));
}

#[test]
fn list_shows_names_providers_and_descriptions() {
    let config = "[providers.env]\ntype = \"env\"\n\n[secrets]\nA = { provider = \"env\", value = \"X\", description = \"the A\" }\nB = { default = \"b\" }\n";
    let sb = Sandbox::new(config);
    let json: serde_json::Value = serde_json::from_str(&sb.run(&["list", "--format", "json"]).stdout()).unwrap();
    assert_eq!(
        json["secrets"],
        serde_json::json!([
            {"name": "A", "provider": "env", "description": "the A"},
            {"name": "B", "provider": null, "description": null}
        ])
    );
}

#[test]
fn export_formats_quote_values_safely() {
    let mut sb = Sandbox::new(&env_config(&[("ODD", "ODD_SRC")]));
    let odd = "it's a \"value\" with $HOME and\nnewline";
    sb.set("ODD_SRC", odd);
    let shell = sb.run(&["export", "--format", "shell"]).stdout();
    // Round-trip through a real shell.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{shell}\nprintf %s \"$ODD\""))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), odd);
    let env = sb.run(&["export"]).stdout();
    assert_eq!(env, "ODD=\"it's a \\\"value\\\" with \\$HOME and\\nnewline\"\n");
    let json: serde_json::Value = serde_json::from_str(&sb.run(&["export", "--format", "json"]).stdout()).unwrap();
    assert_eq!(json["ODD"], odd);
}

#[test]
fn check_reports_ok_and_problems_with_exit_codes() {
    let mut sb = Sandbox::new(&env_config(&[("A", "A_SRC"), ("B", "B_SRC")]));
    sb.set("A_SRC", "1");
    let run = sb.run(&["check", "--format", "json"]);
    run.assert_code(1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(json["ok"], false);
    let checks = json["checks"].as_array().unwrap();
    assert!(checks
        .iter()
        .any(|c| c["kind"] == "file" && c["detail"] == "project, untrusted"));
    assert!(
        checks.iter().any(|c| c["name"] == "B" && c["status"] == "error"),
        "{json}"
    );
    sb.set("B_SRC", "2");
    let run = sb.run(&["check"]);
    run.assert_code(0);
    assert!(run.stdout().contains("resolves through provider env"));
    sb.run(&["check", "--no-resolve"]).assert_code(0);
}

#[test]
fn completions_generate_for_every_shell() {
    let sb = Sandbox::new("");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = sb.run(&["completions", shell]);
        run.assert_code(0);
        assert!(run.stdout().contains("sesame"), "{shell}");
    }
}

#[test]
fn get_unknown_secret_suggests_a_name() {
    let sb = Sandbox::new(&env_config(&[("API_KEY", "X")]));
    let run = sb.run(&["get", "API_KYE"]);
    run.assert_code(1);
    assert!(
        run.stderr().contains("no secret named `API_KYE`") && run.stderr().contains("did you mean `API_KEY`?"),
        "{}",
        run.stderr()
    );
}

#[test]
fn sesame_log_takes_target_level_directives() {
    let mut sb = Sandbox::new(&env_config(&[("A", "A_SRC")]));
    sb.set("A_SRC", "value-of-a");
    let mut log = |filter: &str| {
        sb.set("SESAME_LOG", filter);
        let run = sb.run(&["exec", "--", "true"]);
        run.assert_code(0);
        run.stderr()
    };
    // The resolver logs each batch at debug level, under sesame_core.
    assert!(log("sesame_core=debug").contains("resolving batch"));
    assert!(log("debug").contains("resolving batch"));
    assert!(!log("sesame_core=info").contains("resolving batch"));
    assert!(!log("warn").contains("resolving batch"));
    // A filter that does not parse falls back to the default (warnings).
    assert!(!log("sesame_core=[{bad").contains("resolving batch"));
}

#[test]
fn every_contributed_command_is_named_as_registered() {
    use clap::CommandFactory;
    let built_in: Vec<String> = sesame::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let commands = sesame_core::command::commands();
    assert!(!commands.is_empty(), "lease-r2 contributes `r2`");
    for registration in commands {
        assert_eq!((registration.command)().get_name(), registration.name);
        assert!(sesame_core::command::find_command(registration.name).is_some());
        // The binary looks contributed commands up first: one named like a
        // built-in would take its place.
        assert!(
            !built_in.iter().any(|b| b == registration.name),
            "`{}` is a built-in command",
            registration.name
        );
    }
}
