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

/// Columns of the `invoices` table.
pub mod invoice_col {
    pub const NUMBER: &str = "number";
    pub const STATUS: &str = "status";
    pub const CONSUMER: &str = "consumer";
    pub const CURRENCY: &str = "currency";
    pub const LINE: &str = "line";
    pub const KIND: &str = "kind";
    pub const CHARGE: &str = "charge";
    pub const DESCRIPTION: &str = "description";
    pub const METRIC: &str = "metric";
    pub const PLAN: &str = "plan";
    pub const PLAN_VERSION: &str = "plan_version";
    pub const SEGMENT_FROM: &str = "segment_from";
    pub const SEGMENT_TO: &str = "segment_to";
    pub const QUANTITY: &str = "quantity";
    pub const AMOUNT: &str = "amount";
    pub const EVENTS: &str = "events";
    pub const FIRST_TS: &str = "first_ts";
    pub const LAST_TS: &str = "last_ts";
    pub const ADJUSTS_INVOICE: &str = "adjusts_invoice";
    pub const ADJUSTS_PERIOD: &str = "adjusts_period";
    pub const INVOICE_TOTAL: &str = "invoice_total";
}

/// Columns of the `wallet` table.
pub mod wallet_col {
    #![allow(missing_docs)]
    pub const STATUS: &str = "status";
    pub const CONSUMER: &str = "consumer";
    pub const GRANT_ID: &str = "grant_id";
    pub const CURRENCY: &str = "currency";
    pub const GRANT_AMOUNT: &str = "grant_amount";
    pub const PRIORITY: &str = "priority";
    pub const GRANTED: &str = "granted";
    pub const EXPIRES: &str = "expires";
    pub const CHARGES: &str = "charges";
    pub const BALANCE_BEFORE: &str = "balance_before";
    pub const BURNED: &str = "burned";
    pub const EXPIRED: &str = "expired";
    pub const BALANCE_AFTER: &str = "balance_after";
    pub const INVOICE_NUMBER: &str = "invoice_number";
}

/// Schema of the `wallet` table: one row per prepaid credit grant and
/// billing period (a wallet statement), under `wallet/period=YYYY-MM/`
/// (the partition column `period` is added by readers). A grant has a row
/// in each period from the one it was granted in until its balance is
/// gone. Amounts are exact `DECIMAL(38, 4)`.
pub fn wallet_schema() -> SchemaRef {
    use wallet_col::*;
    let money = DataType::Decimal128(38, MONEY_SCALE);
    Arc::new(Schema::new(vec![
        // draft or finalized: a draft's burns are projections.
        Field::new(STATUS, DataType::Utf8, false),
        Field::new(CONSUMER, DataType::Utf8, false),
        Field::new(GRANT_ID, DataType::Utf8, false),
        Field::new(CURRENCY, DataType::Utf8, false),
        // The grant's terms, frozen once it is used.
        Field::new(GRANT_AMOUNT, money.clone(), false),
        // Lower burns first.
        Field::new(PRIORITY, DataType::Int64, false),
        Field::new(GRANTED, DataType::Date32, false),
        // First day no longer valid (exclusive); null: never expires.
        Field::new(EXPIRES, DataType::Date32, true),
        // Comma-separated charge ids it may pay; null: the whole invoice.
        Field::new(CHARGES, DataType::Utf8, true),
        // balance_after = balance_before - burned - expired.
        Field::new(BALANCE_BEFORE, money.clone(), false),
        Field::new(BURNED, money.clone(), false),
        Field::new(EXPIRED, money.clone(), false),
        Field::new(BALANCE_AFTER, money, false),
        // The invoice that burned it, once finalized.
        Field::new(INVOICE_NUMBER, DataType::Utf8, true),
    ]))
}

/// Scale of money columns: enough for every ISO 4217 minor unit (KWD 3).
pub const MONEY_SCALE: i8 = 4;

/// Scale of the `quantity` column: an `amount` metric's sum has the
/// events' 9 decimal places (see [`crate::arrow::AMOUNT_SCALE`]).
pub const QUANTITY_SCALE: i8 = 9;

/// Schema of the `invoices` table: one row per invoice line, under
/// `invoices/period=YYYY-MM/` (the partition column `period` is added by
/// readers). Amounts are exact `DECIMAL(38, 4)`, never floats.
pub fn invoice_line_schema() -> SchemaRef {
    use invoice_col::*;
    let money = DataType::Decimal128(38, MONEY_SCALE);
    Arc::new(Schema::new(vec![
        // Null while the invoice is a draft.
        Field::new(NUMBER, DataType::Utf8, true),
        // draft or finalized.
        Field::new(STATUS, DataType::Utf8, false),
        Field::new(CONSUMER, DataType::Utf8, false),
        Field::new(CURRENCY, DataType::Utf8, false),
        // 1-based position on the invoice.
        Field::new(LINE, DataType::Int32, false),
        // base_fee, usage, minimum or adjustment.
        Field::new(KIND, DataType::Utf8, false),
        Field::new(CHARGE, DataType::Utf8, false),
        Field::new(DESCRIPTION, DataType::Utf8, false),
        Field::new(METRIC, DataType::Utf8, true),
        Field::new(PLAN, DataType::Utf8, false),
        Field::new(PLAN_VERSION, DataType::Int32, false),
        // The days the line covers: [segment_from, segment_to).
        Field::new(SEGMENT_FROM, DataType::Date32, false),
        Field::new(SEGMENT_TO, DataType::Date32, false),
        // Exact; whole for counts. `BIGINT` in files written before
        // amount metrics: readers cast those to this type.
        Field::new(QUANTITY, DataType::Decimal128(38, QUANTITY_SCALE), false),
        Field::new(AMOUNT, money.clone(), false),
        // Events behind a usage line and their time range.
        Field::new(EVENTS, DataType::Int64, true),
        Field::new(FIRST_TS, ts_type(), true),
        Field::new(LAST_TS, ts_type(), true),
        // For adjustment lines: the invoice and period they correct.
        Field::new(ADJUSTS_INVOICE, DataType::Utf8, true),
        Field::new(ADJUSTS_PERIOD, DataType::Utf8, true),
        Field::new(INVOICE_TOTAL, money, false),
    ]))
}

/// Columns of the `credit_notes` table.
pub mod credit_note_col {
    pub const NUMBER: &str = "number";
    pub const STATUS: &str = "status";
    pub const CONSUMER: &str = "consumer";
    pub const CURRENCY: &str = "currency";
    pub const LINE: &str = "line";
    pub const KIND: &str = "kind";
    pub const CHARGE: &str = "charge";
    pub const DESCRIPTION: &str = "description";
    pub const PLAN: &str = "plan";
    pub const PLAN_VERSION: &str = "plan_version";
    pub const SEGMENT_FROM: &str = "segment_from";
    pub const SEGMENT_TO: &str = "segment_to";
    pub const QUANTITY_BEFORE: &str = "quantity_before";
    pub const QUANTITY_AFTER: &str = "quantity_after";
    pub const AMOUNT_BEFORE: &str = "amount_before";
    pub const AMOUNT_AFTER: &str = "amount_after";
    pub const AMOUNT: &str = "amount";
    pub const EVENTS: &str = "events";
    pub const FIRST_TS: &str = "first_ts";
    pub const LAST_TS: &str = "last_ts";
    pub const CREDITS_INVOICE: &str = "credits_invoice";
    pub const CREDITS_PERIOD: &str = "credits_period";
    pub const NOTE_TOTAL: &str = "note_total";
}

/// Schema of the `credit_notes` table: one row per credit note line,
/// under `credit_notes/period=YYYY-MM/` (the period whose run issued the
/// note; readers add the partition column `period`). Amounts are signed
/// changes, exact `DECIMAL(38, 4)`: a note's total is negative.
pub fn credit_note_line_schema() -> SchemaRef {
    use credit_note_col::*;
    let money = DataType::Decimal128(38, MONEY_SCALE);
    Arc::new(Schema::new(vec![
        // Null while the note is a draft.
        Field::new(NUMBER, DataType::Utf8, true),
        // draft or finalized.
        Field::new(STATUS, DataType::Utf8, false),
        Field::new(CONSUMER, DataType::Utf8, false),
        Field::new(CURRENCY, DataType::Utf8, false),
        // 1-based position on the note.
        Field::new(LINE, DataType::Int32, false),
        // The corrected line's kind: base_fee, usage or minimum.
        Field::new(KIND, DataType::Utf8, false),
        Field::new(CHARGE, DataType::Utf8, false),
        Field::new(DESCRIPTION, DataType::Utf8, false),
        Field::new(PLAN, DataType::Utf8, false),
        Field::new(PLAN_VERSION, DataType::Int32, false),
        // The days of the corrected segment: [segment_from, segment_to).
        Field::new(SEGMENT_FROM, DataType::Date32, false),
        Field::new(SEGMENT_TO, DataType::Date32, false),
        // Billed so far, and what the lake holds now.
        Field::new(QUANTITY_BEFORE, DataType::Int64, false),
        Field::new(QUANTITY_AFTER, DataType::Int64, false),
        Field::new(AMOUNT_BEFORE, money.clone(), false),
        Field::new(AMOUNT_AFTER, money.clone(), false),
        // amount_after - amount_before.
        Field::new(AMOUNT, money.clone(), false),
        // Events behind quantity_after and their time range.
        Field::new(EVENTS, DataType::Int64, true),
        Field::new(FIRST_TS, ts_type(), true),
        Field::new(LAST_TS, ts_type(), true),
        // The credited invoice and its period.
        Field::new(CREDITS_INVOICE, DataType::Utf8, false),
        Field::new(CREDITS_PERIOD, DataType::Utf8, false),
        Field::new(NOTE_TOTAL, money, false),
    ]))
}
