//! Which of a route's listed paths a request matched: the `path_template`
//! of gateways that log the matched route's whole path list (Kong's
//! `route.paths`, APISIX's `route.uri` / `route.uris`) but not which entry
//! matched.
//!
//! The answer is the entry the gateway's own router would have picked for
//! the logged request path, re-run here; when no entry matches (the path
//! was rewritten, or an entry uses syntax this matcher does not speak) the
//! template stays null rather than guessed. Entries are returned exactly as
//! written in the route, regex and all.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

/// Kong's rule (the `traditional_compatible` router, Kong 3.x):
///
/// 1. Regex paths (written with a leading `~`) are tried first, in the order
///    listed. Kong anchors them at the start of the path (`~/v1/x` is
///    `^/v1/x`), so this does too; the end is anchored only if the regex
///    says `$`.
/// 2. Otherwise the longest plain path that is a string prefix of the
///    request path (Kong's prefix match is by characters, not segments:
///    `/v1/user` matches `/v1/users`).
///
/// Kong matches against the normalized path; a logged path with
/// percent-escapes is tried as logged and then percent-decoded.
pub(crate) fn kong<'a>(paths: &[&'a str], request_path: &str) -> Option<&'a str> {
    let decoded = percent_decoded(request_path);
    let candidates = std::iter::once(request_path).chain(decoded.as_deref());
    for path in candidates {
        let regex_hit = paths.iter().copied().find(|p| {
            p.strip_prefix('~')
                .is_some_and(|re| with_regex(re, |r| r.is_some_and(|r| r.is_match(path))))
        });
        if regex_hit.is_some() {
            return regex_hit;
        }
        let prefix_hit = paths
            .iter()
            .copied()
            .filter(|p| !p.starts_with('~') && path.starts_with(*p))
            .max_by_key(|p| p.len());
        if prefix_hit.is_some() {
            return prefix_hit;
        }
    }
    None
}

/// APISIX's rule (its radix-tree router, `radixtree_uri`):
///
/// 1. An entry without `*` or `:` that equals the path (exact match).
/// 2. Otherwise the entries with parameters (`/users/:id` matches one
///    segment) or a wildcard (`/v1/*` or `/files/*name`, the rest of the
///    path), the one with the longest literal text before its first
///    parameter or wildcard winning; ties go to the first listed.
pub(crate) fn apisix<'a>(uris: &[&'a str], request_path: &str) -> Option<&'a str> {
    let is_pattern = |u: &str| u.contains('*') || u.contains(':');
    if let Some(exact) = uris
        .iter()
        .copied()
        .find(|u| !is_pattern(u) && *u == request_path)
    {
        return Some(exact);
    }
    let literal_len = |u: &str| u.find(['*', ':']).unwrap_or(u.len());
    let mut best: Option<&'a str> = None;
    for u in uris.iter().copied().filter(|u| is_pattern(u)) {
        if apisix_pattern_matches(u, request_path)
            && best.is_none_or(|b| literal_len(u) > literal_len(b))
        {
            best = Some(u);
        }
    }
    best
}

/// `/users/:id/orders` against `/users/42/orders`; `*` (alone or named) at
/// the start of a segment takes the rest of the path, and a `*` ending a
/// literal segment (`/v1*`) is a prefix.
fn apisix_pattern_matches(pattern: &str, path: &str) -> bool {
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return true,
            (Some(p), _) if p.starts_with('*') => return true,
            (Some(p), Some(s)) if p.ends_with('*') => {
                return s.starts_with(&p[..p.len() - 1]);
            }
            (Some(p), Some(s)) if p.starts_with(':') => {
                if s.is_empty() {
                    return false;
                }
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

/// A route's compiled regexes, kept per thread: a route's path list is the
/// same on every record of that route. Bounded, since the patterns come
/// from the records; past the bound the cache starts over.
const REGEX_CACHE_ENTRIES: usize = 256;

/// The compiled size a route regex may take; a larger one is treated as not
/// matching, not compiled at any cost.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

thread_local! {
    static REGEXES: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// Runs `f` on the anchored regex for `pattern`, or on `None` when the
/// pattern is not a regex this crate can run (PCRE look-arounds, say).
fn with_regex<T>(pattern: &str, f: impl FnOnce(Option<&Regex>) -> T) -> T {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= REGEX_CACHE_ENTRIES {
                cache.clear();
            }
            let compiled = RegexBuilder::new(&format!("^(?:{pattern})"))
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .ok();
            cache.insert(pattern.to_owned(), compiled);
        }
        f(cache.get(pattern).and_then(Option::as_ref))
    })
}

/// The path with `%XX` escapes decoded, when it has any and the result is
/// UTF-8.
fn percent_decoded(path: &str) -> Option<String> {
    if !path.contains('%') {
        return None;
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KONG_PATHS: [&str; 4] = [
        "/v1/reports",
        "/v1/reports/daily",
        "~/v1/reports/(?<kind>[a-z]+)$",
        "/v1",
    ];

    #[test]
    fn kong_regex_paths_win_then_the_longest_prefix() {
        assert_eq!(
            kong(&KONG_PATHS, "/v1/reports/weekly"),
            Some("~/v1/reports/(?<kind>[a-z]+)$")
        );
        // The regex ends with `$`: a deeper path falls to the prefixes.
        assert_eq!(
            kong(&KONG_PATHS, "/v1/reports/daily/2024"),
            Some("/v1/reports/daily")
        );
        assert_eq!(kong(&KONG_PATHS, "/v1/reports"), Some("/v1/reports"));
        assert_eq!(kong(&KONG_PATHS, "/v1/users"), Some("/v1"));
        assert_eq!(kong(&KONG_PATHS, "/v2/users"), None);
    }

    #[test]
    fn kong_regexes_are_anchored_at_the_start_only() {
        let paths = ["~/items/\\d+"];
        assert_eq!(kong(&paths, "/items/12/extra"), Some("~/items/\\d+"));
        assert_eq!(kong(&paths, "/v1/items/12"), None);
    }

    #[test]
    fn kong_prefixes_match_by_characters_and_after_decoding() {
        assert_eq!(kong(&["/v1/user"], "/v1/users"), Some("/v1/user"));
        assert_eq!(kong(&["/caf\u{e9}"], "/caf%C3%A9/menu"), Some("/caf\u{e9}"));
    }

    #[test]
    fn an_unrunnable_kong_regex_does_not_match() {
        // A PCRE look-ahead: not this crate's syntax, so no guess is made.
        assert_eq!(kong(&["~/a(?=b)"], "/ab"), None);
        assert_eq!(kong(&["~/a(?=b)", "/a"], "/ab"), Some("/a"));
    }

    #[test]
    fn apisix_exact_then_the_most_specific_pattern() {
        let uris = ["/users/*", "/users/:id", "/users/me", "/users/:id/orders"];
        assert_eq!(apisix(&uris, "/users/me"), Some("/users/me"));
        assert_eq!(apisix(&uris, "/users/42"), Some("/users/*"));
        assert_eq!(apisix(&uris, "/users/42/orders"), Some("/users/*"));
        let uris = ["/users/:id/orders", "/users/:id", "/v1*"];
        assert_eq!(apisix(&uris, "/users/42/orders"), Some("/users/:id/orders"));
        assert_eq!(apisix(&uris, "/users/42"), Some("/users/:id"));
        assert_eq!(apisix(&uris, "/users/"), None);
        assert_eq!(apisix(&uris, "/v1beta/x"), Some("/v1*"));
        assert_eq!(apisix(&uris, "/other"), None);
    }
}
