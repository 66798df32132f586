//! Parsing an `r2` lease table into [`R2Settings`], one step per part:
//! the account and bucket, where the credentials come from (static, token
//! or temporary), and the endpoint.

use std::collections::BTreeMap;

use sesame_cloudflare_api::{self as api, Owner};
use sesame_core::{BackendConfig, BackendContext, BackendError};

use super::*;

/// A config error at `path` of the table, prefixed with the table's name.
fn err(config: &BackendConfig, path: &[&str], message: String, hint: &str) -> BackendError {
    config.error_at(
        path,
        format!("{}: {message}", config.label()),
        (!hint.is_empty()).then(|| hint.to_string()),
    )
}

/// Parses and checks the table (no I/O).
pub fn parse(config: &BackendConfig, ctx: &BackendContext) -> Result<R2Settings, BackendError> {
    let mut table: R2Table = config.parse()?;
    let label = config.label();
    let account_id = match table.account_id.as_deref().map(str::trim) {
        None => None,
        Some(id) if is_account_id(id) => Some(id.to_ascii_lowercase()),
        Some(id) => {
            return Err(err(
                config,
                &["account_id"],
                format!("`account_id` `{id}` is not an account ID"),
                "an account ID is 32 hexadecimal characters (Cloudflare dashboard, R2 overview, \"Account ID\")",
            ))
        }
    };
    let bucket = table.bucket.trim().to_string();
    if let Some(problem) = bucket_name_problem(&bucket) {
        return Err(err(
            config,
            &["bucket"],
            format!("bucket name `{bucket}` {problem}"),
            "use the bucket's name as shown in the R2 dashboard",
        ));
    }
    let duration = match &table.duration {
        None => DEFAULT_DURATION,
        Some(text) => sesame_core::duration::parse_duration(text)
            .map_err(|message| config.error_at(&["duration"], format!("{label} `duration`: {message}"), None))?,
    };
    let wait = match &table.wait {
        None => DEFAULT_WAIT,
        Some(text) => sesame_core::duration::parse_duration(text)
            .or_else(|e| {
                // "0s" (or "0") turns the wait off; parse_duration refuses zero.
                if text.trim() == "0" || e.contains("is zero") {
                    Ok(Duration::ZERO)
                } else {
                    Err(e)
                }
            })
            .map_err(|message| config.error_at(&["wait"], format!("{label} `wait`: {message}"), None))?,
    };
    let source = source(config, &mut table, &account_id)?;
    let (endpoint, endpoint_overridden) = endpoint(config, &table, &account_id)?;
    if let Some(base) = &table.api_base {
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(err(
                config,
                &["api_base"],
                format!("`api_base` `{base}` is not an http(s) URL"),
                "e.g. `api_base = \"https://api.cloudflare.com/client/v4\"`",
            ));
        }
    }
    let names = output_names(config, &table, &source, account_id.is_some())?;
    Ok(R2Settings {
        name: config.name().to_string(),
        account_id,
        bucket,
        access: table.access,
        jurisdiction: table.jurisdiction,
        duration,
        source,
        endpoint,
        endpoint_overridden,
        api_base: api::api_base(table.api_base.as_deref(), &ctx.env),
        names,
        wait,
    })
}

fn output_names(
    config: &BackendConfig,
    table: &R2Table,
    source: &Source,
    has_account: bool,
) -> Result<BTreeMap<&'static str, String>, BackendError> {
    let label = config.label();
    let prefix = table.env_prefix.clone().unwrap_or_default();
    if !prefix.is_empty() && !sesame_core::resolve::is_variable_name(&format!("{prefix}X")) {
        return Err(config.error_at(
            &["env_prefix"],
            format!("{label}: `env_prefix` `{prefix}` cannot start an environment variable name"),
            Some("use letters, digits and `_`, not starting with a digit (e.g. \"SRC_\")".into()),
        ));
    }
    let session = match source {
        Source::Temporary { .. } => true,
        Source::Static(s) => s.session_token.is_some(),
        Source::Token { .. } => false,
    };
    let mut names: BTreeMap<&'static str, String> = OUTPUTS
        .iter()
        .filter(|o| (**o != "AWS_SESSION_TOKEN" || session) && (**o != "R2_ACCOUNT_ID" || has_account))
        .map(|o| (*o, format!("{prefix}{o}")))
        .collect();
    for (output, var) in table.env.iter().flatten() {
        let Some(known) = OUTPUTS.iter().find(|o| **o == output.as_str()) else {
            let hint = sesame_core::config::did_you_mean(output, OUTPUTS.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("the outputs are {}", OUTPUTS.join(", ")));
            return Err(config.error_at(
                &["env", output],
                format!("{label}: `env` renames `{output}`, which is not an output of an r2 lease"),
                Some(hint),
            ));
        };
        if !sesame_core::resolve::is_variable_name(var) {
            return Err(config.error_at(
                &["env", output],
                format!("{label}: `{var}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if let Some(name) = names.get_mut(known) {
            *name = var.clone();
        }
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (output, var) in &names {
        if let Some(other) = seen.insert(var.as_str(), output) {
            return Err(config.error_at(
                &["env"],
                format!("{label}: `{other}` and `{output}` would both go to `{var}`"),
                Some("give each output its own variable".into()),
            ));
        }
    }
    Ok(names)
}

/// Where the credentials come from: `static`, or minted as a token or as
/// temporary credentials.
fn source(config: &BackendConfig, table: &mut R2Table, account_id: &Option<String>) -> Result<Source, BackendError> {
    match (table.static_credentials.take(), table.mode) {
        (Some(s), _) => static_source(config, table, s),
        (None, Mode::Token) => token_source(config, table, account_id),
        (None, Mode::Temporary) => temporary_source(config, table, account_id),
    }
}

fn static_source(config: &BackendConfig, table: &R2Table, s: StaticTable) -> Result<Source, BackendError> {
    for (key, set) in [
        ("parent_access_key_id", table.parent_access_key_id.is_some()),
        ("prefixes", table.prefixes.is_some()),
        ("token_type", table.token_type.is_some()),
    ] {
        if set {
            return Err(err(
                config,
                &[key],
                format!("`{key}` does not apply to `static` credentials (sesame does not mint them)"),
                "remove it, or remove `static` to have sesame mint credentials",
            ));
        }
    }
    if table.mode == Mode::Temporary {
        return Err(err(
            config,
            &["mode"],
            "`mode` does not apply to `static` credentials (sesame does not mint them)".into(),
            "remove `mode`, or remove `static` to have sesame mint credentials",
        ));
    }
    let pair = (s.access_key_id.is_some(), s.secret_access_key.is_some());
    match (pair, s.token.is_some()) {
        ((true, true), _) | ((false, false), true) => {}
        ((true, false), false) | ((false, true), false) => {
            return Err(err(
                config,
                &["static"],
                "`static` needs both `access_key_id` and `secret_access_key`".into(),
                "e.g. `static = { access_key_id = { secret = \"SRC_KEY_ID\" }, secret_access_key = { secret = \"SRC_SECRET\" } }`",
            ))
        }
        ((false, false), false) => {
            return Err(err(
                config,
                &["static"],
                "`static` names no credentials".into(),
                "give `access_key_id` and `secret_access_key`, or `token` (the Cloudflare API token's value)",
            ))
        }
        ((true, false), true) | ((false, true), true) => {
            return Err(err(
                config,
                &["static"],
                "`static` gives half a key pair besides `token`".into(),
                "give the whole pair, or only `token` (the pair is derived from it)",
            ))
        }
    }
    Ok(Source::Static(StaticSource {
        access_key_id: s.access_key_id,
        secret_access_key: s.secret_access_key,
        session_token: s.session_token,
        token: s.token,
    }))
}

fn token_source(config: &BackendConfig, table: &R2Table, account_id: &Option<String>) -> Result<Source, BackendError> {
    for key in ["parent_access_key_id", "prefixes"] {
        let set = if key == "prefixes" {
            table.prefixes.is_some()
        } else {
            table.parent_access_key_id.is_some()
        };
        if set {
            return Err(err(
                config,
                &[key],
                format!("`{key}` only applies to `mode = \"temporary\"`"),
                "add `mode = \"temporary\"`, or remove it",
            ));
        }
    }
    let account = account_id.clone().ok_or_else(|| {
        err(
            config,
            &["account_id"],
            "an R2 lease needs `account_id` (the token is scoped to a bucket of that account)".into(),
            "add `account_id = \"...\"` (32 hex characters; Cloudflare dashboard, R2 overview)",
        )
    })?;
    Ok(Source::Token {
        owner: match table.token_type.unwrap_or(TokenType::User) {
            TokenType::User => Owner::User,
            TokenType::Account => Owner::Account(account),
        },
    })
}

fn temporary_source(
    config: &BackendConfig,
    table: &R2Table,
    account_id: &Option<String>,
) -> Result<Source, BackendError> {
    if account_id.is_none() {
        return Err(err(
            config,
            &["account_id"],
            "temporary credentials need `account_id`".into(),
            "add `account_id = \"...\"` (32 hex characters)",
        ));
    }
    if table.token_type.is_some() {
        return Err(err(
            config,
            &["token_type"],
            "`token_type` does not apply to `mode = \"temporary\"` (no token is minted)".into(),
            "remove it",
        ));
    }
    let parent = table
        .parent_access_key_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            err(
                config,
                &["mode"],
                "`mode = \"temporary\"` needs `parent_access_key_id`".into(),
                "set it to the Access Key ID of an R2 API token with access to the bucket",
            )
        })?;
    if let Some(prefixes) = &table.prefixes {
        if prefixes.is_empty() || prefixes.iter().any(|p| p.is_empty()) {
            return Err(err(
                config,
                &["prefixes"],
                "`prefixes` holds an empty prefix or none".into(),
                "remove `prefixes` for the whole bucket, or list key prefixes like \"photos/2024/\"",
            ));
        }
    }
    Ok(Source::Temporary {
        parent_access_key_id: parent.to_string(),
        prefixes: table.prefixes.clone(),
    })
}

/// The S3 endpoint, and whether the config overrides the default one.
fn endpoint(
    config: &BackendConfig,
    table: &R2Table,
    account_id: &Option<String>,
) -> Result<(String, bool), BackendError> {
    Ok(match table.endpoint.as_deref().map(str::trim) {
        Some(e) => {
            let ok = reqwest::Url::parse(e)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if ok.is_none() {
                return Err(err(
                    config,
                    &["endpoint"],
                    format!("`endpoint` `{e}` is not an http(s) URL"),
                    "e.g. `endpoint = \"https://<account_id>.r2.cloudflarestorage.com\"`",
                ));
            }
            (e.trim_end_matches('/').to_string(), true)
        }
        None => match &account_id {
            Some(account) => (table.jurisdiction.endpoint(account), false),
            None => {
                return Err(err(
                    config,
                    &["account_id"],
                    "`static` credentials need `account_id` or `endpoint` to know where the bucket is".into(),
                    "add `account_id = \"...\"` (32 hex characters), or `endpoint = \"https://...\"`",
                ))
            }
        },
    })
}
