//! Kong `http-log` / `kafka-log` basic-serializer records through the public
//! decoder API. Fixtures follow the "Log format" sample of Kong's logging
//! plugins and `kong/pdk/log.lua` (`serialize`): `started_at` in epoch ms,
//! `latencies.{request,proxy,kong,receive}` in ms with `proxy = -1` when no
//! upstream was reached, sizes as numbers (3.x) or strings (older releases),
//! `request.id` since 3.5, and JSON arrays when the plugin batches.

use tollgate_schemas::decode::derive_id;
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

const KONG: Format = Format::Fixed(Gateway::Kong);

fn run(input: &str, format: Format, position: Position<'_>) -> Decoded {
    decode(
        input.as_bytes(),
        format,
        &DecodeOptions::default(),
        position,
    )
}

fn one(input: &str) -> AccessEvent {
    one_as(input, Format::Auto)
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

/// A Kong 3.8 record of a proxied, authenticated call, shaped like the
/// documented sample: headers, tls, tries, workspace and all.
const FULL: &str = r#"{
    "response": {
        "size": 9982,
        "headers": {
            "access-control-allow-origin": "*",
            "content-length": "9593",
            "date": "Thu, 19 Sep 2024 21:48:17 GMT",
            "content-type": "application/json; charset=utf-8",
            "via": "1.1 kong/3.8.0.0-enterprise-edition",
            "connection": "close",
            "server": "gunicorn/19.9.0",
            "access-control-allow-credentials": "true",
            "x-kong-upstream-latency": "457",
            "x-kong-proxy-latency": "58",
            "x-kong-request-id": "2f6946328ffc4946b8c9120704a4a155"
        },
        "status": 200
    },
    "route": {
        "updated_at": 1726782477,
        "tags": [],
        "response_buffering": true,
        "path_handling": "v0",
        "protocols": ["http", "https"],
        "service": {"id": "fb4eecf8-dec2-40ef-b779-16de7e2384c7"},
        "https_redirect_status_code": 426,
        "regex_priority": 0,
        "name": "cafe-menu",
        "id": "0f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "strip_path": true,
        "preserve_host": false,
        "request_buffering": true,
        "ws_id": "f381e9f2-3f87-4d1c-b2b4-5e0d3c6f9a10",
        "paths": ["/v1"],
        "created_at": 1726782477
    },
    "workspace": "f381e9f2-3f87-4d1c-b2b4-5e0d3c6f9a10",
    "workspace_name": "default",
    "tries": [
        {
            "balancer_start": 1726782497100,
            "balancer_start_ns": 1726782497100482048,
            "ip": "10.0.3.17",
            "balancer_latency": 0,
            "port": 8080,
            "balancer_latency_ns": 27904
        }
    ],
    "client_ip": "203.0.113.9",
    "request": {
        "querystring": {"lang": "fr", "q": "crème brûlée"},
        "size": 412,
        "uri": "/v1/caf%C3%A9/menu%20items?lang=fr&q=cr%C3%A8me%20br%C3%BBl%C3%A9e",
        "url": "https://api.example.com:8443/v1/caf%C3%A9/menu%20items?lang=fr&q=cr%C3%A8me%20br%C3%BBl%C3%A9e",
        "headers": {
            "accept": "application/json",
            "host": "api.example.com",
            "user-agent": "curl/8.5.0",
            "apikey": "REDACTED"
        },
        "method": "GET",
        "id": "2f6946328ffc4946b8c9120704a4a155",
        "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "client_verify": "NONE"}
    },
    "upstream_uri": "/caf%C3%A9/menu%20items?lang=fr&q=cr%C3%A8me%20br%C3%BBl%C3%A9e",
    "upstream_status": "200",
    "authenticated_entity": {
        "id": "4a6b8f29-0c5f-4f4e-9d6f-4b2a58e8c0a1",
        "consumer_id": {"id": "35b3bbb6-ba2f-4b37-a4c9-4d0e8cf4c78c"}
    },
    "consumer": {
        "id": "35b3bbb6-ba2f-4b37-a4c9-4d0e8cf4c78c",
        "username": "acme-corp",
        "custom_id": "cust-1001",
        "created_at": 1726782480,
        "updated_at": 1726782480,
        "tags": ["gold"],
        "type": 0
    },
    "latencies": {"request": 515, "kong": 58, "proxy": 457, "receive": 0},
    "service": {
        "host": "menu.internal",
        "created_at": 1726782470,
        "connect_timeout": 60000,
        "id": "fb4eecf8-dec2-40ef-b779-16de7e2384c7",
        "protocol": "http",
        "name": "menu-svc",
        "read_timeout": 60000,
        "port": 8080,
        "path": "/",
        "updated_at": 1726782470,
        "write_timeout": 60000,
        "retries": 5,
        "ws_id": "f381e9f2-3f87-4d1c-b2b4-5e0d3c6f9a10",
        "enabled": true,
        "tags": []
    },
    "source": "upstream",
    "started_at": 1726782497099
}"#;

/// The same call as logged by an older Kong (no `request.id`, sizes as
/// strings) for a request that matched no route: no route, service,
/// consumer or upstream, `latencies.proxy = -1`.
const NO_ROUTE_OLD_KONG: &str = r#"{"request":{"method":"POST","uri":"/v2/orders?dry_run","url":"http://api.example.com:8000/v2/orders?dry_run","size":"233","querystring":{"dry_run":true},"headers":{"host":"api.example.com","content-type":"application/json","content-length":"42"}},"upstream_uri":"","response":{"status":404,"size":"285","headers":{"content-type":"application/json; charset=utf-8","content-length":"48","x-kong-response-latency":"1","server":"kong/2.8.1"}},"tries":{},"latencies":{"request":1,"kong":1,"proxy":-1,"receive":0},"client_ip":"2001:db8:85a3::8a2e:370:7334","started_at":1718111045123}"#;

#[test]
fn full_record_maps_every_field() {
    let e = one(FULL);
    assert_eq!(e.ts.to_string(), "2024-09-19T21:48:17.099Z");
    let expected = AccessEvent {
        event_id: "2f6946328ffc4946b8c9120704a4a155".into(),
        ts: EpochMillis(1_726_782_497_099),
        gateway: Gateway::Kong,
        consumer: Some("35b3bbb6-ba2f-4b37-a4c9-4d0e8cf4c78c".into()),
        consumer_name: Some("acme-corp".into()),
        api_key_id: Some("4a6b8f29-0c5f-4f4e-9d6f-4b2a58e8c0a1".into()),
        api: Some("menu-svc".into()),
        route: Some("cafe-menu".into()),
        path_template: Some("/v1".into()),
        method: Some("GET".into()),
        path: Some("/v1/caf%C3%A9/menu%20items".into()),
        query: Some("lang=fr&q=cr%C3%A8me%20br%C3%BBl%C3%A9e".into()),
        status: Some(200),
        latency_ms: Some(515.0),
        upstream_latency_ms: Some(457.0),
        request_bytes: Some(412),
        response_bytes: Some(9982),
        client_ip: Some("203.0.113.9".into()),
        amount: None,
    };
    assert_eq!(e, expected);
}

#[test]
fn no_route_record_from_older_kong() {
    let e = one(NO_ROUTE_OLD_KONG);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    let expected = AccessEvent {
        // No request.id before Kong 3.5: derived from the raw bytes.
        event_id: derive_id(Position(None), 0, NO_ROUTE_OLD_KONG.as_bytes()),
        ts: EpochMillis(1_718_111_045_123),
        gateway: Gateway::Kong,
        consumer: None,
        consumer_name: None,
        api_key_id: None,
        api: None,
        route: None,
        path_template: None,
        method: Some("POST".into()),
        path: Some("/v2/orders".into()),
        query: Some("dry_run".into()),
        status: Some(404),
        latency_ms: Some(1.0),
        upstream_latency_ms: None,
        request_bytes: Some(233),
        response_bytes: Some(285),
        client_ip: Some("2001:db8:85a3::8a2e:370:7334".into()),
        amount: None,
    };
    assert_eq!(e, expected);
    assert!(is_hex32(&e.event_id), "{}", e.event_id);
}

#[test]
fn detected_automatically_and_forced_agree() {
    let auto = one(FULL);
    assert_eq!(auto.gateway, Gateway::Kong);
    let fixed = one_as(FULL, KONG);
    assert_eq!(fixed, auto);
    assert_eq!("kong".parse::<Format>().unwrap(), KONG);
    assert_eq!("Kong".parse::<Format>().unwrap(), KONG);

    // `started_at` plus `latencies` alone is enough to recognise Kong.
    let e = one(r#"{"started_at":1718111045123,"latencies":{"request":3,"proxy":-1,"kong":3}}"#);
    assert_eq!(e.gateway, Gateway::Kong);
    assert_eq!(e.latency_ms, Some(3.0));
    assert_eq!(e.upstream_latency_ms, None);
    assert_eq!(e.method, None);
    assert_eq!(e.path, None);
    assert_eq!(e.status, None);
}

#[test]
fn forcing_another_format_does_not_decode_kong() {
    // A Kong record forced through the APISIX decoder has no `start_time`.
    let r = reject_as(FULL, Format::Fixed(Gateway::Apisix));
    assert_eq!(r.reason, RejectReason::MissingField);
    assert!(r.message.contains("start_time"), "{}", r.message);
}

#[test]
fn forced_format_decodes_a_record_auto_cannot_place() {
    // Without `latencies` and `request` detection has nothing Kong-specific
    // to go on; forcing the format still decodes it.
    let line = r#"{"started_at":1718111045123,"response":{"status":204,"size":310},"client_ip":"198.51.100.4"}"#;
    assert_eq!(reject(line).reason, RejectReason::UnknownFormat);
    let e = one_as(line, KONG);
    assert_eq!(e.gateway, Gateway::Kong);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    assert_eq!(e.status, Some(204));
    assert_eq!(e.response_bytes, Some(310));
    assert_eq!(e.client_ip.as_deref(), Some("198.51.100.4"));
}

#[test]
fn names_fall_back_to_ids() {
    // Routes and services without a name, a consumer with only custom_id.
    let line = r#"{"started_at":1718111045123,
        "request":{"method":"GET","uri":"/a","size":80,"headers":{"host":"a"}},
        "response":{"status":200,"size":10},
        "route":{"id":"7e2c9f1a-0b3d-4c5e-8f6a-1b2c3d4e5f60","name":null,"paths":["/a"]},
        "service":{"id":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d","host":"a.internal","port":80},
        "consumer":{"id":"c0ffee00-0000-4000-8000-000000000001","custom_id":"tenant-42"},
        "latencies":{"request":5,"proxy":4,"kong":1}}"#;
    let e = one(line);
    assert_eq!(
        e.route.as_deref(),
        Some("7e2c9f1a-0b3d-4c5e-8f6a-1b2c3d4e5f60")
    );
    assert_eq!(
        e.api.as_deref(),
        Some("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d")
    );
    assert_eq!(
        e.consumer.as_deref(),
        Some("c0ffee00-0000-4000-8000-000000000001")
    );
    assert_eq!(e.consumer_name.as_deref(), Some("tenant-42"));
    assert_eq!(e.api_key_id, None);

    // An empty name is absent too, so the id is used.
    let line = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/a"},
        "route":{"id":"r-1","name":""},"service":{"id":"s-1","name":"-"},
        "consumer":{"id":"c-1","username":"","custom_id":"cust-9"},"latencies":{"request":5}}"#;
    let e = one(line);
    assert_eq!(e.route.as_deref(), Some("r-1"));
    assert_eq!(e.api.as_deref(), Some("s-1"));
    assert_eq!(e.consumer_name.as_deref(), Some("cust-9"));
}

#[test]
fn sizes_statuses_latencies_and_timestamps_may_be_quoted() {
    let line = r#"{"started_at":"1718111045123",
        "request":{"id":"","method":"PUT","uri":"/v1/pets/7","size":"1048576","headers":{"host":"api"}},
        "response":{"status":"201","size":"0","headers":{}},
        "latencies":{"request":"12.75","proxy":"10.5","kong":"2.25","receive":"0"},
        "client_ip":"192.0.2.10"}"#;
    let e = one(line);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    assert_eq!(e.status, Some(201));
    assert_eq!(e.request_bytes, Some(1_048_576));
    // A zero size is a real zero, not absence.
    assert_eq!(e.response_bytes, Some(0));
    assert_eq!(e.latency_ms, Some(12.75));
    assert_eq!(e.upstream_latency_ms, Some(10.5));
}

#[test]
fn fractional_latencies_and_exponent_timestamps_are_exact() {
    // cjson may print large numbers with an exponent and latencies computed
    // as `request_time * 1000` with a fraction.
    let line = r#"{"started_at":1.718111045123e12,"request":{"method":"GET","uri":"/x"},
        "latencies":{"request":0.333,"proxy":0.125,"kong":0.208}}"#;
    let e = one(line);
    assert_eq!(e.ts, EpochMillis(1_718_111_045_123));
    assert_eq!(e.latency_ms, Some(0.333));
    assert_eq!(e.upstream_latency_ms, Some(0.125));

    // Sub-millisecond start times are truncated, never rounded up.
    let e = one(r#"{"started_at":1718111045123.999,"latencies":{"request":1}}"#);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
    let e = one(r#"{"started_at":"1718111045999.9","latencies":{"request":1}}"#);
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.999Z");
}

#[test]
fn proxy_minus_one_means_no_upstream() {
    for proxy in ["-1", r#""-1""#, "null", r#""""#, r#""-""#] {
        let line = format!(
            r#"{{"started_at":1718111045123,"request":{{"method":"GET","uri":"/x"}},"response":{{"status":401}},"latencies":{{"request":2,"kong":2,"proxy":{proxy}}}}}"#
        );
        let e = one(&line);
        assert_eq!(e.upstream_latency_ms, None, "proxy = {proxy}");
        assert_eq!(e.latency_ms, Some(2.0), "proxy = {proxy}");
    }
    // Absent entirely.
    let e = one(r#"{"started_at":1718111045123,"latencies":{"request":2,"kong":2}}"#);
    assert_eq!(e.upstream_latency_ms, None);
    // A zero proxy latency is a real (fast) upstream, not absence.
    let e = one(r#"{"started_at":1718111045123,"latencies":{"request":2,"kong":2,"proxy":0}}"#);
    assert_eq!(e.upstream_latency_ms, Some(0.0));
}

#[test]
fn every_spelling_of_absent_is_none() {
    for absent in ["null", r#""""#, r#""-""#] {
        let line = format!(
            r#"{{"started_at":1718111045123,
              "request":{{"id":{absent},"method":{absent},"uri":{absent},"url":{absent},"size":{absent},"headers":{{}}}},
              "response":{{"status":{absent},"size":{absent},"headers":{{}}}},
              "route":{{"id":{absent},"name":{absent}}},
              "service":{{"id":{absent},"name":{absent}}},
              "consumer":{{"id":{absent},"username":{absent},"custom_id":{absent}}},
              "authenticated_entity":{{"id":{absent}}},
              "latencies":{{"request":{absent},"proxy":{absent},"kong":{absent}}},
              "client_ip":{absent}}}"#
        );
        let e = one(&line);
        let expected = AccessEvent::new(
            derive_id(Position(None), 0, line.as_bytes()),
            EpochMillis(1_718_111_045_123),
            Gateway::Kong,
        );
        assert_eq!(e, expected, "absent spelled {absent}");
    }

    // Objects that are null or missing altogether.
    let line = r#"{"started_at":1718111045123,"request":null,"response":null,"route":null,
        "service":null,"consumer":null,"authenticated_entity":null,"latencies":{}}"#;
    let e = one(line);
    assert_eq!(
        e,
        AccessEvent::new(
            derive_id(Position(None), 0, line.as_bytes()),
            EpochMillis(1_718_111_045_123),
            Gateway::Kong
        )
    );
}

#[test]
fn uri_falls_back_to_url() {
    let line = r#"{"started_at":1718111045123,"request":{"method":"GET",
        "url":"https://api.example.com:8443/v1/pets/%7Bid%7D?fields=name,tag&empty=","size":90},
        "latencies":{"request":4}}"#;
    let e = one(line);
    assert_eq!(e.path.as_deref(), Some("/v1/pets/%7Bid%7D"));
    assert_eq!(e.query.as_deref(), Some("fields=name,tag&empty="));
}

#[test]
fn query_edge_cases() {
    let cases = [
        ("/v1/pets?", Some("/v1/pets"), Some("")),
        ("/v1/pets", Some("/v1/pets"), None),
        ("/search?q=a?b&r=%3F", Some("/search"), Some("q=a?b&r=%3F")),
        ("/a%2Fb/c%3Fd", Some("/a%2Fb/c%3Fd"), None),
    ];
    for (uri, path, query) in cases {
        let line = format!(
            r#"{{"started_at":1718111045123,"request":{{"method":"GET","uri":"{uri}"}},"latencies":{{"request":1}}}}"#
        );
        let e = one(&line);
        assert_eq!(e.path.as_deref(), path, "uri {uri}");
        assert_eq!(e.query.as_deref(), query, "uri {uri}");
    }
}

#[test]
fn unicode_paths_are_kept_as_emitted() {
    // Raw UTF-8 bytes in the request line, and the same text as JSON escapes.
    let raw = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/v1/城市/café?名前=値"},"latencies":{"request":1}}"#;
    let escaped = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/v1/\u57ce\u5e02/caf\u00e9?\u540d\u524d=\u5024"},"latencies":{"request":1}}"#;
    for line in [raw, escaped] {
        let e = one(line);
        assert_eq!(e.path.as_deref(), Some("/v1/城市/café"));
        assert_eq!(e.query.as_deref(), Some("名前=値"));
    }
    // Different bytes, different derived ids, even though the fields agree.
    assert_ne!(one(raw).event_id, one(escaped).event_id);
}

#[test]
fn ipv6_and_mapped_client_addresses() {
    let cases = [
        (
            "2001:db8:85a3::8a2e:370:7334",
            "2001:db8:85a3::8a2e:370:7334",
        ),
        ("2001:DB8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("::ffff:192.0.2.33", "::ffff:192.0.2.33"),
        ("[2001:db8::5]:51234", "2001:db8::5"),
        ("10.0.0.7", "10.0.0.7"),
    ];
    for (given, want) in cases {
        let line = format!(
            r#"{{"started_at":1718111045123,"request":{{"method":"GET","uri":"/"}},"latencies":{{"request":1}},"client_ip":"{given}"}}"#
        );
        assert_eq!(
            one(&line).client_ip.as_deref(),
            Some(want),
            "client_ip {given}"
        );
    }
}

#[test]
fn request_id_is_the_event_id_whatever_the_position() {
    let a = run(FULL, Format::Auto, Position(Some("kong-logs/0/41")));
    let b = run(FULL, Format::Auto, Position(Some("kong-logs/3/977")));
    let c = run(FULL, Format::Auto, Position(None));
    for out in [&a, &b, &c] {
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].event_id, "2f6946328ffc4946b8c9120704a4a155");
    }
}

#[test]
fn derived_ids_are_deterministic() {
    let ida = |s: &str, p: Position<'_>| {
        let out = run(s, Format::Auto, p);
        assert_eq!(out.events.len(), 1, "{:?}", out.rejects);
        out.events[0].event_id.clone()
    };
    let base = NO_ROUTE_OLD_KONG;
    let id = ida(base, Position(None));
    assert!(is_hex32(&id), "{id}");
    // Same bytes, same id.
    assert_eq!(ida(base, Position(None)), id);
    // One byte different (latency 1 -> 2), different id.
    let changed = base.replace(r#""request":1,"#, r#""request":2,"#);
    assert_ne!(changed, base);
    assert_ne!(ida(&changed, Position(None)), id);
    // Same bytes at different positions, different ids; same position, same id.
    let p1 = ida(base, Position(Some("kong-logs/0/41")));
    let p2 = ida(base, Position(Some("kong-logs/0/42")));
    assert_ne!(p1, p2);
    assert_ne!(p1, id);
    assert_eq!(ida(base, Position(Some("kong-logs/0/41"))), p1);
    assert_eq!(
        p1,
        derive_id(Position(Some("kong-logs/0/41")), 0, base.as_bytes())
    );

    // An empty request.id (Kong emits "" when it has none) is not an id.
    let empty_id = r#"{"started_at":1718111045123,"request":{"id":"","method":"GET","uri":"/"},"latencies":{"request":1}}"#;
    let id = ida(empty_id, Position(None));
    assert_eq!(id, derive_id(Position(None), 0, empty_id.as_bytes()));
}

#[test]
fn batch_decodes_good_elements_and_rejects_the_bad_one_in_place() {
    let good0 = r#"{"request":{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0","method":"GET","uri":"/v1/pets?limit=10","size":148,"headers":{"host":"api"}},"response":{"status":200,"size":1934,"headers":{}},"latencies":{"request":25,"proxy":21,"kong":3},"client_ip":"203.0.113.9","started_at":1718111045123}"#;
    let bad = r#"{"request":{"id":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1","method":"GET","uri":"/v1/pets/1","size":140},"response":{"status":1000,"size":12},"latencies":{"request":5,"proxy":4,"kong":1},"client_ip":"203.0.113.9","started_at":1718111045200}"#;
    let good2 = r#"{"request":{"method":"DELETE","uri":"/v1/pets/2","size":"151"},"response":{"status":"204","size":"240"},"latencies":{"request":9,"proxy":-1,"kong":9},"client_ip":"2001:db8::9","started_at":1718111045350}"#;
    let batch = format!("[\n  {good0},\n  {bad} ,\n  {good2}\n]\n");
    let out = run(&batch, Format::Auto, Position(Some("kong-logs/1/5")));

    assert_eq!(out.events.len(), 2);
    assert_eq!(out.rejects.len(), 1);
    let r = &out.rejects[0];
    assert_eq!(r.index, Some(1));
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert!(r.message.contains("response.status"), "{}", r.message);
    assert_eq!(
        r.raw,
        bad.as_bytes(),
        "the reject keeps the element, not the batch"
    );
    assert!(!r.raw_truncated);

    let (a, b) = (&out.events[0], &out.events[1]);
    assert_eq!(a.event_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0");
    assert_eq!(a.ts.to_string(), "2024-06-11T13:04:05.123Z");
    assert_eq!(a.path.as_deref(), Some("/v1/pets"));
    assert_eq!(a.query.as_deref(), Some("limit=10"));
    assert_eq!(a.upstream_latency_ms, Some(21.0));
    assert_eq!(b.ts.to_string(), "2024-06-11T13:04:05.350Z");
    assert_eq!(b.method.as_deref(), Some("DELETE"));
    assert_eq!(b.status, Some(204));
    assert_eq!(b.request_bytes, Some(151));
    assert_eq!(b.response_bytes, Some(240));
    assert_eq!(b.upstream_latency_ms, None);
    assert_eq!(b.client_ip.as_deref(), Some("2001:db8::9"));
    // Element 2 has no request.id: derived from its own bytes and index.
    assert_eq!(
        b.event_id,
        derive_id(Position(Some("kong-logs/1/5")), 2, good2.as_bytes())
    );
}

#[test]
fn batch_rejects_carry_their_own_reason_and_index() {
    let ok = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/a"},"latencies":{"request":1}}"#;
    let no_ts =
        r#"{"request":{"method":"GET","uri":"/b"},"latencies":{"request":1},"started_at":null}"#;
    let wrong = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/c"},"latencies":{"request":[1]}}"#;
    let negative = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/d"},"latencies":{"request":-4}}"#;
    let not_object = "42";
    let batch = format!("[{ok},{no_ts},{wrong},{negative},{not_object},{ok}]");
    let out = run(&batch, Format::Auto, Position(None));
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.events[0].path.as_deref(), Some("/a"));
    assert_eq!(out.events[1].path.as_deref(), Some("/a"));
    // Identical elements at different indexes are different calls.
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
            (Some(3), RejectReason::InvalidValue, negative.as_bytes()),
            (Some(4), RejectReason::UnknownFormat, not_object.as_bytes()),
        ]
    );
}

#[test]
fn forced_batch_without_started_at_is_missing_field() {
    let ok = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/a"},"latencies":{"request":1}}"#;
    let missing = r#"{"request":{"method":"GET","uri":"/b"},"latencies":{"request":1}}"#;
    let batch = format!("[{ok},{missing},{ok}]");
    // Auto cannot tell what the middle element is ...
    let auto = run(&batch, Format::Auto, Position(None));
    assert_eq!(auto.events.len(), 2);
    assert_eq!(auto.rejects[0].reason, RejectReason::UnknownFormat);
    assert_eq!(auto.rejects[0].index, Some(1));
    // ... forced to Kong it is a Kong record without its timestamp.
    let fixed = run(&batch, KONG, Position(None));
    assert_eq!(fixed.events.len(), 2);
    assert_eq!(fixed.rejects.len(), 1);
    assert_eq!(fixed.rejects[0].reason, RejectReason::MissingField);
    assert_eq!(fixed.rejects[0].index, Some(1));
    assert_eq!(fixed.rejects[0].raw, missing.as_bytes());
    assert!(fixed.rejects[0].message.contains("started_at"));
}

#[test]
fn broken_or_empty_batches_are_rejected_whole() {
    let ok = r#"{"started_at":1718111045123,"latencies":{"request":1}}"#;
    let broken = format!("[{ok},{{\"started_at\":17181110,]");
    let r = reject(&broken);
    assert_eq!(r.reason, RejectReason::NotJson);

    let r = reject("[]");
    assert_eq!(r.reason, RejectReason::Empty);
}

#[test]
fn missing_timestamp_is_missing_field() {
    for ts in ["null", r#""""#, r#""-""#] {
        let line = format!(
            r#"{{"started_at":{ts},"request":{{"method":"GET","uri":"/"}},"response":{{"status":200}},"latencies":{{"request":1}}}}"#
        );
        let r = reject(&line);
        assert_eq!(r.reason, RejectReason::MissingField, "started_at = {ts}");
        assert!(r.message.contains("started_at"), "{}", r.message);
    }
    // Absent altogether (format forced, since detection keys on it).
    let line = r#"{"request":{"method":"GET","uri":"/"},"response":{"status":200},"latencies":{"request":1}}"#;
    let r = reject_as(line, KONG);
    assert_eq!(r.reason, RejectReason::MissingField);
}

/// A minimal Kong record with `field` (`"key":value`) replacing or adding
/// one top-level key.
fn record_with(field: &str) -> String {
    let key = field.split(':').next().unwrap();
    let mut parts = Vec::new();
    if key != r#""started_at""# {
        parts.push(r#""started_at":1718111045123"#);
    }
    if key != r#""latencies""# {
        parts.push(r#""latencies":{"request":1}"#);
    }
    parts.push(field);
    format!("{{{}}}", parts.join(","))
}

#[test]
fn wrong_types_are_rejected() {
    let cases = [
        (r#""started_at":true"#, "started_at"),
        (r#""started_at":{"ms":1718111045123}"#, "started_at"),
        (r#""started_at":"yesterday""#, "started_at"),
        (r#""response":{"status":{"code":200}}"#, "response.status"),
        (r#""response":{"status":"OK"}"#, "response.status"),
        (r#""response":{"size":[512]}"#, "response.size"),
        (r#""request":{"size":true}"#, "request.size"),
        (r#""request":{"uri":{"path":"/"}}"#, "request.uri"),
        (r#""request":{"method":["GET"]}"#, "request.method"),
        (r#""request":{"id":{"v":"x"}}"#, "request.id"),
        (r#""latencies":{"request":[1]}"#, "latencies.request"),
        (
            r#""latencies":{"request":1,"proxy":false}"#,
            "latencies.proxy",
        ),
        (r#""consumer":{"id":true}"#, "consumer.id"),
        (
            r#""consumer":{"id":"c","username":{}}"#,
            "consumer.username",
        ),
        (
            r#""authenticated_entity":{"id":[1]}"#,
            "authenticated_entity.id",
        ),
        (r#""service":{"name":false}"#, "service.name"),
        (r#""route":{"name":["r"]}"#, "route.name"),
        (r#""client_ip":["203.0.113.9"]"#, "client_ip"),
        // A nested object that is not an object at all.
        (r#""request":"GET /v1/pets HTTP/1.1""#, "request"),
        (r#""response":200"#, "response"),
        (r#""latencies":[25,21,3]"#, "latencies"),
        (r#""consumer":"acme-corp""#, "consumer"),
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
        assert!(r.message.starts_with("kong: "), "{}", r.message);
    }
}

#[test]
fn impossible_values_are_invalid() {
    let cases = [
        (r#""started_at":-1"#, "started_at"),
        (r#""started_at":-1718111045123"#, "started_at"),
        (r#""started_at":253402300800000"#, "started_at"),
        (r#""response":{"status":1000}"#, "response.status"),
        (r#""response":{"status":-200}"#, "response.status"),
        (r#""response":{"status":200.5}"#, "response.status"),
        (r#""response":{"size":-5}"#, "response.size"),
        (r#""request":{"size":"12.5"}"#, "request.size"),
        (r#""latencies":{"request":-3}"#, "latencies.request"),
        (r#""latencies":{"request":"-0.5"}"#, "latencies.request"),
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
    // The edges themselves are fine.
    let e = one(r#"{"started_at":0,"response":{"status":999},"latencies":{"request":0}}"#);
    assert_eq!(e.ts.to_string(), "1970-01-01T00:00:00.000Z");
    assert_eq!(e.status, Some(999));
    assert_eq!(e.latency_ms, Some(0.0));
    let e = one(r#"{"started_at":253402300799999,"latencies":{"request":1}}"#);
    assert_eq!(e.ts.to_string(), "9999-12-31T23:59:59.999Z");
}

#[test]
fn sub_millisecond_instants_before_1970_are_invalid() {
    for ts in ["-0.5", r#""-0.999""#] {
        let r = reject(&record_with(&format!(r#""started_at":{ts}"#)));
        assert_eq!(r.reason, RejectReason::InvalidValue, "started_at {ts}");
    }
}

#[test]
fn whole_message_reject_keeps_the_exact_bytes() {
    // Trailing newline and all: the quarantine must be able to replay it.
    let line = "{\"started_at\":-5,\"request\":{\"method\":\"GET\",\"uri\":\"/\"},\"latencies\":{\"request\":1}}\n";
    let r = reject(line);
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert_eq!(r.raw, line.as_bytes());
    assert_eq!(r.reason.code(), "invalid_value");
}

#[test]
fn canonical_json_of_a_kong_event() {
    let e = one(NO_ROUTE_OLD_KONG);
    let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(v["gateway"], "kong");
    assert_eq!(v["ts"], "2024-06-11T13:04:05.123Z");
    assert_eq!(v["upstream_latency_ms"], serde_json::Value::Null);
    assert_eq!(v["consumer"], serde_json::Value::Null);
    assert_eq!(v["request_bytes"], 233);
    assert_eq!(v["query"], "dry_run");
}

/// A Kong 3.x route with several paths, as the Admin API returns it in the
/// log's `route` object: plain prefixes and a regex path with a named group.
fn with_route_paths(uri: &str, paths: &str) -> String {
    format!(
        r#"{{"started_at":1718111045123,
        "request":{{"method":"GET","uri":"{uri}","size":80,"headers":{{"host":"a"}}}},
        "response":{{"status":200,"size":10}},
        "route":{{"id":"r-9","name":"reports","paths":{paths},"regex_priority":0,"strip_path":false}},
        "latencies":{{"request":5,"proxy":4,"kong":1}}}}"#
    )
}

const REPORT_PATHS: &str =
    r#"["/v1/reports","~/v1/reports/(?<kind>[a-z]+)$","/v1/reports/archive"]"#;

#[test]
fn path_template_is_the_route_path_the_request_matched() {
    let template = |uri: &str| one(&with_route_paths(uri, REPORT_PATHS)).path_template;
    // The regex path, kept as written, wins over the shorter prefix.
    assert_eq!(
        template("/v1/reports/daily?from=2024-06-01").as_deref(),
        Some("~/v1/reports/(?<kind>[a-z]+)$")
    );
    // `$` ends the regex: a deeper path is the longest plain prefix.
    assert_eq!(
        template("/v1/reports/archive/2023").as_deref(),
        Some("/v1/reports/archive")
    );
    assert_eq!(template("/v1/reports/42").as_deref(), Some("/v1/reports"));
    assert_eq!(template("/v1/reports").as_deref(), Some("/v1/reports"));
    // The logged path matches none of the route's paths (rewritten by a
    // plugin): no guess.
    assert_eq!(template("/internal/reports"), None);
}

#[test]
fn path_template_without_paths_or_with_a_wrong_type() {
    // A route matched by host only has no paths.
    for paths in ["null", "[]"] {
        let e = one(&with_route_paths("/v1/reports", paths));
        assert_eq!(e.path_template, None, "paths {paths}");
        assert_eq!(e.route.as_deref(), Some("reports"));
    }
    let r = reject(&with_route_paths("/v1/reports", r#""/v1/reports""#));
    assert_eq!(r.reason, RejectReason::WrongType);
    assert!(r.message.contains("route.paths"), "{}", r.message);
    let r = reject(&with_route_paths("/v1/reports", r#"["/v1", 7]"#));
    assert_eq!(r.reason, RejectReason::WrongType);
}
