//! # tollgate: the command-line front of the pipeline
//!
//! One binary with subcommands; each subcommand is a thin adapter from
//! flags to a library function in the stage crates.
//!
//! # Layout
//!
//! - [`cli`]: the command-line definition and dispatch.
//! - [`config`]: `tollgate.toml` loading with environment overrides.

pub mod cli;
pub mod config;
