//! Live data: this machine's sampler, the in-memory history, ingest, the fan-out hub and
//! the `/ws` sockets that carry it to signed-in browsers.

pub mod api;
pub mod bus;
pub mod history;
pub mod hub;
pub mod ingest;
pub mod overview;
pub mod registry;
pub mod sampler;
pub mod socket;

use crate::{
    access::groups::{Access, Viewer},
    auth::origin::OriginPolicy,
    config::LiveConfig,
    history::History,
    stats::Stats,
    store::{tick_ms, unix_now, unix_now_ms, Db},
};
use app::{
    auth::Principal,
    history::{HistoryPoint, SeriesHistory, Tier},
};
use bus::Bus;
use hub::{Hub, SeriesCapExceeded, Ticks};
use overview::Overview;
use registry::Sockets;
use sampler::Sampler;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// Points per series the hub keeps when the store serves the live window (queued samples
/// included): the newest, for `latest` and the overview.
const UNWRITTEN_TAIL: usize = 1;

/// How often the server looks for hosts removed from the command line.
const REMOVAL_CHECK: Duration = Duration::from_secs(2);

/// Everything the sockets and ingest share.
pub struct Live {
    pub hub: Hub,
    pub overview: Overview,
    /// The samples on disk; `None` with `--history off`.
    pub history: Option<Arc<History>>,
    /// Hosts known to have a row in the `hosts` table: ingested here, or seen there. Only
    /// such a host whose row is gone was removed by an operator; a name that never had a
    /// row (this server's own host under an earlier `--host-name`) is left alone.
    stored_hosts: std::sync::Mutex<std::collections::BTreeSet<String>>,
    pub sockets: Arc<Sockets>,
    /// Which hosts each reader may see.
    pub access: Arc<Access>,
    pub origin: Arc<OriginPolicy>,
    pub stop: CancellationToken,
    pub config: LiveConfig,
    pub db: Db,
    pub stats: Arc<Stats>,
    /// The other instances (`--redis-url`); `None` alone.
    pub bus: Option<Arc<Bus>>,
    session_max: Duration,
}

impl Live {
    // Each argument is one of the server's shared services, made once in `Application::build`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &LiveConfig,
        db: Db,
        origin: Arc<OriginPolicy>,
        session_max: Duration,
        stats: Arc<Stats>,
        stop: CancellationToken,
        history: Option<Arc<History>>,
        access: Arc<Access>,
        bus: Option<Arc<Bus>>,
    ) -> Self {
        let mut hub = Hub::new(
            config.history_len(),
            config.queue,
            config.max_series_per_host,
            stats.clone(),
        );
        if let Some(history) = &history {
            let window = config.retention.min(history.config().live_window);
            let every = config.sample_every.as_millis().max(1);
            let remote = usize::try_from(window.as_millis() / every).unwrap_or(usize::MAX);
            hub = hub.with_stored_window(history.clone(), window, UNWRITTEN_TAIL, remote);
        }
        Self {
            history,
            access,
            stored_hosts: Default::default(),
            hub,
            overview: Overview::new(config.thresholds),
            sockets: Arc::new(Sockets::new(
                config.max_sockets_per_session,
                config.max_sockets_per_address,
            )),
            origin,
            stop,
            config: config.clone(),
            db,
            stats,
            bus,
            session_max,
        }
    }

    /// When a session signed in at `signed_in_at` reaches its absolute lifetime.
    pub fn session_deadline(&self, signed_in_at: i64) -> tokio::time::Instant {
        let age = Duration::from_secs(
            u64::try_from(unix_now().saturating_sub(signed_in_at)).unwrap_or(0),
        );
        tokio::time::Instant::now() + self.session_max.saturating_sub(age)
    }

    /// Every tick, sends the overview's changed rows to the sockets that show it, until
    /// stopped. Every few seconds it also drops hosts an operator removed (from this
    /// process or with `lookout host remove`).
    pub async fn run_overview(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.sample_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut removal_check = tokio::time::interval(REMOVAL_CHECK);
        removal_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Some((text, rows)) = self.overview.tick(&self.hub, unix_now_ms()) {
                        self.hub.send_overview(text, rows);
                    }
                }
                _ = removal_check.tick() => {
                    if let Err(e) = self.forget_removed_hosts().await {
                        tracing::warn!(error = %e, "cannot check for removed hosts");
                    }
                }
            }
        }
    }

    /// Hosts whose row was in the `hosts` table and is gone were removed by an operator.
    async fn forget_removed_hosts(&self) -> anyhow::Result<()> {
        // Taken before the query: a host ingested for the first time while it runs has its
        // row already, but the query may not have seen it, and it must not count as removed.
        let before = self
            .stored_hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let stored: std::collections::BTreeSet<String> = self
            .db
            .list_hosts()
            .await?
            .into_iter()
            .map(|h| h.name)
            .collect();
        let removed: Vec<String> = before.difference(&stored).cloned().collect();
        {
            let mut known = self.stored_hosts.lock().unwrap_or_else(|e| e.into_inner());
            let meanwhile: Vec<String> = known.difference(&before).cloned().collect();
            known.clone_from(&stored);
            known.extend(meanwhile);
        }
        for host in removed {
            self.forget_host(&host).await;
        }
        Ok(())
    }

    /// Drops a removed host from memory and from every screen.
    pub async fn forget_host(&self, host: &str) {
        tracing::info!(host, "host removed");
        self.hub.remove_host(host);
        self.overview.remove(host);
        if let Some(history) = &self.history {
            if let Err(e) = history.remove_host(host).await {
                tracing::error!(error = %e, host, "cannot remove a host's history");
            }
        }
    }

    /// Shows every host known from storage, so that hosts that have not reported since the
    /// server started appear (offline) instead of silently missing.
    pub async fn show_stored_hosts(&self) -> anyhow::Result<()> {
        let mut hosts: std::collections::BTreeSet<String> = self
            .db
            .list_hosts()
            .await?
            .into_iter()
            .map(|h| h.name)
            .collect();
        if let Some(history) = &self.history {
            hosts.extend(history.hosts().await);
        }
        for host in hosts {
            let last_seen = self
                .history
                .as_ref()
                .and_then(|h| h.last_seen(&host))
                .unwrap_or(0);
            self.overview.seed(&host, last_seen);
        }
        Ok(())
    }

    /// Records an ingested batch: live first, then queued for the disk.
    pub async fn record_batch(&self, host: &str, ticks: Ticks) -> Result<(), SeriesCapExceeded> {
        // Ingest records the host's row before it gets here.
        self.stored_hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_string());
        self.hub
            .publish_batch_then(host, ticks, |ticks| {
                if let Some(history) = &self.history {
                    history.append_batch(host, ticks);
                }
                if let Some(bus) = &self.bus {
                    bus.publish_samples(host, ticks);
                }
            })
            .await
    }

    /// Samples this machine every `sample_every` and publishes it, until stopped.
    pub async fn sample_this_host(self: Arc<Self>) {
        let mut sampler = Some(Sampler::new());
        let mut tick = tokio::time::interval(self.config.sample_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(mut s) = sampler.take() else { return };
            let sampled = tokio::task::spawn_blocking(move || {
                let values = s.sample();
                (s, values)
            })
            .await;
            match sampled {
                Ok((s, values)) => {
                    sampler = Some(s);
                    let ts = tick_ms(self.config.sample_every);
                    if let Some(history) = &self.history {
                        history.append(&self.config.host_name, ts, &values);
                    }
                    if let Some(bus) = &self.bus {
                        bus.publish_tick(&self.config.host_name, ts, &values);
                    }
                    self.hub.publish(&self.config.host_name, ts, values);
                }
                Err(e) => {
                    tracing::error!(error = %e, "sampler failed; sampling stops");
                    return;
                }
            }
        }
    }

    /// Every host, sorted: those with recent samples and those known from storage.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: std::collections::BTreeSet<String> =
            self.overview.hosts().into_iter().collect();
        hosts.extend(self.hub.hosts());
        hosts.into_iter().collect()
    }

    /// What a signed-in user may see, as of now.
    pub fn viewer(&self, principal: &Principal) -> Viewer {
        self.access.forest().user(principal.user_id, principal.role)
    }

    pub fn sees(&self, viewer: &Viewer, host: &str) -> bool {
        viewer.sees(&self.access.forest(), host)
    }

    /// The hosts a viewer may see: those reporting now and those known from storage.
    pub fn hosts_for(&self, viewer: &Viewer) -> Vec<String> {
        viewer.filter(&self.access.forest(), self.hosts())
    }

    /// The series of `host`, sorted; `None` for an unknown host.
    pub async fn series_of(&self, host: &str) -> anyhow::Result<Option<Vec<String>>> {
        let Some(history) = &self.history else {
            return Ok(self.hub.series_names(host));
        };
        let mut names = history.series(host).await?;
        // Samples of the current tick are in the hub before the writer stores them.
        names.extend(self.hub.series_names(host).unwrap_or_default());
        names.sort_unstable();
        names.dedup();
        Ok((!names.is_empty()).then_some(names))
    }

    /// One series' points over `[from_ms, to_ms]`; `None` for an unknown host or series.
    pub async fn series_history(
        &self,
        host: &str,
        series: &str,
        from_ms: i64,
        to_ms: i64,
        step_secs: Option<u64>,
    ) -> anyhow::Result<Option<SeriesHistory>> {
        if let Some(history) = &self.history {
            let step = step_secs.map(Duration::from_secs);
            if let Some(found) = history.query(host, series, from_ms, to_ms, step).await? {
                return Ok(Some(found));
            }
            // A series younger than the writer's tick is only in the live window so far.
        }
        Ok(self.hub.points(host, series).map(|points| SeriesHistory {
            series: series.to_string(),
            step: 0,
            tier: Tier::Raw,
            from: from_ms,
            to: to_ms,
            points: points
                .into_iter()
                .filter(|(ts, _)| (from_ms..=to_ms).contains(ts))
                .map(|(ts, v)| HistoryPoint::Raw(ts, v))
                .collect(),
        }))
    }
}
