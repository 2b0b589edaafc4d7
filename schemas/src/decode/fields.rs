//! Lenient, exact field readers shared by the decoders.
//!
//! Gateways spell the same thing many ways: numbers as JSON numbers or as
//! quoted strings, absence as `null`, `""` or `"-"`. These helpers accept
//! every spelling a documented format uses, turn absence into `None`, and
//! turn anything else into a [`FieldError`] naming the field. Unit
//! conversions work on the decimal text, not on floats, so `"0.123"` seconds
//! is exactly `123.0` ms and `1718111045.123` epoch seconds is exactly
//! `1718111045123` ms.
//!
//! Numbers are read from the text the gateway wrote (see [`super::json`]),
//! quoted or not, so no f64 ever rounds them first: `1718111046201.9999`
//! epoch ms is `…201`.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use super::json::{Field, Kind, Obj};
use chrono::DateTime;

use crate::event::EpochMillis;
use crate::reject::RejectReason;

/// A field that could not be read. Converted to a [`crate::Reject`] by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Machine-readable cause.
    pub reason: RejectReason,
    /// Human sentence naming the field.
    pub message: String,
}

impl FieldError {
    pub(crate) fn wrong_type(field: &str, expected: &str, got: Field<'_>) -> Self {
        FieldError {
            reason: RejectReason::WrongType,
            message: format!(
                "field `{field}` should be {expected}, got {}",
                describe(got)
            ),
        }
    }

    pub(crate) fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        FieldError {
            reason: RejectReason::InvalidValue,
            message: format!("field `{field}` {why}"),
        }
    }

    pub(crate) fn missing(field: &str, format: &str) -> Self {
        FieldError {
            reason: RejectReason::MissingField,
            message: format!(
                "required field `{field}` is missing or empty; a {format} record without it cannot be placed in time"
            ),
        }
    }
}

/// Result of reading one field.
pub type FieldResult<T> = Result<Option<T>, FieldError>;

fn describe(v: Field<'_>) -> String {
    let mut text = v.raw().to_string();
    if text.len() > 60 {
        let mut cut = 60;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    format!("{} ({text})", v.kind().article_name())
}

/// Looks up a dotted path of object keys: `get(obj, &["consumer", "id"])`.
/// A nested object is parsed once, the first time a path walks into it.
pub fn get<'a>(obj: &Obj<'a>, path: &[&str]) -> Option<Field<'a>> {
    obj.get_in(path)
}

/// True for the ways gateways spell "no value" in a string field.
pub fn is_absent_str(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t == "-"
}

/// A string field. Numbers are accepted and printed as written (ids are
/// sometimes numeric); `null`, `""` and `"-"` are absent.
pub fn opt_string(v: Option<Field<'_>>, field: &str) -> FieldResult<String> {
    let Some(v) = v else { return Ok(None) };
    match v.kind() {
        Kind::Null => Ok(None),
        Kind::String => match v.str() {
            Some(s) if is_absent_str(&s) => Ok(None),
            Some(s) => Ok(Some(s.into_owned())),
            None => Err(FieldError::wrong_type(field, "a string", v)),
        },
        Kind::Number => Ok(Some(v.raw().to_string())),
        _ => Err(FieldError::wrong_type(field, "a string", v)),
    }
}

/// A list of strings (a route's paths): `null` or absent is `None`; an
/// array whose entries are not all strings is a wrong type. Absent
/// spellings inside the list (`""`, `"-"`) are skipped.
pub fn opt_str_list(v: Option<Field<'_>>, field: &str) -> FieldResult<Vec<String>> {
    let Some(v) = v else { return Ok(None) };
    if v.is_null() {
        return Ok(None);
    }
    let items = v
        .array()
        .ok_or_else(|| FieldError::wrong_type(field, "a list of strings", v))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.str() {
            Some(s) if is_absent_str(&s) => {}
            Some(s) => out.push(s.into_owned()),
            None => return Err(FieldError::wrong_type(field, "a list of strings", item)),
        }
    }
    Ok(Some(out))
}

/// The decimal text of a numeric field, whether sent as a number or a
/// quoted string. `null`, `""`, `"-"` are absent.
fn numeric_text<'a>(v: Option<Field<'a>>, field: &str) -> Result<Option<NumText<'a>>, FieldError> {
    let Some(v) = v else { return Ok(None) };
    match v.kind() {
        Kind::Null => Ok(None),
        Kind::String => match v.str() {
            Some(s) if is_absent_str(&s) => Ok(None),
            Some(s) => Ok(Some(NumText { text: s, field: v })),
            None => Err(FieldError::wrong_type(field, "a number", v)),
        },
        Kind::Number => Ok(Some(NumText {
            text: Cow::Borrowed(v.raw()),
            field: v,
        })),
        _ => Err(FieldError::wrong_type(field, "a number", v)),
    }
}

/// A number's text (a quoted one trimmed) and the value it came from.
struct NumText<'a> {
    text: Cow<'a, str>,
    field: Field<'a>,
}

impl NumText<'_> {
    fn text(&self) -> &str {
        self.text.trim()
    }

    /// The exact decimal; a string that is not a number is a wrong type.
    fn decimal(&self, field: &str) -> Result<Decimal, FieldError> {
        parse_decimal(self.text()).ok_or_else(|| match self.field.kind() {
            Kind::String => FieldError::wrong_type(field, "a number", self.field),
            _ => FieldError::invalid(field, "is not a representable number"),
        })
    }
}

/// A decimal number parsed from text, exactly: sign, digits and the position
/// of the decimal point. Exponents (`1e3`) are folded into the point.
#[derive(Debug, Clone, PartialEq)]
struct Decimal {
    negative: bool,
    /// All significant digits, without the point.
    digits: String,
    /// How many of `digits` are after the point (may be negative after an exponent).
    scale: i64,
}

/// `text` as an i64 when it is only ASCII digits (at most 18, so no
/// overflow), else `None` and the caller takes the exact decimal path.
fn plain_i64(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
}

/// `text` as the nearest f64 when it is digits with at most one point
/// (`12`, `3.25`, `.5`), else `None`. Rust's float parsing rounds the
/// decimal correctly, which is what [`Decimal::shifted_f64`] does too.
fn plain_decimal_f64(text: &str) -> Option<f64> {
    let mut points = 0;
    let mut digits = 0;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return None,
        }
    }
    if digits == 0 || points > 1 {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    let (negative, rest) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    if !(-400..=400).contains(&exp) {
        return None;
    }
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut digits = String::with_capacity(int_part.len() + frac_part.len());
    digits.push_str(int_part);
    digits.push_str(frac_part);
    Some(Decimal {
        negative,
        digits,
        scale: frac_part.len() as i64 - exp,
    })
}

impl Decimal {
    /// True when no non-zero digit sits after the decimal point.
    fn is_integral(&self) -> bool {
        if self.scale <= 0 {
            return true;
        }
        let frac_len = (self.scale as usize).min(self.digits.len());
        self.digits[self.digits.len() - frac_len..]
            .bytes()
            .all(|b| b == b'0')
    }

    /// The value times 10^`places`, truncated toward zero to an integer.
    fn shifted_trunc(&self, places: i64) -> Option<i128> {
        let scale = self.scale - places;
        let digits = self.digits.trim_start_matches('0');
        let int_digits: &str = if scale <= 0 {
            digits
        } else if (scale as usize) >= digits.len() {
            ""
        } else {
            &digits[..digits.len() - scale as usize]
        };
        let mut v: i128 = 0;
        for b in int_digits.bytes() {
            v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        if scale < 0 {
            for _ in 0..(-scale) {
                v = v.checked_mul(10)?;
            }
        }
        Some(if self.negative { -v } else { v })
    }

    /// The value times 10^`places` as the nearest f64 (parsed from the
    /// shifted decimal text, so no binary rounding happens in between).
    fn shifted_f64(&self, places: i64) -> Option<f64> {
        let scale = self.scale - places;
        let text = format!(
            "{}{}e{}",
            if self.negative { "-" } else { "" },
            if self.digits.is_empty() {
                "0"
            } else {
                &self.digits
            },
            -scale
        );
        text.parse::<f64>().ok().filter(|f| f.is_finite())
    }
}

/// A non-negative duration, converted to milliseconds. `per_ms_exp` is the
/// power of ten between the field's unit and ms: seconds `3`, ms `0`,
/// µs `-3`, ns `-6`. Negative values are an error: callers handle their
/// format's sentinels (Kong's `-1`) before calling.
pub fn opt_duration_ms(v: Option<Field<'_>>, field: &str, per_ms_exp: i64) -> FieldResult<f64> {
    let Some(num) = numeric_text(v, field)? else {
        return Ok(None);
    };
    // Fast path: a non-negative decimal already in ms (`12`, `3.25`) reads
    // as the nearest f64 directly, the same f64 the exact path computes.
    if per_ms_exp == 0
        && let Some(ms) = plain_decimal_f64(num.text())
    {
        return Ok(Some(ms));
    }
    duration_ms(&num.decimal(field)?, field, per_ms_exp).map(Some)
}

/// [`opt_duration_ms`] for text that is one entry of a list the caller
/// split (NGINX's `0.1, 0.2`): text that is not a number is a wrong type.
pub fn duration_ms_text(text: &str, field: &str, per_ms_exp: i64) -> Result<f64, FieldError> {
    let dec = parse_decimal(text).ok_or_else(|| {
        let quoted = serde_json::to_string(text).unwrap_or_default();
        FieldError::wrong_type(field, "a number", Field::from_valid(&quoted))
    })?;
    duration_ms(&dec, field, per_ms_exp)
}

fn duration_ms(dec: &Decimal, field: &str, per_ms_exp: i64) -> Result<f64, FieldError> {
    let ms = dec
        .shifted_f64(per_ms_exp)
        .ok_or_else(|| FieldError::invalid(field, "is not a finite number"))?;
    if dec.negative && ms != 0.0 {
        return Err(FieldError::invalid(field, format!("is negative ({ms} ms)")));
    }
    Ok(ms.abs())
}

/// Like [`opt_duration_ms`] but `-1` (and any negative) means "none", as in
/// Kong's `latencies.proxy` and Tyk's `content_length`.
pub fn opt_duration_ms_neg_is_none(
    v: Option<Field<'_>>,
    field: &str,
    per_ms_exp: i64,
) -> FieldResult<f64> {
    if let Some(num) = numeric_text(v, field)?
        && num.text().starts_with('-')
    {
        return Ok(None);
    }
    opt_duration_ms(v, field, per_ms_exp)
}

/// A signed integer field (quoted or not). Fractions are an error.
pub fn opt_i64(v: Option<Field<'_>>, field: &str) -> FieldResult<i64> {
    let Some(num) = numeric_text(v, field)? else {
        return Ok(None);
    };
    // Fast path: plain digits (most sizes and statuses) need no decimal.
    if let Some(n) = plain_i64(num.text()) {
        return Ok(Some(n));
    }
    let dec = num.decimal(field)?;
    if !dec.is_integral() {
        return Err(FieldError::invalid(field, "should be a whole number"));
    }
    let int = dec
        .shifted_trunc(0)
        .ok_or_else(|| FieldError::invalid(field, "is out of range"))?;
    i64::try_from(int)
        .map(Some)
        .map_err(|_| FieldError::invalid(field, "is out of range"))
}

/// A byte count: a non-negative integer. `negative_is_none` treats any
/// negative value as absent (the `-1` sentinel some formats use).
pub fn opt_bytes(v: Option<Field<'_>>, field: &str, negative_is_none: bool) -> FieldResult<u64> {
    match opt_i64(v, field)? {
        None => Ok(None),
        Some(n) if n < 0 && negative_is_none => Ok(None),
        Some(n) if n < 0 => Err(FieldError::invalid(field, format!("is negative ({n})"))),
        Some(n) => Ok(Some(n as u64)),
    }
}

/// An HTTP status: an integer 0..=999 (0 is Envoy's "no response sent").
pub fn opt_status(v: Option<Field<'_>>, field: &str) -> FieldResult<u16> {
    match opt_i64(v, field)? {
        None => Ok(None),
        Some(n) if (0..=999).contains(&n) => Ok(Some(n as u16)),
        Some(n) => Err(FieldError::invalid(
            field,
            format!("is not an HTTP status ({n})"),
        )),
    }
}

fn check_range(ms: i128, field: &str) -> Result<EpochMillis, FieldError> {
    if ms < i128::from(EpochMillis::MIN.0) || ms > i128::from(EpochMillis::MAX.0) {
        return Err(FieldError::invalid(
            field,
            "is outside 1970-01-01..9999-12-31",
        ));
    }
    Ok(EpochMillis(ms as i64))
}

/// An epoch timestamp in units of 10^-`unit_exp` seconds (`3` for epoch ms,
/// `0` for epoch seconds), truncated to whole milliseconds.
pub fn opt_epoch(v: Option<Field<'_>>, field: &str, unit_exp: i64) -> FieldResult<EpochMillis> {
    let Some(num) = numeric_text(v, field)? else {
        return Ok(None);
    };
    let dec = num.decimal(field)?;
    if dec.negative && dec.digits.bytes().any(|b| b != b'0') {
        return Err(FieldError::invalid(field, "is before 1970-01-01"));
    }
    let ms = dec
        .shifted_trunc(3 - unit_exp)
        .ok_or_else(|| FieldError::invalid(field, "is out of range"))?;
    check_range(ms, field).map(Some)
}

/// An RFC 3339 timestamp with any offset, truncated to whole milliseconds.
pub fn opt_rfc3339(v: Option<Field<'_>>, field: &str) -> FieldResult<EpochMillis> {
    if let Some(n) = v
        && n.kind() == Kind::Number
    {
        return Err(FieldError::wrong_type(
            field,
            "an RFC 3339 timestamp string",
            n,
        ));
    }
    let Some(text) = opt_string(v, field)? else {
        return Ok(None);
    };
    parse_rfc3339(&text, field).map(Some)
}

/// Parses RFC 3339 text (any offset) to epoch milliseconds, truncating.
pub fn parse_rfc3339(text: &str, field: &str) -> Result<EpochMillis, FieldError> {
    let dt = DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        FieldError::invalid(
            field,
            format!("is not an RFC 3339 timestamp ({text:?}: {e})"),
        )
    })?;
    check_range(i128::from(dt.timestamp_millis()), field)
}

/// Parses the common-log-format time `10/Oct/2000:13:55:36 -0700`.
pub fn parse_clf_time(text: &str, field: &str) -> Result<EpochMillis, FieldError> {
    let dt = DateTime::parse_from_str(text.trim(), "%d/%b/%Y:%H:%M:%S %z").map_err(|e| {
        FieldError::invalid(
            field,
            format!("is not a log time like 10/Oct/2000:13:55:36 -0700 ({text:?}: {e})"),
        )
    })?;
    check_range(i128::from(dt.timestamp_millis()), field)
}

/// Normalises a client address: strips a port and IPv6 brackets
/// (`[2001:db8::1]:443` → `2001:db8::1`, `10.0.0.1:5555` → `10.0.0.1`).
/// Text that is not an address (a unix socket path, a hostname, a
/// zone-scoped IPv6 such as `fe80::1%eth0`) is kept rather than lost, without
/// brackets and without a `:port`.
pub fn client_ip(text: &str) -> Option<String> {
    // Each step only shortens the text or canonicalises an address, so
    // repeating it to a fixed point terminates, and the result is stable:
    // normalising an already normalised value changes nothing (the canonical
    // round trip relies on that).
    //
    // The common case first: a bare address. An IPv4 address that parses
    // prints back as written (the parser refuses leading zeros), so it is
    // kept without formatting; IPv6 is printed in its canonical form. Either
    // is already a fixed point.
    let t = text.trim();
    match t.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => return Some(t.to_string()),
        Ok(ip @ IpAddr::V6(_)) => return Some(ip.to_string()),
        Err(_) => {}
    }
    let mut current = client_ip_step(text)?;
    for _ in 0..16 {
        let next = client_ip_step(&current)?;
        if next == current {
            break;
        }
        current = next;
    }
    Some(current)
}

fn client_ip_step(text: &str) -> Option<String> {
    let t = text.trim();
    if is_absent_str(t) {
        return None;
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    if let Ok(sa) = t.parse::<SocketAddr>() {
        return Some(sa.ip().to_string());
    }
    // `[addr]` or `[addr]:port` where addr does not parse (a zone id such
    // as `fe80::1%eth0`): keep what is between the brackets.
    if let Some(rest) = t.strip_prefix('[')
        && let Some(end) = rest.find(']')
    {
        let inner = rest[..end].trim();
        return match inner.parse::<IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) if is_absent_str(inner) => None,
            Err(_) => Some(inner.to_string()),
        };
    }
    // `host:port` with one colon (IPv6 has several): drop the port.
    if let Some((host, port)) = t.rsplit_once(':')
        && !host.contains(':')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(host.to_string()).filter(|h| !is_absent_str(h));
    }
    // Never keep a stray bracket (`[::1` cut short).
    Some(t.replace(['[', ']'], "").trim().to_string()).filter(|h| !is_absent_str(h))
}

/// An address field read through [`client_ip`].
pub fn opt_client_ip(v: Option<Field<'_>>, field: &str) -> FieldResult<String> {
    Ok(opt_string(v, field)?.and_then(|s| client_ip(&s)))
}

/// The header that carries an event's amount (see [`opt_amount`]).
pub const AMOUNT_HEADER: &str = "x-tollgate-amount";

/// Most decimal places an amount may have: what the lake's
/// `DECIMAL(38, 9)` column holds exactly.
pub const AMOUNT_MAX_SCALE: usize = 9;

/// Most digits before the point: amounts are below 10^15, so a day's sum
/// of them stays exact in billing's 96-bit decimals.
pub const AMOUNT_MAX_INT_DIGITS: usize = 15;

/// A money amount: plain decimal text (`12.50`, as a JSON number or a
/// string), 0 or more, at most [`AMOUNT_MAX_SCALE`] decimal places (extra
/// trailing zeros are fine), below 10^15, no exponent. `null`, `""` and
/// `"-"` are absent. Anything else is `invalid_value` (or `wrong_type`):
/// an amount is money, so a record whose amount cannot be read is
/// quarantined, never kept without it.
pub fn opt_amount(v: Option<Field<'_>>, field: &str) -> FieldResult<rust_decimal::Decimal> {
    let Some(num) = numeric_text(v, field)? else {
        return Ok(None);
    };
    parse_amount(num.text(), field).map(Some)
}

fn parse_amount(text: &str, field: &str) -> Result<rust_decimal::Decimal, FieldError> {
    let bad = |why: &str| FieldError::invalid(field, format!("is {text:?}: {why}"));
    if text.starts_with('-') {
        return Err(bad("an amount is 0 or more"));
    }
    if text.contains(['e', 'E']) {
        return Err(bad(
            "write the amount without an exponent (1500, not 1.5e3)",
        ));
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && frac.is_empty())
    {
        return Err(bad("not a decimal amount like 12.50"));
    }
    let frac = match frac.len() > AMOUNT_MAX_SCALE {
        true => frac.trim_end_matches('0'),
        false => frac,
    };
    if frac.len() > AMOUNT_MAX_SCALE {
        return Err(bad("more than 9 decimal places"));
    }
    let int = int.trim_start_matches('0');
    if int.len() > AMOUNT_MAX_INT_DIGITS {
        return Err(bad("out of range (amounts are below 10^15)"));
    }
    // At most 24 digits: fits the 96-bit mantissa exactly.
    let mantissa = int
        .bytes()
        .chain(frac.bytes())
        .fold(0i128, |n, b| n * 10 + i128::from(b - b'0'));
    Ok(rust_decimal::Decimal::from_i128_with_scale(
        mantissa,
        frac.len() as u32,
    ))
}

/// The amount header ([`AMOUNT_HEADER`], matched case-insensitively) of the
/// logged header objects at `response` and `request` (Kong's and APISIX's
/// `response.headers`, `request.headers`): the response's when it has one,
/// since the upstream knows the amount once it has handled the call.
///
/// Cheap when there is no such header, which is nearly always: the
/// header objects stay unparsed text, searched for the name with `memchr`
/// (no allocation); only a text that holds the name is parsed.
pub fn header_amount(
    o: &Obj<'_>,
    response: &[&str],
    request: &[&str],
) -> FieldResult<rust_decimal::Decimal> {
    for path in [response, request] {
        let Some((v, key)) = header(o, path, AMOUNT_HEADER) else {
            continue;
        };
        let field = format!("{}.{key}", path.join("."));
        if v.kind() == Kind::Array {
            return Err(FieldError::invalid(
                &field,
                "is sent more than once; send one amount per call",
            ));
        }
        if let Some(amount) = opt_amount(Some(v), &field)? {
            return Ok(Some(amount));
        }
    }
    Ok(None)
}

/// The value of header `name` (lower case) in the header object at `path`,
/// with the key as written; the last one when it is repeated in any case.
fn header<'a>(o: &Obj<'a>, path: &[&str], name: &str) -> Option<(Field<'a>, String)> {
    let headers = get(o, path)?;
    if headers.kind() != Kind::Object || !contains_ignore_case(headers.raw(), name) {
        return None;
    }
    let obj = headers.object()?;
    let key = obj.keys().filter(|k| k.eq_ignore_ascii_case(name)).last()?;
    let key = key.to_string();
    obj.get(&key).map(|v| (v, key))
}

/// Whether `hay` contains `needle` (ASCII, lower case) in any case. The
/// candidates are found with `memchr` on the first letter in both cases.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return true;
    };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), hay).any(|i| {
        hay.get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// Splits a request target into (path, query): the query is what follows
/// the first `?`, without it; a bare `?` gives `Some("")`. Percent-encoding
/// is kept. An absolute URL (`http://host/p?q`) is reduced to its path.
pub fn split_target(target: &str) -> (Option<String>, Option<String>) {
    let mut t = target;
    if let Some(rest) = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))
    {
        t = match rest.find(['/', '?']) {
            Some(i) => &rest[i..],
            None => "/",
        };
    }
    let path = |p: &str| Some(p.to_string()).filter(|p| !is_absent_str(p));
    match t.find('?') {
        // A bare `?` keeps an empty query; `-` is absence, as everywhere.
        Some(i) => (
            path(&t[..i]),
            Some(t[i + 1..].to_string()).filter(|q| q.trim() != "-"),
        ),
        None => (path(t), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(text: &str) -> Option<Field<'_>> {
        Some(Field::from_valid(text))
    }

    #[test]
    fn seconds_convert_exactly() {
        assert_eq!(
            opt_duration_ms(j(r#""0.123""#), "f", 3).unwrap(),
            Some(123.0)
        );
        assert_eq!(opt_duration_ms(j("0.1"), "f", 3).unwrap(), Some(100.0));
        assert_eq!(
            opt_duration_ms(j("1234567"), "f", -6).unwrap(),
            Some(1.234567)
        );
    }

    #[test]
    fn epoch_seconds_with_fraction_is_exact() {
        assert_eq!(
            opt_epoch(j("1718111045.123"), "msec", 0).unwrap(),
            Some(EpochMillis(1_718_111_045_123))
        );
        assert_eq!(
            opt_epoch(j(r#""1718111045.1239""#), "msec", 0).unwrap(),
            Some(EpochMillis(1_718_111_045_123))
        );
        assert_eq!(
            opt_epoch(j("1602211788041.7"), "start_time", 3).unwrap(),
            Some(EpochMillis(1_602_211_788_041))
        );
    }

    #[test]
    fn fast_paths_agree_with_the_exact_decimal() {
        for text in [
            "0",
            "7",
            "0012",
            "999999999999999999",
            "3.25",
            ".5",
            "5.",
            "0.1",
            "123456.789012345678901",
        ] {
            let dec = parse_decimal(text).unwrap();
            if let Some(n) = plain_i64(text) {
                assert_eq!(Some(i128::from(n)), dec.shifted_trunc(0), "{text}");
            }
            let fast = plain_decimal_f64(text).unwrap();
            assert_eq!(Some(fast), dec.shifted_f64(0), "{text}");
        }
        assert_eq!(plain_i64("1234567890123456789"), None);
        assert_eq!(plain_decimal_f64("1e3"), None);
        assert_eq!(plain_decimal_f64("-1"), None);
        assert_eq!(plain_decimal_f64("."), None);
    }

    #[test]
    fn unquoted_numbers_are_exact_beyond_f64() {
        // 17 significant digits: an f64 would read …202.
        assert_eq!(
            opt_epoch(j("1718111046201.9999"), "start_time", 3).unwrap(),
            Some(EpochMillis(1_718_111_046_201))
        );
        assert_eq!(
            opt_string(j("1.50"), "id").unwrap().as_deref(),
            Some("1.50")
        );
    }

    #[test]
    fn absence_spellings_are_none() {
        for v in ["null", r#""""#, r#""-""#, r#"" - ""#] {
            assert_eq!(opt_string(j(v), "f").unwrap(), None);
            assert_eq!(opt_i64(j(v), "f").unwrap(), None);
            assert_eq!(opt_duration_ms(j(v), "f", 0).unwrap(), None);
        }
        assert_eq!(opt_string(None, "f").unwrap(), None);
    }

    #[test]
    fn wrong_types_and_bad_values_are_errors() {
        let e = opt_i64(j(r#"{"a": 1}"#), "status").unwrap_err();
        assert_eq!(e.reason, RejectReason::WrongType);
        assert!(e.message.contains("`status`"));
        let e = opt_duration_ms(j("-5"), "latency", 0).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidValue);
        let e = opt_duration_ms(j(r#""NaN""#), "latency", 0).unwrap_err();
        assert_eq!(e.reason, RejectReason::WrongType);
        let e = opt_status(j(r#""two hundred""#), "status").unwrap_err();
        assert_eq!(e.reason, RejectReason::WrongType);
        assert!(e.message.contains("two hundred"));
        let e = opt_status(j("1000"), "status").unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidValue);
        let e = opt_i64(j(r#""12.5""#), "size").unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidValue);
        assert_eq!(opt_i64(j("12.0"), "size").unwrap(), Some(12));
        let e = opt_epoch(j("-1"), "ts", 3).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidValue);
        let e = opt_epoch(j(r#""1e30""#), "ts", 3).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidValue);
    }

    #[test]
    fn bare_addresses_are_kept_or_made_canonical() {
        assert_eq!(client_ip(" 203.0.113.9 ").as_deref(), Some("203.0.113.9"));
        assert_eq!(client_ip("2001:DB8:0:0::1").as_deref(), Some("2001:db8::1"));
        // Leading zeros are not an IPv4 address to Rust: kept as text.
        assert_eq!(client_ip("010.0.0.1").as_deref(), Some("010.0.0.1"));
    }

    #[test]
    fn addresses_lose_port_and_brackets() {
        assert_eq!(client_ip("10.0.0.1:5555").as_deref(), Some("10.0.0.1"));
        assert_eq!(
            client_ip("[2001:db8::1]:443").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(client_ip("[2001:DB8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(client_ip("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(client_ip("-"), None);
        assert_eq!(client_ip("unix:/tmp/s").as_deref(), Some("unix:/tmp/s"));
        assert_eq!(
            client_ip("[fe80::1%eth0]:443").as_deref(),
            Some("fe80::1%eth0")
        );
        assert_eq!(client_ip("[abc]").as_deref(), Some("abc"));
        assert_eq!(client_ip("gw.local:8080").as_deref(), Some("gw.local"));
        // Found by the fuzzer: stray brackets around other junk.
        let odd = "[\r\r:17x\":1.2.7";
        let once = client_ip(odd).unwrap();
        assert_eq!(client_ip(&once).as_deref(), Some(once.as_str()));
    }

    #[test]
    fn targets_split_at_first_question_mark() {
        assert_eq!(
            split_target("/a%20b?x=1?y"),
            (Some("/a%20b".into()), Some("x=1?y".into()))
        );
        assert_eq!(
            split_target("/a?"),
            (Some("/a".into()), Some(String::new()))
        );
        assert_eq!(split_target("/a"), (Some("/a".into()), None));
        assert_eq!(split_target("-?x"), (None, Some("x".into())));
        assert_eq!(split_target("/a?-"), (Some("/a".into()), None));
        assert_eq!(
            split_target("http://h:8000/get?x=1"),
            (Some("/get".into()), Some("x=1".into()))
        );
    }

    #[test]
    fn clf_time_parses_with_offset() {
        assert_eq!(
            parse_clf_time("10/Oct/2000:13:55:36 -0700", "t").unwrap(),
            EpochMillis(971_211_336_000)
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn client_ip_is_idempotent(s in "[\\[\\]:0-9a-f. \\r%-]{0,24}|\\PC{0,24}") {
            if let Some(once) = client_ip(&s) {
                prop_assert!(!once.contains('[') && !once.contains(']'));
                prop_assert_eq!(client_ip(&once), Some(once.clone()));
            }
        }

        #[test]
        fn split_target_never_yields_dash(s in "[-/?a-z ]{0,12}") {
            let (p, q) = split_target(&s);
            prop_assert_ne!(p.as_deref(), Some("-"));
            prop_assert_ne!(q.as_deref(), Some("-"));
        }
    }
}
