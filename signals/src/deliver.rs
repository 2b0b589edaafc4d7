//! Delivery: a Kafka topic and signed HTTP webhooks, retried with
//! exponential backoff, every attempt written to the record's delivery log.
//!
//! # Webhook signatures
//!
//! Each POST carries `Tollgate-Signature: t=<unix seconds>,v1=<hex>` where
//! `v1` is HMAC-SHA256 with the shared secret over `"<t>.<body>"`. A
//! receiver recomputes it over the raw body, compares in constant time, and
//! rejects a `t` older than its tolerance (five minutes is usual), so a
//! captured request cannot be replayed later; [`verify`] does all three.
//! `Tollgate-Signal-Id` repeats the signal id for idempotent receivers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sha2::Sha256;

use crate::SignalsError;
use crate::config::SignalsConfig;
use crate::signal::{Attempt, Record};

/// Header with the signature.
pub const SIGNATURE_HEADER: &str = "Tollgate-Signature";
/// Header with the signal id.
pub const ID_HEADER: &str = "Tollgate-Signal-Id";

/// The signature header value for `body` signed at `t` (unix seconds).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Why a webhook request is not authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is missing parts or malformed.
    #[error("malformed signature header")]
    Malformed,
    /// The signature does not match the body.
    #[error("signature does not match the body")]
    Mismatch,
    /// The timestamp is outside the tolerance (a replay, or a skewed clock).
    #[error("signature timestamp is {0} s away from now")]
    Stale(i64),
}

/// Checks a webhook request as a receiver should: the signature over the
/// raw body, in constant time, and the timestamp within `tolerance_secs`
/// of `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(VerifyError::Malformed);
    };
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    // verify_slice compares in constant time.
    m.verify_slice(&v1).map_err(|_| VerifyError::Mismatch)?;
    let skew = (now - t).abs();
    if skew > tolerance_secs {
        return Err(VerifyError::Stale(skew));
    }
    Ok(())
}

struct Webhook {
    name: String,
    url: String,
    secret: Vec<u8>,
}

/// Where signals go.
pub struct Outputs {
    kafka: Option<(FutureProducer, String)>,
    webhooks: Vec<Webhook>,
    http: reqwest::Client,
    max_attempts: u32,
    retry_initial: Duration,
    retry_max: Duration,
}

impl Outputs {
    /// The outputs `cfg` names. `kafka` is `(brokers, librdkafka
    /// properties)`; `None` publishes to no topic.
    pub fn new(
        cfg: &SignalsConfig,
        kafka: Option<(&str, &std::collections::BTreeMap<String, String>)>,
    ) -> Result<Outputs, SignalsError> {
        cfg.validate()?;
        let kafka = match kafka {
            Some((brokers, props)) if !cfg.topic.is_empty() => {
                let mut c = ClientConfig::new();
                for (k, v) in props {
                    c.set(k, v);
                }
                let producer: FutureProducer = c
                    .set("bootstrap.servers", brokers)
                    .set("message.timeout.ms", "30000")
                    .create()
                    .map_err(|e| SignalsError::Config(format!("signals Kafka producer: {e}")))?;
                Some((producer, cfg.topic.clone()))
            }
            _ => None,
        };
        let webhooks = cfg
            .webhooks
            .iter()
            .map(|w| {
                Ok(Webhook {
                    name: w.name.clone(),
                    url: w.url.clone(),
                    secret: w.resolve_secret()?,
                })
            })
            .collect::<Result<_, SignalsError>>()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SignalsError::Config(format!("HTTP client: {e}")))?;
        Ok(Outputs {
            kafka,
            webhooks,
            http,
            max_attempts: cfg.max_attempts,
            retry_initial: Duration::from_millis(cfg.retry_initial_ms),
            retry_max: Duration::from_millis(cfg.retry_max_ms),
        })
    }

    /// The target names, in delivery order.
    pub fn targets(&self) -> Vec<String> {
        self.kafka
            .iter()
            .map(|(_, t)| format!("kafka:{t}"))
            .chain(self.webhooks.iter().map(|w| format!("webhook:{}", w.name)))
            .collect()
    }

    /// When target `i` of `r` is due for its next automatic attempt
    /// (`None`: never).
    pub fn next_attempt(&self, r: &Record, i: usize) -> Option<DateTime<Utc>> {
        let t = &r.targets[i];
        if t.done {
            return None;
        }
        let Some(last) = t.attempts.last() else {
            return Some(r.signal.created_at);
        };
        let n = u32::try_from(t.attempts.len()).unwrap_or(u32::MAX);
        let wait = self
            .retry_initial
            .saturating_mul(
                1u32.checked_shl(n.saturating_sub(1).min(20))
                    .unwrap_or(u32::MAX),
            )
            .min(self.retry_max);
        Some(last.at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX))
    }

    /// Attempts every target of `r` that is due at `now` (or every target
    /// when `force`, for a replay), appending to the delivery log. Returns
    /// whether the record changed.
    pub async fn deliver_due(&self, r: &mut Record, now: DateTime<Utc>, force: bool) -> bool {
        let mut changed = false;
        for i in 0..r.targets.len() {
            let due = force || self.next_attempt(r, i).is_some_and(|at| at <= now);
            if !due {
                continue;
            }
            let target = r.targets[i].target.clone();
            let outcome = self.send(&target, r).await;
            let at = Utc::now();
            let log = &mut r.targets[i];
            let ok = outcome.is_ok();
            let detail = outcome.unwrap_or_else(|e| e);
            if ok {
                tracing::info!(signal = %r.signal.id, %target, "signal delivered");
                log.delivered_at = Some(at);
                log.done = true;
            } else {
                tracing::warn!(signal = %r.signal.id, %target, %detail, "signal delivery failed");
            }
            log.attempts.push(Attempt { at, ok, detail });
            if !ok && !force && log.attempts.len() >= self.max_attempts as usize {
                log.done = true;
            }
            changed = true;
        }
        changed
    }

    async fn send(&self, target: &str, r: &Record) -> Result<String, String> {
        if let Some(topic) = target.strip_prefix("kafka:") {
            let Some((producer, _)) = self.kafka.as_ref() else {
                return Err("no Kafka output configured".into());
            };
            let key = r.signal.key();
            let rec = FutureRecord::to(topic).key(&key).payload(&r.body);
            return match producer.send(rec, Duration::from_secs(30)).await {
                Ok(d) => Ok(format!("partition {} offset {}", d.partition, d.offset)),
                Err((e, _)) => Err(e.to_string()),
            };
        }
        let name = target.strip_prefix("webhook:").unwrap_or(target);
        let Some(w) = self.webhooks.iter().find(|w| w.name == name) else {
            return Err(format!("no webhook named {name:?} is configured"));
        };
        let t = Utc::now().timestamp();
        let res = self
            .http
            .post(&w.url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, sign(&w.secret, t, r.body.as_bytes()))
            .header(ID_HEADER, &r.signal.id)
            .body(r.body.clone())
            .send()
            .await;
        match res {
            Ok(resp) if resp.status().is_success() => {
                Ok(format!("HTTP {}", resp.status().as_u16()))
            }
            Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
            Err(e) => Err(format!("{e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_tampered_body_does_not() {
        let body = br#"{"id":"a1","type":"quota"}"#;
        let h = sign(b"s3cret", 1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(verify(b"s3cret", &h, body, 1_700_000_010, 300), Ok(()));
        let tampered = br#"{"id":"a1","type":"quotb"}"#;
        assert_eq!(
            verify(b"s3cret", &h, tampered, 1_700_000_010, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &h, body, 1_700_000_010, 300),
            Err(VerifyError::Mismatch)
        );
        // A replay an hour later is refused even with the right signature.
        assert_eq!(
            verify(b"s3cret", &h, body, 1_700_003_600, 300),
            Err(VerifyError::Stale(3600))
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = h.replace("t=1700000000", "t=1700003600");
        assert_eq!(
            verify(b"s3cret", &moved, body, 1_700_003_600, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", "v1=zz", body, 0, 300),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn the_signature_is_rfc_2104_hmac_sha256() {
        // The MAC is standard HMAC-SHA256 (RFC 4231, test case 2) ...
        let mut m = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // ... over "<t>.<body>".
        assert_eq!(mac(b"k", 1, b"x"), {
            let mut m = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
            m.update(b"1.x");
            m.finalize().into_bytes().to_vec()
        });
    }
}
