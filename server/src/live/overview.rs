//! The host overview: one row per host with its key figures and a short CPU trace. Each
//! tick the rows of the hosts that sent samples are brought up to date and sent as one
//! `overview` frame holding only those rows, encoded once for every subscribed socket.

use super::{
    history::TRACE_LEN,
    hub::{Hub, OverviewRows},
};
use app::live::{OverviewRow, ServerMessage, StatusThresholds};
use axum::extract::ws::Utf8Bytes;
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::Mutex,
};

/// The series behind the overview's columns, in the order of [`Figures`].
pub const COLUMNS: [&str; 7] = [
    "cpu.total",
    "mem.used_pct",
    "load.1",
    "net.rx",
    "net.tx",
    "disk.read",
    "disk.write",
];

/// The newest value of each column's series.
pub type Figures = [Option<f64>; COLUMNS.len()];

#[derive(Debug, Clone)]
struct Row {
    last_seen: i64,
    figures: Figures,
    trace: VecDeque<f32>,
    /// Timestamp of the newest CPU value in `trace`.
    trace_until: i64,
}

impl Default for Row {
    fn default() -> Self {
        Self {
            last_seen: 0,
            figures: Figures::default(),
            trace: VecDeque::new(),
            // Before any timestamp, so a point at 0 still counts.
            trace_until: i64::MIN,
        }
    }
}

impl Row {
    fn to_wire(&self, host: &str, trace: Vec<f32>) -> OverviewRow {
        let [cpu, mem, load, net_rx, net_tx, disk_read, disk_write] = self.figures;
        OverviewRow {
            host: host.to_string(),
            last_seen: self.last_seen,
            cpu: cpu.map(tenths),
            mem: mem.map(tenths),
            load: load.map(hundredths),
            net_rx: net_rx.map(f64::round),
            net_tx: net_tx.map(f64::round),
            disk_read: disk_read.map(f64::round),
            disk_write: disk_write.map(f64::round),
            trace,
        }
    }

    fn push_trace(&mut self, points: impl IntoIterator<Item = (i64, f64)>) -> Vec<f32> {
        let mut added = Vec::new();
        for (ts, value) in points {
            if ts <= self.trace_until {
                continue;
            }
            self.trace_until = ts;
            let value = tenths(value) as f32;
            if self.trace.len() == TRACE_LEN {
                self.trace.pop_front();
            }
            self.trace.push_back(value);
            added.push(value);
        }
        added
    }
}

// Fewer digits on the wire; nobody reads a CPU percentage to the fifth decimal.
fn tenths(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn encode(message: &ServerMessage) -> Utf8Bytes {
    // Our own enum of strings and numbers always serialises.
    serde_json::to_string(message).unwrap_or_default().into()
}

/// A tick's frame of changed rows, and the rows again.
pub fn changed_frame(
    now: i64,
    rows: Vec<OverviewRow>,
    removed: Vec<String>,
) -> (Utf8Bytes, OverviewRows) {
    let message = ServerMessage::Overview {
        now,
        full: false,
        rows,
        removed,
        thresholds: None,
    };
    let text = encode(&message);
    let (rows, removed) = match message {
        ServerMessage::Overview { rows, removed, .. } => (rows, removed),
        _ => (Vec::new(), Vec::new()),
    };
    (text, OverviewRows { now, rows, removed })
}

#[derive(Debug)]
pub struct Overview {
    rows: Mutex<BTreeMap<String, Row>>,
    /// Hosts removed since the last tick.
    removed: Mutex<BTreeSet<String>>,
    /// The full table as last encoded, shared by every socket subscribing within a tick.
    full: Mutex<Option<Utf8Bytes>>,
    thresholds: StatusThresholds,
}

impl Overview {
    pub fn new(thresholds: StatusThresholds) -> Self {
        Self {
            rows: Mutex::default(),
            removed: Mutex::default(),
            full: Mutex::default(),
            thresholds,
        }
    }

    /// Adds a host known from storage that has not reported since the server started, so
    /// it shows (as offline) instead of silently missing.
    pub fn seed(&self, host: &str, last_seen: i64) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.entry(host.to_string()).or_insert_with(|| Row {
            last_seen,
            ..Row::default()
        });
        *self.full.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn hosts(&self) -> Vec<String> {
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Drops a removed host; the next tick tells the subscribed sockets.
    pub fn remove(&self, host: &str) {
        if self
            .rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(host)
            .is_some()
        {
            self.removed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(host.to_string());
        }
    }

    /// Brings the rows of the hosts that sent samples up to date; the frame of the changed
    /// rows and the rows themselves, or `None` when nothing changed.
    pub fn tick(&self, hub: &Hub, now: i64) -> Option<(Utf8Bytes, OverviewRows)> {
        let changed = hub.take_changed();
        let removed: Vec<String> =
            std::mem::take(&mut *self.removed.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        if changed.is_empty() && removed.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(changed.len());
        {
            let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
            for host in changed {
                let Some((last_seen, figures)) = hub.figures(&host, &COLUMNS) else {
                    continue;
                };
                let row = rows.entry(host.clone()).or_default();
                row.last_seen = last_seen;
                row.figures = figures;
                let added = row.push_trace(hub.trace_after(&host, row.trace_until));
                out.push(row.to_wire(&host, added));
            }
        }
        *self.full.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Some(changed_frame(now, out, removed))
    }

    /// The full table of the hosts `sees` allows, and their names: for a socket that may
    /// see only some hosts (encoded for it alone).
    pub fn full_frame_of(&self, now: i64, sees: impl Fn(&str) -> bool) -> (Utf8Bytes, Vec<String>) {
        let rows: Vec<OverviewRow> = self
            .rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(host, _)| sees(host))
            .map(|(host, row)| row.to_wire(host, row.trace.iter().copied().collect()))
            .collect();
        let hosts = rows.iter().map(|r| r.host.clone()).collect();
        let text = encode(&ServerMessage::Overview {
            now,
            full: true,
            rows,
            removed: Vec::new(),
            thresholds: Some(self.thresholds),
        });
        (text, hosts)
    }

    /// Every row with its whole trace, encoded once per tick however many sockets ask.
    pub fn full_frame(&self, now: i64) -> Utf8Bytes {
        let mut cached = self.full.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(text) = cached.as_ref() {
            return text.clone();
        }
        let rows = self
            .rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(host, row)| row.to_wire(host, row.trace.iter().copied().collect()))
            .collect();
        let text = encode(&ServerMessage::Overview {
            now,
            full: true,
            rows,
            removed: Vec::new(),
            thresholds: Some(self.thresholds),
        });
        *cached = Some(text.clone());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const T: StatusThresholds = StatusThresholds {
        stale_after_ms: 10_000,
        offline_after_ms: 60_000,
    };

    fn overview_message(text: &Utf8Bytes) -> (bool, Vec<OverviewRow>, Vec<String>) {
        match serde_json::from_str(text.as_str()).unwrap() {
            ServerMessage::Overview {
                full,
                rows,
                removed,
                ..
            } => (full, rows, removed),
            other => panic!("not an overview: {other:?}"),
        }
    }

    fn values(cpu: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([("cpu.total".into(), cpu), ("app.depth".into(), 3.0)])
    }

    #[test]
    fn a_tick_sends_only_the_rows_that_changed_with_their_new_cpu_values() {
        let hub = Hub::new(100, 8, 100, Arc::default());
        let overview = Overview::new(T);
        hub.publish("a", 1_000, values(10.04));
        hub.publish("b", 1_000, values(20.0));
        let (full, rows, _) = overview_message(&overview.tick(&hub, 1_500).unwrap().0);
        assert!(!full);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cpu, Some(10.0), "rounded to tenths");
        assert_eq!(rows[0].trace, vec![10.0]);

        hub.publish("b", 2_000, values(25.0));
        let (_, rows, _) = overview_message(&overview.tick(&hub, 2_500).unwrap().0);
        assert_eq!(rows.len(), 1, "only b changed");
        assert_eq!((rows[0].host.as_str(), rows[0].last_seen), ("b", 2_000));
        assert_eq!(rows[0].trace, vec![25.0], "only the new value");
        assert!(overview.tick(&hub, 3_000).is_none(), "nothing changed");

        let (full, rows, _) = overview_message(&overview.full_frame(3_000));
        assert!(full);
        assert_eq!(rows[1].trace, vec![20.0, 25.0]);
    }

    #[test]
    fn removed_and_seeded_hosts_show_in_the_frames() {
        let hub = Hub::new(100, 8, 100, Arc::default());
        let overview = Overview::new(T);
        overview.seed("quiet", 500);
        hub.publish("a", 1_000, values(1.0));
        overview.tick(&hub, 1_000);
        let (_, rows, _) = overview_message(&overview.full_frame(1_000));
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].host.as_str(), rows[1].last_seen), ("quiet", 500));
        overview.remove("quiet");
        let (_, rows, removed) = overview_message(&overview.tick(&hub, 2_000).unwrap().0);
        assert!(rows.is_empty());
        assert_eq!(removed, vec!["quiet".to_string()]);
        let (_, rows, _) = overview_message(&overview.full_frame(2_000));
        assert_eq!(rows.len(), 1);
    }

    #[tokio::test]
    async fn a_batch_fills_the_trace_even_when_series_keep_one_point() {
        // One point per series: the store serves the live window.
        let hub = Hub::new(1, 8, 100, Arc::default());
        let overview = Overview::new(T);
        let ticks = (0..31)
            .map(|i| (1_000 * i, BTreeMap::from([("cpu.total".into(), i as f64)])))
            .collect();
        hub.publish_batch("batchy", ticks).await.unwrap();
        let (_, rows, _) = overview_message(&overview.tick(&hub, 31_000).unwrap().0);
        assert_eq!(rows[0].trace.len(), 31);
        let (_, rows, _) = overview_message(&overview.full_frame(31_000));
        assert_eq!(rows[0].trace.first(), Some(&0.0));
        assert_eq!(rows[0].trace.len(), 31);
    }

    #[test]
    fn the_trace_keeps_the_newest_minute() {
        let mut row = Row::default();
        row.push_trace((0..100).map(|i| (i, i as f64)));
        assert_eq!(row.trace.len(), TRACE_LEN);
        assert_eq!(row.trace.back(), Some(&99.0));
        assert!(
            row.push_trace([(50, 1.0)]).is_empty(),
            "old values are not added"
        );
    }
}
