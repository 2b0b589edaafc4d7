//! Tollgate's canonical JSON: what `AccessEvent::to_json` prints is read
//! back by `decode` into the identical event and printed again as the
//! identical text; anything else is rejected with a precise reason.

use std::io::Write;

use serde_json::{Value, json};
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

// ---------------------------------------------------------------- helpers

fn run(bytes: &[u8], format: Format) -> Decoded {
    decode(bytes, format, &DecodeOptions::default(), Position(None))
}

fn one_as(line: &str, format: Format) -> AccessEvent {
    let d = run(line.as_bytes(), format);
    assert!(
        d.rejects.is_empty(),
        "unexpected rejects for {line}: {:#?}",
        d.rejects
    );
    assert_eq!(d.events.len(), 1, "expected one event for {line}");
    d.events.into_iter().next().unwrap()
}

fn one(line: &str) -> AccessEvent {
    let auto = one_as(line, Format::Auto);
    let fixed = one_as(line, Format::Fixed(Gateway::Canonical));
    assert_eq!(auto, fixed, "auto-detected and fixed format agree");
    auto
}

fn reject_as(line: &str, format: Format) -> Reject {
    let d = run(line.as_bytes(), format);
    assert!(
        d.events.is_empty(),
        "unexpected events for {line}: {:#?}",
        d.events
    );
    assert_eq!(d.rejects.len(), 1, "expected one reject for {line}");
    let r = d.rejects.into_iter().next().unwrap();
    assert_eq!(r.raw, line.as_bytes(), "a reject keeps the raw bytes");
    assert_eq!(r.index, None);
    r
}

/// Rejected the same way with the format detected and with it fixed.
fn reject(line: &str) -> Reject {
    let auto = reject_as(line, Format::Auto);
    let fixed = reject_as(line, Format::Fixed(Gateway::Canonical));
    assert_eq!(auto, fixed, "auto-detected and fixed format agree");
    assert!(auto.message.starts_with("canonical: "), "{}", auto.message);
    auto
}

/// The full canonical line with one key replaced (`Some`) or removed (`None`).
fn with(key: &str, value: Option<Value>) -> String {
    let mut o: serde_json::Map<String, Value> = serde_json::from_str(FULL).unwrap();
    match value {
        Some(v) => {
            o.insert(key.to_string(), v);
        }
        None => {
            o.remove(key);
        }
    }
    Value::Object(o).to_string()
}

/// Decodes `line` (one event expected), prints it, and checks that the
/// printed line decodes (detected and fixed) to the same event and prints
/// to the same text.
fn assert_round_trips(line: &[u8]) -> Vec<AccessEvent> {
    let d = run(line, Format::Auto);
    assert!(
        d.rejects.is_empty(),
        "{}: {:#?}",
        String::from_utf8_lossy(line),
        d.rejects
    );
    assert!(!d.events.is_empty());
    for e in &d.events {
        let text = e.to_json();
        for format in [Format::Auto, Format::Fixed(Gateway::Canonical)] {
            let again = one_as(&text, format);
            assert_eq!(&again, e, "{format}: {text}");
            assert_eq!(again.to_json(), text, "{format}");
        }
    }
    d.events
}

// ---------------------------------------------------------------- records

const FULL: &str = r#"{"event_id":"evt-00000001","ts":"2024-06-11T13:04:13.123Z","gateway":"kong","consumer":"acme-corp","consumer_name":"Acme Corp","api_key_id":"key-1","api":"petstore","route":"pets-list","path_template":"/v1/pets/{id}","method":"GET","path":"/v1/pets/42","query":"limit=10","status":200,"latency_ms":12.5,"upstream_latency_ms":10.25,"request_bytes":120,"response_bytes":2048,"client_ip":"203.0.113.9"}"#;

const KONG: &str = r#"{"request":{"id":"9f3c7a1b5e2d4c80a1b2c3d4e5f60718","method":"GET","uri":"/v1/pets?limit=10","size":148},"response":{"status":200,"size":1934},"route":{"id":"6c1ea8e2","name":"pets-list"},"service":{"id":"f0e1d2c3","name":"petstore"},"consumer":{"id":"0c5a8e3e","username":"acme-corp","custom_id":"cust-1001"},"authenticated_entity":{"id":"e6a4b3c2"},"latencies":{"proxy":21,"kong":3,"request":25},"client_ip":"203.0.113.9","started_at":1718111045123}"#;
const APISIX: &str = r#"[{"start_time":1718111046201.427,"client_ip":"198.51.100.23","service_id":"orders","route_id":"orders-create","request":{"size":412,"uri":"/v2/orders","method":"POST"},"response":{"status":201,"size":655},"latency":48.99995803833,"upstream_latency":44,"consumer":{"username":"globex"}},{"start_time":1718111046388,"client_ip":"198.51.100.24","route_id":"orders-get","request":{"size":201,"uri":"/v2/orders/A-17?expand=items","method":"GET"},"response":{"status":401,"size":88},"latency":1.0001659393311}]"#;
const ENVOY: &str = r#"{"start_time":"2024-06-11T13:04:07.512Z","method":"GET","path":"/reviews/0?lang=fr","response_code":200,"response_flags":"-","bytes_received":0,"bytes_sent":358,"duration":6,"upstream_service_time":"5","request_id":"5c4e3b9a-9d1c-4f6e-8a0b-7d2c1e0f9a8b","upstream_cluster":"outbound|9080||reviews.default.svc.cluster.local","downstream_remote_address":"[2001:db8::19]:45932","route_name":"default"}"#;
const AWS: &str = r#"{"requestId":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","ip":"192.0.2.44","requestTime":"11/Jun/2024:13:04:08 +0000","requestTimeEpoch":"1718111048734","httpMethod":"GET","resourcePath":"/pets/{petId}","path":"/prod/pets/42","status":"200","responseLength":"87","responseLatency":"31","integrationLatency":"28","apiId":"a1b2c3d4e5","apiKeyId":"k9x8y7w6v5","authorizer":{"principalId":"user-7781"}}"#;
const TYK: &str = r#"{"timestamp":"2024-06-11T15:04:09.004123456+02:00","method":"DELETE","path":"/items/9","raw_path":"/inventory/items/9","response_code":204,"alias":"initech-mobile","api_key":"5e7b1a0c9d2f4e3b","api_id":"b8d3e4f5a6c7","org_id":"5f0c1e2d","oauth_id":"","request_time_ms":12,"ip_address":"2001:db8:ffff::3","content_length":-1}"#;
const TRAEFIK: &str = r#"{"ClientAddr":"192.0.2.101:53124","ClientHost":"192.0.2.101","ClientUsername":"-","DownstreamContentSize":512,"DownstreamStatus":503,"Duration":30512345,"OriginDuration":30012000,"OriginStatus":503,"RequestContentSize":0,"RequestMethod":"GET","RequestPath":"/search?q=caf%C3%A9","RouterName":"search@docker","ServiceName":"search@docker","StartUTC":"2024-06-11T13:04:10.770191812Z"}"#;
const NGINX: &str = r#"{"msec":"1718111051.093","remote_addr":"203.0.113.77","remote_user":"umbrella","request":"PUT /api/profile/%E2%9C%93 HTTP/1.1","request_method":"PUT","request_uri":"/api/profile/%E2%9C%93?","status":"200","request_length":"733","bytes_sent":"412","body_bytes_sent":"190","request_time":"0.052","upstream_response_time":"0.030, 0.019","server_name":"api.example.com"}"#;
const CLF: &str = r#"198.51.100.7 - bob [11/Jun/2024:13:04:12 +0000] "GET /status?verbose=1 HTTP/1.1" 200 17 "-" "kube-probe/1.30" rt=0.001 urt="0.001""#;

// ------------------------------------------------------------ round trips

#[test]
fn every_gateway_round_trips_through_canonical_json() {
    let mut gateways = Vec::new();
    for line in [KONG, APISIX, ENVOY, AWS, TYK, TRAEFIK, NGINX, CLF, FULL] {
        for e in assert_round_trips(line.as_bytes()) {
            gateways.push(e.gateway);
        }
    }
    // The canonical reader keeps the gateway the line names.
    for g in Gateway::ALL {
        if g != Gateway::Canonical {
            assert!(gateways.contains(&g), "{g} covered");
        }
    }
}

#[test]
fn aws_cloudwatch_envelope_events_round_trip() {
    let envelope = json!({
        "messageType": "DATA_MESSAGE",
        "logGroup": "api-gw-access",
        "logEvents": [
            {"id": "3750", "timestamp": 1718111048734_i64, "message": AWS},
            {"id": "3751", "timestamp": 1718111048735_i64, "message": AWS},
        ],
    });
    let events = assert_round_trips(envelope.to_string().as_bytes());
    assert_eq!(events.len(), 2);
}

#[test]
fn gzip_compressed_records_round_trip() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(NGINX.as_bytes()).unwrap();
    let events = assert_round_trips(&gz.finish().unwrap());
    assert_eq!(events[0].gateway, Gateway::Nginx);
    // A gzip-compressed canonical line decodes like the plain one.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let text = events[0].to_json();
    gz.write_all(text.as_bytes()).unwrap();
    let d = run(&gz.finish().unwrap(), Format::Auto);
    assert_eq!(d.events, events);
}

#[test]
fn a_full_canonical_line_prints_back_byte_for_byte() {
    let e = one(FULL);
    let mut want = AccessEvent::new(
        "evt-00000001",
        EpochMillis(1_718_111_053_123),
        Gateway::Kong,
    );
    want.consumer = Some("acme-corp".into());
    want.consumer_name = Some("Acme Corp".into());
    want.api_key_id = Some("key-1".into());
    want.api = Some("petstore".into());
    want.route = Some("pets-list".into());
    want.path_template = Some("/v1/pets/{id}".into());
    want.method = Some("GET".into());
    want.path = Some("/v1/pets/42".into());
    want.query = Some("limit=10".into());
    want.status = Some(200);
    want.latency_ms = Some(12.5);
    want.upstream_latency_ms = Some(10.25);
    want.request_bytes = Some(120);
    want.response_bytes = Some(2048);
    want.client_ip = Some("203.0.113.9".into());
    assert_eq!(e, want);
    assert_eq!(e.to_json(), FULL);
}

#[test]
fn every_gateway_name_is_kept() {
    for g in Gateway::ALL {
        let line = FULL.replace(r#""gateway":"kong""#, &format!(r#""gateway":"{g}""#));
        let e = one(&line);
        assert_eq!(e.gateway, g);
        assert_eq!(e.to_json(), line);
    }
}

#[test]
fn the_minimal_line_has_every_optional_field_null() {
    let e = one(r#"{"event_id":"x","ts":"2024-06-11T13:04:05.000Z","gateway":"canonical"}"#);
    assert_eq!(
        e,
        AccessEvent::new("x", EpochMillis(1_718_111_045_000), Gateway::Canonical)
    );
    assert_eq!(
        e.to_json(),
        r#"{"event_id":"x","ts":"2024-06-11T13:04:05.000Z","gateway":"canonical","consumer":null,"consumer_name":null,"api_key_id":null,"api":null,"route":null,"path_template":null,"method":null,"path":null,"query":null,"status":null,"latency_ms":null,"upstream_latency_ms":null,"request_bytes":null,"response_bytes":null,"client_ip":null}"#
    );
}

#[test]
fn key_order_and_whitespace_do_not_matter() {
    let e = one(
        "\u{feff}  { \"gateway\" : \"envoy\" ,\n \"status\": 204, \"ts\":\"2024-06-11T13:04:05.000Z\", \"event_id\":\"x\" }\r\n",
    );
    assert_eq!(e.gateway, Gateway::Envoy);
    assert_eq!(e.status, Some(204));
}

/// serde_json without `float_roundtrip` may read a 17-digit float one unit
/// in the last place off; the canonical reader must not.
#[test]
fn latencies_round_trip_bit_exactly() {
    let tricky = [
        0.1 + 0.2,
        1.0 / 3.0,
        2.0 / 3.0,
        std::f64::consts::PI,
        123_456_789.123_456_79,
        0.000_123_456_789_012_345_67,
        9_007_199_254_740_993.0,
        1e-7,
        5e-324,
        f64::MIN_POSITIVE,
        2.225_073_858_507_201e-308,
        1e21,
        1e22,
        1e23,
        1.7976931348623157e300,
        48.99995803833,
        1.000_165_939_331_1,
        30.512345,
        0.0,
    ];
    for ms in tricky {
        let mut e = AccessEvent::new("x", EpochMillis(1_718_111_045_000), Gateway::Canonical);
        e.latency_ms = Some(ms);
        e.upstream_latency_ms = Some(ms / 2.0);
        let text = e.to_json();
        let again = one(&text);
        assert_eq!(
            again.latency_ms.map(f64::to_bits),
            Some(ms.to_bits()),
            "{text}"
        );
        assert_eq!(
            again.upstream_latency_ms.map(f64::to_bits),
            Some((ms / 2.0).to_bits()),
            "{text}"
        );
        assert_eq!(again.to_json(), text);
        // Inside a batch, too.
        let d = run(format!("[{text},{text}]").as_bytes(), Format::Auto);
        assert_eq!(d.events, vec![e.clone(), e.clone()], "{text}");
    }
}

/// A pseudo-random sweep over the bit patterns of finite non-negative
/// doubles (deterministic, so a failure reproduces).
#[test]
fn random_latencies_round_trip_bit_exactly() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 1; // sign bit clear
        let ms = f64::from_bits(bits);
        if !ms.is_finite() {
            continue;
        }
        let mut e = AccessEvent::new("x", EpochMillis(0), Gateway::Canonical);
        e.latency_ms = Some(ms);
        let text = e.to_json();
        let d = run(text.as_bytes(), Format::Auto);
        if ms > 1e300 {
            // Rejected or exact, never silently changed.
            if let Some(again) = d.events.first() {
                assert_eq!(again.latency_ms.map(f64::to_bits), Some(bits), "{text}");
            }
            continue;
        }
        assert_eq!(d.rejects, vec![], "{text}");
        assert_eq!(
            d.events[0].latency_ms.map(f64::to_bits),
            Some(bits),
            "{text}"
        );
    }
}

// ----------------------------------------------------- absent and normal

#[test]
fn dash_and_empty_strings_are_absent() {
    for key in [
        "consumer",
        "consumer_name",
        "api_key_id",
        "api",
        "route",
        "path_template",
        "method",
        "path",
        "client_ip",
    ] {
        for absent in [json!("-"), json!(""), json!(" "), json!(null)] {
            let e = one(&with(key, Some(absent.clone())));
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v[key], Value::Null, "{key} = {absent}");
        }
        let e = one(&with(key, None));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v[key], Value::Null, "{key} omitted");
    }
    for key in [
        "status",
        "latency_ms",
        "upstream_latency_ms",
        "request_bytes",
        "response_bytes",
    ] {
        for absent in [Some(json!(null)), None] {
            let e = one(&with(key, absent.clone()));
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v[key], Value::Null, "{key} = {absent:?}");
        }
    }
}

#[test]
fn query_empty_is_kept_and_dash_is_absent() {
    assert_eq!(
        one(&with("query", Some(json!("")))).query.as_deref(),
        Some("")
    );
    assert_eq!(one(&with("query", Some(json!("-")))).query, None);
    assert_eq!(one(&with("query", Some(json!(null)))).query, None);
    assert_eq!(one(&with("query", None)).query, None);
    assert_eq!(
        one(&with("query", Some(json!("a=%20&b")))).query.as_deref(),
        Some("a=%20&b")
    );
}

#[test]
fn timestamps_are_normalised_to_utc_milliseconds() {
    for (ts, want) in [
        ("2024-06-11T13:04:05.123Z", "2024-06-11T13:04:05.123Z"),
        ("2024-06-11T13:04:05.1239Z", "2024-06-11T13:04:05.123Z"),
        ("2024-06-11T13:04:05Z", "2024-06-11T13:04:05.000Z"),
        ("2024-06-11T15:04:05.5+02:00", "2024-06-11T13:04:05.500Z"),
        ("2024-06-11t13:04:05.123z", "2024-06-11T13:04:05.123Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z"),
    ] {
        let e = one(&with("ts", Some(json!(ts))));
        assert_eq!(e.ts.to_string(), want, "{ts}");
    }
}

#[test]
fn client_addresses_are_normalised() {
    for (ip, want) in [
        ("[2001:DB8::1]:443", "2001:db8::1"),
        ("10.0.0.1:5555", "10.0.0.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("unix:/run/s.sock", "unix:/run/s.sock"),
    ] {
        let e = one(&with("client_ip", Some(json!(ip))));
        assert_eq!(e.client_ip.as_deref(), Some(want), "{ip}");
    }
}

#[test]
fn canonical_lines_in_a_batch_decode_in_order() {
    let a = with("event_id", Some(json!("a")));
    let b = with("event_id", Some(json!("b")));
    let d = run(format!("[{a},{b}]").as_bytes(), Format::Auto);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    let ids: Vec<&str> = d.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn status_bounds() {
    for s in [0, 100, 200, 599, 999] {
        assert_eq!(one(&with("status", Some(json!(s)))).status, Some(s));
    }
}

// --------------------------------------------------------------- rejects

#[test]
fn unknown_keys_are_rejected_naming_the_key() {
    // A typo would otherwise silently lose the latency.
    let line = with("latency", Some(json!(12.5)));
    let r = reject(&line);
    assert_eq!(r.reason, RejectReason::WrongType);
    assert!(
        r.message.contains("unknown field `latency`"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("latency_ms"),
        "lists the keys: {}",
        r.message
    );
    let r = reject(&with("Status", Some(json!(200))));
    assert!(r.message.contains("`Status`"), "{}", r.message);
}

#[test]
fn missing_ts_is_missing_field() {
    let line = with("ts", None);
    let r = reject_as(&line, Format::Fixed(Gateway::Canonical));
    assert_eq!(r.reason, RejectReason::MissingField);
    assert!(r.message.contains("`ts`"), "{}", r.message);
    // Without ts the shape is not recognisably canonical.
    let r = reject_as(&line, Format::Auto);
    assert_eq!(r.reason, RejectReason::UnknownFormat);
    // Present but absent-valued.
    for absent in [json!(null), json!(""), json!("-")] {
        let r = reject(&with("ts", Some(absent.clone())));
        assert_eq!(r.reason, RejectReason::MissingField, "ts {absent}");
        assert!(r.message.contains("`ts`"), "{}", r.message);
    }
}

#[test]
fn missing_event_id_or_gateway_is_missing_field() {
    for key in ["event_id", "gateway"] {
        let r = reject_as(&with(key, None), Format::Fixed(Gateway::Canonical));
        assert_eq!(r.reason, RejectReason::MissingField, "{key}");
        assert!(r.message.contains(&format!("`{key}`")), "{}", r.message);
        for absent in [json!(null), json!(""), json!("  ")] {
            let r = reject(&with(key, Some(absent.clone())));
            assert_eq!(r.reason, RejectReason::MissingField, "{key} {absent}");
            assert!(r.message.contains(&format!("`{key}`")), "{}", r.message);
        }
    }
}

#[test]
fn bad_ts_is_an_invalid_value() {
    for ts in [
        "yesterday",
        "2024-06-11T13:04:05",
        "2024-06-11",
        "2024-13-01T00:00:00Z",
        "2024-06-11T13:04:05.123+25:00",
        "11/Jun/2024:13:04:05 +0000",
    ] {
        let r = reject(&with("ts", Some(json!(ts))));
        assert_eq!(r.reason, RejectReason::InvalidValue, "{ts}: {}", r.message);
        assert!(r.message.contains("`ts`"), "{}", r.message);
        assert!(r.message.contains(ts), "quotes the value: {}", r.message);
    }
    for ts in ["1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z"] {
        let r = reject(&with("ts", Some(json!(ts))));
        assert_eq!(r.reason, RejectReason::InvalidValue, "{ts}: {}", r.message);
        assert!(
            r.message.contains("1970-01-01..9999-12-31"),
            "{}",
            r.message
        );
    }
    for ts in [
        json!(1718111045123_i64),
        json!({"s": 1}),
        json!(["x"]),
        json!(true),
    ] {
        let r = reject(&with("ts", Some(ts.clone())));
        assert_eq!(r.reason, RejectReason::WrongType, "{ts}: {}", r.message);
        assert!(r.message.contains("`ts`"), "{}", r.message);
    }
}

#[test]
fn unknown_gateway_is_an_invalid_value() {
    for g in ["haproxy", "Kong", "KONG", " kong"] {
        let r = reject(&with("gateway", Some(json!(g))));
        assert_eq!(r.reason, RejectReason::InvalidValue, "{g}: {}", r.message);
        assert!(r.message.contains("`gateway`"), "{}", r.message);
    }
    let r = reject(&with("gateway", Some(json!(7))));
    assert_eq!(r.reason, RejectReason::WrongType, "{}", r.message);
}

#[test]
fn status_above_999_is_an_invalid_value() {
    for s in [
        json!(1000),
        json!(65535),
        json!(65536),
        json!(-1),
        json!(1_000_000_000_000_i64),
    ] {
        let r = reject(&with("status", Some(s.clone())));
        assert_eq!(r.reason, RejectReason::InvalidValue, "{s}: {}", r.message);
        assert!(r.message.contains("`status`"), "{}", r.message);
    }
    for s in [json!("two hundred"), json!([200]), json!(true)] {
        let r = reject(&with("status", Some(s.clone())));
        assert_eq!(r.reason, RejectReason::WrongType, "{s}: {}", r.message);
    }
}

#[test]
fn negative_latency_is_an_invalid_value() {
    for key in ["latency_ms", "upstream_latency_ms"] {
        for v in [json!(-1), json!(-0.001), json!(-1e300)] {
            let r = reject(&with(key, Some(v.clone())));
            assert_eq!(
                r.reason,
                RejectReason::InvalidValue,
                "{key} {v}: {}",
                r.message
            );
            assert!(r.message.contains(&format!("`{key}`")), "{}", r.message);
        }
        for v in [json!("fast"), json!({"ms": 1}), json!(false)] {
            let r = reject(&with(key, Some(v.clone())));
            assert_eq!(
                r.reason,
                RejectReason::WrongType,
                "{key} {v}: {}",
                r.message
            );
        }
        // -0 is zero, printed as zero.
        let e = one(&with(key, Some(json!(-0.0))));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v[key].as_f64().map(f64::to_bits), Some(0.0_f64.to_bits()));
    }
}

#[test]
fn negative_or_huge_sizes_are_invalid_values() {
    for key in ["request_bytes", "response_bytes"] {
        for v in [json!(-1), json!(9_223_372_036_854_775_808_u64)] {
            let r = reject(&with(key, Some(v.clone())));
            assert_eq!(
                r.reason,
                RejectReason::InvalidValue,
                "{key} {v}: {}",
                r.message
            );
            assert!(r.message.contains(&format!("`{key}`")), "{}", r.message);
        }
        let e = one(&with(key, Some(json!(i64::MAX))));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v[key], json!(i64::MAX));
    }
}

#[test]
fn wrong_string_types_are_rejected() {
    for key in ["event_id", "consumer", "path", "query", "client_ip"] {
        let r = reject(&with(key, Some(json!({"x": 1}))));
        assert_eq!(r.reason, RejectReason::WrongType, "{key}: {}", r.message);
        assert!(r.message.contains(key), "{}", r.message);
    }
}
