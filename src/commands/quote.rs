//! `tollgate quote`: price a given usage with a plan, line by line with
//! the tier breakdown, without touching the lake.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::common::DocFormat;

/// Flags of `tollgate quote`.
#[derive(Debug, clap::Args)]
pub struct QuoteArgs {
    /// The plans file.
    #[arg(long, default_value = "plans.toml")]
    pub plans: PathBuf,
    /// Plan id.
    #[arg(long)]
    pub plan: String,
    /// Plan version (default: the highest).
    #[arg(long)]
    pub version: Option<u32>,
    /// Usage, `METRIC=N` or `CHARGE=N` (repeatable): calls=1200000.
    #[arg(long = "usage", value_parser = parse_usage)]
    pub usage: Vec<(String, u64)>,
    /// table or json.
    #[arg(long, short, value_enum, default_value_t = DocFormat::Table)]
    pub format: DocFormat,
}

fn parse_usage(s: &str) -> Result<(String, u64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: write METRIC=N, e.g. calls=1200000"))?;
    let n = v
        .replace('_', "")
        .parse::<u64>()
        .map_err(|_| format!("{v:?} is not a whole number of units"))?;
    Ok((k.trim().to_string(), n))
}

/// Runs `tollgate quote`.
pub fn run(args: QuoteArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.plans).with_context(|| {
        format!(
            "cannot read {}; pass --plans with your plans.toml",
            args.plans.display()
        )
    })?;
    let plans = tollgate_billing::PlansFile::parse(&text)?;
    let plan = plans.get(&args.plan, args.version).with_context(|| {
        let ids: std::collections::BTreeSet<_> =
            plans.plans.iter().map(|p| p.id.0.as_str()).collect();
        format!(
            "no plan {:?} (version {:?}) in {}; plans: {:?}",
            args.plan,
            args.version,
            args.plans.display(),
            ids
        )
    })?;
    for (k, _) in &args.usage {
        anyhow::ensure!(
            plan.charges
                .iter()
                .any(|c| &c.id == k || c.metric.name() == k),
            "plan {} has no charge or metric {k:?}",
            plan.id
        );
    }
    let usage = args
        .usage
        .into_iter()
        .map(|(k, v)| (k, rust_decimal::Decimal::from(v)))
        .collect();
    let rated = tollgate_billing::rate(plan, &usage, rust_decimal::Decimal::ONE)?;
    let mut out = io::stdout().lock();
    if args.format == DocFormat::Json {
        serde_json::to_writer_pretty(&mut out, &rated)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Quote: plan {} v{} ({})",
        rated.plan, rated.version, rated.currency
    )?;
    for l in &rated.lines {
        writeln!(
            out,
            "  {:<48} {:>16} {}",
            format!("{} ({})", l.description, l.quantity),
            l.amount,
            rated.currency
        )?;
        for t in &l.tiers {
            let range = match t.up_to {
                Some(u) => format!("{}..={u}", t.from_unit),
                None => format!("{}..", t.from_unit),
            };
            writeln!(
                out,
                "      tier {} [{range}]: {} × {}{} = {}",
                t.tier,
                t.units,
                t.unit_price,
                if t.flat_fee.is_zero() {
                    String::new()
                } else {
                    format!(" + {}", t.flat_fee)
                },
                t.amount
            )?;
        }
    }
    writeln!(
        out,
        "  {:<48} {:>16} {}",
        "Total", rated.total, rated.currency
    )?;
    Ok(ExitCode::SUCCESS)
}
