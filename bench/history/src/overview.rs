//! The overview over a WebSocket: signs in, opens `/ws` with the session cookie,
//! subscribes to the overview, and measures the frames (bytes per tick, rows per tick)
//! and the server's CPU, first for a stretch with no socket open (the same ingest load,
//! so the difference is what serving the overview adds), then with `sockets` sockets.

use crate::util::{cpu_total, thousands};
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long)]
    password: String,
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 1)]
    sockets: usize,
}

#[derive(Default)]
struct Frames {
    /// (bytes, rows) of each non-full frame inside the window.
    ticks: Vec<(usize, usize)>,
    full: Vec<(usize, usize)>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    crate::util::loopback(&args.addr)?;
    let pid = args.server_pid.to_string();
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("http://{}/api/fn/login", args.addr))
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

    // No socket: the server's CPU for ingest and its own overview tick.
    let c0 = cpu_total(&pid)?;
    let at = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let idle_cpu = (cpu_total(&pid)? - c0) / at.elapsed().as_secs_f64();

    let frames = Arc::new(Mutex::new(Frames::default()));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..args.sockets {
        let mut req = format!("ws://{}/ws", args.addr).into_client_request()?;
        req.headers_mut().insert("cookie", cookie.parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
        let (frames, measuring) = (frames.clone(), measuring.clone());
        tasks.push(tokio::spawn(async move {
            let mut subscribed = false;
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                if !subscribed && text.starts_with(r#"{"type":"hello""#) {
                    let sub = r#"{"type":"subscribe","overview":true}"#;
                    if ws.send(Message::text(sub)).await.is_err() {
                        break;
                    }
                    subscribed = true;
                } else if text.starts_with(r#"{"type":"overview""#) {
                    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let rows = v["rows"].as_array().map_or(0, Vec::len);
                    let full = v["full"].as_bool().unwrap_or(false);
                    if let Ok(mut f) = frames.lock() {
                        if full {
                            f.full.push((text.len(), rows));
                        } else if measuring.load(Ordering::Relaxed) {
                            f.ticks.push((text.len(), rows));
                        }
                    }
                }
            }
        }));
    }
    // Let every socket get its full frame first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    measuring.store(true, Ordering::Relaxed);
    let c0 = cpu_total(&pid)?;
    let at = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let secs = at.elapsed().as_secs_f64();
    let busy_cpu = (cpu_total(&pid)? - c0) / secs;
    measuring.store(false, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    let f = frames.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let n = f.ticks.len().max(1);
    let per_socket_ticks = f.ticks.len() as f64 / args.sockets as f64;
    let mut sizes: Vec<usize> = f.ticks.iter().map(|t| t.0).collect();
    sizes.sort();
    let mean = sizes.iter().sum::<usize>() as f64 / n as f64;
    let rows = f.ticks.iter().map(|t| t.1).sum::<usize>() as f64 / n as f64;
    let (full_bytes, full_rows) = f.full.first().copied().unwrap_or_default();
    let ticks_per_s = per_socket_ticks / secs;
    println!("| sockets | ticks/s per socket | rows per tick | bytes per tick per socket (mean) | p50 | max | full frame (on subscribe) | server CPU, no socket | server CPU, sockets open | added by the sockets, per tick |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.2} | {:.0} | {} B | {} B | {} B | {} B ({} rows) | {:.1} % ({:.1} ms per s) | {:.1} % ({:.1} ms per s) | {:.2} ms |",
        args.sockets,
        ticks_per_s,
        rows,
        thousands(mean as u64),
        thousands(sizes.get(sizes.len() / 2).copied().unwrap_or(0) as u64),
        thousands(sizes.last().copied().unwrap_or(0) as u64),
        thousands(full_bytes as u64),
        full_rows,
        idle_cpu * 100.0,
        idle_cpu * 1e3,
        busy_cpu * 100.0,
        busy_cpu * 1e3,
        (busy_cpu - idle_cpu) * 1e3 / ticks_per_s.max(1e-9)
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct TickArgs {
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    #[arg(long, default_value_t = 20)]
    series: usize,
    #[arg(long, default_value_t = 60)]
    ticks: usize,
}

/// The overview's own work per tick, in-process: every host publishes one tick of its
/// series into a `Hub`, then `Overview::tick` brings the changed rows up to date and
/// encodes the frame, as the server's overview task does once a second. Timed alone, on
/// one thread, so wall time is CPU time.
pub async fn tick(args: TickArgs) -> anyhow::Result<()> {
    use crate::mix::{HostGen, Style};
    use lookout::live::{hub::Hub, overview::Overview};
    use std::collections::BTreeMap;
    let hub = Hub::new(900, 1024, 10_000, Arc::default());
    let overview = Overview::new(app::live::StatusThresholds {
        stale_after_ms: 10_000,
        offline_after_ms: 60_000,
    });
    let mut gens: Vec<HostGen> = (0..args.hosts)
        .map(|h| HostGen::new(h, args.series, Style::Decimal))
        .collect();
    let names: Vec<String> = (0..args.hosts).map(|h| format!("h-{h:04}")).collect();
    let start = crate::util::now_ms() - args.ticks as i64 * 1000;
    let mut values = Vec::new();
    let (mut publish, mut ticks, mut bytes) = (Vec::new(), Vec::new(), 0usize);
    for t in 0..args.ticks {
        let at = Instant::now();
        for (g, name) in gens.iter_mut().zip(&names) {
            g.tick(1.0, &mut values);
            let map: BTreeMap<String, f64> = g
                .names()
                .iter()
                .cloned()
                .zip(values.iter().copied())
                .collect();
            hub.publish(name, start + t as i64 * 1000, map);
        }
        publish.push(at.elapsed());
        let at = Instant::now();
        let frame = overview.tick(&hub, start + t as i64 * 1000 + 500);
        ticks.push(at.elapsed());
        bytes = frame.map_or(0, |(text, _)| text.len());
    }
    // The first ticks fill the traces; count the rest.
    let skip = (args.ticks / 6).max(1);
    let mut steady: Vec<Duration> = ticks[skip..].to_vec();
    steady.sort();
    let mut publish: Vec<Duration> = publish[skip..].to_vec();
    publish.sort();
    println!("| hosts | series per host | ticks | Overview::tick p50 | mean | max | frame | (publishing the tick into the hub, p50) |");
    println!("|---|---|---|---|---|---|---|---|");
    let mean = steady.iter().sum::<Duration>() / steady.len() as u32;
    println!(
        "| {} | {} | {} | {} | {} | {} | {} B | {} |",
        args.hosts,
        args.series,
        steady.len(),
        crate::util::ms(crate::util::quantile(&steady, 0.5)),
        crate::util::ms(mean),
        crate::util::ms(crate::util::quantile(&steady, 1.0)),
        thousands(bytes as u64),
        crate::util::ms(crate::util::quantile(&publish, 0.5)),
    );
    Ok(())
}
