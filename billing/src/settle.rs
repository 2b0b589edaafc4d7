//! Settlement: from an invoice's lines to what is left to pay, in the
//! order Lago documents: coupons, then tax, then prepaid credits.
//!
//! ```text
//! subtotal      = the segment lines + the adjustment lines (what `total` was)
//! discounts     one line per active coupon, in the customer's order (negative)
//! taxable       = subtotal + discounts
//! tax           one line: rate × taxable, rounded once with the tax's rounding
//! total         = taxable + tax
//! credits       one line per grant burned, in burn order (negative)
//! amount_due    = total + credits
//! ```
//!
//! Discounts. A coupon applies to the periods `from`, `from + 1`, …
//! (`periods` of them, or forever) and discounts the lines of the plans it
//! covers (segment lines and adjustment lines alike: what the invoice
//! bills for those plans). A percentage is of what those lines come to
//! after the earlier coupons; a fixed amount is per period and capped at
//! it, so the discounted lines never go below zero (the rest is not
//! carried over). Each discount is rounded with the rounding of the
//! invoice's first plan, and never rounded above what is left.
//!
//! Tax. The customer's `tax` wins; otherwise the default rate of the
//! invoice's plans (`[[tax]] plans`). An invoice whose plans have
//! different defaults and a customer without `tax` is an error (set one).
//!
//! Credits. Grants of the consumer in the invoice's currency that may pay
//! the period ([`Grant::pays`]) burn in [`Grant::burn_key`] order, each as
//! much as its balance, the amount still due and (for a grant with
//! `charges`) what is left of the scoped charges' lines, discounted and
//! with tax, allow. A scoped charge line's share of the total is its
//! amount × total ÷ subtotal; a grant without a scope pays what is due and
//! uses up the lines in invoice order. Credits never take the amount due
//! below zero, and an invoice whose total is zero or less burns nothing.
//! Balances come from the ledger: the grant's amount minus what finalized
//! periods burned or expired of it ([`used`]); a draft shows the burns it
//! would make, which become real when its period is finalized.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::Billing;
use crate::customers::{CustomersError, CustomersFile, Grant};
use crate::invoice::{CreditLine, DiscountLine, Invoice, InvoiceNumber, TaxLine};
use crate::money::{Currency, Rounding};
use crate::period::Period;

/// What finalized periods burned or expired of each grant, by grant id.
pub type Used = BTreeMap<String, Decimal>;

/// Why an invoice could not be settled.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettleError {
    /// The invoice's plans have different default tax rates.
    #[error(
        "{consumer} {period}: the plans on the invoice have different default taxes ({taxes}); set tax on the consumer's [[customer]] in the customers file"
    )]
    AmbiguousTax {
        /// The consumer.
        consumer: String,
        /// The period.
        period: Period,
        /// The defaults found ("none" for a plan without one).
        taxes: String,
    },
    /// An amount does not fit a `Decimal`.
    #[error("{consumer} {period}: an amount overflows while settling the invoice")]
    Overflow {
        /// The consumer.
        consumer: String,
        /// The period.
        period: Period,
    },
}

/// Number of periods from `from` to `to` (negative when `to` is earlier).
fn months(from: Period, to: Period) -> i64 {
    let (a, b) = (from.start(), to.start());
    i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month())
}

/// Settles `inv` (a draft fresh from [`crate::invoice::draft`]): discount,
/// tax and credit lines and the amount due, as the module doc says.
/// `used` is what finalized periods took of each grant; `None` leaves
/// credits out (a preview that has no ledger). An invoice of a consumer
/// with nothing that applies is left as it is.
pub fn settle(
    inv: &mut Invoice,
    billing: &Billing,
    used: Option<&Used>,
) -> Result<(), SettleError> {
    let customers = &billing.customers;
    let period = inv.period;
    let overflow = || SettleError::Overflow {
        consumer: inv.consumer.clone(),
        period,
    };
    let currency = Currency::from_code(&inv.currency).unwrap_or(Currency {
        code: "XXX",
        minor_units: 2,
    });
    let customer = customers.customer(&inv.consumer);

    // Which plans the invoice bills, and what their lines come to.
    let mut per_plan: BTreeMap<&str, Decimal> = BTreeMap::new();
    for s in &inv.segments {
        *per_plan.entry(s.segment.plan.as_str()).or_default() += s.subtotal;
    }
    for a in &inv.adjustments {
        *per_plan.entry(a.plan.as_str()).or_default() += a.amount;
    }
    // Base fees billed in advance, and their unused/remaining time lines.
    for a in &inv.advance {
        *per_plan.entry(a.plan.as_str()).or_default() += a.line.amount;
    }
    let subtotal = inv.segments.iter().map(|s| s.subtotal).sum::<Decimal>()
        + inv.adjustments.iter().map(|a| a.amount).sum::<Decimal>()
        + inv.advance.iter().map(|a| a.line.amount).sum::<Decimal>();
    let first_plan = inv
        .segments
        .first()
        .map(|s| (s.segment.plan.as_str(), Some(s.segment.version)))
        .or_else(|| {
            inv.adjustments
                .first()
                .map(|a| (a.plan.as_str(), Some(a.version)))
        });
    let rounding = first_plan
        .and_then(|(p, v)| billing.plans.get(p, v))
        .map(|p| p.rounding)
        .unwrap_or_default();

    // Coupons active in this period, in the customer's order.
    let first_period = billing
        .subscriptions
        .of(&inv.consumer)
        .map(|s| Period::of(s.start.date()))
        .min();
    let active: Vec<_> = customer
        .into_iter()
        .flat_map(|c| &c.coupons)
        .filter_map(|u| {
            let coupon = customers.coupon(&u.coupon)?;
            let from = u.from.or(first_period)?;
            let n = months(from, period);
            (n >= 0 && coupon.periods.is_none_or(|p| n < i64::from(p))).then_some(coupon)
        })
        .collect();

    // The tax rate: the customer's, or the plans' common default.
    let tax = match customer.and_then(|c| c.tax.as_deref()) {
        Some(id) => customers.tax(id),
        None => {
            let defaults: std::collections::BTreeSet<Option<&str>> = per_plan
                .keys()
                .map(|p| {
                    customers
                        .taxes
                        .iter()
                        .find(|t| t.plans.iter().any(|x| x == p))
                        .map(|t| t.id.as_str())
                })
                .collect();
            match defaults.len() {
                0 => None,
                1 => defaults
                    .into_iter()
                    .next()
                    .flatten()
                    .and_then(|id| customers.tax(id)),
                _ => {
                    return Err(SettleError::AmbiguousTax {
                        consumer: inv.consumer.clone(),
                        period,
                        taxes: defaults
                            .iter()
                            .map(|d| d.unwrap_or("none"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
    };

    // Grants that may pay, with their balances, in burn order.
    let mut grants: Vec<(&Grant, Decimal)> = match used {
        None => Vec::new(),
        Some(used) => customers
            .grants
            .iter()
            .filter(|g| {
                g.consumer == inv.consumer
                    && g.currency.eq_ignore_ascii_case(&inv.currency)
                    && g.pays(period)
            })
            .map(|g| (g, g.amount - used.get(&g.id).copied().unwrap_or_default()))
            .filter(|(_, b)| *b > Decimal::ZERO)
            .collect(),
    };
    grants.sort_by(|a, b| a.0.burn_key().cmp(&b.0.burn_key()));

    if tax.is_none() && active.is_empty() && grants.is_empty() {
        inv.subtotal = None;
        inv.discounts.clear();
        inv.tax = None;
        inv.credits.clear();
        inv.amount_due = None;
        inv.total = subtotal;
        return Ok(());
    }

    // Discounts: what each plan's lines come to, never below zero.
    let mut left: BTreeMap<&str, Decimal> = per_plan
        .iter()
        .map(|(p, a)| (*p, (*a).max(Decimal::ZERO)))
        .collect();
    let mut discounts = Vec::new();
    for c in active {
        let covered: Vec<&str> = left
            .keys()
            .copied()
            .filter(|p| c.plans.as_ref().is_none_or(|ps| ps.iter().any(|x| x == p)))
            .collect();
        let base: Decimal = covered.iter().map(|p| left[p]).sum();
        if base <= Decimal::ZERO {
            continue;
        }
        let raw = match (c.percent, c.amount) {
            (Some(pct), _) => base
                .checked_mul(pct)
                .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
                .ok_or_else(overflow)?,
            (None, Some(a))
                if c.currency
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(&inv.currency)) =>
            {
                a
            }
            _ => continue,
        };
        let d = rounding
            .apply(raw, currency)
            .min(Rounding::Down.apply(base, currency));
        if d <= Decimal::ZERO {
            continue;
        }
        // What is left of each covered plan shrinks in proportion.
        let keep = (base - d) / base;
        for p in &covered {
            if let Some(v) = left.get_mut(p) {
                *v *= keep;
            }
        }
        let what = match c.percent {
            Some(p) => format!("{}% off", p.normalize()),
            None => format!("{} {} off", currency.scaled(d), currency.code),
        };
        discounts.push(DiscountLine {
            coupon: c.id.clone(),
            description: c
                .description
                .clone()
                .unwrap_or_else(|| format!("Coupon {} ({what} {})", c.id, covered.join(", "))),
            percent: c.percent,
            plans: covered.iter().map(|p| p.to_string()).collect(),
            base: currency.scaled(Rounding::Down.apply(base, currency)),
            amount: -d,
        });
    }
    let taxable = subtotal + discounts.iter().map(|d| d.amount).sum::<Decimal>();

    let tax_line = match tax {
        Some(t) => Some(TaxLine {
            tax: t.id.clone(),
            name: t.name.clone(),
            rate: t.rate,
            taxable,
            amount: t
                .rounding
                .apply(taxable.checked_mul(t.rate).ok_or_else(overflow)?, currency),
        }),
        None => None,
    };
    let total = taxable + tax_line.as_ref().map_or(Decimal::ZERO, |t| t.amount);

    // Credits. Each line's share of the total, for scoped grants.
    let mut shares: Vec<(&str, Decimal)> = Vec::new();
    if total > Decimal::ZERO && subtotal > Decimal::ZERO {
        let ratio = total.checked_div(subtotal).ok_or_else(overflow)?;
        let lines = inv
            .segments
            .iter()
            .flat_map(|s| {
                s.lines
                    .iter()
                    .map(|l| (l.line.charge.as_str(), l.line.amount))
            })
            .chain(
                inv.adjustments
                    .iter()
                    .map(|a| (a.charge.as_str(), a.amount)),
            )
            .chain(
                inv.advance
                    .iter()
                    .map(|a| (a.line.charge.as_str(), a.line.amount)),
            );
        for (charge, amount) in lines {
            let share = amount
                .max(Decimal::ZERO)
                .checked_mul(ratio)
                .ok_or_else(overflow)?;
            shares.push((charge, share));
        }
    }
    let mut due = total.max(Decimal::ZERO);
    let mut credits = Vec::new();
    for (g, balance) in grants {
        if due <= Decimal::ZERO {
            break;
        }
        let in_scope = |charge: &str| {
            g.charges
                .as_ref()
                .is_none_or(|cs| cs.iter().any(|c| c == charge))
        };
        let available = match &g.charges {
            None => due,
            Some(_) => shares
                .iter()
                .filter(|(c, _)| in_scope(c))
                .map(|(_, s)| *s)
                .sum(),
        };
        let burn = Rounding::Down.apply(balance.min(available).min(due), currency);
        if burn <= Decimal::ZERO {
            continue;
        }
        due -= burn;
        let mut take = burn;
        for (c, s) in shares.iter_mut() {
            if take <= Decimal::ZERO {
                break;
            }
            if in_scope(c) {
                let t = take.min(*s);
                *s -= t;
                take -= t;
            }
        }
        credits.push(CreditLine {
            grant: g.id.clone(),
            description: format!("Prepaid credit {}", g.id),
            priority: g.priority,
            expires: g.expires,
            charges: g.charges.clone(),
            balance_before: currency.scaled(balance),
            amount: -burn,
            balance_after: currency.scaled(balance - burn),
        });
    }
    let amount_due = total + credits.iter().map(|c| c.amount).sum::<Decimal>();

    inv.subtotal = Some(currency.scaled(subtotal));
    inv.discounts = discounts;
    inv.tax = tax_line;
    inv.total = currency.scaled(total);
    inv.credits = credits;
    inv.amount_due = Some(currency.scaled(amount_due));
    Ok(())
}

/// One grant in one period's wallet statement: the row of the `wallet`
/// table and of `billing/wallet/<period>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletEntry {
    /// The consumer.
    pub consumer: String,
    /// The grant id.
    pub grant: String,
    /// Its currency.
    pub currency: String,
    /// Its amount (as granted).
    pub amount: Decimal,
    /// Its burn priority.
    pub priority: i64,
    /// The day it was granted.
    pub granted: NaiveDate,
    /// First day it is no longer valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
    /// The charges it may pay; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charges: Option<Vec<String>>,
    /// Balance at the start of the period.
    pub balance_before: Decimal,
    /// Burned on the period's invoice (0 or more).
    pub burned: Decimal,
    /// Expired in the period: what was left when it expired (0 or more).
    pub expired: Decimal,
    /// `balance_before − burned − expired`.
    pub balance_after: Decimal,
    /// The invoice that burned it, once finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceNumber>,
}

impl WalletEntry {
    /// Whether the grant's terms are those of `g`; the first term that
    /// differs otherwise.
    fn differs(&self, g: &Grant) -> Option<&'static str> {
        [
            ("consumer", self.consumer == g.consumer),
            ("amount", self.amount == g.amount),
            ("currency", self.currency.eq_ignore_ascii_case(&g.currency)),
            ("priority", self.priority == g.priority),
            ("granted", self.granted == g.granted),
            ("expires", self.expires == g.expires),
            ("charges", self.charges == g.charges),
        ]
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(k, _)| k)
    }
}

/// The wallet statement of `period`: one entry per grant granted by the
/// period's end with a balance left at its start, with what the period's
/// invoices burned and what expired. `used` is what earlier finalized
/// periods took ([`used`]); invoice numbers are set on finalization.
pub fn wallet(
    period: Period,
    customers: &CustomersFile,
    used: &Used,
    invoices: &[Invoice],
) -> Vec<WalletEntry> {
    let mut grants: Vec<&Grant> = customers
        .grants
        .iter()
        .filter(|g| g.granted < period.end())
        .collect();
    grants.sort_by(|a, b| (&a.consumer, a.burn_key()).cmp(&(&b.consumer, b.burn_key())));
    // What the drafts burn of each grant, summed once (not a scan of every
    // invoice per grant: thousands of each made that quadratic).
    let mut burns: BTreeMap<(&str, &str), Decimal> = BTreeMap::new();
    for i in invoices {
        for c in &i.credits {
            *burns
                .entry((i.consumer.as_str(), c.grant.as_str()))
                .or_default() -= c.amount;
        }
    }
    let mut out = Vec::new();
    for g in grants {
        let before = g.amount - used.get(&g.id).copied().unwrap_or_default();
        if before <= Decimal::ZERO {
            continue;
        }
        let burned = burns
            .get(&(g.consumer.as_str(), g.id.as_str()))
            .copied()
            .unwrap_or_default();
        let expired = if g.expires.is_some_and(|e| e <= period.end()) {
            before - burned
        } else {
            Decimal::ZERO
        };
        let cur = Currency::from_code(&g.currency).unwrap_or(Currency {
            code: "XXX",
            minor_units: 2,
        });
        out.push(WalletEntry {
            consumer: g.consumer.clone(),
            grant: g.id.clone(),
            currency: cur.code.to_string(),
            amount: g.amount,
            priority: g.priority,
            granted: g.granted,
            expires: g.expires,
            charges: g.charges.clone(),
            balance_before: cur.scaled(before),
            burned: cur.scaled(burned),
            expired: cur.scaled(expired),
            balance_after: cur.scaled(before - burned - expired),
            invoice: None,
        });
    }
    out
}

/// What finalized statements burned or expired of each grant.
pub fn used<'a>(finalized: impl IntoIterator<Item = &'a WalletEntry>) -> Used {
    let mut out = Used::new();
    for e in finalized {
        *out.entry(e.grant.clone()).or_default() += e.burned + e.expired;
    }
    out
}

/// Checks that every grant finalized periods burned or expired is still in
/// `customers` with the same terms: a used grant is immutable (make a new
/// grant instead). `finalized` is every finalized statement, oldest first.
pub fn check_used_grants(
    customers: &CustomersFile,
    finalized: &[(Period, Vec<WalletEntry>)],
) -> Result<(), CustomersError> {
    let mut last: BTreeMap<&str, (Period, &WalletEntry)> = BTreeMap::new();
    let mut taken: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (p, entries) in finalized {
        for e in entries {
            last.insert(&e.grant, (*p, e));
            *taken.entry(&e.grant).or_default() += e.burned + e.expired;
        }
    }
    for (id, (p, e)) in last {
        if taken[id].is_zero() {
            continue;
        }
        match customers.grant(id) {
            None => {
                return Err(CustomersError::Invalid {
                    file: customers.file.clone(),
                    line: None,
                    field: "grant".into(),
                    why: format!(
                        "grant {id:?} of {} was used by finalized period {p} and is no longer in the file; put it back as it was (a used grant never changes)",
                        e.consumer
                    ),
                });
            }
            Some(g) => {
                if let Some(k) = e.differs(g) {
                    return Err(customers.grant_error(
                        id,
                        k,
                        format!(
                            "grant {id:?} was used by finalized period {p}, so its terms are frozen: {k} was changed; put it back and add a new grant instead"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tollgate_schemas::meter::{Filter, Meter, Metric};

    use super::*;
    use crate::config::BillingConfig;
    use crate::invoice::{SegmentUsage, Usage, draft, rate_segment};

    const PLANS: &str = r#"
[[plan]]
id = "growth"
version = 1
currency = "EUR"
base_fee = "100"
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"

[[plan]]
id = "other"
version = 1
currency = "EUR"
base_fee = "10"
"#;

    const SUBS: &str = r#"
[[subscription]]
consumer = "acme"
plan = "growth"
start = "2026-09-01"
"#;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn billing(customers: &str) -> Billing {
        Billing::parse_with_customers(BillingConfig::default(), PLANS, SUBS, Some(customers))
            .unwrap()
    }

    /// acme's draft for `period` with `calls` calls on growth (base fee
    /// 100.00 + calls × 0.01).
    fn invoice(b: &Billing, period: &str, calls: u64) -> Invoice {
        let period: Period = period.parse().unwrap();
        let usage: SegmentUsage = [(
            Meter {
                metric: Metric::Calls,
                filter: Filter::default(),
            },
            Usage {
                quantity: calls.into(),
                events: calls,
                first_ts: None,
                last_ts: None,
            },
        )]
        .into_iter()
        .collect();
        let segs = b
            .subscriptions
            .segments("acme", period)
            .iter()
            .map(|s| rate_segment(&b.plans, s, &usage).unwrap())
            .collect();
        draft(&b.plans, period, "acme", segs, vec![])
            .unwrap()
            .unwrap()
    }

    fn settled(b: &Billing, period: &str, calls: u64, used: &Used) -> Invoice {
        let mut inv = invoice(b, period, calls);
        settle(&mut inv, b, Some(used)).unwrap();
        inv
    }

    const ALL: &str = r#"
[[tax]]
id = "de-vat"
name = "VAT 19%"
rate = "0.19"

[[coupon]]
id = "welcome"
percent = "20"
periods = 2
plans = ["growth"]

[[coupon]]
id = "ten-off"
amount = "10"
currency = "EUR"

[[customer]]
consumer = "acme"
tax = "de-vat"
coupons = [{ coupon = "welcome", from = "2026-10" }, { coupon = "ten-off" }]

[[grant]]
id = "first"
consumer = "acme"
amount = "50.00"
currency = "EUR"
priority = 1
granted = "2026-09-01"

[[grant]]
id = "second"
consumer = "acme"
amount = "100"
currency = "EUR"
priority = 2
granted = "2026-09-01"
"#;

    #[test]
    fn coupon_then_tax_then_credits() {
        let b = billing(ALL);
        let inv = settled(&b, "2026-10", 2_000, &Used::new());
        // Lines: base fee 100.00 + 2,000 calls × 0.01 = 20.00.
        assert_eq!(inv.subtotal, Some(d("120.00")));
        // welcome: 20% of 120.00 = 24.00; ten-off: 10.00 of the 96.00 left.
        let disc: Vec<_> = inv
            .discounts
            .iter()
            .map(|l| (l.coupon.as_str(), l.base, l.amount))
            .collect();
        assert_eq!(
            disc,
            [
                ("welcome", d("120.00"), d("-24.00")),
                ("ten-off", d("96.00"), d("-10.00"))
            ]
        );
        // Tax on 120.00 − 24.00 − 10.00 = 86.00: 0.19 × 86.00 = 16.34.
        let tax = inv.tax.as_ref().unwrap();
        assert_eq!((tax.taxable, tax.amount), (d("86.00"), d("16.34")));
        assert_eq!(inv.total, d("102.34")); // 86.00 + 16.34
        // Credits after tax: "first" (priority 1) pays its 50.00, "second"
        // the remaining 52.34 of its 100.00.
        let cr: Vec<_> = inv
            .credits
            .iter()
            .map(|c| {
                (
                    c.grant.as_str(),
                    c.balance_before,
                    c.amount,
                    c.balance_after,
                )
            })
            .collect();
        assert_eq!(
            cr,
            [
                ("first", d("50.00"), d("-50.00"), d("0.00")),
                ("second", d("100.00"), d("-52.34"), d("47.66"))
            ]
        );
        assert_eq!(inv.amount_due, Some(d("0.00")));
        assert_eq!(inv.due(), d("0.00"));
        // Every step is one row; the rows add up to the amount due.
        let rows = crate::render::rows(&inv);
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                "base_fee", "usage", "discount", "discount", "tax", "credit", "credit"
            ]
        );
        assert_eq!(rows.iter().map(|r| r.amount).sum::<Decimal>(), d("0.00"));
        assert_eq!(
            rows[6].description,
            "Prepaid credit second (balance 100.00 → 47.66)"
        );
        // The HTML shows every step, with the balances; the CSV one row each.
        let page = crate::render::html(&inv);
        assert!(
            page.contains("<th class=\"n\" id=\"subtotal\">120.00 EUR</th>"),
            "{page}"
        );
        assert!(
            page.contains("VAT 19% (0.19 × 86.00)</td><td class=\"n\">16.34 EUR</td>"),
            "{page}"
        );
        assert!(page.contains("balance 100.00 → 47.66 EUR"), "{page}");
        assert!(
            page.contains("<th class=\"n\" id=\"amount-due\">0.00 EUR</th>"),
            "{page}"
        );
        let csv = crate::render::csv(std::slice::from_ref(&inv));
        assert!(
            csv.contains(",5,tax,de-vat,VAT 19% (0.19 × 86.00),,,0,2026-10-01,2026-11-01,1,16.34,"),
            "{csv}"
        );
        // The coupon ran for two periods (October, November): December has
        // only ten-off. 100.00 − 10.00 = 90.00, tax 17.10, total 107.10.
        let dec = settled(&b, "2026-12", 0, &Used::new());
        assert_eq!(dec.discounts.len(), 1);
        assert_eq!(dec.tax.as_ref().unwrap().amount, d("17.10"));
        assert_eq!(dec.total, d("107.10"));
        // ten-off has no `from`: it started with the subscription (September).
        let sep = settled(&b, "2026-09", 0, &Used::new());
        assert_eq!(sep.discounts[0].coupon, "ten-off");
    }

    #[test]
    fn the_tax_rounds_once_with_its_rounding() {
        // 1.50 of calls... on a plan without a base fee: use "other" with a
        // coupon leaving 1.50: 10.00 − 8.50 = 1.50; 0.19 × 1.50 = 0.285.
        let subs =
            "[[subscription]]\nconsumer = \"acme\"\nplan = \"other\"\nstart = \"2026-09-01\"\n";
        let text = |rounding: &str| {
            format!(
                "[[tax]]\nid = \"t\"\nname = \"T\"\nrate = \"0.19\"\nrounding = \"{rounding}\"\nplans = [\"other\"]\n\
                 [[coupon]]\nid = \"c\"\namount = \"8.50\"\ncurrency = \"EUR\"\n\
                 [[customer]]\nconsumer = \"acme\"\ncoupons = [{{ coupon = \"c\" }}]\n"
            )
        };
        for (rounding, tax) in [("half_away_from_zero", "0.29"), ("half_even", "0.28")] {
            let b = Billing::parse_with_customers(
                BillingConfig::default(),
                PLANS,
                subs,
                Some(&text(rounding)),
            )
            .unwrap();
            let period: Period = "2026-10".parse().unwrap();
            let segs = b
                .subscriptions
                .segments("acme", period)
                .iter()
                .map(|s| rate_segment(&b.plans, s, &SegmentUsage::new()).unwrap())
                .collect();
            let mut inv = draft(&b.plans, period, "acme", segs, vec![])
                .unwrap()
                .unwrap();
            settle(&mut inv, &b, None).unwrap();
            // The plan's default tax applies (the customer names none).
            assert_eq!(inv.tax.as_ref().unwrap().amount, d(tax), "{rounding}");
            assert!(inv.credits.is_empty());
        }
    }

    const WALLET: &str = r#"
[[grant]]
id = "ends-oct"
consumer = "acme"
amount = "40"
currency = "EUR"
priority = 1
granted = "2026-09-01"
expires = "2026-11-01"

[[grant]]
id = "open"
consumer = "acme"
amount = "50"
currency = "EUR"
priority = 1
granted = "2026-09-01"

[[grant]]
id = "mid-oct"
consumer = "acme"
amount = "5"
currency = "EUR"
priority = 0
granted = "2026-09-01"
expires = "2026-10-15"

[[grant]]
id = "later"
consumer = "acme"
amount = "7"
currency = "EUR"
priority = 0
granted = "2026-11-05"
"#;

    #[test]
    fn credit_burn_order_and_expiry() {
        let b = billing(WALLET);
        // October: 100.00 base fee + 0 calls, no tax. "mid-oct" (priority
        // 0) expired on 2026-10-15, before the period's end: it pays
        // nothing. Priority 1: "ends-oct" (expires first) pays 40.00, then
        // "open" 50.00 of its 50.00; 10.00 is left to pay. "later" is
        // granted after October.
        let oct = settled(&b, "2026-10", 0, &Used::new());
        let cr: Vec<_> = oct
            .credits
            .iter()
            .map(|c| (c.grant.as_str(), c.amount))
            .collect();
        assert_eq!(cr, [("ends-oct", d("-40.00")), ("open", d("-50.00"))]);
        assert_eq!(oct.amount_due, Some(d("10.00")));

        // A smaller invoice: 30.00 (an "other" plan is not subscribed, so
        // use a 70% coupon: 100.00 − 70.00). ends-oct pays 30.00 and its
        // 10.00 left expires with October; "open" is untouched.
        let mut b2 = b.clone();
        b2.customers.coupons.push(crate::customers::Coupon {
            id: "c".into(),
            description: None,
            percent: Some(d("70")),
            amount: None,
            currency: None,
            periods: None,
            plans: None,
        });
        b2.customers.customers.push(crate::customers::Customer {
            consumer: "acme".into(),
            tax: None,
            coupons: vec![crate::customers::CouponUse {
                coupon: "c".into(),
                from: None,
            }],
        });
        let oct = settled(&b2, "2026-10", 0, &Used::new());
        assert_eq!(oct.total, d("30.00"));
        assert_eq!(oct.credits.len(), 1);
        assert_eq!(oct.credits[0].balance_after, d("10.00"));
        let statement = wallet(
            oct.period,
            &b2.customers,
            &Used::new(),
            std::slice::from_ref(&oct),
        );
        let rows: Vec<_> = statement
            .iter()
            .map(|e| {
                (
                    e.grant.as_str(),
                    e.balance_before,
                    e.burned,
                    e.expired,
                    e.balance_after,
                )
            })
            .collect();
        // Sorted by burn order; "later" is not granted yet.
        assert_eq!(
            rows,
            [
                ("mid-oct", d("5.00"), d("0.00"), d("5.00"), d("0.00")),
                ("ends-oct", d("40.00"), d("30.00"), d("10.00"), d("0.00")),
                ("open", d("50.00"), d("0.00"), d("0.00"), d("50.00")),
            ]
        );
        // November starts from October's statement: only "open" and
        // "later" are left; "later" (priority 0) burns first: 7.00, then
        // "open" 23.00 of 30.00.
        let used = used(&statement);
        let nov = settled(&b2, "2026-11", 0, &used);
        let cr: Vec<_> = nov
            .credits
            .iter()
            .map(|c| (c.grant.as_str(), c.balance_before, c.amount))
            .collect();
        assert_eq!(
            cr,
            [
                ("later", d("7.00"), d("-7.00")),
                ("open", d("50.00"), d("-23.00"))
            ]
        );
        assert_eq!(nov.amount_due, Some(d("0.00")));
    }

    #[test]
    fn a_scoped_grant_pays_only_its_charges_share_with_tax() {
        let text = ALL.replace(
            "amount = \"50.00\"\ncurrency = \"EUR\"\npriority = 1\ngranted = \"2026-09-01\"\n",
            "amount = \"50.00\"\ncurrency = \"EUR\"\npriority = 1\ngranted = \"2026-09-01\"\ncharges = [\"calls\"]\n",
        );
        let b = billing(&text);
        let inv = settled(&b, "2026-10", 2_000, &Used::new());
        // Total 102.34 over a subtotal of 120.00: the calls line (20.00)
        // is 20.00 × 102.34 ÷ 120.00 = 17.0566… of it; the grant pays
        // 17.05 (rounded down), "second" the other 85.29.
        assert_eq!(inv.credits[0].amount, d("-17.05"));
        assert_eq!(inv.credits[0].balance_after, d("32.95"));
        assert_eq!(inv.credits[1].amount, d("-85.29"));
        assert_eq!(inv.amount_due, Some(d("0.00")));
    }

    #[test]
    fn credits_do_not_pay_a_negative_total() {
        let b = billing(ALL);
        let mut inv = invoice(&b, "2026-10", 0);
        // A late-usage correction larger than the month: −500.00.
        inv.segments[0].subtotal = d("-500.00");
        inv.segments[0].lines[0].line.amount = d("-500.00");
        settle(&mut inv, &b, Some(&Used::new())).unwrap();
        assert!(inv.discounts.is_empty()); // nothing left to discount
        assert_eq!(inv.tax.as_ref().unwrap().amount, d("-95.00"));
        assert!(inv.credits.is_empty());
        assert_eq!(inv.amount_due, Some(d("-595.00")));
    }

    #[test]
    fn without_settings_an_invoice_is_unchanged() {
        let b = billing("");
        let plain = invoice(&b, "2026-10", 2_000);
        let mut inv = plain.clone();
        settle(&mut inv, &b, Some(&Used::new())).unwrap();
        assert_eq!(inv, plain);
        let json: serde_json::Value = serde_json::from_str(&crate::render::json(&inv)).unwrap();
        for absent in ["subtotal", "discounts", "tax", "credits", "amount_due"] {
            assert!(json.get(absent).is_none(), "{absent} in {json}");
        }
    }

    #[test]
    fn different_default_taxes_need_the_customers_tax() {
        let text = "[[tax]]\nid = \"a\"\nname = \"A\"\nrate = \"0.1\"\nplans = [\"growth\"]\n";
        let b = billing(text);
        let mut inv = invoice(&b, "2026-10", 0);
        let mut other = inv.segments[0].clone();
        other.segment.plan = "other".into();
        inv.segments.push(other);
        let e = settle(&mut inv, &b, None).unwrap_err().to_string();
        assert_eq!(
            e,
            "acme 2026-10: the plans on the invoice have different default taxes (none, a); set tax on the consumer's [[customer]] in the customers file"
        );
    }

    #[test]
    fn a_used_grant_may_not_change() {
        let b = billing(WALLET);
        let oct = settled(&b, "2026-10", 0, &Used::new());
        let st = wallet(
            oct.period,
            &b.customers,
            &Used::new(),
            std::slice::from_ref(&oct),
        );
        let finalized = vec![(oct.period, st)];
        assert_eq!(check_used_grants(&b.customers, &finalized), Ok(()));
        // "open" paid 50.00 in October: its amount is frozen.
        let changed = billing(&WALLET.replace("amount = \"50\"", "amount = \"60\""));
        let e = check_used_grants(&changed.customers, &finalized)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "customers.toml, line 14, field grant[2].amount: grant \"open\" was used by finalized period 2026-10, so its terms are frozen: amount was changed; put it back and add a new grant instead"
        );
        // "later" was never used: it may still change.
        let later = billing(&WALLET.replace("amount = \"7\"", "amount = \"8\""));
        assert_eq!(check_used_grants(&later.customers, &finalized), Ok(()));
        // A used grant removed from the file.
        let gone = billing(&WALLET.replace("id = \"mid-oct\"", "id = \"mid-oct2\""));
        let e = check_used_grants(&gone.customers, &finalized)
            .unwrap_err()
            .to_string();
        assert!(e.contains("grant \"mid-oct\" of acme was used by finalized period 2026-10 and is no longer in the file"), "{e}");
    }

    /// A base fee billed in advance is part of what is discounted, taxed
    /// and paid: September's invoice of a plan billed in advance carries
    /// October's fee (50.00, no usage), taxed at 19 % = 9.50, total 59.50.
    #[test]
    fn fees_billed_in_advance_are_taxed_with_the_rest() {
        const ADV: &str = r#"
[[plan]]
id = "adv"
version = 1
currency = "EUR"
base_fee = "50"
base_fee_timing = "advance"
"#;
        const SUBS: &str = r#"
[[subscription]]
consumer = "acme"
plan = "adv"
start = "2026-08-01"
"#;
        let customers = "[[tax]]\nid = \"vat\"\nname = \"VAT\"\nrate = \"0.19\"\n\n[[customer]]\nconsumer = \"acme\"\ntax = \"vat\"\n";
        let b = Billing::parse_with_customers(BillingConfig::default(), ADV, SUBS, Some(customers))
            .unwrap();
        let sep: Period = "2026-09".parse().unwrap();
        let this = b.subscriptions.segments("acme", sep);
        let next = b.subscriptions.segments("acme", sep.next());
        // August's invoice prepaid September in full.
        let prepaid = crate::advance::advance_fees(&b.plans, &this).unwrap();
        let advance = crate::advance::advance_lines(&b.plans, sep, &prepaid, &this, &next).unwrap();
        let segs = this
            .iter()
            .map(|s| rate_segment(&b.plans, s, &SegmentUsage::new()).unwrap())
            .collect();
        let mut inv =
            crate::invoice::draft_with_advance(&b.plans, sep, "acme", segs, advance, vec![])
                .unwrap()
                .unwrap();
        assert_eq!(inv.total, d("50.00"), "{inv:#?}");
        settle(&mut inv, &b, None).unwrap();
        assert_eq!(inv.tax.as_ref().unwrap().amount, d("9.50"));
        assert_eq!(inv.total, d("59.50"));
    }
}
