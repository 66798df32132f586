//! Configuration: files, their merged model, and errors that point into them.

mod error;
mod exec;
mod load;
mod model;
mod source;

pub use error::{did_you_mean, explain_serde_message, ConfigError};
pub use exec::{ExecSettings, Setting};
pub use load::{load, LoadOptions, LOCAL_FILE, PROJECT_FILE};
pub use model::{BackendSpec, Config, IfMissing, Origin, SecretSpec};
pub use source::{display_path, Location, SourceFile, SourceKind};
