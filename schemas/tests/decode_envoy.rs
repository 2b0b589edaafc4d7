//! Integration tests for the Envoy / Istio JSON access-log decoder.
//!
//! Fixtures follow Istio's `meshConfig.accessLogEncoding: JSON` default
//! format (the keys of Envoy's `%START_TIME%`, `%RESPONSE_CODE%`, … command
//! operators as Istio names them). Typed JSON output from recent Envoy writes
//! numbers as numbers and unset values as `null`; older Envoy versions (and
//! some hand-written `json_format`s) write every value as a string and unset
//! values as `"-"`. Both are covered.

use std::str::FromStr;

use tollgate_schemas::decode::derive_id;
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

/// A full Istio sidecar record: inbound GET answered by the upstream.
const ISTIO_FULL: &str = r#"{"start_time":"2024-06-11T13:04:05.123Z","route_name":"pets-v1","method":"GET","path":"/v1/pets/42%2Fx?limit=10&tag=caf%C3%A9","protocol":"HTTP/1.1","response_code":200,"response_flags":"-","response_code_details":"via_upstream","connection_termination_details":null,"upstream_transport_failure_reason":null,"bytes_received":0,"bytes_sent":1532,"duration":37,"upstream_service_time":"35","x_forwarded_for":"203.0.113.7","user_agent":"curl/8.5.0","request_id":"5f1b0e8c-9d3a-4c55-8e2b-0d3c2a9f7e61","authority":"pets.example.com","upstream_host":"10.44.1.5:8080","upstream_cluster":"outbound|8080||pets.default.svc.cluster.local","upstream_local_address":"10.44.2.7:59758","downstream_local_address":"10.44.1.5:8080","downstream_remote_address":"10.44.2.7:50238","requested_server_name":"outbound_.8080_._.pets.default.svc.cluster.local"}"#;

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

fn decode_with(input: &str, format: Format, opts: &DecodeOptions, pos: Option<&str>) -> Decoded {
    decode(input.as_bytes(), format, opts, Position(pos))
}

/// Decodes with auto-detection and expects exactly one event, no rejects.
fn one(input: &str) -> AccessEvent {
    one_with(input, Format::Auto, &opts(), None)
}

fn one_with(input: &str, format: Format, opts: &DecodeOptions, pos: Option<&str>) -> AccessEvent {
    let out = decode_with(input, format, opts, pos);
    assert!(
        out.rejects.is_empty(),
        "unexpected rejects: {:#?}",
        out.rejects
    );
    assert_eq!(out.events.len(), 1, "expected one event: {out:#?}");
    out.events.into_iter().next().unwrap()
}

/// Decodes with auto-detection and expects exactly one whole-message reject.
fn rejected(input: &str) -> Reject {
    rejected_with(input, Format::Auto)
}

fn rejected_with(input: &str, format: Format) -> Reject {
    let out = decode_with(input, format, &opts(), None);
    assert!(
        out.events.is_empty(),
        "unexpected events: {:#?}",
        out.events
    );
    assert_eq!(out.rejects.len(), 1, "expected one reject: {out:#?}");
    let r = out.rejects.into_iter().next().unwrap();
    assert_eq!(r.index, None, "a lone record's reject has no batch index");
    assert_eq!(r.raw, input.as_bytes(), "the reject keeps the raw bytes");
    assert!(!r.raw_truncated);
    r
}

/// The full record with one key's JSON value replaced (or removed, for `None`).
fn with_field(key: &str, value: Option<&str>) -> String {
    let mut obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(ISTIO_FULL).unwrap();
    match value {
        Some(v) => {
            obj.insert(key.to_string(), serde_json::from_str(v).unwrap());
        }
        None => {
            obj.remove(key);
        }
    }
    serde_json::to_string(&obj).unwrap()
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn full_istio_record_maps_every_field() {
    let e = one(ISTIO_FULL);
    let expected = AccessEvent {
        event_id: "5f1b0e8c-9d3a-4c55-8e2b-0d3c2a9f7e61".into(),
        ts: EpochMillis(1_718_111_045_123),
        gateway: Gateway::Envoy,
        consumer: None,
        consumer_name: None,
        api_key_id: None,
        api: Some("outbound|8080||pets.default.svc.cluster.local".into()),
        route: Some("pets-v1".into()),
        path_template: None,
        method: Some("GET".into()),
        path: Some("/v1/pets/42%2Fx".into()),
        query: Some("limit=10&tag=caf%C3%A9".into()),
        status: Some(200),
        latency_ms: Some(37.0),
        upstream_latency_ms: Some(35.0),
        request_bytes: Some(0),
        response_bytes: Some(1532),
        client_ip: Some("10.44.2.7".into()),
        amount: None,
    };
    assert_eq!(e, expected);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    assert_eq!(
        e.to_json(),
        r#"{"event_id":"5f1b0e8c-9d3a-4c55-8e2b-0d3c2a9f7e61","ts":"2024-06-11T13:04:05.123Z","gateway":"envoy","consumer":null,"consumer_name":null,"api_key_id":null,"api":"outbound|8080||pets.default.svc.cluster.local","route":"pets-v1","path_template":null,"method":"GET","path":"/v1/pets/42%2Fx","query":"limit=10&tag=caf%C3%A9","status":200,"latency_ms":37.0,"upstream_latency_ms":35.0,"request_bytes":0,"response_bytes":1532,"client_ip":"10.44.2.7"}"#
    );
}

#[test]
fn post_with_body_ipv6_client_and_consumer_field() {
    // An ingress gateway whose access log adds
    // `"consumer": "%REQ(X-CONSUMER-ID)%"` to Istio's default keys.
    let line = r#"{"start_time":"2024-06-11T13:04:05.987654Z","route_name":"orders-create","method":"POST","path":"/v2/orders","protocol":"HTTP/2","response_code":201,"response_flags":"-","response_code_details":"via_upstream","bytes_received":734,"bytes_sent":98,"duration":142,"upstream_service_time":"139","x_forwarded_for":"2001:db8::1","user_agent":"okhttp/4.12.0","request_id":"0b6c3e2a-1f4d-4a8e-9d61-7c1e5a2b3c4d","authority":"api.example.com","upstream_host":"10.44.3.9:9090","upstream_cluster":"outbound|9090||orders.shop.svc.cluster.local","upstream_local_address":"10.44.0.12:44120","downstream_local_address":"10.44.0.12:8443","downstream_remote_address":"[2001:db8::1]:51234","requested_server_name":"api.example.com","consumer":"acme-corp"}"#;
    let opts = DecodeOptions {
        envoy_consumer_field: Some("consumer".into()),
        ..DecodeOptions::default()
    };
    let e = one_with(line, Format::Auto, &opts, None);
    let expected = AccessEvent {
        event_id: "0b6c3e2a-1f4d-4a8e-9d61-7c1e5a2b3c4d".into(),
        ts: EpochMillis(1_718_111_045_987),
        gateway: Gateway::Envoy,
        consumer: Some("acme-corp".into()),
        consumer_name: None,
        api_key_id: None,
        api: Some("outbound|9090||orders.shop.svc.cluster.local".into()),
        route: Some("orders-create".into()),
        path_template: None,
        method: Some("POST".into()),
        path: Some("/v2/orders".into()),
        query: None,
        status: Some(201),
        latency_ms: Some(142.0),
        upstream_latency_ms: Some(139.0),
        request_bytes: Some(734),
        response_bytes: Some(98),
        client_ip: Some("2001:db8::1".into()),
        amount: None,
    };
    assert_eq!(e, expected);
    // Sub-millisecond digits are truncated, never rounded up.
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.987Z");

    // Without the option the same record is anonymous: the extra key is not
    // guessed at.
    let e = one(line);
    assert_eq!(e.consumer, None);
    assert_eq!(e.api_key_id, None);
    assert_eq!(
        AccessEvent {
            consumer: Some("acme-corp".into()),
            ..e
        },
        expected
    );
}

#[test]
fn consumer_field_can_have_any_name_and_absent_spellings_are_none() {
    let opts = DecodeOptions {
        envoy_consumer_field: Some("x_consumer_id".into()),
        ..DecodeOptions::default()
    };
    let line = with_field("x_consumer_id", Some(r#""tenant-0042""#));
    assert_eq!(
        one_with(&line, Format::Auto, &opts, None)
            .consumer
            .as_deref(),
        Some("tenant-0042")
    );
    // A numeric consumer id is kept as its text.
    let line = with_field("x_consumer_id", Some("9001"));
    assert_eq!(
        one_with(&line, Format::Auto, &opts, None)
            .consumer
            .as_deref(),
        Some("9001")
    );
    // `%REQ(X-CONSUMER-ID)%` of a request without the header: null in typed
    // JSON, "-" in string JSON; or the key is missing.
    for v in [Some("null"), Some(r#""-""#), Some(r#""""#), None] {
        let line = with_field("x_consumer_id", v);
        let e = one_with(&line, Format::Auto, &opts, None);
        assert_eq!(e.consumer, None, "for {v:?}");
        // Everything else still decodes.
        assert_eq!(e.status, Some(200));
    }
    // A different field with the default name is not read.
    let line = with_field("consumer", Some(r#""someone-else""#));
    assert_eq!(one_with(&line, Format::Auto, &opts, None).consumer, None);
}

#[test]
fn consumer_field_of_wrong_type_is_rejected() {
    let opts = DecodeOptions {
        envoy_consumer_field: Some("consumer".into()),
        ..DecodeOptions::default()
    };
    let line = with_field("consumer", Some(r#"{"id":"acme"}"#));
    let out = decode_with(&line, Format::Auto, &opts, None);
    assert!(out.events.is_empty());
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0].reason, RejectReason::WrongType);
    assert!(
        out.rejects[0].message.contains("`consumer`"),
        "{}",
        out.rejects[0].message
    );
    assert_eq!(out.rejects[0].raw, line.as_bytes());
}

#[test]
fn no_response_sent_keeps_status_zero_and_no_upstream() {
    // Downstream closed the connection before the upstream answered (DC):
    // Envoy logs response code 0 and no upstream service time.
    let line = r#"{"start_time":"2024-06-11T13:04:05.500Z","route_name":"default","method":"GET","path":"/slow/report?year=2024","protocol":"HTTP/1.1","response_code":0,"response_flags":"DC","response_code_details":"downstream_remote_disconnect","connection_termination_details":null,"upstream_transport_failure_reason":null,"bytes_received":0,"bytes_sent":0,"duration":30001,"upstream_service_time":null,"x_forwarded_for":null,"user_agent":"Go-http-client/1.1","request_id":"9e1d7a44-5c2b-4f3e-8a90-1b2c3d4e5f60","authority":"reports:8000","upstream_host":"10.44.1.9:8000","upstream_cluster":"outbound|8000||reports.default.svc.cluster.local","upstream_local_address":"10.44.2.7:40112","downstream_local_address":"10.96.4.20:8000","downstream_remote_address":"10.44.2.7:39310","requested_server_name":null}"#;
    let e = one(line);
    assert_eq!(
        e,
        AccessEvent {
            event_id: "9e1d7a44-5c2b-4f3e-8a90-1b2c3d4e5f60".into(),
            ts: EpochMillis(1_718_111_045_500),
            gateway: Gateway::Envoy,
            consumer: None,
            consumer_name: None,
            api_key_id: None,
            api: Some("outbound|8000||reports.default.svc.cluster.local".into()),
            route: Some("default".into()),
            path_template: None,
            method: Some("GET".into()),
            path: Some("/slow/report".into()),
            query: Some("year=2024".into()),
            status: Some(0),
            latency_ms: Some(30001.0),
            upstream_latency_ms: None,
            request_bytes: Some(0),
            response_bytes: Some(0),
            client_ip: Some("10.44.2.7".into()),
            amount: None,
        }
    );
}

#[test]
fn no_route_and_no_cluster_are_null_not_dash() {
    // A 404 from the router itself (NR): no route, no cluster, no upstream.
    let typed = r#"{"start_time":"2024-06-11T13:04:06.001Z","route_name":null,"method":"DELETE","path":"/nope","protocol":"HTTP/1.1","response_code":404,"response_flags":"NR","response_code_details":"route_not_found","bytes_received":0,"bytes_sent":0,"duration":0,"upstream_service_time":null,"x_forwarded_for":null,"user_agent":null,"request_id":"f00dfeed-0000-4000-8000-000000000001","authority":"api.example.com","upstream_host":null,"upstream_cluster":null,"upstream_local_address":null,"downstream_local_address":"10.44.0.12:8080","downstream_remote_address":"192.0.2.44:61000","requested_server_name":null}"#;
    // The same record from an Envoy that writes unset values as "-".
    let dashed = r#"{"start_time":"2024-06-11T13:04:06.001Z","route_name":"-","method":"DELETE","path":"/nope","protocol":"HTTP/1.1","response_code":"404","response_flags":"NR","response_code_details":"route_not_found","bytes_received":"0","bytes_sent":"0","duration":"0","upstream_service_time":"-","x_forwarded_for":"-","user_agent":"-","request_id":"f00dfeed-0000-4000-8000-000000000001","authority":"api.example.com","upstream_host":"-","upstream_cluster":"-","upstream_local_address":"-","downstream_local_address":"10.44.0.12:8080","downstream_remote_address":"192.0.2.44:61000","requested_server_name":"-"}"#;
    let expected = AccessEvent {
        event_id: "f00dfeed-0000-4000-8000-000000000001".into(),
        ts: EpochMillis(1_718_111_046_001),
        gateway: Gateway::Envoy,
        consumer: None,
        consumer_name: None,
        api_key_id: None,
        api: None,
        route: None,
        path_template: None,
        method: Some("DELETE".into()),
        path: Some("/nope".into()),
        query: None,
        status: Some(404),
        // A real zero is zero, not absent.
        latency_ms: Some(0.0),
        upstream_latency_ms: None,
        request_bytes: Some(0),
        response_bytes: Some(0),
        client_ip: Some("192.0.2.44".into()),
        amount: None,
    };
    assert_eq!(one(typed), expected);
    assert_eq!(one(dashed), expected);
    assert!(!one(dashed).to_json().contains(r#""-""#));
}

#[test]
fn every_null_spelling_of_optional_fields_is_none() {
    let optional = [
        "route_name",
        "method",
        "path",
        "response_code",
        "bytes_received",
        "bytes_sent",
        "duration",
        "upstream_service_time",
        "upstream_cluster",
        "downstream_remote_address",
    ];
    for key in optional {
        for spelling in [Some("null"), Some(r#""-""#), Some(r#""""#), None] {
            let line = with_field(key, spelling);
            let e = one(&line);
            let check = |got: bool| assert!(got, "{key} = {spelling:?} should be None: {e:?}");
            match key {
                "route_name" => check(e.route.is_none()),
                "method" => check(e.method.is_none()),
                "path" => check(e.path.is_none() && e.query.is_none()),
                "response_code" => check(e.status.is_none()),
                "bytes_received" => check(e.request_bytes.is_none()),
                "bytes_sent" => check(e.response_bytes.is_none()),
                "duration" => check(e.latency_ms.is_none()),
                "upstream_service_time" => check(e.upstream_latency_ms.is_none()),
                "upstream_cluster" => check(e.api.is_none()),
                "downstream_remote_address" => check(e.client_ip.is_none()),
                _ => unreachable!(),
            }
            // The request id still wins and nothing else is disturbed.
            assert_eq!(e.event_id, "5f1b0e8c-9d3a-4c55-8e2b-0d3c2a9f7e61");
            assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
            assert!(!e.to_json().contains(r#""-""#), "{key}: {}", e.to_json());
        }
    }
}

#[test]
fn quoted_numbers_from_string_json_formats() {
    // Envoy before typed JSON output wrote every operator as a string.
    let line = r#"{"start_time":"2024-06-11T13:04:05.123Z","route_name":"pets-v1","method":"PUT","path":"/v1/pets/7","protocol":"HTTP/1.1","response_code":"503","response_flags":"UF","bytes_received":"2048","bytes_sent":"91","duration":"1250","upstream_service_time":"1249","x_forwarded_for":"-","user_agent":"curl/8.5.0","request_id":"6a0c2d8e-3b1f-4e47-a5c9-2d7f8e1b0a93","authority":"pets:8080","upstream_host":"10.44.1.5:8080","upstream_cluster":"outbound|8080||pets.default.svc.cluster.local","downstream_remote_address":"10.44.2.7:50238"}"#;
    let e = one(line);
    assert_eq!(e.status, Some(503));
    assert_eq!(e.request_bytes, Some(2048));
    assert_eq!(e.response_bytes, Some(91));
    assert_eq!(e.latency_ms, Some(1250.0));
    assert_eq!(e.upstream_latency_ms, Some(1249.0));
    assert_eq!(e.method.as_deref(), Some("PUT"));
    assert_eq!(e.path.as_deref(), Some("/v1/pets/7"));
    assert_eq!(e.query, None);
}

#[test]
fn custom_formats_with_fractional_milliseconds_keep_fractions() {
    // `upstream_service_time` is a header value; some meshes emit fractions.
    let line = with_field("upstream_service_time", Some(r#""12.75""#));
    assert_eq!(one(&line).upstream_latency_ms, Some(12.75));
    let line = with_field("duration", Some("0.5"));
    assert_eq!(one(&line).latency_ms, Some(0.5));
}

#[test]
fn start_time_is_truncated_to_milliseconds_in_utc() {
    for (text, want) in [
        ("2024-06-11T13:04:05.123Z", "2024-06-11T13:04:05.123Z"),
        ("2024-06-11T13:04:05.123987654Z", "2024-06-11T13:04:05.123Z"),
        // .9999 must not round up into the next second.
        ("2024-06-11T13:04:05.9999Z", "2024-06-11T13:04:05.999Z"),
        ("2024-06-11T13:04:05Z", "2024-06-11T13:04:05.000Z"),
        ("2024-06-11T15:04:05.042+02:00", "2024-06-11T13:04:05.042Z"),
        ("2024-06-10T23:34:05.7-13:30", "2024-06-11T13:04:05.700Z"),
        // Leap day, end of year.
        ("2024-02-29T23:59:59.999999Z", "2024-02-29T23:59:59.999Z"),
    ] {
        let line = with_field("start_time", Some(&format!("{text:?}")));
        assert_eq!(one(&line).ts.to_string(), want, "for {text}");
    }
}

#[test]
fn client_addresses_lose_port_and_brackets() {
    for (addr, want) in [
        ("10.44.2.7:50238", "10.44.2.7"),
        ("10.44.2.7", "10.44.2.7"),
        ("[2001:db8::1]:51234", "2001:db8::1"),
        (
            "[2001:db8:85a3::8a2e:370:7334]:443",
            "2001:db8:85a3::8a2e:370:7334",
        ),
        ("[::1]:8080", "::1"),
        ("2001:db8::1", "2001:db8::1"),
    ] {
        let line = with_field("downstream_remote_address", Some(&format!("{addr:?}")));
        assert_eq!(one(&line).client_ip.as_deref(), Some(want), "for {addr}");
    }
    // The client address is the peer of the connection, not X-Forwarded-For.
    let line = with_field("x_forwarded_for", Some(r#""198.51.100.1, 10.0.0.1""#));
    assert_eq!(one(&line).client_ip.as_deref(), Some("10.44.2.7"));
}

#[test]
fn paths_keep_percent_encoding_and_unicode_and_split_at_first_question_mark() {
    for (target, path, query) in [
        ("/v1/pets", Some("/v1/pets"), None),
        ("/v1/pets?", Some("/v1/pets"), Some("")),
        (
            "/v1/a%20b/c%2Fd?x=%E2%9C%93&y",
            Some("/v1/a%20b/c%2Fd"),
            Some("x=%E2%9C%93&y"),
        ),
        (
            "/v1/städte/münchen?q=ä&r=✓",
            Some("/v1/städte/münchen"),
            Some("q=ä&r=✓"),
        ),
        ("/search?q=a?b", Some("/search"), Some("q=a?b")),
        ("/日本語/パス", Some("/日本語/パス"), None),
    ] {
        let line = with_field("path", Some(&serde_json::to_string(target).unwrap()));
        let e = one(&line);
        assert_eq!(
            (e.path.as_deref(), e.query.as_deref()),
            (path, query),
            "for {target}"
        );
    }
}

#[test]
fn auto_detection_and_forced_format_agree_on_a_full_record() {
    let auto = decode_with(ISTIO_FULL, Format::Auto, &opts(), None);
    let forced = decode_with(ISTIO_FULL, Format::Fixed(Gateway::Envoy), &opts(), None);
    assert_eq!(auto, forced);
    assert_eq!(auto.events.len(), 1);
    assert_eq!(auto.events[0].gateway, Gateway::Envoy);
    assert_eq!(Format::from_str("envoy"), Ok(Format::Fixed(Gateway::Envoy)));
    assert_eq!(Format::from_str("ENVOY"), Ok(Format::Fixed(Gateway::Envoy)));
}

#[test]
fn each_envoy_key_alone_is_enough_for_detection() {
    for key in [
        r#""response_code":200"#,
        r#""downstream_remote_address":"10.0.0.1:1234""#,
        r#""upstream_service_time":"3""#,
        r#""response_flags":"-""#,
        r#""duration":4"#,
    ] {
        let line = format!(r#"{{"start_time":"2024-06-11T13:04:05.123Z","method":"GET",{key}}}"#);
        let e = one(&line);
        assert_eq!(e.gateway, Gateway::Envoy, "{line}");
        assert_eq!(e.ts, EpochMillis(1_718_111_045_123));
    }
}

#[test]
fn trimmed_template_needs_forced_format() {
    // A custom json_format keeping only a few operators: nothing in its shape
    // says Envoy, so auto-detection refuses it and forcing the format works.
    let line = r#"{"start_time":"2024-06-11T13:04:05.123Z","method":"GET","path":"/healthz","request_id":"a1b2c3d4-0000-4000-8000-00000000beef","authority":"api.example.com"}"#;
    let r = rejected(line);
    assert_eq!(r.reason, RejectReason::UnknownFormat);

    let e = one_with(line, Format::Fixed(Gateway::Envoy), &opts(), None);
    assert_eq!(
        e,
        AccessEvent {
            method: Some("GET".into()),
            path: Some("/healthz".into()),
            ..AccessEvent::new(
                "a1b2c3d4-0000-4000-8000-00000000beef",
                EpochMillis(1_718_111_045_123),
                Gateway::Envoy
            )
        }
    );
}

#[test]
fn forcing_envoy_on_another_gateways_record_does_not_mislabel_it() {
    // A Traefik record forced through the Envoy decoder has no start_time.
    let traefik = r#"{"StartUTC":"2024-06-11T13:04:05.123456789Z","DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/"}"#;
    let r = rejected_with(traefik, Format::Fixed(Gateway::Envoy));
    assert_eq!(r.reason, RejectReason::MissingField);
    assert!(r.message.starts_with("envoy: "), "{}", r.message);
}

#[test]
fn event_id_is_the_request_id_when_present() {
    assert_eq!(
        one_with(ISTIO_FULL, Format::Auto, &opts(), Some("topic/3@77")).event_id,
        "5f1b0e8c-9d3a-4c55-8e2b-0d3c2a9f7e61"
    );
}

#[test]
fn event_id_without_request_id_is_deterministic_and_position_dependent() {
    for absent in [Some("null"), Some(r#""-""#), None] {
        let line = with_field("request_id", absent);
        let a = one_with(&line, Format::Auto, &opts(), Some("envoy-logs/0@100")).event_id;
        let a_again = one_with(&line, Format::Auto, &opts(), Some("envoy-logs/0@100")).event_id;
        let b = one_with(&line, Format::Auto, &opts(), Some("envoy-logs/0@101")).event_id;
        let none = one_with(&line, Format::Auto, &opts(), None).event_id;
        let none_again = one_with(&line, Format::Auto, &opts(), None).event_id;
        assert!(is_hex32(&a), "{a}");
        assert_eq!(a, a_again, "replay yields the same id");
        assert_ne!(a, b, "another position yields another id");
        assert_ne!(a, none);
        assert_eq!(none, none_again);
        assert_eq!(
            a,
            derive_id(Position(Some("envoy-logs/0@100")), 0, line.as_bytes())
        );
        assert_eq!(none, derive_id(Position(None), 0, line.as_bytes()));
    }
    // Different bytes at the same position give different ids.
    let x = with_field("request_id", None);
    let y = with_field("duration", Some("38"));
    let y = {
        let mut o: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&y).unwrap();
        o.remove("request_id");
        serde_json::to_string(&o).unwrap()
    };
    assert_ne!(
        one_with(&x, Format::Auto, &opts(), Some("p")).event_id,
        one_with(&y, Format::Auto, &opts(), Some("p")).event_id
    );
}

#[test]
fn batched_records_decode_and_bad_elements_carry_their_index() {
    // A shipper that batches lines into a JSON array.
    let good_a = with_field("request_id", None);
    let bad = with_field("start_time", None);
    let good_b = with_field("request_id", Some(r#""req-b""#));
    let batch = format!("[{good_a},{bad},{good_b}]");
    let out = decode_with(&batch, Format::Fixed(Gateway::Envoy), &opts(), Some("p@1"));
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.rejects.len(), 1);
    let r = &out.rejects[0];
    assert_eq!(r.index, Some(1));
    assert_eq!(r.reason, RejectReason::MissingField);
    assert_eq!(r.raw, bad.as_bytes());
    assert_eq!(
        out.events[0].event_id,
        derive_id(Position(Some("p@1")), 0, good_a.as_bytes())
    );
    assert_eq!(out.events[1].event_id, "req-b");
}

#[test]
fn missing_start_time_is_a_missing_field_reject_with_raw_bytes() {
    for spelling in [None, Some("null"), Some(r#""-""#), Some(r#""""#)] {
        let line = with_field("start_time", spelling);
        let r = rejected_with(&line, Format::Fixed(Gateway::Envoy));
        assert_eq!(r.reason, RejectReason::MissingField, "{spelling:?}");
        assert!(r.message.contains("start_time"), "{}", r.message);
        assert!(r.message.starts_with("envoy: "), "{}", r.message);
    }
}

#[test]
fn auto_detected_istio_record_without_start_time_is_missing_field() {
    // Everything else about this record says Envoy/Istio: response_code,
    // response_flags, upstream_service_time, downstream_remote_address.
    let line = with_field("start_time", None);
    let r = rejected(&line);
    assert_eq!(r.reason, RejectReason::MissingField, "{r}");
}

#[test]
fn impossible_values_are_invalid_value_rejects() {
    for (key, value) in [
        ("start_time", r#""yesterday""#),
        ("start_time", r#""2024-06-11 13:04:05""#),
        ("start_time", r#""1969-12-31T23:59:59.999Z""#),
        ("response_code", "1000"),
        ("response_code", "-1"),
        ("response_code", r#""1200""#),
        ("duration", "-3"),
        ("duration", r#""-1""#),
        ("upstream_service_time", r#""-12""#),
        ("bytes_sent", "-1"),
        ("bytes_received", "12.5"),
        ("response_code", "200.5"),
    ] {
        let line = with_field(key, Some(value));
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::InvalidValue, "{key} = {value}: {r}");
        assert!(r.message.contains(key), "{key}: {}", r.message);
    }
}

#[test]
fn wrong_types_are_wrong_type_rejects() {
    for (key, value) in [
        ("start_time", r#"["2024-06-11T13:04:05.123Z"]"#),
        ("start_time", "true"),
        ("response_code", "true"),
        ("response_code", r#"{"code":200}"#),
        ("duration", "[37]"),
        ("upstream_service_time", r#"{"ms":"35"}"#),
        ("bytes_sent", "false"),
        ("method", r#"["GET"]"#),
        ("path", r#"{"p":"/"}"#),
        ("request_id", "{}"),
        ("downstream_remote_address", r#"["10.0.0.1",5000]"#),
        ("upstream_cluster", "true"),
        ("route_name", "[]"),
    ] {
        let line = with_field(key, Some(value));
        let r = rejected(&line);
        assert_eq!(r.reason, RejectReason::WrongType, "{key} = {value}: {r}");
        assert!(r.message.contains(&format!("`{key}`")), "{}", r.message);
    }
}

#[test]
fn numeric_start_time_is_rejected() {
    // `%START_TIME(%s)%` style epoch numbers are not the default format and
    // must not be misread as some RFC 3339 instant.
    let line = with_field("start_time", Some("1718111045"));
    let r = rejected(&line);
    assert!(
        matches!(
            r.reason,
            RejectReason::WrongType | RejectReason::InvalidValue
        ),
        "{r}"
    );
    assert!(r.message.contains("start_time"), "{}", r.message);
}

#[test]
fn numeric_start_time_is_a_wrong_type() {
    let line = with_field("start_time", Some("1718111045"));
    assert_eq!(rejected(&line).reason, RejectReason::WrongType);
}
