//! JSON ledgers: small JSON documents kept under one prefix of the lake,
//! each written durably and atomically through [`LakeStore`].
//!
//! Billing's invoice ledger (`billing/`) and the signals ledger
//! (`_tollgate/signals/`) are both sets of JSON records addressed by a
//! path: a record is filed (or replaced) whole, read back by its key, and
//! found again by listing. This is that mechanism once, so both get the
//! same durability (fsync + rename locally, a completed PUT on object
//! storage) and the same handling of a damaged record.
//!
//! A ledger's bytes are its on-disk format: [`JsonStyle`] fixes them per
//! ledger, so a record written today reads the same tomorrow and a
//! record rewritten unchanged is byte-identical.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{LakeStore, StoreError};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The lake's storage failed (worth retrying).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is not the JSON its reader expects (permanent until
    /// the file is restored or removed).
    #[error("{path}: {source}")]
    Decode {
        /// The record's path in the lake.
        path: String,
        /// What serde found wrong.
        source: serde_json::Error,
    },
    /// A record could not be turned into JSON (a bug in its type).
    #[error("{path}: cannot encode: {source}")]
    Encode {
        /// The record's path in the lake.
        path: String,
        /// What serde found wrong.
        source: serde_json::Error,
    },
}

/// How a ledger lays out its records' bytes. Fixed per ledger, because the
/// bytes are the format: changing the style of an existing ledger would
/// make unchanged records differ from their stored copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStyle {
    /// `serde_json`'s pretty form (two-space indents), no final newline:
    /// the signals ledger.
    Pretty,
    /// The pretty form followed by one `\n`, a proper text file: billing's
    /// invoices and period states.
    PrettyLine,
}

impl JsonStyle {
    /// The stored bytes of `value` in this style.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(value)?;
        if self == JsonStyle::PrettyLine {
            bytes.push(b'\n');
        }
        Ok(bytes)
    }
}

/// A set of JSON records under one prefix of the lake. Keys are paths
/// relative to the prefix (`periods/2026-09.json`); errors name the full
/// lake path, so a person can find the file.
#[derive(Debug, Clone)]
pub struct JsonLedger {
    store: LakeStore,
    /// Ends with `/` (or is empty: the lake root).
    prefix: String,
    style: JsonStyle,
}

impl JsonLedger {
    /// The ledger under `prefix` (`billing/`, `_tollgate/signals/`) of the
    /// lake `store`, writing records in `style`. A missing trailing `/` is
    /// added.
    pub fn new(store: LakeStore, prefix: &str, style: JsonStyle) -> JsonLedger {
        let mut prefix = prefix.trim_start_matches('/').to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        JsonLedger {
            store,
            prefix,
            style,
        }
    }

    /// The lake store underneath (for documents kept next to the ledger).
    pub fn store(&self) -> &LakeStore {
        &self.store
    }

    /// The ledger's prefix in the lake, ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The lake path of the record `key`.
    pub fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Files `value` as the record `key`, replacing any record there; it is
    /// durable when this returns.
    pub async fn put<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), LedgerError> {
        let path = self.path(key);
        let bytes = self
            .style
            .encode(value)
            .map_err(|source| LedgerError::Encode {
                path: path.clone(),
                source,
            })?;
        self.store.put(&path, Bytes::from(bytes)).await?;
        Ok(())
    }

    /// The record `key` as stored, byte for byte; `None` if there is none.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, LedgerError> {
        Ok(self.store.get(&self.path(key)).await?)
    }

    /// The record `key`, decoded; `None` if there is none.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, LedgerError> {
        let path = self.path(key);
        let Some(bytes) = self.store.get(&path).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| LedgerError::Decode { path, source })
    }

    /// Whether the record `key` exists.
    pub async fn contains(&self, key: &str) -> Result<bool, LedgerError> {
        Ok(self.get_bytes(key).await?.is_some())
    }

    /// Removes the record `key`; removing a missing record is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), LedgerError> {
        Ok(self.store.delete(&self.path(key)).await?)
    }

    /// The keys of every record (`*.json`) under `under` (a key prefix
    /// such as `periods/`; `""` for the whole ledger), sorted. Other files
    /// (a stray temporary copy, a backup tool's marker) are not records.
    pub async fn keys(&self, under: &str) -> Result<Vec<String>, LedgerError> {
        let paths = self.store.list(&self.path(under)).await?;
        Ok(paths
            .into_iter()
            .filter(|p| p.ends_with(".json"))
            .filter_map(|p| p.strip_prefix(&self.prefix).map(str::to_string))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Rec {
        id: String,
        n: u32,
    }

    fn rec(id: &str, n: u32) -> Rec {
        Rec { id: id.into(), n }
    }

    #[tokio::test]
    async fn records_round_trip_under_their_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        let l = JsonLedger::new(store.clone(), "book", JsonStyle::Pretty);
        assert_eq!(l.prefix(), "book/");
        l.put("a/1.json", &rec("one", 1)).await.unwrap();
        l.put("b/2.json", &rec("two", 2)).await.unwrap();
        l.put("a/1.json", &rec("one", 3)).await.unwrap();
        // A non-record file and a file outside the prefix are not listed.
        store
            .put("book/a/notes.txt", Bytes::from_static(b"x"))
            .await
            .unwrap();
        store
            .put("other/3.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(l.keys("").await.unwrap(), vec!["a/1.json", "b/2.json"]);
        assert_eq!(l.keys("b/").await.unwrap(), vec!["b/2.json"]);
        assert_eq!(l.get::<Rec>("a/1.json").await.unwrap(), Some(rec("one", 3)));
        assert_eq!(l.get::<Rec>("a/9.json").await.unwrap(), None);
        assert!(l.contains("b/2.json").await.unwrap());
        l.delete("b/2.json").await.unwrap();
        l.delete("b/2.json").await.unwrap();
        assert!(!l.contains("b/2.json").await.unwrap());
        // Durable writes leave no temporary file behind.
        assert!(store.list("_tollgate/tmp").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_style_fixes_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        let pretty = JsonLedger::new(store.clone(), "p/", JsonStyle::Pretty);
        let line = JsonLedger::new(store, "l/", JsonStyle::PrettyLine);
        pretty.put("r.json", &rec("x", 1)).await.unwrap();
        line.put("r.json", &rec("x", 1)).await.unwrap();
        let expected = "{\n  \"id\": \"x\",\n  \"n\": 1\n}";
        assert_eq!(
            pretty.get_bytes("r.json").await.unwrap().unwrap(),
            expected.as_bytes()
        );
        assert_eq!(
            line.get_bytes("r.json").await.unwrap().unwrap(),
            format!("{expected}\n").as_bytes()
        );
    }

    #[tokio::test]
    async fn a_damaged_record_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        store
            .put("book/bad.json", Bytes::from_static(b"{\"id\": "))
            .await
            .unwrap();
        let l = JsonLedger::new(store, "book/", JsonStyle::Pretty);
        let e = l.get::<Rec>("bad.json").await.unwrap_err();
        assert!(matches!(e, LedgerError::Decode { .. }), "{e:?}");
        assert!(e.to_string().starts_with("book/bad.json: "), "{e}");
    }
}
