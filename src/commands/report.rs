//! `tollgate report …`: standard reports over the lake.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use clap::Subcommand;
use tollgate_aggregator::output::{self, OutputFormat};
use tollgate_aggregator::planner;
use tollgate_aggregator::query::{self, Bucket, Dim, TopOrder, TrafficQuery, TrafficRow};

use super::common::{ConfigArgs, load_config, open_lake, parse_time, runtime};

/// `tollgate report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Calls, error rates, latency percentiles and bytes per group.
    Traffic(TrafficArgs),
}

/// A grouping dimension of `--by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DimArg {
    /// The billing identity.
    Consumer,
    /// The API / service.
    Api,
    /// The matched route.
    Route,
    /// The HTTP method.
    Method,
    /// `2xx`, `3xx`, `4xx`, `5xx`.
    // The name the docs and the JSON use, not clap's kebab-case default.
    #[value(name = "status_class", alias = "status")]
    StatusClass,
    /// The gateway format.
    Gateway,
}

impl From<DimArg> for Dim {
    fn from(d: DimArg) -> Dim {
        match d {
            DimArg::Consumer => Dim::Consumer,
            DimArg::Api => Dim::Api,
            DimArg::Route => Dim::Route,
            DimArg::Method => Dim::Method,
            DimArg::StatusClass => Dim::StatusClass,
            DimArg::Gateway => Dim::Gateway,
        }
    }
}

/// The time buckets of `--bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BucketArg {
    /// One row per minute.
    Minute,
    /// One row per hour.
    Hour,
    /// One row per day (in --tz).
    Day,
}

impl From<BucketArg> for Bucket {
    fn from(b: BucketArg) -> Bucket {
        match b {
            BucketArg::Minute => Bucket::Minute,
            BucketArg::Hour => Bucket::Hour,
            BucketArg::Day => Bucket::Day,
        }
    }
}

/// The ranking of `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrderArg {
    /// Most calls.
    Calls,
    /// Most 4xx + 5xx errors.
    Errors,
    /// Highest p95 latency.
    P95,
    /// Highest p99 latency.
    P99,
}

impl From<OrderArg> for TopOrder {
    fn from(o: OrderArg) -> TopOrder {
        match o {
            OrderArg::Calls => TopOrder::Calls,
            OrderArg::Errors => TopOrder::Errors,
            OrderArg::P95 => TopOrder::P95,
            OrderArg::P99 => TopOrder::P99,
        }
    }
}

/// The formats of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per row.
    Json,
}

/// Flags of `tollgate report traffic`.
#[derive(Debug, clap::Args)]
pub struct TrafficArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Start (inclusive): YYYY-MM-DD or RFC 3339, UTC.
    #[arg(long)]
    pub from: String,
    /// End (exclusive): YYYY-MM-DD or RFC 3339, UTC.
    #[arg(long)]
    pub to: String,
    /// Group by, comma-separated: consumer, api, route, method, status_class, gateway.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "consumer")]
    pub by: Vec<DimArg>,
    /// Time buckets: minute, hour or day; none for one row per group.
    #[arg(long, value_enum)]
    pub bucket: Option<BucketArg>,
    /// table, csv or json.
    #[arg(long, short, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// IANA time zone for day buckets (default UTC), e.g. Europe/Berlin.
    #[arg(long)]
    pub tz: Option<String>,
    /// Allow the rollups and their views (fast; percentiles within 1 %) where they answer;
    /// without it, raw events (exact). Minute buckets always read the events.
    #[arg(long)]
    pub rollups: bool,
    /// Only the first N groups, ranked by --order.
    #[arg(long)]
    pub top: Option<usize>,
    /// Ranking for --top: calls, errors, p95 or p99.
    #[arg(long, value_enum, default_value_t = OrderArg::Calls)]
    pub order: OrderArg,
}

/// Runs one `tollgate report` command.
pub fn run(cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCommand::Traffic(args) => report_traffic(args),
    }
}

fn report_traffic(args: TrafficArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&args.common)?;
    let rt = runtime()?;
    let lake = open_lake(&cfg, &rt)?;
    let by: Vec<Dim> = args.by.iter().map(|d| Dim::from(*d)).collect();
    let q = TrafficQuery {
        from: parse_time(&args.from)?,
        to: parse_time(&args.to)?,
        bucket: args.bucket.map(Bucket::from),
        by: by.clone(),
        consumer: None,
        tz: args.tz.clone(),
        // Without --rollups, the events: exact percentiles.
        exact: !args.rollups,
    };
    let mut rows = rt.block_on(planner::answer(&lake, &q))?;
    if let Some(n) = args.top {
        rows = query::top(rows, args.order.into(), n);
    }
    let names: Vec<&str> = by.iter().map(|d| d.name()).collect();
    // Unlocked: arrow's writers want a writer they could send to a thread.
    let mut out = io::BufWriter::new(io::stdout());
    write_traffic(args.format, &names, &rows, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The report's columns after the group names.
const MEASURES: [&str; 13] = [
    "calls",
    "4xx",
    "5xx",
    "4xx_rate",
    "5xx_rate",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "req_bytes",
    "resp_bytes",
    "consumers",
];

/// The rows as one batch of text columns, each value written as the report
/// shows it (rates to 4 decimals, milliseconds to 3, an absent percentile
/// empty), so the table and the CSV agree to the character.
fn traffic_batch(names: &[&str], rows: &[TrafficRow]) -> anyhow::Result<RecordBatch> {
    let header: Vec<&str> = ["bucket"]
        .into_iter()
        .chain(names.iter().copied())
        .chain(MEASURES)
        .collect();
    let mut columns: Vec<Vec<String>> = vec![Vec::with_capacity(rows.len()); header.len()];
    let ms = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
    for r in rows {
        let mut cells = vec![r.bucket.map_or(String::new(), |b| {
            b.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })];
        cells.extend(
            r.group
                .iter()
                .map(|g| g.clone().unwrap_or_else(|| "(none)".into())),
        );
        cells.extend([
            r.calls.to_string(),
            r.errors_4xx.to_string(),
            r.errors_5xx.to_string(),
            format!("{:.4}", r.error_rate_4xx),
            format!("{:.4}", r.error_rate_5xx),
            ms(r.latency_p50),
            ms(r.latency_p90),
            ms(r.latency_p95),
            ms(r.latency_p99),
            ms(r.latency_max),
            r.request_bytes.to_string(),
            r.response_bytes.to_string(),
            r.consumers.to_string(),
        ]);
        for (column, cell) in columns.iter_mut().zip(cells) {
            column.push(cell);
        }
    }
    let schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|h| Field::new(*h, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// Writes the report: JSON lines of the rows themselves, or the table and
/// CSV through arrow's writers (as `tollgate sql` does).
fn write_traffic(
    format: ReportFormat,
    names: &[&str],
    rows: &[TrafficRow],
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    let tabular = match format {
        ReportFormat::Json => {
            for r in rows {
                serde_json::to_writer(&mut *out, r)?;
                writeln!(out)?;
            }
            return Ok(());
        }
        ReportFormat::Table => OutputFormat::Table,
        ReportFormat::Csv => OutputFormat::Csv,
    };
    let batch = traffic_batch(names, rows)?;
    output::write(tabular, &batch.schema(), &[batch], out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use clap::Parser;

    use crate::commands::{Cli, Command};

    fn row(group: Option<&str>, p95: Option<f64>) -> TrafficRow {
        TrafficRow {
            bucket: Some(chrono::Utc.with_ymd_and_hms(2024, 6, 11, 13, 0, 0).unwrap()),
            group: vec![group.map(String::from)],
            calls: 3,
            errors_4xx: 1,
            errors_5xx: 0,
            error_rate_4xx: 1.0 / 3.0,
            error_rate_5xx: 0.0,
            latency_p50: Some(12.0),
            latency_p90: Some(20.5),
            latency_p95: p95,
            latency_p99: p95,
            latency_max: Some(31.25),
            upstream_p50: None,
            upstream_p95: None,
            upstream_p99: None,
            request_bytes: 900,
            response_bytes: 4200,
            consumers: 1,
        }
    }

    fn text(format: ReportFormat, rows: &[TrafficRow]) -> String {
        let mut out = Vec::new();
        write_traffic(format, &["consumer"], rows, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_keeps_the_report_columns_and_quotes_what_needs_it() {
        let rows = [row(Some("acme, inc"), None), row(None, Some(25.0))];
        assert_eq!(
            text(ReportFormat::Csv, &rows),
            "bucket,consumer,calls,4xx,5xx,4xx_rate,5xx_rate,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,req_bytes,resp_bytes,consumers\n\
             2024-06-11T13:00:00Z,\"acme, inc\",3,1,0,0.3333,0.0000,12.000,20.500,,,31.250,900,4200,1\n\
             2024-06-11T13:00:00Z,(none),3,1,0,0.3333,0.0000,12.000,20.500,25.000,25.000,31.250,900,4200,1\n"
        );
    }

    #[test]
    fn the_table_is_arrows_with_every_column() {
        let table = text(ReportFormat::Table, &[row(Some("acct-0001"), Some(25.0))]);
        assert!(table.contains("| bucket "), "{table}");
        assert!(table.contains("| resp_bytes | consumers |"), "{table}");
        assert!(table.contains("| acct-0001 "), "{table}");
        assert!(table.contains("| 0.3333 "), "{table}");
        assert!(text(ReportFormat::Table, &[]).contains("| consumers |"));
    }

    #[test]
    fn enum_flags_take_their_names_and_refuse_others() {
        let parse = |extra: &[&str]| {
            let mut args = vec![
                "tollgate",
                "report",
                "traffic",
                "--from",
                "2024-06-01",
                "--to",
                "2024-07-01",
            ];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        let cli = parse(&[
            "--by",
            "route,status",
            "--bucket",
            "day",
            "--order",
            "p99",
            "--format",
            "csv",
        ])
        .unwrap();
        let Command::Report(ReportCommand::Traffic(a)) = cli.command else {
            panic!("report traffic")
        };
        assert_eq!(a.by, [DimArg::Route, DimArg::StatusClass]);
        assert_eq!(a.bucket, Some(BucketArg::Day));
        assert_eq!(a.order, OrderArg::P99);
        assert_eq!(a.format, ReportFormat::Csv);
        let cli = parse(&["--by", "status_class,api"]).unwrap();
        let Command::Report(ReportCommand::Traffic(a)) = cli.command else {
            panic!("report traffic")
        };
        assert_eq!(a.by, [DimArg::StatusClass, DimArg::Api]);
        // Every grouping's flag value is the name its column carries.
        for d in <DimArg as clap::ValueEnum>::value_variants() {
            let name = clap::ValueEnum::to_possible_value(d).unwrap();
            assert_eq!(name.get_name(), Dim::from(*d).name());
        }
        for bad in [
            &["--bucket", "week"][..],
            &["--order", "p42"],
            &["--by", "planet"],
            &["--format", "xml"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let cli = parse(&[]).unwrap();
        let Command::Report(ReportCommand::Traffic(a)) = cli.command else {
            panic!("report traffic")
        };
        assert_eq!(
            (a.by, a.bucket, a.order, a.format),
            (
                vec![DimArg::Consumer],
                None,
                OrderArg::Calls,
                ReportFormat::Table
            )
        );
    }
}
