#![forbid(unsafe_code)]
//! Builds Lookout for release with nothing but cargo, this workspace and `wasm-opt`:
//!
//! - `cargo xtask site`: the release site in `target/site`, laid out as
//!   `cargo leptos build --release --precompress` lays it out (WASM through wasm-bindgen and
//!   `wasm-opt -Oz`, CSS through Lightning CSS, the public files, content-hashed names,
//!   `hash.txt`, and a `.br` and a `.gz` beside every file).
//! - `cargo xtask dist`: the site, then `target/release/lookout` with the site compiled in.
//!
//! Both read `[[workspace.metadata.leptos]]`, as cargo-leptos does. `cargo leptos watch`
//! stays the development loop.

mod compress;
mod files;
mod front;
mod project;
mod site;
mod style;

use anyhow::Context;
use project::Project;
use std::{process::ExitCode, sync::OnceLock, time::Instant};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  site   build the release site into the site root (target/site)
  dist   build the site, then the release `lookout` binary with the site compiled in
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.as_slice() {
        [command] if command == "site" || command == "dist" => command.as_str(),
        [help] if help == "help" || help == "--help" || help == "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => {
            step(&format!("{command} done"));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: &str) -> anyhow::Result<()> {
    let project = Project::load().context("cannot read the workspace's Leptos settings")?;
    let built = site::build(&project)?;
    if command == "dist" {
        let exe = project.build_server(&built.root)?;
        step(&format!("{} (site {} inside)", exe.display(), built.stem));
    }
    Ok(())
}

/// A progress line, in the shape the `.ci` scripts print theirs, with the seconds since
/// the start.
pub fn step(message: &str) {
    static START: OnceLock<Instant> = OnceLock::new();
    let secs = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("==> [{secs:5.1} s] {message}");
}
