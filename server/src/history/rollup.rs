//! Rollups: per series, one point per minute and per hour (min, max, average, last and
//! the number of samples).
//!
//! An hour is rolled up from its raw samples once it has ended (a sample of a later hour
//! came, or the series went quiet for a seal period), when the seal that writes its last
//! samples reads the hour back from the raw blocks: memory holds no rollup state at all,
//! and a late sample of an hour already rolled up rolls that hour up again. Queries
//! compute the open hour's points from its raw samples, an hour of them at most.

use super::{
    codec::CodecError,
    pack::{decode, pack},
};

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

/// One hour's rollups: its minutes (a 1m block) and the hour's own point (a 1h block).
#[derive(Debug, Clone, PartialEq)]
pub struct HourRollup {
    pub minutes: Vec<RollupPoint>,
    pub hour: RollupPoint,
}

impl HourRollup {
    /// The samples the hour rolls up.
    pub fn count(&self) -> f64 {
        self.hour.count
    }
}

/// The 1m and 1h rollups of `samples`, one per hour they touch. The samples must be in
/// time order with one per timestamp, as [`super::head::newest_wins`] leaves them.
pub fn roll_up(samples: &[(i64, f64)]) -> Vec<HourRollup> {
    samples
        .chunk_by(|a, b| bucket(a.0, HOUR) == bucket(b.0, HOUR))
        .filter_map(|hour| {
            let minutes: Vec<RollupPoint> = hour
                .chunk_by(|a, b| bucket(a.0, MINUTE) == bucket(b.0, MINUTE))
                .map(|minute| {
                    let (&(ts, v), rest) = minute.split_first()?;
                    let mut agg = Agg::new(bucket(ts, MINUTE), ts, v);
                    for &(ts, v) in rest {
                        agg.add(ts, v);
                    }
                    Some(agg.point())
                })
                .collect::<Option<_>>()?;
            let hour = fold(bucket(hour[0].0, HOUR), &minutes)?;
            Some(HourRollup { minutes, hour })
        })
        .collect()
}

/// The 1m points of `rolled`, in order.
pub fn minute_points(rolled: &[HourRollup]) -> Vec<RollupPoint> {
    rolled
        .iter()
        .flat_map(|h| h.minutes.iter().copied())
        .collect()
}

/// A rollup's points as a stored block.
pub fn pack_points(points: &[RollupPoint]) -> Vec<u8> {
    let columns: Vec<(i64, [f64; 5])> = points.iter().map(|p| (p.ts, p.columns())).collect();
    pack(&columns)
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
        fn rollups_equal_a_naive_fold_over_the_samples(points in samples()) {
            let rolled = roll_up(&points);
            assert_close(&minute_points(&rolled), &naive(&points, MINUTE));
            let hours: Vec<RollupPoint> = rolled.iter().map(|h| h.hour).collect();
            assert_close(&hours, &naive(&points, HOUR));
            for h in &rolled {
                prop_assert!(h.minutes.iter().all(|m| bucket(m.ts, HOUR) == h.hour.ts));
            }
            let counted: f64 = rolled.iter().map(HourRollup::count).sum();
            prop_assert_eq!(counted, points.len() as f64);
        }

        #[test]
        fn a_stored_rollup_decodes_to_its_points(points in samples()) {
            for h in roll_up(&points) {
                let mut back = Vec::new();
                decode_into(&pack_points(&h.minutes), &mut back).unwrap();
                prop_assert_eq!(&back, &h.minutes);
            }
        }
    }

    #[test]
    fn no_samples_no_rollups() {
        assert!(roll_up(&[]).is_empty());
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
