//! `tollgate ingest`: Kafka into the lake, exactly once, until a signal
//! (or with `--once` until caught up).

use std::process::ExitCode;
use std::sync::Arc;

use tollgate_ingest::kafka::{RunOptions, run_blocking};
use tollgate_ingest::metrics::Metrics;

use super::common::{ConfigArgs, Shutdown, load_config, runtime};

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

/// Runs `tollgate ingest`.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
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
    let shutdown = Shutdown::on_signal(rt.handle());
    let metrics = Arc::new(Metrics::default());
    let options = RunOptions { once: args.once };
    let handle = rt.handle().clone();
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            run_blocking(
                &settings,
                &options,
                handle,
                shutdown.flag(),
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
