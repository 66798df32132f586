//! The age identity from another provider, in fnox's form
//! `identity = { provider = "NAME", value = "..." }` (fnox's test/age.bats
//! cases), with the real `age` CLI making the keys and the nested value,
//! and the trust rules of a credential source.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::Sandbox;

/// `age-keygen`: (secret key line, recipient).
fn keygen() -> (String, String) {
    let out = Command::new("age-keygen").output().expect("age-keygen is installed");
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (key, recipient)
}

/// `PROGRAM ARGS < input`, its stdout.
fn pipe(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} {args:?}");
    out.stdout
}

/// `age -r RECIPIENT | base64 -w0` (fnox's format, as its test writes it).
fn encrypt(recipient: &str, plain: &str) -> String {
    let binary = pipe("age", &["-r", recipient], plain.as_bytes());
    String::from_utf8(pipe("base64", &["-w0"], &binary)).unwrap()
}

#[test]
fn identity_from_the_plain_provider_decrypts_age_cli_values() {
    let (key, recipient) = keygen();
    let config = format!(
        "[providers.plain]\ntype = \"plain\"\n\n[providers.age]\ntype = \"age\"\nrecipients = [\"{recipient}\"]\nidentity = {{ provider = \"plain\", value = \"{key}\" }}\n\n[secrets]\nFIRST = {{ provider = \"age\", value = \"{}\" }}\nSECOND = {{ provider = \"age\", value = \"{}\" }}\n",
        encrypt(&recipient, "first-value"),
        encrypt(&recipient, "second-value"),
    );
    let sb = Sandbox::new(&config);
    sb.trust_project();
    let run = sb.run(&["exec", "--no-mask", "--", "sh", "-c", "echo \"$FIRST|$SECOND\""]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "first-value|second-value\n");
}

#[test]
fn nested_age_identity_from_another_age_provider() {
    let (bootstrap_key, bootstrap_recipient) = keygen();
    let (main_key, main_recipient) = keygen();
    let config = format!(
        "[providers.plain]\ntype = \"plain\"\n\n[providers.bootstrap-age]\ntype = \"age\"\nrecipients = [\"{bootstrap_recipient}\"]\nidentity = {{ provider = \"plain\", value = \"{bootstrap_key}\" }}\n\n[providers.age]\ntype = \"age\"\nrecipients = [\"{main_recipient}\"]\nidentity = {{ provider = \"bootstrap-age\", value = \"{}\" }}\n\n[secrets]\nMY_SECRET = {{ provider = \"age\", value = \"{}\" }}\n",
        encrypt(&bootstrap_recipient, &main_key),
        encrypt(&main_recipient, "secret-value"),
    );
    let sb = Sandbox::new(&config);
    sb.trust_project();
    let run = sb.run(&["get", "MY_SECRET"]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "secret-value\n");
}

#[test]
fn missing_identity_provider_fails_get_but_not_set_and_not_with_a_key_variable() {
    let (key, recipient) = keygen();
    let config = format!(
        "[providers.age]\ntype = \"age\"\nrecipients = [\"{recipient}\"]\nidentity = {{ provider = \"missing-provider\", value = \"age-key\" }}\n\n[secrets]\n"
    );
    let mut sb = Sandbox::new(&config);
    sb.trust_project();
    let mut child = sb
        .cmd(&["set", "MY_SECRET", "--provider", "age"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"secret-value").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    sb.trust_project();
    let run = sb.run(&["get", "MY_SECRET"]);
    assert_ne!(run.code(), Some(0));
    assert!(run.stderr().contains("missing-provider"), "{}", run.stderr());
    assert!(!run.stderr().contains("secret-value"), "{}", run.stderr());
    // A key in the environment comes first, so the identity is not needed.
    sb.set("SESAME_AGE_KEY", &key);
    assert_eq!(sb.run(&["get", "MY_SECRET"]).stdout(), "secret-value\n");
}

#[test]
fn identity_providers_referencing_each_other_are_a_cycle() {
    let config = "[providers.age-a]\ntype = \"age\"\nrecipients = [\"age1test\"]\nidentity = { provider = \"age-b\", value = \"unused\" }\n\n[providers.age-b]\ntype = \"age\"\nrecipients = [\"age1test\"]\nidentity = { provider = \"age-a\", value = \"unused\" }\n\n[secrets]\nMY_SECRET = { provider = \"age-a\", value = \"unused\" }\n";
    let sb = Sandbox::new(config);
    sb.trust_project();
    let run = sb.run(&["get", "MY_SECRET"]);
    assert_ne!(run.code(), Some(0));
    assert!(run.stderr().contains("age-a -> age-b -> age-a"), "{}", run.stderr());
    assert!(
        run.stderr().contains("sesame.toml:"),
        "names the place: {}",
        run.stderr()
    );
}

#[test]
fn an_untrusted_file_may_not_choose_the_identity_source() {
    let (key, recipient) = keygen();
    let value = encrypt(&recipient, "secret-value");
    // The identity field itself in an untrusted project file.
    let config = format!(
        "[providers.plain]\ntype = \"plain\"\n\n[providers.age]\ntype = \"age\"\nidentity = {{ provider = \"plain\", value = \"{key}\" }}\n\n[secrets]\nS = {{ provider = \"age\", value = \"{value}\" }}\n"
    );
    let sb = Sandbox::new(&config);
    let run = sb.run(&["get", "S"]);
    assert_ne!(run.code(), Some(0));
    assert!(
        run.stderr().contains("`identity` in [providers.age]") && run.stderr().contains("sesame trust"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains(&key) && !run.stderr().contains("secret-value"),
        "{}",
        run.stderr()
    );
    // In the trusted global config, naming a provider the untrusted project defines.
    let project =
        format!("[providers.keys]\ntype = \"plain\"\n\n[secrets]\nS = {{ provider = \"age\", value = \"{value}\" }}\n");
    let sb = Sandbox::new(&project);
    sb.write(
        "config/sesame/config.toml",
        "[providers.age]\ntype = \"age\"\nidentity = { provider = \"keys\", value = \"AGE-SECRET-KEY-1NOTREAL\" }\n",
    );
    let run = sb.run(&["get", "S"]);
    assert_ne!(run.code(), Some(0));
    assert!(
        run.stderr().contains("from provider `keys`") && run.stderr().contains("not trusted"),
        "{}",
        run.stderr()
    );
}
