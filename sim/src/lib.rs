//! # tollgate-sim: realistic API-gateway traffic
//!
//! The generator behind `tollgate simulate`, the demo, the benchmarks and
//! the tests: access logs in every log format Tollgate decodes.
//!
//! A [`Simulator`] is built from a [`SimulatorConfig`] and yields log lines
//! ([`SimLine`], no trailing newline) in time order, each with the truth it
//! was written from ([`LineKind::Event`] carries a [`SimEvent`]), so a test
//! can check what the decoders made of it. [`write_lines`] sends the lines
//! to a file or standard output; [`produce`] sends them to a Kafka topic and
//! calls back after every few hundred messages, so a caller (the demo) can
//! hold the simulator back until the ingestor has caught up and a small
//! broker never drops anything.
//!
//! # The model
//!
//! - **Consumers** `acct-0001` … `acct-NNNN` (four digits, more past 9999)
//!   with Zipf popularity (exponent [`ZIPF_EXPONENT`]): `acct-0001` makes
//!   the most calls. Each consumer favours one API, a few send sloppy
//!   requests (more 400/422), the heaviest hit their rate limit (429).
//! - **APIs and routes**: 5 APIs and 25 routes ([`ROUTES`]) with templated
//!   paths (`/v1/orders/{id}`), each with its own latency, body sizes and
//!   popularity.
//! - **Time**: events are spread over `[end - days, end)` following a
//!   diurnal curve (a European and an American peak, a night trough),
//!   quieter weekends, slight growth over the range and hour-to-hour noise.
//!   Lines come out sorted by time, as a gateway writes them, which also
//!   keeps each imported chunk inside one day's partition.
//! - **Status**: mostly 2xx; 4xx from failed authentication (anonymous
//!   401), rate limits, unknown ids (404) and bad input; rare 5xx, plus a
//!   few 5xx bursts ("incidents", about three a week, minutes to an hour
//!   long) on one API at a time, during which that API is also slower.
//! - **Latency**: gateway overhead plus a log-normal upstream time per route
//!   with a Pareto tail; no upstream time when the gateway answers itself
//!   (401, 403, 429, an open circuit's 503); 504s wait for the 30 s timeout.
//! - **Bytes**: request headers plus a body for writes; response headers
//!   plus a log-normal body per route, small bodies for errors.
//!
//! Each line is written the way its gateway writes it, at that format's
//! resolution (Kong, Envoy, AWS and Tyk log whole milliseconds, NGINX and
//! CLF seconds with three decimals, the combined log format whole seconds
//! for its timestamp), and the [`SimEvent`] holds the values as written, so
//! decoding a line gives back exactly its event. Envoy lines carry the
//! consumer in a `consumer` field ([`ENVOY_CONSUMER_FIELD`]); an ingestor
//! attributes them only with `ingest.envoy_consumer_field = "consumer"`.
//!
//! Random numbers come from a seeded Xoshiro256++, so a seed and an end
//! time give the same lines on every platform and every run.
//!
//! # Layout
//!
//! Layers, each using only those above it in this list:
//!
//! - [`config`]: what to simulate ([`SimulatorConfig`], [`GatewayMix`]) and
//!   the one error type, [`SimulateError`].
//! - [`catalog`]: the simulated APIs and routes ([`ROUTES`]), constant data.
//! - `text`: the small writers that append numbers, times and ids to a line.
//! - [`simulator`]: the models and the [`Simulator`] that writes lines in
//!   each gateway's format.
//! - [`output`]: lines to a writer, paced ([`write_lines`]).
//! - [`kafka`]: lines to a Kafka topic ([`produce`]) through the shared
//!   [`Producer`], which the end-to-end tests use as well.

pub mod catalog;
pub mod config;
pub mod kafka;
pub mod output;
pub mod simulator;
mod text;

pub use catalog::{APIS, QueryKind, ROUTES, RouteSpec};
pub use config::{
    DEFAULT_TOPIC, ENVOY_CONSUMER_FIELD, GatewayMix, JSON_GATEWAYS, SimulateError, SimulatorConfig,
    ZIPF_EXPONENT,
};
pub use kafka::{
    KafkaTarget, PROGRESS_EVERY, ProduceProgress, ProduceReport, Producer, produce, produce_records,
};
pub use output::write_lines;
pub use simulator::{LineKind, SimEvent, SimLine, Simulator, consumer_id};
