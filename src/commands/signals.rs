//! `tollgate watch` and `tollgate signals …`: quota and alert signals.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use tollgate_billing::Billing;
use tollgate_signals::alert::RulesFile;
use tollgate_signals::deliver::Outputs;
use tollgate_signals::watch::{Watcher, replay};
use tollgate_signals::{Ledger, Record, SignalBody};

use super::common::{ConfigArgs, Shutdown, load_config, runtime};
use crate::config::Config;

/// Flags of `tollgate watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Evaluate once, then deliver until every new or pending signal is
    /// delivered or has used up `signals.max_attempts` (with backoff), and exit.
    #[arg(long)]
    pub once: bool,
    /// The clock for --once, RFC 3339 (default: now). For replays and tests.
    #[arg(long, requires = "once")]
    pub now: Option<DateTime<Utc>>,
    /// Benchmarking (with --once): evaluate this many times and print each
    /// duration to standard error. The first counts the billing period's
    /// earlier days; later ones reuse them, as the running watcher does.
    #[arg(long, default_value_t = 1, requires = "once", value_parser = clap::value_parser!(u32).range(1..))]
    pub evaluations: u32,
}

/// `tollgate signals …`.
#[derive(Debug, Subcommand)]
pub enum SignalsCommand {
    /// The signals in the ledger with their delivery state, oldest first.
    List {
        #[command(flatten)]
        common: ConfigArgs,
        /// Only signals some target has not received.
        #[arg(long)]
        undelivered: bool,
        /// One JSON record per line (the signal, its body and delivery log).
        #[arg(long)]
        json: bool,
    },
    /// Send a signal again now to every target (or one), and log it.
    Replay {
        #[command(flatten)]
        common: ConfigArgs,
        /// The signal id (or a unique prefix).
        id: String,
        /// Only this target (`kafka:<topic>` or `webhook:<name>`).
        #[arg(long)]
        target: Option<String>,
    },
}

fn outputs(cfg: &Config) -> anyhow::Result<Outputs> {
    let kafka = (!cfg.signals.topic.is_empty())
        .then_some((cfg.kafka.brokers.as_str(), &cfg.kafka.properties));
    Ok(Outputs::new(&cfg.signals, kafka)?)
}

/// The plans and subscriptions, or `None` (no quotas) when the plans file
/// does not exist; a file that exists but is wrong is an error.
fn billing(cfg: &Config) -> anyhow::Result<Option<Billing>> {
    if !cfg.billing.plans.exists() {
        tracing::warn!(
            plans = %cfg.billing.plans.display(),
            "no plans file: quotas are not watched (set billing.plans)"
        );
        return Ok(None);
    }
    Ok(Some(tollgate_invoicing::load(cfg.billing.clone())?))
}

/// Runs `tollgate watch`.
pub fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let rules = match &cfg.signals.alerts {
        Some(p) => RulesFile::load(p)?.rules,
        None => Vec::new(),
    };
    let billing = billing(&cfg)?;
    let bound = cfg.ingest.max_latency_ms / 1000 + cfg.signals.poll_interval_secs;
    if bound > 60 {
        tracing::warn!(
            "ingest.max_latency_ms + signals.poll_interval_secs = {bound} s: crossings may be signalled later than 60 s after the call"
        );
    }
    let rt = runtime()?;
    rt.block_on(async {
        let outputs = outputs(&cfg)?;
        let targets = outputs.targets();
        let mut w = Watcher::start(
            &cfg.lake.location,
            cfg.analytics.clone(),
            billing,
            rules,
            outputs,
            cfg.signals.clone(),
        )
        .await?;
        if args.once {
            let started = std::time::Instant::now();
            let now = args.now.unwrap_or_else(Utc::now);
            let mut e = w.evaluate(now).await?;
            for i in 0..args.evaluations {
                if i > 0 {
                    let t = std::time::Instant::now();
                    let again = w.evaluate(now).await?;
                    eprintln!("evaluation {}: {:.3} s", i + 1, t.elapsed().as_secs_f64());
                    e.new.extend(again.new);
                } else {
                    eprintln!("evaluation 1: {:.3} s", started.elapsed().as_secs_f64());
                }
            }
            while !w.pending().is_empty() {
                w.deliver(Utc::now()).await?;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let mut out = io::stdout().lock();
            for s in &e.new {
                writeln!(out, "{}", serde_json::to_string(s)?)?;
            }
            eprintln!(
                "{} quota usage(s) checked, {} new signal(s)",
                e.quotas,
                e.new.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        tracing::info!(
            lake = %cfg.lake.location,
            targets = ?targets,
            poll_secs = cfg.signals.poll_interval_secs,
            "watching quotas and alert rules"
        );
        let stop = Shutdown::on_signal(&tokio::runtime::Handle::current());
        w.run(stop.flag()).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs one `tollgate signals` command.
pub fn run(cmd: SignalsCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let mut out = io::stdout().lock();
        match cmd {
            SignalsCommand::List {
                common,
                undelivered,
                json,
            } => {
                let cfg = load_config(&common)?;
                let ledger = Ledger::open(&cfg.lake.location)?;
                for r in ledger.list().await? {
                    let missing = r.targets.iter().any(|t| t.delivered_at.is_none());
                    if undelivered && !missing {
                        continue;
                    }
                    if json {
                        writeln!(out, "{}", serde_json::to_string(&r)?)?;
                    } else {
                        writeln!(out, "{}", line(&r))?;
                    }
                }
            }
            SignalsCommand::Replay { common, id, target } => {
                let cfg = load_config(&common)?;
                let ledger = Ledger::open(&cfg.lake.location)?;
                let outputs = outputs(&cfg)?;
                let r = replay(&ledger, &outputs, &id, target.as_deref())
                    .await
                    .context("replay")?;
                writeln!(out, "{}", line(&r))?;
                let failed = r
                    .targets
                    .iter()
                    .filter(|t| target.as_deref().is_none_or(|x| x == t.target))
                    .any(|t| t.attempts.last().is_some_and(|a| !a.ok));
                if failed {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// One line per signal: id, time, what, and each target's state.
fn line(r: &Record) -> String {
    let s = &r.signal;
    let what = match &s.body {
        SignalBody::Quota(q) => format!(
            "quota {} {}/{} {}% ({} of {} {}, {} window from {}) {:?}",
            q.consumer,
            q.plan,
            q.quota,
            q.threshold_percent,
            q.used,
            q.limit,
            q.metric.name(),
            q.window.name(),
            q.window_start.format("%Y-%m-%dT%H:%MZ"),
            q.action
        ),
        SignalBody::Alert(a) => format!(
            "alert {} {:?} {}{} {} = {} ({} {})",
            a.rule,
            a.state,
            a.by.as_deref().map(|b| format!("{b}=")).unwrap_or_default(),
            a.key.as_deref().unwrap_or("all"),
            a.metric,
            a.value.map_or("-".into(), |v| format!("{v:.4}")),
            a.comparison,
            a.threshold
        ),
    };
    let targets: Vec<String> = r
        .targets
        .iter()
        .map(|t| {
            let state = match (&t.delivered_at, t.done) {
                (Some(_), _) => "delivered",
                (None, true) => "failed",
                (None, false) => "pending",
            };
            format!("{}={state}({} attempts)", t.target, t.attempts.len())
        })
        .collect();
    format!(
        "{}  {}  {}  {}",
        s.id,
        s.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
        what,
        targets.join(" ")
    )
}
