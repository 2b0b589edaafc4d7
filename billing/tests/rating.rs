//! Rating by hand-computed cases at every tier boundary, and properties.

use std::collections::BTreeMap;
use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tollgate_billing::{LineKind, Model, PlanError, PlansFile, Tier, rate};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn shipped() -> PlansFile {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/plans.toml"))
            .unwrap();
    PlansFile::parse(&text).unwrap()
}

fn usage(pairs: &[(&str, u64)]) -> BTreeMap<String, Decimal> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Decimal::from(*v)))
        .collect()
}

fn price(m: &Model, q: u64) -> Vec<tollgate_billing::TierPart> {
    tollgate_billing::rate::price(m, Decimal::from(q)).unwrap()
}

fn total(plan: &str, pairs: &[(&str, u64)]) -> Decimal {
    let plans = shipped();
    rate(plans.get(plan, None).unwrap(), &usage(pairs), Decimal::ONE)
        .unwrap()
        .total
}

#[test]
fn per_unit_with_allowance_at_the_boundary() {
    assert_eq!(total("free", &[("calls", 0)]), d("0"));
    assert_eq!(total("free", &[("calls", 100_000)]), d("0"));
    assert_eq!(total("free", &[("calls", 100_001)]), d("0.00")); // 0.0005 rounds to 0.00
    assert_eq!(total("free", &[("calls", 100_010)]), d("0.01")); // 0.005: half away from zero
    assert_eq!(total("free", &[("calls", 1_100_000)]), d("500.00"));
}

#[test]
fn graduated_tiers_are_inclusive_upper_bounds() {
    // Base fee 49 + minimum 100 on usage: below it, a true-up line.
    let plans = shipped();
    let growth = plans.get("growth", Some(1)).unwrap();
    let r = rate(growth, &usage(&[("calls", 1_000_000)]), Decimal::ONE).unwrap();
    assert_eq!(r.lines[1].amount, d("0")); // exactly at up_to: all free
    assert_eq!(r.lines.last().unwrap().kind, LineKind::Minimum);
    assert_eq!(r.lines.last().unwrap().amount, d("100.00"));
    assert_eq!(r.total, d("149.00"));
    let r = rate(growth, &usage(&[("calls", 1_000_001)]), Decimal::ONE).unwrap();
    assert_eq!(r.lines[1].tiers.len(), 2);
    assert_eq!(r.lines[1].tiers[1].units, d("1"));
    assert_eq!(r.lines[1].unrounded, d("0.0001"));
    // 10M: 9M × 0.0001 = 900; one above: + 0.00005.
    let r = rate(growth, &usage(&[("calls", 10_000_000)]), Decimal::ONE).unwrap();
    assert_eq!(r.lines[1].amount, d("900.00"));
    assert_eq!(r.total, d("949.00"));
    let r = rate(growth, &usage(&[("calls", 10_000_001)]), Decimal::ONE).unwrap();
    assert_eq!(r.lines[1].unrounded, d("900.00005"));
    assert_eq!(r.lines[1].tiers[2].from_unit, d("10000001"));
    assert_eq!(r.lines[1].tiers[2].up_to, None);
}

#[test]
fn packages_round_partial_blocks_up_after_free_units() {
    let g = |bytes| {
        total(
            "growth",
            &[("calls", 20_000_000), ("response_bytes", bytes)],
        )
    };
    let base = g(0);
    assert_eq!(g(10_000_000_000), base); // all free
    assert_eq!(g(10_000_000_001) - base, d("0.09")); // one byte starts a block
    assert_eq!(g(11_000_000_000) - base, d("0.09"));
    assert_eq!(g(11_000_000_001) - base, d("0.18"));
}

#[test]
fn volume_prices_all_units_at_the_reached_tier_and_totals_can_drop() {
    let at = |q| total("enterprise", &[("calls", q)]) - d("1500.00");
    assert_eq!(at(0), d("0"));
    assert_eq!(at(50_000_000), d("2000.00")); // 50M × 0.00004
    assert_eq!(at(50_000_001), d("1750.00")); // 50,000,001 × 0.00003 + 250 = 1750.00003
    assert!(
        at(50_000_001) < at(50_000_000),
        "volume totals drop when crossing a boundary"
    );
    assert_eq!(at(500_000_001), d("10500.00")); // × 0.00002 + 500
}

#[test]
fn quantity_zero_bills_the_first_tiers_flat_fee() {
    let m = Model::Graduated {
        tiers: vec![
            Tier {
                up_to: Some(d("10")),
                unit_price: d("1"),
                flat_fee: Some(d("5")),
            },
            Tier {
                up_to: None,
                unit_price: d("0.5"),
                flat_fee: Some(d("7")),
            },
        ],
    };
    let parts = price(&m, 0);
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].amount, d("5"));
    let parts = price(&m, 10);
    assert_eq!(parts.len(), 1, "exactly at up_to stays in the first tier");
    let parts = price(&m, 11);
    assert_eq!(
        parts.iter().map(|p| p.amount).sum::<Decimal>(),
        d("10") + d("5") + d("0.5") + d("7")
    );
}

#[test]
fn jpy_has_no_minor_units_and_sub_cent_prices_scale_to_a_trillion() {
    assert_eq!(total("tokyo", &[("calls", 100)]), d("2")); // 1.5 → 2 (half away from zero)
    assert_eq!(
        total("tokyo", &[("calls", 1_000_000_000_000)]),
        d("15000000000")
    );
    let text = r#"
        [[plan]]
        id = "micro"
        version = 1
        currency = "USD"
        [[plan.charge]]
        id = "calls"
        metric = "calls"
        [plan.charge.price]
        model = "per_unit"
        unit_price = "0.000001"
    "#;
    let plans = PlansFile::parse(text).unwrap();
    let micro = plans.get("micro", None).unwrap();
    let r = rate(micro, &usage(&[("calls", 1_000_000_000_000)]), Decimal::ONE).unwrap();
    assert_eq!(r.total, d("1000000.00"));
    let r = rate(micro, &usage(&[("calls", u64::MAX)]), Decimal::ONE).unwrap();
    assert_eq!(r.total, d("18446744073709.55")); // 18446744073709.551615 rounded
}

#[test]
fn base_fee_is_prorated_and_rounded() {
    let plans = shipped();
    let growth = plans.get("growth", None).unwrap();
    let share = d("10") / d("30");
    let r = rate(growth, &usage(&[("calls", 20_000_000)]), share).unwrap();
    assert_eq!(r.lines[0].kind, LineKind::BaseFee);
    assert_eq!(r.lines[0].amount, d("16.33")); // 49 × 10/30 = 16.333…
}

#[test]
fn bad_plans_are_refused_with_the_plan_named() {
    let base = |price: &str| {
        format!(
            "[[plan]]\nid = \"p\"\nversion = 3\ncurrency = \"USD\"\n[[plan.charge]]\nid = \"c\"\nmetric = \"calls\"\n[plan.charge.price]\n{price}\n"
        )
    };
    let cases = [
        (
            base(
                "model = \"graduated\"\ntiers = [{ up_to = 10, unit_price = \"1\" }, { up_to = 5, unit_price = \"1\" }, { unit_price = \"1\" }]",
            ),
            "must be above",
        ),
        (
            base("model = \"graduated\"\ntiers = [{ up_to = 10, unit_price = \"1\" }]"),
            "last tier must be unbounded",
        ),
        (
            base("model = \"volume\"\ntiers = [{ unit_price = \"1\" }, { unit_price = \"1\" }]"),
            "not the last tier",
        ),
        (base("model = \"volume\"\ntiers = []"), "at least one tier"),
        (
            base("model = \"package\"\nsize = 0\nprice = \"1\""),
            "at least 1",
        ),
        (
            base("model = \"per_unit\"\nunit_price = \"-1\""),
            "negative",
        ),
        (
            base("model = \"per_unit\"\nunit_price = \"1\"").replace("USD", "ZZZ"),
            "unknown currency",
        ),
        (
            base("model = \"per_unit\"\nunit_price = \"1\"").replace("\"calls\"", "\"clicks\""),
            "unknown variant",
        ),
    ];
    for (text, want) in cases {
        let err = PlansFile::parse(&text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(want), "{msg}");
        if let PlanError::Invalid { plan, version, .. } = err {
            assert_eq!((plan.as_str(), version), ("p", 3));
        }
    }
    let twice = format!("{0}\n{0}", base("model = \"per_unit\"\nunit_price = \"1\""));
    assert!(
        PlansFile::parse(&twice)
            .unwrap_err()
            .to_string()
            .contains("defined twice")
    );
    let float = base("model = \"per_unit\"\nunit_price = 0.1");
    assert!(
        PlansFile::parse(&float).is_err(),
        "prices must be quoted strings"
    );
}

fn tiers_strategy() -> impl Strategy<Value = Vec<Tier>> {
    proptest::collection::vec(
        (
            1u64..1_000_000,
            0u32..100_000,
            proptest::option::of(0u32..10_000),
        ),
        1..5,
    )
    .prop_map(|v| {
        let mut bound = 0u64;
        let n = v.len();
        v.into_iter()
            .enumerate()
            .map(|(i, (step, price, fee))| {
                bound += step;
                Tier {
                    up_to: (i + 1 < n).then_some(Decimal::from(bound)),
                    unit_price: Decimal::new(i64::from(price), 6),
                    flat_fee: fee.map(|f| Decimal::new(i64::from(f), 2)),
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn graduated_is_monotone_and_parts_sum_to_the_charge(tiers in tiers_strategy(), a in 0u64..10_000_000, b in 0u64..10_000_000) {
        let m = Model::Graduated { tiers };
        let (lo, hi) = (a.min(b), a.max(b));
        let sum = |q| price(&m, q).iter().map(|p| p.amount).sum::<Decimal>();
        prop_assert!(sum(lo) <= sum(hi));
        let parts = price(&m, hi);
        prop_assert_eq!(parts.iter().map(|p| p.units).sum::<Decimal>(), Decimal::from(hi));
        prop_assert!(parts.iter().all(|p| !p.amount.is_sign_negative()));
    }

    #[test]
    fn volume_and_package_never_negative_or_panicking(tiers in tiers_strategy(), q in any::<u64>(), size in 1u64..u64::MAX, free in any::<u64>()) {
        let v = Model::Volume { tiers };
        let parts = price(&v, q);
        prop_assert_eq!(parts.len(), 1);
        prop_assert_eq!(parts[0].units, Decimal::from(q));
        prop_assert!(!parts[0].amount.is_sign_negative());
        let p = Model::Package { size: Decimal::from(size), price: Decimal::new(9, 2), free_units: Decimal::from(free), round_packages: Default::default() };
        let parts = price(&p, q);
        prop_assert!(!parts[0].amount.is_sign_negative());
    }

    #[test]
    fn invoice_total_is_the_sum_of_rounded_lines(calls in 0u64..1_000_000_000, bytes in 0u64..100_000_000_000) {
        let plans = shipped();
        for plan in &plans.plans {
            let r = rate(plan, &usage(&[("calls", calls), ("response_bytes", bytes)]), Decimal::ONE).unwrap();
            prop_assert_eq!(r.total, r.lines.iter().map(|l| l.amount).sum::<Decimal>());
            let minor = plan.currency().minor_units;
            prop_assert!(r.lines.iter().all(|l| l.amount.scale() <= minor && !l.amount.is_sign_negative()));
        }
    }
}

#[test]
fn extreme_allowances_do_not_overflow() {
    for m in [
        Model::PerUnit {
            unit_price: d("1"),
            free_units: Decimal::from(u64::MAX),
        },
        Model::Package {
            size: d("1"),
            price: d("1"),
            free_units: Decimal::from(u64::MAX),
            round_packages: Default::default(),
        },
    ] {
        let parts = price(&m, u64::MAX);
        assert_eq!(parts.iter().map(|p| p.amount).sum::<Decimal>(), d("0"));
    }
}

#[test]
fn minimum_is_prorated_with_the_period_share() {
    // growth: minimum 100 on usage. Ten days of thirty: a 33.33 true-up
    // (100 × 1/3 = 33.333… rounded half away from zero).
    let plans = shipped();
    let growth = plans.get("growth", Some(1)).unwrap();
    let r = rate(growth, &usage(&[("calls", 0)]), d("10") / d("30")).unwrap();
    let min = r
        .lines
        .iter()
        .find(|l| l.kind == LineKind::Minimum)
        .unwrap();
    assert_eq!(min.amount, d("33.33"));
}
