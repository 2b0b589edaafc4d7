//! # tollgate-ingest: gateway access logs into the lake
//!
//! Reads gateway access-log messages, decodes them with
//! [`tollgate_schemas::decode`], and writes events to the Parquet lake and
//! rejects to quarantine, exactly once (see [`sink`] for the protocol and
//! `docs/LAKE.md` for the layout).
//!
//! # Layout
//!
//! - [`config`]: the `[lake]`, `[kafka]` and `[ingest]` configuration.
//! - [`store`]: the lake's storage (local folder or S3), durable atomic writes
//!   (from [`tollgate_lake`], the crate under every stage that writes).
//! - [`message`]: one raw message to rows: decode, skew/horizon checks.
//! - [`batch`]: the batcher's buffer (Arrow columns by date) and Parquet encoding.
//! - [`sink`]: `ParquetSink`, the lake commit protocol and recovery.
//! - [`kafka`]: `tollgate ingest`, the consumer-group member.
//! - [`import`]: `tollgate import`, backfills from log files.
//! - [`metrics`]: Prometheus counters.
//! - [`lines`]: a newline-delimited message reader with a bound on line size.
//! - [`decode_cmd`]: `tollgate decode`, which shows what Tollgate makes of a
//!   gateway's log lines before any Kafka is involved.

pub mod batch;
pub mod config;
pub mod decode_cmd;
pub mod delta;
pub mod import;
pub mod kafka;
pub mod lines;
pub mod message;
pub mod metrics;
pub mod sink;
/// The lake's storage, now in [`tollgate_lake`]; kept here so ingest's
/// modules and users of `tollgate_ingest::store` read as before.
pub use tollgate_lake::store;
