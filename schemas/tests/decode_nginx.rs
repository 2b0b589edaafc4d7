//! NGINX JSON `log_format` templates and NGINX/Apache combined/common log
//! format text lines, decoded through the public `decode` entry point.

use serde_json::{Value, json};
use tollgate_schemas::{
    AccessEvent, DecodeOptions, Decoded, EpochMillis, Format, Gateway, Position, Reject,
    RejectReason, decode,
};

// ---------------------------------------------------------------- helpers

fn run(line: &str, format: Format, position: Option<&str>) -> Decoded {
    decode(
        line.as_bytes(),
        format,
        &DecodeOptions::default(),
        Position(position),
    )
}

/// Decodes with format detection and expects exactly one event.
fn one(line: &str) -> AccessEvent {
    one_as(line, Format::Auto)
}

fn one_as(line: &str, format: Format) -> AccessEvent {
    let d = run(line, format, None);
    assert!(
        d.rejects.is_empty(),
        "unexpected rejects for {line}: {:#?}",
        d.rejects
    );
    assert_eq!(d.events.len(), 1, "expected one event for {line}");
    d.events.into_iter().next().unwrap()
}

/// Decodes with format detection and expects exactly one whole-message reject.
fn reject(line: &str) -> Reject {
    reject_as(line, Format::Auto)
}

fn reject_as(line: &str, format: Format) -> Reject {
    let d = run(line, format, None);
    assert!(
        d.events.is_empty(),
        "unexpected events for {line}: {:#?}",
        d.events
    );
    assert_eq!(d.rejects.len(), 1, "expected one reject for {line}");
    let r = d.rejects.into_iter().next().unwrap();
    assert_eq!(r.raw, line.as_bytes(), "a reject keeps the raw bytes");
    assert!(!r.raw_truncated);
    assert_eq!(r.index, None);
    r
}

/// An NGINX record (auto-detected through `msec`) with extra keys.
fn nginx(extra: Value) -> AccessEvent {
    one(&nginx_line(extra))
}

fn nginx_line(extra: Value) -> String {
    let mut o = json!({"msec": "1718111045.123"});
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o.to_string()
}

fn nginx_reject(extra: Value) -> Reject {
    reject(&nginx_line(extra))
}

fn millis(rfc3339: &str) -> EpochMillis {
    EpochMillis::from_datetime(&chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap())
}

fn is_derived_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

const TS_MS: i64 = 1_718_111_045_123;

// ------------------------------------------------------- NGINX JSON: full

/// A realistic `escape=json` template: every value is a string, as NGINX
/// writes them.
const FULL: &str = r#"{"msec":"1718111045.123","time_iso8601":"2024-06-11T13:04:05+00:00","time_local":"11/Jun/2024:13:04:05 +0000","request_id":"7f3c2a1b9d8e4f60a1b2c3d4e5f60718","remote_addr":"203.0.113.7","remote_user":"alice","server_name":"api.example.com","request_method":"GET","request_uri":"/v1/pets?limit=2&name=a%20b","request":"GET /v1/pets?limit=2&name=a%20b HTTP/1.1","uri":"/v1/pets","args":"limit=2&name=a%20b","status":"200","request_time":"0.123","upstream_response_time":"0.100","request_length":"512","bytes_sent":"1024","body_bytes_sent":"800","http_referer":"","http_user_agent":"curl/8.5.0","upstream_addr":"10.0.0.5:8080"}"#;

#[test]
fn full_template_maps_every_field() {
    let e = one(FULL);
    let mut want = AccessEvent::new(
        "7f3c2a1b9d8e4f60a1b2c3d4e5f60718",
        EpochMillis(TS_MS),
        Gateway::Nginx,
    );
    want.consumer = Some("alice".into());
    want.api = Some("api.example.com".into());
    want.method = Some("GET".into());
    want.path = Some("/v1/pets".into());
    want.query = Some("limit=2&name=a%20b".into());
    want.status = Some(200);
    want.latency_ms = Some(123.0);
    want.upstream_latency_ms = Some(100.0);
    want.request_bytes = Some(512);
    want.response_bytes = Some(1024);
    want.client_ip = Some("203.0.113.7".into());
    assert_eq!(e, want);
    assert_eq!(
        e.to_json(),
        r#"{"event_id":"7f3c2a1b9d8e4f60a1b2c3d4e5f60718","ts":"2024-06-11T13:04:05.123Z","gateway":"nginx","consumer":"alice","consumer_name":null,"api_key_id":null,"api":"api.example.com","route":null,"path_template":null,"method":"GET","path":"/v1/pets","query":"limit=2&name=a%20b","status":200,"latency_ms":123.0,"upstream_latency_ms":100.0,"request_bytes":512,"response_bytes":1024,"client_ip":"203.0.113.7"}"#
    );
}

#[test]
fn format_is_detected_from_any_nginx_time_or_address_key() {
    for line in [
        r#"{"msec":"1718111045.123"}"#,
        r#"{"time_local":"11/Jun/2024:13:04:05 +0000"}"#,
        r#"{"time_iso8601":"2024-06-11T13:04:05+00:00"}"#,
    ] {
        assert_eq!(one(line).gateway, Gateway::Nginx, "{line}");
    }
    // remote_addr / request_time alone are enough to detect NGINX, which
    // then reports the missing time.
    for line in [
        r#"{"remote_addr":"10.0.0.1","status":"200"}"#,
        r#"{"request_time":"0.010"}"#,
    ] {
        let r = reject(line);
        assert_eq!(r.reason, RejectReason::MissingField, "{line}");
        assert!(r.message.starts_with("nginx: "), "{}", r.message);
        assert!(r.message.contains("`msec`"), "{}", r.message);
    }
}

#[test]
fn fixed_format_decodes_a_minimal_record() {
    let e = one_as(
        r#"{"time_local":"11/Jun/2024:13:04:05 +0000","status":404}"#,
        Format::Fixed(Gateway::Nginx),
    );
    assert_eq!(e.gateway, Gateway::Nginx);
    assert_eq!(e.ts, millis("2024-06-11T13:04:05Z"));
    assert_eq!(e.status, Some(404));
    assert_eq!(e.latency_ms, None);
    assert_eq!(e.response_bytes, None, "absent is null, never 0");
}

// ------------------------------------------------------------ timestamps

#[test]
fn msec_string_is_exact_to_the_millisecond() {
    let e = nginx(json!({}));
    assert_eq!(e.ts, EpochMillis(TS_MS));
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
}

#[test]
fn msec_bare_number_is_exact_to_the_millisecond() {
    let e = one(r#"{"msec":1718111045.123}"#);
    assert_eq!(e.ts, EpochMillis(TS_MS));
    assert_eq!(e.ts.to_string(), "2024-06-11T13:04:05.123Z");
}

/// Every millisecond of a second, as a string and as a bare JSON number:
/// a decoder that multiplied the float by 1000 and truncated would lose a
/// millisecond on many of these (e.g. `.001`, `.009`, `.123` → `.122`).
#[test]
fn msec_every_fraction_is_exact_as_string_and_as_number() {
    let base: i64 = 1_718_111_045_000;
    for k in 0..1000_i64 {
        let text = format!("1718111045.{k:03}");
        let as_string = one(&format!(r#"{{"msec":"{text}"}}"#));
        assert_eq!(as_string.ts, EpochMillis(base + k), "msec \"{text}\"");
        let as_number = one(&format!(r#"{{"msec":{text}}}"#));
        assert_eq!(as_number.ts, EpochMillis(base + k), "msec {text}");
    }
}

#[test]
fn msec_without_fraction_and_sub_millisecond_digits() {
    assert_eq!(
        one(r#"{"msec":"1718111045"}"#).ts,
        EpochMillis(1_718_111_045_000)
    );
    assert_eq!(
        one(r#"{"msec":1718111045}"#).ts,
        EpochMillis(1_718_111_045_000)
    );
    // Sub-millisecond digits are truncated, never rounded.
    assert_eq!(one(r#"{"msec":"1718111045.1239"}"#).ts, EpochMillis(TS_MS));
    assert_eq!(
        one(r#"{"msec":"1718111045.9999"}"#).ts,
        EpochMillis(1_718_111_045_999)
    );
    // Surrounding blanks inside the string are tolerated.
    assert_eq!(one(r#"{"msec":" 1718111045.123 "}"#).ts, EpochMillis(TS_MS));
}

#[test]
fn time_iso8601_is_the_first_fallback() {
    // No msec at all.
    let e = one(r#"{"time_iso8601":"2024-06-11T15:04:05+02:00"}"#);
    assert_eq!(e.ts, millis("2024-06-11T13:04:05Z"));
    // msec present but absent-valued.
    for msec in [json!("-"), json!(""), json!(null)] {
        let e = one(
            &json!({"msec": msec, "time_iso8601": "2024-06-11T13:04:05+00:00",
                     "time_local": "11/Jun/2024:00:00:00 +0000"})
            .to_string(),
        );
        assert_eq!(e.ts, millis("2024-06-11T13:04:05Z"), "msec {msec}");
    }
}

#[test]
fn time_local_is_the_last_fallback() {
    let e = one(r#"{"time_local":"11/Jun/2024:06:04:05 -0700"}"#);
    assert_eq!(e.ts, millis("2024-06-11T13:04:05Z"));
    let e = one(r#"{"time_iso8601":"-","time_local":"11/Jun/2024:13:04:05 +0000"}"#);
    assert_eq!(e.ts, millis("2024-06-11T13:04:05Z"));
}

#[test]
fn msec_wins_over_the_second_precision_times() {
    let e = one(
        r#"{"msec":"1718111045.123","time_iso8601":"2024-06-11T13:04:04+00:00","time_local":"11/Jun/2024:13:04:03 +0000"}"#,
    );
    assert_eq!(e.ts, EpochMillis(TS_MS));
    let e = one(
        r#"{"time_iso8601":"2024-06-11T13:04:04+00:00","time_local":"11/Jun/2024:13:04:03 +0000"}"#,
    );
    assert_eq!(e.ts, millis("2024-06-11T13:04:04Z"));
    // A fallback is only read when needed: a broken one does not matter.
    let e = one(r#"{"msec":"1718111045.123","time_local":"garbage"}"#);
    assert_eq!(e.ts, EpochMillis(TS_MS));
}

#[test]
fn missing_time_is_missing_field() {
    let r = reject(r#"{"remote_addr":"10.0.0.1","msec":"-","time_iso8601":"","time_local":null}"#);
    assert_eq!(r.reason, RejectReason::MissingField);
    assert!(r.message.contains("`msec`"), "{}", r.message);
}

#[test]
fn bad_times_are_invalid_values_naming_the_field() {
    // A string that is not a number at all is a wrong type.
    for line in [r#"{"msec":"abc"}"#, r#"{"msec":"1718111045,123"}"#] {
        let r = reject(line);
        assert_eq!(r.reason, RejectReason::WrongType, "{line}: {}", r.message);
        assert!(r.message.contains("`msec`"), "{line}: {}", r.message);
    }
    for (line, field) in [
        (r#"{"msec":"-1718111045.123"}"#, "msec"),
        (r#"{"msec":"1e400"}"#, "msec"),
        (r#"{"msec":"253402300800"}"#, "msec"), // year 10000
        (r#"{"time_iso8601":"2024-06-11 13:04"}"#, "time_iso8601"),
        (r#"{"time_iso8601":"1969-12-31T23:59:59Z"}"#, "time_iso8601"),
        (r#"{"time_local":"11/Jun/2024:13:04:05"}"#, "time_local"),
        (
            r#"{"time_local":"32/Jun/2024:13:04:05 +0000"}"#,
            "time_local",
        ),
    ] {
        let r = reject(line);
        assert_eq!(
            r.reason,
            RejectReason::InvalidValue,
            "{line}: {}",
            r.message
        );
        assert!(
            r.message.contains(&format!("`{field}`")),
            "{line}: {}",
            r.message
        );
    }
    let r = reject(r#"{"msec":{"s":1}}"#);
    assert_eq!(r.reason, RejectReason::WrongType);
}

#[test]
fn the_largest_and_smallest_accepted_msec() {
    assert_eq!(one(r#"{"msec":"0.000"}"#).ts, EpochMillis::MIN);
    assert_eq!(one(r#"{"msec":"253402300799.999"}"#).ts, EpochMillis::MAX);
}

// ------------------------------------------------------------- latencies

#[test]
fn request_time_seconds_become_exact_milliseconds() {
    for (text, ms) in [
        ("0.123", 123.0),
        ("0.000", 0.0),
        ("0.001", 1.0),
        ("0.007", 7.0),
        ("1.5", 1500.0),
        ("12.345", 12345.0),
        ("0.0005", 0.5),
        ("60", 60000.0),
    ] {
        let e = nginx(json!({"request_time": text}));
        assert_eq!(e.latency_ms, Some(ms), "request_time {text:?}");
    }
    // As a bare number too.
    let e = one(r#"{"msec":"1718111045.123","request_time":0.123}"#);
    assert_eq!(e.latency_ms, Some(123.0));
}

#[test]
fn request_time_every_millisecond_is_exact() {
    // 0.001 * 1000 as f64 arithmetic would not always be exact; the text
    // conversion must be.
    for k in 0..1000_u32 {
        let text = format!("0.{k:03}");
        let e = nginx(json!({"request_time": text}));
        assert_eq!(e.latency_ms, Some(f64::from(k)), "request_time {text}");
        let text = format!("3.{k:03}");
        let e = nginx(json!({"request_time": text}));
        assert_eq!(
            e.latency_ms,
            Some(3000.0 + f64::from(k)),
            "request_time {text}"
        );
    }
}

#[test]
fn request_time_absent_and_invalid() {
    for v in [json!("-"), json!(""), json!(null)] {
        assert_eq!(nginx(json!({"request_time": v})).latency_ms, None, "{v}");
    }
    assert_eq!(nginx(json!({})).latency_ms, None);
    let r = nginx_reject(json!({"request_time": "-0.010"}));
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert!(r.message.contains("`request_time`"), "{}", r.message);
    let r = nginx_reject(json!({"request_time": "fast"}));
    assert_eq!(r.reason, RejectReason::WrongType);
    assert!(r.message.contains("fast"), "{}", r.message);
    let r = nginx_reject(json!({"request_time": [0.1]}));
    assert_eq!(r.reason, RejectReason::WrongType);
}

#[test]
fn upstream_response_time_lists_are_summed() {
    for (text, ms) in [
        ("0.100", Some(100.0)),
        ("0.100, 0.020", Some(120.0)),
        ("0.100 : 0.020", Some(120.0)),
        ("0.100, 0.020 : 0.003", Some(123.0)),
        ("0.100,0.020", Some(120.0)),
        ("-, 0.020", Some(20.0)),
        ("0.100, -", Some(100.0)),
        ("- : 0.004", Some(4.0)),
        ("-", None),
        ("-, -", None),
        ("- : -", None),
        ("-, - : -", None),
        ("", None),
        ("0.000", Some(0.0)),
    ] {
        let e = nginx(json!({"upstream_response_time": text}));
        assert_eq!(e.upstream_latency_ms, ms, "upstream_response_time {text:?}");
    }
    assert_eq!(nginx(json!({})).upstream_latency_ms, None);
    assert_eq!(
        nginx(json!({"upstream_response_time": null})).upstream_latency_ms,
        None
    );
    let e = one(r#"{"msec":"1718111045.123","upstream_response_time":0.05}"#);
    assert_eq!(e.upstream_latency_ms, Some(50.0));
}

#[test]
fn upstream_response_time_bad_entries_reject() {
    let r = nginx_reject(json!({"upstream_response_time": "0.100, abc"}));
    assert_eq!(r.reason, RejectReason::WrongType);
    assert!(
        r.message.contains("`upstream_response_time`"),
        "{}",
        r.message
    );
    let r = nginx_reject(json!({"upstream_response_time": "0.100, -0.5"}));
    assert_eq!(r.reason, RejectReason::InvalidValue);
    let r = nginx_reject(json!({"upstream_response_time": ["0.1"]}));
    assert_eq!(r.reason, RejectReason::WrongType);
}

// --------------------------------------------------------- identity, ids

#[test]
fn remote_user_dash_and_empty_are_none() {
    for v in [json!("-"), json!(""), json!(null), json!(" ")] {
        assert_eq!(nginx(json!({"remote_user": v})).consumer, None, "{v}");
    }
    assert_eq!(nginx(json!({})).consumer, None);
    assert_eq!(
        nginx(json!({"remote_user": "bob"})).consumer.as_deref(),
        Some("bob")
    );
}

#[test]
fn request_id_is_the_event_id() {
    let e = nginx(json!({"request_id": "0123456789abcdef0123456789abcdef"}));
    assert_eq!(e.event_id, "0123456789abcdef0123456789abcdef");
}

#[test]
fn without_request_id_the_id_is_derived_deterministically() {
    for id in [None, Some(json!("-")), Some(json!(""))] {
        let extra = match &id {
            Some(v) => json!({"request_id": v, "status": "200"}),
            None => json!({"status": "200"}),
        };
        let line = nginx_line(extra);
        let a = run(&line, Format::Auto, None).events.remove(0);
        let b = run(&line, Format::Auto, None).events.remove(0);
        assert!(is_derived_id(&a.event_id), "{id:?}: {}", a.event_id);
        assert_eq!(a.event_id, b.event_id, "replaying gives the same id");
        let at = run(&line, Format::Auto, Some("topic/0/42"))
            .events
            .remove(0);
        assert_ne!(a.event_id, at.event_id, "the position feeds the id");
        let at2 = run(&line, Format::Auto, Some("topic/0/43"))
            .events
            .remove(0);
        assert_ne!(at.event_id, at2.event_id);
    }
    let a = nginx(json!({"status": "200"}));
    let b = nginx(json!({"status": "201"}));
    assert_ne!(a.event_id, b.event_id, "different bytes, different ids");
}

#[test]
fn batched_nginx_records_get_distinct_ids() {
    let rec = nginx_line(json!({"status": "200"}));
    let d = run(&format!("[{rec},{rec}]"), Format::Auto, None);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(d.events.len(), 2);
    assert_ne!(d.events[0].event_id, d.events[1].event_id);
    assert_eq!(d.events[0].ts, d.events[1].ts);
}

#[test]
fn server_name_is_the_api() {
    assert_eq!(
        nginx(json!({"server_name": "pets.example.com"}))
            .api
            .as_deref(),
        Some("pets.example.com")
    );
    assert_eq!(nginx(json!({"server_name": "-"})).api, None);
}

// -------------------------------------------------- method, path, query

#[test]
fn request_uri_is_split_at_the_first_question_mark() {
    let e = nginx(json!({"request_uri": "/v1/pets?limit=2&x=%20"}));
    assert_eq!(e.path.as_deref(), Some("/v1/pets"));
    assert_eq!(e.query.as_deref(), Some("limit=2&x=%20"));
    let e = nginx(json!({"request_uri": "/a?b=1?c"}));
    assert_eq!(e.path.as_deref(), Some("/a"));
    assert_eq!(e.query.as_deref(), Some("b=1?c"));
    let e = nginx(json!({"request_uri": "/a?"}));
    assert_eq!(e.path.as_deref(), Some("/a"));
    assert_eq!(e.query.as_deref(), Some(""), "a bare ? is an empty query");
    let e = nginx(json!({"request_uri": "/a"}));
    assert_eq!(e.query, None);
    let e = nginx(json!({"request_uri": "-"}));
    assert_eq!((e.path, e.query), (None, None));
}

/// Absent is never `"-"`: not even when the target's pieces are spelled so.
#[test]
fn dash_path_or_query_pieces_are_absent() {
    let e = nginx(json!({"request_uri": "/a?-"}));
    assert_eq!(e.path.as_deref(), Some("/a"));
    assert_eq!(e.query, None);
    let e = nginx(json!({"request_uri": "-?x=1"}));
    assert_eq!(e.path, None);
    assert_eq!(e.query.as_deref(), Some("x=1"));
    let e = nginx(json!({"request_uri": " ?x=1"}));
    assert_eq!(e.path, None);
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a?- HTTP/1.1" 200 5"#);
    assert_eq!(e.path.as_deref(), Some("/a"));
    assert_eq!(e.query, None);
}

#[test]
fn request_uri_wins_over_the_request_line_and_uri_args() {
    let e = nginx(json!({
        "request": "POST /from-line?l=1 HTTP/1.1",
        "request_uri": "/from-uri?u=1",
        "uri": "/rewritten",
        "args": "r=1",
    }));
    assert_eq!(e.method.as_deref(), Some("POST"), "method from the line");
    assert_eq!(e.path.as_deref(), Some("/from-uri"));
    assert_eq!(e.query.as_deref(), Some("u=1"));
}

#[test]
fn request_method_wins_over_the_request_line() {
    let e = nginx(json!({
        "request_method": "PATCH",
        "request": "GET /x HTTP/1.1",
    }));
    assert_eq!(e.method.as_deref(), Some("PATCH"));
    assert_eq!(e.path.as_deref(), Some("/x"));
}

#[test]
fn the_request_line_alone_gives_method_path_and_query() {
    let e = nginx(json!({"request": "POST /v1/orders?dry=1 HTTP/2.0"}));
    assert_eq!(e.method.as_deref(), Some("POST"));
    assert_eq!(e.path.as_deref(), Some("/v1/orders"));
    assert_eq!(e.query.as_deref(), Some("dry=1"));
    // An absolute-form target is reduced to its path.
    let e = nginx(json!({"request": "GET http://example.com:8080/p?q=1 HTTP/1.1"}));
    assert_eq!(e.method.as_deref(), Some("GET"));
    assert_eq!(e.path.as_deref(), Some("/p"));
    assert_eq!(e.query.as_deref(), Some("q=1"));
    // OPTIONS *.
    let e = nginx(json!({"request": "OPTIONS * HTTP/1.1"}));
    assert_eq!(e.method.as_deref(), Some("OPTIONS"));
    assert_eq!(e.path.as_deref(), Some("*"));
}

#[test]
fn a_request_line_that_is_not_a_request_gives_no_method_or_path() {
    for line in [
        "-",
        "\u{16}\u{3}\u{1}\u{2}\u{0}\u{1}",
        "get /lower HTTP/1.1",
        "GET",
        "GET relative HTTP/1.1",
        "",
    ] {
        let e = nginx(json!({"request": line, "status": "400"}));
        assert_eq!(e.method, None, "{line:?}");
        assert_eq!(e.path, None, "{line:?}");
        assert_eq!(e.query, None, "{line:?}");
        assert_eq!(e.status, Some(400));
    }
}

#[test]
fn uri_and_args_are_the_last_fallback() {
    let e = nginx(json!({"uri": "/v1/pets", "args": "limit=2"}));
    assert_eq!(e.path.as_deref(), Some("/v1/pets"));
    assert_eq!(e.query.as_deref(), Some("limit=2"));
    let e = nginx(json!({"uri": "/v1/pets", "query_string": "a=1"}));
    assert_eq!(e.query.as_deref(), Some("a=1"), "$query_string is $args");
    let e = nginx(json!({"uri": "/v1/pets"}));
    assert_eq!((e.path.as_deref(), e.query), (Some("/v1/pets"), None));
    let e = nginx(json!({"uri": "-", "args": "a=1"}));
    assert_eq!(e.path, None);
}

/// `$args` is empty (escape=json) or `-` (default escaping, or a template
/// that writes `-` itself) when there is no query: absent, never `"-"`.
#[test]
fn empty_or_dash_args_are_no_query() {
    for args in [json!(""), json!("-"), json!(null), json!(" ")] {
        let e = nginx(json!({"uri": "/v1/pets", "args": args}));
        assert_eq!(e.query, None, "args {args}");
        assert_eq!(e.path.as_deref(), Some("/v1/pets"));
    }
}

#[test]
fn unicode_and_percent_encoded_paths_are_kept_as_emitted() {
    let e = nginx(json!({"request_uri": "/caf%C3%A9/%E2%82%AC?q=%F0%9F%98%80&a=%2F"}));
    assert_eq!(e.path.as_deref(), Some("/caf%C3%A9/%E2%82%AC"));
    assert_eq!(e.query.as_deref(), Some("q=%F0%9F%98%80&a=%2F"));
    // escape=json passes UTF-8 through; some encoders write \u escapes.
    let e = one(r#"{"msec":"1718111045.123","request_uri":"/café/\u00fc/😀?name=zoë"}"#);
    assert_eq!(e.path.as_deref(), Some("/café/ü/😀"));
    assert_eq!(e.query.as_deref(), Some("name=zoë"));
    // escape=json escapes quotes and backslashes.
    let e = one(r#"{"msec":"1718111045.123","request":"GET /a\"b\\c?x=\"1\" HTTP/1.1"}"#);
    assert_eq!(e.path.as_deref(), Some(r#"/a"b\c"#));
    assert_eq!(e.query.as_deref(), Some(r#"x="1""#));
}

// ------------------------------------------------------ status and sizes

#[test]
fn status_spellings() {
    assert_eq!(nginx(json!({"status": "200"})).status, Some(200));
    assert_eq!(nginx(json!({"status": 503})).status, Some(503));
    assert_eq!(nginx(json!({"status": "499"})).status, Some(499));
    assert_eq!(
        nginx(json!({"status": "000"})).status,
        Some(0),
        "NGINX logs 000 when no response was sent"
    );
    assert_eq!(nginx(json!({"status": "-"})).status, None);
    for bad in [json!("1000"), json!("-1"), json!(1000), json!("200.5")] {
        let r = nginx_reject(json!({"status": bad}));
        assert_eq!(r.reason, RejectReason::InvalidValue, "status {bad}");
        assert!(r.message.contains("`status`"), "{}", r.message);
    }
    for bad in [json!(true), json!("2OO"), json!("two hundred")] {
        let r = nginx_reject(json!({"status": bad}));
        assert_eq!(r.reason, RejectReason::WrongType, "status {bad}");
        assert!(r.message.contains("`status`"), "{}", r.message);
    }
}

#[test]
fn bytes_sent_wins_over_body_bytes_sent() {
    let e = nginx(json!({"bytes_sent": "1024", "body_bytes_sent": "800"}));
    assert_eq!(e.response_bytes, Some(1024));
    let e = nginx(json!({"body_bytes_sent": "800"}));
    assert_eq!(e.response_bytes, Some(800));
    for absent in [json!("-"), json!(""), json!(null)] {
        let e = nginx(json!({"bytes_sent": absent, "body_bytes_sent": "800"}));
        assert_eq!(e.response_bytes, Some(800), "bytes_sent {absent}");
    }
    // A real zero is not "absent": no fallback.
    let e = nginx(json!({"bytes_sent": "0", "body_bytes_sent": "800"}));
    assert_eq!(e.response_bytes, Some(0));
    let e = nginx(json!({"bytes_sent": 2048}));
    assert_eq!(e.response_bytes, Some(2048));
    assert_eq!(nginx(json!({})).response_bytes, None);
}

#[test]
fn request_length_is_the_request_size() {
    assert_eq!(
        nginx(json!({"request_length": "512"})).request_bytes,
        Some(512)
    );
    assert_eq!(nginx(json!({"request_length": 77})).request_bytes, Some(77));
    // Beyond i64: rejected, never wrapped or saturated.
    let r = nginx_reject(json!({"request_length": "18446744073709551616"}));
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert_eq!(nginx(json!({"request_length": "-"})).request_bytes, None);
    assert_eq!(nginx(json!({})).request_bytes, None);
}

#[test]
fn bad_sizes_reject() {
    for (field, bad, reason) in [
        ("bytes_sent", "abc", RejectReason::WrongType),
        ("bytes_sent", "-5", RejectReason::InvalidValue),
        ("bytes_sent", "12.5", RejectReason::InvalidValue),
        ("body_bytes_sent", "x", RejectReason::WrongType),
        ("request_length", "-1", RejectReason::InvalidValue),
    ] {
        let r = nginx_reject(json!({ field: bad }));
        assert_eq!(r.reason, reason, "{field} {bad}");
        assert!(r.message.contains(&format!("`{field}`")), "{}", r.message);
    }
}

// ---------------------------------------------------------------- address

#[test]
fn remote_addr_ipv4_ipv6_and_other() {
    for (addr, want) in [
        ("203.0.113.7", Some("203.0.113.7")),
        ("2001:DB8::1", Some("2001:db8::1")),
        ("2001:db8:0:0:0:0:0:1", Some("2001:db8::1")),
        ("::1", Some("::1")),
        ("[2001:db8::1]", Some("2001:db8::1")),
        ("[2001:db8::1]:443", Some("2001:db8::1")),
        ("10.0.0.1:5555", Some("10.0.0.1")),
        ("unix:", Some("unix:")),
        ("-", None),
        ("", None),
    ] {
        let e = nginx(json!({"remote_addr": addr}));
        assert_eq!(e.client_ip.as_deref(), want, "remote_addr {addr:?}");
    }
}

// =============================================================== CLF lines

const APACHE_COMBINED: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
const APACHE_COMMON: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;

/// 2000-10-10T20:55:36Z.
const APACHE_TS: EpochMillis = EpochMillis(971_211_336_000);

fn apache_event(id: &str) -> AccessEvent {
    let mut e = AccessEvent::new(id, APACHE_TS, Gateway::Clf);
    e.consumer = Some("frank".into());
    e.method = Some("GET".into());
    e.path = Some("/apache_pb.gif".into());
    e.status = Some(200);
    e.response_bytes = Some(2326);
    e.client_ip = Some("127.0.0.1".into());
    e
}

#[test]
fn clf_apache_docs_combined_line() {
    let e = one(APACHE_COMBINED);
    assert!(is_derived_id(&e.event_id), "{}", e.event_id);
    assert_eq!(e, apache_event(&e.event_id));
    assert_eq!(e.ts.to_string(), "2000-10-10T20:55:36.000Z");
    // The same with the format fixed.
    assert_eq!(one_as(APACHE_COMBINED, Format::Fixed(Gateway::Clf)), e);
}

#[test]
fn every_event_is_located_in_its_message() {
    for format in [Format::Auto, Format::Fixed(Gateway::Clf)] {
        let d = run(APACHE_COMBINED, format, None);
        assert_eq!(d.event_index, vec![0], "{format}");
    }
    let d = run(FULL, Format::Auto, None);
    assert_eq!(d.event_index, vec![0]);
    let d = run(&format!("[{FULL},{{}},{FULL}]"), Format::Auto, None);
    assert_eq!(d.events.len(), 2);
    assert_eq!(d.event_index, vec![0, 2]);
}

#[test]
fn clf_apache_docs_common_line() {
    let e = one(APACHE_COMMON);
    assert_eq!(e, apache_event(&e.event_id));
    assert_eq!(one_as(APACHE_COMMON, Format::Fixed(Gateway::Clf)), e);
}

#[test]
fn clf_nginx_combined_line_with_dash_user_and_referer() {
    let e = one(
        r#"192.0.2.10 - - [11/Jun/2024:13:04:05 +0000] "POST /v1/orders?dry=1 HTTP/1.1" 201 57 "-" "python-requests/2.31""#,
    );
    assert_eq!(e.consumer, None, "`-` user is anonymous");
    assert_eq!(e.method.as_deref(), Some("POST"));
    assert_eq!(e.path.as_deref(), Some("/v1/orders"));
    assert_eq!(e.query.as_deref(), Some("dry=1"));
    assert_eq!(e.status, Some(201));
    assert_eq!(e.response_bytes, Some(57));
    assert_eq!(e.client_ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(e.ts, millis("2024-06-11T13:04:05Z"));
    // The format has no API, route, request size or latency.
    assert_eq!(e.api, None);
    assert_eq!(e.route, None);
    assert_eq!(e.request_bytes, None);
    assert_eq!(e.latency_ms, None);
    assert_eq!(e.upstream_latency_ms, None);
}

/// Apache: "`-` rather than a 0 when no bytes are sent" — so `-` is zero.
#[test]
fn clf_dash_size_is_zero_bytes() {
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 -"#);
    assert_eq!(e.response_bytes, Some(0));
    assert_eq!(e.status, Some(304));
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "HEAD / HTTP/1.1" 304 0 "-" "-""#);
    assert_eq!(e.response_bytes, Some(0));
}

#[test]
fn clf_escaped_quotes_in_request_and_user_agent() {
    let e = one(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /search?q=\"a b\"&p=\\x HTTP/1.1" 200 12 "-" "Agent \"quoted\" \\ v1" rt=0.005"#,
    );
    assert_eq!(e.method.as_deref(), Some("GET"));
    assert_eq!(e.path.as_deref(), Some("/search"));
    assert_eq!(e.query.as_deref(), Some(r#"q="a"#), "split at the space");
    assert_eq!(e.status, Some(200));
    assert_eq!(e.response_bytes, Some(12));
    assert_eq!(
        e.latency_ms,
        Some(5.0),
        "the escaped quotes in the agent do not end it early"
    );
    let e =
        one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b\\c?x=\"1\" HTTP/1.1" 200 12"#);
    assert_eq!(e.path.as_deref(), Some(r#"/a"b\c"#));
    assert_eq!(e.query.as_deref(), Some(r#"x="1""#));
}

/// NGINX's default escaping writes `"`, `\`, control and non-ASCII bytes
/// as `\xHH`; those are the bytes the client sent.
#[test]
fn clf_nginx_hex_escapes_are_decoded() {
    let e = one(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /caf\xC3\xA9/a\x22b?q=\x5C HTTP/1.1" 200 12 "-" "x\x22y" rt=0.001"#,
    );
    assert_eq!(e.path.as_deref(), Some("/café/a\"b"));
    assert_eq!(e.query.as_deref(), Some("q=\\"));
    assert_eq!(e.latency_ms, Some(1.0));
    // A byte sequence that is not UTF-8 becomes U+FFFD, not garbage text.
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /\xFF HTTP/1.1" 200 1"#);
    assert_eq!(e.path.as_deref(), Some("/\u{fffd}"));
    // Other backslash sequences are kept as written.
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a\tb\xZZ HTTP/1.1" 200 1"#);
    assert_eq!(e.path.as_deref(), Some(r"/a\tb\xZZ"));
}

#[test]
fn clf_timing_extensions() {
    let e = one(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl/8" rt=0.005 urt="0.004, 0.001""#,
    );
    assert_eq!(e.latency_ms, Some(5.0));
    assert_eq!(e.upstream_latency_ms, Some(5.0));
    // The NGINX "main_ext" style, extra keys ignored, unquoted list member.
    let e = one(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl/8" "-" rt=0.123 uct="0.000" uht="0.010" urt="0.100 : 0.020" cs=MISS"#,
    );
    assert_eq!(e.latency_ms, Some(123.0));
    assert_eq!(e.upstream_latency_ms, Some(120.0));
    // Long names, unquoted.
    let e = one(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-" request_time=0.250 upstream_response_time=0.200"#,
    );
    assert_eq!(e.latency_ms, Some(250.0));
    assert_eq!(e.upstream_latency_ms, Some(200.0));
    // No upstream.
    let e = one(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-" rt=0.000 urt="-""#,
    );
    assert_eq!(e.latency_ms, Some(0.0));
    assert_eq!(e.upstream_latency_ms, None);
    // Extensions right after the size (common format plus timings).
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 rt=0.042"#);
    assert_eq!(e.latency_ms, Some(42.0));
    // Without extensions there is no latency.
    assert_eq!(one(APACHE_COMBINED).latency_ms, None);
}

#[test]
fn clf_bad_timing_extension_is_rejected() {
    let r = reject(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-" rt=fast"#,
    );
    assert_eq!(r.reason, RejectReason::WrongType);
    assert!(r.message.contains("`rt`"), "{}", r.message);
    let r = reject(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "-" rt=0.1 urt="0.1, -0.2""#,
    );
    assert_eq!(r.reason, RejectReason::InvalidValue);
    assert!(r.message.contains("`urt`"), "{}", r.message);
}

#[test]
fn clf_ipv6_host() {
    let e = one(r#"2001:DB8::1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#);
    assert_eq!(e.client_ip.as_deref(), Some("2001:db8::1"));
    let e = one(r#"::1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#);
    assert_eq!(e.client_ip.as_deref(), Some("::1"));
    let e = one(r#"- - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#);
    assert_eq!(e.client_ip, None);
}

#[test]
fn clf_request_line_without_a_request() {
    // NGINX logs 400/408 with request "-" (client sent nothing usable).
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "-" 408 0 "-" "-""#);
    assert_eq!((e.method, e.path, e.query), (None, None, None));
    assert_eq!(e.status, Some(408));
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "" 400 0"#);
    assert_eq!(e.method, None);
    assert_eq!(e.status, Some(400));
}

#[test]
fn clf_query_and_absolute_targets() {
    let e = one(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a? HTTP/1.1" 200 5"#);
    assert_eq!(e.query.as_deref(), Some(""));
    let e = one(
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET http://h.example/p/q?x=1 HTTP/1.1" 200 5"#,
    );
    assert_eq!(e.path.as_deref(), Some("/p/q"));
    assert_eq!(e.query.as_deref(), Some("x=1"));
}

#[test]
fn clf_ids_are_derived_and_deterministic() {
    let a = run(APACHE_COMBINED, Format::Auto, None).events.remove(0);
    let b = run(APACHE_COMBINED, Format::Auto, None).events.remove(0);
    assert_eq!(a.event_id, b.event_id);
    let p1 = run(APACHE_COMBINED, Format::Auto, Some("access.log:1"))
        .events
        .remove(0);
    let p2 = run(APACHE_COMBINED, Format::Auto, Some("access.log:2"))
        .events
        .remove(0);
    assert_ne!(p1.event_id, p2.event_id, "two identical lines, two calls");
    assert_ne!(a.event_id, p1.event_id);
    assert_ne!(a.event_id, one(APACHE_COMMON).event_id);
}

#[test]
fn clf_line_endings_and_extra_spaces() {
    let e = one(&format!("{APACHE_COMBINED}\r\n"));
    assert_eq!(e, apache_event(&e.event_id));
    let e = one(
        r#"127.0.0.1  -  frank  [10/Oct/2000:13:55:36 -0700]  "GET /apache_pb.gif HTTP/1.0"  200  2326"#,
    );
    assert_eq!(e, apache_event(&e.event_id));
}

#[test]
fn clf_bad_lines_are_not_json_with_a_clear_message() {
    for (line, why) in [
        ("hello", "no ident field"),
        ("hello world", "no user field"),
        ("127.0.0.1 - frank", "no [time] field"),
        ("127.0.0.1 - frank 10/Oct/2000:13:55:36", "no [time] field"),
        (
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700",
            "no [time] field",
        ),
        (
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] GET / HTTP/1.0",
            "no quoted request line",
        ),
        (
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0"#,
            "no quoted request line",
        ),
        (
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0""#,
            "no status",
        ),
        (
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200"#,
            "no size",
        ),
        (
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" - 0"#,
            "status is `-`",
        ),
    ] {
        let r = reject(line);
        assert_eq!(r.reason, RejectReason::NotJson, "{line}: {}", r.message);
        assert!(
            r.message
                .contains("neither JSON nor a combined-log-format line"),
            "{line}: {}",
            r.message
        );
        assert!(r.message.contains(why), "{line}: {}", r.message);
    }
}

#[test]
fn clf_bad_time_is_an_invalid_value() {
    for time in [
        "32/Oct/2000:13:55:36 -0700",
        "10/Foo/2000:13:55:36 -0700",
        "10/Oct/2000:13:55:36",
        "10/Oct/2000 13:55:36 -0700",
        "31/Dec/1969:23:59:59 +0000",
        "",
    ] {
        let line = format!(r#"10.0.0.1 - - [{time}] "GET / HTTP/1.1" 200 5"#);
        let r = reject(&line);
        assert_eq!(
            r.reason,
            RejectReason::InvalidValue,
            "{line}: {}",
            r.message
        );
        assert!(r.message.starts_with("clf: "), "{}", r.message);
        assert!(r.message.contains("`time`"), "{}", r.message);
    }
}

#[test]
fn clf_bad_status_and_size_are_rejected() {
    for (status, size, field, reason) in [
        ("abc", "5", "`status`", RejectReason::WrongType),
        ("1000", "5", "`status`", RejectReason::InvalidValue),
        ("200", "abc", "`size`", RejectReason::WrongType),
        ("200", "-5", "`size`", RejectReason::InvalidValue),
    ] {
        let line = format!(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" {status} {size}"#
        );
        let r = reject(&line);
        assert_eq!(r.reason, reason, "{line}: {}", r.message);
        assert!(r.message.contains(field), "{line}: {}", r.message);
    }
}

#[test]
fn clf_format_given_json_is_rejected_not_misread() {
    let r = reject_as(FULL, Format::Fixed(Gateway::Clf));
    assert_ne!(r.reason, RejectReason::NotJson, "{}", r.message);
    assert_eq!(r.reason, RejectReason::WrongType, "{}", r.message);
    assert!(r.message.contains("text log line"), "{}", r.message);
}
