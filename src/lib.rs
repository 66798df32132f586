//! The `sesame` command-line definition. It is a library so that
//! `cargo xtask docs` renders the CLI reference and man pages from the very
//! types the binary parses with; everything else lives in the binary.

pub mod cli;
