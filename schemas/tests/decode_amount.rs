//! The `amount` field: how each gateway that can carry it does (the
//! `X-Tollgate-Amount` header, the response's first), and why a record
//! whose amount cannot be read is rejected rather than kept without it.

use rust_decimal::Decimal;
use tollgate_schemas::{DecodeOptions, Decoded, Format, Gateway, Position, RejectReason, decode};

fn run(line: &str, g: Gateway) -> Decoded {
    decode(
        line.as_bytes(),
        Format::Fixed(g),
        &DecodeOptions::default(),
        Position(None),
    )
}

fn amount(line: &str, g: Gateway) -> Option<Decimal> {
    let d = run(line, g);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    d.events[0].amount
}

fn rejected(line: &str, g: Gateway) -> String {
    let d = run(line, g);
    assert!(d.events.is_empty(), "{:?}", d.events);
    assert_eq!(
        d.rejects[0].reason,
        RejectReason::InvalidValue,
        "{:?}",
        d.rejects
    );
    d.rejects[0].message.clone()
}

fn dec(s: &str) -> Option<Decimal> {
    Some(s.parse().unwrap())
}

fn kong(req: &str, resp: &str) -> String {
    format!(
        r#"{{"started_at":1718111045123,"request":{{"method":"POST","uri":"/v1/pay","headers":{{"host":"api","x-forwarded-for":"10.0.0.1"{req}}}}},"response":{{"status":201,"headers":{{"content-type":"application/json"{resp}}}}},"latencies":{{"request":12,"proxy":10}}}}"#
    )
}

#[test]
fn kong_reads_the_response_header_then_the_request_header_in_any_case() {
    let k = |req, resp| amount(&kong(req, resp), Gateway::Kong);
    assert_eq!(k("", ""), None);
    assert_eq!(k(r#","x-tollgate-amount":"12.50""#, ""), dec("12.50"));
    assert_eq!(k("", r#","X-Tollgate-Amount":"7""#), dec("7"));
    // The response wins: the upstream knows the amount after the call.
    assert_eq!(
        k(
            r#","x-tollgate-amount":"12.50""#,
            r#","x-tollgate-amount":"9.99""#
        ),
        dec("9.99")
    );
    // An absent spelling in the response falls back to the request.
    assert_eq!(
        k(
            r#","x-tollgate-amount":"12.50""#,
            r#","x-tollgate-amount":"""#
        ),
        dec("12.50")
    );
    // A header whose name only contains the word is not it.
    assert_eq!(k(r#","x-tollgate-amounts":"1""#, ""), None);
}

#[test]
fn apisix_reads_the_same_headers() {
    let line = |req: &str, resp: &str| {
        format!(
            r#"{{"start_time":1718111045123,"route_id":"r1","request":{{"method":"POST","uri":"/pay","headers":{{"host":"api"{req}}}}},"response":{{"status":200,"headers":{{"server":"APISIX"{resp}}}}},"latency":3.5}}"#
        )
    };
    assert_eq!(amount(&line("", ""), Gateway::Apisix), None);
    assert_eq!(
        amount(
            &line(r#","x-tollgate-amount":"0.000000001""#, ""),
            Gateway::Apisix
        ),
        dec("0.000000001")
    );
    assert_eq!(
        amount(
            &line(r#","x-tollgate-amount":"1""#, r#","x-tollgate-AMOUNT":"2""#),
            Gateway::Apisix
        ),
        dec("2")
    );
}

#[test]
fn traefik_reads_kept_headers_and_refuses_redacted_ones() {
    let line = |extra: &str| {
        format!(
            r#"{{"StartUTC":"2024-06-11T13:04:05.123Z","DownstreamStatus":200,"RequestMethod":"POST","RequestPath":"/pay"{extra}}}"#
        )
    };
    assert_eq!(amount(&line(""), Gateway::Traefik), None);
    assert_eq!(
        amount(
            &line(r#","request_X-Tollgate-Amount":"3.10""#),
            Gateway::Traefik
        ),
        dec("3.10")
    );
    assert_eq!(
        amount(
            &line(r#","request_X-Tollgate-Amount":"3.10","downstream_X-Tollgate-Amount":"4""#),
            Gateway::Traefik
        ),
        dec("4")
    );
    let m = rejected(
        &line(r#","downstream_X-Tollgate-Amount":"REDACTED""#),
        Gateway::Traefik,
    );
    assert!(m.contains("REDACTED") && m.contains("keep"), "{m}");
}

#[test]
fn envoy_reads_the_mapped_key_and_its_dash() {
    let line = |v: &str| {
        format!(
            r#"{{"start_time":"2024-06-11T13:04:05.123Z","response_code":200,"method":"POST","path":"/pay","tollgate_amount":{v}}}"#
        )
    };
    assert_eq!(amount(&line("null"), Gateway::Envoy), None);
    // What %RESP(X-TOLLGATE-AMOUNT)% prints when the header is missing.
    assert_eq!(amount(&line(r#""-""#), Gateway::Envoy), None);
    assert_eq!(amount(&line(r#""1500""#), Gateway::Envoy), dec("1500"));
}

#[test]
fn the_canonical_format_round_trips_and_omits_an_absent_amount() {
    let without = r#"{"event_id":"a","ts":"2024-06-11T13:04:05.123Z","gateway":"kong"}"#;
    let d = run(without, Gateway::Canonical);
    assert_eq!(d.events[0].amount, None);
    assert!(!d.events[0].to_json().contains("amount"));
    for (given, printed) in [(r#""12.50""#, "12.50"), ("12.50", "12.50"), ("0", "0")] {
        let line = format!(
            r#"{{"event_id":"a","ts":"2024-06-11T13:04:05.123Z","gateway":"kong","amount":{given}}}"#
        );
        let e = &run(&line, Gateway::Canonical).events[0];
        assert_eq!(e.amount, dec(printed));
        let json = e.to_json();
        assert!(
            json.ends_with(&format!(r#""amount":"{printed}"}}"#)),
            "{json}"
        );
        // Printed → read → printed is a fixed point.
        assert_eq!(run(&json, Gateway::Canonical).events[0].to_json(), json);
    }
}

#[test]
fn a_malformed_amount_rejects_the_record_with_the_reason() {
    let canonical = |v: &str| {
        format!(
            r#"{{"event_id":"a","ts":"2024-06-11T13:04:05.123Z","gateway":"kong","amount":{v}}}"#
        )
    };
    for (v, why) in [
        (r#""-1.00""#, "0 or more"),
        ("-1", "0 or more"),
        (r#""1e3""#, "exponent"),
        ("1.5E2", "exponent"),
        (r#""12,50""#, "not a decimal amount"),
        (r#""1.""#, "not a decimal amount"),
        (r#""0.0000000001""#, "more than 9 decimal places"),
        (r#""1000000000000000""#, "out of range"),
    ] {
        let m = rejected(&canonical(v), Gateway::Canonical);
        assert!(m.contains("field `amount`") && m.contains(why), "{v}: {m}");
    }
    // Trailing zeros past the ninth place change nothing, so they are fine,
    // as are leading zeros and 15 integer digits.
    let ok = |v: &str| run(&canonical(v), Gateway::Canonical).events[0].amount;
    assert_eq!(ok(r#""1.50000000000""#), dec("1.500000000"));
    assert_eq!(
        ok(r#""000999999999999999.999999999""#),
        dec("999999999999999.999999999")
    );
    // Wrong JSON type.
    let d = run(&canonical("true"), Gateway::Canonical);
    assert_eq!(d.rejects[0].reason, RejectReason::WrongType);
    // A header names its path; a repeated header (Kong logs a list) is refused.
    let m = rejected(&kong(r#","X-Tollgate-Amount":"ten""#, ""), Gateway::Kong);
    assert!(
        m.contains("field `request.headers.X-Tollgate-Amount`"),
        "{m}"
    );
    let m = rejected(
        &kong("", r#","x-tollgate-amount":["1","2"]"#),
        Gateway::Kong,
    );
    assert!(m.contains("more than once"), "{m}");
}
