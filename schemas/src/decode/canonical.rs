//! Tollgate's canonical JSON: what `tollgate decode` prints, accepted back
//! so any pipeline can produce events directly.
//!
//! The keys are exactly the [`AccessEvent`] fields; unknown keys are an
//! error (a typo such as `latency` for `latency_ms` would otherwise lose
//! data silently). Optional fields may be omitted or `null`; `"-"` (and
//! `""`, except for `query`) is read as absent. A decoded canonical line
//! printed again is byte-for-byte the line `tollgate decode` printed.
//!
//! Values are read with the same field readers as every gateway, so the
//! reasons match: a missing or empty `event_id`, `ts` or `gateway` is
//! `missing_field`; a `ts` that is not RFC 3339 (or outside 1970..9999), an
//! unknown `gateway` name, a status above 999 and a negative latency or
//! size are `invalid_value`; anything of the wrong JSON type is
//! `wrong_type`.

use super::Ctx;
use super::fields::{self as f, FieldError};
use super::json::{Kind, Obj};
use crate::event::{AccessEvent, Gateway};
use crate::reject::RejectReason;

/// Every key a canonical line may have: the [`AccessEvent`] fields.
const KEYS: [&str; 19] = [
    "event_id",
    "ts",
    "gateway",
    "consumer",
    "consumer_name",
    "api_key_id",
    "api",
    "route",
    "path_template",
    "method",
    "path",
    "query",
    "status",
    "latency_ms",
    "upstream_latency_ms",
    "request_bytes",
    "response_bytes",
    "client_ip",
    "amount",
];

pub(crate) fn decode(o: &Obj<'_>, _ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    if let Some(unknown) = o.keys().find(|k| !KEYS.contains(k)) {
        let expected: Vec<String> = KEYS.iter().map(|k| format!("`{k}`")).collect();
        return Err(FieldError {
            reason: RejectReason::WrongType,
            message: format!(
                "unknown field `{unknown}`, expected one of {}",
                expected.join(", ")
            ),
        });
    }
    let event_id =
        f::opt_string(o.get("event_id"), "event_id")?.ok_or_else(|| missing("event_id"))?;
    let ts = match o.get("ts") {
        None => return Err(missing("ts")),
        Some(v) => match (v.kind(), v.str()) {
            (_, Some(s)) if !f::is_absent_str(&s) => f::parse_rfc3339(&s, "ts")?,
            (Kind::Null | Kind::String, _) => return Err(missing("ts")),
            _ => {
                return Err(FieldError::wrong_type(
                    "ts",
                    "an RFC 3339 string like 2024-06-11T13:04:05.123Z",
                    v,
                ));
            }
        },
    };
    let gateway = match o.get("gateway") {
        None => return Err(missing("gateway")),
        Some(v) => match (v.kind(), v.str()) {
            (_, Some(s)) if !f::is_absent_str(&s) => gateway(&s)?,
            (Kind::Null | Kind::String, _) => return Err(missing("gateway")),
            _ => return Err(FieldError::wrong_type("gateway", "a string", v)),
        },
    };
    let mut e = AccessEvent::new(event_id, ts, gateway);
    let text = |key: &str| f::opt_string(o.get(key), key);
    e.consumer = text("consumer")?;
    e.consumer_name = text("consumer_name")?;
    e.api_key_id = text("api_key_id")?;
    e.api = text("api")?;
    e.route = text("route")?;
    e.path_template = text("path_template")?;
    e.method = text("method")?;
    e.path = text("path")?;
    e.client_ip = f::opt_client_ip(o.get("client_ip"), "client_ip")?;
    // The query keeps "" (a bare `?`): only `-` is absent.
    e.query = match o.get("query") {
        None => None,
        Some(v) if v.is_null() => None,
        Some(v) => match v.str() {
            Some(s) if s == "-" => None,
            Some(s) => Some(s.into_owned()),
            None => return Err(FieldError::wrong_type("query", "a string", v)),
        },
    };
    e.status = f::opt_status(o.get("status"), "status")?;
    e.request_bytes = f::opt_bytes(o.get("request_bytes"), "request_bytes", false)?;
    e.response_bytes = f::opt_bytes(o.get("response_bytes"), "response_bytes", false)?;
    // Exact: the latency is read from the digits written, and a printed
    // f64 is the shortest text that reads back as the same f64.
    // Negative is `invalid_value`; -0 reads as 0.
    e.latency_ms = f::opt_duration_ms(o.get("latency_ms"), "latency_ms", 0)?;
    e.upstream_latency_ms =
        f::opt_duration_ms(o.get("upstream_latency_ms"), "upstream_latency_ms", 0)?;
    // A quoted decimal as printed, or a plain JSON number; exact either way.
    e.amount = f::opt_amount(o.get("amount"), "amount")?;
    Ok(e)
}

fn missing(field: &str) -> FieldError {
    FieldError {
        reason: RejectReason::MissingField,
        message: format!(
            "required field `{field}` is missing or empty; every canonical line has event_id, ts and gateway"
        ),
    }
}

fn gateway(name: &str) -> Result<Gateway, FieldError> {
    Gateway::ALL
        .into_iter()
        .find(|g| g.as_str() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Gateway::ALL.iter().map(|g| g.as_str()).collect();
            FieldError::invalid(
                "gateway",
                format!("is {name:?}, not one of {}", names.join(", ")),
            )
        })
}
