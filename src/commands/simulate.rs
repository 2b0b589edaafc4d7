//! `tollgate simulate`: realistic gateway traffic (see the `tollgate_sim`
//! crate for the model) to standard output, a file or a Kafka topic.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use tollgate_schemas::EpochMillis;
use tollgate_sim::{
    DEFAULT_TOPIC, GatewayMix, KafkaTarget, SimulateError, Simulator, SimulatorConfig, produce,
    write_lines,
};

/// Flags of `tollgate simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Lines to write: events, plus the bad and duplicate lines asked for.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Number of consumers, acct-0001 (the busiest) to acct-NNNN.
    #[arg(long, default_value_t = 200)]
    pub consumers: u32,
    /// Days of simulated time the events are spread over, ending at --end.
    #[arg(long, default_value_t = 35)]
    pub days: u32,
    /// End of the simulated time (exclusive): YYYY-MM-DD (midnight UTC) or
    /// RFC 3339. Default: now.
    #[arg(long)]
    pub end: Option<String>,
    /// mixed (every line a random gateway format), json (a random one of
    /// the gateways' JSON formats: the benchmarks' input), or kong, apisix,
    /// envoy, aws, tyk, traefik, nginx, clf, canonical.
    #[arg(long, short, default_value = "mixed")]
    pub format: GatewayMix,
    /// Seed for every random choice: same seed and --end, same lines.
    /// Default: a random seed (logged, to repeat a run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction of malformed lines (0 to 1), to see the quarantine at work.
    #[arg(long, default_value_t = 0.0)]
    pub bad_ratio: f64,
    /// Fraction of lines (0 to 1) that resend a recent line unchanged, as a
    /// retrying log shipper does.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_ratio: f64,
    /// Write to this file instead of standard output (newline-delimited).
    #[arg(long, short, conflicts_with = "brokers")]
    pub out: Option<PathBuf>,
    /// Produce to Kafka instead: bootstrap brokers, host:port[,host:port].
    #[arg(long)]
    pub brokers: Option<String>,
    /// The Kafka topic (with --brokers); default gateway-logs, the topic
    /// `tollgate ingest` reads by default.
    #[arg(long, requires = "brokers")]
    pub topic: Option<String>,
    /// Lines per second of wall-clock time; default: as fast as possible.
    #[arg(long)]
    pub rate: Option<f64>,
}

impl SimulateArgs {
    /// The configuration these flags describe; `now` is the default end.
    pub fn config(&self, now: DateTime<Utc>) -> Result<SimulatorConfig, SimulateError> {
        let end = match self.end.as_deref() {
            None => now,
            Some(s) => parse_end(s)?,
        };
        let seed = self.seed.unwrap_or_else(|| {
            // Not reproducible by design; the seed is logged so it can be.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        });
        let cfg = SimulatorConfig {
            events: self.events,
            consumers: self.consumers,
            days: self.days,
            end: EpochMillis(end.timestamp_millis()),
            format: self.format,
            seed,
            bad_ratio: self.bad_ratio,
            duplicate_ratio: self.duplicate_ratio,
        };
        cfg.validate()?;
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(SimulateError::Invalid(format!(
                "--rate is {r}; give a positive number of lines per second, or leave it out for full speed"
            )));
        }
        Ok(cfg)
    }
}

fn parse_end(s: &str) -> Result<DateTime<Utc>, SimulateError> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            SimulateError::Invalid(format!(
                "--end {s:?} is not YYYY-MM-DD or an RFC 3339 time such as 2024-06-30T00:00:00Z"
            ))
        })
}

/// Runs `tollgate simulate`: lines to Kafka, a file or standard output.
/// Returns the number of lines written.
pub fn run(args: SimulateArgs) -> Result<u64, SimulateError> {
    let cfg = args.config(Utc::now())?;
    tracing::info!(
        seed = cfg.seed,
        start = %cfg.start(),
        end = %cfg.end,
        lines = cfg.events,
        "simulating gateway traffic"
    );
    let mut sim = Simulator::new(cfg)?;
    let started = Instant::now();
    if let Some(brokers) = args.brokers {
        let target = KafkaTarget {
            brokers,
            topic: args.topic.unwrap_or_else(|| DEFAULT_TOPIC.into()),
            rate: args.rate,
        };
        let mut last_log = Instant::now();
        let report = produce(&mut sim, &target, |p| {
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
                tracing::info!(sent = p.sent, delivered = p.delivered, "producing");
            }
            true
        })?;
        tracing::info!(
            lines = report.sent,
            topic = target.topic,
            seconds = started.elapsed().as_secs_f64(),
            "produced"
        );
        return Ok(report.sent);
    }
    let written = match args.out {
        Some(path) => {
            let file = File::create(&path).map_err(|e| {
                SimulateError::Invalid(format!("cannot create {}: {e}", path.display()))
            })?;
            write_lines(&mut sim, BufWriter::with_capacity(1 << 20, file), args.rate)?
        }
        None => match write_lines(
            &mut sim,
            BufWriter::with_capacity(1 << 20, io::stdout().lock()),
            args.rate,
        ) {
            // `tollgate simulate | head` is a normal way to stop it.
            Err(SimulateError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => sim.emitted(),
            other => other?,
        },
    };
    tracing::info!(
        lines = written,
        seconds = started.elapsed().as_secs_f64(),
        "simulated"
    );
    Ok(written)
}
