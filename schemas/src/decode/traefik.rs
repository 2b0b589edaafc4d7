//! Traefik JSON access log (`accessLog.format: json`).
//!
//! Source of the mapping: Traefik's "Access Logs" docs (the list of
//! fields). Durations are **nanoseconds**.
//!
//! | canonical | Traefik |
//! |---|---|
//! | event_id | `request_X-Request-Id` when headers are kept (`REDACTED` = none), else derived |
//! | ts | `StartUTC` (RFC 3339, ns precision: truncated to ms) |
//! | consumer | `ClientUsername` (`-` = none) |
//! | api / route | `ServiceName` / `RouterName` |
//! | method, path, query | `RequestMethod`, `RequestPath` split at `?` |
//! | status | `DownstreamStatus` |
//! | latency_ms | `Duration` (ns → ms) |
//! | upstream_latency_ms | `OriginDuration` (ns → ms), kept when `OriginStatus` is 0 but time was spent on the origin (a timeout or a refused connection); null when no origin was called (`OriginDuration` 0 or absent with `OriginStatus` 0) |
//! | request_bytes / response_bytes | `RequestContentSize` / `DownstreamContentSize` |
//! | client_ip | `ClientHost`, else `ClientAddr` without its port; Traefik sets `ClientHost` to the `X-Forwarded-For` header when there is one, a list of which the first (client) entry is kept |
//! | amount | `downstream_X-Tollgate-Amount` (the response header), else `request_X-Tollgate-Amount`, when the header is kept (`accessLog.fields.headers.names.X-Tollgate-Amount: keep`) |

use super::json::Obj;

use super::Ctx;
use super::fields::{self as f, FieldError, get};
use crate::event::{AccessEvent, Gateway};

/// Nanoseconds are 10^-6 ms.
const NS: i64 = -6;

/// The amount header as Traefik logs it: the response's (Go's canonical
/// header case), then the request's.
const DOWNSTREAM_AMOUNT: &str = "downstream_X-Tollgate-Amount";
const REQUEST_AMOUNT: &str = "request_X-Tollgate-Amount";

/// What Traefik writes for a header whose mode is `redact`.
const REDACTED: &str = "REDACTED";

pub(crate) fn decode(o: &Obj<'_>, ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let ts = match f::opt_rfc3339(get(o, &["StartUTC"]), "StartUTC")? {
        Some(ts) => ts,
        None => f::opt_rfc3339(get(o, &["StartLocal"]), "StartLocal")?
            .ok_or_else(|| FieldError::missing("StartUTC", "Traefik"))?,
    };
    // A redacted header is the same text on every line: not an id.
    let id = f::opt_string(get(o, &["request_X-Request-Id"]), "request_X-Request-Id")?
        .filter(|id| id.trim() != REDACTED);
    let mut e = AccessEvent::new(ctx.id_or_derived(id), ts, Gateway::Traefik);
    e.consumer = f::opt_string(get(o, &["ClientUsername"]), "ClientUsername")?;
    e.api = f::opt_string(get(o, &["ServiceName"]), "ServiceName")?;
    e.route = f::opt_string(get(o, &["RouterName"]), "RouterName")?;
    e.method = f::opt_string(get(o, &["RequestMethod"]), "RequestMethod")?;
    if let Some(t) = f::opt_string(get(o, &["RequestPath"]), "RequestPath")? {
        (e.path, e.query) = f::split_target(&t);
    }
    e.status = f::opt_status(get(o, &["DownstreamStatus"]), "DownstreamStatus")?;
    e.latency_ms = f::opt_duration_ms(get(o, &["Duration"]), "Duration", NS)?;
    let origin_status = f::opt_status(get(o, &["OriginStatus"]), "OriginStatus")?;
    // `OriginStatus` 0 means no origin answered; the time still spent on
    // it (waiting until a timeout, or a refused connect) is upstream time.
    // Without any such time no origin was called at all.
    let origin = f::opt_duration_ms(get(o, &["OriginDuration"]), "OriginDuration", NS)?;
    e.upstream_latency_ms = match (origin_status, origin) {
        (Some(0), Some(0.0)) => None,
        (_, origin) => origin,
    };
    e.request_bytes = f::opt_bytes(get(o, &["RequestContentSize"]), "RequestContentSize", false)?;
    e.response_bytes = f::opt_bytes(
        get(o, &["DownstreamContentSize"]),
        "DownstreamContentSize",
        false,
    )?;
    // Traefik replaces ClientHost with the raw `X-Forwarded-For` header when
    // the request has one: `client, proxy1, proxy2`. The first entry is the client.
    let host = f::opt_string(get(o, &["ClientHost"]), "ClientHost")?;
    e.client_ip = match host.and_then(|h| h.split(',').next().and_then(f::client_ip)) {
        Some(ip) => Some(ip),
        None => f::opt_client_ip(get(o, &["ClientAddr"]), "ClientAddr")?,
    };
    for key in [DOWNSTREAM_AMOUNT, REQUEST_AMOUNT] {
        let v = get(o, &[key]);
        if v.and_then(|v| v.str())
            .is_some_and(|s| s.trim() == REDACTED)
        {
            return Err(FieldError::invalid(
                key,
                "is REDACTED: an amount is money and cannot be billed unseen; set accessLog.fields.headers.names.X-Tollgate-Amount to keep",
            ));
        }
        if let Some(amount) = f::opt_amount(v, key)? {
            e.amount = Some(amount);
            break;
        }
    }
    Ok(e)
}
