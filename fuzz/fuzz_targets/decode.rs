//! Fuzzes every decoder: arbitrary bytes through auto-detection and through
//! each forced format must never panic, and every event that comes out must
//! satisfy the contract and survive the canonical round trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_schemas::{decode, DecodeOptions, Format, Gateway, Position};

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions {
        max_message_bytes: 64 * 1024,
        envoy_consumer_field: Some("consumer".into()),
        ..DecodeOptions::default()
    };
    let formats = std::iter::once(Format::Auto).chain(Gateway::ALL.into_iter().map(Format::Fixed));
    for format in formats {
        let out = decode(data, format, &opts, Position(Some("fuzz/0/1")));
        for e in &out.events {
            assert!(!e.event_id.is_empty());
            assert!(e.status.is_none_or(|s| s <= 999));
            for ms in [e.latency_ms, e.upstream_latency_ms].into_iter().flatten() {
                assert!(ms.is_finite() && ms >= 0.0, "latency {ms}");
            }
            let line = e.to_json();
            let again = decode(line.as_bytes(), Format::Auto, &opts, Position(None));
            assert_eq!(again.events.len(), 1, "round trip of {line} gave {:?}", again.rejects);
            assert_eq!(again.events[0].to_json(), line);
        }
        for r in &out.rejects {
            assert!(!r.message.is_empty());
        }
    }
});
