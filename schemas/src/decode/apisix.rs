//! Apache APISIX `kafka-logger` (and `http-logger`) default log format.
//!
//! Source of the mapping: the kafka-logger plugin docs ("Default log format"
//! example) and `apisix/utils/log-util.lua` (`get_full_log`). The plugin
//! batches: a message is a JSON array unless `batch_max_size` is 1.
//!
//! | canonical | APISIX |
//! |---|---|
//! | event_id | derived (the default format has no request id) |
//! | ts | `start_time` (epoch ms, may be fractional: truncated) |
//! | consumer | `consumer.username` (APISIX identifies consumers by username) |
//! | api / route | `service_id` / `route_id` (`route_name` is not in the default format); `service_id` only when `route_id` is set |
//! | path_template | the entry of `route.uri` / `route.uris` the path matched, when a `route` object is logged (see below) |
//! | method, path, query | `request.method`, `request.uri` split at `?` |
//! | status | `response.status` |
//! | latency_ms | `latency` (float ms) |
//! | upstream_latency_ms | `upstream_latency` (absent when no upstream was called) |
//! | request_bytes / response_bytes | `request.size` / `response.size` |
//! | client_ip | `client_ip` |
//! | amount | header `X-Tollgate-Amount` of `response.headers`, else of `request.headers` (any case) |
//!
//! When no route matched (a 404 from APISIX itself) `get_full_log` logs no
//! `route_id` and puts the request's Host header in `service_id`
//! (`service_id = var.host`): that is not a service, so `api` stays null.
//!
//! The default format has no `route` object; a custom `log_format` (or a
//! plugin) that logs the matched route as `route: {uri, uris}` gives the
//! path template: the entry APISIX's radix-tree router would pick for the
//! logged path (an exact entry first, else the parameter or wildcard
//! entry, `/users/:id` or `/v1/*`, with the longest literal start), kept as
//! written. A `route` that is not an object is left alone: it is not part
//! of the documented format.
//!
//! `meta_format=origin` sends the raw HTTP request text instead: it has no
//! timestamp, status, latency or consumer, so it cannot be counted or
//! billed. Such messages are rejected as `unsupported_format` with a hint
//! to switch the logger to `meta_format=default`.

use super::json::{Kind, Obj};

use super::fields::{self as f, FieldError, get};
use super::{Ctx, route_match};
use crate::event::{AccessEvent, Gateway};
use crate::reject::{Reject, RejectReason};

const METHODS: [&str; 9] = [
    "GET ", "POST ", "PUT ", "DELETE ", "PATCH ", "HEAD ", "OPTIONS ", "CONNECT ", "TRACE ",
];

/// True when the text is a raw HTTP request (APISIX `meta_format=origin`).
pub(crate) fn is_origin_format(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    METHODS.iter().any(|m| first.starts_with(m)) && first.contains(" HTTP/")
}

pub(crate) fn origin_reject(raw: &[u8]) -> Reject {
    Reject::new(
        RejectReason::UnsupportedFormat,
        "raw HTTP request text (APISIX kafka-logger meta_format=origin) has no timestamp, status or latency; set meta_format to default",
        raw,
    )
}

/// The objects the fields below are read from: each is an object, `null`
/// or absent; anything else is a wrong type, not silently missing fields.
const OBJECTS: [&str; 3] = ["request", "response", "consumer"];

pub(crate) fn decode(o: &Obj<'_>, ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let ts = f::opt_epoch(get(o, &["start_time"]), "start_time", 3)?
        .ok_or_else(|| FieldError::missing("start_time", "APISIX"))?;
    for key in OBJECTS {
        if let Some(v) = o.get(key)
            && !(v.kind() == Kind::Object || v.is_null())
        {
            return Err(FieldError::wrong_type(key, "an object", v));
        }
    }
    let mut e = AccessEvent::new(ctx.derived_id(), ts, Gateway::Apisix);
    e.consumer = f::opt_string(get(o, &["consumer", "username"]), "consumer.username")?;
    let service_id = f::opt_string(get(o, &["service_id"]), "service_id")?;
    e.route = f::opt_string(get(o, &["route_id"]), "route_id")?;
    // Without a matched route, `service_id` holds the Host header.
    e.api = service_id.filter(|_| e.route.is_some());
    e.method = f::opt_string(get(o, &["request", "method"]), "request.method")?;
    let target = match f::opt_string(get(o, &["request", "uri"]), "request.uri")? {
        Some(u) => Some(u),
        None => f::opt_string(get(o, &["request", "url"]), "request.url")?,
    };
    if let Some(t) = target {
        (e.path, e.query) = f::split_target(&t);
    }
    if let (Some(route), Some(path)) = (o.get("route").and_then(|r| r.object()), e.path.as_deref())
    {
        let uri = f::opt_string(get(&route, &["uri"]), "route.uri")?;
        let mut uris: Vec<String> = uri.into_iter().collect();
        uris.extend(f::opt_str_list(get(&route, &["uris"]), "route.uris")?.unwrap_or_default());
        let uris: Vec<&str> = uris.iter().map(String::as_str).collect();
        e.path_template = route_match::apisix(&uris, path).map(str::to_owned);
    }
    e.status = f::opt_status(get(o, &["response", "status"]), "response.status")?;
    e.latency_ms = f::opt_duration_ms(get(o, &["latency"]), "latency", 0)?;
    e.upstream_latency_ms =
        f::opt_duration_ms(get(o, &["upstream_latency"]), "upstream_latency", 0)?;
    e.request_bytes = f::opt_bytes(get(o, &["request", "size"]), "request.size", false)?;
    e.response_bytes = f::opt_bytes(get(o, &["response", "size"]), "response.size", false)?;
    e.client_ip = f::opt_client_ip(get(o, &["client_ip"]), "client_ip")?;
    e.amount = f::header_amount(o, &["response", "headers"], &["request", "headers"])?;
    Ok(e)
}
