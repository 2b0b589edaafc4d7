//! Small writers that append a value's text to a line buffer.
//!
//! Lines are built as bytes without `format!`: no format-string parsing,
//! no float formatting and no allocation per value is what keeps the
//! simulator well above the ingest path's speed. The digits come from
//! `itoa`, the request ids from `uuid`, the calendar from `chrono`; only
//! the fixed layouts (zero padding, `12.345` from microseconds, the CLF
//! date) are written here.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Appends `s`.
pub(crate) fn put(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
}

/// Appends `v` in decimal.
pub(crate) fn put_u(b: &mut Vec<u8>, v: u64) {
    put(b, itoa::Buffer::new().format(v));
}

/// Appends `v` in decimal, with a `-` when negative.
pub(crate) fn put_i(b: &mut Vec<u8>, v: i64) {
    put(b, itoa::Buffer::new().format(v));
}

/// Appends `v` zero-padded to at least `width` digits.
pub(crate) fn put_pad(b: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(v);
    b.resize(b.len() + width.saturating_sub(digits.len()), b'0');
    put(b, digits);
}

/// Microseconds as milliseconds with three decimals: `12345` → `12.345`.
pub(crate) fn put_ms(b: &mut Vec<u8>, us: u64) {
    put_u(b, us / 1000);
    b.push(b'.');
    put_pad(b, us % 1000, 3);
}

/// Milliseconds as seconds with three decimals: `52` → `0.052`.
pub(crate) fn put_secs_ms(b: &mut Vec<u8>, ms: i64) {
    put_i(b, ms.div_euclid(1000));
    b.push(b'.');
    put_pad(b, ms.rem_euclid(1000) as u64, 3);
}

/// The low `digits` hex digits of `v`, lower case, zero-padded.
pub(crate) fn put_hex(b: &mut Vec<u8>, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        b.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// A version-4 UUID from 128 random bits (`uuid` sets the version and
/// variant bits), hyphenated and lower case.
pub(crate) fn put_uuid(b: &mut Vec<u8>, hi: u64, lo: u64) {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    put(b, id.hyphenated().encode_lower(&mut text));
}

/// The UTC time of `ms` since the epoch. Every time the simulator writes
/// is inside chrono's range (the configuration starts after 1970 and ends
/// at a time chrono parsed), so the epoch fallback is never used.
fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `2024-06-11T13:04:05`.
fn put_date_time(b: &mut Vec<u8>, t: &DateTime<Utc>) {
    put_pad(b, t.year() as u64, 4);
    b.push(b'-');
    put_pad(b, u64::from(t.month()), 2);
    b.push(b'-');
    put_pad(b, u64::from(t.day()), 2);
    b.push(b'T');
    put_pad(b, u64::from(t.hour()), 2);
    b.push(b':');
    put_pad(b, u64::from(t.minute()), 2);
    b.push(b':');
    put_pad(b, u64::from(t.second()), 2);
}

/// `2024-06-11T13:04:05.123Z`, or with nanoseconds
/// (`…05.123456789Z`) when `sub_ms_ns` is given.
pub(crate) fn put_rfc3339(b: &mut Vec<u8>, ms: i64, sub_ms_ns: Option<u32>) {
    put_date_time(b, &utc(ms));
    b.push(b'.');
    put_pad(b, ms.rem_euclid(1000) as u64, 3);
    if let Some(ns) = sub_ms_ns {
        put_pad(b, u64::from(ns), 6);
    }
    b.push(b'Z');
}

/// `2024-06-11T13:04:05Z`.
pub(crate) fn put_rfc3339_secs(b: &mut Vec<u8>, ms: i64) {
    put_date_time(b, &utc(ms));
    b.push(b'Z');
}

/// `11/Jun/2024:13:04:05 +0000`.
pub(crate) fn put_clf_time(b: &mut Vec<u8>, ms: i64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = utc(ms);
    put_pad(b, u64::from(t.day()), 2);
    b.push(b'/');
    put(b, MONTHS[t.month0() as usize]);
    b.push(b'/');
    put_pad(b, t.year() as u64, 4);
    b.push(b':');
    put_pad(b, u64::from(t.hour()), 2);
    b.push(b':');
    put_pad(b, u64::from(t.minute()), 2);
    b.push(b':');
    put_pad(b, u64::from(t.second()), 2);
    put(b, " +0000");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_schemas::EpochMillis;

    #[test]
    fn times_match_chrono_formatting() {
        for ms in [0, 951_782_400_000, 1_718_111_045_123, 4_102_444_799_999] {
            let dt = EpochMillis(ms).to_datetime();
            let mut b = Vec::new();
            put_rfc3339(&mut b, ms, None);
            assert_eq!(String::from_utf8(b).unwrap(), EpochMillis(ms).to_string());
            let mut b = Vec::new();
            put_rfc3339(&mut b, ms, Some(456_789));
            assert_eq!(
                String::from_utf8(b).unwrap(),
                dt.format("%Y-%m-%dT%H:%M:%S%.3f456789Z").to_string()
            );
            let mut b = Vec::new();
            put_rfc3339_secs(&mut b, ms);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
            let mut b = Vec::new();
            put_clf_time(&mut b, ms);
            assert_eq!(
                String::from_utf8(b).unwrap(),
                dt.format("%d/%b/%Y:%H:%M:%S +0000").to_string()
            );
        }
    }

    #[test]
    fn numbers_are_padded_and_signed_as_written_before() {
        let text = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = Vec::new();
            f(&mut b);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(text(&|b| put_u(b, 0)), "0");
        assert_eq!(text(&|b| put_u(b, u64::MAX)), "18446744073709551615");
        assert_eq!(text(&|b| put_i(b, -42)), "-42");
        assert_eq!(text(&|b| put_pad(b, 7, 3)), "007");
        assert_eq!(text(&|b| put_pad(b, 12345, 3)), "12345");
        assert_eq!(text(&|b| put_ms(b, 12_345)), "12.345");
        assert_eq!(text(&|b| put_ms(b, 5)), "0.005");
        assert_eq!(text(&|b| put_secs_ms(b, 52)), "0.052");
        assert_eq!(text(&|b| put_secs_ms(b, -1)), "-1.999");
        assert_eq!(text(&|b| put_hex(b, 0xabc, 6)), "000abc");
    }

    #[test]
    fn uuids_carry_version_4_and_the_rfc_variant() {
        let mut b = Vec::new();
        put_uuid(&mut b, u64::MAX, u64::MAX);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        let mut b = Vec::new();
        put_uuid(&mut b, 0, 0);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "00000000-0000-4000-8000-000000000000"
        );
    }
}
