//! Hourly rollups: pre-aggregates per (hour, consumer, api, route, method,
//! status, gateway) in `rollups/hourly/date=<day>/rollup.parquet`, with
//! latency kept as mergeable [`Sketch`] buckets so percentiles over any
//! range of hours come from the rollups alone.
//!
//! A run recomputes a day when the set of event files of that day changed
//! since the last run (late events land in the day they belong to, in new
//! files), and rewrites that day's rollup whole: running it twice changes
//! nothing, and a day's rollup always equals the events of that day.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tollgate_lake::{LakeStore, StoreError, layout};

use crate::AnalyticsError;
use crate::lake::Lake;
use crate::sketch::Sketch;
// The row types sit a layer down, so the summary views can fold rows
// without importing the run that writes them.
use crate::rollup_row::max_opt;
pub use crate::rollup_row::{RollupAgg, RollupKey};

/// The dimensions a rollup row is keyed by, after the hour.
pub const KEY_COLUMNS: [&str; 6] = ["consumer", "api", "route", "method", "status", "gateway"];

pub use tollgate_lake::schema::rollup_schema;

/// Written first in each day's marker: a day rolled up by an older format
/// (2: summary views added; 3: packed summary histograms; 4: a view's own
/// row groups; 5: LZ4 histograms, consumer sets; 6: small pages; 7: LZ4
/// summary; 8: dense histograms, key-only dictionaries; 9: month files;
/// 10: month views)
/// is rebuilt.
const ROLLUP_FORMAT: &str = "format 10";

/// What a rollup run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupReport {
    /// Days recomputed.
    pub days_rebuilt: Vec<String>,
    /// Days whose rollup was already up to date.
    pub days_unchanged: usize,
    /// Rollup rows written.
    pub rows: usize,
}

/// Brings every day's rollup up to date with the events. Files and markers
/// are written with the lake's durable write protocol ([`LakeStore::put`]),
/// as event files are: each file is whole or absent after a crash, and a
/// day's marker is written only after its files.
pub async fn run(lake: &Lake, store: &LakeStore) -> Result<RollupReport, AnalyticsError> {
    let mut report = RollupReport::default();
    let days = event_days(store).await?;
    for (day, files) in &days {
        let (day, files) = (day.clone(), files);
        // The format version first: a new version rebuilds every day once.
        let fingerprint = format!("{ROLLUP_FORMAT}\n{}", files.join("\n"));
        let marker = layout::rollup_day_marker(&day);
        let previous = store.get(&marker).await.map_err(lake_err)?;
        if previous.as_deref() == Some(fingerprint.as_bytes()) {
            report.days_unchanged += 1;
            continue;
        }
        let rows = rollup_day(lake, &day).await?;
        report.rows += rows.len();
        let summary = crate::summary::encode_day(&rows)?;
        let bytes = encode(&rows)?;
        put_bytes(store, &layout::rollup_hourly_file(&day), bytes).await?;
        put_bytes(store, &layout::rollup_summary_file(&day), summary).await?;
        put_bytes(store, &marker, fingerprint.into_bytes()).await?;
        report.days_rebuilt.push(day);
    }
    months(store, &days).await?;
    Ok(report)
}

/// Brings each month's file of the day views (`summary::encode_month`,
/// in `rollups/summary_month/month=YYYY-MM/`) up to date with its days'
/// summary files: rebuilt when the event files of any of its days
/// changed since it was written (the days themselves were rebuilt just
/// before). A crash between the days and their month leaves the month
/// stale until the next run, which rebuilds it.
async fn months(
    store: &LakeStore,
    days: &BTreeMap<String, Vec<String>>,
) -> Result<(), AnalyticsError> {
    let mut by_month: BTreeMap<&str, Vec<(&String, &Vec<String>)>> = BTreeMap::new();
    for (day, files) in days {
        // `YYYY-MM` of a checked `YYYY-MM-DD` (`rollup_day` refused others).
        let Some(month) = day.get(..7) else { continue };
        by_month.entry(month).or_default().push((day, files));
    }
    for (month, days) in by_month {
        let mut fingerprint = format!("{ROLLUP_FORMAT}\n");
        for (day, files) in &days {
            fingerprint.push_str(&format!("{day}\n{}\n", files.join("\n")));
        }
        let marker = layout::rollup_month_marker(month);
        let previous = store.get(&marker).await.map_err(lake_err)?;
        if previous.as_deref() == Some(fingerprint.as_bytes()) {
            continue;
        }
        let mut files = Vec::new();
        for (day, _) in &days {
            let path = layout::rollup_summary_file(day);
            files.push(store.get(&path).await.map_err(lake_err)?.ok_or_else(|| {
                AnalyticsError::Lake(format!("{path}: missing; run the rollup again"))
            })?);
        }
        let path = layout::rollup_summary_month_file(month);
        match crate::summary::encode_month(files)? {
            Some(bytes) => put_bytes(store, &path, bytes).await?,
            None => store.delete(&path).await.map_err(lake_err)?,
        }
        put_bytes(store, &marker, fingerprint.into_bytes()).await?;
    }
    Ok(())
}

fn lake_err(e: StoreError) -> AnalyticsError {
    AnalyticsError::Lake(e.to_string())
}

/// Event files per day (`date=` folder), as "path size" lines, sorted.
async fn event_days(store: &LakeStore) -> Result<BTreeMap<String, Vec<String>>, AnalyticsError> {
    let mut days: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, size) in store.list_sized(layout::EVENTS).await.map_err(lake_err)? {
        if !path.ends_with(".parquet") {
            continue;
        }
        let Some(day) = layout::day_of(&path).map(str::to_string) else {
            continue;
        };
        days.entry(day).or_default().push(format!("{path} {size}"));
    }
    for files in days.values_mut() {
        files.sort();
    }
    Ok(days)
}

/// Aggregates one day of events into rollup rows.
pub async fn rollup_day(
    lake: &Lake,
    day: &str,
) -> Result<BTreeMap<RollupKey, RollupAgg>, AnalyticsError> {
    crate::query::check_day(day)?;
    let sql = format!(
        "SELECT CAST(date_trunc('hour', ts) AS TIMESTAMP(3)) AS hour, consumer, api, route, method, status, gateway, \
         latency_ms, upstream_latency_ms, request_bytes, response_bytes \
         FROM events WHERE date = '{day}'"
    );
    let df = lake.ctx().sql(&sql).await?;
    let mut stream = df.execute_stream().await?;
    let mut out: HashMap<RollupKey, RollupAgg> = HashMap::new();
    while let Some(batch) = stream.try_next().await? {
        add_batch(&batch, &mut out)?;
    }
    Ok(out.into_iter().collect())
}

/// The batch with string views (which DataFusion may produce) as plain
/// UTF-8, so the readers below can rely on one string type.
fn plain_strings(b: &RecordBatch) -> Result<RecordBatch, AnalyticsError> {
    let mut fields = Vec::with_capacity(b.num_columns());
    let mut cols = Vec::with_capacity(b.num_columns());
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if matches!(c.data_type(), DataType::Utf8View | DataType::LargeUtf8) {
            cols.push(datafusion::arrow::compute::cast(c, &DataType::Utf8)?);
            fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
        } else {
            cols.push(c.clone());
            fields.push(f.as_ref().clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn add_batch(
    b: &RecordBatch,
    out: &mut HashMap<RollupKey, RollupAgg>,
) -> Result<(), AnalyticsError> {
    let b = &plain_strings(b)?;
    let hour = datafusion::arrow::compute::cast(
        b.column(0),
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?;
    let hour = hour.as_primitive::<TimestampMillisecondType>();
    let s = |i: usize| b.column(i).as_string::<i32>();
    let (consumer, api, route, method) = (s(1), s(2), s(3), s(4));
    let status = b.column(5).as_primitive::<Int32Type>();
    let gateway = s(6);
    let lat = b.column(7).as_primitive::<Float64Type>();
    let up = b.column(8).as_primitive::<Float64Type>();
    let req = b.column(9).as_primitive::<Int64Type>();
    let resp = b.column(10).as_primitive::<Int64Type>();
    let opt =
        |a: &arrow_array::StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    for i in 0..b.num_rows() {
        let key = RollupKey {
            hour: hour.value(i),
            strings: [opt(consumer, i), opt(api, i), opt(route, i), opt(method, i)],
            status: (!status.is_null(i)).then(|| status.value(i)),
            gateway: gateway.value(i).to_string(),
        };
        let agg = out.entry(key).or_default();
        agg.calls += 1;
        if !req.is_null(i) {
            agg.request_bytes += req.value(i);
        }
        if !resp.is_null(i) {
            agg.response_bytes += resp.value(i);
        }
        if !lat.is_null(i) {
            agg.latency.add(lat.value(i));
            agg.latency_max = max_opt(agg.latency_max, Some(lat.value(i)));
        }
        if !up.is_null(i) {
            agg.upstream.add(up.value(i));
            agg.upstream_max = max_opt(agg.upstream_max, Some(up.value(i)));
        }
    }
    Ok(())
}

fn encode(rows: &BTreeMap<RollupKey, RollupAgg>) -> Result<Vec<u8>, AnalyticsError> {
    let mut hour = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut strings: [StringBuilder; 4] = std::array::from_fn(|_| StringBuilder::new());
    let mut status = Int32Builder::new();
    let mut gateway = StringBuilder::new();
    let (mut calls, mut req, mut resp) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
    );
    let (mut lmax, mut umax) = (Float64Builder::new(), Float64Builder::new());
    let mut lkeys = ListBuilder::new(Int32Builder::new());
    let mut lcounts = ListBuilder::new(Int64Builder::new());
    let mut ukeys = ListBuilder::new(Int32Builder::new());
    let mut ucounts = ListBuilder::new(Int64Builder::new());
    for (k, a) in rows {
        hour.append_value(k.hour);
        for (b, v) in strings.iter_mut().zip(&k.strings) {
            b.append_option(v.as_deref());
        }
        status.append_option(k.status);
        gateway.append_value(&k.gateway);
        calls.append_value(a.calls);
        req.append_value(a.request_bytes);
        resp.append_value(a.response_bytes);
        lmax.append_option(a.latency_max);
        umax.append_option(a.upstream_max);
        a.latency.append_lists(&mut lkeys, &mut lcounts);
        a.upstream.append_lists(&mut ukeys, &mut ucounts);
    }
    let [mut c, mut ap, mut ro, mut me] = strings;
    let batch = RecordBatch::try_new(
        rollup_schema(),
        vec![
            Arc::new(hour.finish()),
            Arc::new(c.finish()),
            Arc::new(ap.finish()),
            Arc::new(ro.finish()),
            Arc::new(me.finish()),
            Arc::new(status.finish()),
            Arc::new(gateway.finish()),
            Arc::new(calls.finish()),
            Arc::new(req.finish()),
            Arc::new(resp.finish()),
            Arc::new(lmax.finish()),
            Arc::new(lkeys.finish()),
            Arc::new(lcounts.finish()),
            Arc::new(umax.finish()),
            Arc::new(ukeys.finish()),
            Arc::new(ucounts.finish()),
        ],
    )?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(&batch)?;
    w.close()?;
    Ok(buf)
}

/// Reads rollup rows back (for the percentile-from-rollups path).
pub fn decode_rows(b: &RecordBatch) -> Result<Vec<(RollupKey, RollupAgg)>, AnalyticsError> {
    let b = &plain_strings(b)?;
    let hour = datafusion::arrow::compute::cast(
        b.column(0),
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?;
    let hour = hour.as_primitive::<TimestampMillisecondType>();
    let s = |i: usize| b.column(i).as_string::<i32>();
    let status = b.column(5).as_primitive::<Int32Type>();
    let i64c = |i: usize| b.column(i).as_primitive::<Int64Type>();
    let f64c = |i: usize| b.column(i).as_primitive::<Float64Type>();
    let lists = |i: usize| b.column(i).as_list::<i32>();
    let opt =
        |a: &arrow_array::StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let sketch = |ki: usize, ci: usize| {
            let keys = lists(ki).value(i);
            let counts = lists(ci).value(i);
            let keys = keys.as_primitive::<Int32Type>();
            let counts = counts.as_primitive::<Int64Type>();
            let mut s = Sketch::default();
            s.add_lists(keys, counts).map(|()| s)
        };
        let key = RollupKey {
            hour: hour.value(i),
            strings: [opt(s(1), i), opt(s(2), i), opt(s(3), i), opt(s(4), i)],
            status: (!status.is_null(i)).then(|| status.value(i)),
            gateway: s(6).value(i).to_string(),
        };
        let agg = RollupAgg {
            calls: i64c(7).value(i),
            request_bytes: i64c(8).value(i),
            response_bytes: i64c(9).value(i),
            latency_max: (!f64c(10).is_null(i)).then(|| f64c(10).value(i)),
            latency: sketch(11, 12)?,
            upstream_max: (!f64c(13).is_null(i)).then(|| f64c(13).value(i)),
            upstream: sketch(14, 15)?,
        };
        out.push((key, agg));
    }
    Ok(out)
}

/// Writes `bytes` at `path` durably and atomically ([`LakeStore::put`]).
async fn put_bytes(store: &LakeStore, path: &str, bytes: Vec<u8>) -> Result<(), AnalyticsError> {
    store
        .put(path, bytes::Bytes::from(bytes))
        .await
        .map_err(|e| AnalyticsError::Lake(format!("{path}: {e}")))
}
