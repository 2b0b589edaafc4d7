//! # tollgate-signals: quota crossings and operational alerts
//!
//! Tollgate is not the gateway, but it sees every call. This crate watches
//! the lake as ingest commits to it and tells the gateway, the customer
//! and the operator, within a bounded delay, when usage crosses a line:
//!
//! - **quotas** (`[[plan.quota]]` in the plans file): usage per consumer
//!   and window (minute, hour, day, billing period) computed by the same
//!   deduplicated query invoices use, so a closed window's count is
//!   exactly the lake's; each threshold crossed produces one signal per
//!   consumer, window and threshold;
//! - **alerts** (a rules file): error rates, p95/p99 latency and traffic
//!   drops or spikes per API, route or consumer over a sliding window,
//!   firing once and resolving once.
//!
//! # Exactly one signal per crossing
//!
//! A signal's id is a hash of what it is about (quota, consumer, window,
//! threshold; or rule, key and firing time), and it is written to the
//! ledger in the lake (`_tollgate/signals/date=…/<id>.json`) **before** it
//! is delivered. A restart lists the ledger and neither creates it again
//! nor re-delivers what was delivered; undelivered signals are retried.
//! Delivery is at least once (a crash between a delivery and the ledger
//! update repeats that delivery); receivers deduplicate on `id`, which is
//! also sent as the `Tollgate-Signal-Id` header and the Kafka key's suffix.
//!
//! # Staleness bound
//!
//! An event counts once its flush commits (at most `ingest.max_latency_ms`
//! after it is consumed, 30 s by default); the watcher evaluates every
//! `signals.poll_interval_secs` (5 s by default), so a crossing is signalled
//! within `max_latency_ms + poll_interval_secs + one evaluation`: under
//! 40 s with the defaults, against a 60 s target. `tollgate watch` warns at
//! start when the configured values exceed 60 s.
//!
//! # Layout
//!
//! - [`config`]: `[signals]` in `tollgate.toml` and the webhook targets.
//! - [`signal`]: the signal JSON and its ledger record (delivery log).
//! - [`quota`]: windows, current usage per quota, crossings.
//! - [`alert`]: the rules file, evaluation, firing/resolved state.
//! - [`deliver`]: Kafka and signed webhooks, retries with backoff.
//! - [`watch`]: the loop `tollgate watch` runs.

pub mod alert;
pub mod config;
pub mod deliver;
pub mod quota;
pub mod signal;
pub mod watch;

pub use config::{SignalsConfig, WebhookConfig};
pub use signal::{Ledger, Record, Signal, SignalBody};

/// Why a signals operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    /// A configuration or rules file is wrong; the message says how to fix it.
    #[error("{0}")]
    Config(String),
    /// The lake could not be queried.
    #[error(transparent)]
    Analytics(#[from] tollgate_aggregator::AnalyticsError),
    /// The ledger could not be read or written.
    #[error("signals ledger: {0}")]
    Ledger(String),
    /// No such signal.
    #[error("no signal {0} in the ledger; `tollgate signals list` shows them")]
    NotFound(String),
}

impl From<tollgate_lake::store::StoreError> for SignalsError {
    fn from(e: tollgate_lake::store::StoreError) -> Self {
        SignalsError::Ledger(e.to_string())
    }
}

impl From<tollgate_lake::LedgerError> for SignalsError {
    fn from(e: tollgate_lake::LedgerError) -> Self {
        SignalsError::Ledger(e.to_string())
    }
}
