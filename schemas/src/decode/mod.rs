//! Decoders: gateway access-log messages in, canonical events and rejects out.
//!
//! One message (a Kafka record, a log line) may hold one event or a batch
//! (Kong and APISIX batch into JSON arrays; CloudWatch Logs wraps many AWS
//! lines in one envelope), so [`decode`] returns zero or more events plus
//! zero or more rejects, never an error and never a panic.
//!
//! The format is detected per message from its shape ([`detect`]), or fixed
//! by the caller ([`Format`]). Each gateway has its own module, whose docs
//! name the source of its field mapping.

mod apisix;
mod aws;
mod canonical;
mod clf;
mod envoy;
pub mod fields;
pub mod json;
mod kong;
mod nginx;
mod route_match;
mod traefik;
mod tyk;

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use serde_json::value::RawValue;

use crate::event::{AccessEvent, Gateway};
use crate::reject::{Reject, RejectReason};
use fields::FieldError;
use json::{Kind, Obj};

/// Which decoder to use for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Detect the format from each message's shape.
    #[default]
    Auto,
    /// Always decode as this gateway's format.
    Fixed(Gateway),
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Format::Auto);
        }
        Gateway::ALL
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(s))
            .map(Format::Fixed)
            .ok_or_else(|| {
                let names: Vec<&str> = Gateway::ALL.iter().map(|g| g.as_str()).collect();
                format!(
                    "unknown format {s:?}; use auto or one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Auto => f.write_str("auto"),
            Format::Fixed(g) => f.write_str(g.as_str()),
        }
    }
}

/// Knobs for the decoders. The defaults suit every documented format.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// Largest message accepted, in bytes (after gzip decompression too).
    /// Larger messages are rejected as `oversized` with a prefix kept.
    pub max_message_bytes: usize,
    /// How many bytes of an oversized message the reject keeps.
    pub oversized_keep_bytes: usize,
    /// Envoy's default format carries no consumer; when the access log is
    /// configured with an extra field holding one (for example
    /// `"consumer": "%REQ(X-CONSUMER-ID)%"`), name that field here.
    pub envoy_consumer_field: Option<String>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_message_bytes: 1024 * 1024,
            oversized_keep_bytes: 4096,
            envoy_consumer_field: None,
        }
    }
}

/// What one message decoded to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Events, in message order.
    pub events: Vec<AccessEvent>,
    /// For each event, its position inside the message: the batch element
    /// (or CloudWatch log event) index, 0 for a lone record. Together with
    /// the message's own position it identifies the event's source exactly.
    pub event_index: Vec<usize>,
    /// Rejected messages or batch elements.
    pub rejects: Vec<Reject>,
}

/// Where a message came from, used to derive deterministic event ids for
/// formats without a request id. `None` derives ids from the bytes alone,
/// so two identical lines get the same id.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a>(pub Option<&'a str>);

/// Decodes one message.
pub fn decode(
    payload: &[u8],
    format: Format,
    opts: &DecodeOptions,
    position: Position<'_>,
) -> Decoded {
    let mut out = Decoded::default();
    decode_into(payload, format, opts, position, &mut out);
    out
}

/// Decodes one message, appending to `out` (lets a caller reuse buffers).
pub fn decode_into(
    payload: &[u8],
    format: Format,
    opts: &DecodeOptions,
    position: Position<'_>,
    out: &mut Decoded,
) {
    if payload.len() > opts.max_message_bytes {
        out.rejects.push(oversized(payload, payload.len(), opts));
        return;
    }
    if payload.starts_with(&[0x1f, 0x8b]) {
        // gzip: CloudWatch Logs subscriptions and some shippers compress.
        let mut buf = Vec::new();
        let limit = opts.max_message_bytes as u64 + 1;
        match flate2::read::MultiGzDecoder::new(payload)
            .take(limit)
            .read_to_end(&mut buf)
        {
            Ok(_) if buf.len() > opts.max_message_bytes => {
                let mut r = oversized(payload, payload.len(), opts);
                r.message = format!(
                    "message decompresses to more than the {} bytes allowed; raise max_message_bytes if this is a real access-log record",
                    opts.max_message_bytes
                );
                out.rejects.push(r);
            }
            Ok(_) => decode_text(&buf, payload, format, opts, position, out),
            Err(e) => out.rejects.push(Reject::new(
                RejectReason::NotJson,
                format!("message starts like gzip but does not decompress: {e}"),
                payload,
            )),
        }
        return;
    }
    decode_text(payload, payload, format, opts, position, out);
}

fn oversized(payload: &[u8], len: usize, opts: &DecodeOptions) -> Reject {
    oversized_reject(payload, len, opts)
}

/// The reject for a message of `full_len` bytes, over the limit, of which
/// the caller holds `kept` (a line reader keeps only a bounded prefix). The
/// reject keeps at most `oversized_keep_bytes` of them.
pub fn oversized_reject(kept: &[u8], full_len: usize, opts: &DecodeOptions) -> Reject {
    let keep = kept.len().min(opts.oversized_keep_bytes);
    let mut r = Reject::new(
        RejectReason::Oversized,
        format!(
            "message is {full_len} bytes, more than the {} allowed; raise max_message_bytes if this is a real access-log record",
            opts.max_message_bytes
        ),
        &kept[..keep],
    );
    r.raw_truncated = keep < full_len;
    r
}

fn decode_text(
    bytes: &[u8],
    original: &[u8],
    format: Format,
    opts: &DecodeOptions,
    position: Position<'_>,
    out: &mut Decoded,
) {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            out.rejects.push(Reject::new(
                RejectReason::InvalidUtf8,
                format!(
                    "message is not valid UTF-8 (bad byte at offset {}); access logs must be UTF-8 text",
                    e.valid_up_to()
                ),
                original,
            ));
            return;
        }
    };
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        out.rejects.push(Reject::new(
            RejectReason::Empty,
            "message is empty",
            original,
        ));
        return;
    }
    let looks_json = text.starts_with('{') || text.starts_with('[');
    match format {
        Format::Fixed(Gateway::Clf) => return clf::decode_line(text, original, position, out),
        Format::Auto if !looks_json => {
            if apisix::is_origin_format(text) {
                out.rejects.push(apisix::origin_reject(original));
            } else {
                clf::decode_line(text, original, position, out);
            }
            return;
        }
        Format::Fixed(Gateway::Apisix) if apisix::is_origin_format(text) => {
            out.rejects.push(apisix::origin_reject(original));
            return;
        }
        _ => {}
    }
    if text.starts_with('[') {
        let elements: Vec<&RawValue> = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.rejects.push(not_json(&e, original));
                return;
            }
        };
        if elements.is_empty() {
            out.rejects.push(Reject::new(
                RejectReason::Empty,
                "message is an empty JSON array: a batch with no records",
                original,
            ));
        }
        for (i, raw) in elements.iter().enumerate() {
            let raw = raw.get();
            decode_record(raw, Some(i), format, opts, position, out);
        }
        return;
    }
    if text.starts_with('{') {
        // The common case: one object, parsed once.
        match Obj::parse(text) {
            Ok(obj) => decode_object(obj, original, None, format, opts, position, out),
            Err(e) => out.rejects.push(not_json(&e, original)),
        }
        return;
    }
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => decode_scalar(json::Field::from_valid(raw.get()), original, None, out),
        Err(e) => out.rejects.push(not_json(&e, original)),
    }
}

/// One element of a batch: its text is one valid JSON value.
fn decode_record(
    raw: &str,
    index: Option<usize>,
    format: Format,
    opts: &DecodeOptions,
    position: Position<'_>,
    out: &mut Decoded,
) {
    let value = json::Field::from_valid(raw);
    if value.kind() != Kind::Object {
        decode_scalar(value, raw.as_bytes(), index, out);
        return;
    }
    match Obj::parse(raw) {
        Ok(obj) => decode_object(obj, raw.as_bytes(), index, format, opts, position, out),
        Err(e) => out.rejects.push(not_json(&e, raw.as_bytes()).at_opt(index)),
    }
}

/// A JSON value that is not an object: a raw HTTP request as a JSON string
/// (APISIX `meta_format=origin`), or a format nobody logs.
fn decode_scalar(value: json::Field<'_>, raw: &[u8], index: Option<usize>, out: &mut Decoded) {
    let reject = match value.str() {
        Some(s) if apisix::is_origin_format(&s) => apisix::origin_reject(raw),
        _ => Reject::new(
            RejectReason::UnknownFormat,
            "message is JSON but not an object or an array of objects; no gateway logs that",
            raw,
        ),
    };
    out.rejects.push(reject.at_opt(index));
}

fn not_json(e: &serde_json::Error, raw: &[u8]) -> Reject {
    Reject::new(
        RejectReason::NotJson,
        format!("message is not valid JSON ({e})"),
        raw,
    )
}

/// Everything a gateway decoder needs besides the record itself.
pub(crate) struct Ctx<'a> {
    pub opts: &'a DecodeOptions,
    /// The raw bytes of this record (the batch element when in a batch).
    pub raw: &'a [u8],
    pub position: Position<'a>,
    /// Index inside a batch or envelope, 0 for a lone record.
    pub index: usize,
}

impl Ctx<'_> {
    /// The deterministic id for a record without a request id: 128 bits of
    /// xxh3 over (position, index, raw bytes), as 32 hex digits.
    pub fn derived_id(&self) -> String {
        derive_id(self.position, self.index, self.raw)
    }

    /// The gateway's request id if present, else [`Ctx::derived_id`].
    pub fn id_or_derived(&self, id: Option<String>) -> String {
        id.unwrap_or_else(|| self.derived_id())
    }
}

/// See [`Ctx::derived_id`]; public so other sources derive ids the same way.
pub fn derive_id(position: Position<'_>, index: usize, raw: &[u8]) -> String {
    use xxhash_rust::xxh3::Xxh3;
    let mut h = Xxh3::new();
    if let Some(p) = position.0 {
        h.update(p.as_bytes());
    }
    h.update(&[0]);
    h.update(&(index as u64).to_le_bytes());
    h.update(&[0]);
    h.update(raw);
    format!("{:032x}", h.digest128())
}

fn decode_object(
    obj: Obj<'_>,
    raw: &[u8],
    index: Option<usize>,
    format: Format,
    opts: &DecodeOptions,
    position: Position<'_>,
    out: &mut Decoded,
) {
    let at = |r: Reject| r.at_opt(index);
    let gateway = match format {
        Format::Fixed(g) => g,
        Format::Auto => match detect(&obj) {
            Some(g) => g,
            None => {
                out.rejects.push(at(Reject::new(
                    RejectReason::UnknownFormat,
                    "JSON object matches no supported gateway format; set the format explicitly (decode --format) or check the log template",
                    raw,
                )));
                return;
            }
        },
    };
    if gateway == Gateway::Aws && aws::is_envelope(&obj) {
        aws::decode_envelope(&obj, raw, index, format, opts, position, out);
        return;
    }
    let ctx = Ctx {
        opts,
        raw,
        position,
        index: index.unwrap_or(0),
    };
    let result = match gateway {
        Gateway::Kong => kong::decode(&obj, &ctx),
        Gateway::Apisix => apisix::decode(&obj, &ctx),
        Gateway::Envoy => envoy::decode(&obj, &ctx),
        Gateway::Aws => aws::decode(&obj, &ctx),
        Gateway::Tyk => tyk::decode(&obj, &ctx),
        Gateway::Traefik => traefik::decode(&obj, &ctx),
        Gateway::Nginx => nginx::decode(&obj, &ctx),
        Gateway::Canonical => canonical::decode(&obj, &ctx),
        Gateway::Clf => Err(FieldError {
            reason: RejectReason::WrongType,
            message: "format clf expects a text log line, got a JSON object".into(),
        }),
    };
    match result {
        Ok(event) => {
            out.events.push(event);
            out.event_index.push(index.unwrap_or(0));
        }
        Err(e) => out.rejects.push(at(Reject::new(
            e.reason,
            format!("{gateway}: {}", e.message),
            raw,
        ))),
    }
}

/// Guesses the gateway from a JSON object's keys. Each rule needs a key
/// that only that format uses (or a combination), checked from the most
/// specific format to the most generic (NGINX templates are free-form).
/// The keys are read once, into a set of the marker keys the rules use.
pub fn detect(obj: &Obj<'_>) -> Option<Gateway> {
    let mut keys = Markers::default();
    for k in obj.keys() {
        keys.add(k);
    }
    let has = |m: Marker| keys.has(m);
    use Marker::*;
    if has(EventId) && has(Ts) && has(GatewayKey) {
        return Some(Gateway::Canonical);
    }
    if has(LogEvents) && (has(MessageType) || has(LogGroup)) {
        return Some(Gateway::Aws);
    }
    if has(StartedAt) && (has(Latencies) || has(Request)) {
        return Some(Gateway::Kong);
    }
    if has(StartUtc) || has(DownstreamStatus) || has(RouterName) || has(OriginDuration) {
        return Some(Gateway::Traefik);
    }
    if has(ApiId) && (has(RequestTimeMs) || has(RawPath) || has(OrgId)) {
        return Some(Gateway::Tyk);
    }
    if has(RequestId)
        && (has(HttpMethod)
            || has(RouteKey)
            || has(RequestTime)
            || has(RequestTimeEpoch)
            || has(ResourcePath))
    {
        return Some(Gateway::Aws);
    }
    if has(StartTime) {
        let numeric = obj.get("start_time").map(|v| v.kind()) == Some(Kind::Number);
        if numeric && (has(RouteId) || has(Latency) || has(Request)) {
            return Some(Gateway::Apisix);
        }
        if has(ResponseCode)
            || has(DownstreamRemoteAddress)
            || has(UpstreamServiceTime)
            || has(ResponseFlags)
            || has(Duration)
        {
            return Some(Gateway::Envoy);
        }
    }
    if has(ResponseCode)
        && (has(ResponseFlags) || has(DownstreamRemoteAddress) || has(UpstreamServiceTime))
    {
        // Envoy without its timestamp: decode as Envoy so the reject says
        // `missing_field` rather than `unknown_format`.
        return Some(Gateway::Envoy);
    }
    if has(Msec) || has(TimeLocal) || has(TimeIso8601) || has(RemoteAddr) || has(NginxRequestTime) {
        return Some(Gateway::Nginx);
    }
    None
}

/// The keys [`detect`] looks for.
#[derive(Clone, Copy)]
enum Marker {
    EventId,
    Ts,
    GatewayKey,
    LogEvents,
    MessageType,
    LogGroup,
    StartedAt,
    Latencies,
    Request,
    StartUtc,
    DownstreamStatus,
    RouterName,
    OriginDuration,
    ApiId,
    RequestTimeMs,
    RawPath,
    OrgId,
    RequestId,
    HttpMethod,
    RouteKey,
    RequestTime,
    RequestTimeEpoch,
    ResourcePath,
    StartTime,
    RouteId,
    Latency,
    ResponseCode,
    DownstreamRemoteAddress,
    UpstreamServiceTime,
    ResponseFlags,
    Duration,
    Msec,
    TimeLocal,
    TimeIso8601,
    RemoteAddr,
    /// NGINX's `request_time` (AWS spells it `requestTime`).
    NginxRequestTime,
}

/// A set of [`Marker`]s, one bit each.
#[derive(Default)]
struct Markers(u64);

impl Markers {
    fn add(&mut self, key: &str) {
        use Marker::*;
        let m = match key {
            "event_id" => EventId,
            "ts" => Ts,
            "gateway" => GatewayKey,
            "logEvents" => LogEvents,
            "messageType" => MessageType,
            "logGroup" => LogGroup,
            "started_at" => StartedAt,
            "latencies" => Latencies,
            "request" => Request,
            "StartUTC" => StartUtc,
            "DownstreamStatus" => DownstreamStatus,
            "RouterName" => RouterName,
            "OriginDuration" => OriginDuration,
            "api_id" => ApiId,
            "request_time_ms" => RequestTimeMs,
            "raw_path" => RawPath,
            "org_id" => OrgId,
            "requestId" => RequestId,
            "httpMethod" => HttpMethod,
            "routeKey" => RouteKey,
            "requestTime" => RequestTime,
            "requestTimeEpoch" => RequestTimeEpoch,
            "resourcePath" => ResourcePath,
            "start_time" => StartTime,
            "route_id" => RouteId,
            "latency" => Latency,
            "response_code" => ResponseCode,
            "downstream_remote_address" => DownstreamRemoteAddress,
            "upstream_service_time" => UpstreamServiceTime,
            "response_flags" => ResponseFlags,
            "duration" => Duration,
            "msec" => Msec,
            "time_local" => TimeLocal,
            "time_iso8601" => TimeIso8601,
            "remote_addr" => RemoteAddr,
            "request_time" => NginxRequestTime,
            _ => return,
        };
        self.0 |= 1 << m as u32;
    }

    fn has(&self, m: Marker) -> bool {
        self.0 & (1 << m as u32) != 0
    }
}

#[cfg(test)]
mod tests;
