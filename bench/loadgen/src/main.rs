#![forbid(unsafe_code)]
//! Opens N authenticated dashboard sockets to a server on loopback and measures what a
//! dashboard would see: messages delivered per second, publish → receive latency (from the
//! `ts` inside each `samples` payload), and the server's CPU and resident memory. Stops by
//! itself after `--seconds`.
//!
//! Two servers speak to it: Lookout (`--mode lookout`: `POST /api/fn/login`, then `/ws`,
//! subscribing to every host like the dashboard page) and the Flask-SocketIO peer in
//! `bench/peers/flask_socketio` (`--mode socketio`: `POST /login`, then Engine.IO v4 over a
//! WebSocket: `0{…}` open, `40` connect, `42["samples",{…}]` events, `2` ping → `3` pong).

mod procfs;

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

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Mode {
    /// Lookout's own `/ws` protocol.
    Lookout,
    /// Socket.IO 5 (Engine.IO 4) over a WebSocket, as Flask-SocketIO serves it.
    Socketio,
}

#[derive(Parser)]
struct Args {
    /// Which protocol the server speaks.
    #[arg(long, value_enum, default_value_t = Mode::Lookout)]
    mode: Mode,
    /// The server's address; loopback only.
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
    /// Give up (and say how many opened) if not every socket is open by then.
    #[arg(long, default_value_t = 120)]
    open_timeout: u64,
    /// The name in the table's first column (default: the server's name from `--mode`).
    #[arg(long)]
    label: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// (user CPU seconds, system CPU seconds, resident bytes) of a process, from /proc.
fn proc_times(pid: u32) -> anyhow::Result<(f64, f64, u64)> {
    let (user, system) = procfs::cpu_times(pid)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")?;
    Ok((user, system, rss_kb * 1024))
}

/// The publish time inside a `samples` payload, in either server's framing.
fn stamp(text: &str) -> Option<i64> {
    let i = text.find(r#""ts":"#)?;
    text[i + 5..].split([',', '}']).next()?.parse().ok()
}

struct Shared {
    delivered: AtomicU64,
    bytes: AtomicU64,
    measuring: std::sync::atomic::AtomicBool,
    latency: Mutex<Histogram<u64>>,
    open: AtomicU64,
    lost: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    /// Records one `samples` payload that arrived now, if the window is open; outside it,
    /// folds the socket's own histogram into the shared one.
    fn record(&self, text: &str, local: &mut Histogram<u64>) -> anyhow::Result<()> {
        if self.measuring.load(Ordering::Relaxed) {
            if let Some(ts) = stamp(text) {
                local.saturating_record((now_ms() - ts).max(1) as u64);
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            }
        } else if !local.is_empty() {
            self.fold(local)?;
        }
        Ok(())
    }

    fn fold(&self, local: &mut Histogram<u64>) -> anyhow::Result<()> {
        self.latency
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .add(&*local)?;
        local.reset();
        Ok(())
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: String, cookie: String) -> anyhow::Result<Socket> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("cookie", cookie.parse()?);
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

/// One Lookout dashboard: waits for `hello`, subscribes to every host, records samples.
async fn lookout_dashboard(mut ws: Socket, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut local = Histogram::<u64>::new_with_bounds(1, 60_000, 3)?;
    let mut subscribed = false;
    while let Some(msg) = ws.next().await {
        let Message::Text(text) = msg? else { continue };
        // Cheap checks first: most frames are samples.
        if text.starts_with(r#"{"type":"samples""#) {
            shared.record(&text, &mut local)?;
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
    shared.fold(&mut local)
}

/// One Socket.IO client: Engine.IO open, namespace connect, then events and pings.
async fn socketio_dashboard(mut ws: Socket, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut local = Histogram::<u64>::new_with_bounds(1, 60_000, 3)?;
    while let Some(msg) = ws.next().await {
        let Message::Text(text) = msg? else { continue };
        if text.starts_with(r#"42["samples""#) {
            shared.record(&text, &mut local)?;
        } else if text.starts_with('0') {
            ws.send(Message::text("40")).await?;
        } else if text.starts_with("40") {
            shared.open.fetch_add(1, Ordering::Relaxed);
        } else if text.as_str() == "2" {
            ws.send(Message::text("3")).await?;
        } else if text.starts_with("44") || text.starts_with('1') {
            bail!("refused or closed by the server: {text}");
        }
    }
    shared.fold(&mut local)
}

async fn dashboard(mode: Mode, url: String, cookie: String, shared: Arc<Shared>) {
    let run = async {
        let ws = connect(url, cookie).await?;
        match mode {
            Mode::Lookout => lookout_dashboard(ws, shared.clone()).await,
            Mode::Socketio => socketio_dashboard(ws, shared.clone()).await,
        }
    };
    // Every socket lives until the run aborts it: ending early, cleanly or not, is a loss.
    let result = run.await;
    shared.lost.fetch_add(1, Ordering::Relaxed);
    if let (Err(e), Ok(mut first)) = (result, shared.first_error.lock()) {
        first.get_or_insert_with(|| e.to_string());
    }
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
    let (login, url) = match args.mode {
        Mode::Lookout => ("/api/fn/login", format!("ws://{}/ws", args.addr)),
        Mode::Socketio => (
            "/login",
            format!("ws://{}/socket.io/?EIO=4&transport=websocket", args.addr),
        ),
    };
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("http://{}{login}", args.addr))
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

    let (_, _, rss_before) = proc_times(args.server_pid)?;
    let shared = Arc::new(Shared {
        delivered: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        measuring: false.into(),
        latency: Mutex::new(Histogram::new_with_bounds(1, 60_000, 3)?),
        open: AtomicU64::new(0),
        lost: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        tasks.push(tokio::spawn(dashboard(
            args.mode,
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
        if started.elapsed() > Duration::from_secs(args.open_timeout) {
            bail!(
                "only {} of {} sockets open after {} s ({} ended; first error: {})",
                shared.open.load(Ordering::Relaxed),
                args.connections,
                args.open_timeout,
                shared.lost.load(Ordering::Relaxed),
                shared
                    .first_error
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .as_deref()
                    .unwrap_or("none"),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ramp = started.elapsed();
    // Let snapshots drain, then measure a steady window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, _, rss_idle) = proc_times(args.server_pid)?;
    let (user0, system0, _) = proc_times(args.server_pid)?;
    shared.measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let (user1, system1, rss_end) = proc_times(args.server_pid)?;
    let (cpu, user) = (user1 + system1 - user0 - system0, user1 - user0);
    // One more tick so every socket folds its histogram into the shared one.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let delivered = shared.delivered.load(Ordering::Relaxed);
    let h = shared
        .latency
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let per_conn = rss_idle.saturating_sub(rss_before) / args.connections as u64;
    let server = args.label.as_deref().unwrap_or(match args.mode {
        Mode::Lookout => "Lookout",
        Mode::Socketio => "Flask-SocketIO",
    });
    // The server's own cost, beside the latencies: CPU time over the messages delivered in
    // the same window; user + system (the kernel's share of each send is in it), then user
    // alone (the part a build setting or a code change can move).
    let per_message = |seconds: f64| seconds * 1e6 / delivered.max(1) as f64;
    println!(
        "| {server} | {} | {:.0} | {} | {} | {} | {:.0} % | {:.1} µs | {:.1} µs | {:.1} MiB | {:.1} KiB | {} B | {} | {:.1} s |",
        args.connections,
        delivered as f64 / elapsed,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max(),
        cpu / elapsed * 100.0,
        per_message(cpu),
        per_message(user),
        rss_end as f64 / 1048576.0,
        per_conn as f64 / 1024.0,
        shared.bytes.load(Ordering::Relaxed) / delivered.max(1),
        shared.lost.load(Ordering::Relaxed),
        ramp.as_secs_f64(),
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn the_publish_time_is_read_from_either_framing() {
        let lookout = r#"{"type":"samples","host":"web-1","ts":1764000000123,"values":{"x":1.0}}"#;
        let socketio =
            r#"42["samples",{"type":"samples","host":"web-1","ts":1764000000456,"values":{}}]"#;
        assert_eq!(stamp(lookout), Some(1_764_000_000_123));
        assert_eq!(stamp(socketio), Some(1_764_000_000_456));
        assert_eq!(stamp(r#"{"type":"samples","ts":}"#), None);
        assert_eq!(stamp(r#"{"type":"hello"}"#), None);
    }
}
