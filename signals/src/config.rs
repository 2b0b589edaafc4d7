//! `[signals]` in `tollgate.toml`: where signals go and how often the
//! watcher looks.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::SignalsError;

/// `[signals]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// Seconds between evaluations of quotas and alert rules.
    pub poll_interval_secs: u64,
    /// Publish signals to this Kafka topic on `[kafka] brokers` (with the
    /// `[kafka] properties`); empty to publish none.
    pub topic: String,
    /// Signed HTTP webhooks (`[[signals.webhook]]`).
    #[serde(rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    /// Delivery attempts per signal and target before giving up (an
    /// operator can then `tollgate signals replay` it).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each failure.
    pub retry_initial_ms: u64,
    /// Longest wait between retries.
    pub retry_max_ms: u64,
    /// Alert rules file (see `deploy/alerts.toml`); none when unset.
    pub alerts: Option<PathBuf>,
    /// Alert windows end this many seconds before now, so that calls still
    /// buffered in ingest (up to `ingest.max_latency_ms`) do not look like
    /// a traffic drop.
    pub evaluation_delay_secs: u64,
    /// How often the days before today of a billing-period quota are
    /// recounted (today is recounted on every evaluation).
    pub period_refresh_secs: u64,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            poll_interval_secs: 5,
            topic: "tollgate.signals".into(),
            webhooks: Vec::new(),
            max_attempts: 10,
            retry_initial_ms: 1_000,
            retry_max_ms: 300_000,
            alerts: None,
            evaluation_delay_secs: 30,
            period_refresh_secs: 600,
        }
    }
}

/// One webhook target.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Short name, in the delivery log (`webhook:<name>`).
    pub name: String,
    /// `http://` or `https://` URL that receives a POST per signal.
    pub url: String,
    /// The shared secret, inline. Prefer `secret_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The environment variable holding the shared secret (not starting
    /// with `TOLLGATE_`: those are configuration overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

// Secrets never reach logs: Debug shows where the secret comes from only.
impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_env", &self.secret_env)
            .finish()
    }
}

impl WebhookConfig {
    /// The shared secret, from the file or the environment.
    pub fn resolve_secret(&self) -> Result<Vec<u8>, SignalsError> {
        let bad =
            |why: String| SignalsError::Config(format!("signals.webhook {:?}: {why}", self.name));
        match (&self.secret, &self.secret_env) {
            (Some(s), None) if !s.is_empty() => Ok(s.as_bytes().to_vec()),
            (None, Some(var)) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Ok(s.into_bytes()),
                _ => Err(bad(format!(
                    "environment variable {var} is not set or empty"
                ))),
            },
            _ => Err(bad(
                "set exactly one of secret_env (preferred) or secret".into()
            )),
        }
    }
}

impl SignalsConfig {
    /// Checks the settings; webhook secrets must resolve.
    pub fn validate(&self) -> Result<(), SignalsError> {
        if self.poll_interval_secs == 0 {
            return Err(SignalsError::Config(
                "signals.poll_interval_secs must be at least 1".into(),
            ));
        }
        if self.max_attempts == 0 {
            return Err(SignalsError::Config(
                "signals.max_attempts must be at least 1".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for w in &self.webhooks {
            if !names.insert(w.name.as_str()) {
                return Err(SignalsError::Config(format!(
                    "signals.webhook name {:?} is used twice",
                    w.name
                )));
            }
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(SignalsError::Config(format!(
                    "signals.webhook {:?}: url must start with http:// or https://",
                    w.name
                )));
            }
            w.resolve_secret()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let w = WebhookConfig {
            name: "n".into(),
            url: "http://x".into(),
            secret: Some("hunter2-secret".into()),
            secret_env: None,
        };
        let shown = format!("{w:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn a_webhook_needs_exactly_one_secret_source() {
        let mut w = WebhookConfig {
            name: "n".into(),
            url: "http://x".into(),
            secret: None,
            secret_env: None,
        };
        assert!(w.resolve_secret().is_err());
        w.secret_env = Some("TOLLGATE_TEST_UNSET_SECRET_VAR".into());
        let err = w.resolve_secret().unwrap_err().to_string();
        assert!(err.contains("TOLLGATE_TEST_UNSET_SECRET_VAR"), "{err}");
        w.secret = Some("s".into());
        assert!(w.resolve_secret().is_err(), "both set is ambiguous");
        w.secret_env = None;
        assert_eq!(w.resolve_secret().unwrap(), b"s");
        let cfg = SignalsConfig {
            webhooks: vec![w.clone(), w],
            ..SignalsConfig::default()
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("twice"));
    }
}
