//! Quotas in plans: parsing, validation, and the threshold boundary.

use tollgate_billing::{Enforcement, PlanError, PlansFile, QuotaWindow};

const BASE: &str = r#"
[[plan]]
id = "p"
version = 1
currency = "USD"
"#;

fn with_quota(quota: &str) -> Result<PlansFile, PlanError> {
    PlansFile::parse(&format!("{BASE}\n[[plan.quota]]\n{quota}"))
}

#[test]
fn the_shipped_plans_declare_quotas() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/plans.toml"))
            .unwrap();
    let plans = PlansFile::parse(&text).unwrap();
    let free = plans.get("free", None).unwrap();
    let daily = free.quotas.iter().find(|q| q.id == "daily-calls").unwrap();
    assert_eq!(daily.window, QuotaWindow::Day);
    assert_eq!(daily.limit, 10_000);
    assert_eq!(daily.enforcement, Enforcement::Hard);
    assert_eq!(daily.thresholds, vec![80, 100]);
}

#[test]
fn defaults_are_soft_with_50_80_100() {
    let plans =
        with_quota("id = \"q\"\nmetric = \"calls\"\nwindow = \"hour\"\nlimit = 10").unwrap();
    let q = &plans.plans[0].quotas[0];
    assert_eq!(q.enforcement, Enforcement::Soft);
    assert_eq!(q.thresholds, vec![50, 80, 100]);
}

#[test]
fn thresholds_are_reached_exactly_at_the_boundary() {
    let plans = with_quota(
        "id = \"q\"\nmetric = \"calls\"\nwindow = \"day\"\nlimit = 1000\nthresholds = [50, 80, 100, 150]",
    )
    .unwrap();
    let q = &plans.plans[0].quotas[0];
    let reached = |used| q.reached(used).collect::<Vec<_>>();
    assert_eq!(reached(0), Vec::<u32>::new());
    assert_eq!(reached(499), Vec::<u32>::new());
    assert_eq!(reached(500), vec![50]);
    assert_eq!(reached(799), vec![50]);
    assert_eq!(reached(800), vec![50, 80]);
    assert_eq!(reached(999), vec![50, 80]);
    assert_eq!(reached(1000), vec![50, 80, 100]);
    assert_eq!(reached(1499), vec![50, 80, 100]);
    assert_eq!(reached(1500), vec![50, 80, 100, 150]);
    assert_eq!(reached(u64::MAX), vec![50, 80, 100, 150]);
    // A limit that does not divide evenly: 80% of 3 is 2.4, reached at 3.
    let odd = with_quota(
        "id = \"q\"\nmetric = \"calls\"\nwindow = \"day\"\nlimit = 3\nthresholds = [80]",
    )
    .unwrap();
    let q = &odd.plans[0].quotas[0];
    assert_eq!(q.reached(2).count(), 0);
    assert_eq!(q.reached(3).count(), 1);
}

#[test]
fn bad_quotas_are_refused_with_the_reason() {
    for (quota, why) in [
        (
            "id = \"q\"\nmetric = \"calls\"\nwindow = \"day\"\nlimit = 0",
            "limit must be at least 1",
        ),
        (
            "id = \"q\"\nmetric = \"calls\"\nwindow = \"day\"\nlimit = 5\nthresholds = []",
            "at least one threshold",
        ),
        (
            "id = \"q\"\nmetric = \"calls\"\nwindow = \"day\"\nlimit = 5\nthresholds = [80, 50]",
            "ascending",
        ),
        (
            "id = \"q\"\nmetric = \"calls\"\nwindow = \"day\"\nlimit = 5\nthresholds = [0]",
            "from 1 to 1000",
        ),
    ] {
        let err = with_quota(quota).unwrap_err().to_string();
        assert!(err.contains(why), "{quota}: {err}");
    }
    let err = with_quota("id = \"q\"\nmetric = \"calls\"\nwindow = \"week\"\nlimit = 5")
        .unwrap_err()
        .to_string();
    assert!(err.contains("week"), "{err}");
    let twice = PlansFile::parse(&format!(
        "{BASE}\n[[plan.quota]]\nid = \"q\"\nmetric = \"calls\"\nwindow = \"day\"\nlimit = 5\n\
         [[plan.quota]]\nid = \"q\"\nmetric = \"calls\"\nwindow = \"hour\"\nlimit = 5\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(twice.contains("used twice"), "{twice}");
}
