//! Ingest configuration: the `[lake]`, `[kafka]` and `[ingest]` sections
//! of `tollgate.toml` (see `deploy/tollgate.toml` for a commented example).
//!
//! Defaults live in the `Default` impls below, and only there. Unknown keys
//! are an error so a typo cannot silently leave a default in force;
//! [`IngestSettings::validate`] checks the rules that span several fields
//! before anything runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tollgate_schemas::{DecodeOptions, Format};

use crate::batch::ParquetOptions;

/// `[lake]`: where the Parquet lake lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// A local folder (created if missing) or `s3://bucket/prefix` for
    /// S3-compatible storage (endpoint and credentials from the `AWS_*`
    /// environment variables).
    pub location: String,
    /// Also write the Delta Lake transaction log of `events/` and
    /// `quarantine/` (`<table>/_delta_log/`), so Spark, Trino, Databricks
    /// and delta-rs read atomic snapshots (see `tollgate_ingest::delta`).
    /// On S3 it needs conditional PUTs (`If-None-Match`), which AWS S3,
    /// MinIO and moto support; turn it off for a server without them.
    pub delta_log: bool,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            location: "./tollgate-data".into(),
            delta_log: true,
        }
    }
}

/// Where a partition starts when neither the lake nor the consumer group
/// has a position for it (a brand-new topic or group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// The oldest retained message: nothing already in the topic is skipped.
    Earliest,
    /// Only messages produced after the first start.
    Latest,
}

/// `[kafka]`: the consumer group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Topics holding gateway access logs.
    pub topics: Vec<String>,
    /// Consumer group id. Processes with the same group split the partitions.
    pub group: String,
    /// Where a partition starts when the lake and the group have no position.
    /// Once started, the lake's commit markers decide where each partition
    /// resumes; a position that has fallen out of retention stops ingest
    /// with an error instead of silently skipping ahead.
    pub start_from: StartFrom,
    /// Decoder per topic (`auto`, `kong`, `apisix`, `envoy`, `aws`, `tyk`,
    /// `traefik`, `nginx`, `clf`, `canonical`); unlisted topics use `auto`.
    pub formats: BTreeMap<String, String>,
    /// librdkafka properties passed through as they are (security, timeouts,
    /// fetch sizes). Tollgate owns `group.id`, `bootstrap.servers`,
    /// `enable.auto.commit`, `enable.auto.offset.store` and
    /// `auto.offset.reset`; setting those here is an error.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".into(),
            topics: vec!["gateway-logs".into()],
            group: "tollgate-ingest".into(),
            start_from: StartFrom::Earliest,
            formats: BTreeMap::new(),
            properties: BTreeMap::new(),
        }
    }
}

/// `[ingest]`: batching, decoding and file layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Flush a partition's buffer after this many rows. Larger means bigger
    /// files and row groups (faster scans), more memory and more re-reading
    /// after a crash.
    pub max_rows: usize,
    /// Flush when the buffers of all partitions together hold this many
    /// bytes. This bounds memory: the worst case is about this much plus
    /// one Parquet file being encoded (roughly a tenth of it).
    pub max_bytes: usize,
    /// Flush a partition at most this long after its first buffered message.
    /// Smaller means fresher dashboards and more, smaller files.
    pub max_latency_ms: u64,
    /// Largest message accepted; larger ones are quarantined as `oversized`.
    pub max_message_bytes: usize,
    /// How many bytes of a rejected message the quarantine keeps.
    pub quarantine_raw_bytes: usize,
    /// Events more than this far in the future (gateway clock skew) are
    /// quarantined as `future_timestamp`.
    pub max_future_skew_secs: u64,
    /// Events older than this many days are quarantined as `too_old`; none
    /// when unset (backfills of any age are accepted).
    pub horizon_days: Option<u64>,
    /// Envoy logs: the JSON field carrying the consumer, if your format adds one.
    pub envoy_consumer_field: Option<String>,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// ZSTD compression level (1..=22).
    pub zstd_level: i32,
    /// Where to write Prometheus-format metrics after every flush (for
    /// headless runs and the node-exporter textfile collector).
    pub metrics_file: Option<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let parquet = ParquetOptions::default();
        IngestConfig {
            max_rows: 500_000,
            max_bytes: 256 * 1024 * 1024,
            max_latency_ms: 30_000,
            max_message_bytes: DecodeOptions::default().max_message_bytes,
            quarantine_raw_bytes: 64 * 1024,
            max_future_skew_secs: 300,
            horizon_days: None,
            envoy_consumer_field: None,
            row_group_rows: parquet.row_group_rows,
            zstd_level: parquet.zstd_level,
            metrics_file: None,
        }
    }
}

/// Everything `tollgate ingest` needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestSettings {
    /// `[lake]`
    pub lake: LakeConfig,
    /// `[kafka]`
    pub kafka: KafkaConfig,
    /// `[ingest]`
    pub ingest: IngestConfig,
}

/// A configuration that cannot work, found before anything runs.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// librdkafka properties Tollgate sets itself.
const OWNED_PROPERTIES: [&str; 5] = [
    "group.id",
    "bootstrap.servers",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
];

impl IngestSettings {
    /// Checks the rules that involve several fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        if self.kafka.topics.is_empty() || self.kafka.topics.iter().any(|t| t.trim().is_empty()) {
            return err("kafka.topics must name at least one topic".into());
        }
        if self.kafka.group.trim().is_empty() {
            return err("kafka.group must not be empty".into());
        }
        for (topic, f) in &self.kafka.formats {
            if let Err(e) = f.parse::<Format>() {
                return err(format!("kafka.formats.{topic}: {e}"));
            }
        }
        for key in self.kafka.properties.keys() {
            if OWNED_PROPERTIES.contains(&key.as_str()) {
                return err(format!(
                    "kafka.properties.{key:?} is set by Tollgate; use kafka.brokers / kafka.group / kafka.start_from instead"
                ));
            }
        }
        let i = &self.ingest;
        if i.max_rows == 0 || i.max_bytes == 0 || i.max_latency_ms == 0 {
            return err("ingest.max_rows, max_bytes and max_latency_ms must be positive".into());
        }
        if i.max_message_bytes == 0 || i.max_message_bytes > i.max_bytes {
            return err(format!(
                "ingest.max_message_bytes ({}) must be positive and at most ingest.max_bytes ({})",
                i.max_message_bytes, i.max_bytes
            ));
        }
        if !(1..=22).contains(&i.zstd_level) {
            return err(format!(
                "ingest.zstd_level {} is outside 1..=22",
                i.zstd_level
            ));
        }
        if i.row_group_rows == 0 {
            return err("ingest.row_group_rows must be positive".into());
        }
        Ok(())
    }

    /// The decoder options these settings imply.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            max_message_bytes: self.ingest.max_message_bytes,
            envoy_consumer_field: self.ingest.envoy_consumer_field.clone(),
            ..DecodeOptions::default()
        }
    }

    /// The Parquet options these settings imply.
    pub fn parquet_options(&self) -> ParquetOptions {
        ParquetOptions {
            row_group_rows: self.ingest.row_group_rows,
            zstd_level: self.ingest.zstd_level,
        }
    }

    /// The decoder for each configured topic.
    pub fn topic_formats(&self) -> BTreeMap<String, Format> {
        self.kafka
            .formats
            .iter()
            .filter_map(|(t, f)| f.parse().ok().map(|f| (t.clone(), f)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        IngestSettings::default().validate().unwrap();
    }

    #[test]
    fn cross_field_rules_are_checked() {
        let mut s = IngestSettings::default();
        s.kafka
            .properties
            .insert("enable.auto.commit".into(), "true".into());
        assert!(s.validate().unwrap_err().0.contains("set by Tollgate"));
        let mut s = IngestSettings::default();
        s.kafka.formats.insert("t".into(), "haproxy".into());
        assert!(s.validate().unwrap_err().0.contains("kafka.formats.t"));
        let mut s = IngestSettings::default();
        s.ingest.max_message_bytes = s.ingest.max_bytes + 1;
        assert!(s.validate().is_err());
        let mut s = IngestSettings::default();
        s.kafka.topics.clear();
        assert!(s.validate().is_err());
    }
}
