//! The config file and what it means for one target: file schema in `file`, merging with
//! flags and environment in `effective`.

pub mod effective;
pub mod file;

pub use effective::{Effective, Overrides, resolve, resolve_defaults};
pub use file::ConfigFile;
