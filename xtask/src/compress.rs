//! The precompressed copies the server sends to browsers that accept them: `<file>.br` and
//! `<file>.gz`, at the levels cargo-leptos' `--precompress` uses (brotli's default quality
//! 11, and gzip's best).

use anyhow::Context;
use flate2::{write::GzEncoder, Compression};
use std::io::Write;

pub fn brotli(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams::default();
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).context("brotli")?;
    Ok(out)
}

pub fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    // flate2 writes no time stamp into the header: the same input gives the same bytes.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).context("gzip")?;
    encoder.finish().context("gzip")
}
