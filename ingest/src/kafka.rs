//! `tollgate ingest`: a Kafka consumer-group member that writes gateway
//! access logs into the lake exactly once.
//!
//! # Stages
//!
//! `BaseConsumer::poll` → [`RawMessage`] → [`MessageDecoder`] (decode,
//! quarantine) → a per-partition [`RowBatch`] (the batcher) →
//! [`ParquetSink::flush_partition`] (written and committed in the lake) →
//! Kafka offset commit (informational, for lag tooling).
//!
//! # Where a partition resumes
//!
//! The lake, never Kafka: on assignment each partition is recovered from
//! its commit marker ([`ParquetSink::recover_partition`]) and consumption
//! starts at the marker's `next_offset`. Kafka's committed offsets are
//! written after every flush so that `kafka-consumer-groups` shows lag, but
//! they are not read back: a group reset cannot make Tollgate write an
//! event twice. A partition the lake has never seen starts at
//! `kafka.start_from` (earliest by default). `auto.offset.reset` is `error`:
//! if the lake's position has fallen out of the topic's retention, ingest
//! stops with an error rather than silently skipping data.
//!
//! # Rebalances
//!
//! Eager assignment only. On revocation the partition's unflushed buffer is
//! dropped (the next owner re-reads it from the lake's position); no offset
//! is committed for a partition after it is revoked, because flushes and
//! commits happen on the polling thread, between polls, and revocation
//! happens inside a poll.
//!
//! # Shutdown
//!
//! Stop polling → flush every partition's buffer → commit in the lake →
//! commit offsets to Kafka → leave the group → return.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Timestamp};
use tollgate_schemas::{Decoded, Format};

use crate::batch::{RowBatch, Source};
use crate::config::{IngestSettings, StartFrom};
use crate::message::{MessageDecoder, RawMessage};
use crate::metrics::Metrics;
use crate::sink::{CommitMarker, ParquetSink, SinkError};
use crate::store::LakeStore;

/// Why ingest stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The lake could not be opened, read or written.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The lake location is unusable.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Kafka refused something Tollgate cannot work around.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A partition's position is outside what the broker still holds.
    /// librdkafka does not say which partition, so every assigned one is named.
    #[error(
        "kafka: a position the lake holds is outside the topic's retained offsets ({detail}); data between them is gone from Kafka. Assigned partitions: {assigned}. Compare each partition's _tollgate/offsets/<topic>/<partition>.json with the topic's low watermark, restore the gap with `tollgate import`, then remove that marker to start from the oldest retained message"
    )]
    OutOfRange {
        /// The partitions this member owned, `topic/partition` comma-separated.
        assigned: String,
        /// What the broker said.
        detail: String,
    },
}

/// Flags that change how one run behaves.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop once the lake holds every partition of the topics up to the
    /// high watermark seen at start, whichever member of the group wrote
    /// it (backfills, scripts, tests).
    pub once: bool,
}

/// What a run did, for the caller's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Messages consumed.
    pub messages: u64,
    /// Events written.
    pub events: u64,
    /// Rejects quarantined.
    pub rejects: u64,
    /// Flushes committed.
    pub flushes: u64,
}

/// One assigned partition's state.
struct PartitionState {
    /// The lake's marker (last committed flush).
    marker: Option<CommitMarker>,
    /// Next offset expected from Kafka (one past the last consumed).
    next: Option<i64>,
    /// Unflushed rows.
    buffer: Option<Buffer>,
    /// Whether the lake's position was checked against the broker's
    /// retained offsets since assignment.
    verified: bool,
}

struct Buffer {
    first: i64,
    last: i64,
    messages: u64,
    batch: RowBatch,
    opened: Instant,
}

#[derive(Default)]
struct Shared {
    assigned: BTreeMap<(String, i32), PartitionState>,
    fatal: Option<IngestError>,
}

struct IngestContext {
    shared: Arc<Mutex<Shared>>,
    sink: ParquetSink,
    rt: tokio::runtime::Handle,
    start_from: StartFrom,
    metrics: Arc<Metrics>,
}

impl ClientContext for IngestContext {
    /// librdkafka's statistics (every `statistics.interval.ms`) carry each
    /// owned partition's consumer lag; they feed the lag gauges without any
    /// extra broker request on the polling thread.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut lag = BTreeMap::new();
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                if partition >= 0 && p.consumer_lag >= 0 {
                    lag.insert((topic.clone(), partition), p.consumer_lag);
                }
            }
        }
        self.metrics.set_lag(lag);
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let mut shared = lock(&self.shared);
                for e in tpl.elements() {
                    if let Some(state) = shared
                        .assigned
                        .remove(&(e.topic().to_string(), e.partition()))
                        && let Some(b) = state.buffer
                    {
                        tracing::info!(
                            topic = e.topic(),
                            partition = e.partition(),
                            dropped_messages = b.messages,
                            "partition revoked; its unflushed messages will be re-read by the next owner"
                        );
                    }
                }
                drop(shared);
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error; dropping the assignment");
                lock(&self.shared).assigned.clear();
                let _ = consumer.unassign();
            }
        }
    }
}

impl IngestContext {
    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let mut states = Vec::new();
        let parts: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        for (topic, partition) in parts {
            let recovered = self.rt.block_on(async {
                let next = self.sink.recover_partition(&topic, partition).await?;
                let marker = self.sink.marker(&topic, partition).await?;
                Ok::<_, SinkError>((next, marker))
            });
            let (next, marker) = match recovered {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(topic, partition, error = %e, "cannot recover partition from the lake");
                    lock(&self.shared).fatal.get_or_insert(IngestError::Sink(e));
                    let _ = consumer.unassign();
                    return;
                }
            };
            let offset = match next {
                Some(n) => Offset::Offset(n),
                None => match self.start_from {
                    StartFrom::Earliest => Offset::Beginning,
                    StartFrom::Latest => Offset::End,
                },
            };
            if let Err(e) = tpl.set_partition_offset(&topic, partition, offset) {
                tracing::error!(topic, partition, error = %e, "cannot set start offset");
            }
            tracing::info!(topic, partition, resume = ?offset, "partition assigned");
            states.push((
                (topic, partition),
                PartitionState {
                    marker,
                    next,
                    buffer: None,
                    verified: false,
                },
            ));
        }
        {
            let mut shared = lock(&self.shared);
            shared.assigned.extend(states);
        }
        if let Err(e) = consumer.assign(tpl) {
            tracing::error!(error = %e, "assign failed");
            lock(&self.shared)
                .fatal
                .get_or_insert(IngestError::Kafka(e));
        }
    }
}

/// Runs one consumer-group member until `shutdown` is set (or, with
/// `once`, until caught up). Blocks the calling thread: call it from a
/// dedicated thread (or `spawn_blocking`), passing a runtime handle for the
/// lake's I/O.
pub fn run_blocking(
    settings: &IngestSettings,
    options: &RunOptions,
    rt: tokio::runtime::Handle,
    shutdown: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<IngestReport, IngestError> {
    settings.validate()?;
    let store = LakeStore::open(&settings.lake.location)?;
    let sink =
        ParquetSink::new(store, settings.parquet_options()).with_delta_log(settings.lake.delta_log);
    let shared = Arc::new(Mutex::new(Shared::default()));
    let context = IngestContext {
        shared: shared.clone(),
        sink: sink.clone(),
        rt: rt.clone(),
        start_from: settings.kafka.start_from,
        metrics: metrics.clone(),
    };
    let mut cfg = ClientConfig::new();
    cfg.set("statistics.interval.ms", "15000");
    for (k, v) in &settings.kafka.properties {
        cfg.set(k, v);
    }
    cfg.set("bootstrap.servers", &settings.kafka.brokers)
        .set("group.id", &settings.kafka.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error");
    let consumer: BaseConsumer<IngestContext> = cfg.create_with_context(context)?;
    let topics: Vec<&str> = settings.kafka.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(
        brokers = %settings.kafka.brokers,
        group = %settings.kafka.group,
        topics = ?settings.kafka.topics,
        lake = %sink.store().describe(),
        "ingest started"
    );

    let decoder = MessageDecoder::new(
        settings.decode_options(),
        Format::Auto,
        settings.topic_formats(),
        settings.ingest.max_future_skew_secs,
        settings.ingest.horizon_days,
        settings.ingest.quarantine_raw_bytes,
    );
    let limits = &settings.ingest;
    let max_latency = Duration::from_millis(limits.max_latency_ms);
    let mut scratch = Decoded::default();
    let mut report = IngestReport::default();
    let mut topic_names: BTreeMap<String, Arc<str>> = BTreeMap::new();
    let mut buffered_bytes: usize = 0;
    // `--once`: (low, high) watermarks of every partition of the topics,
    // read once at start.
    let mut once_targets: Option<Targets> = None;
    let mut last_check = Instant::now();
    let mut last_lag = Instant::now();

    let result = loop {
        if shutdown.load(Ordering::Relaxed) {
            break Ok(());
        }
        if let Some(e) = lock(&shared).fatal.take() {
            break Err(e);
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::MessageConsumption(code)))
                if code == rdkafka::types::RDKafkaErrorCode::AutoOffsetReset
                    || code == rdkafka::types::RDKafkaErrorCode::OffsetOutOfRange =>
            {
                let assigned: Vec<String> = lock(&shared)
                    .assigned
                    .keys()
                    .map(|(t, p)| format!("{t}/{p}"))
                    .collect();
                break Err(IngestError::OutOfRange {
                    assigned: assigned.join(", "),
                    detail: code.to_string(),
                });
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "kafka error (librdkafka retries by itself)");
            }
            Some(Ok(m)) => {
                let topic = m.topic();
                let partition = m.partition();
                let offset = m.offset();
                let mut shared_g = lock(&shared);
                let Some(state) = shared_g.assigned.get_mut(&(topic.to_string(), partition)) else {
                    continue;
                };
                if state.next.is_some_and(|n| offset < n) {
                    // Below what the lake already holds: never write it twice.
                    continue;
                }
                let topic_arc = topic_names
                    .entry(topic.to_string())
                    .or_insert_with(|| Arc::from(topic))
                    .clone();
                let source = Source::Kafka {
                    topic: topic_arc,
                    partition,
                    offset,
                    timestamp: match m.timestamp() {
                        Timestamp::NotAvailable => None,
                        Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
                    },
                };
                let payload = m.payload().unwrap_or_default();
                let buffer = state.buffer.get_or_insert_with(|| Buffer {
                    first: offset,
                    last: offset,
                    messages: 0,
                    batch: RowBatch::new(decoder.raw_cap()),
                    opened: Instant::now(),
                });
                let before = buffer.batch.approx_bytes();
                let now_ms = chrono::Utc::now().timestamp_millis();
                let outcome = decoder.decode(
                    &RawMessage { source, payload },
                    now_ms,
                    &mut buffer.batch,
                    &mut scratch,
                );
                buffer.last = offset;
                buffer.messages += 1;
                state.next = Some(offset + 1);
                buffered_bytes += buffer.batch.approx_bytes() - before;
                metrics.consumed(
                    1,
                    payload.len() as u64,
                    outcome.events.into(),
                    outcome.rejects.into(),
                );
                report.messages += 1;
            }
        }

        // Flush triggers: rows or age per partition, bytes over all.
        verify_positions(&consumer, &shared)?;
        if options.once && once_targets.is_none() {
            once_targets = Some(topic_targets(&consumer, &settings.kafka.topics)?);
        }
        let due = {
            let shared_g = lock(&shared);
            let over_bytes = buffered_bytes >= limits.max_bytes;
            shared_g
                .assigned
                .iter()
                .filter(|(key, s)| {
                    s.buffer.as_ref().is_some_and(|b| {
                        over_bytes
                            || b.batch.events() + b.batch.rejects() >= limits.max_rows as u64
                            || b.opened.elapsed() >= max_latency
                            || once_targets
                                .as_ref()
                                .and_then(|t| t.get(*key))
                                .is_some_and(|(_, high)| b.last + 1 >= *high)
                    })
                })
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        };
        for key in due {
            match flush(&consumer, &shared, &sink, &rt, &key, &metrics) {
                Ok(Some((events, rejects, freed))) => {
                    report.events += events;
                    report.rejects += rejects;
                    report.flushes += 1;
                    buffered_bytes = buffered_bytes.saturating_sub(freed);
                    if let Some(path) = &limits.metrics_file {
                        metrics.write_file(path);
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        if last_lag.elapsed() >= Duration::from_secs(15) {
            // The lag gauges arrive through librdkafka's statistics.
            last_lag = Instant::now();
            if let Some(path) = &limits.metrics_file {
                metrics.write_file(path);
            }
        }
        if let Some(targets) = &once_targets
            && last_check.elapsed() >= Duration::from_millis(500)
        {
            last_check = Instant::now();
            if caught_up(&shared, &sink, &rt, targets)? {
                tracing::info!(
                    "the lake holds every partition up to the high watermarks seen at start; stopping (--once)"
                );
                break Ok(());
            }
        }
    };

    // Shutdown: flush what we hold, then leave the group.
    if result.is_ok() {
        let keys: Vec<_> = lock(&shared).assigned.keys().cloned().collect();
        for key in keys {
            if let Some((events, rejects, _)) =
                flush(&consumer, &shared, &sink, &rt, &key, &metrics)?
            {
                report.events += events;
                report.rejects += rejects;
                report.flushes += 1;
            }
        }
        if let Some(path) = &limits.metrics_file {
            metrics.write_file(path);
        }
    }
    consumer.unsubscribe();
    result.map(|()| report)
}

/// Checks each newly assigned partition's lake position against the
/// offsets the broker still holds. Below the low watermark means records
/// were deleted by retention before Tollgate read them; above the high
/// watermark means the topic was recreated. Either way consuming would
/// silently skip or misnumber data, so ingest stops with an error that
/// names the partition.
fn verify_positions(
    consumer: &BaseConsumer<IngestContext>,
    shared: &Mutex<Shared>,
) -> Result<(), IngestError> {
    let pending: Vec<((String, i32), Option<i64>)> = lock(shared)
        .assigned
        .iter()
        .filter(|(_, s)| !s.verified)
        .map(|(k, s)| (k.clone(), s.marker.as_ref().map(|m| m.next_offset)))
        .collect();
    for ((topic, partition), next) in pending {
        let (low, high) = match consumer.fetch_watermarks(
            &topic,
            partition,
            Duration::from_secs(10),
        ) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(topic, partition, error = %e, "cannot read watermarks yet; will retry");
                continue;
            }
        };
        if let Some(n) = next
            && (n < low || n > high)
        {
            return Err(IngestError::OutOfRange {
                assigned: format!("{topic}/{partition}"),
                detail: format!("the lake resumes at offset {n}, the broker holds {low}..{high}"),
            });
        }
        if let Some(s) = lock(shared).assigned.get_mut(&(topic, partition)) {
            s.verified = true;
        }
    }
    Ok(())
}

/// `--once`: (low, high) watermarks per (topic, partition).
type Targets = BTreeMap<(String, i32), (i64, i64)>;

/// `--once`: the (low, high) watermarks of every partition of `topics`.
fn topic_targets(
    consumer: &BaseConsumer<IngestContext>,
    topics: &[String],
) -> Result<Targets, IngestError> {
    let mut out = BTreeMap::new();
    for topic in topics {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
        for t in md.topics() {
            for p in t.partitions() {
                let w = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(30))?;
                tracing::info!(
                    topic,
                    partition = p.id(),
                    low = w.0,
                    high = w.1,
                    "--once target"
                );
                out.insert((topic.clone(), p.id()), w);
            }
        }
    }
    Ok(out)
}

/// `--once`: true when the lake holds every partition of the topics up to
/// its target, whichever member wrote it. Partitions this member owns are
/// read from memory; the others from their lake markers, so a member that
/// was given only some partitions (or none) waits for the rest.
fn caught_up(
    shared: &Mutex<Shared>,
    sink: &ParquetSink,
    rt: &tokio::runtime::Handle,
    targets: &Targets,
) -> Result<bool, IngestError> {
    for (key, (low, high)) in targets {
        if low >= high {
            continue;
        }
        let owned = {
            let g = lock(shared);
            g.assigned
                .get(key)
                .map(|s| (s.buffer.is_none(), s.marker.as_ref().map(|m| m.next_offset)))
        };
        let committed = match owned {
            Some((false, _)) => return Ok(false),
            Some((true, next)) => next,
            None => rt
                .block_on(sink.marker(&key.0, key.1))?
                .map(|m| m.next_offset),
        };
        if committed.is_none_or(|c| c < *high) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Flushes one partition: lake first, then the Kafka offset. Returns the
/// events and rejects written and the buffer bytes freed, or `None` when
/// the partition had nothing buffered or is no longer assigned.
fn flush(
    consumer: &BaseConsumer<IngestContext>,
    shared: &Mutex<Shared>,
    sink: &ParquetSink,
    rt: &tokio::runtime::Handle,
    key: &(String, i32),
    metrics: &Metrics,
) -> Result<Option<(u64, u64, usize)>, IngestError> {
    let (buffer, previous) = {
        let mut g = lock(shared);
        let Some(state) = g.assigned.get_mut(key) else {
            return Ok(None);
        };
        let Some(buffer) = state.buffer.take() else {
            return Ok(None);
        };
        (buffer, state.marker.clone())
    };
    let (topic, partition) = key;
    let freed = buffer.batch.approx_bytes();
    let (first, last, messages) = (buffer.first, buffer.last, buffer.messages);
    let started = Instant::now();
    let stem = crate::sink::partition_stem(topic, *partition, first, last);
    let files = rt.block_on(sink.encode(buffer.batch, &stem))?;
    let (marker, stats) = retry(rt, || {
        sink.commit_partition(
            topic,
            *partition,
            first,
            last,
            messages,
            &files,
            previous.as_ref(),
        )
    })?;
    metrics.flushed(&stats, started.elapsed());
    tracing::debug!(
        topic,
        partition,
        first,
        last,
        events = stats.events,
        rejects = stats.rejects,
        files = stats.files,
        "flushed"
    );
    let next = marker.next_offset;
    {
        let mut g = lock(shared);
        if let Some(state) = g.assigned.get_mut(key) {
            state.marker = Some(marker);
        }
    }
    let mut tpl = TopicPartitionList::new();
    if tpl
        .add_partition_offset(topic, *partition, Offset::Offset(next))
        .is_ok()
        && let Err(e) = consumer.commit(&tpl, CommitMode::Async)
    {
        // Informational only: the lake holds the truth.
        tracing::warn!(topic, partition, error = %e, "kafka offset commit failed");
    }
    Ok(Some((stats.events, stats.rejects, freed)))
}

/// Retries a lake operation with exponential backoff: storage hiccups are
/// retryable; after about a minute of failures the error is returned and
/// ingest stops (nothing is committed for the failed flush).
fn retry<T, F, Fut>(rt: &tokio::runtime::Handle, mut f: F) -> Result<T, IngestError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SinkError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match rt.block_on(f()) {
            Ok(v) => return Ok(v),
            Err(SinkError::Store(e)) if attempt < 10 => {
                tracing::warn!(error = %e, attempt, "lake write failed; retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
