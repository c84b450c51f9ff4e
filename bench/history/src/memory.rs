//! Memory per active series, in-process: the history of `hosts × series` written as the
//! server's writer does (a log row and a step of the rolling seal every second, each series
//! sealed every `block_span`), in simulated time so that hours pass in minutes, with the
//! process' RSS and `History::memory_bytes` every simulated `report_every`. The data is the
//! mix of `mix.rs`, timestamps on the grid (as Lookout's agent and sampler stamp them),
//! ending at the real clock's now.
//!
//! This isolates the history's share; `history.sh memory` measures the whole server.

use crate::{
    mix::{HostGen, Style},
    util::{duration, mib, rss},
};
use lookout::{
    history::{History, HistoryConfig},
    stats::Stats,
    store::Db,
};
use std::{path::PathBuf, sync::Arc, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    /// Directory for the database (emptied first).
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    #[arg(long, default_value_t = 200)]
    series: usize,
    /// Simulated time, at one sample a second per series.
    #[arg(long, default_value = "90m", value_parser = duration)]
    span: Duration,
    #[arg(long, default_value = "300s", value_parser = duration)]
    block_span: Duration,
    #[arg(long, default_value = "10m", value_parser = duration)]
    report_every: Duration,
    #[arg(long, value_enum, default_value = "decimal")]
    style: Style,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir)?;
    let me = std::process::id().to_string();
    let series = args.hosts * args.series;
    let ticks = args.span.as_secs() as i64;
    println!(
        "{} hosts × {} series = {} series at 1 Hz for {} simulated s, sealed every {} s, style {:?}",
        args.hosts,
        args.series,
        series,
        ticks,
        args.block_span.as_secs(),
        args.style
    );

    let path = args.dir.join("history.db");
    let db = Db::connect(&format!("sqlite://{}", path.display())).await?;
    let config = HistoryConfig {
        block_span: args.block_span,
        ..HistoryConfig::default()
    };
    let mut gens: Vec<HostGen> = (0..args.hosts)
        .map(|h| HostGen::new(h, args.series, args.style))
        .collect();
    let names: Vec<String> = (0..args.hosts).map(|h| format!("h-{h:04}")).collect();
    // After the database is open and the generators exist: what is left is the history's.
    let history = History::open(db.clone(), config, Arc::new(Stats::default())).await?;
    let rss_start = rss(&me)?;
    println!("RSS at start {}", mib(rss_start));
    println!(
        "| simulated time | RSS | RSS − start, per series | History::memory_bytes per series |"
    );
    println!("|---|---|---|---|");

    let now = crate::util::now_ms();
    let start = now - now.rem_euclid(1000) - ticks * 1000;
    // The server's rolling seal: a step every `seal_step_every` (one tick), each sealing
    // its share of the series.
    let step_ticks = history.seal_step_every().as_secs().max(1) as i64;
    let report_ticks = args.report_every.as_secs().max(1) as i64;
    let mut values = Vec::new();
    let mut peak = 0u64;
    for t in 0..ticks {
        let ts = start + t * 1000;
        for (h, gen) in gens.iter_mut().enumerate() {
            let map = gen.tick_map(1.0, &mut values);
            history.append(&names[h], ts, &map);
        }
        history.flush_tick().await?;
        if (t + 1) % step_ticks == 0 {
            history.seal_step().await?;
        }
        if (t + 1) % 60 == 0 {
            history.apply_retention(ts).await?;
        }
        let now_rss = rss(&me)?;
        peak = peak.max(now_rss);
        if (t + 1) % report_ticks == 0 || t + 1 == ticks {
            println!(
                "| {} s | {} | {} B | {} B |",
                t + 1,
                mib(now_rss),
                now_rss.saturating_sub(rss_start) / series as u64,
                history.memory_bytes() / series
            );
        }
    }
    println!(
        "peak RSS {} : {} B per series over the start",
        mib(peak),
        peak.saturating_sub(rss_start) / series as u64
    );
    Ok(())
}
