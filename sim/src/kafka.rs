//! Lines to a Kafka topic: [`produce`] for a simulator, and the
//! [`Producer`] under it, which the end-to-end tests use too so that
//! "every message was acknowledged" is checked one way.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};

use crate::config::SimulateError;
use crate::output::Pacer;
use crate::simulator::Simulator;

/// Where [`produce`] sends lines.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaTarget {
    /// Bootstrap brokers, `host:port[,host:port]`.
    pub brokers: String,
    /// The topic; partitions are chosen by librdkafka (no key, as gateway
    /// log plugins send).
    pub topic: String,
    /// Lines per second of wall-clock time; `None` for as fast as the
    /// brokers take them.
    pub rate: Option<f64>,
}

/// Progress of a [`Producer`], given to [`produce`]'s callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProduceProgress {
    /// Lines handed to the producer so far.
    pub sent: u64,
    /// Lines the brokers acknowledged so far (≤ `sent`): what an ingestor
    /// can have read.
    pub delivered: u64,
    /// Lines the brokers refused so far (any is an error at the end).
    pub failed: u64,
}

/// What [`produce`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceReport {
    /// Lines sent and acknowledged.
    pub sent: u64,
    /// True when the callback stopped the run before the simulator ran out.
    pub stopped: bool,
}

/// How often [`produce`] calls its callback, in lines: often enough that a
/// caller pacing by an ingestor's progress overshoots a window by little,
/// rarely enough to cost nothing.
pub const PROGRESS_EVERY: u64 = 500;

/// The producer settings of `tollgate simulate`. Idempotence: librdkafka
/// retries without duplicating or reordering, so what the ingestor sees is
/// exactly what was simulated.
pub const SIMULATOR_SETTINGS: [(&str, &str); 3] = [
    ("enable.idempotence", "true"),
    ("linger.ms", "20"),
    ("message.timeout.ms", "120000"),
];

/// Counts delivery reports on librdkafka's thread.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.to_string());
                }
            }
        }
    }
}

/// A Kafka producer that counts what the brokers acknowledged, waits for a
/// full local queue instead of failing, and at the end reports any message
/// the brokers did not take: a caller relying on every message arriving
/// learns that it did not.
pub struct Producer {
    inner: ThreadedProducer<Deliveries>,
    brokers: String,
    sent: u64,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("brokers", &self.brokers)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// A producer for `brokers` with librdkafka `settings` (name, value).
    pub fn new(brokers: &str, settings: &[(&str, &str)]) -> Result<Producer, SimulateError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        for (k, v) in settings {
            config.set(*k, *v);
        }
        let inner = config
            .create_with_context(Deliveries::default())
            .map_err(|source| SimulateError::Kafka {
                brokers: brokers.to_string(),
                source,
            })?;
        Ok(Producer {
            inner,
            brokers: brokers.to_string(),
            sent: 0,
        })
    }

    fn kafka(&self, source: KafkaError) -> SimulateError {
        SimulateError::Kafka {
            brokers: self.brokers.clone(),
            source,
        }
    }

    /// Hands one message to the producer, to `partition` or (`None`) where
    /// librdkafka puts it; while the local queue is full, waits for the
    /// brokers to take some (they set the pace).
    pub fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        payload: &[u8],
    ) -> Result<(), SimulateError> {
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(payload);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        loop {
            match self.inner.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(self.kafka(e)),
            }
        }
        self.sent += 1;
        Ok(())
    }

    /// Messages sent, acknowledged and refused so far.
    pub fn progress(&self) -> ProduceProgress {
        let counts = self.inner.context();
        ProduceProgress {
            sent: self.sent,
            delivered: counts.delivered.load(Ordering::Relaxed),
            failed: counts.failed.load(Ordering::Relaxed),
        }
    }

    /// Waits for every acknowledgement, however long the brokers take, and
    /// returns the final counts; any message the brokers refused is an
    /// error naming `topic`.
    pub fn finish(&self, topic: &str) -> Result<ProduceProgress, SimulateError> {
        loop {
            match self.inner.flush(Duration::from_secs(10)) {
                Ok(()) => break,
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {
                    let p = self.progress();
                    tracing::info!(
                        waiting_for = p.sent - p.delivered - p.failed,
                        "waiting for the brokers to acknowledge"
                    );
                }
                Err(e) => return Err(self.kafka(e)),
            }
        }
        let last = self.progress();
        if last.failed > 0 {
            let last_error = self
                .inner
                .context()
                .last_error
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .unwrap_or_default();
            return Err(SimulateError::Delivery {
                topic: topic.to_string(),
                sent: last.sent,
                failed: last.failed,
                last_error,
            });
        }
        Ok(last)
    }
}

/// Produces `(partition, payload)` records to `topic` and waits until the
/// brokers acknowledged every one; returns how many were sent.
pub fn produce_records<'a>(
    brokers: &str,
    settings: &[(&str, &str)],
    topic: &str,
    records: impl IntoIterator<Item = (Option<i32>, &'a [u8])>,
) -> Result<u64, SimulateError> {
    let mut producer = Producer::new(brokers, settings)?;
    for (partition, payload) in records {
        producer.send(topic, partition, payload)?;
    }
    Ok(producer.finish(topic)?.sent)
}

/// Produces the simulator's remaining lines to a Kafka topic, one message
/// per line, and waits until the brokers have acknowledged every one.
///
/// `progress` is called every [`PROGRESS_EVERY`] lines and once at the
/// end; it may block (to wait for an ingestor: nothing more is sent while
/// it does) and returns `false` to stop early (the lines already sent are
/// still flushed). Any line the brokers did not acknowledge is an error.
pub fn produce(
    sim: &mut Simulator,
    target: &KafkaTarget,
    mut progress: impl FnMut(&ProduceProgress) -> bool,
) -> Result<ProduceReport, SimulateError> {
    let mut producer = Producer::new(&target.brokers, &SIMULATOR_SETTINGS)?;
    let mut buf = Vec::with_capacity(1024);
    let mut pacer = Pacer::new(target.rate);
    let mut stopped = false;
    while sim.next_into(&mut buf).is_some() {
        producer.send(&target.topic, None, &buf)?;
        let sent = producer.progress().sent;
        pacer.wait(sent, || Ok(()))?;
        if sent.is_multiple_of(PROGRESS_EVERY) && !progress(&producer.progress()) {
            stopped = true;
            break;
        }
    }
    // Acknowledgements first, then the last progress call, as before: a
    // caller's final call sees every line delivered.
    let flushed = producer.finish(&target.topic);
    let last = producer.progress();
    progress(&last);
    flushed?;
    Ok(ProduceReport {
        sent: last.sent,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GatewayMix, SimulatorConfig};
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use tollgate_schemas::EpochMillis;

    fn config(events: u64) -> SimulatorConfig {
        SimulatorConfig {
            events,
            consumers: 50,
            days: 35,
            end: EpochMillis(1_719_792_000_000),
            format: GatewayMix::Mixed,
            seed: 6,
            bad_ratio: 0.0,
            duplicate_ratio: 0.0,
        }
    }

    fn messages(bootstrap: &str, topic: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "count")
            .create()
            .unwrap();
        (0..partitions)
            .map(|p| {
                let (lo, hi) = consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .unwrap();
                hi - lo
            })
            .collect()
    }

    #[test]
    fn produce_delivers_every_line_to_a_mock_cluster() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic("sim", 2, 1).unwrap();
        let mut sim = Simulator::new(config(2000)).unwrap();
        let target = KafkaTarget {
            brokers: cluster.bootstrap_servers(),
            topic: "sim".into(),
            rate: None,
        };
        let mut calls = Vec::new();
        let report = produce(&mut sim, &target, |p| {
            calls.push(*p);
            true
        })
        .unwrap();
        assert_eq!(report.sent, 2000);
        assert!(!report.stopped);
        let last = calls.last().unwrap();
        assert_eq!((last.sent, last.delivered, last.failed), (2000, 2000, 0));
        assert_eq!(
            messages(&cluster.bootstrap_servers(), "sim", 2)
                .iter()
                .sum::<i64>(),
            2000
        );

        // A callback returning false stops the run; what was sent arrives.
        let mut sim = Simulator::new(config(5000)).unwrap();
        let report = produce(&mut sim, &target, |p| p.sent < 1000).unwrap();
        assert!(report.stopped);
        assert_eq!(report.sent, 1000);
    }

    #[test]
    fn records_go_to_the_partition_asked_for() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic("t", 3, 1).unwrap();
        let payloads: Vec<(Option<i32>, &[u8])> = vec![
            (Some(0), b"a"),
            (Some(2), b"b"),
            (Some(2), b"c"),
            (Some(2), b"d"),
        ];
        let sent = produce_records(
            &cluster.bootstrap_servers(),
            &[("acks", "all")],
            "t",
            payloads,
        )
        .unwrap();
        assert_eq!(sent, 4);
        assert_eq!(
            messages(&cluster.bootstrap_servers(), "t", 3),
            vec![1, 0, 3]
        );
    }

    #[test]
    fn a_refused_message_is_an_error_not_a_silent_loss() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        cluster.create_topic("t", 1, 1).unwrap();
        // Partition 5 does not exist: librdkafka reports the message failed.
        let err = produce_records(
            &cluster.bootstrap_servers(),
            &[("message.timeout.ms", "2000")],
            "t",
            [(Some(5), &b"x"[..])],
        )
        .unwrap_err();
        assert!(
            matches!(err, SimulateError::Delivery { failed: 1, .. }),
            "{err}"
        );
    }
}
