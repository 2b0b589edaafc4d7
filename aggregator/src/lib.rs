//! # tollgate-aggregator: questions asked of the lake
//!
//! Opens the Parquet lake as DataFusion tables (`events`, `quarantine`,
//! `rollups_hourly`) and answers typed questions about traffic: calls,
//! 4xx/5xx error rates, latency percentiles per consumer, route and API,
//! from raw events, hourly rollups or their summary views, whichever
//! answers a question cheapest ([`planner`]); and runs analysts' read-only SQL
//! under memory and time limits. Other crates ask through these typed
//! functions; only this crate writes SQL for the lake.
//!
//! # Layout
//!
//! From the bottom up: the types, the lake, the sources, the planner.
//!
//! - [`query`]: the traffic question and its answer as types ([`query::TrafficQuery`],
//!   [`query::TrafficRow`]) and the ranking of an answer.
//! - [`sketch`]: the DDSketch-style histogram behind rollup percentiles ([`sketch::Sketch`]),
//!   and its one codec (the rollup's bucket lists, the views' packed bytes).
//! - [`lake`]: the tables and their limits.
//! - [`analyst`]: analysts' SQL under limits that hold ([`analyst::SqlGate`]): concurrency,
//!   a memory share per query, a result cap, the time limit over planning to serialisation.
//! - [`guard`]: the SQL functions that could build huge values, capped per call.
//! - [`sketch_sql`]: `sketch_merge` and `sketch_quantile`, the histograms in analyst SQL.
//! - [`rollup_row`]: one hourly rollup row's key and values.
//! - [`rollup`]: hourly pre-aggregates with mergeable latency sketches.
//! - [`summary`]: each day's rollup folded into small views (per hour, day or month; totals,
//!   per consumer, per route), which answer the dashboard's month-long questions: the views'
//!   catalog, the writer of the day and month files, and the planner that reads them.
//! - [`traffic`]: the traffic metrics from raw events (exact), or from rollup rows merged in
//!   Rust (day buckets in a time zone).
//! - [`rollup_traffic`]: the traffic metrics from the hourly rollup merged by the engine.
//! - [`planner`]: the one entry point, [`planner::answer`]: picks the cheapest of the month,
//!   day or hour views, the hourly rollup or the raw events for each question.
//! - [`inventory`]: which consumers and hours the rollups hold (cheap look-ups).
//! - [`usage`]: billable usage per consumer and day, deduplicated by `event_id`.
//! - [`output`]: record batches as a table, CSV, JSON or Parquet.

pub mod analyst;
mod engine;
pub mod guard;
pub mod inventory;
pub mod lake;
pub mod output;
pub mod planner;
pub mod query;
pub mod rollup;
pub mod rollup_row;
pub mod rollup_traffic;
pub mod sketch;
pub mod sketch_sql;
pub mod summary;
pub mod traffic;
pub mod usage;

use std::time::Duration;

use datafusion::error::DataFusionError;

pub use analyst::{
    AnalystAnswer, Cut, Described, Extras, ResultLimit, Setup, SqlGate, WhenTooLarge,
};
pub use lake::{AnalyticsConfig, Lake};

/// Why a question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The SQL would change something; analyst SQL is read-only.
    #[error(
        "refused: {0}. Analyst SQL is read-only: use SELECT (with WITH, EXPLAIN, SHOW, DESCRIBE)"
    )]
    Refused(String),
    /// The query ran past the time limit.
    #[error(
        "query ran longer than {0:?}; narrow the time range or raise analytics.query_timeout_secs"
    )]
    Timeout(Duration),
    /// The query needed more memory than allowed.
    #[error(
        "query needed more memory than analytics.memory_limit_mb allows ({0}); narrow it or raise the limit"
    )]
    Memory(String),
    /// A function would build a value past `analytics.sql_max_value_mb`.
    #[error("{0}")]
    ValueTooLarge(String),
    /// The result passed `analytics.sql_max_result_mb` (bytes) where a
    /// shorter answer would be wrong (a download, an export).
    #[error(
        "the result is larger than analytics.sql_max_result_mb ({} MiB); select fewer rows or columns, or raise the limit",
        .0 / (1024 * 1024)
    )]
    ResultTooLarge(usize),
    /// Every analyst query slot stayed taken for the queue wait.
    #[error(
        "{running} analyst queries are already running (analytics.sql_max_concurrent); try again in {} s",
        retry_after.as_secs().max(1)
    )]
    Busy {
        /// The concurrency limit.
        running: usize,
        /// When to try again.
        retry_after: Duration,
    },
    /// A request parameter is wrong.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The lake could not be read or written.
    #[error("lake: {0}")]
    Lake(String),
    /// The query failed (syntax, unknown column, ...).
    #[error("{0}")]
    Query(String),
}

impl From<DataFusionError> for AnalyticsError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(m) => AnalyticsError::Memory(m.clone()),
            DataFusionError::External(inner) if inner.is::<guard::ValueTooLarge>() => {
                AnalyticsError::ValueTooLarge(inner.to_string())
            }
            _ => AnalyticsError::Query(e.to_string()),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for AnalyticsError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        AnalyticsError::Query(e.to_string())
    }
}

impl From<parquet::errors::ParquetError> for AnalyticsError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        AnalyticsError::Lake(e.to_string())
    }
}

impl AnalyticsError {
    /// Classifies a planning error: DataFusion's `SQLOptions` refusals
    /// become [`AnalyticsError::Refused`].
    pub(crate) fn refused_or(e: DataFusionError) -> Self {
        let msg = e.to_string();
        for what in [
            "DDL not supported",
            "DML not supported",
            "Statement not supported",
        ] {
            if let Some(i) = msg.find(what) {
                return AnalyticsError::Refused(msg[i..].trim().to_string());
            }
        }
        e.into()
    }
}

/// The lake root (local folder or S3 prefix) as the lake's durable store,
/// for the rollup writer.
pub fn lake_store(location: &str) -> Result<tollgate_lake::LakeStore, AnalyticsError> {
    tollgate_lake::LakeStore::open(location).map_err(|e| AnalyticsError::Lake(e.to_string()))
}
