//! Where the lake lives: a local folder or S3-compatible object storage.
//!
//! Every write is durable and atomic before it returns: a reader sees the
//! whole file or nothing, and after a crash the file is either there in
//! full or absent. Locally that takes a temporary file outside the lake's
//! file patterns, `fsync`, an atomic rename and an `fsync` of the
//! directory; on object storage a completed PUT is both.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// A lake storage failure. All of them are worth retrying (storage
/// hiccups); the callers decide how often.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A local file-system operation failed.
    #[error("lake file {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An object-store request failed.
    #[error("lake object {path}: {source}")]
    Object {
        /// The object key involved.
        path: String,
        /// The underlying error.
        source: object_store::Error,
    },
    /// The lake URL is not usable.
    #[error("lake location {url:?}: {why}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
}

/// The lake's storage. Paths are relative, `/`-separated (`events/date=…/x.parquet`).
#[derive(Clone)]
pub enum LakeStore {
    /// A folder on a local file system.
    Local(LocalLake),
    /// An object store (S3 or compatible), possibly under a prefix.
    Object {
        /// The store, already scoped to the lake's prefix.
        store: Arc<dyn ObjectStore>,
        /// The URL it was opened from, for messages.
        url: String,
    },
}

impl fmt::Debug for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl LakeStore {
    /// Opens a lake: a path or `file://` URL for a local folder (created if
    /// missing), or `s3://bucket/prefix` for S3-compatible storage, which
    /// takes its endpoint and credentials from the usual `AWS_*` variables
    /// (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint).
    pub fn open(location: &str) -> Result<Self, StoreError> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::Url {
                    url: location.into(),
                    why: "no bucket name; use s3://bucket/prefix".into(),
                });
            }
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| StoreError::Url {
                    url: location.into(),
                    why: e.to_string(),
                })?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            return Ok(LakeStore::Object {
                store,
                url: location.into(),
            });
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(StoreError::Url {
                url: location.into(),
                why: "unsupported scheme; use a local path, file:// or s3://".into(),
            });
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        LocalLake::open(Path::new(path)).map(LakeStore::Local)
    }

    /// A human description (path or URL) for logs.
    pub fn describe(&self) -> String {
        match self {
            LakeStore::Local(l) => l.root.display().to_string(),
            LakeStore::Object { url, .. } => url.clone(),
        }
    }

    /// The local root folder, when the lake is local.
    pub fn local_root(&self) -> Option<&Path> {
        match self {
            LakeStore::Local(l) => Some(&l.root),
            LakeStore::Object { .. } => None,
        }
    }

    /// Writes `bytes` at `path`, durably and atomically, replacing any
    /// previous object there.
    pub async fn put(&self, path: &str, bytes: Bytes) -> Result<(), StoreError> {
        match self {
            LakeStore::Local(l) => {
                let l = l.clone();
                let path = path.to_string();
                tokio::task::spawn_blocking(move || l.put(&path, &bytes))
                    .await
                    .unwrap_or_else(|e| Err(join_error(e)))
            }
            LakeStore::Object { store, .. } => store
                .put(&ObjectPath::from(path), PutPayload::from_bytes(bytes))
                .await
                .map(|_| ())
                .map_err(|source| StoreError::Object {
                    path: path.into(),
                    source,
                }),
        }
    }

    /// Writes `bytes` at `path` only if nothing is there yet, durably and
    /// atomically: `Ok(false)` when the path already exists (written by
    /// someone else; this call changed nothing). The commit primitive of
    /// the Delta log (`_delta_log/<version>.json`). Locally a hard link
    /// of the synced temporary file, which fails if the name exists; on
    /// S3 a conditional PUT (`If-None-Match: *`), which the server must
    /// support (AWS S3, MinIO and moto do).
    pub async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool, StoreError> {
        match self {
            LakeStore::Local(l) => {
                let l = l.clone();
                let path = path.to_string();
                tokio::task::spawn_blocking(move || l.put_if_absent(&path, &bytes))
                    .await
                    .unwrap_or_else(|e| Err(join_error(e)))
            }
            LakeStore::Object { store, .. } => {
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                match store
                    .put_opts(&ObjectPath::from(path), PutPayload::from_bytes(bytes), opts)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::AlreadyExists { .. })
                    | Err(object_store::Error::Precondition { .. }) => Ok(false),
                    Err(source) => Err(StoreError::Object {
                        path: path.into(),
                        source,
                    }),
                }
            }
        }
    }

    /// Reads the object at `path`, `None` if it does not exist.
    pub async fn get(&self, path: &str) -> Result<Option<Bytes>, StoreError> {
        match self {
            LakeStore::Local(l) => {
                let full = l.full(path);
                match tokio::fs::read(&full).await {
                    Ok(b) => Ok(Some(Bytes::from(b))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(StoreError::Io { path: full, source }),
                }
            }
            LakeStore::Object { store, .. } => match store.get(&ObjectPath::from(path)).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map(Some)
                    .map_err(|source| StoreError::Object {
                        path: path.into(),
                        source,
                    }),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(source) => Err(StoreError::Object {
                    path: path.into(),
                    source,
                }),
            },
        }
    }

    /// Deletes the object at `path`; deleting a missing object is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), StoreError> {
        match self {
            LakeStore::Local(l) => {
                let full = l.full(path);
                match tokio::fs::remove_file(&full).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(source) => Err(StoreError::Io { path: full, source }),
                }
            }
            LakeStore::Object { store, .. } => match store.delete(&ObjectPath::from(path)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(source) => Err(StoreError::Object {
                    path: path.into(),
                    source,
                }),
            },
        }
    }

    /// Every object path under `prefix` (recursively), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = match self {
            LakeStore::Local(l) => {
                let l = l.clone();
                let prefix = prefix.to_string();
                tokio::task::spawn_blocking(move || l.list(&prefix))
                    .await
                    .unwrap_or_else(|e| Err(join_error(e)))?
            }
            LakeStore::Object { store, .. } => {
                list_objects(store.as_ref(), prefix, |m| m.location.to_string()).await?
            }
        };
        out.sort();
        Ok(out)
    }
}

/// Every object under `prefix` in an object store, each mapped by `f`.
async fn list_objects<T>(
    store: &dyn ObjectStore,
    prefix: &str,
    f: impl Fn(object_store::ObjectMeta) -> T,
) -> Result<Vec<T>, StoreError> {
    let p = ObjectPath::from(prefix);
    store
        .list(Some(&p))
        .map_ok(f)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|source| StoreError::Object {
            path: prefix.into(),
            source,
        })
}

impl LakeStore {
    /// Every object under `prefix` (recursively) with its size in bytes,
    /// sorted by path.
    pub async fn list_sized(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = match self {
            LakeStore::Local(l) => {
                let mut out = Vec::new();
                for path in self.list(prefix).await? {
                    let full = l.full(&path);
                    match tokio::fs::metadata(&full).await {
                        Ok(m) => out.push((path, m.len())),
                        // Gone since the listing: not there now.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => return Err(StoreError::Io { path: full, source }),
                    }
                }
                out
            }
            LakeStore::Object { store, .. } => {
                list_objects(store.as_ref(), prefix, |m| (m.location.to_string(), m.size)).await?
            }
        };
        out.sort();
        Ok(out)
    }
}

fn join_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Io {
        path: PathBuf::new(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// A lake in a local folder.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
    /// This process's folder for temporary files, under `_tollgate/tmp/`,
    /// outside every table's file pattern.
    tmp: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalLake {
    fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(io_at(root))?;
        let root = root.canonicalize().map_err(io_at(root))?;
        let tmp = root.join("_tollgate").join("tmp").join(format!(
            "{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;
        Ok(LocalLake { root, tmp })
    }

    fn full(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates `target`'s folder if missing (and makes the new entries
    /// durable), then writes `bytes` to a synced temporary file; returns
    /// the folder and the temporary file.
    fn stage(&self, target: &Path, bytes: &[u8]) -> Result<(PathBuf, PathBuf), StoreError> {
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
            // Make the new directory entries themselves durable.
            let mut d = dir.as_path();
            while let Some(parent) = d.parent() {
                sync_dir(parent).map_err(io_at(parent))?;
                if parent == self.root {
                    break;
                }
                d = parent;
            }
        }
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{n}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(io_at(&tmp))?;
        f.write_all(bytes).map_err(io_at(&tmp))?;
        f.sync_all().map_err(io_at(&tmp))?;
        Ok((dir, tmp))
    }

    fn put(&self, rel: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let target = self.full(rel);
        let (dir, tmp) = self.stage(&target, bytes)?;
        std::fs::rename(&tmp, &target).map_err(io_at(&target))?;
        sync_dir(&dir).map_err(io_at(&dir))?;
        Ok(())
    }

    fn put_if_absent(&self, rel: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        let target = self.full(rel);
        if target.exists() {
            return Ok(false);
        }
        let (dir, tmp) = self.stage(&target, bytes)?;
        // A hard link fails if the name exists: two writers racing for the
        // same name get exactly one winner, and the file is complete the
        // moment its name appears.
        let linked = match std::fs::hard_link(&tmp, &target) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(source) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(StoreError::Io {
                    path: target,
                    source,
                });
            }
        };
        std::fs::remove_file(&tmp).map_err(io_at(&tmp))?;
        if linked {
            sync_dir(&dir).map_err(io_at(&dir))?;
        }
        Ok(linked)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let start = self.full(prefix);
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                    out.push(prefix.to_string());
                    continue;
                }
                Err(source) => return Err(StoreError::Io { path: dir, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| StoreError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        Ok(out)
    }
}

/// Maps an I/O error to a [`StoreError`] naming `path`.
fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { path, source }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        lake.put(
            "events/date=2024-06-11/a.parquet",
            Bytes::from_static(b"one"),
        )
        .await
        .unwrap();
        lake.put(
            "events/date=2024-06-11/a.parquet",
            Bytes::from_static(b"two"),
        )
        .await
        .unwrap();
        assert_eq!(
            lake.get("events/date=2024-06-11/a.parquet")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(lake.get("nope").await.unwrap(), None);
        assert_eq!(
            lake.list("events").await.unwrap(),
            vec!["events/date=2024-06-11/a.parquet".to_string()]
        );
        // No temporary file is left where readers look.
        let tmp_files = lake.list("_tollgate/tmp").await.unwrap();
        assert!(tmp_files.is_empty(), "{tmp_files:?}");
        lake.delete("events/date=2024-06-11/a.parquet")
            .await
            .unwrap();
        lake.delete("events/date=2024-06-11/a.parquet")
            .await
            .unwrap();
        assert!(lake.list("events").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn put_if_absent_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LakeStore::open(dir.path().to_str().unwrap()).unwrap();
        let path = "events/_delta_log/00000000000000000000.json";
        let a = lake.put_if_absent(path, Bytes::from_static(b"a"));
        let b = lake.put_if_absent(path, Bytes::from_static(b"b"));
        let (a, b) = tokio::join!(a, b);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a ^ b, "exactly one writer wins: {a} {b}");
        let kept = lake.get(path).await.unwrap().unwrap();
        assert_eq!(&kept[..], if a { b"a" } else { b"b" });
        assert!(
            !lake
                .put_if_absent(path, Bytes::from_static(b"c"))
                .await
                .unwrap()
        );
        assert_eq!(lake.get(path).await.unwrap().unwrap(), kept);
        assert!(lake.list("_tollgate/tmp").await.unwrap().is_empty());
        assert_eq!(
            lake.list_sized("events").await.unwrap(),
            vec![(path.to_string(), 1)]
        );
    }

    #[test]
    fn bad_urls_are_explained() {
        let e = LakeStore::open("gs://bucket").unwrap_err();
        assert!(e.to_string().contains("unsupported scheme"));
    }
}
