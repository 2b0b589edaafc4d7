//! `[serve]`: where the server listens, who may use which area, and the
//! limits that keep one request from taking the machine.
//!
//! Defaults live in [`ServeConfig::default`] and only there. Tokens are
//! checked at start-up ([`crate::auth::Auth::from_config`]): a token
//! variable that is unset, an empty or short token, or an open server on a
//! non-loopback address stop the server before it listens.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A role: what a token lets its holder see. `admin` includes every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Traffic dashboards and the traffic API.
    Viewer,
    /// Invoices and revenue.
    Finance,
    /// The SQL console and `POST /api/sql`.
    Analyst,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Finance, Role::Analyst, Role::Admin];

    /// The name used in the config file and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Finance => "finance",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a token comes from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenSource {
    /// The token itself, written in the config file (keep the file private).
    Literal(String),
    /// `{ env = "NAME" }`: the token is the value of this environment
    /// variable, read once at start-up, so the file can be shared.
    Env {
        /// The variable's name.
        env: String,
    },
}

// Never print a token, even from a `{:?}` of the whole configuration.
impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            TokenSource::Env { env } => f.debug_struct("Env").field("env", env).finish(),
        }
    }
}

/// `[serve]`: the dashboard and HTTP API server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// `host:port` to listen on. The default is loopback only; to serve
    /// other machines, set a non-loopback address *and* tokens (an open
    /// server refuses to start on one), ideally behind a TLS proxy.
    pub address: String,
    /// Tokens per role: `viewer` (traffic), `finance` (invoices), `analyst`
    /// (SQL), `admin` (all). Each entry is the token itself or
    /// `{ env = "VAR" }`. A token listed under several roles has all of
    /// them. With no token at all the server runs open (everyone is admin),
    /// which it allows on a loopback address only.
    pub tokens: BTreeMap<Role, Vec<TokenSource>>,
    /// Consumer-scoped tokens (`[serve.consumer_tokens]`, consumer id →
    /// tokens): each reads only its own consumer's usage, month-to-date
    /// charges and finalized invoices under `/api/self` (what a developer
    /// portal embeds), and nothing else.
    pub consumer_tokens: BTreeMap<String, Vec<TokenSource>>,
    /// How long a login through the form lasts, in hours.
    pub session_hours: u64,
    /// Longest time range, in days, a traffic page or API call answers.
    /// Rollups make a month cheap; a year of hourly points is not.
    pub max_range_days: u32,
    /// Longest range, in hours, answered per minute. Minute buckets scan
    /// raw events (rollups are hourly), so this bounds the scan.
    pub max_minute_range_hours: u32,
    /// Most rows the SQL console shows and `POST /api/sql` returns as JSON;
    /// the CSV download is not cut.
    pub sql_max_rows: usize,
    /// Seconds between re-opening the lake, so tables created after start
    /// (a fresh lake's first rollup) are seen.
    pub lake_refresh_secs: u64,
    /// `host:port` for the Postgres wire protocol (psql, Grafana,
    /// Metabase, psycopg): analyst SQL under the console's limits, with an
    /// analyst or admin token as the password. Unset: no listener.
    pub pg_listen: Option<String>,
    /// PEM certificate chain for TLS on `pg_listen` (with `pg_tls_key`).
    pub pg_tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on `pg_listen`.
    pub pg_tls_key: Option<PathBuf>,
    /// Most Postgres connections open at once; more are closed at once.
    pub pg_max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            address: "127.0.0.1:8080".into(),
            tokens: BTreeMap::new(),
            consumer_tokens: BTreeMap::new(),
            session_hours: 12,
            max_range_days: 400,
            max_minute_range_hours: 24,
            sql_max_rows: 10_000,
            lake_refresh_secs: 30,
            pg_listen: None,
            pg_tls_cert: None,
            pg_tls_key: None,
            pg_max_connections: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_as_literals_or_variables_and_never_print() {
        let cfg: ServeConfig = toml_like(
            r#"{"tokens": {"viewer": ["literal-token-123456"], "admin": [{"env": "ADMIN_TOKEN"}]}}"#,
        );
        assert_eq!(
            cfg.tokens[&Role::Viewer],
            [TokenSource::Literal("literal-token-123456".into())]
        );
        assert_eq!(
            cfg.tokens[&Role::Admin],
            [TokenSource::Env {
                env: "ADMIN_TOKEN".into()
            }]
        );
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("literal-token"), "{shown}");
        assert!(shown.contains("ADMIN_TOKEN"), "{shown}");
        assert_eq!(cfg.address, "127.0.0.1:8080");
    }

    #[test]
    fn unknown_roles_and_keys_are_errors() {
        assert!(serde_json::from_str::<ServeConfig>(r#"{"tokens": {"root": ["x"]}}"#).is_err());
        assert!(serde_json::from_str::<ServeConfig>(r#"{"adress": "x"}"#).is_err());
    }

    fn toml_like(json: &str) -> ServeConfig {
        serde_json::from_str(json).unwrap()
    }
}
