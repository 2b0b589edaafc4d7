//! Rating: a plan and usage in, invoice lines out. Pure and exact.
//!
//! Tier semantics: `up_to` is an inclusive upper bound in the metric's
//! units; tier `i` covers `(up_to[i-1], up_to[i]]`, the last tier is
//! unbounded. A quantity of 0 bills the first tier's flat fee if it has one
//! (a tier is "reached" by usage of 0 only when it is the first).
//!
//! Quantities are exact decimals: whole for counts (calls, bytes), possibly
//! fractional for other metrics. A whole quantity rates exactly as it did
//! when quantities were integers: the same tiers, units and amounts.
//!
//! Rounding: each line is rounded to the currency's minor units with the
//! plan's rounding (or, with `rounding_scope = "tier"`, each tier of a
//! usage line is rounded and the line is their sum); the total is the sum
//! of the rounded lines. Amounts are computed in `Decimal` with checked
//! arithmetic, so 10^12 calls at 0.000001 is exact and an overflow is an
//! error, never a wrap or a panic.
//!
//! Percentages: a `percentage` charge prices an `amount` metric's sum
//! with, besides the sum, the number of events behind it (fixed fees per
//! event) and, with a minimum or maximum fee per event, the sum of the
//! events' clamped fees, which only the lake can add up event by event.
//! Both come in [`Quantities`] under [`events_key`] and [`fees_key`].
//! Their lines explain the amount in labelled parts (the percentage, the
//! fixed fees, the per-event limits' adjustment).
//!
//! Minimums: a charge's `minimum` (prorated) adds a true-up line right
//! after the charge when its rounded amount is below it; the plan's
//! `minimum` (prorated) adds a true-up line at the end when the usage lines
//! and their true-ups (plus the prorated base fee, with
//! `minimum_includes_base_fee`) total less.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::plan::{BaseFeeTiming, Model, PackageRounding, PercentTier, Plan, RoundingScope, Tier};
use crate::proration::Coverage;

/// A rating failure.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RateError {
    /// An amount does not fit a `Decimal` (about 7.9 × 10^28).
    #[error("charge {charge}: the amount overflows; check the quantity and prices")]
    Overflow {
        /// The charge.
        charge: String,
    },
    /// A percentage charge needs a figure the usage does not give.
    #[error("charge {charge}: {what}")]
    Missing {
        /// The charge.
        charge: String,
        /// What is missing and how to give it.
        what: String,
    },
}

/// Why a model could not price a quantity ([`price_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceError {
    /// An amount does not fit a `Decimal`.
    Overflow,
    /// The number of events is needed (a fixed fee per event) but not given.
    NoEvents,
    /// The sum of the per-event fees is needed (a minimum or maximum fee
    /// per event) but not given.
    NoFees,
}

/// One tier's share of a line: how many units fell in it and what they cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierPart {
    /// 1-based tier number.
    pub tier: usize,
    /// The previous tier's `up_to` plus one (1 for the first tier): the
    /// first unit of the tier for a whole-number metric. The tier holds the
    /// quantities above `from_unit − 1`.
    #[serde(with = "crate::quantity")]
    pub from_unit: Decimal,
    /// Last unit of the tier (inclusive), `None` for the unbounded tier.
    #[serde(default, with = "crate::quantity::option")]
    pub up_to: Option<Decimal>,
    /// Units priced in this tier.
    #[serde(with = "crate::quantity")]
    pub units: Decimal,
    /// Price per unit.
    pub unit_price: Decimal,
    /// Flat fee of the tier, when reached.
    pub flat_fee: Decimal,
    /// `units × unit_price + flat_fee`, unrounded.
    pub amount: Decimal,
    /// `amount` rounded to the currency, when the plan rounds per tier
    /// (`rounding_scope = "tier"`); the line is then the sum of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounded: Option<Decimal>,
    /// What the part is, in words, for parts that are not a tier of units
    /// (a percentage charge's: "2.9 % of 24500.00", "fixed fee 0.30 × 980
    /// events", the per-event limits' adjustment). Documents print it
    /// instead of the tier's range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// What kind of line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The recurring base fee (prorated).
    BaseFee,
    /// A usage charge.
    Usage,
    /// Minimum true-up: the plan's (charge `minimum`) or a charge's (the
    /// charge's id).
    Minimum,
    /// A base fee billed in advance (`base_fee_timing = "advance"`): on an
    /// invoice, the next period's fee; in a quote, the period's own.
    AdvanceFee,
    /// A credit for prepaid time no longer on the plan that was prepaid (a
    /// change or a cancellation inside a prepaid period). Negative.
    UnusedTime,
    /// A plan's fee for the part of a period that was not prepaid (a
    /// change inside a prepaid period, or a first period).
    RemainingTime,
}

impl LineKind {
    /// The name in JSON, CSV and the `invoices` table.
    pub fn name(self) -> &'static str {
        match self {
            LineKind::BaseFee => "base_fee",
            LineKind::Usage => "usage",
            LineKind::Minimum => "minimum",
            LineKind::AdvanceFee => "advance_fee",
            LineKind::UnusedTime => "unused_time",
            LineKind::RemainingTime => "remaining_time",
        }
    }
}

/// One invoice line, explainable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Kind of line.
    pub kind: LineKind,
    /// Charge id: `base_fee` and `minimum` for the plan's lines; a charge's
    /// id for its usage line and for its own minimum's true-up.
    pub charge: String,
    /// Human text.
    pub description: String,
    /// Metric name for usage lines.
    pub metric: Option<String>,
    /// Quantity rated (1 for base fee and true-up lines).
    #[serde(with = "crate::quantity")]
    pub quantity: Decimal,
    /// How the amount was made.
    pub tiers: Vec<TierPart>,
    /// Amount before rounding.
    pub unrounded: Decimal,
    /// Amount on the invoice (rounded).
    pub amount: Decimal,
}

/// The rated lines of one plan for one period (or segment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rated {
    /// Plan id.
    pub plan: String,
    /// Plan version.
    pub version: u32,
    /// ISO 4217 code.
    pub currency: String,
    /// Lines: base fee, usage charges in plan order (each followed by its
    /// minimum's true-up, if due), the plan minimum's true-up.
    pub lines: Vec<Line>,
    /// Sum of the rounded line amounts.
    pub total: Decimal,
}

/// Usage to rate: charge id or metric name → quantity; and, for percentage
/// charges, [`events_key`] and [`fees_key`] entries.
pub type Quantities = BTreeMap<String, Decimal>;

/// The key in [`Quantities`] of the number of events behind the quantity
/// of `key` (a charge id or a metric name): `"payments#events"`. Percentage
/// charges read it for their fixed fee per event.
pub fn events_key(key: &str) -> String {
    format!("{key}#events")
}

/// The key in [`Quantities`] of the sum of the per-event fees of `charge`
/// (a percentage charge with a minimum or maximum fee per event), each
/// event's `amount × percent ÷ 100 + fixed_fee` clamped to the limits:
/// `"payments#fees"`.
pub fn fees_key(charge: &str) -> String {
    format!("{charge}#fees")
}

/// Rates `usage` (charge id or metric name → quantity; a charge uses its
/// id's entry, else its metric's) with `plan`. `period_share` prorates the
/// recurring amounts, the base fee and the minimums (1 for a whole period;
/// days in the segment ÷ days in the period). Usage is never prorated:
/// tiers apply to the usage of the segment as given.
///
/// A plan billed in advance gives its base fee as an
/// [`LineKind::AdvanceFee`] line: what the period's fee is, wherever it is
/// billed (an invoice bills it a period ahead, see [`crate::advance`], and
/// leaves it out of the segment; a quote shows it). It still counts toward
/// `minimum_includes_base_fee`.
pub fn rate(plan: &Plan, usage: &Quantities, period_share: Decimal) -> Result<Rated, RateError> {
    let currency = plan.currency();
    let round = |d: Decimal| plan.rounding.apply(d, currency);
    let overflow = |charge: &str| RateError::Overflow {
        charge: charge.to_string(),
    };
    let prorate = |amount: Decimal, charge: &str| {
        amount
            .checked_mul(period_share)
            .ok_or_else(|| overflow(charge))
    };
    let mut lines = Vec::new();
    let mut base_fee = Decimal::ZERO;
    if let Some(fee) = plan.base_fee {
        let unrounded = prorate(fee, "base_fee")?;
        base_fee = round(unrounded);
        let name = base_fee_name(plan);
        lines.push(Line {
            kind: match plan.base_fee_timing {
                BaseFeeTiming::Arrears => LineKind::BaseFee,
                BaseFeeTiming::Advance => LineKind::AdvanceFee,
            },
            charge: "base_fee".into(),
            description: if period_share == Decimal::ONE {
                name.into()
            } else {
                format!("{name} × {period_share} of the period")
            },
            metric: None,
            quantity: Decimal::ONE,
            tiers: Vec::new(),
            unrounded,
            amount: base_fee,
        });
    }
    let mut usage_total = Decimal::ZERO;
    for c in &plan.charges {
        let quantity = usage
            .get(&c.id)
            .or_else(|| usage.get(c.metric.name()))
            .copied()
            .unwrap_or_default();
        let look = |k: String| usage.get(&k).copied();
        let events = look(events_key(&c.id)).or_else(|| look(events_key(c.metric.name())));
        let fees = look(fees_key(&c.id));
        let mut tiers = price_with(&c.price, quantity, events, fees).map_err(|e| {
            let missing = |what: &str| RateError::Missing {
                charge: c.id.clone(),
                what: what.to_string(),
            };
            match e {
                PriceError::Overflow => overflow(&c.id),
                PriceError::NoEvents => missing(
                    "the fixed fee per event needs the number of events; give it with the amount (amount=SUM/EVENTS)",
                ),
                PriceError::NoFees => missing(
                    "the minimum or maximum fee per event needs each event's amount (amount=12.50+99+1000*3)",
                ),
            }
        })?;
        let unrounded = tiers
            .iter()
            .try_fold(Decimal::ZERO, |acc, t| acc.checked_add(t.amount))
            .ok_or_else(|| overflow(&c.id))?;
        let amount = match plan.rounding_scope {
            RoundingScope::Line => round(unrounded),
            RoundingScope::Tier => {
                for t in &mut tiers {
                    t.rounded = Some(round(t.amount));
                }
                tiers.iter().filter_map(|t| t.rounded).sum()
            }
        };
        usage_total += amount;
        let description = c.description.clone().unwrap_or_else(|| c.id.clone());
        lines.push(Line {
            kind: LineKind::Usage,
            charge: c.id.clone(),
            description: description.clone(),
            metric: Some(c.metric.name().to_string()),
            quantity,
            tiers,
            unrounded,
            amount,
        });
        if let Some(m) = c.minimum {
            let min = prorate(m, &c.id)?;
            if amount < min {
                let true_up = min - amount;
                let rounded = round(true_up);
                usage_total += rounded;
                lines.push(Line {
                    kind: LineKind::Minimum,
                    charge: c.id.clone(),
                    description: charge_minimum_text(&description, m, currency.code),
                    metric: None,
                    quantity: Decimal::ONE,
                    tiers: Vec::new(),
                    unrounded: true_up,
                    amount: rounded,
                });
            }
        }
    }
    if let Some(m) = plan.minimum {
        let min = prorate(m, "minimum")?;
        let counted = if plan.minimum_includes_base_fee {
            usage_total + base_fee
        } else {
            usage_total
        };
        if counted < min {
            let unrounded = min - counted;
            lines.push(Line {
                kind: LineKind::Minimum,
                charge: "minimum".into(),
                description: plan_minimum_text(plan, min),
                metric: None,
                quantity: Decimal::ONE,
                tiers: Vec::new(),
                unrounded,
                amount: round(unrounded),
            });
        }
    }
    let total = currency.scaled(lines.iter().map(|l| l.amount).sum());
    Ok(Rated {
        plan: plan.id.0.clone(),
        version: plan.version,
        currency: currency.code.to_string(),
        lines,
        total,
    })
}

/// Rates `usage` over the part of a period `coverage` says (`share` is its
/// share, exact), with the prorated lines described in days or seconds:
/// what an invoice segment and a quote for that time both print.
pub fn rate_part(
    plan: &Plan,
    usage: &Quantities,
    share: Decimal,
    coverage: Coverage,
) -> Result<Rated, RateError> {
    let mut rated = rate(plan, usage, share)?;
    for line in &mut rated.lines {
        if let Some(d) = prorated_description(plan, line, coverage) {
            line.description = d;
        }
    }
    Ok(rated)
}

/// "Base fee", or "Base fee in advance" for a plan that bills it so.
pub fn base_fee_name(plan: &Plan) -> &'static str {
    match plan.base_fee_timing {
        BaseFeeTiming::Arrears => "Base fee",
        BaseFeeTiming::Advance => "Base fee in advance",
    }
}

fn plan_minimum_text(plan: &Plan, minimum: Decimal) -> String {
    format!(
        "Minimum commitment {} {}{}: true-up",
        minimum.normalize(),
        plan.currency().code,
        if plan.minimum_includes_base_fee {
            " (base fee included)"
        } else {
            ""
        }
    )
}

fn charge_minimum_text(charge: &str, minimum: Decimal, currency: &str) -> String {
    format!(
        "Minimum for {charge} {} {currency}: true-up",
        minimum.normalize()
    )
}

/// The description of a recurring line (base fee, a minimum's true-up)
/// prorated over `coverage`, as invoices and quotes print it; `None` for
/// lines that are not prorated (usage) or a whole period.
pub fn prorated_description(plan: &Plan, line: &Line, coverage: Coverage) -> Option<String> {
    if coverage.is_whole() {
        return None;
    }
    let base = match line.kind {
        LineKind::BaseFee | LineKind::AdvanceFee => base_fee_name(plan).to_string(),
        LineKind::Minimum if line.charge == "minimum" && plan.minimum.is_some() => {
            plan_minimum_text(plan, plan.minimum?)
        }
        LineKind::Minimum => {
            let c = plan.charges.iter().find(|c| c.id == line.charge)?;
            let name = c.description.clone().unwrap_or_else(|| c.id.clone());
            charge_minimum_text(&name, c.minimum?, plan.currency().code)
        }
        LineKind::Usage | LineKind::UnusedTime | LineKind::RemainingTime => return None,
    };
    Some(format!("{base}, {}", coverage.describe()))
}

/// The tier breakdown of `quantity` under `model`; `None` on overflow (and
/// for a `percentage` model that needs events or per-event fees: see
/// [`price_with`]).
pub fn price(model: &Model, quantity: Decimal) -> Option<Vec<TierPart>> {
    price_with(model, quantity, None, None).ok()
}

/// The breakdown of `quantity` under `model`, with, for a `percentage`
/// model, the number of `events` behind it and the sum of their clamped
/// `fees` (when the model has per-event limits).
pub fn price_with(
    model: &Model,
    quantity: Decimal,
    events: Option<Decimal>,
    fees: Option<Decimal>,
) -> Result<Vec<TierPart>, PriceError> {
    match model {
        Model::Percentage { .. } => percentage(model, quantity, events, fees),
        Model::GraduatedPercentage { tiers } => {
            graduated_percentage(tiers, quantity).ok_or(PriceError::Overflow)
        }
        _ => units(model, quantity).ok_or(PriceError::Overflow),
    }
}

fn units(model: &Model, quantity: Decimal) -> Option<Vec<TierPart>> {
    let one = Decimal::ONE;
    Some(match model {
        Model::PerUnit {
            unit_price,
            free_units,
        } => {
            let mut parts = Vec::new();
            if *free_units > Decimal::ZERO {
                let units = quantity.min(*free_units);
                parts.push(part(
                    1,
                    one,
                    Some(*free_units),
                    units,
                    Decimal::ZERO,
                    Decimal::ZERO,
                )?);
            }
            let billable = (quantity - *free_units).max(Decimal::ZERO);
            parts.push(part(
                parts.len() + 1,
                free_units.checked_add(one)?,
                None,
                billable,
                *unit_price,
                Decimal::ZERO,
            )?);
            parts
        }
        Model::Package {
            size,
            price,
            free_units,
            round_packages,
        } => {
            let billable = (quantity - *free_units).max(Decimal::ZERO);
            // Whole packages from the exact remainder, not from a rounded
            // quotient: billable / size may not be exact for a decimal size.
            let rem = billable.checked_rem(*size)?;
            let whole = (billable - rem).checked_div(*size)?.round();
            let packages = match round_packages {
                PackageRounding::Up if !rem.is_zero() => whole + one,
                _ => whole,
            };
            let amount = packages.checked_mul(*price)?;
            vec![TierPart {
                tier: 1,
                from_unit: free_units.checked_add(one)?,
                up_to: None,
                units: billable,
                unit_price: *price,
                flat_fee: Decimal::ZERO,
                amount,
                rounded: None,
                label: None,
            }]
        }
        Model::Graduated { tiers } => graduated(tiers, quantity)?,
        Model::Volume { tiers } => volume(tiers, quantity)?,
        Model::Percentage { .. } | Model::GraduatedPercentage { .. } => return None,
    })
}

/// A part described by `label` rather than a tier range.
fn labelled(
    tier: usize,
    units: Decimal,
    unit_price: Decimal,
    flat_fee: Decimal,
    label: String,
) -> Option<TierPart> {
    let mut p = part(tier, Decimal::ZERO, None, units, unit_price, flat_fee)?;
    p.label = Some(label);
    Some(p)
}

/// `percent` as printed on a line: `2.9 %`.
fn pct(percent: Decimal) -> String {
    format!("{} %", percent.normalize())
}

fn percentage(
    model: &Model,
    amount: Decimal,
    events: Option<Decimal>,
    fees: Option<Decimal>,
) -> Result<Vec<TierPart>, PriceError> {
    let Model::Percentage {
        percent,
        fixed_fee,
        free_events,
        free_amount,
        min_fee_per_event,
        max_fee_per_event,
    } = model
    else {
        return Err(PriceError::Overflow);
    };
    let o = |p: Option<TierPart>| p.ok_or(PriceError::Overflow);
    let rate = percent / Decimal::ONE_HUNDRED;
    let amount_text = amount.normalize();
    let mut parts = Vec::new();
    if min_fee_per_event.is_some() || max_fee_per_event.is_some() {
        // The lake summed each event's clamped fee; the parts show the
        // unclamped percentage and fixed fees, then what the limits added
        // or took away, so the line still reads as arithmetic.
        let fees = fees.ok_or(PriceError::NoFees)?;
        let share = amount.checked_mul(rate).ok_or(PriceError::Overflow)?;
        parts.push(o(labelled(
            1,
            amount,
            rate,
            Decimal::ZERO,
            format!("{} of {amount_text}", pct(*percent)),
        ))?);
        let mut fixed_total = Decimal::ZERO;
        if let Some(fixed) = fixed_fee {
            let n = events.ok_or(PriceError::NoEvents)?;
            fixed_total = n.checked_mul(*fixed).ok_or(PriceError::Overflow)?;
            parts.push(o(labelled(
                2,
                n,
                *fixed,
                Decimal::ZERO,
                format!("fixed fee {} × {n} events", fixed.normalize()),
            ))?);
        }
        let adjustment = fees - share - fixed_total;
        let limits = match (min_fee_per_event, max_fee_per_event) {
            (Some(lo), Some(hi)) => {
                format!("at least {} and at most {}", lo.normalize(), hi.normalize())
            }
            (Some(lo), None) => format!("at least {}", lo.normalize()),
            (None, Some(hi)) => format!("at most {}", hi.normalize()),
            (None, None) => String::new(),
        };
        let over = events
            .map(|n| format!(" over {n} events"))
            .unwrap_or_default();
        parts.push(o(labelled(
            parts.len() + 1,
            events.unwrap_or_default(),
            Decimal::ZERO,
            adjustment,
            format!(
                "each event's fee {limits}{over}: sum of the fees {} − unclamped {}",
                fees.normalize(),
                (share + fixed_total).normalize()
            ),
        ))?);
        return Ok(parts);
    }
    let free = free_amount.unwrap_or_default();
    if free > Decimal::ZERO {
        let covered = amount.min(free);
        parts.push(o(labelled(
            1,
            covered,
            Decimal::ZERO,
            Decimal::ZERO,
            format!(
                "free amount: {} of {}",
                covered.normalize(),
                free.normalize()
            ),
        ))?);
    }
    let billable = (amount - free).max(Decimal::ZERO);
    parts.push(o(labelled(
        parts.len() + 1,
        billable,
        rate,
        Decimal::ZERO,
        format!("{} of {}", pct(*percent), billable.normalize()),
    ))?);
    if let Some(fixed) = fixed_fee {
        let n = events.ok_or(PriceError::NoEvents)?;
        let waived = Decimal::from(*free_events);
        let billable_events = (n - waived).max(Decimal::ZERO);
        let label = if waived.is_zero() {
            format!("fixed fee {} × {n} events", fixed.normalize())
        } else {
            format!(
                "fixed fee {} × {billable_events} events ({n} − {waived} free)",
                fixed.normalize()
            )
        };
        parts.push(o(labelled(
            parts.len() + 1,
            billable_events,
            *fixed,
            Decimal::ZERO,
            label,
        ))?);
    }
    Ok(parts)
}

/// Graduated tiers of percents: [`graduated`] with each tier's rate as its
/// unit price, each part labelled with its amount range and percent.
fn graduated_percentage(tiers: &[PercentTier], amount: Decimal) -> Option<Vec<TierPart>> {
    let as_units: Vec<Tier> = tiers
        .iter()
        .map(|t| Tier {
            up_to: t.up_to,
            unit_price: t.percent / Decimal::ONE_HUNDRED,
            flat_fee: t.flat_fee,
        })
        .collect();
    let mut parts = graduated(&as_units, amount)?;
    for p in &mut parts {
        let t = &tiers[p.tier - 1];
        let from = (p.from_unit - Decimal::ONE).normalize();
        let range = match p.up_to {
            Some(u) => format!("({from}, {}]", u.normalize()),
            None => format!("above {from}"),
        };
        let flat = match t.flat_fee {
            Some(f) if !f.is_zero() => format!(" + flat fee {}", f.normalize()),
            _ => String::new(),
        };
        p.label = Some(format!(
            "tier {} {range}: {} of {}{flat}",
            p.tier,
            pct(t.percent),
            p.units.normalize()
        ));
    }
    Some(parts)
}

fn part(
    tier: usize,
    from_unit: Decimal,
    up_to: Option<Decimal>,
    units: Decimal,
    unit_price: Decimal,
    flat_fee: Decimal,
) -> Option<TierPart> {
    let amount = units.checked_mul(unit_price)?.checked_add(flat_fee)?;
    Some(TierPart {
        tier,
        from_unit,
        up_to,
        units,
        unit_price,
        flat_fee,
        amount,
        rounded: None,
        label: None,
    })
}

fn graduated(tiers: &[Tier], quantity: Decimal) -> Option<Vec<TierPart>> {
    let mut parts = Vec::new();
    let mut below = Decimal::ZERO; // units covered by earlier tiers
    for (i, t) in tiers.iter().enumerate() {
        let units = t
            .up_to
            .map_or(quantity, |cap| quantity.min(cap))
            .checked_sub(below)?
            .max(Decimal::ZERO);
        let reached = units > Decimal::ZERO || i == 0;
        if !reached {
            break;
        }
        let fee = t.flat_fee.unwrap_or_default();
        parts.push(part(
            i + 1,
            below.checked_add(Decimal::ONE)?,
            t.up_to,
            units,
            t.unit_price,
            fee,
        )?);
        match t.up_to {
            Some(cap) if quantity > cap => below = cap,
            _ => break,
        }
    }
    Some(parts)
}

fn volume(tiers: &[Tier], quantity: Decimal) -> Option<Vec<TierPart>> {
    let mut from = Decimal::ONE;
    for (i, t) in tiers.iter().enumerate() {
        match t.up_to {
            Some(u) if quantity > u => from = u.checked_add(Decimal::ONE)?,
            _ => {
                let fee = t.flat_fee.unwrap_or_default();
                return Some(vec![part(
                    i + 1,
                    from,
                    t.up_to,
                    quantity,
                    t.unit_price,
                    fee,
                )?]);
            }
        }
    }
    Some(Vec::new())
}
