//! Query latency for one series over 1 h, 24 h and 30 d: 30 days of history backfilled
//! through the library, then `History::query` in-process or the HTTP API of a server
//! started on the same file.

use crate::{
    mix::{jittered, HostGen, Rng, Style},
    util::{cpu_total, duration, ms, now_ms, quantile, thousands},
};
use anyhow::Context;
use lookout::{
    history::{History, HistoryConfig},
    stats::Stats,
    store::Db,
};
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

const RANGES: [(&str, i64); 3] = [
    ("1 h", 3_600_000),
    ("24 h", 86_400_000),
    ("30 d", 30 * 86_400_000),
];

#[derive(clap::Args)]
pub struct BackfillArgs {
    /// The database file (created; must not exist).
    #[arg(long)]
    db: PathBuf,
    #[arg(long, default_value_t = 2)]
    hosts: usize,
    #[arg(long, default_value_t = 20)]
    series: usize,
    #[arg(long, default_value = "30d", value_parser = duration)]
    span: Duration,
    /// Over this last stretch heads are sealed every `block_span`, as the server does;
    /// before it every hour (those raw blocks are past the raw retention and deleted).
    #[arg(long, default_value = "2d", value_parser = duration)]
    recent: Duration,
    #[arg(long, default_value = "300s", value_parser = duration)]
    block_span: Duration,
}

pub async fn backfill(args: BackfillArgs) -> anyhow::Result<()> {
    let db = Db::connect(&format!("sqlite://{}", args.db.display())).await?;
    let series: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM history_series")
        .fetch_one(db.pool())
        .await?;
    anyhow::ensure!(series == 0, "{} holds history already", args.db.display());
    let history = History::open(
        db.clone(),
        HistoryConfig::default(),
        Arc::new(Stats::default()),
    )
    .await?;
    let ticks = args.span.as_secs() as i64;
    let recent_from = ticks - args.recent.as_secs() as i64;
    let span_ticks = args.block_span.as_secs().max(1) as i64;
    let mut gens: Vec<HostGen> = (0..args.hosts)
        .map(|h| HostGen::new(h, args.series, Style::Decimal))
        .collect();
    let names: Vec<String> = (0..args.hosts).map(|h| format!("h-{h:04}")).collect();
    // Hosts get their row in `hosts` as ingest would give them, under the database's
    // first API token (the script creates an ingest token first), so that a server started
    // on the file shows them as hosts that stopped reporting.
    let token: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM api_tokens")
        .fetch_one(db.pool())
        .await?;
    let token = token.context("create an ingest token on the database first")?;
    for name in &names {
        db.record_host(name, token, None).await?;
    }
    let mut jitter = Rng::new(11);
    // Ends a few seconds ago, so that a server started now sees the history up to now.
    let start = now_ms() - ticks * 1000;
    let mut values = Vec::new();
    let at = Instant::now();
    for t in 0..ticks {
        for (h, g) in gens.iter_mut().enumerate() {
            let ts = jittered(&mut jitter, start + t * 1000);
            let map = g.tick_map(1.0, &mut values);
            history.append(&names[h], ts, &map);
        }
        if (t + 1) % 60 == 0 {
            history.flush_tick().await?;
        }
        let seal_every = if t >= recent_from { span_ticks } else { 3600 };
        if (t + 1) % seal_every == 0 {
            history.seal().await?;
        }
    }
    history.flush_tick().await?;
    history.seal().await?;
    // Everything into the main file, so that a copy of it alone is whole.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(db.pool())
        .await?;
    println!(
        "backfilled {} hosts × {} series × {} ticks = {} samples in {:.1} s",
        args.hosts,
        args.series,
        ticks,
        thousands((args.hosts * args.series) as u64 * ticks as u64),
        at.elapsed().as_secs_f64()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct QueryArgs {
    #[arg(long)]
    db: PathBuf,
    #[arg(long, default_value = "h-0000")]
    host: String,
    #[arg(long, default_value = "cpu.total")]
    series: String,
    /// Queries per range and round.
    #[arg(long, default_value_t = 100)]
    n: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

struct Tally {
    latencies: Vec<Duration>,
    cpu: f64,
    points: usize,
    tier: String,
}

fn print_table(label: &str, tallies: &mut [Tally], cpu_label: &str) {
    println!("| path | range | tier | points returned | queries | p50 | p99 | max | {cpu_label} |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((name, _), t) in RANGES.iter().zip(tallies.iter_mut()) {
        t.latencies.sort();
        let n = t.latencies.len();
        println!(
            "| {label} | {name} | {} | {} | {n} | {} | {} | {} | {:.0} µs |",
            t.tier,
            thousands(t.points as u64),
            ms(quantile(&t.latencies, 0.5)),
            ms(quantile(&t.latencies, 0.99)),
            ms(quantile(&t.latencies, 1.0)),
            t.cpu * 1e6 / n as f64
        );
    }
}

fn tallies() -> Vec<Tally> {
    RANGES
        .iter()
        .map(|_| Tally {
            latencies: Vec::new(),
            cpu: 0.0,
            points: 0,
            tier: String::new(),
        })
        .collect()
}

pub async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let at = Instant::now();
    let db = Db::connect(&format!("sqlite://{}", args.db.display())).await?;
    let history = History::open(db, HistoryConfig::default(), Arc::new(Stats::default())).await?;
    let opened = at.elapsed();
    let deleted = history.apply_retention(now_ms()).await?;
    println!(
        "opened in {:.2} s; retention deleted {deleted} blocks; {} / {}",
        opened.as_secs_f64(),
        args.host,
        args.series
    );
    let mut t = tallies();
    for _ in 0..args.rounds {
        for (i, (_, range)) in RANGES.iter().enumerate() {
            let cpu0 = cpu_total("self")?;
            for _ in 0..args.n {
                let to = now_ms();
                let at = Instant::now();
                let res = history
                    .query(&args.host, &args.series, to - range, to, None)
                    .await?
                    .context("no such series")?;
                t[i].latencies.push(at.elapsed());
                t[i].points = res.points.len();
                t[i].tier = format!("{:?}", res.tier);
            }
            t[i].cpu += cpu_total("self")? - cpu0;
        }
    }
    print_table("History::query", &mut t, "process CPU per query");
    Ok(())
}

#[derive(clap::Args)]
pub struct HttpArgs {
    #[arg(long)]
    addr: SocketAddr,
    /// A `read` token.
    #[arg(long)]
    token: String,
    #[arg(long, default_value = "h-0000")]
    host: String,
    #[arg(long, default_value = "cpu.total")]
    series: String,
    #[arg(long, default_value_t = 100)]
    n: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long)]
    server_pid: u32,
}

pub async fn http(args: HttpArgs) -> anyhow::Result<()> {
    crate::util::loopback(&args.addr)?;
    let client = reqwest::Client::new();
    let pid = args.server_pid.to_string();
    let url = format!(
        "http://{}/api/v1/hosts/{}/series/{}",
        args.addr, args.host, args.series
    );
    let mut t = tallies();
    let mut bytes = [0usize; 3];
    for _ in 0..args.rounds {
        for (i, (_, range)) in RANGES.iter().enumerate() {
            let cpu0 = cpu_total(&pid)?;
            for _ in 0..args.n {
                let to = now_ms();
                let at = Instant::now();
                let res = client
                    .get(format!("{url}?from={}&to={to}", to - range))
                    .bearer_auth(&args.token)
                    .send()
                    .await?;
                let status = res.status();
                let body = res.bytes().await?;
                t[i].latencies.push(at.elapsed());
                anyhow::ensure!(
                    status.is_success(),
                    "{status}: {}",
                    String::from_utf8_lossy(&body)
                );
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                t[i].points = v["points"].as_array().map_or(0, Vec::len);
                t[i].tier = v["tier"].to_string().trim_matches('"').to_string();
                bytes[i] = body.len();
            }
            t[i].cpu += cpu_total(&pid)? - cpu0;
        }
    }
    print_table("HTTP", &mut t, "server CPU per query");
    for ((name, _), b) in RANGES.iter().zip(bytes) {
        println!("response body, {name}: {} B", thousands(b as u64));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct PlainArgs {
    /// The database file of the baseline (created; removed first).
    #[arg(long)]
    db: PathBuf,
    #[arg(long, default_value = "30d", value_parser = duration)]
    span: Duration,
    #[arg(long, default_value_t = 100)]
    n: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// The naive baseline: the same series (`cpu.total` of host 0, 1 Hz for `span`) as plain
/// rows in SQLite, `WITHOUT ROWID` keyed by (series_id, ts), and the same three ranges
/// asked with SQL: the rows of 1 h, and per-minute (24 h) or per-hour (30 d) average,
/// minimum and maximum with GROUP BY, which is what the tiers hold precomputed.
pub async fn plain(args: PlainArgs) -> anyhow::Result<()> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    use std::str::FromStr;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", args.db.display()));
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", args.db.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE samples (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
           PRIMARY KEY (series_id, ts)) WITHOUT ROWID",
    )
    .execute(&pool)
    .await?;
    let ticks = args.span.as_secs() as i64;
    let mut gen = HostGen::new(0, 1, Style::Decimal);
    let mut jitter = Rng::new(11);
    let start = now_ms() - ticks * 1000;
    let mut values = Vec::new();
    let mut rows: Vec<(i64, f64)> = Vec::with_capacity(60_000);
    let at = Instant::now();
    for t in 0..ticks {
        gen.tick(1.0, &mut values);
        rows.push((jittered(&mut jitter, start + t * 1000), values[0]));
        if rows.len() == 60_000 || t + 1 == ticks {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(300) {
                let mut q: sqlx::QueryBuilder<sqlx::Sqlite> =
                    sqlx::QueryBuilder::new("INSERT INTO samples (series_id, ts, value) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(1i64).push_bind(r.0).push_bind(r.1);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            rows.clear();
        }
    }
    println!(
        "plain rows: {} written in {:.1} s",
        thousands(ticks as u64),
        at.elapsed().as_secs_f64()
    );
    let mut t = tallies();
    for _ in 0..args.rounds {
        for (i, (_, range)) in RANGES.iter().enumerate() {
            let cpu0 = cpu_total("self")?;
            for _ in 0..args.n {
                let to = now_ms();
                let from = to - range;
                let at = Instant::now();
                let n = match i {
                    0 => sqlx::query_as::<_, (i64, f64)>(
                        "SELECT ts, value FROM samples WHERE series_id = 1 AND ts BETWEEN $1 AND $2",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_all(&pool)
                    .await?
                    .len(),
                    _ => {
                        let width: i64 = if i == 1 { 60_000 } else { 3_600_000 };
                        sqlx::query_as::<_, (i64, f64, f64, f64)>(
                            "SELECT ts / $1 * $2, AVG(value), MIN(value), MAX(value) FROM samples
                             WHERE series_id = 1 AND ts BETWEEN $3 AND $4 GROUP BY ts / $5",
                        )
                        .bind(width)
                        .bind(width)
                        .bind(from)
                        .bind(to)
                        .bind(width)
                        .fetch_all(&pool)
                        .await?
                        .len()
                    }
                };
                t[i].latencies.push(at.elapsed());
                t[i].points = n;
                t[i].tier = ["rows", "GROUP BY minute", "GROUP BY hour"][i].into();
            }
            t[i].cpu += cpu_total("self")? - cpu0;
        }
    }
    print_table("plain SQLite rows", &mut t, "process CPU per query");
    Ok(())
}
