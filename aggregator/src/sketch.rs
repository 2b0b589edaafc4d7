//! A mergeable latency histogram with bounded relative error, in the style
//! of DDSketch (Masson et al., VLDB 2019): logarithmic buckets of ratio
//! `GAMMA`, so any quantile read back is within [`RELATIVE_ACCURACY`] of a
//! true sample value, and two histograms merge by adding counts. Hourly
//! rollups store one per group; percentiles over any range of hours are
//! computed from the merged buckets.
//!
//! One type, [`Sketch`], and its two on-disk forms, both read and written
//! here only:
//!
//! - the parallel `*_keys` / `*_counts` lists of `rollups_hourly`
//!   ([`Sketch::append_lists`], [`Sketch::add_lists`]);
//! - the packed bytes of the summary views' `latency` / `upstream` columns,
//!   which the SQL functions also pass around ([`Sketch::encode`],
//!   [`Sketch::decode_into`]).
//!
//! In memory the counts are held as a short sorted list of (key, count)
//! pairs while a histogram has few buckets for the keys they span (most
//! hourly rollup groups), and as a dense window of keys once that is no
//! larger (busy groups, and the histograms a month of packed ones merge
//! into: the latencies of one group cluster, so merging is one run of adds
//! into a window sized once).

use arrow_array::builder::{Int32Builder, Int64Builder, ListBuilder};
use arrow_array::{Array, Int32Array, Int64Array};
use integer_encoding::VarInt;

use crate::AnalyticsError;

/// Relative accuracy of a quantile read from the sketch: 0.5 %, half the 1 %
/// the rollups promise, leaving room for interpolation between samples.
pub const RELATIVE_ACCURACY: f64 = 0.005;

/// Values at or below this many milliseconds (1 µs) share one bucket, read
/// back as 0.
pub const MIN_MS: f64 = 0.001;

/// The bucket key of the zero bucket (values ≤ [`MIN_MS`]).
pub const ZERO_KEY: i32 = i32::MIN;

/// The lowest key a value above [`MIN_MS`] falls in.
pub const MIN_KEY: i32 = -690;

/// The highest key: that of `f64::MAX` ms (infinity is counted here too).
/// With [`MIN_KEY`] it bounds a histogram's window to 71,669 counts (560 KiB),
/// whatever a damaged or hostile file holds.
pub const MAX_KEY: i32 = 70_978;

/// A stored histogram could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Damaged {
    /// Packed bytes that are not a histogram (cut short, unknown layout,
    /// a run longer than its bytes).
    #[error("rollups_summary: a histogram is damaged")]
    Packed,
    /// A row's keys and counts lists differ in length.
    #[error("the keys and counts lists differ in length")]
    Lists,
    /// A bucket key no latency maps to (outside [`MIN_KEY`]..=[`MAX_KEY`]).
    #[error("a histogram holds bucket key {0}, which no latency maps to")]
    Key(i32),
}

impl From<Damaged> for AnalyticsError {
    fn from(e: Damaged) -> Self {
        AnalyticsError::Lake(e.to_string())
    }
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// The bucket of a value in milliseconds.
pub fn key(ms: f64) -> i32 {
    // NaN falls in the zero bucket too.
    if ms.is_nan() || ms <= MIN_MS {
        return ZERO_KEY;
    }
    ((ms.ln() / gamma().ln()).ceil() as i32).min(MAX_KEY)
}

/// Whether `key` is one [`key`] can return.
fn valid(key: i32) -> bool {
    key == ZERO_KEY || (MIN_KEY..=MAX_KEY).contains(&key)
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

/// A histogram: counts per bucket key, the zero bucket apart.
///
/// The buckets are held in whichever of two forms is smaller: a sorted
/// list of (key, count) pairs (16 bytes a bucket) while the keys are few
/// for the range they span, or a window of counts over that range (8 bytes
/// a key, empty ones included) once half its keys or more are filled. The
/// hourly rollup holds two histograms per group and most groups see a
/// handful of requests: a window for every one of them made
/// `tollgate rollup` peak at 1.8 times the memory of the map it used
/// before (docs/PERFORMANCE.md, "Rollup memory"). Busy histograms, and
/// those a month's questions merge into, fill their window and turn dense,
/// where adding a bucket is one add and a packed dense run one run of adds.
#[derive(Debug, Clone, Default)]
pub struct Sketch {
    buckets: Buckets,
    /// The count of [`ZERO_KEY`].
    zero: u64,
    /// Values added, the zero bucket's included.
    count: u64,
}

/// The non-empty buckets but the zero bucket, in one of two forms (see
/// [`Sketch`]); every key within [`MIN_KEY`]..=[`MAX_KEY`].
#[derive(Debug, Clone)]
enum Buckets {
    /// (key, count) pairs, keys ascending, counts above 0.
    Sparse(Vec<(i32, u64)>),
    /// Counts of keys `offset..offset + counts.len()`; empty keys hold 0.
    Dense {
        /// The key of `counts[0]`.
        offset: i32,
        /// How many of `counts` are above 0.
        filled: u32,
        counts: Vec<u64>,
    },
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets::Sparse(Vec::new())
    }
}

/// Fewer buckets than this stay pairs whatever their span: at most 128
/// bytes, searched in a few steps, and no change of form for the many
/// histograms of one or two requests.
const DENSE_MIN_FILLED: usize = 8;

/// Whether pairs turn into a window: when `filled` buckets over `span` keys
/// take no more bytes as a window (8 bytes a key) than as pairs (16 a
/// bucket).
fn turns_dense(span: i64, filled: usize) -> bool {
    filled >= DENSE_MIN_FILLED && span <= 2 * filled as i64
}

/// Whether a window turns back into pairs: when it would take more than 1.5
/// times their bytes (above [`turns_dense`]'s bound, so that a histogram at
/// the boundary does not change form at every other key).
fn turns_sparse(span: i64, filled: usize) -> bool {
    span > 3 * filled as i64
}

/// Equal when the non-empty buckets are: the form they are held in does not
/// count.
impl PartialEq for Sketch {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.buckets().eq(other.buckets())
    }
}

impl Sketch {
    /// Adds one value (ms).
    pub fn add(&mut self, ms: f64) {
        self.add_key(key(ms), 1);
    }

    /// Adds `n` values in bucket `key`; a key outside
    /// [`MIN_KEY`]..=[`MAX_KEY`] (which [`key`] never returns) counts in the
    /// nearest of the two, so the window stays bounded.
    #[inline]
    pub fn add_key(&mut self, key: i32, n: u64) {
        self.count += n;
        if n == 0 {
            return;
        }
        if key == ZERO_KEY {
            self.zero += n;
            return;
        }
        // Inside the window already (the usual case once dense): one add.
        if let Buckets::Dense {
            offset,
            filled,
            counts,
        } = &mut self.buckets
        {
            let i = i64::from(key) - i64::from(*offset);
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
                *filled += u32::from(*slot == 0);
                *slot += n;
                return;
            }
        }
        self.add_elsewhere(key.clamp(MIN_KEY, MAX_KEY), n);
    }

    /// [`Sketch::add_key`] of `n` (above 0) to a key in range that is not
    /// in the window, if there is one.
    fn add_elsewhere(&mut self, key: i32, n: u64) {
        let span = self.span_with(key.into(), key.into());
        match &mut self.buckets {
            Buckets::Sparse(pairs) => match pairs.binary_search_by_key(&key, |(k, _)| *k) {
                Ok(i) => pairs[i].1 += n,
                Err(i) => {
                    pairs.insert(i, (key, n));
                    if turns_dense(span, pairs.len()) {
                        self.make_dense();
                    }
                }
            },
            Buckets::Dense {
                offset,
                filled,
                counts,
            } => {
                if turns_sparse(span, *filled as usize + 1) {
                    self.make_sparse();
                    self.add_elsewhere(key, n);
                } else {
                    *filled += 1;
                    window(offset, counts, key, 1)[0] += n;
                }
            }
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        self.zero += other.zero;
        self.count += other.zero;
        match &other.buckets {
            Buckets::Sparse(pairs) => {
                for &(k, n) in pairs {
                    self.add_key(k, n);
                }
            }
            Buckets::Dense { offset, counts, .. } if !counts.is_empty() => {
                let mut run = counts.iter().copied();
                let added = self.add_run(*offset, counts.len(), || {
                    Ok::<_, std::convert::Infallible>(run.next().unwrap_or(0))
                });
                let Ok(()) = added;
            }
            Buckets::Dense { .. } => {}
        }
    }

    /// Adds the counts `next` gives for the keys `first..first + len`, in
    /// order (`len` at least 1, every key in range: checked by the
    /// callers): into the window when the histogram is dense or turns dense
    /// with them. `next` failing stops the run, the counts added so far
    /// kept.
    fn add_run<E>(
        &mut self,
        first: i32,
        len: usize,
        mut next: impl FnMut() -> Result<u64, E>,
    ) -> Result<(), E> {
        let last = i64::from(first) + len as i64 - 1;
        let span = self.span_with(first.into(), last);
        // At most this many buckets filled once the run is added.
        let filled = self.filled() + len;
        let dense = match self.buckets {
            Buckets::Sparse(_) => turns_dense(span, filled),
            Buckets::Dense { .. } => !turns_sparse(span, filled),
        };
        match (dense, &self.buckets) {
            (true, Buckets::Sparse(_)) => self.make_dense(),
            (false, Buckets::Dense { .. }) => self.make_sparse(),
            _ => {}
        }
        let Buckets::Dense {
            offset,
            filled,
            counts,
        } = &mut self.buckets
        else {
            for k in first..=last as i32 {
                let n = next()?;
                self.add_key(k, n);
            }
            return Ok(());
        };
        let (mut total, mut result) = (0u64, Ok(()));
        for slot in window(offset, counts, first, len) {
            match next() {
                Ok(n) => {
                    *filled += u32::from(*slot == 0 && n > 0);
                    *slot += n;
                    total += n;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.count += total;
        // A run of mostly empty keys can leave the window mostly empty.
        if turns_sparse(counts.len() as i64, *filled as usize) {
            self.make_sparse();
        }
        result
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The non-empty buckets, ascending (the zero bucket first).
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        let zero = (self.zero > 0).then_some((ZERO_KEY, self.zero));
        zero.into_iter().chain(self.keyed())
    }

    /// The non-empty buckets but the zero bucket, ascending.
    fn keyed(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        let (pairs, offset, counts): (&[(i32, u64)], i32, &[u64]) = match &self.buckets {
            Buckets::Sparse(pairs) => (pairs, 0, &[]),
            Buckets::Dense { offset, counts, .. } => (&[], *offset, counts),
        };
        pairs.iter().copied().chain(
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(move |(i, n)| (offset + i as i32, *n)),
        )
    }

    /// How many buckets but the zero bucket are non-empty.
    fn filled(&self) -> usize {
        match &self.buckets {
            Buckets::Sparse(pairs) => pairs.len(),
            Buckets::Dense { filled, .. } => *filled as usize,
        }
    }

    /// The number of keys from the lowest to the highest of the buckets' and
    /// `first..=last`.
    fn span_with(&self, first: i64, last: i64) -> i64 {
        let held = match &self.buckets {
            Buckets::Sparse(pairs) => pairs
                .first()
                .zip(pairs.last())
                .map(|(a, b)| (i64::from(a.0), i64::from(b.0))),
            Buckets::Dense { offset, counts, .. } => (!counts.is_empty()).then(|| {
                (
                    i64::from(*offset),
                    i64::from(*offset) + counts.len() as i64 - 1,
                )
            }),
        };
        match held {
            Some((lo, hi)) => hi.max(last) - lo.min(first) + 1,
            None => last - first + 1,
        }
    }

    /// Bytes held on the heap (for the engine's memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.buckets {
            Buckets::Sparse(pairs) => pairs.capacity() * std::mem::size_of::<(i32, u64)>(),
            Buckets::Dense { counts, .. } => counts.capacity() * std::mem::size_of::<u64>(),
        }
    }

    /// The buckets as a window (kept when they are one already).
    fn make_dense(&mut self) {
        let Buckets::Sparse(pairs) = &self.buckets else {
            return;
        };
        let (offset, counts) = match (pairs.first(), pairs.last()) {
            (Some(&(first, _)), Some(&(last, _))) => {
                let mut counts = vec![0; (last - first) as usize + 1];
                for &(k, n) in pairs {
                    counts[(k - first) as usize] = n;
                }
                (first, counts)
            }
            // Nothing yet: an empty window, placed by the first run.
            _ => (0, Vec::new()),
        };
        self.buckets = Buckets::Dense {
            offset,
            filled: pairs.len() as u32,
            counts,
        };
    }

    /// The buckets as pairs (kept when they are pairs already).
    fn make_sparse(&mut self) {
        if let Buckets::Dense { filled, .. } = &self.buckets {
            let mut pairs = Vec::with_capacity(*filled as usize);
            pairs.extend(self.keyed());
            self.buckets = Buckets::Sparse(pairs);
        }
    }
}

/// The counts of keys `first..first + len` in the window `counts` of a
/// dense histogram, whose first key is `*offset` (`first` not the zero
/// key, `first + len - 1` at most `i32::MAX`: checked by the callers), the
/// window grown to hold them.
fn window<'a>(offset: &mut i32, counts: &'a mut Vec<u64>, first: i32, len: usize) -> &'a mut [u64] {
    if counts.is_empty() {
        *offset = first;
    }
    if first < *offset {
        let grow = (*offset - first) as usize;
        counts.splice(0..0, std::iter::repeat_n(0, grow));
        *offset = first;
    }
    let start = (first - *offset) as usize;
    if counts.len() < start + len {
        counts.resize(start + len, 0);
    }
    &mut counts[start..start + len]
}

impl Sketch {
    /// The `q`-quantile (0..=1): the value of the sample at rank
    /// `q × (count − 1)`, interpolated between the two neighbouring samples
    /// like `percentile_cont`, each read from its bucket. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles([q])[0]
    }

    /// The `qs`-quantiles, each as [`Sketch::quantile`] reads it, in one
    /// walk over the buckets.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        if self.count == 0 {
            return [None; N];
        }
        // The ranks each quantile interpolates between.
        let last = (self.count - 1) as f64;
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
        for (k, n) in self.keyed() {
            visit(k, n, &mut found);
        }
        let at = |w: u64| found.iter().find(|(r, _)| *r == w).map_or(0.0, |(_, v)| *v);
        rank.map(|r| {
            let (lo, hi) = (r.floor() as u64, r.ceil() as u64);
            let (vlo, vhi) = (at(lo), at(hi));
            Some(vlo + (vhi - vlo) * (r - lo as f64))
        })
    }
}

// The codec: the two forms a histogram is stored in.

/// First byte of an [encoded](Sketch::encode) histogram: key gaps and counts.
pub(crate) const SPARSE: u8 = 0;
/// First byte of an [encoded](Sketch::encode) histogram: a run of counts.
pub(crate) const DENSE: u8 = 1;

fn zigzag(k: i32) -> u64 {
    u64::from(((k << 1) ^ (k >> 31)) as u32)
}

fn unzigzag(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Appends `v` as a LEB128 varint.
pub(crate) fn put_varint(v: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 10];
    let n = v.encode_var(&mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Reads one LEB128 varint at `*at`; `None` when the bytes end early or
/// run past 64 bits.
#[inline(always)]
pub(crate) fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    // The one-byte case (most gaps and counts) inline: this is the hot loop
    // of a month's questions (tens of millions of buckets).
    let first = *b.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(u64::from(first));
    }
    let (v, n) = u64::decode_var(&b[*at..])?;
    *at += n;
    Some(v)
}

impl Sketch {
    /// The histogram as bytes (replacing `out`'s), in the smaller of two
    /// layouts of LEB128 varints, told apart by the first byte:
    ///
    /// - `SPARSE` (0): the zero bucket's count, then for each non-empty
    ///   bucket ascending its key (the first as a zigzag value, the others
    ///   as the gap to the previous key) and its count;
    /// - `DENSE` (1): the zero bucket's count, the first key (zigzag), the
    ///   number of keys `n`, then the counts of the `n` keys from the first
    ///   one, empty ones included.
    ///
    /// Dense takes half the varints per key and merges as one run of adds,
    /// but it also stores the empty keys between the first and the last, so
    /// it is kept only when no longer than sparse: the histograms of the
    /// busiest groups. Over a month of 50M simulated events most day
    /// histograms still have gaps and stay sparse.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(SPARSE);
        put_varint(self.zero, out);
        let (mut first, mut prev) = (None, None);
        // The non-empty buckets and the bytes of their counts.
        let (mut filled, mut count_bytes) = (0usize, 0usize);
        for (k, n) in self.keyed() {
            let step = match prev {
                None => zigzag(k),
                Some(p) => u64::from(k.wrapping_sub(p) as u32),
            };
            put_varint(step, out);
            put_varint(n, out);
            first.get_or_insert(k);
            prev = Some(k);
            filled += 1;
            count_bytes += n.required_space();
        }
        let (Some(first), Some(last)) = (first, prev) else {
            return;
        };
        // Dense, kept when no longer: measured first, so nothing is
        // allocated for the sparse ones. Every key of the run takes a byte,
        // an empty one exactly one.
        let span = (i64::from(last) - i64::from(first) + 1) as usize;
        if span > out.len() {
            return;
        }
        let dense = 1
            + self.zero.required_space()
            + zigzag(first).required_space()
            + (span as u64).required_space()
            + count_bytes
            + (span - filled);
        if dense <= out.len() {
            out.clear();
            out.push(DENSE);
            put_varint(self.zero, out);
            put_varint(zigzag(first), out);
            put_varint(span as u64, out);
            let mut at = first;
            for (k, n) in self.keyed() {
                out.resize(out.len() + (k - at) as usize, 0);
                put_varint(n, out);
                at = k + 1;
            }
        }
    }

    /// Adds the histogram [encoded](Sketch::encode) in `b`: the hot loop of
    /// a month's questions, so nothing is allocated unless the window grows.
    pub fn decode_into(&mut self, b: &[u8]) -> Result<(), Damaged> {
        let bad = || Damaged::Packed;
        let (&layout, b) = b.split_first().ok_or_else(bad)?;
        let mut at = 0;
        let zero = get_varint(b, &mut at).ok_or_else(bad)?;
        if zero > 0 {
            self.add_key(ZERO_KEY, zero);
        }
        match layout {
            SPARSE => {
                let mut prev: Option<i32> = None;
                while at < b.len() {
                    let step = get_varint(b, &mut at).ok_or_else(bad)?;
                    let n = get_varint(b, &mut at).ok_or_else(bad)?;
                    let k = match prev {
                        None => unzigzag(step),
                        Some(p) => p.wrapping_add(step as u32 as i32),
                    };
                    if !valid(k) {
                        return Err(Damaged::Key(k));
                    }
                    self.add_key(k, n);
                    prev = Some(k);
                }
            }
            DENSE if at < b.len() => {
                let first = unzigzag(get_varint(b, &mut at).ok_or_else(bad)?);
                let len = get_varint(b, &mut at).ok_or_else(bad)?;
                // Every count takes a byte at least: a damaged length cannot
                // make the window huge, nor run past the keys.
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&n| n >= 1 && n <= b.len() - at)
                    .ok_or_else(bad)?;
                let last = i64::from(first) + len as i64 - 1;
                if first < MIN_KEY || last > i64::from(MAX_KEY) {
                    return Err(Damaged::Key(first));
                }
                self.add_run(first, len, || get_varint(b, &mut at).ok_or_else(bad))?;
                if at != b.len() {
                    return Err(bad());
                }
            }
            DENSE => {}
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// Appends the histogram as one row of `rollups_hourly`'s parallel
    /// `*_keys` and `*_counts` lists (non-empty buckets, ascending).
    pub fn append_lists(
        &self,
        keys: &mut ListBuilder<Int32Builder>,
        counts: &mut ListBuilder<Int64Builder>,
    ) {
        for (key, n) in self.buckets() {
            keys.values().append_value(key);
            counts
                .values()
                .append_value(i64::try_from(n).unwrap_or(i64::MAX));
        }
        keys.append(true);
        counts.append(true);
    }

    /// Adds one row of `rollups_hourly`'s parallel `*_keys` and `*_counts`
    /// lists; null entries are skipped, negative counts read as 0.
    pub fn add_lists(&mut self, keys: &Int32Array, counts: &Int64Array) -> Result<(), Damaged> {
        if keys.len() != counts.len() {
            return Err(Damaged::Lists);
        }
        for j in 0..keys.len() {
            if !keys.is_null(j) && !counts.is_null(j) {
                let k = keys.value(j);
                if !valid(k) {
                    return Err(Damaged::Key(k));
                }
                self.add_key(k, u64::try_from(counts.value(j)).unwrap_or(0));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The quantile as the old map-based sketch read it, walking the
    /// buckets sample by sample: what [`Sketch::quantiles`] must equal.
    fn reference_quantile(s: &Sketch, q: f64) -> Option<f64> {
        let buckets: Vec<(i32, u64)> = s.buckets().collect();
        let count: u64 = buckets.iter().map(|(_, n)| n).sum();
        if count == 0 {
            return None;
        }
        let nth = |n: u64| {
            let mut seen = 0;
            for (k, c) in &buckets {
                seen += c;
                if seen > n {
                    return value(*k);
                }
            }
            buckets.last().map_or(0.0, |(k, _)| value(*k))
        };
        let rank = q.clamp(0.0, 1.0) * (count - 1) as f64;
        let (lo, hi) = (rank.floor() as u64, rank.ceil() as u64);
        let (vlo, vhi) = (nth(lo), nth(hi));
        Some(vlo + (vhi - vlo) * (rank - lo as f64))
    }

    fn decoded(b: &[u8]) -> Sketch {
        let mut s = Sketch::default();
        s.decode_into(b).unwrap();
        s
    }

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
        // The key range is exactly that of the values above MIN_MS.
        assert_eq!(key(MIN_MS * (1.0 + 1e-12)), MIN_KEY);
        assert_eq!(key(MIN_MS * 1.0001), MIN_KEY);
        assert_eq!(key(f64::MAX), MAX_KEY);
        assert_eq!(key(f64::INFINITY), MAX_KEY);
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
        // Merged into a window that must grow on both sides.
        let mut c = Sketch::default();
        c.add_key(700, 2);
        c.merge(&all);
        c.add_key(-5, 1);
        let mut want: Vec<(i32, u64)> = all.buckets().collect();
        want.push((700, 2));
        want.insert(0, (-5, 1));
        assert_eq!(c.buckets().collect::<Vec<_>>(), want);
        assert_eq!(c.count(), 1003);
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
            (-690, 1),
            (-2, 5),
            (0, 1),
            (7, 300),
            (2000, 1),
        ] {
            s.add_key(k, n);
        }
        let mut buf = Vec::new();
        s.encode(&mut buf);
        let d = decoded(&buf);
        let qs = [0.0, 0.01, 0.5, 0.99, 1.0];
        assert_eq!(d.quantiles(qs), qs.map(|q| s.quantile(q)));
        assert_eq!(d, s);
        assert_eq!(d.count(), s.count());
        assert_eq!(buf[0], SPARSE, "keys far apart stay sparse");
        Sketch::default().encode(&mut buf);
        assert_eq!(buf, [SPARSE, 0]);
        // Damaged: a varint cut short, an unknown layout, a run longer
        // than its bytes, a varint past 64 bits, nothing at all.
        for damaged in [
            &[SPARSE, 0, 0x80][..],
            &[7, 0],
            &[DENSE, 0, 2, 200, 1],
            &[
                SPARSE, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            &[],
        ] {
            assert!(
                Sketch::default().decode_into(damaged).is_err(),
                "{damaged:?}"
            );
        }
    }

    /// Bytes written by the codec before it moved onto `integer-encoding`
    /// and the one-type sketch (summary files on disk hold such bytes):
    /// they decode to the same buckets, and encoding those buckets gives the
    /// same bytes back.
    #[test]
    fn bytes_written_by_the_old_codec_read_back_the_same() {
        let sparse: &[u8] = &[0, 3, 227, 10, 1, 176, 5, 5, 2, 1, 7, 172, 2, 201, 15, 1];
        let sparse_buckets = vec![
            (ZERO_KEY, 3),
            (-690, 1),
            (-2, 5),
            (0, 1),
            (7, 300),
            (2000, 1),
        ];
        let dense: &[u8] = &[
            1, 2, 39, 66, 1, 5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 2, 3, 4,
            5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3,
            4, 5, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 160, 141, 6,
        ];
        let mut dense_buckets = vec![(ZERO_KEY, 2)];
        dense_buckets.extend((-20..40).map(|k: i32| (k, 1 + (k.unsigned_abs() as u64 % 5))));
        dense_buckets.push((45, 100_000));
        let extremes: &[u8] = &[
            0, 1, 227, 10, 1, 219, 5, 1, 29, 1, 22, 1, 241, 2, 1, 1, 1, 134, 3, 1, 197, 9, 1, 169,
            154, 4, 128, 128, 128, 128, 128, 32,
        ];
        let extremes_buckets = vec![
            (ZERO_KEY, 1),
            (MIN_KEY, 1),
            (41, 1),
            (70, 1),
            (92, 1),
            (461, 1),
            (462, 1),
            (852, 1),
            (2073, 1),
            (MAX_KEY, 1 << 40),
        ];
        let mut buf = Vec::new();
        for (bytes, want) in [
            (sparse, sparse_buckets),
            (dense, dense_buckets),
            (extremes, extremes_buckets),
            (&[0, 0][..], vec![]),
        ] {
            let s = decoded(bytes);
            assert_eq!(s.buckets().collect::<Vec<_>>(), want, "{bytes:?}");
            assert_eq!(s.count(), want.iter().map(|(_, n)| n).sum::<u64>());
            s.encode(&mut buf);
            assert_eq!(buf, bytes);
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
        a.encode(&mut buf);
        assert_eq!(buf[0], DENSE);
        let mut d = decoded(&buf);
        b.encode(&mut buf);
        assert_eq!(buf[0], SPARSE);
        d.decode_into(&buf).unwrap();
        // Dense again, now inside the grown window.
        a.encode(&mut buf);
        d.decode_into(&buf).unwrap();
        let mut want = Sketch::default();
        for s in [&a, &b, &a] {
            for (k, n) in s.buckets() {
                want.add_key(k, n);
            }
        }
        assert_eq!(d.count(), want.count());
        assert_eq!(d, want);
        let qs = [0.0, 0.1, 0.5, 0.9, 0.99, 1.0];
        assert_eq!(d.quantiles(qs), qs.map(|q| want.quantile(q)));
        // A dense run at the top of the key range.
        let mut c = Sketch::default();
        c.add_key(MAX_KEY, 1);
        c.add_key(MAX_KEY - 1, 1);
        c.encode(&mut buf);
        assert_eq!(buf[0], DENSE);
        let d = decoded(&buf);
        assert_eq!(d.count(), 2);
        assert_eq!(d, c);
    }

    #[test]
    fn quantiles_equal_a_walk_over_the_samples() {
        for seed in 0..50u64 {
            let mut s = Sketch::default();
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
                s.add_key(key(ms), 1 + i % 3);
            }
            let qs = [0.0, 0.5, 0.9, 0.95, 0.99, 1.0];
            let want = qs.map(|q| reference_quantile(&s, q));
            assert_eq!(s.quantiles(qs), want, "seed {seed}");
            assert_eq!(s.quantile(0.9), want[2], "seed {seed}");
        }
        assert_eq!(Sketch::default().quantiles([0.5]), [None]);
    }

    #[test]
    fn lists_round_trip_and_refuse_uneven_rows() {
        let mut s = Sketch::default();
        for (k, n) in [(ZERO_KEY, 2), (-3, 1), (10, 7)] {
            s.add_key(k, n);
        }
        let mut keys = ListBuilder::new(Int32Builder::new());
        let mut counts = ListBuilder::new(Int64Builder::new());
        s.append_lists(&mut keys, &mut counts);
        let (keys, counts) = (keys.finish(), counts.finish());
        let (k, n) = (keys.value(0), counts.value(0));
        let (k, n) = (
            k.as_any().downcast_ref::<Int32Array>().unwrap(),
            n.as_any().downcast_ref::<Int64Array>().unwrap(),
        );
        assert_eq!(k.values().to_vec(), [ZERO_KEY, -3, 10]);
        assert_eq!(n.values().to_vec(), [2, 1, 7]);
        let mut back = Sketch::default();
        back.add_lists(k, n).unwrap();
        assert_eq!(back, s);
        let short = Int64Array::from(vec![1]);
        assert!(matches!(
            Sketch::default().add_lists(k, &short),
            Err(Damaged::Lists)
        ));
    }

    /// Keys no latency maps to are refused when read from a file, and
    /// counted at the edge of the range when added, so no input makes the
    /// window larger than the key range.
    #[test]
    fn keys_outside_the_range_do_not_grow_the_window() {
        let mut buf = Vec::new();
        // Written by the old codec from add_key(i32::MIN + 1, 1) and
        // add_key(i32::MAX, 1): a window of 2^32 counts if accepted.
        let hostile: &[u8] = &[0, 0, 253, 255, 255, 255, 15, 1, 254, 255, 255, 255, 15, 1];
        assert!(matches!(
            Sketch::default().decode_into(hostile),
            Err(Damaged::Key(_))
        ));
        // A dense run that would end past MAX_KEY.
        let mut c = Sketch::default();
        c.add_key(MAX_KEY, 1);
        c.add_key(MAX_KEY - 1, 1);
        c.encode(&mut buf);
        assert_eq!(buf[0], DENSE);
        buf[2] += 2; // first key (zigzag) + 1
        assert!(Sketch::default().decode_into(&buf).is_err());
        let keys = Int32Array::from(vec![i32::MAX]);
        let counts = Int64Array::from(vec![1]);
        assert!(matches!(
            Sketch::default().add_lists(&keys, &counts),
            Err(Damaged::Key(i32::MAX))
        ));
        let mut s = Sketch::default();
        s.add_key(i32::MIN + 1, 1);
        s.add_key(i32::MAX, 2);
        assert_eq!(
            s.buckets().collect::<Vec<_>>(),
            [(MIN_KEY, 1), (MAX_KEY, 2)]
        );
        assert!(s.heap_bytes() <= 8 * (MAX_KEY - MIN_KEY + 1) as usize);
    }

    fn is_dense(s: &Sketch) -> bool {
        matches!(s.buckets, Buckets::Dense { .. })
    }

    /// A rollup group's few latencies, far apart, stay a short list (a
    /// window would be 8 bytes for every key between them); a busy
    /// histogram turns into a window, and back into a list when an outlier
    /// would leave the window mostly empty.
    #[test]
    fn few_buckets_stay_pairs_and_busy_ones_turn_dense() {
        let mut s = Sketch::default();
        for ms in [3.0, 40.0, 250.0, 1_800.0, 30_000.0] {
            s.add(ms);
        }
        assert!(!is_dense(&s));
        assert!(s.heap_bytes() <= 8 * 16, "{} bytes", s.heap_bytes());
        let mut busy = Sketch::default();
        for k in 0..100 {
            busy.add_key(k, 1 + k as u64 % 3);
        }
        assert!(is_dense(&busy));
        assert!(
            busy.heap_bytes() <= 2 * 100 * 8,
            "{} bytes",
            busy.heap_bytes()
        );
        busy.add_key(5_000, 1);
        assert!(!is_dense(&busy), "an outlier far out");
        assert_eq!(busy.buckets().count(), 101);
        assert_eq!(busy.buckets().last(), Some((5_000, 1)));
        // Merged into a list until its keys fill their span.
        let mut m = Sketch::default();
        m.merge(&s);
        assert!(!is_dense(&m));
        for _ in 0..3 {
            m.merge(&busy);
        }
        assert_eq!(m.count(), s.count() + 3 * busy.count());
        let mut d = busy.clone();
        d.make_dense();
        let mut md = Sketch::default();
        for _ in 0..3 {
            md.merge(&d);
        }
        md.merge(&s);
        assert_eq!(md, m, "merged from a window or from pairs");
    }

    /// Whatever the order of adds, merges and packed histograms, and
    /// whatever form each side is in, the buckets are those of a plain map
    /// of the same adds, and the packed bytes read back the same.
    #[test]
    fn both_forms_hold_the_same_buckets_as_a_map() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let mut buf = Vec::new();
        for round in 0..300 {
            let mut s = Sketch::default();
            let mut want: BTreeMap<i32, u64> = BTreeMap::new();
            let centre = rand(400) as i32 - 100;
            let spread = [2, 10, 60, 600, 5_000][round % 5];
            for _ in 0..rand(40) {
                let mut part = Sketch::default();
                for _ in 0..1 + rand(30) {
                    let k = match rand(20) {
                        0 => ZERO_KEY,
                        1 => MIN_KEY + rand(3) as i32,
                        2 => MAX_KEY - rand(3) as i32,
                        _ => centre + rand(2 * spread) as i32 - spread as i32,
                    };
                    let n = rand(4);
                    part.add_key(k, n);
                    if n > 0 {
                        // Counted at the edge of the key range, as added.
                        let k = if k == ZERO_KEY {
                            k
                        } else {
                            k.clamp(MIN_KEY, MAX_KEY)
                        };
                        *want.entry(k).or_default() += n;
                    }
                }
                if rand(2) == 0 {
                    part.make_dense();
                }
                match rand(3) {
                    0 => s.merge(&part),
                    1 => {
                        part.encode(&mut buf);
                        s.decode_into(&buf).unwrap();
                    }
                    _ => {
                        for (k, n) in part.buckets() {
                            s.add_key(k, n);
                        }
                    }
                }
                let got: Vec<(i32, u64)> = s.buckets().collect();
                let want: Vec<(i32, u64)> = want.iter().map(|(k, n)| (*k, *n)).collect();
                assert_eq!(got, want, "round {round}");
                assert_eq!(s.count(), want.iter().map(|(_, n)| n).sum::<u64>());
                if let Buckets::Dense { filled, .. } = &s.buckets {
                    let keyed = want.iter().filter(|(k, _)| *k != ZERO_KEY).count();
                    assert_eq!(*filled as usize, keyed, "round {round}");
                }
            }
            s.encode(&mut buf);
            assert_eq!(decoded(&buf), s, "round {round}");
            // Compared as text: the top key reads back as infinity, and
            // interpolating next to it gives NaN on both sides.
            let qs = [0.0, 0.5, 0.99, 1.0];
            assert_eq!(
                format!("{:?}", s.quantiles(qs)),
                format!("{:?}", qs.map(|q| reference_quantile(&s, q))),
            );
        }
    }
}
