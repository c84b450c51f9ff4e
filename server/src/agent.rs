//! `lookout agent`: samples this machine like the server does and pushes it to a Lookout
//! server with an ingest token. While the server is unreachable it keeps up to five
//! minutes of samples and sends them when the server is back.

use crate::{
    config::name_part,
    live::{ingest::MAX_SAMPLES, sampler::Sampler},
};
use anyhow::{bail, Context};
use serde_json::json;
use std::{
    collections::{BTreeMap, VecDeque},
    path::PathBuf,
    time::Duration,
};

#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The Lookout server, e.g. https://lookout.example.com
    #[arg(long, env = "LOOKOUT_SERVER")]
    pub server: String,
    /// A file holding an ingest token (`lookout token create NAME --scope ingest`).
    #[arg(long, env = "LOOKOUT_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// The name this machine appears under (default: its host name).
    #[arg(long, env = "LOOKOUT_HOST_NAME")]
    pub host_name: Option<String>,
    /// How often to sample and push.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// How much to keep while the server is unreachable (older samples are dropped).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub buffer: Duration,
}

/// Samples waiting to be sent: one entry per tick, oldest first, never older than `keep`.
#[derive(Debug, Default)]
pub struct Backlog {
    ticks: VecDeque<(i64, BTreeMap<String, f64>)>,
}

impl Backlog {
    pub fn push(&mut self, ts: i64, values: BTreeMap<String, f64>, keep: Duration) {
        self.ticks.push_back((ts, values));
        let oldest = ts - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        while self.ticks.front().is_some_and(|(t, _)| *t < oldest) {
            self.ticks.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    /// The oldest ticks that fit in one batch: (how many ticks, the samples).
    pub fn next_batch(&self) -> (usize, Vec<serde_json::Value>) {
        let mut samples = Vec::new();
        let mut ticks = 0;
        for (ts, values) in &self.ticks {
            if ticks > 0 && samples.len() + values.len() > MAX_SAMPLES {
                break;
            }
            samples.extend(
                values
                    .iter()
                    .map(|(s, v)| json!({ "series": s, "ts": ts, "value": v })),
            );
            ticks += 1;
        }
        (ticks, samples)
    }

    pub fn sent(&mut self, ticks: usize) {
        self.ticks.drain(..ticks.min(self.ticks.len()));
    }
}

enum Sent {
    /// Taken; the server may have refused some samples (too old, say) and says how many.
    Ok { refused: u64 },
    /// Try again later (server unreachable or failing).
    Retry(String),
    /// Never going to work (bad token): stop.
    Fatal(String),
    /// The server refused this batch's content: drop it and go on.
    Refused(String),
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    host: &str,
    samples: Vec<serde_json::Value>,
) -> Sent {
    let res = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "host": host, "samples": samples }))
        .send()
        .await;
    match res {
        Err(e) => Sent::Retry(e.to_string()),
        Ok(res) if res.status().is_success() => {
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            Sent::Ok {
                refused: body["refused"].as_u64().unwrap_or(0),
            }
        }
        Ok(res) => {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            match status.as_u16() {
                401 | 403 => Sent::Fatal(format!("{status}: {body}")),
                400 | 413 | 422 => Sent::Refused(format!("{status}: {body}")),
                _ => Sent::Retry(format!("{status}: {body}")),
            }
        }
    }
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("cannot read the token file {}", args.token_file.display()))?;
    let token = token.trim().to_string();
    if crate::access::tokens::ApiToken::parse(&token).is_none() {
        bail!(
            "{} does not hold a Lookout token (lk_…)",
            args.token_file.display()
        );
    }
    let host = match args.host_name {
        Some(name) if app::live::is_valid_name(&name) => name,
        Some(name) => bail!("--host-name must match [a-z0-9._-]{{1,64}}, not {name:?}"),
        None => name_part(&sysinfo::System::host_name().unwrap_or_else(|| "localhost".into())),
    };
    let url = format!("{}/api/v1/ingest", args.server.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    tracing::info!(%host, server = %args.server, "agent started");

    let mut sampler = Some(Sampler::new());
    let mut backlog = Backlog::default();
    let mut tick = tokio::time::interval(args.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut failures: u32 = 0;
    let mut next_try = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tick.tick() => {}
        }
        let Some(mut s) = sampler.take() else {
            bail!("sampler lost")
        };
        let (s, values) = tokio::task::spawn_blocking(move || {
            let values = s.sample();
            (s, values)
        })
        .await?;
        sampler = Some(s);
        // Stamped with its tick: regular timestamps store in a bit each.
        let ts = crate::store::tick_ms(args.interval);
        backlog.push(ts, values, args.buffer);

        while !backlog.is_empty() && tokio::time::Instant::now() >= next_try {
            let (ticks, samples) = backlog.next_batch();
            match send(&client, &url, &token, &host, samples).await {
                Sent::Ok { refused } => {
                    if refused > 0 {
                        tracing::warn!(
                            refused,
                            "the server refused samples of the backlog (outside its clock window); \
                             the rest was taken"
                        );
                    }
                    if failures > 0 {
                        tracing::info!(
                            backlog = backlog.len(),
                            "server reachable again; sending the backlog"
                        );
                    }
                    failures = 0;
                    backlog.sent(ticks);
                }
                Sent::Refused(why) => {
                    tracing::warn!(%why, "server refused a batch; dropping it");
                    backlog.sent(ticks);
                }
                Sent::Fatal(why) => bail!("the server does not accept this token: {why}"),
                Sent::Retry(why) => {
                    failures += 1;
                    let wait = Duration::from_millis(500 * 2u64.pow(failures.min(6)))
                        .min(Duration::from_secs(30));
                    tracing::warn!(%why, retry_in = ?wait, backlog = backlog.len(), "cannot reach the server");
                    next_try = tokio::time::Instant::now() + wait;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> BTreeMap<String, f64> {
        (0..n).map(|i| (format!("s{i}"), i as f64)).collect()
    }

    #[test]
    fn the_backlog_keeps_only_the_buffer_span() {
        let mut b = Backlog::default();
        for ts in 0..10 {
            b.push(ts * 1000, values(1), Duration::from_secs(5));
        }
        assert_eq!(b.len(), 6); // 4 s … 9 s
    }

    #[test]
    fn batches_stay_under_the_server_limit_and_are_consumed_in_order() {
        let mut b = Backlog::default();
        for ts in 0..300 {
            b.push(ts, values(40), Duration::from_secs(3600));
        }
        let (ticks, samples) = b.next_batch();
        assert_eq!(ticks, 250);
        assert_eq!(samples.len(), 10_000);
        b.sent(ticks);
        assert_eq!(b.next_batch().0, 50);
    }
}
