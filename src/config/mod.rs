//! The config file: its schema, where it lives, who may have written it, and errors that
//! name file, line and key. What it means for one target is the route stage's
//! (`route::settings`).

pub mod file;

pub use file::ConfigFile;
