//! Sign-in throttling (ASVS 6.1.1, 6.3.1), in three buckets:
//!
//! * account + client IP: after `max_failures` misses, locked for a lockout that doubles
//!   with every further miss, up to `max_lockout`. This is what stops a guesser.
//! * account, from anywhere: a higher threshold and a short, fixed lockout, so that many
//!   IPs together are slowed down but the owner is never locked out for long.
//! * client IP, any account: stops one address from spraying many accounts.
//!
//! A success clears the account + IP bucket. State is in memory, per instance.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Clone, Debug)]
pub struct ThrottlePolicy {
    /// Misses allowed per account and IP before a lockout.
    pub max_failures: u32,
    /// First lockout of an account + IP; doubles with each further miss.
    pub base_lockout: Duration,
    pub max_lockout: Duration,
    /// Misses counted within this window; older ones are forgotten.
    pub window: Duration,
    /// Misses per account from all IPs before the short account-wide lockout.
    pub account_failures: u32,
    pub account_lockout: Duration,
    /// Misses per IP over all accounts before that IP is locked out.
    pub ip_failures: u32,
}

impl ThrottlePolicy {
    /// The policy for `max_failures` misses per account and IP; the account-wide and
    /// per-IP thresholds scale with it.
    pub fn with_max_failures(max_failures: u32) -> Self {
        Self {
            max_failures,
            base_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
            account_failures: max_failures.saturating_mul(4),
            account_lockout: Duration::from_secs(60),
            ip_failures: max_failures.saturating_mul(10),
        }
    }
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self::with_max_failures(5)
    }
}

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

/// Above this many tracked keys, expired ones are swept on the next miss.
const SWEEP_ABOVE: usize = 10_000;

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

    /// `Err(wait)` while any bucket of this attempt is locked.
    pub fn check(&self, account: Option<&str>, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(account, ip, Instant::now())
    }

    fn check_at(&self, account: Option<&str>, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let entries = self.entries();
        let wait = keys(account, ip)
            .iter()
            .filter_map(|k| entries.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: Option<&str>, ip: IpAddr) {
        self.record_failure_at(account, ip, Instant::now());
    }

    fn record_failure_at(&self, account: Option<&str>, ip: IpAddr, now: Instant) {
        let policy = &self.policy;
        let mut entries = self.entries();
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, e| {
                now.duration_since(e.window_start) < policy.window
                    || e.locked_until.is_some_and(|u| u > now)
            });
        }
        for key in keys(account, ip) {
            let entry = entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                window_start: now,
                locked_until: None,
            });
            if now.duration_since(entry.window_start) >= policy.window
                && entry.locked_until.is_none_or(|u| u <= now)
            {
                *entry = Entry {
                    failures: 0,
                    window_start: now,
                    locked_until: None,
                };
            }
            entry.failures += 1;
            let lockout = match key {
                Key::AccountFromIp(..) if entry.failures >= policy.max_failures => {
                    let doublings = (entry.failures - policy.max_failures).min(16);
                    Some(
                        policy
                            .base_lockout
                            .saturating_mul(1 << doublings)
                            .min(policy.max_lockout),
                    )
                }
                Key::Account(_) if entry.failures >= policy.account_failures => {
                    Some(policy.account_lockout)
                }
                Key::Ip(_) if entry.failures >= policy.ip_failures => Some(policy.max_lockout),
                _ => None,
            };
            if let Some(lockout) = lockout {
                entry.locked_until = Some(now + lockout);
            }
        }
    }

    pub fn record_success(&self, account: &str, ip: IpAddr) {
        self.entries()
            .remove(&Key::AccountFromIp(account.to_string(), ip));
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

    #[test]
    fn fifth_miss_locks_the_account_from_that_ip_only() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..4 {
            t.record_failure_at(Some("alice"), A, now);
        }
        assert!(t.check_at(Some("alice"), A, now).is_ok());
        t.record_failure_at(Some("alice"), A, now);
        assert_eq!(
            t.check_at(Some("alice"), A, now),
            Err(Duration::from_secs(30))
        );
        // The owner, elsewhere, is not locked out; nor is another account from A.
        assert!(t.check_at(Some("alice"), B, now).is_ok());
        assert!(t.check_at(Some("bob"), A, now).is_ok());
    }

    #[test]
    fn lockouts_double_and_are_capped() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..6 {
            t.record_failure_at(Some("alice"), A, now);
        }
        assert_eq!(
            t.check_at(Some("alice"), A, now),
            Err(Duration::from_secs(60))
        );
        for _ in 0..20 {
            t.record_failure_at(Some("alice"), A, now);
        }
        assert_eq!(
            t.check_at(Some("alice"), A, now),
            Err(Duration::from_secs(15 * 60))
        );
    }

    #[test]
    fn many_ips_against_one_account_lock_it_briefly_not_forever() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..20u8 {
            t.record_failure_at(
                Some("alice"),
                IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, i)),
                now,
            );
        }
        assert_eq!(
            t.check_at(Some("alice"), B, now),
            Err(Duration::from_secs(60))
        );
        assert!(t
            .check_at(Some("alice"), B, now + Duration::from_secs(61))
            .is_ok());
    }

    #[test]
    fn a_success_clears_the_account_and_ip_bucket() {
        let t = throttle();
        for _ in 0..4 {
            t.record_failure(Some("alice"), A);
        }
        t.record_success("alice", A);
        t.record_failure(Some("alice"), A);
        assert!(t.check(Some("alice"), A).is_ok());
    }

    #[test]
    fn one_ip_spraying_many_accounts_is_locked_out() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..50 {
            t.record_failure_at(Some(&format!("user{i}")), A, now);
        }
        assert!(t.check_at(Some("someone-new"), A, now).is_err());
        assert!(t.check_at(Some("someone-new"), B, now).is_ok());
    }
}
