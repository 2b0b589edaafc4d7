//! Envoy / Istio JSON access log.
//!
//! Source of the mapping: Envoy's "Access logging" docs (default format
//! string, command operators) and Istio's default JSON access-log encoding
//! (`meshConfig.accessLogEncoding: JSON`), whose keys are used here.
//!
//! | canonical | Envoy |
//! |---|---|
//! | event_id | `request_id` (`x-request-id`), else derived |
//! | ts | `start_time` (RFC 3339) |
//! | consumer | none in the default format; the field named by `DecodeOptions::envoy_consumer_field` |
//! | api | `upstream_cluster` (the service the call was routed to) |
//! | route | `route_name` |
//! | method, path, query | `method`, `path` (`X-ENVOY-ORIGINAL-PATH` or `:path`, split at `?`) |
//! | status | `response_code` (`0` = no response was sent; kept as 0) |
//! | latency_ms | `duration` (ms) |
//! | upstream_latency_ms | `upstream_service_time` (string of ms, or null/`-`) |
//! | request_bytes / response_bytes | `bytes_received` / `bytes_sent` (bodies) |
//! | client_ip | `downstream_remote_address` (port and IPv6 brackets stripped) |
//! | amount | `tollgate_amount`, when the access log maps it (`"tollgate_amount": "%RESP(X-TOLLGATE-AMOUNT)%"`) |

use super::json::Obj;

use super::Ctx;
use super::fields::{self as f, FieldError, get};
use crate::event::{AccessEvent, Gateway};

pub(crate) fn decode(o: &Obj<'_>, ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let ts = f::opt_rfc3339(get(o, &["start_time"]), "start_time")?
        .ok_or_else(|| FieldError::missing("start_time", "Envoy"))?;
    let id = f::opt_string(get(o, &["request_id"]), "request_id")?;
    let mut e = AccessEvent::new(ctx.id_or_derived(id), ts, Gateway::Envoy);
    if let Some(field) = ctx.opts.envoy_consumer_field.as_deref() {
        e.consumer = f::opt_string(get(o, &[field]), field)?;
    }
    e.api = f::opt_string(get(o, &["upstream_cluster"]), "upstream_cluster")?;
    e.route = f::opt_string(get(o, &["route_name"]), "route_name")?;
    e.method = f::opt_string(get(o, &["method"]), "method")?;
    if let Some(t) = f::opt_string(get(o, &["path"]), "path")? {
        (e.path, e.query) = f::split_target(&t);
    }
    e.status = f::opt_status(get(o, &["response_code"]), "response_code")?;
    e.latency_ms = f::opt_duration_ms(get(o, &["duration"]), "duration", 0)?;
    e.upstream_latency_ms = f::opt_duration_ms(
        get(o, &["upstream_service_time"]),
        "upstream_service_time",
        0,
    )?;
    e.request_bytes = f::opt_bytes(get(o, &["bytes_received"]), "bytes_received", false)?;
    e.response_bytes = f::opt_bytes(get(o, &["bytes_sent"]), "bytes_sent", false)?;
    e.client_ip = f::opt_client_ip(
        get(o, &["downstream_remote_address"]),
        "downstream_remote_address",
    )?;
    e.amount = f::opt_amount(get(o, &["tollgate_amount"]), "tollgate_amount")?;
    Ok(e)
}
