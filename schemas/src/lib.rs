//! # tollgate-schemas: the contract every other crate stands on
//!
//! Tollgate turns API-gateway access logs into traffic analytics and
//! invoices. This crate defines the one thing they all share, the
//! canonical [`AccessEvent`], its Arrow schema, and the decoders that turn
//! what real gateways emit (Kong, APISIX, Envoy/Istio, AWS API Gateway,
//! Tyk, Traefik, NGINX, combined log format, and the canonical JSON itself)
//! into it. It is pure: no files, no network, no clock.
//!
//! ```
//! use tollgate_schemas::{decode, DecodeOptions, Format, Position};
//!
//! let line = br#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/v1/pets?limit=2"},
//!   "response":{"status":200},"latencies":{"request":12,"proxy":-1}}"#;
//! let out = decode(line, Format::Auto, &DecodeOptions::default(), Position(None));
//! assert_eq!(out.events[0].ts.to_string(), "2024-06-11T13:04:05.123Z");
//! assert_eq!(out.events[0].upstream_latency_ms, None); // -1 means no upstream
//! ```
//!
//! # Fields
//!
//! | field | type | unit / meaning | null when |
//! |---|---|---|---|
//! | `event_id` | string | gateway request id, else a deterministic 32-hex id | never |
//! | `ts` | timestamp(ms, UTC) | the format's primary timestamp, sub-ms truncated | never |
//! | `gateway` | string | `kong` `apisix` `envoy` `aws` `tyk` `traefik` `nginx` `clf` `canonical` | never |
//! | `consumer` | string | billing identity | anonymous |
//! | `consumer_name` | string | human label | format has none |
//! | `api_key_id` | string | credential id, never the secret | no key |
//! | `api` | string | service / API | format has none |
//! | `route` | string | matched route name, else id | no route |
//! | `path_template` | string | e.g. `/pets/{id}` | format has none |
//! | `method` | string | HTTP method as emitted | not logged |
//! | `path` | string | as emitted, percent-encoding kept, no query | not logged |
//! | `query` | string | raw, without `?` (`""` for a bare `?`) | no `?` |
//! | `status` | int32 | HTTP status; Envoy's `0` = no response sent | not logged |
//! | `latency_ms` | float64 | total, milliseconds, fractions kept | not logged |
//! | `upstream_latency_ms` | float64 | upstream, milliseconds | no upstream / not logged |
//! | `request_bytes` | int64 | bytes, as the gateway counts them | not logged |
//! | `response_bytes` | int64 | bytes, as the gateway counts them | not logged |
//! | `client_ip` | string | no port, IPv6 without brackets | not logged |
//! | `amount` | decimal(38, 9) | money the call carried (`X-Tollgate-Amount`), exact | no such header |
//!
//! Absent is null: never 0 and never the string `"-"`. `docs/SCHEMA.md`
//! has the per-gateway mapping tables.
//!
//! # Layout
//!
//! - [`event`]: [`AccessEvent`], [`EpochMillis`], [`Gateway`], canonical JSON.
//! - [`reject`]: [`Reject`] and [`RejectReason`]: input that is not an event.
//! - [`arrow`]: the Arrow schema and record-batch conversion.
//! - [`lake`]: the lake tables' schemas: events with lineage, quarantine.
//! - [`meter`]: billable metrics and their filters (billing ↔ aggregator).
//! - [`decode`]: format detection and one module per gateway; [`decode::fields`]
//!   holds the lenient, exact field readers they share.

pub mod arrow;
pub mod decode;
pub mod event;
pub mod lake;
pub mod meter;
pub mod reject;

pub use decode::{DecodeOptions, Decoded, Format, Position, decode, decode_into};
pub use event::{AccessEvent, EpochMillis, Gateway};
pub use reject::{Reject, RejectReason};
