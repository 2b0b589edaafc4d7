//! `tollgate quote`: price a given usage with a plan, line by line with
//! the tier breakdown, without touching the lake: over a whole period, a
//! share of one (`--share 10/31`) or some days of one (`--from`, `--to`),
//! as an invoice segment for those days would. For a plan prorated by the
//! second, `--from`/`--to` may be instants (`2026-10-16T14:30:00Z`); a plan
//! billed in advance shows its base fee as "Base fee in advance".

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rust_decimal::Decimal;
use tollgate_billing::period::Period;
use tollgate_billing::proration::Boundary;
use tollgate_billing::quote::{PeriodPart, quote};

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
    /// Usage, `METRIC=N` or `CHARGE=N` (repeatable): calls=1200000. N may
    /// be a decimal (2.5) for a metric that is not a whole count. An
    /// amount for percentage charges also gives its events: `SUM/EVENTS`
    /// (amount=24500.00/1000), or each event's amount, `X*K` for K events
    /// of X (amount=12.50+99+1000*3), which per-event fee limits need.
    #[arg(long = "usage", value_parser = parse_usage)]
    pub usage: Vec<UsageArg>,
    /// The share of the period to prorate the base fee and minimums by: a
    /// decimal (0.5) or days of the month (10/31). Default: the whole period.
    #[arg(long, conflicts_with_all = ["from", "to"], value_parser = parse_share)]
    pub share: Option<PeriodPart>,
    /// First day covered (UTC, YYYY-MM-DD): prorate as an invoice segment
    /// from this day would. An RFC 3339 instant (2026-10-16T14:30:00Z) for
    /// a plan with proration = "second".
    #[arg(long, value_parser = parse_boundary)]
    pub from: Option<Boundary>,
    /// First day (or instant) not covered (exclusive, as in
    /// subscriptions.toml); default the first day of the next month. Needs
    /// --from.
    #[arg(long, requires = "from", value_parser = parse_boundary)]
    pub to: Option<Boundary>,
    /// table or json.
    #[arg(long, short, value_enum, default_value_t = DocFormat::Table)]
    pub format: DocFormat,
}

/// One `--usage`: a quantity, and for an amount the events behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageArg {
    /// Metric name or charge id.
    pub key: String,
    /// The quantity (an amount's sum).
    pub quantity: Decimal,
    /// The events behind it, when given (`SUM/EVENTS` or per event).
    pub events: Option<u64>,
    /// Each event's amount with how many events had it, when given.
    pub amounts: Option<Vec<(Decimal, u64)>>,
}

fn parse_usage(s: &str) -> Result<UsageArg, String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: write METRIC=N, e.g. calls=1200000"))?;
    let v = v.replace('_', "");
    let number = |t: &str| {
        t.trim()
            .parse::<Decimal>()
            .ok()
            .filter(|n| !n.is_sign_negative())
            .ok_or_else(|| format!("{t:?} is not a quantity (a number of units, 0 or more)"))
    };
    let count = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("{t:?} is not a number of events (a whole number)"))
    };
    let key = k.trim().to_string();
    if let Some((sum, events)) = v.split_once('/') {
        return Ok(UsageArg {
            key,
            quantity: number(sum)?.normalize(),
            events: Some(count(events)?),
            amounts: None,
        });
    }
    if v.contains(['+', '*']) {
        let mut amounts = Vec::new();
        for term in v.split('+') {
            let (a, n) = match term.split_once('*') {
                Some((a, n)) => (number(a)?, count(n)?),
                None => (number(term)?, 1),
            };
            amounts.push((a, n));
        }
        let mut quantity = Decimal::ZERO;
        let mut events = 0u64;
        for (a, n) in &amounts {
            quantity = a
                .checked_mul(Decimal::from(*n))
                .and_then(|x| quantity.checked_add(x))
                .ok_or_else(|| format!("{v:?}: the sum is too large"))?;
            events = events.saturating_add(*n);
        }
        return Ok(UsageArg {
            key,
            quantity: quantity.normalize(),
            events: Some(events),
            amounts: Some(amounts),
        });
    }
    Ok(UsageArg {
        key,
        quantity: number(&v)?.normalize(),
        events: None,
        amounts: None,
    })
}

fn parse_boundary(s: &str) -> Result<Boundary, String> {
    s.parse()
        .map_err(|e: tollgate_billing::proration::BoundaryError| e.to_string())
}

fn parse_share(s: &str) -> Result<PeriodPart, String> {
    PeriodPart::parse_share(s).map_err(|e| e.to_string())
}

/// Runs `tollgate quote`.
pub fn run(args: QuoteArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.plans).with_context(|| {
        format!(
            "cannot read {}; pass --plans with your plans.toml",
            args.plans.display()
        )
    })?;
    let plans = tollgate_billing::PlansFile::parse_file(&args.plans.display().to_string(), &text)?;
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
    let mut usage = tollgate_billing::Quantities::new();
    for u in &args.usage {
        let (k, q) = (&u.key, &u.quantity);
        let charges: Vec<_> = plan
            .charges
            .iter()
            .filter(|c| &c.id == k || c.metric.name() == k)
            .collect();
        anyhow::ensure!(
            !charges.is_empty(),
            "plan {} has no charge or metric {k:?}",
            plan.id
        );
        if let Some(c) = charges.iter().find(|c| c.metric.whole_units())
            && !tollgate_billing::quantity::is_whole(*q)
        {
            anyhow::bail!(
                "{k}={q}: {} counts whole units; give a whole number",
                c.metric.name()
            );
        }
        if u.events.is_some() && charges.iter().any(|c| c.metric.whole_units()) {
            anyhow::bail!(
                "{k}: SUM/EVENTS and per-event amounts are for an amount metric; give {k}=N"
            );
        }
        usage.insert(k.clone(), *q);
        if let Some(n) = u.events {
            usage.insert(tollgate_billing::events_key(k), Decimal::from(n));
        }
        // Per-event limits clamp each event's fee: sum them from the
        // amounts given, as the lake sums them from the events.
        for c in &charges {
            if let (Some(fee), Some(amounts)) = (c.price.event_fee(), &u.amounts) {
                let mut fees = Decimal::ZERO;
                for (a, n) in amounts {
                    fees = fee
                        .of(*a)
                        .and_then(|f| f.checked_mul(Decimal::from(*n)))
                        .and_then(|f| fees.checked_add(f))
                        .with_context(|| format!("{k}: the fees overflow"))?;
                }
                usage.insert(tollgate_billing::fees_key(&c.id), fees);
            }
        }
    }
    let part = match (args.share, args.from) {
        (Some(share), _) => share,
        (None, Some(from)) => PeriodPart::range(
            from,
            args.to
                .unwrap_or_else(|| Boundary::day(Period::of(from.date()).end())),
        ),
        (None, None) => PeriodPart::Share(Decimal::ONE),
    };
    let rated = quote(plan, &usage, part)?;
    let mut out = io::stdout().lock();
    if args.format == DocFormat::Json {
        serde_json::to_writer_pretty(&mut out, &rated)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let currency = plan.currency();
    let span = match part {
        PeriodPart::Share(s) if s == Decimal::ONE => String::new(),
        PeriodPart::Share(s) => format!(", {} of the period", s.round_dp(6).normalize()),
        PeriodPart::Days { from, to } => format!(", {from} to {to} (exclusive)"),
        PeriodPart::Span { from, to } => format!(", {from} to {to} (exclusive)"),
    };
    writeln!(
        out,
        "Quote: plan {} v{} ({}){span}",
        rated.plan, rated.version, rated.currency
    )?;
    for l in &rated.lines {
        writeln!(
            out,
            "  {:<48} {:>16} {}",
            format!("{} ({})", l.description, l.quantity.normalize()),
            currency.scaled(l.amount),
            rated.currency
        )?;
        for t in &l.tiers {
            if let Some(label) = &t.label {
                writeln!(
                    out,
                    "      {label} = {}{}",
                    t.amount.normalize(),
                    t.rounded
                        .map(|r| format!(" → {}", currency.scaled(r)))
                        .unwrap_or_default()
                )?;
                continue;
            }
            let range = match t.up_to {
                Some(u) => format!("{}..={u}", t.from_unit),
                None => format!("{}..", t.from_unit),
            };
            writeln!(
                out,
                "      tier {} [{range}]: {} × {}{} = {}{}",
                t.tier,
                t.units.normalize(),
                t.unit_price,
                if t.flat_fee.is_zero() {
                    String::new()
                } else {
                    format!(" + {}", t.flat_fee)
                },
                t.amount,
                t.rounded
                    .map(|r| format!(" → {}", currency.scaled(r)))
                    .unwrap_or_default()
            )?;
        }
    }
    writeln!(
        out,
        "  {:<48} {:>16} {}",
        "Total",
        currency.scaled(rated.total),
        rated.currency
    )?;
    Ok(ExitCode::SUCCESS)
}
