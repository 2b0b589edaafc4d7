//! Two sources of a [`TrafficQuery`]'s answer: [`exact`] scans the raw
//! events (exact percentiles, `percentile_cont`; any bucket), and
//! [`from_rollups`] merges hourly rollup rows in Rust (percentiles within
//! 1 % of exact; hour or day buckets, day buckets in any zone a whole
//! number of hours from UTC).
//!
//! Callers do not pick between them: [`crate::planner::answer`] does.
//! Both stay public (hidden from the docs) so the tests can hold every
//! source against the others.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use chrono::{TimeZone, Utc};

use crate::AnalyticsError;
use crate::lake::Lake;
use crate::query::{Bucket, Dim, TrafficQuery, TrafficRow, parse_tz, quote, rate, ts_literal};
use crate::rollup::decode_rows;
use crate::rollup_row::RollupAgg;

/// A dimension as an expression over the `events` table.
fn dim_sql(d: Dim) -> &'static str {
    match d {
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
#[doc(hidden)]
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
        select.push(format!("CAST({} AS VARCHAR) AS g{i}", dim_sql(*d)));
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

/// The same metrics merged from the hourly rollups: hour or day buckets
/// (UTC), ranges aligned to whole hours. Percentiles are within 1 % of
/// [`exact`]; counts and sums are equal.
#[doc(hidden)]
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
