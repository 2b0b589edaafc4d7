//! Tollgate's canonical JSON: what `tollgate decode` prints, accepted back
//! so any pipeline can produce events directly.
//!
//! The keys are exactly the [`AccessEvent`] fields; unknown keys are an
//! error (a typo such as `latency` for `latency_ms` would otherwise lose
//! data silently). Optional fields may be omitted or `null`; `"-"` (and
//! `""`, except for `query`) is read as absent. A decoded canonical line
//! printed again is byte-for-byte the line `tollgate decode` printed.

use serde_json::{Map, Value};

use super::Ctx;
use super::fields::{self as f, FieldError};
use crate::event::AccessEvent;
use crate::reject::RejectReason;

pub(crate) fn decode(o: Map<String, Value>, _ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let mut e: AccessEvent = serde_json::from_value(Value::Object(o)).map_err(|err| {
        let msg = err.to_string();
        FieldError {
            reason: if msg.starts_with("missing field") {
                RejectReason::MissingField
            } else {
                RejectReason::WrongType
            },
            message: msg,
        }
    })?;
    if e.event_id.trim().is_empty() {
        return Err(FieldError::invalid("event_id", "is empty"));
    }
    for field in [
        &mut e.consumer,
        &mut e.consumer_name,
        &mut e.api_key_id,
        &mut e.api,
        &mut e.route,
        &mut e.path_template,
        &mut e.method,
        &mut e.path,
        &mut e.client_ip,
    ] {
        if field.as_deref().is_some_and(f::is_absent_str) {
            *field = None;
        }
    }
    if e.query.as_deref() == Some("-") {
        e.query = None;
    }
    if let Some(status) = e.status
        && status > 999
    {
        return Err(FieldError::invalid(
            "status",
            format!("is not an HTTP status ({status})"),
        ));
    }
    for (name, v) in [
        ("latency_ms", e.latency_ms),
        ("upstream_latency_ms", e.upstream_latency_ms),
    ] {
        if let Some(ms) = v
            && (!ms.is_finite() || ms < 0.0)
        {
            return Err(FieldError::invalid(
                name,
                format!("must be a non-negative number of ms, got {ms}"),
            ));
        }
    }
    e.client_ip = e.client_ip.as_deref().and_then(f::client_ip);
    Ok(e)
}
