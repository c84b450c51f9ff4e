//! Writes `$OUT_DIR/site.rs` for `main.rs`: `SITE`, the files of the directory in
//! `LOOKOUT_EMBED_SITE` (each as `include_bytes!`), which `cargo xtask dist` sets to the site
//! it built; `None` when it is unset (`cargo test`, `cargo leptos watch`).

use std::{
    env, fs,
    path::{Path, PathBuf},
};

fn main() {
    println!("cargo:rerun-if-env-changed=LOOKOUT_EMBED_SITE");
    println!("cargo:rerun-if-env-changed=LEPTOS_OUTPUT_NAME");
    println!("cargo:rerun-if-env-changed=LEPTOS_SITE_PKG_DIR");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("site.rs");
    let code = match env::var_os("LOOKOUT_EMBED_SITE").filter(|v| !v.is_empty()) {
        Some(root) => embed(Path::new(&root)),
        None => "/// No site was compiled into this binary.\n\
                 pub static SITE: Option<lookout::config::EmbeddedFiles> = None;\n"
            .to_string(),
    };
    fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

fn embed(root: &Path) -> String {
    let root = root.canonicalize().unwrap_or_else(|e| {
        panic!(
            "LOOKOUT_EMBED_SITE={}: {e} (build the site with `cargo xtask site`)",
            root.display()
        )
    });
    // Cargo looks at every file below a directory for changes.
    println!("cargo:rerun-if-changed={}", root.display());
    let name = env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| {
        panic!("LEPTOS_OUTPUT_NAME is unset: the workspace's .cargo/config.toml sets it")
    });
    let pkg_dir = env::var("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|_| "pkg".into());

    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let relative: Vec<(String, &PathBuf)> = files
        .iter()
        .map(|path| {
            let rel = path.strip_prefix(&root).expect("walked below the root");
            let rel = rel
                .to_str()
                .unwrap_or_else(|| panic!("{}: not a UTF-8 file name", path.display()));
            (format!("/{}", rel.replace('\\', "/")), path)
        })
        .collect();

    // The stem Leptos names the bundle by: `site.<hash>` when the three files share a hash.
    let prefix = format!("/{pkg_dir}/{name}.");
    let stems: Vec<&str> = relative
        .iter()
        .filter_map(|(url, _)| url.strip_prefix(&prefix)?.strip_suffix(".wasm"))
        .filter(|hash| !hash.is_empty() && !hash.contains(['.', '/']))
        .filter(|hash| {
            ["js", "css"].iter().all(|ext| {
                let url = format!("{prefix}{hash}.{ext}");
                relative.iter().any(|(u, _)| *u == url)
            })
        })
        .collect();
    let [hash] = stems.as_slice() else {
        panic!(
            "{}: expected one {pkg_dir}/{name}.<hash>.wasm with its .js and .css beside it, \
             found {}: build the site with `cargo xtask site`",
            root.display(),
            stems.len()
        )
    };
    let output_name = format!("{name}.{hash}");
    generated(&output_name, &pkg_dir, &relative)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn generated(output_name: &str, pkg_dir: &str, files: &[(String, &PathBuf)]) -> String {
    let mut code = String::from(
        "/// The site `cargo xtask dist` compiled into this binary.\n\
         pub static SITE: Option<lookout::config::EmbeddedFiles> =\n\
         Some(lookout::config::EmbeddedFiles {\n",
    );
    code.push_str(&format!("    output_name: {output_name:?},\n"));
    code.push_str(&format!("    pkg_dir: {pkg_dir:?},\n"));
    code.push_str("    files: &[\n");
    for (url, path) in files {
        let path = path
            .to_str()
            .unwrap_or_else(|| panic!("{}: not a UTF-8 path", path.display()));
        code.push_str(&format!("        ({url:?}, include_bytes!({path:?})),\n"));
    }
    code.push_str("    ],\n});\n");
    code
}
