//! The bus between instances (`--redis-url`): one Redis pub/sub channel, `PREFIX:bus`,
//! that carries what one instance must tell the others at once.
//!
//! * `samples`: every batch this instance accepts (ingest, and its own machine's ticks),
//!   once; every other instance records it in its hub and sends it to its sockets exactly
//!   as a local batch, without publishing it again.
//! * `sessions_ended`: the id hashes of sessions this instance ended (sign-out, revoke,
//!   sign out everywhere, password change, and the user-level ends: removal, disabling,
//!   role change, which end every session of the user). The others close those sessions'
//!   sockets.
//! * `access_changed`: the access version moved (group, membership, owner or host move):
//!   the others re-read groups now instead of at their next poll, and narrow or widen
//!   their sockets.
//! * `recheck`: this instance ended more sessions than it could list; the others check
//!   every open socket's session against the database now.
//!
//! Each message names the instance that sent it, and an instance ignores its own. Publishing
//! never waits: messages queue for one publisher task, and are dropped (and counted) when
//! Redis is down or the queue is full. While Redis is down an instance serves its own
//! sockets, `/readyz` says so, and the database poll (every `Config::changes_poll`) still
//! ends sessions and moves access everywhere; samples of other instances pause. The
//! subscriber reconnects with backoff by itself, and on every (re)subscription checks
//! sessions and access at once, for what it may have missed.
//!
//! Redis is trusted as the database is, but a message that does not parse or breaks the
//! rules ingest applies (names, counts, timestamps) is counted, logged and ignored.

use super::{
    hub::Ticks,
    ingest::{EARLIEST_MS, LATEST_MS, MAX_SAMPLES},
    Live,
};
use crate::{instances::Redis, stats::Stats};
use app::live::is_valid_name;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;

/// Messages waiting for the publisher; beyond, new ones are dropped.
const OUTBOX: usize = 4096;
/// Messages sent to Redis in one pipeline.
const PIPELINE: usize = 64;
/// The largest message accepted from the channel (a full ingest batch is well below).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Session hashes per `sessions_ended` message.
const MAX_SESSIONS: usize = 1000;
/// Reconnection backoff: from the first, doubling, to the last.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often the subscriber connection is pinged: a Redis that vanished without closing
/// the connection is noticed within this and a deadline.
const PING_EVERY: Duration = Duration::from_secs(1);
/// At most one warning per this about the same kind of trouble.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A message as it arrives: `{"samples": {…}}`, `{"sessions_ended": {…}}`, … (tagged
/// outside, so that a large batch is parsed as it is read, not buffered first).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Incoming {
    Samples {
        from: String,
        host: String,
        ticks: Ticks,
    },
    SessionsEnded {
        from: String,
        sessions: Vec<String>,
    },
    AccessChanged {
        from: String,
        version: i64,
    },
    Recheck {
        from: String,
    },
}

impl Incoming {
    fn from(&self) -> &str {
        match self {
            Self::Samples { from, .. }
            | Self::SessionsEnded { from, .. }
            | Self::AccessChanged { from, .. }
            | Self::Recheck { from } => from,
        }
    }
}

/// The messages this instance sends, borrowed from what it has at hand.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Outgoing<'a, T: Serialize> {
    Samples {
        from: &'a str,
        host: &'a str,
        ticks: T,
    },
    SessionsEnded {
        from: &'a str,
        sessions: &'a [String],
    },
    AccessChanged {
        from: &'a str,
        version: i64,
    },
    Recheck {
        from: &'a str,
    },
}

/// A message that carries no samples.
type Control<'a> = Outgoing<'a, ()>;

/// One tick, serialised as [`Ticks`] is (`{"ts": {series: value}}`) without copying it.
struct OneTick<'a>(i64, &'a BTreeMap<String, f64>);

impl Serialize for OneTick<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(std::iter::once((self.0, self.1)))
    }
}

/// Why a message from the channel was ignored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum Refused {
    #[error("larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("not a bus message ({0})")]
    Malformed(String),
    #[error("a host or series name that ingest would refuse")]
    BadName,
    #[error("more than {MAX_SAMPLES} samples")]
    TooMany,
    #[error("a timestamp outside 2000-2100")]
    BadTime,
    #[error("a session hash that is not one")]
    BadSession,
}

/// A warning that is logged at most once per [`WARN_EVERY`].
#[derive(Default)]
struct Quiet(Mutex<Option<Instant>>);

impl Quiet {
    fn due(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}

pub struct Bus {
    redis: Arc<Redis>,
    channel: String,
    /// Random per process: tells this instance's messages from the others'.
    instance: String,
    outbox: mpsc::Sender<Vec<u8>>,
    outbox_rx: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    /// Whether the subscriber is subscribed now.
    subscribed: AtomicBool,
    /// Whether the last publish failed (to log each outage once).
    publish_down: AtomicBool,
    /// The newest access version another instance announced: a change this instance learns
    /// of from the bus is not announced again.
    heard_version: AtomicI64,
    stats: Arc<Stats>,
    dropped_warning: Quiet,
    refused_warning: Quiet,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("channel", &self.channel)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Bus {
    pub fn new(redis: Arc<Redis>, stats: Arc<Stats>) -> Arc<Self> {
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        Arc::new(Self {
            channel: redis.key("bus"),
            redis,
            instance: format!(
                "{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            ),
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            subscribed: AtomicBool::new(false),
            publish_down: AtomicBool::new(false),
            heard_version: AtomicI64::new(i64::MIN),
            stats,
            dropped_warning: Quiet::default(),
            refused_warning: Quiet::default(),
        })
    }

    /// The channel name (`PREFIX:bus`).
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// A batch this instance accepted, for every other instance.
    pub fn publish_samples(&self, host: &str, ticks: &Ticks) {
        self.send(&Outgoing::Samples {
            from: &self.instance,
            host,
            ticks,
        });
    }

    /// One tick of this instance's own machine, for every other instance.
    pub fn publish_tick(&self, host: &str, ts: i64, values: &BTreeMap<String, f64>) {
        self.send(&Outgoing::Samples {
            from: &self.instance,
            host,
            ticks: OneTick(ts, values),
        });
    }

    fn send<T: Serialize>(&self, message: &Outgoing<'_, T>) {
        let bytes = match serde_json::to_vec(message) {
            Ok(bytes) => bytes,
            Err(e) => {
                // Our own types of strings and finite numbers always serialise.
                tracing::error!(error = %e, "cannot encode a bus message");
                return;
            }
        };
        if self.outbox.try_send(bytes).is_err() {
            self.stats.bus("dropped");
            if self.dropped_warning.due() {
                tracing::warn!("the Redis bus is behind: messages for other instances dropped");
            }
        }
    }

    fn send_control(&self, message: &Control<'_>) {
        self.send(message);
    }

    /// Ready when subscribed and Redis answers a ping within a second; else why not.
    pub async fn ready(&self) -> Result<(), &'static str> {
        if !self.subscribed.load(Ordering::Relaxed) {
            return Err("not ready: Redis unreachable (not subscribed to the bus)");
        }
        if !self.redis.ping().await {
            return Err("not ready: Redis unreachable (no answer to a ping)");
        }
        Ok(())
    }

    /// Publishes, subscribes and applies, until `stop`. Reconnects by itself.
    pub async fn run(self: Arc<Self>, live: Arc<Live>, stop: CancellationToken) {
        let Some(outbox) = self
            .outbox_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            tracing::error!("the bus runs once");
            return;
        };
        tokio::join!(
            self.publish_loop(outbox, &stop),
            self.announce_loop(&live, &stop),
            self.subscribe_loop(&live, &stop),
        );
    }

    /// Sends queued messages to Redis, a pipeline of those waiting at a time.
    async fn publish_loop(&self, mut outbox: mpsc::Receiver<Vec<u8>>, stop: &CancellationToken) {
        let mut conn = self.redis.commands();
        let mut batch = Vec::with_capacity(PIPELINE);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                n = outbox.recv_many(&mut batch, PIPELINE) => if n == 0 { return },
            }
            let mut pipe = redis::pipe();
            for message in &batch {
                pipe.cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(message.as_slice())
                    .ignore();
            }
            let sent = tokio::time::timeout(crate::instances::DEADLINE, pipe.exec_async(&mut conn));
            let outcome = match sent.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within a second".to_string()),
            };
            let n = batch.len() as u64;
            batch.clear();
            match outcome {
                Ok(()) => {
                    self.stats
                        .bus_messages
                        .with_label_values(&["published"])
                        .inc_by(n);
                    if self.publish_down.swap(false, Ordering::Relaxed) {
                        tracing::info!("publishing to Redis again");
                    }
                }
                Err(error) => {
                    self.stats
                        .bus_messages
                        .with_label_values(&["dropped"])
                        .inc_by(n);
                    if !self.publish_down.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            error,
                            "cannot publish to Redis: other instances learn of this one's \
                             samples when it is back, and of its revocations from the database"
                        );
                    }
                }
            }
        }
    }

    /// Announces sessions this process ends and access changes it makes or sees.
    async fn announce_loop(&self, live: &Live, stop: &CancellationToken) {
        let mut ended = live.db.ended_sessions();
        let mut access = live.access.subscribe();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                hash = ended.recv() => match hash {
                    Ok(hash) => {
                        let mut sessions = vec![hash];
                        let mut lagged = false;
                        while sessions.len() < MAX_SESSIONS {
                            match ended.try_recv() {
                                Ok(hash) => sessions.push(hash),
                                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                                    lagged = true;
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.send_control(&Control::SessionsEnded {
                            from: &self.instance,
                            sessions: &sessions,
                        });
                        if lagged {
                            self.send_control(&Control::Recheck { from: &self.instance });
                        }
                    }
                    // More ended than the channel held: the others check every session.
                    Err(RecvError::Lagged(_)) => {
                        self.send_control(&Control::Recheck { from: &self.instance });
                    }
                    Err(RecvError::Closed) => return,
                },
                changed = access.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let version = access.borrow_and_update().version;
                    if version > self.heard_version.load(Ordering::Relaxed) {
                        self.send_control(&Control::AccessChanged {
                            from: &self.instance,
                            version,
                        });
                    }
                }
            }
        }
    }

    /// Subscribes and applies what the other instances send; reconnects with backoff.
    async fn subscribe_loop(&self, live: &Live, stop: &CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        let mut ever = false;
        let mut down_since: Option<Instant> = None;
        loop {
            let subscribed = async {
                let mut pubsub = self.redis.subscriber().await?;
                tokio::time::timeout(crate::instances::DEADLINE, pubsub.subscribe(&self.channel))
                    .await
                    .map_err(|_| {
                        redis::RedisError::from((redis::ErrorKind::Io, "no answer to SUBSCRIBE"))
                    })??;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = tokio::select! {
                () = stop.cancelled() => return,
                s = subscribed => s,
            };
            match pubsub {
                Ok(pubsub) => {
                    backoff = BACKOFF_MIN;
                    self.subscribed.store(true, Ordering::Relaxed);
                    self.stats.redis_connected.set(1);
                    match down_since.take() {
                        Some(since) => tracing::info!(
                            down_for = ?since.elapsed(),
                            "Redis is back: subscribed to the bus again"
                        ),
                        None => {
                            tracing::info!(channel = %self.channel, "subscribed to the Redis bus")
                        }
                    }
                    if ever {
                        // Whatever was published while this instance could not hear it.
                        Self::recheck(live).await;
                    }
                    ever = true;
                    let stopped = self.listen(pubsub, live, stop).await;
                    self.subscribed.store(false, Ordering::Relaxed);
                    self.stats.redis_connected.set(0);
                    if stopped {
                        return;
                    }
                    down_since = Some(Instant::now());
                    tracing::warn!(
                        "lost the Redis bus: serving this instance's own sockets; reconnecting"
                    );
                }
                Err(e) => {
                    if down_since.is_none() {
                        down_since = Some(Instant::now());
                        tracing::warn!(
                            error = %e,
                            "cannot subscribe to the Redis bus: serving this instance's own \
                             sockets; retrying"
                        );
                    } else {
                        tracing::debug!(error = %e, "Redis still unreachable");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Applies messages until the connection breaks (`false`) or `stop` (`true`).
    async fn listen(
        &self,
        pubsub: redis::aio::PubSub,
        live: &Live,
        stop: &CancellationToken,
    ) -> bool {
        let (mut sink, mut messages) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return true,
                message = messages.next() => match message {
                    Some(message) => self.receive(live, message.get_payload_bytes()).await,
                    None => return false,
                },
                _ = ping.tick() => {
                    let pong = sink.ping::<redis::Value>();
                    if !matches!(
                        tokio::time::timeout(crate::instances::DEADLINE, pong).await,
                        Ok(Ok(_))
                    ) {
                        return false;
                    }
                }
            }
        }
    }

    /// Sessions and access as the database has them now.
    async fn recheck(live: &Live) {
        live.sockets.check_now();
        if let Err(e) = live.access.refresh().await {
            tracing::warn!(error = %e, "cannot reload groups");
        }
    }

    /// One message from the channel: applied, ignored (our own), or refused and logged.
    async fn receive(&self, live: &Live, payload: &[u8]) {
        match self.check(payload, &live.config.host_name) {
            Ok(None) => {}
            Ok(Some(message)) => {
                self.stats.bus("received");
                self.apply(live, message).await;
            }
            Err(refused) => {
                self.stats.bus("malformed");
                if self.refused_warning.due() {
                    tracing::warn!(
                        reason = %refused,
                        bytes = payload.len(),
                        "ignored a message on the Redis bus"
                    );
                }
            }
        }
    }

    /// Parses and checks a message; `None` for this instance's own.
    fn check(&self, payload: &[u8], own_host: &str) -> Result<Option<Incoming>, Refused> {
        if payload.len() > MAX_MESSAGE_BYTES {
            return Err(Refused::TooLarge);
        }
        // Redis sends each instance its own messages too: those are told by the sender's
        // id near the start (`{"samples":{"from":"…"`), without parsing a whole batch.
        let head = &payload[..payload.len().min(64)];
        if head
            .windows(self.instance.len())
            .any(|w| w == self.instance.as_bytes())
        {
            return Ok(None);
        }
        let message: Incoming = serde_json::from_slice(payload).map_err(|e| {
            // The category and place only: the text may quote the message.
            Refused::Malformed(format!(
                "{:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if message.from() == self.instance {
            return Ok(None);
        }
        match &message {
            Incoming::Samples { host, ticks, .. } => {
                // Two instances with one --host-name would mix their machines' samples.
                if host == own_host {
                    return Ok(None);
                }
                if !is_valid_name(host) {
                    return Err(Refused::BadName);
                }
                let mut count = 0usize;
                for (ts, values) in ticks {
                    if !(EARLIEST_MS..=LATEST_MS).contains(ts) {
                        return Err(Refused::BadTime);
                    }
                    if !values.keys().all(|name| is_valid_name(name)) {
                        return Err(Refused::BadName);
                    }
                    count += values.len();
                }
                if count > MAX_SAMPLES {
                    return Err(Refused::TooMany);
                }
            }
            Incoming::SessionsEnded { sessions, .. } => {
                if sessions.len() > MAX_SESSIONS
                    || !sessions.iter().all(|s| {
                        (1..=64).contains(&s.len())
                            && s.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    })
                {
                    return Err(Refused::BadSession);
                }
            }
            Incoming::AccessChanged { .. } | Incoming::Recheck { .. } => {}
        }
        Ok(Some(message))
    }

    async fn apply(&self, live: &Live, message: Incoming) {
        match message {
            Incoming::Samples { host, ticks, .. } => {
                if !ticks.is_empty() {
                    live.hub.apply_remote(&host, ticks).await;
                }
            }
            Incoming::SessionsEnded { sessions, .. } => {
                for session in &sessions {
                    live.sockets.end_session(session);
                }
            }
            Incoming::AccessChanged { version, .. } => {
                self.heard_version.fetch_max(version, Ordering::Relaxed);
                if live.access.forest().version < version {
                    if let Err(e) = live.access.refresh().await {
                        tracing::warn!(error = %e, "cannot reload groups after a change elsewhere");
                    }
                }
            }
            Incoming::Recheck { .. } => Self::recheck(live).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn bus() -> Arc<Bus> {
        let url = crate::config::RedisUrl::parse("redis://127.0.0.1:1").unwrap();
        let redis = Redis::open(&crate::config::RedisConfig::new(url, "t")).unwrap();
        Bus::new(Arc::new(redis), Arc::default())
    }

    fn encode<T: Serialize>(message: &Outgoing<'_, T>) -> Vec<u8> {
        serde_json::to_vec(message).unwrap()
    }

    #[tokio::test]
    async fn what_one_instance_sends_another_reads_and_its_own_it_ignores() {
        let (a, b) = (bus(), bus());
        let values = BTreeMap::from([("cpu.total".to_string(), 12.5)]);
        let one = encode(&Outgoing::Samples {
            from: &a.instance,
            host: "web-1",
            ticks: OneTick(NOW, &values),
        });
        let many = encode(&Outgoing::Samples {
            from: &a.instance,
            host: "web-1",
            ticks: &Ticks::from([(NOW, values.clone()), (NOW + 1_000, values.clone())]),
        });
        assert_eq!(
            String::from_utf8_lossy(&one),
            format!(
                r#"{{"samples":{{"from":"{}","host":"web-1","ticks":{{"{NOW}":{{"cpu.total":12.5}}}}}}}}"#,
                a.instance
            )
        );
        match b.check(&one, "me").unwrap() {
            Some(Incoming::Samples { host, ticks, .. }) => {
                assert_eq!(host, "web-1");
                assert_eq!(ticks, Ticks::from([(NOW, values.clone())]));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            b.check(&many, "me").unwrap(),
            Some(Incoming::Samples { ticks, .. }) if ticks.len() == 2
        ));
        assert!(a.check(&one, "me").unwrap().is_none(), "its own");
        assert!(
            b.check(&one, "web-1").unwrap().is_none(),
            "about this instance's own host"
        );

        let sessions = vec!["a".repeat(43)];
        let ended = encode(&Control::SessionsEnded {
            from: &a.instance,
            sessions: &sessions,
        });
        assert!(matches!(
            b.check(&ended, "me").unwrap(),
            Some(Incoming::SessionsEnded { sessions, .. }) if sessions.len() == 1
        ));
        let access = encode(&Control::AccessChanged {
            from: &a.instance,
            version: 7,
        });
        assert!(matches!(
            b.check(&access, "me").unwrap(),
            Some(Incoming::AccessChanged { version: 7, .. })
        ));
        let recheck = encode(&Control::Recheck { from: &a.instance });
        assert!(matches!(
            b.check(&recheck, "me").unwrap(),
            Some(Incoming::Recheck { .. })
        ));
    }

    #[tokio::test]
    async fn messages_that_break_ingests_rules_are_refused() {
        let b = bus();
        let refused = |json: String| b.check(json.as_bytes(), "me").unwrap_err();
        assert!(matches!(refused("not json".into()), Refused::Malformed(_)));
        assert!(matches!(
            refused(r#"{"shutdown":{"from":"x"}}"#.into()),
            Refused::Malformed(_)
        ));
        assert!(matches!(
            refused(r#"{"samples":{"from":"x","host":"h"}}"#.into()),
            Refused::Malformed(_)
        ));
        assert_eq!(
            refused(format!(
                r#"{{"samples":{{"from":"x","host":"Bad Host","ticks":{{"{NOW}":{{"x":1}}}}}}}}"#
            )),
            Refused::BadName
        );
        assert_eq!(
            refused(format!(
                r#"{{"samples":{{"from":"x","host":"h","ticks":{{"{NOW}":{{"../x":1}}}}}}}}"#
            )),
            Refused::BadName
        );
        assert_eq!(
            refused(r#"{"samples":{"from":"x","host":"h","ticks":{"5":{"x":1}}}}"#.into()),
            Refused::BadTime
        );
        let many: BTreeMap<String, f64> =
            (0..=MAX_SAMPLES).map(|i| (format!("s{i}"), 1.0)).collect();
        let json = serde_json::to_string(&Outgoing::Samples {
            from: "x",
            host: "h",
            ticks: OneTick(NOW, &many),
        })
        .unwrap();
        assert_eq!(refused(json), Refused::TooMany);
        assert_eq!(
            refused(r#"{"sessions_ended":{"from":"x","sessions":["no spaces allowed"]}}"#.into()),
            Refused::BadSession
        );
        assert_eq!(
            b.check(&vec![b' '; MAX_MESSAGE_BYTES + 1], "me")
                .unwrap_err(),
            Refused::TooLarge
        );
    }
}
