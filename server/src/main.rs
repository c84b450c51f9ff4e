#![forbid(unsafe_code)]
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lookout::telemetry::init();
    let cli = lookout::cli::Cli::parse();
    match lookout::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
