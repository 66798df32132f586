//! Finding config files and merging them into one [`Config`].
//!
//! Precedence, lowest first: the global file, then each `sesame.toml` from
//! the outermost directory to the current one, each followed by the
//! `sesame.local.toml` beside it. A file with `root = true` stops the walk.
//! An explicit file (`-c`, `SESAME_CONFIG`) replaces the walk. Nearer files
//! replace whole entries (a provider, secret or lease) of farther ones; the
//! chosen profile's entries then replace the base ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{explain_serde_message, ConfigError};
use super::model::{BackendSpec, Config, IfMissing, Origin, SecretSpec};
use super::source::{SourceFile, SourceKind};
use super::TrustState;
use crate::secret_fields::{EnvMode, Extract};
use crate::SecretValue;

/// The project file's name.
pub const PROJECT_FILE: &str = "sesame.toml";
/// The local overlay's name (meant to stay out of version control).
pub const LOCAL_FILE: &str = "sesame.local.toml";

/// Where to look for configuration.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Directory the walk starts from.
    pub cwd: PathBuf,
    /// A file named explicitly, and who named it (`--config` or `SESAME_CONFIG`).
    pub explicit: Option<(PathBuf, &'static str)>,
    /// The user's global config file, read if it exists.
    pub global: Option<PathBuf>,
    /// The profile to apply (`-P`, `SESAME_PROFILE`); `default` means none.
    pub profile: Option<String>,
    /// The trust store; without one, project files are untrusted.
    pub trust: Option<crate::trust::TrustStore>,
}

/// A file as written. The table fields repeat [`RawTables`] rather than
/// flattening it, because serde's flatten loses the spans errors need.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    root: Option<bool>,
    default_provider: Option<String>,
    if_missing: Option<IfMissing>,
    env: Option<EnvMode>,
    #[serde(default)]
    providers: BTreeMap<String, toml::Table>,
    #[serde(default)]
    secrets: BTreeMap<String, RawSecret>,
    #[serde(default)]
    leases: BTreeMap<String, toml::Table>,
    #[serde(default)]
    profiles: BTreeMap<String, RawTables>,
    exec: Option<super::exec::RawExec>,
}

impl RawFile {
    fn take_tables(&mut self) -> RawTables {
        RawTables {
            default_provider: self.default_provider.take(),
            if_missing: self.if_missing.take(),
            env: self.env.take(),
            providers: std::mem::take(&mut self.providers),
            secrets: std::mem::take(&mut self.secrets),
            leases: std::mem::take(&mut self.leases),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTables {
    default_provider: Option<String>,
    if_missing: Option<IfMissing>,
    env: Option<EnvMode>,
    #[serde(default)]
    providers: BTreeMap<String, toml::Table>,
    #[serde(default)]
    secrets: BTreeMap<String, RawSecret>,
    #[serde(default)]
    leases: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    provider: Option<String>,
    value: Option<String>,
    default: Option<String>,
    description: Option<String>,
    if_missing: Option<IfMissing>,
    env: Option<EnvMode>,
    #[serde(default)]
    as_file: bool,
    json_path: Option<String>,
    line: Option<i64>,
    /// fnox's daemon cache switch; sesame has no daemon (accepted, ignored).
    #[allow(dead_code)]
    daemon_cache: Option<bool>,
    /// fnox's `fnox sync` cache; accepted and ignored (docs/config.md).
    #[allow(dead_code)]
    sync: Option<toml::Value>,
}

/// Finds, reads and merges the configuration.
pub fn load(options: &LoadOptions) -> Result<Config, ConfigError> {
    let mut files: Vec<(SourceFile, RawFile)> = Vec::new();
    if let Some(global) = &options.global {
        if let Some(file) = read_optional(global, SourceKind::Global)? {
            files.push(file);
        }
    }
    let mut project_root = None;
    match &options.explicit {
        Some((path, origin)) => {
            let path = absolute(&options.cwd, path);
            match read_optional(&path, SourceKind::Explicit)? {
                Some(file) => files.push(file),
                None => return Err(ConfigError::ExplicitMissing { path, origin }),
            }
        }
        None => {
            let walked = walk_up(&options.cwd)?;
            project_root = walked
                .first()
                .and_then(|((f, _), _)| f.path.parent().map(Path::to_path_buf));
            // `walk_up` returns nearest first; precedence wants farthest first.
            for (project, local) in walked.into_iter().rev() {
                files.push(project);
                files.extend(local);
            }
        }
    }
    for (file, _) in &mut files {
        file.trust = match &options.trust {
            Some(store) => store
                .state(&file.path, file.kind, &file.text)
                .map_err(|e| ConfigError::invalid(e.to_string(), None))?,
            None if matches!(file.kind, SourceKind::Global | SourceKind::Explicit) => TrustState::Own,
            None => TrustState::Untrusted,
        };
    }
    merge(files, options.profile.as_deref(), project_root)
}

/// The project files from `cwd` upwards, nearest first, each with its
/// local overlay. Stops after a file that says `root = true`.
/// A parsed file.
type Parsed = (SourceFile, RawFile);

fn walk_up(cwd: &Path) -> Result<Vec<(Parsed, Option<Parsed>)>, ConfigError> {
    let mut found = Vec::new();
    for dir in cwd.ancestors() {
        let Some(project) = read_optional(&dir.join(PROJECT_FILE), SourceKind::Project)? else {
            continue;
        };
        let local = read_optional(&dir.join(LOCAL_FILE), SourceKind::Local)?;
        let is_root = project.1.root == Some(true) || local.as_ref().is_some_and(|l| l.1.root == Some(true));
        found.push((project, local));
        if is_root {
            break;
        }
    }
    Ok(found)
}

fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

fn read_optional(path: &Path, kind: SourceKind) -> Result<Option<(SourceFile, RawFile)>, ConfigError> {
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                // Say where, never repeat the bytes.
                let valid = String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]).into_owned();
                let file = SourceFile {
                    path: path.to_path_buf(),
                    kind,
                    text: valid.clone(),
                    trust: TrustState::Untrusted,
                };
                return Err(ConfigError::at(
                    file.location(valid.len()..valid.len()),
                    "the file is not valid UTF-8 here",
                    Some("save the file as UTF-8; write other bytes as `\\uXXXX` escapes in a string".into()),
                ));
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let file = SourceFile {
        path: path.to_path_buf(),
        kind,
        text,
        trust: TrustState::Untrusted,
    };
    let raw = parse(&file)?;
    Ok(Some((file, raw)))
}

fn parse(file: &SourceFile) -> Result<RawFile, ConfigError> {
    toml::from_str::<RawFile>(&file.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let (message, hint) = if e.message().trim() == "duplicate key" {
            let key = file.text.get(span.clone()).unwrap_or("").trim().trim_matches('"');
            (
                format!("`{}` is set twice; this is the second time", crate::config::escape(key)),
                Some("keep one of them".to_string()),
            )
        } else {
            explain_serde_message(e.message())
        };
        let at = file.location(span);
        ConfigError::at(at, message, hint)
    })
}

fn merge(
    files: Vec<(SourceFile, RawFile)>,
    profile: Option<&str>,
    project_root: Option<PathBuf>,
) -> Result<Config, ConfigError> {
    let profile = profile.filter(|p| !p.is_empty() && *p != "default");
    let mut config = Config {
        profile: profile.map(str::to_string),
        project_root,
        ..Config::default()
    };
    let mut raws = Vec::with_capacity(files.len());
    for (file, raw) in files {
        config.files.push(file);
        raws.push(raw);
    }
    for (index, raw) in raws.iter_mut().enumerate() {
        let tables = raw.take_tables();
        apply(&mut config, index, tables, &[])?;
        if let Some(exec) = raw.exec.take() {
            config.exec.apply(exec, index, &config.files[index]);
        }
    }
    if let Some(name) = profile {
        let mut known = Vec::new();
        let mut found = false;
        for (index, raw) in raws.iter_mut().enumerate() {
            known.extend(raw.profiles.keys().cloned());
            if let Some(tables) = raw.profiles.remove(name) {
                found = true;
                apply(&mut config, index, tables, &["profiles".into(), name.into()])?;
            }
        }
        if !found {
            known.sort();
            known.dedup();
            let hint = if known.is_empty() {
                "no profiles are defined; add a [profiles.NAME] table or drop -P/SESAME_PROFILE".to_string()
            } else {
                format!("known profiles: {}", known.join(", "))
            };
            return Err(ConfigError::invalid(format!("unknown profile `{name}`"), Some(hint)));
        }
    }
    Ok(config)
}

fn apply(config: &mut Config, file: usize, tables: RawTables, prefix: &[String]) -> Result<(), ConfigError> {
    let origin = |section: &str, name: &str| {
        let mut path = prefix.to_vec();
        path.push(section.into());
        path.push(name.into());
        Origin { file, path }
    };
    if tables.default_provider.is_some() {
        config.default_provider = tables.default_provider;
        let mut path = prefix.to_vec();
        path.push("default_provider".into());
        config.default_provider_origin = Some(Origin { file, path });
    }
    if tables.if_missing.is_some() {
        config.if_missing = tables.if_missing;
    }
    if tables.env.is_some() {
        config.env = tables.env;
    }
    for (name, mut table) in tables.providers {
        // fnox's per-provider daemon cache switch: sesame has no daemon.
        if matches!(table.get("daemon_cache"), Some(toml::Value::Boolean(_))) {
            table.remove("daemon_cache");
        }
        let spec = backend_spec(config, name.clone(), table, origin("providers", &name))?;
        config.providers.insert(name, spec);
    }
    for (name, table) in tables.leases {
        let spec = backend_spec(config, name.clone(), table, origin("leases", &name))?;
        config.leases.insert(name, spec);
    }
    for (name, raw) in tables.secrets {
        let at = origin("secrets", &name);
        let extract = extract_of(config, &at, &raw)?;
        let spec = SecretSpec {
            env: raw.env,
            as_file: raw.as_file,
            extract,
            origin: at,
            name: name.clone(),
            provider: raw.provider,
            value: raw.value,
            default: raw.default.map(SecretValue::template),
            description: raw.description,
            if_missing: raw.if_missing,
        };
        config.secrets.insert(name, spec);
    }
    Ok(())
}

/// fnox's `json_path` / `line`: one of them at most, `line` from 1, a
/// non-empty path.
fn extract_of(config: &Config, origin: &Origin, raw: &RawSecret) -> Result<Option<Extract>, ConfigError> {
    let at = |key: &str| config.locate(origin, &[key.to_string()]);
    let name = origin.path.last().map_or("", String::as_str);
    match (&raw.json_path, raw.line) {
        (Some(_), Some(_)) => Err(ConfigError::at(
            at("line"),
            format!("secret `{name}` sets both `json_path` and `line`"),
            Some("they are mutually exclusive: keep one".into()),
        )),
        (Some(path), None) if path.is_empty() => Err(ConfigError::at(
            at("json_path"),
            format!("secret `{name}` has an empty `json_path`"),
            Some("write a dot-separated key path, e.g. `json_path = \"db.password\"`".into()),
        )),
        (Some(path), None) => Ok(Some(Extract::JsonPath(path.clone()))),
        (None, Some(line)) if line < 1 => Err(ConfigError::at(
            at("line"),
            format!("secret `{name}` has `line = {line}`; lines count from 1"),
            Some("use `line = 1` for the first line".into()),
        )),
        (None, Some(line)) => Ok(Some(Extract::Line(line as usize))),
        (None, None) => Ok(None),
    }
}

fn backend_spec(
    config: &Config,
    name: String,
    mut table: toml::Table,
    origin: Origin,
) -> Result<BackendSpec, ConfigError> {
    let at = |below: &str| config.locate(&origin, &[below.to_string()]);
    let type_name = match table.remove("type") {
        Some(toml::Value::String(t)) => t,
        Some(other) => {
            return Err(ConfigError::at(
                at("type"),
                format!(
                    "`type` in {} must be a string, not {}",
                    origin.table_name(),
                    other.type_str()
                ),
                Some("run `sesame backends` to list the types".into()),
            ))
        }
        None => {
            return Err(ConfigError::at(
                config.locate(&origin, &[]),
                format!("{} has no `type`", origin.table_name()),
                Some("add `type = \"...\"`; run `sesame backends` to list the types".into()),
            ))
        }
    };
    Ok(BackendSpec {
        name,
        type_name,
        table,
        origin,
    })
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use crate::schema::{config_schema, serde_fields};

    fn keys(properties: &serde_json::Value) -> Vec<&str> {
        let mut keys: Vec<&str> = properties
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Core's hand-written part of `sesame schema` names exactly the keys
    /// these structs accept, so neither can change without the other.
    #[test]
    fn core_schema_has_the_keys_the_loader_reads() {
        let schema = config_schema(vec![], vec![]);
        assert_eq!(keys(&schema["properties"]), serde_fields::<RawFile>());
        let profile = &schema["definitions"]["profile"]["properties"];
        assert_eq!(keys(profile), serde_fields::<RawTables>());
        let secret = &schema["definitions"]["secret"]["properties"];
        assert_eq!(keys(secret), serde_fields::<RawSecret>());
    }
}
