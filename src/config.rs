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

    #[test]
    fn the_shipped_example_loads_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/tollgate.toml");
        let cfg = Config::load(Some(&path)).unwrap();
        cfg.ingest_settings().validate().unwrap();
        assert_eq!(cfg.kafka.group, "tollgate-ingest");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, "[kafka]\nbroker = \"x:1\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(err.contains("broker"), "{err}");
    }
}
