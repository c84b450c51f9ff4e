//! Counters of the server's own work, shared by every part of it: what tests assert on
//! (an unknown user still costs one password check; a request does not rewrite its
//! session) and what operators will read from `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    /// argon2 verifications actually computed (the dummy hash included).
    pub password_checks: AtomicU64,
    /// Session rows written (created or saved).
    pub session_writes: AtomicU64,
    /// Host snapshots encoded for sockets.
    pub snapshot_encodes: AtomicU64,
    /// Sockets dropped because the peer did not take its frames in time.
    pub slow_sockets_dropped: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
