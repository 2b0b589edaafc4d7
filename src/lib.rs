//! # tollgate: the command-line front of the pipeline
//!
//! One binary with subcommands; each subcommand is a thin adapter from
//! flags to a library function in the stage crates.
//!
//! # Layout
//!
//! - [`commands`]: the command line ([`commands::Cli`]) and one module per
//!   command (`decode`, `ingest`, `import`, `sql`, `rollup`, `report`,
//!   `quote`, `invoice`, `signals`, `serve`, `demo`, `simulate`) over
//!   [`commands::common`]: configuration, the runtime, the shutdown token.
//! - [`config`]: `tollgate.toml` loading with environment overrides.
//!
//! The gateway simulator is its own crate, `tollgate_sim`.

pub mod commands;
pub mod config;
