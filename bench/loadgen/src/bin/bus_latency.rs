#![forbid(unsafe_code)]
//! Publish → receive latency across two Lookout instances that share a Redis
//! (`--redis-url`): pushes numbered batches to instance A's ingest at a steady rate and
//! times each one's arrival on a dashboard socket held on A (the same-instance floor) and on
//! one held on B (through the Redis bus), in the same run. Also reads the CPU time of A, B
//! and Redis from /proc, less what each spends idle, per message. Loopback only; stops by
//! itself after `--messages`.

#[path = "../procfs.rs"]
mod procfs;

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

#[derive(Parser)]
struct Args {
    /// Instance A: the batches are pushed here, and the same-instance socket is held here.
    #[arg(long)]
    near: SocketAddr,
    /// Instance B: the cross-instance socket is held here.
    #[arg(long)]
    far: SocketAddr,
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, env = "LOOKOUT_ADMIN_PASSWORD")]
    password: String,
    /// An ingest token that may write `--host`.
    #[arg(long, env = "LOOKOUT_BENCH_TOKEN")]
    token: String,
    #[arg(long, default_value = "bench-1")]
    host: String,
    /// Batches to push.
    #[arg(long, default_value_t = 2000)]
    messages: u64,
    /// Batches per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Series per batch (one tick each).
    #[arg(long, default_value_t = 10)]
    series: usize,
    /// The table's first column.
    #[arg(long, default_value = "A + B + Redis")]
    label: String,
    /// Process ids of A, B and Redis, for their CPU time.
    #[arg(long, value_delimiter = ',')]
    pids: Vec<u32>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn cpu_of(pids: &[u32]) -> anyhow::Result<Vec<f64>> {
    pids.iter().map(|&p| procfs::cpu_seconds(p)).collect()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn sign_in(addr: SocketAddr, args: &Args) -> anyhow::Result<String> {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("http://{addr}/api/fn/login"))
        .form(&[("username", &args.username), ("password", &args.password)])
        .send()
        .await?;
    res.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .with_context(|| format!("sign-in on {addr} failed: {}", res.status()))
}

/// A dashboard socket subscribed to `host` (which must exist).
async fn subscribed(addr: SocketAddr, cookie: &str, host: &str) -> anyhow::Result<Socket> {
    let mut req = format!("ws://{addr}/ws").into_client_request()?;
    req.headers_mut().insert("cookie", cookie.parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let subscribe = serde_json::json!({ "type": "subscribe", "hosts": [host] }).to_string();
    ws.send(Message::text(subscribe.clone())).await?;
    loop {
        if Instant::now() > deadline {
            bail!("no snapshot of {host} from {addr} within 10 s");
        }
        let frame = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
        match frame {
            Ok(Some(Ok(Message::Text(text)))) if text.starts_with(r#"{"type":"snapshot""#) => {
                return Ok(ws)
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => bail!("{addr} closed the socket"),
            // The host may reach B a moment later: ask again.
            Err(_) => ws.send(Message::text(subscribe.clone())).await?,
        }
    }
}

/// When each batch was sent, in ns from `t0`, by its number.
struct Sent {
    t0: Instant,
    at: Vec<AtomicU64>,
}

/// Reads a socket until `stop`, recording each numbered batch's latency in µs.
async fn receive(
    mut ws: Socket,
    sent: Arc<Sent>,
    host: String,
    latency: Arc<Mutex<Histogram<u64>>>,
    received: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    while let Some(frame) = ws.next().await {
        let Message::Text(text) = frame? else {
            continue;
        };
        if !text.starts_with(r#"{"type":"samples""#) {
            continue;
        }
        let now = sent.t0.elapsed().as_nanos() as u64;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        if v["host"] != host.as_str() {
            continue;
        }
        let Some(n) = v["values"]["s0"].as_f64() else {
            continue;
        };
        let Some(at) = sent.at.get(n as usize) else {
            continue;
        };
        let at = at.load(Ordering::Acquire);
        if at == 0 {
            continue;
        }
        received.fetch_add(1, Ordering::Relaxed);
        latency
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .saturating_record(now.saturating_sub(at) / 1000);
    }
    Ok(())
}

fn batch(host: &str, n: u64, series: usize) -> String {
    let ts = now_ms();
    let samples: Vec<serde_json::Value> = (0..series)
        .map(|s| serde_json::json!({ "series": format!("s{s}"), "ts": ts, "value": n }))
        .collect();
    serde_json::json!({ "host": host, "samples": samples }).to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.near.ip().is_loopback() || !args.far.ip().is_loopback() {
        bail!("load tests target loopback addresses only");
    }
    if args.pids.len() != 3 {
        bail!("--pids takes three process ids: A,B,REDIS");
    }
    if args.series == 0 || args.rate == 0 {
        bail!("--series and --rate must be at least 1");
    }
    let http = reqwest::Client::new();
    let ingest = format!("http://{}/api/v1/ingest", args.near);
    let push = |body: String| {
        http.post(&ingest)
            .bearer_auth(&args.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // The host exists on both before the sockets subscribe.
    let res = push(batch(&args.host, u64::MAX, args.series)).await?;
    if !res.status().is_success() {
        bail!("ingest refused: {} {}", res.status(), res.text().await?);
    }
    let near = subscribed(args.near, &sign_in(args.near, &args).await?, &args.host).await?;
    let far = subscribed(args.far, &sign_in(args.far, &args).await?, &args.host).await?;

    let sent = Arc::new(Sent {
        t0: Instant::now(),
        at: (0..args.messages).map(|_| AtomicU64::new(0)).collect(),
    });
    let mut readers = Vec::new();
    let mut results = Vec::new();
    for ws in [near, far] {
        let latency = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
            1, 60_000_000, 3,
        )?));
        let received = Arc::new(AtomicU64::new(0));
        readers.push(tokio::spawn(receive(
            ws,
            sent.clone(),
            args.host.clone(),
            latency.clone(),
            received.clone(),
        )));
        results.push((latency, received));
    }

    // What each process spends with nothing to do, to take off its share of the run.
    let idle_for = Duration::from_secs(3);
    let idle0 = cpu_of(&args.pids)?;
    tokio::time::sleep(idle_for).await;
    let idle1 = cpu_of(&args.pids)?;
    let idle_rate: Vec<f64> = idle0
        .iter()
        .zip(&idle1)
        .map(|(a, b)| (b - a) / idle_for.as_secs_f64())
        .collect();

    let cpu0 = cpu_of(&args.pids)?;
    let started = Instant::now();
    let every = Duration::from_secs_f64(1.0 / args.rate as f64);
    for n in 0..args.messages {
        let due = started + every * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let body = batch(&args.host, n, args.series);
        sent.at[n as usize].store(sent.t0.elapsed().as_nanos() as u64, Ordering::Release);
        let res = push(body).await?;
        if !res.status().is_success() {
            bail!("ingest refused batch {n}: {}", res.status());
        }
    }
    let pushing = started.elapsed();
    // Stragglers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu1 = cpu_of(&args.pids)?;
    for r in &readers {
        r.abort();
    }
    let per_message: Vec<f64> = (0..args.pids.len())
        .map(|i| {
            let busy = (cpu1[i] - cpu0[i]) - idle_rate[i] * elapsed;
            busy.max(0.0) * 1e6 / args.messages as f64
        })
        .collect();
    let row = |(latency, received): &(Arc<Mutex<Histogram<u64>>>, Arc<AtomicU64>)| {
        let h = latency.lock().map(|h| h.clone()).ok();
        let q = |p: f64| h.as_ref().map_or(0, |h| h.value_at_quantile(p));
        (q(0.5), q(0.99), received.load(Ordering::Relaxed))
    };
    let (n50, n99, n_got) = row(&results[0]);
    let (f50, f99, f_got) = row(&results[1]);
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:+.2} | {} | {} | {:.1} µs | {:.1} µs | {:.1} µs |",
        args.label,
        args.rate,
        args.series,
        args.messages,
        ms(n50),
        ms(n99),
        ms(f50),
        ms(f99),
        ms(f50) - ms(n50),
        args.messages - n_got.min(args.messages),
        args.messages - f_got.min(args.messages),
        per_message[0],
        per_message[1],
        per_message[2],
    );
    if pushing.as_secs_f64() > args.messages as f64 / args.rate as f64 * 1.1 {
        eprintln!(
            "note: pushing took {:.1} s, more than the schedule's {:.1} s: the rate was not held",
            pushing.as_secs_f64(),
            args.messages as f64 / args.rate as f64
        );
    }
    Ok(())
}
