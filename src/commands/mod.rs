//! The command line: [`Cli`] parses it, [`run`] hands each command to its
//! module. Every command module is a thin adapter from flags to a library
//! call, over [`common`] (configuration, the runtime, the shutdown token).

use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod common;
pub mod decode;
pub mod demo;
pub mod import;
pub mod ingest;
pub mod invoice;
pub mod quote;
pub mod report;
pub mod rollup;
pub mod serve;
pub mod signals;
pub mod simulate;
pub mod sql;

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
    Decode(decode::DecodeArgs),
    /// Consume gateway access logs from Kafka into the Parquet lake, exactly once.
    ///
    /// Runs until SIGINT/SIGTERM (then flushes, commits and exits 0), or with
    /// --once until caught up with the high watermarks seen at start.
    Ingest(ingest::IngestArgs),
    /// Backfill archived gateway logs (plain, gzip or zstd; `-` for stdin)
    /// into the lake. Importing the same file twice adds nothing.
    Import(import::ImportArgs),
    /// Run read-only SQL over the lake (tables: events, quarantine,
    /// rollups_hourly). Without a query, read queries from standard input,
    /// each ending with `;`.
    Sql(sql::SqlArgs),
    /// Bring the hourly rollups up to date with the events (idempotent).
    Rollup(rollup::RollupArgs),
    /// Standard reports.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Price a given usage with a plan, line by line with the tier
    /// breakdown, without touching the lake.
    Quote(quote::QuoteArgs),
    /// See it all work: embedded broker, simulated gateways, ingest,
    /// rollups, last month's invoices, and the dashboard.
    Demo(demo::DemoArgs),
    /// Monthly invoices: run, finalize, list, show, export, preview.
    #[command(subcommand)]
    Invoice(invoice::InvoiceCommand),
    /// Generate realistic gateway access logs (skewed consumers, daily
    /// curve, errors, heavy-tailed latencies) to stdout, a file or Kafka.
    Simulate(simulate::SimulateArgs),
    /// Watch quotas and alert rules over the lake; deliver their signals to
    /// Kafka and signed webhooks (see docs/SIGNALS.md). Runs until
    /// SIGINT/SIGTERM, or with --once evaluates once.
    Watch(signals::WatchArgs),
    /// The signals ledger: list with delivery state, replay.
    #[command(subcommand)]
    Signals(signals::SignalsCommand),
    /// Serve the dashboard, the JSON API, /metrics, /healthz and /readyz
    /// until SIGINT/SIGTERM (see docs/DASHBOARD.md).
    Serve(serve::ServeArgs),
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

/// Runs one parsed command line; the exit code is the command's.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Import(args) => import::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Rollup(args) => rollup::run(args),
        Command::Report(cmd) => report::run(cmd),
        Command::Quote(args) => quote::run(args),
        Command::Invoice(cmd) => invoice::run(cmd),
        Command::Demo(args) => demo::run(args),
        Command::Watch(args) => signals::watch(args),
        Command::Signals(cmd) => signals::run(cmd),
        Command::Simulate(args) => simulate::run(args)
            .map(|_| ExitCode::SUCCESS)
            .map_err(Into::into),
        Command::Serve(args) => serve::run(args),
    }
}
