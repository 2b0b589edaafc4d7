//! Roles: who is calling, and may they use this route.
//!
//! A caller proves a role with `Authorization: Bearer <token>` or with the
//! session cookie the login form sets. Tokens are kept only as SHA-256
//! digests and every check compares against all of them in constant time;
//! the cookie holds a random session id (never the token), looked up in
//! memory, so a restart logs everyone out. Nothing here logs a token.
//!
//! [`guard`] is the one place a route's role is enforced: the router
//! builder puts it in front of every route of an area (see
//! [`crate::app::Area`]), so a handler cannot forget it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::{Role, ServeConfig, TokenSource};
use crate::error::{ApiError, ServeError, code};
use crate::html;
use crate::state::{AppState, Clock};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tollgate_session";

/// Tokens shorter than this are refused at start-up: a token is the only
/// thing between the network and the data.
pub const MIN_TOKEN_LEN: usize = 16;

/// Most sessions held at once; past it the one closest to expiry goes.
const MAX_SESSIONS: usize = 10_000;

/// A set of roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access(u8);

fn bit(r: Role) -> u8 {
    match r {
        Role::Viewer => 1,
        Role::Finance => 2,
        Role::Analyst => 4,
        Role::Admin => 8,
    }
}

impl Access {
    /// No role at all.
    pub const NONE: Access = Access(0);

    /// Just `role`.
    pub fn of(role: Role) -> Access {
        Access(bit(role))
    }

    /// These roles and `role`.
    pub fn with(self, role: Role) -> Access {
        Access(self.0 | bit(role))
    }

    /// Whether a route needing `role` is allowed (`admin` allows all).
    pub fn allows(self, role: Role) -> bool {
        self.0 & (bit(role) | bit(Role::Admin)) != 0
    }

    /// The roles held, in [`Role::ALL`] order.
    pub fn roles(self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| self.0 & bit(*r) != 0)
            .collect()
    }

    /// Whether no role is held.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// How the caller was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The server runs without tokens (loopback only): everyone is admin.
    Open,
    /// `Authorization: Bearer`.
    Bearer,
    /// The login form's session cookie.
    Session,
}

/// The caller of a request that passed [`guard`]: handlers take it as
/// `Extension<Caller>` (to show only the navigation it may use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The roles the caller holds.
    pub access: Access,
    /// How it proved them.
    pub via: Via,
    /// The consumer of a consumer-scoped token (no roles then).
    pub consumer: Option<String>,
}

struct Session {
    access: Access,
    expires: DateTime<Utc>,
}

/// Configured tokens and live sessions.
pub struct Auth {
    /// SHA-256 of each distinct token, with the roles it grants.
    tokens: Vec<([u8; 32], Access)>,
    /// SHA-256 of each consumer-scoped token, with its consumer.
    consumers: Vec<([u8; 32], String)>,
    /// Keyed by SHA-256 of the session id.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    session_ttl: chrono::Duration,
    clock: Arc<dyn Clock>,
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

impl Auth {
    /// Resolves `[serve] tokens` (reading `{ env = … }` entries through
    /// `env`) and checks them: no empty, short or unset token.
    pub fn from_config(
        cfg: &ServeConfig,
        env: &dyn Fn(&str) -> Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Auth, ServeError> {
        let resolve = |what: String, source: &TokenSource| -> Result<[u8; 32], ServeError> {
            let token = match source {
                TokenSource::Literal(t) => t.clone(),
                TokenSource::Env { env: var } => env(var).ok_or_else(|| {
                    ServeError::Config(format!(
                        "{what} reads the environment variable {var}, which is not set; set it or remove the entry"
                    ))
                })?,
            };
            let token = token.trim();
            if token.len() < MIN_TOKEN_LEN {
                return Err(ServeError::Config(format!(
                    "{what} is shorter than {MIN_TOKEN_LEN} characters; use a long random token (e.g. `openssl rand -hex 32`)"
                )));
            }
            Ok(digest(token.as_bytes()))
        };
        let mut by_token: Vec<([u8; 32], Access)> = Vec::new();
        for (role, sources) in &cfg.tokens {
            for (i, source) in sources.iter().enumerate() {
                let d = resolve(format!("tokens.{role}[{i}]"), source)?;
                match by_token.iter_mut().find(|(x, _)| *x == d) {
                    Some((_, access)) => *access = access.with(*role),
                    None => by_token.push((d, Access::of(*role))),
                }
            }
        }
        let mut consumers: Vec<([u8; 32], String)> = Vec::new();
        for (consumer, sources) in &cfg.consumer_tokens {
            for (i, source) in sources.iter().enumerate() {
                let what = format!("consumer_tokens.{consumer:?}[{i}]");
                let d = resolve(what.clone(), source)?;
                // One token, one identity: a token shared with a role or
                // another consumer would make "whose data" ambiguous.
                if by_token.iter().any(|(x, _)| *x == d) || consumers.iter().any(|(x, _)| *x == d) {
                    return Err(ServeError::Config(format!(
                        "{what} is also used by a role or another consumer; give each consumer its own token"
                    )));
                }
                consumers.push((d, consumer.clone()));
            }
        }
        Ok(Auth {
            tokens: by_token,
            consumers,
            sessions: Mutex::new(HashMap::new()),
            session_ttl: chrono::Duration::hours(
                i64::try_from(cfg.session_hours.max(1)).unwrap_or(12),
            ),
            clock,
        })
    }

    /// Whether no token is configured: every caller is admin.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty() && self.consumers.is_empty()
    }

    /// The consumer a consumer-scoped `token` belongs to. Compares with
    /// every consumer token without stopping early, like [`Self::check_token`].
    pub fn check_consumer_token(&self, token: &str) -> Option<&str> {
        let given = digest(token.trim().as_bytes());
        let mut found = u32::MAX;
        for (i, (d, _)) in self.consumers.iter().enumerate() {
            let equal = d.ct_eq(&given);
            found = u32::conditional_select(&found, &(i as u32), equal);
        }
        self.consumers.get(found as usize).map(|(_, c)| c.as_str())
    }

    /// The roles `token` grants ([`Access::NONE`] if none). Compares with
    /// every configured token without stopping early, on fixed-length
    /// digests, so the time taken says nothing about the token.
    pub fn check_token(&self, token: &str) -> Access {
        let given = digest(token.trim().as_bytes());
        let mut granted = 0u8;
        for (d, access) in &self.tokens {
            let equal = d.ct_eq(&given);
            granted |= u8::conditional_select(&0, &access.0, equal);
        }
        Access(granted)
    }

    /// Starts a session for `token`: the cookie value (a random id), or
    /// `None` when the token grants nothing.
    pub fn login(&self, token: &str) -> Option<String> {
        let access = self.check_token(token);
        if access.is_empty() {
            return None;
        }
        let mut raw = [0u8; 32];
        // Without an OS random source no session can be safe: no login.
        getrandom::fill(&mut raw).ok()?;
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let now = self.clock.now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k)
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            digest(id.as_bytes()),
            Session {
                access,
                expires: now + self.session_ttl,
            },
        );
        Some(id)
    }

    /// The roles of a live session ([`Access::NONE`] if unknown or expired).
    pub fn session(&self, id: &str) -> Access {
        let key = digest(id.as_bytes());
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(&key) {
            Some(s) if s.expires > self.clock.now() => s.access,
            _ => Access::NONE,
        }
    }

    /// Ends a session.
    pub fn logout(&self, id: &str) {
        let key = digest(id.as_bytes());
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    /// Seconds a session lasts (the cookie's `Max-Age`).
    pub fn session_secs(&self) -> i64 {
        self.session_ttl.num_seconds()
    }

    /// Who is calling: open mode, a bearer token, or a session cookie. An
    /// `Authorization` header that is present is the only thing looked at.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.is_open() {
            return Ok(Caller {
                access: Access::of(Role::Admin),
                via: Via::Open,
                consumer: None,
            });
        }
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, m);
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().unwrap_or_default();
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(|| unauthorized("use `Authorization: Bearer <token>`"))?;
            let access = self.check_token(token);
            if access.is_empty() {
                return match self.check_consumer_token(token) {
                    Some(c) => Ok(Caller {
                        access: Access::NONE,
                        via: Via::Bearer,
                        consumer: Some(c.to_string()),
                    }),
                    None => Err(unauthorized(
                        "that token is not valid; check [serve] tokens",
                    )),
                };
            }
            return Ok(Caller {
                access,
                via: Via::Bearer,
                consumer: None,
            });
        }
        if let Some(id) = session_cookie(headers) {
            let access = self.session(id);
            if access.is_empty() {
                return Err(unauthorized(
                    "your session has expired; log in again at /login",
                ));
            }
            return Ok(Caller {
                access,
                via: Via::Session,
                consumer: None,
            });
        }
        Err(unauthorized(
            "send `Authorization: Bearer <token>`, or log in at /login",
        ))
    }
}

/// The session id from the `Cookie` header(s), if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v)
}

/// Lets the request through when the caller holds `role`. API routes
/// (`/api/…`) answer 401/403 as JSON; pages send an unknown caller to the
/// login form and show a 403 page to a known one without the role.
pub async fn guard(
    State((state, role)): State<(AppState, Role)>,
    mut req: Request,
    next: Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    match state.auth.caller(req.headers()) {
        Ok(caller) if caller.access.allows(role) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(caller) => {
            let e = ApiError::new(
                StatusCode::FORBIDDEN,
                code::FORBIDDEN,
                format!("this needs the {role} role (or admin); your token does not grant it"),
            );
            if api {
                e.into_response()
            } else {
                html::error_page(&state, Some(&caller), &e)
            }
        }
        Err(e) if api => e.into_response(),
        Err(_) => {
            let here = req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_string();
            Redirect::to(&format!("/login?next={}", html::query_value(&here))).into_response()
        }
    }
}

/// Lets the request through when the caller holds a consumer-scoped
/// token, and hands the handler that consumer: the self-service routes take
/// the consumer from the token, never from the request, so one consumer
/// cannot name another. Role tokens (admin included) are refused here:
/// they have the full routes.
pub async fn consumer_guard(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match state.auth.caller(req.headers()) {
        Ok(caller) if caller.consumer.is_some() => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "/api/self answers consumer-scoped tokens ([serve.consumer_tokens]); role tokens use /api/consumers",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Only local paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `GET /login`: the login form.
#[utoipa::path(
    get,
    path = "/login",
    tags = ["pages", "public"],
    summary = "The login form.",
    security(()),
    params(("next" = Option<String>, Query, description = "A local path to go to after logging in.")),
    responses((status = 200, description = "An HTML page.", content_type = "text/html", body = String))
)]
pub async fn login_form(
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let next = safe_next(form_value(query.unwrap_or_default().as_bytes(), "next").as_deref());
    login_page(&state, &next, None, StatusCode::OK)
}

fn login_page(state: &AppState, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = if state.auth.is_open() {
        format!(
            "<section class=\"card narrow\"><h1>No login needed</h1>\
             <p>This server runs without tokens (loopback only): everyone is admin.</p>\
             <p><a href=\"{}\">Continue</a></p></section>",
            html::esc(next)
        )
    } else {
        let error = error.map_or(String::new(), |e| {
            format!("<p class=\"error\" role=\"alert\">{}</p>", html::esc(e))
        });
        format!(
            "<section class=\"card narrow\"><h1>Log in</h1>{error}\
             <form method=\"post\" action=\"/login\" class=\"login\">\
             <label for=\"token\">Token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <button type=\"submit\">Log in</button></form>\
             <p class=\"muted\">Tokens are set per role in <code>[serve] tokens</code>. \
             API clients send <code>Authorization: Bearer &lt;token&gt;</code> instead.</p></section>",
            html::esc(next)
        )
    };
    let mut res = html::page(state, None, "", "Log in", &body);
    *res.status_mut() = status;
    res
}

/// `POST /login`: checks the token, sets the session cookie, and goes on
/// to `next`. The cookie is `Secure; HttpOnly; SameSite=Strict`.
#[utoipa::path(
    post,
    path = "/login",
    tags = ["pages", "public"],
    summary = "Checks a token and sets the session cookie (Secure; HttpOnly; SameSite=Strict).",
    security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token` (required) and `next`."),
    responses(
        (status = 303, description = "Logged in: redirect to `next`, with `Set-Cookie`."),
        (status = 401, description = "An HTML page: the form again, saying the token is not valid.", content_type = "text/html", body = String),
    )
)]
pub async fn login(State(state): State<AppState>, body: Bytes) -> Response {
    let next = safe_next(form_value(&body, "next").as_deref());
    let token = form_value(&body, "token").unwrap_or_default();
    match state.auth.login(&token) {
        Some(id) => {
            let cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
                state.auth.session_secs()
            );
            let mut res = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        None => {
            // A little friction for guessing; tokens are long anyway.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            login_page(
                &state,
                &next,
                Some("That token is not valid."),
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

/// `POST /logout`: ends the session and clears the cookie.
#[utoipa::path(
    post,
    path = "/logout",
    tags = ["pages", "public"],
    summary = "Ends the session and clears the cookie.",
    security(()),
    responses((status = 303, description = "Redirect to the login form."))
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        state.auth.logout(id);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tollgate_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        ),
    );
    res
}

/// `GET /`: the first page the caller may see, or the login form.
#[utoipa::path(
    get,
    path = "/",
    tags = ["pages", "public"],
    summary = "Redirects to the first page the caller may see, or to the login form.",
    security(()),
    responses((status = 303, description = "Redirect."))
)]
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.auth.caller(&headers) {
        Ok(caller) => match state.nav.iter().find(|l| caller.access.allows(l.role)) {
            Some(link) => Redirect::to(link.href).into_response(),
            None => html::error_page(
                &state,
                Some(&caller),
                &ApiError::new(
                    StatusCode::FORBIDDEN,
                    code::FORBIDDEN,
                    "your token grants no role with a page here",
                ),
            ),
        },
        Err(_) => Redirect::to("/login").into_response(),
    }
}

/// The page wrapper's view of the caller: for pages that every caller may
/// see (login, errors) the caller is looked up without being required.
pub fn optional_caller(state: &AppState, headers: &HeaderMap) -> Option<Caller> {
    state.auth.caller(headers).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SystemClock;

    fn auth(tokens: &[(Role, &str)]) -> Auth {
        let mut cfg = ServeConfig::default();
        for (r, t) in tokens {
            cfg.tokens
                .entry(*r)
                .or_default()
                .push(TokenSource::Literal(t.to_string()));
        }
        Auth::from_config(&cfg, &|_| None, Arc::new(SystemClock)).unwrap()
    }

    #[test]
    fn consumer_tokens_name_one_consumer_and_never_a_role() {
        let mut cfg = ServeConfig::default();
        cfg.tokens.insert(
            Role::Admin,
            vec![TokenSource::Literal("admin-token-0123456789ab".into())],
        );
        for (c, t) in [
            ("acme", "acme-token-0123456789"),
            ("globex", "globex-token-0123456789"),
        ] {
            cfg.consumer_tokens
                .insert(c.into(), vec![TokenSource::Literal(t.into())]);
        }
        let a = Auth::from_config(&cfg, &|_| None, Arc::new(SystemClock)).unwrap();
        assert_eq!(
            a.check_consumer_token("acme-token-0123456789"),
            Some("acme")
        );
        assert_eq!(
            a.check_consumer_token("globex-token-0123456789"),
            Some("globex")
        );
        assert_eq!(a.check_consumer_token("admin-token-0123456789ab"), None);
        assert!(a.check_token("acme-token-0123456789").is_empty());
        assert!(!a.is_open());
        // A login form session never carries a consumer token.
        assert!(a.login("acme-token-0123456789").is_none());

        // One token for two identities, or a short one: refused at start.
        let mut shared = cfg.clone();
        shared.consumer_tokens.insert(
            "initech".into(),
            vec![TokenSource::Literal("admin-token-0123456789ab".into())],
        );
        let err = Auth::from_config(&shared, &|_| None, Arc::new(SystemClock))
            .err()
            .unwrap();
        assert!(err.to_string().contains("its own token"), "{err}");
        let mut short = cfg;
        short
            .consumer_tokens
            .insert("initech".into(), vec![TokenSource::Literal("short".into())]);
        assert!(Auth::from_config(&short, &|_| None, Arc::new(SystemClock)).is_err());
    }

    #[test]
    fn a_token_grants_every_role_it_is_listed_under() {
        let a = auth(&[
            (Role::Viewer, "viewer-token-0123456789"),
            (Role::Analyst, "viewer-token-0123456789"),
            (Role::Admin, "admin-token-0123456789ab"),
        ]);
        let v = a.check_token("viewer-token-0123456789");
        assert!(v.allows(Role::Viewer) && v.allows(Role::Analyst));
        assert!(!v.allows(Role::Finance));
        let admin = a.check_token("admin-token-0123456789ab");
        assert!(Role::ALL.iter().all(|r| admin.allows(*r)));
        assert!(a.check_token("nope").is_empty());
        assert!(a.check_token("").is_empty());
    }

    #[test]
    fn short_empty_and_unset_tokens_stop_the_start() {
        let mut cfg = ServeConfig::default();
        cfg.tokens
            .insert(Role::Viewer, vec![TokenSource::Literal("short".into())]);
        let err = Auth::from_config(&cfg, &|_| None, Arc::new(SystemClock))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("shorter than 16"), "{err}");
        assert!(
            !err.contains("short\""),
            "the token itself is not shown: {err}"
        );
        cfg.tokens.insert(
            Role::Viewer,
            vec![TokenSource::Env {
                env: "TG_TEST_TOKEN".into(),
            }],
        );
        let err = Auth::from_config(&cfg, &|_| None, Arc::new(SystemClock))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("TG_TEST_TOKEN") && err.contains("not set"),
            "{err}"
        );
        let ok = Auth::from_config(
            &cfg,
            &|v| (v == "TG_TEST_TOKEN").then(|| "from-the-environment-42".to_string()),
            Arc::new(SystemClock),
        )
        .unwrap();
        assert!(
            ok.check_token("from-the-environment-42")
                .allows(Role::Viewer)
        );
    }

    #[test]
    fn sessions_are_random_ids_that_expire_and_end() {
        struct Fixed(Mutex<DateTime<Utc>>);
        impl Clock for Fixed {
            fn now(&self) -> DateTime<Utc> {
                *self.0.lock().unwrap()
            }
        }
        let clock = Arc::new(Fixed(Mutex::new(Utc::now())));
        let mut cfg = ServeConfig {
            session_hours: 1,
            ..ServeConfig::default()
        };
        cfg.tokens.insert(
            Role::Finance,
            vec![TokenSource::Literal("finance-token-0123456789".into())],
        );
        let a = Auth::from_config(&cfg, &|_| None, clock.clone()).unwrap();
        assert!(a.login("wrong-token-0123456789").is_none());
        let id = a.login("finance-token-0123456789").unwrap();
        assert_eq!(id.len(), 64);
        assert!(!id.contains("finance"));
        assert_ne!(a.login("finance-token-0123456789").unwrap(), id);
        assert!(a.session(&id).allows(Role::Finance));
        *clock.0.lock().unwrap() += chrono::Duration::minutes(61);
        assert!(a.session(&id).is_empty(), "expired after session_hours");
        let id = a.login("finance-token-0123456789").unwrap();
        a.logout(&id);
        assert!(a.session(&id).is_empty());
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/consumers?x=1")), "/consumers?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
