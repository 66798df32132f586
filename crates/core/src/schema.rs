//! The JSON Schema of `sesame.toml`, for editors (taplo / Even Better TOML
//! complete and check the file with it). Core writes the part it owns
//! (top-level keys, `[secrets]`, profiles, the `type` and `reuse` keys);
//! each backend contributes the schema of its own table through its
//! registration, generated from the same struct its factory parses.

use serde_json::{json, Map, Value};

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
    let provider_variants = variants("provider", providers, &mut definitions, &[]);
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
                "if_missing": { "$ref": "#/definitions/if_missing" }
            }
        }),
    );
    let tables = |with_root: bool| {
        let mut properties = json!({
            "default_provider": { "type": "string", "description": "The provider of secrets that name none." },
            "if_missing": { "$ref": "#/definitions/if_missing" },
            "providers": {
                "type": "object",
                "description": "Where secret values come from, by name.",
                "additionalProperties": { "$ref": "#/definitions/provider" }
            },
            "secrets": {
                "type": "object",
                "description": "Environment variables and where their values come from.",
                "propertyNames": { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
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
