//! The batcher's buffer: decoded rows held as Arrow columns, split by the
//! event date they belong to, until they are flushed as Parquet.
//!
//! Rows are appended straight into column builders (no per-event heap
//! objects are kept), and the buffer counts its approximate size in bytes so
//! the batcher can bound memory by bytes rather than by messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use tollgate_schemas::arrow::EventBatchBuilder;
use tollgate_schemas::lake::{lake_event_schema, quarantine_schema};
use tollgate_schemas::{AccessEvent, Reject};

/// Where one message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A Kafka record.
    Kafka {
        /// Topic name.
        topic: Arc<str>,
        /// Partition number.
        partition: i32,
        /// Offset of the record.
        offset: i64,
        /// The record's timestamp (ms), when the broker gave one.
        timestamp: Option<i64>,
    },
    /// A line of an imported file.
    File {
        /// `<content hash>:<file name>`.
        file: Arc<str>,
        /// 1-based line number.
        line: i64,
    },
}

/// Builders for the lineage columns shared by both tables.
struct LineageBuilder {
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    file: StringBuilder,
    line: Int64Builder,
    index: Int32Builder,
    ingested_at: TimestampMillisecondBuilder,
}

impl LineageBuilder {
    fn new() -> Self {
        LineageBuilder {
            topic: StringBuilder::new(),
            partition: Int32Builder::new(),
            offset: Int64Builder::new(),
            file: StringBuilder::new(),
            line: Int64Builder::new(),
            index: Int32Builder::new(),
            ingested_at: TimestampMillisecondBuilder::new().with_timezone("UTC"),
        }
    }

    fn append(&mut self, src: &Source, index: Option<usize>, ingested_at: i64) {
        match src {
            Source::Kafka {
                topic,
                partition,
                offset,
                ..
            } => {
                self.topic.append_value(topic);
                self.partition.append_value(*partition);
                self.offset.append_value(*offset);
                self.file.append_null();
                self.line.append_null();
            }
            Source::File { file, line } => {
                self.topic.append_null();
                self.partition.append_null();
                self.offset.append_null();
                self.file.append_value(file);
                self.line.append_value(*line);
            }
        }
        self.index
            .append_option(index.map(|i| i32::try_from(i).unwrap_or(i32::MAX)));
        self.ingested_at.append_value(ingested_at);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.index.finish()),
            Arc::new(self.ingested_at.finish()),
        ]
    }
}

struct DayEvents {
    events: EventBatchBuilder,
    lineage: LineageBuilder,
    rows: usize,
}

struct DayQuarantine {
    lineage: LineageBuilder,
    reason: StringBuilder,
    message: StringBuilder,
    raw: BinaryBuilder,
    raw_len: Int64Builder,
    raw_truncated: BooleanBuilder,
    kafka_ts: TimestampMillisecondBuilder,
    rows: usize,
}

/// Which table a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    /// `events/`
    Events,
    /// `quarantine/`
    Quarantine,
}

impl Table {
    /// The table's folder in the lake.
    pub fn dir(self) -> &'static str {
        match self {
            Table::Events => tollgate_lake::layout::EVENTS,
            Table::Quarantine => tollgate_lake::layout::QUARANTINE,
        }
    }
}

/// One Parquet file ready to be written.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    /// Table it belongs to.
    pub table: Table,
    /// The `date=` partition: event date for events, ingest date for quarantine.
    pub date: NaiveDate,
    /// The Parquet bytes.
    pub bytes: bytes::Bytes,
    /// Rows in the file.
    pub rows: usize,
}

/// How Parquet files are written.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// Rows per row group: large enough to scan fast (and to keep per-group
    /// metadata small), small enough to let readers skip by `ts` statistics.
    pub row_group_rows: usize,
    /// ZSTD level: 1..=22. Level 1 measured both faster and smaller than
    /// 3 or 7 on gateway events (small dictionary-encoded pages leave little
    /// for higher levels to find): see docs/PERFORMANCE.md.
    pub zstd_level: i32,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            row_group_rows: 256 * 1024,
            zstd_level: 1,
        }
    }
}

/// Decoded rows waiting to be flushed.
pub struct RowBatch {
    days: BTreeMap<NaiveDate, DayEvents>,
    quarantine: BTreeMap<NaiveDate, DayQuarantine>,
    approx_bytes: usize,
    events: u64,
    rejects: u64,
    /// Largest raw message bytes kept in quarantine.
    raw_cap: usize,
}

impl RowBatch {
    /// An empty batch; quarantined raw bytes are capped at `raw_cap`.
    pub fn new(raw_cap: usize) -> Self {
        RowBatch {
            days: BTreeMap::new(),
            quarantine: BTreeMap::new(),
            approx_bytes: 0,
            events: 0,
            rejects: 0,
            raw_cap,
        }
    }

    /// Approximate memory held, in bytes.
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }

    /// Events held.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Rejects held.
    pub fn rejects(&self) -> u64 {
        self.rejects
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events == 0 && self.rejects == 0
    }

    /// Adds one decoded event.
    pub fn add_event(&mut self, e: &AccessEvent, src: &Source, index: usize, ingested_at: i64) {
        let date = e.ts.to_datetime().date_naive();
        let day = self.days.entry(date).or_insert_with(|| DayEvents {
            events: EventBatchBuilder::with_capacity(1024),
            lineage: LineageBuilder::new(),
            rows: 0,
        });
        day.events.append(e);
        day.lineage.append(src, Some(index), ingested_at);
        day.rows += 1;
        self.events += 1;
        self.approx_bytes += approx_event_bytes(e);
    }

    /// Adds one reject; `full_len` is the original message length.
    pub fn add_reject(&mut self, r: &Reject, src: &Source, full_len: usize, ingested_at: i64) {
        let date = chrono::DateTime::from_timestamp_millis(ingested_at)
            .unwrap_or_default()
            .date_naive();
        let q = self
            .quarantine
            .entry(date)
            .or_insert_with(|| DayQuarantine {
                lineage: LineageBuilder::new(),
                reason: StringBuilder::new(),
                message: StringBuilder::new(),
                raw: BinaryBuilder::new(),
                raw_len: Int64Builder::new(),
                raw_truncated: BooleanBuilder::new(),
                kafka_ts: TimestampMillisecondBuilder::new().with_timezone("UTC"),
                rows: 0,
            });
        q.lineage.append(src, r.index, ingested_at);
        q.reason.append_value(r.reason.code());
        q.message.append_value(&r.message);
        let keep = r.raw.len().min(self.raw_cap);
        q.raw.append_value(&r.raw[..keep]);
        q.raw_len
            .append_value(i64::try_from(full_len.max(r.raw.len())).unwrap_or(i64::MAX));
        q.raw_truncated
            .append_value(r.raw_truncated || keep < r.raw.len() || full_len > r.raw.len());
        q.kafka_ts.append_option(match src {
            Source::Kafka { timestamp, .. } => *timestamp,
            Source::File { .. } => None,
        });
        q.rows += 1;
        self.rejects += 1;
        self.approx_bytes += 64 + keep + r.message.len();
    }

    /// Encodes the batch into one Parquet file per table and date.
    pub fn encode(
        self,
        opts: &ParquetOptions,
    ) -> Result<Vec<EncodedFile>, parquet::errors::ParquetError> {
        let mut files = Vec::new();
        for (date, mut day) in self.days {
            let mut cols = day.events.finish_columns();
            cols.extend(day.lineage.finish());
            let batch = RecordBatch::try_new(lake_event_schema(), cols)?;
            files.push(EncodedFile {
                table: Table::Events,
                date,
                bytes: write_parquet(&batch, opts, &["event_id"])?,
                rows: day.rows,
            });
        }
        for (date, mut q) in self.quarantine {
            let mut cols = q.lineage.finish();
            cols.push(Arc::new(q.reason.finish()));
            cols.push(Arc::new(q.message.finish()));
            cols.push(Arc::new(q.raw.finish()));
            cols.push(Arc::new(q.raw_len.finish()));
            cols.push(Arc::new(q.raw_truncated.finish()));
            cols.push(Arc::new(q.kafka_ts.finish()));
            let batch = RecordBatch::try_new(quarantine_schema(), cols)?;
            files.push(EncodedFile {
                table: Table::Quarantine,
                date,
                bytes: write_parquet(&batch, opts, &["raw", "message"])?,
                rows: q.rows,
            });
        }
        Ok(files)
    }
}

fn approx_event_bytes(e: &AccessEvent) -> usize {
    let s = |o: &Option<String>| o.as_ref().map_or(0, String::len);
    // Fixed-width columns and offsets, plus the strings themselves.
    120 + e.event_id.len()
        + s(&e.consumer)
        + s(&e.consumer_name)
        + s(&e.api_key_id)
        + s(&e.api)
        + s(&e.route)
        + s(&e.path_template)
        + s(&e.method)
        + s(&e.path)
        + s(&e.query)
        + s(&e.client_ip)
}

/// Writes one record batch as a complete Parquet file in memory. Columns
/// in `no_dictionary` are high-cardinality and skip dictionary encoding.
pub fn write_parquet(
    batch: &RecordBatch,
    opts: &ParquetOptions,
    no_dictionary: &[&str],
) -> Result<bytes::Bytes, parquet::errors::ParquetError> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(opts.zstd_level)?))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
        .set_created_by(format!("tollgate {}", env!("CARGO_PKG_VERSION")));
    for c in no_dictionary {
        props = props.set_column_dictionary_enabled((*c).into(), false);
    }
    // Timestamps and positions rise almost monotonically: delta encoding
    // stores the small differences (measured: about 2 bytes per event saved
    // on each of ts and source_line against dictionary + ZSTD). Latencies
    // stay dictionary-encoded: gateways log them rounded, so values repeat
    // (byte-stream-split measured 1.3 bytes per event worse each). Event ids
    // are random and all the same length: delta-length encoding stores the
    // lengths as near-zero deltas instead of a 4-byte prefix per id
    // (measured with ZSTD 1: 16.06 against 17.47 bytes per event).
    let schema = batch.schema();
    for (name, encoding) in [
        ("ts", Encoding::DELTA_BINARY_PACKED),
        ("kafka_offset", Encoding::DELTA_BINARY_PACKED),
        ("source_line", Encoding::DELTA_BINARY_PACKED),
        ("ingested_at", Encoding::DELTA_BINARY_PACKED),
        ("event_id", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ] {
        if schema.column_with_name(name).is_some() {
            let col = ColumnPath::from(name);
            props = props
                .set_column_dictionary_enabled(col.clone(), false)
                .set_column_encoding(col, encoding);
        }
    }
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4);
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props.build()))?;
    w.write(batch)?;
    w.close()?;
    Ok(bytes::Bytes::from(buf))
}
