//! `tollgate demo`: the whole product on one machine with no setup.
//!
//! An embedded Kafka-protocol broker (librdkafka's mock cluster, in this
//! process) or a real Kafka (`--brokers`); the gateway simulator producing
//! mixed-format traffic from the first day of the previous month to now; the ingestor writing it exactly once
//! into a local lake; hourly rollups; invoices for the previous month
//! (finalized) and drafts for the current one; then the dashboard.
//!
//! The mock cluster keeps only a few MB per partition, so the simulator is
//! paced by the ingestor: it never gets more than [`WINDOW`] messages ahead
//! of what the ingestor has consumed, and nothing produced is lost. The
//! load ends only when the lake holds every message (the ingestor is
//! stopped cleanly: flush, then commit).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use rdkafka::mocking::MockCluster;
use tollgate_aggregator::{AnalyticsConfig, Lake};
use tollgate_billing::BillingConfig;
use tollgate_billing::period::Period;
use tollgate_ingest::config::{IngestConfig, IngestSettings, KafkaConfig, LakeConfig};
use tollgate_ingest::kafka::{RunOptions, run_blocking};
use tollgate_ingest::metrics::Metrics;
use tollgate_invoicing::{self as billing_run, Ledger, RunOutcome};

use tollgate_sim::{GatewayMix, KafkaTarget, Simulator, SimulatorConfig, consumer_id, produce};

use super::common::{Shutdown, runtime};

/// How far (in messages) the simulator may run ahead of the ingestor. The
/// mock cluster keeps 5 MB per partition, and librdkafka's sticky
/// partitioner may put a whole window in one partition: 4,000 lines of at
/// most ~1 KB stay inside that.
pub const WINDOW: u64 = 4_000;

/// Partitions of the demo topic.
pub const PARTITIONS: i32 = 4;

const TOPIC: &str = "gateway-logs";
const PLANS: &str = include_str!("../../deploy/plans.toml");

/// Flags of `tollgate demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder for the demo's lake, plans and subscriptions (its lake is
    /// recreated on each run).
    #[arg(long, default_value = "tollgate-demo")]
    pub dir: PathBuf,
    /// Use this Kafka (host:port) instead of the embedded broker.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Events to simulate.
    #[arg(long, default_value_t = 300_000)]
    pub events: u64,
    /// Simulated consumers.
    #[arg(long, default_value_t = 120)]
    pub consumers: u32,
    /// Days of traffic, ending now (default: from the first day of the
    /// previous month, so that month can be invoiced in full).
    #[arg(long)]
    pub days: Option<u32>,
    /// Dashboard address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub address: String,
    /// Load, invoice, print the summary and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
}

/// Subscriptions for the simulated consumers: the top one on enterprise
/// (EUR), one in Japan (JPY), every fifth on growth, the rest on free; one
/// upgrades from free to growth on the 16th of the previous month.
pub fn subscriptions(consumers: u32, previous: Period) -> String {
    let mut out = String::from(
        "# Written by `tollgate demo` for the simulated consumers (see deploy/subscriptions.toml).\n",
    );
    let upgrade = previous
        .start()
        .checked_add_days(chrono::Days::new(15))
        .unwrap_or(previous.start());
    for n in 1..=consumers {
        let c = consumer_id(n);
        let plan = match n {
            1 => "enterprise",
            4 => "tokyo",
            n if n % 5 == 2 => "growth",
            _ => "free",
        };
        if n == 3 {
            out.push_str(&format!(
                "\n[[subscription]]\nconsumer = \"{c}\"\nplan = \"free\"\nstart = \"2025-01-01\"\nend = \"{upgrade}\"\n\
                 \n[[subscription]]\nconsumer = \"{c}\"\nplan = \"growth\"\nstart = \"{upgrade}\"\n"
            ));
            continue;
        }
        out.push_str(&format!(
            "\n[[subscription]]\nconsumer = \"{c}\"\nplan = \"{plan}\"\nstart = \"2025-01-01\"\n"
        ));
    }
    out
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let lake_dir = args.dir.join("lake");
    if lake_dir.exists() {
        std::fs::remove_dir_all(&lake_dir).with_context(|| {
            format!("cannot clear the previous demo lake {}", lake_dir.display())
        })?;
    }
    std::fs::create_dir_all(&lake_dir)
        .with_context(|| format!("cannot create {}", lake_dir.display()))?;
    let lake = lake_dir.display().to_string();
    let now = Utc::now();
    let current = Period::of(now.date_naive());
    let previous = current.prev();
    let plans_path = args.dir.join("plans.toml");
    let subs_path = args.dir.join("subscriptions.toml");
    std::fs::write(&plans_path, PLANS)?;
    std::fs::write(&subs_path, subscriptions(args.consumers, previous))?;

    // The broker.
    let mock;
    let brokers = match &args.brokers {
        Some(b) => b.clone(),
        None => {
            mock = MockCluster::new(1).context("cannot start the embedded broker")?;
            mock.create_topic(TOPIC, PARTITIONS, 1)
                .context("cannot create the demo topic")?;
            mock.bootstrap_servers()
        }
    };
    eprintln!("tollgate demo: broker {brokers}, lake {lake}");

    // The ingestor, on its own thread.
    let rt = runtime()?;
    let settings = IngestSettings {
        lake: LakeConfig {
            location: lake.clone(),
            ..LakeConfig::default()
        },
        kafka: KafkaConfig {
            brokers: brokers.clone(),
            topics: vec![TOPIC.into()],
            group: "tollgate-demo".into(),
            // Short fetch waits: the simulator waits for the ingestor, so
            // round trips, not throughput, set the pace.
            properties: [("fetch.wait.max.ms".to_string(), "10".to_string())]
                .into_iter()
                .collect(),
            ..KafkaConfig::default()
        },
        ingest: IngestConfig {
            max_rows: 100_000,
            max_latency_ms: 1_000,
            ..IngestConfig::default()
        },
    };
    let metrics = Arc::new(Metrics::default());
    // Not a signal: the demo stops its ingestor itself once the load is in.
    let stop = Shutdown::default();
    let ingest = {
        let (settings, handle, stop, metrics) = (
            settings.clone(),
            rt.handle().clone(),
            stop.flag(),
            metrics.clone(),
        );
        std::thread::spawn(move || {
            run_blocking(
                &settings,
                &RunOptions { once: false },
                handle,
                stop,
                metrics,
            )
        })
    };

    // The simulator, paced by the ingestor.
    let mut sim = Simulator::new(SimulatorConfig {
        events: args.events,
        consumers: args.consumers,
        days: args
            .days
            .unwrap_or_else(|| (now.date_naive() - previous.start()).num_days() as u32 + 1),
        end: tollgate_schemas::EpochMillis(now.timestamp_millis()),
        format: GatewayMix::default(),
        seed: 2026,
        bad_ratio: 0.002,
        duplicate_ratio: 0.001,
    })?;
    let target = KafkaTarget {
        brokers: brokers.clone(),
        topic: TOPIC.into(),
        rate: None,
    };
    let mut last_print = Instant::now();
    let load = Instant::now();
    let report = produce(&mut sim, &target, |p| {
        loop {
            let consumed = metrics.messages_consumed();
            if last_print.elapsed() > Duration::from_millis(500) {
                let secs = load.elapsed().as_secs_f64().max(0.001);
                eprint!(
                    "\r  produced {:>9}  ingested {:>9}  ({:>7.0} events/s)   ",
                    p.delivered,
                    consumed,
                    consumed as f64 / secs
                );
                let _ = std::io::stderr().flush();
                last_print = Instant::now();
            }
            if p.sent <= consumed + WINDOW || ingest.is_finished() {
                return !ingest.is_finished();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })?;
    anyhow::ensure!(
        !report.stopped,
        "the ingestor stopped during the load; see the log above"
    );
    // Every message consumed, then a clean stop: flush, commit, exit.
    while metrics.messages_consumed() < report.sent && !ingest.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.request();
    let ingested = ingest
        .join()
        .map_err(|_| anyhow::anyhow!("the ingestor panicked"))??;
    eprintln!(
        "\r  produced {:>9}  ingested {:>9}  in {:.1} s: {} events, {} quarantined      ",
        report.sent,
        ingested.messages,
        load.elapsed().as_secs_f64(),
        ingested.events,
        ingested.rejects
    );
    anyhow::ensure!(
        ingested.messages == report.sent,
        "ingested {} of {} messages",
        ingested.messages,
        report.sent
    );

    // Rollups and invoices.
    let billing = tollgate_invoicing::load(BillingConfig {
        plans: plans_path,
        subscriptions: subs_path,
        ..BillingConfig::default()
    })?;
    let summary = rt.block_on(async {
        let analytics = AnalyticsConfig::default();
        let lake_q = Lake::open(&lake, &analytics).await?;
        let store = tollgate_aggregator::lake_store(&lake)?;
        let rolled = tollgate_aggregator::rollup::run(&lake_q, &store).await?;
        let lake_q = Lake::open(&lake, &analytics).await?;
        let ledger = Ledger::open(&lake)?;
        billing_run::run(&lake_q, &ledger, &billing, previous, now).await?;
        let fin = billing_run::finalize(&ledger, &billing.config, previous, now).await?;
        let draft = billing_run::run(&lake_q, &ledger, &billing, current, now).await?;
        anyhow::Ok((rolled, fin, draft))
    })?;
    let (rolled, fin, draft) = summary;
    let state = |o: &RunOutcome| match o {
        RunOutcome::Drafted(s) | RunOutcome::AlreadyFinalized(s) => s.clone(),
    };
    let (fin, draft) = (state(&fin), state(&draft));
    eprintln!(
        "  rollups: {} days; invoices: {} finalized for {previous}, {} drafts for {current}",
        rolled.days_rebuilt.len(),
        fin.invoices.len(),
        draft.invoices.len()
    );
    eprintln!("  ready in {:.1} s", started.elapsed().as_secs_f64());
    println!(
        "\nTollgate is ready: http://{}/\n\
         - Overview: a month of traffic, error rates and latency percentiles\n\
         - Consumers: acct-0001 is the busiest; click through to its page\n\
         - Invoices: {previous} is finalized, {current} is a draft: tollgate invoice list --lake {lake}\n\
         - SQL: try SELECT consumer, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 10\n\
         CLI over the same lake: tollgate sql --lake {lake} \"SELECT count(*) FROM events\"\n",
        args.address
    );
    if args.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    drop(rt);
    tollgate_dashboard::run_blocking(tollgate_dashboard::ServeSettings {
        serve: tollgate_dashboard::ServeConfig {
            address: args.address,
            ..tollgate_dashboard::ServeConfig::default()
        },
        lake,
        analytics: AnalyticsConfig::default(),
        metrics_file: None,
        billing: Some(billing.config.clone()),
    })?;
    Ok(ExitCode::SUCCESS)
}
