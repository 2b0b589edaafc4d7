//! `tollgate sql`: read-only SQL over the lake under the analyst limits.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tollgate_aggregator::output::{self, OutputFormat};
use tollgate_aggregator::{ResultLimit, SqlGate};

use super::common::{ConfigArgs, load_config, open_lake, runtime};

/// The formats `tollgate sql` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row.
    Json,
    /// A Parquet file (needs --output).
    Parquet,
}

impl From<SqlFormat> for OutputFormat {
    fn from(f: SqlFormat) -> OutputFormat {
        match f {
            SqlFormat::Table => OutputFormat::Table,
            SqlFormat::Csv => OutputFormat::Csv,
            SqlFormat::Json => OutputFormat::Json,
            SqlFormat::Parquet => OutputFormat::Parquet,
        }
    }
}

/// Flags of `tollgate sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// table, csv, json or parquet.
    #[arg(long, short, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// Write the result here instead of standard output (required for parquet).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// The query; omitted: read `;`-terminated queries from standard input.
    pub query: Option<String>,
    /// Benchmarking: after a first run, run each query N more times on the
    /// same opened lake and print the fastest of those to standard error
    /// (hot, without process start and lake opening); output is written once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
}

/// Runs `tollgate sql`: exits 1 when any query failed (each failure on
/// standard error), 0 otherwise.
pub fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let rt = runtime()?;
    let lake = open_lake(&cfg, &rt)?;
    let format = OutputFormat::from(args.format);
    anyhow::ensure!(
        format != OutputFormat::Parquet || args.output.is_some(),
        "--format parquet needs --output FILE"
    );
    let queries: Vec<String> = match args.query {
        Some(q) => vec![q],
        None => {
            let mut text = String::new();
            io::Read::read_to_string(&mut io::stdin().lock(), &mut text)?;
            text.split(';')
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(String::from)
                .collect()
        }
    };
    // The same limits as the dashboard's console: one read-only statement,
    // the memory share, the value guards, the result cap, the time limit.
    let gate = SqlGate::new(&cfg.analytics);
    let whole = ResultLimit::whole();
    let mut failed = false;
    for q in queries {
        let mut result = rt.block_on(gate.query(&lake, &q, whole));
        if args.repeat > 1 {
            let mut best = f64::INFINITY;
            for _ in 0..args.repeat {
                let t = std::time::Instant::now();
                result = rt.block_on(gate.query(&lake, &q, whole));
                best = best.min(t.elapsed().as_secs_f64());
            }
            eprintln!("tollgate sql: fastest of {} runs: {best:.4} s", args.repeat);
        }
        match result {
            Ok(answer) => match &args.output {
                Some(path) => {
                    let f = File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    output::write(format, &answer.schema, &answer.batches, f)?;
                }
                None => output::write(format, &answer.schema, &answer.batches, io::stdout())?,
            },
            Err(e) => {
                eprintln!("tollgate sql: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::ExitCode;

    use clap::Parser;

    use crate::commands::{Cli, run};

    fn sql_to_file(lake: &Path, out: &Path, query: &str) -> ExitCode {
        let cli = Cli::try_parse_from([
            "tollgate",
            "sql",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "csv",
            "--output",
            out.to_str().unwrap(),
            query,
        ])
        .unwrap();
        run(cli).unwrap()
    }

    #[test]
    // figment's Jail API fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn sql_runs_under_the_analyst_limits() {
        // In a Jail: other tests here set TOLLGATE_* variables, which the
        // command reads.
        figment::Jail::expect_with(|_| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out.csv");
            assert_eq!(
                sql_to_file(dir.path(), &out, "SELECT 1 AS one"),
                ExitCode::SUCCESS
            );
            assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\n1\n");
            for hostile in [
                // Refused by the value guard before a gigabyte is built.
                "SELECT repeat('x', 1000000000)",
                "SELECT generate_series(1, 10000000000)",
                // Ten billion rows: stopped at sql_max_result_mb, not written short.
                "SELECT * FROM generate_series(1, 10000000000)",
                // Not read-only.
                "COPY (SELECT 1) TO '/tmp/tollgate-cli-copy.csv'",
            ] {
                std::fs::remove_file(&out).ok();
                assert_eq!(
                    sql_to_file(dir.path(), &out, hostile),
                    ExitCode::from(1),
                    "{hostile}"
                );
                assert!(!out.exists(), "{hostile}: nothing is written");
            }
            Ok(())
        });
    }

    #[test]
    fn formats_are_the_four_names_and_nothing_else() {
        let parse = |f: &str| Cli::try_parse_from(["tollgate", "sql", "--format", f, "SELECT 1"]);
        for f in ["table", "csv", "json", "parquet"] {
            assert!(parse(f).is_ok(), "{f}");
        }
        let e = parse("xml").unwrap_err().to_string();
        assert!(e.contains("table, csv, json, parquet"), "{e}");
    }
}
