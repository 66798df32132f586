//! Configuration: files, their merged model, and errors that point into them.

pub mod edit;
mod error;
mod exec;
mod load;
mod model;
mod source;
pub mod trust_store;

pub use error::{did_you_mean, escape, explain_serde_message, ConfigError};
pub use exec::{ExecSettings, Setting};
pub use load::{load, LoadOptions, LOCAL_FILE, PROJECT_FILE};
pub use model::{BackendSpec, Config, IfMissing, Origin, SecretSpec};
pub use source::{display_path, Location, SourceFile, SourceKind, TrustState};
