//! The hourly rollup as a source of traffic answers, merged by the query
//! engine: what [`crate::planner`] asks when no summary view fits, so a
//! month of hourly rollups answers fast.
//!
//! `from_rollups` reads every rollup row into Rust and merges the rows one
//! by one, which is simple and fine for reports but grows with the number
//! of rollup rows (a month of a thousand consumers is millions). Here
//! DataFusion sums the counts per group, and merges the latency histograms
//! by unnesting their buckets and summing the counts per (group, bucket);
//! only the merged histograms come back, and the percentiles are read from
//! them with the same [`Sketch`], so the answer equals `from_rollups`'s
//! exactly (a test checks it).
//!
//! Same [`TrafficQuery`], same [`TrafficRow`]s, same order; hour and day
//! buckets (day buckets in UTC: the planner asks `from_rollups` for
//! another zone).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use chrono::{TimeZone, Utc};

use crate::AnalyticsError;
use crate::lake::Lake;
use crate::query::{Bucket, Dim, TrafficQuery, TrafficRow, quote, rate, ts_literal};
use crate::sketch::Sketch;

/// The WHERE clause (as `traffic`'s: dates prune folders, `hour` row groups).
fn filter(q: &TrafficQuery) -> Result<String, AnalyticsError> {
    if q.to <= q.from {
        return Err(AnalyticsError::Invalid("`to` must be after `from`".into()));
    }
    let last = q.to - chrono::Duration::milliseconds(1);
    let mut w = format!(
        "date >= '{}' AND date <= '{}' AND hour >= {} AND hour < {}",
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

fn dim_sql(d: Dim) -> &'static str {
    match d {
        Dim::Consumer => "CAST(consumer AS VARCHAR)",
        Dim::Api => "CAST(api AS VARCHAR)",
        Dim::Route => "CAST(route AS VARCHAR)",
        Dim::Method => "CAST(method AS VARCHAR)",
        Dim::StatusClass => {
            "CASE WHEN status IS NULL THEN NULL ELSE CAST(status / 100 AS VARCHAR) || 'xx' END"
        }
        Dim::Gateway => "CAST(gateway AS VARCHAR)",
    }
}

/// `bucket` and `g0..gN` select items, and the GROUP BY names.
fn keys(q: &TrafficQuery) -> Result<(Vec<String>, Vec<String>), AnalyticsError> {
    let mut select = Vec::new();
    let mut group = Vec::new();
    match q.bucket {
        None => select.push("CAST(NULL AS BIGINT) AS b".to_string()),
        Some(Bucket::Hour) => {
            select.push("CAST(CAST(hour AS TIMESTAMP(3)) AS BIGINT) AS b".into());
            group.push("b".into());
        }
        Some(Bucket::Day) if q.tz.is_none() => {
            select
                .push("CAST(date_trunc('day', CAST(hour AS TIMESTAMP(3))) AS BIGINT) AS b".into());
            group.push("b".into());
        }
        Some(Bucket::Day) => {
            return Err(AnalyticsError::Invalid(
                "day buckets in a time zone: the hourly rollup is merged row by row for those (traffic::from_rollups)".into(),
            ));
        }
        Some(Bucket::Minute) => {
            return Err(AnalyticsError::Invalid(
                "rollups are hourly: minute buckets need the exact query".into(),
            ));
        }
    }
    for (i, d) in q.by.iter().enumerate() {
        select.push(format!("{} AS g{i}", dim_sql(*d)));
        group.push(format!("g{i}"));
    }
    Ok((select, group))
}

type Group = (Option<i64>, Vec<Option<String>>);

fn int64(b: &RecordBatch, i: usize) -> Result<ArrayRef, AnalyticsError> {
    Ok(datafusion::arrow::compute::cast(
        b.column(i),
        &DataType::Int64,
    )?)
}

/// The group key of every row of `b` (bucket in column 0, then `dims`
/// string columns).
fn groups(b: &RecordBatch, dims: usize) -> Result<Vec<Group>, AnalyticsError> {
    let bucket = int64(b, 0)?;
    let bucket = bucket.as_primitive::<Int64Type>();
    let cols = (0..dims)
        .map(|d| datafusion::arrow::compute::cast(b.column(1 + d), &DataType::Utf8))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..b.num_rows())
        .map(|r| {
            let g = cols
                .iter()
                .map(|c| {
                    let c = c.as_string::<i32>();
                    (!c.is_null(r)).then(|| c.value(r).to_string())
                })
                .collect();
            ((!bucket.is_null(r)).then(|| bucket.value(r)), g)
        })
        .collect())
}

#[derive(Default)]
struct Acc {
    calls: i64,
    e4: i64,
    e5: i64,
    request_bytes: i64,
    response_bytes: i64,
    latency_max: Option<f64>,
    upstream_max: Option<f64>,
    consumers: i64,
    latency: Sketch,
    upstream: Sketch,
}

/// The same rows as [`crate::traffic::from_rollups`], from the hourly
/// rollup merged by the engine.
#[doc(hidden)]
pub async fn hourly(lake: &Lake, q: &TrafficQuery) -> Result<Vec<TrafficRow>, AnalyticsError> {
    let (select, group) = keys(q)?;
    let filter = filter(q)?;
    let keys = select.join(", ");
    let group_by = |extra: &[&str]| {
        let all: Vec<String> = group
            .iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect();
        if all.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", all.join(", "))
        }
    };
    let counts = format!(
        "SELECT {keys}, CAST(sum(calls) AS BIGINT) AS calls, \
         CAST(sum(CASE WHEN status BETWEEN 400 AND 499 THEN calls ELSE 0 END) AS BIGINT) AS e4, \
         CAST(sum(CASE WHEN status BETWEEN 500 AND 599 THEN calls ELSE 0 END) AS BIGINT) AS e5, \
         CAST(sum(request_bytes) AS BIGINT) AS rq, CAST(sum(response_bytes) AS BIGINT) AS rs, \
         CAST(max(latency_max) AS DOUBLE) AS lmax, CAST(max(upstream_max) AS DOUBLE) AS umax, \
         CAST(count(DISTINCT consumer) AS BIGINT) AS nc \
         FROM rollups_hourly WHERE {filter}{}",
        group_by(&[])
    );
    // The outer query of a histogram: the inner query's bucket (a NULL
    // constant without buckets, so not grouped) and dims, then the bucket key.
    let mut outer = vec![if q.bucket.is_some() {
        "b".to_string()
    } else {
        "CAST(NULL AS BIGINT) AS b".to_string()
    }];
    outer.extend((0..q.by.len()).map(|i| format!("g{i}")));
    let outer = outer.join(", ");
    let histogram = |which: &str| {
        format!(
            "SELECT {outer}, k, CAST(sum(c) AS BIGINT) AS n FROM (\
             SELECT {keys}, unnest({which}_keys) AS k, unnest({which}_counts) AS c \
             FROM rollups_hourly WHERE {filter}) AS u{}",
            group_by(&["k"])
        )
    };
    let (latency_sql, upstream_sql) = (histogram("latency"), histogram("upstream"));
    let (counts, latency, upstream) = futures::try_join!(
        lake.query(&counts),
        lake.query(&latency_sql),
        lake.query(&upstream_sql)
    )?;

    let dims = q.by.len();
    let mut acc: BTreeMap<Group, Acc> = BTreeMap::new();
    for b in &counts {
        let keys = groups(b, dims)?;
        let at = |i: usize| 1 + dims + i;
        let ints = (0..5)
            .map(|i| int64(b, at(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let int = |i: usize, r: usize| {
            let a = ints[i].as_primitive::<Int64Type>();
            if a.is_null(r) { 0 } else { a.value(r) }
        };
        let flt = |i: usize, r: usize| {
            let a = b.column(at(i)).as_primitive::<Float64Type>();
            (!a.is_null(r)).then(|| a.value(r))
        };
        let nc = int64(b, at(7))?;
        let nc = nc.as_primitive::<Int64Type>();
        for (r, key) in keys.into_iter().enumerate() {
            if int(0, r) == 0 {
                continue;
            }
            let e = acc.entry(key).or_default();
            e.calls = int(0, r);
            e.e4 = int(1, r);
            e.e5 = int(2, r);
            e.request_bytes = int(3, r);
            e.response_bytes = int(4, r);
            e.latency_max = flt(5, r);
            e.upstream_max = flt(6, r);
            e.consumers = if nc.is_null(r) { 0 } else { nc.value(r) };
        }
    }
    for (batches, upstream) in [(&latency, false), (&upstream, true)] {
        for b in batches {
            let keys = groups(b, dims)?;
            let k = datafusion::arrow::compute::cast(b.column(1 + dims), &DataType::Int32)?;
            let k = k.as_primitive::<Int32Type>();
            let n = int64(b, 2 + dims)?;
            let n = n.as_primitive::<Int64Type>();
            for (r, key) in keys.into_iter().enumerate() {
                // Empty histograms unnest to one NULL bucket: skip it.
                if k.is_null(r) || n.is_null(r) {
                    continue;
                }
                if let Some(e) = acc.get_mut(&key) {
                    let s = if upstream {
                        &mut e.upstream
                    } else {
                        &mut e.latency
                    };
                    s.add_key(k.value(r), u64::try_from(n.value(r)).unwrap_or(0));
                }
            }
        }
    }
    Ok(acc
        .into_iter()
        .map(|((bucket, group), a)| TrafficRow {
            bucket: bucket.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
            group,
            calls: a.calls,
            errors_4xx: a.e4,
            errors_5xx: a.e5,
            error_rate_4xx: rate(a.e4, a.calls),
            error_rate_5xx: rate(a.e5, a.calls),
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
            consumers: a.consumers,
        })
        .collect())
}
