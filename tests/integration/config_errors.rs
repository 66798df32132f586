//! Bad configs get an error that says what, where (file:line:col) and how
//! to fix it; sesame exits non-zero and runs nothing.

use crate::support::Sandbox;

/// Runs `exec` against `config` and returns stderr, asserting it failed
/// with 125 and ran nothing.
fn exec_error(config: &str) -> String {
    let sb = Sandbox::new(config);
    let marker = sb.path("ran");
    let run = sb.run(&["exec", "--", "touch", marker.to_str().unwrap()]);
    run.assert_code(125);
    assert!(!marker.exists(), "nothing runs on a config error");
    run.stderr()
}

#[track_caller]
fn assert_has(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "expected {part:?} in:\n{text}");
    }
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let err = exec_error("[providers.env]\ntype = \"env\"\nbroken = \n");
    assert_has(&err, &["sesame.toml:3:10", "string values must be quoted"]);
}

#[test]
fn unknown_top_level_key_suggests_the_right_one() {
    let err = exec_error("[providers.env]\ntype = \"env\"\n\n[secret]\nA = { value = \"X\" }\n");
    assert_has(
        &err,
        &["sesame.toml:4:2", "unknown key `secret`", "did you mean `secrets`?"],
    );
}

#[test]
fn unknown_secret_key_suggests_the_right_one() {
    let err = exec_error("[providers.env]\ntype = \"env\"\n\n[secrets]\nA = { provder = \"env\", value = \"X\" }\n");
    assert_has(
        &err,
        &["sesame.toml:5:7", "unknown key `provder`", "did you mean `provider`?"],
    );
}

#[test]
fn unknown_provider_type_lists_registered_types() {
    let err = exec_error("[providers.env]\ntype = \"evn\"\n\n[secrets]\nA = { value = \"X\" }\n");
    assert_has(
        &err,
        &[
            "sesame.toml:2:1",
            "unknown provider type `evn`",
            "did you mean `env`?",
            "registered provider types:",
        ],
    );
}

#[test]
fn provider_without_type() {
    let err = exec_error("[providers.env]\nprefix = \"A_\"\n");
    assert_has(
        &err,
        &[
            "sesame.toml:1:",
            "[providers.env] has no `type`",
            "add `type = \"...\"`",
        ],
    );
}

#[test]
fn secret_with_an_unconfigured_provider() {
    let err = exec_error("[providers.env]\ntype = \"env\"\n\n[secrets]\nA = { provider = \"envv\", value = \"X\" }\n");
    assert_has(
        &err,
        &[
            "sesame.toml:5:7",
            "uses provider `envv`, which is not configured",
            "did you mean `env`?",
        ],
    );
}

/// fnox's environment fallback: a secret with neither `value` nor
/// `default` reads `$A`; unset, `if_missing` (error by default) decides.
#[test]
fn secret_with_neither_value_nor_default_reads_the_environment() {
    let err = exec_error("[providers.env]\ntype = \"env\"\n\n[secrets]\nA = { description = \"nothing\" }\n");
    assert_has(
        &err,
        &["secret `A`: it has no `value` and environment variable `A` is not set"],
    );
}

#[test]
fn secret_without_provider_when_several_exist() {
    let err = exec_error(
        "[providers.a]\ntype = \"env\"\n\n[providers.b]\ntype = \"env\"\n\n[secrets]\nA = { value = \"X\" }\n",
    );
    assert_has(
        &err,
        &[
            "sesame.toml:8:1",
            "names no provider and there is no default",
            "default_provider",
        ],
    );
}

#[test]
fn bad_if_missing_value_lists_the_choices() {
    let err =
        exec_error("[providers.env]\ntype = \"env\"\n\n[secrets]\nA = { value = \"X\", if_missing = \"maybe\" }\n");
    assert_has(
        &err,
        &[
            "sesame.toml:5:33",
            "unknown value `maybe`",
            "expected one of: error, warn, ignore",
        ],
    );
}

#[test]
fn unknown_backend_field_is_located_in_the_backend_table() {
    let err = exec_error("[providers.env]\ntype = \"env\"\nprefx = \"P_\"\n\n[secrets]\nA = { value = \"X\" }\n");
    assert_has(
        &err,
        &[
            "sesame.toml:3:1",
            "[providers.env]: unknown key `prefx`",
            "did you mean `prefix`?",
        ],
    );
}

#[test]
fn unknown_placeholder_names_it_and_where() {
    let err = exec_error("[providers.env]\ntype = \"env\"\nprefix = \"{nope}_\"\n\n[secrets]\nA = { value = \"X\" }\n");
    assert_has(
        &err,
        &["sesame.toml:3:1", "placeholder `{nope}` in `prefix` has no value"],
    );
}

#[test]
fn unknown_reference_in_a_default_names_it() {
    let err = exec_error("[secrets]\nA = { default = \"${NOT_ANYWHERE}\" }\n");
    assert_has(
        &err,
        &["secret `A`", "`${NOT_ANYWHERE}` in `default` names `NOT_ANYWHERE`"],
    );
}

#[test]
fn secrets_in_a_cycle_are_named() {
    let err = exec_error("[secrets]\nA = { default = \"${B}\" }\nB = { default = \"${A}\" }\n");
    assert_has(&err, &["cycle", "A -> B"]);
}

#[test]
fn unknown_lease_type_is_located() {
    let err = exec_error("[leases.cf]\ntype = \"cloudflar\"\n");
    assert_has(
        &err,
        &["sesame.toml:2:1", "unknown lease type `cloudflar`", "[leases.cf]"],
    );
}

#[test]
fn unknown_profile_lists_known_ones() {
    let sb = Sandbox::new(
        "[profiles.prod.secrets]\nA = { default = \"x\" }\n[profiles.staging.secrets]\nB = { default = \"y\" }\n",
    );
    let run = sb.run(&["-P", "prdo", "exec", "--", "true"]);
    run.assert_code(125);
    assert_has(
        &run.stderr(),
        &["unknown profile `prdo`", "known profiles: prod, staging"],
    );
}

#[test]
fn default_provider_that_does_not_exist() {
    let err = exec_error("default_provider = \"vault\"\n[providers.env]\ntype = \"env\"\n");
    assert_has(&err, &["default_provider names `vault`", "configured providers: env"]);
}

#[test]
fn explicit_config_that_does_not_exist() {
    let sb = Sandbox::new("");
    let run = sb.run(&["-c", "missing.toml", "list"]);
    run.assert_code(1);
    assert_has(&run.stderr(), &["missing.toml does not exist (named by --config)"]);
}

#[test]
fn secret_names_must_be_variable_names() {
    let err = exec_error("[secrets]\n\"A=B\" = { default = \"x\" }\n");
    assert_has(
        &err,
        &[
            "sesame.toml:2:1",
            "secret name `A=B` is not a valid environment variable name",
        ],
    );
}

#[test]
fn check_validates_unused_providers_too() {
    let sb = Sandbox::new("[providers.env]\ntype = \"env\"\n\n[providers.other]\ntype = \"env\"\nprefx = \"P_\"\n");
    let run = sb.run(&["check"]);
    run.assert_code(1);
    assert_has(&run.stdout(), &["other", "unknown key `prefx`"]);
}
