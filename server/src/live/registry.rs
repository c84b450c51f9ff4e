//! Every open socket, by the session it was opened with, so that when a session ends
//! (here or in another process) its sockets close within a second; and the caps on how
//! many sockets one session and one client address may hold.

use crate::store::Db;
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
struct Open {
    by_session: HashMap<String, HashMap<u64, CancellationToken>>,
    by_address: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
pub struct Sockets {
    open: Mutex<Open>,
    next_id: AtomicU64,
    max_per_session: usize,
    max_per_address: usize,
    /// Wakes [`Sockets::watch`] for a check before its next period.
    recheck: tokio::sync::Notify,
}

/// Why a socket may not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapExceeded {
    #[error("this session has {0} live sockets open already")]
    Session(usize),
    #[error("this address has {0} live sockets open already")]
    Address(usize),
}

/// A socket's place in the registry; dropping it removes the socket.
pub struct Registration {
    sockets: Arc<Sockets>,
    session: String,
    address: IpAddr,
    id: u64,
    pub ended: CancellationToken,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.sockets.lock();
        if let Some(sockets) = open.by_session.get_mut(&self.session) {
            sockets.remove(&self.id);
            if sockets.is_empty() {
                open.by_session.remove(&self.session);
            }
        }
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

impl Sockets {
    pub fn new(max_per_session: usize, max_per_address: usize) -> Self {
        Self {
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
            max_per_session,
            max_per_address,
            recheck: tokio::sync::Notify::new(),
        }
    }

    /// Asks the watcher to check every open socket's session now: another instance may
    /// have ended sessions while this one could not hear it (Redis was down).
    pub fn check_now(&self) {
        self.recheck.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a socket under its session (the session id's hash, as stored) and client
    /// address, unless either already holds as many as it may.
    pub fn register(
        self: &Arc<Self>,
        session: String,
        address: IpAddr,
    ) -> Result<Registration, CapExceeded> {
        let mut open = self.lock();
        let of_session = open.by_session.get(&session).map_or(0, HashMap::len);
        if of_session >= self.max_per_session {
            return Err(CapExceeded::Session(of_session));
        }
        let of_address = open.by_address.get(&address).copied().unwrap_or(0);
        if of_address >= self.max_per_address {
            return Err(CapExceeded::Address(of_address));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        open.by_session
            .entry(session.clone())
            .or_default()
            .insert(id, ended.clone());
        *open.by_address.entry(address).or_default() += 1;
        drop(open);
        Ok(Registration {
            sockets: self.clone(),
            session,
            address,
            id,
            ended,
        })
    }

    pub fn sessions(&self) -> Vec<String> {
        self.lock().by_session.keys().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.lock().by_session.values().map(HashMap::len).sum()
    }

    /// Tells every socket of `session` that its session has ended.
    pub fn end_session(&self, session: &str) {
        if let Some(sockets) = self.lock().by_session.remove(session) {
            tracing::info!(
                sockets = sockets.len(),
                "closing the sockets of an ended session"
            );
            for token in sockets.values() {
                token.cancel();
            }
        }
    }

    /// Ends the sockets of sessions this process ends, at once; and every `period` (or on
    /// [`Sockets::check_now`]), those whose session is gone from the database (signed out,
    /// revoked, expired, user removed: by another process too, such as the CLI). Sessions
    /// ended by another instance arrive over the Redis bus as [`Sockets::end_session`]. Open sockets count as activity:
    /// their sessions' idle expiry is pushed forward each `idle / 4`, while the absolute
    /// lifetime still ends them.
    pub async fn watch(
        self: Arc<Self>,
        db: Db,
        period: Duration,
        idle: Duration,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let touch_every = (idle / 4).max(period);
        let mut last_touch = tokio::time::Instant::now();
        let mut ended = db.ended_sessions();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
                () = self.recheck.notified() => {}
                hash = ended.recv() => {
                    // Lagging behind is harmless: the poll below finds what was missed.
                    if let Ok(hash) = hash {
                        self.end_session(&hash);
                    }
                    continue;
                }
            }
            let watched = self.sessions();
            if watched.is_empty() {
                continue;
            }
            match db.live_sessions_among(&watched).await {
                Ok(live) => {
                    let live: HashSet<String> = live.into_iter().collect();
                    for session in watched.iter().filter(|s| !live.contains(*s)) {
                        self.end_session(session);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot check sessions of open sockets"),
            }
            if last_touch.elapsed() >= touch_every {
                last_touch = tokio::time::Instant::now();
                if let Err(e) = db.extend_sessions(&self.sessions(), idle).await {
                    tracing::error!(error = %e, "cannot extend sessions of open sockets");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn ending_a_session_cancels_only_its_sockets_and_drop_deregisters() {
        let sockets = Arc::new(Sockets::new(16, 256));
        let a1 = sockets.register("a".into(), HERE).unwrap();
        let a2 = sockets.register("a".into(), HERE).unwrap();
        let b = sockets.register("b".into(), HERE).unwrap();
        assert_eq!(sockets.count(), 3);
        sockets.end_session("a");
        assert!(a1.ended.is_cancelled() && a2.ended.is_cancelled());
        assert!(!b.ended.is_cancelled());
        drop(b);
        assert_eq!(sockets.count(), 0);
    }

    #[test]
    fn sessions_and_addresses_are_capped_and_closing_frees_a_place() {
        let sockets = Arc::new(Sockets::new(2, 3));
        let s1 = sockets.register("s".into(), HERE).unwrap();
        let _s2 = sockets.register("s".into(), HERE).unwrap();
        assert_eq!(
            sockets.register("s".into(), THERE).err(),
            Some(CapExceeded::Session(2))
        );
        let _t = sockets.register("t".into(), HERE).unwrap();
        assert_eq!(
            sockets.register("u".into(), HERE).err(),
            Some(CapExceeded::Address(3))
        );
        assert!(sockets.register("u".into(), THERE).is_ok());
        drop(s1);
        assert!(sockets.register("u".into(), HERE).is_ok());
    }
}
