//! What the commands share: `--config` and `--lake`, loading
//! `tollgate.toml`, the one async runtime, the one shutdown token, and
//! reading a time from the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use tollgate_aggregator::Lake;

use crate::config::Config;

/// `--format` of the commands that show one document (a quote, an
/// invoice list, a preview): a text layout for people or JSON for tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocFormat {
    /// Text laid out for a terminal.
    Table,
    /// JSON.
    Json,
}

/// `--config` and `--lake`, shared by the commands that read `tollgate.toml`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The configuration file (default: built-in defaults and TOLLGATE_* variables).
    #[arg(long, short = 'c', env = "TOLLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The lake: a folder or s3://bucket/prefix (overrides lake.location).
    #[arg(long)]
    pub lake: Option<String>,
}

/// The configuration: defaults, the file, `TOLLGATE_*`, then `--lake`.
pub fn load_config(common: &ConfigArgs) -> anyhow::Result<Config> {
    let mut cfg = Config::load(common.config.as_deref())?;
    if let Some(lake) = &common.lake {
        cfg.lake.location.clone_from(lake);
    }
    Ok(cfg)
}

/// The async runtime every command runs on. Two workers: the heavy work
/// runs on threads of its own (the ingest loop, the decoders, the analyst
/// SQL pool), the workers drive I/O and DataFusion's streams, as the
/// dashboard's runtime does.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the lake the configuration names.
pub fn open_lake(cfg: &Config, rt: &tokio::runtime::Runtime) -> anyhow::Result<Lake> {
    Ok(rt.block_on(Lake::open(&cfg.lake.location, &cfg.analytics))?)
}

/// The shutdown token: set once on SIGINT or SIGTERM, read by the long
/// running commands (ingest, rollup --every, watch, serve's loops), which
/// then stop in their fixed order. A flag, because the libraries poll it
/// between batches.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// A token set by SIGINT or SIGTERM, listened for on `rt`.
    pub fn on_signal(rt: &tokio::runtime::Handle) -> Shutdown {
        let token = Shutdown::default();
        rt.spawn(wait_for_signal(token.0.clone()));
        token
    }

    /// Whether shutdown was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Asks for shutdown (what a signal does).
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// The flag the library `run` functions take.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

/// Sets `flag` on SIGINT or SIGTERM.
async fn wait_for_signal(flag: Arc<AtomicBool>) {
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

/// A time from the command line: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_time(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("{s:?} is not YYYY-MM-DD or an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_dates_at_midnight_or_rfc3339() {
        assert_eq!(
            parse_time("2024-06-11").unwrap().to_rfc3339(),
            "2024-06-11T00:00:00+00:00"
        );
        assert_eq!(
            parse_time("2024-06-11T13:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2024-06-11T11:00:00+00:00"
        );
        let e = parse_time("11/06/2024").unwrap_err().to_string();
        assert!(e.contains("YYYY-MM-DD"), "{e}");
    }

    #[test]
    fn the_token_is_shared_by_its_clones() {
        let a = Shutdown::default();
        let b = a.clone();
        assert!(!b.requested());
        a.request();
        assert!(b.requested() && b.flag().load(Ordering::Relaxed));
    }
}
