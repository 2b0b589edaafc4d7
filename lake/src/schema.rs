//! The Arrow schemas of the files Tollgate derives from the events: the
//! hourly rollup and the summary views. They live here, under every crate
//! that writes or reads those files, so the writer (`aggregator::rollup`)
//! and the readers (the lake's tables, any engine) agree on one
//! definition. The event and quarantine schemas are the contract's
//! (`tollgate_schemas::lake`).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Schema of a rollup file.
pub fn rollup_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
    Arc::new(Schema::new(vec![
        Field::new("hour", ts, false),
        Field::new("consumer", DataType::Utf8, true),
        Field::new("api", DataType::Utf8, true),
        Field::new("route", DataType::Utf8, true),
        Field::new("method", DataType::Utf8, true),
        Field::new("status", DataType::Int32, true),
        Field::new("gateway", DataType::Utf8, false),
        Field::new("calls", DataType::Int64, false),
        Field::new("request_bytes", DataType::Int64, false),
        Field::new("response_bytes", DataType::Int64, false),
        Field::new("latency_max", DataType::Float64, true),
        // Sketch buckets of latency_ms (see `aggregator::sketch`): parallel lists.
        Field::new("latency_keys", list(DataType::Int32), false),
        Field::new("latency_counts", list(DataType::Int64), false),
        Field::new("upstream_max", DataType::Float64, true),
        Field::new("upstream_keys", list(DataType::Int32), false),
        Field::new("upstream_counts", list(DataType::Int64), false),
    ]))
}

/// Schema of a summary file.
pub fn summary_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("view", DataType::Utf8, false),
        // Start of the hour or of the UTC day.
        Field::new("bucket", ts, false),
        Field::new("consumer", DataType::Utf8, true),
        Field::new("api", DataType::Utf8, true),
        Field::new("route", DataType::Utf8, true),
        Field::new("method", DataType::Utf8, true),
        Field::new("calls", DataType::Int64, false),
        Field::new("errors_4xx", DataType::Int64, false),
        Field::new("errors_5xx", DataType::Int64, false),
        Field::new("request_bytes", DataType::Int64, false),
        Field::new("response_bytes", DataType::Int64, false),
        // Distinct non-null consumers of the row's own group.
        Field::new("consumers", DataType::Int64, false),
        // Those consumers (views without a consumer key; see `aggregator::summary`),
        // so merged rows count distinct consumers exactly.
        Field::new("consumer_set", DataType::Binary, false),
        Field::new("latency_max", DataType::Float64, true),
        // The histogram (see `aggregator::sketch`): far cheaper to read than two lists.
        Field::new("latency", DataType::Binary, false),
        Field::new("upstream_max", DataType::Float64, true),
        Field::new("upstream", DataType::Binary, false),
    ]))
}
