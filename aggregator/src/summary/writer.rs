//! Building the summary files: a day's from its hourly rollup rows
//! ([`encode_day`]), a month's from its days' files ([`encode_month`]),
//! both sorted by view, then keys, in row groups of one view each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use chrono::{Datelike, TimeZone, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::catalog::{
    DAY_MS, FastSet, Grain, VIEWS, buckets, key_index, pack_set, strings, summary_schema,
    unpack_set,
};
use crate::AnalyticsError;
use crate::query::Dim;
use crate::rollup_row::{RollupAgg, RollupKey, max_opt};

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
