//! Summary rollups: the hourly rollup of each day folded further into a few
//! small views, so that the dashboard's questions over a month read
//! thousands of rows instead of millions.
//!
//! The hourly rollup is keyed by (hour, consumer, api, route, method,
//! status, gateway): a month of a thousand busy consumers is millions of
//! rows. The dashboard asks few shapes of question (a series, the totals,
//! per consumer, per route, one consumer's routes), so each day's rollup is
//! also written as the [`VIEWS`]: the same figures keyed by fewer
//! dimensions, per hour or per day, with the status folded into 4xx and 5xx
//! counts and the latency histograms merged. A question is answered from
//! the smallest view that has every dimension it groups or filters by and
//! a fine enough grain (day views only for ranges of whole UTC days);
//! [`query`] returns `None` when no view fits (status class or gateway
//! dimensions, time zones), and the caller asks the hourly rollup.
//!
//! Distinct consumers cannot be added up across rows: a row of a view
//! without a consumer key keeps its set of consumers, and merged rows count
//! the union; views keyed by consumer count their keys.
//!
//! Every figure is the same as from the hourly rollup: sums of counts and
//! bytes, maxima, and histograms merged bucket by bucket (a test compares
//! them for every view and shape).
//!
//! Stored per day in `rollups/summary/date=<day>/summary.parquet`, sorted by
//! view, then keys, in small row groups, so the `view` and `consumer`
//! filters skip most of a file.
//!
//! Each month's day views are also stored together, with the month views
//! (the same figures per key and calendar month), in
//! `rollups/summary_month/month=<YYYY-MM>/summary.parquet`
//! ([`encode_month`], rebuilt by the rollup run with its days): a question
//! over whole calendar months reads one row per key and month, other
//! questions over whole days read one file instead of 30 (but every
//! consumer's day rows, which decode faster from 30 files on every core).
//!
//! Known limit: a month file is built in memory from its days' rows (the
//! rollup run of a month of 50M events, 1,000 consumers and 25 routes
//! peaked at 1.7 GB); much larger key counts need it built in parts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::AnalyticsError;
use crate::lake::Lake;
use crate::query::{Bucket, Dim, TopOrder, TrafficQuery, TrafficRow, quote, rate, ts_literal};
use crate::rollup_row::{RollupAgg, RollupKey, max_opt};
use crate::sketch::{Sketch, get_varint, put_varint};

const DAY_MS: i64 = 86_400_000;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The time grain of a view's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// One row per hour and key.
    Hour,
    /// One row per UTC day and key.
    Day,
    /// One row per UTC calendar month and key: only in the month files
    /// (see [`encode_month`]), for questions over whole months.
    Month,
}

/// One view: a grain and the dimensions its rows are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// Stored in the `view` column.
    pub name: &'static str,
    /// Hours or days.
    pub grain: Grain,
    /// Among consumer, api, route, method.
    pub dims: &'static [Dim],
}

const ROUTE: &[Dim] = &[Dim::Api, Dim::Route, Dim::Method];
const CONSUMER_ROUTE: &[Dim] = &[Dim::Consumer, Dim::Api, Dim::Route, Dim::Method];

/// The views, smallest first (the order in which [`query`] tries them).
/// There is no hourly consumer × route view: it would be nearly as large as
/// the hourly rollup itself (one consumer's routes over a range that is not
/// whole days read the hourly rollup instead).
pub const VIEWS: &[View] = &[
    View {
        name: "day",
        grain: Grain::Day,
        dims: &[],
    },
    View {
        name: "hour",
        grain: Grain::Hour,
        dims: &[],
    },
    View {
        name: "day_route",
        grain: Grain::Day,
        dims: ROUTE,
    },
    View {
        name: "day_consumer",
        grain: Grain::Day,
        dims: &[Dim::Consumer],
    },
    View {
        name: "hour_route",
        grain: Grain::Hour,
        dims: ROUTE,
    },
    View {
        name: "day_consumer_route",
        grain: Grain::Day,
        dims: CONSUMER_ROUTE,
    },
    View {
        name: "hour_consumer",
        grain: Grain::Hour,
        dims: &[Dim::Consumer],
    },
    View {
        name: "month",
        grain: Grain::Month,
        dims: &[],
    },
    View {
        name: "month_route",
        grain: Grain::Month,
        dims: ROUTE,
    },
    View {
        name: "month_consumer",
        grain: Grain::Month,
        dims: &[Dim::Consumer],
    },
    View {
        name: "month_consumer_route",
        grain: Grain::Month,
        dims: CONSUMER_ROUTE,
    },
];

/// The key columns, in the order of [`RollupKey::strings`].
const KEY_DIMS: [Dim; 4] = [Dim::Consumer, Dim::Api, Dim::Route, Dim::Method];

fn key_index(d: Dim) -> Option<usize> {
    KEY_DIMS.iter().position(|k| *k == d)
}

pub use tollgate_lake::schema::summary_schema;

type RowKey = (usize, i64, [Option<String>; 4]);

#[derive(Default)]
struct RowAgg {
    agg: RollupAgg,
    e4: i64,
    e5: i64,
    consumers: HashSet<Option<String>>,
}

/// One day's summary file, from that day's hourly rollup rows.
pub fn encode_day(rows: &BTreeMap<RollupKey, RollupAgg>) -> Result<Vec<u8>, AnalyticsError> {
    let mut views: BTreeMap<RowKey, RowAgg> = BTreeMap::new();
    // Rows of one hour and (consumer, api, route, method) differ only by
    // status and gateway: fold those first, then into each view.
    let mut fine: HashMap<(i64, [Option<String>; 4]), RowAgg> = HashMap::new();
    for (k, a) in rows {
        let e = fine.entry((k.hour, k.strings.clone())).or_default();
        e.agg.merge(a);
        match k.status {
            Some(400..=499) => e.e4 += a.calls,
            Some(500..=599) => e.e5 += a.calls,
            _ => {}
        }
    }
    for ((hour, strings), f) in &fine {
        for (v, view) in VIEWS.iter().enumerate() {
            let bucket = match view.grain {
                Grain::Hour => *hour,
                Grain::Day => hour.div_euclid(DAY_MS) * DAY_MS,
                Grain::Month => continue,
            };
            let mut key: [Option<String>; 4] = Default::default();
            for d in view.dims {
                if let Some(i) = key_index(*d) {
                    key[i] = strings[i].clone();
                }
            }
            let e = views.entry((v, bucket, key)).or_default();
            e.agg.merge(&f.agg);
            e.e4 += f.e4;
            e.e5 += f.e5;
            if strings[0].is_some() {
                e.consumers.insert(strings[0].clone());
            }
        }
    }
    // Sorted by view, then keys, then bucket: a consumer's rows are together.
    let mut sorted: Vec<(&RowKey, &RowAgg)> = views.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| (a.0, &a.2, a.1).cmp(&(b.0, &b.2, b.1)));
    encode(&sorted)
}

fn encode(rows: &[(&RowKey, &RowAgg)]) -> Result<Vec<u8>, AnalyticsError> {
    let batch = batch_of(rows)?;
    let views: Vec<usize> = rows.iter().map(|r| r.0.0).collect();
    write_views(&batch, &views)
}

/// The rows as a batch of [`summary_schema`].
fn batch_of(rows: &[(&RowKey, &RowAgg)]) -> Result<RecordBatch, AnalyticsError> {
    let mut view = StringBuilder::new();
    let mut bucket = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut strings: [StringBuilder; 4] = std::array::from_fn(|_| StringBuilder::new());
    let mut ints: [Int64Builder; 6] = std::array::from_fn(|_| Int64Builder::new());
    let (mut lmax, mut umax) = (Float64Builder::new(), Float64Builder::new());
    let (mut lat, mut up) = (BinaryBuilder::new(), BinaryBuilder::new());
    let mut sets = BinaryBuilder::new();
    let mut buf = Vec::new();
    for ((v, b, key), a) in rows {
        view.append_value(VIEWS[*v].name);
        bucket.append_value(*b);
        for (builder, s) in strings.iter_mut().zip(key) {
            builder.append_option(s.as_deref());
        }
        let values = [
            a.agg.calls,
            a.e4,
            a.e5,
            a.agg.request_bytes,
            a.agg.response_bytes,
            a.consumers.len() as i64,
        ];
        for (builder, x) in ints.iter_mut().zip(values) {
            builder.append_value(x);
        }
        if VIEWS[*v].dims.contains(&Dim::Consumer) {
            sets.append_value([]);
        } else {
            pack_set(&a.consumers, &mut buf);
            sets.append_value(&buf);
        }
        lmax.append_option(a.agg.latency_max);
        umax.append_option(a.agg.upstream_max);
        a.agg.latency.encode(&mut buf);
        lat.append_value(&buf);
        a.agg.upstream.encode(&mut buf);
        up.append_value(&buf);
    }
    let [mut c, mut ap, mut ro, mut me] = strings;
    let [mut calls, mut e4, mut e5, mut rq, mut rs, mut nc] = ints;
    let batch = RecordBatch::try_new(
        summary_schema(),
        vec![
            Arc::new(view.finish()),
            Arc::new(bucket.finish()),
            Arc::new(c.finish()),
            Arc::new(ap.finish()),
            Arc::new(ro.finish()),
            Arc::new(me.finish()),
            Arc::new(calls.finish()),
            Arc::new(e4.finish()),
            Arc::new(e5.finish()),
            Arc::new(rq.finish()),
            Arc::new(rs.finish()),
            Arc::new(nc.finish()),
            Arc::new(sets.finish()),
            Arc::new(lmax.finish()),
            Arc::new(lat.finish()),
            Arc::new(umax.finish()),
            Arc::new(up.finish()),
        ],
    )?;
    Ok(batch)
}

/// Writes `batch` (rows sorted by view, then keys; `views[i]` the view of
/// row `i`) as a summary file.
fn write_views(batch: &RecordBatch, views: &[usize]) -> Result<Vec<u8>, AnalyticsError> {
    // Each view in row groups of its own, small ones, with page
    // statistics: the `view` filter skips every other view's row groups
    // (their histograms are never decoded), and `consumer` (sorted within a
    // view) skips all but a consumer's own.
    // LZ4 throughout: it decompresses several times faster than zstd, and
    // a zstd context is allocated for each of the many small column chunks
    // (a fifth of a month's series in a profile).
    let props = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(1024))
        // Pages of 128 rows: a consumer's rows (sorted together) are read
        // without the rest of their row group, through the page index.
        .set_data_page_row_count_limit(128)
        .set_write_batch_size(128)
        .set_statistics_enabled(EnabledStatistics::Page)
        // Dictionaries only for the keys: a dictionary page holds every
        // distinct value of its column chunk and is read whole for any row
        // of it, so reading one consumer's histograms decompressed the
        // whole view's (a fifth of one consumer's month in a profile).
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("view"), true)
        .set_column_dictionary_enabled(ColumnPath::from("bucket"), true)
        .set_column_dictionary_enabled(ColumnPath::from("consumer"), true)
        .set_column_dictionary_enabled(ColumnPath::from("api"), true)
        .set_column_dictionary_enabled(ColumnPath::from("route"), true)
        .set_column_dictionary_enabled(ColumnPath::from("method"), true)
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    let mut start = 0;
    while start < views.len() {
        let view = views[start];
        let len = views[start..].iter().take_while(|v| **v == view).count();
        w.write(&batch.slice(start, len))?;
        w.flush()?;
        start += len;
    }
    w.close()?;
    Ok(buf)
}

/// One month's file of the day views: the day views' rows of each of
/// `days` (the month's day summary files, as written by [`encode_day`]),
/// sorted by view, then keys, then day, so that a consumer's month is a
/// few adjacent rows of one file. A month question then opens one file
/// instead of 30 (each file costs a fixed quarter of a millisecond or
/// more per question, its histogram columns more).
pub fn encode_month(days: Vec<bytes::Bytes>) -> Result<Option<Vec<u8>>, AnalyticsError> {
    use datafusion::arrow::compute::{SortColumn, SortOptions, concat_batches, lexsort_to_indices};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::statistics::Statistics;

    let day_view = |name: &[u8]| {
        VIEWS
            .iter()
            .position(|v| v.grain == Grain::Day && v.name.as_bytes() == name)
    };
    let mut batches = Vec::new();
    for bytes in days {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        // Each row group holds one view (see `write_views`): only the day
        // views' are read.
        let groups: Vec<usize> = (0..builder.metadata().num_row_groups())
            .filter(
                |&i| match builder.metadata().row_group(i).column(0).statistics() {
                    Some(Statistics::ByteArray(st)) => match (st.min_opt(), st.max_opt()) {
                        (Some(lo), Some(hi)) => lo == hi && day_view(lo.data()).is_some(),
                        _ => false,
                    },
                    _ => false,
                },
            )
            .collect();
        for b in builder
            .with_row_groups(groups)
            .with_batch_size(64 * 1024)
            .build()?
        {
            batches.push(b?);
        }
    }
    if batches.is_empty() {
        return Ok(None);
    }
    let all = concat_batches(&summary_schema(), &batches)?;
    drop(batches);
    let names = all.column(0).as_string::<i32>();
    let views: Vec<usize> = (0..all.num_rows())
        .map(|r| day_view(names.value(r).as_bytes()).unwrap_or(usize::MAX))
        .collect();
    let rank: ArrayRef = Arc::new(arrow_array::UInt64Array::from(
        views.iter().map(|v| *v as u64).collect::<Vec<_>>(),
    ));
    let asc = Some(SortOptions {
        descending: false,
        nulls_first: true,
    });
    let mut keys = vec![SortColumn {
        values: rank,
        options: asc,
    }];
    for i in [2, 3, 4, 5, 1] {
        keys.push(SortColumn {
            values: all.column(i).clone(),
            options: asc,
        });
    }
    let order = lexsort_to_indices(&keys, None)?;
    let sorted = datafusion::arrow::compute::take_record_batch(&all, &order)?;
    let mut views: Vec<usize> = order.values().iter().map(|&i| views[i as usize]).collect();
    // The month views first: each day view's rows merged per key.
    let months = month_rows(&all)?;
    let mut rows: Vec<(&RowKey, &RowAgg)> = months.iter().collect();
    rows.sort_by(|(a, _), (b, _)| (a.0, &a.2, a.1).cmp(&(b.0, &b.2, b.1)));
    let mut month_views: Vec<usize> = rows.iter().map(|r| r.0.0).collect();
    let month = batch_of(&rows)?;
    let both = concat_batches(&summary_schema(), [&month, &sorted])?;
    month_views.append(&mut views);
    Ok(Some(write_views(&both, &month_views)?))
}

/// The month view of each day view, `Grain::Month` with the same keys.
fn month_view(day: usize) -> Option<usize> {
    VIEWS
        .iter()
        .position(|v| v.grain == Grain::Month && v.dims == VIEWS[day].dims)
}

/// The day views' rows of `all` (one month's) merged into month rows:
/// sums, maxima, histograms bucket by bucket, consumer sets united.
fn month_rows(all: &RecordBatch) -> Result<BTreeMap<RowKey, RowAgg>, AnalyticsError> {
    let bad = || AnalyticsError::Lake("rollups_summary: a consumer id is not UTF-8".into());
    let names = all.column(0).as_string::<i32>();
    let bucket = buckets(all, 1)?;
    let keys = strings(all, 2)?;
    let int = |i: usize| all.column(i).as_primitive::<Int64Type>();
    let flt = |i: usize| all.column(i).as_primitive::<Float64Type>();
    let blob = |i: usize| all.column(i).as_binary::<i32>();
    let (sets, lat, up) = (blob(12), blob(14), blob(16));
    let mut out: BTreeMap<RowKey, RowAgg> = BTreeMap::new();
    for (r, &at) in bucket.iter().enumerate() {
        let Some(v) = VIEWS.iter().position(|v| v.name == names.value(r)) else {
            continue;
        };
        let Some(mv) = month_view(v) else {
            continue;
        };
        let day = Utc.timestamp_millis_opt(at).single().ok_or_else(|| {
            AnalyticsError::Lake("rollups_summary: a bucket is out of range".into())
        })?;
        let start = Utc
            .with_ymd_and_hms(day.year(), day.month(), 1, 0, 0, 0)
            .single()
            .map(|t| t.timestamp_millis())
            .unwrap_or(at);
        let key: [Option<String>; 4] =
            std::array::from_fn(|i| (!keys[i].is_null(r)).then(|| keys[i].value(r).to_string()));
        let k = (mv, start, key);
        let e = out.entry(k.clone()).or_default();
        e.agg.calls += int(6).value(r);
        e.e4 += int(7).value(r);
        e.e5 += int(8).value(r);
        e.agg.request_bytes += int(9).value(r);
        e.agg.response_bytes += int(10).value(r);
        let maxima = |i: usize| (!flt(i).is_null(r)).then(|| flt(i).value(r));
        e.agg.latency_max = max_opt(e.agg.latency_max, maxima(13));
        e.agg.upstream_max = max_opt(e.agg.upstream_max, maxima(15));
        if VIEWS[mv].dims.contains(&Dim::Consumer) {
            if let Some(c) = &k.2[0] {
                e.consumers.insert(Some(c.clone()));
            }
        } else {
            let mut ids = FastSet::default();
            unpack_set(sets.value(r), &mut ids)?;
            for id in ids {
                let id = String::from_utf8(id.to_vec()).map_err(|_| bad())?;
                e.consumers.insert(Some(id));
            }
        }
        e.agg.latency.decode_into(lat.value(r))?;
        e.agg.upstream.decode_into(up.value(r))?;
    }
    Ok(out)
}

/// A set of consumers as bytes: each id, sorted, as a varint length then
/// its bytes.
fn pack_set(set: &HashSet<Option<String>>, out: &mut Vec<u8>) {
    out.clear();
    let mut ids: Vec<&str> = set.iter().flatten().map(String::as_str).collect();
    ids.sort_unstable();
    for id in ids {
        put_varint(id.len() as u64, out);
        out.extend_from_slice(id.as_bytes());
    }
}

/// Adds the ids packed in `b` to `into`.
fn unpack_set<'a>(b: &'a [u8], into: &mut FastSet<&'a [u8]>) -> Result<(), AnalyticsError> {
    let mut at = 0;
    while at < b.len() {
        let len = get_varint(b, &mut at)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| at + n <= b.len())
            .ok_or_else(|| {
                AnalyticsError::Lake("rollups_summary: a consumer set is damaged".into())
            })?;
        into.insert(&b[at..at + len]);
        at += len;
    }
    Ok(())
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

fn strings(b: &RecordBatch, from: usize) -> Result<Vec<StringArray>, AnalyticsError> {
    (from..from + 4)
        .map(|i| {
            let c = datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)?;
            Ok(c.as_string::<i32>().clone())
        })
        .collect()
}

fn buckets(b: &RecordBatch, i: usize) -> Result<Vec<i64>, AnalyticsError> {
    let c = datafusion::arrow::compute::cast(
        b.column(i),
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?;
    Ok(c.as_primitive::<TimestampMillisecondType>()
        .values()
        .to_vec())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_consumer_sets_read_back_whole() {
        let set: HashSet<Option<String>> = [Some("acme"), None, Some("o'brien\n&co"), Some("")]
            .into_iter()
            .map(|c| c.map(String::from))
            .collect();
        let mut buf = Vec::new();
        pack_set(&set, &mut buf);
        let mut back = FastSet::default();
        unpack_set(&buf, &mut back).unwrap();
        let want: FastSet<&[u8]> = [&b"acme"[..], b"o'brien\n&co", b""].into_iter().collect();
        assert_eq!(back, want);
        assert!(unpack_set(&[5, b'a'], &mut FastSet::default()).is_err());
    }
}
