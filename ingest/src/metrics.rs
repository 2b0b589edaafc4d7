//! Ingest counters in the Prometheus text format, served by `tollgate
//! serve` later and written to a file by headless runs
//! (`ingest.metrics_file`, for the node-exporter textfile collector).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::sink::FlushStats;

/// The labels of one lag gauge: a partition this member owns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

/// Process-wide ingest counters. Monotonic; cheap to update from any thread.
///
/// The metric handles share their values with the registry (they are
/// reference-counted), so updating a field updates what [`Metrics::render`]
/// encodes.
#[derive(Debug)]
pub struct Metrics {
    messages: Counter,
    message_bytes: Counter,
    events_decoded: Counter,
    rejects_decoded: Counter,
    events_written: Counter,
    rejects_written: Counter,
    files_written: Counter,
    bytes_written: Counter,
    flushes: Counter,
    /// Seconds, summed over flushes.
    flush_seconds: Counter<f64, AtomicU64>,
    /// Messages not yet consumed, per owned (topic, partition).
    lag: Family<PartitionLabels, Gauge>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            messages: Counter::default(),
            message_bytes: Counter::default(),
            events_decoded: Counter::default(),
            rejects_decoded: Counter::default(),
            events_written: Counter::default(),
            rejects_written: Counter::default(),
            files_written: Counter::default(),
            bytes_written: Counter::default(),
            flushes: Counter::default(),
            flush_seconds: Counter::default(),
            lag: Family::default(),
            registry: Registry::default(),
        };
        // Counter names are registered without `_total`: the encoder adds it
        // to the sample (OpenMetrics), so the samples keep their names. The
        // encoder also ends each help text with a period.
        let r = &mut m.registry;
        r.register(
            "tollgate_ingest_messages",
            "Messages consumed",
            m.messages.clone(),
        );
        r.register(
            "tollgate_ingest_message_bytes",
            "Payload bytes consumed",
            m.message_bytes.clone(),
        );
        r.register(
            "tollgate_ingest_events_decoded",
            "Events decoded (not yet durable)",
            m.events_decoded.clone(),
        );
        r.register(
            "tollgate_ingest_rejects_decoded",
            "Rejects decoded (not yet durable)",
            m.rejects_decoded.clone(),
        );
        r.register(
            "tollgate_ingest_events_written",
            "Events committed to the lake",
            m.events_written.clone(),
        );
        r.register(
            "tollgate_ingest_quarantined",
            "Rejects committed to quarantine",
            m.rejects_written.clone(),
        );
        r.register(
            "tollgate_ingest_files_written",
            "Parquet files written",
            m.files_written.clone(),
        );
        r.register(
            "tollgate_ingest_bytes_written",
            "Parquet bytes written",
            m.bytes_written.clone(),
        );
        r.register(
            "tollgate_ingest_flushes",
            "Flushes committed",
            m.flushes.clone(),
        );
        r.register_with_unit(
            "tollgate_ingest_flush",
            "Time spent flushing",
            Unit::Seconds,
            m.flush_seconds.clone(),
        );
        r.register(
            "tollgate_ingest_lag_messages",
            "Messages in Kafka not yet consumed, per owned partition",
            m.lag.clone(),
        );
        m
    }
}

impl Metrics {
    /// Counts consumed messages and what they decoded to.
    pub fn consumed(&self, messages: u64, bytes: u64, events: u64, rejects: u64) {
        self.messages.inc_by(messages);
        self.message_bytes.inc_by(bytes);
        self.events_decoded.inc_by(events);
        self.rejects_decoded.inc_by(rejects);
    }

    /// Counts one committed flush.
    pub fn flushed(&self, stats: &FlushStats, took: Duration) {
        self.events_written.inc_by(stats.events);
        self.rejects_written.inc_by(stats.rejects);
        self.files_written.inc_by(stats.files as u64);
        self.bytes_written.inc_by(stats.bytes);
        self.flushes.inc();
        self.flush_seconds.inc_by(took.as_secs_f64());
    }

    /// Messages consumed so far (read from Kafka, not necessarily durable yet).
    pub fn messages_consumed(&self) -> u64 {
        self.messages.get()
    }

    /// Replaces the lag gauges with `lag` (the partitions this process owns).
    pub fn set_lag(&self, lag: BTreeMap<(String, i32), i64>) {
        // A partition handed to another member must disappear, not keep its
        // last value.
        self.lag.clear();
        for ((topic, partition), l) in lag {
            self.lag
                .get_or_create(&PartitionLabels { topic, partition })
                .set(l);
        }
    }

    /// The counters in the Prometheus text exposition format, without the
    /// OpenMetrics `# EOF` line, so the dashboard can append it to its own.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        out
    }

    /// Writes [`Metrics::render`] to `path` atomically (temp file + rename),
    /// logging rather than failing: metrics must never stop ingest.
    pub fn write_file(&self, path: &str) {
        let tmp = format!("{path}.tmp");
        let res = std::fs::write(&tmp, self.render()).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = res {
            tracing::warn!(path, error = %e, "cannot write metrics file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.consumed(3, 300, 2, 1);
        m.flushed(
            &FlushStats {
                files: 2,
                bytes: 1000,
                events: 2,
                rejects: 1,
            },
            Duration::from_millis(1500),
        );
        let text = m.render();
        assert!(text.contains("tollgate_ingest_messages_total 3\n"));
        assert!(text.contains("tollgate_ingest_quarantined_total 1\n"));
        assert!(text.contains("tollgate_ingest_flush_seconds_total 1.5\n"));
        assert!(text.contains("# TYPE tollgate_ingest_events_written counter\n"));
        assert!(
            text.contains("# HELP tollgate_ingest_quarantined Rejects committed to quarantine.\n")
        );
        m.set_lag([(("gw".to_string(), 3), 42)].into_iter().collect());
        assert!(
            m.render()
                .contains("tollgate_ingest_lag_messages{topic=\"gw\",partition=\"3\"} 42\n")
        );
        // A partition no longer owned loses its gauge.
        m.set_lag([(("gw".to_string(), 4), 7)].into_iter().collect());
        let text = m.render();
        assert!(!text.contains("partition=\"3\""));
        assert!(text.contains("tollgate_ingest_lag_messages{topic=\"gw\",partition=\"4\"} 7\n"));
    }
}
