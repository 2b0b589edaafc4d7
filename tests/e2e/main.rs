//! End-to-end tests: the real `tollgate` binary, driven as a user would,
//! against a real Kafka-protocol broker (tansu) started as its own process.
//!
//! One test binary (so the expensive setup is shared as the suite grows);
//! each module covers one command.

mod analytics;
mod broker;
mod dashboard;
mod decode;
mod demo;
mod deploy;
mod import;
mod ingest;
mod invoice;
mod lake;
mod pg;
mod quote;
mod s3;
mod signals;
mod simulate;
mod spark;
mod sql_limits;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// Tests that run a broker and several ingestors take this lock, so they
/// run one at a time: on a 2-core machine, three such tests at once starve
/// each other's consumer-group heartbeats.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `tollgate` binary cargo built for this test run.
pub fn tollgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// A file shipped in the repository.
pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}
