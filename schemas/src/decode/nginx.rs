//! NGINX JSON access logs (`log_format name escape=json '{...}'`).
//!
//! Source of the mapping: the ngx_http_log_module docs (`log_format`,
//! `escape=json`) and the ngx_http_core_module / ngx_http_upstream_module
//! variable lists. Templates are written by hand, so keys are the variable
//! names without `$` (the common convention); every value is usually a
//! string. Times are **seconds**.
//!
//! | canonical | NGINX variable |
//! |---|---|
//! | event_id | `request_id`, else derived |
//! | ts | `msec` (epoch seconds with ms fraction), else `time_iso8601`, else `time_local`. NGINX logs when the request ends, so this is the end time |
//! | consumer | `remote_user` (basic-auth user) |
//! | api | `server_name` (the virtual host that served the call) |
//! | method, path, query | `request_method` and `request_uri` (raw, split at `?`); else the `request` line; else `uri` + `args` |
//! | status | `status` |
//! | latency_ms | `request_time` (s → ms) |
//! | upstream_latency_ms | `upstream_response_time` (s → ms): a list after retries (`0.1, 0.2` or `0.1 : 0.2`), summed; `-` entries skipped |
//! | request_bytes / response_bytes | `request_length` / `bytes_sent`, else `body_bytes_sent` |
//! | client_ip | `remote_addr` |

use super::json::{Field, Kind, Obj};

use super::Ctx;
use super::fields::{self as f, FieldError, get};
use crate::event::{AccessEvent, Gateway};

/// Seconds are 10^3 ms.
const SECONDS: i64 = 3;

pub(crate) fn decode(o: &Obj<'_>, ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let ts = if let Some(ts) = f::opt_epoch(get(o, &["msec"]), "msec", 0)? {
        ts
    } else if let Some(ts) = f::opt_rfc3339(get(o, &["time_iso8601"]), "time_iso8601")? {
        ts
    } else if let Some(t) = f::opt_string(get(o, &["time_local"]), "time_local")? {
        f::parse_clf_time(&t, "time_local")?
    } else {
        return Err(FieldError::missing("msec", "NGINX"));
    };
    let id = f::opt_string(get(o, &["request_id"]), "request_id")?;
    let mut e = AccessEvent::new(ctx.id_or_derived(id), ts, Gateway::Nginx);
    e.consumer = f::opt_string(get(o, &["remote_user"]), "remote_user")?;
    e.api = f::opt_string(get(o, &["server_name"]), "server_name")?;
    let request_line = f::opt_string(get(o, &["request"]), "request")?;
    let (line_method, line_target) = match request_line.as_deref() {
        Some(line) => split_request_line(line),
        None => (None, None),
    };
    e.method = f::opt_string(get(o, &["request_method"]), "request_method")?.or(line_method);
    if let Some(t) = f::opt_string(get(o, &["request_uri"]), "request_uri")?.or(line_target) {
        (e.path, e.query) = split_target(&t);
    } else if let Some(uri) = f::opt_string(get(o, &["uri"]), "uri")? {
        e.path = Some(uri);
        // `$args` is "" (escape=json) or "-" (default escaping) when the
        // request had no query: both are absent.
        e.query = ["args", "query_string"].iter().find_map(|k| {
            o.get(k)
                .and_then(|v| v.str())
                .filter(|s| !f::is_absent_str(s))
                .map(|s| s.into_owned())
        });
    }
    e.status = f::opt_status(get(o, &["status"]), "status")?;
    e.latency_ms = f::opt_duration_ms(get(o, &["request_time"]), "request_time", SECONDS)?;
    e.upstream_latency_ms = upstream_times(get(o, &["upstream_response_time"]))?;
    e.request_bytes = f::opt_bytes(get(o, &["request_length"]), "request_length", false)?;
    e.response_bytes = match f::opt_bytes(get(o, &["bytes_sent"]), "bytes_sent", false)? {
        Some(b) => Some(b),
        None => f::opt_bytes(get(o, &["body_bytes_sent"]), "body_bytes_sent", false)?,
    };
    e.client_ip = f::opt_client_ip(get(o, &["remote_addr"]), "remote_addr")?;
    Ok(e)
}

/// [`f::split_target`], keeping the "absent is never `-`" rule: a path that
/// is blank or `-` (`-?x`) and a query that is exactly `-` (`/p?-`) are
/// absent, as the canonical JSON reader would read them.
pub(crate) fn split_target(target: &str) -> (Option<String>, Option<String>) {
    let (path, query) = f::split_target(target);
    (
        path.filter(|p| !f::is_absent_str(p)),
        query.filter(|q| q != "-"),
    )
}

/// Splits `GET /p?q HTTP/1.1` into method and target. A line that is not a
/// request (TLS bytes sent to a plain port, `-`) yields nothing.
pub(crate) fn split_request_line(line: &str) -> (Option<String>, Option<String>) {
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    match (parts.next(), parts.next()) {
        (Some(m), Some(t))
            if m.bytes().all(|b| b.is_ascii_uppercase())
                && (t.starts_with('/') || t.starts_with("http") || t == "*") =>
        {
            (Some(m.to_string()), Some(t.to_string()))
        }
        _ => (None, None),
    }
}

/// Sums NGINX's list of upstream times (`0.100, 0.020 : 0.003`).
pub(crate) fn upstream_times(v: Option<Field<'_>>) -> f::FieldResult<f64> {
    let Some(v) = v else { return Ok(None) };
    match v.kind() {
        Kind::Null => Ok(None),
        Kind::String => sum_seconds(&v.str().unwrap_or_default(), "upstream_response_time"),
        Kind::Number => sum_seconds(v.raw(), "upstream_response_time"),
        _ => Err(FieldError::wrong_type(
            "upstream_response_time",
            "a string of seconds",
            v,
        )),
    }
}

/// Sums a comma/colon separated list of seconds, in ms; `-` entries skipped.
pub(crate) fn sum_seconds(text: &str, field: &str) -> f::FieldResult<f64> {
    let mut total: Option<f64> = None;
    for part in text.split([',', ':']) {
        let p = part.trim();
        if f::is_absent_str(p) {
            continue;
        }
        let ms = f::duration_ms_text(p, field, SECONDS)?;
        total = Some(total.unwrap_or(0.0) + ms);
    }
    Ok(total)
}
