//! The traffic questions the pages and the API share, answered by the
//! aggregator's planner (`planner::answer`): from the rollups and their
//! views for hour and day buckets, from raw events for minute buckets over
//! short ranges.

use std::sync::Arc;
use std::time::Instant;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
use serde::Serialize;
use serde_json::Value;
use tollgate_aggregator::query::{self, Bucket, Dim, TrafficQuery, TrafficRow};
use tollgate_aggregator::{Lake, inventory, planner};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Ref, Schema, SchemaType, Type};

use crate::error::{ApiError, code};
use crate::params::{self, RangeParams, TimeRange, bucket_name};
use crate::state::{AppState, ESTIMATES_TTL};
use tollgate_billing::invoice::Invoice;
use tollgate_billing::period::Period;
use tollgate_billing::plan::Enforcement;
use tollgate_invoicing::{self as billing_run, Estimates};
use tollgate_signals::alert::Firing;
use tollgate_signals::quota::QuotaUsage;

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

/// [`quota_list`] as JSON (`Null` without plans), for the pages.
pub async fn quotas(state: &AppState, lake: &Lake, consumer: &str) -> Result<Value, ApiError> {
    let list = quota_list(state, lake, consumer).await?;
    serde_json::to_value(list).map_err(ApiError::internal)
}

/// A consumer's quotas in their current windows (`None` without plans),
/// counted as `tollgate watch` counts them (deduplicated, from the events).
/// Every consumer's are counted at once and reused for [`ESTIMATES_TTL`].
pub async fn quota_list(
    state: &AppState,
    lake: &Lake,
    consumer: &str,
) -> Result<Option<Vec<QuotaState>>, ApiError> {
    let Some(billing) = &state.billing else {
        return Ok(None);
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
    Ok(Some(
        all.iter()
            .filter(|u| u.consumer == consumer)
            .map(QuotaState::of)
            .collect(),
    ))
}

/// [`alert_list`] as JSON, for the pages.
pub async fn alerts(state: &AppState, recent: usize) -> Result<Value, ApiError> {
    serde_json::to_value(alert_list(state, recent).await?).map_err(ApiError::internal)
}

/// Firing alerts and the most recent signals (newest first, at most
/// `recent`) from the watcher's state in the lake.
pub async fn alert_list(state: &AppState, recent: usize) -> Result<Alerts, ApiError> {
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
    let signals = records
        .iter()
        .map(|r| {
            let fields = match serde_json::to_value(&r.signal) {
                Ok(Value::Object(m)) => m.into_iter().collect(),
                Ok(other) => return Err(ApiError::internal(format!("a signal as {other}"))),
                Err(e) => return Err(ApiError::internal(e)),
            };
            Ok(SignalEntry {
                fields,
                delivered: r.targets.iter().all(|t| t.delivered_at.is_some()),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Alerts {
        firing: book.firing.values().map(FiringAlert::of).collect(),
        signals,
    })
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

/// A consumer's estimate: period, as of, currency, amount (`None` for a
/// consumer without a subscription).
pub fn month_to_date(e: &Estimates, consumer: &str) -> Option<MonthToDate> {
    e.invoices.get(consumer).map(|inv| MonthToDate {
        period: e.period,
        as_of: e.as_of,
        currency: inv.currency.clone(),
        amount: inv.total,
        plans: plans_of(inv),
    })
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

/// Traffic figures over a range or a bucket. Percentiles from rollups are
/// within 1 % of exact.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Metrics {
    /// Calls.
    pub calls: i64,
    /// Calls answered 4xx.
    pub errors_4xx: i64,
    /// Calls answered 5xx.
    pub errors_5xx: i64,
    /// (4xx + 5xx) / calls; 0 without calls.
    pub error_rate: f64,
    /// 4xx / calls; 0 without calls.
    pub error_rate_4xx: f64,
    /// 5xx / calls; 0 without calls.
    pub error_rate_5xx: f64,
    /// Latency percentile, ms (null without calls).
    pub latency_p50: Option<f64>,
    /// Latency percentile, ms.
    pub latency_p90: Option<f64>,
    /// Latency percentile, ms.
    pub latency_p95: Option<f64>,
    /// Latency percentile, ms.
    pub latency_p99: Option<f64>,
    /// Slowest call, ms.
    pub latency_max: Option<f64>,
    /// Upstream latency percentile, ms.
    pub upstream_p50: Option<f64>,
    /// Upstream latency percentile, ms.
    pub upstream_p95: Option<f64>,
    /// Upstream latency percentile, ms.
    pub upstream_p99: Option<f64>,
    /// Request bytes.
    pub request_bytes: i64,
    /// Response bytes.
    pub response_bytes: i64,
    /// Distinct consumers.
    pub consumers: i64,
}

impl Metrics {
    /// The figures of a row (no bucket, no group).
    pub fn of(r: &TrafficRow) -> Metrics {
        Metrics {
            calls: r.calls,
            errors_4xx: r.errors_4xx,
            errors_5xx: r.errors_5xx,
            error_rate: error_rate(r),
            error_rate_4xx: r.error_rate_4xx,
            error_rate_5xx: r.error_rate_5xx,
            latency_p50: r.latency_p50,
            latency_p90: r.latency_p90,
            latency_p95: r.latency_p95,
            latency_p99: r.latency_p99,
            latency_max: r.latency_max,
            upstream_p50: r.upstream_p50,
            upstream_p95: r.upstream_p95,
            upstream_p99: r.upstream_p99,
            request_bytes: r.request_bytes,
            response_bytes: r.response_bytes,
            consumers: r.consumers,
        }
    }
}

/// A series point: the bucket's start, then its figures.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Point {
    /// Start of the bucket (RFC 3339).
    #[schema(format = DateTime)]
    pub bucket: Option<String>,
    /// The bucket's figures.
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl Point {
    /// The point of a series row.
    pub fn of(r: &TrafficRow) -> Point {
        Point {
            bucket: r.bucket.map(|b| b.to_rfc3339()),
            metrics: Metrics::of(r),
        }
    }

    /// The points of a series.
    pub fn all(rows: &[TrafficRow]) -> Vec<Point> {
        rows.iter().map(Point::of).collect()
    }
}

/// A bucket's name in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketName {
    /// Minute buckets, from raw events.
    Minute,
    /// Hour buckets, from the hourly rollups.
    Hour,
    /// Day buckets, from the hourly rollups.
    Day,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The hourly rollups.
    Rollups,
    /// Raw events (minute buckets over short ranges).
    Events,
}

/// The range answered, widened to whole buckets.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Range {
    /// Start, inclusive (RFC 3339).
    #[schema(format = DateTime)]
    pub from: String,
    /// End, exclusive (RFC 3339).
    #[schema(format = DateTime)]
    pub to: String,
    /// The series' bucket.
    pub bucket: BucketName,
    /// Where the figures came from.
    pub source: Source,
}

impl Range {
    /// The range of `r`.
    pub fn of(r: &TimeRange) -> Range {
        Range {
            from: r.from.to_rfc3339(),
            to: r.to.to_rfc3339(),
            bucket: match bucket_name(r.bucket) {
                "minute" => BucketName::Minute,
                "hour" => BucketName::Hour,
                _ => BucketName::Day,
            },
            source: if r.exact() {
                Source::Events
            } else {
                Source::Rollups
            },
        }
    }
}

/// A grouped row: the group's dimensions by name (e.g. `{"consumer":
/// "acme"}` or `{"api": ..., "route": ...}`), then the figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// The dimensions grouped by, by name (`consumer`, `api`, `route`,
    /// `method`, `status_class`, `gateway`); null for calls without one.
    #[serde(flatten)]
    pub group: BTreeMap<String, Option<String>>,
    /// The group's figures.
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl GroupRow {
    /// The row `r` grouped `by`.
    pub fn of(by: &[Dim], r: &TrafficRow) -> GroupRow {
        GroupRow {
            group: by
                .iter()
                .zip(&r.group)
                .map(|(d, v)| (d.name().to_string(), v.clone()))
                .collect(),
            metrics: Metrics::of(r),
        }
    }
}

/// Written by hand because utoipa's derive drops a flattened map's
/// `additionalProperties` when the struct's only other field is flattened
/// too: the dimensions would vanish from the document.
impl utoipa::PartialSchema for GroupRow {
    fn schema() -> RefOr<Schema> {
        let dimension = ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
            .description(Some("A dimension's value; null for calls without one."));
        AllOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .description(Some(
                        "The dimensions grouped by, by name (`consumer`, `api`, `route`, \
                         `method`, `status_class`, `gateway`), e.g. {\"consumer\": \"acme\"}.",
                    ))
                    .additional_properties(Some(dimension)),
            )
            .item(Ref::from_schema_name(Metrics::name()))
            .into()
    }
}

impl ToSchema for GroupRow {
    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        out.push((
            Metrics::name().into(),
            <Metrics as utoipa::PartialSchema>::schema(),
        ));
        <Metrics as ToSchema>::schemas(out);
    }
}

/// A row per API and route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RouteRow {
    /// The API (null for calls without one).
    pub api: Option<String>,
    /// The route template (null for calls without one).
    pub route: Option<String>,
    /// The route's figures.
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl RouteRow {
    /// The rows of a query grouped by [`Dim::Api`] then [`Dim::Route`].
    pub fn all(rows: &[TrafficRow]) -> Vec<RouteRow> {
        rows.iter()
            .map(|r| RouteRow {
                api: r.group.first().cloned().flatten(),
                route: r.group.get(1).cloned().flatten(),
                metrics: Metrics::of(r),
            })
            .collect()
    }
}

/// What the consumer would owe for the current period if it closed now:
/// usage from the hourly rollups (not deduplicated by event id, so an
/// estimate), recurring fees for the whole period. Recomputed at most once
/// a minute.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MonthToDate {
    /// The period.
    #[schema(value_type = String, example = "2026-11")]
    pub period: Period,
    /// Usage counted up to here.
    pub as_of: DateTime<Utc>,
    /// The plan's currency.
    #[schema(example = "USD")]
    pub currency: String,
    /// Exact decimal, rounded per line like the invoice.
    #[schema(value_type = String, example = "412.50")]
    pub amount: rust_decimal::Decimal,
    /// The plans in the period, e.g. `free v1 → growth v1`.
    pub plans: String,
}

/// A quota of the consumer's plan in its current window (UTC), counted
/// from the events (deduplicated).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QuotaState {
    /// The plan.
    pub plan: String,
    /// The quota's id in the plan.
    pub quota: String,
    /// The quota's description.
    pub description: Option<String>,
    /// `calls`, `request_bytes` or `response_bytes`.
    pub metric: &'static str,
    /// `minute`, `hour`, `day` or `period`.
    pub window: &'static str,
    /// Window start.
    pub window_start: DateTime<Utc>,
    /// Window end, exclusive.
    pub window_end: DateTime<Utc>,
    /// The limit.
    pub limit: u64,
    /// Usage so far in the window.
    pub used: u64,
    /// used / limit, percent, one decimal.
    pub percent: f64,
    /// `soft` or `hard`.
    #[schema(value_type = String)]
    pub enforcement: Enforcement,
    /// Percentages that signal when reached.
    pub thresholds: Vec<u32>,
}

impl QuotaState {
    /// The state of one quota usage.
    pub fn of(u: &QuotaUsage) -> QuotaState {
        QuotaState {
            plan: u.plan.clone(),
            quota: u.quota.id.clone(),
            description: u.quota.description.clone(),
            metric: u.quota.metric.name(),
            window: u.quota.window.name(),
            window_start: u.window_start,
            window_end: u.window_end,
            limit: u.quota.limit,
            used: u.used,
            percent: u.percent(),
            enforcement: u.quota.enforcement,
            thresholds: u.quota.thresholds.clone(),
        }
    }
}

/// One firing alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FiringAlert {
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

impl FiringAlert {
    /// The watcher's record of a firing rule.
    pub fn of(f: &Firing) -> FiringAlert {
        FiringAlert {
            rule: f.rule.clone(),
            by: f.by.clone(),
            key: f.key.clone(),
            metric: f.metric.clone(),
            value: f.value,
            threshold: f.threshold,
            comparison: f.comparison.clone(),
            fired_at: f.fired_at,
        }
    }
}

/// A signal as delivered (see docs/SIGNALS.md: `id`, `type`, `created_at`
/// and the kind's fields), with `delivered`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SignalEntry {
    /// The signal's fields, as webhooks receive them.
    #[serde(flatten)]
    pub fields: BTreeMap<String, Value>,
    /// Every target received it.
    pub delivered: bool,
}

/// `GET /api/alerts`: firing alert rules and recent signals.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Alerts {
    /// Rules firing now.
    pub firing: Vec<FiringAlert>,
    /// The most recent signals, newest first.
    pub signals: Vec<SignalEntry>,
}
