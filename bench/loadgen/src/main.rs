#![forbid(unsafe_code)]
//! Opens N authenticated dashboard sockets to a Lookout on loopback, subscribes each to
//! every host, and measures what a dashboard would see: messages delivered per second,
//! publish → receive latency (from the `ts` inside each `samples` frame), and the
//! server's CPU and resident memory. Stops by itself after `--seconds`.

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

#[derive(Parser)]
struct Args {
    /// Lookout's address; loopback only.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: std::net::SocketAddr,
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, env = "LOOKOUT_ADMIN_PASSWORD")]
    password: String,
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// How long to measure once every socket is open.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The server's process id, for its CPU time and memory.
    #[arg(long)]
    server_pid: u32,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// (user + system CPU seconds, resident bytes) of a process, from /proc.
fn proc_usage(pid: u32) -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")?;
    Ok((ticks / 100.0, rss_kb * 1024))
}

struct Shared {
    delivered: AtomicU64,
    measuring: std::sync::atomic::AtomicBool,
    latency: Mutex<Histogram<u64>>,
    open: AtomicU64,
}

async fn dashboard(url: String, cookie: String, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("cookie", cookie.parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let mut local = Histogram::<u64>::new_with_bounds(1, 60_000, 3)?;
    let mut subscribed = false;
    while let Some(msg) = ws.next().await {
        let Message::Text(text) = msg? else { continue };
        // Cheap checks first: most frames are samples.
        if text.starts_with(r#"{"type":"samples""#) {
            if shared.measuring.load(Ordering::Relaxed) {
                let ts = text
                    .find(r#""ts":"#)
                    .and_then(|i| text[i + 5..].split(',').next()?.parse::<i64>().ok());
                if let Some(ts) = ts {
                    local.saturating_record((now_ms() - ts).max(1) as u64);
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
            } else if !local.is_empty() {
                shared
                    .latency
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .add(&local)?;
                local.reset();
            }
        } else if !subscribed && text.starts_with(r#"{"type":"hello""#) {
            let hello: serde_json::Value = serde_json::from_str(&text)?;
            let subscribe = serde_json::json!({ "type": "subscribe", "hosts": hello["hosts"] });
            ws.send(Message::text(subscribe.to_string())).await?;
            subscribed = true;
            shared.open.fetch_add(1, Ordering::Relaxed);
        } else if text.starts_with(r#"{"type":"bye""#) {
            break;
        }
    }
    shared
        .latency
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .add(&local)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("load tests target loopback addresses only");
    }
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    if (limit as usize) < args.connections + 100 {
        bail!(
            "open-files limit {limit} is too low for {} sockets",
            args.connections
        );
    }
    let base = format!("http://{}", args.addr);
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("{base}/api/fn/login"))
        .form(&[("username", &args.username), ("password", &args.password)])
        .send()
        .await?;
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .with_context(|| format!("sign-in failed: {}", res.status()))?;

    let (_, rss_before) = proc_usage(args.server_pid)?;
    let shared = Arc::new(Shared {
        delivered: AtomicU64::new(0),
        measuring: false.into(),
        latency: Mutex::new(Histogram::new_with_bounds(1, 60_000, 3)?),
        open: AtomicU64::new(0),
    });
    let url = format!("ws://{}/ws", args.addr);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        tasks.push(tokio::spawn(dashboard(
            url.clone(),
            cookie.clone(),
            shared.clone(),
        )));
        // Connect in waves so the accept queue is not flooded.
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    while (shared.open.load(Ordering::Relaxed) as usize) < args.connections {
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {} sockets opened in 120 s",
                shared.open.load(Ordering::Relaxed),
                args.connections
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ramp = started.elapsed();
    // Let snapshots drain, then measure a steady window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_idle, _) = (proc_usage(args.server_pid)?.1, ());
    let (cpu0, _) = proc_usage(args.server_pid)?;
    shared.measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let (cpu1, rss_end) = proc_usage(args.server_pid)?;
    // One more tick so every socket folds its histogram into the shared one.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let delivered = shared.delivered.load(Ordering::Relaxed);
    let h = shared
        .latency
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let per_conn = rss_idle.saturating_sub(rss_before) / args.connections as u64;
    println!(
        "| {} | {:.0} | {} | {} | {} | {:.0} % | {:.1} MiB | {:.1} KiB | {:.1} s |",
        args.connections,
        delivered as f64 / elapsed,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max(),
        (cpu1 - cpu0) / elapsed * 100.0,
        rss_end as f64 / 1048576.0,
        per_conn as f64 / 1024.0,
        ramp.as_secs_f64(),
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}
