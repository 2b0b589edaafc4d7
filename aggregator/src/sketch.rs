//! A mergeable latency histogram with bounded relative error, in the style
//! of DDSketch (Masson et al., VLDB 2019): logarithmic buckets of ratio
//! `GAMMA`, so any quantile read back is within [`RELATIVE_ACCURACY`] of a
//! true sample value, and two histograms merge by adding counts. Hourly
//! rollups store one per group; percentiles over any range of hours are
//! computed from the merged buckets.
//!
//! One module for the histogram and its one codec: [`Sketch`] (buckets in
//! a map, as the rollup builds them), the packed bytes the summary views
//! store and the SQL functions pass around (`pack`, `unpack_into`), and
//! `Dense`, the window a month of packed histograms is merged into.

use std::collections::BTreeMap;

use crate::AnalyticsError;

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

// The codec: how a histogram is stored in the summary views and passed
// between the SQL functions (`crate::sketch_sql`), and the window it is
// merged into.

/// A histogram as bytes, in the smaller of two layouts of LEB128 varints,
/// told apart by the first byte:
///
/// - `SPARSE` (0): the zero bucket's count, then for each non-empty bucket
///   ascending its key (the first as a zigzag value, the others as the gap
///   to the previous key) and its count;
/// - `DENSE` (1): the zero bucket's count, the first key (zigzag), the
///   number of keys `n`, then the counts of the `n` keys from the first
///   one, empty ones included.
///
/// Dense takes half the varints per key and merges as one run of adds
/// into a window sized once, but it also stores the empty keys between
/// the first and the last, so it is kept only when no longer than sparse:
/// the histograms of the busiest groups. Over a month of 50M simulated
/// events most day histograms still have gaps and stay sparse (the merge
/// got faster mostly from merging group by group: `merge_histograms`).
pub(crate) fn pack(s: &Sketch, out: &mut Vec<u8>) {
    out.clear();
    let mut zero = 0;
    let mut keys: Vec<(i32, u64)> = Vec::new();
    for (k, n) in s.buckets() {
        if k == ZERO_KEY {
            zero = n;
        } else {
            keys.push((k, n));
        }
    }
    let zigzag = |k: i32| u64::from(((k << 1) ^ (k >> 31)) as u32);
    // Sparse.
    out.push(SPARSE);
    varint(zero, out);
    let mut prev: Option<i32> = None;
    for &(k, n) in &keys {
        let step = match prev {
            None => zigzag(k),
            Some(p) => u64::from(k.wrapping_sub(p) as u32),
        };
        varint(step, out);
        varint(n, out);
        prev = Some(k);
    }
    // Dense, kept when no longer.
    let (Some(&(first, _)), Some(&(last, _))) = (keys.first(), keys.last()) else {
        return;
    };
    // Every key of the run takes a byte at least.
    let span = i64::from(last) - i64::from(first) + 1;
    if span > out.len() as i64 {
        return;
    }
    let mut dense = vec![DENSE];
    varint(zero, &mut dense);
    varint(zigzag(first), &mut dense);
    varint(span as u64, &mut dense);
    let mut at = i64::from(first);
    for &(k, n) in &keys {
        let k = i64::from(k);
        dense.resize(dense.len() + (k - at) as usize, 0);
        varint(n, &mut dense);
        at = k + 1;
    }
    if dense.len() <= out.len() {
        out.clear();
        out.extend_from_slice(&dense);
    }
}

/// First byte of a [`pack`]ed histogram: key gaps and counts.
pub(crate) const SPARSE: u8 = 0;
/// First byte of a [`pack`]ed histogram: a run of counts.
pub(crate) const DENSE: u8 = 1;

/// Appends `v` as a LEB128 varint.
pub(crate) fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one varint at `*at`; `None` when the bytes end early.
pub(crate) fn read_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// [`read_varint`] with the one-byte case (most gaps and counts) inline.
#[inline(always)]
fn next_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let first = *b.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(u64::from(first));
    }
    read_varint(b, at)
}

/// Adds the histogram packed in `b` (see [`pack`]) to `d`: the hot loop
/// of a month's questions (tens of millions of buckets).
pub(crate) fn unpack_into(b: &[u8], d: &mut Dense) -> Result<(), AnalyticsError> {
    let bad = || AnalyticsError::Lake("rollups_summary: a histogram is damaged".into());
    let (&layout, b) = b.split_first().ok_or_else(bad)?;
    let mut at = 0;
    let zero = next_varint(b, &mut at).ok_or_else(bad)?;
    if zero > 0 {
        d.add(ZERO_KEY, zero);
    }
    let unzigzag = |v: u64| {
        let v = v as u32;
        ((v >> 1) as i32) ^ -((v & 1) as i32)
    };
    match layout {
        SPARSE => {
            let mut prev: Option<i32> = None;
            while at < b.len() {
                let step = next_varint(b, &mut at).ok_or_else(bad)?;
                let n = next_varint(b, &mut at).ok_or_else(bad)?;
                let k = match prev {
                    None => unzigzag(step),
                    Some(p) => p.wrapping_add(step as u32 as i32),
                };
                d.add(k, n);
                prev = Some(k);
            }
        }
        DENSE if at < b.len() => {
            let first = unzigzag(next_varint(b, &mut at).ok_or_else(bad)?);
            let len = next_varint(b, &mut at).ok_or_else(bad)?;
            // Every count takes a byte at least: a damaged length cannot
            // make the window huge, nor run past the keys.
            let len = usize::try_from(len)
                .ok()
                .filter(|&n| n >= 1 && n <= b.len() - at)
                .filter(|&n| {
                    first != ZERO_KEY && i64::from(first) + n as i64 - 1 <= i64::from(i32::MAX)
                })
                .ok_or_else(bad)?;
            let window = d.window(first, len);
            let mut total = 0u64;
            for slot in window {
                let n = next_varint(b, &mut at).ok_or_else(bad)?;
                *slot += n;
                total += n;
            }
            d.total += total;
            if at != b.len() {
                return Err(bad());
            }
        }
        DENSE => {}
        _ => return Err(bad()),
    }
    Ok(())
}

/// A histogram being merged: counts in a dense window of keys that grows
/// as needed (latencies of one group cluster), the zero bucket apart.
#[derive(Debug, Default)]
pub(crate) struct Dense {
    offset: i32,
    counts: Vec<u64>,
    zero: u64,
    /// Values added, the zero bucket's included.
    pub(crate) total: u64,
}

impl Dense {
    #[inline]
    pub(crate) fn add(&mut self, key: i32, n: u64) {
        // Inside the window already (the usual case): one add.
        let i = i64::from(key) - i64::from(self.offset);
        if key != ZERO_KEY && i >= 0 && (i as usize) < self.counts.len() {
            self.total += n;
            self.counts[i as usize] += n;
            return;
        }
        self.add_outside(key, n);
    }

    /// Bytes held on the heap (for the engine's memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u64>()
    }

    /// The same buckets as a [`Sketch`].
    pub(crate) fn to_sketch(&self) -> Sketch {
        let mut s = Sketch::default();
        if self.zero > 0 {
            s.add_key(ZERO_KEY, self.zero);
        }
        for (i, n) in self.counts.iter().enumerate() {
            if *n > 0 {
                s.add_key(self.offset + i as i32, *n);
            }
        }
        s
    }

    /// The counts of keys `first..first + len` (`first` not the zero
    /// key; the range checked by the caller), the window grown to hold them.
    fn window(&mut self, first: i32, len: usize) -> &mut [u64] {
        if self.counts.is_empty() {
            self.offset = first;
        }
        if first < self.offset {
            let grow = (self.offset - first) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = first;
        }
        let start = (first - self.offset) as usize;
        if self.counts.len() < start + len {
            self.counts.resize(start + len, 0);
        }
        &mut self.counts[start..start + len]
    }

    fn add_outside(&mut self, key: i32, n: u64) {
        self.total += n;
        if key == ZERO_KEY {
            self.zero += n;
            return;
        }
        if self.counts.is_empty() {
            self.offset = key;
            self.counts.push(0);
        }
        if key < self.offset {
            let grow = (self.offset - key) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = key;
        }
        let at = (key - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += n;
    }

    /// The `qs`-quantiles, exactly as [`Sketch::quantile`] reads them from
    /// the same buckets (a test compares), in one walk over the window.
    pub(crate) fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        if self.total == 0 {
            return [None; N];
        }
        // The ranks each quantile interpolates between.
        let last = (self.total - 1) as f64;
        let rank = qs.map(|q| q.clamp(0.0, 1.0) * last);
        let mut wanted: Vec<u64> = rank
            .iter()
            .flat_map(|r| [r.floor() as u64, r.ceil() as u64])
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found: Vec<(u64, f64)> = Vec::with_capacity(wanted.len());
        let mut next = wanted.iter().peekable();
        let mut seen = 0u64;
        let mut visit = |key: i32, n: u64, found: &mut Vec<(u64, f64)>| {
            seen += n;
            // The bucket's value only when a wanted rank falls in it (written
            // so, `value` is not hoisted into every bucket's visit: it was a
            // sixth of a month's hourly series in a profile).
            if next.peek().is_none_or(|&&w| seen <= w) {
                return;
            }
            let v = value(key);
            while let Some(&&w) = next.peek() {
                if seen > w {
                    found.push((w, v));
                    next.next();
                } else {
                    break;
                }
            }
        };
        if self.zero > 0 {
            visit(ZERO_KEY, self.zero, &mut found);
        }
        for (i, n) in self.counts.iter().enumerate() {
            if *n > 0 {
                visit(self.offset + i as i32, *n, &mut found);
            }
        }
        let at = |w: u64| found.iter().find(|(r, _)| *r == w).map_or(0.0, |(_, v)| *v);
        rank.map(|r| {
            let (lo, hi) = (r.floor() as u64, r.ceil() as u64);
            let (vlo, vhi) = (at(lo), at(hi));
            Some(vlo + (vhi - vlo) * (r - lo as f64))
        })
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
    #[test]
    fn packed_histograms_read_back_whole() {
        let mut s = Sketch::default();
        for (k, n) in [
            (ZERO_KEY, 3),
            (-700, 1),
            (-2, 5),
            (0, 1),
            (7, 300),
            (2000, 1),
        ] {
            s.add_key(k, n);
        }
        let mut buf = Vec::new();
        pack(&s, &mut buf);
        let mut d = Dense::default();
        unpack_into(&buf, &mut d).unwrap();
        let qs = [0.0, 0.01, 0.5, 0.99, 1.0];
        assert_eq!(d.quantiles(qs), qs.map(|q| s.quantile(q)));
        assert_eq!(d.total, s.count());
        assert_eq!(buf[0], SPARSE, "keys far apart stay sparse");
        pack(&Sketch::default(), &mut buf);
        assert_eq!(buf, [SPARSE, 0]);
        // Damaged: a varint cut short, an unknown layout, a run longer
        // than its bytes, nothing at all.
        for damaged in [&[SPARSE, 0, 0x80][..], &[7, 0], &[DENSE, 0, 2, 200, 1], &[]] {
            assert!(
                unpack_into(damaged, &mut Dense::default()).is_err(),
                "{damaged:?}"
            );
        }
    }

    /// Busy histograms take the dense layout and read back the same as
    /// sparse ones, merged into windows that grow on either side.
    #[test]
    fn dense_layout_reads_back_and_merges() {
        let (mut a, mut b) = (Sketch::default(), Sketch::default());
        for k in -20..40 {
            a.add_key(k, 1 + (k.unsigned_abs() as u64 % 5));
        }
        a.add_key(ZERO_KEY, 2);
        for k in [-60, -59, -55, -50, 100, 101] {
            b.add_key(k, 3);
        }
        b.add_key(120, 200);
        let mut buf = Vec::new();
        pack(&a, &mut buf);
        assert_eq!(buf[0], DENSE);
        let mut d = Dense::default();
        unpack_into(&buf, &mut d).unwrap();
        pack(&b, &mut buf);
        assert_eq!(buf[0], SPARSE);
        unpack_into(&buf, &mut d).unwrap();
        // Dense again, now inside the grown window.
        pack(&a, &mut buf);
        unpack_into(&buf, &mut d).unwrap();
        let mut want = Sketch::default();
        for s in [&a, &b, &a] {
            for (k, n) in s.buckets() {
                want.add_key(k, n);
            }
        }
        assert_eq!(d.total, want.count());
        let qs = [0.0, 0.1, 0.5, 0.9, 0.99, 1.0];
        assert_eq!(d.quantiles(qs), qs.map(|q| want.quantile(q)));
        // A dense run below an empty window's start and above its end.
        let mut c = Sketch::default();
        c.add_key(i32::MAX, 1);
        c.add_key(i32::MAX - 1, 1);
        pack(&c, &mut buf);
        assert_eq!(buf[0], DENSE);
        let mut d = Dense::default();
        unpack_into(&buf, &mut d).unwrap();
        assert_eq!(d.total, 2);
    }

    #[test]
    fn dense_quantiles_equal_the_sketch() {
        for seed in 0..50u64 {
            let (mut d, mut s) = (Dense::default(), Sketch::default());
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let n = 1 + (seed * 37) % 400;
            for i in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let ms = match i % 11 {
                    0 => 0.0,
                    1 => 5000.0 + (x % 90_000) as f64,
                    _ => 0.5 + (x % 4000) as f64 / 7.0,
                };
                let k = crate::sketch::key(ms);
                d.add(k, 1 + i % 3);
                s.add_key(k, 1 + i % 3);
            }
            let qs = [0.0, 0.5, 0.9, 0.95, 0.99, 1.0];
            let want = qs.map(|q| s.quantile(q));
            assert_eq!(d.quantiles(qs), want, "seed {seed}");
        }
        assert_eq!(Dense::default().quantiles([0.5]), [None]);
    }
}
