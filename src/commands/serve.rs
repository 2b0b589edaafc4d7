//! `tollgate serve`: the dashboard, the JSON API, /metrics, /healthz and
//! /readyz (and, with `--pg-listen`, the Postgres wire protocol) until
//! SIGINT/SIGTERM.

use std::process::ExitCode;

use super::common::{ConfigArgs, load_config};

/// Flags of `tollgate serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// host:port to listen on (overrides serve.address); port 0 picks a free port.
    #[arg(long)]
    pub address: Option<String>,
    /// host:port for the Postgres wire protocol (overrides serve.pg_listen):
    /// psql, Grafana, Metabase and psycopg run analyst SQL there, with an
    /// analyst or admin token as the password. Port 0 picks a free port.
    #[arg(long)]
    pub pg_listen: Option<String>,
}

/// Runs `tollgate serve`. The dashboard owns its runtime and its signal
/// handling (it drains connections before it exits).
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    tollgate_dashboard::run_blocking(tollgate_dashboard::ServeSettings {
        serve: tollgate_dashboard::ServeConfig {
            address: args.address.unwrap_or(cfg.serve.address.clone()),
            pg_listen: args.pg_listen.or(cfg.serve.pg_listen.clone()),
            ..cfg.serve
        },
        lake: cfg.lake.location,
        analytics: cfg.analytics,
        metrics_file: cfg.ingest.metrics_file,
        billing: Some(cfg.billing),
    })?;
    Ok(ExitCode::SUCCESS)
}
