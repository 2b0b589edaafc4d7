//! The `tollgate` command line: flags in, library calls out.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tollgate_schemas::{DecodeOptions, Format};

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
        .with_writer(io::stderr)
        .try_init();
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode(args) => decode(args),
    }
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
