//! `tollgate invoice …`: invoice runs, finalization and the documents
//! finance sends (invoices and credit notes), over the lake's ledger (see
//! `tollgate_invoicing`).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use tollgate_aggregator::Lake;
use tollgate_billing::Billing;
use tollgate_billing::credit_note::{self, CreditNote};
use tollgate_billing::invoice::{Invoice, InvoiceNumber};
use tollgate_billing::period::Period;
use tollgate_billing::render;
use tollgate_invoicing::{self as run, Ledger, PeriodState, RunOutcome};

use super::common::{ConfigArgs, DocFormat, load_config, runtime};
use crate::config::Config;

/// `tollgate invoice …`.
#[derive(Debug, Subcommand)]
pub enum InvoiceCommand {
    /// Compute (or recompute) the draft invoices of a period from the lake.
    /// A finalized period is left untouched.
    Run(RunArgs),
    /// Freeze a period's drafts with sequential numbers; immutable after.
    Finalize(PeriodArgs),
    /// Periods, their invoices and credit notes.
    List(ListArgs),
    /// One invoice or credit note: by number, or by period and consumer
    /// (an invoice) or credited invoice (a credit note).
    Show(ShowArgs),
    /// Write a period's invoices and credit notes (JSON and HTML each) and
    /// their CSVs to a folder.
    Export(ExportArgs),
    /// What a consumer would owe if the current period closed now.
    Preview(PreviewArgs),
}

/// Flags shared by the billing commands.
#[derive(Debug, clap::Args)]
pub struct BillingArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// The plans file (overrides billing.plans).
    #[arg(long)]
    pub plans: Option<PathBuf>,
    /// The subscriptions file (overrides billing.subscriptions).
    #[arg(long)]
    pub subscriptions: Option<PathBuf>,
    /// The clock, RFC 3339 (default: now). For replays and tests.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

/// Flags of `invoice run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub billing: BillingArgs,
    /// The month, YYYY-MM.
    #[arg(long)]
    pub period: Period,
}

/// Flags of `invoice finalize`.
#[derive(Debug, clap::Args)]
pub struct PeriodArgs {
    #[command(flatten)]
    pub billing: BillingArgs,
    /// The month, YYYY-MM.
    #[arg(long)]
    pub period: Period,
}

/// Flags of `invoice list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Only this month.
    #[arg(long)]
    pub period: Option<Period>,
    /// table or json.
    #[arg(long, short, value_enum, default_value_t = DocFormat::Table)]
    pub format: DocFormat,
}

/// Flags of `invoice show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// The number of a finalized invoice or credit note.
    pub number: Option<String>,
    /// The month (with --consumer or --credits).
    #[arg(long, requires = "document")]
    pub period: Option<Period>,
    /// The consumer, for their invoice of --period.
    #[arg(long, requires = "period", group = "document")]
    pub consumer: Option<String>,
    /// The invoice number a credit note of --period credits (drafts too).
    #[arg(long, requires = "period", group = "document")]
    pub credits: Option<String>,
    /// table, json, html or csv.
    #[arg(long, short, value_enum, default_value_t = ShowFormat::Table)]
    pub format: ShowFormat,
}

/// The formats of `invoice show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// Text laid out for a terminal.
    Table,
    /// The stored JSON document, byte for byte.
    Json,
    /// The HTML invoice.
    Html,
    /// One CSV line per invoice (or credit note) line.
    Csv,
}

/// What `invoice show` found.
enum Document {
    Invoice(Invoice),
    CreditNote(CreditNote),
}

/// Flags of `invoice export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// The month.
    #[arg(long)]
    pub period: Period,
    /// The folder to write to (created).
    #[arg(long)]
    pub out: PathBuf,
}

/// Flags of `invoice preview`.
#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub billing: BillingArgs,
    /// The consumer.
    #[arg(long)]
    pub consumer: String,
    /// table or json.
    #[arg(long, short, value_enum, default_value_t = DocFormat::Table)]
    pub format: DocFormat,
}

fn billing(cfg: &Config, args: &BillingArgs) -> anyhow::Result<Billing> {
    let mut b = cfg.billing.clone();
    if let Some(p) = &args.plans {
        b.plans = p.clone();
    }
    if let Some(s) = &args.subscriptions {
        b.subscriptions = s.clone();
    }
    Ok(tollgate_invoicing::load(b)?)
}

/// Runs one `tollgate invoice` command.
pub fn run(cmd: InvoiceCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(dispatch(cmd))
}

async fn dispatch(cmd: InvoiceCommand) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    match cmd {
        InvoiceCommand::Run(a) => {
            let cfg = load_config(&a.billing.common)?;
            let b = billing(&cfg, &a.billing)?;
            let lake = Lake::open(&cfg.lake.location, &cfg.analytics).await?;
            let ledger = Ledger::open(&cfg.lake.location)?;
            let now = a.billing.now.unwrap_or_else(Utc::now);
            match run::run(&lake, &ledger, &b, a.period, now).await? {
                RunOutcome::Drafted(s) => report(&mut out, &s)?,
                RunOutcome::AlreadyFinalized(s) => writeln!(
                    out,
                    "period {} is finalized ({} invoices); nothing changed. Late usage is billed as adjustments, or credited by a credit note, on a later period.",
                    s.period,
                    s.invoices.len()
                )?,
            }
        }
        InvoiceCommand::Finalize(a) => {
            let cfg = load_config(&a.billing.common)?;
            let ledger = Ledger::open(&cfg.lake.location)?;
            let now = a.billing.now.unwrap_or_else(Utc::now);
            match run::finalize(&ledger, &cfg.billing, a.period, now).await? {
                RunOutcome::Drafted(s) => {
                    let first = s.invoices.first().and_then(|i| i.number.clone());
                    let last = s.invoices.last().and_then(|i| i.number.clone());
                    write!(
                        out,
                        "period {} finalized: {} invoices{}",
                        s.period,
                        s.invoices.len(),
                        match (first, last) {
                            (Some(f), Some(l)) => format!(", {f} to {l}"),
                            _ => String::new(),
                        }
                    )?;
                    let first = s.credit_notes.first().and_then(|n| n.number.clone());
                    let last = s.credit_notes.last().and_then(|n| n.number.clone());
                    match (first, last) {
                        (Some(f), Some(l)) => {
                            writeln!(out, "; {} credit notes, {f} to {l}", s.credit_notes.len())?
                        }
                        _ => writeln!(out)?,
                    }
                }
                RunOutcome::AlreadyFinalized(s) => {
                    writeln!(out, "period {} was already finalized", s.period)?
                }
            }
        }
        InvoiceCommand::List(a) => {
            let cfg = load_config(&a.common)?;
            let ledger = Ledger::open(&cfg.lake.location)?;
            let states: Vec<PeriodState> = ledger
                .periods()
                .await?
                .into_iter()
                .filter(|s| a.period.is_none_or(|p| p == s.period))
                .collect();
            match a.format {
                DocFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &states)?;
                    writeln!(out)?;
                }
                DocFormat::Table => {
                    for s in &states {
                        writeln!(
                            out,
                            "{}  {:<9}  {} invoices  {}",
                            s.period,
                            s.status.name(),
                            s.invoices.len(),
                            totals(s)
                        )?;
                        for i in &s.invoices {
                            writeln!(
                                out,
                                "  {:<18} {:<24} {:>16} {}",
                                i.number.as_ref().map(|n| n.0.as_str()).unwrap_or("(draft)"),
                                i.consumer,
                                i.total,
                                i.currency
                            )?;
                        }
                        for n in &s.credit_notes {
                            writeln!(
                                out,
                                "  {:<18} {:<24} {:>16} {}  credit note for {}",
                                n.number.as_ref().map(|n| n.0.as_str()).unwrap_or("(draft)"),
                                n.consumer,
                                n.total,
                                n.currency,
                                n.invoice
                            )?;
                        }
                    }
                }
            }
        }
        InvoiceCommand::Show(a) => {
            let cfg = load_config(&a.common)?;
            let ledger = Ledger::open(&cfg.lake.location)?;
            let doc = match (&a.number, a.period, &a.consumer, &a.credits) {
                (Some(n), ..) => match ledger.find(n).await? {
                    Some(inv) => Document::Invoice(inv),
                    None => Document::CreditNote(ledger.find_credit_note(n).await?.with_context(
                        || {
                            format!(
                                "no finalized invoice or credit note {n}; see `tollgate invoice list`"
                            )
                        },
                    )?),
                },
                (None, Some(p), Some(c), _) => {
                    Document::Invoice(ledger.invoice(p, c).await?.with_context(|| {
                        format!(
                            "no invoice for {c} in {p}; see `tollgate invoice list --period {p}`"
                        )
                    })?)
                }
                (None, Some(p), None, Some(i)) => Document::CreditNote(
                    ledger
                        .credit_note(p, &InvoiceNumber(i.clone()))
                        .await?
                        .with_context(|| {
                            format!(
                                "no credit note for {i} in {p}; see `tollgate invoice list --period {p}`"
                            )
                        })?,
                ),
                _ => anyhow::bail!(
                    "give a number, or --period with --consumer (an invoice) or --credits (a credit note)"
                ),
            };
            let inv = match doc {
                Document::Invoice(inv) => inv,
                Document::CreditNote(note) => {
                    match a.format {
                        ShowFormat::Json => {
                            let bytes = ledger
                                .credit_note_bytes(note.period, &note.invoice)
                                .await?
                                .unwrap_or_else(|| credit_note::json(&note).into_bytes());
                            out.write_all(&bytes)?;
                        }
                        ShowFormat::Html => out.write_all(credit_note::html(&note).as_bytes())?,
                        ShowFormat::Csv => {
                            out.write_all(credit_note::csv(std::slice::from_ref(&note)).as_bytes())?
                        }
                        ShowFormat::Table => note_table(&mut out, &note)?,
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            };
            match a.format {
                ShowFormat::Json => {
                    // The stored bytes, exactly.
                    let bytes = ledger
                        .invoice_bytes(inv.period, &inv.consumer)
                        .await?
                        .unwrap_or_else(|| render::json(&inv).into_bytes());
                    out.write_all(&bytes)?;
                }
                ShowFormat::Html => out.write_all(render::html(&inv).as_bytes())?,
                ShowFormat::Csv => {
                    out.write_all(render::csv(std::slice::from_ref(&inv)).as_bytes())?
                }
                ShowFormat::Table => table(&mut out, &inv)?,
            }
        }
        InvoiceCommand::Export(a) => {
            let cfg = load_config(&a.common)?;
            let ledger = Ledger::open(&cfg.lake.location)?;
            let invoices = ledger.invoices(a.period).await?;
            let notes = ledger.credit_notes(a.period).await?;
            anyhow::ensure!(
                !invoices.is_empty() || !notes.is_empty(),
                "period {} has no invoices; run `tollgate invoice run --period {}` first",
                a.period,
                a.period
            );
            std::fs::create_dir_all(&a.out)
                .with_context(|| format!("cannot create {}", a.out.display()))?;
            for inv in &invoices {
                let stem =
                    inv.number.as_ref().map(|n| n.0.clone()).unwrap_or_else(|| {
                        format!("draft-{}", inv.consumer.replace(['/', '\\'], "_"))
                    });
                let json = ledger
                    .invoice_bytes(inv.period, &inv.consumer)
                    .await?
                    .unwrap_or_else(|| render::json(inv).into_bytes());
                std::fs::write(a.out.join(format!("{stem}.json")), json)?;
                std::fs::write(a.out.join(format!("{stem}.html")), render::html(inv))?;
            }
            let csv = a.out.join(format!("invoices-{}.csv", a.period));
            std::fs::write(&csv, render::csv(&invoices))?;
            write!(
                out,
                "wrote {} invoices (JSON and HTML) and {}",
                invoices.len(),
                csv.file_name().unwrap_or_default().to_string_lossy(),
            )?;
            if !notes.is_empty() {
                for note in &notes {
                    let stem = note
                        .number
                        .as_ref()
                        .map(|n| n.0.clone())
                        .unwrap_or_else(|| {
                            format!("draft-credit-{}", note.invoice.0.replace(['/', '\\'], "_"))
                        });
                    let json = ledger
                        .credit_note_bytes(note.period, &note.invoice)
                        .await?
                        .unwrap_or_else(|| credit_note::json(note).into_bytes());
                    std::fs::write(a.out.join(format!("{stem}.json")), json)?;
                    std::fs::write(a.out.join(format!("{stem}.html")), credit_note::html(note))?;
                }
                let csv = a.out.join(format!("credit-notes-{}.csv", a.period));
                std::fs::write(&csv, credit_note::csv(&notes))?;
                write!(
                    out,
                    ", {} credit notes (JSON and HTML) and {}",
                    notes.len(),
                    csv.file_name().unwrap_or_default().to_string_lossy(),
                )?;
            }
            writeln!(out, " to {}", a.out.display())?;
        }
        InvoiceCommand::Preview(a) => {
            let cfg = load_config(&a.billing.common)?;
            let b = billing(&cfg, &a.billing)?;
            let lake = Lake::open(&cfg.lake.location, &cfg.analytics).await?;
            let now = a.billing.now.unwrap_or_else(Utc::now);
            let inv = run::preview(&lake, &b, &a.consumer, now)
                .await?
                .with_context(|| {
                    format!("{} has no subscription in the current period", a.consumer)
                })?;
            match a.format {
                DocFormat::Json => out.write_all(render::json(&inv).as_bytes())?,
                DocFormat::Table => {
                    writeln!(
                        out,
                        "Preview as of {} (usage so far; recurring fees for the whole period)",
                        now.to_rfc3339()
                    )?;
                    table(&mut out, &inv)?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn totals(s: &PeriodState) -> String {
    s.report
        .totals
        .iter()
        .map(|(c, t)| format!("{t} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report(out: &mut impl Write, s: &PeriodState) -> io::Result<()> {
    let r = &s.report;
    writeln!(
        out,
        "period {} drafted: {} invoices ({}); {} events, {} duplicates not counted, {} adjustment lines, {} credit notes",
        s.period,
        s.invoices.len(),
        totals(s),
        r.events,
        r.duplicates,
        r.adjustments,
        s.credit_notes.len()
    )?;
    for n in &s.credit_notes {
        writeln!(
            out,
            "  credit note: {} {} {} for {}",
            n.consumer, n.total, n.currency, n.invoice
        )?;
    }
    for u in &r.unbilled {
        writeln!(
            out,
            "  not billed: {} has {} events on {}..={} without a subscription",
            u.consumer.as_deref().unwrap_or("(no consumer)"),
            u.events,
            u.first_day,
            u.last_day
        )?;
    }
    for p in &r.problems {
        writeln!(out, "  problem: {}: {}", p.consumer, p.message)?;
    }
    Ok(())
}

fn table(out: &mut impl Write, inv: &Invoice) -> io::Result<()> {
    writeln!(
        out,
        "{} {} · {} · {} · {}",
        inv.number.as_ref().map(|n| n.0.as_str()).unwrap_or("DRAFT"),
        inv.status.name(),
        inv.consumer,
        inv.period,
        inv.currency
    )?;
    let rows = render::rows(inv);
    // Discounts, tax and credits (the settlement) follow the charge lines.
    let settlement = |r: &render::Row| matches!(r.kind, "discount" | "tax" | "credit");
    for r in rows.iter().filter(|r| !settlement(r)) {
        writeln!(
            out,
            "  {:>3} {:<56} {:>14} {:>14}",
            r.line,
            format!(
                "{} [{} v{} {}..{}]",
                r.description, r.plan, r.plan_version, r.from, r.to
            ),
            r.quantity,
            r.amount
        )?;
    }
    let step = |out: &mut dyn Write, r: &render::Row| {
        writeln!(
            out,
            "  {:>3} {:<71} {:>14}",
            r.line, r.description, r.amount
        )
    };
    if let Some(sub) = inv.subtotal {
        writeln!(out, "  {:<60} {:>29}", "Subtotal", sub)?;
    }
    for r in rows.iter().filter(|r| matches!(r.kind, "discount" | "tax")) {
        step(out, r)?;
    }
    writeln!(out, "  {:<60} {:>29}", "Total", inv.total)?;
    if let Some(due) = inv.amount_due {
        for r in rows.iter().filter(|r| r.kind == "credit") {
            step(out, r)?;
        }
        writeln!(out, "  {:<60} {:>29}", "Amount due", due)?;
    }
    Ok(())
}

fn note_table(out: &mut impl Write, note: &CreditNote) -> io::Result<()> {
    writeln!(
        out,
        "{} credit note {} · {} · credits {} ({}) · {}",
        note.number
            .as_ref()
            .map(|n| n.0.as_str())
            .unwrap_or("DRAFT"),
        note.status.name(),
        note.consumer,
        note.invoice,
        note.invoice_period,
        note.currency
    )?;
    for r in credit_note::rows(note) {
        writeln!(
            out,
            "  {:>3} {:<56} {:>14} {:>14}",
            r.line,
            format!(
                "{} [{} v{} {}..{}] {} -> {}",
                r.description,
                r.plan,
                r.plan_version,
                r.from,
                r.to,
                r.quantity_before,
                r.quantity_after
            ),
            format!("{} -> {}", r.amount_before, r.amount_after),
            r.amount
        )?;
    }
    writeln!(out, "  {:<60} {:>29}", "Total", note.total)?;
    writeln!(out, "  {:<60} {:>29}", "Credited", note.credited())
}
