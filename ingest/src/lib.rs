//! # tollgate-ingest: gateway access logs into the lake
//!
//! Reads gateway access-log messages, decodes them with
//! [`tollgate_schemas::decode`], and (as the pipeline grows) writes events
//! to the Parquet lake and rejects to quarantine.
//!
//! # Layout
//!
//! - [`lines`]: a newline-delimited message reader with a bound on line size.
//! - [`decode_cmd`]: `tollgate decode`, which shows what Tollgate makes of a
//!   gateway's log lines before any Kafka is involved.

pub mod decode_cmd;
pub mod lines;
