//! Which tier answers a query, and the answer's shape: raw samples, rollup points, or
//! either aggregated into `step` buckets.

use super::{
    rollup::{bucket, Merged, RollupPoint, HOUR, MINUTE},
    HistoryConfig,
};
use app::history::{HistoryPoint, Tier};

/// Points one query may read from a tier. An hour of 1 Hz samples (3,600) is read raw;
/// six hours (21,600) come from the 1m tier (360 points) and 30 days from the 1h tier (720).
pub const MAX_POINTS: i64 = 4_000;

/// Raw samples are assumed to come once a second when sizing a raw read.
const RAW_INTERVAL_MS: i64 = 1_000;

pub fn tier_code(tier: Tier) -> i64 {
    match tier {
        Tier::Raw => 0,
        Tier::Minute => 1,
        Tier::Hour => 2,
    }
}

fn retention_ms(config: &HistoryConfig, tier: Tier) -> i64 {
    let retention = match tier {
        Tier::Raw => config.retention_raw,
        Tier::Minute => config.retention_1m,
        Tier::Hour => config.retention_1h,
    };
    i64::try_from(retention.as_millis()).unwrap_or(i64::MAX)
}

/// The finest tier that still holds `from` and reads at most [`MAX_POINTS`] over the
/// range; never finer than `step` asks for (a 1 h step need not read raw samples).
pub fn choose_tier(
    now: i64,
    from: i64,
    to: i64,
    step_ms: Option<i64>,
    config: &HistoryConfig,
) -> Tier {
    let range = to.saturating_sub(from).max(0);
    let coarsest_useful = match step_ms {
        Some(step) if step >= HOUR => Tier::Hour,
        Some(step) if step >= MINUTE => Tier::Minute,
        _ => Tier::Raw,
    };
    [Tier::Raw, Tier::Minute, Tier::Hour]
        .into_iter()
        .filter(|&tier| tier >= coarsest_useful)
        .find(|&tier| {
            let holds_from = from >= now.saturating_sub(retention_ms(config, tier));
            let interval = if tier == Tier::Raw {
                RAW_INTERVAL_MS
            } else {
                tier.width_ms()
            };
            holds_from && range / interval <= MAX_POINTS
        })
        .unwrap_or(Tier::Hour)
}

/// The points of one tier, in order, within the range.
pub enum Points {
    Raw(Vec<(i64, f64)>),
    Rolled(Vec<RollupPoint>),
}

/// The answer's points and its step in milliseconds (0: raw samples as written). With a
/// `step`, or when there are more than [`MAX_POINTS`], points are merged into buckets.
pub fn shape(
    tier: Tier,
    points: Points,
    step_ms: Option<i64>,
    from: i64,
    to: i64,
) -> (i64, Vec<HistoryPoint>) {
    let len = match &points {
        Points::Raw(p) => p.len(),
        Points::Rolled(p) => p.len(),
    } as i64;
    let range = to.saturating_sub(from).max(0);
    let needed = (len > MAX_POINTS).then(|| {
        // Whole seconds, so that `step` on the wire (seconds) is exact.
        let per_bucket = range / MAX_POINTS + 1;
        round_up_to_second(per_bucket)
    });
    let step = match (step_ms, needed) {
        (None, None) => {
            return (tier.width_ms(), unbucketed(points));
        }
        (a, b) => round_up_to_second(
            a.unwrap_or(0)
                .max(b.unwrap_or(0))
                .max(tier.width_ms())
                .max(1000),
        ),
    };
    let rolled: Vec<RollupPoint> = match points {
        Points::Rolled(p) => p,
        Points::Raw(p) => p
            .into_iter()
            .map(|(ts, v)| RollupPoint::from_columns(ts, [v, v, v, v, 1.0]))
            .collect(),
    };
    let mut out: Vec<Merged> = Vec::new();
    for p in &rolled {
        let b = bucket(p.ts, step);
        match out.last_mut() {
            Some(m) if m.ts == b => m.add(p),
            _ => out.push(Merged::new(b, p)),
        }
    }
    let points = out
        .into_iter()
        .map(|m| HistoryPoint::Rolled(m.ts, m.avg(), m.min, m.max))
        .collect();
    (step, points)
}

fn round_up_to_second(ms: i64) -> i64 {
    ms.saturating_add(999) / 1000 * 1000
}

fn unbucketed(points: Points) -> Vec<HistoryPoint> {
    match points {
        Points::Raw(p) => p
            .into_iter()
            .map(|(ts, v)| HistoryPoint::Raw(ts, v))
            .collect(),
        Points::Rolled(p) => p
            .into_iter()
            .map(|p| HistoryPoint::Rolled(p.ts, p.avg, p.min, p.max))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 24 * HOUR;

    fn tier(range: i64, step: Option<i64>) -> Tier {
        choose_tier(NOW, NOW - range, NOW, step, &HistoryConfig::default())
    }

    #[test]
    fn an_hour_reads_raw_a_day_reads_minutes_a_month_reads_hours() {
        assert_eq!(tier(HOUR, None), Tier::Raw);
        assert_eq!(tier(6 * HOUR, None), Tier::Minute);
        assert_eq!(tier(DAY, None), Tier::Minute);
        assert_eq!(tier(30 * DAY, None), Tier::Hour);
        assert_eq!(tier(300 * DAY, None), Tier::Hour);
    }

    #[test]
    fn a_coarse_step_skips_finer_tiers() {
        assert_eq!(tier(HOUR, Some(5 * MINUTE)), Tier::Minute);
        assert_eq!(tier(HOUR, Some(HOUR)), Tier::Hour);
        assert_eq!(tier(HOUR, Some(10_000)), Tier::Raw);
    }

    #[test]
    fn a_range_older_than_raw_retention_reads_rollups() {
        let from = NOW - 3 * DAY;
        let t = choose_tier(NOW, from, from + HOUR, None, &HistoryConfig::default());
        assert_eq!(t, Tier::Minute);
    }

    #[test]
    fn raw_samples_aggregate_into_steps_with_min_max_and_average() {
        let points = Points::Raw(vec![(0, 1.0), (1000, 3.0), (2000, 2.0), (10_000, 7.0)]);
        let (step, out) = shape(Tier::Raw, points, Some(10_000), 0, 20_000);
        assert_eq!(step, 10_000);
        assert_eq!(
            out,
            vec![
                HistoryPoint::Rolled(0, 2.0, 1.0, 3.0),
                HistoryPoint::Rolled(10_000, 7.0, 7.0, 7.0),
            ]
        );
    }

    #[test]
    fn too_many_points_are_bucketed_even_without_a_step() {
        let points = Points::Raw((0..20_000).map(|i| (i * 100, 1.0)).collect());
        let (step, out) = shape(Tier::Raw, points, None, 0, 2_000_000);
        assert!(out.len() as i64 <= MAX_POINTS);
        assert_eq!(step % 1000, 0);
    }

    #[test]
    fn without_a_step_points_come_as_stored() {
        let p = RollupPoint::from_columns(60_000, [1.0, 3.0, 120.0, 3.0, 60.0]);
        let (step, out) = shape(Tier::Minute, Points::Rolled(vec![p]), None, 0, HOUR);
        assert_eq!(step, 60_000);
        assert_eq!(out, vec![HistoryPoint::Rolled(60_000, 2.0, 1.0, 3.0)]);
    }
}
