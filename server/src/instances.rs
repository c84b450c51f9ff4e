//! What several instances of Lookout share besides the database: one Redis, reached
//! through [`Redis`], which the live bus (`live::bus`) and the sign-in throttle
//! (`auth::throttle`) use. Nothing here waits on Redis for long: every call has a deadline,
//! and a Redis that is down makes each user fall back to what one instance can do alone.

use crate::config::RedisConfig;
use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use std::time::Duration;

/// How long a command, a connection attempt or a ping may take before Redis counts as
/// unreachable for that call.
pub const DEADLINE: Duration = Duration::from_secs(1);

/// A handle on the shared Redis: a multiplexed connection for commands (reconnecting by
/// itself) and the means to open a subscriber connection.
pub struct Redis {
    client: redis::Client,
    commands: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client's connection info holds the password.
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Prepares the connection without waiting for it: an instance starts and serves its
    /// own sockets while Redis is down, and connects when Redis is back.
    pub fn open(config: &RedisConfig) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| anyhow::anyhow!("invalid --redis-url: {:?}", e.kind()))?;
        let commands = ConnectionManager::new_lazy_with_config(
            client.clone(),
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(DEADLINE))
                .set_response_timeout(Some(DEADLINE))
                // A failed command fails fast; the next one tries to connect again.
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200)),
        )
        .context("cannot set up the Redis connection")?;
        Ok(Self {
            client,
            commands,
            prefix: config.prefix.clone(),
        })
    }

    /// `PREFIX:part`: every key and channel of this deployment.
    pub fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.prefix)
    }

    /// The command connection (cheap to clone; all clones share one socket).
    pub fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// Whether Redis answers a `PING` within [`DEADLINE`].
    pub async fn ping(&self) -> bool {
        let mut conn = self.commands();
        let ping = redis::cmd("PING");
        let pong = ping.query_async::<String>(&mut conn);
        matches!(tokio::time::timeout(DEADLINE, pong).await, Ok(Ok(_)))
    }

    /// A new connection in subscriber mode, within [`DEADLINE`].
    pub async fn subscriber(&self) -> redis::RedisResult<PubSub> {
        match tokio::time::timeout(DEADLINE, self.client.get_async_pubsub()).await {
            Ok(result) => result,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "no answer from Redis within the deadline",
            ))),
        }
    }
}

/// The Redis of `LOOKOUT_TEST_REDIS` under a prefix of its own, or `None` (and a line that
/// says why the test is skipped) when it is not set.
#[cfg(test)]
pub fn test_redis() -> Option<std::sync::Arc<Redis>> {
    let Some(url) = std::env::var("LOOKOUT_TEST_REDIS")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: set LOOKOUT_TEST_REDIS=redis://127.0.0.1:6379 to run");
        return None;
    };
    let url = crate::config::RedisUrl::parse(&url).expect("LOOKOUT_TEST_REDIS is a redis:// URL");
    let prefix = format!("lookout-test-{:016x}", rand::random::<u64>());
    let config = RedisConfig::new(url, prefix);
    Some(std::sync::Arc::new(
        Redis::open(&config).expect("a Redis client"),
    ))
}
