//! A mergeable latency histogram with bounded relative error, in the style
//! of DDSketch (Masson et al., VLDB 2019): logarithmic buckets of ratio
//! `GAMMA`, so any quantile read back is within [`RELATIVE_ACCURACY`] of a
//! true sample value, and two histograms merge by adding counts. Hourly
//! rollups store one per group; percentiles over any range of hours are
//! computed from the merged buckets.

use std::collections::BTreeMap;

/// Relative accuracy of a quantile read from the sketch: 0.5 %, half the 1 %
/// the rollups promise, leaving room for interpolation between samples.
pub const RELATIVE_ACCURACY: f64 = 0.005;

/// Values at or below this many milliseconds (1 µs) share one bucket, read
/// back as 0.
pub const MIN_MS: f64 = 0.001;

/// The bucket key of the zero bucket (values ≤ [`MIN_MS`]).
pub const ZERO_KEY: i32 = i32::MIN;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// The bucket of a value in milliseconds.
pub fn key(ms: f64) -> i32 {
    // NaN falls in the zero bucket too.
    if ms.is_nan() || ms <= MIN_MS {
        return ZERO_KEY;
    }
    (ms.ln() / gamma().ln()).ceil() as i32
}

/// The value a bucket stands for: the point whose relative distance to both
/// bucket bounds is [`RELATIVE_ACCURACY`].
pub fn value(key: i32) -> f64 {
    if key == ZERO_KEY {
        return 0.0;
    }
    let g = gamma();
    2.0 * g.powi(key) / (g + 1.0)
}

/// A histogram: bucket key → count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    buckets: BTreeMap<i32, u64>,
    count: u64,
}

impl Sketch {
    /// Adds one value (ms).
    pub fn add(&mut self, ms: f64) {
        self.add_key(key(ms), 1);
    }

    /// Adds `n` values in bucket `key`.
    pub fn add_key(&mut self, key: i32, n: u64) {
        *self.buckets.entry(key).or_insert(0) += n;
        self.count += n;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        for (k, n) in &other.buckets {
            self.add_key(*k, *n);
        }
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The non-empty buckets, ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.buckets.iter().map(|(k, n)| (*k, *n))
    }

    /// The `q`-quantile (0..=1): the value of the sample at rank
    /// `q × (count − 1)`, interpolated between the two neighbouring samples
    /// like `percentile_cont`, each read from its bucket. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * (self.count - 1) as f64;
        let lo = rank.floor() as u64;
        let hi = rank.ceil() as u64;
        let (vlo, vhi) = (self.nth(lo), self.nth(hi));
        Some(vlo + (vhi - vlo) * (rank - lo as f64))
    }

    /// The value of the sample at 0-based rank `n`.
    fn nth(&self, n: u64) -> f64 {
        let mut seen = 0;
        for (k, c) in &self.buckets {
            seen += c;
            if seen > n {
                return value(*k);
            }
        }
        self.buckets.keys().next_back().map_or(0.0, |k| value(*k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_read_back_within_the_accuracy() {
        let mut x = 0.0015;
        while x < 1e7 {
            let v = value(key(x));
            assert!(
                (v - x).abs() / x <= RELATIVE_ACCURACY + 1e-12,
                "{x} read back as {v}"
            );
            x *= 1.37;
        }
        assert_eq!(value(key(0.0)), 0.0);
        assert_eq!(key(-1.0), ZERO_KEY);
    }

    #[test]
    fn merged_sketches_equal_one_sketch_of_all_values() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..1000 {
            let v = 1.0 + (i as f64) * 0.37;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.count(), 1000);
    }

    #[test]
    fn quantiles_track_exact_order_statistics() {
        let mut s = Sketch::default();
        let mut values: Vec<f64> = (1..=10_000).map(|i| (i as f64).powf(1.3) / 10.0).collect();
        for v in &values {
            s.add(*v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.5, 0.9, 0.95, 0.99, 1.0] {
            let rank = q * (values.len() - 1) as f64;
            let exact = values[rank.floor() as usize]
                + (values[rank.ceil() as usize] - values[rank.floor() as usize]) * rank.fract();
            let got = s.quantile(q).unwrap();
            assert!(
                (got - exact).abs() / exact <= 0.01,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(Sketch::default().quantile(0.5), None);
    }
}
