//! The lake as DataFusion tables.
//!
//! `events` and `quarantine` are listing tables over the Hive-partitioned
//! Parquet folders, with `date` (the partition) as an extra column: a
//! filter on `date` prunes whole folders, a filter on `ts` prunes row groups
//! by their statistics. A table whose folder does not exist yet is an empty
//! table with the right schema, so queries work on a fresh lake.
//! `invoices` (one row per invoice line, written by the billing stage) is
//! partitioned by `period=YYYY-MM` instead.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::config::TableParquetOptions;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use serde::{Deserialize, Serialize};
use tollgate_lake::layout;
use tollgate_lake::schema::{rollup_schema, summary_schema};
use tollgate_schemas::lake::{
    credit_note_line_schema, invoice_line_schema, lake_event_schema, quarantine_schema,
    wallet_schema,
};

use crate::AnalyticsError;

/// `[analytics]`: limits for queries over the lake.
///
/// The analyst limits (`sql_*`) apply wherever analysts' SQL runs: the
/// dashboard's console and `POST /api/sql`, `tollgate sql`, and any later
/// protocol front. They live here rather than in `[serve]` because they
/// bound the engine, not one front (see [`crate::analyst`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Memory the queries of one process may hold together, in MiB (the
    /// engine's pool: hash tables, sorts, aggregate states, analyst
    /// results). Past it a query fails with a "needs more memory" error
    /// instead of taking the machine down. Analyst queries together get
    /// three quarters of it (`3/4 × memory_limit_mb / sql_max_concurrent`
    /// each); the rest stays for the dashboard's own queries.
    pub memory_limit_mb: usize,
    /// Longest a query may run, in seconds; for analyst SQL this covers
    /// planning, execution and turning the result into JSON, CSV or HTML.
    pub query_timeout_secs: u64,
    /// Threads a query may use (0 = the number of CPUs).
    pub threads: usize,
    /// Analyst queries that may run at once; more wait up to
    /// `sql_queue_wait_ms` and are then refused (HTTP 503, `Retry-After`).
    pub sql_max_concurrent: usize,
    /// How long an analyst query waits for a free slot, in milliseconds.
    pub sql_queue_wait_ms: u64,
    /// Most bytes of one analyst result (Arrow bytes, before JSON or
    /// CSV). Pages and JSON show the rows that fit and say so; CSV
    /// downloads and `tollgate sql` are refused (HTTP 413).
    pub sql_max_result_mb: usize,
    /// Most bytes one call of a value-building function (`repeat`,
    /// `lpad`, `array_repeat`, `range`, ...; see [`crate::guard`]) may
    /// build for one batch of rows. Checked from the arguments before the
    /// function runs.
    pub sql_max_value_mb: usize,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            memory_limit_mb: 1024,
            query_timeout_secs: 60,
            threads: 0,
            sql_max_concurrent: 2,
            sql_queue_wait_ms: 2000,
            sql_max_result_mb: 64,
            sql_max_value_mb: 16,
        }
    }
}

/// The `date=` partition column every table has.
pub const DATE_COL: &str = "date";

/// The lake opened for queries.
pub struct Lake {
    ctx: SessionContext,
    timeout: Duration,
    location: String,
    /// Tables whose folder did not exist when the lake was opened (local
    /// lakes): registered empty.
    missing: Vec<&'static str>,
    /// The session analysts' SQL starts from: the same tables, with the
    /// value-building functions guarded ([`crate::guard`]).
    analyst: SessionState,
}

/// The `period=` partition column of the `invoices` table (`YYYY-MM`).
pub const PERIOD_COL: &str = "period";

/// `schema` as the engine reads it, for speed; the files keep their types.
///
/// - Strings and bytes as views: the Parquet reader then points into the
///   dictionary pages instead of copying every value, and grouping
///   compares short ids (consumer, route: up to 12 bytes inline) without
///   touching the bytes. A profile of "calls per consumer" over 50M events
///   spent a third of its time copying and comparing plain strings.
/// - UTC timestamps as timestamps without a zone, holding the same UTC
///   instants: `date_trunc` on a zoned timestamp converts every value
///   through the time-zone database (4.0 s against 0.78 s for "calls per
///   consumer per day" over 50M events). Every time in the lake is UTC, so
///   nothing is lost; literals are read as UTC.
fn query_types(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            DataType::Binary => f.as_ref().clone().with_data_type(DataType::BinaryView),
            DataType::Timestamp(unit, Some(tz)) if tz.as_ref() == "UTC" => f
                .as_ref()
                .clone()
                .with_data_type(DataType::Timestamp(*unit, None)),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn with_partition(schema: &SchemaRef, col: &str) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(col, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

impl Lake {
    /// Opens the lake at `location` (a folder, or `s3://bucket/prefix` with
    /// the `AWS_*` variables) with the given limits.
    pub async fn open(location: &str, cfg: &AnalyticsConfig) -> Result<Lake, AnalyticsError> {
        // A hard memory limit: no spilling to disk, so a query that needs
        // more fails cleanly instead of filling the disk.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(cfg.memory_limit_mb.max(16) * 1024 * 1024, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()?;
        // Filter pushdown (decode the filter columns first, then only the
        // matching rows of the others) is set per table: see `register`.
        let mut config = SessionConfig::new().with_information_schema(true);
        if cfg.threads > 0 {
            config = config.with_target_partitions(cfg.threads);
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        let base = if let Some(rest) = location.strip_prefix("s3://") {
            let bucket = rest.split('/').next().unwrap_or_default();
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| AnalyticsError::Lake(format!("{location}: {e}")))?;
            let url = url_for_bucket(bucket)?;
            ctx.register_object_store(&url, Arc::new(store));
            format!("{}/", location.trim_end_matches('/'))
        } else {
            let path = std::path::Path::new(location);
            let abs = if path.is_absolute() {
                path.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(|e| AnalyticsError::Lake(e.to_string()))?
                    .join(path)
            };
            format!("{}/", abs.display().to_string().trim_end_matches('/'))
        };
        let mut analyst = SessionStateBuilder::new_from_existing(ctx.state())
            .with_physical_optimizer_rule(Arc::new(crate::engine::YieldAfterJoins))
            .build();
        let max_value = cfg.sql_max_value_mb.max(1) as u64 * 1024 * 1024;
        for udf in crate::guard::guarded(analyst.scalar_functions(), max_value) {
            analyst.register_udf(udf)?;
        }
        // The latency histograms in SQL: `sketch_merge`, `sketch_quantile`.
        analyst.register_udaf(Arc::new(crate::sketch_sql::sketch_merge()))?;
        analyst.register_udf(Arc::new(crate::sketch_sql::sketch_quantile()))?;
        let mut lake = Lake {
            ctx,
            timeout: Duration::from_secs(cfg.query_timeout_secs.max(1)),
            location: location.into(),
            missing: Vec::new(),
            analyst,
        };
        lake.register("events", &base, lake_event_schema()).await?;
        lake.register("quarantine", &base, quarantine_schema())
            .await?;
        lake.register("rollups_hourly", &base, rollup_schema())
            .await?;
        lake.register("rollups_summary", &base, summary_schema())
            .await?;
        lake.register("rollups_summary_month", &base, summary_schema())
            .await?;
        lake.register("invoices", &base, invoice_line_schema())
            .await?;
        lake.register("wallet", &base, wallet_schema()).await?;
        lake.register("credit_notes", &base, credit_note_line_schema())
            .await?;
        Ok(lake)
    }

    /// Whether `table`'s folder existed when the lake was opened (always
    /// true for object stores, which have no folders).
    pub fn has_table(&self, table: &str) -> bool {
        !self.missing.contains(&table)
    }

    async fn register(
        &mut self,
        table: &'static str,
        base: &str,
        schema: SchemaRef,
    ) -> Result<(), AnalyticsError> {
        let schema = query_types(&schema);
        let dir = match table {
            "events" => layout::EVENTS,
            "quarantine" => layout::QUARANTINE,
            "rollups_hourly" => layout::ROLLUPS_HOURLY,
            "rollups_summary" => layout::ROLLUPS_SUMMARY,
            "rollups_summary_month" => layout::ROLLUPS_SUMMARY_MONTH,
            "invoices" => layout::INVOICES,
            "wallet" => layout::WALLET,
            "credit_notes" => layout::CREDIT_NOTES,
            other => other,
        };
        let partition = match table {
            "invoices" | "wallet" | "credit_notes" => PERIOD_COL,
            "rollups_summary_month" => "month",
            _ => DATE_COL,
        };
        let path = format!("{base}{dir}/");
        let exists = match path.strip_prefix('/') {
            Some(_) => std::path::Path::new(&path).is_dir(),
            None => true,
        };
        if !exists {
            let empty = MemTable::try_new(with_partition(&schema, partition), vec![vec![]])?;
            self.ctx.register_table(table, Arc::new(empty))?;
            self.missing.push(table);
            return Ok(());
        }
        // Filter pushdown for every table but the summary views: it pays
        // on events, where a filter leaves few rows of large row groups;
        // the views' small pages are already picked by the page index,
        // and the second pass cost a quarter of a one-consumer question
        // (21 against 16 ms; 11 against 8 ms for the hourly series, over
        // a month of 50M events).
        let mut parquet = TableParquetOptions::default();
        parquet.global.pushdown_filters = !table.starts_with("rollups_summary");
        let format = ParquetFormat::default().with_options(parquet);
        let options = ListingOptions::new(Arc::new(format))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(partition.to_string(), DataType::Utf8)]);
        self.ctx
            .register_listing_table(table, &path, options, Some(schema), None)
            .await?;
        Ok(())
    }

    /// Where the lake is, as given.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The DataFusion context (for the aggregator's own typed queries).
    pub(crate) fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs trusted SQL built by this crate, under the time limit.
    pub(crate) async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, AnalyticsError> {
        let run = async {
            let df = self.ctx.sql(sql).await?;
            df.collect().await
        };
        tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| AnalyticsError::Timeout(self.timeout))?
            .map_err(AnalyticsError::from)
    }

    /// A session for one analyst query: the lake's tables and guarded
    /// functions, with its own memory share of `share_bytes` drawn from
    /// the lake's pool (see [`crate::analyst::SqlGate`]).
    pub(crate) fn analyst_context(
        &self,
        share_bytes: usize,
    ) -> Result<SessionContext, AnalyticsError> {
        let parent = self.ctx.runtime_env();
        let pool = Arc::new(crate::engine::ShareOfPool::new(
            parent.memory_pool.clone(),
            share_bytes,
        ));
        let runtime = RuntimeEnvBuilder::from_runtime_env(&parent)
            .with_memory_pool(pool)
            .build_arc()?;
        let state = SessionStateBuilder::new_from_existing(self.analyst.clone())
            .with_runtime_env(runtime)
            .build();
        Ok(SessionContext::new_with_state(state))
    }
}

fn url_for_bucket(bucket: &str) -> Result<url::Url, AnalyticsError> {
    url::Url::parse(&format!("s3://{bucket}")).map_err(|e| AnalyticsError::Lake(e.to_string()))
}

/// Refuses anything but one read-only statement, before planning (the
/// `SQLOptions` check during planning is the second line of defence).
pub fn check_read_only(sql: &str) -> Result<(), AnalyticsError> {
    let statements = DFParser::parse_sql(sql).map_err(|e| AnalyticsError::Query(e.to_string()))?;
    if statements.len() != 1 {
        return Err(AnalyticsError::Refused(format!(
            "{} statements given; send exactly one",
            statements.len()
        )));
    }
    let ok = is_read_only(&statements[0]);
    if ok {
        return Ok(());
    }
    let text = statements[0].to_string();
    let kind: String = text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    Err(AnalyticsError::Refused(format!(
        "`{kind} …` is not a query"
    )))
}

/// A query, or an EXPLAIN / SHOW / DESCRIBE of one (EXPLAIN ANALYZE runs
/// its statement, so what it explains must be read-only too).
fn is_read_only(statement: &DfStatement) -> bool {
    match statement {
        DfStatement::Statement(s) => is_read_only_sql(s),
        DfStatement::Explain(e) => is_read_only(&e.statement),
        _ => false,
    }
}

fn is_read_only_sql(s: &SqlStatement) -> bool {
    match s {
        SqlStatement::Query(_)
        | SqlStatement::ExplainTable { .. }
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. } => true,
        SqlStatement::Explain { statement, .. } => is_read_only_sql(statement),
        _ => false,
    }
}
