//! # tollgate-aggregator: questions asked of the lake
//!
//! Will open the Parquet lake as DataFusion tables (`events`, `quarantine`,
//! rollups, invoices) and answer typed questions about traffic: counts,
//! error rates, latency percentiles per consumer, route and API, hourly
//! rollups, and read-only SQL for analysts. Not built yet (issue 4); the
//! crate exists so the workspace has its final shape.
//!
//! # Layout
//!
//! Empty for now.
