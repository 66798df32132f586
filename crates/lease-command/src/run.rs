//! Running one of the lease's shell commands: `sh -c COMMAND` with
//! sesame's environment, the run's resolved secrets and the lease
//! variables; stdin closed; stdout kept for the caller; stderr only ever
//! shown scrubbed of every value sesame knows.

use std::process::Stdio;
use std::time::Duration;

use sesame_core::{BackendContext, BackendError, SecretValue};

/// What the command printed on stdout (it may hold credentials).
pub struct Output {
    /// stdout, as text.
    pub stdout: SecretValue,
}

/// Runs `command` under `sh -c` with `vars` added to the environment.
pub async fn run(
    ctx: &BackendContext,
    field: &str,
    command: &str,
    vars: &[(&str, String)],
    timeout: Duration,
) -> Result<Output, BackendError> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command).env_clear();
    for (name, value) in ctx.env.iter() {
        cmd.env(name, value);
    }
    for (name, value) in ctx.secrets.iter() {
        cmd.env(name, value.expose());
    }
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| {
        BackendError::failed(
            format!("cannot start `sh` for `{field}`: {e}"),
            Some("sesame runs the command with `sh -c`; check that sh is installed".into()),
        )
    })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(result) => result.map_err(|e| BackendError::failed(format!("`{field}` failed to run: {e}"), None))?,
        Err(_) => {
            return Err(BackendError::failed(
                format!(
                    "`{field}` did not finish within {}s (it was stopped)",
                    timeout.as_secs()
                ),
                Some("make the command faster, or raise `timeout` in the lease table".into()),
            ))
        }
    };
    let stdout = SecretValue::new(String::from_utf8_lossy(&output.stdout).into_owned());
    if !output.status.success() {
        let stderr = SecretValue::new(String::from_utf8_lossy(&output.stderr).into_owned());
        let status = match output.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "a signal".to_string(),
        };
        let shown = scrub(&stderr, ctx, &[&stdout]);
        return Err(BackendError::failed(
            format!(
                "`{field}` ended with {status}{}",
                if shown.trim().is_empty() {
                    String::new()
                } else {
                    format!("; its stderr (secrets removed):\n{}", indent(shown.trim_end()))
                }
            ),
            Some(format!("run the `{field}` command by hand to see what it needs")),
        ));
    }
    Ok(Output { stdout })
}

/// `text` with every value sesame holds (resolved secrets, the environment's
/// values, and `extra`, like the command's own stdout) replaced by
/// `<redacted>`. Only values of 4 characters or more are replaced, longest
/// first, so short common words stay readable.
///
/// Replace with core's process-wide scrubber when it lands (issue #11).
pub fn scrub(text: &SecretValue, ctx: &BackendContext, extra: &[&SecretValue]) -> String {
    let mut values: Vec<String> = ctx.secrets.values().map(|v| v.expose().to_string()).collect();
    for (_, value) in ctx.env.iter() {
        values.push(value.to_string());
    }
    for value in extra {
        values.extend(value.expose().lines().map(str::to_string));
        values.push(value.expose().to_string());
        // Credentials in a JSON answer: every string in it.
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(value.expose()) {
            collect_strings(&json, &mut values);
        }
    }
    values.retain(|v| v.trim().chars().count() >= 4);
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    let mut out = text.expose().to_string();
    for value in &values {
        out = out.replace(value.as_str(), "<redacted>");
    }
    out
}

fn collect_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => into.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// The lease variables fnox sets, with sesame-named twins.
pub fn create_vars(duration: Duration, label: &str, lease: &str) -> Vec<(&'static str, String)> {
    let seconds = duration.as_secs().to_string();
    vec![
        ("FNOX_LEASE_DURATION", seconds.clone()),
        ("FNOX_LEASE_LABEL", label.to_string()),
        ("SESAME_LEASE_DURATION", seconds),
        ("SESAME_LEASE_LABEL", label.to_string()),
        ("SESAME_LEASE_NAME", lease.to_string()),
    ]
}

/// The variables of `revoke_command`.
pub fn revoke_vars(id: &str, label: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FNOX_LEASE_ID", id.to_string()),
        ("SESAME_LEASE_ID", id.to_string()),
        ("SESAME_LEASE_LABEL", label.to_string()),
    ]
}
