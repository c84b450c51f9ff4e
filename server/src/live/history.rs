//! Recent history: one bounded series per host and series name, in memory. Series grow on
//! demand (a new series costs a few bytes, not its whole capacity) and stay in timestamp
//! order whatever order samples arrive in.
//!
//! With persistent history each series keeps only its newest point, and a fleet has
//! hundreds of thousands of them: a host's series are one sorted vector of (name, points)
//! (48 bytes a series, where a tree map took about 120), and a ring does not store its
//! capacity (the same for every series of a hub).

use app::live::Point;
use std::collections::{BTreeMap, VecDeque};

/// The newest points of a series, oldest first; how many is the caller's `capacity`.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    points: VecDeque<Point>,
}

impl Ring {
    /// Adds a point in timestamp order; a point at an existing timestamp replaces it.
    /// Points older than the whole window of `capacity` points are dropped.
    pub fn push(&mut self, point: Point, capacity: usize) {
        let capacity = capacity.max(1);
        let at = match self.points.back() {
            None => 0,
            Some(&(last, _)) if last < point.0 => self.points.len(),
            // Out of order (a late sample): find its place, newest points first.
            Some(_) => match self.points.binary_search_by(|p| p.0.cmp(&point.0)) {
                Ok(same) => {
                    self.points[same] = point;
                    return;
                }
                Err(at) => at,
            },
        };
        if self.points.len() >= capacity {
            if at == 0 {
                return;
            }
            self.points.pop_front();
            self.points.insert(at - 1, point);
        } else {
            self.grow(capacity);
            self.points.insert(at, point);
        }
    }

    /// Room for one more point: doubling, as a `VecDeque` would, but never past the
    /// window, so a full series holds exactly `capacity` points and no spare.
    fn grow(&mut self, capacity: usize) {
        let len = self.points.len();
        if len == self.points.capacity() {
            let more = len.max(4).min(capacity - len);
            self.points.reserve_exact(more);
        }
    }

    pub fn to_vec(&self) -> Vec<Point> {
        self.points.iter().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn last(&self) -> Option<Point> {
        self.points.back().copied()
    }

    /// Bytes held on the heap by the points.
    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<Point>()
    }
}

/// Every series of one host, sorted by name.
#[derive(Debug, Default, Clone)]
pub struct HostHistory {
    series: Vec<(Box<str>, Ring)>,
    /// The overview's CPU trace: the last [`TRACE_LEN`] points of [`TRACE_SERIES`], kept
    /// whatever the series' own window (one point, when the store serves the live view).
    trace: Option<Ring>,
}

/// The series the overview draws as a trace, and how many of its points it shows.
pub const TRACE_SERIES: &str = "cpu.total";
pub const TRACE_LEN: usize = 60;

impl HostHistory {
    pub fn record(&mut self, ts: i64, values: &BTreeMap<String, f64>, capacity: usize) {
        if let Some(&value) = values.get(TRACE_SERIES) {
            self.trace
                .get_or_insert_with(Ring::default)
                .push((ts, value), TRACE_LEN);
        }
        for (name, value) in values {
            let ring = match self.find(name) {
                Ok(i) => &mut self.series[i].1,
                Err(i) => {
                    self.series
                        .insert(i, (name.as_str().into(), Ring::default()));
                    &mut self.series[i].1
                }
            };
            ring.push((ts, *value), capacity);
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.series.binary_search_by(|(n, _)| (**n).cmp(name))
    }

    fn ring(&self, name: &str) -> Option<&Ring> {
        self.find(name).ok().map(|i| &self.series[i].1)
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn has_series(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    pub fn latest(&self) -> Option<(i64, BTreeMap<String, f64>)> {
        let values: BTreeMap<String, f64> = self
            .series
            .iter()
            .filter_map(|(name, ring)| Some((name.to_string(), ring.last()?.1)))
            .collect();
        Some((self.newest_ts()?, values))
    }

    pub fn newest_ts(&self) -> Option<i64> {
        self.series
            .iter()
            .filter_map(|(_, r)| r.last().map(|p| p.0))
            .max()
    }

    pub fn last_value(&self, name: &str) -> Option<f64> {
        self.ring(name)?.last().map(|p| p.1)
    }

    /// The trace's points newer than `after`, oldest first.
    pub fn trace_after(&self, after: i64) -> Vec<Point> {
        let Some(ring) = &self.trace else {
            return Vec::new();
        };
        let newer = ring.points.iter().rev().take_while(|p| p.0 > after).count();
        ring.points
            .iter()
            .skip(ring.len() - newer)
            .copied()
            .collect()
    }

    pub fn series_names(&self) -> Vec<String> {
        self.series
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    }

    pub fn points(&self, name: &str) -> Option<Vec<Point>> {
        self.ring(name).map(Ring::to_vec)
    }

    pub fn snapshot(&self) -> BTreeMap<String, Vec<Point>> {
        self.series
            .iter()
            .map(|(name, ring)| (name.to_string(), ring.to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_newest_points() {
        let mut ring = Ring::default();
        for i in 0..5 {
            ring.push((i, i as f64), 3);
        }
        assert_eq!(ring.to_vec(), vec![(2, 2.0), (3, 3.0), (4, 4.0)]);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn late_points_land_in_timestamp_order_and_replace_equal_timestamps() {
        let mut ring = Ring::default();
        for ts in [10, 30, 20, 40, 30, 5] {
            ring.push((ts, ts as f64), 4);
        }
        assert_eq!(
            ring.to_vec(),
            vec![(10, 10.0), (20, 20.0), (30, 30.0), (40, 40.0)],
            "5 is older than the whole full window"
        );
        ring.push((25, 25.0), 4);
        assert_eq!(
            ring.to_vec(),
            vec![(20, 20.0), (25, 25.0), (30, 30.0), (40, 40.0)]
        );
    }

    #[test]
    fn a_new_series_reserves_nothing_up_front_and_a_full_one_no_spare() {
        let point = std::mem::size_of::<Point>();
        let mut ring = Ring::default();
        assert_eq!(ring.heap_bytes(), 0);
        ring.push((1, 1.0), 900);
        assert_eq!(ring.heap_bytes(), 4 * point);
        for ts in 2..=2000 {
            ring.push((ts, 1.0), 900);
        }
        assert_eq!(ring.len(), 900);
        assert_eq!(ring.heap_bytes(), 900 * point);
    }

    #[test]
    fn host_history_keeps_each_series_apart() {
        let mut host = HostHistory::default();
        host.record(
            1,
            &BTreeMap::from([("a".into(), 1.0), ("b".into(), 2.0)]),
            10,
        );
        host.record(2, &BTreeMap::from([("a".into(), 3.0)]), 10);
        let snap = host.snapshot();
        assert_eq!(snap["a"], vec![(1, 1.0), (2, 3.0)]);
        assert_eq!(snap["b"], vec![(1, 2.0)]);
        assert_eq!(host.series_count(), 2);
    }

    #[test]
    fn series_stay_sorted_whatever_order_their_names_arrive_in() {
        let mut host = HostHistory::default();
        for (ts, name) in [
            (1, "net.rx"),
            (2, "app.queue"),
            (3, "cpu.total"),
            (4, "app.queue"),
        ] {
            host.record(ts, &BTreeMap::from([(name.to_string(), ts as f64)]), 1);
        }
        assert_eq!(host.series_names(), ["app.queue", "cpu.total", "net.rx"]);
        assert_eq!(
            host.points("app.queue"),
            Some(vec![(4, 4.0)]),
            "a tail of one"
        );
        assert_eq!(host.last_value("net.rx"), Some(1.0));
        assert!(host.has_series("cpu.total") && !host.has_series("cpu"));
        assert_eq!(host.newest_ts(), Some(4));
        // The trace keeps its own window whatever the series' tail.
        assert_eq!(host.trace_after(0), vec![(3, 3.0)]);
    }

    #[test]
    fn a_series_of_one_point_costs_its_slot_and_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<(Box<str>, Ring)>(), 48);
        let mut ring = Ring::default();
        for ts in 0..10 {
            ring.push((ts, 1.0), 1);
        }
        assert_eq!(ring.heap_bytes(), std::mem::size_of::<Point>());
        assert_eq!(ring.to_vec(), vec![(9, 1.0)]);
    }
}
