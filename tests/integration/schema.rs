//! `sesame schema`: the JSON Schema editors use for sesame.toml. Real
//! configs (the example, the seed fixtures, every complete TOML example in
//! the docs, one config per backend with every field) must validate; broken
//! ones must not. For the configs written here, the loader (`sesame check
//! --no-resolve` in a trusted project) must agree with the schema.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::Sandbox;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What the real binary prints.
fn printed_schema() -> String {
    let run = Sandbox::new("").run(&["schema"]);
    run.assert_code(0);
    run.stdout()
}

/// The binary's schema, compiled once per test.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn new() -> Self {
        let schema: Value = serde_json::from_str(&printed_schema()).expect("sesame schema prints JSON");
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("file:///sesame.schema.json", schema)
            .expect("schema added");
        let index = compiler
            .compile("file:///sesame.schema.json", &mut schemas)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
        Self { schemas, index }
    }

    /// `Err` with the validator's explanation when `toml_text` does not
    /// validate.
    fn check(&self, toml_text: &str) -> Result<(), String> {
        let table: toml::Table = toml::from_str(toml_text).map_err(|e| format!("not TOML: {e}"))?;
        let json = serde_json::to_value(table).expect("TOML converts to JSON");
        self.schemas.validate(&json, self.index).map_err(|e| format!("{e:#}"))
    }
}

/// Runs `sesame check --no-resolve` on `config` in a trusted project.
fn loader_accepts(config: &str) -> (bool, String) {
    let sandbox = Sandbox::new(config);
    sandbox.run(&["trust"]);
    let run = sandbox.run(&["check", "--no-resolve"]);
    (run.code() == Some(0), format!("{}{}", run.stdout(), run.stderr()))
}

/// Every complete ```toml block of the docs. A block with a `# ...` line
/// ("... as above, plus:") is a fragment, and one that starts with
/// `# .taplo.toml` is another tool's config.
fn doc_examples() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut files);
    files.sort();
    let mut blocks = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines().enumerate();
        while let Some((number, line)) = lines.next() {
            if line.trim() != "```toml" {
                continue;
            }
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| l.trim() != "```")
                .collect();
            let fragment = body.iter().any(|l| l.trim_start().starts_with("# ..."));
            if fragment || body.first().is_some_and(|l| l.trim() == "# .taplo.toml") {
                continue;
            }
            let name = format!("{}:{}", file.strip_prefix(root()).unwrap().display(), number + 1);
            blocks.push((name, body.join("\n")));
        }
    }
    blocks
}

/// One config per backend (and mode) that sets every field it can.
const COMPLETE: &[(&str, &str)] = &[
    (
        "core keys, env provider, profiles",
        r#"
root = true
default_provider = "env"
if_missing = "warn"

[providers.env]
type = "env"
prefix = "APP_"

[secrets]
API_KEY = { provider = "env", value = "KEY", default = "dev", description = "the key", if_missing = "ignore" }
PLAIN = { default = "${API_KEY}-x" }

[profiles.prod]
default_provider = "env"
if_missing = "error"
[profiles.prod.providers.env]
type = "env"
[profiles.prod.secrets]
API_KEY = { value = "PROD_KEY" }
"#,
    ),
    (
        "1password, op CLI",
        r#"
[providers.op]
type = "1password"
vault = "Development"
account = "my.1password.com"
token = { secret = "OP_TOKEN" }
op_path = "/usr/local/bin/op"
timeout = "20s"
concurrency = 4

[secrets]
OP_TOKEN = { default = "t" }
"#,
    ),
    (
        "1password, Connect",
        r#"
[providers.op]
type = "1password"
vault = "Development"
connect_host = "http://localhost:8080"
connect_token = "literal-token"
"#,
    ),
    (
        "cloudflare, every field",
        r#"
[leases.cf]
type = "cloudflare"
reuse = false
token_type = "account"
account_id = "0123456789abcdef0123456789abcdef"
env_var = "CF_TOKEN"
duration = "2h30m"
api_base = "https://api.cloudflare.com/client/v4"

[[leases.cf.policies]]
effect = "deny"
resources = { "com.cloudflare.api.account.{account_id}" = { "com.cloudflare.api.account.zone.*" = "*" } }
[[leases.cf.policies.permission_groups]]
id = "c8fed203ed3043cba015a93ad1616f1f"
name = "Zone Read"
"#,
    ),
    (
        "r2, token mode",
        r#"
[leases.src]
type = "r2"
account_id = "0123456789abcdef0123456789abcdef"
bucket = "photos"
access = "read-write"
jurisdiction = "eu"
duration = "6h"
mode = "token"
token_type = "account"
endpoint = "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
api_base = "https://api.cloudflare.com/client/v4"
env_prefix = "SRC_"
env = { AWS_REGION = "SRC_REGION", R2_BUCKET = "SRC_BUCKET_NAME" }
wait = "0s"
"#,
    ),
    (
        "r2, temporary mode",
        r#"
[leases.tmp]
type = "r2"
account_id = "0123456789abcdef0123456789abcdef"
bucket = "photos"
mode = "temporary"
jurisdiction = "fedramp"
parent_access_key_id = "0123456789abcdef"
prefixes = ["2024/", "2025/"]
"#,
    ),
    (
        "r2, static credentials",
        r#"
[secrets]
KEY_ID = { default = "k" }
SECRET = { default = "s" }
SESSION = { default = "t" }

[leases.old]
type = "r2"
bucket = "photos"
endpoint = "http://127.0.0.1:9000"
static = { access_key_id = { secret = "KEY_ID" }, secret_access_key = { secret = "SECRET" }, session_token = { secret = "SESSION" } }
"#,
    ),
];

/// Configs the loader refuses, and the schema must too.
const BROKEN: &[(&str, &str)] = &[
    ("unknown top-level key", "defualt_provider = \"env\"\n"),
    ("unknown key in a secret", "[secrets]\nA = { valeu = \"x\" }\n"),
    ("if_missing not one of the three", "if_missing = \"maybe\"\n"),
    ("unknown provider type", "[providers.v]\ntype = \"vault\"\n"),
    ("provider without type", "[providers.e]\nprefix = \"A_\"\n"),
    ("unknown key in a provider table", "[providers.e]\ntype = \"env\"\nprefx = \"A_\"\n"),
    ("wrong type in a provider field", "[providers.op]\ntype = \"1password\"\nconcurrency = \"many\"\n"),
    ("concurrency below 1", "[providers.op]\ntype = \"1password\"\nconcurrency = 0\n"),
    (
        "credential table with a misspelt key",
        "[providers.op]\ntype = \"1password\"\ntoken = { secert = \"T\" }\n",
    ),
    ("unknown lease type", "[leases.x]\ntype = \"github\"\n"),
    (
        "unknown key in a lease table",
        "[leases.cf]\ntype = \"cloudflare\"\nduraton = \"1h\"\n",
    ),
    ("reuse not a boolean", "[leases.cf]\ntype = \"cloudflare\"\nreuse = \"yes\"\n"),
    (
        "wrong type for a lease field",
        "[leases.cf]\ntype = \"cloudflare\"\nduration = 3600\n",
    ),
    (
        "token_type not user or account",
        "[leases.cf]\ntype = \"cloudflare\"\ntoken_type = \"team\"\n",
    ),
    (
        "policy without permission groups",
        "[leases.cf]\ntype = \"cloudflare\"\n[[leases.cf.policies]]\nresources = { \"a\" = \"*\" }\n",
    ),
    (
        "unknown key in a policy",
        "[leases.cf]\ntype = \"cloudflare\"\n[[leases.cf.policies]]\nresources = { \"a\" = \"*\" }\npermission_groups = [{ id = \"g\" }]\neffects = \"allow\"\n",
    ),
    (
        "r2 without bucket",
        "[leases.b]\ntype = \"r2\"\naccount_id = \"0123456789abcdef0123456789abcdef\"\n",
    ),
    (
        "r2 access not read or read-write",
        "[leases.b]\ntype = \"r2\"\naccount_id = \"0123456789abcdef0123456789abcdef\"\nbucket = \"photos\"\naccess = \"write\"\n",
    ),
    (
        "r2 env renames something that is not an output",
        "[leases.b]\ntype = \"r2\"\naccount_id = \"0123456789abcdef0123456789abcdef\"\nbucket = \"photos\"\nenv = { AWS_KEY = \"K\" }\n",
    ),
    (
        "unknown key in r2 static",
        "[leases.b]\ntype = \"r2\"\nbucket = \"photos\"\nendpoint = \"http://h\"\nstatic = { token = \"t\", acess_key_id = \"k\" }\n",
    ),
    (
        "profile with a key only the base file has",
        "[profiles.ci]\nroot = true\n",
    ),
];

#[test]
fn schema_command_prints_the_committed_copy() {
    let printed = printed_schema();
    let committed = std::fs::read_to_string(root().join("docs/reference/sesame.schema.json")).unwrap();
    assert!(
        printed == committed,
        "docs/reference/sesame.schema.json differs from `sesame schema`\n  hint: run `cargo xtask docs` and commit the result"
    );
    let schema: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    // Every registered type contributes a variant: what `sesame backends` lists.
    let listed: Value =
        serde_json::from_str(&Sandbox::new("").run(&["backends", "--format", "json"]).stdout()).unwrap();
    for backend in listed["backends"].as_array().unwrap() {
        let variants = schema["definitions"][backend["kind"].as_str().unwrap()]["oneOf"]
            .as_array()
            .unwrap();
        assert!(
            variants
                .iter()
                .any(|v| v["properties"]["type"]["const"] == backend["type"]),
            "{backend} has no part in the schema"
        );
    }
}

#[test]
fn example_seed_and_doc_configs_validate() {
    let validator = Validator::new();
    let mut configs: Vec<(String, String)> = Vec::new();
    let mut files = vec![root().join("examples/quickstart/sesame.toml")];
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/seed"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 6, "{seeds:?}");
    files.extend(seeds);
    for file in files {
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        configs.push((name, std::fs::read_to_string(&file).unwrap()));
    }
    let docs = doc_examples();
    assert!(docs.len() >= 10, "found only {} TOML examples in the docs", docs.len());
    configs.extend(docs);
    let failures: Vec<String> = configs
        .iter()
        .filter_map(|(name, text)| validator.check(text).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "valid configs the schema rejects:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn complete_configs_validate_and_load() {
    let validator = Validator::new();
    for (name, config) in COMPLETE {
        let (loads, output) = loader_accepts(config);
        assert!(loads, "{name}: the loader refuses it:\n{output}");
        if let Err(e) = validator.check(config) {
            panic!("{name}: the loader accepts it, the schema does not:\n{e}");
        }
    }
}

#[test]
fn broken_configs_are_rejected_by_schema_and_loader() {
    let validator = Validator::new();
    for (name, config) in BROKEN {
        assert!(validator.check(config).is_err(), "{name}: the schema accepts\n{config}");
        let (loads, output) = loader_accepts(config);
        assert!(
            !loads,
            "{name}: the loader accepts it, so the schema should too:\n{output}"
        );
    }
}
