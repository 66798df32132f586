//! The S3 client against the in-process S3 server: the probe, the verify
//! engine, the wait-until-live loop, and the helper's request loop.

use std::sync::Arc;
use std::time::Duration;

use sesame_core::{BackendConfig, BackendContext, EnvSnapshot, SecretValue};
use sesame_lease_r2::config::{self, R2Settings};
use sesame_lease_r2::s3::protocol::{Connection, Operation, Request, Response};
use sesame_lease_r2::s3::{self, S3Credentials, Transport, S3};
use sesame_lease_r2::verify::{self, Probe, Role, Status, Target, TokenCheck};
use sesame_test_support::s3::{Access, Grant, KeyRecord, S3Standin};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::{serve, Local};

fn local() -> Arc<dyn Transport> {
    Arc::new(Local::default())
}

fn credentials(id: &str, secret: &str) -> S3Credentials {
    S3Credentials {
        access_key_id: id.into(),
        secret_access_key: SecretValue::new(secret),
        session_token: None,
    }
}

fn settings(body: &str) -> R2Settings {
    let text = format!("account_id = \"0123456789abcdef0123456789abcdef\"\nbucket = \"photos\"\n{body}");
    let ctx = BackendContext::new(Arc::new(EnvSnapshot::default()));
    config::parse(&BackendConfig::for_test("t", "r2", &text), &ctx).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_never_overwrites_an_existing_object() {
    let server = S3Standin::start_async().await;
    server.put_object("photos", "precious.jpg", b"do not touch");
    let (id, secret) = server.new_key(&[Grant::bucket("photos", Access::ObjectReadWrite)]);
    let s3 = S3::new(
        local(),
        &server.endpoint(),
        &credentials(&id, &secret),
        Duration::from_secs(5),
        1,
    );
    let probe = verify::write_probe(&s3, "photos", "precious.jpg").await;
    assert!(matches!(probe, Probe::Existed), "{probe:?}");
    assert_eq!(
        server.object("photos", "precious.jpg").as_deref(),
        Some(&b"do not touch"[..])
    );
    // A new key is written, read back and removed.
    let probe = verify::write_probe(&s3, "photos", "fresh").await;
    assert!(
        matches!(
            probe,
            Probe::Written {
                read_back: Ok(true),
                deleted: Ok(())
            }
        ),
        "{probe:?}"
    );
    assert_eq!(server.object_keys("photos"), ["precious.jpg"]);
    // The conditional header went out on every PUT.
    assert!(server.requests().iter().filter(|r| r.method == "PUT").count() == 2);
    // The server's Date was seen.
    assert!(
        s3.clock.skew_secs().is_some_and(|s| s.abs() < 5),
        "{:?}",
        s3.clock.skew_secs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_checked_against_the_configured_access() {
    let server = S3Standin::start_async().await;
    server.create_bucket("photos");
    let (id, secret) = server.new_key(&[Grant::bucket("photos", Access::ObjectReadWrite)]);
    let target = Target {
        name: "t".into(),
        settings: settings(&format!(
            "access = \"read-write\"\nendpoint = \"{}\"",
            server.endpoint()
        )),
        credentials: credentials(&id, &secret),
        origin: "static".into(),
        token: TokenCheck::NotHeld,
        role: Some(Role::Source),
    };
    let checks = verify::verify(&[target], local(), Duration::from_secs(5)).await;
    let role = checks.iter().find(|c| c.check == "role").unwrap();
    assert_eq!((role.status, role.cause), (Status::Fail, Some("source-not-read-only")));
    // A source is held to what a source needs, whatever it is configured
    // with: the advice agrees with the role's (read only).
    assert!(!checks.iter().any(|c| c.check == "write"), "{checks:?}");
    let least = checks.iter().find(|c| c.check == "least-privilege").unwrap();
    assert_eq!(
        (least.status, least.cause),
        (Status::Fail, Some("over-privileged")),
        "{least:?}"
    );
    let scope = checks.iter().find(|c| c.check == "scope").unwrap();
    assert_eq!(scope.status, Status::Pass, "{scope:?}");
    assert!(server.object_keys("photos").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_new_credentials_backs_off_until_they_work() {
    let server = S3Standin::start_async().await;
    server.create_bucket("photos");
    // A key that only works 700 ms from now: 401 at first.
    server.insert_key(KeyRecord {
        access_key_id: "k".repeat(32),
        secret: "s".repeat(64),
        grants: vec![Grant::bucket("photos", Access::ObjectRead)],
        session_token: None,
        live_from: std::time::Instant::now() + Duration::from_millis(700),
        expires_at: None,
        origin: "test".into(),
    });
    let key = credentials(&"k".repeat(32), &"s".repeat(64));
    let s3 = S3::new(local(), &server.endpoint(), &key, Duration::from_secs(5), 1);
    let (waited, attempts) = s3::wait_until_live(&s3, "photos", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        waited >= Duration::from_millis(700) && attempts >= 2,
        "{waited:?} {attempts}"
    );
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.starts_with(&[401]) && statuses.ends_with(&[200]),
        "{statuses:?}"
    );
    // Bounded: a key that never works gives up.
    let never = credentials(&"n".repeat(32), &"s".repeat(64));
    let s3 = S3::new(local(), &server.endpoint(), &never, Duration::from_secs(5), 1);
    let err = s3::wait_until_live(&s3, "photos", Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 401"), "{err}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_failure() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s3 = S3::new(
        local(),
        &format!("http://127.0.0.1:{port}"),
        &credentials("k", "s"),
        Duration::from_secs(2),
        1,
    );
    let failure = s3.head_bucket("photos").await.unwrap_err();
    assert!(failure.transport.is_some() && failure.status.is_none(), "{failure:?}");
}

/// The helper's loop over an in-memory pipe: concurrent requests are all
/// answered, by id; a line that is not a request gets id 0; the loop ends
/// when its input does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_answers_every_request_by_id() {
    let server = S3Standin::start_async().await;
    server.create_bucket("photos");
    server.put_object("photos", "a", b"1");
    let (id, secret) = server.new_key(&[Grant::bucket("photos", Access::ObjectRead)]);
    let connection = Connection {
        endpoint: server.endpoint(),
        access_key_id: id,
        secret_access_key: secret,
        session_token: None,
        timeout_ms: 5000,
        attempts: 1,
    };
    let (mut ours, theirs) = tokio::io::duplex(1 << 16);
    let (their_in, their_out) = tokio::io::split(theirs);
    let serving = tokio::spawn(serve(local(), BufReader::new(their_in), their_out));
    let operations = [
        Operation::ListObjects {
            bucket: "photos".into(),
            max_keys: 1,
        },
        Operation::HeadBucket { bucket: "nope".into() },
        Operation::ListBuckets,
    ];
    for (i, operation) in operations.into_iter().enumerate() {
        let request = Request {
            id: 10 + i as u64,
            connection: connection.clone(),
            operation,
        };
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        ours.write_all(&line).await.unwrap();
    }
    ours.write_all(b"not json\n").await.unwrap();
    let (read_half, mut write_half) = tokio::io::split(ours);
    write_half.shutdown().await.unwrap();
    let mut lines = BufReader::new(read_half).lines();
    let mut answers = std::collections::BTreeMap::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let response: Response = serde_json::from_str(&line).unwrap();
        answers.insert(response.id, response.reply.result);
    }
    serving.await.unwrap().unwrap();
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[&10].as_ref().unwrap().count, Some(1));
    // A bucket outside the key's grants: denied, like R2.
    assert_eq!(answers[&11].as_ref().unwrap_err().status, Some(403), "{answers:?}");
    assert!(answers[&12].as_ref().unwrap_err().is_denied(), "{answers:?}");
    assert!(answers[&0].as_ref().unwrap_err().transport.is_some(), "{answers:?}");
}
