//! `ParquetSink`: writes flushed batches into the lake with a commit
//! protocol that makes the lake itself the record of what was ingested.
//!
//! # The protocol, per Kafka partition
//!
//! A flush of offsets `first..=last` of one partition:
//!
//! 1. writes a **pending** record, `_tollgate/pending/<topic>/<partition>.json`,
//!    naming every file the flush is about to write;
//! 2. writes the data files, one per table and date, with deterministic
//!    names `<table>/date=<YYYY-MM-DD>/<topic>-<partition>-<first>-<last>.parquet`
//!    (each durable and atomic, see [`crate::store`]);
//! 3. writes the **commit marker**, `_tollgate/offsets/<topic>/<partition>.json`,
//!    holding `next_offset = last + 1`: this single atomic write is the
//!    commit point of the whole flush, however many dates it spans;
//! 4. deletes the pending record;
//! 5. with the Delta log on ([`ParquetSink::with_delta_log`]), commits the
//!    files as one Delta version per table (see [`crate::delta`]): after
//!    the commit point, so a Delta reader never sees a file recovery may
//!    delete;
//! 6. only then is the offset committed to Kafka (by the caller).
//!
//! On assignment, [`ParquetSink::recover_partition`] finishes or undoes a
//! flush a crash interrupted: if a pending record exists and the marker does
//! not cover its range, its files are deleted (they were never committed,
//! and will be written again from Kafka); then the marker's `next_offset` is
//! where consumption resumes. A crash anywhere therefore leaves every offset
//! either committed in the lake exactly once or not at all.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tollgate_lake::layout;

use crate::batch::{EncodedFile, ParquetOptions, RowBatch};
use crate::delta::{AddFile, CommittedFlush, DeltaError, DeltaLog, partition_app_id};
use crate::store::{LakeStore, StoreError};

/// A sink failure.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The lake could not be read or written (retryable).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Parquet encoding failed (a bug: the batch was built from the schema).
    #[error("encoding parquet for {what}: {source}")]
    Parquet {
        /// Which flush.
        what: String,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// The Delta log could not be written (see [`crate::delta`]); its
    /// storage failures arrive as [`SinkError::Store`], retried like any other.
    #[error(transparent)]
    Delta(DeltaError),
    /// A bookkeeping file in the lake is not what Tollgate wrote.
    #[error(
        "lake bookkeeping file {path} is unreadable ({why}); restore it from backup or remove it to re-ingest from the group's committed offsets"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// The parse error.
        why: String,
    },
}

impl From<DeltaError> for SinkError {
    fn from(e: DeltaError) -> Self {
        match e {
            DeltaError::Store(e) => SinkError::Store(e),
            other => SinkError::Delta(other),
        }
    }
}

/// What the lake says about one partition: written by each flush, read on
/// assignment. The commit point of the flush protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitMarker {
    /// Format version of this record.
    pub version: u32,
    /// Kafka topic.
    pub topic: String,
    /// Kafka partition.
    pub partition: i32,
    /// First offset of the last committed flush.
    pub first_offset: i64,
    /// Next offset to consume: one past the last committed offset.
    pub next_offset: i64,
    /// Files written by the last flush (relative lake paths).
    pub files: Vec<String>,
    /// Messages consumed by the last flush.
    pub messages: u64,
    /// Events written by the last flush.
    pub events: u64,
    /// Rejects quarantined by the last flush.
    pub rejects: u64,
    /// Totals since the partition was first ingested into this lake.
    pub total_messages: u64,
    /// Total events.
    pub total_events: u64,
    /// Total rejects.
    pub total_rejects: u64,
    /// When the marker was written (RFC 3339).
    pub committed_at: String,
}

/// A flush in progress: what to delete if it never committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingFlush {
    /// Format version of this record.
    pub version: u32,
    /// First offset of the flush.
    pub first_offset: i64,
    /// Last offset of the flush (inclusive).
    pub last_offset: i64,
    /// Files the flush writes.
    pub files: Vec<String>,
}

/// What one flush wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Files written.
    pub files: usize,
    /// Parquet bytes written.
    pub bytes: u64,
    /// Event rows written.
    pub events: u64,
    /// Quarantine rows written.
    pub rejects: u64,
}

/// Writes batches into the lake (see the module docs for the protocol).
#[derive(Debug, Clone)]
pub struct ParquetSink {
    store: LakeStore,
    opts: ParquetOptions,
    delta: Option<DeltaLog>,
}

/// Path of a partition's commit marker.
pub fn marker_path(topic: &str, partition: i32) -> String {
    layout::offsets_marker(topic, partition)
}

/// Path of a partition's pending-flush record.
pub fn pending_path(topic: &str, partition: i32) -> String {
    layout::pending_flush(topic, partition)
}

/// The deterministic file stem of a partition's flush.
pub fn partition_stem(topic: &str, partition: i32, first: i64, last: i64) -> String {
    format!("{topic}-{partition}-{first:019}-{last:019}")
}

/// Path of a data file for a file stem (`<topic>-<partition>-<first>-<last>`).
pub fn data_path(file: &EncodedFile, stem: &str) -> String {
    layout::day_file(
        file.table.dir(),
        &file.date.format("%Y-%m-%d").to_string(),
        stem,
    )
}

impl ParquetSink {
    /// A sink writing into `store`.
    pub fn new(store: LakeStore, opts: ParquetOptions) -> Self {
        ParquetSink {
            store,
            opts,
            delta: None,
        }
    }

    /// The same sink, also writing the Delta log of `events/` and
    /// `quarantine/` when `on` (the `[lake] delta_log` setting).
    pub fn with_delta_log(mut self, on: bool) -> Self {
        self.delta = on.then(|| DeltaLog::new(self.store.clone()));
        self
    }

    /// The Delta log, when it is written.
    pub fn delta(&self) -> Option<&DeltaLog> {
        self.delta.as_ref()
    }

    /// The lake storage.
    pub fn store(&self) -> &LakeStore {
        &self.store
    }

    /// Encodes a batch on a blocking thread (CPU-bound).
    pub async fn encode(&self, batch: RowBatch, what: &str) -> Result<Vec<EncodedFile>, SinkError> {
        let opts = self.opts.clone();
        let what = what.to_string();
        tokio::task::spawn_blocking(move || {
            batch
                .encode(&opts)
                .map_err(|source| SinkError::Parquet { what, source })
        })
        .await
        .unwrap_or_else(|e| {
            Err(SinkError::Store(StoreError::Io {
                path: Default::default(),
                source: std::io::Error::other(e.to_string()),
            }))
        })
    }

    /// Reads a partition's commit marker.
    pub async fn marker(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<CommitMarker>, SinkError> {
        read_json(&self.store, &marker_path(topic, partition)).await
    }

    /// Finishes or undoes an interrupted flush of a partition and returns
    /// the offset to resume from, `None` if the lake has never committed
    /// this partition.
    pub async fn recover_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, SinkError> {
        let marker = self.marker(topic, partition).await?;
        let next = marker.as_ref().map(|m| m.next_offset);
        let pending_at = pending_path(topic, partition);
        if let Some(pending) = read_json::<PendingFlush>(&self.store, &pending_at).await? {
            let committed = next.is_some_and(|n| n > pending.last_offset);
            if !committed {
                for f in &pending.files {
                    self.store.delete(f).await?;
                }
                tracing::warn!(
                    topic,
                    partition,
                    first = pending.first_offset,
                    last = pending.last_offset,
                    files = pending.files.len(),
                    "removed the files of a flush that was interrupted before it committed; those offsets will be read again"
                );
            }
            self.store.delete(&pending_at).await?;
        }
        if let (Some(delta), Some(marker)) = (&self.delta, &marker) {
            delta
                .catch_up_partition(CommittedFlush {
                    topic,
                    partition,
                    first_offset: marker.first_offset,
                    next_offset: marker.next_offset,
                    files: &marker.files,
                })
                .await?;
        }
        Ok(next)
    }

    /// Writes one partition's encoded batch of offsets `first..=last` and
    /// commits it in the lake. Returns the new marker. Safe to retry with
    /// the same arguments: every write replaces the same paths. The caller
    /// commits `next_offset` to Kafka afterwards.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_partition(
        &self,
        topic: &str,
        partition: i32,
        first: i64,
        last: i64,
        messages: u64,
        files: &[EncodedFile],
        previous: Option<&CommitMarker>,
    ) -> Result<(CommitMarker, FlushStats), SinkError> {
        let stem = partition_stem(topic, partition, first, last);
        let named: Vec<(String, &EncodedFile)> =
            files.iter().map(|f| (data_path(f, &stem), f)).collect();
        let pending = PendingFlush {
            version: 1,
            first_offset: first,
            last_offset: last,
            files: named.iter().map(|(p, _)| p.clone()).collect(),
        };
        let pending_at = pending_path(topic, partition);
        if !pending.files.is_empty() {
            write_json(&self.store, &pending_at, &pending).await?;
        }
        let stats = self.write_files(&named).await?;
        let total = |f: fn(&CommitMarker) -> u64| previous.map_or(0, f);
        let marker = CommitMarker {
            version: 1,
            topic: topic.into(),
            partition,
            first_offset: first,
            next_offset: last + 1,
            files: pending.files.clone(),
            messages,
            events: stats.events,
            rejects: stats.rejects,
            total_messages: total(|m| m.total_messages) + messages,
            total_events: total(|m| m.total_events) + stats.events,
            total_rejects: total(|m| m.total_rejects) + stats.rejects,
            committed_at: chrono::Utc::now().to_rfc3339(),
        };
        write_json(&self.store, &marker_path(topic, partition), &marker).await?;
        if !pending.files.is_empty() {
            self.store.delete(&pending_at).await?;
        }
        if let Some(delta) = &self.delta {
            let adds: Vec<AddFile> = named
                .iter()
                .map(|(path, f)| AddFile {
                    path: path.clone(),
                    size: f.bytes.len() as u64,
                    rows: Some(f.rows as u64),
                })
                .collect();
            delta
                .commit(
                    &adds,
                    &partition_app_id(topic, partition),
                    marker.next_offset,
                )
                .await?;
        }
        Ok((marker, stats))
    }

    /// Writes encoded files at their paths, concurrently on object storage.
    pub async fn write_files(
        &self,
        named: &[(String, &EncodedFile)],
    ) -> Result<FlushStats, SinkError> {
        let mut stats = FlushStats::default();
        let puts = named
            .iter()
            .map(|(path, f)| self.store.put(path, f.bytes.clone()));
        futures::future::try_join_all(puts).await?;
        for (_, f) in named {
            stats.files += 1;
            stats.bytes += f.bytes.len() as u64;
            match f.table {
                crate::batch::Table::Events => stats.events += f.rows as u64,
                crate::batch::Table::Quarantine => stats.rejects += f.rows as u64,
            }
        }
        Ok(stats)
    }
}

/// Reads and parses a JSON bookkeeping file.
pub async fn read_json<T: for<'de> Deserialize<'de>>(
    store: &LakeStore,
    path: &str,
) -> Result<Option<T>, SinkError> {
    match store.get(path).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| SinkError::Corrupt {
                path: path.into(),
                why: e.to_string(),
            }),
    }
}

/// Writes a JSON bookkeeping file durably and atomically.
pub async fn write_json<T: Serialize>(
    store: &LakeStore,
    path: &str,
    value: &T,
) -> Result<(), SinkError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| SinkError::Corrupt {
        path: path.into(),
        why: e.to_string(),
    })?;
    store.put(path, Bytes::from(bytes)).await?;
    Ok(())
}

/// Counts files per table in a list of lake paths (for logs and tests).
pub fn count_by_table(paths: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for p in paths {
        let table = p.split('/').next().unwrap_or("");
        *m.entry(table).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::batch::Source;
    use std::sync::Arc;
    use tollgate_schemas::{AccessEvent, EpochMillis, Gateway};

    fn batch(first: i64, last: i64) -> RowBatch {
        batch_on(0, first, last)
    }

    /// Events at offsets `first..=last` of partition `partition` of topic
    /// `t`, over two dates (so a flush writes two files).
    pub(crate) fn batch_on(partition: i32, first: i64, last: i64) -> RowBatch {
        let mut b = RowBatch::new(1024);
        for offset in first..=last {
            // Two dates, so a flush writes several files.
            let ts = 1_718_064_000_000 + (offset % 2) * 86_400_000;
            let e = AccessEvent::new(format!("e{offset}"), EpochMillis(ts), Gateway::Canonical);
            let src = Source::Kafka {
                topic: Arc::from("t"),
                partition,
                offset,
                timestamp: None,
            };
            b.add_event(&e, &src, 0, 1_718_064_000_000);
        }
        b
    }

    #[test]
    fn delta_storage_failures_are_retried_like_the_lake_writes() {
        let io = || StoreError::Io {
            path: "x".into(),
            source: std::io::Error::other("timeout"),
        };
        assert!(matches!(
            SinkError::from(DeltaError::Store(io())),
            SinkError::Store(_)
        ));
        let refused = DeltaError::Refused {
            table: "events".into(),
            why: "protocol".into(),
        };
        assert!(matches!(SinkError::from(refused), SinkError::Delta(_)));
    }

    /// A flush of offsets `first..=last` of partition `partition` of topic
    /// `t` that died after writing its pending record and its data files,
    /// before its commit marker.
    pub(crate) async fn plant_interrupted_flush(
        sink: &ParquetSink,
        partition: i32,
        first: i64,
        last: i64,
    ) {
        let files = sink
            .encode(batch_on(partition, first, last), "x")
            .await
            .unwrap();
        let stem = partition_stem("t", partition, first, last);
        let named: Vec<(String, &EncodedFile)> =
            files.iter().map(|f| (data_path(f, &stem), f)).collect();
        let pending = PendingFlush {
            version: 1,
            first_offset: first,
            last_offset: last,
            files: named.iter().map(|(p, _)| p.clone()).collect(),
        };
        write_json(sink.store(), &pending_path("t", partition), &pending)
            .await
            .unwrap();
        sink.write_files(&named).await.unwrap();
    }

    async fn sink() -> (tempfile::TempDir, ParquetSink) {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        (dir, ParquetSink::new(store, ParquetOptions::default()))
    }

    #[tokio::test]
    async fn a_committed_flush_sets_the_resume_point() {
        let (_dir, sink) = sink().await;
        assert_eq!(sink.recover_partition("t", 0).await.unwrap(), None);
        let files = sink.encode(batch(0, 9), "x").await.unwrap();
        assert_eq!(files.len(), 2);
        let (m, stats) = sink
            .commit_partition("t", 0, 0, 9, 10, &files, None)
            .await
            .unwrap();
        assert_eq!((m.next_offset, stats.events, m.total_events), (10, 10, 10));
        let files = sink.encode(batch(10, 14), "x").await.unwrap();
        let (m2, _) = sink
            .commit_partition("t", 0, 10, 14, 5, &files, Some(&m))
            .await
            .unwrap();
        assert_eq!((m2.next_offset, m2.total_messages), (15, 15));
        assert_eq!(sink.recover_partition("t", 0).await.unwrap(), Some(15));
        assert!(
            sink.store()
                .list("_tollgate/pending")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_flush_interrupted_before_its_marker_is_undone() {
        let (_dir, sink) = sink().await;
        let files = sink.encode(batch(0, 9), "x").await.unwrap();
        let (m, _) = sink
            .commit_partition("t", 0, 0, 9, 10, &files, None)
            .await
            .unwrap();
        // Crash simulation: the next flush wrote its pending record and its
        // data files, then died before the marker.
        plant_interrupted_flush(&sink, 0, 10, 19).await;
        let visible = sink.store().list("events").await.unwrap();
        assert_eq!(visible.len(), 4);
        // Recovery deletes the uncommitted files and resumes after the last marker.
        assert_eq!(
            sink.recover_partition("t", 0).await.unwrap(),
            Some(m.next_offset)
        );
        let after = sink.store().list("events").await.unwrap();
        assert_eq!(after.len(), 2);
        assert!(
            after
                .iter()
                .all(|p| p.contains(&partition_stem("t", 0, 0, 9)))
        );
        assert!(
            sink.store()
                .list("_tollgate/pending")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_flush_interrupted_after_its_marker_is_kept() {
        let (_dir, sink) = sink().await;
        let files = sink.encode(batch(0, 9), "x").await.unwrap();
        let (m, _) = sink
            .commit_partition("t", 0, 0, 9, 10, &files, None)
            .await
            .unwrap();
        // Crash after the marker, before the pending record was deleted.
        let pending = PendingFlush {
            version: 1,
            first_offset: 0,
            last_offset: 9,
            files: m.files.clone(),
        };
        write_json(sink.store(), &pending_path("t", 0), &pending)
            .await
            .unwrap();
        assert_eq!(sink.recover_partition("t", 0).await.unwrap(), Some(10));
        assert_eq!(sink.store().list("events").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn corrupt_bookkeeping_is_an_error_not_a_guess() {
        let (_dir, sink) = sink().await;
        sink.store()
            .put(&marker_path("t", 0), Bytes::from_static(b"{not json"))
            .await
            .unwrap();
        let err = sink.recover_partition("t", 0).await.unwrap_err();
        assert!(err.to_string().contains("unreadable"), "{err}");
    }
}
