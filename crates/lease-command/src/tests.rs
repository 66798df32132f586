//! The backend against real `sh` commands.

use std::sync::Arc;

use sesame_core::{EnvSnapshot, SecretValue};

use super::*;

fn ctx() -> BackendContext {
    let path = std::env::var("PATH").unwrap_or_default();
    BackendContext::new(Arc::new(EnvSnapshot::from_pairs([
        ("PATH", path.as_str()),
        ("PARENT", "parent-canary-secret"),
    ])))
}

fn lease(table: &str) -> Box<dyn LeaseBackend> {
    CommandLease::from_config(&BackendConfig::for_test("custom", "command", table), &ctx()).unwrap()
}

fn request() -> LeaseRequest {
    LeaseRequest {
        lease: "custom".into(),
        label: "sesame custom host 0123".into(),
        duration: Duration::from_secs(600),
    }
}

#[tokio::test]
async fn create_gets_fnox_and_sesame_variables_and_revoke_gets_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("revoked");
    let create = r#"printf '{"credentials":{"TOK":"%s-%s-%s"},"lease_id":"id-%s"}' "$FNOX_LEASE_DURATION" "$SESAME_LEASE_NAME" "$PARENT" "$FNOX_LEASE_LABEL""#;
    let table = format!(
        "create_command = '''{create}'''\nrevoke_command = 'echo \"$FNOX_LEASE_ID $SESAME_LEASE_ID\" > {}'",
        log.display()
    );
    let backend = lease(&table);
    let grant = backend.create(&ctx(), &request()).await.unwrap();
    assert_eq!(grant.env["TOK"].expose(), "600-custom-parent-canary-secret");
    assert_eq!(grant.id, "id-sesame custom host 0123");
    assert!(grant.revocable);
    let revoke = RevokeRequest {
        id: Some(grant.id.clone()),
        label: "sesame custom host 0123".into(),
        data: serde_json::Value::Null,
    };
    assert!(backend.revoke(&ctx(), &revoke).await.unwrap());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().trim(),
        "id-sesame custom host 0123 id-sesame custom host 0123"
    );
}

#[tokio::test]
async fn failure_shows_stderr_scrubbed() {
    let backend = lease(
        r#"create_command = 'echo "denied for $PARENT and tok-printed-0042" >&2; echo "{\"credentials\":{\"A\":\"tok-printed-0042\"}}"; exit 3'"#,
    );
    let err = backend.create(&ctx(), &request()).await.unwrap_err().to_string();
    assert!(
        err.contains("exit status 3") && err.contains("denied for <redacted>"),
        "{err}"
    );
    assert!(
        !err.contains("parent-canary-secret") && !err.contains("tok-printed-0042"),
        "{err}"
    );
}

#[tokio::test]
async fn timeout_stops_the_command() {
    let backend = lease("create_command = 'sleep 5'\ntimeout = \"1s\"");
    let err = backend.create(&ctx(), &request()).await.unwrap_err().to_string();
    assert!(err.contains("did not finish within 1s"), "{err}");
}

#[tokio::test]
async fn no_revoke_command_means_not_revocable() {
    let backend = lease(r#"create_command = 'echo "{\"credentials\":{\"A\":\"v\"}}"'"#);
    let grant = backend.create(&ctx(), &request()).await.unwrap();
    assert!(!grant.revocable);
    assert_eq!(grant.env["A"], SecretValue::new("v"));
}

#[test]
fn config_errors_are_located() {
    let err = CommandLease::from_config(&BackendConfig::for_test("c", "command", "create_command = ' '"), &ctx())
        .err()
        .unwrap();
    assert!(err.to_string().contains("create_command"), "{err}");
    let err = CommandLease::from_config(
        &BackendConfig::for_test("c", "command", "create_command = 'x'\ntimeout = \"soon\""),
        &ctx(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("timeout"), "{err}");
}

#[test]
fn registered_schema_covers_every_field_and_commands_need_trust() {
    let registration = sesame_core::lease::find_lease_type("command").expect("registered");
    sesame_core::schema::check_table_schema::<CommandConfig>(&(registration.schema)()).unwrap();
    assert_eq!(registration.trust_sensitive, ["create_command", "revoke_command"]);
}
