//! `tollgate import`: backfills archived gateway logs (newline-delimited,
//! plain, gzip or zstd) into the lake through the same decoders and
//! quarantine as Kafka ingest.
//!
//! Importing the same file twice adds nothing: a file is identified by the
//! xxh3-128 hash of its bytes, and `_tollgate/imports/<hash>.json` records
//! that it was imported in full. The file is cut into chunks of
//! [`CHUNK_LINES`] lines (or [`CHUNK_BYTES`]), decoded and encoded in
//! parallel; each chunk writes a record listing its files before writing
//! them, so an interrupted import is undone and redone by running it again.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use serde::{Deserialize, Serialize};
use tollgate_schemas::Decoded;
use xxhash_rust::xxh3::Xxh3;

use crate::batch::{RowBatch, Source};
use crate::delta::{AddFile, IMPORT_TXN_VERSION, import_app_id};
use crate::lines::LineReader;
use crate::message::{MessageDecoder, RawMessage};
use crate::sink::{ParquetSink, SinkError, data_path, read_json, write_json};

/// Lines per chunk: one Parquet file per chunk and date.
pub const CHUNK_LINES: usize = 250_000;
/// Bytes per chunk, whichever of the two limits comes first.
pub const CHUNK_BYTES: usize = 96 * 1024 * 1024;

/// An import failure.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The lake could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What importing one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRecord {
    /// xxh3-128 of the file's bytes, hex.
    pub hash: String,
    /// The file's name when it was imported.
    pub file: String,
    /// Non-blank lines (messages) read.
    pub messages: u64,
    /// Events written.
    pub events: u64,
    /// Rejects quarantined.
    pub rejects: u64,
    /// Parquet files written.
    pub files: u64,
    /// True when the file had been imported before and nothing was written.
    #[serde(default)]
    pub skipped: bool,
}

/// A chunk's record: the files it writes, so an interrupted import can be undone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkRecord {
    files: Vec<String>,
}

/// Imports files (or `-` for standard input) into the lake.
pub struct Importer {
    sink: ParquetSink,
    decoder: MessageDecoder,
    rt: tokio::runtime::Handle,
    workers: usize,
    max_line: usize,
}

fn marker_path(hash: &str) -> String {
    tollgate_lake::layout::import_marker(hash)
}

fn chunk_dir(hash: &str) -> String {
    tollgate_lake::layout::import_chunks(hash)
}

impl Importer {
    /// An importer writing through `sink`; `workers` threads decode and encode.
    pub fn new(
        sink: ParquetSink,
        decoder: MessageDecoder,
        rt: tokio::runtime::Handle,
        workers: usize,
        max_line: usize,
    ) -> Self {
        Importer {
            sink,
            decoder,
            rt,
            workers: workers.max(1),
            max_line,
        }
    }

    /// Imports one file (`-` spools standard input to a temporary file first,
    /// so it can be hashed). Blocks; call from outside the async runtime.
    pub fn import_path(&self, path: &Path) -> Result<ImportRecord, ImportError> {
        if path.as_os_str() == "-" {
            let mut tmp = tempfile_in_tmp()?;
            io::copy(&mut io::stdin().lock(), tmp.as_file_mut()).map_err(|source| {
                ImportError::Read {
                    path: "-".into(),
                    source,
                }
            })?;
            return self.import_file(tmp.path(), "stdin");
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.import_file(path, &name)
    }

    fn import_file(&self, path: &Path, name: &str) -> Result<ImportRecord, ImportError> {
        let read_err = |source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        };
        let hash = hash_file(path).map_err(read_err)?;
        if let Some(mut done) = self.rt.block_on(read_json::<ImportRecord>(
            self.sink.store(),
            &marker_path(&hash),
        ))? {
            tracing::info!(file = name, hash, "already imported; nothing to do");
            if let Some(delta) = self.sink.delta() {
                // A crash between the import's marker and its Delta commit.
                self.rt
                    .block_on(delta.ensure_import(&hash))
                    .map_err(SinkError::from)?;
            }
            done.skipped = true;
            return Ok(done);
        }
        self.undo_partial(&hash)?;

        let reader = open_decompressed(path).map_err(read_err)?;
        let source_file: Arc<str> = Arc::from(format!("{}:{name}", &hash[..16]));
        let (tx, rx) = sync_channel::<Chunk>(1);
        let rx = Arc::new(Mutex::new(rx));
        let added: Mutex<Vec<AddFile>> = Mutex::new(Vec::new());
        let totals = Arc::new(Mutex::new(ImportRecord {
            hash: hash.clone(),
            file: name.into(),
            ..ImportRecord::default()
        }));
        let result = std::thread::scope(|scope| {
            let mut handles = Vec::new();
            for _ in 0..self.workers {
                let rx = rx.clone();
                let totals = totals.clone();
                let source_file = source_file.clone();
                let hash = hash.as_str();
                let added = &added;
                handles.push(
                    scope.spawn(move || self.worker(&rx, &totals, added, &source_file, hash)),
                );
            }
            let read = read_chunks(reader, self.max_line, &tx);
            drop(tx);
            let mut first_err = read.err().map(read_err);
            for h in handles {
                match h.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(_) => {
                        first_err.get_or_insert(ImportError::Read {
                            path: path.to_path_buf(),
                            source: io::Error::other("an import worker panicked"),
                        });
                    }
                }
            }
            first_err.map_or(Ok(()), Err)
        });
        result?;
        let record = totals.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let added = added.into_inner().unwrap_or_else(|p| p.into_inner());
        self.rt.block_on(async {
            write_json(self.sink.store(), &marker_path(&hash), &record).await?;
            if let Some(delta) = self.sink.delta() {
                // After the marker, the import's commit point; before the
                // chunk records go, so a crash here is caught up by
                // `ensure_import` on the next run.
                delta
                    .commit(&added, &import_app_id(&hash), IMPORT_TXN_VERSION)
                    .await?;
            }
            for p in self.sink.store().list(&chunk_dir(&hash)).await? {
                self.sink.store().delete(&p).await?;
            }
            Ok::<_, SinkError>(())
        })?;
        Ok(record)
    }

    /// Deletes the files of an earlier, interrupted import of the same file.
    fn undo_partial(&self, hash: &str) -> Result<(), ImportError> {
        self.rt.block_on(async {
            let store = self.sink.store();
            let records = store.list(&chunk_dir(hash)).await?;
            for r in &records {
                if let Some(chunk) = read_json::<ChunkRecord>(store, r).await? {
                    for f in chunk.files {
                        store.delete(&f).await?;
                    }
                }
                store.delete(r).await?;
            }
            if !records.is_empty() {
                tracing::warn!(
                    hash,
                    chunks = records.len(),
                    "undid an interrupted import of this file; importing it again"
                );
            }
            Ok::<_, SinkError>(())
        })?;
        Ok(())
    }

    fn worker(
        &self,
        rx: &Mutex<Receiver<Chunk>>,
        totals: &Mutex<ImportRecord>,
        added: &Mutex<Vec<AddFile>>,
        source_file: &Arc<str>,
        hash: &str,
    ) -> Result<(), ImportError> {
        let mut scratch = Decoded::default();
        loop {
            let chunk = {
                let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
                match guard.recv() {
                    Ok(c) => c,
                    Err(_) => return Ok(()),
                }
            };
            let now_ms = chrono::Utc::now().timestamp_millis();
            let mut batch = RowBatch::new(self.decoder.raw_cap());
            let mut messages = 0u64;
            for (line_no, start, end, full_len) in &chunk.lines {
                let payload = &chunk.data[*start..*end];
                messages += 1;
                let msg = RawMessage {
                    source: Source::File {
                        file: source_file.clone(),
                        line: i64::try_from(*line_no).unwrap_or(i64::MAX),
                    },
                    payload,
                };
                if *full_len > self.max_line {
                    let r = self.decoder.oversized(payload, *full_len);
                    batch.add_reject(&r, &msg.source, *full_len, now_ms);
                    continue;
                }
                self.decoder.decode(&msg, now_ms, &mut batch, &mut scratch);
            }
            let (events, rejects) = (batch.events(), batch.rejects());
            let stem = format!("import-{}-{:06}", &hash[..16], chunk.number);
            let files = self.rt.block_on(self.sink.encode(batch, &stem))?;
            let named: Vec<(String, &crate::batch::EncodedFile)> =
                files.iter().map(|f| (data_path(f, &stem), f)).collect();
            let record = ChunkRecord {
                files: named.iter().map(|(p, _)| p.clone()).collect(),
            };
            self.rt.block_on(async {
                write_json(
                    self.sink.store(),
                    &format!("{}{:06}.json", chunk_dir(hash), chunk.number),
                    &record,
                )
                .await?;
                self.sink.write_files(&named).await
            })?;
            added
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(named.iter().map(|(path, f)| AddFile {
                    path: path.clone(),
                    size: f.bytes.len() as u64,
                    rows: Some(f.rows as u64),
                }));
            let mut t = totals.lock().unwrap_or_else(|p| p.into_inner());
            t.messages += messages;
            t.events += events;
            t.rejects += rejects;
            t.files += named.len() as u64;
        }
    }
}

/// A run of lines: one contiguous buffer and (line number, start, end, full length) per line.
struct Chunk {
    number: usize,
    data: Vec<u8>,
    lines: Vec<(u64, usize, usize, usize)>,
}

fn read_chunks(
    reader: Box<dyn BufRead + Send>,
    max_line: usize,
    tx: &SyncSender<Chunk>,
) -> io::Result<()> {
    let mut lines = LineReader::new(reader, max_line);
    let mut number = 0;
    let new_chunk = |number| Chunk {
        number,
        data: Vec::with_capacity(8 * 1024 * 1024),
        lines: Vec::with_capacity(4096),
    };
    let mut chunk = new_chunk(number);
    while let Some(line) = lines.next_line()? {
        if line.full_len == line.bytes.len() && line.bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let start = chunk.data.len();
        chunk.data.extend_from_slice(&line.bytes);
        chunk
            .lines
            .push((line.number, start, chunk.data.len(), line.full_len));
        if chunk.lines.len() >= CHUNK_LINES || chunk.data.len() >= CHUNK_BYTES {
            number += 1;
            let full = std::mem::replace(&mut chunk, new_chunk(number));
            if tx.send(full).is_err() {
                return Ok(());
            }
        }
    }
    if !chunk.lines.is_empty() {
        let _ = tx.send(chunk);
    }
    Ok(())
}

/// xxh3-128 of a file's bytes, as 32 hex digits.
fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:032x}", h.digest128()))
}

/// Opens a file, decompressing gzip or zstd by their magic bytes.
fn open_decompressed(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut f = BufReader::with_capacity(1 << 20, File::open(path)?);
    let magic = f
        .fill_buf()?
        .get(..4)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(f),
        ))
    } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::Decoder::with_buffer(f)?,
        ))
    } else {
        Box::new(f)
    })
}

fn tempfile_in_tmp() -> Result<TempFile, ImportError> {
    let path = std::env::temp_dir().join(format!(
        "tollgate-import-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let file = File::create(&path).map_err(|source| ImportError::Read {
        path: path.clone(),
        source,
    })?;
    Ok(TempFile { path, file })
}

/// A temporary file removed on drop.
struct TempFile {
    path: PathBuf,
    file: File,
}

impl TempFile {
    fn path(&self) -> &Path {
        &self.path
    }
    fn as_file_mut(&mut self) -> &mut File {
        &mut self.file
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
