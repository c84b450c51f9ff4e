//! The site root as the server reads it: `<pkg>/<name>.<hash>.{js,wasm,css}`, the public
//! files, a `.br` and a `.gz` beside each, and `hash.txt` beside the release binary.
//!
//! cargo-leptos hashes each of the three files on its own. Here they share one hash, over
//! all three, so that one stem (`site.<hash>`) names the bundle: the binary that carries
//! the site gives Leptos that stem as its output name and needs no `hash.txt` on disk.
//! `hash.txt` is still written, in cargo-leptos' format, for a binary that serves this
//! directory (`LEPTOS_SITE_ROOT`).
//!
//! Files are written only when their bytes change, and nothing else in the site root is
//! touched, so an unchanged site leaves the binary that embeds it up to date.

use crate::{
    compress,
    files::{content_hash, files_below},
    front,
    project::Project,
    style,
};
use anyhow::{ensure, Context};
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// A built site.
pub struct Built {
    pub root: PathBuf,
    /// `<name>.<hash>`, the stem of the bundle's three files.
    pub stem: String,
}

pub fn build(project: &Project) -> anyhow::Result<Built> {
    let front = front::build(project)?;
    crate::step(&format!(
        "css: Lightning CSS for browsers {:?}",
        project.browserquery
    ));
    let css = style::build(project)?;

    let hash = content_hash(&[&front.js, &front.wasm, &css]);
    let stem = format!("{}.{hash}", project.name);
    let pkg = PathBuf::from(&project.pkg_dir);
    let mut files = BTreeMap::new();
    files.insert(pkg.join(format!("{stem}.js")), front.js);
    files.insert(pkg.join(format!("{stem}.wasm")), front.wasm);
    files.insert(pkg.join(format!("{stem}.css")), css);
    for (rel, bytes) in front.snippets {
        files.insert(pkg.join(rel), bytes);
    }
    if let Some(assets) = &project.assets_dir {
        for path in files_below(assets)? {
            let rel = path.strip_prefix(assets)?.to_path_buf();
            ensure!(
                !files.contains_key(&rel),
                "{} would overwrite the generated {}",
                path.display(),
                rel.display()
            );
            let bytes = fs::read(&path).with_context(|| format!("{}", path.display()))?;
            files.insert(rel, bytes);
        }
    }

    crate::step(&format!(
        "site: {} (precompressed: brotli, gzip)",
        project.site_root.display()
    ));
    let written = assemble(&project.site_root, &files)?;
    let hash_file = project.release_dir().join("hash.txt");
    write_if_changed(&hash_file, hash_txt(&hash).as_bytes())?;
    crate::step(&format!(
        "site {stem}: {} files, {written} of them written",
        files.len() * 3
    ));
    Ok(Built {
        root: project.site_root.clone(),
        stem,
    })
}

/// Makes `root` hold exactly `files` and their `.br` and `.gz` copies; how many files it
/// wrote.
fn assemble(root: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> anyhow::Result<usize> {
    let mut keep = BTreeSet::new();
    let mut written = 0;
    for (rel, bytes) in files {
        let path = root.join(rel);
        let changed = fs::read(&path).ok().as_deref() != Some(bytes.as_slice());
        // The copies first: a run stopped half-way leaves the original stale, so the next
        // run compresses again.
        type Compressor = fn(&[u8]) -> anyhow::Result<Vec<u8>>;
        for (suffix, compressor) in [
            ("br", compress::brotli as Compressor),
            ("gz", compress::gzip as Compressor),
        ] {
            let copy = with_suffix(&path, suffix);
            if changed || !copy.is_file() {
                written += usize::from(write_if_changed(&copy, &compressor(bytes)?)?);
            }
            keep.insert(copy);
        }
        written += usize::from(write_if_changed(&path, bytes)?);
        keep.insert(path);
    }
    // Bundles of earlier builds, and whatever cargo-leptos left there.
    for path in files_below(root)? {
        if !keep.contains(&path) {
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    remove_empty_dirs(root)?;
    Ok(written)
}

/// `hash.txt` as cargo-leptos writes it and Leptos reads it (`<extension>: <hash>` lines).
fn hash_txt(hash: &str) -> String {
    format!("js: {hash}\nwasm: {hash}\ncss: {hash}\n")
}

/// Writes `bytes` to `path` unless it already holds them; whether it wrote.
fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<bool> {
    if fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    name.into()
}

fn remove_empty_dirs(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let sub = entry.path();
            remove_empty_dirs(&sub)?;
            if fs::read_dir(&sub)?.next().is_none() {
                fs::remove_dir(&sub).with_context(|| format!("cannot remove {}", sub.display()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{io::Read, time::SystemTime};

    fn site(files: &[(&str, &[u8])]) -> BTreeMap<PathBuf, Vec<u8>> {
        files
            .iter()
            .map(|(rel, bytes)| (PathBuf::from(rel), bytes.to_vec()))
            .collect()
    }

    fn mtime(path: &Path) -> SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn the_hash_is_cargo_leptos_shape_and_follows_every_part() {
        let hash = content_hash(&[b"js", b"wasm", b"css"]);
        assert_eq!(hash.len(), 22);
        assert!(hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(hash, content_hash(&[b"js", b"wasm", b"css!"]));
        assert_ne!(hash, content_hash(&[b"jsw", b"asm", b"css"]));
    }

    /// The lines Leptos' `HydrationScripts` and `HashedStylesheet` read from `hash.txt`
    /// name the files this build writes.
    #[test]
    fn hash_txt_names_the_written_files_the_way_leptos_reads_it() {
        let hash = content_hash(&[b"x"]);
        let mut names = BTreeMap::new();
        for line in hash_txt(&hash).lines() {
            let (ext, h) = line.split_once(':').unwrap();
            names.insert(ext.to_string(), format!("site.{}.{ext}", h.trim()));
        }
        for ext in ["js", "wasm", "css"] {
            assert_eq!(names[ext], format!("site.{hash}.{ext}"));
        }
    }

    #[test]
    fn assembling_writes_each_file_with_its_precompressed_copies() {
        let root = tempfile::tempdir().unwrap();
        let files = site(&[("pkg/site.a.wasm", b"wasm bytes"), ("logo.svg", b"<svg/>")]);
        assert_eq!(assemble(root.path(), &files).unwrap(), 6);

        let wasm = root.path().join("pkg/site.a.wasm");
        assert_eq!(fs::read(&wasm).unwrap(), b"wasm bytes");
        let mut unpacked = Vec::new();
        brotli::Decompressor::new(&fs::read(with_suffix(&wasm, "br")).unwrap()[..], 4096)
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, b"wasm bytes");
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&fs::read(with_suffix(&wasm, "gz")).unwrap()[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, b"wasm bytes");
    }

    /// The binary embeds the site root and is rebuilt when a file in it changes: a second
    /// run over the same files must touch nothing.
    #[test]
    fn assembling_the_same_site_again_touches_nothing() {
        let root = tempfile::tempdir().unwrap();
        let files = site(&[("pkg/site.a.js", b"js"), ("logo.svg", b"<svg/>")]);
        assemble(root.path(), &files).unwrap();
        let before: Vec<_> = files_below(root.path())
            .unwrap()
            .into_iter()
            .map(|p| (mtime(&p), p))
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));

        assert_eq!(assemble(root.path(), &files).unwrap(), 0);
        let after: Vec<_> = files_below(root.path())
            .unwrap()
            .into_iter()
            .map(|p| (mtime(&p), p))
            .collect();
        assert_eq!(before, after);
    }

    #[test]
    fn files_of_an_earlier_bundle_are_removed() {
        let root = tempfile::tempdir().unwrap();
        assemble(
            root.path(),
            &site(&[("pkg/site.old.wasm", b"old"), ("pkg/snippets/x/a.js", b"a")]),
        )
        .unwrap();
        fs::write(root.path().join("stray.txt"), b"left by another tool").unwrap();

        assemble(root.path(), &site(&[("pkg/site.new.wasm", b"new")])).unwrap();
        let left: Vec<_> = files_below(root.path())
            .unwrap()
            .into_iter()
            .map(|p| p.strip_prefix(root.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            left,
            [
                "pkg/site.new.wasm",
                "pkg/site.new.wasm.br",
                "pkg/site.new.wasm.gz"
            ]
            .map(PathBuf::from)
        );
    }
}
