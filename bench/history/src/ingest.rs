//! A fleet at a fixed offered rate: `hosts` hosts, each posting its `series` samples once
//! a second to `POST /api/v1/ingest`, spread evenly over the second (host i at i/hosts s
//! past each second), over `lanes` keep-alive connections. Measures, after a warm-up:
//! accepted samples per second, the server's CPU (per sample) and RSS, and how far the
//! senders fell behind the schedule. Optionally then reads one series back through the
//! history API and counts its points.

use crate::{
    mix::{HostGen, Rng, Style},
    util::{cpu, mib, ms, now_ms, quantile, rss, thousands},
};
use std::{
    fmt::Write as _,
    net::SocketAddr,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    addr: SocketAddr,
    /// An ingest token bound to `*`.
    #[arg(long)]
    token: String,
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    #[arg(long, default_value_t = 200)]
    series: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Concurrent senders (one keep-alive connection each).
    #[arg(long, default_value_t = 16)]
    lanes: usize,
    #[arg(long)]
    server_pid: u32,
    /// Print the server's RSS this often (seconds; 0: only at the ends).
    #[arg(long, default_value_t = 0)]
    rss_every: u64,
    /// A `read` token: after the run, count the points of `cpu.total` of a few hosts.
    #[arg(long)]
    read_token: Option<String>,
    #[arg(long, default_value = "run")]
    label: String,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    /// The most a send started after its scheduled time, in ms.
    max_lag_ms: AtomicI64,
}

struct Host {
    name: String,
    gen: HostGen,
    prefix: String,
    series: Vec<String>,
}

impl Host {
    fn body(&mut self, ts: i64, values: &mut Vec<f64>) -> String {
        self.gen.tick(1.0, values);
        let mut s = String::with_capacity(self.prefix.len() + self.series.len() * 56);
        s.push_str(&self.prefix);
        for (i, (name, v)) in self.series.iter().zip(values.iter()).enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{{\"series\":\"{name}\",\"ts\":{ts},\"value\":{v}}}");
        }
        s.push_str("]}");
        s
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    crate::util::loopback(&args.addr)?;
    let pid = args.server_pid.to_string();
    let url = format!("http://{}/api/v1/ingest", args.addr);
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let total_ticks = args.warmup + args.seconds;
    // Tick k of host i is due at t0 + k s + i/hosts s.
    let t0 = Instant::now() + Duration::from_millis(200);
    let t0_ms = now_ms() + 200;
    let mut tasks = Vec::new();
    for lane in 0..args.lanes {
        let mut hosts: Vec<(usize, Host)> = (lane..args.hosts)
            .step_by(args.lanes)
            .map(|i| {
                let gen = HostGen::new(i, args.series, Style::Decimal);
                let name = format!("h-{i:04}");
                (
                    i,
                    Host {
                        prefix: format!("{{\"host\":\"{name}\",\"samples\":["),
                        series: gen.names().to_vec(),
                        name,
                        gen,
                    },
                )
            })
            .collect();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let (url, token, counters, latencies) = (
            url.clone(),
            args.token.clone(),
            counters.clone(),
            latencies.clone(),
        );
        let n_hosts = args.hosts as u64;
        tasks.push(tokio::spawn(async move {
            let mut jitter = Rng::new(lane as u64 + 100);
            let mut values = Vec::new();
            let mut local = Vec::new();
            for k in 0..total_ticks {
                for (i, host) in hosts.iter_mut() {
                    let offset_ms = k * 1000 + *i as u64 * 1000 / n_hosts;
                    let due = t0 + Duration::from_millis(offset_ms);
                    tokio::time::sleep_until(due.into()).await;
                    let lag = Instant::now().saturating_duration_since(due).as_millis() as i64;
                    counters.max_lag_ms.fetch_max(lag, Ordering::Relaxed);
                    let ts = t0_ms + offset_ms as i64 + jitter.range(-3, 3);
                    let body = host.body(ts, &mut values);
                    let at = Instant::now();
                    let res = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    let ok = match res {
                        Ok(r) if r.status().as_u16() == 202 => {
                            let v: serde_json::Value = r.json().await.unwrap_or_default();
                            counters
                                .accepted
                                .fetch_add(v["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
                            counters
                                .refused
                                .fetch_add(v["refused"].as_u64().unwrap_or(0), Ordering::Relaxed);
                            true
                        }
                        Ok(r) => {
                            if counters.failed.load(Ordering::Relaxed) == 0 {
                                eprintln!(
                                    "{}: {} {}",
                                    host.name,
                                    r.status(),
                                    r.text().await.unwrap_or_default()
                                );
                            }
                            false
                        }
                        Err(e) => {
                            if counters.failed.load(Ordering::Relaxed) == 0 {
                                eprintln!("{}: {e}", host.name);
                            }
                            false
                        }
                    };
                    local.push(at.elapsed());
                    counters.requests.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(local);
            }
        }));
    }

    let rss_start = rss(&pid)?;
    println!(
        "{}: {} hosts × {} series once a second = {} samples/s offered; {} s warm-up, {} s measured; {} lanes; server RSS at start {}",
        args.label,
        args.hosts,
        args.series,
        thousands((args.hosts * args.series) as u64),
        args.warmup,
        args.seconds,
        args.lanes,
        mib(rss_start)
    );
    tokio::time::sleep_until((t0 + Duration::from_secs(args.warmup)).into()).await;
    let (u0, s0) = cpu(&pid)?;
    let acc0 = counters.accepted.load(Ordering::Relaxed);
    let req0 = counters.requests.load(Ordering::Relaxed);
    let at = Instant::now();
    let end = t0 + Duration::from_secs(total_ticks);
    if args.rss_every > 0 {
        let mut next = Instant::now();
        while next < end {
            next += Duration::from_secs(args.rss_every);
            tokio::time::sleep_until(next.min(end).into()).await;
            println!(
                "  t = {:>4} s: server RSS {}, accepted so far {}",
                (Instant::now() - t0).as_secs(),
                mib(rss(&pid)?),
                thousands(counters.accepted.load(Ordering::Relaxed))
            );
        }
    } else {
        tokio::time::sleep_until(end.into()).await;
    }
    let (u1, s1) = cpu(&pid)?;
    let wall = at.elapsed().as_secs_f64();
    let acc1 = counters.accepted.load(Ordering::Relaxed);
    let req1 = counters.requests.load(Ordering::Relaxed);
    let rss_end = rss(&pid)?;
    for t in tasks {
        t.await?;
    }
    let done = Instant::now().saturating_duration_since(end);
    let samples = (acc1 - acc0) as f64;
    let cpu_s = (u1 - u0) + (s1 - s0);
    let mut lat = std::mem::take(&mut *latencies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    lat.sort();
    println!("| run | offered samples/s | accepted samples/s | requests/s | request p50 | request p99 | server CPU | server CPU per sample | of which user | server RSS at end | behind schedule (most) | refused | failed |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.0} | {} | {} | {:.0} % | {:.2} µs | {:.2} µs | {} | {} ms (last send {:.1} s after its tick) | {} | {} |",
        args.label,
        thousands((args.hosts * args.series) as u64),
        thousands((samples / wall) as u64),
        (req1 - req0) as f64 / wall,
        ms(quantile(&lat, 0.5)),
        ms(quantile(&lat, 0.99)),
        cpu_s / wall * 100.0,
        cpu_s * 1e6 / samples.max(1.0),
        (u1 - u0) * 1e6 / samples.max(1.0),
        mib(rss_end),
        counters.max_lag_ms.load(Ordering::Relaxed),
        done.as_secs_f64(),
        counters.refused.load(Ordering::Relaxed),
        counters.failed.load(Ordering::Relaxed),
    );
    if let Some(read) = args.read_token {
        // The writer flushes every second: give it two.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let client = reqwest::Client::new();
        let mut report = Vec::new();
        for i in [0, args.hosts / 2, args.hosts - 1] {
            let url = format!(
                "http://{}/api/v1/hosts/h-{i:04}/series/cpu.total?from={}&to={}",
                args.addr,
                t0_ms - 5_000,
                now_ms()
            );
            let res = client.get(url).bearer_auth(&read).send().await?;
            let status = res.status();
            let v: serde_json::Value = res.json().await.unwrap_or_default();
            report.push(format!(
                "h-{i:04}: {} points (tier {}, HTTP {status})",
                v["points"].as_array().map_or(0, Vec::len),
                v["tier"]
            ));
        }
        println!(
            "read back cpu.total over the run ({} ticks sent per host): {}",
            total_ticks,
            report.join("; ")
        );
    }
    Ok(())
}
