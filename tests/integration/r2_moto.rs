//! `sesame r2 verify` against an independent S3 implementation: moto's
//! server, with real SigV4 checking and IAM policies (issue 5). Users with
//! read-only, read-write, over-privileged and account-wide policies stand in
//! for the tokens of Cloney's guide, held as static targets.
//!
//! moto comes from the virtualenv `.ci/run` creates; `SESAME_MOTO_SERVER`
//! names its `moto_server`. Without it these tests print a notice and pass,
//! except when CI asked for them (`CI=true` or `SESAME_REQUIRE_MOTO=1`):
//! then a missing moto fails them.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{assert_checks, check_status, verify_check, Sandbox};

/// A moto server this test started; killed when dropped.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
    pub(crate) python: PathBuf,
    /// `name -> (access key id, secret)` of the seeded IAM users.
    pub(crate) users: BTreeMap<String, (String, String)>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn required() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    set("CI") || set("SESAME_REQUIRE_MOTO")
}

/// Starts and seeds moto, or `None` (with a notice) when it is not installed
/// and not required.
pub(crate) fn moto() -> Option<Moto> {
    let server = std::env::var("SESAME_MOTO_SERVER")
        .ok()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    let Some(server) = server else {
        if required() {
            panic!(
                "moto is required here (CI or SESAME_REQUIRE_MOTO=1) but SESAME_MOTO_SERVER does not name a moto_server; \
                 .ci/run installs it into a virtualenv"
            );
        }
        eprintln!("notice: skipping the moto tests: set SESAME_MOTO_SERVER to a moto_server (see .ci/run)");
        return None;
    };
    let python = server.with_file_name("python3");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        python,
        users: BTreeMap::new(),
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start listening within 60s"
        );
        if let Ok(Some(status)) = moto.child.try_wait() {
            panic!("moto_server exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_setup.py");
    let out = Command::new(&moto.python)
        .args([setup, &moto.endpoint])
        .stdin(Stdio::null())
        .output()
        .expect("run moto_setup.py");
    assert!(
        out.status.success(),
        "moto_setup.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (name, key) in json["users"].as_object().unwrap() {
        moto.users.insert(
            name.clone(),
            (
                key["id"].as_str().unwrap().into(),
                key["secret"].as_str().unwrap().into(),
            ),
        );
    }
    Some(moto)
}

/// A sandbox with one static target per `(lease, user, bucket, access)`;
/// `user` may be `name:wrong-secret` (the secret of another user) or
/// `unknown`.
fn sandbox(moto: &Moto, targets: &[(&str, &str, &str, &str)]) -> Sandbox {
    let mut config = String::from("[providers.env]\ntype = \"env\"\n\n[secrets]\n");
    let mut leases = String::new();
    let mut env = Vec::new();
    for (lease, user, bucket, access) in targets {
        let (id_var, secret_var) = (
            format!("{}_ID", lease.to_uppercase()),
            format!("{}_SECRET", lease.to_uppercase()),
        );
        config.push_str(&format!(
            "{id_var} = {{ provider = \"env\", value = \"{id_var}\" }}\n{secret_var} = {{ provider = \"env\", value = \"{secret_var}\" }}\n"
        ));
        leases.push_str(&format!(
            "\n[leases.{lease}]\ntype = \"r2\"\nbucket = \"{bucket}\"\naccess = \"{access}\"\nendpoint = \"{}\"\n\
             env_prefix = \"{}_\"\nstatic = {{ access_key_id = {{ secret = \"{id_var}\" }}, secret_access_key = {{ secret = \"{secret_var}\" }} }}\n",
            moto.endpoint,
            lease.to_uppercase()
        ));
        let (id, secret) = match *user {
            "unknown" => ("AKIAUNKNOWNUNKNOWN00".to_string(), moto.users["reader"].1.clone()),
            u if u.ends_with(":wrong-secret") => {
                let name = u.trim_end_matches(":wrong-secret");
                (moto.users[name].0.clone(), moto.users["wide"].1.clone())
            }
            u => moto.users[u].clone(),
        };
        env.push((id_var, id));
        env.push((secret_var, secret));
    }
    let mut sb = Sandbox::new(&(config + &leases));
    for (k, v) in &env {
        sb.set(k, v);
    }
    sb.trust_project();
    sb
}

#[test]
fn moto_preflight_passes_for_least_privilege_users_and_copies() {
    let Some(moto) = moto() else { return };
    let sb = sandbox(
        &moto,
        &[
            ("src", "reader", "moto-source", "read"),
            ("dst", "writer", "moto-dest", "read-write"),
        ],
    );
    let run = sb.run(&[
        "r2",
        "verify",
        "--source",
        "src",
        "--destination",
        "dst",
        "--format",
        "json",
    ]);
    run.assert_code(0);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    for (target, check) in [
        ("src", "credentials"),
        ("src", "read"),
        ("src", "least-privilege"),
        ("src", "scope"),
        ("dst", "read"),
        ("dst", "write"),
        ("dst", "scope"),
    ] {
        assert_eq!(
            check_status(&json, target, check).0,
            "pass",
            "{target}/{check}: {json:#}"
        );
    }
    assert_eq!(check_status(&json, "src", "token").0, "skip");
    // The migration itself, with the injected variables, through moto's IAM.
    let run = sb.run_s3_copy(&["SRC_", "DST_", "cat.jpg"]);
    run.assert_code(0);
    assert!(
        run.stdout().contains("copied moto-source/cat.jpg -> moto-dest/cat.jpg"),
        "{}",
        run.stdout()
    );
    let back = sb.run_s3_copy(&["DST_", "SRC_", "cat.jpg", "copied-back.jpg"]);
    back.assert_code(1);
    assert!(back.stderr().contains("HTTP 403"), "{}", back.stderr());
}

#[test]
fn moto_catches_each_problem_by_name() {
    let Some(moto) = moto() else { return };
    let sb = sandbox(
        &moto,
        &[
            ("overpriv", "overpriv", "moto-source", "read"),
            ("wide", "wide", "moto-dest", "read-write"),
            ("readonly_dest", "reader", "moto-source", "read-write"),
            ("elsewhere", "elsewhere", "moto-source", "read"),
            ("wrong_secret", "reader:wrong-secret", "moto-source", "read"),
            ("unknown", "unknown", "moto-source", "read"),
            ("missing", "wide", "no-such-bucket-here", "read"),
        ],
    );
    let run = sb.run(&["r2", "verify", "--format", "json"]);
    run.assert_code(1);
    let json: Value = serde_json::from_str(&run.stdout()).unwrap();
    let expect = [
        ("overpriv", "least-privilege", "fail", "over-privileged"),
        ("overpriv", "scope", "pass", ""),
        ("wide", "write", "pass", ""),
        ("wide", "scope", "warn", "account-wide"),
        ("readonly_dest", "read", "pass", ""),
        ("readonly_dest", "write", "fail", "read-only"),
        // Every call denied: unknown key, wrong secret or no grant, not a verdict on reading.
        ("elsewhere", "credentials", "fail", "all-denied"),
        ("elsewhere", "read", "skip", ""),
        // moto answers as Amazon S3 does: 403 SignatureDoesNotMatch and
        // 403 InvalidAccessKeyId; nothing else is judged from those denials.
        ("wrong_secret", "credentials", "fail", "signature-mismatch"),
        ("wrong_secret", "read", "skip", ""),
        ("wrong_secret", "least-privilege", "skip", ""),
        ("wrong_secret", "scope", "skip", ""),
        ("unknown", "credentials", "fail", "unknown-access-key"),
        ("unknown", "bucket", "skip", ""),
        ("unknown", "least-privilege", "skip", ""),
        ("unknown", "scope", "skip", ""),
        ("missing", "bucket", "fail", "no-such-bucket"),
    ];
    assert_checks(&json, &expect);
    // The over-privileged probe was written and removed again: listing the
    // source with a key allowed to shows only the seeded objects.
    let overpriv = verify_check(&json, "overpriv", "least-privilege");
    assert!(
        overpriv["detail"].as_str().unwrap().contains("it was deleted again"),
        "{overpriv}"
    );
    let listing = Command::new(&moto.python)
        .args([
            "-c",
            "import boto3,sys; c=boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], \
             aws_secret_access_key=sys.argv[3], region_name='us-east-1'); \
             print(' '.join(o['Key'] for o in c.list_objects_v2(Bucket='moto-source').get('Contents', [])))",
            &moto.endpoint,
            &moto.users["wide"].0,
            &moto.users["wide"].1,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "cat.jpg dog.jpg",
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
}
