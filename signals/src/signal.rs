//! What a signal says, and the ledger that remembers each one with its
//! delivery log.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tollgate_billing::{Enforcement, Metric, QuotaWindow};
use tollgate_lake::{JsonLedger, JsonStyle, LakeStore, LedgerError};

use crate::SignalsError;

/// One notification: the JSON body published to Kafka and POSTed to
/// webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Stable id: the same crossing always has the same id (deduplicate on it).
    pub id: String,
    /// What happened.
    #[serde(flatten)]
    pub body: SignalBody,
    /// When Tollgate noticed it.
    pub created_at: DateTime<Utc>,
}

/// The kinds of signal, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SignalBody {
    /// A consumer's usage reached a threshold of a quota.
    Quota(QuotaSignal),
    /// An alert rule started or stopped firing.
    Alert(AlertSignal),
}

/// What the gateway is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Tell people (the consumer, the operator); keep serving.
    Notify,
    /// Block the consumer until `window_end` (hard quota at or over 100%).
    Block,
}

/// A quota threshold crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaSignal {
    /// The consumer.
    pub consumer: String,
    /// Its plan.
    pub plan: String,
    /// The plan version.
    pub plan_version: u32,
    /// The quota id in the plan.
    pub quota: String,
    /// What is counted.
    pub metric: Metric,
    /// The window.
    pub window: QuotaWindow,
    /// Window start (inclusive).
    pub window_start: DateTime<Utc>,
    /// Window end (exclusive): when a block can be lifted.
    pub window_end: DateTime<Utc>,
    /// The threshold reached, percent of `limit`.
    pub threshold_percent: u32,
    /// The quota.
    pub limit: u64,
    /// Usage in the window when the crossing was seen.
    pub used: u64,
    /// Soft or hard.
    pub enforcement: Enforcement,
    /// What the gateway should do.
    pub action: Action,
}

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds.
    Firing,
    /// The condition stopped holding.
    Resolved,
}

/// An alert rule changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSignal {
    /// The rule id.
    pub rule: String,
    /// Firing or resolved.
    pub state: AlertState,
    /// The dimension the rule is per (`api`, `route`, `consumer`), if any.
    pub by: Option<String>,
    /// Its value (the API, route or consumer), if any.
    pub key: Option<String>,
    /// The measured metric.
    pub metric: String,
    /// Its value over the window.
    pub value: Option<f64>,
    /// `above` or `below`.
    pub comparison: String,
    /// The rule's threshold.
    pub threshold: f64,
    /// The window length.
    pub window_secs: u64,
    /// When the alert started firing.
    pub fired_at: DateTime<Utc>,
}

impl Signal {
    /// The day the signal is filed under in the ledger: the quota window's
    /// start, or the alert's firing time (both fixed by the id).
    pub fn day(&self) -> NaiveDate {
        match &self.body {
            SignalBody::Quota(q) => q.window_start.date_naive(),
            SignalBody::Alert(a) => a.fired_at.date_naive(),
        }
    }

    /// After this instant the signal cannot be produced again: a quota's
    /// window has ended; an alert's id includes its firing time, and the
    /// alert state (not the id) keeps it from firing twice.
    pub fn expires(&self) -> DateTime<Utc> {
        match &self.body {
            SignalBody::Quota(q) => q.window_end,
            SignalBody::Alert(_) => self.created_at,
        }
    }

    /// The Kafka message key: the consumer (quota) or rule, so one
    /// consumer's signals stay in order on one partition.
    pub fn key(&self) -> String {
        match &self.body {
            SignalBody::Quota(q) => q.consumer.clone(),
            SignalBody::Alert(a) => format!("alert:{}", a.rule),
        }
    }
}

/// A stable id from the parts that identify a signal.
pub fn signal_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..12])
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When.
    pub at: DateTime<Utc>,
    /// Whether the target accepted it.
    pub ok: bool,
    /// HTTP status or broker answer, or the error.
    pub detail: String,
}

/// Delivery to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetLog {
    /// `kafka:<topic>` or `webhook:<name>`.
    pub target: String,
    /// When it was delivered, if it was.
    pub delivered_at: Option<DateTime<Utc>>,
    /// No more automatic attempts (delivered, or `max_attempts` failed).
    pub done: bool,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

/// A signal in the ledger: the exact body delivered and its delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The signal.
    pub signal: Signal,
    /// The exact bytes sent (signed as they are).
    pub body: String,
    /// One entry per target.
    pub targets: Vec<TargetLog>,
}

impl Record {
    /// A new record, not yet delivered anywhere.
    pub fn new(signal: Signal, targets: &[String]) -> Record {
        let body = serde_json::to_string(&signal).unwrap_or_default();
        Record {
            signal,
            body,
            targets: targets
                .iter()
                .map(|t| TargetLog {
                    target: t.clone(),
                    delivered_at: None,
                    done: false,
                    attempts: Vec::new(),
                })
                .collect(),
        }
    }

    /// Whether some target still waits for an automatic attempt.
    pub fn pending(&self) -> bool {
        self.targets.iter().any(|t| !t.done)
    }
}

/// The signals ledger, kept in the lake's store under `_tollgate/signals/`:
/// a [`JsonLedger`] of one record per signal, `date=<day>/<id>.json`, in
/// the [`JsonStyle::Pretty`] style it has always been written in.
#[derive(Debug, Clone)]
pub struct Ledger {
    book: JsonLedger,
}

const ROOT: &str = tollgate_lake::layout::SIGNALS;

impl Ledger {
    /// The ledger of the lake at `store`.
    pub fn new(store: LakeStore) -> Ledger {
        Ledger {
            book: JsonLedger::new(store, ROOT, JsonStyle::Pretty),
        }
    }

    /// Opens the ledger of the lake at `location` (a folder or `s3://…`).
    pub fn open(location: &str) -> Result<Ledger, SignalsError> {
        Ok(Ledger::new(LakeStore::open(location)?))
    }

    /// The store (also holds the alert state).
    pub fn store(&self) -> &LakeStore {
        self.book.store()
    }

    fn day_folder(day: NaiveDate) -> String {
        format!("date={}/", day.format("%Y-%m-%d"))
    }

    fn key(day: NaiveDate, id: &str) -> String {
        format!("{}{id}.json", Ledger::day_folder(day))
    }

    /// Writes (or rewrites) a record, durably.
    pub async fn put(&self, r: &Record) -> Result<(), SignalsError> {
        self.book
            .put(&Ledger::key(r.signal.day(), &r.signal.id), r)
            .await?;
        Ok(())
    }

    /// Whether a signal is filed (by its day and id).
    pub async fn contains(&self, s: &Signal) -> Result<bool, SignalsError> {
        Ok(self.book.contains(&Ledger::key(s.day(), &s.id)).await?)
    }

    /// Every record, oldest day first.
    pub async fn list(&self) -> Result<Vec<Record>, SignalsError> {
        self.list_from(None).await
    }

    /// Every record filed on or after `from` (all when `None`).
    pub async fn list_from(&self, from: Option<NaiveDate>) -> Result<Vec<Record>, SignalsError> {
        let mut out = Vec::new();
        for key in self.book.keys("").await? {
            let Some(day) = key
                .strip_prefix("date=")
                .and_then(|p| p.get(..10))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            if from.is_some_and(|f| day < f) {
                continue;
            }
            if let Some(r) = self.read(&key).await? {
                out.push(r);
            }
        }
        out.sort_by(|a, b| {
            (a.signal.created_at, &a.signal.id).cmp(&(b.signal.created_at, &b.signal.id))
        });
        Ok(out)
    }

    /// The `n` most recent records filed on `from` or later, newest first.
    /// Lists one day's folder at a time, newest day first, and reads only
    /// the days needed, so a page showing the latest signals does not read
    /// the whole history.
    pub async fn recent(
        &self,
        n: usize,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Record>, SignalsError> {
        let mut out = Vec::new();
        let mut day = to;
        while day >= from && out.len() < n {
            for key in self.book.keys(&Ledger::day_folder(day)).await? {
                if let Some(r) = self.read(&key).await? {
                    out.push(r);
                }
            }
            let Some(prev) = day.pred_opt() else { break };
            day = prev;
        }
        out.sort_by(|a, b| {
            (b.signal.created_at, &b.signal.id).cmp(&(a.signal.created_at, &a.signal.id))
        });
        out.truncate(n);
        Ok(out)
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, SignalsError> {
        self.book.get(key).await.map_err(|e| match e {
            LedgerError::Decode { .. } => {
                SignalsError::Ledger(format!("{e}; remove the file or restore it"))
            }
            e => e.into(),
        })
    }

    /// The record with this id (or a unique prefix of it).
    pub async fn find(&self, id: &str) -> Result<Record, SignalsError> {
        let hits: Vec<String> = self
            .book
            .keys("")
            .await?
            .into_iter()
            .filter(|k| k.rsplit('/').next().is_some_and(|f| f.starts_with(id)))
            .collect();
        match hits.as_slice() {
            [one] if !id.is_empty() => self
                .read(one)
                .await?
                .ok_or_else(|| SignalsError::NotFound(id.into())),
            _ => Err(SignalsError::NotFound(id.into())),
        }
    }
}
