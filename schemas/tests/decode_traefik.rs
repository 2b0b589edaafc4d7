//! Integration tests for the Traefik JSON access-log decoder.
//!
//! Fixtures follow Traefik's `accessLog.format: json` output as its "Access
//! Logs" docs list the fields: `StartUTC` / `StartLocal` with nanoseconds,
//! `Duration`, `OriginDuration` and `Overhead` in **nanoseconds**,
//! `OriginStatus` 0 when no upstream answered (its `OriginDuration` kept
//! when time was spent on it), `ClientUsername` `-` without authentication, and kept request headers as `request_<Header-Name>`.

use std::str::FromStr;

use tollgate_schemas::decode::derive_id;
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

/// A full Traefik v3 record for a POST routed through the Docker provider.
const TRAEFIK_FULL: &str = r#"{"ClientAddr":"192.0.2.10:53124","ClientHost":"192.0.2.10","ClientPort":"53124","ClientUsername":"-","DownstreamContentSize":2048,"DownstreamStatus":201,"Duration":12345678,"OriginContentSize":2048,"OriginDuration":11234567,"OriginStatus":201,"Overhead":1111111,"RequestAddr":"api.example.com","RequestContentSize":512,"RequestCount":42,"RequestHost":"api.example.com","RequestMethod":"POST","RequestPath":"/v2/orders/%E2%82%AC?expand=items&sig=a%2Bb","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":"orders@docker","ServiceName":"orders-svc@docker","ServiceURL":"http://172.18.0.5:8080","ServiceAddr":"172.18.0.5:8080","StartLocal":"2024-06-11T15:04:05.123456789+02:00","StartUTC":"2024-06-11T13:04:05.123456789Z","TLSCipher":"TLS_AES_128_GCM_SHA256","TLSVersion":"1.3","entryPointName":"websecure","level":"info","msg":"","time":"2024-06-11T15:04:05+02:00"}"#;

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

fn decode_with(input: &str, format: Format, pos: Option<&str>) -> Decoded {
    decode(input.as_bytes(), format, &opts(), Position(pos))
}

fn one(input: &str) -> AccessEvent {
    one_with(input, Format::Auto, None)
}

fn one_with(input: &str, format: Format, pos: Option<&str>) -> AccessEvent {
    let out = decode_with(input, format, pos);
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
    let out = decode_with(input, format, None);
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

/// `base` with some keys replaced (JSON text) or removed (`None`).
fn edit(base: &str, changes: &[(&str, Option<&str>)]) -> String {
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(base).unwrap();
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

fn with_field(key: &str, value: Option<&str>) -> String {
    edit(TRAEFIK_FULL, &[(key, value)])
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn full_record_maps_every_field() {
    let e = one(TRAEFIK_FULL);
    let expected = AccessEvent {
        // No request id header kept: derived from the bytes.
        event_id: derive_id(Position(None), 0, TRAEFIK_FULL.as_bytes()),
        ts: EpochMillis(1_718_111_045_123),
        gateway: Gateway::Traefik,
        consumer: None,
        consumer_name: None,
        api_key_id: None,
        api: Some("orders-svc@docker".into()),
        route: Some("orders@docker".into()),
        path_template: None,
        method: Some("POST".into()),
        path: Some("/v2/orders/%E2%82%AC".into()),
        query: Some("expand=items&sig=a%2Bb".into()),
        status: Some(201),
        latency_ms: Some(12.345678),
        upstream_latency_ms: Some(11.234567),
        request_bytes: Some(512),
        response_bytes: Some(2048),
        client_ip: Some("192.0.2.10".into()),
        amount: None,
    };
    assert_eq!(e, expected);
    assert!(is_hex32(&e.event_id), "{}", e.event_id);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    let json = e.to_json();
    assert!(
        json.contains(r#""latency_ms":12.345678,"upstream_latency_ms":11.234567,"#),
        "{json}"
    );
    assert!(json.contains(r#""consumer":null,"#), "{json}");
    assert!(!json.contains(r#""-""#), "{json}");
}

#[test]
fn kept_request_id_header_basic_auth_user_and_ipv6_client() {
    // `accessLog.fields.headers.names.X-Request-Id: keep` plus basic auth.
    let line = r#"{"ClientAddr":"[2001:db8::5]:51234","ClientHost":"2001:db8::5","ClientPort":"51234","ClientUsername":"alice","DownstreamContentSize":17,"DownstreamStatus":200,"Duration":2500000,"OriginContentSize":17,"OriginDuration":1750000,"OriginStatus":200,"Overhead":750000,"RequestAddr":"billing.example.com","RequestContentSize":0,"RequestCount":7,"RequestHost":"billing.example.com","RequestMethod":"GET","RequestPath":"/invoices/2024-06?format=pdf","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"https","RetryAttempts":0,"RouterName":"billing-secure@file","ServiceName":"billing@file","StartLocal":"2024-06-11T13:04:05.000999999Z","StartUTC":"2024-06-11T13:04:05.000999999Z","entryPointName":"websecure","level":"info","msg":"","request_User-Agent":"Mozilla/5.0","request_X-Request-Id":"3f2c9a6e-8b1d-4c7f-9e2a-5d6b7c8e9f01","time":"2024-06-11T13:04:05Z"}"#;
    let e = one(line);
    assert_eq!(
        e,
        AccessEvent {
            event_id: "3f2c9a6e-8b1d-4c7f-9e2a-5d6b7c8e9f01".into(),
            ts: EpochMillis(1_718_111_045_000),
            gateway: Gateway::Traefik,
            consumer: Some("alice".into()),
            consumer_name: None,
            api_key_id: None,
            api: Some("billing@file".into()),
            route: Some("billing-secure@file".into()),
            path_template: None,
            method: Some("GET".into()),
            path: Some("/invoices/2024-06".into()),
            query: Some("format=pdf".into()),
            status: Some(200),
            latency_ms: Some(2.5),
            upstream_latency_ms: Some(1.75),
            // GET without a body: a real 0, not absent.
            request_bytes: Some(0),
            response_bytes: Some(17),
            client_ip: Some("2001:db8::5".into()),
            amount: None,
        }
    );
    // .000999999 truncates to .000, it does not round to .001.
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.000Z");
    // The request id does not depend on where the line was read.
    assert_eq!(
        one_with(line, Format::Auto, Some("traefik/1@9")).event_id,
        e.event_id
    );
}

#[test]
fn no_matching_router_means_no_route_service_or_upstream() {
    // Traefik's own 404: no router matched, no upstream was called,
    // OriginStatus and OriginDuration are 0.
    let line = r#"{"ClientAddr":"198.51.100.77:40022","ClientHost":"198.51.100.77","ClientPort":"40022","ClientUsername":"-","DownstreamContentSize":19,"DownstreamStatus":404,"Duration":45123,"OriginContentSize":0,"OriginDuration":0,"OriginStatus":0,"Overhead":45123,"RequestAddr":"api.example.com","RequestContentSize":0,"RequestCount":3,"RequestHost":"api.example.com","RequestMethod":"GET","RequestPath":"/wp-login.php","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"http","RetryAttempts":0,"StartLocal":"2024-06-11T13:04:05.999999999Z","StartUTC":"2024-06-11T13:04:05.999999999Z","entryPointName":"web","level":"info","msg":"","time":"2024-06-11T13:04:06Z"}"#;
    let e = one(line);
    assert_eq!(
        e,
        AccessEvent {
            event_id: derive_id(Position(None), 0, line.as_bytes()),
            // .999999999 must not round up into the next second.
            ts: EpochMillis(1_718_111_045_999),
            gateway: Gateway::Traefik,
            consumer: None,
            consumer_name: None,
            api_key_id: None,
            api: None,
            route: None,
            path_template: None,
            method: Some("GET".into()),
            path: Some("/wp-login.php".into()),
            query: None,
            status: Some(404),
            latency_ms: Some(0.045123),
            upstream_latency_ms: None,
            request_bytes: Some(0),
            response_bytes: Some(19),
            client_ip: Some("198.51.100.77".into()),
            amount: None,
        }
    );
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.999Z");
}

#[test]
fn an_origin_that_did_not_answer_keeps_the_time_spent_on_it() {
    // 502 after dialing the backend failed (or 504 after it timed out):
    // Traefik spent 3.000125 ms on the origin and no origin answered
    // (OriginStatus 0). That time is upstream time (issue 17).
    let line = edit(
        TRAEFIK_FULL,
        &[
            ("DownstreamStatus", Some("502")),
            ("OriginStatus", Some("0")),
            ("OriginDuration", Some("3000125")),
            ("OriginContentSize", Some("0")),
            ("DownstreamContentSize", Some("11")),
            ("Duration", Some("3001000")),
        ],
    );
    let e = one(&line);
    assert_eq!(e.status, Some(502));
    assert_eq!(e.upstream_latency_ms, Some(3.000125));
    assert_eq!(e.latency_ms, Some(3.001));
    assert_eq!(e.response_bytes, Some(11));
    // Quoted "0" is the same status.
    let quoted = edit(&line, &[("OriginStatus", Some(r#""0""#))]);
    assert_eq!(one(&quoted).upstream_latency_ms, Some(3.000125));
    // Without OriginStatus the duration is all there is.
    let line = edit(&line, &[("OriginStatus", None)]);
    assert_eq!(one(&line).upstream_latency_ms, Some(3.000125));
}

#[test]
fn no_origin_called_has_no_upstream_latency() {
    // A router with no service, or a middleware answering by itself:
    // OriginStatus 0 and no time on any origin.
    for duration in [Some("0"), Some(r#""0""#), None] {
        let line = edit(
            TRAEFIK_FULL,
            &[
                ("DownstreamStatus", Some("401")),
                ("OriginStatus", Some("0")),
                ("OriginDuration", duration),
            ],
        );
        let e = one(&line);
        assert_eq!(e.upstream_latency_ms, None, "OriginDuration {duration:?}");
        assert_eq!(e.status, Some(401));
    }
    // An origin that answered in under a nanosecond's resolution is still
    // an origin call: 0 with a real status stays 0.
    let line = edit(TRAEFIK_FULL, &[("OriginDuration", Some("0"))]);
    assert_eq!(one(&line).upstream_latency_ms, Some(0.0));
}

#[test]
fn nanoseconds_convert_to_milliseconds_exactly() {
    for (ns, ms) in [
        ("0", 0.0),
        ("1", 0.000001),
        ("999", 0.000999),
        ("999999", 0.999999),
        ("1000000", 1.0),
        ("1500000", 1.5),
        ("148522", 0.148522),
        ("1500000000", 1500.0),
        ("123456789012", 123456.789012),
        ("86400000000000", 86_400_000.0),
        (r#""12345678""#, 12.345678),
        ("2.5e6", 2.5),
    ] {
        let line = edit(
            TRAEFIK_FULL,
            &[("Duration", Some(ns)), ("OriginDuration", Some(ns))],
        );
        let e = one(&line);
        assert_eq!(e.latency_ms, Some(ms), "Duration {ns}");
        assert_eq!(e.upstream_latency_ms, Some(ms), "OriginDuration {ns}");
    }
}

#[test]
fn start_utc_is_truncated_and_start_local_is_the_fallback() {
    for (text, want) in [
        ("2024-06-11T13:04:05.123456789Z", "2024-06-11T13:04:05.123Z"),
        ("2024-06-11T13:04:05.1Z", "2024-06-11T13:04:05.100Z"),
        ("2024-06-11T13:04:05Z", "2024-06-11T13:04:05.000Z"),
        ("2024-12-31T23:59:59.999999999Z", "2024-12-31T23:59:59.999Z"),
    ] {
        let line = with_field("StartUTC", Some(&format!("{text:?}")));
        assert_eq!(one(&line).ts.to_string(), want, "for {text}");
    }
    // StartUTC wins over StartLocal when both are present.
    let line = edit(
        TRAEFIK_FULL,
        &[("StartLocal", Some(r#""2020-01-01T00:00:00.000+02:00""#))],
    );
    assert_eq!(one(&line).ts.to_string(), "2024-06-11T13:04:05.123Z");
    // A field filter that dropped StartUTC: StartLocal in its zone.
    for start_utc in [None, Some("null"), Some(r#""-""#)] {
        let line = edit(
            TRAEFIK_FULL,
            &[
                ("StartUTC", start_utc),
                (
                    "StartLocal",
                    Some(r#""2024-06-11T15:04:05.987654321+02:00""#),
                ),
            ],
        );
        assert_eq!(one(&line).ts.to_string(), "2024-06-11T13:04:05.987Z");
    }
}

#[test]
fn every_null_spelling_is_none() {
    for spelling in [Some("null"), Some(r#""-""#), Some(r#""""#), None] {
        for key in [
            "ClientUsername",
            "ServiceName",
            "RouterName",
            "RequestMethod",
            "RequestPath",
            "DownstreamStatus",
            "Duration",
            "OriginDuration",
            "RequestContentSize",
            "DownstreamContentSize",
        ] {
            let line = with_field(key, spelling);
            let out = decode_with(&line, Format::Fixed(Gateway::Traefik), None);
            assert!(
                out.rejects.is_empty(),
                "{key} {spelling:?}: {:?}",
                out.rejects
            );
            let e = &out.events[0];
            let none = match key {
                "ClientUsername" => e.consumer.is_none(),
                "ServiceName" => e.api.is_none(),
                "RouterName" => e.route.is_none(),
                "RequestMethod" => e.method.is_none(),
                "RequestPath" => e.path.is_none() && e.query.is_none(),
                "DownstreamStatus" => e.status.is_none(),
                "Duration" => e.latency_ms.is_none(),
                "OriginDuration" => e.upstream_latency_ms.is_none(),
                "RequestContentSize" => e.request_bytes.is_none(),
                "DownstreamContentSize" => e.response_bytes.is_none(),
                _ => unreachable!(),
            };
            assert!(none, "{key} = {spelling:?} should be None: {e:?}");
            assert_eq!(e.ts, EpochMillis(1_718_111_045_123));
            assert!(!e.to_json().contains(r#""-""#), "{}", e.to_json());
        }
        // Client address: both fields absent.
        let line = edit(
            TRAEFIK_FULL,
            &[("ClientHost", spelling), ("ClientAddr", spelling)],
        );
        assert_eq!(one(&line).client_ip, None, "{spelling:?}");
    }
}

#[test]
fn client_addr_is_the_fallback_without_port_or_brackets() {
    for (host, addr, want) in [
        (None, Some(r#""192.0.2.10:53124""#), "192.0.2.10"),
        (
            Some(r#""-""#),
            Some(r#""[2001:db8::5]:51234""#),
            "2001:db8::5",
        ),
        (
            Some(r#""""#),
            Some(r#""[2001:db8::5]:51234""#),
            "2001:db8::5",
        ),
        (Some("null"), Some(r#""10.0.0.9:1""#), "10.0.0.9"),
        (
            Some(r#""2001:db8::7""#),
            Some(r#""[2001:db8::7]:443""#),
            "2001:db8::7",
        ),
        // ClientHost wins when both are present.
        (
            Some(r#""203.0.113.1""#),
            Some(r#""10.0.0.1:5555""#),
            "203.0.113.1",
        ),
    ] {
        let line = edit(TRAEFIK_FULL, &[("ClientHost", host), ("ClientAddr", addr)]);
        assert_eq!(
            one(&line).client_ip.as_deref(),
            Some(want),
            "{host:?} {addr:?}"
        );
    }
}

#[test]
fn request_paths_keep_encoding_and_unicode() {
    for (target, path, query) in [
        ("/", Some("/"), None),
        ("/search?", Some("/search"), Some("")),
        (
            "/files/a%20b%2Fc.txt?dl=1&n=%C3%A9",
            Some("/files/a%20b%2Fc.txt"),
            Some("dl=1&n=%C3%A9"),
        ),
        ("/città/ß?x=ü", Some("/città/ß"), Some("x=ü")),
        ("/emoji/🚀?q=a?b", Some("/emoji/🚀"), Some("q=a?b")),
    ] {
        let line = with_field("RequestPath", Some(&serde_json::to_string(target).unwrap()));
        let e = one(&line);
        assert_eq!(
            (e.path.as_deref(), e.query.as_deref()),
            (path, query),
            "{target}"
        );
    }
}

#[test]
fn quoted_numbers_are_read() {
    let line = edit(
        TRAEFIK_FULL,
        &[
            ("DownstreamStatus", Some(r#""429""#)),
            ("RequestContentSize", Some(r#""64""#)),
            ("DownstreamContentSize", Some(r#""0""#)),
            ("Duration", Some(r#""750000""#)),
            ("OriginStatus", Some(r#""429""#)),
            ("OriginDuration", Some(r#""500000""#)),
        ],
    );
    let e = one(&line);
    assert_eq!(e.status, Some(429));
    assert_eq!(e.request_bytes, Some(64));
    assert_eq!(e.response_bytes, Some(0));
    assert_eq!(e.latency_ms, Some(0.75));
    assert_eq!(e.upstream_latency_ms, Some(0.5));
}

#[test]
fn auto_detection_matches_forced_format() {
    let auto = decode_with(TRAEFIK_FULL, Format::Auto, Some("p"));
    let forced = decode_with(TRAEFIK_FULL, Format::Fixed(Gateway::Traefik), Some("p"));
    assert_eq!(auto, forced);
    assert_eq!(auto.events[0].gateway, Gateway::Traefik);
    assert_eq!(
        Format::from_str("traefik"),
        Ok(Format::Fixed(Gateway::Traefik))
    );
}

#[test]
fn each_traefik_key_alone_is_enough_for_detection() {
    for key in [
        r#""StartUTC":"2024-06-11T13:04:05.123456789Z""#,
        r#""DownstreamStatus":200"#,
        r#""RouterName":"api@internal""#,
        r#""OriginDuration":1000"#,
    ] {
        let line = format!(
            r#"{{"StartLocal":"2024-06-11T13:04:05.123456789Z","RequestMethod":"GET",{key}}}"#
        );
        let e = one(&line);
        assert_eq!(e.gateway, Gateway::Traefik, "{line}");
        assert_eq!(e.ts, EpochMillis(1_718_111_045_123));
    }
}

#[test]
fn filtered_fields_need_the_forced_format() {
    // `accessLog.fields.defaultMode: drop` keeping only a few fields: no key
    // identifies Traefik, so auto-detection refuses and forcing works.
    let line = r#"{"StartLocal":"2024-06-11T13:04:05.123456789Z","RequestMethod":"GET","RequestPath":"/ping","Duration":250000,"ClientHost":"10.1.2.3"}"#;
    assert_eq!(rejected(line).reason, RejectReason::UnknownFormat);
    let e = one_with(line, Format::Fixed(Gateway::Traefik), None);
    assert_eq!(
        e,
        AccessEvent {
            method: Some("GET".into()),
            path: Some("/ping".into()),
            latency_ms: Some(0.25),
            client_ip: Some("10.1.2.3".into()),
            amount: None,
            ..AccessEvent::new(
                derive_id(Position(None), 0, line.as_bytes()),
                EpochMillis(1_718_111_045_123),
                Gateway::Traefik
            )
        }
    );
}

#[test]
fn forcing_traefik_on_an_envoy_record_is_a_missing_timestamp() {
    let envoy = r#"{"start_time":"2024-06-11T13:04:05.123Z","method":"GET","path":"/","response_code":200,"duration":3}"#;
    let r = rejected_with(envoy, Format::Fixed(Gateway::Traefik));
    assert_eq!(r.reason, RejectReason::MissingField);
    assert!(r.message.starts_with("traefik: "), "{}", r.message);
}

#[test]
fn derived_event_id_is_deterministic_and_position_dependent() {
    let a = one_with(TRAEFIK_FULL, Format::Auto, Some("traefik/0@41")).event_id;
    let a2 = one_with(TRAEFIK_FULL, Format::Auto, Some("traefik/0@41")).event_id;
    let b = one_with(TRAEFIK_FULL, Format::Auto, Some("traefik/0@42")).event_id;
    let n = one_with(TRAEFIK_FULL, Format::Auto, None).event_id;
    assert!(is_hex32(&a));
    assert_eq!(a, a2);
    assert_ne!(a, b);
    assert_ne!(a, n);
    assert_eq!(
        a,
        derive_id(Position(Some("traefik/0@41")), 0, TRAEFIK_FULL.as_bytes())
    );
    // An absent request-id header spelling falls back to the derived id.
    for absent in ["null", r#""-""#, r#""""#] {
        let line = with_field("request_X-Request-Id", Some(absent));
        assert_eq!(
            one_with(&line, Format::Auto, Some("q")).event_id,
            derive_id(Position(Some("q")), 0, line.as_bytes())
        );
    }
    // Two requests identical except for their duration get distinct ids.
    let other = with_field("Duration", Some("12345679"));
    assert_ne!(one(&other).event_id, n);
}

#[test]
fn batch_elements_decode_and_rejects_carry_their_index() {
    let bad = with_field("Duration", Some("-5"));
    let missing = edit(TRAEFIK_FULL, &[("StartUTC", None), ("StartLocal", None)]);
    let good = with_field("request_X-Request-Id", Some(r#""req-2""#));
    let batch = format!("[{bad},\n{TRAEFIK_FULL},\n{good},{missing}]");
    let out = decode_with(&batch, Format::Auto, Some("b"));
    assert_eq!(out.events.len(), 2);
    assert_eq!(
        out.events[0].event_id,
        derive_id(Position(Some("b")), 1, TRAEFIK_FULL.as_bytes())
    );
    assert_eq!(out.events[1].event_id, "req-2");
    assert_eq!(out.rejects.len(), 2);
    assert_eq!(out.rejects[0].index, Some(0));
    assert_eq!(out.rejects[0].reason, RejectReason::InvalidValue);
    assert_eq!(out.rejects[0].raw, bad.as_bytes());
    assert_eq!(out.rejects[1].index, Some(3));
    assert_eq!(out.rejects[1].reason, RejectReason::MissingField);
    assert_eq!(out.rejects[1].raw, missing.as_bytes());
}

#[test]
fn missing_timestamp_is_a_missing_field_reject() {
    for spelling in [None, Some("null"), Some(r#""-""#), Some(r#""""#)] {
        let line = edit(
            TRAEFIK_FULL,
            &[("StartUTC", spelling), ("StartLocal", spelling)],
        );
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::MissingField, "{spelling:?}");
        assert!(r.message.contains("StartUTC"), "{}", r.message);
        assert!(r.message.starts_with("traefik: "), "{}", r.message);
    }
}

#[test]
fn impossible_values_are_invalid_value_rejects() {
    for (key, value) in [
        ("StartUTC", r#""11/Jun/2024:13:04:05 +0000""#),
        ("StartUTC", r#""1960-01-01T00:00:00Z""#),
        ("Duration", "-1"),
        ("Duration", r#""-148522""#),
        ("OriginDuration", "-42"),
        ("DownstreamStatus", "1000"),
        ("DownstreamStatus", "-200"),
        ("DownstreamStatus", "200.5"),
        ("OriginStatus", "4040"),
        ("RequestContentSize", "-1"),
        ("DownstreamContentSize", "1.5"),
    ] {
        let line = with_field(key, Some(value));
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::InvalidValue, "{key} = {value}: {r}");
        assert!(r.message.contains(key), "{}", r.message);
    }
}

#[test]
fn wrong_types_are_wrong_type_rejects() {
    for (key, value) in [
        ("StartUTC", "[]"),
        ("StartUTC", "true"),
        ("Duration", "true"),
        ("Duration", r#"{"ns":1}"#),
        ("OriginDuration", "[1]"),
        ("DownstreamStatus", r#"{"code":200}"#),
        ("OriginStatus", "false"),
        ("RequestContentSize", "[512]"),
        ("DownstreamContentSize", "{}"),
        ("ClientUsername", r#"{"name":"alice"}"#),
        ("ServiceName", "[]"),
        ("RouterName", "true"),
        ("RequestMethod", "[]"),
        ("RequestPath", "{}"),
        ("ClientHost", "[192]"),
        ("request_X-Request-Id", "{}"),
    ] {
        let line = with_field(key, Some(value));
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::WrongType, "{key} = {value}: {r}");
        assert!(r.message.contains(&format!("`{key}`")), "{}", r.message);
    }
}

#[test]
fn client_host_holding_an_x_forwarded_for_list_keeps_the_client_entry() {
    // Behind a trusted load balancer Traefik logs the X-Forwarded-For header
    // as ClientHost, and ClientAddr is the balancer's address.
    for (host, want) in [
        (r#""203.0.113.7""#, "203.0.113.7"),
        (r#""203.0.113.7, 10.0.0.1""#, "203.0.113.7"),
        (r#""203.0.113.7,10.0.0.1,10.0.0.2""#, "203.0.113.7"),
        (r#""2001:db8::77, 10.0.0.1""#, "2001:db8::77"),
        (r#"" 198.51.100.9 , 10.0.0.1""#, "198.51.100.9"),
        // An empty first entry says nothing: the connection's peer is used.
        (r#""-""#, "10.0.0.1"),
    ] {
        let line = edit(
            TRAEFIK_FULL,
            &[
                ("ClientHost", Some(host)),
                ("ClientAddr", Some(r#""10.0.0.1:41234""#)),
            ],
        );
        assert_eq!(
            one(&line).client_ip.as_deref(),
            Some(want),
            "ClientHost {host}"
        );
    }
}

#[test]
fn redacted_request_id_header_is_not_an_event_id() {
    // `accessLog.fields.headers.defaultMode: redact` writes every header,
    // X-Request-Id included, as "REDACTED": using it would give every event
    // the same id.
    let a = with_field("request_X-Request-Id", Some(r#""REDACTED""#));
    let b = edit(&a, &[("Duration", Some("99"))]);
    let ea = one_with(&a, Format::Auto, Some("t@1"));
    let eb = one_with(&b, Format::Auto, Some("t@1"));
    assert_ne!(ea.event_id, "REDACTED");
    assert_eq!(
        ea.event_id,
        derive_id(Position(Some("t@1")), 0, a.as_bytes())
    );
    assert_ne!(ea.event_id, eb.event_id);
    // A kept header is used as is.
    let kept = with_field("request_X-Request-Id", Some(r#""7d3c-REDACTED-not""#));
    assert_eq!(one(&kept).event_id, "7d3c-REDACTED-not");
}
