//! Reading `create_command`'s answer: `{"credentials": {NAME: "value"},
//! "expires_at": "RFC 3339", "lease_id": "..."}`. Errors never quote it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use sesame_core::{BackendError, SecretValue};

/// The parsed answer.
pub struct Answer {
    /// Variables for the command.
    pub credentials: BTreeMap<String, SecretValue>,
    /// When they stop working, if the command said.
    pub expires_at: Option<SystemTime>,
    /// The command's id for the lease, if it gave one.
    pub lease_id: Option<String>,
}

const SHAPE: &str = "print one JSON object: {\"credentials\": {\"NAME\": \"value\"}, \"expires_at\": \"2026-01-01T00:00:00Z\", \"lease_id\": \"...\"} (expires_at and lease_id are optional)";

fn bad(message: String) -> BackendError {
    BackendError::failed(message, Some(SHAPE.into()))
}

/// Parses stdout.
pub fn parse(stdout: &SecretValue) -> Result<Answer, BackendError> {
    let json: serde_json::Value = serde_json::from_str(stdout.expose()).map_err(|e| {
        bad(format!(
            "create_command did not print valid JSON ({:?} error at line {} column {}; output not shown)",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let Some(object) = json.as_object() else {
        return Err(bad("create_command printed JSON that is not an object".into()));
    };
    let Some(credentials) = object.get("credentials") else {
        return Err(bad("create_command's JSON has no `credentials` key".into()));
    };
    let Some(credentials) = credentials.as_object() else {
        return Err(bad("`credentials` in create_command's JSON is not an object".into()));
    };
    let mut env = BTreeMap::new();
    for (name, value) in credentials {
        if !sesame_core::resolve::is_variable_name(name) {
            return Err(bad(format!(
                "`credentials` key `{name}` is not a valid environment variable name"
            )));
        }
        let Some(text) = value.as_str() else {
            return Err(bad(format!("credential `{name}` is not a string")));
        };
        env.insert(name.clone(), SecretValue::new(text));
    }
    if env.is_empty() {
        return Err(bad("`credentials` in create_command's JSON is empty".into()));
    }
    let expires_at = match object.get("expires_at") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(rfc3339(text).ok_or_else(|| {
            bad(format!(
                "`expires_at` is not an RFC 3339 time (like 2026-01-01T00:00:00Z): `{text}`"
            ))
        })?),
        Some(_) => return Err(bad("`expires_at` is not a string".into())),
    };
    let lease_id = match object.get("lease_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(_) => return Err(bad("`lease_id` is not a non-empty string".into())),
    };
    Ok(Answer {
        credentials: env,
        expires_at,
        lease_id,
    })
}

/// An RFC 3339 time with `Z` or a `±HH:MM` offset (`aws sts` writes
/// `+00:00`).
fn rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Some(base) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return humantime::parse_rfc3339_weak(base).ok();
    }
    let (base, offset) = text.split_at(text.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return humantime::parse_rfc3339_weak(text).ok(),
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let seconds = sign * (hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60);
    let local = humantime::parse_rfc3339_weak(base).ok()?;
    let magnitude = std::time::Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        local.checked_sub(magnitude)
    } else {
        local.checked_add(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> Result<Answer, String> {
        parse(&SecretValue::new(json)).map_err(|e| e.to_string())
    }

    #[test]
    fn full_answer_reads() {
        let a = answer(
            r#"{"credentials":{"MY_TOKEN":"tok-1","B":"x"},"expires_at":"2030-01-15T10:00:00Z","lease_id":"l-1"}"#,
        )
        .unwrap();
        assert_eq!(a.credentials["MY_TOKEN"].expose(), "tok-1");
        assert_eq!(a.lease_id.as_deref(), Some("l-1"));
        assert_eq!(a.expires_at, humantime::parse_rfc3339("2030-01-15T10:00:00Z").ok());
        let b = answer(r#"{"credentials":{"A":"v"},"expires_at":"2030-01-15T12:00:00+02:00"}"#).unwrap();
        assert_eq!(b.expires_at, a.expires_at);
    }

    #[test]
    fn errors_never_quote_the_output() {
        for (json, expect) in [
            ("tok-canary-1 not json", "not print valid JSON"),
            (r#"{"creds":{"A":"tok-canary-1"}}"#, "no `credentials` key"),
            (r#"{"credentials":{}}"#, "is empty"),
            (r#"{"credentials":{"A":1}}"#, "not a string"),
            (
                r#"{"credentials":{"A":"tok-canary-1"},"expires_at":"soon"}"#,
                "RFC 3339",
            ),
        ] {
            let err = answer(json).err().unwrap();
            assert!(err.contains(expect), "{json}: {err}");
            assert!(!err.contains("tok-canary-1"), "{err}");
        }
    }
}
