//! The traffic questions the pages and the API share, answered by the
//! aggregator's planner (`planner::answer`): from the rollups and their
//! views for hour and day buckets, from raw events for minute buckets over
//! short ranges.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
use serde_json::{Map, Value, json};
use tollgate_aggregator::query::{self, Bucket, Dim, TrafficQuery, TrafficRow};
use tollgate_aggregator::{Lake, inventory, planner};

use crate::error::{ApiError, code};
use crate::params::{self, RangeParams, TimeRange, bucket_name};
use crate::state::{AppState, ESTIMATES_TTL};
use tollgate_billing::invoice::Invoice;
use tollgate_invoicing::{self as billing_run, Estimates};

/// The open lake.
pub async fn lake(state: &AppState) -> Result<Arc<Lake>, ApiError> {
    Ok(state.lake.get().await?)
}

/// The checked range of a request; a `range=` span ends at the end of the
/// newest rollup hour (the current minute when there are no rollups), so
/// "last 24 hours" shows data even when the lake is not live.
pub async fn range(state: &AppState, lake: &Lake, p: &RangeParams) -> Result<TimeRange, ApiError> {
    let anchor = if params::is_explicit(p) {
        state.clock.now()
    } else {
        anchor(state, lake).await?
    };
    params::resolve_range(p, &state.limits, anchor)
}

async fn anchor(state: &AppState, lake: &Lake) -> Result<DateTime<Utc>, ApiError> {
    Ok(match inventory::extent(lake).await? {
        Some((_, last)) => last + Duration::hours(1),
        None => {
            let now = state.clock.now();
            now.duration_trunc(Duration::minutes(1)).unwrap_or(now) + Duration::minutes(1)
        }
    })
}

/// A consumer's quotas in their current windows (`Null` without plans),
/// counted as `tollgate watch` counts them (deduplicated, from the events).
/// Every consumer's are counted at once and reused for [`ESTIMATES_TTL`].
pub async fn quotas(state: &AppState, lake: &Lake, consumer: &str) -> Result<Value, ApiError> {
    let Some(billing) = &state.billing else {
        return Ok(Value::Null);
    };
    let all = {
        let mut cache = state.quotas.lock().await;
        if cache.at.is_none_or(|at| at.elapsed() >= ESTIMATES_TTL) {
            let now = state.clock.now();
            let c = &mut *cache;
            let usage = tollgate_signals::quota::current(
                lake,
                billing,
                now,
                None,
                Some((&mut c.period, crate::state::PERIOD_REFRESH)),
            )
            .await
            .map_err(|e| match e {
                tollgate_signals::SignalsError::Analytics(a) => ApiError::from(a),
                other => ApiError::internal(other),
            })?;
            c.usage = Arc::new(usage);
            c.at = Some(Instant::now());
        }
        cache.usage.clone()
    };
    let usage: Vec<_> = all.iter().filter(|u| u.consumer == consumer).collect();
    Ok(Value::Array(
        usage
            .iter()
            .map(|u| {
                json!({
                    "plan": u.plan,
                    "quota": u.quota.id,
                    "description": u.quota.description,
                    "metric": u.quota.metric.name(),
                    "window": u.quota.window.name(),
                    "window_start": u.window_start,
                    "window_end": u.window_end,
                    "limit": u.quota.limit,
                    "used": u.used,
                    "percent": u.percent(),
                    "enforcement": u.quota.enforcement,
                    "thresholds": u.quota.thresholds,
                })
            })
            .collect(),
    ))
}

/// Firing alerts and the most recent signals (newest first, at most
/// `recent`) from the watcher's state in the lake.
pub async fn alerts(state: &AppState, recent: usize) -> Result<Value, ApiError> {
    let ledger =
        tollgate_signals::Ledger::open(state.lake.location()).map_err(ApiError::internal)?;
    let book = tollgate_signals::alert::AlertBook::load(ledger.store())
        .await
        .map_err(ApiError::internal)?;
    // Quota signals are filed under their window's first day: a billing
    // period's under the 1st of the month.
    let today = state.clock.now().date_naive();
    let from = (today - Duration::days(7)).min(today.with_day(1).unwrap_or(today));
    let records = ledger
        .recent(recent, from, today)
        .await
        .map_err(ApiError::internal)?;
    let signals: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r.signal).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                let delivered = r.targets.iter().all(|t| t.delivered_at.is_some());
                m.insert("delivered".into(), json!(delivered));
            }
            v
        })
        .collect();
    Ok(json!({
        "firing": book.firing.values().collect::<Vec<_>>(),
        "signals": signals,
    }))
}

/// The month-to-date estimates (period of the clock's "now"), `None`
/// without plans. Reused for [`ESTIMATES_TTL`]: one query over the month's
/// hourly rollups for all consumers, shared by every page and request.
pub async fn estimates(state: &AppState, lake: &Lake) -> Result<Option<Arc<Estimates>>, ApiError> {
    let Some(billing) = &state.billing else {
        return Ok(None);
    };
    if let Some((at, e)) = &*state.estimates.lock().unwrap_or_else(|p| p.into_inner())
        && at.elapsed() < ESTIMATES_TTL
    {
        return Ok(Some(e.clone()));
    }
    let e = Arc::new(
        billing_run::estimates(lake, billing, state.clock.now())
            .await
            .map_err(ApiError::internal)?,
    );
    *state.estimates.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), e.clone()));
    Ok(Some(e))
}

/// A consumer's estimate as JSON: period, as of, currency, amount.
pub fn estimate_json(e: &Estimates, consumer: &str) -> Value {
    match e.invoices.get(consumer) {
        Some(inv) => json!({
            "period": e.period,
            "as_of": e.as_of,
            "currency": inv.currency,
            "amount": inv.total,
            "plans": plans_of(inv),
        }),
        None => Value::Null,
    }
}

/// "growth v1" (or "free v1 → growth v1" after a change in the period).
pub fn plans_of(inv: &Invoice) -> String {
    inv.segments
        .iter()
        .map(|s| format!("{} v{}", s.segment.plan, s.segment.version))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// 404 `unknown_consumer` unless the rollups have seen `consumer`.
pub async fn check_consumer(lake: &Lake, consumer: &str) -> Result<(), ApiError> {
    if inventory::has_consumer(lake, consumer).await? {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            code::UNKNOWN_CONSUMER,
            format!(
                "no consumer {consumer:?} in the lake's rollups; see /api/consumers for the known ones"
            ),
        ))
    }
}

/// Rows over `r`, per `bucket` (or one per group), grouped `by`.
pub async fn rows(
    lake: &Lake,
    r: &TimeRange,
    bucket: Option<Bucket>,
    by: Vec<Dim>,
    consumer: Option<&str>,
) -> Result<Vec<TrafficRow>, ApiError> {
    let q = TrafficQuery {
        from: r.from,
        to: r.to,
        bucket,
        by,
        consumer: consumer.map(String::from),
        tz: None,
        // A range shown in minutes is answered from the raw events.
        exact: r.exact(),
    };
    Ok(planner::answer(lake, &q).await?)
}

/// The `n` groups `by` ranked first by `order` over `r`: as [`rows`] then
/// `query::top`, with only the winners' histograms merged when ranked
/// by calls or errors from the rollups (`planner::top`).
pub async fn top(
    lake: &Lake,
    r: &TimeRange,
    by: Vec<Dim>,
    consumer: Option<&str>,
    order: query::TopOrder,
    n: usize,
) -> Result<Vec<TrafficRow>, ApiError> {
    let q = TrafficQuery {
        from: r.from,
        to: r.to,
        bucket: None,
        by,
        consumer: consumer.map(String::from),
        tz: None,
        exact: r.exact(),
    };
    Ok(planner::top(lake, &q, order, n).await?)
}

/// One row over the whole range (zero calls when there were none).
pub async fn totals(
    lake: &Lake,
    r: &TimeRange,
    consumer: Option<&str>,
) -> Result<TrafficRow, ApiError> {
    let rows = rows(lake, r, None, vec![], consumer).await?;
    Ok(rows.into_iter().next().unwrap_or_else(zero))
}

/// One row per bucket that had calls.
pub async fn series(
    lake: &Lake,
    r: &TimeRange,
    consumer: Option<&str>,
) -> Result<Vec<TrafficRow>, ApiError> {
    let rows = rows(lake, r, Some(r.bucket), vec![], consumer).await?;
    Ok(rows.into_iter().filter(|row| row.calls > 0).collect())
}

/// A row of no calls.
pub fn zero() -> TrafficRow {
    TrafficRow {
        bucket: None,
        group: vec![],
        calls: 0,
        errors_4xx: 0,
        errors_5xx: 0,
        error_rate_4xx: 0.0,
        error_rate_5xx: 0.0,
        latency_p50: None,
        latency_p90: None,
        latency_p95: None,
        latency_p99: None,
        latency_max: None,
        upstream_p50: None,
        upstream_p95: None,
        upstream_p99: None,
        request_bytes: 0,
        response_bytes: 0,
        consumers: 0,
    }
}

/// `(4xx + 5xx) / calls`, 0 without calls.
pub fn error_rate(r: &TrafficRow) -> f64 {
    if r.calls == 0 {
        0.0
    } else {
        (r.errors_4xx + r.errors_5xx) as f64 / r.calls as f64
    }
}

/// `series` laid out one slot per bucket of `r` (`None` where no calls).
pub fn slots<'a>(r: &TimeRange, series: &'a [TrafficRow]) -> Vec<Option<&'a TrafficRow>> {
    let step = r.step().num_milliseconds();
    let n = ((r.to - r.from).num_milliseconds() / step).max(0) as usize;
    let mut out = vec![None; n];
    for row in series {
        if let Some(b) = row.bucket {
            let i = (b - r.from).num_milliseconds().div_euclid(step);
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
                *slot = Some(row);
            }
        }
    }
    out
}

/// The figures of a row as JSON (no bucket, no group).
pub fn metrics_json(r: &TrafficRow) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("calls".into(), json!(r.calls));
    m.insert("errors_4xx".into(), json!(r.errors_4xx));
    m.insert("errors_5xx".into(), json!(r.errors_5xx));
    m.insert("error_rate".into(), json!(error_rate(r)));
    m.insert("error_rate_4xx".into(), json!(r.error_rate_4xx));
    m.insert("error_rate_5xx".into(), json!(r.error_rate_5xx));
    m.insert("latency_p50".into(), json!(r.latency_p50));
    m.insert("latency_p90".into(), json!(r.latency_p90));
    m.insert("latency_p95".into(), json!(r.latency_p95));
    m.insert("latency_p99".into(), json!(r.latency_p99));
    m.insert("latency_max".into(), json!(r.latency_max));
    m.insert("upstream_p50".into(), json!(r.upstream_p50));
    m.insert("upstream_p95".into(), json!(r.upstream_p95));
    m.insert("upstream_p99".into(), json!(r.upstream_p99));
    m.insert("request_bytes".into(), json!(r.request_bytes));
    m.insert("response_bytes".into(), json!(r.response_bytes));
    m.insert("consumers".into(), json!(r.consumers));
    m
}

/// A grouped row as JSON: the group's dimensions by name, then the figures.
pub fn group_json(by: &[Dim], r: &TrafficRow) -> Value {
    let mut m = Map::new();
    for (d, v) in by.iter().zip(&r.group) {
        m.insert(d.name().into(), json!(v));
    }
    m.extend(metrics_json(r));
    Value::Object(m)
}

/// A series point as JSON: `bucket` (its start), then the figures.
pub fn point_json(r: &TrafficRow) -> Value {
    let mut m = Map::new();
    m.insert("bucket".into(), json!(r.bucket.map(|b| b.to_rfc3339())));
    m.extend(metrics_json(r));
    Value::Object(m)
}

/// The range answered, as JSON fields.
pub fn range_json(r: &TimeRange) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("from".into(), json!(r.from.to_rfc3339()));
    m.insert("to".into(), json!(r.to.to_rfc3339()));
    m.insert("bucket".into(), json!(bucket_name(r.bucket)));
    m.insert(
        "source".into(),
        json!(if r.exact() { "events" } else { "rollups" }),
    );
    m
}

/// Sorts grouped rows by `order` (ties by group), as `top` does.
pub fn ranked(rows: Vec<TrafficRow>, order: query::TopOrder) -> Vec<TrafficRow> {
    let n = rows.len();
    query::top(rows, order, n)
}

/// Reads `order` (`calls` when absent).
pub fn order(order: Option<&str>) -> Result<query::TopOrder, ApiError> {
    query::TopOrder::parse(order.unwrap_or("calls"))
        .map_err(|e| ApiError::bad_request(code::INVALID_PARAMETER, e.to_string()))
}
