//! `tollgate rollup`: bring the hourly rollups up to date (idempotent),
//! once or every few seconds until a signal.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::common::{ConfigArgs, Shutdown, load_config, open_lake, runtime};

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

/// Runs `tollgate rollup`.
pub fn run(args: RollupArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let rt = runtime()?;
    let store = tollgate_aggregator::lake_store(&cfg.lake.location)?;
    // Only a loop listens for signals: a single run ends on its own.
    let shutdown = match args.every {
        Some(_) => Shutdown::on_signal(rt.handle()),
        None => Shutdown::default(),
    };
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
        let until = Instant::now() + Duration::from_secs(every.max(1));
        while Instant::now() < until {
            if shutdown.requested() {
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
