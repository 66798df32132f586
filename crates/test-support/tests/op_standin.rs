//! Tests of `tests/support/op`, the stand-in for the 1Password CLI.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const OP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/support/op");

/// Values that must survive `op read` byte-for-byte.
const ODD: &[(&str, &str)] = &[
    ("multiline", "first line\nsecond line\n"),
    ("equals", "a=b==c="),
    ("quotes", "it's \"quoted\" `tick`"),
    ("spaces", "  leading and trailing  "),
    ("unicode", "ünïcødé € 😀 日本"),
    ("empty", ""),
    ("backslash", "C:\\path\\n"),
];

fn fixture() -> Value {
    let odd: Vec<Value> = ODD
        .iter()
        .map(|(label, value)| json!({"id": format!("odd{label}"), "type": "CONCEALED", "label": label, "value": value}))
        .collect();
    json!({
        "vaults": [
            {"id": "vdev", "name": "Development", "items": [
                {"id": "icloudflare", "title": "Cloudflare", "category": "API_CREDENTIAL",
                 "sections": [{"id": "s1", "label": "Admin"}],
                 "fields": [
                    {"id": "k3qz7", "type": "CONCEALED", "label": "api token", "value": "cf-token"},
                    {"id": "f2", "type": "STRING", "label": "email", "value": "admin@example.com",
                     "section": {"id": "s1"}},
                    {"id": "notesPlain", "type": "STRING", "purpose": "NOTES", "label": "notesPlain"}
                 ]},
                {"id": "ilogin", "title": "Login", "category": "LOGIN", "fields": [
                    {"id": "username", "type": "STRING", "purpose": "USERNAME", "label": "username", "value": "me"},
                    {"id": "pw", "type": "CONCEALED", "purpose": "PASSWORD", "label": "secret", "value": "hunter2"}
                ]},
                {"id": "iodd", "title": "Odd", "category": "PASSWORD", "fields": odd},
                {"id": "idup1", "title": "Twin", "fields": []},
                {"id": "idup2", "title": "Twin", "fields": []}
            ]},
            {"id": "vprod", "name": "Production", "service_account_access": false, "items": [
                {"id": "iprod", "title": "Prod", "fields": [{"id": "password", "label": "password", "value": "p"}]}
            ]}
        ]
    })
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(data: &Value) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.json"), serde_json::to_vec(data).unwrap()).unwrap();
        Env { dir }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log.jsonl")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(OP);
        cmd.args(args)
            .env("OP_STANDIN_DATA", self.dir.path().join("data.json"))
            .env("OP_STANDIN_LOG", self.log_path())
            .env_remove("OP_SERVICE_ACCOUNT_TOKEN")
            .env_remove("OP_FORMAT")
            .env_remove("OP_STANDIN_DELAY_MS")
            .env_remove("OP_STANDIN_HANG")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run the op stand-in")
    }

    fn log(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Asserts the real CLI's failure form: exit 1, nothing on stdout, and stderr
/// `[ERROR] YYYY/MM/DD HH:MM:SS <message>`; returns the message.
fn error_message(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
    let err = stderr(o);
    let rest = err
        .strip_prefix("[ERROR] ")
        .unwrap_or_else(|| panic!("no [ERROR] prefix: {err}"));
    let (stamp, message) = rest.split_at(19);
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { 'D' } else { c })
        .collect();
    assert_eq!(shape, "DDDD/DD/DD DD:DD:DD", "timestamp in {err}");
    let message = message.strip_prefix(' ').expect("space after the timestamp");
    assert!(message.ends_with('\n'));
    message.trim_end_matches('\n').to_string()
}

#[test]
fn version() {
    let env = Env::new(&fixture());
    let o = env.run(&["--version"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "2.30.0\n");
}

#[test]
fn item_get_prints_op_json() {
    let env = Env::new(&fixture());
    let o = env.run(&[
        "item",
        "get",
        "Cloudflare",
        "--vault",
        "Development",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let item: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        item,
        json!({
            "id": "icloudflare",
            "title": "Cloudflare",
            "version": 1,
            "vault": {"id": "vdev", "name": "Development"},
            "category": "API_CREDENTIAL",
            "last_edited_by": item["last_edited_by"],
            "created_at": item["created_at"],
            "updated_at": item["updated_at"],
            "sections": [{"id": "s1", "label": "Admin"}],
            "fields": [
                {"id": "k3qz7", "type": "CONCEALED", "label": "api token", "value": "cf-token",
                 "reference": "op://Development/Cloudflare/api token"},
                {"id": "f2", "type": "STRING", "label": "email", "value": "admin@example.com",
                 "section": {"id": "s1", "label": "Admin"},
                 "reference": "op://Development/Cloudflare/Admin/email"},
                {"id": "notesPlain", "type": "STRING", "purpose": "NOTES", "label": "notesPlain",
                 "reference": "op://Development/Cloudflare/notesPlain"}
            ]
        })
    );
    // op's key order and 2-space indentation.
    assert!(stdout(&o)
        .starts_with("{\n  \"id\": \"icloudflare\",\n  \"title\": \"Cloudflare\",\n  \"version\": 1,\n  \"vault\": {"));

    // --format=json, lookup by id, case-insensitive title, no --vault: the same item.
    for args in [
        &["item", "get", "icloudflare", "--format=json"][..],
        &["item", "get", "cloudflare", "--vault=vdev", "--format=json"][..],
        &["--account", "my", "item", "get", "Cloudflare", "--format", "json"][..],
    ] {
        let o = env.run(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let again: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(again, item, "{args:?}");
    }
}

#[test]
fn read_round_trips_odd_values_byte_for_byte() {
    let env = Env::new(&fixture());
    for (label, value) in ODD {
        let reference = format!("op://Development/Odd/{label}");
        let o = env.run(&["read", &reference]);
        assert!(o.status.success(), "{label}: {}", stderr(&o));
        assert_eq!(o.stdout, format!("{value}\n").into_bytes(), "{label}");
        let o = env.run(&["read", "--no-newline", &reference]);
        assert_eq!(o.stdout, value.as_bytes(), "{label}");
    }
    // item get's JSON carries the same values.
    let o = env.run(&["item", "get", "Odd", "--vault", "Development", "--format", "json"]);
    let item: Value = serde_json::from_slice(&o.stdout).unwrap();
    for (i, (_, value)) in ODD.iter().enumerate() {
        assert_eq!(item["fields"][i]["value"], *value);
    }
}

#[test]
fn read_resolves_sections_ids_and_purposes() {
    let env = Env::new(&fixture());
    let cases = [
        ("op://Development/Cloudflare/Admin/email", "admin@example.com"),
        ("op://development/cloudflare/admin/EMAIL", "admin@example.com"),
        ("op://vdev/icloudflare/s1/f2", "admin@example.com"),
        ("op://Development/Cloudflare/email", "admin@example.com"),
        ("op://Development/Cloudflare/api token", "cf-token"),
        ("op://Development/Login/password", "hunter2"),
        ("op://Development/Login/username", "me"),
        ("op://Development/Cloudflare/notesPlain", ""),
    ];
    for (reference, value) in cases {
        let o = env.run(&["read", "-n", reference]);
        assert!(o.status.success(), "{reference}: {}", stderr(&o));
        assert_eq!(stdout(&o), value, "{reference}");
    }
}

#[test]
fn inject_enclosed_and_unenclosed() {
    let env = Env::new(&fixture());
    let template = "A={{ op://Development/Cloudflare/api token }}\nB=op://Development/Login/password\nC=\"op://Development/Cloudflare/Admin/email\"\nD={{op://Development/Odd/multiline}}end\n";
    let mut child = env
        .command(&["inject"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(template.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "A=cf-token\nB=hunter2\nC=\"admin@example.com\"\nD=first line\nsecond line\nend\n"
    );
    let log = env.log();
    assert_eq!(log[0]["stdin"], template);
    assert_eq!(log[0]["stdin_kind"], "pipe");

    // Unenclosed, a reference ends at the first whitespace: this one asks for field `api`.
    let input = "TOKEN=op://Development/Cloudflare/api token\n";
    let mut child = env
        .command(&["inject"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        error_message(&o),
        "could not read secret 'op://Development/Cloudflare/api': item 'Development/Cloudflare' does not have a field 'api'"
    );
}

#[test]
fn inject_files() {
    let env = Env::new(&fixture());
    let input = env.dir.path().join("in.tpl");
    let output = env.dir.path().join("out.env");
    std::fs::write(&input, "X={{ op://Development/Odd/unicode }}\n").unwrap();
    let o = env.run(&["inject", "-i", input.to_str().unwrap(), "-o", output.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "X=ünïcødé € 😀 日本\n");
    assert_eq!(stdout(&o).trim_end(), output.to_str().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&output).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn errors_use_real_wording_and_format() {
    let env = Env::new(&fixture());
    let cases: &[(&[&str], &str)] = &[
        (
            &["item", "get", "Nope", "--vault", "Development", "--format", "json"],
            "\"Nope\" isn't an item in the \"Development\" vault. Specify the item with its UUID, name, or domain.",
        ),
        (
            &["item", "get", "Nope", "--format", "json"],
            "\"Nope\" isn't an item. Specify the item with its UUID, name, or domain.",
        ),
        (
            &["item", "get", "Cloudflare", "--vault", "Nope", "--format", "json"],
            "\"Nope\" isn't a vault in this account. Specify the vault with its ID or name.",
        ),
        (
            &["read", "op://Development/Cloudflare/nope"],
            "could not read secret 'op://Development/Cloudflare/nope': item 'Development/Cloudflare' does not have a field 'nope'",
        ),
        (
            &["read", "op://Development/Nope/password"],
            "could not read secret 'op://Development/Nope/password': could not get item Development/Nope: \"Nope\" isn't an item in the \"Development\" vault. Specify the item with its UUID, name, or domain.",
        ),
        (
            &["read", "op://Nope/Cloudflare/password"],
            "could not read secret 'op://Nope/Cloudflare/password': could not get item Nope/Cloudflare: \"Nope\" isn't a vault in this account. Specify the vault with its ID or name.",
        ),
        (&["frobnicate"], "unknown command \"frobnicate\" for \"op\""),
        (&["item", "get", "Cloudflare", "--bogus"], "unknown flag: --bogus"),
    ];
    for (args, expected) in cases {
        let o = env.run(args);
        assert_eq!(error_message(&o), *expected, "{args:?}");
    }

    let o = env.run(&["item", "get", "Twin", "--vault", "Development", "--format", "json"]);
    assert_eq!(
        error_message(&o),
        "More than one item matches \"Twin\". Try again and specify the item by its ID:\n\
         \t* for the item \"Twin\" in vault Development: idup1\n\
         \t* for the item \"Twin\" in vault Development: idup2"
    );
}

#[test]
fn not_signed_in() {
    let mut data = fixture();
    data["signed_in"] = json!(false);
    let env = Env::new(&data);
    let o = env.run(&[
        "item",
        "get",
        "Cloudflare",
        "--vault",
        "Development",
        "--format",
        "json",
    ]);
    assert_eq!(
        error_message(&o),
        "You are not currently signed in. Please run `op signin --help` for instructions"
    );
    let o = env.run(&["read", "op://Development/Login/password"]);
    assert_eq!(
        error_message(&o),
        "could not read secret 'op://Development/Login/password': error initializing client: You are not currently signed in. Please run `op signin --help` for instructions"
    );
    let o = env.run(&["whoami"]);
    assert_eq!(error_message(&o), "account is not signed in");
    // --version needs no session.
    assert!(env.run(&["--version"]).status.success());
}

#[test]
fn service_account_token() {
    let mut data = fixture();
    data["signed_in"] = json!(false);
    data["service_account_token"] = json!("ops_good");
    let env = Env::new(&data);

    let o = env
        .command(&["read", "op://Development/Login/password"])
        .env("OP_SERVICE_ACCOUNT_TOKEN", "ops_good")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hunter2\n");

    let o = env
        .command(&["read", "op://Development/Login/password"])
        .env("OP_SERVICE_ACCOUNT_TOKEN", "not-a-token")
        .output()
        .unwrap();
    assert!(error_message(&o).contains("failed to DecodeSACredentials"));

    let o = env
        .command(&["item", "get", "Login", "--vault", "Development", "--format", "json"])
        .env("OP_SERVICE_ACCOUNT_TOKEN", "ops_wrong")
        .output()
        .unwrap();
    assert!(error_message(&o).starts_with("(401) Unauthorized"));

    // Service accounts must name the vault, and only see the vaults they were granted.
    let o = env
        .command(&["item", "get", "Login", "--format", "json"])
        .env("OP_SERVICE_ACCOUNT_TOKEN", "ops_good")
        .output()
        .unwrap();
    assert!(error_message(&o).starts_with("a vault query must be provided"));
    let o = env
        .command(&["read", "op://Production/Prod/password"])
        .env("OP_SERVICE_ACCOUNT_TOKEN", "ops_good")
        .output()
        .unwrap();
    assert!(error_message(&o).contains("\"Production\" isn't a vault in this account."));

    let log = env.log();
    assert!(log.iter().all(|l| l["has_service_account_token"] == true));
}

fn wait_with_deadline(child: &mut std::process::Child, deadline: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn log_records_each_invocation_without_reading_stdin() {
    let env = Env::new(&fixture());
    let o = env.run(&["read", "op://Development/Login/password"]);
    assert!(o.status.success());

    // stdin is a pipe that stays open: a real op would read it; the stand-in must not.
    let mut child = env
        .command(&["read", "op://Development/Login/username"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"unread").unwrap();
    let status = wait_with_deadline(&mut child, Duration::from_secs(20));
    drop(stdin);
    assert!(status.expect("op must not wait for stdin").success());

    let log = env.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["argv"], json!(["read", "op://Development/Login/password"]));
    assert_eq!(log[0]["stdin_kind"], "null");
    assert_eq!(log[0]["stdin_is_tty"], false);
    assert_eq!(log[0]["stdin"], Value::Null);
    assert_eq!(log[0]["has_service_account_token"], false);
    assert_eq!(log[0]["exit"], 0);
    assert!(log[0]["pid"].as_u64().unwrap() > 0);
    assert!(log[0]["start"].as_f64().unwrap() <= log[0]["end"].as_f64().unwrap());
    assert_eq!(log[1]["stdin_kind"], "pipe");
    assert_eq!(log[1]["stdin"], Value::Null);
}

#[test]
fn delay_knob() {
    let env = Env::new(&fixture());
    let started = Instant::now();
    let o = env
        .command(&["read", "op://Development/Login/password"])
        .env("OP_STANDIN_DELAY_MS", "400")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(started.elapsed() >= Duration::from_millis(400));
    let log = env.log();
    let took = log[0]["end"].as_f64().unwrap() - log[0]["start"].as_f64().unwrap();
    assert!(took >= 0.4, "{took}");
}

#[test]
fn hang_knob() {
    let env = Env::new(&fixture());
    let mut child = env
        .command(&["read", "op://Development/Login/password"])
        .env("OP_STANDIN_HANG", "1")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // It logs the invocation (end: null), then never answers.
    let started = Instant::now();
    while env.log().is_empty() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "it must still be running");
    child.kill().unwrap();
    child.wait().unwrap();
    let log = env.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["end"], Value::Null);
}

#[test]
fn derived_ids_match_the_connect_standin() {
    use sesame_test_support::connect::{derived_id, ConnectData};
    let data = json!({"vaults": [{"name": "Shared", "items": [{"title": "No Id", "fields": []}]}]});
    let env = Env::new(&data);
    let o = env.run(&["item", "get", "No Id", "--vault", "Shared", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let item: Value = serde_json::from_slice(&o.stdout).unwrap();
    let vault_id = derived_id(&["vault", "Shared"]);
    assert_eq!(item["vault"]["id"], vault_id);
    assert_eq!(item["id"], derived_id(&["item", &vault_id, "No Id"]));
    let connect = ConnectData::from_json(data);
    assert_eq!(connect.vaults[0].id, vault_id);
    assert_eq!(connect.vaults[0].items[0].id, item["id"]);
}
