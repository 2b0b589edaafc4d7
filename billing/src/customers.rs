//! `customers.toml`: tax rates, coupons, per-consumer settings and prepaid
//! credit grants, validated on load against the plans and subscriptions.
//!
//! ```toml
//! [[tax]]
//! id = "de-vat"
//! name = "VAT 19%"
//! rate = "0.19"                  # a fraction, quoted: 0.19 is 19%
//! rounding = "half_even"         # optional; default half_away_from_zero
//! plans = ["growth"]             # optional: the default rate of these plans
//!
//! [[coupon]]
//! id = "welcome"
//! percent = "20"                 # or: amount = "10.00" with currency = "EUR"
//! periods = 3                    # optional: for 3 periods; forever when absent
//! plans = ["growth"]             # optional: the plans it discounts; all when absent
//!
//! [[customer]]
//! consumer = "acct-0001"
//! tax = "de-vat"                 # optional: wins over a plan's default rate
//! coupons = [{ coupon = "welcome", from = "2026-10" }]  # from: optional
//!
//! [[grant]]
//! id = "acct-0001-2026-10"       # unique: names the grant in the ledger
//! consumer = "acct-0001"
//! amount = "100.00"
//! currency = "EUR"
//! priority = 1                   # lower burns first; default 0
//! granted = "2026-10-01"
//! expires = "2027-01-01"         # optional, exclusive: last usable day 2026-12-31
//! charges = ["calls"]            # optional: the charges it may pay; all when absent
//! ```
//!
//! The file is optional: without it no invoice has a discount, a tax or a
//! credit line, and invoices are exactly what they were before it existed.
//! How the settings apply to an invoice is [`crate::settle`]'s.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Rounding};
use crate::period::Period;
use crate::plan::{Lines, PlansFile, Seg, at, field_at, line_of, span_in, span_of};
use crate::subscription::SubscriptionsFile;

/// A customers file that cannot be used. Both kinds name the file and the
/// line, and the field when one is to blame.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CustomersError {
    /// Not valid TOML, unknown keys, or a value of the wrong type.
    #[error("{file}{}: {message}", at(*line, field))]
    Parse {
        /// The file (as given to [`CustomersFile::parse_file`]).
        file: String,
        /// 1-based line of the offending value, when known.
        line: Option<usize>,
        /// The key path of the offending value, when known.
        field: Option<String>,
        /// What the TOML reader said.
        message: String,
    },
    /// A rule is broken.
    #[error("{file}{}: {why}", at(*line, &Some(field.clone())))]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line of the field (or of the table that should hold it).
        line: Option<usize>,
        /// The field, as a path: `grant[2].expires` (indices 1-based).
        field: String,
        /// What is wrong and how to fix it.
        why: String,
    },
}

/// A tax rate (`[[tax]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    /// Unique; what customers name in `tax`.
    pub id: String,
    /// Text on the invoice's tax line ("VAT 19%").
    pub name: String,
    /// The rate as a fraction from 0 to 1, quoted (`"0.19"` is 19%).
    #[serde(with = "exact")]
    pub rate: Decimal,
    /// How the tax line (rate × taxable amount, computed exactly and
    /// rounded once per invoice) is rounded to the currency's minor units.
    /// Default `half_away_from_zero`, the commercial rounding most tax
    /// authorities ask for.
    #[serde(default)]
    pub rounding: Rounding,
    /// Plans whose consumers pay this rate unless their `[[customer]]`
    /// names another one: the plan's default rate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<String>,
}

/// A coupon (`[[coupon]]`): a percentage or a fixed amount off, for some
/// periods, on some plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coupon {
    /// Unique; what customers name in `coupons`.
    pub id: String,
    /// Text on the discount line (default "Coupon <id>").
    #[serde(default)]
    pub description: Option<String>,
    /// Percent off the covered plans' lines, from 0 (excluded) to 100
    /// (`"20"` is 20%). Exactly one of `percent` and `amount`.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub percent: Option<Decimal>,
    /// A fixed amount off per period, in `currency`; capped so the covered
    /// lines never go below zero (the unused rest is not carried over).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub amount: Option<Decimal>,
    /// The currency of `amount` (required with it).
    #[serde(default)]
    pub currency: Option<String>,
    /// How many consecutive periods it applies, from the customer's `from`;
    /// forever when absent.
    #[serde(default)]
    pub periods: Option<u32>,
    /// The plans whose lines it discounts; every plan when absent.
    #[serde(default)]
    pub plans: Option<Vec<String>>,
}

/// A coupon given to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponUse {
    /// The coupon id.
    pub coupon: String,
    /// First period it applies to; the period of the consumer's first
    /// subscription when absent.
    #[serde(default)]
    pub from: Option<Period>,
}

/// A consumer's settings (`[[customer]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// The consumer id, as in the subscriptions.
    pub consumer: String,
    /// A tax id; wins over the default rate of the consumer's plans.
    #[serde(default)]
    pub tax: Option<String>,
    /// Coupons, applied in this order (each to what the earlier ones left).
    #[serde(default)]
    pub coupons: Vec<CouponUse>,
}

/// Prepaid credit (`[[grant]]`): money a consumer's invoices may be paid
/// with. Its terms never change once it paid (or expired on) a finalized
/// invoice; the ledger keeps them and the run checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Unique across the file; names the grant on invoices and in the ledger.
    pub id: String,
    /// The consumer whose invoices it pays.
    pub consumer: String,
    /// The credit, in `currency`, at most the currency's minor units.
    #[serde(with = "exact")]
    pub amount: Decimal,
    /// ISO 4217 code; it pays only invoices in this currency.
    pub currency: String,
    /// Burn order: lower burns first (default 0).
    #[serde(default)]
    pub priority: i64,
    /// The day it was granted: it pays invoices of periods ending after it.
    pub granted: NaiveDate,
    /// First day it is no longer valid (exclusive): it pays invoices of
    /// periods that end on or before it; what is left then expires.
    #[serde(default)]
    pub expires: Option<NaiveDate>,
    /// Charge ids it may pay (their lines, discounted and with tax); the
    /// whole invoice when absent.
    #[serde(default)]
    pub charges: Option<Vec<String>>,
}

impl Grant {
    /// The burn order key: priority ascending, then the earliest expiry
    /// (no expiry last), then the earliest granted, then the id. Total, so
    /// the order never depends on how the file lists the grants.
    pub fn burn_key(&self) -> (i64, bool, Option<NaiveDate>, NaiveDate, &str) {
        (
            self.priority,
            self.expires.is_none(),
            self.expires,
            self.granted,
            &self.id,
        )
    }

    /// Whether it may pay an invoice of `period`: granted on or before the
    /// period's last day and not expired at its end.
    pub fn pays(&self, period: Period) -> bool {
        self.granted < period.end() && self.expires.is_none_or(|e| e >= period.end())
    }
}

/// The whole `customers.toml`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomersFile {
    /// Tax rates.
    #[serde(default, rename = "tax")]
    pub taxes: Vec<TaxRate>,
    /// Coupons.
    #[serde(default, rename = "coupon")]
    pub coupons: Vec<Coupon>,
    /// Per-consumer settings.
    #[serde(default, rename = "customer")]
    pub customers: Vec<Customer>,
    /// Prepaid credit grants.
    #[serde(default, rename = "grant")]
    pub grants: Vec<Grant>,
    /// The file's name, for errors found later (a grant changed after use).
    #[serde(skip)]
    pub file: String,
    /// 1-based line of each grant's `[[grant]]` field, by field and id.
    #[serde(skip)]
    lines: BTreeMap<(String, &'static str), usize>,
}

impl CustomersFile {
    /// Parses and validates the text of the customers file `file` (its
    /// name, for errors) against the plans and subscriptions. Every error
    /// names the file, the line and the field.
    pub fn parse_file(
        file: &str,
        text: &str,
        plans: &PlansFile,
        subscriptions: &SubscriptionsFile,
    ) -> Result<CustomersFile, CustomersError> {
        let mut parsed: CustomersFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            CustomersError::Parse {
                file: file.to_string(),
                line: offset.map(|o| line_of(text, o)),
                field: offset.and_then(|o| field_at(text, o)),
                message: e.message().trim_end().to_string(),
            }
        })?;
        parsed.file = file.to_string();
        let locate = |path: &[Seg]| span_of(text, path).map(|o| line_of(text, o));
        parsed.check(plans, subscriptions).map_err(|v| {
            let line = locate(&v.path);
            CustomersError::Invalid {
                file: file.to_string(),
                line,
                field: field_name(&v.path),
                why: v.why,
            }
        })?;
        // The grants' lines, for errors about used grants later: one parse
        // and one line index for every lookup (a file of thousands of
        // grants would otherwise be parsed thousands of times).
        if let Ok(doc) = toml::de::DeTable::parse(text) {
            let lines = Lines::of(text);
            for (i, g) in parsed.grants.iter().enumerate() {
                for k in GRANT_TERMS {
                    let path = [Seg::Key("grant"), Seg::Index(i), Seg::Key(k)];
                    if let Some(o) = span_in(&doc, &path) {
                        parsed.lines.insert((g.id.clone(), k), lines.line(o));
                    }
                }
            }
        }
        Ok(parsed)
    }

    /// The settings of `consumer`, if any.
    pub fn customer(&self, consumer: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.consumer == consumer)
    }

    /// The tax rate `id`.
    pub fn tax(&self, id: &str) -> Option<&TaxRate> {
        self.taxes.iter().find(|t| t.id == id)
    }

    /// The coupon `id`.
    pub fn coupon(&self, id: &str) -> Option<&Coupon> {
        self.coupons.iter().find(|c| c.id == id)
    }

    /// The grant `id`.
    pub fn grant(&self, id: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.id == id)
    }

    /// An error at field `field` of grant `id` (for rules checked against
    /// the ledger, after loading).
    pub fn grant_error(&self, id: &str, field: &'static str, why: String) -> CustomersError {
        let index = self.grants.iter().position(|g| g.id == id);
        CustomersError::Invalid {
            file: self.file.clone(),
            line: self
                .lines
                .get(&(id.to_string(), field))
                .or_else(|| self.lines.get(&(id.to_string(), "id")))
                .copied(),
            field: match index {
                Some(i) => format!("grant[{}].{field}", i + 1),
                None => "grant".into(),
            },
            why,
        }
    }

    fn check(&self, plans: &PlansFile, subscriptions: &SubscriptionsFile) -> Result<(), Violation> {
        use Seg::{Index, Key};
        let plan_known = |p: &str| plans.plans.iter().any(|x| x.id.0 == p);
        // Every plan (and its currency) each consumer was ever subscribed to.
        let mut subscribed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for s in &subscriptions.subscriptions {
            subscribed
                .entry(s.consumer.as_str())
                .or_default()
                .insert(s.plan.as_str());
        }
        let currencies = |consumer: &str| -> BTreeSet<&'static str> {
            subscribed
                .get(consumer)
                .into_iter()
                .flatten()
                .filter_map(|p| plans.get(p, None))
                .map(|p| p.currency().code)
                .collect()
        };
        let charges = |consumer: &str| -> BTreeSet<&str> {
            subscribed
                .get(consumer)
                .into_iter()
                .flatten()
                .flat_map(|p| plans.plans.iter().filter(move |x| x.id.0 == *p))
                .flat_map(|p| p.charges.iter().map(|c| c.id.as_str()))
                .collect()
        };
        let no_subscription = |path: Vec<Seg>, consumer: &str| {
            Violation::new(
                path,
                format!(
                    "consumer {consumer:?} has no subscription in the subscriptions file; check the id"
                ),
            )
        };

        let mut default_of: BTreeMap<&str, &str> = BTreeMap::new();
        let mut ids = BTreeSet::new();
        for (i, t) in self.taxes.iter().enumerate() {
            let at = |k: &'static str| vec![Key("tax"), Index(i), Key(k)];
            if !ids.insert(t.id.as_str()) {
                return Err(Violation::new(
                    at("id"),
                    format!("tax id {:?} is used twice", t.id),
                ));
            }
            if t.rate.is_sign_negative() {
                return Err(Violation::new(
                    at("rate"),
                    format!("tax {:?}: rate = {} is negative", t.id, t.rate),
                ));
            }
            if t.rate > Decimal::ONE {
                return Err(Violation::new(
                    at("rate"),
                    format!(
                        "tax {:?}: rate = {} is above 1; write the rate as a fraction (\"0.19\" for 19%)",
                        t.id, t.rate
                    ),
                ));
            }
            for (j, p) in t.plans.iter().enumerate() {
                let path = vec![Key("tax"), Index(i), Key("plans"), Index(j)];
                if !plan_known(p) {
                    return Err(Violation::new(
                        path,
                        format!("tax {:?}: plan {p:?} is not in the plans file", t.id),
                    ));
                }
                if let Some(other) = default_of.insert(p, &t.id) {
                    return Err(Violation::new(
                        path,
                        format!(
                            "plan {p:?} already has the default tax {other:?}; a plan has one default rate"
                        ),
                    ));
                }
            }
        }

        let mut ids = BTreeSet::new();
        for (i, c) in self.coupons.iter().enumerate() {
            let at = |k: &'static str| vec![Key("coupon"), Index(i), Key(k)];
            if !ids.insert(c.id.as_str()) {
                return Err(Violation::new(
                    at("id"),
                    format!("coupon id {:?} is used twice", c.id),
                ));
            }
            let bad = |k: &'static str, why: String| {
                Violation::new(at(k), format!("coupon {:?}: {why}", c.id))
            };
            match (c.percent, c.amount) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(bad(
                        "percent",
                        "give either percent or amount (with currency), not both or neither".into(),
                    ));
                }
                (Some(p), None) => {
                    if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED {
                        return Err(bad(
                            "percent",
                            format!("percent = {p} must be more than 0 and at most 100"),
                        ));
                    }
                    if c.currency.is_some() {
                        return Err(bad(
                            "currency",
                            "a percentage coupon has no currency; remove it".into(),
                        ));
                    }
                }
                (None, Some(a)) => {
                    if a <= Decimal::ZERO {
                        return Err(bad("amount", format!("amount = {a} must be more than 0")));
                    }
                    let Some(code) = &c.currency else {
                        return Err(bad(
                            "currency",
                            "a fixed-amount coupon needs the currency of its amount".into(),
                        ));
                    };
                    let Some(cur) = Currency::from_code(code) else {
                        return Err(bad(
                            "currency",
                            format!("unknown currency {code:?}; use an ISO 4217 code"),
                        ));
                    };
                    if a.scale() > cur.minor_units && a.normalize().scale() > cur.minor_units {
                        return Err(bad(
                            "amount",
                            format!("amount = {a} has more decimals than {code} has minor units"),
                        ));
                    }
                }
            }
            if c.periods == Some(0) {
                return Err(bad(
                    "periods",
                    "periods must be at least 1 (leave it out for forever)".into(),
                ));
            }
            for (j, p) in c.plans.iter().flatten().enumerate() {
                if !plan_known(p) {
                    return Err(Violation::new(
                        vec![Key("coupon"), Index(i), Key("plans"), Index(j)],
                        format!("coupon {:?}: plan {p:?} is not in the plans file", c.id),
                    ));
                }
            }
        }

        let mut seen = BTreeSet::new();
        for (i, cu) in self.customers.iter().enumerate() {
            let at = |k: &'static str| vec![Key("customer"), Index(i), Key(k)];
            if !seen.insert(cu.consumer.as_str()) {
                return Err(Violation::new(
                    at("consumer"),
                    format!(
                        "consumer {:?} has two [[customer]] tables; merge them",
                        cu.consumer
                    ),
                ));
            }
            let Some(own) = subscribed.get(cu.consumer.as_str()) else {
                return Err(no_subscription(at("consumer"), &cu.consumer));
            };
            if let Some(t) = &cu.tax
                && self.tax(t).is_none()
            {
                return Err(Violation::new(
                    at("tax"),
                    format!("unknown tax id {t:?}; define it in a [[tax]] table"),
                ));
            }
            for (j, u) in cu.coupons.iter().enumerate() {
                let path = |k: &'static str| {
                    vec![Key("customer"), Index(i), Key("coupons"), Index(j), Key(k)]
                };
                let Some(c) = self.coupon(&u.coupon) else {
                    return Err(Violation::new(
                        path("coupon"),
                        format!(
                            "unknown coupon {:?}; define it in a [[coupon]] table",
                            u.coupon
                        ),
                    ));
                };
                if let Some(covers) = &c.plans
                    && !covers.iter().any(|p| own.contains(p.as_str()))
                {
                    return Err(Violation::new(
                        path("coupon"),
                        format!(
                            "coupon {:?} covers plans {covers:?}, and consumer {:?} is on none of them ({:?})",
                            c.id,
                            cu.consumer,
                            own.iter().collect::<Vec<_>>()
                        ),
                    ));
                }
                if let Some(code) = &c.currency {
                    let have = currencies(&cu.consumer);
                    if !have.iter().any(|h| h.eq_ignore_ascii_case(code)) {
                        return Err(Violation::new(
                            path("coupon"),
                            format!(
                                "coupon {:?} is in {code}, and consumer {:?} is billed in {:?}",
                                c.id, cu.consumer, have
                            ),
                        ));
                    }
                }
            }
        }

        let mut ids = BTreeSet::new();
        let mut keys: BTreeMap<_, &str> = BTreeMap::new();
        for (i, g) in self.grants.iter().enumerate() {
            let at = |k: &'static str| vec![Key("grant"), Index(i), Key(k)];
            if !ids.insert(g.id.as_str()) {
                return Err(Violation::new(
                    at("id"),
                    format!("grant id {:?} is used twice; grant ids are unique", g.id),
                ));
            }
            let bad = |k: &'static str, why: String| {
                Violation::new(at(k), format!("grant {:?}: {why}", g.id))
            };
            if !subscribed.contains_key(g.consumer.as_str()) {
                return Err(no_subscription(at("consumer"), &g.consumer));
            }
            let Some(cur) = Currency::from_code(&g.currency) else {
                return Err(bad(
                    "currency",
                    format!("unknown currency {:?}; use an ISO 4217 code", g.currency),
                ));
            };
            if g.amount <= Decimal::ZERO {
                return Err(bad(
                    "amount",
                    format!("amount = {} must be more than 0", g.amount),
                ));
            }
            if g.amount.normalize().scale() > cur.minor_units {
                return Err(bad(
                    "amount",
                    format!(
                        "amount = {} has more decimals than {} has minor units",
                        g.amount, cur.code
                    ),
                ));
            }
            if !currencies(&g.consumer).contains(cur.code) {
                return Err(bad(
                    "currency",
                    format!(
                        "consumer {:?} is never billed in {}; the grant could pay nothing",
                        g.consumer, cur.code
                    ),
                ));
            }
            if g.expires.is_some_and(|e| e <= g.granted) {
                return Err(bad(
                    "expires",
                    "expires must be after granted (expires is the first day it is no longer valid)"
                        .into(),
                ));
            }
            if let Some(scope) = &g.charges {
                if scope.is_empty() {
                    return Err(bad(
                        "charges",
                        "an empty scope pays nothing; list charge ids or remove charges".into(),
                    ));
                }
                let known = charges(&g.consumer);
                for (j, c) in scope.iter().enumerate() {
                    if !known.contains(c.as_str()) {
                        return Err(Violation::new(
                            vec![Key("grant"), Index(i), Key("charges"), Index(j)],
                            format!(
                                "grant {:?}: charge {c:?} is in none of consumer {:?}'s plans",
                                g.id, g.consumer
                            ),
                        ));
                    }
                }
            }
            // Overlapping grants: two grants the burn order cannot tell
            // apart but by their ids.
            let mut scope = g.charges.clone();
            if let Some(s) = &mut scope {
                s.sort();
                s.dedup();
            }
            let key = (
                g.consumer.as_str(),
                cur.code,
                g.priority,
                g.expires,
                g.granted,
                scope,
            );
            if let Some(other) = keys.insert(key, &g.id) {
                return Err(bad(
                    "priority",
                    format!(
                        "overlaps grant {other:?}: same consumer, currency, priority, granted, expires and charges, so only their ids would order their burning; merge them or give one another priority"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An exact decimal: a quoted string or a whole number, never a TOML
/// float (already a binary approximation; `rust_decimal`'s own `str`
/// helper would take one).
mod exact {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a quoted decimal such as \"0.19\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal::from(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal::from(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of a grant that are its terms (all but none).
const GRANT_TERMS: [&str; 8] = [
    "id", "consumer", "amount", "currency", "priority", "granted", "expires", "charges",
];

/// A broken rule at a field.
#[derive(Debug)]
struct Violation {
    path: Vec<Seg>,
    why: String,
}

impl Violation {
    fn new(path: Vec<Seg>, why: impl Into<String>) -> Violation {
        Violation {
            path,
            why: why.into(),
        }
    }
}

/// `grant[2].expires`, from a path (indices shown 1-based).
fn field_name(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{}]", i + 1)),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const PLANS: &str = r#"
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
id = "enterprise"
version = 1
currency = "EUR"
base_fee = "1000"
"#;

    const SUBS: &str = r#"
[[subscription]]
consumer = "acme"
plan = "growth"
start = "2026-09-01"
"#;

    fn parse(text: &str) -> Result<CustomersFile, CustomersError> {
        let plans = PlansFile::parse(PLANS).unwrap();
        let subs = SubscriptionsFile::parse(SUBS, &plans).unwrap();
        CustomersFile::parse_file("customers.toml", text, &plans, &subs)
    }

    const GOOD: &str = r#"
[[tax]]
id = "de-vat"
name = "VAT 19%"
rate = "0.19"
plans = ["growth"]

[[coupon]]
id = "welcome"
percent = "20"
periods = 3
plans = ["growth"]

[[customer]]
consumer = "acme"
tax = "de-vat"
coupons = [{ coupon = "welcome", from = "2026-10" }]

[[grant]]
id = "g1"
consumer = "acme"
amount = "100.00"
currency = "EUR"
priority = 1
granted = "2026-09-01"
expires = "2027-01-01"
charges = ["calls"]
"#;

    #[test]
    fn a_good_file_loads() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.taxes[0].rounding, Rounding::HalfAwayFromZero);
        assert_eq!(
            c.customer("acme").unwrap().coupons[0]
                .from
                .unwrap()
                .to_string(),
            "2026-10"
        );
        assert_eq!(c.grant("g1").unwrap().priority, 1);
        // The line of a grant's field is kept for errors found later.
        let e = c.grant_error("g1", "amount", "changed".into()).to_string();
        assert_eq!(e, "customers.toml, line 22, field grant[1].amount: changed");
    }

    /// Replaces `from` by `to` in the good file and returns the error.
    fn error(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        parse(&GOOD.replacen(from, to, 1)).unwrap_err().to_string()
    }

    #[test]
    fn bad_input_names_the_file_the_line_and_the_field() {
        assert_eq!(
            error("tax = \"de-vat\"", "tax = \"fr-vat\""),
            "customers.toml, line 16, field customer[1].tax: unknown tax id \"fr-vat\"; define it in a [[tax]] table"
        );
        assert_eq!(
            error("rate = \"0.19\"", "rate = \"-0.19\""),
            "customers.toml, line 5, field tax[1].rate: tax \"de-vat\": rate = -0.19 is negative"
        );
        assert!(error("rate = \"0.19\"", "rate = \"19\"").contains("write the rate as a fraction"),);
        assert_eq!(
            error("amount = \"100.00\"", "amount = \"-5\""),
            "customers.toml, line 22, field grant[1].amount: grant \"g1\": amount = -5 must be more than 0"
        );
        // A coupon on a plan the consumer is not on.
        let e = error(
            "plans = [\"growth\"]\n\n[[customer]]",
            "plans = [\"enterprise\"]\n\n[[customer]]",
        );
        assert!(
            e.starts_with("customers.toml, line 17, field customer[1].coupons[1].coupon: coupon \"welcome\" covers plans [\"enterprise\"], and consumer \"acme\" is on none of them"),
            "{e}"
        );
        assert_eq!(
            error("coupon = \"welcome\"", "coupon = \"hello\""),
            "customers.toml, line 17, field customer[1].coupons[1].coupon: unknown coupon \"hello\"; define it in a [[coupon]] table"
        );
        assert!(error("percent = \"20\"", "percent = \"120\"").contains("field coupon[1].percent"));
        assert!(
            error("charges = [\"calls\"]", "charges = [\"cals\"]")
                .contains("field grant[1].charges[1]: grant \"g1\": charge \"cals\"")
        );
        assert!(
            error("expires = \"2027-01-01\"", "expires = \"2026-09-01\"")
                .contains("line 26, field grant[1].expires")
        );
        // A parse error (a float price) also names the line and field.
        let e = error("rate = \"0.19\"", "rate = 0.19");
        assert!(
            e.starts_with("customers.toml, line 5, field tax[1].rate: "),
            "{e}"
        );
        let e = error("[[grant]]", "[[grant]]\nbogus = 1");
        assert!(e.contains("line 20") && e.contains("bogus"), "{e}");
    }

    #[test]
    fn duplicate_and_overlapping_grants_are_refused() {
        let second = GOOD.to_string()
            + "\n[[grant]]\nid = \"g1\"\nconsumer = \"acme\"\namount = \"5\"\ncurrency = \"EUR\"\ngranted = \"2026-09-01\"\n";
        let e = parse(&second).unwrap_err().to_string();
        assert_eq!(
            e,
            "customers.toml, line 30, field grant[2].id: grant id \"g1\" is used twice; grant ids are unique"
        );
        // Same consumer, currency, priority, dates and scope: only the ids
        // would order them.
        let twin = |priority: u32, granted: &str| {
            GOOD.to_string()
                + &format!(
                    "\n[[grant]]\nid = \"g2\"\nconsumer = \"acme\"\namount = \"5\"\ncurrency = \"EUR\"\npriority = {priority}\ngranted = \"{granted}\"\nexpires = \"2027-01-01\"\ncharges = [\"calls\"]\n"
                )
        };
        let e = parse(&twin(1, "2026-09-01")).unwrap_err().to_string();
        assert!(
            e.starts_with("customers.toml, line 34, field grant[2].priority: grant \"g2\": overlaps grant \"g1\""),
            "{e}"
        );
        // Another priority (or granted day, expiry, scope) orders them.
        assert!(parse(&twin(2, "2026-09-01")).is_ok());
        assert!(parse(&twin(1, "2026-09-02")).is_ok());
    }

    #[test]
    fn burn_order_and_eligibility() {
        let g = |id: &str, priority: i64, expires: Option<&str>, granted: &str| Grant {
            id: id.into(),
            consumer: "c".into(),
            amount: Decimal::ONE,
            currency: "EUR".into(),
            priority,
            granted: granted.parse().unwrap(),
            expires: expires.map(|e| e.parse().unwrap()),
            charges: None,
        };
        let mut v = [
            g("e", 2, None, "2026-01-01"),
            g("d", 1, None, "2026-01-01"),
            g("c", 1, None, "2025-01-01"),
            g("b", 1, Some("2027-01-01"), "2026-01-01"),
            g("a", 1, Some("2026-12-01"), "2026-06-01"),
        ];
        v.sort_by(|x, y| x.burn_key().cmp(&y.burn_key()));
        let ids: Vec<&str> = v.iter().map(|g| g.id.as_str()).collect();
        // Priority 1 first; among them the earliest expiry, no expiry last
        // (then the earliest granted); priority 2 last.
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        let oct: Period = "2026-10".parse().unwrap();
        let x = g("x", 0, Some("2026-11-01"), "2026-10-31");
        assert!(x.pays(oct)); // granted on the last day, valid through it
        assert!(!x.pays(oct.next()));
        assert!(!g("y", 0, None, "2026-11-01").pays(oct));
        assert!(!g("z", 0, Some("2026-10-31"), "2026-01-01").pays(oct));
    }
}
