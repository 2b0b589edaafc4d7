//! Analysts' SQL under limits that hold: the one way the SQL console,
//! `POST /api/sql`, `tollgate sql` (and later the Postgres protocol) run a
//! statement they did not write.
//!
//! A [`SqlGate`] is shared by every analyst query of a process. For each
//! statement it:
//!
//! 1. refuses anything but one read-only statement ([`crate::lake::check_read_only`]);
//! 2. waits at most `sql_queue_wait_ms` for one of `sql_max_concurrent`
//!    slots, or answers [`AnalyticsError::Busy`] (a 503 with `Retry-After`);
//! 3. plans and runs it on the analyst runtime (its own threads, at a lower
//!    CPU priority, so the dashboard's own requests and `/healthz` keep
//!    being served while analysts saturate the cores), in a session whose
//!    memory pool is a share of the lake's pool (three quarters of
//!    `memory_limit_mb` for analysts together, `/ sql_max_concurrent` each;
//!    the last quarter is kept for the dashboard's own queries), with the
//!    value guards of [`crate::guard`];
//! 4. pulls the result as a stream, counting each batch against the share
//!    and against `sql_max_result_mb` and the caller's row cap, and stops
//!    pulling as soon as a cap is reached (the rest is never computed);
//! 5. renders the answer (JSON, CSV, HTML) inside the same task, so the
//!    time limit covers planning, execution and serialisation.
//!
//! When the time limit passes, the task is aborted: DataFusion's scans and
//! exchanges yield to the runtime between batches, and [`YieldAfterJoins`](crate::engine::YieldAfterJoins)
//! makes joins do so too, so it stops within a batch and frees what it
//! held. Its slot is released only then, so a timed-out query
//! still counts against the concurrency limit while it unwinds.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::prelude::{SQLOptions, SessionContext};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use crate::AnalyticsError;
use crate::guard::array_bytes;
use crate::lake::{AnalyticsConfig, Lake, check_read_only};

/// What to do when a result passes `sql_max_result_mb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenTooLarge {
    /// Keep the rows that fit and say the answer was cut (a page or JSON
    /// that shows the first rows anyway).
    Truncate,
    /// Fail with [`AnalyticsError::ResultTooLarge`] (a download or export,
    /// where a silently shorter file would be wrong).
    Refuse,
}

/// How much of a result the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultLimit {
    /// Most rows to keep; the query stops once one more is seen.
    pub max_rows: Option<usize>,
    /// Past the byte cap.
    pub when_too_large: WhenTooLarge,
}

impl ResultLimit {
    /// Every row, refused past the byte cap (CSV downloads, `tollgate sql`).
    pub fn whole() -> Self {
        ResultLimit {
            max_rows: None,
            when_too_large: WhenTooLarge::Refuse,
        }
    }

    /// The first `rows` rows, cut at the byte cap (pages, JSON).
    pub fn first(rows: usize) -> Self {
        ResultLimit {
            max_rows: Some(rows),
            when_too_large: WhenTooLarge::Truncate,
        }
    }
}

/// Why an answer holds fewer rows than the query has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The caller's row cap; more rows exist.
    Rows(usize),
    /// `sql_max_result_mb` (in bytes); more rows may exist.
    Bytes(usize),
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Rows(n) => write!(
                f,
                "more rows than the {n} shown; add a LIMIT or download the CSV"
            ),
            Cut::Bytes(b) => write!(
                f,
                "the result passed analytics.sql_max_result_mb ({} MiB); the rows that fit are shown; \
                 select fewer columns or rows",
                b / (1024 * 1024)
            ),
        }
    }
}

/// An analyst query's answer.
#[derive(Debug)]
pub struct AnalystAnswer {
    /// The columns.
    pub schema: SchemaRef,
    /// The rows kept.
    pub batches: Vec<RecordBatch>,
    /// Whether, and why, rows were left out.
    pub cut: Option<Cut>,
}

impl AnalystAnswer {
    /// Rows kept.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Adds tables or functions to one analyst query's session before it is
/// planned (the Postgres protocol's `pg_catalog`).
pub type Setup = Arc<
    dyn Fn(SessionContext) -> BoxFuture<'static, Result<SessionContext, DataFusionError>>
        + Send
        + Sync,
>;

/// What a statement brings besides its text: the values of `$1`, `$2`, …
/// (the Postgres protocol's bound parameters) and a session [`Setup`].
#[derive(Clone, Default)]
pub struct Extras {
    /// The parameters' values, in order.
    pub params: Vec<ScalarValue>,
    /// Called on the session before planning.
    pub setup: Option<Setup>,
}

impl fmt::Debug for Extras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extras")
            .field("params", &self.params)
            .field("setup", &self.setup.is_some())
            .finish()
    }
}

/// A statement's shape before it runs: its columns and the types its
/// `$n` parameters were inferred to have (`None` where the statement does
/// not say).
#[derive(Debug, Clone)]
pub struct Described {
    /// The result's columns.
    pub schema: SchemaRef,
    /// `$1`, `$2`, … in order.
    pub params: Vec<Option<DataType>>,
}

/// The limits every analyst query of a process shares (see the module).
#[derive(Debug)]
pub struct SqlGate {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    queue_wait: Duration,
    timeout: Duration,
    /// `sql_max_result_mb` in bytes.
    max_result_bytes: usize,
    /// One query's memory share, in bytes.
    share_bytes: usize,
    /// Queries running or unwinding now (for `/metrics` and tests).
    running: Arc<AtomicUsize>,
}

impl SqlGate {
    /// A gate with the limits of `[analytics]`.
    pub fn new(cfg: &AnalyticsConfig) -> SqlGate {
        let n = cfg.sql_max_concurrent.max(1);
        SqlGate {
            slots: Arc::new(Semaphore::new(n)),
            max_concurrent: n,
            queue_wait: Duration::from_millis(cfg.sql_queue_wait_ms),
            timeout: Duration::from_secs(cfg.query_timeout_secs.max(1)),
            max_result_bytes: cfg.sql_max_result_mb.max(1) * 1024 * 1024,
            // Three quarters of the pool for analysts together; the last
            // quarter stays for the dashboard's own queries, so product
            // pages answer while analysts are at their limits.
            share_bytes: cfg.memory_limit_mb.max(16) * 1024 * 1024 / 4 * 3 / n,
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Analyst queries running (or unwinding after their time limit) now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Runs `sql` and returns the answer (see [`SqlGate::run`]).
    pub async fn query(
        &self,
        lake: &Lake,
        sql: &str,
        limit: ResultLimit,
    ) -> Result<AnalystAnswer, AnalyticsError> {
        self.run(lake, sql, limit, Ok).await
    }

    /// Plans `sql` without running it: its columns and parameter types
    /// (the Postgres protocol's Describe). Refused like [`SqlGate::run`];
    /// planning reads no data, so it takes no slot, but it is bounded by
    /// the same time limit.
    pub async fn describe(
        &self,
        lake: &Lake,
        sql: &str,
        setup: Option<Setup>,
    ) -> Result<Described, AnalyticsError> {
        check_read_only(sql)?;
        let mut ctx = lake.analyst_context(self.share_bytes)?;
        let plan = async move {
            if let Some(setup) = setup {
                ctx = setup(ctx).await?;
            }
            let df = ctx
                .sql_with_options(sql, read_only())
                .await
                .map_err(AnalyticsError::refused_or)?;
            let types = df.logical_plan().get_parameter_types()?;
            let mut params: Vec<(usize, Option<DataType>)> = types
                .into_iter()
                .filter_map(|(name, t)| {
                    let n: usize = name.strip_prefix('$')?.parse().ok()?;
                    Some((n, t))
                })
                .collect();
            params.sort_by_key(|(n, _)| *n);
            let count = params.last().map_or(0, |(n, _)| *n);
            let mut ordered = vec![None; count];
            for (n, t) in params {
                ordered[n - 1] = t;
            }
            Ok::<_, AnalyticsError>(Described {
                schema: Arc::new(df.schema().as_arrow().clone()),
                params: ordered,
            })
        };
        tokio::time::timeout(self.timeout, plan)
            .await
            .map_err(|_| AnalyticsError::Timeout(self.timeout))?
    }

    /// Runs `sql` under every limit and hands the answer to `render`
    /// (serialising it to JSON, CSV or HTML) inside the time limit.
    pub async fn run<T, F>(
        &self,
        lake: &Lake,
        sql: &str,
        limit: ResultLimit,
        render: F,
    ) -> Result<T, AnalyticsError>
    where
        T: Send + 'static,
        F: FnOnce(AnalystAnswer) -> Result<T, AnalyticsError> + Send + 'static,
    {
        self.run_with(lake, sql, Extras::default(), limit, render)
            .await
    }

    /// [`SqlGate::run`] with bound parameters and a session setup.
    pub async fn run_with<T, F>(
        &self,
        lake: &Lake,
        sql: &str,
        extras: Extras,
        limit: ResultLimit,
        render: F,
    ) -> Result<T, AnalyticsError>
    where
        T: Send + 'static,
        F: FnOnce(AnalystAnswer) -> Result<T, AnalyticsError> + Send + 'static,
    {
        check_read_only(sql)?;
        let permit = tokio::time::timeout(self.queue_wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| AnalyticsError::Busy {
                running: self.max_concurrent,
                retry_after: Duration::from_secs(1).max(self.queue_wait),
            })?
            .map_err(|_| AnalyticsError::Query("the analyst query gate is closed".into()))?;
        let mut ctx = lake.analyst_context(self.share_bytes)?;
        let sql = sql.to_string();
        let max_bytes = self.max_result_bytes;
        let running = Running::enter(&self.running);
        let task = async move {
            // Held until the task ends (also when aborted), so the slot and
            // the count are free only once the memory is.
            let _permit = permit;
            let _running = running;
            if let Some(setup) = extras.setup {
                ctx = setup(ctx).await?;
            }
            let mut df = ctx
                .sql_with_options(&sql, read_only())
                .await
                .map_err(AnalyticsError::refused_or)?;
            if !extras.params.is_empty() {
                df = df.with_param_values(extras.params)?;
            }
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let pool = ctx.runtime_env().memory_pool.clone();
            let stream = df.execute_stream().await?;
            let reservation = MemoryConsumer::new("analyst result").register(&pool);
            let (batches, cut) = collect(stream, &reservation, limit, max_bytes).await?;
            let out = render(AnalystAnswer {
                schema,
                batches,
                cut,
            });
            drop(reservation);
            out
        };
        let handle = sql_runtime()?.spawn(task);
        let abort = handle.abort_handle();
        match tokio::time::timeout(self.timeout, handle).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => Err(AnalyticsError::Query(format!("the query stopped: {e}"))),
            Err(_) => {
                abort.abort();
                Err(AnalyticsError::Timeout(self.timeout))
            }
        }
    }
}

/// Planning refuses DDL, DML and statements (`SET`, transactions): the
/// second line of defence after [`check_read_only`].
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Counts a running query while alive.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn enter(n: &Arc<AtomicUsize>) -> Running {
        n.fetch_add(1, Ordering::Relaxed);
        Running(n.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Pulls batches until the stream ends or a cap is reached.
async fn collect(
    mut stream: datafusion::physical_plan::SendableRecordBatchStream,
    reservation: &MemoryReservation,
    limit: ResultLimit,
    max_bytes: usize,
) -> Result<(Vec<RecordBatch>, Option<Cut>), AnalyticsError> {
    let mut batches = Vec::new();
    let (mut rows, mut bytes) = (0usize, 0usize);
    while let Some(batch) = stream.next().await {
        let mut batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        if let Some(max) = limit.max_rows
            && rows + batch.num_rows() > max
        {
            batch = batch.slice(0, max - rows);
            let size = batch_bytes(&batch);
            if bytes + size <= max_bytes {
                reservation.try_grow(size)?;
                if batch.num_rows() > 0 {
                    batches.push(batch);
                }
                return Ok((batches, Some(Cut::Rows(max))));
            }
        }
        let size = batch_bytes(&batch);
        if bytes + size > max_bytes {
            if limit.when_too_large == WhenTooLarge::Refuse {
                return Err(AnalyticsError::ResultTooLarge(max_bytes));
            }
            let fit = rows_that_fit(&batch, max_bytes - bytes);
            if fit > 0 {
                let part = batch.slice(0, fit);
                reservation.try_grow(batch_bytes(&part))?;
                batches.push(part);
            } else if batches.is_empty() {
                // Not even one row fits: nothing to show is not an answer.
                return Err(AnalyticsError::ResultTooLarge(max_bytes));
            }
            return Ok((batches, Some(Cut::Bytes(max_bytes))));
        }
        reservation.try_grow(size)?;
        rows += batch.num_rows();
        bytes += size;
        batches.push(batch);
    }
    Ok((batches, None))
}

/// Bytes of a batch's rows (views counted by the rows they point at).
fn batch_bytes(b: &RecordBatch) -> usize {
    b.columns().iter().map(|c| array_bytes(c) as usize).sum()
}

/// The most leading rows of `b` that fit in `room` bytes.
fn rows_that_fit(b: &RecordBatch, room: usize) -> usize {
    let (mut lo, mut hi) = (0usize, b.num_rows());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if batch_bytes(&b.slice(0, mid)) <= room {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// The analyst runtime: its own worker threads (one per core) at a lower
/// CPU priority (nice 10), so a query saturating the cores delays the
/// dashboard's own requests by little. Built once per process and never
/// dropped (dropping a runtime inside another one is not allowed).
fn sql_runtime() -> Result<&'static tokio::runtime::Runtime, AnalyticsError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, usize::from);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("tollgate-sql")
                .on_thread_start(lower_priority)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| AnalyticsError::Query(format!("cannot start the analyst runtime: {e}")))
}

/// Lowers the calling thread's CPU priority (Linux schedules threads
/// separately, so only the analyst threads are affected).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: gettid and setpriority on the calling thread's own id only
    // change its scheduling priority; a failure is harmless and ignored.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Elsewhere the analyst threads keep the default priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
