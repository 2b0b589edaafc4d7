//! `tollgate.toml`: one file for every command, with environment overrides.
//!
//! Precedence, lowest first: built-in defaults → the file (`--config` or
//! `TOLLGATE_CONFIG`) → environment variables `TOLLGATE_<SECTION>__<KEY>`
//! (for example `TOLLGATE_KAFKA__BROKERS=host:9092`,
//! `TOLLGATE_LAKE__LOCATION=s3://bucket/lake`) → command-line flags.
//! Unknown keys anywhere are an error. `deploy/tollgate.toml` is the
//! commented example, and a test loads it.

use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tollgate_aggregator::AnalyticsConfig;
use tollgate_billing::BillingConfig;
use tollgate_ingest::config::{IngestConfig, IngestSettings, KafkaConfig, LakeConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[lake]`: where the Parquet lake lives.
    pub lake: LakeConfig,
    /// `[kafka]`: brokers, topics, consumer group.
    pub kafka: KafkaConfig,
    /// `[ingest]`: batching, decoding, file layout.
    pub ingest: IngestConfig,
    /// `[analytics]`: limits for queries over the lake.
    pub analytics: AnalyticsConfig,
    /// `[billing]`: plans, subscriptions, invoice numbering.
    pub billing: BillingConfig,
    /// `[serve]`: the dashboard and HTTP API (`tollgate serve`).
    pub serve: tollgate_dashboard::ServeConfig,
    /// `[signals]`: quota and alert signals (`tollgate watch`).
    pub signals: tollgate_signals::SignalsConfig,
}

impl Config {
    /// Loads defaults, then `path` (or `TOLLGATE_CONFIG`) if given, then
    /// `TOLLGATE_*` environment variables.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let from_env = std::env::var_os("TOLLGATE_CONFIG").map(std::path::PathBuf::from);
        if let Some(p) = path.map(Path::to_path_buf).or(from_env) {
            anyhow::ensure!(
                p.exists(),
                "config file {} does not exist; pass --config with the path of your tollgate.toml",
                p.display()
            );
            fig = fig.merge(Toml::file_exact(&p));
        }
        fig = fig.merge(Env::prefixed("TOLLGATE_").ignore(&["config"]).split("__"));
        fig.extract().context("invalid configuration")
    }

    /// The settings `tollgate ingest` and `tollgate import` use.
    pub fn ingest_settings(&self) -> IngestSettings {
        IngestSettings {
            lake: self.lake.clone(),
            kafka: self.kafka.clone(),
            ingest: self.ingest.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every test here runs inside figment's Jail: it serialises tests that
    // touch the process environment, so one test's variables cannot leak
    // into another's load.
    #[test]
    #[allow(clippy::result_large_err)]
    fn the_shipped_example_loads_and_validates() {
        figment::Jail::expect_with(|_| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/tollgate.toml");
            let cfg = Config::load(Some(&path)).map_err(|e| format!("{e:#}"))?;
            cfg.ingest_settings()
                .validate()
                .map_err(|e| e.to_string())?;
            assert_eq!(cfg.kafka.group, "tollgate-ingest");
            Ok(())
        });
    }

    #[test]
    // figment's Jail API fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.toml", "[kafka]\nbrokers = \"file:1\"\ngroup = \"g\"\n")?;
            jail.set_env("TOLLGATE_KAFKA__BROKERS", "env:2");
            jail.set_env("TOLLGATE_INGEST__MAX_ROWS", "7");
            let cfg = Config::load(Some(Path::new("t.toml"))).map_err(|e| format!("{e:#}"))?;
            assert_eq!(cfg.kafka.brokers, "env:2");
            assert_eq!(cfg.kafka.group, "g");
            assert_eq!(cfg.ingest.max_rows, 7);
            jail.set_env("TOLLGATE_KAFKA__BROKER", "typo:3");
            assert!(
                Config::load(Some(Path::new("t.toml"))).is_err(),
                "unknown env keys are errors too"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn unknown_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.toml", "[kafka]\nbroker = \"x:1\"\n")?;
            let err = format!("{:#}", Config::load(Some(Path::new("t.toml"))).unwrap_err());
            assert!(err.contains("broker"), "{err}");
            Ok(())
        });
    }
}
