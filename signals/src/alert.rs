//! Operational alert rules: error rates, latency and traffic drops or
//! spikes per API, route or consumer over a sliding window, each firing
//! once and resolving once.
//!
//! Rules live in a TOML file (`signals.alerts`, example in
//! `deploy/alerts.toml`), validated on load. A rule is evaluated over the
//! window `[now − delay − window, now − delay)` of raw events (exact
//! percentiles), per value of `by`. Firing alerts are kept in
//! `_tollgate/alerts/state.json`, so a restart neither repeats a firing
//! signal nor forgets to resolve it.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tollgate_aggregator::Lake;
use tollgate_aggregator::planner;
use tollgate_aggregator::query::{Dim, TrafficQuery, TrafficRow};
use tollgate_lake::store::LakeStore;

use crate::SignalsError;
use crate::signal::{AlertSignal, AlertState, Signal, SignalBody, signal_id};

/// What a rule measures over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertMetric {
    /// Calls in the window.
    Calls,
    /// Relative change of calls against the window before (−0.5: halved;
    /// 1.0: doubled).
    CallsChange,
    /// Share of calls answered 4xx (0..1).
    #[serde(rename = "error_rate_4xx")]
    ErrorRate4xx,
    /// Share of calls answered 5xx (0..1).
    #[serde(rename = "error_rate_5xx")]
    ErrorRate5xx,
    /// p95 latency, ms.
    P95Ms,
    /// p99 latency, ms.
    P99Ms,
}

impl AlertMetric {
    fn name(self) -> &'static str {
        match self {
            AlertMetric::Calls => "calls",
            AlertMetric::CallsChange => "calls_change",
            AlertMetric::ErrorRate4xx => "error_rate_4xx",
            AlertMetric::ErrorRate5xx => "error_rate_5xx",
            AlertMetric::P95Ms => "p95_ms",
            AlertMetric::P99Ms => "p99_ms",
        }
    }
}

/// The dimension a rule is evaluated per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Per API.
    Api,
    /// Per route.
    Route,
    /// Per consumer.
    Consumer,
}

impl Scope {
    fn dim(self) -> Dim {
        match self {
            Scope::Api => Dim::Api,
            Scope::Route => Dim::Route,
            Scope::Consumer => Dim::Consumer,
        }
    }
}

/// One rule (`[[rule]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique id, in signals.
    pub id: String,
    /// Text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// What is measured.
    pub metric: AlertMetric,
    /// Evaluate per API, route or consumer; all traffic together when absent.
    #[serde(default)]
    pub by: Option<Scope>,
    /// Only this API, route or consumer (needs `by`).
    #[serde(default)]
    pub only: Option<String>,
    /// Window length: `30s`, `5m`, `1h` (10 s to 1 day).
    pub window: String,
    /// Fire while the value is above this.
    #[serde(default)]
    pub above: Option<f64>,
    /// Fire while the value is below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// Judge rates and latencies only with at least this many calls in the
    /// window (and changes with this many in the window before).
    #[serde(default = "one")]
    pub min_calls: u64,
}

fn one() -> u64 {
    1
}

/// The rules file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// The rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

/// Parses `30s`, `5m`, `2h`, `1d`.
pub fn parse_window(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    match unit {
        "s" => Some(Duration::seconds(n)),
        "m" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        "d" => Some(Duration::days(n)),
        _ => None,
    }
}

impl RulesFile {
    /// Parses and validates a rules file.
    pub fn parse(text: &str) -> Result<RulesFile, SignalsError> {
        let file: RulesFile =
            toml::from_str(text).map_err(|e| SignalsError::Config(format!("alert rules: {e}")))?;
        let mut ids = BTreeSet::new();
        for r in &file.rules {
            let bad = |why: &str| SignalsError::Config(format!("alert rule {:?}: {why}", r.id));
            if !ids.insert(r.id.as_str()) {
                return Err(bad("id is used twice"));
            }
            match parse_window(&r.window) {
                Some(w) if w >= Duration::seconds(10) && w <= Duration::days(1) => {}
                _ => return Err(bad("window must be like 30s, 5m or 1h, from 10s to 1d")),
            }
            let threshold = match (r.above, r.below) {
                (Some(t), None) | (None, Some(t)) => t,
                _ => return Err(bad("set exactly one of above or below")),
            };
            if !threshold.is_finite() {
                return Err(bad("the threshold must be a number"));
            }
            let rate = matches!(
                r.metric,
                AlertMetric::ErrorRate4xx | AlertMetric::ErrorRate5xx
            );
            if rate && !(0.0..=1.0).contains(&threshold) {
                return Err(bad("error rates are fractions: 0.02 means 2%"));
            }
            if r.only.is_some() && r.by.is_none() {
                return Err(bad("`only` needs `by` (api, route or consumer)"));
            }
        }
        Ok(file)
    }

    /// Reads and validates the rules file at `path`.
    pub fn load(path: &std::path::Path) -> Result<RulesFile, SignalsError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SignalsError::Config(format!(
                "alert rules {}: {e}; set signals.alerts",
                path.display()
            ))
        })?;
        RulesFile::parse(&text)
    }
}

impl Rule {
    fn window(&self) -> Duration {
        parse_window(&self.window).unwrap_or(Duration::minutes(5))
    }

    fn threshold(&self) -> f64 {
        self.above.or(self.below).unwrap_or(0.0)
    }

    fn needs_previous(&self) -> bool {
        self.metric == AlertMetric::CallsChange || self.below.is_some()
    }

    /// The value over the window, if it can be judged.
    fn value(&self, cur: Option<&TrafficRow>, prev: Option<&TrafficRow>) -> Option<f64> {
        let calls = cur.map_or(0, |r| r.calls);
        let judged = u64::try_from(calls).unwrap_or(0) >= self.min_calls;
        match self.metric {
            AlertMetric::Calls => Some(calls as f64),
            AlertMetric::CallsChange => {
                let before = prev.map_or(0, |r| r.calls);
                (before > 0 && u64::try_from(before).unwrap_or(0) >= self.min_calls)
                    .then(|| (calls - before) as f64 / before as f64)
            }
            AlertMetric::ErrorRate4xx => judged.then(|| cur.map_or(0.0, |r| r.error_rate_4xx)),
            AlertMetric::ErrorRate5xx => judged.then(|| cur.map_or(0.0, |r| r.error_rate_5xx)),
            AlertMetric::P95Ms => cur.filter(|_| judged).and_then(|r| r.latency_p95),
            AlertMetric::P99Ms => cur.filter(|_| judged).and_then(|r| r.latency_p99),
        }
    }

    fn breached(&self, v: f64) -> bool {
        match (self.above, self.below) {
            (Some(t), _) => v > t,
            (_, Some(t)) => v < t,
            _ => false,
        }
    }
}

/// One firing alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    /// The rule.
    pub rule: String,
    /// The rule's `by`.
    pub by: Option<String>,
    /// The API, route or consumer.
    pub key: Option<String>,
    /// The metric.
    pub metric: String,
    /// The last value seen.
    pub value: Option<f64>,
    /// The threshold.
    pub threshold: f64,
    /// `above` or `below`.
    pub comparison: String,
    /// When it started firing.
    pub fired_at: DateTime<Utc>,
}

/// Firing alerts, kept in the lake's store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    /// Keyed by `rule` and `key` (`""` for rules without `by`).
    pub firing: BTreeMap<String, Firing>,
}

const STATE: &str = tollgate_lake::layout::ALERTS_STATE;

impl AlertBook {
    /// Loads the state (empty when there is none yet).
    pub async fn load(store: &LakeStore) -> Result<AlertBook, SignalsError> {
        match store.get(STATE).await? {
            None => Ok(AlertBook::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                SignalsError::Ledger(format!(
                    "{STATE}: {e}; remove it to start with no alert firing"
                ))
            }),
        }
    }

    /// Writes the state durably.
    pub async fn save(&self, store: &LakeStore) -> Result<(), SignalsError> {
        let b = serde_json::to_vec_pretty(self).map_err(|e| SignalsError::Ledger(e.to_string()))?;
        store.put(STATE, Bytes::from(b)).await?;
        Ok(())
    }

    /// Evaluates `rules` at `now` and returns the signals for every change
    /// (fired or resolved), updating the book. Rules no longer in the file
    /// are resolved.
    pub async fn evaluate(
        &mut self,
        lake: &Lake,
        rules: &[Rule],
        now: DateTime<Utc>,
        delay: Duration,
    ) -> Result<Vec<Signal>, SignalsError> {
        let mut out = Vec::new();
        let end = now - delay;
        for rule in rules {
            let w = rule.window();
            let cur = rows(lake, rule, end - w, end).await?;
            let prev = if rule.needs_previous() {
                rows(lake, rule, end - w - w, end - w).await?
            } else {
                BTreeMap::new()
            };
            let mut keys: BTreeSet<Option<String>> =
                cur.keys().chain(prev.keys()).cloned().collect();
            keys.extend(
                self.firing
                    .values()
                    .filter(|f| f.rule == rule.id)
                    .map(|f| f.key.clone()),
            );
            if rule.by.is_none() {
                keys.insert(None);
            }
            if let Some(only) = &rule.only {
                keys.insert(Some(only.clone()));
                keys.retain(|k| k.as_deref() == Some(only));
            }
            for key in keys {
                let value = rule.value(cur.get(&key), prev.get(&key));
                let breach = value.is_some_and(|v| rule.breached(v));
                let book_key = format!("{}\u{1f}{}", rule.id, key.as_deref().unwrap_or(""));
                match (breach, self.firing.get(&book_key).cloned()) {
                    (true, None) => {
                        let f = Firing {
                            rule: rule.id.clone(),
                            by: rule.by.map(|b| b.dim().name().to_string()),
                            key: key.clone(),
                            metric: rule.metric.name().into(),
                            value,
                            threshold: rule.threshold(),
                            comparison: if rule.above.is_some() {
                                "above"
                            } else {
                                "below"
                            }
                            .into(),
                            fired_at: now,
                        };
                        out.push(signal(&f, AlertState::Firing, w, now));
                        self.firing.insert(book_key, f);
                    }
                    (false, Some(mut f)) => {
                        f.value = value;
                        out.push(signal(&f, AlertState::Resolved, w, now));
                        self.firing.remove(&book_key);
                    }
                    (true, Some(_)) => {
                        if let Some(f) = self.firing.get_mut(&book_key) {
                            f.value = value;
                        }
                    }
                    (false, None) => {}
                }
            }
        }
        let gone: Vec<String> = self
            .firing
            .iter()
            .filter(|(_, f)| !rules.iter().any(|r| r.id == f.rule))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(f) = self.firing.remove(&k) {
                out.push(signal(&f, AlertState::Resolved, Duration::zero(), now));
            }
        }
        Ok(out)
    }
}

fn signal(f: &Firing, state: AlertState, window: Duration, now: DateTime<Utc>) -> Signal {
    let fired = f.fired_at.timestamp_millis().to_string();
    let what = match state {
        AlertState::Firing => "fired",
        AlertState::Resolved => "resolved",
    };
    Signal {
        id: signal_id(&[
            "alert",
            what,
            &f.rule,
            f.key.as_deref().unwrap_or(""),
            &fired,
        ]),
        body: SignalBody::Alert(AlertSignal {
            rule: f.rule.clone(),
            state,
            by: f.by.clone(),
            key: f.key.clone(),
            metric: f.metric.clone(),
            value: f.value,
            comparison: f.comparison.clone(),
            threshold: f.threshold,
            window_secs: u64::try_from(window.num_seconds()).unwrap_or(0),
            fired_at: f.fired_at,
        }),
        created_at: now,
    }
}

async fn rows(
    lake: &Lake,
    rule: &Rule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<Option<String>, TrafficRow>, SignalsError> {
    if !lake.has_table("events") {
        return Ok(BTreeMap::new());
    }
    let q = TrafficQuery {
        from,
        to,
        bucket: None,
        by: rule.by.map(|b| vec![b.dim()]).unwrap_or_default(),
        consumer: match (rule.by, &rule.only) {
            (Some(Scope::Consumer), Some(c)) => Some(c.clone()),
            _ => None,
        },
        tz: None,
        // The last minutes are not rolled up yet: the events answer.
        exact: true,
    };
    let rows = planner::answer(lake, &q).await?;
    Ok(rows
        .into_iter()
        .filter(|r| rule.by.is_none() || r.calls > 0)
        .map(|r| (r.group.first().cloned().flatten(), r))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_load() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/alerts.toml");
        let rules = RulesFile::load(std::path::Path::new(path)).unwrap().rules;
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].metric, AlertMetric::ErrorRate5xx);
        assert_eq!(rules[0].window(), Duration::minutes(5));
    }

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("30s"), Some(Duration::seconds(30)));
        assert_eq!(parse_window("5m"), Some(Duration::minutes(5)));
        assert_eq!(parse_window("2h"), Some(Duration::hours(2)));
        assert_eq!(parse_window("1d"), Some(Duration::days(1)));
        assert_eq!(parse_window("5"), None);
        assert_eq!(parse_window("m"), None);
        assert_eq!(parse_window("5w"), None);
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let ok = "[[rule]]\nid = \"a\"\nmetric = \"error_rate_5xx\"\nby = \"api\"\nwindow = \"5m\"\nabove = 0.02\n";
        assert_eq!(RulesFile::parse(ok).unwrap().rules.len(), 1);
        for (text, why) in [
            (ok.replace("above = 0.02", "above = 2"), "fractions"),
            (
                ok.replace("above = 0.02", "above = 0.02\nbelow = 0.01"),
                "exactly one",
            ),
            (ok.replace("above = 0.02", ""), "exactly one"),
            (ok.replace("5m", "5s"), "window"),
            (ok.replace("5m", "fortnight"), "window"),
            (ok.replace("by = \"api\"", "only = \"x\""), "needs `by`"),
            (format!("{ok}{ok}"), "twice"),
            (ok.replace("error_rate_5xx", "errors"), "errors"),
            (ok.replace("window", "windw"), "windw"),
        ] {
            let err = RulesFile::parse(&text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
