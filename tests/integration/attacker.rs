//! Issue 11, tested as an attacker would: an untrusted `sesame.toml` (and
//! its `sesame.local.toml`, and its profiles) tries every way to make a
//! trust-sensitive field of every registered backend its own: placeholder
//! keys, `${NAME}` filled from a secret it defines, and the plain key. A
//! loopback listener must receive zero bytes and no attacker program may
//! run. The list of fields comes from the registrations (`sesame backends
//! --format json`), so a new backend is covered without editing this file.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::Sandbox;

/// The parent token an attack would want.
const PARENT: &str = "cf-parent-canary-7f3a9b2c4d5e6f708192a3b4c5d6e7f8";

/// A listener that counts every byte anyone sends it.
struct Listener {
    url: String,
    received: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/client/v4", listener.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    // Count a connection as a byte too: connecting is reaching it.
                    count.fetch_add(1, Ordering::SeqCst);
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        count.fetch_add(n, Ordering::SeqCst);
                    }
                });
            }
        });
        Self { url, received }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

/// (kind, type, trust-sensitive fields) of every registered backend.
fn registrations() -> Vec<(String, String, Vec<String>)> {
    let sb = Sandbox::new("");
    let run = sb.run(&["backends", "--format", "json"]);
    run.assert_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    doc["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let fields = b["trust_sensitive"]
                .as_array()
                .expect("every registration states its trust-sensitive fields")
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect();
            (
                b["kind"].as_str().unwrap().to_string(),
                b["type"].as_str().unwrap().to_string(),
                fields,
            )
        })
        .collect()
}

/// An attacker program: it leaves a mark if anything runs it.
fn attacker_program(sb: &Sandbox) -> String {
    let path = sb.path("evil/op");
    sb.write(
        "evil/op",
        &format!("#!/bin/sh\ntouch {}\nexit 0\n", sb.path("evil/ran").display()),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// The attacker's value for a field: where it wants things to go.
fn attack_value(field: &str, listener: &Listener, program: &str) -> String {
    if field.ends_with("_path") {
        program.to_string()
    } else {
        listener.url.clone()
    }
}

/// The table header of a backend of this kind.
fn section(kind: &str) -> &'static str {
    if kind == "provider" {
        "providers"
    } else {
        "leases"
    }
}

/// A secret that makes sesame use a provider (a lease is always used).
fn use_backend(kind: &str) -> &'static str {
    if kind == "provider" {
        "[secrets.USE]\nprovider = \"x\"\nvalue = \"Item/field\"\n"
    } else {
        ""
    }
}

/// Runs the commands that build backends; asserts each is refused for
/// the right reason and that nothing reached the attacker.
#[track_caller]
fn assert_refused(sb: &Sandbox, listener: &Listener, what: &str, extra: &[&str]) {
    for command in [
        &["exec", "--", "true"][..],
        &["check"],
        &["get", "USE"],
        &["lease", "create", "x"],
    ] {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(command);
        let run = sb.run(&args);
        let err = run.stderr();
        assert_ne!(run.code(), Some(0), "{what}: `{}` succeeded:\n{err}", args.join(" "));
        assert!(!err.contains(PARENT), "{what}: the parent token was printed:\n{err}");
        if command[0] == "exec" {
            assert!(
                err.contains("not trusted") || err.contains("keys are literal"),
                "{what}: `{}` failed, but not by the trust check:\n{err}",
                args.join(" ")
            );
        }
    }
    assert_eq!(listener.received(), 0, "{what}: the attacker's listener received bytes");
    assert!(!sb.path("evil/ran").exists(), "{what}: the attacker's program ran");
}

fn sandbox(config: &str) -> Sandbox {
    let mut sb = Sandbox::new(config);
    sb.set("CLOUDFLARE_API_TOKEN", PARENT);
    sb.set("OP_SERVICE_ACCOUNT_TOKEN", "ops_op-canary-5c1d2e3f4a5b6c7d8e9f");
    sb
}

#[test]
fn a_placeholder_key_cannot_write_a_sensitive_field() {
    let listener = Listener::start();
    for (kind, type_name, fields) in registrations() {
        for field in &fields {
            let sb = sandbox("");
            let value = attack_value(field, &listener, &attacker_program(&sb));
            let sec = section(&kind);
            let forms = [
                format!("[{sec}.x]\ntype = \"{type_name}\"\n\"${{K}}\" = \"{value}\"\n\n[secrets.K]\ndefault = \"{field}\"\n"),
                format!("[{sec}.x]\ntype = \"{type_name}\"\nlabel_field = \"{field}\"\n\"{{label_field}}\" = \"{value}\"\n"),
            ];
            for config in forms {
                let config = format!("{config}{}", use_backend(&kind));
                std::fs::write(sb.project().join("sesame.toml"), &config).unwrap();
                assert_refused(&sb, &listener, &format!("{type_name}.{field} by placeholder key"), &[]);
            }
        }
    }
}

#[test]
fn the_cloudflare_env_var_form_from_the_issue_is_refused() {
    let listener = Listener::start();
    let sb = sandbox(&format!(
        "[leases.cf]\ntype = \"cloudflare\"\nenv_var = \"api_base\"\n\"{{env_var}}\" = \"{}\"\n",
        listener.url
    ));
    assert_refused(&sb, &listener, "{env_var} key", &[]);
    let run = sb.run(&["check", "--no-resolve"]);
    let all = run.stdout() + &run.stderr();
    assert!(
        all.contains("sesame.toml:4:1") && all.contains("keys are literal"),
        "{all}"
    );
}

#[test]
fn local_file_and_profiles_cannot_set_or_fill_a_sensitive_field() {
    let listener = Listener::start();
    for (kind, type_name, fields) in registrations() {
        for field in &fields {
            let sb = sandbox("");
            let value = attack_value(field, &listener, &attacker_program(&sb));
            let sec = section(&kind);
            let plain = format!(
                "[{sec}.x]\ntype = \"{type_name}\"\n{field} = \"{value}\"\n{}",
                use_backend(&kind)
            );
            // sesame.local.toml beside an untrusted project file.
            std::fs::write(sb.project().join("sesame.toml"), use_backend(&kind)).unwrap();
            std::fs::write(sb.project().join("sesame.local.toml"), &plain).unwrap();
            assert_refused(
                &sb,
                &listener,
                &format!("{type_name}.{field} from sesame.local.toml"),
                &[],
            );
            std::fs::remove_file(sb.project().join("sesame.local.toml")).unwrap();
            // A profile of the project file.
            let profile = format!(
                "{}[profiles.p.{sec}.x]\ntype = \"{type_name}\"\n{field} = \"{value}\"\n",
                use_backend(&kind)
            );
            std::fs::write(sb.project().join("sesame.toml"), &profile).unwrap();
            assert_refused(
                &sb,
                &listener,
                &format!("{type_name}.{field} from a profile"),
                &["-P", "p"],
            );
        }
    }
}

/// The user's own global config fills a sensitive field from `${NAME}`;
/// the untrusted project defines a secret of that name. The value is
/// derived from the untrusted file, so it is refused, whichever file holds
/// the key.
#[test]
fn a_trusted_key_filled_from_an_untrusted_secret_is_refused() {
    let listener = Listener::start();
    for (kind, type_name, fields) in registrations() {
        for field in &fields {
            let sb = sandbox("");
            let value = attack_value(field, &listener, &attacker_program(&sb));
            let sec = section(&kind);
            sb.write(
                "config/sesame/config.toml",
                &format!("[{sec}.x]\ntype = \"{type_name}\"\n{field} = \"${{MY_SETTING}}\"\n"),
            );
            std::fs::write(
                sb.project().join("sesame.toml"),
                format!("[secrets.MY_SETTING]\ndefault = \"{value}\"\n{}", use_backend(&kind)),
            )
            .unwrap();
            assert_refused(&sb, &listener, &format!("{type_name}.{field} via ${{MY_SETTING}}"), &[]);
            let err = sb.run(&["exec", "--", "true"]).stderr();
            assert!(
                err.contains("${MY_SETTING}") && err.contains("sesame.toml, which is not trusted"),
                "{err}"
            );
        }
    }
}

/// The same, with the value taken from the user's environment: allowed.
#[test]
fn a_trusted_key_filled_from_the_environment_still_works() {
    let listener = Listener::start();
    let mut sb = sandbox("[secrets.A]\ndefault = \"a\"\n");
    sb.write(
        "config/sesame/config.toml",
        "[leases.cf]\ntype = \"cloudflare\"\napi_base = \"${MY_CF_BASE}\"\n",
    );
    sb.set("MY_CF_BASE", &listener.url);
    let run = sb.run(&["check", "--no-resolve"]);
    assert!(!run.stderr().contains("not trusted"), "{}", run.stderr());
}

/// Bad input gets a position and a clear message, never the bad bytes and
/// never serde's own words.
#[test]
fn bad_input_is_located_and_explained() {
    let sb = Sandbox::new("");
    let cases: [(&[u8], &[&str]); 4] = [
        (
            b"[secrets]\nA = { default = \"x\" }\nA = { default = \"y\" }\n",
            &["sesame.toml:3:1", "`A` is set twice"],
        ),
        (b"[secrets]\nA = 5\n", &["sesame.toml:2:5", "expected a secret table"]),
        (
            b"[secrets]\nA = { default = \"\xff\xfe\" }\n",
            &["sesame.toml:2:18", "not valid UTF-8"],
        ),
        (
            b"[secrets.A]\ndefault = \"${OPEN\"\n",
            &["sesame.toml:2:1", "not closed"],
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(sb.project().join("sesame.toml"), text).unwrap();
        let run = sb.run(&["check", "--no-resolve"]);
        let all = run.stdout() + &run.stderr();
        assert_ne!(run.code(), Some(0), "{all}");
        for part in expected {
            assert!(all.contains(part), "expected {part:?} in:\n{all}");
        }
        for serde_words in ["RawSecret", "invalid type", "\u{fffd}"] {
            assert!(!all.contains(serde_words), "{all}");
        }
    }
}
