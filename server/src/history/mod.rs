//! Persistent history, after Prometheus' TSDB and Facebook's Gorilla: per series a
//! compressed head in memory, a write-ahead log for durability, and immutable blocks in the
//! database — raw samples, 1-minute and 1-hour rollups, each tier with its own retention.
//!
//! Ingest only queues samples ([`History::append`]); the writer task ([`History::run`])
//! writes each tick's samples as one log row and appends them to the heads. A rolling seal
//! writes each series' head into a packed block once every `block_span`, a share of the
//! series at each tick, and deletes log rows once every series has them in blocks. A crash
//! loses at most the tick being written; restart replays the log, skipping what a block
//! already holds.
//!
//! Layering: imports config-free pieces of the crate only (`store`, `stats`) and the
//! wire types of `app::history`; `live` imports this module, never the reverse.

mod blocks;
pub mod codec;
mod head;
mod pack;
mod query;
pub mod rollup;
mod wal;

use crate::{
    stats::Stats,
    store::{unix_now_ms, Db},
};
use anyhow::Context;
use app::history::{SeriesHistory, Tier};
use blocks::BlockRow;
use codec::CodecError;
use head::{newest_wins, Series};
use pack::decode_samples;
use query::{tier_code, Points};
use rollup::{bucket, RollupPoint, HOUR};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    time::{Duration, Instant},
};
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use wal::{WalError, WalSample};

/// How often expired blocks are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Host ticks kept queued while the database refuses writes; beyond this the oldest are
/// dropped (and counted) rather than growing memory without bound.
const MAX_PENDING_TICKS: usize = 1_000_000;

/// Samples applied to the heads per hold of the series lock, so that readers of the live
/// window wait for a slice of a large tick, not all of it.
const APPLY_SLICE: usize = 8_192;

/// Series sealed per transaction of a seal.
const SEAL_SLICE: usize = 5_000;

/// Most steps a seal period is cut into.
const MAX_SEAL_STEPS: u64 = 600;

/// Steps per seal period: one per tick, at most [`MAX_SEAL_STEPS`].
fn seal_steps(config: &HistoryConfig) -> usize {
    let per_tick = config.block_span.as_nanos() / config.tick.as_nanos().max(1);
    per_tick.clamp(1, u128::from(MAX_SEAL_STEPS)) as usize
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// How often queued samples are written (the most a crash loses).
    pub tick: Duration,
    /// How often heads are sealed into blocks.
    pub block_span: Duration,
    pub retention_raw: Duration,
    pub retention_1m: Duration,
    pub retention_1h: Duration,
    /// How far back [`History::recent`] serves from memory.
    pub live_window: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            tick: Duration::from_secs(1),
            block_span: Duration::from_secs(300),
            retention_raw: Duration::from_secs(2 * DAY),
            retention_1m: Duration::from_secs(30 * DAY),
            retention_1h: Duration::from_secs(400 * DAY),
            live_window: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("history database error")]
    Db(#[from] sqlx::Error),
    #[error("a stored history block is corrupt")]
    Corrupt(#[from] CodecError),
    #[error("a history log row is corrupt")]
    Wal(#[from] WalError),
    #[error("the history's worker thread failed")]
    Worker,
}

/// The writer's own counters (the shared [`Stats`] belongs to the other rooms).
#[derive(Debug, Default)]
pub struct HistoryCounters {
    /// Samples logged and applied to the heads.
    pub samples_written: AtomicU64,
    /// Blocks written, all tiers.
    pub blocks_sealed: AtomicU64,
    /// Bytes of blocks and log rows written.
    pub bytes_written: AtomicU64,
    /// Samples older than their series' head, kept aside and sealed as blocks of their own.
    pub late_samples: AtomicU64,
    /// Samples lost: the late buffer was full, or the database refused writes too long.
    pub dropped_samples: AtomicU64,
}

impl HistoryCounters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One host's samples at one timestamp, as queued by ingest: by series id where the series
/// is registered (16 bytes a sample, no name copied), by name where it is new.
#[derive(Clone)]
struct PendingTick {
    host: Arc<str>,
    ts: i64,
    known: Vec<(i64, f64)>,
    new: Vec<(String, f64)>,
}

impl PendingTick {
    fn len(&self) -> usize {
        self.known.len() + self.new.len()
    }
}

/// Which id each series name has: read by ingest, so it has a lock of its own, apart from
/// the series the worker thread holds while it appends and seals.
#[derive(Default)]
struct Index {
    /// host → series name → id.
    hosts: HashMap<String, HashMap<String, i64>>,
}

impl Index {
    fn id(&self, host: &str, name: &str) -> Option<i64> {
        self.hosts.get(host)?.get(name).copied()
    }

    fn register(&mut self, id: i64, host: &str, name: &str) {
        match self.hosts.get_mut(host) {
            Some(names) => {
                names.insert(name.to_owned(), id);
            }
            None => {
                self.hosts
                    .insert(host.to_owned(), HashMap::from([(name.to_owned(), id)]));
            }
        }
    }

    /// The host's series by id.
    fn names(&self, host: &str) -> HashMap<i64, String> {
        self.hosts
            .get(host)
            .map(|m| m.iter().map(|(n, &id)| (id, n.clone())).collect())
            .unwrap_or_default()
    }
}

/// Series by id. Boxed: a map slot then costs a pointer, not a whole series, at every free
/// slot.
type SeriesMap = HashMap<i64, Box<Series>>;

/// What only the writer touches; the async lock around it orders ticks, seals and
/// removals.
struct Writer {
    /// The newest log row written or replayed. Blocks sealed after it carry `2 × seq`
    /// (late samples `2 × seq + 1`), so block order is write order across restarts.
    last_wal_seq: i64,
    /// Per seal step, the log row through which its series are in blocks: the rows up to
    /// the smallest of these are in blocks for every series, and can go.
    sealed_through: Vec<i64>,
    /// The step [`History::seal_step`] seals next.
    next_step: usize,
    /// The log rows deleted so far.
    deleted_through: i64,
}

/// The thread that appends to the heads and cuts them into blocks: one long-lived thread,
/// so that the heads' buffers are all allocated (and freed, and taken again) in one of
/// the allocator's arenas. On tokio's blocking pool, whose threads come and go, they were
/// spread over as many arenas as threads had run, each keeping its own freed memory.
struct Worker {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl Worker {
    fn start() -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                for job in queue {
                    // A panicking job fails its own call (its answer channel closes); the
                    // thread goes on with the next.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a history job panicked");
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `job` on the worker thread and waits for its answer.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HistoryError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(job());
            }))
            .map_err(|_| HistoryError::Worker)?;
        answered.await.map_err(|_| HistoryError::Worker)
    }
}

pub struct History {
    db: Db,
    worker: Worker,
    config: HistoryConfig,
    pending: Mutex<Vec<PendingTick>>,
    /// The tick being written: out of `pending`, not yet in the heads. [`History::recent`]
    /// reads it too, so the live window has no hole while the writer works.
    in_flight: Mutex<Arc<Vec<PendingTick>>>,
    /// Locked before `series` where both are needed, never after.
    index: RwLock<Index>,
    series: Mutex<SeriesMap>,
    writer: tokio::sync::Mutex<Writer>,
    counters: HistoryCounters,
    stats: Arc<Stats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the history down with it: the data is still sound
    // (every mutation completes before anything can panic).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl History {
    /// Loads series ids, finds the hours not rolled up yet, and replays the write-ahead log
    /// into the heads.
    pub async fn open(
        db: Db,
        config: HistoryConfig,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Arc<History>> {
        let pool = db.pool().clone();
        let mut index = Index::default();
        let mut all = SeriesMap::new();
        for (id, host, name) in blocks::all_series(&pool)
            .await
            .context("cannot load history series")?
        {
            index.register(id, &host, &name);
            all.insert(id, Box::default());
        }

        // Hours after the last rolled-up one are rolled up at the next seal; the log's
        // samples, replayed below, mark their own hours.
        let last_hours = blocks::last_ends(&pool, tier_code(Tier::Hour)).await?;
        let last_raw = blocks::last_ends(&pool, tier_code(Tier::Raw)).await?;
        for (&id, series) in &mut all {
            let Some(&(last, _)) = last_raw.get(&id) else {
                continue;
            };
            series.last_ts = Some(last);
            let rolled_to = last_hours
                .get(&id)
                .map_or(i64::MIN, |&(end, _)| bucket(end, HOUR).saturating_add(HOUR));
            if last >= rolled_to {
                series.unrolled = Some(rolled_to);
            }
        }

        let mut last_wal_seq = 0;
        for (seq, data) in blocks::wal_rows(&pool).await? {
            last_wal_seq = seq;
            let samples = match wal::decode(&data) {
                Ok(samples) => samples,
                Err(e) => {
                    // A row SQLite committed is whole; an unreadable one is from a future
                    // version. Skipping it keeps the rest of the history.
                    tracing::error!(seq, error = %e, "skipping a history log row");
                    continue;
                }
            };
            for s in samples {
                // A seal commits a slice of series at a time and deletes the log rows it
                // covered last: a crash in between leaves rows whose samples some series
                // already have in a block (written as `2 × seal's log seq` or later).
                // Those are skipped, or they would be sealed a second time.
                if last_raw
                    .get(&s.series)
                    .is_some_and(|&(_, sealed)| sealed >= seq.saturating_mul(2))
                {
                    continue;
                }
                // Series removed since the row was written are skipped.
                if let Some(series) = all.get_mut(&s.series) {
                    series.push(s.ts, s.value);
                }
            }
        }

        let steps = seal_steps(&config);
        Ok(Arc::new(History {
            worker: Worker::start().context("cannot start the history's worker thread")?,
            db,
            config,
            pending: Mutex::new(Vec::new()),
            in_flight: Mutex::default(),
            index: RwLock::new(index),
            series: Mutex::new(all),
            writer: tokio::sync::Mutex::new(Writer {
                last_wal_seq,
                // Until every step has sealed once, the replayed rows are needed.
                sealed_through: vec![0; steps],
                next_step: 0,
                deleted_through: 0,
            }),
            counters: HistoryCounters::default(),
            stats,
        }))
    }

    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    pub fn counters(&self) -> &HistoryCounters {
        &self.counters
    }

    pub fn samples_written(&self) -> u64 {
        self.counters.samples_written.load(Ordering::Relaxed)
    }

    pub fn blocks_sealed(&self) -> u64 {
        self.counters.blocks_sealed.load(Ordering::Relaxed)
    }

    pub fn bytes_written(&self) -> u64 {
        self.counters.bytes_written.load(Ordering::Relaxed)
    }

    /// Queues one host tick for the next write. Never waits on the database.
    pub fn append(&self, host: &str, ts_ms: i64, values: &BTreeMap<String, f64>) {
        self.queue(host, std::iter::once((ts_ms, values)));
    }

    /// Queues several ticks of one host.
    pub fn append_batch(&self, host: &str, ticks: &BTreeMap<i64, BTreeMap<String, f64>>) {
        self.queue(host, ticks.iter().map(|(&ts, values)| (ts, values)));
    }

    /// Queues ticks by series id, by name for series not registered yet.
    fn queue<'a>(&self, host: &str, ticks: impl Iterator<Item = (i64, &'a BTreeMap<String, f64>)>) {
        let host: Arc<str> = host.into();
        let mut queued = Vec::new();
        {
            let index = read(&self.index);
            let names = index.hosts.get(&*host);
            for (ts, values) in ticks {
                if values.is_empty() {
                    continue;
                }
                let mut tick = PendingTick {
                    host: host.clone(),
                    ts,
                    known: Vec::with_capacity(values.len()),
                    new: Vec::new(),
                };
                for (name, &v) in values {
                    match names.and_then(|n| n.get(name)) {
                        Some(&id) => tick.known.push((id, v)),
                        None => tick.new.push((name.clone(), v)),
                    }
                }
                queued.push(tick);
            }
        }
        lock(&self.pending).extend(queued);
    }

    /// The writer: a tick's samples every `tick`, a step of the rolling seal every
    /// [`History::seal_step_every`], expired blocks deleted every minute. On `stop`, writes
    /// what is queued, seals everything and returns.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.tick.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let step_every = self.seal_step_every();
        let mut last_step = Instant::now();
        let mut last_retention: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.flush_tick().await {
                tracing::error!(error = ?e, "cannot write history samples");
            }
            // Steps missed while the writer was busy are caught up, a period at most.
            let due = (last_step.elapsed().as_nanos() / step_every.as_nanos().max(1))
                .min(u128::from(MAX_SEAL_STEPS));
            if due > 0 {
                last_step = Instant::now();
                for _ in 0..due {
                    if let Err(e) = self.seal_step().await {
                        tracing::error!(error = ?e, "cannot seal history blocks");
                        break;
                    }
                }
            }
            if last_retention.is_none_or(|at| at.elapsed() >= RETENTION_EVERY) {
                last_retention = Some(Instant::now());
                if let Err(e) = self.apply_retention(unix_now_ms()).await {
                    tracing::error!(error = ?e, "cannot delete expired history");
                }
            }
        }
        if let Err(e) = self.flush_tick().await {
            tracing::error!(error = ?e, "cannot write history samples at shutdown");
        }
        if let Err(e) = self.seal().await {
            tracing::error!(error = ?e, "cannot seal history blocks at shutdown");
        }
    }

    /// Writes the queued samples: new series and one log row in one transaction, then
    /// appends them to the heads. Returns the number of samples written.
    pub async fn flush_tick(self: &Arc<Self>) -> Result<usize, HistoryError> {
        let mut writer = self.writer.lock().await;
        let pending = {
            let mut queued = lock(&self.pending);
            if queued.is_empty() {
                return Ok(0);
            }
            let pending = Arc::new(std::mem::take(&mut *queued));
            *lock(&self.in_flight) = pending.clone();
            pending
        };
        let started = std::time::Instant::now();
        let written = self.write_tick(&mut writer, &pending).await;
        self.stats
            .history_write_seconds
            .observe(started.elapsed().as_secs_f64());
        if written.is_err() {
            self.requeue(pending.iter().map(PendingTick::clone).collect());
        }
        *lock(&self.in_flight) = Arc::default();
        written
    }

    async fn write_tick(
        self: &Arc<Self>,
        writer: &mut Writer,
        pending: &[PendingTick],
    ) -> Result<usize, HistoryError> {
        // Series queued by name: registered since (by an earlier tick), or new here; new
        // ones get a placeholder `-(index in new) - 1` until the database gives their ids.
        let mut new: Vec<(&str, &str)> = Vec::new();
        let mut named: Vec<i64> = Vec::new();
        {
            let index = read(&self.index);
            let mut new_index: HashMap<(&str, &str), i64> = HashMap::new();
            for tick in pending {
                for (name, _) in &tick.new {
                    let id = index.id(&tick.host, name).unwrap_or_else(|| {
                        *new_index
                            .entry((&*tick.host, name.as_str()))
                            .or_insert_with(|| {
                                new.push((&*tick.host, name.as_str()));
                                -(new.len() as i64)
                            })
                    });
                    named.push(id);
                }
            }
        }

        let mut tx = self.db.pool().begin().await?;
        let new_ids = blocks::insert_series(&mut tx, &new).await?;
        let mut named = named.into_iter().map(|id| {
            if id < 0 {
                new_ids[(-id - 1) as usize]
            } else {
                id
            }
        });
        let mut samples: Vec<WalSample> =
            Vec::with_capacity(pending.iter().map(PendingTick::len).sum());
        for tick in pending {
            let ts = tick.ts;
            samples.extend(tick.known.iter().map(|&(series, value)| WalSample {
                series,
                ts,
                value,
            }));
            for (&(_, value), series) in tick.new.iter().zip(named.by_ref()) {
                samples.push(WalSample { series, ts, value });
            }
        }
        let row = wal::encode(&samples);
        let seq = blocks::insert_wal(&mut tx, &row).await?;
        tx.commit().await?;
        writer.last_wal_seq = seq;

        HistoryCounters::add(&self.counters.bytes_written, row.len() as u64);
        if !new.is_empty() {
            let mut index = write(&self.index);
            let mut series = lock(&self.series);
            for (&(host, name), &id) in new.iter().zip(&new_ids) {
                index.register(id, host, name);
                series.entry(id).or_default();
            }
        }
        let this = self.clone();
        let count = samples.len();
        self.worker.run(move || this.apply(samples)).await?;
        Ok(count)
    }

    /// Appends logged samples to the heads and rollups (CPU work: on the worker thread).
    fn apply(&self, samples: Vec<WalSample>) {
        let (mut late, mut dropped) = (0u64, 0u64);
        for slice in samples.chunks(APPLY_SLICE) {
            let mut all = lock(&self.series);
            for s in slice {
                // Removed while the tick was written: nothing to keep.
                if let Some(series) = all.get_mut(&s.series) {
                    match series.push(s.ts, s.value) {
                        head::Pushed::Head => {}
                        head::Pushed::Late => late += 1,
                        head::Pushed::Dropped => dropped += 1,
                    }
                }
            }
        }
        HistoryCounters::add(&self.counters.samples_written, samples.len() as u64);
        HistoryCounters::add(&self.counters.late_samples, late);
        HistoryCounters::add(&self.counters.dropped_samples, dropped);
    }

    fn requeue(&self, mut ticks: Vec<PendingTick>) {
        let mut pending = lock(&self.pending);
        ticks.append(&mut pending);
        if ticks.len() > MAX_PENDING_TICKS {
            let excess = ticks.len() - MAX_PENDING_TICKS;
            let lost: usize = ticks.drain(..excess).map(|t| t.len()).sum();
            HistoryCounters::add(&self.counters.dropped_samples, lost as u64);
        }
        *pending = ticks;
    }

    /// How often [`History::seal_step`] runs: a seal period is cut into steps (one per
    /// tick), and each step seals the series of its own (`series id mod steps`). Every
    /// series is still sealed once per `block_span`, but never all at once: the heads are
    /// at every stage of filling at any moment, so their memory is half a period's on
    /// average instead of a whole period's at the peak, the allocator sees a steady churn
    /// instead of bursts, and no step holds the writer for long.
    pub fn seal_step_every(&self) -> Duration {
        self.config.block_span / seal_steps(&self.config) as u32
    }

    /// Seals the next step's series (see [`History::seal_step_every`]), then deletes the
    /// log rows that every series has in blocks. Returns the number of blocks written.
    pub async fn seal_step(self: &Arc<Self>) -> Result<usize, HistoryError> {
        let mut writer = self.writer.lock().await;
        let steps = writer.sealed_through.len();
        let step = writer.next_step;
        writer.next_step = (step + 1) % steps;
        let ids: Vec<i64> = lock(&self.series)
            .keys()
            .copied()
            .filter(|id| id.rem_euclid(steps as i64) as usize == step)
            .collect();
        let through = writer.last_wal_seq;
        let count = self.seal_ids(through, ids).await?;
        writer.sealed_through[step] = through;
        self.delete_sealed_log(&mut writer).await?;
        Ok(count)
    }

    /// Seals every non-empty head and every completed rollup hour into blocks, then
    /// deletes the log. Returns the number of blocks written.
    pub async fn seal(self: &Arc<Self>) -> Result<usize, HistoryError> {
        let mut writer = self.writer.lock().await;
        let ids: Vec<i64> = lock(&self.series).keys().copied().collect();
        let through = writer.last_wal_seq;
        let count = self.seal_ids(through, ids).await?;
        writer.sealed_through.fill(through);
        self.delete_sealed_log(&mut writer).await?;
        Ok(count)
    }

    /// Seals the series `ids` (their heads, late samples and the hours due for rolling
    /// up) with the log written through `through`, a slice of series per transaction.
    /// Returns the number of blocks written.
    async fn seal_ids(
        self: &Arc<Self>,
        through: i64,
        mut ids: Vec<i64>,
    ) -> Result<usize, HistoryError> {
        let seq = through.saturating_mul(2);
        ids.sort_unstable();
        // A slice of series at a time, each in a transaction of its own: SQLite's write
        // lock is held for a slice's inserts, never for the whole seal (other writers,
        // such as sign-ins, wait milliseconds), and the blocks waiting for the database
        // stay a few MB. The log rows go later; `open` skips what a crash in between left
        // both in a block and in the log.
        let (mut count, mut bytes) = (0, 0);
        for slice in ids.chunks(SEAL_SLICE) {
            let this = self.clone();
            let slice = slice.to_vec();
            let (rows, due, slice) = self
                .worker
                .run(move || {
                    this.blocks_to_seal(&slice, seq)
                        .map(|(rows, due)| (rows, due, slice))
                })
                .await??;
            // A step of quiet series writes nothing: no transaction for it.
            if !rows.is_empty() || !due.is_empty() {
                let mut tx = self.db.pool().begin().await?;
                blocks::insert_blocks(&mut tx, &rows).await?;
                let rolled = self.roll_up(&mut tx, &due, seq).await?;
                tx.commit().await?;
                count += rolled.0;
                bytes += rolled.1;
            }
            count += rows.len();
            bytes += rows.iter().map(|r| r.data.len()).sum::<usize>();
            self.after_seal(&slice, &due);
        }
        HistoryCounters::add(&self.counters.bytes_written, bytes as u64);
        HistoryCounters::add(&self.counters.blocks_sealed, count as u64);
        Ok(count)
    }

    /// Rolls up the hours `due` per series from their raw blocks, which hold every sample
    /// of them now that the heads are in (the same transaction). An hour rolled up before
    /// is replaced, unless its raw blocks have since gone (retention): then the stored
    /// rollup, which counts more samples, stays. Returns the blocks and bytes written.
    async fn roll_up(
        self: &Arc<Self>,
        tx: &mut sqlx::AnyConnection,
        due: &[(i64, std::ops::Range<i64>)],
        seq: i64,
    ) -> Result<(usize, usize), HistoryError> {
        if due.is_empty() {
            return Ok((0, 0));
        }
        let mut raw = Vec::with_capacity(due.len());
        for (id, hours) in due {
            let blocks = blocks::overlapping(
                &mut *tx,
                *id,
                tier_code(Tier::Raw),
                hours.start,
                hours.end - 1,
            )
            .await?;
            let stored = blocks::overlapping(
                &mut *tx,
                *id,
                tier_code(Tier::Hour),
                hours.start,
                hours.end - 1,
            )
            .await?;
            raw.push((*id, hours.clone(), blocks, stored));
        }
        let (rows, replaced) = self.worker.run(move || rollup_rows(raw, seq)).await??;
        for (id, hour) in replaced {
            blocks::delete_rollups(&mut *tx, id, hour, hour + HOUR).await?;
        }
        blocks::insert_blocks(&mut *tx, &rows).await?;
        Ok((rows.len(), rows.iter().map(|r| r.data.len()).sum()))
    }

    /// Deletes the log rows that every series has in blocks.
    async fn delete_sealed_log(&self, writer: &mut Writer) -> Result<(), HistoryError> {
        let through = writer.sealed_through.iter().copied().min().unwrap_or(0);
        if through > writer.deleted_through {
            let mut tx = self.db.pool().begin().await?;
            blocks::delete_wal_through(&mut tx, through).await?;
            tx.commit().await?;
            writer.deleted_through = through;
        }
        Ok(())
    }

    /// The raw rows a seal writes, and per series the hours it rolls up.
    #[allow(clippy::type_complexity)]
    fn blocks_to_seal(
        &self,
        ids: &[i64],
        seq: i64,
    ) -> Result<(Vec<BlockRow>, Vec<(i64, std::ops::Range<i64>)>), CodecError> {
        let all = lock(&self.series);
        let mut rows = Vec::new();
        let mut due = Vec::new();
        for &id in ids {
            // Removed since the ids were taken: nothing to write.
            let Some(series) = all.get(&id) else {
                continue;
            };
            for b in series.blocks()? {
                rows.push(BlockRow {
                    series_id: id,
                    tier: tier_code(Tier::Raw),
                    start_ts: b.first,
                    end_ts: b.last,
                    seq: seq + i64::from(b.late),
                    count: b.count as i64,
                    data: b.bytes,
                });
            }
            due.extend(series.due().map(|hours| (id, hours)));
        }
        Ok((rows, due))
    }

    /// The heads of `ids` are on disk and the hours `due` rolled up: memory lets them go.
    fn after_seal(&self, ids: &[i64], due: &[(i64, std::ops::Range<i64>)]) {
        let mut all = lock(&self.series);
        for id in ids {
            let Some(series) = all.get_mut(id) else {
                continue;
            };
            series.sealed();
            series.touched = false;
        }
        for (id, hours) in due {
            if let Some(series) = all.get_mut(id) {
                series.rolled(hours);
            }
        }
    }

    /// Deletes blocks that ended before their tier's retention. Returns how many.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<u64, HistoryError> {
        let _writer = self.writer.lock().await;
        let mut deleted = 0;
        for (tier, retention) in [
            (Tier::Raw, self.config.retention_raw),
            (Tier::Minute, self.config.retention_1m),
            (Tier::Hour, self.config.retention_1h),
        ] {
            let before = now_ms.saturating_sub(millis(retention));
            deleted += blocks::delete_ended_before(self.db.pool(), tier_code(tier), before).await?;
        }
        Ok(deleted)
    }

    /// The host's series names, sorted.
    pub async fn series(&self, host: &str) -> Result<Vec<String>, HistoryError> {
        let mut names: Vec<String> = read(&self.index)
            .hosts
            .get(host)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// Every host with stored series, sorted (those that stopped reporting too).
    pub async fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = read(&self.index).hosts.keys().cloned().collect();
        hosts.sort();
        hosts
    }

    /// The newest sample's timestamp over the host's series.
    pub fn last_seen(&self, host: &str) -> Option<i64> {
        let index = read(&self.index);
        let all = lock(&self.series);
        index
            .hosts
            .get(host)?
            .values()
            .filter_map(|id| all.get(id)?.last_ts)
            .max()
    }

    /// One series over `[from_ms, to_ms]`; `None` if the host or series is unknown.
    pub async fn query(
        &self,
        host: &str,
        series: &str,
        from_ms: i64,
        to_ms: i64,
        step: Option<Duration>,
    ) -> Result<Option<SeriesHistory>, HistoryError> {
        let step_ms = step.map(|s| millis(s).max(1));
        let tier = query::choose_tier(unix_now_ms(), from_ms, to_ms, step_ms, &self.config);
        let Some(id) = read(&self.index).id(host, series) else {
            return Ok(None);
        };
        let Some(points) = self.points(id, tier, from_ms, to_ms).await? else {
            return Ok(None);
        };
        let (step, points) = query::shape(tier, points, step_ms, from_ms, to_ms);
        Ok(Some(SeriesHistory {
            series: series.to_owned(),
            step: u64::try_from(step / 1000).unwrap_or(0),
            tier,
            from: from_ms,
            to: to_ms,
            points,
        }))
    }

    /// One series' points of `tier` over `[from_ms, to_ms]`: stored blocks, and what
    /// memory adds to them (unsealed samples; the rollups of hours not rolled up yet,
    /// computed from their raw samples). `None` if the series is gone.
    async fn points(
        &self,
        id: i64,
        tier: Tier,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Option<Points>, HistoryError> {
        // Memory before the database: a seal in between then shows its samples twice
        // (merged away by timestamp), never not at all.
        let (unsealed, unrolled) = {
            let all = lock(&self.series);
            let Some(s) = all.get(&id) else {
                return Ok(None);
            };
            (s.unsealed()?, s.unrolled)
        };
        let in_range = |ts: i64| (from_ms..=to_ms).contains(&ts);
        let raw_from = match tier {
            Tier::Raw => Some(from_ms),
            // Rollups not on disk yet are computed from the raw samples of their hours.
            Tier::Minute | Tier::Hour => unrolled
                .filter(|&hour| hour <= to_ms)
                .map(|hour| hour.max(bucket(from_ms, tier.width_ms()))),
        };
        let samples = match raw_from {
            Some(raw_from) => {
                let mut all = Vec::new();
                for block in
                    &blocks::overlapping(self.db.pool(), id, tier_code(Tier::Raw), raw_from, to_ms)
                        .await?
                {
                    all.extend(decode_samples(block)?);
                }
                all.extend(unsealed);
                all.retain(|p| (raw_from..=to_ms).contains(&p.0));
                newest_wins(all)
            }
            None => Vec::new(),
        };
        if tier == Tier::Raw {
            return Ok(Some(Points::Raw(samples)));
        }
        let mut all: Vec<RollupPoint> = Vec::new();
        for block in
            &blocks::overlapping(self.db.pool(), id, tier_code(tier), from_ms, to_ms).await?
        {
            rollup::decode_into(block, &mut all)?;
        }
        // Computed last: they win over an older rollup of the same minute or hour.
        let rolled = rollup::roll_up(&samples);
        match tier {
            Tier::Minute => all.extend(rollup::minute_points(&rolled)),
            _ => all.extend(rolled.iter().map(|h| h.hour)),
        }
        all.retain(|p| in_range(p.ts));
        Ok(Some(Points::Rolled(head::newest_wins_by(all, |p| p.ts))))
    }

    /// Every series of the host from `since_ms` (the live window): sealed blocks from the
    /// database, then the heads, then the samples being written or queued; of equal
    /// timestamps the newest write wins, as it does on disk.
    pub async fn recent(
        &self,
        host: &str,
        since_ms: i64,
    ) -> Result<BTreeMap<String, Vec<(i64, f64)>>, HistoryError> {
        // Read against the direction samples move (queue → log → heads → blocks), so a
        // sample moving on while this reads is seen twice (merged away), never not at all.
        let ours = |t: &&PendingTick| &*t.host == host && t.ts >= since_ms;
        let pending: Vec<PendingTick> = lock(&self.pending).iter().filter(ours).cloned().collect();
        let in_flight: Vec<PendingTick> =
            lock(&self.in_flight).iter().filter(ours).cloned().collect();
        let (names, heads) = {
            let names = read(&self.index).names(host);
            let all = lock(&self.series);
            let mut heads = Vec::new();
            for (&id, name) in &names {
                if let Some(series) = all.get(&id) {
                    heads.push((name.clone(), series.unsealed()?));
                }
            }
            (names, heads)
        };
        let stored = if names.is_empty() {
            Vec::new()
        } else {
            blocks::host_raw_since(self.db.pool(), host, since_ms).await?
        };

        let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for (id, data) in &stored {
            if let Some(name) = names.get(id) {
                out.entry(name.clone())
                    .or_default()
                    .extend(decode_samples(data)?);
            }
        }
        for (name, points) in heads {
            out.entry(name).or_default().extend(points);
        }
        // In write order: the tick being written, then the ones queued after it.
        for tick in in_flight.into_iter().chain(pending) {
            // A series registered after `names` was read is queued by name.
            for (id, v) in tick.known {
                if let Some(name) = names.get(&id) {
                    out.entry(name.clone()).or_default().push((tick.ts, v));
                }
            }
            for (name, v) in tick.new {
                out.entry(name).or_default().push((tick.ts, v));
            }
        }
        out.retain(|_, points| {
            points.retain(|&(ts, _)| ts >= since_ms);
            *points = newest_wins(std::mem::take(points));
            !points.is_empty()
        });
        Ok(out)
    }

    /// Deletes the host's series, blocks and heads. `false` if there was no such host.
    pub async fn remove_host(&self, host: &str) -> Result<bool, HistoryError> {
        let _writer = self.writer.lock().await;
        // Queued samples of the host would bring it back at the next tick.
        lock(&self.pending).retain(|t| &*t.host != host);
        let ids = blocks::delete_host(self.db.pool(), host).await?;
        let known = write(&self.index).hosts.remove(host);
        let had_any = !ids.is_empty() || known.is_some();
        let mut all = lock(&self.series);
        for id in ids
            .into_iter()
            .chain(known.into_iter().flat_map(|m| m.into_values()))
        {
            all.remove(&id);
        }
        Ok(had_any)
    }

    /// Approximate heap held by the in-memory series: heads, late buffers, live-window
    /// chunks, rollups and the name maps.
    pub fn memory_bytes(&self) -> usize {
        let index = read(&self.index);
        let all = lock(&self.series);
        let series: usize = all
            .values()
            .map(|s| {
                std::mem::size_of::<(i64, Box<Series>)>()
                    + std::mem::size_of::<Series>()
                    + s.heap_bytes()
            })
            .sum();
        let names: usize = index
            .hosts
            .iter()
            .map(|(host, names)| {
                host.capacity()
                    + names.capacity() * std::mem::size_of::<(String, i64)>()
                    + names.keys().map(String::capacity).sum::<usize>()
            })
            .sum();
        series + names + all.capacity() * std::mem::size_of::<u64>()
    }
}

/// What a seal reads to roll up one series: its id, the hours due, their raw blocks and
/// the hour points already stored for them, blocks in write order.
type DueHours = (i64, std::ops::Range<i64>, Vec<Vec<u8>>, Vec<Vec<u8>>);

/// The 1m and 1h rows of the hours due, and the (series, hour) pairs rolled up before,
/// whose stored rollups they replace.
#[allow(clippy::type_complexity)]
fn rollup_rows(
    due: Vec<DueHours>,
    seq: i64,
) -> Result<(Vec<BlockRow>, Vec<(i64, i64)>), CodecError> {
    let (mut rows, mut replaced) = (Vec::new(), Vec::new());
    for (id, hours, raw, stored) in due {
        let mut samples = Vec::new();
        for block in &raw {
            samples.extend(decode_samples(block)?);
        }
        samples.retain(|p| hours.contains(&p.0));
        let mut before = Vec::new();
        for block in &stored {
            rollup::decode_into(block, &mut before)?;
        }
        for rolled in rollup::roll_up(&newest_wins(samples)) {
            let hour = rolled.hour.ts;
            let earlier: Vec<&RollupPoint> = before.iter().filter(|p| p.ts == hour).collect();
            // Raw blocks deleted since the hour was rolled up: the stored rollup counts
            // more samples than what is left, and stays.
            if earlier.iter().any(|p| p.count > rolled.count()) {
                continue;
            }
            if !earlier.is_empty() {
                replaced.push((id, hour));
            }
            let (first, last) = match (rolled.minutes.first(), rolled.minutes.last()) {
                (Some(first), Some(last)) => (first.ts, last.ts),
                _ => continue,
            };
            rows.push(BlockRow {
                series_id: id,
                tier: tier_code(Tier::Minute),
                start_ts: first,
                end_ts: last,
                seq,
                count: rolled.minutes.len() as i64,
                data: rollup::pack_points(&rolled.minutes),
            });
            rows.push(BlockRow {
                series_id: id,
                tier: tier_code(Tier::Hour),
                start_ts: hour,
                end_ts: hour,
                seq,
                count: 1,
                data: rollup::pack_points(&[rolled.hour]),
            });
        }
    }
    Ok((rows, replaced))
}

#[cfg(test)]
mod tests;
