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

/// Every file under `dir`, recursively, that a Parquet reader lists: as
/// Spark, pyarrow and Trino do, names starting with `_` or `.` are skipped
/// (the Delta log, `events/_delta_log/`, is not data).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
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

/// What delta-rs (PyPI `deltalake`, the Delta project's own Rust reader)
/// sees of a table's log: its files, lake-relative, and rows.
#[derive(Debug, serde::Deserialize)]
pub struct DeltaView {
    /// The latest version.
    pub version: i64,
    /// Live files, lake-relative, sorted.
    pub files: Vec<String>,
    /// Rows of the snapshot.
    pub rows: u64,
    /// `txn` versions asked for, by application id (`null`: none).
    pub txns: BTreeMap<String, Option<i64>>,
}

/// Reads `<lake>/<table>` as a Delta table with delta-rs; `None` when the
/// table has no log. `txns` are application ids whose `txn` to report.
pub fn delta_view(lake: &Path, table: &str, txns: &[String]) -> Option<DeltaView> {
    if !lake.join(table).join("_delta_log").is_dir() {
        return None;
    }
    let code = r#"
import json, os, sys
from deltalake import DeltaTable
lake, table, txns = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
t = DeltaTable(os.path.join(lake, table))
def rel(u):
    u = u.removeprefix("file://")
    return os.path.relpath(u, lake)
print(json.dumps({
    "version": t.version(),
    "files": sorted(rel(u) for u in t.file_uris()),
    "rows": t.to_pyarrow_dataset().count_rows(),
    "txns": {a: t.transaction_version(a) for a in txns},
}))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", code])
        .arg(lake)
        .arg(table)
        .arg(serde_json::to_string(txns).unwrap())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "delta-rs could not read {table}'s Delta log (scripts/test.sh installs deltalake): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Asserts that a lake at rest (no flush or import in flight) and its Delta
/// logs agree: delta-rs reads every Parquet file of `events/` and
/// `quarantine/` once, and nothing else.
pub fn assert_delta_matches(lake: &Path) {
    for table in ["events", "quarantine"] {
        let files: Vec<String> = all_files(&lake.join(table))
            .iter()
            .map(|p| p.strip_prefix(lake).unwrap().to_string_lossy().into_owned())
            .collect();
        let Some(view) = delta_view(lake, table, &[]) else {
            assert!(
                files.is_empty(),
                "{table} has {} files and no Delta log",
                files.len()
            );
            continue;
        };
        assert_eq!(
            view.files, files,
            "{table}: the Delta snapshot names every file once"
        );
    }
}
