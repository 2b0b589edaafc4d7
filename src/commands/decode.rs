//! `tollgate decode`: gateway log lines in, canonical JSON out.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tollgate_ingest::decode_cmd;
use tollgate_schemas::{DecodeOptions, Format};

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

/// The gateway formats are the schemas crate's `Format`, parsed by its
/// `FromStr` (which names every format in its error), not a second list.
pub(crate) fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// Runs `tollgate decode`. Exits 0 when it ran, whatever the input held.
pub fn run(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let opts = DecodeOptions {
        max_message_bytes: args.max_message_bytes,
        envoy_consumer_field: args.envoy_consumer_field,
        ..DecodeOptions::default()
    };
    let stdout = io::stdout().lock();
    let stderr = io::stderr().lock();
    match args.file.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            let file = File::open(path)
                .with_context(|| format!("cannot open {}; check the path", path.display()))?;
            decode_cmd::run(BufReader::new(file), args.format, &opts, stdout, stderr)?
        }
        _ => decode_cmd::run(io::stdin().lock(), args.format, &opts, stdout, stderr)?,
    };
    Ok(ExitCode::SUCCESS)
}
