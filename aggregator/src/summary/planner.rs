//! Which view answers a [`TrafficQuery`] ([`plan`]) and reading it: the
//! view's rows fetched, grouped, their histograms merged and their
//! distinct consumers counted ([`answer`], [`top_with`]).

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::catalog::{
    DAY_MS, FastMap, FastSet, Grain, VIEWS, View, buckets, key_index, strings, unpack_set,
};
use crate::AnalyticsError;
use crate::lake::Lake;
use crate::query::{Bucket, Dim, TopOrder, TrafficQuery, TrafficRow, quote, rate, ts_literal};
use crate::rollup_row::max_opt;
use crate::sketch::Sketch;

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

/// The rows of `batches` grouped: the groups in first-seen order, each
/// one's sums and maxima (histograms not yet merged), the (batch, row) of
/// its rows, and the consumer sets seen per group (when `sets` has them).
struct Grouped<'a> {
    groups: Vec<Group>,
    accs: Vec<Acc>,
    members: Vec<Vec<(u32, u32)>>,
    seen: Vec<FastSet<&'a [u8]>>,
}

/// First pass over the rows: everything but the histograms.
fn group_rows<'a>(
    q: &TrafficQuery,
    batches: &[RecordBatch],
    sets: &'a [Option<ArrayRef>],
) -> Result<Grouped<'a>, AnalyticsError> {
    let mut index: FastMap<Group, usize> = FastMap::default();
    let mut out = Grouped {
        groups: Vec::new(),
        accs: Vec::new(),
        members: Vec::new(),
        seen: Vec::new(),
    };
    for (bi, (b, set)) in batches.iter().zip(sets).enumerate() {
        let set = set.as_ref().map(|s| s.as_binary_view());
        let bucket = buckets(b, 0)?;
        let keys = strings(b, 1)?;
        let int = |i: usize| b.column(i).as_primitive::<Int64Type>();
        let flt = |i: usize| b.column(i).as_primitive::<Float64Type>();
        let (calls, e4, e5, rq, rs, nc) = (int(5), int(6), int(7), int(8), int(9), int(10));
        let (lmax, umax) = (flt(11), flt(13));
        for (r, &at) in bucket.iter().enumerate() {
            let g = (out_bucket(q, at), group_of(q, &keys, r));
            let i = match index.get(&g) {
                Some(&i) => i,
                None => {
                    let i = out.groups.len();
                    index.insert(g.clone(), i);
                    out.groups.push(g);
                    out.accs.push(Acc::default());
                    out.members.push(Vec::new());
                    out.seen.push(FastSet::default());
                    i
                }
            };
            let e = &mut out.accs[i];
            e.calls += calls.value(r);
            e.e4 += e4.value(r);
            e.e5 += e5.value(r);
            e.request_bytes += rq.value(r);
            e.response_bytes += rs.value(r);
            e.consumers = nc.value(r);
            e.latency_max = max_opt(e.latency_max, (!lmax.is_null(r)).then(|| lmax.value(r)));
            e.upstream_max = max_opt(e.upstream_max, (!umax.is_null(r)).then(|| umax.value(r)));
            out.members[i].push((bi as u32, r as u32));
            if let Some(set) = set {
                unpack_set(set.value(r), &mut out.seen[i])?;
            }
        }
    }
    Ok(out)
}

/// Second pass: each group's histograms merged from its rows, one group
/// after the other, so the group's two windows stay in the CPU cache
/// while its rows are added (merging row by row in file order touched
/// every consumer's windows once per file: a month of a thousand
/// consumers' windows does not fit in the cache).
fn merge_histograms(
    accs: &mut [Acc],
    members: &[Vec<(u32, u32)>],
    blobs: &[(ArrayRef, ArrayRef)],
) -> Result<(), AnalyticsError> {
    for (e, rows) in accs.iter_mut().zip(members) {
        for &(b, r) in rows {
            let (lat, up) = &blobs[b as usize];
            e.latency
                .decode_into(lat.as_binary_view().value(r as usize))?;
            e.upstream
                .decode_into(up.as_binary_view().value(r as usize))?;
        }
    }
    Ok(())
}

/// Whether `t` is a UTC midnight.
fn midnight(t: DateTime<Utc>) -> bool {
    t.timestamp_millis().rem_euclid(DAY_MS) == 0
}

/// The view that answers `q`: the first (smallest) with every dimension
/// `q` groups or filters by, at a grain that fits its buckets and range.
fn choose(q: &TrafficQuery, months: bool) -> Option<usize> {
    if q.tz.is_some() || matches!(q.bucket, Some(Bucket::Minute)) {
        return None;
    }
    let mut needed: Vec<Dim> = q.by.clone();
    if q.consumer.is_some() {
        needed.push(Dim::Consumer);
    }
    if needed.iter().any(|d| key_index(*d).is_none()) {
        return None;
    }
    let days = midnight(q.from) && midnight(q.to);
    let whole_months = months && month_start(q.from) && month_start(q.to);
    let fits = |view: &View| {
        needed.iter().all(|d| view.dims.contains(d))
            && match (view.grain, q.bucket) {
                (Grain::Day, Some(Bucket::Hour)) => false,
                (Grain::Day, _) => days,
                // Hour rows are selected by their start, as the hourly rollup's.
                (Grain::Hour, _) => true,
                (Grain::Month, None) => whole_months,
                (Grain::Month, _) => false,
            }
    };
    // A month view first when one fits: a row per month instead of 30.
    VIEWS
        .iter()
        .position(|v| v.grain == Grain::Month && fits(v))
        .or_else(|| {
            VIEWS
                .iter()
                .position(|v| v.grain != Grain::Month && fits(v))
        })
}

/// Whether `t` is the first instant of a UTC calendar month.
fn month_start(t: DateTime<Utc>) -> bool {
    midnight(t) && t.day() == 1
}

/// Output key: bucket (ms) and group values.
type Group = (Option<i64>, Vec<Option<String>>);

/// The table and WHERE clause of `q`'s rows in `plan`'s view.
fn where_clause(q: &TrafficQuery, plan: &Plan) -> String {
    let last = q.to - chrono::Duration::milliseconds(1);
    let (table, partition, format) = if plan.monthly {
        ("rollups_summary_month", "month", "%Y-%m")
    } else {
        ("rollups_summary", "date", "%Y-%m-%d")
    };
    let mut w = format!(
        "{table} WHERE view = '{}' AND {partition} >= '{}' AND {partition} <= '{}' \
         AND bucket >= {} AND bucket < {}",
        plan.view.name,
        q.from.format(format),
        last.format(format),
        ts_literal(q.from),
        ts_literal(q.to)
    );
    if let Some(c) = &q.consumer {
        w.push_str(&format!(" AND consumer = {}", quote(c)));
    }
    w
}

fn out_bucket(q: &TrafficQuery, row_bucket: i64) -> Option<i64> {
    match q.bucket {
        None => None,
        Some(Bucket::Day) => Some(row_bucket.div_euclid(DAY_MS) * DAY_MS),
        _ => Some(row_bucket),
    }
}

fn group_of(q: &TrafficQuery, keys: &[StringArray], r: usize) -> Vec<Option<String>> {
    q.by.iter()
        .map(|d| {
            let c = &keys[key_index(*d).unwrap_or(0)];
            (!c.is_null(r)).then(|| c.value(r).to_string())
        })
        .collect()
}

/// How a question is read from the views.
pub(crate) struct Plan {
    /// The view that answers.
    pub(crate) view: &'static View,
    /// `rollups_summary_month` rather than `rollups_summary` (see `plan`).
    monthly: bool,
    /// Distinct consumers counted from the keys (a view keyed by consumer).
    direct: bool,
    /// Distinct consumers counted as the union of the rows' sets.
    union: bool,
}

/// The plan for `q`, `None` when no view fits (or the lake has none).
pub(crate) fn plan(lake: &Lake, q: &TrafficQuery) -> Result<Option<Plan>, AnalyticsError> {
    if q.to <= q.from {
        return Err(AnalyticsError::Invalid("`to` must be after `from`".into()));
    }
    // A lake rolled up before the views existed: the hourly rollup answers
    // until `tollgate rollup` writes them.
    if !lake.has_table("rollups_summary") {
        return Ok(None);
    }
    let months = lake.has_table("rollups_summary_month");
    let Some(v) = choose(q, months) else {
        return Ok(None);
    };
    let view = &VIEWS[v];
    // Distinct consumers: counted from the keys of a view keyed by
    // consumer; else the row's own count when each output row is one view
    // row; else the union of the rows' consumer sets.
    let direct = view.dims.contains(&Dim::Consumer);
    let one_row_each = matches!(
        (view.grain, q.bucket),
        (Grain::Hour, Some(Bucket::Hour)) | (Grain::Day, Some(Bucket::Day))
    ) && view.dims.iter().all(|d| q.by.contains(d));
    Ok(Some(Plan {
        view,
        // The month file for month views, and for day views but all
        // consumers' rows of one keyed by consumer: those are most of a
        // month file's bytes, and 30 day files are decoded on every core
        // where one file's view is one scan (114 against 86 ms for a
        // month's consumer list on 2 cores).
        monthly: months
            && match view.grain {
                Grain::Hour => false,
                Grain::Month => true,
                Grain::Day => !(view.dims.contains(&Dim::Consumer) && q.consumer.is_none()),
            },
        direct,
        union: !direct && !one_row_each,
    }))
}

/// The view rows of `q`: keys and figures in the columns [`group_rows`]
/// reads, the histograms (columns 12 and 14) empty unless `histograms`,
/// the consumer sets (column 15) when the plan needs them. `only` is one
/// more condition.
async fn fetch(
    lake: &Lake,
    q: &TrafficQuery,
    plan: &Plan,
    histograms: bool,
    only: Option<&str>,
) -> Result<(Vec<RecordBatch>, Vec<Option<ArrayRef>>), AnalyticsError> {
    let (latency, upstream) = if histograms {
        ("latency", "upstream")
    } else {
        ("X'' AS latency", "X'' AS upstream")
    };
    let sql = format!(
        "SELECT bucket, consumer, api, route, method, calls, errors_4xx, errors_5xx, \
         request_bytes, response_bytes, consumers, latency_max, {latency}, upstream_max, {upstream}{} \
         FROM {}{}",
        if plan.union { ", consumer_set" } else { "" },
        where_clause(q, plan),
        only.map(|c| format!(" AND ({c})")).unwrap_or_default()
    );
    let batches = lake.query(&sql).await?;
    let sets: Vec<Option<ArrayRef>> = batches
        .iter()
        .map(|b| {
            plan.union
                .then(|| datafusion::arrow::compute::cast(b.column(15), &DataType::BinaryView))
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    Ok((batches, sets))
}

/// The histogram columns of `batches`, for [`merge_histograms`].
fn histograms(batches: &[RecordBatch]) -> Result<Vec<(ArrayRef, ArrayRef)>, AnalyticsError> {
    batches
        .iter()
        .map(|b| {
            let cast =
                |i: usize| datafusion::arrow::compute::cast(b.column(i), &DataType::BinaryView);
            Ok((cast(12)?, cast(14)?))
        })
        .collect()
}

/// [`merge_histograms`] on two threads: the groups in two halves of about
/// as many rows (the merge is most of a month's question).
fn merge_in_halves(
    accs: &mut [Acc],
    members: &[Vec<(u32, u32)>],
    blobs: &[(ArrayRef, ArrayRef)],
) -> Result<(), AnalyticsError> {
    let rows: usize = members.iter().map(Vec::len).sum();
    let (mut half, mut taken) = (0, 0);
    while half < members.len() && taken * 2 < rows {
        taken += members[half].len();
        half += 1;
    }
    let (first, second) = accs.split_at_mut(half);
    let (mine, other) = std::thread::scope(|scope| {
        let other = scope.spawn(|| merge_histograms(second, &members[half..], blobs));
        (
            merge_histograms(first, &members[..half], blobs),
            other.join(),
        )
    });
    mine?;
    other.map_err(|_| AnalyticsError::Query("the summary merge failed".into()))?
}

/// Sets each group's distinct consumers (see [`Plan`]).
fn count_consumers(
    plan: &Plan,
    grouped: &mut Grouped<'_>,
    batches: &[RecordBatch],
) -> Result<(), AnalyticsError> {
    if plan.union {
        for (e, ids) in grouped.accs.iter_mut().zip(&grouped.seen) {
            e.consumers = ids.len() as i64;
        }
    } else if plan.direct {
        // Keyed by consumer: count the distinct consumers of each output row.
        let consumers: Vec<StringArray> = batches
            .iter()
            .map(|b| Ok(strings(b, 1)?.swap_remove(0)))
            .collect::<Result<_, AnalyticsError>>()?;
        for (e, rows) in grouped.accs.iter_mut().zip(&grouped.members) {
            let ids: FastSet<&str> = rows
                .iter()
                .map(|&(b, r)| (&consumers[b as usize], r as usize))
                .filter(|(c, r)| !c.is_null(*r))
                .map(|(c, r)| c.value(r))
                .collect();
            e.consumers = ids.len() as i64;
        }
    }
    Ok(())
}

/// The output rows of merged groups, ordered by group; groups without
/// calls left out.
fn finish(groups: impl Iterator<Item = (Group, Acc)>) -> Vec<TrafficRow> {
    let sorted: BTreeMap<Group, Acc> = groups.filter(|(_, a)| a.calls != 0).collect();
    sorted
        .into_iter()
        .map(|((bucket, group), a)| {
            let [p50, p90, p95, p99] = a.latency.quantiles([0.5, 0.9, 0.95, 0.99]);
            let [u50, u95, u99] = a.upstream.quantiles([0.5, 0.95, 0.99]);
            TrafficRow {
                bucket: bucket.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                group,
                calls: a.calls,
                errors_4xx: a.e4,
                errors_5xx: a.e5,
                error_rate_4xx: rate(a.e4, a.calls),
                error_rate_5xx: rate(a.e5, a.calls),
                latency_p50: p50,
                latency_p90: p90,
                latency_p95: p95,
                latency_p99: p99,
                latency_max: a.latency_max,
                upstream_p50: u50,
                upstream_p95: u95,
                upstream_p99: u99,
                request_bytes: a.request_bytes,
                response_bytes: a.response_bytes,
                consumers: a.consumers,
            }
        })
        .collect()
}

/// `q` answered from the summary views, or `None` when no view fits (the
/// planner then asks the hourly rollup: `rollup_traffic::hourly`). Rows and
/// order as `traffic::from_rollups`.
#[doc(hidden)]
pub async fn query(
    lake: &Lake,
    q: &TrafficQuery,
) -> Result<Option<Vec<TrafficRow>>, AnalyticsError> {
    let Some(plan) = plan(lake, q)? else {
        return Ok(None);
    };
    Ok(Some(answer(lake, q, &plan).await?))
}

/// `q` answered from the view `plan` chose.
pub(crate) async fn answer(
    lake: &Lake,
    q: &TrafficQuery,
    plan: &Plan,
) -> Result<Vec<TrafficRow>, AnalyticsError> {
    let (batches, sets) = fetch(lake, q, plan, true, None).await?;
    let mut grouped = group_rows(q, &batches, &sets)?;
    merge_in_halves(&mut grouped.accs, &grouped.members, &histograms(&batches)?)?;
    count_consumers(plan, &mut grouped, &batches)?;
    Ok(finish(grouped.groups.into_iter().zip(grouped.accs)))
}

/// The `n` groups of `q` with the most calls or errors, as
/// `traffic::top(query(q), order, n)`, with only those groups' rows read
/// whole: the engine first sums each group's calls and errors (no
/// histograms read), the groups are ranked, then the winners' rows are
/// read and merged (the view's rows of their first dimension's values).
/// "Top 5 consumers of the month" merges 5 consumers' histograms instead
/// of a thousand. `None` when no view fits, for buckets, or for an order
/// by latency (every histogram is needed then).
#[doc(hidden)]
pub async fn top(
    lake: &Lake,
    q: &TrafficQuery,
    order: TopOrder,
    n: usize,
) -> Result<Option<Vec<TrafficRow>>, AnalyticsError> {
    let Some(plan) = plan(lake, q)? else {
        return Ok(None);
    };
    top_with(lake, q, &plan, order, n).await
}

/// [`top`] with the view `plan` chose.
pub(crate) async fn top_with(
    lake: &Lake,
    q: &TrafficQuery,
    plan: &Plan,
    order: TopOrder,
    n: usize,
) -> Result<Option<Vec<TrafficRow>>, AnalyticsError> {
    let score = match order {
        TopOrder::Calls => "calls",
        TopOrder::Errors => "errors_4xx + errors_5xx",
        TopOrder::P95 | TopOrder::P99 => return Ok(None),
    };
    let Some(&first_dim) = q.by.first() else {
        return Ok(None);
    };
    if q.bucket.is_some() {
        return Ok(None);
    }
    let columns = ["consumer", "api", "route", "method"];
    let dims: Vec<&str> =
        q.by.iter()
            .map(|d| key_index(*d).map(|i| columns[i]))
            .collect::<Option<_>>()
            .ok_or_else(|| AnalyticsError::Invalid("no view keys this grouping".into()))?;
    let keys = dims
        .iter()
        .map(|c| format!("CAST({c} AS VARCHAR) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {keys}, CAST(sum({score}) AS BIGINT) AS score, CAST(sum(calls) AS BIGINT) AS calls \
         FROM {} GROUP BY {}",
        where_clause(q, plan),
        dims.join(", ")
    );
    // Ranked as `traffic::top` ranks: score descending, then group.
    let mut ranked: Vec<(i64, Vec<Option<String>>)> = Vec::new();
    for b in lake.query(&sql).await? {
        let group: Vec<StringArray> = (0..dims.len())
            .map(|i| {
                let c = datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)?;
                Ok(c.as_string::<i32>().clone())
            })
            .collect::<Result<_, AnalyticsError>>()?;
        let scores = b.column(dims.len()).as_primitive::<Int64Type>();
        let calls = b.column(dims.len() + 1).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            if calls.value(r) != 0 {
                let g = group
                    .iter()
                    .map(|c| (!c.is_null(r)).then(|| c.value(r).to_string()))
                    .collect();
                ranked.push((scores.value(r), g));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked.truncate(n);
    if ranked.is_empty() {
        return Ok(Some(Vec::new()));
    }
    // The winners' rows, whole.
    let column = columns[key_index(first_dim).unwrap_or(0)];
    let values: FastSet<Option<&str>> = ranked.iter().map(|(_, g)| g[0].as_deref()).collect();
    let mut only: Vec<String> = Vec::new();
    let listed: Vec<String> = values.iter().flatten().map(|v| quote(v)).collect();
    if !listed.is_empty() {
        only.push(format!("{column} IN ({})", listed.join(", ")));
    }
    if values.contains(&None) {
        only.push(format!("{column} IS NULL"));
    }
    let (batches, sets) = fetch(lake, q, plan, true, Some(&only.join(" OR "))).await?;
    let mut grouped = group_rows(q, &batches, &sets)?;
    merge_in_halves(&mut grouped.accs, &grouped.members, &histograms(&batches)?)?;
    count_consumers(plan, &mut grouped, &batches)?;
    let winners: FastSet<&Vec<Option<String>>> = ranked.iter().map(|(_, g)| g).collect();
    let rows = finish(
        grouped
            .groups
            .into_iter()
            .zip(grouped.accs)
            .filter(|((_, g), _)| winners.contains(g)),
    );
    Ok(Some(crate::query::top(rows, order, n)))
}
