//! Integration tests for the AWS API Gateway access-log decoder, bare and
//! inside CloudWatch Logs subscription envelopes.
//!
//! Fixtures follow the API Gateway developer guide's JSON access-log
//! examples: every `$context` variable is quoted by the template, so numbers
//! arrive as strings and a variable without a value is `"-"`. REST APIs log
//! `httpMethod` / `resourcePath`, HTTP APIs `routeKey`. Envelopes follow the
//! CloudWatch Logs "Subscription filters" docs (`DATA_MESSAGE` with
//! `logEvents[].message` strings, `CONTROL_MESSAGE` health checks, gzip).

use std::io::Write;
use std::str::FromStr;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use tollgate_schemas::decode::derive_id;
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

/// The API key secret (`$context.identity.apiKey`): must never reach an event.
const SECRET: &str = "Zq8vN3xR7tK2mP9wL4yB6cF1hJ5dG0sA8eU3iO7n";

/// REST API, with the AWS example template plus latency, key and authorizer
/// variables (and, unwisely, the key itself).
const REST_FULL: &str = r#"{"requestId":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","extendedRequestId":"ZxYwVFm2IAMFuQw=","ip":"198.51.100.23","caller":"-","user":"-","requestTime":"11/Jun/2024:13:04:05 +0000","requestTimeEpoch":"1718111045123","httpMethod":"GET","resourcePath":"/pets/{petId}","path":"/prod/pets/42","status":"200","protocol":"HTTP/1.1","responseLength":"1532","responseLatency":"87","integrationLatency":"64","apiId":"a1b2c3d4e5","stage":"prod","apiKeyId":"k7x9q2w4e6","apiKey":"Zq8vN3xR7tK2mP9wL4yB6cF1hJ5dG0sA8eU3iO7n","authorizer":{"principalId":"customer-8842"},"userAgent":"python-requests/2.31.0"}"#;

/// HTTP API with a Lambda authorizer, flat dotted keys, no epoch time.
const HTTP_FULL: &str = r#"{"requestId":"YbGrxhjMIAMEJvw=","ip":"2001:db8:85a3::8a2e:370:7334","requestTime":"11/Jun/2024:13:04:06 +0000","httpMethod":"GET","routeKey":"GET /pets/{id}","status":"200","protocol":"HTTP/1.1","responseLength":"96","responseLatency":"41","integrationLatency":"38","integrationStatus":"200","apiId":"x9y8z7w6v5","path":"/pets/77","authorizer.principalId":"user|a1b2","identity.apiKeyId":"-","errorMessage":"-"}"#;

/// HTTP API request rejected by a JWT authorizer: no integration, no
/// authorizer principal.
const HTTP_401: &str = r#"{"requestId":"Yc1bYhnXIAMEbOQ=","ip":"203.0.113.50","requestTime":"11/Jun/2024:13:04:07 +0000","requestTimeEpoch":"1718111047250","httpMethod":"POST","routeKey":"POST /orders","status":"401","protocol":"HTTP/1.1","responseLength":"26","responseLatency":"2","integrationLatency":"-","integrationStatus":"-","apiId":"x9y8z7w6v5","path":"/orders","authorizer.principalId":"-","errorMessage":"Unauthorized"}"#;

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

fn decode_with(input: &[u8], format: Format, pos: Option<&str>) -> Decoded {
    decode(input, format, &opts(), Position(pos))
}

fn one(input: &str) -> AccessEvent {
    one_with(input, Format::Auto, None)
}

fn one_with(input: &str, format: Format, pos: Option<&str>) -> AccessEvent {
    let out = decode_with(input.as_bytes(), format, pos);
    assert!(
        out.rejects.is_empty(),
        "unexpected rejects: {:#?}",
        out.rejects
    );
    assert_eq!(out.events.len(), 1, "expected one event: {out:#?}");
    out.events.into_iter().next().unwrap()
}

fn rejected(input: &str) -> Reject {
    rejected_with(input, Format::Auto)
}

fn rejected_with(input: &str, format: Format) -> Reject {
    let out = decode_with(input.as_bytes(), format, None);
    assert!(
        out.events.is_empty(),
        "unexpected events: {:#?}",
        out.events
    );
    assert_eq!(out.rejects.len(), 1, "expected one reject: {out:#?}");
    let r = out.rejects.into_iter().next().unwrap();
    assert_eq!(r.index, None);
    assert_eq!(r.raw, input.as_bytes(), "the reject keeps the raw bytes");
    assert!(!r.raw_truncated);
    r
}

/// `base` with keys replaced (JSON text) or removed (`None`).
fn edit(base: &str, changes: &[(&str, Option<&str>)]) -> String {
    let mut obj: serde_json::Map<String, Value> = serde_json::from_str(base).unwrap();
    for (key, value) in changes {
        match value {
            Some(v) => {
                obj.insert(key.to_string(), serde_json::from_str(v).unwrap());
            }
            None => {
                obj.remove(*key);
            }
        }
    }
    serde_json::to_string(&obj).unwrap()
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Every string the event holds, for "the secret is nowhere" checks.
fn assert_secret_absent(e: &AccessEvent) {
    let json = e.to_json();
    assert!(!json.contains(SECRET), "secret leaked: {json}");
    assert!(
        !json.contains(&SECRET[..12]),
        "secret prefix leaked: {json}"
    );
}

/// A CloudWatch Logs subscription envelope around the given log events
/// (`(id, message)`; the message is any JSON value, normally a string).
fn envelope(events: &[(Option<&str>, Value)]) -> String {
    let log_events: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, (id, message))| {
            let mut le = json!({"timestamp": 1_718_111_045_200_i64 + i as i64, "message": message});
            if let Some(id) = id {
                le["id"] = json!(id);
            }
            le
        })
        .collect();
    json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/apigateway/access-logs/a1b2c3d4e5/prod",
        "logStream": "3cd0f54a2c2e4f54b9c3e0ab7a1f2d9e",
        "subscriptionFilters": ["tollgate-access-logs"],
        "logEvents": log_events
    })
    .to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

const CW_ID_0: &str = "37958093584372386154329869785960138752345187654325403648";
const CW_ID_1: &str = "37958093584372386154329869785960138752345187654325403649";
const CW_ID_2: &str = "37958093584372386154329869785960138752345187654325403650";
const CW_ID_3: &str = "37958093584372386154329869785960138752345187654325403651";
const CW_ID_4: &str = "37958093584372386154329869785960138752345187654325403652";

// ---------------------------------------------------------------- bare lines

#[test]
fn rest_api_record_maps_every_field() {
    let e = one(REST_FULL);
    assert_eq!(
        e,
        AccessEvent {
            event_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
            // requestTimeEpoch (with ms) wins over requestTime (seconds).
            ts: EpochMillis(1_718_111_045_123),
            gateway: Gateway::Aws,
            consumer: Some("customer-8842".into()),
            consumer_name: None,
            api_key_id: Some("k7x9q2w4e6".into()),
            api: Some("a1b2c3d4e5".into()),
            route: Some("/pets/{petId}".into()),
            path_template: Some("/pets/{petId}".into()),
            method: Some("GET".into()),
            path: Some("/prod/pets/42".into()),
            query: None,
            status: Some(200),
            latency_ms: Some(87.0),
            upstream_latency_ms: Some(64.0),
            // No $context variable holds the request size.
            request_bytes: None,
            response_bytes: Some(1532),
            client_ip: Some("198.51.100.23".into()),
            amount: None,
        }
    );
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    assert_secret_absent(&e);
}

#[test]
fn http_api_record_with_route_key_and_flat_dotted_authorizer() {
    let e = one(HTTP_FULL);
    assert_eq!(
        e,
        AccessEvent {
            event_id: "YbGrxhjMIAMEJvw=".into(),
            ts: EpochMillis(1_718_111_046_000),
            gateway: Gateway::Aws,
            consumer: Some("user|a1b2".into()),
            consumer_name: None,
            api_key_id: None,
            api: Some("x9y8z7w6v5".into()),
            route: Some("GET /pets/{id}".into()),
            path_template: Some("/pets/{id}".into()),
            method: Some("GET".into()),
            path: Some("/pets/77".into()),
            query: None,
            status: Some(200),
            latency_ms: Some(41.0),
            upstream_latency_ms: Some(38.0),
            request_bytes: None,
            response_bytes: Some(96),
            client_ip: Some("2001:db8:85a3::8a2e:370:7334".into()),
            amount: None,
        }
    );
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:06.000Z");
}

#[test]
fn http_api_rejected_by_authorizer_has_no_integration_and_no_consumer() {
    let e = one(HTTP_401);
    assert_eq!(
        e,
        AccessEvent {
            event_id: "Yc1bYhnXIAMEbOQ=".into(),
            ts: EpochMillis(1_718_111_047_250),
            gateway: Gateway::Aws,
            consumer: None,
            consumer_name: None,
            api_key_id: None,
            api: Some("x9y8z7w6v5".into()),
            route: Some("POST /orders".into()),
            path_template: Some("/orders".into()),
            method: Some("POST".into()),
            path: Some("/orders".into()),
            query: None,
            status: Some(401),
            latency_ms: Some(2.0),
            upstream_latency_ms: None,
            request_bytes: None,
            response_bytes: Some(26),
            client_ip: Some("203.0.113.50".into()),
            amount: None,
        }
    );
    assert!(!e.to_json().contains(r#""-""#), "{}", e.to_json());
}

#[test]
fn default_and_any_routes() {
    // `$default` has no method or path part.
    let line = edit(
        HTTP_FULL,
        &[
            ("routeKey", Some(r#""$default""#)),
            ("httpMethod", Some(r#""PATCH""#)),
            ("path", Some(r#""/anything/at/all""#)),
        ],
    );
    let e = one(&line);
    assert_eq!(e.route.as_deref(), Some("$default"));
    assert_eq!(e.path_template, None);
    assert_eq!(e.method.as_deref(), Some("PATCH"));
    assert_eq!(e.path.as_deref(), Some("/anything/at/all"));
    // Without httpMethod there is nothing to say the method.
    let line = edit(&line, &[("httpMethod", None)]);
    let e = one(&line);
    assert_eq!(e.method, None);
    assert_eq!(e.route.as_deref(), Some("$default"));

    // `ANY /{proxy+}` matches every method: ANY is not a method.
    let line = edit(
        HTTP_FULL,
        &[
            ("routeKey", Some(r#""ANY /{proxy+}""#)),
            ("httpMethod", None),
        ],
    );
    let e = one(&line);
    assert_eq!(e.route.as_deref(), Some("ANY /{proxy+}"));
    assert_eq!(e.path_template.as_deref(), Some("/{proxy+}"));
    assert_eq!(e.method, None);
    let line = edit(&line, &[("httpMethod", Some(r#""DELETE""#))]);
    assert_eq!(one(&line).method.as_deref(), Some("DELETE"));

    // A route key alone gives method and template.
    let line = edit(HTTP_FULL, &[("httpMethod", None)]);
    let e = one(&line);
    assert_eq!(e.method.as_deref(), Some("GET"));
    assert_eq!(e.path_template.as_deref(), Some("/pets/{id}"));
}

#[test]
fn rest_resource_path_is_route_and_template_and_route_key_wins_for_route() {
    let line = edit(REST_FULL, &[("resourcePath", Some(r#""/{proxy+}""#))]);
    let e = one(&line);
    assert_eq!(e.route.as_deref(), Some("/{proxy+}"));
    assert_eq!(e.path_template.as_deref(), Some("/{proxy+}"));
    // A template logging both: routeKey names the route, resourcePath the template.
    let line = edit(REST_FULL, &[("routeKey", Some(r#""GET /pets/{id}""#))]);
    let e = one(&line);
    assert_eq!(e.route.as_deref(), Some("GET /pets/{id}"));
    assert_eq!(e.path_template.as_deref(), Some("/pets/{petId}"));
    // Neither: no route, no template.
    let line = edit(
        REST_FULL,
        &[("resourcePath", Some(r#""-""#)), ("routeKey", None)],
    );
    let e = one(&line);
    assert_eq!((e.route, e.path_template), (None, None));
}

#[test]
fn consumer_is_the_principal_else_the_api_key_id() {
    let base = edit(REST_FULL, &[("authorizer", None), ("apiKeyId", None)]);
    for (changes, consumer, key_id) in [
        (
            vec![("authorizer", Some(r#"{"principalId":"p-nested"}"#))],
            Some("p-nested"),
            None,
        ),
        (
            vec![("authorizer.principalId", Some(r#""p-flat""#))],
            Some("p-flat"),
            None,
        ),
        (
            vec![("principalId", Some(r#""p-top""#))],
            Some("p-top"),
            None,
        ),
        // Nested wins over flat.
        (
            vec![
                ("authorizer", Some(r#"{"principalId":"p-nested"}"#)),
                ("authorizer.principalId", Some(r#""p-flat""#)),
            ],
            Some("p-nested"),
            None,
        ),
        // A principal of "-" (no authorizer ran) falls back to the key id.
        (
            vec![
                ("authorizer", Some(r#"{"principalId":"-"}"#)),
                ("apiKeyId", Some(r#""k-top""#)),
            ],
            Some("k-top"),
            Some("k-top"),
        ),
        (
            vec![
                ("authorizer.principalId", Some("null")),
                (
                    "identity",
                    Some(r#"{"apiKeyId":"k-nested","sourceIp":"198.51.100.23"}"#),
                ),
            ],
            Some("k-nested"),
            Some("k-nested"),
        ),
        (
            vec![("identity.apiKeyId", Some(r#""k-flat""#))],
            Some("k-flat"),
            Some("k-flat"),
        ),
        // Principal and key both present: principal is the consumer.
        (
            vec![
                ("authorizer.principalId", Some(r#""p-flat""#)),
                ("apiKeyId", Some(r#""k-top""#)),
            ],
            Some("p-flat"),
            Some("k-top"),
        ),
        // "-" key id at the top falls through to the nested one.
        (
            vec![
                ("apiKeyId", Some(r#""-""#)),
                ("identity", Some(r#"{"apiKeyId":"k-nested"}"#)),
            ],
            Some("k-nested"),
            Some("k-nested"),
        ),
        // Nothing: anonymous.
        (
            vec![
                ("apiKeyId", Some(r#""-""#)),
                ("authorizer", Some(r#"{"principalId":"-"}"#)),
            ],
            None,
            None,
        ),
    ] {
        let line = edit(&base, &changes);
        let e = one(&line);
        assert_eq!(e.consumer.as_deref(), consumer, "{changes:?}");
        assert_eq!(e.api_key_id.as_deref(), key_id, "{changes:?}");
        assert_secret_absent(&e);
    }
}

#[test]
fn the_api_key_secret_never_appears_in_the_event() {
    for changes in [
        // Secret at the top, no key id: nothing to identify the caller by.
        vec![("apiKeyId", None), ("authorizer", None)],
        // Secret nested under identity, next to the id.
        vec![
            ("apiKey", None),
            ("apiKeyId", None),
            ("authorizer", None),
            (
                "identity",
                Some(
                    r#"{"apiKey":"Zq8vN3xR7tK2mP9wL4yB6cF1hJ5dG0sA8eU3iO7n","apiKeyId":"k7x9q2w4e6","sourceIp":"198.51.100.23"}"#,
                ),
            ),
        ],
        // Secret nested, id absent.
        vec![
            ("apiKey", None),
            ("apiKeyId", None),
            ("authorizer", None),
            (
                "identity",
                Some(r#"{"apiKey":"Zq8vN3xR7tK2mP9wL4yB6cF1hJ5dG0sA8eU3iO7n","apiKeyId":"-"}"#),
            ),
        ],
        // Flat dotted.
        vec![
            ("apiKey", None),
            ("apiKeyId", None),
            ("authorizer", None),
            (
                "identity.apiKey",
                Some(r#""Zq8vN3xR7tK2mP9wL4yB6cF1hJ5dG0sA8eU3iO7n""#),
            ),
        ],
        // Without a request id the event id is derived from the raw bytes
        // (which hold the secret): it must be a hash, not the text.
        vec![("requestId", None)],
    ] {
        let line = edit(REST_FULL, &changes);
        assert!(line.contains(SECRET));
        // Forced: without requestId the line is not auto-detected as AWS.
        let e = one_with(&line, Format::Fixed(Gateway::Aws), None);
        assert_secret_absent(&e);
        assert_ne!(e.api_key_id.as_deref(), Some(SECRET));
        assert_ne!(e.consumer.as_deref(), Some(SECRET));
        match e.api_key_id.as_deref() {
            None => assert_eq!(e.consumer, None, "{changes:?}"),
            Some(id) => assert_eq!(id, "k7x9q2w4e6"),
        }
    }
}

#[test]
fn request_time_variants() {
    for (changes, want) in [
        // Epoch ms, quoted (as the AWS templates write it) or not.
        (
            vec![("requestTimeEpoch", Some(r#""1718111045123""#))],
            "2024-06-11T13:04:05.123Z",
        ),
        (
            vec![("requestTimeEpoch", Some("1718111045123"))],
            "2024-06-11T13:04:05.123Z",
        ),
        (
            vec![("requestTimeEpoch", Some(r#"" 1718111045999 ""#))],
            "2024-06-11T13:04:05.999Z",
        ),
        // Sub-ms digits truncate.
        (
            vec![("requestTimeEpoch", Some("1718111045123.9"))],
            "2024-06-11T13:04:05.123Z",
        ),
        // Epoch wins over requestTime even when they disagree.
        (
            vec![
                ("requestTimeEpoch", Some(r#""1718111045123""#)),
                ("requestTime", Some(r#""01/Jan/2020:00:00:00 +0000""#)),
            ],
            "2024-06-11T13:04:05.123Z",
        ),
        // No epoch: the CLF requestTime, any offset.
        (vec![("requestTimeEpoch", None)], "2024-06-11T13:04:05.000Z"),
        (
            vec![("requestTimeEpoch", Some(r#""-""#))],
            "2024-06-11T13:04:05.000Z",
        ),
        (
            vec![("requestTimeEpoch", Some("null"))],
            "2024-06-11T13:04:05.000Z",
        ),
        (
            vec![
                ("requestTimeEpoch", None),
                ("requestTime", Some(r#""11/Jun/2024:15:04:05 +0200""#)),
            ],
            "2024-06-11T13:04:05.000Z",
        ),
        (
            vec![
                ("requestTimeEpoch", None),
                ("requestTime", Some(r#""31/Dec/2023:23:59:59 -0500""#)),
            ],
            "2024-01-01T04:59:59.000Z",
        ),
    ] {
        let line = edit(REST_FULL, &changes);
        assert_eq!(one(&line).ts.to_string(), want, "{changes:?}");
    }
}

#[test]
fn dash_null_and_empty_mean_absent_everywhere() {
    for spelling in [r#""-""#, "null", r#""""#] {
        let s = Some(spelling);
        let line = edit(
            REST_FULL,
            &[
                ("ip", s),
                ("httpMethod", s),
                ("resourcePath", s),
                ("path", s),
                ("status", s),
                ("responseLength", s),
                ("responseLatency", s),
                ("integrationLatency", s),
                ("apiId", s),
                ("apiKeyId", s),
                (
                    "authorizer",
                    Some(&format!(r#"{{"principalId":{spelling}}}"#)),
                ),
            ],
        );
        let e = one(&line);
        assert_eq!(
            e,
            AccessEvent::new(
                "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                EpochMillis(1_718_111_045_123),
                Gateway::Aws
            ),
            "{spelling}"
        );
        assert!(!e.to_json().contains(r#""-""#));
    }
    // The same with the keys missing altogether.
    let line = r#"{"requestId":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","requestTimeEpoch":"1718111045123"}"#;
    assert_eq!(
        one(line),
        AccessEvent::new(
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            EpochMillis(1_718_111_045_123),
            Gateway::Aws
        )
    );
}

#[test]
fn zero_values_are_kept_as_zero() {
    let line = edit(
        REST_FULL,
        &[
            ("responseLength", Some(r#""0""#)),
            ("responseLatency", Some(r#""0""#)),
            ("integrationLatency", Some("0")),
            ("status", Some(r#""204""#)),
        ],
    );
    let e = one(&line);
    assert_eq!(e.response_bytes, Some(0));
    assert_eq!(e.latency_ms, Some(0.0));
    assert_eq!(e.upstream_latency_ms, Some(0.0));
    assert_eq!(e.status, Some(204));
}

#[test]
fn quoted_and_unquoted_numbers_and_fractions() {
    let line = edit(
        REST_FULL,
        &[
            ("status", Some("503")),
            ("responseLength", Some("72")),
            ("responseLatency", Some(r#""29012.5""#)),
            ("integrationLatency", Some("29000.25")),
        ],
    );
    let e = one(&line);
    assert_eq!(e.status, Some(503));
    assert_eq!(e.response_bytes, Some(72));
    assert_eq!(e.latency_ms, Some(29012.5));
    assert_eq!(e.upstream_latency_ms, Some(29000.25));
}

#[test]
fn client_ip_sources_in_order() {
    let base = edit(REST_FULL, &[("ip", None)]);
    for (changes, want) in [
        (
            vec![("ip", Some(r#""198.51.100.23""#))],
            Some("198.51.100.23"),
        ),
        (
            vec![("sourceIp", Some(r#""192.0.2.1""#))],
            Some("192.0.2.1"),
        ),
        (
            vec![("identity", Some(r#"{"sourceIp":"2001:db8::9"}"#))],
            Some("2001:db8::9"),
        ),
        (
            vec![("identity.sourceIp", Some(r#""192.0.2.3""#))],
            Some("192.0.2.3"),
        ),
        // "-" at one spelling falls through to the next.
        (
            vec![
                ("ip", Some(r#""-""#)),
                ("identity", Some(r#"{"sourceIp":"192.0.2.4"}"#)),
            ],
            Some("192.0.2.4"),
        ),
        // ip wins over the identity spellings.
        (
            vec![
                ("ip", Some(r#""192.0.2.5""#)),
                ("identity.sourceIp", Some(r#""192.0.2.6""#)),
            ],
            Some("192.0.2.5"),
        ),
        (vec![("ip", Some(r#""2001:DB8::A""#))], Some("2001:db8::a")),
        (vec![], None),
    ] {
        let line = edit(&base, &changes);
        assert_eq!(one(&line).client_ip.as_deref(), want, "{changes:?}");
    }
}

#[test]
fn paths_keep_percent_encoding_and_unicode() {
    for (target, path, query) in [
        ("/prod/pets/caf%C3%A9", Some("/prod/pets/caf%C3%A9"), None),
        ("/prod/files/a%2Fb%20c", Some("/prod/files/a%2Fb%20c"), None),
        ("/prod/städte/köln", Some("/prod/städte/köln"), None),
        // A template logging the request URI with its query.
        (
            "/prod/pets?type=dog&sort=%2Bage",
            Some("/prod/pets"),
            Some("type=dog&sort=%2Bage"),
        ),
        ("/prod/pets?", Some("/prod/pets"), Some("")),
    ] {
        let line = edit(
            REST_FULL,
            &[("path", Some(&serde_json::to_string(target).unwrap()))],
        );
        let e = one(&line);
        assert_eq!(
            (e.path.as_deref(), e.query.as_deref()),
            (path, query),
            "{target}"
        );
    }
}

#[test]
fn auto_detection_matches_forced_format() {
    for line in [REST_FULL, HTTP_FULL, HTTP_401] {
        let auto = decode_with(line.as_bytes(), Format::Auto, Some("p"));
        let forced = decode_with(line.as_bytes(), Format::Fixed(Gateway::Aws), Some("p"));
        assert_eq!(auto, forced);
        assert_eq!(auto.events.len(), 1);
        assert_eq!(auto.events[0].gateway, Gateway::Aws);
    }
    assert_eq!(Format::from_str("aws"), Ok(Format::Fixed(Gateway::Aws)));
}

#[test]
fn each_aws_key_pairing_is_enough_for_detection() {
    for key in [
        r#""httpMethod":"GET""#,
        r#""routeKey":"GET /x""#,
        r#""requestTime":"11/Jun/2024:13:04:05 +0000""#,
        r#""resourcePath":"/x""#,
    ] {
        let line = format!(r#"{{"requestId":"r-1","requestTimeEpoch":"1718111045123",{key}}}"#);
        let e = one(&line);
        assert_eq!(e.gateway, Gateway::Aws, "{line}");
        assert_eq!(e.event_id, "r-1");
        assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    }
}

#[test]
fn template_without_request_id_needs_the_forced_format_and_gets_a_derived_id() {
    let line = r#"{"ip":"198.51.100.23","requestTimeEpoch":"1718111045123","status":"200","responseLength":"1532","responseLatency":"87","apiId":"a1b2c3d4e5"}"#;
    assert_eq!(rejected(line).reason, RejectReason::UnknownFormat);
    let a = one_with(line, Format::Fixed(Gateway::Aws), Some("aws/0@7"));
    assert_eq!(
        a,
        AccessEvent {
            api: Some("a1b2c3d4e5".into()),
            status: Some(200),
            latency_ms: Some(87.0),
            response_bytes: Some(1532),
            client_ip: Some("198.51.100.23".into()),
            amount: None,
            ..AccessEvent::new(
                derive_id(Position(Some("aws/0@7")), 0, line.as_bytes()),
                EpochMillis(1_718_111_045_123),
                Gateway::Aws
            )
        }
    );
    assert!(is_hex32(&a.event_id));
    let again = one_with(line, Format::Fixed(Gateway::Aws), Some("aws/0@7"));
    let elsewhere = one_with(line, Format::Fixed(Gateway::Aws), Some("aws/0@8"));
    let nowhere = one_with(line, Format::Fixed(Gateway::Aws), None);
    assert_eq!(a.event_id, again.event_id);
    assert_ne!(a.event_id, elsewhere.event_id);
    assert_ne!(a.event_id, nowhere.event_id);
    // A "-" request id is no request id.
    let dashed = edit(REST_FULL, &[("requestId", Some(r#""-""#))]);
    assert_eq!(
        one_with(&dashed, Format::Auto, Some("x")).event_id,
        derive_id(Position(Some("x")), 0, dashed.as_bytes())
    );
}

#[test]
fn bare_gzip_line_decodes_like_the_plain_line() {
    let plain = decode_with(REST_FULL.as_bytes(), Format::Auto, Some("p"));
    let gz = decode_with(&gzip(REST_FULL.as_bytes()), Format::Auto, Some("p"));
    assert_eq!(gz, plain);
    assert_eq!(
        gz.events[0].event_id,
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    );
}

#[test]
fn missing_request_time_is_a_missing_field_reject() {
    for changes in [
        vec![("requestTimeEpoch", None), ("requestTime", None)],
        vec![
            ("requestTimeEpoch", Some(r#""-""#)),
            ("requestTime", Some(r#""-""#)),
        ],
        vec![
            ("requestTimeEpoch", Some("null")),
            ("requestTime", Some(r#""""#)),
        ],
    ] {
        let line = edit(REST_FULL, &changes);
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::MissingField, "{changes:?}");
        assert!(r.message.starts_with("aws: "), "{}", r.message);
        assert!(r.message.contains("requestTime"), "{}", r.message);
    }
}

#[test]
fn impossible_values_are_invalid_value_rejects() {
    for (key, value, field) in [
        (
            "requestTimeEpoch",
            r#""-1718111045123""#,
            "requestTimeEpoch",
        ),
        ("requestTimeEpoch", r#""1e400""#, "requestTimeEpoch"),
        (
            "requestTimeEpoch",
            r#""999999999999999999""#,
            "requestTimeEpoch",
        ),
        ("status", r#""1000""#, "status"),
        ("status", r#""-1""#, "status"),
        ("status", r#""200.5""#, "status"),
        ("responseLatency", r#""-5""#, "responseLatency"),
        ("integrationLatency", "-1", "integrationLatency"),
        ("responseLength", r#""-1""#, "responseLength"),
        ("responseLength", r#""10.5""#, "responseLength"),
    ] {
        let line = edit(REST_FULL, &[(key, Some(value))]);
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::InvalidValue, "{key} = {value}: {r}");
        assert!(r.message.contains(field), "{}", r.message);
    }
    // A requestTime that is not CLF, with no epoch to fall back on.
    for bad in [
        r#""2024-06-11T13:04:05Z""#,
        r#""11/Jun/2024:13:04:05""#,
        r#""31/Jun/2024:13:04:05 +0000""#,
    ] {
        let line = edit(
            REST_FULL,
            &[("requestTimeEpoch", None), ("requestTime", Some(bad))],
        );
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::InvalidValue, "{bad}");
        assert!(r.message.contains("requestTime"), "{}", r.message);
    }
}

#[test]
fn wrong_types_are_wrong_type_rejects() {
    for (key, value, field) in [
        ("requestTimeEpoch", "[1718111045123]", "requestTimeEpoch"),
        ("requestTimeEpoch", "true", "requestTimeEpoch"),
        ("requestId", r#"{"id":"x"}"#, "requestId"),
        ("status", r#"{"code":"200"}"#, "status"),
        ("status", "true", "status"),
        ("responseLatency", "[87]", "responseLatency"),
        ("integrationLatency", "false", "integrationLatency"),
        ("responseLength", "{}", "responseLength"),
        ("httpMethod", r#"["GET"]"#, "httpMethod"),
        ("resourcePath", "{}", "resourcePath"),
        ("path", "[]", "path"),
        ("apiId", "true", "apiId"),
        ("apiKeyId", r#"{"id":"k"}"#, "apiKeyId"),
        (
            "authorizer",
            r#"{"principalId":{"sub":"x"}}"#,
            "principalId",
        ),
        ("ip", r#"["198.51.100.23"]"#, "ip"),
    ] {
        let line = edit(REST_FULL, &[(key, Some(value))]);
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::WrongType, "{key} = {value}: {r}");
        assert!(r.message.contains(field), "{}", r.message);
        // The reject keeps the raw record, secret and all, for replay; the
        // message does not repeat the secret.
        assert!(!r.message.contains(SECRET), "{}", r.message);
    }
    let line = edit(
        REST_FULL,
        &[("requestTimeEpoch", None), ("requestTime", Some("[]"))],
    );
    assert_eq!(rejected(&line).reason, RejectReason::WrongType);
}

// ----------------------------------------------------------------- envelopes

/// A realistic envelope written out by hand, as CloudWatch Logs delivers it
/// (before gzip): two access-log lines of a REST API stage.
const CW_ENVELOPE: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"API-Gateway-Access-Logs_a1b2c3d4e5/prod","logStream":"7f0e1f6d2a3b4c5d6e7f8091a2b3c4d5","subscriptionFilters":["tollgate"],"logEvents":[{"id":"37958093584372386154329869785960138752345187654325403648","timestamp":1718111045200,"message":"{\"requestId\":\"c6af9ac6-7b61-11e6-9a41-93e8deadbeef\",\"ip\":\"198.51.100.23\",\"caller\":\"-\",\"user\":\"-\",\"requestTime\":\"11/Jun/2024:13:04:05 +0000\",\"requestTimeEpoch\":\"1718111045123\",\"httpMethod\":\"GET\",\"resourcePath\":\"/pets/{petId}\",\"path\":\"/prod/pets/42\",\"status\":\"200\",\"protocol\":\"HTTP/1.1\",\"responseLength\":\"1532\",\"responseLatency\":\"87\",\"integrationLatency\":\"64\",\"apiId\":\"a1b2c3d4e5\",\"apiKeyId\":\"k7x9q2w4e6\"}"},{"id":"37958093584372386154329869785960138752345187654325403649","timestamp":1718111045800,"message":"{\"requestId\":\"d7b0a1c2-7b61-11e6-9a41-93e8deadbeef\",\"ip\":\"198.51.100.24\",\"caller\":\"-\",\"user\":\"-\",\"requestTime\":\"11/Jun/2024:13:04:05 +0000\",\"requestTimeEpoch\":\"1718111045777\",\"httpMethod\":\"POST\",\"resourcePath\":\"/pets\",\"path\":\"/prod/pets\",\"status\":\"429\",\"protocol\":\"HTTP/1.1\",\"responseLength\":\"44\",\"responseLatency\":\"1\",\"integrationLatency\":\"-\",\"apiId\":\"a1b2c3d4e5\",\"apiKeyId\":\"k7x9q2w4e6\"}"}]}"#;

#[test]
fn hand_written_envelope_decodes_every_line() {
    let out = decode_with(CW_ENVELOPE.as_bytes(), Format::Auto, Some("cw/0@1"));
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(
        out.events,
        vec![
            AccessEvent {
                event_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
                ts: EpochMillis(1_718_111_045_123),
                gateway: Gateway::Aws,
                consumer: Some("k7x9q2w4e6".into()),
                consumer_name: None,
                api_key_id: Some("k7x9q2w4e6".into()),
                api: Some("a1b2c3d4e5".into()),
                route: Some("/pets/{petId}".into()),
                path_template: Some("/pets/{petId}".into()),
                method: Some("GET".into()),
                path: Some("/prod/pets/42".into()),
                query: None,
                status: Some(200),
                latency_ms: Some(87.0),
                upstream_latency_ms: Some(64.0),
                request_bytes: None,
                response_bytes: Some(1532),
                client_ip: Some("198.51.100.23".into()),
                amount: None,
            },
            AccessEvent {
                event_id: "d7b0a1c2-7b61-11e6-9a41-93e8deadbeef".into(),
                ts: EpochMillis(1_718_111_045_777),
                gateway: Gateway::Aws,
                consumer: Some("k7x9q2w4e6".into()),
                consumer_name: None,
                api_key_id: Some("k7x9q2w4e6".into()),
                api: Some("a1b2c3d4e5".into()),
                route: Some("/pets".into()),
                path_template: Some("/pets".into()),
                method: Some("POST".into()),
                path: Some("/prod/pets".into()),
                query: None,
                status: Some(429),
                latency_ms: Some(1.0),
                upstream_latency_ms: None,
                request_bytes: None,
                response_bytes: Some(44),
                client_ip: Some("198.51.100.24".into()),
                amount: None,
            },
        ]
    );
    // Forced and auto agree, and the envelope's own timestamp is not used.
    assert_eq!(
        decode_with(
            CW_ENVELOPE.as_bytes(),
            Format::Fixed(Gateway::Aws),
            Some("cw/0@1")
        ),
        out
    );
}

#[test]
fn envelope_element_rejects_carry_their_index_while_others_decode() {
    let no_time = edit(
        HTTP_401,
        &[("requestTimeEpoch", None), ("requestTime", Some(r#""-""#))],
    );
    let bad_status = edit(HTTP_FULL, &[("status", Some(r#""9999""#))]);
    let execution_log = "(c6af9ac6-7b61-11e6-9a41-93e8deadbeef) Method request body before transformations: {\"name\":\"rex\"}";
    let env = envelope(&[
        (Some(CW_ID_0), json!(REST_FULL)),
        (Some(CW_ID_1), json!(no_time)),
        (Some(CW_ID_2), json!(HTTP_FULL)),
        (Some(CW_ID_3), json!({"not": "a string"})),
        (Some(CW_ID_4), json!(bad_status)),
        (None, json!(execution_log)),
        (None, json!(HTTP_401)),
    ]);
    let out = decode_with(env.as_bytes(), Format::Auto, Some("cw/2@99"));

    assert_eq!(out.events.len(), 3, "{out:#?}");
    assert_eq!(out.events[0], one(REST_FULL));
    assert_eq!(out.events[1], one(HTTP_FULL));
    assert_eq!(out.events[2], one(HTTP_401));

    let summary: Vec<(Option<usize>, RejectReason)> =
        out.rejects.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(
        summary,
        vec![
            (Some(1), RejectReason::MissingField),
            (Some(3), RejectReason::WrongType),
            (Some(4), RejectReason::InvalidValue),
            (Some(5), RejectReason::NotJson),
        ]
    );
    // Each reject keeps the raw bytes of its own log line.
    assert_eq!(out.rejects[0].raw, no_time.as_bytes());
    assert!(
        out.rejects[0].message.contains("requestTime"),
        "{}",
        out.rejects[0].message
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&out.rejects[1].raw).unwrap()["message"],
        json!({"not": "a string"})
    );
    assert!(
        out.rejects[1].message.contains("logEvents[3].message"),
        "{}",
        out.rejects[1].message
    );
    assert_eq!(out.rejects[2].raw, bad_status.as_bytes());
    assert!(
        out.rejects[2].message.contains("status"),
        "{}",
        out.rejects[2].message
    );
    assert_eq!(out.rejects[3].raw, execution_log.as_bytes());
    for r in &out.rejects {
        assert!(!r.raw_truncated);
    }
}

#[test]
fn control_message_yields_nothing() {
    let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1718111045000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    for format in [Format::Auto, Format::Fixed(Gateway::Aws)] {
        let out = decode_with(control.as_bytes(), format, Some("p"));
        assert_eq!(out, Decoded::default(), "{format}");
        let out = decode_with(&gzip(control.as_bytes()), format, Some("p"));
        assert_eq!(out, Decoded::default(), "gzip {format}");
    }
}

#[test]
fn gzip_envelope_decodes_like_the_plain_one() {
    let bad = edit(REST_FULL, &[("status", Some(r#""-3""#))]);
    let env = envelope(&[
        (Some(CW_ID_0), json!(HTTP_FULL)),
        (Some(CW_ID_1), json!(bad)),
        (Some(CW_ID_2), json!(REST_FULL)),
    ]);
    let compressed = gzip(env.as_bytes());
    assert_eq!(&compressed[..2], &[0x1f, 0x8b]);
    for format in [Format::Auto, Format::Fixed(Gateway::Aws)] {
        let plain = decode_with(env.as_bytes(), format, Some("s3://bucket/obj#0"));
        let gz = decode_with(&compressed, format, Some("s3://bucket/obj#0"));
        assert_eq!(gz, plain, "{format}");
        assert_eq!(gz.events.len(), 2);
        assert_eq!(gz.events[0], one(HTTP_FULL));
        assert_eq!(gz.events[1], one(REST_FULL));
        assert_eq!(gz.rejects.len(), 1);
        assert_eq!(gz.rejects[0].index, Some(1));
        assert_eq!(gz.rejects[0].reason, RejectReason::InvalidValue);
        assert_eq!(gz.rejects[0].raw, bad.as_bytes());
    }
}

#[test]
fn envelope_lines_without_request_id_get_ids_from_their_cloudwatch_event_id() {
    let line = edit(HTTP_FULL, &[("requestId", None)]);
    let env = envelope(&[
        (Some(CW_ID_0), json!(line)),
        (Some(CW_ID_1), json!(line)),
        (None, json!(line)),
        (None, json!(line)),
    ]);
    let out = decode_with(env.as_bytes(), Format::Fixed(Gateway::Aws), Some("cw/0@5"));
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let ids: Vec<&str> = out.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    for id in &ids {
        assert!(is_hex32(id), "{id}");
    }
    // The same line at distinct CloudWatch events or envelope slots: distinct ids.
    for i in 0..4 {
        for j in i + 1..4 {
            assert_ne!(ids[i], ids[j], "{i} vs {j}");
        }
    }
    assert_eq!(
        ids[0],
        derive_id(
            Position(Some(&format!("cloudwatch:{CW_ID_0}"))),
            0,
            line.as_bytes()
        )
    );
    assert_eq!(
        ids[2],
        derive_id(Position(Some("cw/0@5#logEvents[2]")), 0, line.as_bytes())
    );

    // Replaying the envelope yields the same ids; a CloudWatch event id is
    // globally unique, so the same event re-delivered elsewhere keeps its id.
    let replay = decode_with(env.as_bytes(), Format::Fixed(Gateway::Aws), Some("cw/0@5"));
    assert_eq!(replay, out);
    let moved = decode_with(env.as_bytes(), Format::Fixed(Gateway::Aws), Some("cw/1@0"));
    assert_eq!(moved.events[0].event_id, ids[0]);
    assert_eq!(moved.events[1].event_id, ids[1]);
    // Without a CloudWatch id, the envelope's position decides.
    assert_ne!(moved.events[2].event_id, ids[2]);
    assert_ne!(moved.events[3].event_id, ids[3]);
}

#[test]
fn forced_format_applies_to_envelope_lines() {
    // A log template without requestId: nothing in the line says AWS.
    let trimmed = r#"{"ip":"198.51.100.23","requestTimeEpoch":"1718111045123","status":"200","responseLatency":"87","apiId":"a1b2c3d4e5"}"#;
    let env = envelope(&[
        (Some(CW_ID_0), json!(REST_FULL)),
        (Some(CW_ID_1), json!(trimmed)),
    ]);

    let auto = decode_with(env.as_bytes(), Format::Auto, None);
    assert_eq!(auto.events.len(), 1);
    assert_eq!(auto.rejects.len(), 1);
    assert_eq!(auto.rejects[0].index, Some(1));
    assert_eq!(auto.rejects[0].reason, RejectReason::UnknownFormat);
    assert_eq!(auto.rejects[0].raw, trimmed.as_bytes());

    let forced = decode_with(env.as_bytes(), Format::Fixed(Gateway::Aws), None);
    assert!(forced.rejects.is_empty(), "{:?}", forced.rejects);
    assert_eq!(forced.events.len(), 2);
    assert_eq!(forced.events[1].status, Some(200));
    assert_eq!(forced.events[1].api.as_deref(), Some("a1b2c3d4e5"));
    assert_eq!(forced.events[1].ts.to_string(), "2024-06-11T13:04:05.123Z");
}

#[test]
fn envelope_with_no_events_or_a_bad_log_events_field() {
    let empty = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[]}"#;
    assert_eq!(
        decode_with(empty.as_bytes(), Format::Auto, None),
        Decoded::default()
    );

    let not_array = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":{"message":"{}"}}"#;
    let r = rejected(not_array);
    assert_eq!(r.reason, RejectReason::WrongType);
    assert!(r.message.contains("logEvents"), "{}", r.message);
}

#[test]
fn envelope_message_not_json_under_forced_aws_is_not_json() {
    let env = envelope(&[
        (
            Some(CW_ID_0),
            json!("Execution failed due to configuration error: Invalid endpoint address"),
        ),
        (Some(CW_ID_1), json!("   ")),
        (Some(CW_ID_2), json!(REST_FULL)),
    ]);
    let out = decode_with(env.as_bytes(), Format::Fixed(Gateway::Aws), None);
    assert_eq!(out.events.len(), 1);
    assert_eq!(
        out.events[0].event_id,
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    );
    let summary: Vec<(Option<usize>, RejectReason)> =
        out.rejects.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(
        summary,
        vec![
            (Some(0), RejectReason::NotJson),
            (Some(1), RejectReason::Empty)
        ]
    );
    assert_eq!(
        out.rejects[0].raw,
        b"Execution failed due to configuration error: Invalid endpoint address"
    );
}
