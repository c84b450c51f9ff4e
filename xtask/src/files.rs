//! What the site's steps share: the content hash of its file names, and walking a tree.

use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use md5::{Digest, Md5};
use std::{
    fs,
    path::{Path, PathBuf},
};

/// cargo-leptos' file hash: MD5, in URL-safe base64 without padding (22 characters).
pub fn content_hash(parts: &[&[u8]]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        // Lengths first, so that moving bytes from one part to the next changes the hash.
        md5.update((part.len() as u64).to_le_bytes());
        md5.update(part);
    }
    URL_SAFE_NO_PAD.encode(md5.finalize())
}

/// Every file below `dir` (none if it does not exist), sorted.
pub fn files_below(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}
