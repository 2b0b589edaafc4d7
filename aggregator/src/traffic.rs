//! Traffic metrics: calls, 4xx/5xx errors and rates, latency percentiles,
//! bytes and distinct consumers, over a time range, per time bucket and any
//! grouping. Every SQL string the lake sees is built here (or in
//! [`crate::rollup`]), from typed requests only.
//!
//! Two sources answer the same [`TrafficQuery`]: [`exact`] scans events
//! (exact percentiles, `percentile_cont`), [`from_rollups`] merges hourly
//! rollups (percentiles within 1 % of exact; hour or day buckets; what the
//! dashboard uses).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::AnalyticsError;
use crate::lake::Lake;
use crate::rollup::{RollupAgg, decode_rows};

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

    fn sql(self) -> &'static str {
        match self {
            Dim::Consumer => "consumer",
            Dim::Api => "api",
            Dim::Route => "route",
            Dim::Method => "method",
            Dim::StatusClass => {
                "CASE WHEN status IS NULL THEN NULL ELSE CAST(status / 100 AS VARCHAR) || 'xx' END"
            }
            Dim::Gateway => "gateway",
        }
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
}

/// Parses an IANA zone name (also checked because it is put into SQL).
fn parse_tz(tz: &str) -> Result<chrono_tz::Tz, AnalyticsError> {
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

pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(crate) fn ts_literal(t: DateTime<Utc>) -> String {
    format!("CAST('{}' AS TIMESTAMP)", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// The WHERE clause: dates for partition pruning, `ts` for row groups.
fn range_filter(q: &TrafficQuery, ts_col: &str) -> Result<String, AnalyticsError> {
    if q.to <= q.from {
        return Err(AnalyticsError::Invalid("`to` must be after `from`".into()));
    }
    let last = q.to - chrono::Duration::milliseconds(1);
    let mut w = format!(
        "date >= '{}' AND date <= '{}' AND {ts_col} >= {} AND {ts_col} < {}",
        q.from.format("%Y-%m-%d"),
        last.format("%Y-%m-%d"),
        ts_literal(q.from),
        ts_literal(q.to)
    );
    if let Some(c) = &q.consumer {
        let _ = write!(w, " AND consumer = {}", quote(c));
    }
    Ok(w)
}

/// The bucket start as epoch milliseconds (`BIGINT`), so no timestamp
/// conversion can shift it. Day buckets start at midnight in `tz`.
fn bucket_sql(b: Bucket, col: &str, tz: Option<&chrono_tz::Tz>) -> String {
    let unit = match b {
        Bucket::Minute => "minute",
        Bucket::Hour => "hour",
        Bucket::Day => "day",
    };
    match (b, tz) {
        // The lake's times are UTC instants read without a zone: mark
        // them UTC first, then view them in `tz`.
        (Bucket::Day, Some(tz)) => format!(
            "CAST(date_trunc('day', arrow_cast(arrow_cast({col}, 'Timestamp(ms, \"UTC\")'), \
             'Timestamp(ms, \"{}\")')) AS BIGINT)",
            tz.name()
        ),
        _ => format!("CAST(date_trunc('{unit}', {col}) AS BIGINT)"),
    }
}

/// Exact metrics from the events.
pub async fn exact(lake: &Lake, q: &TrafficQuery) -> Result<Vec<TrafficRow>, AnalyticsError> {
    let mut select = Vec::new();
    let mut group = Vec::new();
    let tz = q.tz.as_deref().map(parse_tz).transpose()?;
    if let Some(b) = q.bucket {
        select.push(format!("{} AS bucket", bucket_sql(b, "ts", tz.as_ref())));
        group.push("bucket".to_string());
    } else {
        select.push("CAST(NULL AS BIGINT) AS bucket".into());
    }
    for (i, d) in q.by.iter().enumerate() {
        select.push(format!("CAST({} AS VARCHAR) AS g{i}", d.sql()));
        group.push(format!("g{i}"));
    }
    let pct = |p: f64, col: &str| {
        format!("CAST(percentile_cont({p}) WITHIN GROUP (ORDER BY {col}) AS DOUBLE)")
    };
    select.extend([
        "CAST(count(*) AS BIGINT) AS calls".to_string(),
        "CAST(sum(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END) AS BIGINT) AS e4".into(),
        "CAST(sum(CASE WHEN status BETWEEN 500 AND 599 THEN 1 ELSE 0 END) AS BIGINT) AS e5".into(),
        format!("{} AS p50", pct(0.5, "latency_ms")),
        format!("{} AS p90", pct(0.9, "latency_ms")),
        format!("{} AS p95", pct(0.95, "latency_ms")),
        format!("{} AS p99", pct(0.99, "latency_ms")),
        "CAST(max(latency_ms) AS DOUBLE) AS pmax".into(),
        format!("{} AS u50", pct(0.5, "upstream_latency_ms")),
        format!("{} AS u95", pct(0.95, "upstream_latency_ms")),
        format!("{} AS u99", pct(0.99, "upstream_latency_ms")),
        "CAST(coalesce(sum(request_bytes), 0) AS BIGINT) AS rq".into(),
        "CAST(coalesce(sum(response_bytes), 0) AS BIGINT) AS rs".into(),
        "CAST(count(DISTINCT consumer) AS BIGINT) AS nc".into(),
    ]);
    let mut sql = format!(
        "SELECT {} FROM events WHERE {}",
        select.join(", "),
        range_filter(q, "ts")?
    );
    if !group.is_empty() {
        let _ = write!(sql, " GROUP BY {}", group.join(", "));
    }
    let batches = lake.query(&sql).await?;
    let mut rows = Vec::new();
    for b in &batches {
        rows.extend(read_rows(b, q.by.len())?);
    }
    sort_rows(&mut rows);
    Ok(rows)
}

fn sort_rows(rows: &mut [TrafficRow]) {
    rows.sort_by(|a, b| (a.bucket, &a.group).cmp(&(b.bucket, &b.group)));
}

fn read_rows(b: &RecordBatch, dims: usize) -> Result<Vec<TrafficRow>, AnalyticsError> {
    let bucket = datafusion::arrow::compute::cast(b.column(0), &DataType::Int64)?;
    let bucket = bucket.as_primitive::<Int64Type>();
    let at = |i: usize| 1 + dims + i;
    let int = |i: usize| b.column(at(i)).as_primitive::<Int64Type>();
    let flt = |i: usize| b.column(at(i)).as_primitive::<Float64Type>();
    let fopt = |i: usize, r: usize| (!flt(i).is_null(r)).then(|| flt(i).value(r));
    // VARCHAR may come back as Utf8View; normalise to Utf8 before reading.
    let groups = (0..dims)
        .map(|d| datafusion::arrow::compute::cast(b.column(1 + d), &DataType::Utf8))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        let calls = int(0).value(r);
        let (e4, e5) = (int(1).value(r), int(2).value(r));
        out.push(TrafficRow {
            bucket: (!bucket.is_null(r))
                .then(|| Utc.timestamp_millis_opt(bucket.value(r)).single())
                .flatten(),
            group: groups
                .iter()
                .map(|col| {
                    let col = col.as_string::<i32>();
                    (!col.is_null(r)).then(|| col.value(r).to_string())
                })
                .collect(),
            calls,
            errors_4xx: e4,
            errors_5xx: e5,
            error_rate_4xx: rate(e4, calls),
            error_rate_5xx: rate(e5, calls),
            latency_p50: fopt(3, r),
            latency_p90: fopt(4, r),
            latency_p95: fopt(5, r),
            latency_p99: fopt(6, r),
            latency_max: fopt(7, r),
            upstream_p50: fopt(8, r),
            upstream_p95: fopt(9, r),
            upstream_p99: fopt(10, r),
            request_bytes: int(11).value(r),
            response_bytes: int(12).value(r),
            consumers: int(13).value(r),
        });
    }
    Ok(out)
}

fn rate(n: i64, of: i64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// The same metrics merged from the hourly rollups: hour or day buckets
/// (UTC), ranges aligned to whole hours. Percentiles are within 1 % of
/// [`exact`]; counts and sums are equal.
pub async fn from_rollups(
    lake: &Lake,
    q: &TrafficQuery,
) -> Result<Vec<TrafficRow>, AnalyticsError> {
    if q.bucket == Some(Bucket::Minute) {
        return Err(AnalyticsError::Invalid(
            "rollups are hourly: minute buckets need the exact query".into(),
        ));
    }
    let tz = q.tz.as_deref().map(parse_tz).transpose()?;
    let sql = format!(
        "SELECT * FROM rollups_hourly WHERE {}",
        range_filter(q, "hour")?
    );
    let batches = lake.query(&sql).await?;
    type Group = (Option<i64>, Vec<Option<String>>);
    let mut groups: BTreeMap<Group, (RollupAgg, i64, i64, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for b in &batches {
        for (key, agg) in decode_rows(b)? {
            let bucket = match q.bucket {
                None => None,
                Some(Bucket::Day) => Some(local_midnight(key.hour, tz.as_ref())?),
                Some(_) => Some(key.hour),
            };
            let dims =
                q.by.iter()
                    .map(|d| match d {
                        Dim::Consumer => key.strings[0].clone(),
                        Dim::Api => key.strings[1].clone(),
                        Dim::Route => key.strings[2].clone(),
                        Dim::Method => key.strings[3].clone(),
                        Dim::StatusClass => key.status.map(|s| format!("{}xx", s / 100)),
                        Dim::Gateway => Some(key.gateway.clone()),
                    })
                    .collect();
            let e = groups.entry((bucket, dims)).or_default();
            e.0.merge(&agg);
            match key.status {
                Some(s) if (400..500).contains(&s) => e.1 += agg.calls,
                Some(s) if (500..600).contains(&s) => e.2 += agg.calls,
                _ => {}
            }
            if let Some(c) = &key.strings[0] {
                e.3.insert(c.clone());
            }
        }
    }
    let mut rows: Vec<TrafficRow> = groups
        .into_iter()
        .map(|((bucket, group), (a, e4, e5, consumers))| TrafficRow {
            bucket: bucket.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
            group,
            calls: a.calls,
            errors_4xx: e4,
            errors_5xx: e5,
            error_rate_4xx: rate(e4, a.calls),
            error_rate_5xx: rate(e5, a.calls),
            latency_p50: a.latency.quantile(0.5),
            latency_p90: a.latency.quantile(0.9),
            latency_p95: a.latency.quantile(0.95),
            latency_p99: a.latency.quantile(0.99),
            latency_max: a.latency_max,
            upstream_p50: a.upstream.quantile(0.5),
            upstream_p95: a.upstream.quantile(0.95),
            upstream_p99: a.upstream.quantile(0.99),
            request_bytes: a.request_bytes,
            response_bytes: a.response_bytes,
            consumers: consumers.len() as i64,
        })
        .collect();
    sort_rows(&mut rows);
    Ok(rows)
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
/// so the list is stable). `rows` come from [`exact`] or [`from_rollups`].
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

/// Epoch ms of the midnight (in `tz`, UTC if none) starting the day that
/// contains the hour `hour_ms`. Rollups are hourly, so a zone whose offset
/// is not a whole number of hours cannot be served from them.
fn local_midnight(hour_ms: i64, tz: Option<&chrono_tz::Tz>) -> Result<i64, AnalyticsError> {
    use chrono::Offset;
    let Some(tz) = tz else {
        return Ok(hour_ms - hour_ms.rem_euclid(86_400_000));
    };
    let at = Utc
        .timestamp_millis_opt(hour_ms)
        .single()
        .ok_or_else(|| AnalyticsError::Invalid("hour out of range".into()))?
        .with_timezone(tz);
    if at.offset().fix().local_minus_utc() % 3600 != 0 {
        return Err(AnalyticsError::Invalid(format!(
            "{} is not a whole number of hours from UTC; day buckets in it need the exact query",
            tz.name()
        )));
    }
    let midnight = at
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|m| tz.from_local_datetime(&m).earliest())
        .ok_or_else(|| AnalyticsError::Invalid(format!("no midnight in {}", tz.name())))?;
    Ok(midnight.timestamp_millis())
}
