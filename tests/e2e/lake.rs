//! Reads a lake back the way any Parquet reader would, for the oracles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One row's identity: (topic, partition, offset, batch index).
pub type Key = (String, i32, i64, Option<i32>);

/// What the lake holds.
#[derive(Debug, Default)]
pub struct LakeRows {
    /// Event rows: key → event_id. A duplicate key is recorded in `dup_keys`.
    pub events: BTreeMap<Key, String>,
    /// Quarantine rows: key → reason code.
    pub quarantine: BTreeMap<Key, String>,
    /// Keys seen more than once (in either table, or in both).
    pub dup_keys: Vec<Key>,
    /// Every Parquet file read.
    pub files: Vec<PathBuf>,
}

/// Every file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{} is not readable Parquet: {e}", path.display()))
        .build()
        .unwrap();
    reader.map(|b| b.unwrap()).collect()
}

fn keys(batch: &RecordBatch) -> Vec<Key> {
    let topic = batch
        .column_by_name("kafka_topic")
        .unwrap()
        .as_string::<i32>();
    let part = batch
        .column_by_name("kafka_partition")
        .unwrap()
        .as_primitive::<Int32Type>();
    let off = batch
        .column_by_name("kafka_offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    let idx = batch
        .column_by_name("batch_index")
        .unwrap()
        .as_primitive::<Int32Type>();
    (0..batch.num_rows())
        .map(|i| {
            (
                topic.value(i).to_string(),
                part.value(i),
                off.value(i),
                (!idx.is_null(i)).then(|| idx.value(i)),
            )
        })
        .collect()
}

/// Reads every `.parquet` file under `events/` and `quarantine/`.
pub fn read_lake(lake: &Path) -> LakeRows {
    let mut rows = LakeRows::default();
    let mut seen = std::collections::BTreeSet::new();
    for (table, is_events) in [("events", true), ("quarantine", false)] {
        for path in all_files(&lake.join(table)) {
            assert!(
                path.extension().is_some_and(|e| e == "parquet"),
                "a non-Parquet file is visible to readers: {}",
                path.display()
            );
            for batch in read_batches(&path) {
                let ks = keys(&batch);
                let values: Vec<String> = if is_events {
                    let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
                    (0..batch.num_rows())
                        .map(|i| ids.value(i).to_string())
                        .collect()
                } else {
                    let r = batch.column_by_name("reason").unwrap().as_string::<i32>();
                    (0..batch.num_rows())
                        .map(|i| r.value(i).to_string())
                        .collect()
                };
                for (k, v) in ks.into_iter().zip(values) {
                    // Batch elements share an offset; the index tells them
                    // apart, and a whole-message reject has none.
                    if !seen.insert(k.clone()) {
                        rows.dup_keys.push(k.clone());
                    }
                    if is_events {
                        rows.events.insert(k, v);
                    } else {
                        rows.quarantine.insert(k, v);
                    }
                }
            }
            rows.files.push(path);
        }
    }
    rows
}
