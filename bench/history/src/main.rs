//! Benchmarks of Lookout's persistent history and fleet overview, driven by
//! `bench/history.sh` (see BENCHMARKS.md, "Fleet dashboard and history").
//!
//! - `disk`: bytes on disk per stored point, Lookout's history against plain SQLite rows,
//!   written side by side from the same generated samples.
//! - `backfill` / `query`: 30 days of history written through the library, then one
//!   series queried over 1 h, 24 h and 30 d with `History::query`.
//! - `http-query`: the same over `GET /api/v1/hosts/{host}/series/{series}`.
//! - `plain-query`: the naive baseline, the same series as plain SQLite rows.
//! - `ingest`: a fixed offered rate of host batches to `POST /api/v1/ingest` (N hosts × M
//!   series once a second), with the server's CPU and RSS.
//! - `memory`: RSS and `History::memory_bytes` per series over simulated hours, in-process.
//! - `overview`: WebSockets subscribed to the overview: frame sizes, server CPU.
//! - `overview-tick`: the overview's own work per tick, in-process (`Overview::tick`).

mod disk;
mod ingest;
mod memory;
mod mix;
mod overview;
mod query;
mod util;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Disk(disk::Args),
    Backfill(query::BackfillArgs),
    Query(query::QueryArgs),
    HttpQuery(query::HttpArgs),
    PlainQuery(query::PlainArgs),
    Ingest(ingest::Args),
    Memory(memory::Args),
    Overview(overview::Args),
    OverviewTick(overview::TickArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Disk(a) => disk::run(a).await,
        Command::Backfill(a) => query::backfill(a).await,
        Command::Query(a) => query::query(a).await,
        Command::HttpQuery(a) => query::http(a).await,
        Command::PlainQuery(a) => query::plain(a).await,
        Command::Ingest(a) => ingest::run(a).await,
        Command::Memory(a) => memory::run(a).await,
        Command::Overview(a) => overview::run(a).await,
        Command::OverviewTick(a) => overview::tick(a).await,
    }
}
