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

use serde_json::{Map, Value};

use super::Ctx;
use super::fields::{self as f, FieldError};
use crate::event::{AccessEvent, Gateway};
use crate::reject::RejectReason;

/// Optional string fields where `"-"`, `""` and blanks mean absent.
const STRINGS: [&str; 8] = [
    "consumer",
    "consumer_name",
    "api_key_id",
    "api",
    "route",
    "path_template",
    "method",
    "path",
];

pub(crate) fn decode(mut o: Map<String, Value>, _ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    // Every known field is read (and checked) here and written back in the
    // one spelling serde reads; serde then builds the event and rejects
    // unknown keys.
    let event_id =
        f::opt_string(o.get("event_id"), "event_id")?.ok_or_else(|| missing("event_id"))?;
    let ts = match o.get("ts") {
        Some(Value::String(s)) if !f::is_absent_str(s) => f::parse_rfc3339(s, "ts")?,
        None | Some(Value::Null | Value::String(_)) => return Err(missing("ts")),
        Some(other) => {
            return Err(FieldError::wrong_type(
                "ts",
                "an RFC 3339 string like 2024-06-11T13:04:05.123Z",
                other,
            ));
        }
    };
    let gateway = match o.get("gateway") {
        Some(Value::String(s)) if !f::is_absent_str(s) => gateway(s)?,
        None | Some(Value::Null | Value::String(_)) => return Err(missing("gateway")),
        Some(other) => return Err(FieldError::wrong_type("gateway", "a string", other)),
    };
    o.insert("event_id".into(), Value::String(event_id));
    o.insert("ts".into(), Value::String(ts.to_string()));
    o.insert("gateway".into(), Value::String(gateway.as_str().into()));

    for key in STRINGS {
        let v = f::opt_string(o.get(key), key)?;
        set(&mut o, key, v.map(Value::String));
    }
    let ip = f::opt_client_ip(o.get("client_ip"), "client_ip")?;
    set(&mut o, "client_ip", ip.map(Value::String));
    // The query keeps "" (a bare `?`): only `-` is absent.
    let query = match o.get("query") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "-" => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(FieldError::wrong_type("query", "a string", other)),
    };
    set(&mut o, "query", query.map(Value::String));

    let status = f::opt_status(o.get("status"), "status")?;
    set(&mut o, "status", status.map(Value::from));
    for key in ["request_bytes", "response_bytes"] {
        let v = f::opt_bytes(o.get(key), key, false)?;
        set(&mut o, key, v.map(Value::from));
    }
    // Exact: serde_json is built with `float_roundtrip` (workspace
    // Cargo.toml), so a printed f64 reads back as the same f64.
    for key in ["latency_ms", "upstream_latency_ms"] {
        // Negative is `invalid_value`; -0 reads as 0.
        let ms = f::opt_duration_ms(o.get(key), key, 0)?;
        set(&mut o, key, ms.map(Value::from));
    }

    serde_json::from_value(Value::Object(o)).map_err(|err| {
        let msg = err.to_string();
        FieldError {
            reason: if msg.starts_with("missing field") {
                RejectReason::MissingField
            } else {
                RejectReason::WrongType
            },
            message: msg,
        }
    })
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

/// Writes a normalised value back, or removes the key when it is absent
/// (serde's default for the field is `None`).
fn set(o: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    match v {
        Some(v) => {
            o.insert(key.to_string(), v);
        }
        None => {
            o.remove(key);
        }
    }
}
