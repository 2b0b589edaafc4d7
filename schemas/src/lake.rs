//! The lake's table schemas: what the Parquet files under `events/` and
//! `quarantine/` hold, beyond the canonical event itself.
//!
//! Every row carries its lineage, where it came from, so that exactly-once
//! can be checked from the lake alone and a quarantined message can be
//! replayed: `(kafka_topic, kafka_partition, kafka_offset, batch_index)` for
//! rows read from Kafka, `(source_file, source_line, batch_index)` for rows
//! imported from files. Each such key occurs at most once across `events`
//! and `quarantine` together.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::arrow::{event_fields, ts_type};

/// Lineage column names.
pub mod col {
    #![allow(missing_docs)]
    pub const KAFKA_TOPIC: &str = "kafka_topic";
    pub const KAFKA_PARTITION: &str = "kafka_partition";
    pub const KAFKA_OFFSET: &str = "kafka_offset";
    pub const SOURCE_FILE: &str = "source_file";
    pub const SOURCE_LINE: &str = "source_line";
    pub const BATCH_INDEX: &str = "batch_index";
    pub const INGESTED_AT: &str = "ingested_at";
    pub const REASON: &str = "reason";
    pub const MESSAGE: &str = "message";
    pub const RAW: &str = "raw";
    pub const RAW_LEN: &str = "raw_len";
    pub const RAW_TRUNCATED: &str = "raw_truncated";
    pub const KAFKA_TIMESTAMP: &str = "kafka_timestamp";
}

/// Where a row came from. Kafka rows set the `kafka_*` columns, imported
/// rows set `source_file` (a content hash and the file's name) and
/// `source_line` (1-based).
pub fn lineage_fields() -> Vec<Field> {
    use col::*;
    vec![
        Field::new(KAFKA_TOPIC, DataType::Utf8, true),
        Field::new(KAFKA_PARTITION, DataType::Int32, true),
        Field::new(KAFKA_OFFSET, DataType::Int64, true),
        Field::new(SOURCE_FILE, DataType::Utf8, true),
        Field::new(SOURCE_LINE, DataType::Int64, true),
        // Position inside a batch message (0 for a lone record). Null in
        // quarantine when the whole message was rejected.
        Field::new(BATCH_INDEX, DataType::Int32, true),
        Field::new(INGESTED_AT, ts_type(), false),
    ]
}

/// Schema of the `events` table: the canonical event, then lineage.
pub fn lake_event_schema() -> SchemaRef {
    let mut fields = event_fields();
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// Schema of the `quarantine` table: lineage, then why and what was rejected.
pub fn quarantine_schema() -> SchemaRef {
    use col::*;
    let mut fields = lineage_fields();
    fields.extend([
        Field::new(REASON, DataType::Utf8, false),
        Field::new(MESSAGE, DataType::Utf8, false),
        // The rejected bytes, capped (see `raw_len` and `raw_truncated`).
        Field::new(RAW, DataType::Binary, false),
        // Length of the original message in bytes.
        Field::new(RAW_LEN, DataType::Int64, false),
        Field::new(RAW_TRUNCATED, DataType::Boolean, false),
        // The Kafka message timestamp, when the broker gave one.
        Field::new(KAFKA_TIMESTAMP, ts_type(), true),
    ]);
    Arc::new(Schema::new(fields))
}
