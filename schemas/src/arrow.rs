//! The Arrow schema of [`AccessEvent`] and the conversion of events to
//! Arrow record batches (which the ingestor writes as Parquet).
//!
//! Types are chosen so every engine reads them without surprises: signed
//! integers only (Spark has no unsigned types), `ts` as a UTC millisecond
//! timestamp, strings as UTF-8. Low cardinality is left to Parquet's
//! dictionary encoding rather than Arrow dictionary types.

use std::sync::Arc;

use arrow_array::builder::{
    Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::event::AccessEvent;

/// Column names, in schema order. The same names as the JSON keys.
pub mod col {
    #![allow(missing_docs)]
    pub const EVENT_ID: &str = "event_id";
    pub const TS: &str = "ts";
    pub const GATEWAY: &str = "gateway";
    pub const CONSUMER: &str = "consumer";
    pub const CONSUMER_NAME: &str = "consumer_name";
    pub const API_KEY_ID: &str = "api_key_id";
    pub const API: &str = "api";
    pub const ROUTE: &str = "route";
    pub const PATH_TEMPLATE: &str = "path_template";
    pub const METHOD: &str = "method";
    pub const PATH: &str = "path";
    pub const QUERY: &str = "query";
    pub const STATUS: &str = "status";
    pub const LATENCY_MS: &str = "latency_ms";
    pub const UPSTREAM_LATENCY_MS: &str = "upstream_latency_ms";
    pub const REQUEST_BYTES: &str = "request_bytes";
    pub const RESPONSE_BYTES: &str = "response_bytes";
    pub const CLIENT_IP: &str = "client_ip";
    pub const AMOUNT: &str = "amount";
}

/// Precision and scale of `amount`: `DECIMAL(38, 9)`, exact in Arrow,
/// Parquet, DataFusion and DuckDB. Decoders refuse amounts with more
/// decimal places (see `decode::fields::opt_amount`).
pub const AMOUNT_PRECISION: u8 = 38;
/// See [`AMOUNT_PRECISION`].
pub const AMOUNT_SCALE: i8 = 9;

/// The type of `amount`.
pub fn amount_type() -> DataType {
    DataType::Decimal128(AMOUNT_PRECISION, AMOUNT_SCALE)
}

/// The timestamp type of `ts`: milliseconds, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The fields of the canonical event, in order.
pub fn event_fields() -> Vec<Field> {
    use col::*;
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    vec![
        s(EVENT_ID, false),
        Field::new(TS, ts_type(), false),
        s(GATEWAY, false),
        s(CONSUMER, true),
        s(CONSUMER_NAME, true),
        s(API_KEY_ID, true),
        s(API, true),
        s(ROUTE, true),
        s(PATH_TEMPLATE, true),
        s(METHOD, true),
        s(PATH, true),
        s(QUERY, true),
        Field::new(STATUS, DataType::Int32, true),
        Field::new(LATENCY_MS, DataType::Float64, true),
        Field::new(UPSTREAM_LATENCY_MS, DataType::Float64, true),
        Field::new(REQUEST_BYTES, DataType::Int64, true),
        Field::new(RESPONSE_BYTES, DataType::Int64, true),
        s(CLIENT_IP, true),
        // Last, so files written before it existed are the same columns
        // minus one: readers fill it with nulls.
        Field::new(AMOUNT, amount_type(), true),
    ]
}

/// The Arrow schema of the canonical event.
pub fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(event_fields()))
}

/// Column builders for a batch of events; `append` one event at a time,
/// then `finish` into a [`RecordBatch`] with [`event_schema`].
pub struct EventBatchBuilder {
    event_id: StringBuilder,
    ts: TimestampMillisecondBuilder,
    gateway: StringBuilder,
    strings: [StringBuilder; 8],
    query: StringBuilder,
    status: Int32Builder,
    latency: Float64Builder,
    upstream: Float64Builder,
    request_bytes: Int64Builder,
    response_bytes: Int64Builder,
    client_ip: StringBuilder,
    amount: Decimal128Builder,
    rows: usize,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl EventBatchBuilder {
    /// Builders sized for `rows` events.
    pub fn with_capacity(rows: usize) -> Self {
        let s = || StringBuilder::with_capacity(rows, rows * 16);
        EventBatchBuilder {
            event_id: s(),
            ts: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            gateway: s(),
            strings: std::array::from_fn(|_| s()),
            query: s(),
            status: Int32Builder::with_capacity(rows),
            latency: Float64Builder::with_capacity(rows),
            upstream: Float64Builder::with_capacity(rows),
            request_bytes: Int64Builder::with_capacity(rows),
            response_bytes: Int64Builder::with_capacity(rows),
            client_ip: s(),
            amount: Decimal128Builder::with_capacity(rows)
                .with_precision_and_scale(AMOUNT_PRECISION, AMOUNT_SCALE)
                .expect("38, 9 is a valid decimal type"),
            rows: 0,
        }
    }

    /// Events appended since the last `finish`.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no event was appended since the last `finish`.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one event.
    pub fn append(&mut self, e: &AccessEvent) {
        self.event_id.append_value(&e.event_id);
        self.ts.append_value(e.ts.0);
        self.gateway.append_value(e.gateway.as_str());
        // consumer .. path: the eight optional strings before `query`, in order.
        let opt = [
            &e.consumer,
            &e.consumer_name,
            &e.api_key_id,
            &e.api,
            &e.route,
            &e.path_template,
            &e.method,
            &e.path,
        ];
        for (b, v) in self.strings.iter_mut().zip(opt) {
            b.append_option(v.as_deref());
        }
        self.query.append_option(e.query.as_deref());
        self.status.append_option(e.status.map(i32::from));
        self.latency.append_option(e.latency_ms);
        self.upstream.append_option(e.upstream_latency_ms);
        // Byte counts above i64::MAX (8 EiB) cannot occur; saturate rather than wrap.
        self.request_bytes.append_option(
            e.request_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        );
        self.response_bytes.append_option(
            e.response_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        );
        self.client_ip.append_option(e.client_ip.as_deref());
        self.amount.append_option(e.amount.and_then(amount_units));
        self.rows += 1;
    }

    /// The columns appended so far, in schema order, leaving the builder empty.
    pub fn finish_columns(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.gateway.finish()),
        ];
        for b in self.strings.iter_mut() {
            cols.push(Arc::new(b.finish()));
        }
        cols.push(Arc::new(self.query.finish()));
        cols.push(Arc::new(self.status.finish()));
        cols.push(Arc::new(self.latency.finish()));
        cols.push(Arc::new(self.upstream.finish()));
        cols.push(Arc::new(self.request_bytes.finish()));
        cols.push(Arc::new(self.response_bytes.finish()));
        cols.push(Arc::new(self.client_ip.finish()));
        cols.push(Arc::new(
            self.amount
                .finish()
                .with_precision_and_scale(AMOUNT_PRECISION, AMOUNT_SCALE)
                .expect("38, 9 is a valid decimal type"),
        ));
        cols
    }

    /// The events appended so far as a batch with [`event_schema`].
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(event_schema(), self.finish_columns())
    }
}

/// `amount` in units of 10^-9, as the `amount` column holds it; `None`
/// for an amount with more than 9 decimal places that are not zeros,
/// which the decoders never produce.
pub fn amount_units(amount: rust_decimal::Decimal) -> Option<i128> {
    let scale = AMOUNT_SCALE as u32;
    let mut a = amount.normalize();
    if a.scale() > scale {
        return None;
    }
    a.rescale(scale);
    Some(a.mantissa())
}

/// Converts events to one record batch with [`event_schema`].
pub fn to_record_batch(events: &[AccessEvent]) -> Result<RecordBatch, ArrowError> {
    let mut b = EventBatchBuilder::with_capacity(events.len());
    for e in events {
        b.append(e);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EpochMillis, Gateway};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, TimestampMillisecondType};

    #[test]
    fn batch_matches_schema_and_values() {
        let mut e = AccessEvent::new("id-1", EpochMillis(1_718_111_045_123), Gateway::Envoy);
        e.status = Some(0);
        e.query = Some(String::new());
        e.client_ip = Some("2001:db8::1".into());
        let e2 = AccessEvent::new("id-2", EpochMillis(5), Gateway::Kong);
        let batch = to_record_batch(&[e, e2]).unwrap();
        assert_eq!(batch.schema(), event_schema());
        assert_eq!(batch.num_rows(), 2);
        let ts = batch
            .column_by_name(col::TS)
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_718_111_045_123);
        let status = batch
            .column_by_name(col::STATUS)
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(status.value(0), 0);
        assert!(status.is_null(1));
        let q = batch.column_by_name(col::QUERY).unwrap().as_string::<i32>();
        assert_eq!(q.value(0), "");
        assert!(q.is_null(1));
        let path = batch.column_by_name(col::PATH).unwrap().as_string::<i32>();
        assert!(path.is_null(0));
        let ip = batch
            .column_by_name(col::CLIENT_IP)
            .unwrap()
            .as_string::<i32>();
        assert_eq!(ip.value(0), "2001:db8::1");
        let amount = batch
            .column_by_name(col::AMOUNT)
            .unwrap()
            .as_primitive::<arrow_array::types::Decimal128Type>();
        assert!(amount.is_null(0));
    }

    #[test]
    fn amounts_are_exact_nanounits() {
        let mut e = AccessEvent::new("id-1", EpochMillis(5), Gateway::Canonical);
        e.amount = Some("12.345678901".parse().unwrap());
        let batch = to_record_batch(&[e]).unwrap();
        let amount = batch
            .column_by_name(col::AMOUNT)
            .unwrap()
            .as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(amount.value(0), 12_345_678_901);
        assert_eq!(amount.value_as_string(0), "12.345678901");
        assert_eq!(amount_units("0.5".parse().unwrap()), Some(500_000_000));
        assert_eq!(amount_units("0.0000000001".parse().unwrap()), None);
    }
}
