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
//! attempt back. Addresses are counted per IPv4 address and per IPv6 /64.
//!
//! One instance counts in memory. Several (`--redis-url`) count in Redis, so that guesses
//! spread over the instances behind a load balancer add up: each attempt is one Lua script
//! run atomically by Redis, on Redis' clock, with the same rules as here. When Redis does
//! not answer within a second, the attempt is counted in this instance's memory instead,
//! and a warning says so once per outage: throttling goes on per instance (an attacker
//! gains at most the number of instances as a factor while Redis is down), it never stops.
//! Refusing every sign-in while Redis is down was the other choice; it would turn a cache
//! outage into a lockout of everyone.

use crate::{auth::client::counted, config::ThrottlePolicy, instances::Redis};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    AccountFromIp(String, IpAddr),
    Account(String),
    Ip(IpAddr),
}

impl Key {
    /// The key's name in Redis: a hash, so that no account name or address is stored in
    /// the clear and every key has the same length.
    fn shared(&self, redis: &Redis) -> String {
        let mut hash = Sha256::new();
        match self {
            Self::AccountFromIp(account, ip) => {
                hash.update(b"account+ip\0");
                hash.update(account.as_bytes());
                hash.update(b"\0");
                hash.update(ip.to_string().as_bytes());
            }
            Self::Account(account) => {
                hash.update(b"account\0");
                hash.update(account.as_bytes());
            }
            Self::Ip(ip) => {
                hash.update(b"ip\0");
                hash.update(ip.to_string().as_bytes());
            }
        }
        let digest = hash.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        redis.key(&format!("throttle:{hex}"))
    }
}

/// One attempt, counted atomically in Redis. KEYS: the address, then (for a known account
/// name) the account and the account from the address, in that order. ARGV: the policy in
/// ms and counts. Returns `{0, wait_ms}` when locked out, `{1, delay_ms}` when counted.
/// Each key is a hash (`failures`, `window_start`, `locked_until`, ms on Redis' clock) that
/// expires when neither its window nor its lockout matters any more.
const BEGIN_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local max_failures = tonumber(ARGV[2])
local base_lockout = tonumber(ARGV[3])
local max_lockout = tonumber(ARGV[4])
local account_failures = tonumber(ARGV[5])
local account_delay = tonumber(ARGV[6])
local ip_failures = tonumber(ARGV[7])
local function int(x) return string.format('%.0f', x) end
local wait = 0
for i = 1, #KEYS do
  local locked = tonumber(redis.call('HGET', KEYS[i], 'locked_until') or 0) or 0
  if locked - now > wait then wait = locked - now end
end
if wait > 0 then return {0, wait} end
local delay = 0
for i = 1, #KEYS do
  local e = redis.call('HMGET', KEYS[i], 'failures', 'window_start')
  local failures = tonumber(e[1] or 0) or 0
  local start = tonumber(e[2] or now) or now
  if now - start >= window then
    failures = 0
    start = now
  end
  failures = failures + 1
  local locked = 0
  if i == 3 and failures >= max_failures then
    local doublings = math.min(failures - max_failures, 16)
    locked = now + math.min(base_lockout * (2 ^ doublings), max_lockout)
  elseif i == 1 and failures >= ip_failures then
    locked = now + max_lockout
  elseif i == 2 and failures > account_failures then
    delay = account_delay
  end
  redis.call('HSET', KEYS[i], 'failures', int(failures), 'window_start', int(start), 'locked_until', int(locked))
  redis.call('PEXPIRE', KEYS[i], int(math.max(math.max(start + window, locked) - now, 1)))
end
return {1, delay}
";

/// A success: the account + address bucket starts afresh, the account and the address
/// each get one attempt back. KEYS as for [`BEGIN_SCRIPT`]; ARGV[1]: the address limit.
const SUCCEEDED_SCRIPT: &str = r"
local function give_back(key)
  local failures = tonumber(redis.call('HGET', key, 'failures') or 0) or 0
  if failures > 0 then failures = failures - 1 end
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'failures', string.format('%.0f', failures))
  end
  return failures
end
if #KEYS == 3 then
  redis.call('DEL', KEYS[3])
  give_back(KEYS[2])
end
if give_back(KEYS[1]) < tonumber(ARGV[1]) and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'locked_until', '0')
end
return 1
";

/// Shared counting in Redis, and whether the last try of it failed (to log each outage
/// once, not every attempt).
struct Shared {
    redis: Arc<Redis>,
    begin: redis::Script,
    succeeded: redis::Script,
    down: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("redis", &self.redis)
            .finish()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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
    /// Counted in Redis (the success goes there too), or in this instance's memory.
    shared: bool,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<Key, Entry>>,
    shared: Option<Shared>,
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
            shared: None,
        }
    }

    /// Counts in `redis`, shared by every instance that uses it, while it answers.
    pub fn shared_through(mut self, redis: Arc<Redis>) -> Self {
        self.shared = Some(Shared {
            redis,
            begin: redis::Script::new(BEGIN_SCRIPT),
            succeeded: redis::Script::new(SUCCEEDED_SCRIPT),
            down: AtomicBool::new(false),
        });
        self
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // A poisoned map only means another thread panicked mid-update; the counters
        // are still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an attempt on `account` from `ip`, or `Err(wait)` while this address is
    /// locked out of the account or of sign-in altogether.
    pub async fn begin(&self, account: Option<&str>, ip: IpAddr) -> Result<Attempt, Duration> {
        let ip = counted(ip);
        if let Some(shared) = &self.shared {
            let keys = keys(account, ip);
            let mut script = shared.begin.prepare_invoke();
            for key in &keys {
                script.key(key.shared(&shared.redis));
            }
            let p = &self.policy;
            script
                .arg(millis(p.window))
                .arg(p.max_failures)
                .arg(millis(p.base_lockout))
                .arg(millis(p.max_lockout))
                .arg(p.account_failures)
                .arg(millis(p.account_delay))
                .arg(p.ip_failures);
            let mut conn = shared.redis.commands();
            let run = script.invoke_async::<(u8, u64)>(&mut conn);
            match tokio::time::timeout(crate::instances::DEADLINE, run).await {
                Ok(Ok((counted, ms))) => {
                    shared.reachable();
                    let ms = Duration::from_millis(ms);
                    if counted == 0 {
                        return Err(ms);
                    }
                    return Ok(Attempt {
                        account: account.map(str::to_string),
                        ip,
                        delay: ms,
                        shared: true,
                    });
                }
                Ok(Err(e)) => shared.unreachable(&e.to_string()),
                Err(_) => shared.unreachable("no answer within a second"),
            }
        }
        self.begin_at(account, ip, Instant::now())
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
            shared: false,
        })
    }

    /// The attempt signed in: it is not held against the address, and the account + address
    /// bucket starts afresh.
    pub async fn succeeded(&self, attempt: Attempt) {
        if let (true, Some(shared)) = (attempt.shared, &self.shared) {
            let mut script = shared.succeeded.prepare_invoke();
            for key in keys(attempt.account.as_deref(), attempt.ip) {
                script.key(key.shared(&shared.redis));
            }
            script.arg(self.policy.ip_failures);
            let mut conn = shared.redis.commands();
            let run = script.invoke_async::<u8>(&mut conn);
            match tokio::time::timeout(crate::instances::DEADLINE, run).await {
                Ok(Ok(_)) => shared.reachable(),
                // The attempt stays counted: one more failure than there was, never fewer.
                Ok(Err(e)) => shared.unreachable(&e.to_string()),
                Err(_) => shared.unreachable("no answer within a second"),
            }
            return;
        }
        self.succeeded_here(attempt);
    }

    fn succeeded_here(&self, attempt: Attempt) {
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

impl Shared {
    fn reachable(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again: sign-in attempts are counted across instances");
        }
    }

    fn unreachable(&self, error: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error,
                "Redis unreachable: sign-in attempts are counted on this instance only until it is back"
            );
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
        t.succeeded_here(attempt);
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
                        .filter(|_| t.begin_at(Some("alice"), A, Instant::now()).is_ok())
                        .count()
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 5);
    }

    /// The same rules, counted in Redis by two throttles as two instances would: their
    /// attempts add up.
    #[tokio::test]
    async fn shared_counters_add_up_across_instances_and_lock_out_like_local_ones() {
        let Some(redis) = crate::instances::test_redis() else {
            return;
        };
        let one = LoginThrottle::new(ThrottlePolicy::default()).shared_through(redis.clone());
        let two = LoginThrottle::new(ThrottlePolicy::default()).shared_through(redis);
        for t in [&one, &two, &one, &two, &one] {
            let attempt = t.begin(Some("alice"), A).await.expect("counted");
            assert!(attempt.shared, "counted in Redis");
        }
        let wait = two.begin(Some("alice"), A).await.expect_err("locked out");
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(
            one.begin(Some("alice"), A).await.is_err(),
            "on every instance"
        );
        assert!(
            one.begin(Some("alice"), B).await.is_ok(),
            "the owner elsewhere"
        );
        assert!(two.begin(Some("bob"), A).await.is_ok(), "another account");

        for _ in 0..4 {
            let _ = one.begin(Some("carol"), B).await.unwrap();
        }
        let attempt = two.begin(Some("carol"), B).await.unwrap();
        two.succeeded(attempt).await;
        for _ in 0..4 {
            let _ = one.begin(Some("carol"), B).await.expect("a fresh bucket");
        }
        assert!(two.begin(Some("carol"), B).await.is_ok());
        assert!(one.begin(Some("carol"), B).await.is_err());
    }

    #[tokio::test]
    async fn with_redis_unreachable_attempts_are_counted_here_and_still_locked_out() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = crate::config::RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        let redis = Arc::new(Redis::open(&crate::config::RedisConfig::new(url, "t")).unwrap());
        let t = LoginThrottle::new(ThrottlePolicy::default()).shared_through(redis);
        for _ in 0..5 {
            let attempt = t.begin(Some("alice"), A).await.expect("counted");
            assert!(!attempt.shared, "counted in memory");
        }
        assert!(t.begin(Some("alice"), A).await.is_err(), "never fails open");
        assert!(t.shared.as_ref().unwrap().down.load(Ordering::Relaxed));
    }
}
