//! The Delta Lake transaction log of `events/` and `quarantine/`, so that
//! Spark, Trino, Databricks, delta-rs and Polars read atomic snapshots of
//! committed data instead of a folder listing.
//!
//! # What is written
//!
//! Each table folder is also a Delta table (protocol 1/2: no table
//! features), partitioned by `date`, whose log lives in
//! `<table>/_delta_log/`. The Parquet files stay exactly where they are;
//! the log only names them. Every flush that Tollgate has committed (its
//! commit marker written, see [`crate::sink`]) becomes one Delta version
//! per table it wrote to:
//!
//! - an `add` per file (path relative to the table, its `date`
//!   partition value, size, and `numRecords` statistics);
//! - a `txn` action, `appId` `<topic>-<partition>` and `version` the
//!   flush's `next_offset` (an import: `import-<hash>`, version 1), which
//!   makes the commit idempotent: a retry that finds its `txn` already in
//!   the log commits nothing;
//! - a `commitInfo` saying Tollgate wrote it, a blind append.
//!
//! A version is written with put-if-absent (`_delta_log/<version>.json`),
//! so concurrent writers (ingest members, imports) each get their own
//! version; the loser of a race reads the versions it missed and tries
//! the next one. Every [`CHECKPOINT_INTERVAL`] versions the writer also
//! writes a classic Parquet checkpoint and `_last_checkpoint`, so readers
//! do not replay thousands of JSON files.
//!
//! # Where it sits in the commit protocol
//!
//! The Delta commit comes *after* Tollgate's own commit point (the
//! marker) and before the Kafka offset: a Delta reader sees a flush
//! completely or not at all, and never sees files that recovery may still
//! delete. It may lag by the flush in progress. A crash between the
//! marker and the Delta commit is repaired when the partition is assigned
//! again ([`DeltaLog::catch_up_partition`]), and a lake that had no log,
//! or a log that fell behind (the setting was off for a while), is
//! brought level by [`DeltaLog::sync`]: every committed file (the rule of
//! docs/LAKE.md, "Reading a consistent snapshot") that the log has never
//! named is added in one version.
//!
//! # Decision: the log is written here, not by delta-rs
//!
//! `deltalake` 1.1 resolves with Tollgate's arrow 59 and DataFusion 55,
//! but costs 73 to 97 more crates, among them a C library built with
//! cmake and a second TLS stack and HTTP client (docs/LAKE.md). The part
//! of the protocol Tollgate needs, blind appends with `txn` and
//! checkpoints, is small and fixed; the tests read every log written here
//! with delta-rs itself (PyPI `deltalake`), so its reader is the judge.
//! Tollgate never writes `remove`: nothing in `events/` is ever rewritten.
//! A file another Delta writer removed (an `OPTIMIZE`) is never added
//! again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, MapBuilder, MapFieldNames,
    StringBuilder,
};
use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use tollgate_lake::layout;

use serde::de::DeserializeOwned;

use crate::store::{LakeStore, StoreError};

/// A Delta log that cannot be read or appended to.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The lake could not be read or written (retryable).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A log file (or a bookkeeping file it is built from) does not parse.
    #[error(
        "{path} is unreadable for the Delta log ({why}); remove the table's _delta_log folder and Tollgate writes it again from the committed files, or set [lake] delta_log = false"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The log cannot take this commit.
    #[error("Delta log of {table}: {why}")]
    Refused {
        /// The table folder (or file) involved.
        table: String,
        /// What is wrong.
        why: String,
    },
}

/// A flush Tollgate has committed (its marker): what
/// [`DeltaLog::catch_up_partition`] checks the log against.
#[derive(Debug, Clone, Copy)]
pub struct CommittedFlush<'a> {
    /// Kafka topic.
    pub topic: &'a str,
    /// Kafka partition.
    pub partition: i32,
    /// The flush's first offset.
    pub first_offset: i64,
    /// One past its last offset.
    pub next_offset: i64,
    /// Its files, lake-relative.
    pub files: &'a [String],
}

/// The fields of the bookkeeping records the log is built from: a commit
/// marker's partition and position, a pending flush's or an import
/// chunk's files. Unknown fields are ignored (the records are
/// `crate::sink`'s and `crate::import`'s to define).
#[derive(Debug, serde::Deserialize)]
struct MarkerFields {
    topic: String,
    partition: i32,
    next_offset: i64,
}

#[derive(Debug, serde::Deserialize)]
struct FileList {
    files: Vec<String>,
}

async fn read_json<T: DeserializeOwned>(
    store: &LakeStore,
    path: &str,
) -> Result<Option<T>, DeltaError> {
    match store.get(path).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| DeltaError::Corrupt {
                path: path.into(),
                why: e.to_string(),
            }),
    }
}

/// Versions between two checkpoints (Delta's `delta.checkpointInterval`).
pub const CHECKPOINT_INTERVAL: u64 = 100;

/// The Delta protocol written: reader 1, writer 2, no table features.
const MIN_READER: i32 = 1;
const MIN_WRITER: i32 = 2;

/// The `txn` version of a finished import (an import commits once).
pub const IMPORT_TXN_VERSION: i64 = 1;

/// The partition column of both tables.
const PARTITION: &str = "date";

/// One data file to add to a table's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddFile {
    /// Lake-relative path (`events/date=…/….parquet`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Rows, when known (the `numRecords` statistic).
    pub rows: Option<u64>,
}

/// The Delta logs of `events/` and `quarantine/`.
#[derive(Debug, Clone)]
pub struct DeltaLog {
    tables: Arc<[DeltaTable; 2]>,
}

impl DeltaLog {
    /// The logs of the lake in `store`; nothing is read until first use.
    pub fn new(store: LakeStore) -> Self {
        let table = |root, schema: SchemaRef| DeltaTable {
            store: store.clone(),
            root,
            schema_string: delta_schema_string(&schema),
            state: tokio::sync::Mutex::new(None),
        };
        DeltaLog {
            tables: Arc::new([
                table(layout::EVENTS, tollgate_schemas::lake::lake_event_schema()),
                table(
                    layout::QUARANTINE,
                    tollgate_schemas::lake::quarantine_schema(),
                ),
            ]),
        }
    }

    /// The table a lake path belongs to.
    fn table_of(&self, path: &str) -> Option<&DeltaTable> {
        let first = path.split('/').next()?;
        self.tables.iter().find(|t| t.root == first)
    }

    /// Commits files Tollgate has already committed (its marker or import
    /// marker is written) as one Delta version per table they belong to,
    /// with the `txn` (`app_id`, `version`). Idempotent: a table whose log
    /// already holds that `txn` (or a later one) is left alone.
    pub async fn commit(
        &self,
        files: &[AddFile],
        app_id: &str,
        version: i64,
    ) -> Result<(), DeltaError> {
        let mut by_table: BTreeMap<&str, Vec<&AddFile>> = BTreeMap::new();
        for f in files {
            let table = self.table_of(&f.path).ok_or_else(|| DeltaError::Refused {
                table: f.path.clone(),
                why: "not in a table with a Delta log".into(),
            })?;
            by_table.entry(table.root).or_default().push(f);
        }
        for table in self.tables.iter() {
            if let Some(adds) = by_table.get(table.root) {
                table.commit(adds, Some((app_id, version))).await?;
            }
        }
        Ok(())
    }

    /// After a partition's assignment: makes sure the flush its marker
    /// records is in the log (a crash may have come between the marker and
    /// the Delta commit). When the log is further behind than that one
    /// flush, brings the whole table level with [`DeltaLog::sync`].
    pub async fn catch_up_partition(&self, marker: CommittedFlush<'_>) -> Result<(), DeltaError> {
        let app_id = partition_app_id(marker.topic, marker.partition);
        let mut behind = Vec::new();
        for table in self.tables.iter() {
            let files: Vec<&String> = marker
                .files
                .iter()
                .filter(|p| self.table_of(p).is_some_and(|t| t.root == table.root))
                .collect();
            if files.is_empty() {
                continue;
            }
            match table.txn(&app_id).await? {
                Some(v) if v >= marker.next_offset => {}
                Some(v) if v >= marker.first_offset => behind.push((table, files)),
                _ => {
                    // More than the last flush is missing: only a full
                    // comparison with the lake can say what.
                    self.sync().await?;
                    return Ok(());
                }
            }
        }
        for (table, files) in behind {
            let sizes: HashMap<String, u64> = table
                .store
                .list_sized(table.root)
                .await?
                .into_iter()
                .collect();
            let adds: Vec<AddFile> = files
                .into_iter()
                .filter_map(|p| {
                    sizes.get(p).map(|&size| AddFile {
                        path: p.clone(),
                        size,
                        rows: None,
                    })
                })
                .collect();
            let adds: Vec<&AddFile> = adds.iter().collect();
            table
                .commit(&adds, Some((&app_id, marker.next_offset)))
                .await?;
            tracing::info!(
                table = table.root,
                topic = %marker.topic,
                partition = marker.partition,
                files = adds.len(),
                "added a committed flush the Delta log had missed"
            );
        }
        Ok(())
    }

    /// Brings both logs level with the lake: every committed file the log
    /// has never named is added in one version per table, with the `txn`
    /// of every partition's marker. Creates the logs of a lake that has
    /// none. Returns the files added per table.
    pub async fn sync(&self) -> Result<Vec<(&'static str, usize)>, DeltaError> {
        let mut out = Vec::new();
        for table in self.tables.iter() {
            out.push((table.root, table.sync().await?));
        }
        Ok(out)
    }

    /// After a skipped import (its marker exists): when no table's log has
    /// its `txn`, a crash came between the marker and the Delta commit, and
    /// [`DeltaLog::sync`] adds its files.
    pub async fn ensure_import(&self, hash: &str) -> Result<(), DeltaError> {
        let app_id = import_app_id(hash);
        for table in self.tables.iter() {
            if table.txn(&app_id).await?.is_some() {
                return Ok(());
            }
        }
        self.sync().await?;
        Ok(())
    }

    /// The table folders and their current versions (`None`: no log yet).
    pub async fn versions(&self) -> Result<Vec<(&'static str, Option<u64>)>, DeltaError> {
        let mut out = Vec::new();
        for table in self.tables.iter() {
            let mut state = table.state.lock().await;
            table.ensure_loaded(&mut state).await?;
            out.push((table.root, state.as_ref().and_then(|s| s.version)));
        }
        Ok(out)
    }
}

/// The `txn` application id of a Kafka partition's flushes.
pub fn partition_app_id(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// The `txn` application id of an import.
pub fn import_app_id(hash: &str) -> String {
    format!("import-{hash}")
}

/// One table's log and what this process knows of it.
#[derive(Debug)]
struct DeltaTable {
    store: LakeStore,
    /// The table folder, lake-relative (`events`).
    root: &'static str,
    /// Its Delta schema (`schemaString`): the files' columns and `date`.
    schema_string: String,
    /// `None` until first read from the lake.
    state: tokio::sync::Mutex<Option<LogState>>,
}

/// The part of a log's state a writer needs: the latest version, the
/// `txn` versions and the table's metadata.
#[derive(Debug, Clone, Default)]
struct LogState {
    /// The latest version read or written; `None` when there is no log.
    version: Option<u64>,
    txns: HashMap<String, i64>,
    meta: Option<Meta>,
}

/// A table's `metaData` action, as far as Tollgate uses it.
#[derive(Debug, Clone, PartialEq)]
struct Meta {
    id: String,
    schema_string: String,
    created_time: i64,
}

/// The live files of a log, for checkpoints and [`DeltaLog::sync`].
#[derive(Debug, Default)]
struct Files {
    /// Live `add`s by path (relative to the table).
    live: BTreeMap<String, AddEntry>,
    /// Every path ever named by an `add` or `remove`.
    known: HashSet<String>,
}

#[derive(Debug, Clone)]
struct AddEntry {
    size: i64,
    modification_time: i64,
    stats: Option<String>,
}

impl DeltaTable {
    fn log_dir(&self) -> String {
        format!("{}/_delta_log/", self.root)
    }

    fn commit_path(&self, version: u64) -> String {
        format!("{}{version:020}.json", self.log_dir())
    }

    fn checkpoint_path(&self, version: u64) -> String {
        format!("{}{version:020}.checkpoint.parquet", self.log_dir())
    }

    fn last_checkpoint_path(&self) -> String {
        format!("{}_last_checkpoint", self.log_dir())
    }

    /// Reads the log once per process: the last checkpoint, then every
    /// version after it.
    async fn ensure_loaded(&self, state: &mut Option<LogState>) -> Result<(), DeltaError> {
        if state.is_some() {
            return Ok(());
        }
        let mut s = LogState::default();
        if let Some(cp) = self.read_last_checkpoint().await? {
            let (files, cp_state) = self.read_checkpoint(cp).await?;
            drop(files);
            s = cp_state;
        }
        self.read_new_versions(&mut s, None).await?;
        *state = Some(s);
        Ok(())
    }

    /// Applies every version after `s.version` that exists, in order; with
    /// `files`, also their `add`s and `remove`s.
    async fn read_new_versions(
        &self,
        s: &mut LogState,
        mut files: Option<&mut Files>,
    ) -> Result<(), DeltaError> {
        loop {
            let next = s.version.map_or(0, |v| v + 1);
            let path = self.commit_path(next);
            let Some(bytes) = self.store.get(&path).await? else {
                return Ok(());
            };
            for line in bytes.split(|b| *b == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let action: Value =
                    serde_json::from_slice(line).map_err(|e| DeltaError::Corrupt {
                        path: path.clone(),
                        why: e.to_string(),
                    })?;
                self.apply(&path, &action, s, files.as_deref_mut())?;
            }
            s.version = Some(next);
        }
    }

    fn apply(
        &self,
        path: &str,
        action: &Value,
        s: &mut LogState,
        files: Option<&mut Files>,
    ) -> Result<(), DeltaError> {
        let corrupt = |why: &str| DeltaError::Corrupt {
            path: path.into(),
            why: why.into(),
        };
        if let Some(p) = action.get("protocol") {
            let reader = p.get("minReaderVersion").and_then(Value::as_i64);
            let writer = p.get("minWriterVersion").and_then(Value::as_i64);
            check_protocol(self.root, reader, writer)?;
        } else if let Some(t) = action.get("txn") {
            let app = t.get("appId").and_then(Value::as_str);
            let version = t.get("version").and_then(Value::as_i64);
            let (Some(app), Some(version)) = (app, version) else {
                return Err(corrupt("a txn action without appId or version"));
            };
            s.txns.insert(app.to_string(), version);
        } else if let Some(m) = action.get("metaData") {
            s.meta = Some(Meta {
                id: m.get("id").and_then(Value::as_str).unwrap_or("").into(),
                schema_string: m
                    .get("schemaString")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                created_time: m.get("createdTime").and_then(Value::as_i64).unwrap_or(0),
            });
        } else if let Some(files) = files {
            if let Some(a) = action.get("add") {
                let Some(p) = a.get("path").and_then(Value::as_str) else {
                    return Err(corrupt("an add action without a path"));
                };
                let p = decode_path(p);
                files.known.insert(p.clone());
                files.live.insert(
                    p,
                    AddEntry {
                        size: a.get("size").and_then(Value::as_i64).unwrap_or(0),
                        modification_time: a
                            .get("modificationTime")
                            .and_then(Value::as_i64)
                            .unwrap_or(0),
                        stats: a.get("stats").and_then(Value::as_str).map(String::from),
                    },
                );
            } else if let Some(p) = action
                .get("remove")
                .and_then(|r| r.get("path"))
                .and_then(Value::as_str)
            {
                let p = decode_path(p);
                files.live.remove(&p);
                files.known.insert(p);
            }
        }
        Ok(())
    }

    async fn read_last_checkpoint(&self) -> Result<Option<u64>, DeltaError> {
        let path = self.last_checkpoint_path();
        let Some(v) = read_json::<Value>(&self.store, &path).await? else {
            return Ok(None);
        };
        Ok(v.get("version").and_then(Value::as_u64))
    }

    /// Reads a classic single-file checkpoint: the live files and the state
    /// at its version.
    async fn read_checkpoint(&self, version: u64) -> Result<(Files, LogState), DeltaError> {
        let path = self.checkpoint_path(version);
        let corrupt = |why: String| DeltaError::Corrupt {
            path: path.clone(),
            why,
        };
        let bytes = self
            .store
            .get(&path)
            .await?
            .ok_or_else(|| corrupt("named by _last_checkpoint but missing".into()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(|e| corrupt(e.to_string()))?;
        let mut files = Files::default();
        let mut s = LogState {
            version: Some(version),
            ..LogState::default()
        };
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(e.to_string()))?;
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<StructArray>())
            };
            if let Some(p) = column("protocol") {
                let reader = child::<Int32Array>(p, "minReaderVersion");
                let writer = child::<Int32Array>(p, "minWriterVersion");
                for row in 0..p.len() {
                    if p.is_valid(row) {
                        check_protocol(
                            self.root,
                            reader.map(|a| i64::from(a.value(row))),
                            writer.map(|a| i64::from(a.value(row))),
                        )?;
                    }
                }
            }
            if let Some(t) = column("txn") {
                let (Some(app), Some(v)) = (
                    child::<StringArray>(t, "appId"),
                    child::<Int64Array>(t, "version"),
                ) else {
                    return Err(corrupt("txn without appId or version".into()));
                };
                for row in 0..t.len() {
                    if t.is_valid(row) {
                        s.txns.insert(app.value(row).to_string(), v.value(row));
                    }
                }
            }
            if let Some(m) = column("metaData") {
                let id = child::<StringArray>(m, "id");
                let schema = child::<StringArray>(m, "schemaString");
                let created = child::<Int64Array>(m, "createdTime");
                for row in 0..m.len() {
                    if m.is_valid(row) {
                        s.meta = Some(Meta {
                            id: id.map(|a| a.value(row).to_string()).unwrap_or_default(),
                            schema_string: schema
                                .map(|a| a.value(row).to_string())
                                .unwrap_or_default(),
                            created_time: created
                                .filter(|a| a.is_valid(row))
                                .map_or(0, |a| a.value(row)),
                        });
                    }
                }
            }
            if let Some(a) = column("add") {
                let Some(paths) = child::<StringArray>(a, "path") else {
                    return Err(corrupt("add without path".into()));
                };
                let sizes = child::<Int64Array>(a, "size");
                let times = child::<Int64Array>(a, "modificationTime");
                let stats = child::<StringArray>(a, "stats");
                for row in 0..a.len() {
                    if a.is_valid(row) {
                        let p = decode_path(paths.value(row));
                        files.known.insert(p.clone());
                        files.live.insert(
                            p,
                            AddEntry {
                                size: sizes.map_or(0, |x| x.value(row)),
                                modification_time: times.map_or(0, |x| x.value(row)),
                                stats: stats
                                    .filter(|x| x.is_valid(row))
                                    .map(|x| x.value(row).to_string()),
                            },
                        );
                    }
                }
            }
        }
        Ok((files, s))
    }

    /// Every live file of the log and its state, read from the latest
    /// checkpoint and the versions after it.
    async fn read_files(&self) -> Result<(Files, LogState), DeltaError> {
        let (mut files, mut s) = match self.read_last_checkpoint().await? {
            Some(cp) => self.read_checkpoint(cp).await?,
            None => (Files::default(), LogState::default()),
        };
        self.read_new_versions(&mut s, Some(&mut files)).await?;
        Ok((files, s))
    }

    /// The latest `txn` version of `app_id` in the log.
    async fn txn(&self, app_id: &str) -> Result<Option<i64>, DeltaError> {
        let mut state = self.state.lock().await;
        self.ensure_loaded(&mut state).await?;
        if state.as_ref().is_some_and(|s| s.version.is_none()) {
            drop(state);
            // No log yet: create it from the lake, then answer.
            self.sync().await?;
            state = self.state.lock().await;
        }
        let s = state.as_mut().expect("loaded above");
        self.read_new_versions(s, None).await?;
        Ok(s.txns.get(app_id).copied())
    }

    /// Commits `adds` (and the `txn`) as the next version.
    async fn commit(&self, adds: &[&AddFile], txn: Option<(&str, i64)>) -> Result<(), DeltaError> {
        {
            let mut state = self.state.lock().await;
            self.ensure_loaded(&mut state).await?;
            if state.as_ref().is_some_and(|s| s.version.is_none()) {
                drop(state);
                // The first commit on a lake without a log: version 0 names
                // every committed file, this flush's included (its marker is
                // already written), and every marker's txn.
                self.sync().await?;
            }
        }
        let mut state = self.state.lock().await;
        let s = state.as_mut().expect("loaded above");
        let now = chrono::Utc::now().timestamp_millis();
        let txns: Vec<(String, i64)> = txn.map(|(a, v)| (a.to_string(), v)).into_iter().collect();
        let adds: Vec<Value> = adds
            .iter()
            .map(|f| add_action(self.root, &f.path, f.size, f.rows, now))
            .collect();
        self.commit_locked(s, adds, txns, now).await
    }

    /// Writes the next version with put-if-absent, reading the versions
    /// other writers added first when it loses a race.
    async fn commit_locked(
        &self,
        s: &mut LogState,
        adds: Vec<Value>,
        txns: Vec<(String, i64)>,
        now: i64,
    ) -> Result<(), DeltaError> {
        loop {
            if !txns.is_empty()
                && txns
                    .iter()
                    .all(|(app, v)| s.txns.get(app).is_some_and(|have| have >= v))
            {
                return Ok(());
            }
            let version = s.version.map_or(0, |v| v + 1);
            let mut lines = vec![json!({"commitInfo": {
                "timestamp": now,
                "operation": if version == 0 { "CREATE TABLE" } else { "WRITE" },
                "operationParameters": {"mode": "Append"},
                "engineInfo": concat!("tollgate/", env!("CARGO_PKG_VERSION")),
                "isBlindAppend": true,
            }})];
            let schema_string = self.schema_string.clone();
            let meta_changed = s
                .meta
                .as_ref()
                .is_none_or(|m| m.schema_string != schema_string);
            let meta = meta_changed.then(|| Meta {
                id: s
                    .meta
                    .as_ref()
                    .map(|m| m.id.clone())
                    .unwrap_or_else(new_table_id),
                schema_string,
                created_time: s.meta.as_ref().map_or(now, |m| m.created_time),
            });
            if version == 0 {
                lines.push(json!({"protocol": {
                    "minReaderVersion": MIN_READER, "minWriterVersion": MIN_WRITER,
                }}));
            }
            if let Some(m) = &meta {
                lines.push(meta_action(m));
            }
            for (app, v) in &txns {
                lines.push(json!({"txn": {"appId": app, "version": v, "lastUpdated": now}}));
            }
            lines.extend(adds.iter().cloned());
            let mut body = Vec::new();
            for l in &lines {
                serde_json::to_writer(&mut body, l).map_err(|e| DeltaError::Refused {
                    table: self.root.into(),
                    why: e.to_string(),
                })?;
                body.push(b'\n');
            }
            if self
                .store
                .put_if_absent(&self.commit_path(version), Bytes::from(body))
                .await?
            {
                s.version = Some(version);
                if let Some(m) = meta {
                    s.meta = Some(m);
                }
                for (app, v) in txns {
                    s.txns.insert(app, v);
                }
                if version > 0 && version.is_multiple_of(CHECKPOINT_INTERVAL) {
                    self.write_checkpoint(version).await?;
                }
                return Ok(());
            }
            // Another writer took this version: read it (and any after it)
            // and try the next one.
            self.read_new_versions(s, None).await?;
        }
    }

    /// Adds every committed file of this table the log has never named.
    async fn sync(&self) -> Result<usize, DeltaError> {
        let mut state = self.state.lock().await;
        let (files, mut s) = self.read_files().await?;
        let committed = committed_files(&self.store, self.root).await?;
        let txns = marker_txns(&self.store).await?;
        let now = chrono::Utc::now().timestamp_millis();
        let prefix = format!("{}/", self.root);
        let missing: Vec<Value> = committed
            .iter()
            .filter(|(p, _)| {
                p.strip_prefix(&prefix)
                    .is_some_and(|rel| !files.known.contains(rel))
            })
            .map(|(p, size)| add_action(self.root, p, *size, None, now))
            .collect();
        let added = missing.len();
        let txns: Vec<(String, i64)> = txns
            .into_iter()
            .filter(|(app, v)| s.txns.get(app).is_none_or(|have| have < v))
            .collect();
        // An empty lake still gets its version 0 (the schema).
        if added > 0 || !txns.is_empty() || s.version.is_none() {
            self.commit_locked(&mut s, missing, txns, now).await?;
            if added > 0 {
                tracing::info!(
                    table = self.root,
                    files = added,
                    version = s.version,
                    "the Delta log now names every committed file"
                );
            }
        }
        *state = Some(s);
        Ok(added)
    }

    /// Writes the checkpoint of `version` (which this writer just
    /// committed) and points `_last_checkpoint` at it.
    async fn write_checkpoint(&self, version: u64) -> Result<(), DeltaError> {
        let (files, s) = self.read_files().await?;
        if s.version != Some(version) {
            // Others wrote past it meanwhile: one of them checkpoints later.
            if s.version.is_none_or(|v| v < version) {
                return Err(DeltaError::Refused {
                    table: self.root.into(),
                    why: format!("version {version} vanished before its checkpoint"),
                });
            }
        }
        let Some(meta) = s.meta.clone() else {
            return Err(DeltaError::Refused {
                table: self.root.into(),
                why: "no metaData before the checkpoint".into(),
            });
        };
        let rows = 2 + s.txns.len() + files.live.len();
        let bytes =
            checkpoint_parquet(&meta, &s.txns, &files.live).map_err(|why| DeltaError::Refused {
                table: self.root.into(),
                why,
            })?;
        self.store
            .put(&self.checkpoint_path(version), Bytes::from(bytes))
            .await?;
        let last = json!({"version": version, "size": rows});
        self.store
            .put(
                &self.last_checkpoint_path(),
                Bytes::from(last.to_string().into_bytes()),
            )
            .await?;
        tracing::debug!(table = self.root, version, rows, "wrote a Delta checkpoint");
        Ok(())
    }
}

fn check_protocol(root: &str, reader: Option<i64>, writer: Option<i64>) -> Result<(), DeltaError> {
    let (reader, writer) = (reader.unwrap_or(1), writer.unwrap_or(2));
    if reader > i64::from(MIN_READER) || writer > i64::from(MIN_WRITER) {
        return Err(DeltaError::Refused {
            table: root.into(),
            why: format!(
                "the log asks for Delta protocol {reader}/{writer}; Tollgate writes {MIN_READER}/{MIN_WRITER} and will not append to a table another writer upgraded; set [lake] delta_log = false, or move the upgraded _delta_log away so Tollgate writes a new one"
            ),
        });
    }
    Ok(())
}

fn child<'a, T: 'static>(s: &'a StructArray, name: &str) -> Option<&'a T> {
    s.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
}

/// The committed data files of a table, with sizes: its `*.parquet`
/// files under `date=` folders, less those a pending flush or an
/// unfinished import names (docs/LAKE.md, "Reading a consistent
/// snapshot"; listed first, then the records read).
async fn committed_files(store: &LakeStore, root: &str) -> Result<Vec<(String, u64)>, DeltaError> {
    let listed: Vec<(String, u64)> = store
        .list_sized(root)
        .await?
        .into_iter()
        .filter(|(p, _)| {
            p.ends_with(".parquet")
                && p.split('/')
                    .skip(1)
                    .all(|seg| !seg.starts_with('_') && !seg.starts_with('.'))
                && layout::day_of(p).is_some()
        })
        .collect();
    let mut uncommitted: HashSet<String> = HashSet::new();
    for p in store.list(layout::PENDING).await? {
        if let Some(pending) = read_json::<FileList>(store, &p).await? {
            uncommitted.extend(pending.files);
        }
    }
    let imports = store.list("_tollgate/imports/").await?;
    let markers: HashSet<&str> = imports
        .iter()
        .filter(|p| p.ends_with(".json") && p.matches('/').count() == 2)
        .map(String::as_str)
        .collect();
    for p in &imports {
        let mut parts = p.split('/');
        let (Some(_), Some(_), Some(hash), Some(_chunk)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if markers.contains(layout::import_marker(hash).as_str()) {
            continue;
        }
        if let Some(chunk) = read_json::<FileList>(store, p).await? {
            uncommitted.extend(chunk.files);
        }
    }
    Ok(listed
        .into_iter()
        .filter(|(p, _)| !uncommitted.contains(p))
        .collect())
}

/// The `txn` of every committed flush and import: (`<topic>-<partition>`,
/// the marker's `next_offset`) and (`import-<hash>`, 1).
async fn marker_txns(store: &LakeStore) -> Result<Vec<(String, i64)>, DeltaError> {
    let mut out = Vec::new();
    for p in store.list("_tollgate/offsets/").await? {
        if let Some(m) = read_json::<MarkerFields>(store, &p).await? {
            out.push((partition_app_id(&m.topic, m.partition), m.next_offset));
        }
    }
    for p in store.list("_tollgate/imports/").await? {
        let hash = p
            .strip_prefix("_tollgate/imports/")
            .and_then(|rest| rest.strip_suffix(".json"))
            .filter(|h| !h.contains('/'));
        if let Some(hash) = hash {
            out.push((import_app_id(hash), IMPORT_TXN_VERSION));
        }
    }
    Ok(out)
}

fn new_table_id() -> String {
    // A random UUID (v4) from the standard library's randomly seeded hasher;
    // the id only needs to differ between tables.
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for half in bytes.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn meta_action(m: &Meta) -> Value {
    json!({"metaData": {
        "id": m.id,
        "format": {"provider": "parquet", "options": {}},
        "schemaString": m.schema_string,
        "partitionColumns": [PARTITION],
        "configuration": {"delta.checkpointInterval": CHECKPOINT_INTERVAL.to_string()},
        "createdTime": m.created_time,
    }})
}

fn add_action(root: &str, lake_path: &str, size: u64, rows: Option<u64>, now: i64) -> Value {
    let rel = lake_path
        .strip_prefix(root)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(lake_path);
    let date = layout::day_of(lake_path).unwrap_or_default();
    let mut add = json!({
        "path": encode_path(rel),
        "partitionValues": {PARTITION: date},
        "size": size,
        "modificationTime": now,
        "dataChange": true,
    });
    if let Some(rows) = rows {
        add["stats"] = Value::String(json!({"numRecords": rows}).to_string());
    }
    json!({ "add": add })
}

/// A Delta `add.path` is a URI reference: every byte outside the
/// unreserved set, `/` and `=` is percent-encoded.
fn encode_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&c| hex(c)),
                bytes.get(i + 2).and_then(|&c| hex(c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Delta schema (`schemaString`) of a table: its file columns, then
/// the `date` partition column.
pub fn delta_schema_string(schema: &Schema) -> String {
    let mut fields: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| {
            json!({
                "name": f.name(),
                "type": delta_type(f.data_type()),
                "nullable": f.is_nullable(),
                "metadata": {},
            })
        })
        .collect();
    fields.push(json!({"name": PARTITION, "type": "string", "nullable": true, "metadata": {}}));
    json!({"type": "struct", "fields": fields}).to_string()
}

fn delta_type(t: &DataType) -> Value {
    let prim = |s: &str| Value::String(s.into());
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => prim("string"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => prim("binary"),
        DataType::Boolean => prim("boolean"),
        DataType::Int8 => prim("byte"),
        DataType::Int16 => prim("short"),
        DataType::Int32 => prim("integer"),
        DataType::Int64 => prim("long"),
        DataType::Float32 => prim("float"),
        DataType::Float64 => prim("double"),
        DataType::Date32 => prim("date"),
        // Delta's `timestamp` is an instant; Tollgate's are all UTC.
        DataType::Timestamp(_, Some(_)) => prim("timestamp"),
        DataType::Decimal128(p, s) => Value::String(format!("decimal({p},{s})")),
        DataType::Dictionary(_, v) => delta_type(v),
        other => Value::String(format!("unsupported:{other}")),
    }
}

/// A classic checkpoint: one row per action, one struct column per kind.
fn checkpoint_parquet(
    meta: &Meta,
    txns: &HashMap<String, i64>,
    live: &BTreeMap<String, AddEntry>,
) -> Result<Vec<u8>, String> {
    let rows = 2 + txns.len() + live.len();
    let str_field = |n: &str| Field::new(n, DataType::Utf8, true);
    let long_field = |n: &str| Field::new(n, DataType::Int64, true);
    let map_names = || MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    };
    let map_builder = || {
        MapBuilder::new(
            Some(map_names()),
            StringBuilder::new(),
            StringBuilder::new(),
        )
    };
    // Row order: protocol, metaData, txns, adds.
    let txn_rows: Vec<(&String, &i64)> = {
        let mut t: Vec<_> = txns.iter().collect();
        t.sort();
        t
    };
    let add_start = 2 + txn_rows.len();
    let valid =
        |from: usize, to: usize| -> Vec<bool> { (0..rows).map(|r| r >= from && r < to).collect() };

    // protocol
    let mut reader = Int32Builder::new();
    let mut writer = Int32Builder::new();
    for r in 0..rows {
        reader.append_option((r == 0).then_some(MIN_READER));
        writer.append_option((r == 0).then_some(MIN_WRITER));
    }
    let protocol = struct_array(
        vec![
            (
                Field::new("minReaderVersion", DataType::Int32, true),
                Arc::new(reader.finish()) as ArrayRef,
            ),
            (
                Field::new("minWriterVersion", DataType::Int32, true),
                Arc::new(writer.finish()),
            ),
        ],
        valid(0, 1),
    )?;

    // metaData
    let (mut id, mut schema_string, mut created) = (
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    let (mut name, mut description) = (StringBuilder::new(), StringBuilder::new());
    let mut provider = StringBuilder::new();
    let mut options = map_builder();
    let mut partition_columns = ListBuilder::new(StringBuilder::new());
    let mut configuration = map_builder();
    for r in 0..rows {
        let here = r == 1;
        id.append_option(here.then_some(&meta.id));
        schema_string.append_option(here.then_some(&meta.schema_string));
        created.append_option(here.then_some(meta.created_time));
        name.append_null();
        description.append_null();
        provider.append_option(here.then_some("parquet"));
        options.append(here).map_err(|e| e.to_string())?;
        if here {
            partition_columns.values().append_value(PARTITION);
            configuration
                .keys()
                .append_value("delta.checkpointInterval");
            configuration
                .values()
                .append_value(CHECKPOINT_INTERVAL.to_string());
        }
        partition_columns.append(here);
        configuration.append(here).map_err(|e| e.to_string())?;
    }
    let options = options.finish();
    let format = struct_array(
        vec![
            (
                str_field("provider"),
                Arc::new(provider.finish()) as ArrayRef,
            ),
            (
                Field::new("options", options.data_type().clone(), true),
                Arc::new(options),
            ),
        ],
        valid(1, 2),
    )?;
    let partition_columns = partition_columns.finish();
    let configuration = configuration.finish();
    let metadata = struct_array(
        vec![
            (str_field("id"), Arc::new(id.finish()) as ArrayRef),
            (str_field("name"), Arc::new(name.finish())),
            (str_field("description"), Arc::new(description.finish())),
            (
                Field::new("format", format.data_type().clone(), true),
                Arc::new(format),
            ),
            (str_field("schemaString"), Arc::new(schema_string.finish())),
            (
                Field::new(
                    "partitionColumns",
                    partition_columns.data_type().clone(),
                    true,
                ),
                Arc::new(partition_columns),
            ),
            (
                Field::new("configuration", configuration.data_type().clone(), true),
                Arc::new(configuration),
            ),
            (long_field("createdTime"), Arc::new(created.finish())),
        ],
        valid(1, 2),
    )?;

    // txn
    let (mut app, mut version, mut updated) = (
        StringBuilder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
    );
    let now = chrono::Utc::now().timestamp_millis();
    for r in 0..rows {
        match r.checked_sub(2).and_then(|i| txn_rows.get(i)) {
            Some((a, v)) => {
                app.append_value(a);
                version.append_value(**v);
                updated.append_value(now);
            }
            None => {
                app.append_null();
                version.append_null();
                updated.append_null();
            }
        }
    }
    let txn = struct_array(
        vec![
            (str_field("appId"), Arc::new(app.finish()) as ArrayRef),
            (long_field("version"), Arc::new(version.finish())),
            (long_field("lastUpdated"), Arc::new(updated.finish())),
        ],
        valid(2, add_start),
    )?;

    // add
    let mut path = StringBuilder::new();
    let mut partition_values = map_builder();
    let (mut size, mut mtime) = (Int64Builder::new(), Int64Builder::new());
    let mut data_change = BooleanBuilder::new();
    let mut stats = StringBuilder::new();
    let adds: Vec<(&String, &AddEntry)> = live.iter().collect();
    for r in 0..rows {
        match r.checked_sub(add_start).and_then(|i| adds.get(i)) {
            Some((p, e)) => {
                path.append_value(encode_path(p));
                partition_values.keys().append_value(PARTITION);
                partition_values
                    .values()
                    .append_value(layout::day_of(p).unwrap_or_default());
                partition_values.append(true).map_err(|e| e.to_string())?;
                size.append_value(e.size);
                mtime.append_value(e.modification_time);
                data_change.append_value(false);
                stats.append_option(e.stats.as_deref());
            }
            None => {
                path.append_null();
                partition_values.append(false).map_err(|e| e.to_string())?;
                size.append_null();
                mtime.append_null();
                data_change.append_null();
                stats.append_null();
            }
        }
    }
    let partition_values = partition_values.finish();
    let add = struct_array(
        vec![
            (str_field("path"), Arc::new(path.finish()) as ArrayRef),
            (
                Field::new(
                    "partitionValues",
                    partition_values.data_type().clone(),
                    true,
                ),
                Arc::new(partition_values),
            ),
            (long_field("size"), Arc::new(size.finish())),
            (long_field("modificationTime"), Arc::new(mtime.finish())),
            (
                Field::new("dataChange", DataType::Boolean, true),
                Arc::new(data_change.finish()),
            ),
            (str_field("stats"), Arc::new(stats.finish())),
        ],
        valid(add_start, rows),
    )?;

    // remove: never written by Tollgate, present so every reader finds
    // the column it projects.
    let mut rpath = StringBuilder::new();
    let mut deleted = Int64Builder::new();
    let mut rchange = BooleanBuilder::new();
    for _ in 0..rows {
        rpath.append_null();
        deleted.append_null();
        rchange.append_null();
    }
    let remove = struct_array(
        vec![
            (str_field("path"), Arc::new(rpath.finish()) as ArrayRef),
            (long_field("deletionTimestamp"), Arc::new(deleted.finish())),
            (
                Field::new("dataChange", DataType::Boolean, true),
                Arc::new(rchange.finish()),
            ),
        ],
        vec![false; rows],
    )?;

    let columns: Vec<(&str, StructArray)> = vec![
        ("txn", txn),
        ("add", add),
        ("remove", remove),
        ("metaData", metadata),
        ("protocol", protocol),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns
            .into_iter()
            .map(|(_, a)| Arc::new(a) as ArrayRef)
            .collect(),
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, schema, None).map_err(|e| e.to_string())?;
    w.write(&batch).map_err(|e| e.to_string())?;
    w.close().map_err(|e| e.to_string())?;
    Ok(out)
}

fn struct_array(children: Vec<(Field, ArrayRef)>, valid: Vec<bool>) -> Result<StructArray, String> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = children.into_iter().unzip();
    StructArray::try_new(
        Fields::from(fields),
        arrays,
        Some(arrow_buffer_nulls(valid)),
    )
    .map_err(|e| e.to_string())
}

fn arrow_buffer_nulls(valid: Vec<bool>) -> arrow_buffer::NullBuffer {
    arrow_buffer::NullBuffer::from(valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::ParquetOptions;
    use crate::sink::tests::{batch_on as batch, plant_interrupted_flush};
    use crate::sink::{CommitMarker, ParquetSink};

    fn sink_at(dir: &tempfile::TempDir, delta: bool) -> ParquetSink {
        let store = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        ParquetSink::new(store, ParquetOptions::default()).with_delta_log(delta)
    }

    async fn flush(sink: &ParquetSink, partition: i32, first: i64, last: i64) -> CommitMarker {
        let files = sink
            .encode(batch(partition, first, last), "x")
            .await
            .unwrap();
        let previous = sink.marker("t", partition).await.unwrap();
        sink.commit_partition(
            "t",
            partition,
            first,
            last,
            (last - first + 1) as u64,
            &files,
            previous.as_ref(),
        )
        .await
        .unwrap()
        .0
    }

    /// Each version's actions, as JSON values, in order.
    async fn versions(store: &LakeStore, table: &str) -> Vec<Vec<Value>> {
        let mut out = Vec::new();
        for v in 0.. {
            let path = format!("{table}/_delta_log/{v:020}.json");
            let Some(bytes) = store.get(&path).await.unwrap() else {
                break;
            };
            out.push(
                String::from_utf8(bytes.to_vec())
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect(),
            );
        }
        out
    }

    fn adds(version: &[Value]) -> Vec<String> {
        let mut out: Vec<String> = version
            .iter()
            .filter_map(|a| a.get("add"))
            .map(|a| a["path"].as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    }

    fn txns(version: &[Value]) -> Vec<(String, i64)> {
        version
            .iter()
            .filter_map(|a| a.get("txn"))
            .map(|t| {
                (
                    t["appId"].as_str().unwrap().to_string(),
                    t["version"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    /// The live files a fresh reader of the log finds (checkpoint and
    /// versions after it), lake-relative.
    async fn live(store: &LakeStore, table: &'static str) -> Vec<String> {
        let log = DeltaLog::new(store.clone());
        let t = log.tables.iter().find(|t| t.root == table).unwrap();
        let (files, _) = t.read_files().await.unwrap();
        files.live.keys().map(|p| format!("{table}/{p}")).collect()
    }

    async fn parquet_files(store: &LakeStore, table: &str) -> Vec<String> {
        store
            .list(table)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.ends_with(".parquet") && !p.contains("/_delta_log/"))
            .collect()
    }

    #[tokio::test]
    async fn each_flush_is_one_version_with_its_files_and_txn() {
        let dir = tempfile::tempdir().unwrap();
        let sink = sink_at(&dir, true);
        flush(&sink, 0, 0, 9).await;
        let m = flush(&sink, 0, 10, 13).await;
        let v = versions(sink.store(), "events").await;
        assert_eq!(v.len(), 2, "{v:?}");
        // Version 0: the table (protocol 1/2, the schema, partitioned by
        // date) and the first flush.
        let protocol = v[0].iter().find_map(|a| a.get("protocol")).unwrap();
        assert_eq!(protocol["minReaderVersion"], 1);
        assert_eq!(protocol["minWriterVersion"], 2);
        let meta = v[0].iter().find_map(|a| a.get("metaData")).unwrap();
        assert_eq!(meta["partitionColumns"], json!(["date"]));
        let schema: Value = serde_json::from_str(meta["schemaString"].as_str().unwrap()).unwrap();
        let names: Vec<&str> = schema["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.first(), Some(&"event_id"));
        assert_eq!(names.last(), Some(&"date"));
        assert_eq!(txns(&v[0]), vec![("t-0".to_string(), 10)]);
        // Version 1: exactly the second flush's files, with their rows.
        assert_eq!(txns(&v[1]), vec![("t-0".to_string(), 14)]);
        let second: Vec<String> = m
            .files
            .iter()
            .map(|p| p.strip_prefix("events/").unwrap().to_string())
            .collect();
        assert_eq!(adds(&v[1]), second);
        let rows: u64 = v[1]
            .iter()
            .filter_map(|a| a.get("add"))
            .map(|a| {
                let stats: Value = serde_json::from_str(a["stats"].as_str().unwrap()).unwrap();
                assert!(a["path"].as_str().unwrap().starts_with("date="));
                assert_eq!(
                    a["partitionValues"]["date"].as_str(),
                    layout::day_of(a["path"].as_str().unwrap())
                );
                stats["numRecords"].as_u64().unwrap()
            })
            .sum();
        assert_eq!(rows, 4);
        assert!(versions(sink.store(), "quarantine").await.is_empty());
        // The log names every file, and a retry of the same flush (the
        // caller's retry after a storage error) adds no version.
        assert_eq!(
            live(sink.store(), "events").await,
            parquet_files(sink.store(), "events").await
        );
        let files = sink.encode(batch(0, 10, 13), "x").await.unwrap();
        sink.commit_partition("t", 0, 10, 13, 4, &files, Some(&m))
            .await
            .unwrap();
        assert_eq!(versions(sink.store(), "events").await.len(), 2);
    }

    #[tokio::test]
    async fn a_lake_without_a_log_gets_its_committed_files_and_not_a_pending_flush() {
        let dir = tempfile::tempdir().unwrap();
        let plain = sink_at(&dir, false);
        flush(&plain, 0, 0, 9).await;
        flush(&plain, 1, 0, 5).await;
        let committed = parquet_files(plain.store(), "events").await;
        assert_eq!(committed.len(), 4);
        // A flush in flight on partition 0: pending record and files, no marker.
        plant_interrupted_flush(&plain, 0, 10, 19).await;
        // Turning the log on: the first sync names the committed files only.
        let log = DeltaLog::new(plain.store().clone());
        assert_eq!(
            log.sync().await.unwrap(),
            vec![("events", 4), ("quarantine", 0)]
        );
        assert_eq!(live(plain.store(), "events").await, committed);
        let v = versions(plain.store(), "events").await;
        let mut t = txns(&v[0]);
        t.sort();
        assert_eq!(t, vec![("t-0".into(), 10), ("t-1".into(), 6)]);
        // The empty quarantine table still has its schema.
        assert_eq!(versions(plain.store(), "quarantine").await.len(), 1);
        // A second sync finds nothing to add.
        assert_eq!(
            log.sync().await.unwrap(),
            vec![("events", 0), ("quarantine", 0)]
        );
        assert_eq!(versions(plain.store(), "events").await.len(), 1);
    }

    #[tokio::test]
    async fn a_crash_between_marker_and_delta_commit_is_caught_up_on_assignment() {
        let dir = tempfile::tempdir().unwrap();
        let with = sink_at(&dir, true);
        flush(&with, 0, 0, 9).await;
        // The next flush commits its marker, then the process dies before
        // its Delta commit (the same flush through a sink without the log).
        let m = flush(&sink_at(&dir, false), 0, 10, 19).await;
        let restarted = sink_at(&dir, true);
        assert_eq!(restarted.recover_partition("t", 0).await.unwrap(), Some(20));
        let v = versions(restarted.store(), "events").await;
        assert_eq!(v.len(), 2);
        assert_eq!(txns(&v[1]), vec![("t-0".to_string(), 20)]);
        let expected: Vec<String> = m
            .files
            .iter()
            .map(|p| p.strip_prefix("events/").unwrap().to_string())
            .collect();
        assert_eq!(adds(&v[1]), expected);
        // Assigned again: nothing more to add.
        restarted.recover_partition("t", 0).await.unwrap();
        assert_eq!(versions(restarted.store(), "events").await.len(), 2);
    }

    #[tokio::test]
    async fn writers_racing_each_get_their_own_version() {
        let dir = tempfile::tempdir().unwrap();
        // Two processes' sinks over one lake, flushing different partitions.
        let a = sink_at(&dir, true);
        let b = sink_at(&dir, true);
        flush(&a, 0, 0, 1).await;
        // Sequential per partition, partitions concurrent.
        tokio::join!(
            async {
                for i in 0..4 {
                    flush(&a, 0, 2 + 2 * i, 3 + 2 * i).await;
                }
            },
            async {
                for i in 0..4 {
                    flush(&b, 1, 2 * i, 1 + 2 * i).await;
                }
            }
        );
        let v = versions(a.store(), "events").await;
        assert_eq!(v.len(), 9, "one version per flush");
        assert_eq!(
            live(a.store(), "events").await,
            parquet_files(a.store(), "events").await
        );
        let last_txn = |app: &str| {
            v.iter()
                .flat_map(|x| txns(x))
                .filter(|(a, _)| a == app)
                .map(|(_, v)| v)
                .max()
        };
        assert_eq!(last_txn("t-0"), Some(10));
        assert_eq!(last_txn("t-1"), Some(8));
    }

    #[tokio::test]
    async fn checkpoints_hold_the_whole_state_for_a_fresh_reader() {
        let dir = tempfile::tempdir().unwrap();
        let sink = sink_at(&dir, true);
        let n = CHECKPOINT_INTERVAL as i64 + 3;
        for i in 0..n {
            flush(&sink, 0, i, i).await;
        }
        let store = sink.store();
        let last: Value = serde_json::from_slice(
            &store
                .get("events/_delta_log/_last_checkpoint")
                .await
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(last["version"], CHECKPOINT_INTERVAL);
        // 1 protocol + 1 metaData + 1 txn + 101 files.
        assert_eq!(last["size"], 3 + CHECKPOINT_INTERVAL + 1);
        // A fresh process reads the checkpoint and the versions after it.
        assert_eq!(
            live(store, "events").await,
            parquet_files(store, "events").await
        );
        let fresh = DeltaLog::new(store.clone());
        let events = &fresh.tables[0];
        let mut state = events.state.lock().await;
        events.ensure_loaded(&mut state).await.unwrap();
        let s = state.as_ref().unwrap();
        assert_eq!(s.version, Some(n as u64 - 1));
        assert_eq!(s.txns.get("t-0"), Some(&n));
        assert_eq!(
            s.meta.as_ref().unwrap().schema_string,
            delta_schema_string(&tollgate_schemas::lake::lake_event_schema())
        );
    }

    #[tokio::test]
    async fn a_log_another_writer_upgraded_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sink = sink_at(&dir, true);
        flush(&sink, 0, 0, 1).await;
        let upgrade = json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
            "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}});
        sink.store()
            .put(
                "events/_delta_log/00000000000000000001.json",
                Bytes::from(upgrade.to_string()),
            )
            .await
            .unwrap();
        let fresh = sink_at(&dir, true);
        let files = fresh.encode(batch(0, 2, 3), "x").await.unwrap();
        let m = fresh.marker("t", 0).await.unwrap();
        let e = fresh
            .commit_partition("t", 0, 2, 3, 2, &files, m.as_ref())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("protocol 3/7"), "{e}");
    }

    #[test]
    fn paths_are_percent_encoded_both_ways() {
        let p = "date=2024-06-11/my topic+x-0-1.parquet";
        let e = encode_path(p);
        assert_eq!(e, "date=2024-06-11/my%20topic%2Bx-0-1.parquet");
        assert_eq!(decode_path(&e), p);
    }
}
