//! Ingest counters in the Prometheus text format, served by `tollgate
//! serve` later and written to a file by headless runs
//! (`ingest.metrics_file`, for the node-exporter textfile collector).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::sink::FlushStats;

/// Process-wide ingest counters. Monotonic; cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    messages: AtomicU64,
    message_bytes: AtomicU64,
    events_decoded: AtomicU64,
    rejects_decoded: AtomicU64,
    events_written: AtomicU64,
    rejects_written: AtomicU64,
    files_written: AtomicU64,
    bytes_written: AtomicU64,
    flushes: AtomicU64,
    flush_micros: AtomicU64,
    /// Messages not yet consumed, per owned (topic, partition).
    lag: Mutex<BTreeMap<(String, i32), i64>>,
}

impl Metrics {
    /// Counts consumed messages and what they decoded to.
    pub fn consumed(&self, messages: u64, bytes: u64, events: u64, rejects: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.message_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.events_decoded.fetch_add(events, Ordering::Relaxed);
        self.rejects_decoded.fetch_add(rejects, Ordering::Relaxed);
    }

    /// Counts one committed flush.
    pub fn flushed(&self, stats: &FlushStats, took: Duration) {
        self.events_written
            .fetch_add(stats.events, Ordering::Relaxed);
        self.rejects_written
            .fetch_add(stats.rejects, Ordering::Relaxed);
        self.files_written
            .fetch_add(stats.files as u64, Ordering::Relaxed);
        self.bytes_written.fetch_add(stats.bytes, Ordering::Relaxed);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.flush_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Messages consumed so far (read from Kafka, not necessarily durable yet).
    pub fn messages_consumed(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Replaces the lag gauges with `lag` (the partitions this process owns).
    pub fn set_lag(&self, lag: BTreeMap<(String, i32), i64>) {
        *self.lag.lock().unwrap_or_else(|p| p.into_inner()) = lag;
    }

    /// The counters in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64); 10] = [
            (
                "tollgate_ingest_messages_total",
                "Messages consumed.",
                &self.messages,
            ),
            (
                "tollgate_ingest_message_bytes_total",
                "Payload bytes consumed.",
                &self.message_bytes,
            ),
            (
                "tollgate_ingest_events_decoded_total",
                "Events decoded (not yet durable).",
                &self.events_decoded,
            ),
            (
                "tollgate_ingest_rejects_decoded_total",
                "Rejects decoded (not yet durable).",
                &self.rejects_decoded,
            ),
            (
                "tollgate_ingest_events_written_total",
                "Events committed to the lake.",
                &self.events_written,
            ),
            (
                "tollgate_ingest_quarantined_total",
                "Rejects committed to quarantine.",
                &self.rejects_written,
            ),
            (
                "tollgate_ingest_files_written_total",
                "Parquet files written.",
                &self.files_written,
            ),
            (
                "tollgate_ingest_bytes_written_total",
                "Parquet bytes written.",
                &self.bytes_written,
            ),
            (
                "tollgate_ingest_flushes_total",
                "Flushes committed.",
                &self.flushes,
            ),
            (
                "tollgate_ingest_flush_seconds_total",
                "Time spent flushing.",
                &self.flush_micros,
            ),
        ];
        let mut out = String::new();
        for (name, help, v) in rows {
            let value = v.load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            if name.ends_with("_seconds_total") {
                let _ = writeln!(out, "{name} {}", value as f64 / 1e6);
            } else {
                let _ = writeln!(out, "{name} {value}");
            }
        }
        let lag = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP tollgate_ingest_lag_messages Messages in Kafka not yet consumed, per owned partition."
        );
        let _ = writeln!(out, "# TYPE tollgate_ingest_lag_messages gauge");
        for ((topic, partition), l) in lag.iter() {
            let _ = writeln!(
                out,
                "tollgate_ingest_lag_messages{{topic=\"{topic}\",partition=\"{partition}\"}} {l}"
            );
        }
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
        assert!(text.contains("# TYPE tollgate_ingest_events_written_total counter\n"));
        m.set_lag([(("gw".to_string(), 3), 42)].into_iter().collect());
        assert!(
            m.render()
                .contains("tollgate_ingest_lag_messages{topic=\"gw\",partition=\"3\"} 42\n")
        );
    }
}
