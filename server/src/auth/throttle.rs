//! Sign-in throttling (ASVS 6.1.1, 6.3.1), in three buckets:
//!
//! * account + client address: after `max_failures` attempts, that address is locked out
//!   of the account for a lockout that doubles with every further miss, up to
//!   `max_lockout`. This is what stops a guesser.
//! * client address, any account: `ip_failures` attempts, then locked out; stops one
//!   address from spraying many accounts.
//! * account, from anywhere: past `account_failures` misses every attempt on it waits
//!   `account_delay` first. Never a lockout, so that failures from other addresses cannot
//!   keep the owner (or an admin) out; they only slow them by a few seconds.
//!
//! An attempt is counted when it begins, before its password is hashed, under one lock:
//! a hundred guesses sent at once cannot all slip past the limit. A success gives its
//! attempt back. Addresses are counted per IPv4 address and per IPv6 /64. State is in
//! memory, per instance.

use crate::{auth::client::counted, config::ThrottlePolicy};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    AccountFromIp(String, IpAddr),
    Account(String),
    Ip(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            window_start: now,
            locked_until: None,
        }
    }

    fn locked_at(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }
}

/// Above this many tracked keys, expired ones are swept on the next attempt.
const SWEEP_ABOVE: usize = 10_000;

/// A counted sign-in attempt. Report a success with [`LoginThrottle::succeeded`]; a
/// failure needs nothing more (it was counted when it began).
#[derive(Debug)]
#[must_use = "report a success with `succeeded`"]
pub struct Attempt {
    account: Option<String>,
    ip: IpAddr,
    /// How long to wait before checking the password: the account is under attack.
    pub delay: Duration,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<Key, Entry>>,
}

fn keys(account: Option<&str>, ip: IpAddr) -> Vec<Key> {
    let mut keys = vec![Key::Ip(ip)];
    if let Some(account) = account {
        keys.push(Key::Account(account.to_string()));
        keys.push(Key::AccountFromIp(account.to_string(), ip));
    }
    keys
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // A poisoned map only means another thread panicked mid-update; the counters
        // are still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an attempt on `account` from `ip`, or `Err(wait)` while this address is
    /// locked out of the account or of sign-in altogether.
    pub fn begin(&self, account: Option<&str>, ip: IpAddr) -> Result<Attempt, Duration> {
        self.begin_at(account, counted(ip), Instant::now())
    }

    fn begin_at(
        &self,
        account: Option<&str>,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let policy = &self.policy;
        let keys = keys(account, ip);
        let mut entries = self.entries();
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, e| {
                now.duration_since(e.window_start) < policy.window || e.locked_at(now).is_some()
            });
        }
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k)?.locked_at(now))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        let mut delay = Duration::ZERO;
        for key in keys {
            let entry = entries
                .entry(key.clone())
                .or_insert_with(|| Entry::new(now));
            if now.duration_since(entry.window_start) >= policy.window {
                *entry = Entry::new(now);
            }
            entry.failures = entry.failures.saturating_add(1);
            match key {
                Key::AccountFromIp(..) if entry.failures >= policy.max_failures => {
                    let doublings = (entry.failures - policy.max_failures).min(16);
                    let lockout = policy
                        .base_lockout
                        .saturating_mul(1 << doublings)
                        .min(policy.max_lockout);
                    entry.locked_until = Some(now + lockout);
                }
                Key::Ip(_) if entry.failures >= policy.ip_failures => {
                    entry.locked_until = Some(now + policy.max_lockout);
                }
                Key::Account(_) if entry.failures > policy.account_failures => {
                    delay = policy.account_delay;
                }
                _ => {}
            }
        }
        Ok(Attempt {
            account: account.map(str::to_string),
            ip,
            delay,
        })
    }

    /// The attempt signed in: it is not held against the address, and the account + address
    /// bucket starts afresh.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut entries = self.entries();
        if let Some(account) = &attempt.account {
            entries.remove(&Key::AccountFromIp(account.clone(), attempt.ip));
            if let Some(e) = entries.get_mut(&Key::Account(account.clone())) {
                e.failures = e.failures.saturating_sub(1);
            }
        }
        if let Some(e) = entries.get_mut(&Key::Ip(attempt.ip)) {
            e.failures = e.failures.saturating_sub(1);
            if e.failures < self.policy.ip_failures {
                e.locked_until = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy::default())
    }

    fn fail(t: &LoginThrottle, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        t.begin_at(Some(account), ip, now).map(drop)
    }

    #[test]
    fn five_attempts_then_that_address_is_locked_out_of_the_account() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..5 {
            assert!(fail(&t, "alice", A, now).is_ok());
        }
        assert_eq!(fail(&t, "alice", A, now), Err(Duration::from_secs(30)));
        // The owner, elsewhere, is not locked out; nor is another account from A.
        assert!(fail(&t, "alice", B, now).is_ok());
        assert!(fail(&t, "bob", A, now).is_ok());
    }

    #[test]
    fn lockouts_double_and_are_capped() {
        let t = throttle();
        let start = Instant::now();
        let mut now = start;
        for _ in 0..5 {
            fail(&t, "alice", A, now).unwrap();
        }
        now += Duration::from_secs(31);
        fail(&t, "alice", A, now).unwrap();
        assert_eq!(fail(&t, "alice", A, now), Err(Duration::from_secs(60)));
        for _ in 0..20 {
            now += Duration::from_secs(16 * 60);
            let _ = fail(&t, "alice", A, now);
        }
        // Windows expire too: old misses are forgotten after 15 minutes unlocked.
        assert!(fail(&t, "alice", A, now + Duration::from_secs(15 * 60 + 1)).is_ok());
    }

    #[test]
    fn many_addresses_against_one_account_slow_it_but_never_lock_it() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..40u8 {
            let _ = fail(
                &t,
                "alice",
                IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, i)),
                now,
            );
        }
        let attempt = t.begin_at(Some("alice"), B, now).expect("never locked");
        assert_eq!(attempt.delay, Duration::from_secs(2));
    }

    #[test]
    fn a_success_gives_its_attempt_back_and_clears_the_account_and_address_bucket() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..4 {
            fail(&t, "alice", A, now).unwrap();
        }
        let attempt = t.begin_at(Some("alice"), A, now).unwrap();
        t.succeeded(attempt);
        for _ in 0..4 {
            fail(&t, "alice", A, now).unwrap();
        }
    }

    #[test]
    fn one_address_spraying_many_accounts_is_locked_out() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..50 {
            let _ = fail(&t, &format!("user{i}"), A, now);
        }
        assert!(fail(&t, "someone-new", A, now).is_err());
        assert!(fail(&t, "someone-new", B, now).is_ok());
    }

    #[test]
    fn concurrent_attempts_are_counted_before_any_of_them_finishes() {
        let t = std::sync::Arc::new(throttle());
        let admitted: usize = (0..8)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .filter(|_| t.begin(Some("alice"), A).is_ok())
                        .count()
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 5);
    }
}
