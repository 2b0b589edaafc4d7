//! Rating: a plan and usage in, invoice lines out. Pure and exact.
//!
//! Tier semantics: `up_to` is an inclusive upper bound in units; tier `i`
//! covers `(up_to[i-1], up_to[i]]`, the last tier is unbounded. A quantity
//! of 0 bills the first tier's flat fee if it has one (a tier is "reached"
//! by usage of 0 only when it is the first). Each line is rounded to the
//! currency's minor units with the plan's rounding; the total is the sum of
//! the rounded lines. Quantities are `u64`; amounts are computed in
//! `Decimal` with checked arithmetic, so 10^12 calls at 0.000001 is exact
//! and an overflow is an error, never a wrap or a panic.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::plan::{Model, Plan, Tier};

/// A rating failure.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RateError {
    /// An amount does not fit a `Decimal` (about 7.9 × 10^28).
    #[error("charge {charge}: the amount overflows; check the quantity and prices")]
    Overflow {
        /// The charge.
        charge: String,
    },
}

/// One tier's share of a line: how many units fell in it and what they cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierPart {
    /// 1-based tier number.
    pub tier: usize,
    /// First unit of the tier (1-based, inclusive).
    pub from_unit: u64,
    /// Last unit of the tier (inclusive), `None` for the unbounded tier.
    pub up_to: Option<u64>,
    /// Units priced in this tier.
    pub units: u64,
    /// Price per unit.
    pub unit_price: Decimal,
    /// Flat fee of the tier, when reached.
    pub flat_fee: Decimal,
    /// `units × unit_price + flat_fee`, unrounded.
    pub amount: Decimal,
}

/// What kind of line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The recurring base fee (prorated).
    BaseFee,
    /// A usage charge.
    Usage,
    /// Minimum-commitment true-up.
    Minimum,
}

/// One invoice line, explainable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Kind of line.
    pub kind: LineKind,
    /// Charge id (`base_fee`, `minimum` for those kinds).
    pub charge: String,
    /// Human text.
    pub description: String,
    /// Metric name for usage lines.
    pub metric: Option<String>,
    /// Quantity rated.
    pub quantity: u64,
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
    /// Lines: base fee, usage charges in plan order, minimum true-up.
    pub lines: Vec<Line>,
    /// Sum of the rounded line amounts.
    pub total: Decimal,
}

/// Rates `usage` (charge id or metric name → quantity; a charge uses its
/// id's entry, else its metric's) with `plan`. `period_share` prorates the
/// recurring amounts, the base fee and the minimum commitment (1 for a
/// whole period; days in the segment ÷ days in the period). Usage is never
/// prorated: tiers apply to the usage of the segment as given.
pub fn rate(
    plan: &Plan,
    usage: &BTreeMap<String, u64>,
    period_share: Decimal,
) -> Result<Rated, RateError> {
    let base_fee_share = period_share;
    let currency = plan.currency();
    let round = |d: Decimal| plan.rounding.apply(d, currency);
    let mut lines = Vec::new();
    if let Some(fee) = plan.base_fee {
        let unrounded = fee
            .checked_mul(base_fee_share)
            .ok_or_else(|| RateError::Overflow {
                charge: "base_fee".into(),
            })?;
        lines.push(Line {
            kind: LineKind::BaseFee,
            charge: "base_fee".into(),
            description: if base_fee_share == Decimal::ONE {
                "Base fee".into()
            } else {
                format!("Base fee × {base_fee_share} of the period")
            },
            metric: None,
            quantity: 1,
            tiers: Vec::new(),
            unrounded,
            amount: round(unrounded),
        });
    }
    let mut usage_total = Decimal::ZERO;
    for c in &plan.charges {
        let quantity = usage
            .get(&c.id)
            .or_else(|| usage.get(c.metric.name()))
            .copied()
            .unwrap_or(0);
        let overflow = || RateError::Overflow {
            charge: c.id.clone(),
        };
        let tiers = price(&c.price, quantity).ok_or_else(overflow)?;
        let unrounded = tiers
            .iter()
            .try_fold(Decimal::ZERO, |acc, t| acc.checked_add(t.amount))
            .ok_or_else(overflow)?;
        let amount = round(unrounded);
        usage_total += amount;
        lines.push(Line {
            kind: LineKind::Usage,
            charge: c.id.clone(),
            description: c.description.clone().unwrap_or_else(|| c.id.clone()),
            metric: Some(c.metric.name().to_string()),
            quantity,
            tiers,
            unrounded,
            amount,
        });
    }
    let minimum = match plan.minimum {
        Some(m) => Some(
            m.checked_mul(period_share)
                .ok_or_else(|| RateError::Overflow {
                    charge: "minimum".into(),
                })?,
        ),
        None => None,
    };
    if let Some(min) = minimum
        && usage_total < min
    {
        let unrounded = min - usage_total;
        lines.push(Line {
            kind: LineKind::Minimum,
            charge: "minimum".into(),
            description: format!("Minimum commitment {} {currency}: true-up", min.normalize()),
            metric: None,
            quantity: 1,
            tiers: Vec::new(),
            unrounded,
            amount: round(unrounded),
        });
    }
    let total = lines.iter().map(|l| l.amount).sum();
    Ok(Rated {
        plan: plan.id.0.clone(),
        version: plan.version,
        currency: currency.code.to_string(),
        lines,
        total,
    })
}

fn dec(n: u64) -> Decimal {
    Decimal::from(n)
}

/// The tier breakdown of `quantity` under `model`; `None` on overflow.
pub fn price(model: &Model, quantity: u64) -> Option<Vec<TierPart>> {
    Some(match model {
        Model::PerUnit {
            unit_price,
            free_units,
        } => {
            let mut parts = Vec::new();
            if *free_units > 0 {
                let units = quantity.min(*free_units);
                parts.push(part(
                    1,
                    1,
                    Some(*free_units),
                    units,
                    Decimal::ZERO,
                    Decimal::ZERO,
                )?);
            }
            let billable = quantity.saturating_sub(*free_units);
            parts.push(part(
                parts.len() + 1,
                free_units.saturating_add(1),
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
        } => {
            let billable = quantity.saturating_sub(*free_units);
            let packages = billable.div_ceil(*size);
            let amount = dec(packages).checked_mul(*price)?;
            vec![TierPart {
                tier: 1,
                from_unit: free_units.saturating_add(1),
                up_to: None,
                units: billable,
                unit_price: *price,
                flat_fee: Decimal::ZERO,
                amount,
            }]
        }
        Model::Graduated { tiers } => graduated(tiers, quantity)?,
        Model::Volume { tiers } => volume(tiers, quantity)?,
    })
}

fn part(
    tier: usize,
    from_unit: u64,
    up_to: Option<u64>,
    units: u64,
    unit_price: Decimal,
    flat_fee: Decimal,
) -> Option<TierPart> {
    let amount = dec(units).checked_mul(unit_price)?.checked_add(flat_fee)?;
    Some(TierPart {
        tier,
        from_unit,
        up_to,
        units,
        unit_price,
        flat_fee,
        amount,
    })
}

fn graduated(tiers: &[Tier], quantity: u64) -> Option<Vec<TierPart>> {
    let mut parts = Vec::new();
    let mut below = 0u64; // units covered by earlier tiers
    for (i, t) in tiers.iter().enumerate() {
        let cap = t.up_to.unwrap_or(u64::MAX);
        let units = quantity.min(cap).saturating_sub(below);
        let reached = units > 0 || i == 0;
        if !reached {
            break;
        }
        let fee = t.flat_fee.unwrap_or_default();
        parts.push(part(
            i + 1,
            below.saturating_add(1),
            t.up_to,
            units,
            t.unit_price,
            fee,
        )?);
        if quantity <= cap {
            break;
        }
        below = cap;
    }
    Some(parts)
}

fn volume(tiers: &[Tier], quantity: u64) -> Option<Vec<TierPart>> {
    let mut from = 1u64;
    for (i, t) in tiers.iter().enumerate() {
        if t.up_to.is_none_or(|u| quantity <= u) {
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
        from = t.up_to.unwrap_or(u64::MAX).saturating_add(1);
    }
    Some(Vec::new())
}
