//! # tollgate: the command-line front of the pipeline
//!
//! One binary with subcommands; each subcommand is a thin adapter from
//! flags to a library function in the stage crates.
//!
//! # Layout
//!
//! - [`cli`]: the command-line definition and dispatch.
//! - [`config`]: `tollgate.toml` loading with environment overrides.
//! - [`demo`]: `tollgate demo`, the whole product with an embedded broker.
//! - [`invoice_cmd`]: `tollgate invoice …` (runs, finalization, documents).
//! - [`signals_cmd`]: `tollgate watch` and `tollgate signals …` (quota and alert signals).
//! - [`simulate`]: `tollgate simulate`, realistic gateway traffic to a file or Kafka.

pub mod cli;
pub mod config;
pub mod demo;
pub mod invoice_cmd;
pub mod signals_cmd;
pub mod simulate;
