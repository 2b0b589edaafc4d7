//! Issue 16's pricing options, by hand-computed cases: decimal tier
//! boundaries, package rounding, minimums per charge and per plan,
//! rounding scope, quotes over a share or days, and the errors for plans
//! that cannot be priced. Every expected amount is worked out in the
//! comment next to it, not copied from the code's output.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use tollgate_billing::invoice::{SegmentUsage, Usage, rate_segment};
use tollgate_billing::quote::{PeriodPart, quote};
use tollgate_billing::subscription::SubscriptionsFile;
use tollgate_billing::{LineKind, Model, PlanError, PlansFile, Tier, rate};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn usage(pairs: &[(&str, &str)]) -> BTreeMap<String, Decimal> {
    pairs.iter().map(|(k, v)| (k.to_string(), d(v))).collect()
}

fn plan(text: &str) -> PlansFile {
    PlansFile::parse_file("test.toml", text).unwrap()
}

fn total(plans: &PlansFile, pairs: &[(&str, &str)], share: &str) -> Decimal {
    rate(&plans.plans[0], &usage(pairs), d(share))
        .unwrap()
        .total
}

fn tier(up_to: Option<&str>, price: &str) -> Tier {
    Tier {
        up_to: up_to.map(d),
        unit_price: d(price),
        flat_fee: None,
    }
}

#[test]
fn decimal_tier_boundaries_are_inclusive_upper_bounds() {
    // (0, 2.5] at 0.10, (2.5, 10.25] at 0.08, above at 0.05.
    let tiers = vec![
        tier(Some("2.5"), "0.10"),
        tier(Some("10.25"), "0.08"),
        tier(None, "0.05"),
    ];
    let graduated = Model::Graduated {
        tiers: tiers.clone(),
    };
    let cost = |m: &Model, q: &str| {
        let parts = tollgate_billing::rate::price(m, d(q)).unwrap();
        let units: Decimal = parts.iter().map(|p| p.units).sum();
        assert_eq!(units, d(q), "every unit is in exactly one tier");
        (parts.len(), parts.iter().map(|p| p.amount).sum::<Decimal>())
    };
    // Just below, at and just above the first bound.
    assert_eq!(cost(&graduated, "2.4999"), (1, d("0.24999")));
    assert_eq!(cost(&graduated, "2.5"), (1, d("0.25")));
    // 2.5 × 0.10 + 0.0001 × 0.08 = 0.25 + 0.000008.
    assert_eq!(cost(&graduated, "2.5001"), (2, d("0.250008")));
    // Second bound: 0.25 + 7.7499 × 0.08 = 0.25 + 0.619992.
    assert_eq!(cost(&graduated, "10.2499"), (2, d("0.869992")));
    // 0.25 + 7.75 × 0.08 = 0.87.
    assert_eq!(cost(&graduated, "10.25"), (2, d("0.87")));
    // 0.87 + 0.0001 × 0.05 = 0.870005.
    assert_eq!(cost(&graduated, "10.2501"), (3, d("0.870005")));

    // Volume: every unit at the tier the total reaches.
    let volume = Model::Volume { tiers };
    assert_eq!(cost(&volume, "2.5"), (1, d("0.25")));
    assert_eq!(cost(&volume, "2.5001"), (1, d("0.200008"))); // × 0.08
    assert_eq!(cost(&volume, "10.25"), (1, d("0.82"))); // × 0.08
    assert_eq!(cost(&volume, "10.2501"), (1, d("0.512505"))); // × 0.05
    let parts = tollgate_billing::rate::price(&volume, d("10.2501")).unwrap();
    assert_eq!((parts[0].tier, parts[0].up_to), (3, None));
}

#[test]
fn decimal_allowances_and_package_sizes() {
    // 1.5 free, then 0.20 per unit: 4.25 → 2.75 × 0.20 = 0.55.
    let per_unit = Model::PerUnit {
        unit_price: d("0.20"),
        free_units: d("1.5"),
    };
    let parts = tollgate_billing::rate::price(&per_unit, d("4.25")).unwrap();
    assert_eq!(parts.iter().map(|p| p.amount).sum::<Decimal>(), d("0.55"));
    // Packages of 0.5 at 1.00: 1.2 is 2 whole packages and a partial one.
    let pkg = |round| Model::Package {
        size: d("0.5"),
        price: d("1.00"),
        free_units: Decimal::ZERO,
        round_packages: round,
    };
    let amount = |m: &Model, q: &str| tollgate_billing::rate::price(m, d(q)).unwrap()[0].amount;
    use tollgate_billing::PackageRounding::{Down, Up};
    assert_eq!(amount(&pkg(Up), "1.2"), d("3.00"));
    assert_eq!(amount(&pkg(Down), "1.2"), d("2.00"));
    assert_eq!(amount(&pkg(Up), "1.5"), d("3.00")); // exactly 3 packages
    assert_eq!(amount(&pkg(Down), "1.5"), d("3.00"));
}

const PACKAGES: &str = r#"
[[plan]]
id = "p"
version = 1
currency = "USD"
[[plan.charge]]
id = "blocks"
metric = "calls"
[plan.charge.price]
model = "package"
size = 1000
price = "2"
free_units = 500
round_packages = "ROUND"
"#;

#[test]
fn packages_round_partial_packages_down_when_asked() {
    let down = plan(&PACKAGES.replace("ROUND", "down"));
    let up = plan(&PACKAGES.replace("ROUND", "up"));
    let default = plan(&PACKAGES.replace("round_packages = \"ROUND\"\n", ""));
    // (calls, down, up): billable = calls − 500 free; down bills whole
    // packages only, up bills a started one.
    let cases = [
        ("500", "0.00", "0.00"),  // all free
        ("501", "0.00", "2.00"),  // 1 unit: 0 whole, 1 started
        ("1499", "0.00", "2.00"), // 999 units
        ("1500", "2.00", "2.00"), // exactly 1 package
        ("1501", "2.00", "4.00"), // 1 package + 1 unit
        ("3499", "4.00", "6.00"), // 2999 units: 2 whole, 3 started
        ("3500", "6.00", "6.00"), // exactly 3
    ];
    for (calls, want_down, want_up) in cases {
        assert_eq!(
            total(&down, &[("calls", calls)], "1"),
            d(want_down),
            "{calls}"
        );
        assert_eq!(total(&up, &[("calls", calls)], "1"), d(want_up), "{calls}");
        assert_eq!(
            total(&default, &[("calls", calls)], "1"),
            d(want_up),
            "up is the default"
        );
    }
}

const MINIMUMS: &str = r#"
[[plan]]
id = "m"
version = 1
currency = "USD"
base_fee = "20"
minimum = "50"
INCLUDES
[[plan.charge]]
id = "calls"
description = "API calls"
metric = "calls"
minimum = "15"
[plan.charge.price]
model = "per_unit"
unit_price = "0.01"
"#;

fn lines(plans: &PlansFile, calls: &str, share: &str) -> Vec<(LineKind, String, Decimal)> {
    rate(&plans.plans[0], &usage(&[("calls", calls)]), d(share))
        .unwrap()
        .lines
        .into_iter()
        .map(|l| (l.kind, l.charge, l.amount))
        .collect()
}

#[test]
fn charge_minimum_then_plan_minimum_with_and_without_the_base_fee() {
    use LineKind::{BaseFee, Minimum, Usage};
    let without = plan(&MINIMUMS.replace("INCLUDES", ""));
    let with = plan(&MINIMUMS.replace("INCLUDES", "minimum_includes_base_fee = true"));
    // 1000 calls = 10.00; the charge's minimum 15 adds 5.00. The plan
    // minimum 50 counts the usage lines and their true-ups (15.00):
    // without the base fee a 35.00 true-up, total 20 + 10 + 5 + 35 = 70.
    let s = |x: &str| x.to_string();
    assert_eq!(
        lines(&without, "1000", "1"),
        vec![
            (BaseFee, s("base_fee"), d("20.00")),
            (Usage, s("calls"), d("10.00")),
            (Minimum, s("calls"), d("5.00")),
            (Minimum, s("minimum"), d("35.00")),
        ]
    );
    assert_eq!(total(&without, &[("calls", "1000")], "1"), d("70.00"));
    // With the base fee: 15 + 20 = 35 counted, a 15.00 true-up: total 50,
    // exactly the commitment.
    assert_eq!(
        lines(&with, "1000", "1")[3],
        (Minimum, s("minimum"), d("15.00"))
    );
    assert_eq!(total(&with, &[("calls", "1000")], "1"), d("50.00"));
    // Above both minimums: 6000 calls = 60.00, no true-up either way.
    assert_eq!(total(&without, &[("calls", "6000")], "1"), d("80.00"));
    assert_eq!(total(&with, &[("calls", "6000")], "1"), d("80.00"));

    // Ten days of 31: base 20 × 10/31 = 6.4516… → 6.45; the charge
    // minimum 15 × 10/31 = 4.84 is below 10.00 (no true-up); the plan
    // minimum 50 × 10/31 = 16.129032…
    // Without the base fee: 16.129032… − 10.00 → 6.13, total 22.58.
    let tenth = "0.3225806451612903225806451613"; // 10/31 as a segment has it
    assert_eq!(d(tenth), d("10") / d("31"));
    let l = lines(&without, "1000", tenth);
    assert_eq!(l.len(), 3);
    assert_eq!(l[2], (Minimum, s("minimum"), d("6.13")));
    assert_eq!(total(&without, &[("calls", "1000")], tenth), d("22.58"));
    // With it: 10.00 + 6.45 = 16.45 ≥ 16.13: no true-up, total 16.45.
    assert_eq!(lines(&with, "1000", tenth).len(), 2);
    assert_eq!(total(&with, &[("calls", "1000")], tenth), d("16.45"));
    // No usage, ten days: charge true-up 4.838709… → 4.84; without the
    // base fee the plan true-up is 16.129032… − 4.84 = 11.289032… → 11.29.
    let l = lines(&without, "0", tenth);
    assert_eq!(l[2], (Minimum, s("calls"), d("4.84")));
    assert_eq!(l[3], (Minimum, s("minimum"), d("11.29")));
}

const SCOPE: &str = r#"
[[plan]]
id = "r"
version = 1
currency = "USD"
SCOPE
[[plan.charge]]
id = "calls"
metric = "calls"
[plan.charge.price]
model = "graduated"
tiers = [{ up_to = 10, unit_price = "0.0014" }, { unit_price = "0.0013" }]
"#;

#[test]
fn per_tier_rounding_can_differ_from_per_line() {
    let line = plan(&SCOPE.replace("SCOPE", ""));
    let explicit = plan(&SCOPE.replace("SCOPE", "rounding_scope = \"line\""));
    let per_tier = plan(&SCOPE.replace("SCOPE", "rounding_scope = \"tier\""));
    // 20 calls: 10 × 0.0014 = 0.014 and 10 × 0.0013 = 0.013.
    // Per line: 0.027 → 0.03. Per tier: 0.01 + 0.01 = 0.02.
    assert_eq!(total(&line, &[("calls", "20")], "1"), d("0.03"));
    assert_eq!(total(&explicit, &[("calls", "20")], "1"), d("0.03"));
    assert_eq!(total(&per_tier, &[("calls", "20")], "1"), d("0.02"));
    let r = rate(&per_tier.plans[0], &usage(&[("calls", "20")]), Decimal::ONE).unwrap();
    let l = &r.lines[0];
    assert_eq!(l.unrounded, d("0.027"), "the exact amount is kept");
    let rounded: Vec<_> = l.tiers.iter().map(|t| t.rounded).collect();
    assert_eq!(rounded, vec![Some(d("0.01")), Some(d("0.01"))]);
    // 15 calls: 0.014 + 0.0065; per line 0.0205 → 0.02, per tier 0.01 + 0.01.
    assert_eq!(total(&line, &[("calls", "15")], "1"), d("0.02"));
    assert_eq!(total(&per_tier, &[("calls", "15")], "1"), d("0.02"));
    // Per line, no tier carries a rounded amount.
    let r = rate(&line.plans[0], &usage(&[("calls", "20")]), Decimal::ONE).unwrap();
    assert!(r.lines[0].tiers.iter().all(|t| t.rounded.is_none()));
}

fn shipped() -> PlansFile {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/plans.toml"))
            .unwrap();
    PlansFile::parse(&text).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap()
}

#[test]
fn quote_with_a_period_share_and_with_dates() {
    let plans = shipped();
    let growth = plans.get("growth", None).unwrap();
    // growth: base 49, minimum 100 on usage, 1M calls free.
    // Share 10/31, 1M calls: base 49 × 10/31 = 15.806… → 15.81; usage
    // 0.00; minimum 100 × 10/31 = 32.258… → true-up 32.26. Total 48.07.
    let share = PeriodPart::parse_share("10/31").unwrap();
    let q = quote(growth, &usage(&[("calls", "1000000")]), share).unwrap();
    assert_eq!(q.total, d("48.07"));
    assert_eq!(q.total.to_string(), "48.07");
    assert_eq!(q.lines[0].amount, d("15.81"));
    assert_eq!(q.lines.last().unwrap().amount, d("32.26"));
    // The same ten days as dates (22–31 October): the same amounts, and
    // the lines say the days as an invoice does.
    let days = PeriodPart::Days {
        from: day("2026-10-22"),
        to: day("2026-11-01"),
    };
    let q2 = quote(growth, &usage(&[("calls", "1000000")]), days).unwrap();
    assert_eq!(q2.total, d("48.07"));
    assert_eq!(q2.lines[0].description, "Base fee, 10 of 31 days");
    assert_eq!(
        q2.lines.last().unwrap().description,
        "Minimum commitment 100 USD: true-up, 10 of 31 days"
    );
    // 2M calls: 1M × 0.0001 = 100.00 above the prorated minimum: 115.81.
    let q3 = quote(growth, &usage(&[("calls", "2000000")]), days).unwrap();
    assert_eq!(q3.total, d("115.81"));
    // A whole month as dates is the whole-period price: 49 + 100 = 149.00.
    let october = PeriodPart::Days {
        from: day("2026-10-01"),
        to: day("2026-11-01"),
    };
    let q4 = quote(growth, &usage(&[("calls", "0")]), october).unwrap();
    assert_eq!(q4.total.to_string(), "149.00");
    assert_eq!(q4.lines[0].description, "Base fee");
}

#[test]
fn bad_plans_name_the_file_line_and_field() {
    let plan_with = |price: &str| {
        format!(
            "[[plan]]\nid = \"p\"\nversion = 3\ncurrency = \"USD\"\n\n[[plan.charge]]\nid = \"c\"\nmetric = \"calls\"\n[plan.charge.price]\n{price}\n"
        )
    };
    // Lines: 1 [[plan]] … 6 [[plan.charge]], 9 [plan.charge.price], 10 model.
    let cases = [
        (
            plan_with("model = \"per_unit\"\nunit_price = \"-0.01\""),
            11,
            "charge[1].price.unit_price",
            "negative",
        ),
        (
            plan_with(
                "model = \"graduated\"\ntiers = [\n  { up_to = 10, unit_price = \"1\" },\n  { up_to = \"10.5\", unit_price = \"1\" },\n  { unit_price = \"1\" },\n]",
            ),
            13,
            "charge[1].price.tiers[2].up_to",
            "not a whole number, but calls counts whole units",
        ),
        (
            plan_with(
                "model = \"volume\"\ntiers = [\n  { up_to = 100, unit_price = \"1\" },\n  { up_to = 50, unit_price = \"1\" },\n  { unit_price = \"1\" },\n]",
            ),
            13,
            "charge[1].price.tiers[2].up_to",
            "must be above the previous tier's up_to (100)",
        ),
        (
            plan_with(
                "model = \"graduated\"\ntiers = [\n  { up_to = 10, unit_price = \"1\", flat_fee = \"-5\" },\n  { unit_price = \"1\" },\n]",
            ),
            12,
            "charge[1].price.tiers[1].flat_fee",
            "negative",
        ),
        (
            // A bad value inside `price` (a tagged table, which serde reads
            // as a whole) is reported at the price table's header.
            plan_with(
                "model = \"package\"\nsize = 1000\nprice = \"1\"\nround_packages = \"sideways\"",
            ),
            9,
            "charge[1].price",
            "unknown variant `sideways`, expected `up` or `down`",
        ),
        (
            plan_with("model = \"per_unit\"\nunit_price = \"1\"")
                .replace("metric = \"calls\"", "metric = \"calls\"\nminimum = \"-1\""),
            9,
            "charge[1].minimum",
            "negative",
        ),
    ];
    for (text, line, field, why) in cases {
        let err = PlansFile::parse_file("plans.toml", &text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("plans.toml, line "), "{msg}");
        assert!(msg.contains(why), "{msg}");
        match err {
            PlanError::Invalid {
                file,
                line: l,
                field: f,
                plan,
                version,
                ..
            } => {
                assert_eq!(
                    (file.as_str(), l, f.as_str(), plan.as_str(), version),
                    ("plans.toml", Some(line), field, "p", 3),
                    "{msg}"
                );
            }
            PlanError::Parse {
                file,
                line: l,
                field: f,
                ..
            } => {
                let f = f.unwrap();
                assert_eq!((file.as_str(), l), ("plans.toml", Some(line)), "{msg}");
                assert_eq!(f, format!("plan[1].{field}"), "{msg}");
            }
        }
    }
    // A TOML type error names the field at the position toml reports.
    let float = plan_with("model = \"per_unit\"\nunit_price = \"1\"")
        .replace("version = 3", "version = 3\nbase_fee = 49.5");
    let msg = PlansFile::parse_file("plans.toml", &float)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("plans.toml, line 4, field plan[1].base_fee: invalid type: floating point"),
        "{msg}"
    );
}

#[test]
fn files_without_the_new_options_price_as_before() {
    // The shipped plans name none of the new options: each takes the
    // default that is the old behaviour (packages round up, minimums on
    // usage only, rounding per line).
    let plans = shipped();
    for p in &plans.plans {
        assert!(!p.minimum_includes_base_fee);
        assert_eq!(p.rounding_scope, tollgate_billing::RoundingScope::Line);
        assert!(p.charges.iter().all(|c| c.minimum.is_none()));
    }
    // Round-trip through TOML keeps whole bounds whole.
    let growth = plans.get("growth", None).unwrap();
    let text = toml::to_string(&PlansFile {
        plans: vec![growth.clone()],
    })
    .unwrap();
    assert!(text.contains("up_to = 1000000\n"), "{text}");
    assert_eq!(PlansFile::parse(&text).unwrap().plans[0], *growth);
}

proptest! {
    /// A quote for the days of a subscription segment is that segment's
    /// invoice lines, for every shipped plan and any usage.
    #[test]
    fn a_quote_equals_the_invoice_lines_for_the_same_usage(
        start in 1u32..=31,
        len in 1u32..=31,
        calls in 0u64..50_000_000_000,
        bytes in 0u64..100_000_000_000,
    ) {
        let plans = shipped();
        let from = NaiveDate::from_ymd_opt(2026, 10, start).unwrap();
        let end = (from + chrono::Days::new(u64::from(len))).min(day("2026-11-01"));
        for plan in &plans.plans {
            let subs = format!(
                "[[subscription]]\nconsumer = \"c\"\nplan = \"{}\"\nversion = {}\nstart = \"{from}\"\nend = \"{end}\"\n",
                plan.id, plan.version
            );
            let subs = SubscriptionsFile::parse(&subs, &plans).unwrap();
            let segments = subs.segments("c", "2026-10".parse().unwrap());
            prop_assert_eq!(segments.len(), 1);
            let seg = &segments[0];
            let lake: SegmentUsage = tollgate_billing::invoice::meters(plan)
                .into_iter()
                .map(|m| {
                    let q = match m.metric {
                        tollgate_billing::Metric::Calls => calls,
                        _ => bytes,
                    };
                    (m, Usage { quantity: Decimal::from(q), events: calls, first_ts: None, last_ts: None })
                })
                .collect();
            let invoiced = rate_segment(&plans, seg, &lake).unwrap();
            let q = quote(
                plan,
                &usage(&[("calls", &calls.to_string()), ("request_bytes", &bytes.to_string()), ("response_bytes", &bytes.to_string())]),
                PeriodPart::range(seg.from, seg.to),
            )
            .unwrap();
            let lines: Vec<_> = invoiced.lines.into_iter().map(|l| l.line).collect();
            prop_assert_eq!(&q.lines, &lines);
            prop_assert_eq!(q.total, invoiced.subtotal);
        }
    }
}

fn decimal_tiers() -> impl Strategy<Value = Vec<Tier>> {
    proptest::collection::vec((1i64..1_000_000, 0i64..100_000), 1..5).prop_map(|v| {
        let mut bound = Decimal::ZERO;
        let n = v.len();
        v.into_iter()
            .enumerate()
            .map(|(i, (step, price))| {
                bound += Decimal::new(step, 3); // steps of 0.001 to 1000
                Tier {
                    up_to: (i + 1 < n).then_some(bound),
                    unit_price: Decimal::new(price, 4),
                    flat_fee: None,
                }
            })
            .collect()
    })
}

proptest! {
    /// With decimal bounds and quantities, every unit falls in exactly one
    /// tier, and more usage never costs less (graduated).
    #[test]
    fn decimal_graduated_is_monotone_and_covers_every_unit(
        tiers in decimal_tiers(),
        a in 0i64..10_000_000_000,
        b in 0i64..10_000_000_000,
    ) {
        let m = Model::Graduated { tiers };
        let (lo, hi) = (Decimal::new(a.min(b), 6), Decimal::new(a.max(b), 6));
        let parts = |q| tollgate_billing::rate::price(&m, q).unwrap();
        let cost = |q| parts(q).iter().map(|p| p.amount).sum::<Decimal>();
        prop_assert!(cost(lo) <= cost(hi));
        prop_assert_eq!(parts(hi).iter().map(|p| p.units).sum::<Decimal>(), hi);
    }

    /// Rounding partial packages down bills at most one package less than
    /// rounding up, and nothing less when the packages are whole.
    #[test]
    fn round_down_is_at_most_one_package_below_round_up(
        size in 1i64..1_000_000,
        free in 0i64..1_000_000,
        q in 0i64..1_000_000_000,
        scale in 0u32..4,
    ) {
        use tollgate_billing::PackageRounding::{Down, Up};
        let price = d("0.09");
        let pkg = |r| Model::Package {
            size: Decimal::new(size, scale),
            price,
            free_units: Decimal::new(free, scale),
            round_packages: r,
        };
        let q = Decimal::new(q, scale);
        let amount = |r| tollgate_billing::rate::price(&pkg(r), q).unwrap()[0].amount;
        let (down, up) = (amount(Down), amount(Up));
        prop_assert!(down <= up && up - down <= price);
        let billable = (q - Decimal::new(free, scale)).max(Decimal::ZERO);
        let whole = (billable % Decimal::new(size, scale)).is_zero();
        prop_assert_eq!(whole, down == up);
    }
}
