//! Tyk analytics records as Tyk Pump's Kafka pump sends them.
//!
//! Source of the mapping: tyk-pump `pumps/kafka.go` (the message map it
//! builds from `analytics.AnalyticsRecord`) and the Tyk analytics record
//! docs.
//!
//! | canonical | Tyk |
//! |---|---|
//! | event_id | derived (the record has no request id) |
//! | ts | `timestamp` (RFC 3339, any offset) |
//! | consumer | `oauth_id` when set, else `api_key` (a key hash when `hash_keys` is on) |
//! | consumer_name | `alias` |
//! | api_key_id | `api_key` |
//! | api | `api_id` |
//! | route | the tracked endpoint (see below), else `api_version` (`Non Versioned` = none) |
//! | path_template | the tracked endpoint: `path` when `tracked_path` is true, or when `tracked_path` is absent and `path` is not `raw_path` nor its tail |
//! | method, path, query | `method`, `raw_path` (else `path`) split at `?` |
//! | status | `response_code` |
//! | latency_ms | `request_time_ms` (else `request_time`) |
//! | upstream_latency_ms | `latency.upstream` when present |
//! | request_bytes | `content_length` (`-1` = unknown = null) |
//! | response_bytes | not in the record: null |
//! | client_ip | `ip_address` |

//! Tyk writes the request's path to both `path` and `raw_path`, except on an
//! endpoint tracked with `track_endpoints`: there `path` is the endpoint as
//! the API definition lists it (`/widgets/{id}`) and `tracked_path` is true
//! (the gateway's `RecordHit`). The Kafka pump does not copy `tracked_path`,
//! so without it a `path` that differs from `raw_path` is taken as the
//! tracked endpoint, unless `raw_path` merely ends with it (a listen path
//! stripped from one and not the other: `/status` of `/public/status`).
//! That endpoint is the record's `path_template` and its `route`. An
//! untracked call's route is its API version (`api_version`), the finest
//! routing Tyk logs; Tyk's `Non Versioned` counts as no version.

use super::json::{Kind, Obj};

use super::Ctx;
use super::fields::{self as f, FieldError, get};
use crate::event::{AccessEvent, Gateway};

/// What Tyk writes as `api_version` for an API without versions.
const NOT_VERSIONED: &str = "Non Versioned";

pub(crate) fn decode(o: &Obj<'_>, ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let ts = f::opt_rfc3339(get(o, &["timestamp"]), "timestamp")?
        .ok_or_else(|| FieldError::missing("timestamp", "Tyk"))?;
    // `latency` is an object (`{"total": .., "upstream": ..}`) when present;
    // anything else is a wrong type, not a silently missing upstream time.
    if let Some(v) = o.get("latency")
        && !(v.kind() == Kind::Object || v.is_null())
    {
        return Err(FieldError::wrong_type("latency", "an object", v));
    }
    let mut e = AccessEvent::new(ctx.derived_id(), ts, Gateway::Tyk);
    let api_key = f::opt_string(get(o, &["api_key"]), "api_key")?;
    e.consumer = match f::opt_string(get(o, &["oauth_id"]), "oauth_id")? {
        Some(id) => Some(id),
        None => api_key.clone(),
    };
    e.consumer_name = f::opt_string(get(o, &["alias"]), "alias")?;
    e.api_key_id = api_key;
    e.api = f::opt_string(get(o, &["api_id"]), "api_id")?;
    e.method = f::opt_string(get(o, &["method"]), "method")?;
    let raw_path = f::opt_string(get(o, &["raw_path"]), "raw_path")?;
    let path = f::opt_string(get(o, &["path"]), "path")?;
    let tracked = match get(o, &["tracked_path"]) {
        None => None,
        Some(v) if v.is_null() => None,
        Some(v) => match v.bool() {
            Some(b) => Some(b),
            None => return Err(FieldError::wrong_type("tracked_path", "a boolean", v)),
        },
    };
    let endpoint = match (tracked, &path, &raw_path) {
        (Some(true), Some(p), _) => Some(p.clone()),
        (None, Some(p), Some(raw))
            if !f::split_target(raw)
                .0
                .unwrap_or_default()
                .ends_with(p.as_str()) =>
        {
            Some(p.clone())
        }
        _ => None,
    };
    if let Some(t) = raw_path.as_ref().or(path.as_ref()) {
        (e.path, e.query) = f::split_target(t);
    }
    e.route = match &endpoint {
        Some(ep) => Some(ep.clone()),
        None => {
            f::opt_string(get(o, &["api_version"]), "api_version")?.filter(|v| v != NOT_VERSIONED)
        }
    };
    e.path_template = endpoint;
    e.status = f::opt_status(get(o, &["response_code"]), "response_code")?;
    e.latency_ms = match f::opt_duration_ms(get(o, &["request_time_ms"]), "request_time_ms", 0)? {
        Some(ms) => Some(ms),
        None => f::opt_duration_ms(get(o, &["request_time"]), "request_time", 0)?,
    };
    e.upstream_latency_ms =
        f::opt_duration_ms(get(o, &["latency", "upstream"]), "latency.upstream", 0)?;
    e.request_bytes = f::opt_bytes(get(o, &["content_length"]), "content_length", true)?;
    e.client_ip = f::opt_client_ip(get(o, &["ip_address"]), "ip_address")?;
    Ok(e)
}
