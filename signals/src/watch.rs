//! The watcher `tollgate watch` runs: evaluate quotas and alert rules
//! every `poll_interval_secs`, file each new signal in the ledger, then
//! deliver what is due.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use tollgate_aggregator::{AnalyticsConfig, Lake};
use tollgate_billing::Billing;

use crate::alert::{AlertBook, Rule};
use crate::deliver::Outputs;
use crate::quota::{self, PeriodCache};
use crate::signal::{Ledger, Record, Signal};
use crate::{SignalsConfig, SignalsError};

/// What the watcher reads and where it sends.
pub struct Watcher {
    ledger: Ledger,
    lake: String,
    analytics: AnalyticsConfig,
    billing: Option<Billing>,
    rules: Vec<Rule>,
    outputs: Outputs,
    /// Filed signal ids, until their window ends (a closed window's
    /// crossings cannot recur, so memory stays bounded).
    known: HashMap<String, DateTime<Utc>>,
    pending: Vec<Record>,
    alerts: AlertBook,
    cache: PeriodCache,
    cfg: SignalsConfig,
}

/// What one evaluation found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Evaluation {
    /// Signals filed for the first time.
    pub new: Vec<Signal>,
    /// Quota usages looked at.
    pub quotas: usize,
}

impl Watcher {
    /// Loads the ledger (known signals, undelivered ones) and the alert state.
    pub async fn start(
        lake: &str,
        analytics: AnalyticsConfig,
        billing: Option<Billing>,
        rules: Vec<Rule>,
        outputs: Outputs,
        cfg: SignalsConfig,
    ) -> Result<Watcher, SignalsError> {
        let ledger = Ledger::open(lake)?;
        // Quota windows are at most a month long: older ids never recur.
        let since = (Utc::now() - Duration::days(62)).date_naive();
        let records = ledger.list_from(Some(since)).await?;
        let known = records
            .iter()
            .map(|r| (r.signal.id.clone(), r.signal.expires()))
            .collect();
        let pending: Vec<Record> = records.into_iter().filter(Record::pending).collect();
        if !pending.is_empty() {
            tracing::info!(
                pending = pending.len(),
                "undelivered signals from before the restart"
            );
        }
        let alerts = AlertBook::load(ledger.store()).await?;
        Ok(Watcher {
            ledger,
            lake: lake.into(),
            analytics,
            billing,
            rules,
            outputs,
            known,
            pending,
            alerts,
            cache: PeriodCache::default(),
            cfg,
        })
    }

    /// Signals waiting for delivery.
    pub fn pending(&self) -> &[Record] {
        &self.pending
    }

    /// Evaluates quotas and rules at `now` and files every new signal.
    pub async fn evaluate(&mut self, now: DateTime<Utc>) -> Result<Evaluation, SignalsError> {
        // Opened each time so files committed since are seen.
        let lake = Lake::open(&self.lake, &self.analytics).await?;
        let mut found = Vec::new();
        let mut quotas = 0;
        if let Some(b) = &self.billing {
            let refresh =
                Duration::seconds(i64::try_from(self.cfg.period_refresh_secs).unwrap_or(600));
            let usage =
                quota::current(&lake, b, now, None, Some((&mut self.cache, refresh))).await?;
            quotas = usage.len();
            for u in &usage {
                found.extend(u.crossings(now));
            }
        }
        let mut alerts_changed = false;
        if !self.rules.is_empty() {
            let delay =
                Duration::seconds(i64::try_from(self.cfg.evaluation_delay_secs).unwrap_or(0));
            let changes = self.alerts.evaluate(&lake, &self.rules, now, delay).await?;
            alerts_changed = !changes.is_empty();
            found.extend(changes);
        }
        self.known.retain(|_, until| *until > now);
        let new = match self.file(found).await {
            Ok(new) => new,
            Err(e) => {
                // The alert changes were not all filed: go back to the
                // saved state, so the next evaluation sees them again.
                if alerts_changed {
                    self.alerts = AlertBook::load(self.ledger.store()).await?;
                }
                return Err(e);
            }
        };
        if alerts_changed {
            self.alerts.save(self.ledger.store()).await?;
        }
        Ok(Evaluation { new, quotas })
    }

    /// Files every signal not filed yet and queues it for delivery.
    async fn file(&mut self, found: Vec<Signal>) -> Result<Vec<Signal>, SignalsError> {
        let mut new = Vec::new();
        for s in found {
            // Known in memory, or filed before a restart (the listing at
            // start only covers recent days).
            if self.known.contains_key(&s.id) || self.ledger.contains(&s).await? {
                self.known.insert(s.id.clone(), s.expires());
                continue;
            }
            let r = Record::new(s.clone(), &self.outputs.targets());
            // Filed before delivery: a restart finds it and neither
            // recreates nor loses it.
            self.ledger.put(&r).await?;
            tracing::info!(signal = %s.id, body = %r.body, "signal");
            self.known.insert(s.id.clone(), s.expires());
            if r.pending() {
                self.pending.push(r);
            }
            new.push(s);
        }
        Ok(new)
    }

    /// Delivers every due signal; returns how many records changed.
    pub async fn deliver(&mut self, now: DateTime<Utc>) -> Result<usize, SignalsError> {
        let mut changed = 0;
        for r in &mut self.pending {
            if self.outputs.deliver_due(r, now, false).await {
                self.ledger.put(r).await?;
                changed += 1;
            }
        }
        self.pending.retain(Record::pending);
        Ok(changed)
    }

    /// Runs until `stop` is set: evaluates every poll interval, delivers
    /// retries as they fall due. Errors are logged and retried next round.
    pub async fn run(mut self, stop: Arc<AtomicBool>) {
        let poll = std::time::Duration::from_secs(self.cfg.poll_interval_secs.max(1));
        let mut next_eval = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if std::time::Instant::now() >= next_eval {
                next_eval = std::time::Instant::now() + poll;
                match self.evaluate(Utc::now()).await {
                    Ok(e) if !e.new.is_empty() => {
                        tracing::info!(new = e.new.len(), quotas = e.quotas, "signals filed");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("signals evaluation failed (retrying): {e}"),
                }
            }
            if let Err(e) = self.deliver(Utc::now()).await {
                tracing::error!("signals delivery bookkeeping failed (retrying): {e}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}

/// Sends a filed signal again to every target (or only `target`), now,
/// appending to its delivery log: an operator's replay.
pub async fn replay(
    ledger: &Ledger,
    outputs: &Outputs,
    id: &str,
    target: Option<&str>,
) -> Result<Record, SignalsError> {
    let mut r = ledger.find(id).await?;
    for t in outputs.targets() {
        if !r.targets.iter().any(|x| x.target == t) {
            r.targets.push(crate::signal::TargetLog {
                target: t,
                delivered_at: None,
                done: false,
                attempts: Vec::new(),
            });
        }
    }
    if let Some(t) = target
        && !r.targets.iter().any(|x| x.target == t)
    {
        return Err(SignalsError::Config(format!(
            "no target {t:?}; the signal's targets are {}",
            r.targets
                .iter()
                .map(|x| x.target.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut one = r.clone();
    one.targets.retain(|x| target.is_none_or(|t| x.target == t));
    outputs.deliver_due(&mut one, Utc::now(), true).await;
    for t in one.targets {
        if let Some(x) = r.targets.iter_mut().find(|x| x.target == t.target) {
            *x = t;
        }
    }
    ledger.put(&r).await?;
    Ok(r)
}
