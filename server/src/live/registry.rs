//! Every open socket, by the session it was opened with, so that when a session ends
//! (here or in another process) its sockets close within a second.

use crate::store::Db;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub struct Sockets {
    by_session: Mutex<HashMap<String, HashMap<u64, CancellationToken>>>,
    next_id: AtomicU64,
}

/// A socket's place in the registry; dropping it removes the socket.
pub struct Registration {
    sockets: Arc<Sockets>,
    session: String,
    id: u64,
    pub ended: CancellationToken,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.sockets.lock();
        if let Some(sockets) = map.get_mut(&self.session) {
            sockets.remove(&self.id);
            if sockets.is_empty() {
                map.remove(&self.session);
            }
        }
    }
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, CancellationToken>>> {
        self.by_session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a socket under its session (the session id's hash, as stored).
    pub fn register(self: &Arc<Self>, session: String) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        self.lock()
            .entry(session.clone())
            .or_default()
            .insert(id, ended.clone());
        Registration {
            sockets: self.clone(),
            session,
            id,
            ended,
        }
    }

    pub fn sessions(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    /// Tells every socket of `session` that its session has ended.
    pub fn end_session(&self, session: &str) {
        if let Some(sockets) = self.lock().remove(session) {
            tracing::info!(
                sockets = sockets.len(),
                "closing the sockets of an ended session"
            );
            for token in sockets.values() {
                token.cancel();
            }
        }
    }

    /// Every `period`, ends the sockets whose session is gone from the database (signed
    /// out, revoked, expired, user removed: by this process or by another, such as the
    /// CLI). Open sockets count as activity: their sessions' idle expiry is pushed
    /// forward each `idle / 4`, while the absolute lifetime still ends them.
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
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
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

    #[test]
    fn ending_a_session_cancels_only_its_sockets_and_drop_deregisters() {
        let sockets = Arc::new(Sockets::default());
        let a1 = sockets.register("a".into());
        let a2 = sockets.register("a".into());
        let b = sockets.register("b".into());
        assert_eq!(sockets.count(), 3);
        sockets.end_session("a");
        assert!(a1.ended.is_cancelled() && a2.ended.is_cancelled());
        assert!(!b.ended.is_cancelled());
        drop(b);
        assert_eq!(sockets.count(), 0);
    }
}
