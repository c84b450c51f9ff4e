//! Live data: this machine's sampler, the in-memory history, the fan-out hub and the
//! `/ws` sockets that carry it to signed-in browsers.

pub mod api;
pub mod history;
pub mod hub;
pub mod registry;
pub mod sampler;
pub mod socket;

use crate::{http::security::SecurityPolicy, store::unix_now};
use hub::Hub;
use registry::Sockets;
use sampler::Sampler;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// How the live stream behaves, from the configuration.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// How often this machine is sampled.
    pub sample_every: Duration,
    /// How much history each series keeps.
    pub retention: Duration,
    /// Frames a socket may fall behind before it is dropped as too slow.
    pub queue: usize,
    /// The name this machine's series are published under.
    pub host_name: String,
    /// How far an ingested sample's timestamp may be from the server's clock.
    pub max_skew: Duration,
}

impl LiveConfig {
    pub fn new(host_name: String) -> Self {
        Self {
            sample_every: Duration::from_secs(1),
            retention: Duration::from_secs(15 * 60),
            queue: 256,
            host_name,
            max_skew: Duration::from_secs(5 * 60),
        }
    }

    fn history_len(&self) -> usize {
        let every = self.sample_every.as_millis().max(1);
        usize::try_from(self.retention.as_millis() / every)
            .unwrap_or(usize::MAX)
            .clamp(1, 86_400)
    }
}

/// Everything the sockets share.
pub struct Live {
    pub hub: Hub,
    pub sockets: Arc<Sockets>,
    pub security: Arc<SecurityPolicy>,
    pub stop: CancellationToken,
    pub max_skew: Duration,
    session_max: Duration,
}

impl Live {
    pub fn new(
        config: &LiveConfig,
        security: Arc<SecurityPolicy>,
        session_max: Duration,
        stop: CancellationToken,
    ) -> Self {
        Self {
            hub: Hub::new(config.history_len(), config.queue),
            sockets: Arc::default(),
            security,
            stop,
            max_skew: config.max_skew,
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

    /// Samples this machine every `sample_every` and publishes it, until stopped.
    pub async fn sample_this_host(self: Arc<Self>, config: LiveConfig) {
        let mut sampler = Some(Sampler::new());
        let mut tick = tokio::time::interval(config.sample_every);
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
                    let ts = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                    self.hub.publish(
                        &config.host_name,
                        i64::try_from(ts).unwrap_or(i64::MAX),
                        values,
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "sampler failed; sampling stops");
                    return;
                }
            }
        }
    }
}
