//! The JSON Schema of `sesame.toml`, for editors (taplo / Even Better TOML
//! complete and check the file with it). Core writes the part it owns
//! (top-level keys, `[secrets]`, profiles, the `type` and `reuse` keys);
//! each backend contributes the schema of its own table through its
//! registration, generated from the same struct its factory parses
//! ([`table_schema`]). [`registered_config_schema`] puts together the schema
//! of every type linked into the binary (`sesame schema`).

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde_json::{json, Map, Value};

use crate::backend::SecretSource;
use crate::lease::lease_types;
use crate::provider::provider_types;
use crate::SecretValue;

/// What `resolve::is_variable_name` accepts, as a JSON Schema `pattern`,
/// for names in sesame's own keys (secret names). Not for backend string
/// fields: `${NAME}` placeholders in them are expanded before they are
/// checked, so a pattern would reject what the loader accepts.
pub const VARIABLE_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// Draft-07, the version taplo reads.
pub const SCHEMA_DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// One backend type's table schema.
pub struct BackendSchema {
    /// `type = "..."`.
    pub type_name: &'static str,
    /// The description from the registration.
    pub description: &'static str,
    /// The schema of its table (without `type`), draft-07, with its own
    /// `definitions`.
    pub schema: Value,
}

/// The whole schema, given every provider and lease type's part.
pub fn config_schema(providers: Vec<BackendSchema>, leases: Vec<BackendSchema>) -> Value {
    let mut definitions = Map::new();
    let provider_daemon_cache = (
        "daemon_cache",
        json!({
            "type": "boolean",
            "description": "fnox's daemon cache switch; sesame has no daemon and ignores it."
        }),
    );
    let provider_variants = variants("provider", providers, &mut definitions, &[provider_daemon_cache]);
    let lease_reuse = (
        "reuse",
        json!({
            "type": "boolean",
            "default": true,
            "description": "Reuse an unexpired lease with the same config (until 5 minutes before it expires); false revokes it when the command ends."
        }),
    );
    let lease_variants = variants("lease", leases, &mut definitions, &[lease_reuse]);
    definitions.insert("provider".into(), json!({ "oneOf": provider_variants }));
    definitions.insert("lease".into(), json!({ "oneOf": lease_variants }));
    definitions.insert(
        "if_missing".into(),
        json!({
            "enum": ["error", "warn", "ignore"],
            "description": "What to do when a secret cannot be found: fail (default), warn and go on, or go on silently."
        }),
    );
    definitions.insert(
        "secret".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "provider": { "type": "string", "description": "The provider's name; default: default_provider, or the only provider." },
                "value": { "type": "string", "description": "What the provider looks up (a reference, not the secret)." },
                "default": { "type": "string", "description": "Used when the provider has no value; may contain ${NAME}." },
                "description": { "type": "string", "description": "Shown by `sesame list`." },
                "if_missing": { "$ref": "#/definitions/if_missing" },
                "env": { "$ref": "#/definitions/env" },
                "as_file": { "type": "boolean", "default": false, "description": "Put the value in a private file (0600, removed when the command ends) and give the command its path." },
                "json_path": { "type": "string", "minLength": 1, "description": "Use this dot-separated key path of the JSON value (`\\.` is a literal dot). Exclusive with `line`." },
                "line": { "type": "integer", "minimum": 1, "description": "Use this line of the value (1 is the first). Exclusive with `json_path`." },
                "daemon_cache": { "type": "boolean", "description": "fnox's daemon cache switch; sesame has no daemon and ignores it." },
                "sync": { "type": "object", "description": "fnox's `fnox sync` cache; sesame ignores it and resolves `value` through `provider`." }
            }
        }),
    );
    definitions.insert(
        "env".into(),
        json!({
            "enum": [true, false, "exec"],
            "description": "Where the secret goes: true (default) exec and export, \"exec\" only exec, false neither (only `sesame get`)."
        }),
    );
    let tables = |with_root: bool| {
        let mut properties = json!({
            "default_provider": { "type": "string", "description": "The provider of secrets that name none." },
            "if_missing": { "$ref": "#/definitions/if_missing" },
            "env": { "$ref": "#/definitions/env" },
            "providers": {
                "type": "object",
                "description": "Where secret values come from, by name.",
                "additionalProperties": { "$ref": "#/definitions/provider" }
            },
            "secrets": {
                "type": "object",
                "description": "Environment variables and where their values come from.",
                "propertyNames": { "pattern": VARIABLE_NAME_PATTERN },
                "additionalProperties": { "$ref": "#/definitions/secret" }
            },
            "leases": {
                "type": "object",
                "description": "Short-lived credentials minted before the command and revoked after.",
                "additionalProperties": { "$ref": "#/definitions/lease" }
            }
        });
        if with_root {
            let map = properties.as_object_mut().expect("object");
            map.insert(
                "root".into(),
                json!({ "type": "boolean", "description": "Stop looking for sesame.toml in parent directories." }),
            );
            map.insert(
                "profiles".into(),
                json!({
                    "type": "object",
                    "description": "Named sets of providers, secrets and leases that replace the base ones (-P NAME).",
                    "additionalProperties": { "$ref": "#/definitions/profile" }
                }),
            );
            map.insert(
                "exec".into(),
                json!({
                    "type": "object",
                    "description": "Defaults of `sesame exec`. From a file that is not trusted, `mask = false` and `record` are ignored.",
                    "additionalProperties": false,
                    "properties": {
                        "mask": { "type": "boolean", "description": "Mask secret values in the command's output (default: on when CI is set and output is not a terminal)." },
                        "record": { "type": "string", "description": "Append a values-free JSON record of every run to this file (relative to this file's directory)." },
                        "record_args": { "type": "boolean", "description": "Include the command's arguments (masked) in the record." }
                    }
                }),
            );
        }
        json!({ "type": "object", "additionalProperties": false, "properties": properties })
    };
    definitions.insert("profile".into(), tables(false));
    let mut root = tables(true);
    let map = root.as_object_mut().expect("object");
    map.insert("$schema".into(), json!(SCHEMA_DRAFT));
    map.insert("$id".into(), json!("https://sesame.dev/schema/sesame.toml.json"));
    map.insert("title".into(), json!("sesame.toml"));
    map.insert("definitions".into(), Value::Object(definitions));
    root
}

/// The schema of every registered provider and lease type, assembled by
/// [`config_schema`]: what `sesame schema` prints.
pub fn registered_config_schema() -> Value {
    let providers = provider_types()
        .into_iter()
        .map(|r| BackendSchema {
            type_name: r.type_name,
            description: r.description,
            schema: (r.schema)(),
        })
        .collect();
    let leases = lease_types()
        .into_iter()
        .map(|r| BackendSchema {
            type_name: r.type_name,
            description: r.description,
            schema: (r.schema)(),
        })
        .collect();
    config_schema(providers, leases)
}

/// The draft-07 schema of a backend's table, generated from `T`, the struct
/// its factory gives to [`BackendConfig::parse`](crate::BackendConfig::parse).
/// A registration's `schema` field is usually `table_schema::<MyConfig>`.
///
/// Doc comments on fields become descriptions, and serde's attributes
/// (`rename`, `default`, `deny_unknown_fields`) are honoured. TOML has no
/// null, so the `null` that schemars allows for `Option` fields is removed:
/// an optional key is one that may be left out.
pub fn table_schema<T: JsonSchema>() -> Value {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut value = schema.to_value();
    drop_nulls(&mut value);
    unwrap_descriptions(&mut value);
    value
}

/// Joins the hard-wrapped lines of doc comments in `description`s, so
/// editors show them as flowing text; blank lines (paragraphs) stay.
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get_mut("description") {
                *text = text
                    .split("\n\n")
                    .map(|paragraph| paragraph.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            map.values_mut().for_each(unwrap_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// Removes `null` from a generated schema: from `type` lists, from
/// `anyOf`/`oneOf` alternatives (collapsing a single one left), and
/// `"default": null`.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            for key in ["anyOf", "oneOf"] {
                let Some(Value::Array(alternatives)) = map.get_mut(key) else {
                    continue;
                };
                alternatives.retain(|a| a != &json!({ "type": "null" }));
                if alternatives.len() == 1 {
                    let only = alternatives.remove(0);
                    map.remove(key);
                    match only {
                        // In draft-07 a `$ref`'s siblings are ignored, so a
                        // reference with a description stays in an `allOf`.
                        Value::Object(inner)
                            if !inner.keys().any(|k| map.contains_key(k))
                                && (map.is_empty() || !inner.contains_key("$ref")) =>
                        {
                            map.extend(inner)
                        }
                        other => {
                            map.insert("allOf".into(), Value::Array(vec![other]));
                        }
                    }
                }
            }
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// `{ secret = "NAME" }` or the value itself, as [`SecretSource`]
/// deserializes it. The table form takes exactly one key: with more, core
/// does not see it as a reference and does not resolve `NAME` first.
impl JsonSchema for SecretSource {
    fn schema_name() -> Cow<'static, str> {
        "SecretSource".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "sesame_core::SecretSource".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A credential: `{ secret = \"NAME\" }` (the value of another configured secret, resolved first) or, not recommended, the value itself.",
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "secret": {
                            "type": "string",
                            "pattern": VARIABLE_NAME_PATTERN,
                            "description": "The name of a secret in [secrets]."
                        }
                    },
                    "required": ["secret"],
                    "additionalProperties": false
                },
                { "type": "string", "description": "The value itself, written in the file." }
            ]
        })
    }
}

/// A value written in the file: a string.
impl JsonSchema for SecretValue {
    fn schema_name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "sesame_core::SecretValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}

/// The keys serde accepts for the struct `T` (after `rename`), read from
/// its `Deserialize` implementation without any input. Empty for types
/// that are not plain structs (maps, enums, `flatten`).
///
/// Backend tests compare this with their schema ([`check_table_schema`]),
/// so a field added without a schema, or the other way round, fails.
pub fn serde_fields<T: de::DeserializeOwned>() -> Vec<&'static str> {
    struct_fields::<T>().unwrap_or_default()
}

/// The field names serde accepts for `T`, or `None` when `T` is not a plain
/// struct. A struct with no fields (`plain`'s table) is `Some(vec![])`.
fn struct_fields<T: de::DeserializeOwned>() -> Option<Vec<&'static str>> {
    /// Records the field list serde asks for, then stops.
    struct Probe<'a>(&'a mut Option<Vec<&'static str>>);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some(fields.to_vec());
            Err(de::Error::custom("fields recorded"))
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, Self::Error> {
            *self.0 = Some(Vec::new());
            Err(de::Error::custom("fields recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields = None;
    let _ = T::deserialize(Probe(&mut fields));
    let mut fields = fields?;
    fields.sort_unstable();
    Some(fields)
}

/// Checks that `schema` (an object schema, e.g. a backend's table or one of
/// its `definitions`) has exactly the properties serde accepts for `T`, and
/// that every property in it, and in its `definitions`, has a description.
/// For backend unit tests; the error lists what is wrong.
pub fn check_table_schema<T: de::DeserializeOwned>(schema: &Value) -> Result<(), String> {
    let mut problems = Vec::new();
    let Some(fields) = struct_fields::<T>() else {
        return Err(format!(
            "{} is not a struct serde reads by field names",
            std::any::type_name::<T>()
        ));
    };
    let properties: Vec<&str> = schema["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for field in &fields {
        if !properties.contains(field) {
            problems.push(format!("field `{field}` has no property in the schema"));
        }
    }
    for property in &properties {
        if !fields.contains(property) {
            problems.push(format!("property `{property}` is not a field serde accepts"));
        }
    }
    undocumented(schema, "", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Properties without a description, anywhere below `schema`.
fn undocumented(schema: &Value, at: &str, problems: &mut Vec<String>) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Object(properties)) = map.get("properties") {
        for (name, property) in properties {
            let described = property
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.trim().is_empty());
            if !described {
                problems.push(format!("property `{at}{name}` has no description"));
            }
        }
    }
    for (key, inner) in map {
        match inner {
            Value::Object(children) if key == "properties" || key == "definitions" => {
                for (name, child) in children {
                    undocumented(child, &format!("{at}{name}."), problems);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| undocumented(item, at, problems)),
            Value::Object(_) => undocumented(inner, at, problems),
            _ => {}
        }
    }
}

/// One `oneOf` variant per backend type: its table schema plus `type`
/// (and `extra` core keys), its definitions hoisted under a prefix.
fn variants(
    kind: &str,
    backends: Vec<BackendSchema>,
    definitions: &mut Map<String, Value>,
    extra: &[(&str, Value)],
) -> Vec<Value> {
    backends
        .into_iter()
        .map(|backend| {
            let prefix = format!("{kind}.{}.", backend.type_name);
            let mut schema = backend.schema;
            rewrite_refs(&mut schema, &prefix);
            if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|m| m.remove("definitions")) {
                for (name, definition) in defs {
                    definitions.insert(format!("{prefix}{name}"), definition);
                }
            }
            let map = schema.as_object_mut().expect("a backend schema is an object");
            for key in ["$schema", "title"] {
                map.remove(key);
            }
            map.insert("type".into(), json!("object"));
            map.insert("description".into(), json!(backend.description));
            let properties = map.entry("properties").or_insert_with(|| json!({}));
            let properties = properties.as_object_mut().expect("properties is an object");
            properties.insert(
                "type".into(),
                json!({ "const": backend.type_name, "description": format!("The {kind} type.") }),
            );
            for (key, value) in extra {
                properties.insert((*key).into(), value.clone());
            }
            let required = map.entry("required").or_insert_with(|| json!([]));
            if let Value::Array(items) = required {
                items.push(json!("type"));
            }
            schema
        })
        .collect()
}

fn rewrite_refs(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix("#/definitions/") {
                            *target = format!("#/definitions/{prefix}{name}");
                        }
                    }
                    (_, inner) => rewrite_refs(inner, prefix),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, prefix)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A table as a backend would write it.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Table {
        /// Where it goes,
        /// wrapped over two lines.
        #[serde(default)]
        host: Option<String>,
        /// A credential.
        #[serde(default, rename = "static")]
        token: Option<SecretSource>,
        /// Required.
        name: String,
    }

    /// The same with a field the schema does not describe.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Undocumented {
        /// Documented.
        a: String,
        b: String,
    }

    #[test]
    fn table_schema_follows_serde_and_has_no_nulls() {
        let schema = table_schema::<Table>();
        check_table_schema::<Table>(&schema).unwrap();
        assert_eq!(serde_fields::<Table>(), ["host", "name", "static"]);
        assert_eq!(schema["additionalProperties"], false, "{schema}");
        assert_eq!(schema["required"], json!(["name"]), "{schema}");
        assert_eq!(schema["properties"]["host"]["type"], "string", "{schema}");
        assert_eq!(
            schema["properties"]["host"]["description"],
            "Where it goes, wrapped over two lines."
        );
        assert!(schema["properties"]["host"].get("default").is_none(), "{schema}");
        let token = &schema["properties"]["static"];
        assert_eq!(
            token["allOf"],
            json!([{ "$ref": "#/definitions/SecretSource" }]),
            "{schema}"
        );
        assert_eq!(token["description"], "A credential.", "{schema}");
        assert!(!schema.to_string().contains("null"), "{schema}");
        assert_eq!(
            schema["definitions"]["SecretSource"]["anyOf"][0]["required"],
            json!(["secret"])
        );
    }

    #[test]
    fn check_table_schema_reports_drift_and_missing_descriptions() {
        let problems = check_table_schema::<Undocumented>(&table_schema::<Undocumented>()).unwrap_err();
        assert!(problems.contains("property `b` has no description"), "{problems}");
        let mut schema = table_schema::<Table>();
        let properties = schema["properties"].as_object_mut().unwrap();
        properties.remove("host");
        properties.insert("extra".into(), json!({ "description": "x" }));
        let problems = check_table_schema::<Table>(&schema).unwrap_err();
        assert!(problems.contains("field `host` has no property"), "{problems}");
        assert!(problems.contains("property `extra` is not a field"), "{problems}");
        assert!(check_table_schema::<String>(&schema).is_err());
    }

    /// A table with no fields of its own (the `plain` provider's).
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Empty {}

    #[test]
    fn a_struct_with_no_fields_is_a_table() {
        check_table_schema::<Empty>(&table_schema::<Empty>()).unwrap();
        let map =
            check_table_schema::<std::collections::BTreeMap<String, String>>(&table_schema::<Empty>()).unwrap_err();
        assert!(map.contains("is not a struct"), "{map}");
    }

    #[test]
    fn combines_core_and_backend_parts() {
        let provider = BackendSchema {
            type_name: "env",
            description: "env",
            schema: json!({
                "type": "object",
                "additionalProperties": false,
                "properties": { "prefix": { "$ref": "#/definitions/Prefix" } },
                "definitions": { "Prefix": { "type": "string" } }
            }),
        };
        let schema = config_schema(vec![provider], vec![]);
        let variant = &schema["definitions"]["provider"]["oneOf"][0];
        assert_eq!(variant["properties"]["type"]["const"], "env");
        assert_eq!(variant["required"], json!(["type"]));
        assert_eq!(
            variant["properties"]["prefix"]["$ref"],
            "#/definitions/provider.env.Prefix"
        );
        assert_eq!(schema["definitions"]["provider.env.Prefix"]["type"], "string");
        assert_eq!(
            schema["properties"]["secrets"]["additionalProperties"]["$ref"],
            "#/definitions/secret"
        );
    }
}
