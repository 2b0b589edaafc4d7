//! What to simulate: [`SimulatorConfig`], the format mix, and the error
//! every part of the simulator reports.

use std::io;
use std::str::FromStr;

use chrono::Utc;
use rdkafka::error::KafkaError;
use tollgate_schemas::{EpochMillis, Gateway};

/// The JSON field simulated Envoy lines carry the consumer in. Envoy's
/// default access log has no consumer; set `ingest.envoy_consumer_field`
/// (or `decode --envoy-consumer-field`) to this to attribute those calls.
pub const ENVOY_CONSUMER_FIELD: &str = "consumer";

/// The topic `tollgate ingest` reads by default, so the two meet without flags.
pub const DEFAULT_TOPIC: &str = "gateway-logs";

/// Zipf exponent of consumer popularity: with 200 consumers `acct-0001`
/// makes about 17 % of the calls and the top 20 about 60 %, the long tail
/// API products see.
pub const ZIPF_EXPONENT: f64 = 1.05;

/// Why the simulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A setting is out of range; the message says which and what is allowed.
    #[error("{0}")]
    Invalid(String),
    /// The output could not be written.
    #[error("writing the simulated traffic: {0}")]
    Io(#[from] io::Error),
    /// The Kafka producer could not be created or used.
    #[error("kafka producer for {brokers}: {source}; check --brokers")]
    Kafka {
        /// The bootstrap brokers.
        brokers: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Some messages were not acknowledged by the brokers.
    #[error(
        "{failed} of {sent} messages to topic {topic} were not acknowledged by the brokers (last error: {last_error}); the topic is incomplete, run again"
    )]
    Delivery {
        /// The topic.
        topic: String,
        /// Messages handed to the producer.
        sent: u64,
        /// Messages the brokers did not acknowledge.
        failed: u64,
        /// The last delivery error seen.
        last_error: String,
    },
}

/// Which gateway formats the lines are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatewayMix {
    /// Every line picks one of the nine formats at random, so one stream
    /// exercises every decoder (what `tollgate import --format auto` and
    /// an ingestor on a shared topic see).
    #[default]
    Mixed,
    /// Every line picks one of the gateways' JSON formats ([`JSON_GATEWAYS`])
    /// at random: the benchmarks' input, which a JSON reader (DuckDB's
    /// `read_json`) can load as well as `tollgate import`.
    Json,
    /// Every line in this gateway's format.
    Only(Gateway),
}

/// The gateway formats that write one JSON object per line: every format
/// but the combined log format (text) and Tollgate's own canonical JSON.
pub const JSON_GATEWAYS: [Gateway; 7] = [
    Gateway::Kong,
    Gateway::Apisix,
    Gateway::Envoy,
    Gateway::Aws,
    Gateway::Tyk,
    Gateway::Traefik,
    Gateway::Nginx,
];

impl FromStr for GatewayMix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("mixed") {
            return Ok(GatewayMix::Mixed);
        }
        if s.eq_ignore_ascii_case("json") {
            return Ok(GatewayMix::Json);
        }
        Gateway::ALL
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(s))
            .map(GatewayMix::Only)
            .ok_or_else(|| {
                let names: Vec<&str> = Gateway::ALL.iter().map(|g| g.as_str()).collect();
                format!(
                    "unknown format {s:?}; use mixed, json or one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What to simulate. [`SimulatorConfig::validate`] checks the ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Lines to write in total: events, bad lines and duplicates together.
    pub events: u64,
    /// Number of consumers, `acct-0001` … (at least 1).
    pub consumers: u32,
    /// Length of the simulated time range, in days (at least 1).
    pub days: u32,
    /// End of the simulated time range, exclusive.
    pub end: EpochMillis,
    /// The formats lines are written in.
    pub format: GatewayMix,
    /// Seed of every random choice: the same seed and end give the same lines.
    pub seed: u64,
    /// Fraction of lines (0..=1) that are malformed and must be quarantined.
    pub bad_ratio: f64,
    /// Fraction of lines (0..=1) that repeat a recent line byte for byte.
    pub duplicate_ratio: f64,
}

impl Default for SimulatorConfig {
    /// A million lines over the 35 days up to now (enough for a full
    /// previous month to invoice), 200 consumers, mixed formats, seed 1.
    fn default() -> Self {
        SimulatorConfig {
            events: 1_000_000,
            consumers: 200,
            days: 35,
            end: EpochMillis(Utc::now().timestamp_millis()),
            format: GatewayMix::Mixed,
            seed: 1,
            bad_ratio: 0.0,
            duplicate_ratio: 0.0,
        }
    }
}

impl SimulatorConfig {
    /// Checks the ranges before anything runs.
    pub fn validate(&self) -> Result<(), SimulateError> {
        let bad = |m: String| Err(SimulateError::Invalid(m));
        if self.consumers == 0 {
            return bad("--consumers must be at least 1".into());
        }
        if self.days == 0 || self.days > 3650 {
            return bad(format!("--days is {}; use 1 to 3650 days", self.days));
        }
        for (name, v) in [
            ("--bad-ratio", self.bad_ratio),
            ("--duplicate-ratio", self.duplicate_ratio),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} is {v}; use a fraction from 0 to 1"));
            }
        }
        if self.bad_ratio + self.duplicate_ratio > 1.0 {
            return bad(format!(
                "--bad-ratio + --duplicate-ratio is {}; together they must not exceed 1",
                self.bad_ratio + self.duplicate_ratio
            ));
        }
        if self.start().0 < 0 {
            return bad("--end minus --days is before 1970; move --end later".into());
        }
        Ok(())
    }

    /// Start of the simulated time range, inclusive.
    pub fn start(&self) -> EpochMillis {
        EpochMillis(self.end.0 - i64::from(self.days) * 86_400_000)
    }
}
