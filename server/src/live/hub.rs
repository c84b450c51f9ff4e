//! The publisher: keeps history and hands every socket the same serialised frame.
//! A tick is encoded once, whatever the number of sockets.

use super::history::HostHistory;
use crate::{history::History, stats::Stats, store::unix_now_ms};
use app::live::{OverviewRow, Point, ServerMessage};
use axum::extract::ws::Utf8Bytes;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};
use tokio::sync::broadcast;

/// Who a frame is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Every socket (the list of hosts changed; each socket tells its own share).
    Hosts,
    /// Sockets subscribed to this host's series.
    Host(Arc<str>),
    /// Sockets subscribed to the overview.
    Overview,
}

/// One encoded frame and the sockets it is for.
#[derive(Clone, Debug)]
pub struct Frame {
    pub topic: Topic,
    /// The frame for a socket that may see every host.
    pub text: Utf8Bytes,
    /// An overview tick's rows, for sockets that may see only some hosts: they encode
    /// their own share.
    pub rows: Option<Arc<OverviewRows>>,
}

/// The changed rows of one overview tick.
#[derive(Debug)]
pub struct OverviewRows {
    pub now: i64,
    pub rows: Vec<OverviewRow>,
    pub removed: Vec<String>,
}

/// A batch that would take a host over `--max-series-per-host`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host {host} would have {would_have} series; the limit (--max-series-per-host) is {max}")]
pub struct SeriesCapExceeded {
    pub host: String,
    pub would_have: usize,
    pub max: usize,
}

/// One host's samples, grouped by tick.
pub type Ticks = BTreeMap<i64, BTreeMap<String, f64>>;

#[derive(Debug)]
pub struct Hub {
    hosts: RwLock<BTreeMap<String, HostHistory>>,
    history_len: usize,
    max_series_per_host: usize,
    tx: broadcast::Sender<Frame>,
    /// Encoded snapshots, shared by every socket that subscribes within one tick.
    snapshots: std::sync::Mutex<BTreeMap<String, Cached>>,
    /// Numbers each change of a host's samples, for [`Cached::Stale`].
    generations: AtomicU64,
    /// Hosts with new samples since the overview last looked.
    changed: std::sync::Mutex<BTreeSet<String>>,
    /// With persistent history, the live window is read from the store's compressed
    /// memory and each series here keeps only its newest few points: those the store's
    /// writer has not taken yet.
    stored: Option<StoredWindow>,
    /// Points per series of the samples other instances publish (the Redis bus): this
    /// process's store never holds them, so the hub keeps their whole live window.
    remote_len: usize,
    stats: Arc<Stats>,
}

fn encode(message: &ServerMessage) -> Utf8Bytes {
    // Our own enum of strings and numbers always serialises.
    serde_json::to_string(message).unwrap_or_default().into()
}

/// A host's snapshot, or the generation of its samples that the next one must show: a
/// snapshot made while new samples arrived (its database read awaits) is not kept.
#[derive(Debug, Clone)]
enum Cached {
    Stale(u64),
    Ready(Utf8Bytes),
}

/// The store's recent window and its length in ms.
struct StoredWindow(Arc<History>, i64);

impl std::fmt::Debug for StoredWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredWindow({} ms)", self.1)
    }
}

/// Appends `tail` (sorted) to `points` (sorted), a point of `tail` replacing one of
/// `points` at the same timestamp.
fn merge_tail(points: &mut Vec<Point>, tail: Vec<Point>) {
    let Some(&(first, _)) = tail.first() else {
        return;
    };
    let keep = points.partition_point(|p| p.0 < first);
    points.truncate(keep);
    points.extend(tail);
}

impl Hub {
    /// `history_len` points per series; `queue` frames may wait for a socket before it is
    /// dropped as too slow.
    pub fn new(
        history_len: usize,
        queue: usize,
        max_series_per_host: usize,
        stats: Arc<Stats>,
    ) -> Self {
        let (tx, _) = broadcast::channel(queue.max(1));
        Self {
            hosts: RwLock::default(),
            history_len,
            max_series_per_host,
            tx,
            snapshots: Default::default(),
            generations: AtomicU64::new(0),
            changed: Default::default(),
            stored: None,
            remote_len: history_len,
            stats,
        }
    }

    /// Serves snapshots from `history`'s recent window (`window` long), keeping only
    /// `tail` points per series here; `remote` points per series of hosts that other
    /// instances publish (their samples are in no store of this process).
    pub fn with_stored_window(
        mut self,
        history: Arc<History>,
        window: Duration,
        tail: usize,
        remote: usize,
    ) -> Self {
        self.history_len = tail.max(1);
        self.remote_len = remote.max(1);
        self.stored = Some(StoredWindow(
            history,
            i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
        ));
        self
    }

    pub fn has_host(&self, host: &str) -> bool {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(host)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.tx.subscribe()
    }

    pub fn hosts(&self) -> Vec<String> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The recent history of one host, encoded once per tick however many sockets ask;
    /// `None` for unknown hosts. With persistent history its sealed part is read from the
    /// database.
    pub async fn snapshot(&self, host: &str) -> Option<Utf8Bytes> {
        let generation = match self.cached(host) {
            Some(Cached::Ready(text)) => return Some(text),
            Some(Cached::Stale(generation)) => generation,
            None => 0,
        };
        let live = self
            .hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .map(HostHistory::snapshot);
        let series = match (&self.stored, live) {
            (None, live) => live?,
            (Some(StoredWindow(history, window)), live) => {
                let mut series = match history.recent(host, unix_now_ms() - window).await {
                    Ok(series) => series,
                    Err(e) => {
                        // The newest points still show; the chart fills in at the next one.
                        tracing::error!(host, error = ?e, "cannot read the live window");
                        BTreeMap::new()
                    }
                };
                if series.is_empty() && live.is_none() {
                    return None;
                }
                for (name, newest) in live.unwrap_or_default() {
                    merge_tail(series.entry(name).or_default(), newest);
                }
                series
            }
        };
        let text = encode(&ServerMessage::Snapshot {
            host: host.to_string(),
            series,
        });
        Stats::add(&self.stats.snapshot_encodes);
        let mut cache = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        let unchanged = match cache.get(host) {
            None => generation == 0,
            Some(Cached::Stale(now)) => *now == generation,
            Some(Cached::Ready(_)) => false,
        };
        if unchanged {
            cache.insert(host.to_string(), Cached::Ready(text.clone()));
        }
        Some(text)
    }

    /// The host's samples changed: a snapshot begun before this is not kept.
    fn invalidate(&self, host: &str) {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_string(), Cached::Stale(generation));
    }

    fn cached(&self, host: &str) -> Option<Cached> {
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()
    }

    /// The names of `host`'s series, sorted; `None` for an unknown host.
    pub fn series_names(&self, host: &str) -> Option<Vec<String>> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .map(HostHistory::series_names)
    }

    /// The recent points of one series; `None` for an unknown host or series.
    pub fn points(&self, host: &str, series: &str) -> Option<Vec<Point>> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)?
            .points(series)
    }

    /// The newest value of every series of `host`, with the newest timestamp among them.
    pub fn latest(&self, host: &str) -> Option<(i64, BTreeMap<String, f64>)> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)?
            .latest()
    }

    /// Records ticks of `host` in its history; sends `hosts` to everyone if it is new.
    /// With `cap`, a batch that would take the host over the series limit is refused
    /// whole, before anything is recorded (checked and recorded under one lock).
    fn record<'a, I>(&self, host: &str, ticks: I, cap: bool) -> Result<(), SeriesCapExceeded>
    where
        I: IntoIterator<Item = (i64, &'a BTreeMap<String, f64>)> + Clone,
    {
        self.record_with_len(host, ticks, cap, self.history_len)
    }

    fn record_with_len<'a, I>(
        &self,
        host: &str,
        ticks: I,
        cap: bool,
        len: usize,
    ) -> Result<(), SeriesCapExceeded>
    where
        I: IntoIterator<Item = (i64, &'a BTreeMap<String, f64>)> + Clone,
    {
        let is_new = {
            let mut hosts = self.hosts.write().unwrap_or_else(|e| e.into_inner());
            let is_new = !hosts.contains_key(host);
            if cap {
                let existing = hosts.get(host);
                let mut new_names: Vec<&String> = ticks
                    .clone()
                    .into_iter()
                    .flat_map(|(_, values)| values.keys())
                    .filter(|name| existing.is_none_or(|h| !h.has_series(name)))
                    .collect();
                new_names.sort_unstable();
                new_names.dedup();
                let would_have = existing.map_or(0, HostHistory::series_count) + new_names.len();
                if !new_names.is_empty() && would_have > self.max_series_per_host {
                    return Err(SeriesCapExceeded {
                        host: host.to_string(),
                        would_have,
                        max: self.max_series_per_host,
                    });
                }
            }
            let history = hosts.entry(host.to_string()).or_default();
            for (ts, values) in ticks {
                history.record(ts, values, len);
            }
            is_new
        };
        // After the history has the new ticks, so a snapshot made from now on includes them.
        self.invalidate(host);
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_string());
        if is_new {
            self.send_hosts();
        }
        Ok(())
    }

    fn send_hosts(&self) {
        let _ = self.tx.send(Frame {
            topic: Topic::Hosts,
            text: encode(&ServerMessage::Hosts {
                hosts: self.hosts(),
            }),
            rows: None,
        });
    }

    /// The hosts with new samples since the last call.
    pub fn take_changed(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Forgets a host (removed by an operator); tells every socket the new host list.
    pub fn remove_host(&self, host: &str) -> bool {
        let removed = self
            .hosts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(host)
            .is_some();
        self.invalidate(host);
        if removed {
            self.send_hosts();
        }
        removed
    }

    /// Sends an encoded frame to the sockets of `topic`.
    pub fn send(&self, topic: Topic, text: Utf8Bytes) {
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(Frame {
            topic,
            text,
            rows: None,
        });
    }

    /// An overview tick: encoded for sockets that see everything, and its rows.
    pub fn send_overview(&self, text: Utf8Bytes, rows: OverviewRows) {
        let _ = self.tx.send(Frame {
            topic: Topic::Overview,
            text,
            rows: Some(Arc::new(rows)),
        });
    }

    /// The overview trace's points of `host` newer than `after`, oldest first.
    pub fn trace_after(&self, host: &str, after: i64) -> Vec<Point> {
        self.hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .map(|h| h.trace_after(after))
            .unwrap_or_default()
    }

    /// The newest timestamp of any series of `host` and the newest value of each named
    /// series; `None` for an unknown host. Allocates nothing per series.
    pub fn figures<const N: usize>(
        &self,
        host: &str,
        names: &[&str; N],
    ) -> Option<(i64, [Option<f64>; N])> {
        let hosts = self.hosts.read().unwrap_or_else(|e| e.into_inner());
        let history = hosts.get(host)?;
        Some((history.newest_ts()?, names.map(|n| history.last_value(n))))
    }

    /// Records one tick of this server's own host and sends it to every subscribed socket.
    pub fn publish(&self, host: &str, ts: i64, values: BTreeMap<String, f64>) {
        // Our own sampler's series are not capped.
        let _ = self.record(host, [(ts, &values)], false);
        self.send_samples(host, ts, values);
    }

    fn send_samples(&self, host: &str, ts: i64, values: BTreeMap<String, f64>) {
        let text = encode(&ServerMessage::Samples {
            host: host.to_string(),
            ts,
            values,
        });
        self.send(Topic::Host(host.into()), text);
    }

    /// Records an ingested batch of ticks of `host`, refused whole if it would cross the
    /// series cap. One tick goes out as `samples`; several (an agent's backlog after an
    /// outage) go out as one fresh `snapshot`, encoded once for the whole batch, so a
    /// backfill costs each socket one frame instead of overflowing its queue.
    pub async fn publish_batch(&self, host: &str, ticks: Ticks) -> Result<(), SeriesCapExceeded> {
        self.publish_batch_then(host, ticks, |_| {}).await
    }

    /// [`Self::publish_batch`], calling `recorded` with the ticks once they are accepted,
    /// before they are sent (a batch refused over the cap never reaches it).
    pub async fn publish_batch_then(
        &self,
        host: &str,
        ticks: Ticks,
        recorded: impl FnOnce(&Ticks),
    ) -> Result<(), SeriesCapExceeded> {
        self.record(host, ticks.iter().map(|(ts, values)| (*ts, values)), true)?;
        recorded(&ticks);
        self.send_ticks(host, ticks).await;
        Ok(())
    }

    /// Ticks another instance accepted and published (the Redis bus): recorded and sent
    /// exactly as a local batch is, without the series cap (the instance that took them
    /// applied it), and kept for the whole live window.
    pub async fn apply_remote(&self, host: &str, ticks: Ticks) {
        let _ = self.record_with_len(
            host,
            ticks.iter().map(|(ts, values)| (*ts, values)),
            false,
            self.remote_len,
        );
        self.send_ticks(host, ticks).await;
    }

    async fn send_ticks(&self, host: &str, mut ticks: Ticks) {
        if ticks.len() <= 1 {
            if let Some((ts, values)) = ticks.pop_first() {
                self.send_samples(host, ts, values);
            }
            return;
        }
        if let Some(text) = self.snapshot(host).await {
            self.send(Topic::Host(host.into()), text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(history_len: usize, queue: usize) -> Hub {
        Hub::new(history_len, queue, 3, Arc::default())
    }

    #[tokio::test]
    async fn a_tick_is_encoded_once_and_shared_by_every_receiver() {
        let hub = hub(10, 8);
        let (mut a, mut b) = (hub.subscribe(), hub.subscribe());
        hub.publish("web-1", 1_000, BTreeMap::from([("cpu.total".into(), 12.5)]));
        let (hosts_a, hosts_b) = (a.recv().await.unwrap(), b.recv().await.unwrap());
        assert!(hosts_a.topic == Topic::Hosts && hosts_b.topic == Topic::Hosts);
        let (fa, fb) = (a.recv().await.unwrap(), b.recv().await.unwrap());
        assert_eq!(
            fa.text.as_str(),
            r#"{"type":"samples","host":"web-1","ts":1000,"values":{"cpu.total":12.5}}"#
        );
        // Same bytes, same allocation: no per-socket re-encoding.
        assert_eq!(fa.text.as_str().as_ptr(), fb.text.as_str().as_ptr());
    }

    #[tokio::test]
    async fn a_receiver_that_falls_behind_is_told_so() {
        let hub = hub(10, 2);
        let mut slow = hub.subscribe();
        for ts in 0..5 {
            hub.publish("web-1", ts, BTreeMap::from([("x".into(), 1.0)]));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }

    #[tokio::test]
    async fn a_backlog_goes_out_as_one_snapshot_frame() {
        let hub = hub(10, 2);
        let mut rx = hub.subscribe();
        let ticks = (0..5)
            .map(|ts| (ts, BTreeMap::from([("x".into(), ts as f64)])))
            .collect();
        hub.publish_batch("web-1", ticks).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().topic, Topic::Hosts); // `hosts`: a new host
        let frame = rx.recv().await.unwrap();
        assert!(frame
            .text
            .as_str()
            .starts_with(r#"{"type":"snapshot","host":"web-1","series":{"x":[[0,0.0],"#));
        assert!(rx.try_recv().is_err(), "one frame for the whole backlog");
        assert_eq!(Stats::get(&hub.stats.snapshot_encodes), 1, "encoded once");
    }

    #[tokio::test]
    async fn a_batch_over_the_series_cap_is_refused_whole_and_old_series_go_on() {
        let hub = hub(10, 8);
        let tick = |names: &[&str]| {
            Ticks::from([(1, names.iter().map(|n| (n.to_string(), 1.0)).collect())])
        };
        hub.publish_batch("h", tick(&["a", "b"])).await.unwrap();
        let err = hub
            .publish_batch("h", tick(&["a", "c", "d"]))
            .await
            .unwrap_err();
        assert_eq!((err.would_have, err.max), (4, 3));
        assert!(err.to_string().contains("--max-series-per-host"), "{err}");
        assert_eq!(
            hub.latest("h").unwrap().1.len(),
            2,
            "nothing of it recorded"
        );
        hub.publish_batch("h", tick(&["a", "b", "c"]))
            .await
            .unwrap();
        hub.publish_batch("h", tick(&["a"])).await.unwrap();
    }

    #[test]
    fn a_tail_replaces_what_it_overlaps_and_extends_the_rest() {
        let mut points = vec![(1, 1.0), (2, 2.0), (3, 3.0)];
        merge_tail(&mut points, vec![(3, 30.0), (4, 4.0)]);
        assert_eq!(points, vec![(1, 1.0), (2, 2.0), (3, 30.0), (4, 4.0)]);
        merge_tail(&mut points, vec![]);
        assert_eq!(points.len(), 4);
        let mut empty = Vec::new();
        merge_tail(&mut empty, vec![(9, 9.0)]);
        assert_eq!(empty, vec![(9, 9.0)]);
    }

    #[tokio::test]
    async fn with_stored_history_a_snapshot_joins_the_stored_window_and_the_unwritten_tail() {
        let dir = tempfile::tempdir().unwrap();
        let db =
            crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("h.db").display()))
                .await
                .unwrap();
        let history = History::open(db, Default::default(), Arc::default())
            .await
            .unwrap();
        let hub = Hub::new(100, 8, 100, Arc::default()).with_stored_window(
            history.clone(),
            Duration::from_secs(300),
            2,
            300,
        );
        let now = unix_now_ms();
        for i in 0..5 {
            let values = BTreeMap::from([("x".into(), i as f64)]);
            history.append("web-1", now - 5_000 + i * 1_000, &values);
            hub.publish("web-1", now - 5_000 + i * 1_000, values);
        }
        history.flush_tick().await.unwrap();
        // Sealed: memory no longer holds them, the snapshot reads them from the database.
        history.seal().await.unwrap();
        // Two more that the writer has not taken yet.
        for i in 5..7 {
            hub.publish(
                "web-1",
                now - 5_000 + i * 1_000,
                BTreeMap::from([("x".into(), i as f64)]),
            );
        }
        let snap: ServerMessage =
            serde_json::from_str(hub.snapshot("web-1").await.unwrap().as_str()).unwrap();
        let ServerMessage::Snapshot { series, .. } = snap else {
            panic!("not a snapshot")
        };
        let values: Vec<f64> = series["x"].iter().map(|p| p.1).collect();
        assert_eq!(values, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(hub.snapshot("nope").await.is_none());

        // Another instance's host is in no store here: the hub keeps its whole window.
        for i in 0..5 {
            let tick = BTreeMap::from([("x".into(), i as f64)]);
            hub.apply_remote("web-2", Ticks::from([(now - 5_000 + i * 1_000, tick)]))
                .await;
        }
        let snap: ServerMessage =
            serde_json::from_str(hub.snapshot("web-2").await.unwrap().as_str()).unwrap();
        let ServerMessage::Snapshot { series, .. } = snap else {
            panic!("not a snapshot")
        };
        assert_eq!(series["x"].len(), 5, "not cut to the local tail of 2");
    }

    #[tokio::test]
    async fn another_instances_samples_go_out_as_local_ones_under_its_cap_decision() {
        let hub = hub(10, 8);
        let mut rx = hub.subscribe();
        // Five series where this hub's cap is three: the instance that took them decided.
        let values: BTreeMap<String, f64> = (0..5).map(|i| (format!("s{i}"), 1.0)).collect();
        hub.apply_remote("web-9", Ticks::from([(1_000, values)]))
            .await;
        assert_eq!(rx.recv().await.unwrap().topic, Topic::Hosts);
        let frame = rx.recv().await.unwrap();
        assert_eq!(frame.topic, Topic::Host("web-9".into()));
        assert!(frame
            .text
            .as_str()
            .starts_with(r#"{"type":"samples","host":"web-9","ts":1000,"#));
        assert_eq!(hub.latest("web-9").unwrap().1.len(), 5);
        assert!(hub.take_changed().contains("web-9"), "the overview sees it");
    }

    #[tokio::test]
    async fn snapshots_hold_the_recent_history() {
        let hub = hub(2, 8);
        for ts in 0..3 {
            hub.publish("web-1", ts, BTreeMap::from([("x".into(), ts as f64)]));
        }
        let snap = hub.snapshot("web-1").await.unwrap();
        assert_eq!(
            snap.as_str(),
            r#"{"type":"snapshot","host":"web-1","series":{"x":[[1,1.0],[2,2.0]]}}"#
        );
        assert!(hub.snapshot("nope").await.is_none());
        // Within a tick every socket shares one encoding; the next tick makes a new one.
        assert_eq!(
            hub.snapshot("web-1").await.unwrap().as_str().as_ptr(),
            snap.as_str().as_ptr()
        );
        hub.publish("web-1", 3, BTreeMap::from([("x".into(), 3.0)]));
        assert!(hub
            .snapshot("web-1")
            .await
            .unwrap()
            .as_str()
            .ends_with("[[2,2.0],[3,3.0]]}}"));
    }
}
