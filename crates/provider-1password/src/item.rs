//! A 1Password item as `op item get --format json` and Connect's
//! `GET /v1/vaults/{id}/items/{id}` return it, and finding a field in it.
//!
//! Both shapes share what matters here: `sections: [{id, label?}]` and
//! `fields: [{id, type, purpose?, label, value?, section?: {id, label?}}]`.
//! Unknown keys are ignored. Values are held as [`SecretValue`], so an item
//! cannot be printed by accident.

use serde::{Deserialize, Deserializer};
use sesame_core::SecretValue;

/// An item with its fields.
#[derive(Debug, Default, Deserialize)]
pub struct Item {
    /// The item's ID.
    #[serde(default)]
    pub id: String,
    /// The item's title.
    #[serde(default)]
    pub title: String,
    /// Its sections (op omits the key when there are none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sections: Vec<Section>,
    /// Its fields.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub fields: Vec<Field>,
}

/// A section of an item.
#[derive(Debug, Default, Deserialize)]
pub struct Section {
    /// The section's ID.
    #[serde(default)]
    pub id: String,
    /// Its label; some sections have none.
    #[serde(default)]
    pub label: Option<String>,
}

/// A field of an item.
#[derive(Debug, Default, Deserialize)]
pub struct Field {
    /// The field's ID.
    #[serde(default)]
    pub id: String,
    /// `USERNAME`, `PASSWORD` or `NOTES` for the built-in fields.
    #[serde(default)]
    pub purpose: Option<String>,
    /// The field's label.
    #[serde(default)]
    pub label: Option<String>,
    /// The value; absent for a field that was never set.
    #[serde(default, deserialize_with = "lenient_value")]
    pub value: Option<SecretValue>,
    /// The section the field belongs to.
    #[serde(default)]
    pub section: Option<FieldSection>,
}

/// The `section` of a field.
#[derive(Debug, Default, Deserialize)]
pub struct FieldSection {
    /// The section's ID.
    #[serde(default)]
    pub id: Option<String>,
    /// Its label (op includes it, Connect does not).
    #[serde(default)]
    pub label: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A value that is a string, as every field's is; a number or boolean is
/// taken as its text, anything else as unset. Never fails, so a parse
/// error can never quote a value.
fn lenient_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretValue>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(SecretValue::new(s)),
        serde_json::Value::Number(n) => Some(SecretValue::new(n.to_string())),
        serde_json::Value::Bool(b) => Some(SecretValue::new(b.to_string())),
        _ => None,
    })
}

/// Why a field could not be found. The lists hold labels, never values.
#[derive(Debug, PartialEq, Eq)]
pub enum Missing {
    /// No section with that label or ID; the item's section labels.
    Section(Vec<String>),
    /// No field with that label or ID; the item's field labels (as
    /// `section/label` for fields in a labelled section).
    Field(Vec<String>),
}

impl Item {
    /// Parses the JSON of one item. The error says where the JSON is
    /// broken, never what it holds.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Io => "could not be read",
                serde_json::error::Category::Syntax => "is not valid JSON",
                serde_json::error::Category::Data => "is not an item",
                serde_json::error::Category::Eof => "ends early",
            };
            format!("the answer {what} (line {}, column {})", e.line(), e.column())
        })
    }

    /// The field `field`, in section `section` or anywhere in the item.
    ///
    /// Sections and fields match by ID, then by label (exactly, then
    /// ignoring case, as `op` does). `password`, `username` and
    /// `notesPlain` also match the field with that purpose.
    pub fn find_field(&self, section: Option<&str>, field: &str) -> Result<&Field, Missing> {
        let in_section: Option<&Section> = match section {
            None => None,
            Some(wanted) => {
                let found = self
                    .sections
                    .iter()
                    .find(|s| s.id == wanted)
                    .or_else(|| self.sections.iter().find(|s| s.label.as_deref() == Some(wanted)))
                    .or_else(|| {
                        self.sections
                            .iter()
                            .find(|s| s.label.as_deref().is_some_and(|l| same(l, wanted)))
                    });
                match found {
                    Some(s) => Some(s),
                    None => return Err(Missing::Section(self.section_labels())),
                }
            }
        };
        let candidates: Vec<&Field> = self
            .fields
            .iter()
            .filter(|f| match in_section {
                None => true,
                Some(s) => f.section.as_ref().and_then(|fs| fs.id.as_deref()) == Some(s.id.as_str()),
            })
            .collect();
        let purpose = match field.to_lowercase().as_str() {
            "password" => Some("PASSWORD"),
            "username" => Some("USERNAME"),
            "notesplain" => Some("NOTES"),
            _ => None,
        };
        candidates
            .iter()
            .find(|f| f.id == field)
            .or_else(|| candidates.iter().find(|f| f.label.as_deref() == Some(field)))
            .or_else(|| {
                candidates
                    .iter()
                    .find(|f| f.label.as_deref().is_some_and(|l| same(l, field)))
            })
            .or_else(|| purpose.and_then(|p| candidates.iter().find(|f| f.purpose.as_deref() == Some(p))))
            .copied()
            .ok_or_else(|| Missing::Field(self.field_labels()))
    }

    fn section_labels(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.sections {
            let name = s
                .label
                .clone()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| s.id.clone());
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// The label of every field, prefixed with its section's label.
    pub fn field_labels(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in &self.fields {
            let label = f
                .label
                .clone()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| f.id.clone());
            let section = f.section.as_ref().and_then(|fs| {
                fs.label.clone().filter(|l| !l.is_empty()).or_else(|| {
                    let id = fs.id.as_deref()?;
                    self.sections
                        .iter()
                        .find(|s| s.id == id)?
                        .label
                        .clone()
                        .filter(|l| !l.is_empty())
                })
            });
            let name = match section {
                Some(section) => format!("{section}/{label}"),
                None => label,
            };
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

impl Field {
    /// The value; a field that was never set reads as empty, as `op read` does.
    pub fn value(&self) -> SecretValue {
        self.value.clone().unwrap_or_default()
    }
}

/// Equal ignoring case (Unicode-aware).
fn same(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `op item get --format json` (op 2.x).
    const OP_JSON: &str = r#"{
      "id": "icloudflare", "title": "Cloudflare", "version": 3,
      "vault": {"id": "vdev", "name": "Development"}, "category": "LOGIN",
      "sections": [{"id": "s1", "label": "Admin"}, {"id": "s2", "label": "Ops"}, {"id": "add more"}],
      "fields": [
        {"id": "username", "type": "STRING", "purpose": "USERNAME", "label": "username", "value": "me",
         "reference": "op://Development/Cloudflare/username"},
        {"id": "pw", "type": "CONCEALED", "purpose": "PASSWORD", "label": "secret", "value": "hunter2\n  x=\"y\" ",
         "reference": "op://Development/Cloudflare/secret"},
        {"id": "k3qz7", "type": "CONCEALED", "label": "api token", "value": "cf-token",
         "section": {"id": "s1", "label": "Admin"}, "reference": "op://Development/Cloudflare/Admin/api token"},
        {"id": "k9", "type": "CONCEALED", "label": "api token", "value": "ops-token",
         "section": {"id": "s2", "label": "Ops"}},
        {"id": "notesPlain", "type": "STRING", "purpose": "NOTES", "label": "notesPlain"},
        {"id": "n1", "type": "STRING", "label": "Clé Ünïcode", "value": "✓"},
        {"id": "n2", "type": "STRING", "label": "port", "value": 8080}
      ]
    }"#;

    /// The shape of Connect's full item: sections by id only on fields.
    const CONNECT_JSON: &str = r#"{
      "id": "icloudflare", "title": "Cloudflare", "vault": {"id": "vdev"}, "category": "LOGIN",
      "sections": [{"id": "s1", "label": "Admin"}],
      "fields": [
        {"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "p"},
        {"id": "k3", "section": {"id": "s1"}, "type": "CONCEALED", "label": "api token", "value": "cf"}
      ]
    }"#;

    fn value(item: &Item, section: Option<&str>, field: &str) -> String {
        item.find_field(section, field).unwrap().value().expose().to_string()
    }

    #[test]
    fn fields_match_by_id_label_case_and_purpose() {
        let item = Item::from_json(OP_JSON.as_bytes()).unwrap();
        assert_eq!(value(&item, None, "username"), "me");
        assert_eq!(
            value(&item, None, "password"),
            "hunter2\n  x=\"y\" ",
            "purpose PASSWORD"
        );
        assert_eq!(value(&item, None, "secret"), "hunter2\n  x=\"y\" ");
        assert_eq!(value(&item, None, "pw"), "hunter2\n  x=\"y\" ", "by id");
        assert_eq!(
            value(&item, None, "API Token"),
            "cf-token",
            "first match, case-insensitive"
        );
        assert_eq!(value(&item, None, "clé üNÏCODE"), "✓");
        assert_eq!(value(&item, None, "notesPlain"), "", "never set reads as empty");
        assert_eq!(value(&item, None, "port"), "8080");
    }

    #[test]
    fn sections_match_by_label_or_id() {
        let item = Item::from_json(OP_JSON.as_bytes()).unwrap();
        assert_eq!(value(&item, Some("Admin"), "api token"), "cf-token");
        assert_eq!(value(&item, Some("ops"), "api token"), "ops-token");
        assert_eq!(value(&item, Some("s2"), "k9"), "ops-token");
        let connect = Item::from_json(CONNECT_JSON.as_bytes()).unwrap();
        assert_eq!(value(&connect, Some("admin"), "API token"), "cf");
        assert_eq!(value(&connect, None, "password"), "p");
    }

    #[test]
    fn missing_fields_list_labels_never_values() {
        let item = Item::from_json(OP_JSON.as_bytes()).unwrap();
        let Err(Missing::Field(labels)) = item.find_field(None, "nope") else {
            panic!()
        };
        assert_eq!(
            labels,
            [
                "username",
                "secret",
                "Admin/api token",
                "Ops/api token",
                "notesPlain",
                "Clé Ünïcode",
                "port"
            ]
        );
        let Err(Missing::Field(labels)) = item.find_field(Some("Admin"), "username") else {
            panic!()
        };
        assert!(!labels.iter().any(|l| l.contains("hunter2") || l.contains("cf-token")));
        assert_eq!(
            item.find_field(Some("Nope"), "x").unwrap_err(),
            Missing::Section(vec!["Admin".into(), "Ops".into(), "add more".into()])
        );
        let connect = Item::from_json(CONNECT_JSON.as_bytes()).unwrap();
        assert_eq!(connect.field_labels(), ["password", "Admin/api token"]);
    }

    #[test]
    fn broken_json_errors_never_quote_it() {
        for bad in [
            r#"{"fields": "s3cr3t-value"}"#,
            r#"{"fields": [{"label": 1}], "x": "s3cr3t-value"#,
            "s3cr3t-value",
        ] {
            let err = Item::from_json(bad.as_bytes()).unwrap_err();
            assert!(!err.contains("s3cr3t"), "{err}");
            assert!(err.contains("line"), "{err}");
        }
        let item = Item::from_json(br#"{"fields": null, "sections": null}"#).unwrap();
        assert!(item.fields.is_empty());
    }
}
