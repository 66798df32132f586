//! The `age` provider end to end: values fnox wrote, values the real `age`
//! CLI wrote, values sesame wrote read back by `age -d`, and the errors.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::Sandbox;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fnox/age-basic");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURE}/{name}")).unwrap()
}

fn fixture_key() -> String {
    fixture("key.txt")
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string()
}

/// A new identity from `age-keygen`: (identity file text, recipient).
fn keygen() -> (String, String) {
    let out = Command::new("age-keygen").output().expect("age-keygen is installed");
    let text = String::from_utf8(out.stdout).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (text, recipient)
}

fn age_cli(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("age")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("age is installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "age {args:?} failed");
    out.stdout
}

#[test]
fn fnox_written_values_resolve_to_what_fnox_resolved() {
    let mut sb = Sandbox::new(&fixture("fnox.toml"));
    sb.set("FNOX_AGE_KEY", &fixture_key());
    let run = sb.run(&["export", "--format", "json"]);
    run.assert_code(0);
    let got: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&fixture("expected.json")).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn key_file_relative_to_the_config_and_sesame_variable() {
    let config = fixture("fnox.toml").replace("recipients = [", "key_file = \"keys/key.txt\", recipients = [");
    let sb = Sandbox::new(&config);
    sb.write("project/keys/key.txt", &fixture("key.txt"));
    sb.run(&["get", "DB_PASSWORD"]).assert_code(0);
    assert_eq!(sb.run(&["get", "DB_PASSWORD"]).stdout(), "deep\n");
    // A sesame-named variable wins over key_file.
    let mut sb2 = Sandbox::new(&fixture("fnox.toml"));
    sb2.set("SESAME_AGE_KEY", &fixture_key());
    assert_eq!(sb2.run(&["get", "MULTI"]).stdout(), "line one\nline two = \"q\" ünï\n");
}

#[test]
fn age_cli_values_decrypt_binary_and_armored() {
    let (identity, recipient) = keygen();
    let binary = age_cli(&["-r", &recipient], b"from the age cli\n");
    let armored = String::from_utf8(age_cli(&["-a", "-r", &recipient], b"armored too")).unwrap();
    let b64 = base64_encode(&binary);
    let config = format!(
        "[providers]\nage = {{ type = \"age\" }}\n[secrets]\nBIN = {{ provider = \"age\", value = \"{b64}\" }}\nARM = {{ provider = \"age\", value = \"\"\"\n{armored}\"\"\" }}\n"
    );
    let mut sb = Sandbox::new(&config);
    sb.set("SESAME_AGE_KEY", &identity);
    let run = sb.run(&["exec", "--", "sh", "-c", "printf '%s|%s' \"$BIN\" \"$ARM\""]);
    run.assert_code(0);
    assert_eq!(run.stdout(), "from the age cli\n|armored too");
}

#[test]
fn sesame_set_encrypts_for_age_cli_and_keeps_plaintext_off_disk() {
    let (identity, recipient) = keygen();
    let config = format!("[providers]\nage = {{ type = \"age\", recipients = [\"{recipient}\"] }}\n");
    let mut sb = Sandbox::new(&config);
    sb.trust_project();
    let mut child = sb
        .cmd(&["set", "TOKEN", "--provider", "age", "--description", "api token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"plain-canary-value\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(sb.project().join("sesame.toml")).unwrap();
    assert!(!text.contains("plain-canary-value"), "{text}");
    for entry in walk(sb.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("plain-canary-value"),
            "plaintext on disk in {}",
            entry.display()
        );
    }
    // The real age CLI decrypts it (fnox's format: base64 of the binary file).
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let value = parsed["secrets"]["TOKEN"]["value"].as_str().unwrap();
    sb.write("id.txt", &identity);
    let id_path = sb.path("id.txt");
    let plain = age_cli(&["-d", "-i", id_path.to_str().unwrap()], &base64_decode(value));
    assert_eq!(plain, b"plain-canary-value");
    // sesame too, and the file stayed trusted.
    sb.set("SESAME_AGE_KEY", &identity);
    assert_eq!(sb.run(&["get", "TOKEN"]).stdout(), "plain-canary-value\n");
    assert!(sb.run(&["check"]).stdout().contains("project, trusted"));
}

#[test]
fn set_refuses_recipients_from_an_untrusted_file() {
    let (_, recipient) = keygen();
    let sb = Sandbox::new(&format!(
        "[providers]\nage = {{ type = \"age\", recipients = [\"{recipient}\"] }}\n"
    ));
    let run = sb.run(&["set", "TOKEN", "--provider", "age"]);
    assert_ne!(run.code(), Some(0));
    assert!(run.stderr().contains("not trusted"), "{}", run.stderr());
}

#[test]
fn wrong_key_corrupt_value_and_missing_identity_name_the_secret_only() {
    let config = fixture("fnox.toml");
    let ciphertext = config
        .split("value = \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // Wrong key.
    let (other, _) = keygen();
    let mut sb = Sandbox::new(&config);
    sb.set("SESAME_AGE_KEY", &other);
    let run = sb.run(&["get", "DATABASE_URL"]);
    assert_ne!(run.code(), Some(0));
    assert!(run.stderr().contains("secret `DATABASE_URL`"), "{}", run.stderr());
    assert!(run.stderr().contains("not one of the recipients"), "{}", run.stderr());
    let mut stderrs = vec![run.stderr()];
    // Corrupted value.
    let damaged = config.replacen(&ciphertext[40..80], &"A".repeat(40), 1);
    let mut sb = Sandbox::new(&damaged);
    sb.set("SESAME_AGE_KEY", &fixture_key());
    let run = sb.run(&["get", "DATABASE_URL"]);
    assert!(run.stderr().contains("not valid age ciphertext"), "{}", run.stderr());
    stderrs.push(run.stderr());
    // No identity anywhere.
    let sb = Sandbox::new(&config);
    let run = sb.run(&["get", "DATABASE_URL", "-vvv"]);
    assert!(run.stderr().contains("no age identity"), "{}", run.stderr());
    stderrs.push(run.stderr());
    for sb_stderr in stderrs {
        assert!(!sb_stderr.contains(&ciphertext[..40]), "ciphertext shown: {sb_stderr}");
        assert!(!sb_stderr.contains("postgresql://"), "plaintext shown");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn base64_encode(bytes: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = out.unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    child.wait_with_output().unwrap().stdout
}
