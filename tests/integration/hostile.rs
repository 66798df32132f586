//! Issue 11: text from outside (a Cloudflare-compatible server's error
//! body, `op`'s `[ERROR]` line) that quotes a credential is printed only
//! scrubbed; the command holds no parent credential a lease consumed;
//! ignored signals stay ignored; a non-executable file fails the same way
//! in both modes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use sesame_test_support::cloudflare::groups;

use crate::cloudflare::Cloud;
use crate::support::Sandbox;

const PARENT: &str = "cf-parent-canary-0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const OP_TOKEN: &str = "ops_op-token-canary-9f8e7d6c5b4a39281706";

/// A Cloudflare-compatible server that answers every request with
/// `status` and an error envelope (the published format) whose message
/// echoes the request's `Authorization` header.
fn hostile_server(status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/client/v4", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut auth = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if lower.starts_with("authorization:") {
                        auth = line["authorization:".len()..].trim().to_string();
                    }
                    if let Some(n) = lower.strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let envelope = serde_json::json!({
                    "success": false,
                    "errors": [{"code": 9109, "message": format!("Invalid access token: {auth}\nheaders: Authorization: {auth}")}],
                    "messages": [],
                    "result": null,
                })
                .to_string();
                let reason = match status {
                    200 => "OK",
                    400 => "Bad Request",
                    403 => "Forbidden",
                    429 => "Too Many Requests",
                    _ => "Internal Server Error",
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{envelope}",
                    envelope.len()
                );
            });
        }
    });
    url
}

fn cloudflare_sandbox(url: &str) -> Sandbox {
    let mut sb = Sandbox::new("[leases.cf]\ntype = \"cloudflare\"\nenv_var = \"CF_TOKEN\"\nreuse = false\n");
    sb.set("CLOUDFLARE_API_TOKEN", PARENT);
    sb.set("CLOUDFLARE_API_BASE_URL", url);
    sb
}

#[test]
fn a_server_echoing_the_parent_token_gets_it_scrubbed() {
    for status in [400u16, 403, 429, 500, 200] {
        let url = hostile_server(status);
        let sb = cloudflare_sandbox(&url);
        for args in [
            &["-vvv", "exec", "--", "true"][..],
            &["-vvv", "lease", "create", "cf"],
            &["-vvv", "lease", "cleanup", "--remote"],
            &["-vvv", "check"],
        ] {
            let run = sb.run(args);
            let all = format!("{}{}", run.stdout(), run.stderr());
            assert!(
                !all.contains(PARENT),
                "HTTP {status}, `{}` printed the parent token:\n{all}",
                args.join(" ")
            );
            assert!(!all.contains(&PARENT[..20]), "HTTP {status}: part of the token:\n{all}");
        }
        let run = sb.run(&["exec", "--", "true"]);
        assert!(run.stderr().contains("<redacted>"), "HTTP {status}: {}", run.stderr());
    }
}

#[test]
fn an_op_echoing_its_token_gets_it_scrubbed() {
    let mut sb = Sandbox::new(
        "[providers.op]\ntype = \"1password\"\nvault = \"Dev\"\n\n[secrets.DB]\nprovider = \"op\"\nvalue = \"Database/password\"\n",
    );
    sb.write(
        "bin/op",
        "#!/bin/sh\necho \"[ERROR] 2026/01/01 12:00:00 authentication failed for token $OP_SERVICE_ACCOUNT_TOKEN\" >&2\nexit 1\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.path("bin/op"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", sb.path("bin").display(), sb.env["PATH"]);
    sb.set("PATH", &path);
    sb.set("OP_SERVICE_ACCOUNT_TOKEN", OP_TOKEN);
    for args in [
        &["-vvv", "exec", "--", "true"][..],
        &["-vvv", "get", "DB"],
        &["-vvv", "check"],
        &["export"],
    ] {
        let run = sb.run(args);
        assert_ne!(run.code(), Some(0));
        let all = format!("{}{}", run.stdout(), run.stderr());
        assert!(
            !all.contains(OP_TOKEN),
            "`{}` printed op's token:\n{all}",
            args.join(" ")
        );
    }
}

#[test]
fn a_substituted_value_is_named_by_its_source_in_validation_errors() {
    let mut sb = Sandbox::new(
        "[leases.cf]\ntype = \"cloudflare\"\nduration = \"${CLOUDFLARE_API_TOKEN}\"\nenv_var = \"${SOME_NAME}\"\n",
    );
    sb.set("CLOUDFLARE_API_TOKEN", PARENT);
    sb.set("SOME_NAME", "not a name");
    let run = sb.run(&["check"]);
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(!all.contains(PARENT), "{all}");
    assert!(
        all.contains("${CLOUDFLARE_API_TOKEN}") || all.contains("${SOME_NAME}"),
        "{all}"
    );
    std::fs::write(
        sb.project().join("sesame.toml"),
        "[leases.cf]\ntype = \"cloudflare\"\nenv_var = \"${SOME_NAME}\"\n",
    )
    .unwrap();
    let err = sb.run(&["check"]).stdout() + &sb.run(&["exec", "--", "true"]).stderr();
    assert!(!err.contains("not a name") && err.contains("${SOME_NAME}"), "{err}");
}

/// A small stand-in for the parent's Cloudflare account: the standin crate's
/// server mints a child token; the command must not see the parent.
#[test]
fn the_command_never_holds_the_parent_token() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    let mut sb = cloud.sandbox(
        "[leases.cf]\ntype = \"cloudflare\"\nenv_var = \"CF_TOKEN\"\n\n[secrets.COPY]\ndefault = \"${CLOUDFLARE_API_TOKEN}\"\n",
    );
    let parent = cloud.parent.value.clone();
    sb.set("CF_API_TOKEN", &parent);
    let run = sb.run(&["-v", "exec", "--", "env"]);
    run.assert_code(0);
    let out = run.stdout();
    assert!(!out.contains(&parent), "the command holds the parent token:\n{out}");
    assert!(out.contains("CF_TOKEN="), "{out}");
    assert!(
        run.stderr()
            .contains("CLOUDFLARE_API_TOKEN is not passed to the command"),
        "{}",
        run.stderr()
    );
    std::fs::write(
        sb.project().join("sesame.toml"),
        "[leases.cf]\ntype = \"cloudflare\"\nenv_var = \"CF_TOKEN\"\nkeep_parent = true\n",
    )
    .unwrap();
    sb.trust_project();
    let run = sb.run(&["exec", "--", "env"]);
    run.assert_code(0);
    assert!(run.stdout().contains(&format!("CLOUDFLARE_API_TOKEN={parent}")));
}

#[test]
fn nohup_keeps_sighup_ignored_with_and_without_leases() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    for config in [
        "[secrets.A]\ndefault = \"a\"\n",
        "[leases.cf]\ntype = \"cloudflare\"\nreuse = false\n",
    ] {
        let sb = cloud.sandbox(config);
        // The command sends itself SIGHUP: it survives only if ignored.
        let mut cmd = std::process::Command::new("nohup");
        cmd.arg(crate::support::sesame_bin())
            .args(["exec", "--", "sh", "-c", "kill -HUP $$; echo survived"])
            .current_dir(sb.project())
            .env_clear()
            .envs(&sb.env)
            .stdin(std::process::Stdio::null());
        let out = cmd.output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "survived",
            "{config}: {:?}",
            out
        );
    }
}

#[test]
fn a_file_that_is_not_an_executable_exits_126_in_both_modes() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    for config in [
        "[secrets.A]\ndefault = \"a\"\n",
        "[leases.cf]\ntype = \"cloudflare\"\nreuse = false\n",
    ] {
        let sb = cloud.sandbox(config);
        let junk: Vec<u8> = (0..200u32).map(|i| (i * 7919 % 251) as u8).collect();
        std::fs::write(sb.path("junk"), junk).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(sb.path("junk"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = sb.run(&["exec", "--", sb.path("junk").to_str().unwrap()]);
        run.assert_code(126);
        assert!(run.stderr().contains("not an executable format"), "{}", run.stderr());
        // The same with SIGHUP ignored from the start (nohup): sesame keeps
        // it ignored without a hook in the child, so nothing falls back to
        // running the file with /bin/sh.
        let out = std::process::Command::new("nohup")
            .arg(crate::support::sesame_bin())
            .args(["exec", "--", sb.path("junk").to_str().unwrap()])
            .current_dir(sb.project())
            .env_clear()
            .envs(&sb.env)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(126), "{config} under nohup: {out:?}");
    }
}

#[test]
fn a_nul_byte_in_a_secret_value_names_the_secret() {
    let mut sb = Sandbox::new("[providers.env]\ntype = \"env\"\n\n[secrets.WITH_NUL]\nvalue = \"SRC\"\n");
    sb.set("SRC", "x");
    // A NUL cannot be put in a real environment variable; a literal default
    // is the way one reaches sesame.
    std::fs::write(
        sb.project().join("sesame.toml"),
        "[secrets.WITH_NUL]\ndefault = \"a\\u0000b\"\n",
    )
    .unwrap();
    let run = sb.run(&["exec", "--", "true"]);
    run.assert_code(125);
    assert!(
        run.stderr().contains("WITH_NUL") && run.stderr().contains("NUL"),
        "{}",
        run.stderr()
    );
}

/// The canary run for leases: every lease subcommand and the commands that
/// build leases, at every verbosity, on the success path (the stand-in) and
/// the error path (a hostile server). The parent never appears; a minted
/// token appears only on `lease create`'s stdout, which asked for it.
#[test]
fn no_lease_command_at_any_verbosity_prints_the_parent_or_a_minted_token() {
    let cloud = Cloud::start(&[groups::ZONE_READ]);
    let config = "[leases.cf]\ntype = \"cloudflare\"\nenv_var = \"CF_TOKEN\"\n";
    let sb = cloud.sandbox(config);
    let hostile = {
        let mut sb = Sandbox::new(config);
        sb.set("CLOUDFLARE_API_TOKEN", &cloud.parent.value);
        sb.set("CLOUDFLARE_API_BASE_URL", &hostile_server(403));
        sb
    };
    let create = sb.run(&["lease", "create", "cf"]);
    create.assert_code(0);
    let child = cloud.live_children()[0].value.clone();
    assert!(
        create.stdout().contains(&child),
        "lease create prints what was asked for"
    );
    for verbosity in [&[][..], &["-v"], &["-vv"], &["-vvv"]] {
        for args in [
            &["exec", "--", "true"][..],
            &["exec", "--", "sh", "-c", "exit 3"],
            &["exec", "--", "no-such-command-xyz"],
            &["check"],
            &["check", "--format", "json"],
            &["list"],
            &["lease", "list"],
            &["lease", "list", "--format", "json"],
            &["lease", "revoke", "no-such-id"],
            &["lease", "cleanup"],
            &["lease", "cleanup", "--remote"],
        ] {
            for (path, sandbox) in [("success", &sb), ("error", &hostile)] {
                let mut argv = verbosity.to_vec();
                argv.extend(args);
                let run = sandbox.run(&argv);
                let all = run.stdout() + &run.stderr();
                let what = format!("{path}: `{}`", argv.join(" "));
                assert!(!all.contains(&cloud.parent.value), "{what} printed the parent:\n{all}");
                assert!(!all.contains(&child), "{what} printed a minted token:\n{all}");
            }
        }
    }
}

/// The canary run for the commands that do not build a `cloudflare` lease:
/// `r2 verify` (its minted lease asks a server that echoes the parent) and
/// `trust`, at every verbosity. The parent never appears.
#[test]
fn r2_verify_and_trust_at_any_verbosity_never_print_the_parent() {
    let parent = "canary-parent-token-r2-0123456789abcdef";
    let config = "[leases.src]\ntype = \"r2\"\naccount_id = \"0123456789abcdef0123456789abcdef\"\n\
                  bucket = \"photos\"\naccess = \"read\"\nenv_prefix = \"SRC_\"\n";
    let mut sb = Sandbox::new(config);
    sb.set("CLOUDFLARE_API_TOKEN", parent);
    sb.set("CLOUDFLARE_API_BASE_URL", &hostile_server(403));
    sb.trust_project();
    let run = sb.run(&["r2", "verify"]);
    assert!(
        (run.stdout() + &run.stderr()).contains("403"),
        "the lease reached the echoing server:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    for verbosity in [&[][..], &["-v"], &["-vv"], &["-vvv"]] {
        for args in [
            &["r2", "verify"][..],
            &["r2", "verify", "--format", "json"],
            &["trust", "--list"],
            &["trust"],
            &["trust", "--revoke"],
        ] {
            let mut argv = verbosity.to_vec();
            argv.extend(args);
            let run = sb.run(&argv);
            let all = run.stdout() + &run.stderr();
            assert!(!all.contains(parent), "`{}` printed the parent:\n{all}", argv.join(" "));
        }
    }
}
