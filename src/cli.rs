//! The `tollgate` command line: flags in, library calls out.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Parser, Subcommand};
use tollgate_aggregator::output::{self, OutputFormat};
use tollgate_aggregator::planner;
use tollgate_aggregator::query::{self, Bucket, Dim, TrafficQuery, TrafficRow};
use tollgate_aggregator::{Lake, ResultLimit, SqlGate};
use tollgate_ingest::import::Importer;
use tollgate_ingest::kafka::{RunOptions, run_blocking};
use tollgate_ingest::message::MessageDecoder;
use tollgate_ingest::metrics::Metrics;
use tollgate_ingest::sink::ParquetSink;
use tollgate_lake::store::LakeStore;
use tollgate_schemas::{DecodeOptions, Format};

use crate::config::Config;

/// Usage analytics and exact usage billing for APIs.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode newline-delimited gateway log messages into canonical JSON.
    ///
    /// Events go to stdout, one JSON object per line; rejects go to stderr,
    /// one JSON object per bad message with its line number and reason.
    /// Exits 0 when it ran, whatever the input held.
    Decode(DecodeArgs),
    /// Consume gateway access logs from Kafka into the Parquet lake, exactly once.
    ///
    /// Runs until SIGINT/SIGTERM (then flushes, commits and exits 0), or with
    /// --once until caught up with the high watermarks seen at start.
    Ingest(IngestArgs),
    /// Backfill archived gateway logs (plain, gzip or zstd; `-` for stdin)
    /// into the lake. Importing the same file twice adds nothing.
    Import(ImportArgs),
    /// Run read-only SQL over the lake (tables: events, quarantine,
    /// rollups_hourly). Without a query, read queries from standard input,
    /// each ending with `;`.
    Sql(SqlArgs),
    /// Bring the hourly rollups up to date with the events (idempotent).
    Rollup(RollupArgs),
    /// Standard reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Price a given usage with a plan, line by line with the tier
    /// breakdown, without touching the lake.
    Quote(QuoteArgs),
    /// See it all work: embedded broker, simulated gateways, ingest,
    /// rollups, last month's invoices, and the dashboard.
    Demo(crate::demo::DemoArgs),
    /// Monthly invoices: run, finalize, list, show, export, preview.
    #[command(subcommand)]
    Invoice(crate::invoice_cmd::InvoiceCommand),
    /// Generate realistic gateway access logs (skewed consumers, daily
    /// curve, errors, heavy-tailed latencies) to stdout, a file or Kafka.
    Simulate(crate::simulate::SimulateArgs),
    /// Watch quotas and alert rules over the lake; deliver their signals to
    /// Kafka and signed webhooks (see docs/SIGNALS.md). Runs until
    /// SIGINT/SIGTERM, or with --once evaluates once.
    Watch(crate::signals_cmd::WatchArgs),
    /// The signals ledger: list with delivery state, replay.
    #[command(subcommand)]
    Signals(crate::signals_cmd::SignalsCommand),
    /// Serve the dashboard, the JSON API, /metrics, /healthz and /readyz
    /// until SIGINT/SIGTERM (see docs/DASHBOARD.md).
    Serve {
        #[command(flatten)]
        common: ConfigArgs,
        /// host:port to listen on (overrides serve.address); port 0 picks a free port.
        #[arg(long)]
        address: Option<String>,
    },
}

/// Flags of `tollgate quote`.
#[derive(Debug, clap::Args)]
pub struct QuoteArgs {
    /// The plans file.
    #[arg(long, default_value = "plans.toml")]
    pub plans: PathBuf,
    /// Plan id.
    #[arg(long)]
    pub plan: String,
    /// Plan version (default: the highest).
    #[arg(long)]
    pub version: Option<u32>,
    /// Usage, `METRIC=N` or `CHARGE=N` (repeatable): calls=1200000.
    #[arg(long = "usage", value_parser = parse_usage)]
    pub usage: Vec<(String, u64)>,
    /// table or json.
    #[arg(long, short, default_value = "table")]
    pub format: String,
}

fn parse_usage(s: &str) -> Result<(String, u64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: write METRIC=N, e.g. calls=1200000"))?;
    let n = v
        .replace('_', "")
        .parse::<u64>()
        .map_err(|_| format!("{v:?} is not a whole number of units"))?;
    Ok((k.trim().to_string(), n))
}

/// Flags of `tollgate sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// table, csv, json or parquet.
    #[arg(long, short, default_value = "table")]
    pub format: OutputFormat,
    /// Write the result here instead of standard output (required for parquet).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// The query; omitted: read `;`-terminated queries from standard input.
    pub query: Option<String>,
    /// Benchmarking: after a first run, run each query N more times on the
    /// same opened lake and print the fastest of those to standard error
    /// (hot, without process start and lake opening); output is written once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
}

/// Flags of `tollgate rollup`.
#[derive(Debug, clap::Args)]
pub struct RollupArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Keep running: bring the rollups up to date every this many seconds
    /// (next to `tollgate ingest`), until SIGINT/SIGTERM.
    #[arg(long)]
    pub every: Option<u64>,
}

/// `tollgate report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Calls, error rates, latency percentiles and bytes per group.
    Traffic(TrafficArgs),
}

/// Flags of `tollgate report traffic`.
#[derive(Debug, clap::Args)]
pub struct TrafficArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Start (inclusive): YYYY-MM-DD or RFC 3339, UTC.
    #[arg(long)]
    pub from: String,
    /// End (exclusive): YYYY-MM-DD or RFC 3339, UTC.
    #[arg(long)]
    pub to: String,
    /// Group by, comma-separated: consumer, api, route, method, status_class, gateway.
    #[arg(long, value_delimiter = ',', default_value = "consumer")]
    pub by: Vec<String>,
    /// Time buckets: minute, hour or day; none for one row per group.
    #[arg(long)]
    pub bucket: Option<String>,
    /// table, csv or json.
    #[arg(long, short, default_value = "table")]
    pub format: OutputFormat,
    /// IANA time zone for day buckets (default UTC), e.g. Europe/Berlin.
    #[arg(long)]
    pub tz: Option<String>,
    /// Allow the rollups and their views (fast; percentiles within 1 %) where they answer;
    /// without it, raw events (exact). Minute buckets always read the events.
    #[arg(long)]
    pub rollups: bool,
    /// Only the first N groups, ranked by --order.
    #[arg(long)]
    pub top: Option<usize>,
    /// Ranking for --top: calls, errors, p95 or p99.
    #[arg(long, default_value = "calls")]
    pub order: String,
}

/// `--config`, shared by the commands that read `tollgate.toml`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The configuration file (default: built-in defaults and TOLLGATE_* variables).
    #[arg(long, short = 'c', env = "TOLLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The lake: a folder or s3://bucket/prefix (overrides lake.location).
    #[arg(long)]
    pub lake: Option<String>,
}

/// Flags of `tollgate ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Bootstrap brokers, host:port[,host:port] (overrides kafka.brokers).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Topics to consume, comma-separated (overrides kafka.topics).
    #[arg(long, value_delimiter = ',')]
    pub topics: Option<Vec<String>>,
    /// Consumer group id (overrides kafka.group).
    #[arg(long)]
    pub group: Option<String>,
    /// Stop once caught up with the high watermarks seen at start.
    #[arg(long)]
    pub once: bool,
}

/// Flags of `tollgate import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Input format: auto (detect per line) or one gateway's format.
    #[arg(long, short, default_value = "auto", value_parser = parse_format)]
    pub format: Format,
    /// Decode/encode threads (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Files to import; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Flags of `tollgate decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Input format: auto (detect per message), kong, apisix, envoy, aws,
    /// tyk, traefik, nginx, clf or canonical.
    #[arg(long, short, default_value = "auto", value_parser = parse_format)]
    pub format: Format,
    /// Largest message accepted, in bytes; longer lines are rejected.
    #[arg(long, default_value_t = DecodeOptions::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// For Envoy logs: the JSON field that carries the consumer id, if your
    /// access-log format adds one.
    #[arg(long)]
    pub envoy_consumer_field: Option<String>,
    /// The file to read; standard input when absent or `-`.
    pub file: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// Installs the log subscriber: human-readable logs on stderr, filtered by
/// `RUST_LOG` (default `info`, `warn` for the chatty dependencies).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(io::stderr)
        .try_init();
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode(args) => decode(args),
        Command::Ingest(args) => ingest(args),
        Command::Import(args) => import(args),
        Command::Sql(args) => sql(args),
        Command::Rollup(args) => rollup(args),
        Command::Report(ReportCommand::Traffic(args)) => report_traffic(args),
        Command::Quote(args) => quote(args),
        Command::Invoice(cmd) => crate::invoice_cmd::run(cmd),
        Command::Demo(args) => crate::demo::run(args),
        Command::Watch(args) => crate::signals_cmd::watch(args),
        Command::Signals(cmd) => crate::signals_cmd::run(cmd),
        Command::Simulate(args) => crate::simulate::run(args)
            .map(|_| ExitCode::SUCCESS)
            .map_err(Into::into),
        Command::Serve { common, address } => {
            let cfg = load_config(&common)?;
            tollgate_dashboard::run_blocking(tollgate_dashboard::ServeSettings {
                serve: tollgate_dashboard::ServeConfig {
                    address: address.unwrap_or(cfg.serve.address.clone()),
                    ..cfg.serve
                },
                lake: cfg.lake.location,
                analytics: cfg.analytics,
                metrics_file: cfg.ingest.metrics_file,
                billing: Some(cfg.billing),
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn quote(args: QuoteArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.plans).with_context(|| {
        format!(
            "cannot read {}; pass --plans with your plans.toml",
            args.plans.display()
        )
    })?;
    let plans = tollgate_billing::PlansFile::parse(&text)?;
    let plan = plans.get(&args.plan, args.version).with_context(|| {
        let ids: std::collections::BTreeSet<_> =
            plans.plans.iter().map(|p| p.id.0.as_str()).collect();
        format!(
            "no plan {:?} (version {:?}) in {}; plans: {:?}",
            args.plan,
            args.version,
            args.plans.display(),
            ids
        )
    })?;
    for (k, _) in &args.usage {
        anyhow::ensure!(
            plan.charges
                .iter()
                .any(|c| &c.id == k || c.metric.name() == k),
            "plan {} has no charge or metric {k:?}",
            plan.id
        );
    }
    let usage = args.usage.into_iter().collect();
    let rated = tollgate_billing::rate(plan, &usage, rust_decimal::Decimal::ONE)?;
    let mut out = io::stdout().lock();
    if args.format == "json" {
        serde_json::to_writer_pretty(&mut out, &rated)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        args.format == "table",
        "unknown format {:?}; use table or json",
        args.format
    );
    writeln!(
        out,
        "Quote: plan {} v{} ({})",
        rated.plan, rated.version, rated.currency
    )?;
    for l in &rated.lines {
        writeln!(
            out,
            "  {:<48} {:>16} {}",
            format!("{} ({})", l.description, l.quantity),
            l.amount,
            rated.currency
        )?;
        for t in &l.tiers {
            let range = match t.up_to {
                Some(u) => format!("{}..={u}", t.from_unit),
                None => format!("{}..", t.from_unit),
            };
            writeln!(
                out,
                "      tier {} [{range}]: {} × {}{} = {}",
                t.tier,
                t.units,
                t.unit_price,
                if t.flat_fee.is_zero() {
                    String::new()
                } else {
                    format!(" + {}", t.flat_fee)
                },
                t.amount
            )?;
        }
    }
    writeln!(
        out,
        "  {:<48} {:>16} {}",
        "Total", rated.total, rated.currency
    )?;
    Ok(ExitCode::SUCCESS)
}

fn open_lake(cfg: &Config, rt: &tokio::runtime::Runtime) -> anyhow::Result<Lake> {
    Ok(rt.block_on(Lake::open(&cfg.lake.location, &cfg.analytics))?)
}

fn sql(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let rt = runtime()?;
    let lake = open_lake(&cfg, &rt)?;
    anyhow::ensure!(
        args.format != OutputFormat::Parquet || args.output.is_some(),
        "--format parquet needs --output FILE"
    );
    let queries: Vec<String> = match args.query {
        Some(q) => vec![q],
        None => {
            let mut text = String::new();
            io::Read::read_to_string(&mut io::stdin().lock(), &mut text)?;
            text.split(';')
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(String::from)
                .collect()
        }
    };
    // The same limits as the dashboard's console: one read-only statement,
    // the memory share, the value guards, the result cap, the time limit.
    let gate = SqlGate::new(&cfg.analytics);
    let whole = ResultLimit::whole();
    let mut failed = false;
    for q in queries {
        let mut result = rt.block_on(gate.query(&lake, &q, whole));
        if args.repeat > 1 {
            let mut best = f64::INFINITY;
            for _ in 0..args.repeat {
                let t = std::time::Instant::now();
                result = rt.block_on(gate.query(&lake, &q, whole));
                best = best.min(t.elapsed().as_secs_f64());
            }
            eprintln!("tollgate sql: fastest of {} runs: {best:.4} s", args.repeat);
        }
        match result {
            Ok(answer) => match &args.output {
                Some(path) => {
                    let f = File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    output::write(args.format, &answer.schema, &answer.batches, f)?;
                }
                None => output::write(args.format, &answer.schema, &answer.batches, io::stdout())?,
            },
            Err(e) => {
                eprintln!("tollgate sql: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn rollup(args: RollupArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let rt = runtime()?;
    let store = tollgate_aggregator::lake_store(&cfg.lake.location)?;
    let shutdown = Arc::new(AtomicBool::new(false));
    if args.every.is_some() {
        rt.spawn(wait_for_signal(shutdown.clone()));
    }
    loop {
        // Reopened each round so new days' folders are seen.
        let lake = open_lake(&cfg, &rt)?;
        let report = rt.block_on(tollgate_aggregator::rollup::run(&lake, &store))?;
        println!(
            "rollups: {} day(s) rebuilt ({} rows), {} already up to date",
            report.days_rebuilt.len(),
            report.rows,
            report.days_unchanged
        );
        let Some(every) = args.every else {
            return Ok(ExitCode::SUCCESS);
        };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(every.max(1));
        while std::time::Instant::now() < until {
            if shutdown.load(Ordering::Relaxed) {
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

fn parse_time(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .with_context(|| format!("{s:?} is not YYYY-MM-DD or an RFC 3339 time"))
}

fn report_traffic(args: TrafficArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let rt = runtime()?;
    let lake = open_lake(&cfg, &rt)?;
    let by = args
        .by
        .iter()
        .map(|d| Dim::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    let bucket = match args.bucket.as_deref() {
        None => None,
        Some("minute") => Some(Bucket::Minute),
        Some("hour") => Some(Bucket::Hour),
        Some("day") => Some(Bucket::Day),
        Some(other) => anyhow::bail!("unknown bucket {other:?}; use minute, hour or day"),
    };
    let q = TrafficQuery {
        from: parse_time(&args.from)?,
        to: parse_time(&args.to)?,
        bucket,
        by: by.clone(),
        consumer: None,
        tz: args.tz.clone(),
        // Without --rollups, the events: exact percentiles.
        exact: !args.rollups,
    };
    let mut rows = rt.block_on(planner::answer(&lake, &q))?;
    if let Some(n) = args.top {
        rows = query::top(rows, query::TopOrder::parse(&args.order)?, n);
    }
    let names: Vec<&str> = by.iter().map(|d| d.name()).collect();
    let mut out = io::stdout().lock();
    traffic_output(args.format, &names, &rows, &mut out)?;
    Ok(ExitCode::SUCCESS)
}

fn traffic_output(
    format: OutputFormat,
    names: &[&str],
    rows: &[TrafficRow],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
    let mut header: Vec<String> = vec!["bucket".into()];
    header.extend(names.iter().map(|s| s.to_string()));
    header.extend(
        [
            "calls",
            "4xx",
            "5xx",
            "4xx_rate",
            "5xx_rate",
            "p50_ms",
            "p90_ms",
            "p95_ms",
            "p99_ms",
            "max_ms",
            "req_bytes",
            "resp_bytes",
            "consumers",
        ]
        .map(String::from),
    );
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut l = vec![r.bucket.map_or(String::new(), |b| {
                b.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            })];
            l.extend(
                r.group
                    .iter()
                    .map(|g| g.clone().unwrap_or_else(|| "(none)".into())),
            );
            l.extend([
                r.calls.to_string(),
                r.errors_4xx.to_string(),
                r.errors_5xx.to_string(),
                format!("{:.4}", r.error_rate_4xx),
                format!("{:.4}", r.error_rate_5xx),
                f(r.latency_p50),
                f(r.latency_p90),
                f(r.latency_p95),
                f(r.latency_p99),
                f(r.latency_max),
                r.request_bytes.to_string(),
                r.response_bytes.to_string(),
                r.consumers.to_string(),
            ]);
            l
        })
        .collect();
    match format {
        OutputFormat::Json => {
            for r in rows {
                serde_json::to_writer(&mut *out, r)?;
                writeln!(out)?;
            }
        }
        OutputFormat::Csv => {
            writeln!(out, "{}", header.join(","))?;
            for l in &lines {
                let cells: Vec<String> = l
                    .iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        OutputFormat::Table | OutputFormat::Parquet => {
            let widths: Vec<usize> = (0..header.len())
                .map(|i| {
                    lines
                        .iter()
                        .map(|l| l[i].len())
                        .chain([header[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let row = |cells: &[String]| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:>w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(out, "{}", row(&header))?;
            for l in &lines {
                writeln!(out, "{}", row(l))?;
            }
        }
    }
    Ok(())
}

pub(crate) fn load_config(common: &ConfigArgs) -> anyhow::Result<Config> {
    let mut cfg = Config::load(common.config.as_deref())?;
    if let Some(lake) = &common.lake {
        cfg.lake.location.clone_from(lake);
    }
    Ok(cfg)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Sets `flag` on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal(flag: Arc<AtomicBool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                flag.store(true, Ordering::Relaxed);
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutdown requested: flushing and committing");
    flag.store(true, Ordering::Relaxed);
}

fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = load_config(&args.common)?;
    if let Some(b) = args.brokers {
        cfg.kafka.brokers = b;
    }
    if let Some(t) = args.topics {
        cfg.kafka.topics = t;
    }
    if let Some(g) = args.group {
        cfg.kafka.group = g;
    }
    let settings = cfg.ingest_settings();
    settings.validate()?;
    let rt = runtime()?;
    let shutdown = Arc::new(AtomicBool::new(false));
    rt.spawn(wait_for_signal(shutdown.clone()));
    let metrics = Arc::new(Metrics::default());
    let options = RunOptions { once: args.once };
    let handle = rt.handle().clone();
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            run_blocking(
                &settings,
                &options,
                handle,
                shutdown.clone(),
                metrics.clone(),
            )
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))
    })??;
    tracing::info!(
        messages = report.messages,
        events = report.events,
        quarantined = report.rejects,
        flushes = report.flushes,
        "ingest stopped"
    );
    Ok(ExitCode::SUCCESS)
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let settings = cfg.ingest_settings();
    settings.validate()?;
    let rt = runtime()?;
    let store = LakeStore::open(&settings.lake.location)?;
    let sink = ParquetSink::new(store, settings.parquet_options());
    let decoder = MessageDecoder::new(
        settings.decode_options(),
        args.format,
        Default::default(),
        settings.ingest.max_future_skew_secs,
        settings.ingest.horizon_days,
        settings.ingest.quarantine_raw_bytes,
    );
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let importer = Importer::new(
        sink,
        decoder,
        rt.handle().clone(),
        threads,
        settings.ingest.max_message_bytes,
    );
    let mut out = io::stdout().lock();
    for path in &args.files {
        let record = importer.import_path(path)?;
        serde_json::to_writer(&mut out, &record)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn decode(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let opts = DecodeOptions {
        max_message_bytes: args.max_message_bytes,
        envoy_consumer_field: args.envoy_consumer_field,
        ..DecodeOptions::default()
    };
    let stdout = io::stdout().lock();
    let stderr = io::stderr().lock();
    match args.file.as_deref() {
        None => tollgate_ingest::decode_cmd::run(
            io::stdin().lock(),
            args.format,
            &opts,
            stdout,
            stderr,
        )?,
        Some(p) if p.as_os_str() == "-" => tollgate_ingest::decode_cmd::run(
            io::stdin().lock(),
            args.format,
            &opts,
            stdout,
            stderr,
        )?,
        Some(path) => {
            let file = File::open(path)
                .with_context(|| format!("cannot open {}; check the path", path.display()))?;
            tollgate_ingest::decode_cmd::run(
                BufReader::new(file),
                args.format,
                &opts,
                stdout,
                stderr,
            )?
        }
    };
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    fn sql_to_file(lake: &Path, out: &Path, query: &str) -> ExitCode {
        let cli = Cli::try_parse_from([
            "tollgate",
            "sql",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "csv",
            "--output",
            out.to_str().unwrap(),
            query,
        ])
        .unwrap();
        run(cli).unwrap()
    }

    #[test]
    // figment's Jail API fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn sql_runs_under_the_analyst_limits() {
        // In a Jail: other tests here set TOLLGATE_* variables, which the
        // command reads.
        figment::Jail::expect_with(|_| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out.csv");
            assert_eq!(
                sql_to_file(dir.path(), &out, "SELECT 1 AS one"),
                ExitCode::SUCCESS
            );
            assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\n1\n");
            for hostile in [
                // Refused by the value guard before a gigabyte is built.
                "SELECT repeat('x', 1000000000)",
                "SELECT generate_series(1, 10000000000)",
                // Ten billion rows: stopped at sql_max_result_mb, not written short.
                "SELECT * FROM generate_series(1, 10000000000)",
                // Not read-only.
                "COPY (SELECT 1) TO '/tmp/tollgate-cli-copy.csv'",
            ] {
                std::fs::remove_file(&out).ok();
                assert_eq!(
                    sql_to_file(dir.path(), &out, hostile),
                    ExitCode::from(1),
                    "{hostile}"
                );
                assert!(!out.exists(), "{hostile}: nothing is written");
            }
            Ok(())
        });
    }
}
