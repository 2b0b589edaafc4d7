//! Whole-message rejects through `decode`: input that is not an access-log
//! record at all. Every reject is data (reason, sentence, raw bytes), never
//! a panic; none silently drops a message.

use std::io::Write;

use tollgate_schemas::{
    DecodeOptions, Decoded, Format, Gateway, Position, Reject, RejectReason, decode,
};

// ---------------------------------------------------------------- helpers

fn run(bytes: &[u8], format: Format) -> Decoded {
    decode(bytes, format, &DecodeOptions::default(), Position(None))
}

fn run_with(bytes: &[u8], opts: &DecodeOptions) -> Decoded {
    decode(bytes, Format::Auto, opts, Position(None))
}

/// Exactly one whole-message reject that keeps all of `bytes`.
fn reject_as(bytes: &[u8], format: Format) -> Reject {
    let d = run(bytes, format);
    assert!(d.events.is_empty(), "unexpected events: {:#?}", d.events);
    assert_eq!(
        d.rejects.len(),
        1,
        "expected one reject for {:?}: {:#?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(200)]),
        d.rejects
    );
    let r = d.rejects.into_iter().next().unwrap();
    assert_eq!(r.index, None, "a whole-message reject has no index");
    assert_eq!(r.raw, bytes, "the reject keeps the raw bytes");
    assert!(!r.raw_truncated);
    assert!(!r.message.is_empty());
    r
}

fn reject(bytes: &[u8]) -> Reject {
    reject_as(bytes, Format::Auto)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

const NGINX: &str = r#"{"msec":"1718111045.123","request_id":"r-1","remote_addr":"203.0.113.7","request_uri":"/v1/pets?limit=2","status":"200","request_time":"0.123"}"#;
const KONG: &str = r#"{"started_at":1718111045123,"request":{"method":"GET","uri":"/v1/pets"},"response":{"status":200},"latencies":{"request":12,"proxy":-1}}"#;
const CLF: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "-" "-""#;

// ------------------------------------------------------------------ empty

#[test]
fn empty_and_whitespace_messages_are_empty() {
    for input in [
        &b""[..],
        b" ",
        b"\n",
        b"\r\n",
        b" \t \r\n ",
        "\u{feff}".as_bytes(),
        "\u{feff}  \n".as_bytes(),
    ] {
        for format in [
            Format::Auto,
            Format::Fixed(Gateway::Kong),
            Format::Fixed(Gateway::Clf),
            Format::Fixed(Gateway::Canonical),
        ] {
            let r = reject_as(input, format);
            assert_eq!(r.reason, RejectReason::Empty, "{input:?} {format}");
            assert_eq!(r.reason.code(), "empty");
        }
    }
}

#[test]
fn an_empty_json_array_is_an_empty_batch() {
    // docs/SCHEMA.md: `empty` is "an empty message, or an empty JSON array".
    for input in ["[]", "[ ]", " [\n] "] {
        let r = reject(input.as_bytes());
        assert_eq!(r.reason, RejectReason::Empty, "{input}");
        assert!(r.message.contains("empty JSON array"), "{}", r.message);
    }
}

// ------------------------------------------------------------ invalid utf8

#[test]
fn invalid_utf8_is_rejected_with_its_offset() {
    let mut bad = br#"{"msec":"1718111045.123","remote_user":""#.to_vec();
    let offset = bad.len();
    bad.extend_from_slice(b"\xff\xfe\"}");
    for format in [
        Format::Auto,
        Format::Fixed(Gateway::Nginx),
        Format::Fixed(Gateway::Clf),
    ] {
        let r = reject_as(&bad, format);
        assert_eq!(r.reason, RejectReason::InvalidUtf8, "{format}");
        assert!(
            r.message.contains(&format!("offset {offset}")),
            "{}",
            r.message
        );
    }
    for input in [
        &b"\xff"[..],
        b"\xc3\x28",
        b"\xe2\x82",             // truncated 3-byte sequence
        b"\xed\xa0\x80",         // a UTF-16 surrogate
        b"\xf8\x88\x80\x80\x80", // 5-byte form
        b"127.0.0.1 - \xe9 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1", // Latin-1 user
    ] {
        assert_eq!(reject(input).reason, RejectReason::InvalidUtf8, "{input:?}");
    }
}

// ---------------------------------------------------------------- not json

#[test]
fn text_that_is_neither_json_nor_a_log_line_is_not_json() {
    for input in [
        "this line is not an access log",
        "x",
        "<html><body>502 Bad Gateway</body></html>",
        "key=value other=thing",
        "{not json}",
        "{'single': 'quotes'}",
        "{\"a\":1}}",
        "{\"a\":1} {\"b\":2}",
        "[1,]",
        "{\"a\":NaN}",
    ] {
        let r = reject(input.as_bytes());
        assert_eq!(r.reason, RejectReason::NotJson, "{input}: {}", r.message);
        assert_eq!(r.reason.code(), "not_json");
    }
    // A number too large for an f64 is still JSON: only a field a decoder
    // reads must be a representable number (the record here has none).
    let r = reject(br#"{"a":1e999}"#);
    assert_eq!(r.reason, RejectReason::UnknownFormat, "{}", r.message);
    let r = reject_as(
        br#"{"started_at":1718111045123,"latencies":{"request":1e999}}"#,
        Format::Fixed(Gateway::Kong),
    );
    assert_eq!(r.reason, RejectReason::InvalidValue, "{}", r.message);
    assert!(r.message.contains("latencies.request"), "{}", r.message);
    // With a JSON format fixed, text is not read as a log line.
    let r = reject_as(CLF.as_bytes(), Format::Fixed(Gateway::Kong));
    assert_eq!(r.reason, RejectReason::NotJson);
    assert!(r.message.contains("not valid JSON"), "{}", r.message);
}

#[test]
fn every_truncation_of_a_json_record_is_not_json() {
    for record in [NGINX, KONG] {
        for cut in 1..record.len() {
            let prefix = &record.as_bytes()[..cut];
            let r = reject(prefix);
            assert_eq!(
                r.reason,
                RejectReason::NotJson,
                "{}: {}",
                String::from_utf8_lossy(prefix),
                r.message
            );
            assert!(r.message.contains("not valid JSON"), "{}", r.message);
        }
    }
    // A truncated batch is rejected whole, not element by element.
    let batch = format!("[{KONG},{KONG}]");
    let r = reject(&batch.as_bytes()[..batch.len() - 1]);
    assert_eq!(r.reason, RejectReason::NotJson);
}

// ------------------------------------------------------------ JSON shapes

#[test]
fn json_scalars_are_unknown_format() {
    for input in [
        "42",
        "-1.5",
        "1e3",
        "\"hello\"",
        "\"127.0.0.1 - - [x]\"",
        "true",
        "false",
        "null",
    ] {
        for format in [
            Format::Auto,
            Format::Fixed(Gateway::Kong),
            Format::Fixed(Gateway::Nginx),
        ] {
            let r = reject_as(input.as_bytes(), format);
            assert_eq!(
                r.reason,
                RejectReason::UnknownFormat,
                "{input} {format}: {}",
                r.message
            );
            assert!(
                r.message.contains("not an object"),
                "{input}: {}",
                r.message
            );
        }
    }
}

#[test]
fn arrays_of_scalars_reject_each_element_in_place() {
    let d = run(
        br#"[1, "a", null, [2], {"msec":"1718111045.123"}]"#,
        Format::Auto,
    );
    assert_eq!(d.events.len(), 1, "the one record still decodes");
    assert_eq!(d.events[0].gateway, Gateway::Nginx);
    let got: Vec<(Option<usize>, RejectReason, &[u8])> = d
        .rejects
        .iter()
        .map(|r| (r.index, r.reason, r.raw.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(0), RejectReason::UnknownFormat, &b"1"[..]),
            (Some(1), RejectReason::UnknownFormat, &b"\"a\""[..]),
            (Some(2), RejectReason::UnknownFormat, &b"null"[..]),
            (Some(3), RejectReason::UnknownFormat, &b"[2]"[..]),
        ]
    );
    for r in &d.rejects {
        assert!(!r.raw_truncated);
        assert!(r.to_string().contains("batch element"), "{r}");
    }
}

#[test]
fn unknown_json_objects_are_unknown_format() {
    for input in [
        "{}",
        r#"{"foo":1}"#,
        r#"{"level":"info","msg":"started"}"#,
        r#"{"event_id":"x","gateway":"kong"}"#,
        r#"{"start_time":true}"#,
        r#"{"requestId":"abc"}"#,
        r#"{"api_id":"x"}"#,
    ] {
        let r = reject(input.as_bytes());
        assert_eq!(r.reason, RejectReason::UnknownFormat, "{input}");
        assert!(
            r.message.contains("set the format explicitly"),
            "{}",
            r.message
        );
    }
    // In a batch, only the unknown element is rejected.
    let d = run(format!(r#"[{{"foo":1}},{KONG}]"#).as_bytes(), Format::Auto);
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.rejects.len(), 1);
    assert_eq!(d.rejects[0].index, Some(0));
    assert_eq!(d.rejects[0].reason, RejectReason::UnknownFormat);
    assert_eq!(d.rejects[0].raw, br#"{"foo":1}"#);
}

#[test]
fn apisix_origin_format_is_unsupported() {
    let r = reject(b"GET /v1/pets HTTP/1.1\r\nHost: api.example.com\r\n\r\n");
    assert_eq!(r.reason, RejectReason::UnsupportedFormat);
    assert!(r.message.contains("meta_format"), "{}", r.message);
}

// -------------------------------------------------------------- oversized

#[test]
fn oversized_messages_keep_a_prefix() {
    let opts = DecodeOptions {
        max_message_bytes: 100,
        oversized_keep_bytes: 10,
        ..DecodeOptions::default()
    };
    let mut big = NGINX.as_bytes().to_vec();
    big.resize(101, b' ');
    let d = run_with(&big, &opts);
    assert!(d.events.is_empty());
    assert_eq!(d.rejects.len(), 1);
    let r = &d.rejects[0];
    assert_eq!(r.reason, RejectReason::Oversized);
    assert_eq!(r.raw, &big[..10]);
    assert!(r.raw_truncated);
    assert_eq!(r.index, None);
    assert!(r.message.contains("101 bytes"), "{}", r.message);
    assert!(r.message.contains("100 allowed"), "{}", r.message);
    assert!(r.message.contains("max_message_bytes"), "{}", r.message);

    // Exactly at the limit is fine (and the padding is trimmed).
    let mut at = NGINX.as_bytes().to_vec();
    assert!(at.len() <= 200);
    at.resize(200, b' ');
    let at_limit = DecodeOptions {
        max_message_bytes: 200,
        ..opts.clone()
    };
    assert_eq!(run_with(&at, &at_limit).events.len(), 1);

    // A keep larger than the message keeps it whole.
    let keep_all = DecodeOptions {
        max_message_bytes: 100,
        oversized_keep_bytes: 1000,
        ..DecodeOptions::default()
    };
    let r = &run_with(&big, &keep_all).rejects[0];
    assert_eq!(r.reason, RejectReason::Oversized);
    assert_eq!(r.raw, big);
    assert!(!r.raw_truncated);
}

#[test]
fn oversized_by_default_above_one_mebibyte() {
    let opts = DecodeOptions::default();
    let mut big = b"[".to_vec();
    while big.len() <= opts.max_message_bytes {
        big.extend_from_slice(KONG.as_bytes());
        big.push(b',');
    }
    big.pop();
    big.push(b']');
    let d = run_with(&big, &opts);
    assert!(d.events.is_empty(), "an oversized batch yields nothing");
    assert_eq!(d.rejects.len(), 1);
    assert_eq!(d.rejects[0].reason, RejectReason::Oversized);
    assert_eq!(d.rejects[0].raw.len(), opts.oversized_keep_bytes);
    assert_eq!(d.rejects[0].raw, &big[..opts.oversized_keep_bytes]);
    assert!(d.rejects[0].raw_truncated);
}

// ------------------------------------------------------------------- gzip

#[test]
fn gzip_messages_are_decompressed() {
    let plain = run(NGINX.as_bytes(), Format::Auto);
    let zipped = run(&gzip(NGINX.as_bytes()), Format::Auto);
    assert!(zipped.rejects.is_empty(), "{:?}", zipped.rejects);
    assert_eq!(zipped.events, plain.events);
    // A batch, a CLF line, and forced formats too.
    let d = run(&gzip(format!("[{KONG},{KONG}]").as_bytes()), Format::Auto);
    assert_eq!(d.events.len(), 2);
    let d = run(&gzip(CLF.as_bytes()), Format::Auto);
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.events[0].gateway, Gateway::Clf);
    let d = run(&gzip(KONG.as_bytes()), Format::Fixed(Gateway::Kong));
    assert_eq!(d.events.len(), 1);
    // Concatenated gzip members are one message.
    let mut two = gzip(format!("[{KONG},").as_bytes());
    two.extend(gzip(format!("{KONG}]").as_bytes()));
    assert_eq!(run(&two, Format::Auto).events.len(), 2);
}

#[test]
fn gzip_rejects_keep_the_compressed_bytes() {
    // What was inside decides the reason; the raw bytes are what arrived.
    for (inner, reason) in [
        (&b""[..], RejectReason::Empty),
        (b"   \n", RejectReason::Empty),
        (b"\xff\xfe", RejectReason::InvalidUtf8),
        (b"{\"a\":", RejectReason::NotJson),
        (b"not a log line", RejectReason::NotJson),
        (b"{}", RejectReason::UnknownFormat),
    ] {
        let zipped = gzip(inner);
        let r = reject(&zipped);
        assert_eq!(r.reason, reason, "{inner:?}: {}", r.message);
    }
}

#[test]
fn corrupt_or_truncated_gzip_is_not_json() {
    let zipped = gzip(NGINX.as_bytes());
    for bad in [
        vec![0x1f, 0x8b],
        vec![0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef],
        zipped[..zipped.len() / 2].to_vec(),
        zipped[..zipped.len() - 4].to_vec(),
        {
            let mut flipped = zipped.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0xff;
            flipped
        },
    ] {
        let r = reject(&bad);
        assert_eq!(r.reason, RejectReason::NotJson, "{bad:?}: {}", r.message);
        assert!(r.message.contains("gzip"), "{}", r.message);
    }
}

#[test]
fn a_gzip_bomb_is_oversized_without_inflating_it_all() {
    let opts = DecodeOptions::default();
    // 16 MiB of spaces compresses to ~16 KiB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..16 {
        gz.write_all(&chunk).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < opts.max_message_bytes);
    let d = run_with(&bomb, &opts);
    assert!(d.events.is_empty());
    assert_eq!(d.rejects.len(), 1);
    let r = &d.rejects[0];
    assert_eq!(r.reason, RejectReason::Oversized);
    assert!(
        r.message.contains(&format!(
            "more than the {} bytes allowed",
            opts.max_message_bytes
        )),
        "{}",
        r.message
    );
    // The kept prefix is of the bytes that arrived (compressed).
    let keep = bomb.len().min(opts.oversized_keep_bytes);
    assert_eq!(r.raw, &bomb[..keep]);
    assert_eq!(r.raw_truncated, keep < bomb.len());

    // Just under the limit decompresses fine.
    let small = DecodeOptions {
        max_message_bytes: 4096,
        ..DecodeOptions::default()
    };
    let mut inner = NGINX.as_bytes().to_vec();
    inner.resize(4096, b' ');
    assert_eq!(run_with(&gzip(&inner), &small).events.len(), 1);
    inner.push(b' ');
    let r = &run_with(&gzip(&inner), &small).rejects[0];
    assert_eq!(r.reason, RejectReason::Oversized);
}

// ----------------------------------------------------------- deep nesting

fn nested(open: &str, depth: usize, close: &str) -> Vec<u8> {
    let mut v = open.repeat(depth).into_bytes();
    v.extend(close.repeat(depth).into_bytes());
    v
}

/// Runs `f` on a thread with a modest 1 MiB stack: deep input must not
/// recurse per nesting level.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no panic, no stack overflow")
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    on_small_stack(|| {
        let inputs: Vec<Vec<u8>> = vec![
            nested("[", 100_000, ""),
            nested("[", 100_000, "]"),
            nested("{\"a\":", 100_000, ""),
            nested("{\"a\":", 100_000, "}"),
            {
                let mut v = br#"{"started_at":1718111045123,"request":"#.to_vec();
                v.extend(nested("[", 100_000, "]"));
                v.push(b'}');
                v
            },
            {
                let mut v = br#"[{"msec":"1718111045.123"},"#.to_vec();
                v.extend(nested("{\"a\":", 50_000, "}"));
                v.push(b']');
                v
            },
        ];
        for input in inputs {
            for format in [
                Format::Auto,
                Format::Fixed(Gateway::Kong),
                Format::Fixed(Gateway::Canonical),
                Format::Fixed(Gateway::Clf),
            ] {
                let d = decode(&input, format, &DecodeOptions::default(), Position(None));
                assert!(!d.rejects.is_empty(), "{format}");
                for r in &d.rejects {
                    assert!(
                        // A deep array is valid JSON the parser skips
                        // without recursing: not a record (unknown_format).
                        matches!(
                            r.reason,
                            RejectReason::NotJson
                                | RejectReason::WrongType
                                | RejectReason::MissingField
                                | RejectReason::UnknownFormat
                        ),
                        "{format}: {r}"
                    );
                    match r.index {
                        None => assert_eq!(r.raw, input),
                        Some(_) => assert!(!r.raw.is_empty()),
                    }
                }
            }
        }
    });
}

#[test]
fn deep_nesting_inside_a_cloudwatch_envelope() {
    on_small_stack(|| {
        let deep = String::from_utf8(nested("[", 100_000, "]")).unwrap();
        let envelope = serde_json::json!({
            "messageType": "DATA_MESSAGE",
            "logGroup": "g",
            "logEvents": [{"id": "1", "message": deep}],
        })
        .to_string();
        let d = decode(
            envelope.as_bytes(),
            Format::Auto,
            &DecodeOptions::default(),
            Position(None),
        );
        assert!(d.events.is_empty());
        assert_eq!(d.rejects.len(), 1);
        // The message is a batch whose one element is a (deep) array:
        // valid JSON, skipped without recursion, and not a record.
        assert_eq!(d.rejects[0].reason, RejectReason::UnknownFormat);
        assert_eq!(d.rejects[0].index, Some(0));
    });
}

// ------------------------------------------------------- raw bytes, codes

#[test]
fn every_reject_keeps_the_raw_bytes_and_a_stable_code() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "empty"),
        (b"\xff".to_vec(), "invalid_utf8"),
        (b"garbage".to_vec(), "not_json"),
        (b"{\"foo\":1}".to_vec(), "unknown_format"),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            "unsupported_format",
        ),
        (b"{\"remote_addr\":\"10.0.0.1\"}".to_vec(), "missing_field"),
        (
            br#"{"msec":"1718111045.123","status":"two hundred"}"#.to_vec(),
            "wrong_type",
        ),
        (
            br#"{"msec":"1718111045.123","request_time":"-1"}"#.to_vec(),
            "invalid_value",
        ),
        (
            br#"127.0.0.1 - - [99/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1"#.to_vec(),
            "invalid_value",
        ),
    ];
    for (input, code) in cases {
        let r = reject(&input);
        assert_eq!(
            r.reason.code(),
            code,
            "{:?}",
            String::from_utf8_lossy(&input)
        );
        assert!(r.to_string().starts_with(&format!("{code}: ")), "{r}");
    }
}

#[test]
fn rejects_never_lose_a_message() {
    // Whatever the input, a message yields an event or a reject (CloudWatch
    // control messages excepted).
    for input in [
        &b"\x00"[..],
        b"\x1f",
        b"\x1f\x8b",
        b"[",
        b"]",
        b"{",
        b"}",
        b"\"",
        b"[[]]",
        b"[{}]",
        b"[[], {}]",
        b"- - - [] \"\" - -",
        b"\xef\xbb\xbf",
    ] {
        let d = run(input, Format::Auto);
        assert!(
            !d.events.is_empty() || !d.rejects.is_empty(),
            "{input:?} vanished"
        );
    }
}
