//! The `sesame` command-line definition and the backends the binary links.
//! It is a library so that `cargo xtask docs` renders the CLI reference,
//! the man pages and the config schema from the very types and
//! registrations the binary uses; everything else lives in the binary.

pub mod cli;
pub mod linked_backends;

/// The JSON Schema of sesame.toml for the backends linked here: what
/// `sesame schema` prints and docs/reference/sesame.schema.json holds.
pub fn config_schema() -> serde_json::Value {
    sesame_core::schema::registered_config_schema()
}
