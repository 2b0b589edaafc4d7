//! Quotes: a plan's price for a given usage, over a whole period, a share
//! of one, or some days (or, for a plan prorated by the second, any
//! instants) of one, without a lake. A quote for the time of a
//! subscription segment is the segment's invoice lines, to the cent: both
//! are [`rate_part`]. A plan billed in advance shows its base fee as an
//! "in advance" line: the fee for the time quoted, which its invoices bill
//! a period ahead ([`crate::advance`]).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::period::Period;
use crate::plan::Plan;
use crate::proration::{Boundary, Proration};
use crate::rate::{Quantities, RateError, Rated, rate, rate_part};

/// The part of a billing period a quote covers: what prorates the base
/// fee and the minimums (usage is never prorated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodPart {
    /// A share of the period, more than 0 and at most 1 (1: the whole period).
    Share(Decimal),
    /// The whole days `[from, to)` (UTC) of one calendar month, as a
    /// subscription segment: `to` is the first day not covered.
    Days {
        /// First day covered.
        from: NaiveDate,
        /// First day not covered; at most the first day of the next month.
        to: NaiveDate,
    },
    /// The time `[from, to)` of one calendar month, to the second: for a
    /// plan with `proration = "second"` (a plan prorated by day takes
    /// [`PeriodPart::Days`]).
    Span {
        /// First instant covered.
        from: Boundary,
        /// First instant not covered; at most the start of the next month.
        to: Boundary,
    },
}

/// Why a quote cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QuoteError {
    /// The share or the days are not part of one period.
    #[error("{0}")]
    Part(String),
    /// Rating failed.
    #[error(transparent)]
    Rate(#[from] RateError),
}

impl PeriodPart {
    /// Reads a share: a decimal (`0.5`) or a fraction (`10/31`, exact).
    pub fn parse_share(s: &str) -> Result<PeriodPart, QuoteError> {
        let bad = || {
            QuoteError::Part(format!(
                "{s:?} is not a period share; write a decimal (0.5) or days of the month (10/31)"
            ))
        };
        let share = match s.split_once('/') {
            Some((n, d)) => {
                let n: Decimal = n.trim().parse().map_err(|_| bad())?;
                let d: Decimal = d.trim().parse().map_err(|_| bad())?;
                n.checked_div(d).ok_or_else(bad)?
            }
            None => s.trim().parse().map_err(|_| bad())?,
        };
        let part = PeriodPart::Share(share);
        part.share()?;
        Ok(part)
    }

    /// `from`..`to`: whole days when both are at midnight, else a span.
    pub fn range(from: Boundary, to: Boundary) -> PeriodPart {
        if from.is_midnight() && to.is_midnight() {
            PeriodPart::Days {
                from: from.date(),
                to: to.date(),
            }
        } else {
            PeriodPart::Span { from, to }
        }
    }

    /// The share of the period (days ÷ days in the month, or seconds ÷
    /// seconds in it for a span, exact, as for subscription segments),
    /// after checking the part is one.
    pub fn share(self) -> Result<Decimal, QuoteError> {
        match self {
            PeriodPart::Span { from, to } => {
                let period = Period::of(from.date());
                let end = Boundary::day(period.end());
                if to <= from {
                    return Err(QuoteError::Part(format!(
                        "--to {to} must be after --from {from} (to is the first instant not covered)"
                    )));
                }
                if to > end {
                    return Err(QuoteError::Part(format!(
                        "{from}..{to} runs past the period {period}; quote each month on its own (to at most {end})"
                    )));
                }
                Ok(Proration::Second.coverage(period, from, to).share())
            }
            PeriodPart::Share(s) if s > Decimal::ZERO && s <= Decimal::ONE => Ok(s),
            PeriodPart::Share(s) => Err(QuoteError::Part(format!(
                "period share {s} must be more than 0 and at most 1"
            ))),
            PeriodPart::Days { from, to } => {
                let period = Period::of(from);
                if to <= from {
                    return Err(QuoteError::Part(format!(
                        "--to {to} must be after --from {from} (to is the first day not covered)"
                    )));
                }
                if to > period.end() {
                    return Err(QuoteError::Part(format!(
                        "{from}..{to} runs past the period {period}; quote each month on its own (to at most {})",
                        period.end()
                    )));
                }
                Ok(Decimal::from((to - from).num_days()) / Decimal::from(period.days()))
            }
        }
    }
}

/// Prices `usage` with `plan` over `part` of a period.
pub fn quote(plan: &Plan, usage: &Quantities, part: PeriodPart) -> Result<Rated, QuoteError> {
    let share = part.share()?;
    Ok(match part {
        PeriodPart::Share(_) => rate(plan, usage, share)?,
        PeriodPart::Days { from, to } => rate_part(
            plan,
            usage,
            share,
            plan.proration
                .coverage(Period::of(from), Boundary::day(from), Boundary::day(to)),
        )?,
        PeriodPart::Span { from, to } => {
            if plan.proration != Proration::Second {
                return Err(QuoteError::Part(format!(
                    "plan {} v{} prorates by {}: give --from and --to as dates (YYYY-MM-DD), or quote a plan with proration = \"second\"",
                    plan.id,
                    plan.version,
                    plan.proration.name()
                )));
            }
            let coverage = plan.proration.coverage(Period::of(from.date()), from, to);
            rate_part(plan, usage, share, coverage)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).unwrap()
    }

    #[test]
    fn shares_and_days_are_checked() {
        assert_eq!(
            PeriodPart::parse_share("10/31").unwrap(),
            PeriodPart::Share(d("10") / d("31"))
        );
        assert_eq!(
            PeriodPart::parse_share("0.5").unwrap(),
            PeriodPart::Share(d("0.5"))
        );
        for bad in ["0", "1.01", "-1/2", "x", "1/0", "31/30"] {
            assert!(PeriodPart::parse_share(bad).is_err(), "{bad}");
        }
        let days = |a, b| PeriodPart::Days {
            from: day(a),
            to: day(b),
        };
        assert_eq!(
            days("2026-10-11", "2026-11-01").share().unwrap(),
            d("21") / d("31")
        );
        assert_eq!(days("2028-02-01", "2028-03-01").share().unwrap(), d("1"));
        assert!(days("2026-10-11", "2026-10-11").share().is_err());
        assert!(days("2026-10-11", "2026-11-02").share().is_err());
    }
}
