//! The canonical access event: one API call, whatever gateway logged it.
//!
//! Field names are the contract: they are the Parquet column names, the JSON
//! keys of the canonical format and the SQL column names analysts query.
//! `docs/SCHEMA.md` is the long-form version of the docs below.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds since the Unix epoch, UTC. Sub-millisecond precision is
/// truncated (never rounded) when an event is decoded.
///
/// In JSON it is always RFC 3339 with exactly three fractional digits and
/// `Z`, e.g. `2024-06-11T13:04:05.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochMillis(pub i64);

impl EpochMillis {
    /// The earliest instant a decoder accepts: 1970-01-01T00:00:00.000Z.
    pub const MIN: EpochMillis = EpochMillis(0);
    /// The latest instant a decoder accepts: 9999-12-31T23:59:59.999Z, the
    /// last one RFC 3339 can spell with four-digit years.
    pub const MAX: EpochMillis = EpochMillis(253_402_300_799_999);

    /// The instant as a chrono UTC date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Truncates a chrono date-time to whole milliseconds.
    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Self {
        EpochMillis(dt.timestamp_millis())
    }
}

impl fmt::Display for EpochMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for EpochMillis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EpochMillis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let parsed = DateTime::parse_from_rfc3339(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`ts` must be RFC 3339 like 2024-06-11T13:04:05.123Z, got {text:?}: {e}"
            ))
        })?;
        let ms = EpochMillis::from_datetime(&parsed);
        if ms < EpochMillis::MIN || ms > EpochMillis::MAX {
            return Err(serde::de::Error::custom(format!(
                "`ts` {text:?} is outside 1970-01-01..9999-12-31"
            )));
        }
        Ok(ms)
    }
}

/// The gateway (or log format) an event was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gateway {
    /// Kong `http-log` / `kafka-log` basic serializer.
    Kong,
    /// Apache APISIX `kafka-logger` (default `meta_format`).
    Apisix,
    /// Envoy / Istio JSON access log.
    Envoy,
    /// AWS API Gateway JSON access logs (bare or in a CloudWatch Logs envelope).
    Aws,
    /// Tyk analytics records as the Tyk Pump Kafka pump sends them.
    Tyk,
    /// Traefik JSON access log.
    Traefik,
    /// NGINX JSON `log_format` templates.
    Nginx,
    /// NGINX/Apache combined (or common) log format text lines.
    Clf,
    /// Tollgate's own canonical JSON.
    Canonical,
}

impl Gateway {
    /// Every gateway, in the order the docs list them.
    pub const ALL: [Gateway; 9] = [
        Gateway::Kong,
        Gateway::Apisix,
        Gateway::Envoy,
        Gateway::Aws,
        Gateway::Tyk,
        Gateway::Traefik,
        Gateway::Nginx,
        Gateway::Clf,
        Gateway::Canonical,
    ];

    /// The lower-case name used in JSON, Parquet and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Kong => "kong",
            Gateway::Apisix => "apisix",
            Gateway::Envoy => "envoy",
            Gateway::Aws => "aws",
            Gateway::Tyk => "tyk",
            Gateway::Traefik => "traefik",
            Gateway::Nginx => "nginx",
            Gateway::Clf => "clf",
            Gateway::Canonical => "canonical",
        }
    }
}

impl fmt::Display for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One API call as Tollgate sees it.
///
/// Every optional field is `None` when the source format does not carry it
/// or spells it as absent (`"-"`, `""`, `null`, `-1` where that is the
/// format's sentinel): absent is never 0 and never the string `"-"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessEvent {
    /// The gateway's own request id where the format has one; otherwise a
    /// deterministic 32-hex-digit id derived from the source position (if
    /// the caller gave one) and the raw bytes, so a replay yields the same id.
    pub event_id: String,
    /// When the call happened (the format's own primary timestamp), UTC,
    /// milliseconds, sub-millisecond part truncated.
    pub ts: EpochMillis,
    /// Which format the event was decoded from.
    pub gateway: Gateway,
    /// Billing identity: who pays for this call. `None` for anonymous calls.
    #[serde(default)]
    pub consumer: Option<String>,
    /// Human label for the consumer, when the format has one distinct from the id.
    #[serde(default)]
    pub consumer_name: Option<String>,
    /// Id of the credential used (never the secret itself).
    #[serde(default)]
    pub api_key_id: Option<String>,
    /// Service / API id or name.
    #[serde(default)]
    pub api: Option<String>,
    /// Matched route name, else route id.
    #[serde(default)]
    pub route: Option<String>,
    /// Templated path of the matched resource, e.g. `/pets/{id}`.
    #[serde(default)]
    pub path_template: Option<String>,
    /// HTTP method as emitted.
    #[serde(default)]
    pub method: Option<String>,
    /// Request path as emitted: percent-encoding kept, query removed.
    #[serde(default)]
    pub path: Option<String>,
    /// Raw query string without the leading `?`; `Some("")` for a bare `?`.
    #[serde(default)]
    pub query: Option<String>,
    /// HTTP status sent to the client. Envoy's `0` means no response was sent.
    #[serde(default)]
    pub status: Option<u16>,
    /// Total time the gateway spent on the call, milliseconds, fractions kept.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Time spent waiting on the upstream, milliseconds; `None` when no
    /// upstream was called or the format does not say.
    #[serde(default)]
    pub upstream_latency_ms: Option<f64>,
    /// Request size in bytes as the gateway counts it (see docs/SCHEMA.md).
    #[serde(default)]
    pub request_bytes: Option<u64>,
    /// Response size in bytes as the gateway counts it (see docs/SCHEMA.md).
    #[serde(default)]
    pub response_bytes: Option<u64>,
    /// Client address: no port, IPv6 without brackets.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// A money amount the call carried (a payment's value, say), exact:
    /// what percentage charges price. It reaches the event from the
    /// `X-Tollgate-Amount` header the upstream (or a gateway plugin) sets,
    /// the response's winning over the request's; the canonical format
    /// names it `amount`. At least 0, at most 9 decimal places, below
    /// 10^15. Printed as a quoted decimal (`"12.50"`), and left out of the
    /// canonical JSON (not `null`) when absent, so lines of events without
    /// one read exactly as before it existed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub amount: Option<rust_decimal::Decimal>,
}

impl AccessEvent {
    /// An event with only the required fields set.
    pub fn new(event_id: impl Into<String>, ts: EpochMillis, gateway: Gateway) -> Self {
        AccessEvent {
            event_id: event_id.into(),
            ts,
            gateway,
            consumer: None,
            consumer_name: None,
            api_key_id: None,
            api: None,
            route: None,
            path_template: None,
            method: None,
            path: None,
            query: None,
            status: None,
            latency_ms: None,
            upstream_latency_ms: None,
            request_bytes: None,
            response_bytes: None,
            client_ip: None,
            amount: None,
        }
    }

    /// The canonical JSON line for this event (no trailing newline). Every
    /// field is present, in schema order, `null` when absent; except
    /// `amount`, which is left out when absent.
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings and numbers cannot fail; NaN and
        // infinities are rejected by the decoders before an event exists.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_with_exactly_three_fraction_digits_and_z() {
        assert_eq!(
            EpochMillis(1_718_111_045_123).to_string(),
            "2024-06-11T13:04:05.123Z"
        );
        assert_eq!(EpochMillis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(EpochMillis::MAX.to_string(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn json_has_every_field_in_order_and_nulls() {
        let e = AccessEvent::new("abc", EpochMillis(1_718_111_045_120), Gateway::Kong);
        assert_eq!(
            e.to_json(),
            r#"{"event_id":"abc","ts":"2024-06-11T13:04:05.120Z","gateway":"kong","consumer":null,"consumer_name":null,"api_key_id":null,"api":null,"route":null,"path_template":null,"method":null,"path":null,"query":null,"status":null,"latency_ms":null,"upstream_latency_ms":null,"request_bytes":null,"response_bytes":null,"client_ip":null}"#
        );
        let mut e = e;
        e.amount = Some("12.50".parse().unwrap());
        assert!(
            e.to_json()
                .ends_with(r#""client_ip":null,"amount":"12.50"}"#)
        );
    }
}
