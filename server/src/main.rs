#![forbid(unsafe_code)]
use clap::Parser;

#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The site `cargo xtask dist` compiled in (see `build.rs`), or none.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/site.rs"));
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = lookout::cli::Cli::parse();
    lookout::telemetry::init(cli.log_format);
    match lookout::cli::run(cli, embedded::SITE).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
