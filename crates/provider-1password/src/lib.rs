//! The `1password` provider: secrets from 1Password, through the `op` CLI
//! or a 1Password Connect server.
//!
//! ```toml
//! [providers.op]
//! type = "1password"
//! vault = "Development"            # needed unless every value is a full op:// reference
//! account = "my.1password.com"     # optional, passed to op as --account
//! token = { secret = "OP_TOKEN" }  # optional service-account token (else OP_SERVICE_ACCOUNT_TOKEN)
//!
//! [secrets]
//! CLOUDFLARE_API_TOKEN = { provider = "op", value = "Cloudflare/api token" }
//! ```
//!
//! Values: `op://VAULT/ITEM[/SECTION]/FIELD`, or with `vault` set, `ITEM`
//! (its password), `ITEM/FIELD` and `ITEM/SECTION/FIELD` (see [`Reference`]).
//!
//! **CLI mode** (the default): the happy path is one `op` process per run.
//! Every reference op's syntax can express ([`Reference::is_plain`]) goes
//! into one `op inject` template, enclosed as `{{ op://V/ITEM/FIELD }}`
//! between markers holding a random nonce; the template is written to op's
//! stdin and the values are cut from its stdout byte for byte. Any other
//! reference is read from `op item get ITEM --vault V --format json`, one
//! per item, alongside. If `op inject` fails (a reference it cannot read,
//! ...), its references are read item by item too, so each secret gets its
//! own error (at most 1 + items processes); a failure that concerns every
//! call (not signed in, rejected token, unknown account, timeout) is
//! reported for all at once. At most `concurrency` `op` processes run at
//! once. `op` runs without a shell, with stdin on /dev/null except for the
//! template, with an environment built from sesame's snapshot, and the
//! service-account token (if configured) reaches `op` only.
//!
//! **Connect mode** (with `connect_host`, or `OP_CONNECT_HOST` in the
//! environment): the same items through the Connect REST API, with
//! `connect_token` or `OP_CONNECT_TOKEN` as the bearer token.
//!
//! Docs: `docs/providers/1password.md`.

mod batch;
mod cli;
mod connect;
mod item;
mod op_error;
mod reference;
mod template;

use std::collections::HashMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use sesame_core::{
    async_trait, BackendConfig, BackendContext, BackendError, Provider, ProviderRegistration, SecretRequest,
    SecretSource, SecretValue,
};
use tokio::time::Instant;

use batch::{field_value, group, Limits};

pub use item::{Item, Missing};
pub use reference::Reference;

/// How many `op` processes or Connect requests run at once unless
/// `concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// `[providers.NAME]` with `type = "1password"`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnePasswordConfig {
    /// The vault (name or ID) of secret values that are not full `op://`
    /// references (`ITEM`, `ITEM/FIELD`, `ITEM/SECTION/FIELD`): a name, or
    /// `{ secret = "NAME" }` to take it from another secret (as fnox allows).
    #[serde(default)]
    pub vault: Option<SecretSource>,
    /// The account `op` uses (`--account`): sign-in address, ID or
    /// shorthand, e.g. `my.1password.com`, or `{ secret = "NAME" }`.
    #[serde(default)]
    pub account: Option<SecretSource>,
    /// A service-account token for `op`, usually `{ secret = "NAME" }`.
    /// Without it, `op` uses OP_SERVICE_ACCOUNT_TOKEN if set, else the
    /// desktop app or `op signin` session.
    #[serde(default)]
    pub token: Option<SecretSource>,
    /// The base URL of a 1Password Connect server (`http://host:8080`);
    /// setting it selects Connect mode. Default: OP_CONNECT_HOST.
    #[serde(default)]
    pub connect_host: Option<String>,
    /// The Connect server's access token. Default: OP_CONNECT_TOKEN.
    #[serde(default)]
    pub connect_token: Option<SecretSource>,
    /// The `op` binary: a path, or a name looked up on PATH. Default `op`.
    #[serde(default)]
    pub op_path: Option<String>,
    /// How long one `op` call or Connect request may take (`"20s"`, `"2m"`).
    /// Default: sesame's `--timeout`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// How many `op` processes or Connect requests may run at once (default 16).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub concurrency: Option<usize>,
}

#[derive(Debug)]
enum Mode {
    Cli {
        op_path: Option<String>,
        account: Option<SecretSource>,
        token: Option<SecretSource>,
    },
    Connect {
        host: Option<String>,
        token: Option<SecretSource>,
    },
}

/// Reads fields of 1Password items.
#[derive(Debug)]
pub struct OnePasswordProvider {
    mode: Mode,
    vault: Option<SecretSource>,
    timeout: Option<Duration>,
    concurrency: usize,
}

impl OnePasswordProvider {
    /// Builds the provider from its config table (no I/O).
    pub fn from_config(config: &BackendConfig, ctx: &BackendContext) -> Result<Box<dyn Provider>, BackendError> {
        let parsed: OnePasswordConfig = config.parse()?;
        let label = config.label();
        let timeout = match &parsed.timeout {
            None => None,
            Some(text) => Some(sesame_core::duration::parse_duration(text).map_err(|e| {
                config.error_at(
                    &["timeout"],
                    format!("{label} `timeout`: {e}"),
                    Some("e.g. `timeout = \"30s\"`".into()),
                )
            })?),
        };
        let concurrency = parsed.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            return Err(config.error_at(
                &["concurrency"],
                format!("{label} `concurrency` must be at least 1"),
                Some(format!("leave it out for the default, {DEFAULT_CONCURRENCY}")),
            ));
        }
        let literal = |source: &Option<SecretSource>| match source {
            Some(SecretSource::Literal(value)) => Some(value.clone()),
            _ => None,
        };
        for (key, value) in [
            ("vault", literal(&parsed.vault)),
            ("account", literal(&parsed.account)),
            ("op_path", parsed.op_path.clone()),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(config.error_at(
                    &[key],
                    format!("{label} `{key}` is empty"),
                    Some("set a value or leave the key out".into()),
                ));
            }
        }
        if let Some(host) = &parsed.connect_host {
            check_host(host).map_err(|message| {
                config.error_at(
                    &["connect_host"],
                    format!("{label} `connect_host`: {message}"),
                    Some("e.g. `connect_host = \"http://localhost:8080\"`".into()),
                )
            })?;
            for (key, set) in [("token", parsed.token.is_some()), ("op_path", parsed.op_path.is_some())] {
                if set {
                    return Err(config.error_at(
                        &[key],
                        format!("{label} sets both `connect_host` and `{key}`, which is for the op CLI"),
                        Some(
                            "for Connect, give its token as `connect_token`; for the op CLI, remove `connect_host`"
                                .into(),
                        ),
                    ));
                }
            }
        }
        let explicit_cli = parsed.token.is_some() || parsed.op_path.is_some();
        let connect = parsed.connect_host.is_some() || (!explicit_cli && ctx.env.is_set("OP_CONNECT_HOST"));
        if parsed.connect_token.is_some() && !connect {
            return Err(config.error_at(
                &["connect_token"],
                format!("{label} sets `connect_token` but no Connect server"),
                Some("add `connect_host = \"http://...\"` (or set OP_CONNECT_HOST), or remove `connect_token`".into()),
            ));
        }
        let mode = if connect {
            Mode::Connect {
                host: parsed.connect_host,
                token: parsed.connect_token,
            }
        } else {
            Mode::Cli {
                op_path: parsed.op_path,
                account: parsed.account,
                token: parsed.token,
            }
        };
        Ok(Box::new(Self {
            mode,
            vault: parsed.vault,
            timeout,
            concurrency,
        }))
    }
}

/// The value of a credential field, which must be set and not empty.
/// A field that names something (`vault`, `account`): its text, which
/// messages may show when it is written in the file.
fn name_field(ctx: &BackendContext, source: &SecretSource, key: &str, what: &str) -> Result<String, BackendError> {
    match source {
        SecretSource::Literal(text) => Ok(text.clone()),
        secret => credential(ctx, secret, key, what).map(SecretValue::into_exposed),
    }
}

pub(crate) fn credential(
    ctx: &BackendContext,
    source: &SecretSource,
    key: &str,
    what: &str,
) -> Result<SecretValue, BackendError> {
    match ctx.source(source) {
        Ok(value) if !value.is_empty() => Ok(value),
        Ok(_) => Err(BackendError::failed(
            format!("the {what} (`{key}`) is empty"),
            Some(format!("check what `{key}` refers to")),
        )),
        Err(e) => Err(BackendError::failed(
            format!(
                "the {what} (`{key}`) is not available: {}",
                e.to_string().lines().next().unwrap_or("")
            ),
            Some(format!("make sure the secret `{key}` refers to resolves")),
        )),
    }
}

/// Checks a Connect base URL.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let rest = host.strip_prefix("http://").or_else(|| host.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.trim_matches('/').is_empty() && !rest.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!("`{host}` is not a URL starting with http:// or https://")),
    }
}

/// A duration for messages: `30s`, `1m30s`, or `1.5s` below whole seconds.
pub(crate) fn describe(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        sesame_core::duration::format_duration(duration)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// Prefixes a "not found" error with the full reference it concerns,
/// unless the secret's `value` already is that reference (sesame names it).
/// Other errors concern a call (`op item get ...`, which they name) or the
/// whole batch (not signed in, op missing, ...): those stay word for word
/// the same for every secret they hit, so sesame reports them once.
fn about(reference: &Reference, written: &str, error: &BackendError) -> BackendError {
    match error {
        BackendError::NotFound { message } if reference.to_string() != written => {
            BackendError::not_found(format!("`{reference}`: {message}"))
        }
        other => other.clone(),
    }
}

#[async_trait]
impl Provider for OnePasswordProvider {
    async fn resolve(&self, ctx: &BackendContext, request: &SecretRequest) -> Result<SecretValue, BackendError> {
        sesame_core::provider::resolve_as_batch(self, ctx, request).await
    }

    async fn resolve_batch(
        &self,
        ctx: &BackendContext,
        requests: &[SecretRequest],
    ) -> Vec<Result<SecretValue, BackendError>> {
        // Finish a little before sesame's own deadline for the batch, so a
        // slow call is reported as such, naming the item.
        let started = Instant::now();
        let margin = (ctx.timeout / 20).min(Duration::from_millis(250));
        let deadline = started + ctx.timeout.saturating_sub(margin);

        let limits = Limits {
            timeout: self.timeout.unwrap_or(ctx.timeout),
            deadline,
            concurrency: self.concurrency,
        };
        let vault = match &self.vault {
            None => None,
            Some(source) => match name_field(ctx, source, "vault", "vault") {
                Ok(vault) => Some(vault),
                Err(e) => return requests.iter().map(|_| Err(e.clone())).collect(),
            },
        };
        let references: Vec<Result<Reference, BackendError>> = requests
            .iter()
            .map(|r| Reference::parse(&r.reference, vault.as_deref()))
            .collect();
        // Each distinct reference is resolved once.
        let mut distinct: Vec<&Reference> = Vec::new();
        let mut index: HashMap<&Reference, usize> = HashMap::new();
        let slots: Vec<Option<usize>> = references
            .iter()
            .map(|r| {
                let r = r.as_ref().ok()?;
                Some(*index.entry(r).or_insert_with(|| {
                    distinct.push(r);
                    distinct.len() - 1
                }))
            })
            .collect();
        tracing::debug!(
            secrets = requests.len(),
            references = distinct.len(),
            "resolving 1Password references"
        );

        let values = if distinct.is_empty() {
            Vec::new()
        } else {
            match &self.mode {
                Mode::Cli {
                    op_path,
                    account,
                    token,
                } => {
                    let account = match account {
                        None => Ok(None),
                        Some(source) => name_field(ctx, source, "account", "account").map(Some),
                    };
                    match account {
                        Ok(account) => {
                            let settings = cli::OpCli {
                                op_path: op_path.clone(),
                                account,
                            };
                            batch::resolve_cli(ctx, &settings, token, limits, &distinct).await
                        }
                        Err(e) => distinct.iter().map(|_| Err(e.clone())).collect(),
                    }
                }
                Mode::Connect { host, token } => {
                    let (keys, groups) = group(distinct.iter().copied());
                    let items = connect::fetch_items(ctx, host, token, limits, &keys).await;
                    distinct
                        .iter()
                        .zip(groups)
                        .map(|(reference, group)| match &items[group] {
                            Ok(item) => field_value(item, reference),
                            Err(e) => Err(e.clone()),
                        })
                        .collect()
                }
            }
        };
        references
            .iter()
            .zip(slots)
            .zip(requests)
            .map(|((reference, slot), request)| {
                let reference = reference.as_ref().map_err(Clone::clone)?;
                let slot = slot.expect("a parsed reference has a slot");
                values[slot]
                    .clone()
                    .map_err(|e| about(reference, &request.reference, &e))
            })
            .collect()
    }
}

inventory::submit! {
    ProviderRegistration {
        type_name: "1password",
        description: "1Password items, through the `op` CLI (batched, concurrent) or a 1Password Connect server",
        // A Connect host receives the Connect token; `op_path` is a program
        // sesame runs with the service-account token in its environment.
        trust_sensitive: &["connect_host", "op_path"],
        factory: OnePasswordProvider::from_config,
        schema: sesame_core::schema::table_schema::<OnePasswordConfig>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_core::EnvSnapshot;
    use std::sync::Arc;

    fn ctx(vars: &[(&str, &str)]) -> BackendContext {
        BackendContext::new(Arc::new(EnvSnapshot::from_pairs(vars.iter().copied())))
    }

    fn build(toml: &str, vars: &[(&str, &str)]) -> Result<Box<dyn Provider>, String> {
        OnePasswordProvider::from_config(&BackendConfig::for_test("op", "1password", toml), &ctx(vars))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_issue_example_config_parses() {
        let toml = "vault = \"Development\"\naccount = \"my.1password.com\"\ntoken = { secret = \"OP_TOKEN\" }\n";
        build(toml, &[]).unwrap();
        build("connect_host = \"http://localhost:8080\"\nconnect_token = { secret = \"T\" }\nconcurrency = 2\ntimeout = \"5s\"", &[]).unwrap();
    }

    #[test]
    fn registered_schema_covers_every_field() {
        let registration = sesame_core::provider::find_provider_type("1password").expect("registered");
        let schema = (registration.schema)();
        sesame_core::schema::check_table_schema::<OnePasswordConfig>(&schema).unwrap();
        assert_eq!(schema["additionalProperties"], false, "{schema}");
        assert_eq!(schema["properties"]["concurrency"]["minimum"], 1, "{schema}");
        let token = &schema["properties"]["token"]["allOf"][0]["$ref"];
        assert_eq!(token, "#/definitions/SecretSource", "{schema}");
    }

    #[test]
    fn bad_configs_are_located_and_explained() {
        let cases = [
            ("vaul = \"x\"", "did you mean `vault`?"),
            ("timeout = \"soon\"", "`timeout`"),
            ("concurrency = 0", "at least 1"),
            ("vault = \" \"", "`vault` is empty"),
            ("connect_host = \"localhost:8080\"", "http://"),
            ("connect_host = \"http://h\"\ntoken = \"t\"", "connect_token"),
            ("connect_token = \"t\"", "no Connect server"),
        ];
        for (toml, expected) in cases {
            let err = build(toml, &[])
                .err()
                .unwrap_or_else(|| panic!("{toml} must be rejected"));
            assert!(err.contains(expected) && err.contains("<test>"), "{toml}: {err}");
        }
        build("connect_token = \"t\"", &[("OP_CONNECT_HOST", "http://h")]).unwrap();
    }

    #[tokio::test]
    async fn missing_op_fails_every_secret_with_an_install_hint() {
        let provider = build("vault = \"V\"", &[("PATH", "/nonexistent")]).unwrap();
        let requests = [
            SecretRequest {
                name: "A".into(),
                reference: "Item/field".into(),
            },
            SecretRequest {
                name: "B".into(),
                reference: "op://W/I/F".into(),
            },
            SecretRequest {
                name: "C".into(),
                reference: "a/b/c/d".into(),
            },
        ];
        let results = provider
            .resolve_batch(&ctx(&[("PATH", "/nonexistent")]), &requests)
            .await;
        let errors: Vec<String> = results.into_iter().map(|r| r.unwrap_err().to_string()).collect();
        assert!(
            errors[0].starts_with("the 1Password CLI") && errors[0].contains("not installed"),
            "{}",
            errors[0]
        );
        assert_eq!(
            errors[0], errors[1],
            "one cause, word for word the same for every secret"
        );
        assert!(
            errors[0].contains("hint:") && errors[0].contains("connect_host"),
            "{}",
            errors[0]
        );
        assert!(errors[2].contains("not a 1Password secret reference"), "{}", errors[2]);
    }

    #[tokio::test]
    async fn connect_mode_without_a_token_says_how_to_give_one() {
        let provider = build("vault = \"V\"\nconnect_host = \"http://127.0.0.1:9\"", &[]).unwrap();
        let request = SecretRequest {
            name: "A".into(),
            reference: "I".into(),
        };
        let err = provider.resolve(&ctx(&[]), &request).await.unwrap_err().to_string();
        assert!(err.contains("no token") && err.contains("OP_CONNECT_TOKEN"), "{err}");
    }

    #[test]
    fn missing_fields_name_the_reference_and_list_labels() {
        let item = Item::from_json(
            br#"{"fields": [{"id": "a", "label": "user", "value": "s3cr3t"},
            {"id": "b", "label": "pw", "value": "s3cr3t", "section": {"id": "s", "label": "Admin"}}],
            "sections": [{"id": "s", "label": "Admin"}]}"#,
        )
        .unwrap();
        let reference = Reference::parse("Login/nope", Some("V")).unwrap();
        let err = field_value(&item, &reference).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, BackendError::NotFound { .. }));
        assert!(
            text.contains("item `Login` in vault `V` has no field `nope`; its fields: `user`, `Admin/pw`"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t"));
        let reference = Reference::parse("Login/Ops/pw", Some("V")).unwrap();
        let text = field_value(&item, &reference).unwrap_err().to_string();
        assert!(text.contains("no section `Ops`") && text.contains("`Admin`"), "{text}");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(describe(Duration::from_secs(30)), "30s");
        assert_eq!(describe(Duration::from_millis(29_750)), "29.8s");
        assert_eq!(describe(Duration::from_millis(500)), "0.5s");
    }
}
