//! Apache APISIX `kafka-logger` records through the public decoder API.
//! Fixtures follow the plugin's default log format (`log-util.lua`,
//! `get_full_log`): `start_time` is `ngx.req.start_time() * 1000` (epoch ms
//! with a fraction), `latency` float ms, `upstream_latency` only when an
//! upstream was called, `consumer` only for authenticated calls, and a JSON
//! array per message unless `batch_max_size` is 1. `meta_format=origin`
//! sends the raw HTTP request text instead.

use tollgate_schemas::decode::derive_id;
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

const APISIX: Format = Format::Fixed(Gateway::Apisix);

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

fn is_hex32(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One authenticated, proxied call, `batch_max_size = 1` (a lone object).
const FULL: &str = r#"{
  "upstream": "10.0.4.2:8080",
  "start_time": 1718111046201.427,
  "client_ip": "198.51.100.23",
  "service_id": "orders",
  "route_id": "orders-create",
  "request": {
    "querystring": {"idempotency_key": "k-77", "note": "rush order"},
    "size": 412,
    "uri": "/v2/orders/%E6%B3%A8%E6%96%87/items?idempotency_key=k-77&note=rush%20order",
    "url": "http://api.example.com:9080/v2/orders/%E6%B3%A8%E6%96%87/items?idempotency_key=k-77&note=rush%20order",
    "headers": {
      "host": "api.example.com",
      "content-type": "application/json",
      "content-length": "311",
      "user-agent": "Go-http-client/1.1",
      "apikey": "REDACTED",
      "x-request-id": "6b1f0c8e-2d4a-4e1b-9c3f-7a5d2e8b0f14"
    },
    "method": "POST"
  },
  "response": {
    "headers": {
      "content-type": "application/json",
      "content-length": "402",
      "connection": "close",
      "server": "APISIX/3.9.0",
      "date": "Tue, 11 Jun 2024 13:04:06 GMT"
    },
    "status": 201,
    "size": 655
  },
  "server": {"hostname": "apisix-0", "version": "3.9.0"},
  "latency": 48.99995803833,
  "upstream_latency": 44,
  "apisix_latency": 4.99995803833,
  "consumer": {"username": "globex"}
}"#;

/// An anonymous call that APISIX answered itself (key-auth refused it):
/// no `upstream_latency`, no `consumer`, a route without a service.
const NO_UPSTREAM: &str = r#"{"upstream":"","start_time":1718111046388,"client_ip":"2001:db8::42","service_id":"","route_id":"orders-get","request":{"querystring":{"expand":"items"},"size":201,"uri":"/v2/orders/A-17?expand=items","url":"http://api.example.com:9080/v2/orders/A-17?expand=items","headers":{"host":"api.example.com","user-agent":"curl/8.5.0"},"method":"GET"},"response":{"headers":{"content-type":"text/plain; charset=utf-8","server":"APISIX/3.9.0"},"status":401,"size":"88"},"latency":1.0001659393311,"apisix_latency":1.0001659393311,"server":{"hostname":"apisix-0","version":"3.9.0"}}"#;

#[test]
fn full_record_maps_every_field() {
    let e = one(FULL);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:06.201Z");
    let expected = AccessEvent {
        event_id: derive_id(Position(None), 0, FULL.as_bytes()),
        ts: EpochMillis(1_718_111_046_201),
        gateway: Gateway::Apisix,
        consumer: Some("globex".into()),
        consumer_name: None,
        api_key_id: None,
        api: Some("orders".into()),
        route: Some("orders-create".into()),
        path_template: None,
        method: Some("POST".into()),
        path: Some("/v2/orders/%E6%B3%A8%E6%96%87/items".into()),
        query: Some("idempotency_key=k-77&note=rush%20order".into()),
        status: Some(201),
        latency_ms: Some(48.99995803833),
        upstream_latency_ms: Some(44.0),
        request_bytes: Some(412),
        response_bytes: Some(655),
        client_ip: Some("198.51.100.23".into()),
        amount: None,
    };
    assert_eq!(e, expected);
    assert!(is_hex32(&e.event_id), "{}", e.event_id);
}

#[test]
fn call_without_upstream_or_consumer() {
    let e = one(NO_UPSTREAM);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:06.388Z");
    let expected = AccessEvent {
        event_id: derive_id(Position(None), 0, NO_UPSTREAM.as_bytes()),
        ts: EpochMillis(1_718_111_046_388),
        gateway: Gateway::Apisix,
        consumer: None,
        consumer_name: None,
        api_key_id: None,
        // `service_id: ""` is a route without a service.
        api: None,
        route: Some("orders-get".into()),
        path_template: None,
        method: Some("GET".into()),
        path: Some("/v2/orders/A-17".into()),
        query: Some("expand=items".into()),
        status: Some(401),
        latency_ms: Some(1.0001659393311),
        // Absent `upstream_latency`: no upstream, not 0.
        upstream_latency_ms: None,
        request_bytes: Some(201),
        response_bytes: Some(88),
        client_ip: Some("2001:db8::42".into()),
        amount: None,
    };
    assert_eq!(e, expected);
}

#[test]
fn unmatched_route_host_in_service_id_is_not_an_api() {
    // get_full_log: without a matched route, `service_id = var.host` and
    // there is no `route_id`. The host is not a service.
    let line = r#"{"upstream":"","start_time":1718111047000.5,"client_ip":"192.0.2.200","service_id":"api.example.com","request":{"querystring":{},"size":96,"uri":"/wp-login.php","url":"http://api.example.com:9080/wp-login.php","headers":{"host":"api.example.com"},"method":"GET"},"response":{"headers":{"server":"APISIX/3.9.0"},"status":404,"size":229},"latency":0.31113624572754,"apisix_latency":0.31113624572754,"server":{"hostname":"apisix-0","version":"3.9.0"}}"#;
    let e = one(line);
    assert_eq!(e.route, None);
    assert_eq!(e.api, None, "the Host header is not a service id");
    assert_eq!(e.status, Some(404));
    assert_eq!(e.path.as_deref(), Some("/wp-login.php"));
    assert_eq!(e.query, None);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:07.000Z");
}

#[test]
fn detected_automatically_and_forced_agree() {
    let auto = one(FULL);
    assert_eq!(auto.gateway, Gateway::Apisix);
    assert_eq!(one_as(FULL, APISIX), auto);
    assert_eq!("apisix".parse::<Format>().unwrap(), APISIX);

    // Any one of route_id / latency / request next to a numeric start_time.
    for line in [
        r#"{"start_time":1718111046201,"route_id":"1"}"#,
        r#"{"start_time":1718111046201,"latency":3.5}"#,
        r#"{"start_time":1718111046201,"request":{"method":"GET","uri":"/"}}"#,
    ] {
        let e = one(line);
        assert_eq!(e.gateway, Gateway::Apisix, "{line}");
        assert_eq!(e.ts.to_string(), "2024-06-11T13:04:06.201Z");
    }
}

#[test]
fn forced_format_decodes_what_auto_cannot_place() {
    // A quoted start_time is not APISIX's shape, so detection declines;
    // forcing the format accepts it like any quoted number.
    let line = r#"{"start_time":"1718111046201.9","route_id":"r1","request":{"method":"GET","uri":"/a"},"response":{"status":"200","size":"12"},"latency":"2.5"}"#;
    let out = run(line, Format::Auto, Position(None));
    assert!(out.events.is_empty());
    assert_eq!(out.rejects[0].reason, RejectReason::UnknownFormat);

    let e = one_as(line, APISIX);
    assert_eq!(e.gateway, Gateway::Apisix);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:06.201Z");
    assert_eq!(e.status, Some(200));
    assert_eq!(e.response_bytes, Some(12));
    assert_eq!(e.latency_ms, Some(2.5));
    assert_eq!(e.route.as_deref(), Some("r1"));
}

#[test]
fn forcing_another_format_does_not_decode_apisix() {
    let r = reject_as(FULL, Format::Fixed(Gateway::Kong));
    assert_eq!(r.reason, RejectReason::MissingField);
    assert!(r.message.contains("started_at"), "{}", r.message);
    let r = reject_as(FULL, Format::Fixed(Gateway::Tyk));
    assert_eq!(r.reason, RejectReason::MissingField);
}

#[test]
fn fractional_start_time_is_truncated_never_rounded() {
    let cases = [
        ("1718111046201.427", "2024-06-11T13:04:06.201Z"),
        ("1718111046201.999", "2024-06-11T13:04:06.201Z"),
        (r#""1718111046201.9999""#, "2024-06-11T13:04:06.201Z"),
        ("1718111046999.999", "2024-06-11T13:04:06.999Z"),
        ("1718111046201", "2024-06-11T13:04:06.201Z"),
        ("1718111046201.0", "2024-06-11T13:04:06.201Z"),
        ("1.7181110462019e12", "2024-06-11T13:04:06.201Z"),
    ];
    for (start, want) in cases {
        let line = format!(r#"{{"start_time":{start},"route_id":"1","latency":1}}"#);
        // Forced: a quoted start_time is not something detection accepts.
        assert_eq!(
            one_as(&line, APISIX).ts.to_string(),
            want,
            "start_time {start}"
        );
    }
}

#[test]
fn latencies_keep_their_fractions() {
    let line = r#"{"start_time":1718111046201,"route_id":"1","latency":18.573094844818,"upstream_latency":10.5,"apisix_latency":8.073094844818}"#;
    let e = one(line);
    assert_eq!(e.latency_ms, Some(18.573094844818));
    assert_eq!(e.upstream_latency_ms, Some(10.5));

    let line =
        r#"{"start_time":1718111046201,"route_id":"1","latency":"0.123","upstream_latency":"0"}"#;
    let e = one(line);
    assert_eq!(e.latency_ms, Some(0.123));
    // A zero upstream latency is a real (fast) upstream.
    assert_eq!(e.upstream_latency_ms, Some(0.0));
}

#[test]
fn sizes_and_status_as_strings() {
    // Sizes are nginx variables (`request_length`, `bytes_sent`).
    let line = r#"{"start_time":1718111046201,"route_id":"1","request":{"method":"PUT","uri":"/a","size":"1048576"},"response":{"status":"503","size":"0"},"latency":"30000.004"}"#;
    let e = one(line);
    assert_eq!(e.request_bytes, Some(1_048_576));
    assert_eq!(e.response_bytes, Some(0));
    assert_eq!(e.status, Some(503));
    assert_eq!(e.latency_ms, Some(30000.004));
}

#[test]
fn every_spelling_of_absent_is_none() {
    for absent in ["null", r#""""#, r#""-""#] {
        let line = format!(
            r#"{{"upstream":{absent},"start_time":1718111046201,"client_ip":{absent},"service_id":{absent},"route_id":{absent},
              "request":{{"querystring":{{}},"size":{absent},"uri":{absent},"url":{absent},"headers":{{}},"method":{absent}}},
              "response":{{"headers":{{}},"status":{absent},"size":{absent}}},
              "server":{{"hostname":"apisix-0","version":"3.9.0"}},
              "latency":{absent},"upstream_latency":{absent},"apisix_latency":{absent},
              "consumer":{{"username":{absent}}}}}"#
        );
        let e = one(&line);
        let expected = AccessEvent::new(
            derive_id(Position(None), 0, line.as_bytes()),
            EpochMillis(1_718_111_046_201),
            Gateway::Apisix,
        );
        assert_eq!(e, expected, "absent spelled {absent}");
    }
    // Keys missing altogether, objects null.
    let line = r#"{"start_time":1718111046201,"route_id":null,"request":null,"response":null,"consumer":null}"#;
    let e = one(line);
    assert_eq!(
        e,
        AccessEvent::new(
            derive_id(Position(None), 0, line.as_bytes()),
            EpochMillis(1_718_111_046_201),
            Gateway::Apisix
        )
    );
}

#[test]
fn uri_falls_back_to_url_and_query_edges() {
    let line = r#"{"start_time":1718111046201,"route_id":"1","request":{"method":"GET","url":"https://api.example.com:9443/files/a%20b.txt?"}}"#;
    let e = one(line);
    assert_eq!(e.path.as_deref(), Some("/files/a%20b.txt"));
    assert_eq!(e.query.as_deref(), Some(""));

    let line = r#"{"start_time":1718111046201,"route_id":"1","request":{"method":"GET","uri":"/q?a=1?b=2&c=%26"}}"#;
    let e = one(line);
    assert_eq!(e.path.as_deref(), Some("/q"));
    assert_eq!(e.query.as_deref(), Some("a=1?b=2&c=%26"));
}

#[test]
fn unicode_paths_are_kept_as_emitted() {
    let raw = r#"{"start_time":1718111046201,"route_id":"1","request":{"method":"GET","uri":"/städte/zürich/straße?q=ü"}}"#;
    let escaped = r#"{"start_time":1718111046201,"route_id":"1","request":{"method":"GET","uri":"/st\u00e4dte/z\u00fcrich/stra\u00dfe?q=\u00fc"}}"#;
    for line in [raw, escaped] {
        let e = one(line);
        assert_eq!(e.path.as_deref(), Some("/städte/zürich/straße"));
        assert_eq!(e.query.as_deref(), Some("q=ü"));
    }
}

#[test]
fn ipv6_client_addresses() {
    let cases = [
        ("::1", "::1"),
        ("2001:db8::42", "2001:db8::42"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0042", "2001:db8::42"),
        ("fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a"),
        ("[2001:db8::42]:9080", "2001:db8::42"),
        ("::ffff:198.51.100.23", "::ffff:198.51.100.23"),
    ];
    for (given, want) in cases {
        let line =
            format!(r#"{{"start_time":1718111046201,"route_id":"1","client_ip":"{given}"}}"#);
        assert_eq!(one(&line).client_ip.as_deref(), Some(want), "{given}");
    }
}

#[test]
fn batch_decodes_good_elements_and_rejects_the_bad_one_in_place() {
    let good0 = r#"{"upstream":"10.0.4.2:8080","start_time":1718111046201.427,"client_ip":"198.51.100.23","service_id":"orders","route_id":"orders-create","request":{"querystring":{},"size":412,"uri":"/v2/orders","url":"http://api.example.com/v2/orders","headers":{"host":"api.example.com","content-type":"application/json"},"method":"POST"},"response":{"headers":{"content-type":"application/json"},"status":201,"size":655},"latency":48.99995803833,"upstream_latency":44,"apisix_latency":4.99995803833,"server":{"hostname":"apisix-0","version":"3.9.0"},"consumer":{"username":"globex"}}"#;
    let bad = r#"{"upstream":"10.0.4.2:8080","start_time":1718111046300,"client_ip":"198.51.100.23","service_id":"orders","route_id":"orders-get","request":{"querystring":{},"size":190,"uri":"/v2/orders/9","headers":{"host":"api.example.com"},"method":"GET"},"response":{"headers":{},"status":200,"size":512},"latency":-0.25,"upstream_latency":3,"server":{"hostname":"apisix-0","version":"3.9.0"}}"#;
    let good2 = r#"{"upstream":"","start_time":1718111046388,"client_ip":"198.51.100.24","service_id":"orders","route_id":"orders-get","request":{"querystring":{"expand":"items"},"size":201,"uri":"/v2/orders/A-17?expand=items","url":"http://api.example.com/v2/orders/A-17?expand=items","headers":{"host":"api.example.com"},"method":"GET"},"response":{"headers":{},"status":401,"size":88},"latency":1.0001659393311,"server":{"hostname":"apisix-0","version":"3.9.0"}}"#;
    let batch = format!("[{good0},{bad},{good2}]");
    let pos = Position(Some("apisix-logs/2/1001"));
    let out = run(&batch, Format::Auto, pos);

    assert_eq!(out.events.len(), 2);
    assert_eq!(out.rejects.len(), 1);
    let r = &out.rejects[0];
    assert_eq!(r.index, Some(1));
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert!(r.message.contains("`latency`"), "{}", r.message);
    assert_eq!(r.raw, bad.as_bytes());

    let (a, b) = (&out.events[0], &out.events[1]);
    assert_eq!(a.event_id, derive_id(pos, 0, good0.as_bytes()));
    assert_eq!(b.event_id, derive_id(pos, 2, good2.as_bytes()));
    assert_eq!(a.ts.to_string(), "2024-06-11T13:04:06.201Z");
    assert_eq!(a.consumer.as_deref(), Some("globex"));
    assert_eq!(a.upstream_latency_ms, Some(44.0));
    assert_eq!(a.latency_ms, Some(48.99995803833));
    assert_eq!(b.ts.to_string(), "2024-06-11T13:04:06.388Z");
    assert_eq!(b.consumer, None);
    assert_eq!(b.upstream_latency_ms, None);
    assert_eq!(b.status, Some(401));
    assert_eq!(b.query.as_deref(), Some("expand=items"));
}

#[test]
fn batch_rejects_carry_their_own_reason_and_index() {
    let ok = r#"{"start_time":1718111046201,"route_id":"1","request":{"method":"GET","uri":"/ok"},"latency":1}"#;
    let no_ts =
        r#"{"start_time":null,"route_id":"1","request":{"method":"GET","uri":"/x"},"latency":1}"#;
    let wrong =
        r#"{"start_time":1718111046201,"route_id":"1","response":{"status":[200]},"latency":1}"#;
    let too_big =
        r#"{"start_time":1718111046201,"route_id":"1","response":{"status":1000},"latency":1}"#;
    let before_1970 = r#"{"start_time":-1,"route_id":"1","latency":1}"#;
    let string_elem = r#""not a record""#;
    let batch = format!("[{ok}, {no_ts}, {wrong}, {too_big}, {before_1970}, {string_elem}, {ok}]");

    // Forced, so the timestamp-less element is judged as APISIX.
    let out = run(&batch, APISIX, Position(None));
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.events[0].path.as_deref(), Some("/ok"));
    assert_eq!(out.events[1].path.as_deref(), Some("/ok"));
    // The same bytes at different indexes of one message: different calls.
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
            (Some(3), RejectReason::InvalidValue, too_big.as_bytes()),
            (Some(4), RejectReason::InvalidValue, before_1970.as_bytes()),
            (Some(5), RejectReason::UnknownFormat, string_elem.as_bytes()),
        ]
    );
}

#[test]
fn element_ids_depend_on_element_bytes_index_and_position() {
    let a = r#"{"start_time":1718111046201.427,"route_id":"1","latency":1.5}"#;
    let b = r#"{"start_time":1718111046300.001,"route_id":"1","latency":2.5}"#;
    let c = r#"{"start_time":1718111046400.002,"route_id":"2","latency":3.5}"#;
    let ids = |batch: &str, pos: Position<'_>| -> Vec<String> {
        let out = run(batch, Format::Auto, pos);
        assert!(out.rejects.is_empty(), "{:?}", out.rejects);
        out.events.into_iter().map(|e| e.event_id).collect()
    };
    let ab = ids(&format!("[{a},{b}]"), Position(None));
    let ac = ids(&format!("[{a},{c}]"), Position(None));
    let ba = ids(&format!("[{b},{a}]"), Position(None));
    assert!(ab.iter().all(|id| is_hex32(id)));
    // Replaying the same message gives the same ids.
    assert_eq!(ids(&format!("[{a},{b}]"), Position(None)), ab);
    // `a` at index 0 gets the same id whatever its neighbours ...
    assert_eq!(ab[0], ac[0]);
    assert_ne!(ab[1], ac[1]);
    // ... but not at another index, nor at another position.
    assert_ne!(ab[0], ba[1]);
    let at_p = ids(&format!("[{a},{b}]"), Position(Some("apisix-logs/0/7")));
    let at_q = ids(&format!("[{a},{b}]"), Position(Some("apisix-logs/0/8")));
    assert_ne!(at_p, at_q);
    assert_ne!(at_p, ab);
}

#[test]
fn derived_ids_for_single_records() {
    let id = |s: &str, p: Position<'_>| run(s, Format::Auto, p).events[0].event_id.clone();
    let base = NO_UPSTREAM;
    let first = id(base, Position(None));
    assert_eq!(id(base, Position(None)), first);
    let changed = base.replace(r#""size":201"#, r#""size":202"#);
    assert_ne!(changed, base);
    assert_ne!(id(&changed, Position(None)), first);
    let p1 = id(base, Position(Some("apisix-logs/0/1")));
    let p2 = id(base, Position(Some("apisix-logs/1/1")));
    assert_ne!(p1, p2);
    assert_ne!(p1, first);
    assert_eq!(
        p1,
        derive_id(Position(Some("apisix-logs/0/1")), 0, base.as_bytes())
    );
}

#[test]
fn empty_and_broken_batches() {
    let r = reject_as("[]", Format::Auto);
    assert_eq!(r.reason, RejectReason::Empty);
    let r = reject_as(
        r#"[{"start_time":1718111046201,"route_id":"1"},"#,
        Format::Auto,
    );
    assert_eq!(r.reason, RejectReason::NotJson);
}

#[test]
fn origin_meta_format_is_unsupported() {
    // batch_max_size = 1: the raw request text is the Kafka message.
    let origin = "GET /hello?ab=cd HTTP/1.1\r\nhost: localhost\r\ncontent-length: 6\r\nconnection: close\r\n\r\nabcdef";
    let post = "POST /v2/orders HTTP/1.1\r\nhost: api.example.com\r\ncontent-type: application/json\r\nuser-agent: curl/8.5.0\r\n\r\n{\"sku\":\"A-17\",\"qty\":2}";
    let lf_only = "DELETE /v2/orders/A-17 HTTP/1.1\nhost: api.example.com\n\n";
    for text in [origin, post, lf_only] {
        for format in [Format::Auto, APISIX] {
            let r = reject_as(text, format);
            assert_eq!(
                r.reason,
                RejectReason::UnsupportedFormat,
                "{text:?} as {format}"
            );
            assert!(r.message.contains("meta_format"), "{}", r.message);
        }
    }
    // A request body that is JSON does not make the message JSON.
    let r = reject_as(post, Format::Auto);
    assert_eq!(r.raw, post.as_bytes());
}

#[test]
fn batched_origin_meta_format_is_unsupported() {
    // With batch_max_size > 1 (the default is 1000) kafka-logger
    // JSON-encodes its entries as an array; with meta_format=origin the
    // entries are the raw request strings.
    let batch = r#"["GET /hello?ab=cd HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n","POST /v2/orders HTTP/1.1\r\nhost: api.example.com\r\n\r\n{\"qty\":2}"]"#;
    for format in [Format::Auto, APISIX] {
        let out = run(batch, format, Position(None));
        assert!(out.events.is_empty());
        assert_eq!(out.rejects.len(), 2);
        for (i, r) in out.rejects.iter().enumerate() {
            assert_eq!(r.index, Some(i));
            assert_eq!(r.reason, RejectReason::UnsupportedFormat, "{}", r.message);
            assert!(r.message.contains("meta_format"), "{}", r.message);
        }
    }
}

#[test]
fn missing_timestamp_is_missing_field() {
    for ts in ["null", r#""""#, r#""-""#] {
        let line = format!(
            r#"{{"start_time":{ts},"route_id":"1","request":{{"method":"GET","uri":"/"}},"latency":1}}"#
        );
        let r = reject_as(&line, APISIX);
        assert_eq!(r.reason, RejectReason::MissingField, "start_time {ts}");
        assert!(r.message.contains("start_time"), "{}", r.message);
    }
    let line = r#"{"route_id":"1","request":{"method":"GET","uri":"/"},"response":{"status":200},"latency":1}"#;
    assert_eq!(reject_as(line, APISIX).reason, RejectReason::MissingField);
    // Without it detection has nothing to recognise.
    assert_eq!(
        reject_as(line, Format::Auto).reason,
        RejectReason::UnknownFormat
    );
}

/// A minimal APISIX record with `field` (`"key":value`) replacing or adding
/// one top-level key.
fn record_with(field: &str) -> String {
    let key = field.split(':').next().unwrap();
    let mut parts = Vec::new();
    if key != r#""start_time""# {
        parts.push(r#""start_time":1718111046201"#);
    }
    if key != r#""route_id""# {
        parts.push(r#""route_id":"1""#);
    }
    parts.push(field);
    format!("{{{}}}", parts.join(","))
}

#[test]
fn wrong_types_are_rejected() {
    let cases = [
        (r#""start_time":true"#, "start_time"),
        (r#""start_time":[1718111046201]"#, "start_time"),
        (r#""start_time":"yesterday""#, "start_time"),
        (r#""latency":{"total":3}"#, "latency"),
        (r#""latency":"fast""#, "latency"),
        (r#""upstream_latency":[44]"#, "upstream_latency"),
        (r#""response":{"status":true}"#, "response.status"),
        (r#""response":{"size":{"bytes":5}}"#, "response.size"),
        (r#""request":{"size":false}"#, "request.size"),
        (r#""request":{"uri":["/a"]}"#, "request.uri"),
        (r#""request":{"method":{"verb":"GET"}}"#, "request.method"),
        (r#""consumer":{"username":["globex"]}"#, "consumer.username"),
        (r#""service_id":{"id":"orders"}"#, "service_id"),
        (r#""route_id":["1"]"#, "route_id"),
        (r#""client_ip":{"v4":"192.0.2.1"}"#, "client_ip"),
        (r#""request":"GET /v2/orders HTTP/1.1""#, "request"),
        (r#""response":201"#, "response"),
        (r#""consumer":"globex""#, "consumer"),
    ];
    for (field, name) in cases {
        let line = record_with(field);
        let r = reject_as(&line, APISIX);
        assert_eq!(r.reason, RejectReason::WrongType, "{field}: {}", r.message);
        assert!(
            r.message.contains(&format!("`{name}`")),
            "{field}: {}",
            r.message
        );
        assert!(r.message.starts_with("apisix: "), "{}", r.message);
    }
}

#[test]
fn impossible_values_are_invalid() {
    let cases = [
        (r#""start_time":-1"#, "start_time"),
        (r#""start_time":-1602211788041.7"#, "start_time"),
        (r#""start_time":253402300800000"#, "start_time"),
        (r#""latency":-0.25"#, "latency"),
        (r#""upstream_latency":-1"#, "upstream_latency"),
        (r#""response":{"status":1000}"#, "response.status"),
        (r#""response":{"status":"404.5"}"#, "response.status"),
        (r#""response":{"size":-1}"#, "response.size"),
        (r#""request":{"size":"90.5"}"#, "request.size"),
    ];
    for (field, name) in cases {
        let line = record_with(field);
        // Numeric start_time plus route_id: detected as APISIX.
        let r = reject_as(&line, Format::Auto);
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
    let e = one(r#"{"start_time":0.9,"route_id":"1","response":{"status":999},"latency":0}"#);
    assert_eq!(e.ts.to_string(), "1970-01-01T00:00:00.000Z");
    assert_eq!(e.status, Some(999));
    assert_eq!(e.latency_ms, Some(0.0));
}

#[test]
fn canonical_json_of_an_apisix_event() {
    let e = one(NO_UPSTREAM);
    let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(v["gateway"], "apisix");
    assert_eq!(v["ts"], "2024-06-11T13:04:06.388Z");
    assert_eq!(v["upstream_latency_ms"], serde_json::Value::Null);
    assert_eq!(v["api"], serde_json::Value::Null);
    assert_eq!(v["latency_ms"], 1.0001659393311);
    assert_eq!(v["client_ip"], "2001:db8::42");
}

/// A record whose custom `log_format` adds the matched route's `uri` /
/// `uris`, as the route is written in the Admin API.
fn with_route(uri: &str, route: &str) -> String {
    format!(
        r#"{{"start_time":1718111046201,"route_id":"r1","service_id":"s1","route":{route},"request":{{"method":"GET","uri":"{uri}","size":80}},"response":{{"status":200,"size":12}},"latency":2.5,"client_ip":"192.0.2.1"}}"#
    )
}

#[test]
fn path_template_is_the_route_uri_the_request_matched() {
    let uris = r#"{"uris":["/users/me","/users/:id","/users/:id/orders","/static/*"]}"#;
    let template = |uri: &str| one_as(&with_route(uri, uris), APISIX).path_template;
    assert_eq!(template("/users/me").as_deref(), Some("/users/me"));
    assert_eq!(template("/users/42?x=1").as_deref(), Some("/users/:id"));
    assert_eq!(
        template("/users/42/orders").as_deref(),
        Some("/users/:id/orders")
    );
    assert_eq!(
        template("/static/css/site.css").as_deref(),
        Some("/static/*")
    );
    assert_eq!(template("/admin"), None);
    // A single `uri` works the same way.
    let e = one_as(&with_route("/v1/items/7", r#"{"uri":"/v1/*"}"#), APISIX);
    assert_eq!(e.path_template.as_deref(), Some("/v1/*"));
    // No route object (the default format), or one that is not an object:
    // no template, and the record is kept.
    let e = one_as(&with_route("/v1/items/7", "null"), APISIX);
    assert_eq!(e.path_template, None);
    let e = one_as(&with_route("/v1/items/7", r#""/v1/*""#), APISIX);
    assert_eq!(e.path_template, None);
    assert_eq!(e.route.as_deref(), Some("r1"));
    // A route object with a wrongly typed list is a wrong type.
    let out = run(
        &with_route("/v1", r#"{"uris":"/v1"}"#),
        APISIX,
        Position(None),
    );
    assert_eq!(out.rejects[0].reason, RejectReason::WrongType);
    assert!(out.rejects[0].message.contains("route.uris"));
}
