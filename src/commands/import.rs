//! `tollgate import`: archived gateway logs (plain, gzip or zstd) into the
//! lake; importing the same file twice adds nothing.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use tollgate_ingest::import::Importer;
use tollgate_ingest::message::MessageDecoder;
use tollgate_ingest::sink::ParquetSink;
use tollgate_lake::store::LakeStore;
use tollgate_schemas::Format;

use super::common::{ConfigArgs, load_config, runtime};
use super::decode::parse_format;

/// Flags of `tollgate import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Input format: auto (detect per line) or one gateway's format.
    #[arg(long, short, default_value = "auto", value_parser = parse_format)]
    pub format: Format,
    /// Decode/encode threads (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Files to import; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `tollgate import`: one JSON record per file on standard output.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let settings = cfg.ingest_settings();
    settings.validate()?;
    let rt = runtime()?;
    let store = LakeStore::open(&settings.lake.location)?;
    let sink =
        ParquetSink::new(store, settings.parquet_options()).with_delta_log(settings.lake.delta_log);
    let decoder = MessageDecoder::new(
        settings.decode_options(),
        args.format,
        Default::default(),
        settings.ingest.max_future_skew_secs,
        settings.ingest.horizon_days,
        settings.ingest.quarantine_raw_bytes,
    );
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let importer = Importer::new(
        sink,
        decoder,
        rt.handle().clone(),
        threads,
        settings.ingest.max_message_bytes,
    );
    let mut out = io::stdout().lock();
    for path in &args.files {
        let record = importer.import_path(path)?;
        serde_json::to_writer(&mut out, &record)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}
