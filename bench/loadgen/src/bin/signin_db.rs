#![forbid(unsafe_code)]
//! Sign-in throughput and session reads against one Lookout, for comparing its databases
//! side by side: `--sign-ins` password sign-ins (each an argon2id check and a session row
//! written) by `--concurrency` clients at once, then `--reads` signed-in requests
//! (`/auth/verify`: the session read from the database, nothing else) the same way. Prints
//! one Markdown row per phase with the rate, latencies, and the CPU time the server and the
//! database server (every process named `postgres`, if any) spent per operation, read from
//! /proc. Loopback only; stops by itself.

#[path = "../procfs.rs"]
mod procfs;

use anyhow::{bail, Context};
use clap::Parser;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

#[derive(Parser)]
struct Args {
    /// The server, on loopback.
    #[arg(long)]
    addr: std::net::SocketAddr,
    /// Its process id, for its CPU time.
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value = "admin")]
    username: String,
    #[arg(long, env = "LOOKOUT_ADMIN_PASSWORD")]
    password: String,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 400)]
    sign_ins: u64,
    #[arg(long, default_value_t = 20_000)]
    reads: u64,
    /// The first column of the table.
    #[arg(long)]
    label: String,
}

/// CPU seconds (user + system) of a process; 0 for one that is gone.
fn cpu_of(pid: u32) -> f64 {
    procfs::cpu_seconds(pid).unwrap_or(0.0)
}

/// CPU seconds of every `postgres` process (the server and its backends).
fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_of)
        .sum()
}

struct Phase {
    done: u64,
    wall: Duration,
    latencies: Vec<Duration>,
    server_cpu: f64,
    database_cpu: f64,
}

/// Runs `total` operations, `concurrency` at a time; each must succeed.
async fn phase<F, Fut>(args: &Args, total: u64, op: F) -> anyhow::Result<Phase>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let (server0, db0) = (cpu_of(args.pid), postgres_cpu());
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (op, next, latencies) = (op.clone(), next.clone(), latencies.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                op().await?;
                latencies.lock().unwrap().push(t.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let wall = started.elapsed();
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    Ok(Phase {
        done: latencies.len() as u64,
        wall,
        latencies,
        server_cpu: cpu_of(args.pid) - server0,
        database_cpu: postgres_cpu() - db0,
    })
}

fn row(label: &str, what: &str, p: &Phase) {
    let at = |q: f64| {
        let i = ((p.latencies.len() as f64 * q) as usize).min(p.latencies.len() - 1);
        p.latencies[i].as_secs_f64() * 1e3
    };
    let per = |cpu: f64| cpu * 1e6 / p.done as f64;
    println!(
        "| {label} | {what} | {} | {:.0}/s | {:.2} ms | {:.2} ms | {:.0} µs | {:.0} µs |",
        p.done,
        p.done as f64 / p.wall.as_secs_f64(),
        at(0.5),
        at(0.99),
        per(p.server_cpu),
        per(p.database_cpu),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("loopback only");
    }
    let base = format!("http://{}", args.addr);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let form = [
        ("username", args.username.clone()),
        ("password", args.password.clone()),
    ];

    let sign_in = {
        let (client, url, form) = (client.clone(), format!("{base}/api/fn/login"), form.clone());
        move || {
            let req = client.post(url.clone()).form(&form);
            async move {
                let res = req.send().await?;
                if !res.status().is_success() && !res.status().is_redirection() {
                    bail!("sign-in: {}", res.status());
                }
                Ok(())
            }
        }
    };
    let signed_in = phase(&args, args.sign_ins, sign_in).await?;

    let res = client
        .post(format!("{base}/api/fn/login"))
        .form(&form)
        .send()
        .await?;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("lookout_session="))
        .and_then(|v| v.split(';').next())
        .context("a session cookie")?
        .to_string();
    let read = {
        let (client, url) = (client.clone(), format!("{base}/auth/verify"));
        move || {
            let req = client.get(url.clone()).header("cookie", cookie.clone());
            async move {
                let res = req.send().await?;
                if res.status() != reqwest::StatusCode::OK {
                    bail!("verify: {}", res.status());
                }
                Ok(())
            }
        }
    };
    let reads = phase(&args, args.reads, read).await?;
    row(&args.label, "sign-in", &signed_in);
    row(&args.label, "signed-in request", &reads);
    Ok(())
}
