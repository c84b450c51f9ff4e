//! The SQL of the history: series ids, blocks and the write-ahead log. Every block spans
//! less than [`MAX_BLOCK_SPAN`], so a range read starts its index scan one span before
//! `from` instead of at the series' first block.

use super::rollup::HOUR;
use crate::store::values_rows;
use sqlx::{Any, AnyConnection, AnyPool, Executor};
use std::collections::HashMap;

/// No block's points are this far apart: raw blocks are cut at hour boundaries, a 1m
/// block holds one hour, a 1h block one point.
pub const MAX_BLOCK_SPAN: i64 = HOUR;

/// Rows per multi-row INSERT: 7 parameters each, well under SQLite's limit
/// of 32,766 and PostgreSQL's of 65,535.
const ROWS_PER_INSERT: usize = 500;

#[derive(Debug, Clone)]
pub struct BlockRow {
    pub series_id: i64,
    pub tier: i64,
    pub start_ts: i64,
    pub end_ts: i64,
    pub seq: i64,
    pub count: i64,
    pub data: Vec<u8>,
}

/// Series registered per statement (two parameters each).
const SERIES_PER_INSERT: usize = 400;

/// The ids of `series` (host, name), in their order; new ones are inserted, many rows per
/// statement: a tick that brings 200,000 new series holds SQLite's write lock for a
/// fraction of the time one statement per series took, so sign-ins and ingest's own writes
/// do not wait seconds behind it.
pub async fn insert_series(
    conn: &mut AnyConnection,
    series: &[(&str, &str)],
) -> sqlx::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(series.len());
    for chunk in series.chunks(SERIES_PER_INSERT) {
        // The upsert answers with the id of a row that already exists, too; RETURNING's
        // order is not the VALUES order, so rows are matched by their key.
        let sql = format!(
            "INSERT INTO history_series (host, name) VALUES {} \
             ON CONFLICT (host, name) DO UPDATE SET name = excluded.name RETURNING id, host, name",
            values_rows(chunk.len(), 2)
        );
        let mut q = sqlx::query_as(&sql);
        for &(host, name) in chunk {
            q = q.bind(host).bind(name);
        }
        let rows: Vec<(i64, String, String)> = q.fetch_all(&mut *conn).await?;
        let by_key: HashMap<(&str, &str), i64> = rows
            .iter()
            .map(|(id, host, name)| ((host.as_str(), name.as_str()), *id))
            .collect();
        for key in chunk {
            ids.push(by_key.get(key).copied().ok_or(sqlx::Error::RowNotFound)?);
        }
    }
    Ok(ids)
}

pub async fn all_series(pool: &AnyPool) -> sqlx::Result<Vec<(i64, String, String)>> {
    sqlx::query_as("SELECT id, host, name FROM history_series")
        .fetch_all(pool)
        .await
}

pub async fn insert_wal(conn: &mut AnyConnection, data: &[u8]) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO history_wal (data) VALUES ($1) RETURNING seq")
        .bind(data)
        .fetch_one(conn)
        .await
}

pub async fn wal_rows(pool: &AnyPool) -> sqlx::Result<Vec<(i64, Vec<u8>)>> {
    sqlx::query_as("SELECT seq, data FROM history_wal ORDER BY seq")
        .fetch_all(pool)
        .await
}

pub async fn delete_wal_through(conn: &mut AnyConnection, seq: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM history_wal WHERE seq <= $1")
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_blocks(conn: &mut AnyConnection, rows: &[BlockRow]) -> sqlx::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        // A block written again after a crash between two steps replaces itself.
        let sql = format!(
            "INSERT INTO history_blocks (series_id, tier, start_ts, seq, end_ts, count, data) \
             VALUES {} ON CONFLICT (series_id, tier, start_ts, seq) DO UPDATE SET \
             end_ts = excluded.end_ts, count = excluded.count, data = excluded.data",
            values_rows(chunk.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.series_id)
                .bind(r.tier)
                .bind(r.start_ts)
                .bind(r.seq)
                .bind(r.end_ts)
                .bind(r.count)
                .bind(r.data.as_slice());
        }
        // Not kept prepared: a statement of 3,500 parameters holds much memory, and the
        // last chunk of every seal has a size of its own.
        q.persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The blocks of one series and tier that may hold points in `[from, to]`, oldest
/// write first.
pub async fn overlapping(
    db: impl Executor<'_, Database = Any>,
    series_id: i64,
    tier: i64,
    from: i64,
    to: i64,
) -> sqlx::Result<Vec<Vec<u8>>> {
    sqlx::query_scalar(
        "SELECT data FROM history_blocks
         WHERE series_id = $1 AND tier = $2 AND start_ts > $3 AND start_ts <= $4 AND end_ts >= $5
         ORDER BY seq",
    )
    .bind(series_id)
    .bind(tier)
    .bind(from.saturating_sub(MAX_BLOCK_SPAN))
    .bind(to)
    .bind(from)
    .fetch_all(db)
    .await
}

/// Deletes the 1m and 1h blocks of one series that start in `[from, to)`: an hour rolled
/// up again replaces them.
pub async fn delete_rollups(
    conn: &mut AnyConnection,
    series_id: i64,
    from: i64,
    to: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM history_blocks
         WHERE series_id = $1 AND tier IN (1, 2) AND start_ts >= $2 AND start_ts < $3",
    )
    .bind(series_id)
    .bind(from)
    .bind(to)
    .execute(conn)
    .await?;
    Ok(())
}

/// The raw blocks of every series of `host` that may hold points from `from` on, by
/// series and write order.
pub async fn host_raw_since(
    pool: &AnyPool,
    host: &str,
    from: i64,
) -> sqlx::Result<Vec<(i64, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT series_id, data FROM history_blocks
         WHERE series_id IN (SELECT id FROM history_series WHERE host = $1)
           AND tier = 0 AND start_ts > $2 AND end_ts >= $3
         ORDER BY series_id, seq",
    )
    .bind(host)
    .bind(from.saturating_sub(MAX_BLOCK_SPAN))
    .bind(from)
    .fetch_all(pool)
    .await
}

/// Per series, the last timestamp stored in `tier` and the newest write (`seq`) among its
/// recent blocks: the largest of each among the blocks that start within
/// [`MAX_BLOCK_SPAN`] of the last start, found by the primary key.
pub async fn last_ends(pool: &AnyPool, tier: i64) -> sqlx::Result<HashMap<i64, (i64, i64)>> {
    let rows: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT id, MAX(b.end_ts), MAX(b.seq)
         FROM (SELECT s.id AS id,
                      (SELECT MAX(c.start_ts) FROM history_blocks c
                       WHERE c.series_id = s.id AND c.tier = $1) AS last_start
               FROM history_series s) l
         JOIN history_blocks b
           ON b.series_id = l.id AND b.tier = $1 AND b.start_ts > l.last_start - $2
         GROUP BY id",
    )
    .bind(tier)
    .bind(MAX_BLOCK_SPAN)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, end, seq)| Some((id, (end?, seq?))))
        .collect())
}

/// Series whose expired blocks one retention statement deletes: a slice holds SQLite's
/// write lock for milliseconds, so ingest's log writes never queue behind it for long.
const RETENTION_SLICE: i64 = 1_000;

/// Deletes the blocks of `tier` that ended before `before`, a slice of series at a time,
/// each found by the primary key (the oldest blocks of each series come first in it).
pub async fn delete_ended_before(pool: &AnyPool, tier: i64, before: i64) -> sqlx::Result<u64> {
    let mut after = i64::MIN;
    let mut deleted = 0;
    loop {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(id) FROM (SELECT id FROM history_series WHERE id > $1 ORDER BY id LIMIT $2) slice",
        )
        .bind(after)
        .bind(RETENTION_SLICE)
        .fetch_one(pool)
        .await?;
        let Some(last) = last else {
            return Ok(deleted);
        };
        let done = sqlx::query(
            "DELETE FROM history_blocks
             WHERE series_id IN (SELECT id FROM history_series WHERE id > $1 AND id <= $2)
               AND tier = $3 AND start_ts < $4 AND end_ts < $5",
        )
        .bind(after)
        .bind(last)
        .bind(tier)
        .bind(before)
        .bind(before)
        .execute(pool)
        .await?;
        deleted += done.rows_affected();
        after = last;
    }
}

/// Removes a host's series and their blocks; their ids, in case the caller holds state.
pub async fn delete_host(pool: &AnyPool, host: &str) -> sqlx::Result<Vec<i64>> {
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM history_series WHERE host = $1")
        .bind(host)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM history_blocks
         WHERE series_id IN (SELECT id FROM history_series WHERE host = $1)",
    )
    .bind(host)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM history_series WHERE host = $1")
        .bind(host)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ids)
}
