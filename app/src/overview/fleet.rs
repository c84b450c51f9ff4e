//! The overview's data in the browser: one typed row per host, brought up to date by the
//! socket's `overview` frames, and the order in which a query shows them. Sorting and
//! filtering work on these numbers, never on rendered text.

use super::query::{Column, Direction, OverviewQuery, StatusFilter};
use crate::live::{HostStatus, OverviewRow, StatusThresholds};
use std::{
    cmp::Ordering,
    collections::{HashMap, VecDeque},
};

/// CPU values kept per host for its trace: a minute at one tick per second, as the
/// server keeps.
pub const TRACE_KEEP: usize = 60;

/// Until a full frame says otherwise.
pub const DEFAULT_THRESHOLDS: StatusThresholds = StatusThresholds {
    stale_after_ms: 15_000,
    offline_after_ms: 60_000,
};

/// One host, as the overview holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct HostRow {
    pub host: String,
    pub last_seen: i64,
    pub cpu: Option<f64>,
    pub mem: Option<f64>,
    pub load: Option<f64>,
    pub net_rx: Option<f64>,
    pub net_tx: Option<f64>,
    pub disk_read: Option<f64>,
    pub disk_write: Option<f64>,
    /// Recent CPU values, oldest first, at most [`TRACE_KEEP`].
    pub trace: VecDeque<f32>,
}

impl HostRow {
    fn new(row: OverviewRow) -> Self {
        let mut this = Self {
            host: row.host.clone(),
            last_seen: 0,
            cpu: None,
            mem: None,
            load: None,
            net_rx: None,
            net_tx: None,
            disk_read: None,
            disk_write: None,
            trace: VecDeque::new(),
        };
        this.update(row);
        this
    }

    fn update(&mut self, row: OverviewRow) {
        self.last_seen = row.last_seen;
        self.cpu = row.cpu;
        self.mem = row.mem;
        self.load = row.load;
        self.net_rx = row.net_rx;
        self.net_tx = row.net_tx;
        self.disk_read = row.disk_read;
        self.disk_write = row.disk_write;
        self.trace.extend(row.trace);
        let extra = self.trace.len().saturating_sub(TRACE_KEEP);
        self.trace.drain(..extra);
    }

    /// The value a numeric column sorts by.
    fn figure(&self, column: Column) -> Option<f64> {
        match column {
            Column::Cpu => self.cpu,
            Column::Mem => self.mem,
            Column::Load => self.load,
            Column::NetRx => self.net_rx,
            Column::NetTx => self.net_tx,
            Column::DiskRead => self.disk_read,
            Column::DiskWrite => self.disk_write,
            Column::Host | Column::Status | Column::Seen => None,
        }
    }
}

/// Every host the overview knows, and the server's clock as of the last frame.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    rows: Vec<HostRow>,
    index: HashMap<String, usize>,
    /// The server's clock at the last frame (ms); ages are measured against it.
    pub now: i64,
    pub thresholds: Option<StatusThresholds>,
    /// Whether a full frame has arrived: before it, "no rows" means "not known yet".
    pub loaded: bool,
}

impl Fleet {
    pub fn rows(&self) -> &[HostRow] {
        &self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn thresholds(&self) -> StatusThresholds {
        self.thresholds.unwrap_or(DEFAULT_THRESHOLDS)
    }

    pub fn status(&self, row: &HostRow) -> HostStatus {
        HostStatus::of(row.last_seen, self.now, self.thresholds())
    }

    /// Applies one `overview` frame: a full one replaces every row (keeping nothing of a
    /// host it no longer lists); a delta updates the rows it carries, appends their trace
    /// values, adds hosts it has not seen, and drops the removed ones.
    pub fn apply(
        &mut self,
        now: i64,
        full: bool,
        rows: Vec<OverviewRow>,
        removed: Vec<String>,
        thresholds: Option<StatusThresholds>,
    ) {
        self.now = self.now.max(now);
        if thresholds.is_some() {
            self.thresholds = thresholds;
        }
        if full {
            self.now = now;
            self.loaded = true;
            self.rows = rows.into_iter().map(HostRow::new).collect();
            self.reindex();
            return;
        }
        for row in rows {
            match self.index.get(&row.host) {
                Some(&i) => self.rows[i].update(row),
                None => {
                    self.index.insert(row.host.clone(), self.rows.len());
                    self.rows.push(HostRow::new(row));
                }
            }
        }
        if !removed.is_empty() {
            self.rows.retain(|r| !removed.contains(&r.host));
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        // A full frame may repeat a host; the last row wins.
        let mut seen = HashMap::with_capacity(self.rows.len());
        let mut i = 0;
        while i < self.rows.len() {
            if let Some(&first) = seen.get(&self.rows[i].host) {
                let row = self.rows.remove(i);
                self.rows[first] = row;
            } else {
                seen.insert(self.rows[i].host.clone(), i);
                i += 1;
            }
        }
        self.index = seen;
    }

    /// The indices of the rows `query` shows, in its order. Rows without a value in the
    /// sort column come last either way; ties go by host name.
    pub fn order(&self, query: &OverviewQuery) -> Vec<usize> {
        let needle = query.q.trim().to_lowercase();
        let mut shown: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let row = &self.rows[i];
                (needle.is_empty() || row.host.contains(&needle))
                    && match query.status {
                        StatusFilter::All => true,
                        StatusFilter::Only(status) => self.status(row) == status,
                    }
            })
            .collect();
        let by_name = |a: &HostRow, b: &HostRow| a.host.cmp(&b.host);
        let directed = |o: Ordering| match query.dir {
            Direction::Asc => o,
            Direction::Desc => o.reverse(),
        };
        shown.sort_by(|&a, &b| {
            let (a, b) = (&self.rows[a], &self.rows[b]);
            match query.sort {
                Column::Host => directed(by_name(a, b)),
                Column::Status => directed(self.status(a).cmp(&self.status(b))).then(by_name(a, b)),
                // Oldest sample first when ascending, like an age.
                Column::Seen => directed(b.last_seen.cmp(&a.last_seen)).then(by_name(a, b)),
                column => match (a.figure(column), b.figure(column)) {
                    (Some(x), Some(y)) => directed(x.total_cmp(&y)).then(by_name(a, b)),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => by_name(a, b),
                },
            }
        });
        shown
    }

    /// How many hosts have each status: online, stale, offline.
    pub fn status_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for row in &self.rows {
            counts[match self.status(row) {
                HostStatus::Online => 0,
                HostStatus::Stale => 1,
                HostStatus::Offline => 2,
            }] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(host: &str, last_seen: i64, cpu: Option<f64>, trace: &[f32]) -> OverviewRow {
        OverviewRow {
            host: host.into(),
            last_seen,
            cpu,
            mem: Some(50.0),
            load: None,
            net_rx: None,
            net_tx: None,
            disk_read: None,
            disk_write: None,
            trace: trace.to_vec(),
        }
    }

    const T: StatusThresholds = StatusThresholds {
        stale_after_ms: 10_000,
        offline_after_ms: 60_000,
    };

    fn fleet() -> Fleet {
        let mut fleet = Fleet::default();
        fleet.apply(
            100_000,
            true,
            vec![
                row("web-2", 99_000, Some(80.0), &[70.0, 80.0]),
                row("db-1", 95_000, Some(5.0), &[5.0]),
                row("web-1", 80_000, None, &[]),
                row("cache-1", 10_000, Some(40.0), &[40.0]),
            ],
            vec![],
            Some(T),
        );
        fleet
    }

    fn hosts(fleet: &Fleet, order: &[usize]) -> Vec<String> {
        order
            .iter()
            .map(|&i| fleet.rows()[i].host.clone())
            .collect()
    }

    fn query(s: &str) -> OverviewQuery {
        OverviewQuery::parse(|k| {
            s.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn a_full_frame_replaces_every_row() {
        let mut fleet = fleet();
        assert!(fleet.loaded);
        assert_eq!(fleet.len(), 4);
        fleet.apply(
            200_000,
            true,
            vec![row("new-1", 200_000, None, &[1.0])],
            vec![],
            None,
        );
        assert_eq!(fleet.len(), 1);
        assert_eq!(fleet.rows()[0].host, "new-1");
        assert_eq!(fleet.now, 200_000);
        // Thresholds stay as the last full frame said when a frame leaves them out.
        assert_eq!(fleet.thresholds(), T);
    }

    #[test]
    fn a_delta_updates_rows_appends_traces_adds_and_removes_hosts() {
        let mut fleet = fleet();
        fleet.apply(
            101_000,
            false,
            vec![
                row("web-2", 101_000, Some(90.0), &[90.0]),
                row("web-3", 101_000, Some(1.0), &[1.0]),
            ],
            vec!["cache-1".into()],
            None,
        );
        assert_eq!(fleet.now, 101_000);
        let names = hosts(&fleet, &fleet.order(&query("")));
        assert_eq!(names, ["db-1", "web-1", "web-2", "web-3"]);
        let web2 = fleet.rows().iter().find(|r| r.host == "web-2").unwrap();
        assert_eq!(web2.cpu, Some(90.0));
        assert_eq!(web2.trace, [70.0, 80.0, 90.0]);
        // Untouched rows keep their figures.
        let db = fleet.rows().iter().find(|r| r.host == "db-1").unwrap();
        assert_eq!(db.cpu, Some(5.0));
        // A removed host that comes back is a new row, its index right.
        fleet.apply(
            102_000,
            false,
            vec![row("cache-1", 102_000, Some(3.0), &[3.0])],
            vec![],
            None,
        );
        let cache = fleet.rows().iter().find(|r| r.host == "cache-1").unwrap();
        assert_eq!(cache.trace, [3.0]);
    }

    #[test]
    fn traces_keep_a_bounded_tail() {
        let mut fleet = fleet();
        for i in 0..(TRACE_KEEP as i64 + 5) {
            fleet.apply(
                100_000 + i,
                false,
                vec![row("db-1", 100_000 + i, Some(i as f64), &[i as f32])],
                vec![],
                None,
            );
        }
        let db = fleet.rows().iter().find(|r| r.host == "db-1").unwrap();
        assert_eq!(db.trace.len(), TRACE_KEEP);
        assert_eq!(db.trace.back(), Some(&((TRACE_KEEP + 4) as f32)));
    }

    #[test]
    fn status_comes_from_the_age_of_the_last_sample_on_the_servers_clock() {
        let fleet = fleet();
        let status =
            |host: &str| fleet.status(fleet.rows().iter().find(|r| r.host == host).unwrap());
        assert_eq!(status("web-2"), HostStatus::Online);
        assert_eq!(status("web-1"), HostStatus::Stale);
        assert_eq!(status("cache-1"), HostStatus::Offline);
        assert_eq!(fleet.status_counts(), [2, 1, 1]);
    }

    #[test]
    fn sorting_by_a_figure_puts_hosts_without_it_last_either_way() {
        let fleet = fleet();
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("sort=cpu&dir=desc"))),
            ["web-2", "cache-1", "db-1", "web-1"]
        );
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("sort=cpu&dir=asc"))),
            ["db-1", "cache-1", "web-2", "web-1"]
        );
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("sort=host&dir=desc"))),
            ["web-2", "web-1", "db-1", "cache-1"]
        );
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("sort=status"))),
            ["db-1", "web-2", "web-1", "cache-1"]
        );
        // Last seen ascending: the most recent first, as ages grow.
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("sort=seen"))),
            ["web-2", "db-1", "web-1", "cache-1"]
        );
    }

    #[test]
    fn filters_match_host_names_and_status() {
        let fleet = fleet();
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("q=WEB"))),
            ["web-1", "web-2"]
        );
        assert_eq!(hosts(&fleet, &fleet.order(&query("q=web-1"))), ["web-1"]);
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("status=online"))),
            ["db-1", "web-2"]
        );
        assert_eq!(
            hosts(&fleet, &fleet.order(&query("q=web&status=stale"))),
            ["web-1"]
        );
        assert!(fleet.order(&query("q=nothing")).is_empty());
    }
}
