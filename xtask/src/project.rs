//! The workspace as cargo-leptos sees it: `[[workspace.metadata.leptos]]`, read through
//! `cargo metadata`, and the cargo builds it names.

use anyhow::{bail, ensure, Context};
use serde::Deserialize;
use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
};

/// The keys of `[[workspace.metadata.leptos]]` that a release build reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct LeptosMetadata {
    name: String,
    bin_package: String,
    bin_target: Option<String>,
    lib_package: String,
    #[serde(default = "default_site_root")]
    site_root: PathBuf,
    #[serde(default = "default_pkg_dir")]
    site_pkg_dir: String,
    style_file: Option<PathBuf>,
    assets_dir: Option<PathBuf>,
    #[serde(default = "default_browserquery")]
    browserquery: String,
    #[serde(default)]
    hash_files: bool,
    #[serde(default = "default_release")]
    lib_profile_release: String,
    #[serde(default)]
    lib_features: Vec<String>,
    #[serde(default = "yes")]
    lib_default_features: bool,
}

fn default_site_root() -> PathBuf {
    "target/site".into()
}
fn default_pkg_dir() -> String {
    "pkg".into()
}
fn default_browserquery() -> String {
    "defaults".into()
}
fn default_release() -> String {
    "release".into()
}
fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    metadata: Option<WorkspaceMetadata>,
}

#[derive(Deserialize)]
struct WorkspaceMetadata {
    leptos: Option<Vec<LeptosMetadata>>,
}

/// What the build needs to know, with every path absolute.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    /// The bundle's name (`site` → `site.<hash>.js`, `.wasm`, `.css`).
    pub name: String,
    pub site_root: PathBuf,
    pub pkg_dir: String,
    pub style_file: Option<PathBuf>,
    pub assets_dir: Option<PathBuf>,
    pub browserquery: String,
    lib_package: String,
    lib_profile: String,
    lib_features: Vec<String>,
    lib_default_features: bool,
    bin_package: String,
    bin_target: String,
}

impl Project {
    pub fn load() -> anyhow::Result<Self> {
        let output = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .context("cannot run `cargo metadata`")?;
        ensure!(
            output.status.success(),
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Metadata = serde_json::from_slice(&output.stdout)
            .context("cannot parse the output of `cargo metadata`")?;
        let leptos = match metadata.metadata.and_then(|m| m.leptos) {
            Some(mut projects) if projects.len() == 1 => projects.remove(0),
            Some(projects) => bail!(
                "expected one [[workspace.metadata.leptos]], found {}",
                projects.len()
            ),
            None => bail!("the workspace's Cargo.toml has no [[workspace.metadata.leptos]]"),
        };
        // Leptos names the bundle in the page by one stem (`site.<hash>`), so the three
        // files share one hash; without hashing, browsers would have to revalidate them.
        ensure!(
            leptos.hash_files,
            "[[workspace.metadata.leptos]] must set `hash-files = true`: the release site \
             is built with content-hashed names"
        );
        let root = metadata.workspace_root;
        Ok(Self {
            target_dir: metadata.target_directory,
            name: leptos.name,
            site_root: root.join(leptos.site_root),
            pkg_dir: leptos.site_pkg_dir,
            style_file: leptos.style_file.map(|f| root.join(f)),
            assets_dir: leptos.assets_dir.map(|d| root.join(d)),
            browserquery: leptos.browserquery,
            lib_package: leptos.lib_package,
            lib_profile: leptos.lib_profile_release,
            lib_features: leptos.lib_features,
            lib_default_features: leptos.lib_default_features,
            bin_target: leptos
                .bin_target
                .unwrap_or_else(|| leptos.bin_package.clone()),
            bin_package: leptos.bin_package,
            root,
        })
    }

    /// Where the xtask keeps what it reuses between runs.
    pub fn work_dir(&self) -> PathBuf {
        self.target_dir.join("xtask")
    }

    /// The directory of the release binary: `hash.txt` goes beside it, where Leptos looks.
    pub fn release_dir(&self) -> PathBuf {
        self.target_dir.join("release")
    }

    /// `cargo build` of the WASM library, as cargo-leptos runs it; the path of the `.wasm`.
    pub fn build_wasm(&self) -> anyhow::Result<PathBuf> {
        let mut args: Vec<String> = vec![
            "build".into(),
            "--locked".into(),
            format!("--package={}", self.lib_package),
            "--lib".into(),
            "--target=wasm32-unknown-unknown".into(),
            format!("--profile={}", self.lib_profile),
        ];
        if !self.lib_default_features {
            args.push("--no-default-features".into());
        }
        if !self.lib_features.is_empty() {
            args.push(format!("--features={}", self.lib_features.join(",")));
        }
        self.cargo(&args, &[])?;
        // Cargo puts the `release` profile in a directory of that name, others likewise.
        Ok(self
            .target_dir
            .join("wasm32-unknown-unknown")
            .join(&self.lib_profile)
            .join(format!("{}.wasm", self.lib_package.replace('-', "_"))))
    }

    /// `cargo build --release` of the server binary with the site in `site_root` compiled in.
    pub fn build_server(&self, site_root: &Path) -> anyhow::Result<PathBuf> {
        let site_root = site_root.to_str().context("the site root is not UTF-8")?;
        self.cargo(
            &[
                "build",
                "--locked",
                "--release",
                &format!("--package={}", self.bin_package),
                &format!("--bin={}", self.bin_target),
            ],
            &[
                ("LOOKOUT_EMBED_SITE", site_root),
                ("LEPTOS_SITE_PKG_DIR", &self.pkg_dir),
            ],
        )?;
        let exe = self.release_dir().join(format!(
            "{}{}",
            self.bin_target,
            std::env::consts::EXE_SUFFIX
        ));
        ensure!(exe.is_file(), "cargo built no {}", exe.display());
        Ok(exe)
    }

    fn cargo<S: AsRef<OsStr>>(&self, args: &[S], envs: &[(&str, &str)]) -> anyhow::Result<()> {
        let line = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        crate::step(&format!("cargo {line}"));
        let mut command = Command::new(cargo());
        // What `cargo run` set for this xtask is not the build's: build scripts that watch
        // such a variable (ring watches CARGO_MANIFEST_DIR) would otherwise be rerun, with
        // all that depends on them, whenever a plain `cargo build` and `cargo xtask` take
        // turns.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || matches!(
                    &*key,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                )
            {
                command.env_remove(&*key);
            }
        }
        let status = command
            .current_dir(&self.root)
            .args(args)
            // As cargo-leptos sets it for both builds; the workspace's config sets the same.
            .env("LEPTOS_OUTPUT_NAME", &self.name)
            .envs(envs.iter().copied())
            .status()
            .with_context(|| format!("cannot run `cargo {line}`"))?;
        ensure!(status.success(), "`cargo {line}` failed ({status})");
        Ok(())
    }
}

/// The cargo that runs this xtask (`cargo run` says which), so a toolchain override holds.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
