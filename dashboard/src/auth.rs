//! Roles: who is calling, and may they use this route.
//!
//! A caller proves a role with `Authorization: Bearer <token>` or with the
//! session cookie the login form sets. Tokens are kept only as SHA-256
//! digests and every check compares against all of them in constant time;
//! the cookie holds a random session id (never the token), looked up in
//! memory, so a restart logs everyone out. Nothing here logs a token.
//!
//! This module is the bottom of the dashboard's layers: it knows tokens,
//! sessions and roles, not the router or pages. The HTTP side (the login
//! form and [`crate::login::guard`]) sits above it in [`crate::login`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::clock::Clock;
use crate::config::{Role, ServeConfig, TokenSource};
use crate::error::{ApiError, ServeError, code};

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

/// The caller of a request that passed [`crate::login::guard`]: handlers take it as
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

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
}
