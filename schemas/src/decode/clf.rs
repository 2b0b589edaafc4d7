//! NGINX / Apache "combined" (and "common") log format text lines.
//!
//! Source of the mapping: Apache's mod_log_config docs ("Common Log
//! Format", "Combined Log Format") and NGINX's predefined `combined`
//! format:
//!
//! ```text
//! 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 200 2326 "http://ref/" "Mozilla/4.08"
//! ```
//!
//! | canonical | field |
//! |---|---|
//! | event_id | derived (no request id in the format) |
//! | ts | `[%t]` (second precision) |
//! | consumer | `%u` (`-` = none) |
//! | method, path, query | from `"%r"`, target split at `?` |
//! | status | `%>s` |
//! | response_bytes | `%b`; Apache defines `-` there as **zero** bytes, so it is 0, not null |
//! | client_ip | `%h` |
//! | latency_ms / upstream_latency_ms | `rt=` / `urt=` key-value tokens after the user agent (a common NGINX extension, seconds); null otherwise |
//!
//! The format has no API, route or request size: those are null.
//!
//! Quoted fields are unescaped: `\"` and `\\` (Apache) and `\xHH` (NGINX
//! writes `"`, `\`, control and non-ASCII bytes so), giving back the bytes
//! the client sent. Text that is not a log line is `not_json`, unless it is
//! JSON after all: a JSON scalar is `unknown_format`, a JSON record sent to
//! a source fixed to `clf` is `wrong_type`.

use super::fields::{self as f, FieldError};
use super::json::Field;
use super::{Decoded, Position};
use crate::event::{AccessEvent, Gateway};
use crate::reject::{Reject, RejectReason};

pub(crate) fn decode_line(text: &str, raw: &[u8], position: Position<'_>, out: &mut Decoded) {
    match parse(text, raw, position) {
        Ok(e) => {
            out.events.push(e);
            // A line is one record: index 0 inside its message.
            out.event_index.push(0);
        }
        Err(e) if e.reason == RejectReason::NotJson => out.rejects.push(not_a_line(text, raw, e)),
        Err(e) => out
            .rejects
            .push(Reject::new(e.reason, format!("clf: {}", e.message), raw)),
    }
}

/// The reject for text that is not a log line. "Neither JSON nor a log
/// line" would be wrong for JSON that merely is not an object (`42`,
/// `"text"`, `null`), and for a JSON record sent to a source whose format
/// is fixed to `clf`: those get their own reasons.
fn not_a_line(text: &str, raw: &[u8], e: FieldError) -> Reject {
    // IgnoredAny walks the value without building it (and without
    // recursing on nesting), so this costs one scan of the text.
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return Reject::new(e.reason, format!("clf: {}", e.message), raw);
    }
    if text.starts_with(['{', '[']) {
        Reject::new(
            RejectReason::WrongType,
            "clf: format clf expects a text log line, got a JSON record; set the source's format to the gateway that wrote it (or auto)",
            raw,
        )
    } else {
        Reject::new(
            RejectReason::UnknownFormat,
            "message is JSON but not an object or an array of objects; no gateway logs that",
            raw,
        )
    }
}

fn not_clf(why: &str) -> FieldError {
    FieldError {
        reason: RejectReason::NotJson,
        message: format!("message is neither JSON nor a combined-log-format line ({why})"),
    }
}

/// A cursor over a log line's space-separated, optionally quoted or
/// bracketed, tokens.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches(' ');
    }

    fn bare(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find(' ').unwrap_or(self.rest.len());
        let (tok, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(tok)
    }

    fn bracketed(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        let inner = self.rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        self.rest = &inner[end + 1..];
        Some(&inner[..end])
    }

    /// A `"..."` token. Escapes are undone: `\"` and `\\` (Apache) and
    /// `\xHH` (NGINX writes `"`, `\`, control and non-ASCII bytes that way;
    /// Apache non-printable bytes), giving back the bytes the client sent,
    /// read as UTF-8 (invalid sequences become U+FFFD). Other backslash
    /// sequences (Apache's `\n`, `\t`) are kept as written.
    fn quoted(&mut self) -> Option<String> {
        self.skip_spaces();
        let inner = self.rest.strip_prefix('"')?;
        let bytes = inner.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => match *bytes.get(i + 1)? {
                    n @ (b'"' | b'\\') => {
                        out.push(n);
                        i += 2;
                    }
                    b'x' => match (hex(bytes.get(i + 2)), hex(bytes.get(i + 3))) {
                        (Some(hi), Some(lo)) => {
                            out.push(hi << 4 | lo);
                            i += 4;
                        }
                        _ => {
                            out.push(b'\\');
                            i += 1;
                        }
                    },
                    _ => {
                        out.push(b'\\');
                        i += 1;
                    }
                },
                b'"' => {
                    self.rest = &inner[i + 1..];
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        None
    }
}

fn hex(b: Option<&u8>) -> Option<u8> {
    char::from(*b?).to_digit(16).map(|d| d as u8)
}

fn parse(text: &str, raw: &[u8], position: Position<'_>) -> Result<AccessEvent, FieldError> {
    let mut t = Tokens { rest: text };
    let host = t.bare().ok_or_else(|| not_clf("no client address"))?;
    let _ident = t.bare().ok_or_else(|| not_clf("no ident field"))?;
    let user = t.bare().ok_or_else(|| not_clf("no user field"))?;
    let time = t.bracketed().ok_or_else(|| not_clf("no [time] field"))?;
    let request = t
        .quoted()
        .ok_or_else(|| not_clf("no quoted request line"))?;
    let status = t.bare().ok_or_else(|| not_clf("no status"))?;
    let bytes = t.bare().ok_or_else(|| not_clf("no size"))?;
    let ts = f::parse_clf_time(time, "time")?;
    let id = super::derive_id(position, 0, raw);
    let mut e = AccessEvent::new(id, ts, Gateway::Clf);
    e.client_ip = f::client_ip(host);
    e.consumer = Some(user.to_string()).filter(|u| !f::is_absent_str(u));
    let (method, target) = super::nginx::split_request_line(&request);
    e.method = method;
    if let Some(target) = target {
        (e.path, e.query) = super::nginx::split_target(&target);
    }
    let status = json_string(status);
    e.status = f::opt_status(Some(Field::from_valid(&status)), "status")?;
    if e.status.is_none() {
        return Err(not_clf("status is `-`"));
    }
    e.response_bytes = if bytes == "-" {
        Some(0)
    } else {
        let bytes = json_string(bytes);
        f::opt_bytes(Some(Field::from_valid(&bytes)), "size", false)?
    };
    // Optional referer and user agent, then key=value extensions.
    let _referer = t.quoted();
    let _agent = t.quoted();
    loop {
        t.skip_spaces();
        let Some(key_end) = t.rest.find(['=', ' ']) else {
            break;
        };
        if !t.rest[key_end..].starts_with('=') {
            t.bare();
            continue;
        }
        let key = &t.rest[..key_end];
        t.rest = &t.rest[key_end + 1..];
        let value = if t.rest.starts_with('"') {
            match t.quoted() {
                Some(v) => v,
                None => break,
            }
        } else {
            t.bare().unwrap_or_default().to_string()
        };
        match key {
            "rt" | "request_time" => {
                e.latency_ms = super::nginx::sum_seconds(&value, key)?;
            }
            "urt" | "upstream_response_time" => {
                e.upstream_latency_ms = super::nginx::sum_seconds(&value, key)?;
            }
            _ => {}
        }
    }
    Ok(e)
}

/// A token of the line as JSON string text, for the shared field readers
/// (which then report it as the string it was).
fn json_string(token: &str) -> String {
    serde_json::to_string(token).unwrap_or_default()
}
