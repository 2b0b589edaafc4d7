//! Quota windows and the usage in them, from the lake.
//!
//! Usage is [`tollgate_aggregator::usage::daily_usage`], the deduplicated
//! query invoices are made from, so once a window has closed its count is
//! exactly what the lake (and the invoice) says. Minute, hour and day
//! windows are recounted on every evaluation; a billing-period window is
//! today's count plus the earlier days', which are recounted every
//! `period_refresh_secs` (late events for an earlier day of the month are
//! seen within that delay).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use serde::Serialize;
use tollgate_aggregator::Lake;
use tollgate_aggregator::usage::daily_usage;
use tollgate_billing::Billing;
use tollgate_billing::{Enforcement, Quota, QuotaWindow};
use tollgate_schemas::meter::Meter;

use crate::SignalsError;
use crate::signal::{Action, QuotaSignal, Signal, SignalBody, signal_id};

/// `[start, end)` of the window of kind `w` that contains `t`.
pub fn window_bounds(w: QuotaWindow, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = Utc.from_utc_datetime(&t.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
    match w {
        QuotaWindow::Minute => {
            let s = day + Duration::minutes(i64::from(t.hour() * 60 + t.minute()));
            (s, s + Duration::minutes(1))
        }
        QuotaWindow::Hour => {
            let s = day + Duration::hours(i64::from(t.hour()));
            (s, s + Duration::hours(1))
        }
        QuotaWindow::Day => (day, day + Duration::days(1)),
        QuotaWindow::Period => {
            let first = NaiveDate::from_ymd_opt(t.year(), t.month(), 1).unwrap_or_default();
            let next = first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(first);
            let at =
                |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
            (at(first), at(next))
        }
    }
}

/// One consumer's usage of one quota in the current window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaUsage {
    /// The consumer.
    pub consumer: String,
    /// Its plan.
    pub plan: String,
    /// The plan version.
    pub plan_version: u32,
    /// The quota.
    pub quota: Quota,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end (exclusive).
    pub window_end: DateTime<Utc>,
    /// Usage so far in the window.
    pub used: u64,
}

impl QuotaUsage {
    /// `used / limit` in percent (one decimal), for people.
    pub fn percent(&self) -> f64 {
        (self.used as f64 * 1000.0 / self.quota.limit as f64).round() / 10.0
    }

    /// The signals for every threshold reached (ids are stable).
    pub fn crossings(&self, now: DateTime<Utc>) -> Vec<Signal> {
        self.quota
            .reached(self.used)
            .map(|t| {
                let start = self.window_start.timestamp().to_string();
                let id = signal_id(&[
                    "quota",
                    &self.consumer,
                    &self.plan,
                    &self.quota.id,
                    self.quota.window.name(),
                    &start,
                    &t.to_string(),
                ]);
                let action = if self.quota.enforcement == Enforcement::Hard && t >= 100 {
                    Action::Block
                } else {
                    Action::Notify
                };
                Signal {
                    id,
                    body: SignalBody::Quota(QuotaSignal {
                        consumer: self.consumer.clone(),
                        plan: self.plan.clone(),
                        plan_version: self.plan_version,
                        quota: self.quota.id.clone(),
                        metric: self.quota.metric,
                        window: self.quota.window,
                        window_start: self.window_start,
                        window_end: self.window_end,
                        threshold_percent: t,
                        limit: self.quota.limit,
                        used: self.used,
                        enforcement: self.quota.enforcement,
                        action,
                    }),
                    created_at: now,
                }
            })
            .collect()
    }
}

/// The earlier days of the current billing period, counted once and
/// reused until `period_refresh_secs` pass or the month changes.
#[derive(Debug, Default)]
pub struct PeriodCache {
    key: Option<(NaiveDate, Option<String>, Vec<Meter>)>,
    counted_at: Option<DateTime<Utc>>,
    usage: BTreeMap<String, Vec<u64>>,
}

/// The usage of every quota of every consumer subscribed at `now` (or of
/// `consumer` only), in the window containing `now`.
pub async fn current(
    lake: &Lake,
    billing: &Billing,
    now: DateTime<Utc>,
    consumer: Option<&str>,
    cache: Option<(&mut PeriodCache, Duration)>,
) -> Result<Vec<QuotaUsage>, SignalsError> {
    // (consumer, plan, version, quota) for every active quota.
    let mut wanted = Vec::new();
    for s in billing.subscriptions.active_at(now) {
        if consumer.is_some_and(|c| c != s.consumer) {
            continue;
        }
        let Some(plan) = billing.plans.get(&s.plan, s.version) else {
            continue;
        };
        for q in &plan.quotas {
            wanted.push((
                s.consumer.clone(),
                plan.id.0.clone(),
                plan.version,
                q.clone(),
            ));
        }
    }
    // One query per distinct range with every meter it needs: a day quota
    // and today's part of a period quota share theirs.
    let (today, tomorrow) = window_bounds(QuotaWindow::Day, now);
    let counted_range = |w: QuotaWindow| match w {
        QuotaWindow::Period => (today, tomorrow),
        w => window_bounds(w, now),
    };
    let mut ranges: BTreeMap<(DateTime<Utc>, DateTime<Utc>), Vec<Meter>> = BTreeMap::new();
    let mut period_meters: Vec<Meter> = Vec::new();
    for (_, _, _, q) in &wanted {
        let m = ranges.entry(counted_range(q.window)).or_default();
        if !m.contains(&q.meter()) {
            m.push(q.meter());
        }
        if q.window == QuotaWindow::Period && !period_meters.contains(&q.meter()) {
            period_meters.push(q.meter());
        }
    }
    let mut counts = BTreeMap::new();
    for (&(from, to), meters) in &ranges {
        counts.insert((from, to), count(lake, from, to, consumer, meters).await?);
    }
    // The period's earlier days, reused for `refresh`.
    let (period_start, _) = window_bounds(QuotaWindow::Period, now);
    let mut earlier = BTreeMap::new();
    if !period_meters.is_empty() && today > period_start {
        earlier = match cache {
            Some((c, refresh)) => {
                let key = (
                    today.date_naive(),
                    consumer.map(str::to_string),
                    period_meters.clone(),
                );
                let fresh =
                    c.key.as_ref() == Some(&key) && c.counted_at.is_some_and(|t| now - t < refresh);
                if !fresh {
                    c.usage = count(lake, period_start, today, consumer, &period_meters).await?;
                    c.key = Some(key);
                    c.counted_at = Some(now);
                }
                c.usage.clone()
            }
            None => count(lake, period_start, today, consumer, &period_meters).await?,
        };
    }
    let lookup = |counts: &BTreeMap<String, Vec<u64>>, meters: &[Meter], c: &str, m: &Meter| {
        let i = meters.iter().position(|x| x == m)?;
        counts.get(c).and_then(|v| v.get(i).copied())
    };
    Ok(wanted
        .into_iter()
        .map(|(c, plan, plan_version, q)| {
            let (window_start, window_end) = window_bounds(q.window, now);
            let range = counted_range(q.window);
            let meter = q.meter();
            let mut used = lookup(&counts[&range], &ranges[&range], &c, &meter).unwrap_or(0);
            if q.window == QuotaWindow::Period {
                let before = lookup(&earlier, &period_meters, &c, &meter).unwrap_or(0);
                used = used.saturating_add(before);
            }
            QuotaUsage {
                consumer: c,
                plan,
                plan_version,
                quota: q,
                window_start,
                window_end,
                used,
            }
        })
        .collect())
}

/// Quantity per consumer and meter over `[from, to)`.
async fn count(
    lake: &Lake,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    consumer: Option<&str>,
    meters: &[Meter],
) -> Result<BTreeMap<String, Vec<u64>>, SignalsError> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    if !lake.has_table("events") {
        return Ok(out);
    }
    let report = daily_usage(lake, from, to, consumer, meters).await?;
    for d in report.days {
        let Some(c) = d.consumer else { continue };
        let t = out.entry(c).or_insert_with(|| vec![0; meters.len()]);
        for (a, m) in t.iter_mut().zip(&d.meters) {
            // Quotas count calls or bytes (plans refuse amount quotas), so
            // quantities are whole.
            let q = u64::try_from(m.quantity.trunc().mantissa()).unwrap_or(u64::MAX);
            *a = a.saturating_add(q);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn windows_contain_the_instant_and_end_where_the_next_begins() {
        let now = t("2026-02-28T23:59:59.999Z");
        assert_eq!(
            window_bounds(QuotaWindow::Minute, now),
            (t("2026-02-28T23:59:00Z"), t("2026-03-01T00:00:00Z"))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Hour, now),
            (t("2026-02-28T23:00:00Z"), t("2026-03-01T00:00:00Z"))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Day, now),
            (t("2026-02-28T00:00:00Z"), t("2026-03-01T00:00:00Z"))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Period, now),
            (t("2026-02-01T00:00:00Z"), t("2026-03-01T00:00:00Z"))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Period, t("2026-12-31T12:00:00Z")),
            (t("2026-12-01T00:00:00Z"), t("2027-01-01T00:00:00Z"))
        );
        let at_start = t("2026-03-01T00:00:00Z");
        assert_eq!(window_bounds(QuotaWindow::Day, at_start).0, at_start);
    }
}
