//! The `command` lease end to end: credentials from a script into the
//! command, the ledger, reuse, revocation, trust, and its errors.

use crate::support::Sandbox;

/// A config whose create script counts its runs and whose revoke script
/// logs the id; `reuse` as given.
fn setup(reuse: bool) -> Sandbox {
    let sb = Sandbox::new("");
    let dir = sb.path("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let create = dir.join("create.sh");
    std::fs::write(
        &create,
        format!(
            "#!/bin/sh\necho run >> {d}/runs\nn=$(wc -l < {d}/runs | tr -d ' ')\nprintf '{{\"credentials\":{{\"MY_TOKEN\":\"tok-%s-%s\"}},\"lease_id\":\"lease-%s\"}}' \"$n\" \"$FNOX_LEASE_DURATION\" \"$n\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let revoke = dir.join("revoke.sh");
    std::fs::write(
        &revoke,
        format!("#!/bin/sh\necho \"$FNOX_LEASE_ID\" >> {}/revoked\n", dir.display()),
    )
    .unwrap();
    for f in [&create, &revoke] {
        std::process::Command::new("chmod").arg("+x").arg(f).status().unwrap();
    }
    std::fs::write(
        sb.project().join("sesame.toml"),
        format!(
            "[leases.custom]\ntype = \"command\"\ncreate_command = \"{}\"\nrevoke_command = \"{}\"\nduration = \"30m\"\nreuse = {reuse}\n",
            create.display(),
            revoke.display()
        ),
    )
    .unwrap();
    sb
}

#[test]
fn credentials_reach_the_command_and_are_revoked_after() {
    let sb = setup(false);
    sb.trust_project();
    let run = sb.run(&["exec", "--", "sh", "-c", "echo $MY_TOKEN"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "tok-1-1800\n");
    assert_eq!(
        std::fs::read_to_string(sb.path("scripts/revoked")).unwrap(),
        "lease-1\n"
    );
    let list = sb.run(&["lease", "list", "--format", "json"]);
    assert!(
        !list.stdout().contains("custom"),
        "revoked leases leave the ledger: {}",
        list.stdout()
    );
}

#[test]
fn reuse_takes_the_ledger_entry_and_cleanup_or_revoke_runs_revoke_command() {
    let sb = setup(true);
    sb.trust_project();
    for _ in 0..2 {
        let run = sb.run(&["exec", "--", "sh", "-c", "echo $MY_TOKEN"]);
        run.assert_code(0);
        assert_eq!(run.stdout(), "tok-1-1800\n");
    }
    assert_eq!(std::fs::read_to_string(sb.path("scripts/runs")).unwrap(), "run\n");
    // Revoke by the credential's id at the service (the command's lease_id).
    sb.run(&["lease", "revoke", "lease-1"]).assert_code(0);
    assert_eq!(
        std::fs::read_to_string(sb.path("scripts/revoked")).unwrap(),
        "lease-1\n"
    );
}

#[test]
fn an_untrusted_file_cannot_set_the_commands() {
    let sb = setup(false);
    let run = sb.run(&["exec", "--", "true"]);
    assert_ne!(run.code(), Some(0));
    assert!(
        run.stderr().contains("create_command") && run.stderr().contains("not trusted"),
        "{}",
        run.stderr()
    );
    assert!(!sb.path("scripts/runs").exists(), "the command ran");
}

#[test]
fn errors_are_clear_and_never_show_credentials() {
    for (script, expect) in [
        ("echo 'tok-canary-9 denied' >&2; exit 4", "exit status 4"),
        ("echo 'tok-canary-9'", "did not print valid JSON"),
        (
            "echo '{\"lease_id\":\"x\",\"token\":\"tok-canary-9\"}'",
            "no `credentials` key",
        ),
    ] {
        let sb = Sandbox::new(&format!(
            "[leases.custom]\ntype = \"command\"\ncreate_command = \"\"\"{script}\"\"\"\n"
        ));
        sb.trust_project();
        let run = sb.run(&["exec", "-vvv", "--", "true"]);
        assert_ne!(run.code(), Some(0));
        assert!(
            run.stderr().contains("lease `custom`") || run.stderr().contains("custom"),
            "{}",
            run.stderr()
        );
        assert!(run.stderr().contains(expect), "{script}: {}", run.stderr());
        if expect != "exit status 4" {
            assert!(!run.stderr().contains("tok-canary-9"), "{}", run.stderr());
        }
    }
}
