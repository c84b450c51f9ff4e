//! Recent history: one ring buffer per host and series, in memory.

use app::live::Point;
use std::collections::{BTreeMap, VecDeque};

/// A fixed-capacity series: the newest `capacity` points.
#[derive(Debug, Clone)]
pub struct Ring {
    points: VecDeque<Point>,
    capacity: usize,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Self {
            points: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, point: Point) {
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(point);
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
}

/// Every series of one host.
#[derive(Debug, Default, Clone)]
pub struct HostHistory {
    series: BTreeMap<String, Ring>,
}

impl HostHistory {
    pub fn record(&mut self, ts: i64, values: &BTreeMap<String, f64>, capacity: usize) {
        for (name, value) in values {
            self.series
                .entry(name.clone())
                .or_insert_with(|| Ring::new(capacity))
                .push((ts, *value));
        }
    }

    pub fn latest(&self) -> Option<(i64, BTreeMap<String, f64>)> {
        let values: BTreeMap<String, f64> = self
            .series
            .iter()
            .filter_map(|(name, ring)| Some((name.clone(), ring.points.back()?.1)))
            .collect();
        let ts = self
            .series
            .values()
            .filter_map(|r| r.points.back().map(|p| p.0))
            .max()?;
        Some((ts, values))
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
    }
}
