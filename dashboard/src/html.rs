//! Server-rendered HTML: the page frame (navigation by role), URL
//! encoding, and number formats shared by every page.
//!
//! Pages are [`maud`] templates: markup written in Rust, checked when the
//! crate compiles, and every value spliced in (`(value)`) is escaped for
//! text and double-quoted attributes unless it is wrapped in
//! [`PreEscaped`]. The only `PreEscaped` values are markup another template
//! produced. URLs still pass through [`query_value`] / [`path_segment`],
//! which encode for the URL before the template escapes for HTML.
//!
//! Why maud over askama: the pages are built from small functions (a
//! table, a range form, a chart) that take Rust values and return markup;
//! with maud those stay ordinary functions returning [`Markup`], type-checked
//! with the rest, with no template files or context structs beside them.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};

use crate::auth::{Caller, Via};
use crate::error::ApiError;
use crate::state::AppState;

/// Encodes a query-string value (`application/x-www-form-urlencoded`).
pub fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Encodes one path segment: everything but RFC 3986's unreserved
/// characters is percent-encoded, so `/` and `?` in a consumer id are safe.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `12,345,678`.
pub fn int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A latency in ms with 3 significant-ish digits, or `–`.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 100.0 => format!("{v:.0} ms"),
        Some(v) if v >= 10.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.2} ms"),
    }
}

/// A rate (0..=1) as a percentage with two decimals.
pub fn pct(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

/// The number a sortable cell sorts by (`data-sort`): latency `None`
/// sorts below every value.
pub fn sort_key(v: Option<f64>) -> String {
    v.map_or("-1".into(), |x| format!("{x}"))
}

/// A whole page: header with the navigation the caller may use, then
/// `body`. Status 200; callers change it for errors.
pub fn page(
    state: &AppState,
    caller: Option<&Caller>,
    active: &str,
    title: &str,
    body: Markup,
) -> Response {
    let doc = html! {
        (PreEscaped("<!doctype html>\n"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tollgate" }
                link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header class="top" {
                    a class="brand" href="/" { "Tollgate" }
                    nav {
                        @if let Some(c) = caller {
                            @for link in state.nav.iter().filter(|l| c.access.allows(l.role)) {
                                a href=(link.href) aria-current=[(link.href == active).then_some("page")] { (link.label) }
                            }
                        }
                    }
                    @if let Some(c) = caller {
                        @let roles = c.access.roles().iter().map(|r| r.name()).collect::<Vec<_>>().join(", ");
                        @match c.via {
                            Via::Open => span class="who" title="No tokens configured: loopback only" { "open server · " (roles) },
                            Via::Bearer => span class="who" { (roles) },
                            Via::Session => {
                                span class="who" { (roles) }
                                form method="post" action="/logout" class="logout" { button type="submit" { "Log out" } }
                            },
                        }
                    }
                }
                main { (body) }
                footer { "Times are UTC. Tollgate " (env!("CARGO_PKG_VERSION")) "." }
            }
        }
        "\n"
    };
    html_response(doc.into_string())
}

/// An HTML response with the page security headers: assets only from this
/// server, no framing, no referrer.
pub fn html_response(doc: String) -> Response {
    let mut res = (StatusCode::OK, doc).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// An error as a page, with the error's status.
pub fn error_page(state: &AppState, caller: Option<&Caller>, e: &ApiError) -> Response {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        s if s.is_client_error() => "Cannot show this",
        _ => "Something went wrong",
    };
    let body = html! {
        section class="card narrow" {
            h1 { (title) }
            p class="error" role="alert" data-code=(e.code) { (e.message) }
            p { a href="/" { "Back to the start" } }
        }
    };
    let mut res = page(state, caller, "", title, body);
    *res.status_mut() = e.status;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(path_segment("a b/c?d~e"), "a%20b%2Fc%3Fd~e");
        assert_eq!(query_value("a b&c=d"), "a+b%26c%3Dd");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(int(-1000), "-1,000");
        assert_eq!(int(999), "999");
        assert_eq!(pct(0.0123), "1.23 %");
        assert_eq!(ms(Some(123.4)), "123 ms");
        assert_eq!(ms(Some(12.34)), "12.3 ms");
        assert_eq!(ms(None), "–");
    }
}
