//! Kong `http-log` / `kafka-log` / `file-log` basic serializer.
//!
//! Source of the mapping: Kong's plugin docs ("Log format" of the http-log
//! plugin) and `kong/pdk/log.lua` (`serialize`). One object per call, or a
//! JSON array when the plugin batches (`queue.max_batch_size` > 1).
//!
//! | canonical | Kong |
//! |---|---|
//! | event_id | `request.id` (Kong ≥ 3.5), else derived |
//! | ts | `started_at` (epoch ms) |
//! | consumer / consumer_name | `consumer.id` / `consumer.username` (else `custom_id`) |
//! | api_key_id | `authenticated_entity.id` |
//! | api | `service.name`, else `service.id` |
//! | route | `route.name`, else `route.id` |
//! | path_template | the entry of `route.paths` the request path matched (see below) |
//! | method, path, query | `request.method`, `request.uri` (split at `?`; else `request.url`) |
//! | status | `response.status` |
//! | latency_ms | `latencies.request` |
//! | upstream_latency_ms | `latencies.proxy` (`-1` = no upstream = null) |
//! | request_bytes / response_bytes | `request.size` / `response.size` (numbers or strings) |
//! | client_ip | `client_ip` |
//! | amount | header `X-Tollgate-Amount` of `response.headers`, else of `request.headers` (any case) |
//!
//! Kong's route has a list of `paths` and the log does not say which one
//! matched, so the decoder re-runs Kong's choice on the logged path: regex
//! paths (`~...`, anchored at the start) first in the order listed, then the
//! longest plain prefix. The entry is kept as written, `~` and all. A path
//! list none of whose entries matches the logged path (a rewritten path, or
//! a regex using PCRE-only syntax) leaves `path_template` null.

use super::json::{Kind, Obj};

use super::fields::{self as f, FieldError, get};
use super::{Ctx, route_match};
use crate::event::{AccessEvent, Gateway};

/// The objects the fields below are read from: each is an object, `null`
/// or absent. Anything else (`"request": "GET / HTTP/1.1"`) is a wrong type,
/// not a record whose method, path and status silently vanish.
const OBJECTS: [&str; 7] = [
    "request",
    "response",
    "latencies",
    "consumer",
    "authenticated_entity",
    "service",
    "route",
];

pub(crate) fn decode(o: &Obj<'_>, ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let ts = f::opt_epoch(get(o, &["started_at"]), "started_at", 3)?
        .ok_or_else(|| FieldError::missing("started_at", "Kong"))?;
    for key in OBJECTS {
        if let Some(v) = o.get(key)
            && !(v.kind() == Kind::Object || v.is_null())
        {
            return Err(FieldError::wrong_type(key, "an object", v));
        }
    }
    let id = f::opt_string(get(o, &["request", "id"]), "request.id")?;
    let mut e = AccessEvent::new(ctx.id_or_derived(id), ts, Gateway::Kong);
    e.consumer = f::opt_string(get(o, &["consumer", "id"]), "consumer.id")?;
    e.consumer_name = match f::opt_string(get(o, &["consumer", "username"]), "consumer.username")? {
        Some(n) => Some(n),
        None => f::opt_string(get(o, &["consumer", "custom_id"]), "consumer.custom_id")?,
    };
    e.api_key_id = f::opt_string(
        get(o, &["authenticated_entity", "id"]),
        "authenticated_entity.id",
    )?;
    e.api = match f::opt_string(get(o, &["service", "name"]), "service.name")? {
        Some(n) => Some(n),
        None => f::opt_string(get(o, &["service", "id"]), "service.id")?,
    };
    e.route = match f::opt_string(get(o, &["route", "name"]), "route.name")? {
        Some(n) => Some(n),
        None => f::opt_string(get(o, &["route", "id"]), "route.id")?,
    };
    e.method = f::opt_string(get(o, &["request", "method"]), "request.method")?;
    let target = match f::opt_string(get(o, &["request", "uri"]), "request.uri")? {
        Some(u) => Some(u),
        None => f::opt_string(get(o, &["request", "url"]), "request.url")?,
    };
    if let Some(t) = target {
        (e.path, e.query) = f::split_target(&t);
    }
    let paths = f::opt_str_list(get(o, &["route", "paths"]), "route.paths")?;
    if let (Some(paths), Some(path)) = (paths, e.path.as_deref()) {
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        e.path_template = route_match::kong(&paths, path).map(str::to_owned);
    }
    e.status = f::opt_status(get(o, &["response", "status"]), "response.status")?;
    e.latency_ms = f::opt_duration_ms(get(o, &["latencies", "request"]), "latencies.request", 0)?;
    e.upstream_latency_ms =
        f::opt_duration_ms_neg_is_none(get(o, &["latencies", "proxy"]), "latencies.proxy", 0)?;
    e.request_bytes = f::opt_bytes(get(o, &["request", "size"]), "request.size", false)?;
    e.response_bytes = f::opt_bytes(get(o, &["response", "size"]), "response.size", false)?;
    e.client_ip = f::opt_client_ip(get(o, &["client_ip"]), "client_ip")?;
    e.amount = f::header_amount(o, &["response", "headers"], &["request", "headers"])?;
    Ok(e)
}
