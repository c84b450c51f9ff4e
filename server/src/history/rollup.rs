//! Rollups: per series, one point per minute and per hour (min, max, average, last and
//! the number of samples), kept up to date as samples arrive.
//!
//! Completed minutes of the open hour stay in memory, compressed; when the hour completes
//! they become one 1m block, and the hour's own point one 1h block. Rollups are derived
//! from raw samples, so after a crash the open hour is rebuilt from the raw blocks and the
//! write-ahead log instead of being logged a second time.
//!
//! A sample older than the open minute (a late sample) is stored raw but not rolled up:
//! the minute it belongs to may already be compressed or on disk.

use super::{
    codec::{CodecError, Encoder},
    pack::{decode, pack},
};
use thin_vec::ThinVec;

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;

/// The start of the `width` bucket holding `ts`.
pub fn bucket(ts: i64, width: i64) -> i64 {
    ts.saturating_sub(ts.rem_euclid(width))
}

/// One rollup point: what a 1m or 1h block stores per bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupPoint {
    /// The start of the bucket.
    pub ts: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub last: f64,
    /// Samples in the bucket; weighs the average when buckets are merged.
    pub count: f64,
    /// What is stored instead of the average: the exact sum of decimal samples is itself
    /// decimal and packs into a few bits, where the quotient takes a whole float.
    pub sum: f64,
}

impl RollupPoint {
    /// The stored columns: min, max, sum, last, count.
    pub fn columns(&self) -> [f64; 5] {
        [self.min, self.max, self.sum, self.last, self.count]
    }

    pub fn from_columns(ts: i64, [min, max, sum, last, count]: [f64; 5]) -> Self {
        Self {
            ts,
            min,
            max,
            avg: sum / count,
            last,
            count,
            sum,
        }
    }

    /// A point of a block written before sums were stored (a head-coded block on disk),
    /// whose third column is the average.
    fn from_average_columns(ts: i64, [min, max, avg, last, count]: [f64; 5]) -> Self {
        Self {
            ts,
            min,
            max,
            avg,
            last,
            count,
            sum: avg * count,
        }
    }
}

/// Largest power of ten a decimal sum is kept at (as [`super::codec`]'s decimal code).
const MAX_SCALE: u8 = 7;

/// `v` as `m / 10^scale` with the smallest scale, if it is a decimal.
fn as_decimal(v: f64) -> Option<(i64, u8)> {
    (0..=MAX_SCALE).find_map(|s| super::codec::decimal(v, s).map(|m| (m, s)))
}

/// Adds `v` to an exact decimal sum; `None` once a sample is not decimal.
fn add_decimal((m, scale): (i64, u8), v: f64) -> Option<(i64, u8)> {
    (scale..=MAX_SCALE).find_map(|s| {
        let mv = super::codec::decimal(v, s)?;
        let m = m.checked_mul(10i64.pow(u32::from(s - scale)))?;
        Some((m.checked_add(mv)?, s))
    })
}

/// The aggregate of an open bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    pub start: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    /// The sum as `m / 10^scale`, exact while every sample is a decimal.
    pub exact: Option<(i64, u8)>,
    pub count: u64,
    pub last_ts: i64,
    pub last: f64,
}

impl Agg {
    pub fn new(start: i64, ts: i64, v: f64) -> Self {
        Self {
            start,
            min: v,
            max: v,
            sum: v,
            exact: as_decimal(v),
            count: 1,
            last_ts: ts,
            last: v,
        }
    }

    /// `f64::min`/`max` skip NaN, so one NaN sample does not hide a bucket's range.
    pub fn add(&mut self, ts: i64, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.exact = self.exact.and_then(|e| add_decimal(e, v));
        self.count += 1;
        if ts >= self.last_ts {
            self.last_ts = ts;
            self.last = v;
        }
    }

    pub fn point(&self) -> RollupPoint {
        // The exact sum as the float that decodes from its decimal code, when it has one.
        let sum = self
            .exact
            .and_then(|(m, scale)| {
                let v = super::codec::from_decimal(m, scale);
                super::codec::decimal(v, scale)
                    .is_some_and(|back| back == m)
                    .then_some(v)
            })
            .unwrap_or(self.sum);
        RollupPoint {
            ts: self.start,
            min: self.min,
            max: self.max,
            avg: sum / self.count as f64,
            last: self.last,
            count: self.count as f64,
            sum,
        }
    }
}

/// A completed hour waiting for the next seal.
#[derive(Debug, Clone)]
pub struct ReadyHour {
    /// Its minutes, as a 1m block.
    pub minutes: Vec<u8>,
    pub first: i64,
    pub last: i64,
    pub count: usize,
    pub hour: RollupPoint,
}

#[derive(Debug, Clone, Default)]
pub struct Rollup {
    minute: Option<Agg>,
    /// The open hour's start; its point is folded from its minutes when asked for.
    hour: Option<i64>,
    /// Completed minutes of the open hour, packed at each seal ([`Rollup::repack`]): a
    /// packed minute takes about half the bytes of a streamed one, and an hour of them is
    /// most of a series' memory.
    packed: Vec<u8>,
    /// Minutes completed since then.
    minutes: Encoder<5>,
    /// Hours closed and not yet sealed: empty but for a few minutes an hour, so it costs
    /// one pointer in between.
    ready: ThinVec<ReadyHour>,
}

impl Rollup {
    /// Adds a sample. `false`: it is older than the open minute and was not rolled up.
    pub fn add(&mut self, ts: i64, v: f64) -> bool {
        let minute = bucket(ts, MINUTE);
        let hour = bucket(ts, HOUR);
        match self.minute {
            Some(open) if minute < open.start => return false,
            Some(open) if minute > open.start => self.close_minute(),
            _ => {}
        }
        if self.hour.is_some_and(|open| hour > open) {
            self.close_hour();
        }
        match &mut self.minute {
            Some(open) => open.add(ts, v),
            None => self.minute = Some(Agg::new(minute, ts, v)),
        }
        self.hour.get_or_insert(hour);
        true
    }

    /// Closes the open minute and hour: the series has gone quiet, and its last hour
    /// should reach disk without waiting for a sample that may never come.
    pub fn close(&mut self) {
        self.close_minute();
        self.close_hour();
    }

    fn close_minute(&mut self) {
        if let Some(open) = self.minute.take() {
            let p = open.point();
            self.minutes.append(p.ts, p.columns());
        }
    }

    fn close_hour(&mut self) {
        let Some(start) = self.hour.take() else {
            return;
        };
        let points = self.open_hour_minutes();
        self.minutes.clear();
        // The hour's block goes out in the buffer that held its minutes: closing every
        // series' hour in one tick allocates nothing new.
        let mut bytes = std::mem::take(&mut self.packed);
        let packed = pack(&points);
        bytes.clear();
        bytes.reserve_exact(packed.len());
        bytes.extend_from_slice(&packed);
        let minutes: Vec<RollupPoint> = points
            .iter()
            .map(|&(ts, columns)| RollupPoint::from_columns(ts, columns))
            .collect();
        let Some(hour) = fold(start, &minutes) else {
            return;
        };
        // One hour is ready at a time unless seals fail: room for exactly one.
        self.ready.reserve_exact(1);
        self.ready.push(ReadyHour {
            count: points.len(),
            minutes: bytes,
            first: minutes[0].ts,
            last: minutes[minutes.len() - 1].ts,
            hour,
        });
    }

    /// The completed minutes of the open hour, packed and streamed.
    fn open_hour_minutes(&self) -> Vec<(i64, [f64; 5])> {
        // Both were written by this process from its own points: they decode.
        let mut points = if self.packed.is_empty() {
            Vec::new()
        } else {
            decode::<5>(&self.packed).unwrap_or_default()
        };
        if !self.minutes.is_empty() {
            points.extend(decode::<5>(&self.minutes.to_bytes()).unwrap_or_default());
        }
        points
    }

    /// Packs the minutes streamed since the last call together with the earlier ones.
    pub fn repack(&mut self) {
        if self.minutes.is_empty() {
            return;
        }
        let points = self.open_hour_minutes();
        // Into the same buffers: no free and regrowth per series at every seal.
        let packed = pack(&points);
        self.packed.clear();
        self.packed.reserve_exact(packed.len());
        self.packed.extend_from_slice(&packed);
        self.minutes.clear();
    }

    pub fn ready(&self) -> &[ReadyHour] {
        &self.ready
    }

    /// Forgets the first `n` ready hours, once they are on disk.
    pub fn drop_ready(&mut self, n: usize) {
        self.ready.drain(..n.min(self.ready.len()));
        if self.ready.is_empty() {
            // Hours close once an hour: the slot is not worth keeping in between.
            self.ready = ThinVec::new();
        }
    }

    /// Every 1m point held in memory, the open (partial) minute included, oldest first.
    pub fn minute_points(&self) -> Result<Vec<RollupPoint>, CodecError> {
        let mut out = Vec::new();
        for ready in &self.ready {
            decode_into(&ready.minutes, &mut out)?;
        }
        out.extend(
            self.open_hour_minutes()
                .into_iter()
                .map(|(ts, columns)| RollupPoint::from_columns(ts, columns)),
        );
        out.extend(self.minute.map(|m| m.point()));
        Ok(out)
    }

    /// Every 1h point held in memory, the open (partial) hour included, oldest first.
    pub fn hour_points(&self) -> Vec<RollupPoint> {
        let open = self.hour.and_then(|start| {
            let mut minutes: Vec<RollupPoint> = self
                .open_hour_minutes()
                .into_iter()
                .map(|(ts, columns)| RollupPoint::from_columns(ts, columns))
                .collect();
            minutes.extend(self.minute.map(|m| m.point()));
            fold(start, &minutes)
        });
        self.ready.iter().map(|r| r.hour).chain(open).collect()
    }

    pub fn heap_bytes(&self) -> usize {
        self.packed.capacity()
            + self.minutes.heap_bytes()
            + self.ready.capacity() * std::mem::size_of::<ReadyHour>()
            + self
                .ready
                .iter()
                .map(|r| r.minutes.capacity())
                .sum::<usize>()
    }
}

/// One hour's point from its minutes (in time order): min, max, last and count as over
/// the samples, and the sum exact while the minutes' sums are decimals.
fn fold(start: i64, minutes: &[RollupPoint]) -> Option<RollupPoint> {
    let (first, rest) = minutes.split_first()?;
    let mut p = RollupPoint {
        ts: start,
        ..*first
    };
    let mut exact = as_decimal(first.sum);
    for m in rest {
        p.min = p.min.min(m.min);
        p.max = p.max.max(m.max);
        p.sum += m.sum;
        exact = exact.and_then(|e| add_decimal(e, m.sum));
        p.count += m.count;
        p.last = m.last;
    }
    if let Some(sum) = exact.and_then(|(m, scale)| decimal_value(m, scale)) {
        p.sum = sum;
    }
    p.avg = p.sum / p.count;
    Some(p)
}

/// `m / 10^scale` as the float that codes back to `m`, if there is one.
fn decimal_value(m: i64, scale: u8) -> Option<f64> {
    let v = super::codec::from_decimal(m, scale);
    (super::codec::decimal(v, scale) == Some(m)).then_some(v)
}

/// The points of a stored 1m or 1h block.
pub fn decode_into(block: &[u8], out: &mut Vec<RollupPoint>) -> Result<(), CodecError> {
    let from = if super::pack::is_packed(block) {
        RollupPoint::from_columns
    } else {
        RollupPoint::from_average_columns
    };
    out.extend(
        decode::<5>(block)?
            .into_iter()
            .map(|(ts, columns)| from(ts, columns)),
    );
    Ok(())
}

/// Several rollup points (or raw samples, as points of one sample) as one bucket.
#[derive(Debug, Clone, Copy)]
pub struct Merged {
    pub ts: i64,
    pub min: f64,
    pub max: f64,
    sum: f64,
    count: f64,
}

impl Merged {
    pub fn new(ts: i64, p: &RollupPoint) -> Self {
        Self {
            ts,
            min: p.min,
            max: p.max,
            sum: p.sum,
            count: p.count,
        }
    }

    pub fn add(&mut self, p: &RollupPoint) {
        self.min = self.min.min(p.min);
        self.max = self.max.max(p.max);
        self.sum += p.sum;
        self.count += p.count;
    }

    pub fn avg(&self) -> f64 {
        self.sum / self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// Min, max, average, last of each bucket, the obvious way.
    fn naive(points: &[(i64, f64)], width: i64) -> Vec<RollupPoint> {
        let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for &(ts, v) in points {
            buckets.entry(bucket(ts, width)).or_default().push(v);
        }
        buckets
            .into_iter()
            .map(|(ts, vs)| RollupPoint {
                ts,
                min: vs.iter().copied().fold(f64::INFINITY, f64::min),
                max: vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                avg: vs.iter().sum::<f64>() / vs.len() as f64,
                last: vs[vs.len() - 1],
                count: vs.len() as f64,
                sum: vs.iter().sum::<f64>(),
            })
            .collect()
    }

    fn assert_close(got: &[RollupPoint], want: &[RollupPoint]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                (g.ts, g.min, g.max, g.last, g.count),
                (w.ts, w.min, w.max, w.last, w.count)
            );
            let tolerance = 1e-9 * w.avg.abs().max(1.0);
            assert!((g.avg - w.avg).abs() <= tolerance, "{g:?} vs {w:?}");
        }
    }

    /// A few hours of samples with gaps, at varying rates.
    fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
        (
            0i64..10 * HOUR,
            prop::collection::vec((1i64..120_000, -1000i64..1000), 1..2000),
        )
            .prop_map(|(start, steps)| {
                let mut ts = 1_700_000_000_000 + start;
                steps
                    .into_iter()
                    .map(|(step, v)| {
                        ts += step;
                        (ts, v as f64 / 10.0)
                    })
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn rollups_equal_a_naive_fold_over_the_samples(
            points in samples(),
            repack_every in 1usize..50,
        ) {
            let mut rollup = Rollup::default();
            for (i, &(ts, v)) in points.iter().enumerate() {
                prop_assert!(rollup.add(ts, v));
                // Seals pack the open hour's minutes now and then: nothing may change.
                if i % repack_every == 0 {
                    rollup.repack();
                }
            }
            assert_close(&rollup.minute_points().unwrap(), &naive(&points, MINUTE));
            assert_close(&rollup.hour_points(), &naive(&points, HOUR));

            // The same once everything is closed and moved to ready hours.
            rollup.close();
            assert_close(&rollup.minute_points().unwrap(), &naive(&points, MINUTE));
            assert_close(&rollup.hour_points(), &naive(&points, HOUR));
            let hours: usize = rollup.ready().iter().map(|r| r.count).sum();
            prop_assert_eq!(hours, naive(&points, MINUTE).len());
        }
    }

    #[test]
    fn a_sample_older_than_the_open_minute_is_not_rolled_up() {
        let mut rollup = Rollup::default();
        assert!(rollup.add(2 * MINUTE, 1.0));
        assert!(!rollup.add(MINUTE, 5.0));
        assert!(rollup.add(2 * MINUTE + 10, 3.0));
        let points = rollup.minute_points().unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(
            (points[0].max, points[0].last, points[0].count),
            (3.0, 3.0, 2.0)
        );
    }

    #[test]
    fn the_sum_of_decimal_samples_is_kept_exact() {
        // Sixty times 0.1 adds up to 5.999999999999998 in floats; the stored sum is 6,
        // which the block codes as a small decimal instead of a whole float.
        let mut agg = Agg::new(0, 0, 0.1);
        for i in 1..60 {
            agg.add(i * 1_000, 0.1);
        }
        let p = agg.point();
        assert_eq!((p.sum, p.avg, p.count), (6.0, 0.1, 60.0));
        // A sample that is no decimal falls back to the float sum.
        agg.add(60_000, f64::from_bits(0x3ff0_0000_0000_0001));
        assert!(agg.point().sum > 6.9 && agg.point().sum < 7.1);
    }

    #[test]
    fn merged_buckets_weigh_averages_by_sample_count() {
        let a = RollupPoint::from_columns(0, [1.0, 3.0, 6.0, 3.0, 3.0]);
        let b = RollupPoint::from_columns(60_000, [10.0, 10.0, 10.0, 10.0, 1.0]);
        let mut m = Merged::new(0, &a);
        m.add(&b);
        assert_eq!((m.min, m.max, m.avg()), (1.0, 10.0, 4.0));
    }
}
