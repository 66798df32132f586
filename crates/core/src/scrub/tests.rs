//! The scrubber's guarantee: a value handed to it never appears in its
//! output, whatever else the values have in common and however the text
//! around them quotes them.

use proptest::prelude::*;

use super::*;

/// Every way a value is spelled in the text the tests build.
fn spellings(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    vec![
        value.to_string(),
        json.clone(),
        json[1..json.len() - 1].to_string(),
        format!("{value:?}"),
        format!("'{}'", value.replace('\'', "'\\''")),
    ]
}

fn assert_clean(out: &str, values: &[String]) {
    for value in values
        .iter()
        .filter(|v| v.len() >= MIN_LEN && !MARKER.contains(v.as_str()))
    {
        assert!(!out.contains(value.as_str()), "value {value:?} survives in {out:?}");
    }
}

#[test]
fn overlapping_and_nested_values() {
    let values = ["abcd1234", "1234wxyz", "cd12", "abcd1234efgh"];
    for v in values {
        register(v);
    }
    let text = "x abcd1234wxyz y abcd1234efgh z cd12";
    let out = scrub(text);
    assert_clean(&out, &values.map(String::from));
    assert!(
        out.starts_with("x ") && out.contains(" y ") && out.contains(" z "),
        "{out}"
    );
}

#[test]
fn multi_line_value_in_json_and_line_by_line() {
    let pem = "-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END KEY-----";
    register(pem);
    let json = serde_json::json!({ "error": pem }).to_string();
    assert!(!scrub(&json).contains("QUJDREVGR0hJSktMTU5PUA=="));
    let logged = "line: QUJDREVGR0hJSktMTU5PUA==\n";
    assert!(!scrub(logged).contains("QUJDREVGR0hJSktMTU5PUA=="));
}

#[test]
fn short_values_are_not_registered_and_text_without_values_is_untouched() {
    register("on");
    assert_eq!(scrub("turn it on"), "turn it on");
}

#[test]
fn truncation_cuts_after_scrubbing() {
    register("Bearer-very-long-token-value-0123456789");
    let body = format!(
        "{{\"errors\":[{{\"message\":\"bad Authorization: Bearer-very-long-token-value-0123456789\"}}]}}{}",
        "x".repeat(1000)
    );
    let out = scrub_truncated(&body, 200);
    assert!(!out.contains("0123456789"), "{out}");
    assert!(out.ends_with("... (cut)") && out.chars().count() < 220, "{out}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Values that overlap, contain each other, span lines and need
    /// quoting, mixed into text in every spelling: none survives.
    #[test]
    fn no_registered_value_survives(
        values in prop::collection::vec("[a-d'\"\\\\\n $<>]{1,12}", 1..6),
        fillers in prop::collection::vec("[a-e<>'\"\n ]{0,6}", 0..12),
        picks in prop::collection::vec((0usize..6, 0usize..5), 0..12),
    ) {
        for v in &values {
            register(v);
        }
        let mut text = String::new();
        for (i, (which, how)) in picks.iter().enumerate() {
            text.push_str(fillers.get(i).map_or("", String::as_str));
            let value = &values[which % values.len()];
            text.push_str(&spellings(value)[*how]);
        }
        let out = scrub(&text);
        assert_clean(&out, &values);
        for value in values.iter().filter(|v| v.len() >= MIN_LEN && v.contains(['\n', '\r'])) {
            for line in value.split(['\n', '\r']).map(str::trim).filter(|l| l.len() >= MIN_LEN && !MARKER.contains(l)) {
                prop_assert!(!out.contains(line), "line {:?} of {:?} survives in {:?}", line, value, out);
            }
        }
    }
}

#[test]
fn credential_names_are_recognised_in_any_case() {
    for name in [
        "GITHUB_TOKEN",
        "github_token",
        "Db_Password",
        "MYSQL_PASSWD",
        "CLIENT_SECRET",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SSH_PRIVATE_KEY",
        "STRIPE_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "R2_KEY",
        "npm_pat",
    ] {
        assert!(is_credential_name(name), "{name} names a credential");
    }
    for name in ["PATH", "HOME", "MONKEY", "KEYBOARD", "PATTERN", "KEY", "_PA", ""] {
        assert!(!is_credential_name(name), "{name} names no credential");
    }
}

#[test]
fn credential_named_variables_of_an_environment_are_scrubbed() {
    let vars: BTreeMap<String, String> = [
        ("DEPLOY_TOKEN", "tok-env-1f2e3d4c5b6a"),
        ("build_password", "pw-env-9a8b7c6d5e4f"),
        ("PROJECT_DIR", "/srv/project-env-7e6d5c"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    register_credential_variables(Arc::new(vars));
    let text = scrub("tok-env-1f2e3d4c5b6a and pw-env-9a8b7c6d5e4f in /srv/project-env-7e6d5c");
    assert!(!text.contains("tok-env-1f2e3d4c5b6a"), "{text}");
    assert!(!text.contains("pw-env-9a8b7c6d5e4f"), "{text}");
    assert!(text.contains("/srv/project-env-7e6d5c"), "{text}");
}
