//! AWS API Gateway JSON access logs, bare or in a CloudWatch Logs
//! subscription envelope.
//!
//! Source of the mapping: the API Gateway developer guide, "$context
//! variables for data models, authorizers, mapping templates, and CloudWatch
//! access logging" (REST) and "Customizing HTTP API access logs", and the
//! CloudWatch Logs "Subscription filters" docs for the envelope.
//!
//! Access-log key names are chosen by whoever wrote the log template, so
//! each field is looked up under the key the AWS examples use, as a nested
//! object and as a flat dotted key (`"authorizer.principalId"`). AWS writes
//! `-` for a variable without a value and many templates quote numbers;
//! both are handled.
//!
//! | canonical | AWS |
//! |---|---|
//! | event_id | `requestId` |
//! | ts | `requestTimeEpoch` (ms), else `requestTime` (`11/Jun/2024:13:04:05 +0000`) |
//! | consumer | `authorizer.principalId` when present, else the API key id (a usage-plan customer is identified by key) |
//! | api_key_id | `apiKeyId` / `identity.apiKeyId`; never `apiKey`, which is the secret |
//! | api | `apiId` |
//! | route | `routeKey` (HTTP API), else `resourcePath` (REST) |
//! | path_template | `resourcePath`, else the path part of `routeKey` (`GET /pets/{id}` → `/pets/{id}`) |
//! | method | `httpMethod`, else the method part of `routeKey` |
//! | path, query | `path` split at `?` |
//! | status | `status` |
//! | latency_ms / upstream_latency_ms | `responseLatency` / `integrationLatency` (ms) |
//! | response_bytes | `responseLength`; request_bytes has no `$context` variable: null |
//! | client_ip | `ip`, else `sourceIp` / `identity.sourceIp` |
//!
//! In the envelope each `logEvents[].message` is one log line as a JSON
//! string; it is decoded like a bare message, its CloudWatch event `id`
//! serving as its position. `CONTROL_MESSAGE` envelopes hold no events.

use super::json::{Field, Obj};

use super::fields::{self as f, FieldError, get};
use super::{Ctx, DecodeOptions, Decoded, Format, Position};
use crate::event::{AccessEvent, Gateway};
use crate::reject::{Reject, RejectReason};

/// True for a CloudWatch Logs subscription envelope.
pub(crate) fn is_envelope(o: &Obj<'_>) -> bool {
    o.contains_key("logEvents") && (o.contains_key("messageType") || o.contains_key("logGroup"))
}

/// The first of several spellings of one variable that is present.
fn any<'a>(o: &Obj<'a>, paths: &[&[&str]]) -> Option<Field<'a>> {
    paths.iter().find_map(|p| {
        let v = get(o, p)?;
        if v.is_null() || v.str().is_some_and(|s| f::is_absent_str(&s)) {
            None
        } else {
            Some(v)
        }
    })
}

pub(crate) fn decode(o: &Obj<'_>, ctx: &Ctx<'_>) -> Result<AccessEvent, FieldError> {
    let ts = match f::opt_epoch(get(o, &["requestTimeEpoch"]), "requestTimeEpoch", 3)? {
        Some(ts) => ts,
        None => match f::opt_string(get(o, &["requestTime"]), "requestTime")? {
            Some(t) => f::parse_clf_time(&t, "requestTime")?,
            None => return Err(FieldError::missing("requestTimeEpoch", "AWS API Gateway")),
        },
    };
    let id = f::opt_string(get(o, &["requestId"]), "requestId")?;
    let mut e = AccessEvent::new(ctx.id_or_derived(id), ts, Gateway::Aws);
    e.api_key_id = f::opt_string(
        any(
            o,
            &[
                &["apiKeyId"],
                &["identity", "apiKeyId"],
                &["identity.apiKeyId"],
            ],
        ),
        "apiKeyId",
    )?;
    e.consumer = match f::opt_string(
        any(
            o,
            &[
                &["authorizer", "principalId"],
                &["authorizer.principalId"],
                &["principalId"],
            ],
        ),
        "authorizer.principalId",
    )? {
        Some(p) => Some(p),
        None => e.api_key_id.clone(),
    };
    e.api = f::opt_string(get(o, &["apiId"]), "apiId")?;
    let route_key = f::opt_string(get(o, &["routeKey"]), "routeKey")?;
    let resource_path = f::opt_string(get(o, &["resourcePath"]), "resourcePath")?;
    let (rk_method, rk_path) = match route_key.as_deref().and_then(|k| k.split_once(' ')) {
        Some((m, p)) => (Some(m.to_string()), Some(p.to_string())),
        None => (None, None),
    };
    e.route = route_key.or_else(|| resource_path.clone());
    e.path_template = resource_path.or(rk_path);
    e.method =
        f::opt_string(get(o, &["httpMethod"]), "httpMethod")?.or(rk_method.filter(|m| m != "ANY"));
    if let Some(t) = f::opt_string(get(o, &["path"]), "path")? {
        (e.path, e.query) = f::split_target(&t);
    }
    e.status = f::opt_status(get(o, &["status"]), "status")?;
    e.latency_ms = f::opt_duration_ms(get(o, &["responseLatency"]), "responseLatency", 0)?;
    e.upstream_latency_ms =
        f::opt_duration_ms(get(o, &["integrationLatency"]), "integrationLatency", 0)?;
    e.response_bytes = f::opt_bytes(get(o, &["responseLength"]), "responseLength", false)?;
    e.client_ip = f::opt_client_ip(
        any(
            o,
            &[
                &["ip"],
                &["sourceIp"],
                &["identity", "sourceIp"],
                &["identity.sourceIp"],
            ],
        ),
        "ip",
    )?;
    Ok(e)
}

/// Expands a CloudWatch Logs envelope into its log lines.
pub(crate) fn decode_envelope(
    o: &Obj<'_>,
    raw: &[u8],
    index: Option<usize>,
    format: Format,
    opts: &DecodeOptions,
    position: Position<'_>,
    out: &mut Decoded,
) {
    if o.get("messageType").and_then(|t| t.str()).as_deref() == Some("CONTROL_MESSAGE") {
        return;
    }
    let Some(events) = o.get("logEvents").and_then(|e| e.array()) else {
        let r = Reject::new(
            RejectReason::WrongType,
            "aws: CloudWatch Logs envelope field `logEvents` should be an array",
            raw,
        );
        out.rejects.push(match index {
            Some(i) => r.at(i),
            None => r,
        });
        return;
    };
    for (i, le) in events.iter().enumerate() {
        let le_obj = le.object().unwrap_or_default();
        let Some(message) = le_obj.get("message").and_then(|m| m.str()) else {
            out.rejects.push(
                Reject::new(
                    RejectReason::WrongType,
                    format!("aws: logEvents[{i}].message should be a string holding one log line"),
                    le.raw().as_bytes(),
                )
                .at(i),
            );
            continue;
        };
        let pos = match le_obj.get("id").and_then(|id| id.str()) {
            Some(id) => format!("cloudwatch:{id}"),
            None => format!("{}#logEvents[{i}]", position.0.unwrap_or("")),
        };
        let mut inner = Decoded::default();
        super::decode_text(
            message.as_bytes(),
            message.as_bytes(),
            format,
            opts,
            Position(Some(&pos)),
            &mut inner,
        );
        out.event_index
            .extend(std::iter::repeat_n(i, inner.events.len()));
        out.events.append(&mut inner.events);
        out.rejects
            .extend(inner.rejects.into_iter().map(|r| Reject {
                index: Some(i),
                ..r
            }));
    }
}
