//! Recent history: one bounded series per host and series name, in memory. Series grow on
//! demand (a new series costs a few bytes, not its whole capacity) and stay in timestamp
//! order whatever order samples arrive in.

use app::live::Point;
use std::collections::{BTreeMap, VecDeque};

/// The newest `capacity` points of a series, oldest first.
#[derive(Debug, Clone)]
pub struct Ring {
    points: VecDeque<Point>,
    capacity: usize,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Self {
            points: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds a point in timestamp order; a point at an existing timestamp replaces it.
    /// Points older than the whole window are dropped.
    pub fn push(&mut self, point: Point) {
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
        if self.points.len() == self.capacity {
            if at == 0 {
                return;
            }
            self.points.pop_front();
            self.points.insert(at - 1, point);
        } else {
            self.grow();
            self.points.insert(at, point);
        }
    }

    /// Room for one more point: doubling, as a `VecDeque` would, but never past the
    /// window, so a full series holds exactly `capacity` points and no spare.
    fn grow(&mut self) {
        let len = self.points.len();
        if len == self.points.capacity() {
            let more = len.max(4).min(self.capacity - len);
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

/// Every series of one host.
#[derive(Debug, Default, Clone)]
pub struct HostHistory {
    series: BTreeMap<String, Ring>,
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
                .get_or_insert_with(|| Ring::new(TRACE_LEN))
                .push((ts, value));
        }
        for (name, value) in values {
            match self.series.get_mut(name) {
                Some(ring) => ring.push((ts, *value)),
                None => {
                    let mut ring = Ring::new(capacity);
                    ring.push((ts, *value));
                    self.series.insert(name.clone(), ring);
                }
            }
        }
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn has_series(&self, name: &str) -> bool {
        self.series.contains_key(name)
    }

    pub fn latest(&self) -> Option<(i64, BTreeMap<String, f64>)> {
        let values: BTreeMap<String, f64> = self
            .series
            .iter()
            .filter_map(|(name, ring)| Some((name.clone(), ring.last()?.1)))
            .collect();
        let ts = self
            .series
            .values()
            .filter_map(|r| r.last().map(|p| p.0))
            .max()?;
        Some((ts, values))
    }

    pub fn newest_ts(&self) -> Option<i64> {
        self.series
            .values()
            .filter_map(|r| r.last().map(|p| p.0))
            .max()
    }

    pub fn last_value(&self, name: &str) -> Option<f64> {
        self.series.get(name)?.last().map(|p| p.1)
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
        self.series.keys().cloned().collect()
    }

    pub fn points(&self, name: &str) -> Option<Vec<Point>> {
        self.series.get(name).map(Ring::to_vec)
    }

    pub fn snapshot(&self) -> BTreeMap<String, Vec<Point>> {
        self.series
            .iter()
            .map(|(name, ring)| (name.clone(), ring.to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_newest_points() {
        let mut ring = Ring::new(3);
        for i in 0..5 {
            ring.push((i, i as f64));
        }
        assert_eq!(ring.to_vec(), vec![(2, 2.0), (3, 3.0), (4, 4.0)]);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn late_points_land_in_timestamp_order_and_replace_equal_timestamps() {
        let mut ring = Ring::new(4);
        for ts in [10, 30, 20, 40, 30, 5] {
            ring.push((ts, ts as f64));
        }
        assert_eq!(
            ring.to_vec(),
            vec![(10, 10.0), (20, 20.0), (30, 30.0), (40, 40.0)],
            "5 is older than the whole full window"
        );
        ring.push((25, 25.0));
        assert_eq!(
            ring.to_vec(),
            vec![(20, 20.0), (25, 25.0), (30, 30.0), (40, 40.0)]
        );
    }

    #[test]
    fn a_new_series_reserves_nothing_up_front_and_a_full_one_no_spare() {
        let point = std::mem::size_of::<Point>();
        let mut ring = Ring::new(900);
        assert_eq!(ring.heap_bytes(), 0);
        ring.push((1, 1.0));
        assert_eq!(ring.heap_bytes(), 4 * point);
        for ts in 2..=2000 {
            ring.push((ts, 1.0));
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
}
