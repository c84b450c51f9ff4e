//! Bytes on disk per stored point: the same generated samples written to Lookout's history
//! (through `History`, flushed every second and each series sealed every `block_span` by
//! the server's rolling seal) and to plain SQLite, one row per sample, in two layouts: a
//! rowid table with an index on (series_id, ts), and a `WITHOUT ROWID` table keyed by
//! (series_id, ts).

use crate::{
    mix::{jittered, HostGen, Rng, Style},
    util::{duration, thousands},
};
use lookout::{
    history::{History, HistoryConfig},
    stats::Stats,
    store::Db,
};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    QueryBuilder, Sqlite, SqlitePool,
};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

#[derive(clap::Args)]
pub struct Args {
    /// Directory for the databases (emptied first).
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 50)]
    hosts: usize,
    #[arg(long, default_value_t = 20)]
    series: usize,
    /// Time span of data, at one sample a second per series.
    #[arg(long, default_value = "2h", value_parser = duration)]
    span: Duration,
    /// How often each series is sealed into a block (the server's default).
    #[arg(long, default_value = "300s", value_parser = duration)]
    block_span: Duration,
    #[arg(long, value_enum, default_value = "decimal")]
    style: Style,
    /// Skip the plain-SQLite baselines.
    #[arg(long)]
    no_baseline: bool,
    /// Timestamps exactly on the 1 s grid, as Lookout's agent and sampler stamp them (the
    /// default adds ±3 ms of jitter, as a script reading its clock would).
    #[arg(long)]
    aligned: bool,
}

/// Rows per multi-row INSERT of the baseline (3 parameters each).
const ROWS_PER_INSERT: usize = 300;

async fn plain_pool(path: &Path, schema: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::raw_sql(schema).execute(&pool).await?;
    Ok(pool)
}

async fn insert_plain(pool: &SqlitePool, rows: &[(i64, i64, f64)]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO samples (series_id, ts, value) ");
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.0).push_bind(r.1).push_bind(r.2);
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a database holds: live pages before VACUUM, the file after, and per table/index
/// bytes from `dbstat` when SQLite has it.
struct Size {
    live_pages_bytes: i64,
    file_after_vacuum: u64,
    objects: Vec<(String, i64)>,
}

/// A plain SQLite pool on the file of a history (whose own pool speaks to any database).
async fn sqlite_at(path: &Path) -> anyhow::Result<SqlitePool> {
    Ok(SqlitePool::connect(&format!("sqlite://{}", path.display())).await?)
}

async fn measure(pool: &SqlitePool, path: &Path) -> anyhow::Result<Size> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    let page_count: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await?;
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(pool)
        .await?;
    sqlx::query("VACUUM").execute(pool).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    let objects: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    let mut file = std::fs::metadata(path)?.len();
    let wal = path.with_extension("db-wal");
    if let Ok(m) = std::fs::metadata(&wal) {
        file += m.len();
    }
    Ok(Size {
        live_pages_bytes: (page_count - free) * page_size,
        file_after_vacuum: file,
        objects,
    })
}

fn per_point(bytes: f64, points: u64) -> String {
    format!("{:.2} B", bytes / points as f64)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir)?;
    let ticks = args.span.as_secs() as i64;
    let points = (args.hosts * args.series) as u64 * ticks as u64;
    println!(
        "data: {} hosts × {} series × {} ticks (1 Hz, {}) = {} points, style {:?}, sealed every {} s",
        args.hosts,
        args.series,
        ticks,
        if args.aligned {
            "on the grid"
        } else {
            "±3 ms jitter"
        },
        thousands(points),
        args.style,
        args.block_span.as_secs()
    );

    // An empty database with the same migrations: the fixed cost subtracted from the file.
    let empty_path = args.dir.join("empty.db");
    let empty = Db::connect(&format!("sqlite://{}", empty_path.display())).await?;
    let empty_size = measure(&sqlite_at(&empty_path).await?, &empty_path).await?;
    empty.pool().close().await;

    let hist_path = args.dir.join("history.db");
    let db = Db::connect(&format!("sqlite://{}", hist_path.display())).await?;
    let config = HistoryConfig {
        block_span: args.block_span,
        ..HistoryConfig::default()
    };
    let history = History::open(db.clone(), config, Arc::new(Stats::default())).await?;

    let rowid_path = args.dir.join("plain_rowid.db");
    let norowid_path = args.dir.join("plain_without_rowid.db");
    let baselines = if args.no_baseline {
        None
    } else {
        Some((
            plain_pool(
                &rowid_path,
                "CREATE TABLE samples (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL);
                 CREATE UNIQUE INDEX samples_by_series_ts ON samples (series_id, ts);",
            )
            .await?,
            plain_pool(
                &norowid_path,
                "CREATE TABLE samples (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
                   PRIMARY KEY (series_id, ts)) WITHOUT ROWID;",
            )
            .await?,
        ))
    };

    let mut gens: Vec<HostGen> = (0..args.hosts)
        .map(|h| HostGen::new(h, args.series, args.style))
        .collect();
    let names: Vec<String> = (0..args.hosts).map(|h| format!("h-{h:04}")).collect();
    let mut jitter = Rng::new(7);
    let start = crate::util::now_ms() - ticks * 1000;
    let mut last_ts = vec![start - 1000; args.hosts];
    let mut values = Vec::new();
    let mut plain_rows: Vec<(i64, i64, f64)> = Vec::new();
    let (mut hist_time, mut plain_time) = (Duration::ZERO, Duration::ZERO);
    // The server's rolling seal: a step every `seal_step_every` (one tick), each sealing
    // its share of the series.
    let step_ticks = history.seal_step_every().as_secs().max(1) as i64;
    for t in 0..ticks {
        for h in 0..args.hosts {
            let grid = start - start.rem_euclid(1000) + t * 1000;
            let ts = if args.aligned {
                grid
            } else {
                jittered(&mut jitter, grid)
            };
            let dt = (ts - last_ts[h]) as f64 / 1000.0;
            last_ts[h] = ts;
            gens[h].tick(dt, &mut values);
            let map: BTreeMap<String, f64> = gens[h]
                .names()
                .iter()
                .cloned()
                .zip(values.iter().copied())
                .collect();
            let at = Instant::now();
            history.append(&names[h], ts, &map);
            hist_time += at.elapsed();
            if baselines.is_some() {
                let base = (h * args.series) as i64;
                plain_rows.extend(
                    values
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| (base + i as i64, ts, v)),
                );
            }
        }
        let at = Instant::now();
        history.flush_tick().await?;
        if (t + 1) % step_ticks == 0 {
            history.seal_step().await?;
        }
        hist_time += at.elapsed();
        if let Some((a, b)) = &baselines {
            if plain_rows.len() >= 60_000 || t + 1 == ticks {
                let at = Instant::now();
                insert_plain(a, &plain_rows).await?;
                insert_plain(b, &plain_rows).await?;
                plain_time += at.elapsed();
                plain_rows.clear();
            }
        }
    }
    let at = Instant::now();
    history.flush_tick().await?;
    history.seal().await?;
    hist_time += at.elapsed();
    println!(
        "write time: history {:.2} s ({:.2} µs a point); plain, both layouts together {:.2} s ({:.2} µs a point per layout)",
        hist_time.as_secs_f64(),
        hist_time.as_secs_f64() * 1e6 / points as f64,
        plain_time.as_secs_f64(),
        plain_time.as_secs_f64() * 1e6 / points as f64 / 2.0
    );

    // Blocks by tier, as encoded.
    let tiers: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT tier, COUNT(*), SUM(count), SUM(length(data)) FROM history_blocks GROUP BY tier ORDER BY tier",
    )
    .fetch_all(db.pool())
    .await?;
    let wal_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM history_wal")
        .fetch_one(db.pool())
        .await?;
    println!("history blocks (wal rows left: {wal_rows}):");
    let mut raw_points = 0u64;
    let mut raw_bytes = 0i64;
    for (tier, blocks, count, bytes) in &tiers {
        let name = ["raw", "1m", "1h"].get(*tier as usize).unwrap_or(&"?");
        println!(
            "  tier {name}: {} blocks, {} points, {} encoded bytes ({:.3} B a point, {:.0} points a block)",
            thousands(*blocks as u64),
            thousands(*count as u64),
            thousands(*bytes as u64),
            *bytes as f64 / *count as f64,
            *count as f64 / *blocks as f64
        );
        if *tier == 0 {
            raw_points = *count as u64;
            raw_bytes = *bytes;
        }
    }
    anyhow::ensure!(
        raw_points == points,
        "the history holds {raw_points} raw points, not {points}"
    );
    let hist = measure(&sqlite_at(&hist_path).await?, &hist_path).await?;
    let blocks_bytes: i64 = hist
        .objects
        .iter()
        .filter(|(n, _)| n.starts_with("history_blocks"))
        .map(|(_, b)| b)
        .sum();

    println!();
    println!("| store | file after VACUUM | per point (file) | live pages before VACUUM, per point | table + indexes (dbstat), per point | encoded data, per point |");
    println!("|---|---|---|---|---|---|");
    let file_net = hist.file_after_vacuum as f64 - empty_size.file_after_vacuum as f64;
    println!(
        "| Lookout history (raw + 1m + 1h tiers) | {} B (empty database: {} B) | {} | {} | {} | raw tier {} |",
        thousands(hist.file_after_vacuum),
        thousands(empty_size.file_after_vacuum),
        per_point(file_net, points),
        per_point(
            (hist.live_pages_bytes - empty_size.live_pages_bytes) as f64,
            points
        ),
        if blocks_bytes > 0 {
            per_point(blocks_bytes as f64, points)
        } else {
            "n/a".into()
        },
        per_point(raw_bytes as f64, points),
    );
    let mut rows = Vec::new();
    if let Some((a, b)) = baselines {
        for (label, pool, path) in [
            (
                "plain SQLite, rowid table + index (series_id, ts)",
                a,
                rowid_path,
            ),
            (
                "plain SQLite, WITHOUT ROWID, primary key (series_id, ts)",
                b,
                norowid_path,
            ),
        ] {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM samples")
                .fetch_one(&pool)
                .await?;
            anyhow::ensure!(n as u64 == points, "{label} holds {n} rows, not {points}");
            let s = measure(&pool, &path).await?;
            let objects: i64 = s.objects.iter().map(|(_, b)| b).sum();
            println!(
                "| {label} | {} B | {} | {} | {} | 16 B (i64 ts + f64 value) |",
                thousands(s.file_after_vacuum),
                per_point(s.file_after_vacuum as f64, points),
                per_point(s.live_pages_bytes as f64, points),
                if objects > 0 {
                    per_point(objects as f64, points)
                } else {
                    "n/a".into()
                },
            );
            rows.push((label, s.file_after_vacuum));
        }
    }
    println!();
    for (label, bytes) in rows {
        println!(
            "ratio: {label} / Lookout history (files, net of the empty database) = {:.1}×",
            bytes as f64 / file_net
        );
    }
    for (name, bytes) in hist
        .objects
        .iter()
        .filter(|(n, _)| n.starts_with("history"))
    {
        println!("  dbstat history.db {name}: {} B", thousands(*bytes as u64));
    }
    Ok(())
}
