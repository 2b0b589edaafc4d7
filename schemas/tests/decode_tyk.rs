//! Tyk analytics records as the Tyk Pump Kafka pump sends them, through the
//! public decoder API. Fixtures follow the message map in tyk-pump
//! `pumps/kafka.go`: `timestamp` is a Go `time.Time` (RFC 3339 with the
//! gateway's local offset and up to nanoseconds), `request_time_ms` in ms,
//! `content_length` is Go's `r.ContentLength` (`-1` = unknown), `oauth_id`
//! and `alias` are `""` when unset, `raw_request` / `raw_response` base64,
//! plus any static `meta_data` keys the pump is configured to add.

use tollgate_schemas::decode::derive_id;
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

const TYK: Format = Format::Fixed(Gateway::Tyk);

fn run(input: &str, format: Format, position: Position<'_>) -> Decoded {
    decode(
        input.as_bytes(),
        format,
        &DecodeOptions::default(),
        position,
    )
}

fn one_as(input: &str, format: Format) -> AccessEvent {
    let out = run(input, format, Position(None));
    assert!(
        out.rejects.is_empty(),
        "unexpected rejects: {:?}",
        out.rejects
    );
    assert_eq!(out.events.len(), 1, "expected exactly one event");
    out.events.into_iter().next().unwrap()
}

fn one(input: &str) -> AccessEvent {
    one_as(input, Format::Auto)
}

fn reject_as(input: &str, format: Format) -> Reject {
    let out = run(input, format, Position(None));
    assert!(out.events.is_empty(), "unexpected events: {:?}", out.events);
    assert_eq!(out.rejects.len(), 1, "expected exactly one reject");
    let r = out.rejects.into_iter().next().unwrap();
    assert_eq!(
        r.index, None,
        "a lone record is rejected as a whole message"
    );
    assert_eq!(r.raw, input.as_bytes(), "the reject keeps the raw bytes");
    assert!(!r.raw_truncated);
    r
}

fn reject(input: &str) -> Reject {
    reject_as(input, Format::Auto)
}

fn is_hex32(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An OAuth client's call through a gateway running at UTC+2, with the
/// pump's static `meta_data` (`"env"`, `"cluster"`) added.
const FULL: &str = r#"{
  "timestamp": "2024-06-11T15:04:09.004123456+02:00",
  "method": "POST",
  "path": "/orders/{id}/items",
  "raw_path": "/shop/orders/ß-17/items",
  "response_code": 201,
  "alias": "initech-mobile",
  "api_key": "5e7b1a0c9d2f4e3b",
  "api_version": "v2",
  "api_name": "Shop",
  "api_id": "b8d3e4f5a6c7",
  "org_id": "5f0c1e2d",
  "oauth_id": "client-7f3a",
  "raw_request": "UE9TVCAvc2hvcC9vcmRlcnMvJUMzJTlGLTE3L2l0ZW1zIEhUVFAvMS4xDQpIb3N0OiBzaG9wLmV4YW1wbGUuY29tDQpBdXRob3JpemF0aW9uOiBCZWFyZXIgUkVEQUNURUQNCkNvbnRlbnQtTGVuZ3RoOiA1MTINCkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbg0KDQo=",
  "request_time_ms": 37,
  "raw_response": "SFRUUC8xLjEgMjAxIENyZWF0ZWQNCkNvbnRlbnQtTGVuZ3RoOiA4OA0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9qc29uDQoNCg==",
  "ip_address": "2001:db8:ffff::3",
  "host": "shop.example.com",
  "content_length": 512,
  "user_agent": "okhttp/4.12.0",
  "tags": ["key-5e7b1a0c", "org-5f0c1e2d", "api-b8d3e4f5a6c7"],
  "env": "prod",
  "cluster": "eu-central-1"
}"#;

/// A plain auth-token call (no OAuth): `oauth_id` is `""`, the body length
/// was unknown (`-1`), the gateway ran at UTC-4.
const API_KEY_CALL: &str = r#"{"timestamp":"2024-06-10T21:30:00.5-04:00","method":"GET","path":"/items/9","raw_path":"/inventory/items/9","response_code":200,"alias":"","api_key":"00000000a1b2c3d4e5f6","api_version":"Non Versioned","api_name":"Inventory","api_id":"41433797848f41a558c1573d3e55a410","org_id":"5e9d9544a1dcd60001d0ed20","oauth_id":"","raw_request":"","request_time_ms":12,"raw_response":"","ip_address":"192.0.2.17","host":"inventory.example.com","content_length":-1,"user_agent":"okhttp/4.12.0","tags":["key-00000000a1b2c3d4e5f6"]}"#;

#[test]
fn full_record_maps_every_field() {
    let e = one(FULL);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:09.004Z");
    let expected = AccessEvent {
        event_id: derive_id(Position(None), 0, FULL.as_bytes()),
        ts: EpochMillis(1_718_111_049_004),
        gateway: Gateway::Tyk,
        // The OAuth client pays, not the token.
        consumer: Some("client-7f3a".into()),
        consumer_name: Some("initech-mobile".into()),
        api_key_id: Some("5e7b1a0c9d2f4e3b".into()),
        api: Some("b8d3e4f5a6c7".into()),
        // A tracked endpoint: `path` is the endpoint as the API lists it.
        route: Some("/orders/{id}/items".into()),
        path_template: Some("/orders/{id}/items".into()),
        method: Some("POST".into()),
        path: Some("/shop/orders/ß-17/items".into()),
        query: None,
        status: Some(201),
        latency_ms: Some(37.0),
        upstream_latency_ms: None,
        request_bytes: Some(512),
        response_bytes: None,
        client_ip: Some("2001:db8:ffff::3".into()),
        amount: None,
    };
    assert_eq!(e, expected);
    assert!(is_hex32(&e.event_id), "{}", e.event_id);
}

#[test]
fn api_key_call_with_unknown_length() {
    let e = one(API_KEY_CALL);
    assert_eq!(e.ts.to_string(), "2024-06-11T01:30:00.500Z");
    let expected = AccessEvent {
        event_id: derive_id(Position(None), 0, API_KEY_CALL.as_bytes()),
        ts: EpochMillis(1_718_069_400_500),
        gateway: Gateway::Tyk,
        // `oauth_id: ""`: the key identifies the consumer.
        consumer: Some("00000000a1b2c3d4e5f6".into()),
        consumer_name: None,
        api_key_id: Some("00000000a1b2c3d4e5f6".into()),
        api: Some("41433797848f41a558c1573d3e55a410".into()),
        route: None,
        path_template: None,
        method: Some("GET".into()),
        path: Some("/inventory/items/9".into()),
        query: None,
        status: Some(200),
        latency_ms: Some(12.0),
        upstream_latency_ms: None,
        // `content_length: -1`: unknown, not 0 and not an error.
        request_bytes: None,
        response_bytes: None,
        client_ip: Some("192.0.2.17".into()),
        amount: None,
    };
    assert_eq!(e, expected);
}

#[test]
fn keyless_api_has_no_consumer() {
    let line = r#"{"timestamp":"2024-06-11T13:04:05.123Z","method":"GET","path":"/status","raw_path":"/public/status","response_code":200,"alias":"","api_key":"","api_version":"","api_name":"Public","api_id":"pub-1","org_id":"5f0c1e2d","oauth_id":"","request_time_ms":1,"ip_address":"203.0.113.50","host":"public.example.com","content_length":0,"user_agent":"kube-probe/1.30","tags":[]}"#;
    let e = one(line);
    assert_eq!(e.consumer, None);
    assert_eq!(e.consumer_name, None);
    assert_eq!(e.api_key_id, None);
    // A zero length is a real zero.
    assert_eq!(e.request_bytes, Some(0));
    assert_eq!(e.latency_ms, Some(1.0));
}

#[test]
fn oauth_id_wins_over_api_key() {
    let with = |oauth: &str, key: &str| {
        let line = format!(
            r#"{{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","oauth_id":{oauth},"api_key":{key},"request_time_ms":3}}"#
        );
        let e = one(&line);
        (e.consumer, e.api_key_id)
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        with(r#""client-1""#, r#""key-1""#),
        (s("client-1"), s("key-1"))
    );
    assert_eq!(with(r#""""#, r#""key-1""#), (s("key-1"), s("key-1")));
    assert_eq!(with("null", r#""key-1""#), (s("key-1"), s("key-1")));
    assert_eq!(with(r#""client-1""#, r#""""#), (s("client-1"), None));
    assert_eq!(with(r#""""#, r#""""#), (None, None));
}

#[test]
fn timestamps_with_offsets_and_nanoseconds() {
    let cases = [
        (
            "2024-06-11T15:04:09.004123456+02:00",
            "2024-06-11T13:04:09.004Z",
        ),
        ("2024-06-10T21:30:00.5-04:00", "2024-06-11T01:30:00.500Z"),
        (
            "2024-06-11T18:49:09.999999999+05:45",
            "2024-06-11T13:04:09.999Z",
        ),
        ("2024-06-12T03:04:05+14:00", "2024-06-11T13:04:05.000Z"),
        ("2024-06-11T13:04:05.123Z", "2024-06-11T13:04:05.123Z"),
        ("2024-06-11T13:04:05.1239Z", "2024-06-11T13:04:05.123Z"),
        (
            "2024-06-11T13:04:05.000999+00:00",
            "2024-06-11T13:04:05.000Z",
        ),
        ("2024-12-31T23:59:59.9999-01:00", "2025-01-01T00:59:59.999Z"),
        ("1970-01-01T01:00:00+01:00", "1970-01-01T00:00:00.000Z"),
    ];
    for (given, want) in cases {
        let line =
            format!(r#"{{"timestamp":"{given}","api_id":"a1","org_id":"o1","request_time_ms":3}}"#);
        assert_eq!(one(&line).ts.to_string(), want, "timestamp {given}");
    }
}

#[test]
fn detected_automatically_and_forced_agree() {
    let auto = one(FULL);
    assert_eq!(auto.gateway, Gateway::Tyk);
    assert_eq!(one_as(FULL, TYK), auto);
    assert_eq!("tyk".parse::<Format>().unwrap(), TYK);

    // api_id next to any one of request_time_ms / raw_path / org_id.
    for line in [
        r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","request_time_ms":3}"#,
        r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","raw_path":"/x"}"#,
        r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1"}"#,
    ] {
        let e = one(line);
        assert_eq!(e.gateway, Gateway::Tyk, "{line}");
        assert_eq!(e.api.as_deref(), Some("a1"));
    }
}

#[test]
fn forced_format_decodes_what_auto_cannot_place() {
    // Without api_id there is nothing Tyk-specific to detect.
    let line = r#"{"timestamp":"2024-06-11T15:04:09.004+02:00","method":"GET","raw_path":"/x","response_code":204,"request_time_ms":"8","ip_address":"198.51.100.1"}"#;
    assert_eq!(reject(line).reason, RejectReason::UnknownFormat);
    let e = one_as(line, TYK);
    assert_eq!(e.gateway, Gateway::Tyk);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:09.004Z");
    assert_eq!(e.api, None);
    assert_eq!(e.status, Some(204));
    assert_eq!(e.latency_ms, Some(8.0));
}

#[test]
fn forcing_another_format_does_not_decode_tyk() {
    let r = reject_as(FULL, Format::Fixed(Gateway::Kong));
    assert_eq!(r.reason, RejectReason::MissingField);
    assert!(r.message.contains("started_at"), "{}", r.message);
}

#[test]
fn quoted_numbers() {
    let line = r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","response_code":"404","request_time_ms":"250","content_length":"2048"}"#;
    let e = one(line);
    assert_eq!(e.status, Some(404));
    assert_eq!(e.latency_ms, Some(250.0));
    assert_eq!(e.request_bytes, Some(2048));
}

#[test]
fn content_length_sentinels() {
    for (given, want) in [
        ("-1", None),
        (r#""-1""#, None),
        ("null", None),
        (r#""""#, None),
        ("0", Some(0)),
        ("1048576", Some(1_048_576)),
    ] {
        let line = format!(
            r#"{{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","content_length":{given}}}"#
        );
        assert_eq!(one(&line).request_bytes, want, "content_length {given}");
    }
}

#[test]
fn request_time_fallback_and_upstream_latency() {
    // Older analytics records carry `request_time` instead.
    let line =
        r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","request_time":42}"#;
    assert_eq!(one(line).latency_ms, Some(42.0));
    let line = r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","request_time_ms":null,"request_time":"7"}"#;
    assert_eq!(one(line).latency_ms, Some(7.0));
    // request_time_ms wins when both are present, zero included.
    let line = r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","request_time_ms":0,"request_time":42}"#;
    assert_eq!(one(line).latency_ms, Some(0.0));

    // The analytics record's latency object, when a pump passes it on.
    let line = r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","request_time_ms":12,"latency":{"total":12,"upstream":9}}"#;
    let e = one(line);
    assert_eq!(e.latency_ms, Some(12.0));
    assert_eq!(e.upstream_latency_ms, Some(9.0));
    let line = r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","request_time_ms":12,"latency":{"total":12}}"#;
    assert_eq!(one(line).upstream_latency_ms, None);
}

#[test]
fn every_spelling_of_absent_is_none() {
    for absent in ["null", r#""""#, r#""-""#] {
        let line = format!(
            r#"{{"timestamp":"2024-06-11T13:04:05.123Z","method":{absent},"path":{absent},"raw_path":{absent},"response_code":{absent},"alias":{absent},"api_key":{absent},"api_version":{absent},"api_name":{absent},"api_id":{absent},"org_id":{absent},"oauth_id":{absent},"raw_request":{absent},"request_time_ms":{absent},"raw_response":{absent},"ip_address":{absent},"host":{absent},"content_length":{absent},"user_agent":{absent},"tags":null,"latency":{{"upstream":{absent}}}}}"#
        );
        // `api_id` is present (if absent) so detection still sees Tyk.
        let e = one(&line);
        let expected = AccessEvent::new(
            derive_id(Position(None), 0, line.as_bytes()),
            EpochMillis(1_718_111_045_123),
            Gateway::Tyk,
        );
        assert_eq!(e, expected, "absent spelled {absent}");
    }
    // Missing keys altogether.
    let line =
        r#"{"timestamp":"2024-06-11T13:04:05.123Z","api_id":"a1","org_id":"o1","latency":null}"#;
    let e = one(line);
    let mut expected = AccessEvent::new(
        derive_id(Position(None), 0, line.as_bytes()),
        EpochMillis(1_718_111_045_123),
        Gateway::Tyk,
    );
    expected.api = Some("a1".into());
    assert_eq!(e, expected);
}

#[test]
fn paths_queries_and_unicode() {
    let case = |raw_path: &str, path: &str| {
        let line = format!(
            r#"{{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","raw_path":{raw_path},"path":{path}}}"#
        );
        let e = one(&line);
        (e.path, e.query)
    };
    let s = |v: &str| Some(v.to_string());
    // raw_path preferred, percent-encoding and unicode kept.
    assert_eq!(
        case(r#""/files/a%20b/%E2%9C%93""#, r#""/files/{name}""#),
        (s("/files/a%20b/%E2%9C%93"), None)
    );
    assert_eq!(case(r#""/東京/ß""#, r#""/x""#), (s("/東京/ß"), None));
    assert_eq!(
        case(r#""/\u6771\u4eac/\u00df""#, r#""/x""#),
        (s("/東京/ß"), None)
    );
    // Empty raw_path falls back to path; a query is split off.
    assert_eq!(
        case(r#""""#, r#""/search?q=caf%C3%A9&page=2""#),
        (s("/search"), s("q=caf%C3%A9&page=2"))
    );
    assert_eq!(case(r#""/a?""#, "null"), (s("/a"), s("")));
}

#[test]
fn client_addresses() {
    let cases = [
        ("2001:db8:ffff::3", "2001:db8:ffff::3"),
        ("2001:DB8::7", "2001:db8::7"),
        ("[2001:db8::7]:54321", "2001:db8::7"),
        ("::1", "::1"),
        ("::ffff:203.0.113.5", "::ffff:203.0.113.5"),
        ("203.0.113.5:40112", "203.0.113.5"),
    ];
    for (given, want) in cases {
        let line = format!(
            r#"{{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","ip_address":"{given}"}}"#
        );
        assert_eq!(one(&line).client_ip.as_deref(), Some(want), "{given}");
    }
}

#[test]
fn derived_ids_are_deterministic() {
    let id = |s: &str, p: Position<'_>| {
        let out = run(s, Format::Auto, p);
        assert_eq!(out.events.len(), 1, "{:?}", out.rejects);
        out.events[0].event_id.clone()
    };
    let first = id(API_KEY_CALL, Position(None));
    assert!(is_hex32(&first), "{first}");
    assert_eq!(id(API_KEY_CALL, Position(None)), first);
    // Two calls that differ only in their timestamp's nanoseconds.
    let changed = API_KEY_CALL.replace("21:30:00.5-04:00", "21:30:00.500000001-04:00");
    assert_ne!(changed, API_KEY_CALL);
    assert_eq!(one(&changed).ts, one(API_KEY_CALL).ts);
    assert_ne!(id(&changed, Position(None)), first);
    // Same bytes, different Kafka offsets: different ids.
    let p1 = id(API_KEY_CALL, Position(Some("tyk-analytics/0/1200")));
    let p2 = id(API_KEY_CALL, Position(Some("tyk-analytics/0/1201")));
    assert_ne!(p1, p2);
    assert_ne!(p1, first);
    assert_eq!(id(API_KEY_CALL, Position(Some("tyk-analytics/0/1200"))), p1);
    assert_eq!(
        p1,
        derive_id(
            Position(Some("tyk-analytics/0/1200")),
            0,
            API_KEY_CALL.as_bytes()
        )
    );
}

#[test]
fn batch_decodes_good_elements_and_rejects_the_bad_one_in_place() {
    // The Kafka pump sends one record per message, but an array of records
    // (e.g. re-published by a shipper) decodes element by element.
    let bad = r#"{"timestamp":"2024-06-11T13:04:06Z","method":"GET","raw_path":"/x","response_code":1000,"api_id":"a1","org_id":"o1","request_time_ms":3}"#;
    let good2 = r#"{"timestamp":"2024-06-11T13:04:07.25+00:00","method":"PUT","raw_path":"/y","response_code":200,"api_id":"a1","org_id":"o1","request_time_ms":5,"api_key":"k2","content_length":"64"}"#;
    let batch = format!("[{API_KEY_CALL},\n{bad},\n{good2}]");
    let pos = Position(Some("tyk-analytics/3/88"));
    let out = run(&batch, Format::Auto, pos);
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.rejects.len(), 1);
    let r = &out.rejects[0];
    assert_eq!(r.index, Some(1));
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert!(r.message.contains("`response_code`"), "{}", r.message);
    assert_eq!(r.raw, bad.as_bytes());

    assert_eq!(out.events[0].ts.to_string(), "2024-06-11T01:30:00.500Z");
    assert_eq!(
        out.events[0].event_id,
        derive_id(pos, 0, API_KEY_CALL.as_bytes())
    );
    assert_eq!(out.events[1].ts.to_string(), "2024-06-11T13:04:07.250Z");
    assert_eq!(out.events[1].consumer.as_deref(), Some("k2"));
    assert_eq!(out.events[1].request_bytes, Some(64));
    assert_eq!(out.events[1].event_id, derive_id(pos, 2, good2.as_bytes()));
}

#[test]
fn batch_rejects_carry_their_own_reason_and_index() {
    let ok = r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","raw_path":"/ok"}"#;
    let no_ts = r#"{"api_id":"a1","org_id":"o1","raw_path":"/x"}"#;
    let wrong = r#"{"timestamp":"2024-06-11T13:04:05Z","api_id":"a1","org_id":"o1","request_time_ms":{"ms":3}}"#;
    let old = r#"{"timestamp":"0001-01-01T00:00:00Z","api_id":"a1","org_id":"o1"}"#;
    let null_elem = "null";
    let batch = format!("[{ok},{no_ts},{wrong},{old},{null_elem},{ok}]");
    let out = run(&batch, Format::Auto, Position(None));
    assert_eq!(out.events.len(), 2);
    assert_ne!(out.events[0].event_id, out.events[1].event_id);
    let got: Vec<(Option<usize>, RejectReason, &[u8])> = out
        .rejects
        .iter()
        .map(|r| (r.index, r.reason, r.raw.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(1), RejectReason::MissingField, no_ts.as_bytes()),
            (Some(2), RejectReason::WrongType, wrong.as_bytes()),
            (Some(3), RejectReason::InvalidValue, old.as_bytes()),
            (Some(4), RejectReason::UnknownFormat, null_elem.as_bytes()),
        ]
    );
}

#[test]
fn missing_timestamp_is_missing_field() {
    for ts in [None, Some("null"), Some(r#""""#), Some(r#""-""#)] {
        let ts_field = ts
            .map(|t| format!(r#""timestamp":{t},"#))
            .unwrap_or_default();
        let line = format!(
            r#"{{{ts_field}"method":"GET","raw_path":"/x","response_code":200,"api_id":"a1","org_id":"o1","request_time_ms":3}}"#
        );
        // api_id + org_id is enough to detect Tyk without the timestamp.
        let r = reject(&line);
        assert_eq!(r.reason, RejectReason::MissingField, "timestamp {ts:?}");
        assert!(r.message.contains("timestamp"), "{}", r.message);
        assert!(r.message.starts_with("tyk: "), "{}", r.message);
    }
}

/// A minimal Tyk record with `field` (`"key":value`) replacing or adding one
/// top-level key.
fn record_with(field: &str) -> String {
    let key = field.split(':').next().unwrap();
    let mut parts = Vec::new();
    if key != r#""timestamp""# {
        parts.push(r#""timestamp":"2024-06-11T13:04:05Z""#);
    }
    parts.push(r#""api_id":"a1","org_id":"o1""#);
    parts.push(field);
    format!("{{{}}}", parts.join(","))
}

#[test]
fn wrong_types_are_rejected() {
    let cases = [
        (r#""timestamp":true"#, "timestamp"),
        (r#""timestamp":{"sec":1718111045}"#, "timestamp"),
        (r#""timestamp":["2024-06-11T13:04:05Z"]"#, "timestamp"),
        (r#""response_code":true"#, "response_code"),
        (r#""response_code":"OK""#, "response_code"),
        (r#""request_time_ms":{"ms":3}"#, "request_time_ms"),
        (r#""request_time":[3]"#, "request_time"),
        (r#""content_length":[512]"#, "content_length"),
        (r#""api_key":{"id":"k"}"#, "api_key"),
        (r#""oauth_id":true"#, "oauth_id"),
        (r#""alias":["a"]"#, "alias"),
        (r#""method":{"verb":"GET"}"#, "method"),
        (r#""raw_path":["/x"]"#, "raw_path"),
        (r#""path":false"#, "path"),
        (r#""tracked_path":"yes""#, "tracked_path"),
        (r#""api_version":["v2"]"#, "api_version"),
        (r#""ip_address":{"ip":"192.0.2.1"}"#, "ip_address"),
        (r#""latency":{"upstream":"slow"}"#, "latency.upstream"),
        (r#""latency":"12ms""#, "latency"),
        (r#""latency":12"#, "latency"),
    ];
    for (field, name) in cases {
        let line = record_with(field);
        let r = reject(&line);
        assert_eq!(r.reason, RejectReason::WrongType, "{field}: {}", r.message);
        assert!(
            r.message.contains(&format!("`{name}`")),
            "{field}: {}",
            r.message
        );
    }
}

#[test]
fn numeric_timestamp_is_a_wrong_type() {
    let r = reject(&record_with(r#""timestamp":1718111045"#));
    assert_eq!(r.reason, RejectReason::WrongType, "{}", r.message);
}

#[test]
fn impossible_values_are_invalid() {
    let cases = [
        (r#""timestamp":"1969-12-31T23:59:59.999Z""#, "timestamp"),
        (
            r#""timestamp":"1970-01-01T00:59:59.999+01:00""#,
            "timestamp",
        ),
        (r#""timestamp":"0001-01-01T00:00:00Z""#, "timestamp"),
        (r#""timestamp":"2024-06-11 13:04:05""#, "timestamp"),
        (r#""timestamp":"11/Jun/2024:13:04:05 +0000""#, "timestamp"),
        (r#""timestamp":"2024-06-11T25:04:05Z""#, "timestamp"),
        (r#""response_code":1000"#, "response_code"),
        (r#""response_code":-1"#, "response_code"),
        (r#""request_time_ms":-3"#, "request_time_ms"),
        (r#""request_time_ms":"-0.5""#, "request_time_ms"),
        (r#""latency":{"upstream":-1}"#, "latency.upstream"),
        (r#""content_length":12.5"#, "content_length"),
    ];
    for (field, name) in cases {
        let line = record_with(field);
        let r = reject(&line);
        assert_eq!(
            r.reason,
            RejectReason::InvalidValue,
            "{field}: {}",
            r.message
        );
        assert!(
            r.message.contains(&format!("`{name}`")),
            "{field}: {}",
            r.message
        );
    }
    // The edges are accepted.
    let e = one(&record_with(
        r#""timestamp":"1970-01-01T00:00:00Z","response_code":999"#,
    ));
    assert_eq!(e.ts.to_string(), "1970-01-01T00:00:00.000Z");
    assert_eq!(e.status, Some(999));
    let e = one(&record_with(
        r#""timestamp":"9999-12-31T23:59:59.999999999Z""#,
    ));
    assert_eq!(e.ts.to_string(), "9999-12-31T23:59:59.999Z");
}

#[test]
fn whole_message_reject_keeps_the_exact_bytes() {
    let line = "\u{feff}{\"timestamp\":\"1969-07-20T20:17:40Z\",\"api_id\":\"apollo\",\"org_id\":\"nasa\"}\r\n";
    let r = reject(line);
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert_eq!(r.raw, line.as_bytes());
}

#[test]
fn canonical_json_of_a_tyk_event() {
    let e = one(API_KEY_CALL);
    let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(v["gateway"], "tyk");
    assert_eq!(v["ts"], "2024-06-11T01:30:00.500Z");
    assert_eq!(v["request_bytes"], serde_json::Value::Null);
    assert_eq!(v["response_bytes"], serde_json::Value::Null);
    assert_eq!(v["consumer_name"], serde_json::Value::Null);
    assert_eq!(v["latency_ms"], 12.0);
}

/// A Tyk record with the given `path`, `raw_path`, `api_version` and
/// (optionally) `tracked_path`, the way the gateway's `RecordHit` fills them.
fn routed(path: &str, raw_path: &str, version: &str, tracked: Option<bool>) -> AccessEvent {
    let tracked = tracked.map_or(String::new(), |t| format!(r#""tracked_path":{t},"#));
    one(&format!(
        r#"{{"timestamp":"2024-06-11T13:04:05Z","method":"GET",{tracked}"path":"{path}","raw_path":"{raw_path}","response_code":200,"api_version":"{version}","api_id":"a1","org_id":"o1","request_time_ms":3}}"#
    ))
}

#[test]
fn tracked_endpoint_is_the_route_and_the_path_template() {
    let e = routed("/widgets/{id}", "/widgets/42", "v2", Some(true));
    assert_eq!(e.path_template.as_deref(), Some("/widgets/{id}"));
    assert_eq!(e.route.as_deref(), Some("/widgets/{id}"));
    assert_eq!(e.path.as_deref(), Some("/widgets/42"));
    // A tracked endpoint written as a literal path is still the endpoint.
    let e = routed("/status", "/status", "v2", Some(true));
    assert_eq!(e.path_template.as_deref(), Some("/status"));
    // The Kafka pump drops `tracked_path`: a different `path` is the endpoint.
    let e = routed("/widgets/{id}", "/widgets/42", "v2", None);
    assert_eq!(e.path_template.as_deref(), Some("/widgets/{id}"));
    // ...unless it is only `raw_path` without a listen path.
    let e = routed("/widgets/42", "/shop/widgets/42", "v2", None);
    assert_eq!(e.path_template, None);
    assert_eq!(e.route.as_deref(), Some("v2"));
}

#[test]
fn untracked_calls_are_routed_by_api_version() {
    let e = routed("/widgets/42", "/widgets/42", "v2", Some(false));
    assert_eq!(e.path_template, None);
    assert_eq!(e.route.as_deref(), Some("v2"));
    // Even a differing `path` is not an endpoint when Tyk says untracked.
    let e = routed("/widgets/{id}", "/widgets/42", "v2", Some(false));
    assert_eq!(e.path_template, None);
    // Tyk's spelling of "no versions" is not a route.
    let e = routed("/widgets/42", "/widgets/42", "Non Versioned", None);
    assert_eq!(e.route, None);
}
