//! The traffic question and its answer, as types: what is asked
//! ([`TrafficQuery`]: a range, buckets, groupings, a consumer), what comes
//! back ([`TrafficRow`]), and the ranking of an answer ([`top`]).
//!
//! The bottom of the traffic modules: every source (raw events in
//! [`crate::traffic`], the hourly rollup in [`crate::rollup_traffic`], the
//! views in [`crate::summary`]) reads these, and [`crate::planner`] picks
//! the source. The SQL literal helpers are here too, because each source
//! renders the same query values into its SQL.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::AnalyticsError;

/// Time bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One row per minute.
    Minute,
    /// One row per hour.
    Hour,
    /// One row per day (in the query's time zone, UTC by default).
    Day,
}

/// A grouping dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// The billing identity.
    Consumer,
    /// The API / service.
    Api,
    /// The matched route.
    Route,
    /// The HTTP method.
    Method,
    /// `2xx`, `3xx`, `4xx`, `5xx` (`0xx` for Envoy's no-response).
    StatusClass,
    /// The gateway format.
    Gateway,
}

impl Dim {
    /// Name used in output and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dim::Consumer => "consumer",
            Dim::Api => "api",
            Dim::Route => "route",
            Dim::Method => "method",
            Dim::StatusClass => "status_class",
            Dim::Gateway => "gateway",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Dim, AnalyticsError> {
        Ok(match s {
            "consumer" => Dim::Consumer,
            "api" => Dim::Api,
            "route" => Dim::Route,
            "method" => Dim::Method,
            "status_class" | "status" => Dim::StatusClass,
            "gateway" => Dim::Gateway,
            other => {
                return Err(AnalyticsError::Invalid(format!(
                    "unknown grouping {other:?}; use consumer, api, route, method, status_class or gateway"
                )));
            }
        })
    }
}

/// A traffic question.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficQuery {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// Bucket, or `None` for one row per group over the whole range.
    pub bucket: Option<Bucket>,
    /// Grouping, in output order.
    pub by: Vec<Dim>,
    /// Only this consumer.
    pub consumer: Option<String>,
    /// IANA time zone of day buckets (`Europe/Berlin`); UTC when `None`.
    pub tz: Option<String>,
    /// Answer from the raw events even where a rollup could: exact
    /// percentiles (`percentile_cont` rather than within 1 %), and events
    /// that no rollup run has folded in yet (what alerts over the last
    /// minutes need). Minute buckets are always answered from the events.
    pub exact: bool,
}

/// Parses an IANA zone name (also checked because it is put into SQL).
pub(crate) fn parse_tz(tz: &str) -> Result<chrono_tz::Tz, AnalyticsError> {
    tz.parse::<chrono_tz::Tz>().map_err(|_| {
        AnalyticsError::Invalid(format!(
            "unknown time zone {tz:?}; use an IANA name such as Europe/Berlin"
        ))
    })
}

/// One row of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficRow {
    /// Start of the bucket (UTC), `None` without buckets.
    pub bucket: Option<DateTime<Utc>>,
    /// Group values, in the order of [`TrafficQuery::by`].
    pub group: Vec<Option<String>>,
    /// Calls.
    pub calls: i64,
    /// Calls answered 400..=499.
    pub errors_4xx: i64,
    /// Calls answered 500..=599.
    pub errors_5xx: i64,
    /// `errors_4xx / calls`.
    pub error_rate_4xx: f64,
    /// `errors_5xx / calls`.
    pub error_rate_5xx: f64,
    /// Latency percentiles and maximum (ms), `None` when no latency was logged.
    pub latency_p50: Option<f64>,
    /// p90.
    pub latency_p90: Option<f64>,
    /// p95.
    pub latency_p95: Option<f64>,
    /// p99.
    pub latency_p99: Option<f64>,
    /// Maximum.
    pub latency_max: Option<f64>,
    /// Upstream latency percentiles (ms).
    pub upstream_p50: Option<f64>,
    /// p95.
    pub upstream_p95: Option<f64>,
    /// p99.
    pub upstream_p99: Option<f64>,
    /// Sum of request bytes.
    pub request_bytes: i64,
    /// Sum of response bytes.
    pub response_bytes: i64,
    /// Distinct consumers.
    pub consumers: i64,
}

/// Checks a `YYYY-MM-DD` day string (it is interpolated into SQL).
pub(crate) fn check_day(day: &str) -> Result<NaiveDate, AnalyticsError> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| AnalyticsError::Invalid(format!("{day:?} is not a YYYY-MM-DD date")))
}

/// `s` as a SQL string literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `t` as a SQL timestamp literal (UTC, milliseconds).
pub(crate) fn ts_literal(t: DateTime<Utc>) -> String {
    format!("CAST('{}' AS TIMESTAMP)", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// `n / of`, 0 when `of` is 0.
pub(crate) fn rate(n: i64, of: i64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// What a top-N list is ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopOrder {
    /// Most calls.
    Calls,
    /// Most 4xx + 5xx errors.
    Errors,
    /// Highest p95 latency.
    P95,
    /// Highest p99 latency.
    P99,
}

impl TopOrder {
    /// Parses `calls`, `errors`, `p95` or `p99`.
    pub fn parse(s: &str) -> Result<TopOrder, AnalyticsError> {
        Ok(match s {
            "calls" => TopOrder::Calls,
            "errors" => TopOrder::Errors,
            "p95" => TopOrder::P95,
            "p99" => TopOrder::P99,
            other => {
                return Err(AnalyticsError::Invalid(format!(
                    "unknown ranking {other:?}; use calls, errors, p95 or p99"
                )));
            }
        })
    }
}

/// The `n` groups ranked first by `order` (ties broken by the group value,
/// so the list is stable). `rows` are any answer's, e.g.
/// [`crate::planner::answer`]'s.
pub fn top(mut rows: Vec<TrafficRow>, order: TopOrder, n: usize) -> Vec<TrafficRow> {
    let score = |r: &TrafficRow| -> f64 {
        match order {
            TopOrder::Calls => r.calls as f64,
            TopOrder::Errors => (r.errors_4xx + r.errors_5xx) as f64,
            TopOrder::P95 => r.latency_p95.unwrap_or(f64::NEG_INFINITY),
            TopOrder::P99 => r.latency_p99.unwrap_or(f64::NEG_INFINITY),
        }
    };
    rows.sort_by(|a, b| {
        score(b)
            .total_cmp(&score(a))
            .then_with(|| (a.bucket, &a.group).cmp(&(b.bucket, &b.group)))
    });
    rows.truncate(n);
    rows
}
