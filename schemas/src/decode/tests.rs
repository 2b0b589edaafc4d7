//! Cross-decoder unit tests; per-gateway tests live in `schemas/tests/`.

use super::*;
use crate::event::EpochMillis;

#[test]
fn floats_round_trip_exactly_through_canonical_json() {
    // Found by the fuzzer: without serde_json's `float_roundtrip` this
    // parses back as 56001.455555555556.
    let mut e = AccessEvent::new("x", EpochMillis(1_718_111_052_000), Gateway::Clf);
    e.latency_ms = Some(56001.45555555555);
    e.upstream_latency_ms = Some(0.1 + 0.2);
    let line = e.to_json();
    let back = decode(
        line.as_bytes(),
        Format::Auto,
        &DecodeOptions::default(),
        Position(None),
    );
    assert_eq!(back.events, vec![e]);
    assert_eq!(back.events[0].to_json(), line);
}

#[test]
fn event_index_locates_batch_elements() {
    let line = br#"[{"started_at":1718111045123,"request":{}},{"started_at":"x","request":{}},{"started_at":1718111045124,"request":{}}]"#;
    let out = decode(
        line,
        Format::Auto,
        &DecodeOptions::default(),
        Position(None),
    );
    assert_eq!(out.event_index, vec![0, 2]);
    assert_eq!(out.rejects[0].index, Some(1));
}
