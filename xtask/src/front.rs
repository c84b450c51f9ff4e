//! The browser bundle: the WASM library built by cargo, its JS glue from wasm-bindgen (the
//! library inside wasm-bindgen-cli, at the version of the workspace's wasm-bindgen crate),
//! and `wasm-opt -Oz` with cargo-leptos' flags.

use crate::project::Project;
use anyhow::{bail, ensure, Context};
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};
use wasm_bindgen_cli_support::Bindgen;

/// The oldest binaryen whose `wasm-opt` keeps the bundle working: Debian's 108 writes a
/// WASM that fails to hydrate (`WebAssembly.Table.grow(): failed to grow table`).
const MIN_BINARYEN: u32 = 132;

/// Bumped when this pipeline changes what it writes, so old cached output is not reused.
const PIPELINE_VERSION: &str = "1";

/// The optimised WASM, its JS, and the JS snippets that wasm-bindgen writes beside them
/// (paths relative to the bundle's directory).
pub struct Front {
    pub js: Vec<u8>,
    pub wasm: Vec<u8>,
    pub snippets: Vec<(PathBuf, Vec<u8>)>,
}

pub fn build(project: &Project) -> anyhow::Result<Front> {
    let wasm_opt = wasm_opt_version()?;
    let input = project.build_wasm()?;
    let wasm = fs::read(&input).with_context(|| format!("cannot read {}", input.display()))?;

    // wasm-bindgen and wasm-opt take most of a minute: skipped when the WASM from cargo is
    // the one the cached output was made from (a second `.ci/start`, a CSS-only change).
    let out = project.work_dir().join("front");
    let stamp_path = project.work_dir().join("front.stamp");
    let stamp = format!(
        "pipeline {PIPELINE_VERSION}\nname {}\ninput {}\nwasm-opt {wasm_opt}\n",
        project.name,
        crate::files::content_hash(&[&wasm])
    );
    drop(wasm);
    if fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
        if let Ok(front) = read_output(&out, &project.name) {
            crate::step("wasm unchanged: wasm-bindgen and wasm-opt skipped");
            return Ok(front);
        }
    }

    let _ = fs::remove_file(&stamp_path);
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    crate::step("wasm-bindgen (web)");
    // The flags of `wasm-bindgen --target=web --out-name=<name>` as cargo-leptos runs it,
    // without the TypeScript declarations that no browser loads.
    Bindgen::new()
        .input_path(&input)
        .out_name(&project.name)
        .web(true)?
        .typescript(false)
        .omit_default_module_path(false)
        .generate(&out)
        .context("wasm-bindgen failed")?;
    // wasm-bindgen writes `<name>_bg.wasm`; cargo-leptos renames it, and so does this.
    let wasm_path = out.join(format!("{}.wasm", project.name));
    fs::rename(out.join(format!("{}_bg.wasm", project.name)), &wasm_path)
        .context("wasm-bindgen wrote no WASM")?;

    crate::step("wasm-opt -Oz");
    let status = Command::new("wasm-opt")
        .args([
            "-Oz",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
        ])
        .arg(&wasm_path)
        .arg("-o")
        .arg(&wasm_path)
        .status()
        .context("cannot run wasm-opt")?;
    ensure!(status.success(), "wasm-opt failed ({status})");

    let front = read_output(&out, &project.name)?;
    fs::write(&stamp_path, stamp)
        .with_context(|| format!("cannot write {}", stamp_path.display()))?;
    Ok(front)
}

/// binaryen's version number, or why `wasm-opt` cannot be used.
fn wasm_opt_version() -> anyhow::Result<u32> {
    let missing = || {
        format!(
            "wasm-opt (binaryen {MIN_BINARYEN} or newer) is needed on PATH for the release WASM: \
             `.ci/setup --build` installs it, or `npm install -g binaryen@{MIN_BINARYEN}.0.0`"
        )
    };
    let output = Command::new("wasm-opt")
        .arg("--version")
        .output()
        .with_context(missing)?;
    ensure!(output.status.success(), "{}", missing());
    // "wasm-opt version 132 (version_132)"
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .and_then(|v| v.parse::<u32>().ok())
        .with_context(|| format!("cannot read wasm-opt's version from {text:?}"))?;
    if version < MIN_BINARYEN {
        bail!(
            "wasm-opt is binaryen {version}; {MIN_BINARYEN} or newer is needed (older ones \
             write a WASM that never hydrates): {}",
            missing()
        );
    }
    Ok(version)
}

fn read_output(dir: &Path, name: &str) -> anyhow::Result<Front> {
    let read = |path: PathBuf| fs::read(&path).with_context(|| format!("{}", path.display()));
    let mut snippets = Vec::new();
    let snippets_dir = dir.join("snippets");
    if snippets_dir.is_dir() {
        for path in crate::files::files_below(&snippets_dir)? {
            let rel = path.strip_prefix(dir)?.to_path_buf();
            snippets.push((rel, read(path)?));
        }
    }
    Ok(Front {
        js: read(dir.join(format!("{name}.js")))?,
        wasm: read(dir.join(format!("{name}.wasm")))?,
        snippets,
    })
}
