//! The stylesheet through Lightning CSS, as cargo-leptos runs it for a release build:
//! minified, with vendor prefixes and fallbacks for the browsers of `browserquery`.

use crate::project::Project;
use anyhow::{anyhow, Context};
use lightningcss::{
    stylesheet::{MinifyOptions, ParserOptions, PrinterOptions, StyleSheet},
    targets::{Browsers, Targets},
};
use std::fs;

/// The site's CSS, or an empty stylesheet when the workspace has no `style-file`.
pub fn build(project: &Project) -> anyhow::Result<Vec<u8>> {
    let Some(file) = &project.style_file else {
        return Ok(Vec::new());
    };
    let css =
        fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let browsers = Browsers::from_browserslist([project.browserquery.as_str()])
        .with_context(|| format!("browserquery {:?}", project.browserquery))?;
    let targets = Targets::from(browsers);
    let options = ParserOptions {
        filename: file.display().to_string(),
        ..ParserOptions::default()
    };
    let mut sheet =
        StyleSheet::parse(&css, options).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    sheet
        .minify(MinifyOptions {
            targets,
            ..MinifyOptions::default()
        })
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let printed = sheet
        .to_css(PrinterOptions {
            minify: true,
            targets,
            ..PrinterOptions::default()
        })
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    Ok(printed.code.into_bytes())
}
