//! Price plans: what `plans.toml` says, validated on load.
//!
//! Prices are written as quoted strings (`"0.000001"`) so they are exact;
//! a TOML float would already be a binary approximation.

use std::collections::BTreeSet;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Rounding};
pub use crate::proration::Proration;

/// Identifies a plan (with its version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlanId(pub String);

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plan file that cannot be used. Both kinds name the file and the line,
/// and the field when one is to blame.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// The file is not valid TOML, has unknown keys, or a value of the
    /// wrong type.
    #[error("{file}{}: {message}", at(*line, field))]
    Parse {
        /// The file (as given to [`PlansFile::parse_file`]).
        file: String,
        /// 1-based line of the offending value, when known.
        line: Option<usize>,
        /// The key path of the offending value, when known.
        field: Option<String>,
        /// What the TOML reader said.
        message: String,
    },
    /// A rule about the plans is broken.
    #[error("{file}{}: plan {plan} v{version}: {why}", at(*line, &Some(field.clone())))]
    Invalid {
        /// The file (as given to [`PlansFile::parse_file`]).
        file: String,
        /// 1-based line of the field (or of the table holding it when the
        /// field was left out), when known.
        line: Option<usize>,
        /// Plan id.
        plan: String,
        /// Plan version.
        version: u32,
        /// The field, as a path inside the plan: `charge[1].price.tiers[2].up_to`
        /// (indices 1-based, as tiers are numbered on invoices).
        field: String,
        /// What is wrong and how to fix it.
        why: String,
    },
}

pub(crate) fn at(line: Option<usize>, field: &Option<String>) -> String {
    let mut s = String::new();
    if let Some(l) = line {
        s.push_str(&format!(", line {l}"));
    }
    if let Some(f) = field {
        s.push_str(&format!(", field {f}"));
    }
    s
}

pub use tollgate_schemas::meter::{Filter, Metric};

/// One tier of a graduated or volume price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Inclusive upper bound of the tier, in the metric's units (a whole
    /// number, or a quoted decimal for a fractional metric); absent on the
    /// last, unbounded tier. The tier holds the quantities above the
    /// previous tier's `up_to` and up to this one, this one included.
    #[serde(default, with = "crate::quantity::option")]
    pub up_to: Option<Decimal>,
    /// Price of one unit in this tier.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// Flat fee charged once when usage reaches this tier.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub flat_fee: Option<Decimal>,
}

/// One tier of a graduated percentage: a percent of the amount that falls
/// in the tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentTier {
    /// Inclusive upper bound of the tier, in amount (a quoted decimal or a
    /// whole number); absent on the last, unbounded tier. As for [`Tier`].
    #[serde(default, with = "crate::quantity::option")]
    pub up_to: Option<Decimal>,
    /// Percent of the amount in this tier: `"2.9"` is 2.9 %.
    #[serde(with = "rust_decimal::serde::str")]
    pub percent: Decimal,
    /// Flat fee charged once when the amount reaches this tier.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub flat_fee: Option<Decimal>,
}

/// What a partial package costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageRounding {
    /// A started package is billed whole (2.1 packages bill 3): "per GB
    /// started". The default, and the only behaviour before it was a choice.
    #[default]
    Up,
    /// Only complete packages are billed (2.9 packages bill 2): the
    /// remainder is free.
    Down,
}

/// How a quantity becomes an amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Model {
    /// `max(0, quantity − free_units) × unit_price`: also "free allowance then overage".
    PerUnit {
        /// Price of one unit.
        #[serde(with = "rust_decimal::serde::str")]
        unit_price: Decimal,
        /// Units included before any is charged.
        #[serde(default, with = "crate::quantity")]
        free_units: Decimal,
    },
    /// Packages of `size` units at `price` each, after `free_units` are
    /// subtracted; a partial package is rounded as `round_packages` says.
    Package {
        /// Units per package (more than 0).
        #[serde(with = "crate::quantity")]
        size: Decimal,
        /// Price of one package.
        #[serde(with = "rust_decimal::serde::str")]
        price: Decimal,
        /// Units included before any is charged.
        #[serde(default, with = "crate::quantity")]
        free_units: Decimal,
        /// A partial package is billed whole (`up`, the default) or not at
        /// all (`down`).
        #[serde(default)]
        round_packages: PackageRounding,
    },
    /// Each unit priced by the tier it falls in; each tier reached adds its flat fee.
    Graduated {
        /// Tiers in ascending order.
        tiers: Vec<Tier>,
    },
    /// Every unit priced by the tier the total reaches, plus that tier's flat fee.
    Volume {
        /// Tiers in ascending order.
        tiers: Vec<Tier>,
    },
    /// A percentage of an `amount` metric, plus a fixed fee per event (a
    /// transaction): `max(0, amount − free_amount) × percent ÷ 100 +
    /// max(0, events − free_events) × fixed_fee`. With a minimum or a
    /// maximum fee per event, each event's fee `amount × percent ÷ 100 +
    /// fixed_fee` is clamped to them and the charge is the sum of those
    /// fees (then `free_events` and `free_amount` must be 0; see
    /// docs/BILLING.md for why).
    Percentage {
        /// Percent of the amount: `"2.9"` is 2.9 % (0 to 100, at most 7
        /// decimal places).
        #[serde(with = "rust_decimal::serde::str")]
        percent: Decimal,
        /// Fee per event on top of the percentage.
        #[serde(default, with = "rust_decimal::serde::str_option")]
        fixed_fee: Option<Decimal>,
        /// Events per segment whose fixed fee is waived (their amount still
        /// counts toward the percentage, unless within `free_amount`).
        #[serde(default)]
        free_events: u64,
        /// Amount per segment no percentage is charged on.
        #[serde(default, with = "rust_decimal::serde::str_option")]
        free_amount: Option<Decimal>,
        /// Least fee of one event (percentage and fixed fee together).
        #[serde(default, with = "rust_decimal::serde::str_option")]
        min_fee_per_event: Option<Decimal>,
        /// Greatest fee of one event (percentage and fixed fee together).
        #[serde(default, with = "rust_decimal::serde::str_option")]
        max_fee_per_event: Option<Decimal>,
    },
    /// Each part of an `amount` metric's sum charged the percent of the tier
    /// it falls in; each tier reached adds its flat fee (as `graduated`).
    GraduatedPercentage {
        /// Tiers in ascending order.
        tiers: Vec<PercentTier>,
    },
}

impl Model {
    /// True for the models that take a percentage of an amount.
    pub fn is_percentage(&self) -> bool {
        matches!(
            self,
            Model::Percentage { .. } | Model::GraduatedPercentage { .. }
        )
    }

    /// The per-event fee of a `percentage` model with a minimum or maximum
    /// fee per event: what the lake must sum event by event. `None` for
    /// any other model.
    pub fn event_fee(&self) -> Option<tollgate_schemas::meter::EventFee> {
        match self {
            Model::Percentage {
                percent,
                fixed_fee,
                min_fee_per_event,
                max_fee_per_event,
                ..
            } if min_fee_per_event.is_some() || max_fee_per_event.is_some() => {
                Some(tollgate_schemas::meter::EventFee {
                    rate: percent / Decimal::ONE_HUNDRED,
                    fixed: fixed_fee.unwrap_or_default(),
                    min: *min_fee_per_event,
                    max: *max_fee_per_event,
                })
            }
            _ => None,
        }
    }
}

/// One priced metric of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    /// Unique within the plan; names the invoice line.
    pub id: String,
    /// Text on the invoice line.
    #[serde(default)]
    pub description: Option<String>,
    /// What is counted.
    pub metric: Metric,
    /// Which events count.
    #[serde(default)]
    pub filter: Filter,
    /// How the count is priced (`[plan.charge.price]`, with `model = …`).
    pub price: Model,
    /// Minimum amount of this charge per period, prorated with the segment
    /// like the base fee: when the charge's (rounded) amount is below it,
    /// a true-up line right after the charge bills the difference.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub minimum: Option<Decimal>,
}

impl Charge {
    /// The meter the charge prices: its metric and filter.
    pub fn meter(&self) -> tollgate_schemas::meter::Meter {
        tollgate_schemas::meter::Meter {
            metric: self.metric,
            filter: self.filter.clone(),
        }
    }

    /// For a percentage charge with a minimum or maximum fee per event,
    /// the meter of its per-event fees (same filter), which the lake sums
    /// event by event; `None` for any other charge.
    pub fn fee_meter(&self) -> Option<tollgate_schemas::meter::Meter> {
        self.price
            .event_fee()
            .map(|f| tollgate_schemas::meter::Meter {
                metric: Metric::EventFees(f),
                filter: self.filter.clone(),
            })
    }
}

/// What rounding to the currency's minor units applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingScope {
    /// Each invoice line is rounded once, from its exact amount (the
    /// default: the closest total to the exact price).
    #[default]
    Line,
    /// Each tier of a usage line is rounded, and the line is the sum of the
    /// rounded tiers: what an engine that rounds per tier prints, so totals
    /// can match it to the cent.
    Tier,
}

/// The window a quota counts over (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaWindow {
    /// Each UTC minute.
    Minute,
    /// Each UTC hour.
    Hour,
    /// Each UTC day.
    Day,
    /// The billing period: the calendar month (UTC).
    Period,
}

impl QuotaWindow {
    /// The name used in plans and signals.
    pub fn name(self) -> &'static str {
        match self {
            QuotaWindow::Minute => "minute",
            QuotaWindow::Hour => "hour",
            QuotaWindow::Day => "day",
            QuotaWindow::Period => "period",
        }
    }
}

/// What crossing a quota's 100% threshold asks the gateway to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Notify only (the consumer, the operator): usage goes on and is billed.
    #[default]
    Soft,
    /// Signal the gateway to block the consumer until the window ends.
    Hard,
}

/// A limit on one billable metric over a window: crossing each threshold
/// (a percentage of `limit`) produces one signal per consumer and window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Unique within the plan; names the quota in signals.
    pub id: String,
    /// Text for people (portal, dashboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What is counted (as for charges).
    pub metric: Metric,
    /// Which events count (as for charges).
    #[serde(default)]
    pub filter: Filter,
    /// The window counted over.
    pub window: QuotaWindow,
    /// The quota, in the metric's units.
    pub limit: u64,
    /// Soft (notify) or hard (block at 100%).
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Percentages of `limit` that produce a signal, ascending
    /// (default 50, 80, 100).
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<u32>,
}

fn default_thresholds() -> Vec<u32> {
    vec![50, 80, 100]
}

impl Quota {
    /// The meter the quota counts.
    pub fn meter(&self) -> tollgate_schemas::meter::Meter {
        tollgate_schemas::meter::Meter {
            metric: self.metric,
            filter: self.filter.clone(),
        }
    }

    /// The thresholds `used` has reached, in percent.
    pub fn reached(&self, used: u64) -> impl Iterator<Item = u32> + '_ {
        // used / limit >= t / 100, in integers (no rounding at the boundary).
        self.thresholds
            .iter()
            .copied()
            .filter(move |&t| u128::from(used) * 100 >= u128::from(self.limit) * u128::from(t))
    }
}

/// When a plan's base fee is billed (`base_fee_timing` in `plans.toml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseFeeTiming {
    /// On the invoice of the period it pays for, after the period (the
    /// default, and the only behaviour before it was a choice).
    #[default]
    Arrears,
    /// On the invoice of the period before: October's invoice bills
    /// November's fee. Usage and minimums stay in arrears.
    Advance,
}

impl BaseFeeTiming {
    /// The name used in plans.
    pub fn name(self) -> &'static str {
        match self {
            BaseFeeTiming::Arrears => "arrears",
            BaseFeeTiming::Advance => "advance",
        }
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A price plan, one version of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Plan id.
    pub id: PlanId,
    /// Version: a changed price is a new version; invoices name the version.
    pub version: u32,
    /// ISO 4217 code.
    pub currency: String,
    /// Recurring fee per billing period.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub base_fee: Option<Decimal>,
    /// Minimum commitment per period: a true-up line bills the difference
    /// when the usage charges (and their own minimums' true-ups) total
    /// less. Prorated with the segment.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub minimum: Option<Decimal>,
    /// Whether the (prorated) base fee counts toward `minimum`. False by
    /// default: the minimum is a commitment on usage, on top of the base
    /// fee, which is how plans were billed before this was a choice (so
    /// existing plans keep their totals). Set it to match an engine whose
    /// minimum commitment covers the subscription fee too.
    #[serde(default)]
    pub minimum_includes_base_fee: bool,
    /// How each line is rounded to the currency's minor units.
    #[serde(default)]
    pub rounding: Rounding,
    /// Whether rounding applies to each line (default) or to each tier.
    #[serde(default)]
    pub rounding_scope: RoundingScope,
    /// When the base fee is billed: after its period (`arrears`, the
    /// default) or on the invoice of the period before (`advance`; a
    /// mid-period change then credits the unused time and bills the
    /// remaining time, see `crate::advance`). Needs a `base_fee`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub base_fee_timing: BaseFeeTiming,
    /// How the base fee and the minimums are prorated over part of a
    /// period: by whole UTC `day` (the default) or by `second`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub proration: Proration,
    /// Usage charges.
    #[serde(default, rename = "charge")]
    pub charges: Vec<Charge>,
    /// Usage limits that produce signals (`[[plan.quota]]`); they never
    /// change what is billed.
    #[serde(default, rename = "quota", skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<Quota>,
}

/// The whole `plans.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlansFile {
    /// Every plan version.
    #[serde(rename = "plan")]
    pub plans: Vec<Plan>,
}

impl PlansFile {
    /// Parses and validates a plans file's text; errors name it "plans file".
    pub fn parse(text: &str) -> Result<PlansFile, PlanError> {
        PlansFile::parse_file("plans file", text)
    }

    /// Parses and validates the text of the plans file `file` (its name,
    /// for errors: the core does no I/O). Every error names the file, the
    /// line and the field.
    pub fn parse_file(file: &str, text: &str) -> Result<PlansFile, PlanError> {
        let parsed: PlansFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            PlanError::Parse {
                file: file.to_string(),
                line: offset.map(|o| line_of(text, o)),
                field: offset.and_then(|o| field_at(text, o)),
                message: e.message().trim_end().to_string(),
            }
        })?;
        let mut seen = BTreeSet::new();
        for (i, p) in parsed.plans.iter().enumerate() {
            let located = |v: Violation| {
                let mut path = vec![Seg::Key("plan"), Seg::Index(i)];
                path.extend(v.path.iter().cloned());
                PlanError::Invalid {
                    file: file.to_string(),
                    line: span_of(text, &path).map(|o| line_of(text, o)),
                    plan: p.id.0.clone(),
                    version: p.version,
                    field: v.field(),
                    why: v.why,
                }
            };
            p.check().map_err(located)?;
            if !seen.insert((p.id.clone(), p.version)) {
                return Err(located(Violation::new(
                    vec![Seg::Key("version")],
                    "defined twice; give the new prices a new version",
                )));
            }
        }
        Ok(parsed)
    }

    /// The plan `id` at `version`, or its highest version.
    pub fn get(&self, id: &str, version: Option<u32>) -> Option<&Plan> {
        self.plans
            .iter()
            .filter(|p| p.id.0 == id && version.is_none_or(|v| p.version == v))
            .max_by_key(|p| p.version)
    }
}

/// One step of a field's path in the plans file.
#[derive(Debug, Clone)]
pub(crate) enum Seg {
    Key(&'static str),
    /// 0-based here; shown 1-based.
    Index(usize),
}

/// A broken rule, at a field of one plan.
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

    /// `charge[1].price.tiers[2].up_to`.
    fn field(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
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
}

/// 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// [`line_of`] for many offsets of one text: the lines' starts, found
/// once, then a binary search per offset.
pub(crate) struct Lines(Vec<usize>);

impl Lines {
    /// The line starts of `text`.
    pub(crate) fn of(text: &str) -> Lines {
        Lines(
            std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        )
    }

    /// The 1-based line of byte `offset`, as [`line_of`] gives it.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// Where `path` is in `text`: the start of its value, or of the deepest
/// table on the path that is there (a field left out is reported at the
/// table that should hold it).
pub(crate) fn span_of(text: &str, path: &[Seg]) -> Option<usize> {
    span_in(&toml::de::DeTable::parse(text).ok()?, path)
}

/// [`span_of`] in a document parsed once, for callers that look up many
/// paths (parsing per lookup is quadratic in the file's size).
pub(crate) fn span_in(doc: &toml::Spanned<toml::de::DeTable<'_>>, path: &[Seg]) -> Option<usize> {
    let mut found = None;
    let mut at: Option<&toml::Spanned<toml::de::DeValue>> = None;
    for seg in path {
        let next = match (seg, at) {
            (Seg::Key(k), None) => doc.get_ref().get(*k),
            (Seg::Key(k), Some(v)) => v.get_ref().get(*k),
            (Seg::Index(i), Some(v)) => v.get_ref().get(*i),
            (Seg::Index(_), None) => None,
        };
        let Some(next) = next else { break };
        found = Some(next.span().start);
        at = Some(next);
    }
    found
}

/// The key path of the value at byte `offset` (for TOML errors, which give
/// a position but not always the key).
pub(crate) fn field_at(text: &str, offset: usize) -> Option<String> {
    use toml::de::DeValue;
    // Tables from `[[plan]]` headers span only their header, so search
    // every child rather than only those whose span holds the offset.
    fn find(v: &DeValue, offset: usize) -> Option<String> {
        match v {
            DeValue::Table(t) => t.iter().find_map(|(k, v)| {
                let here = k.span().contains(&offset) || v.span().contains(&offset);
                match (here, find(v.get_ref(), offset)) {
                    (_, Some(rest)) if rest.starts_with('[') => {
                        Some(format!("{}{rest}", k.get_ref()))
                    }
                    (_, Some(rest)) => Some(format!("{}.{rest}", k.get_ref())),
                    (true, None) => Some(k.get_ref().to_string()),
                    (false, None) => None,
                }
            }),
            DeValue::Array(a) => {
                a.iter()
                    .enumerate()
                    .find_map(|(i, v)| match find(v.get_ref(), offset) {
                        Some(rest) => Some(format!("[{}].{rest}", i + 1)),
                        None => v.span().contains(&offset).then(|| format!("[{}]", i + 1)),
                    })
            }
            _ => None,
        }
    }
    let doc = toml::de::DeTable::parse(text).ok()?;
    find(&DeValue::Table(doc.into_inner()), offset)
}

impl Plan {
    /// The plan's currency (validated on load).
    pub fn currency(&self) -> Currency {
        Currency::from_code(&self.currency).unwrap_or(Currency {
            code: "XXX",
            minor_units: 2,
        })
    }

    /// Checks the rules a plan must follow. ([`PlansFile::parse_file`]
    /// checks every plan and says on which line a rule is broken.)
    pub fn validate(&self) -> Result<(), PlanError> {
        self.check().map_err(|v| PlanError::Invalid {
            file: "plan".into(),
            line: None,
            plan: self.id.0.clone(),
            version: self.version,
            field: v.field(),
            why: v.why,
        })
    }

    fn check(&self) -> Result<(), Violation> {
        use Seg::{Index, Key};
        if Currency::from_code(&self.currency).is_none() {
            return Err(Violation::new(
                vec![Key("currency")],
                format!(
                    "unknown currency {:?}; use an ISO 4217 code such as USD, EUR or JPY",
                    self.currency
                ),
            ));
        }
        for (what, v) in [("base_fee", self.base_fee), ("minimum", self.minimum)] {
            if v.is_some_and(|x| x.is_sign_negative()) {
                return Err(Violation::new(
                    vec![Key(what)],
                    format!("{what} is negative; prices and minimums are 0 or more"),
                ));
            }
        }
        if self.base_fee_timing == BaseFeeTiming::Advance && self.base_fee.is_none() {
            return Err(Violation::new(
                vec![Key("base_fee_timing")],
                "is \"advance\" but the plan has no base_fee; add base_fee or remove base_fee_timing",
            ));
        }
        if self.minimum_includes_base_fee && self.minimum.is_none() {
            return Err(Violation::new(
                vec![Key("minimum_includes_base_fee")],
                "is set but the plan has no minimum; add minimum or remove it",
            ));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in self.charges.iter().enumerate() {
            let at = |rest: &[Seg]| {
                let mut p = vec![Key("charge"), Index(i)];
                p.extend(rest.iter().cloned());
                p
            };
            if !ids.insert(c.id.as_str()) {
                return Err(Violation::new(
                    at(&[Key("id")]),
                    format!("charge id {:?} is used twice", c.id),
                ));
            }
            let bad = |rest: &[Seg], why: String| {
                Violation::new(at(rest), format!("charge {:?}: {why}", c.id))
            };
            if c.minimum.is_some_and(|m| m.is_sign_negative()) {
                return Err(bad(&[Key("minimum")], "minimum is negative".into()));
            }
            if c.minimum.is_some() && self.minimum.is_some() && c.id == "minimum" {
                return Err(bad(
                    &[Key("id")],
                    "a charge named \"minimum\" with its own minimum would share the plan minimum's line; rename the charge".into(),
                ));
            }
            let whole = c.metric.whole_units();
            let quantity = |rest: &[Seg], what: &str, q: Decimal| {
                if q.is_sign_negative() {
                    return Err(bad(rest, format!("{what} = {q} is negative")));
                }
                if whole && !crate::quantity::is_whole(q) {
                    return Err(bad(
                        rest,
                        format!(
                            "{what} = {q} is not a whole number, but {} counts whole units; check the unit (bytes, not GB)",
                            c.metric.name()
                        ),
                    ));
                }
                Ok(())
            };
            let negative = |rest: &[Seg], what: &str, p: Decimal| {
                if p.is_sign_negative() {
                    Err(bad(
                        rest,
                        format!("{what} = {p} is negative; prices are 0 or more"),
                    ))
                } else {
                    Ok(())
                }
            };
            match &c.price {
                Model::PerUnit {
                    unit_price,
                    free_units,
                } => {
                    negative(
                        &[Key("price"), Key("unit_price")],
                        "unit_price",
                        *unit_price,
                    )?;
                    quantity(
                        &[Key("price"), Key("free_units")],
                        "free_units",
                        *free_units,
                    )?;
                }
                Model::Package {
                    size,
                    price,
                    free_units,
                    ..
                } => {
                    if *size <= Decimal::ZERO {
                        return Err(bad(
                            &[Key("price"), Key("size")],
                            "package size must be more than 0 (at least 1 for a whole-number metric)".into(),
                        ));
                    }
                    quantity(&[Key("price"), Key("size")], "size", *size)?;
                    negative(&[Key("price"), Key("price")], "price", *price)?;
                    quantity(
                        &[Key("price"), Key("free_units")],
                        "free_units",
                        *free_units,
                    )?;
                }
                Model::Percentage { .. } | Model::GraduatedPercentage { .. } => {
                    check_percentage(c, &bad)?;
                }
                Model::Graduated { tiers } | Model::Volume { tiers } => {
                    if tiers.is_empty() {
                        return Err(bad(
                            &[Key("price"), Key("tiers")],
                            "needs at least one tier".into(),
                        ));
                    }
                    let mut prev: Option<Decimal> = None;
                    for (j, t) in tiers.iter().enumerate() {
                        let tier = |k: &'static str| [Key("price"), Key("tiers"), Index(j), Key(k)];
                        let last = j + 1 == tiers.len();
                        match (t.up_to, last) {
                            (None, false) => {
                                return Err(bad(
                                    &tier("up_to"),
                                    format!("tier {} has no up_to but is not the last tier", j + 1),
                                ));
                            }
                            (Some(u), true) => {
                                return Err(bad(
                                    &tier("up_to"),
                                    format!(
                                        "the last tier must be unbounded (remove up_to = {u}); usage above it would have no price"
                                    ),
                                ));
                            }
                            (Some(u), false) => {
                                quantity(&tier("up_to"), &format!("tier {} up_to", j + 1), u)?;
                                if let Some(p) = prev.filter(|p| u <= *p) {
                                    return Err(bad(
                                        &tier("up_to"),
                                        format!(
                                            "tier {} up_to = {u} must be above the previous tier's up_to ({p}); tiers are ordered and do not overlap",
                                            j + 1
                                        ),
                                    ));
                                }
                                prev = Some(u);
                            }
                            (None, true) => {}
                        }
                        negative(
                            &tier("unit_price"),
                            &format!("tier {} unit_price", j + 1),
                            t.unit_price,
                        )?;
                        if let Some(f) = t.flat_fee {
                            negative(&tier("flat_fee"), &format!("tier {} flat_fee", j + 1), f)?;
                        }
                    }
                }
            }
        }
        let mut quota_ids = BTreeSet::new();
        for (i, q) in self.quotas.iter().enumerate() {
            let bad = |k: &'static str, why: &str| {
                Violation::new(
                    vec![Key("quota"), Index(i), Key(k)],
                    format!("quota {:?}: {why}", q.id),
                )
            };
            if !quota_ids.insert(q.id.as_str()) {
                return Err(Violation::new(
                    vec![Key("quota"), Index(i), Key("id")],
                    format!("quota id {:?} is used twice", q.id),
                ));
            }
            if q.limit == 0 {
                return Err(bad("limit", "limit must be at least 1"));
            }
            if q.metric.reads_amount() {
                return Err(bad(
                    "metric",
                    "quotas count calls or bytes; an amount quota is not supported",
                ));
            }
            if q.thresholds.is_empty() {
                return Err(bad(
                    "thresholds",
                    "needs at least one threshold (percent of limit)",
                ));
            }
            if q.thresholds.iter().any(|&t| t == 0 || t > 1000) {
                return Err(bad(
                    "thresholds",
                    "thresholds are percentages from 1 to 1000",
                ));
            }
            if q.thresholds.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad(
                    "thresholds",
                    "thresholds must be ascending without repeats",
                ));
            }
        }
        Ok(())
    }
}

/// Most decimal places of a percent: percent ÷ 100 then has at most 9, the
/// lake's amount precision, so per-event fees are exact in SQL too.
const PERCENT_MAX_SCALE: u32 = 7;
/// Most decimal places of the money options of a percentage charge.
const FEE_MAX_SCALE: u32 = 9;

/// The rules of the `percentage` and `graduated_percentage` models.
fn check_percentage(
    c: &Charge,
    bad: &dyn Fn(&[Seg], String) -> Violation,
) -> Result<(), Violation> {
    use Seg::{Index, Key};
    if c.metric != Metric::Amount {
        return Err(bad(
            &[Key("metric")],
            format!(
                "a percentage is taken of an amount; set metric = \"amount\" (not {})",
                c.metric.name()
            ),
        ));
    }
    let percent = |rest: &[Seg], what: &str, p: Decimal| {
        if p.is_sign_negative() || p > Decimal::ONE_HUNDRED {
            return Err(bad(
                rest,
                format!("{what} = {p} must be from 0 to 100 (\"2.9\" is 2.9 %)"),
            ));
        }
        if p.normalize().scale() > PERCENT_MAX_SCALE {
            return Err(bad(
                rest,
                format!("{what} = {p} has more than {PERCENT_MAX_SCALE} decimal places"),
            ));
        }
        Ok(())
    };
    let money = |rest: &[Seg], what: &str, m: Option<Decimal>| match m {
        Some(m) if m.is_sign_negative() => Err(bad(
            rest,
            format!("{what} = {m} is negative; fees and amounts are 0 or more"),
        )),
        Some(m) if m.normalize().scale() > FEE_MAX_SCALE => Err(bad(
            rest,
            format!("{what} = {m} has more than {FEE_MAX_SCALE} decimal places"),
        )),
        _ => Ok(()),
    };
    let price = |k: &'static str| [Key("price"), Key(k)];
    match &c.price {
        Model::Percentage {
            percent: p,
            fixed_fee,
            free_events,
            free_amount,
            min_fee_per_event: min,
            max_fee_per_event: max,
        } => {
            percent(&price("percent"), "percent", *p)?;
            money(&price("fixed_fee"), "fixed_fee", *fixed_fee)?;
            money(&price("free_amount"), "free_amount", *free_amount)?;
            money(&price("min_fee_per_event"), "min_fee_per_event", *min)?;
            money(&price("max_fee_per_event"), "max_fee_per_event", *max)?;
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                return Err(bad(
                    &price("max_fee_per_event"),
                    format!("max_fee_per_event = {hi} is below min_fee_per_event = {lo}"),
                ));
            }
            if *free_events > 0 && fixed_fee.is_none() {
                return Err(bad(
                    &price("free_events"),
                    "free_events waives the fixed fee of that many events, and there is no fixed_fee; set fixed_fee or remove free_events (free_amount makes part of the amount free)".into(),
                ));
            }
            if min.is_some() || max.is_some() {
                // Which events are free would change their clamped fees,
                // and "which" depends on the events' order: refused rather
                // than billed by a rule nobody can check from a total.
                let why = "cannot be combined with min_fee_per_event or max_fee_per_event: which events or which part of the amount are free would change the clamped fees, and that depends on the order of the events; remove it or the per-event limits";
                if *free_events > 0 {
                    return Err(bad(&price("free_events"), format!("free_events {why}")));
                }
                if free_amount.is_some_and(|a| !a.is_zero()) {
                    return Err(bad(&price("free_amount"), format!("free_amount {why}")));
                }
            }
        }
        Model::GraduatedPercentage { tiers } => {
            if tiers.is_empty() {
                return Err(bad(
                    &[Key("price"), Key("tiers")],
                    "needs at least one tier".into(),
                ));
            }
            let mut prev: Option<Decimal> = None;
            for (j, t) in tiers.iter().enumerate() {
                let tier = |k: &'static str| [Key("price"), Key("tiers"), Index(j), Key(k)];
                let n = j + 1;
                match (t.up_to, n == tiers.len()) {
                    (None, false) => {
                        return Err(bad(
                            &tier("up_to"),
                            format!("tier {n} has no up_to but is not the last tier"),
                        ));
                    }
                    (Some(u), true) => {
                        return Err(bad(
                            &tier("up_to"),
                            format!(
                                "the last tier must be unbounded (remove up_to = {u}); amounts above it would have no price"
                            ),
                        ));
                    }
                    (Some(u), false) => {
                        if u.is_sign_negative() || prev.is_some_and(|p| u <= p) {
                            return Err(bad(
                                &tier("up_to"),
                                format!(
                                    "tier {n} up_to = {u} must be 0 or more and above the previous tier's up_to; tiers are ordered and do not overlap"
                                ),
                            ));
                        }
                        prev = Some(u);
                    }
                    (None, true) => {}
                }
                percent(&tier("percent"), &format!("tier {n} percent"), t.percent)?;
                money(&tier("flat_fee"), &format!("tier {n} flat_fee"), t.flat_fee)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line index answers as the scan does, at every byte, including
    /// line ends, the first and last byte and past the end.
    #[test]
    fn lines_index_agrees_with_line_of() {
        let text = "[[grant]]\nid = \"a\"\n\n[[grant]]\r\nid = \"b\"\nno newline at the end";
        let lines = Lines::of(text);
        for o in 0..=text.len() + 2 {
            assert_eq!(lines.line(o), line_of(text, o), "offset {o}");
        }
        assert_eq!(Lines::of("").line(0), 1);
    }
}
