//! Static files: the WASM bundle, JS, CSS and public assets, served precompressed
//! (brotli, gzip) when the build made `.br`/`.gz` files, with long cache lifetimes on
//! content-hashed names.
//!
//! The files come from the site compiled into the binary (`cargo xtask dist`), so a release
//! binary runs from any directory, or from a directory: `LEPTOS_SITE_ROOT` (as
//! `cargo leptos watch` sets it), else `target/site` beside the binary.

use crate::config::EmbeddedFiles;
use axum::{
    body::Body,
    extract::Request,
    middleware::{self, Next},
    response::Response,
    Router,
};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use leptos::prelude::LeptosOptions;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    convert::Infallible,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};
use tower::{Service, ServiceExt};
use tower_http::services::ServeDir;

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
const SHORT: HeaderValue = HeaderValue::from_static("public, max-age=3600");

/// The site the server serves, and the Leptos options that name its bundle in the pages.
pub struct Site {
    pub leptos: LeptosOptions,
    pub files: SiteFiles,
}

/// Where the static files come from.
#[derive(Clone, Debug)]
pub enum SiteFiles {
    /// The site compiled into the binary.
    Embedded(Arc<EmbeddedSite>),
    /// A site root on disk; `hashed` when its bundle's names carry content hashes.
    Disk { root: PathBuf, hashed: bool },
}

impl Site {
    /// `LEPTOS_SITE_ROOT` if set (the development loop), else the site compiled into the
    /// binary, else `target/site` beside the binary (`target/release/lookout` →
    /// `target/site`) or in the working directory.
    pub fn locate(addr: SocketAddr, embedded: Option<EmbeddedFiles>) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let reload_port = env("LEPTOS_RELOAD_PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or(3001);
        let site_root = env("LEPTOS_SITE_ROOT");
        if let (None, Some(files)) = (&site_root, embedded) {
            let site = Arc::new(EmbeddedSite::new(files));
            let leptos = LeptosOptions::builder()
                // The stem already carries the hash (`site.<hash>`): Leptos names the .js,
                // .wasm and .css by it and reads no `hash.txt`.
                .output_name(site.output_name)
                .hash_files(false)
                .site_pkg_dir(site.pkg_dir)
                .site_addr(addr)
                .reload_port(reload_port)
                .build();
            return Self {
                leptos,
                files: SiteFiles::Embedded(site),
            };
        }

        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from));
        let site_root = site_root.unwrap_or_else(|| {
            exe_dir
                .as_ref()
                .and_then(|d| d.parent())
                .map(|d| d.join("site"))
                .filter(|d| d.is_dir())
                .map_or_else(|| "target/site".to_string(), |d| d.display().to_string())
        });
        let hash_file = env("LEPTOS_HASH_FILE_NAME").unwrap_or_else(|| "hash.txt".into());
        let hash_files = env("LEPTOS_HASH_FILES").map_or_else(
            || {
                exe_dir
                    .as_ref()
                    .is_some_and(|d| d.join(&hash_file).is_file())
            },
            |v| v == "true",
        );
        let output_name = env("LEPTOS_OUTPUT_NAME")
            .or_else(|| option_env!("LEPTOS_OUTPUT_NAME").map(String::from))
            .unwrap_or_else(|| "site".into());
        let leptos = LeptosOptions::builder()
            .output_name(output_name)
            .site_root(site_root.clone())
            .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
            .site_addr(addr)
            .reload_port(reload_port)
            .hash_files(hash_files)
            .hash_file(hash_file.into())
            .build();
        Self {
            leptos,
            files: SiteFiles::Disk {
                root: site_root.into(),
                hashed: hash_files,
            },
        }
    }
}

impl fmt::Display for SiteFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded(site) => write!(f, "compiled into the binary ({})", site.output_name),
            Self::Disk { root, .. } => write!(f, "from {}", root.display()),
        }
    }
}

/// The site compiled into the binary, indexed by URL path once at start-up.
pub struct EmbeddedSite {
    output_name: &'static str,
    pkg_dir: &'static str,
    files: HashMap<&'static str, EmbeddedFile>,
}

struct EmbeddedFile {
    content_type: HeaderValue,
    identity: Representation,
    br: Option<Representation>,
    gzip: Option<Representation>,
}

struct Representation {
    bytes: &'static [u8],
    etag: HeaderValue,
}

impl Representation {
    fn new(bytes: &'static [u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header");
        Self { bytes, etag }
    }
}

impl EmbeddedSite {
    /// Indexes the files by URL path. A `<file>.br` or `<file>.gz` beside a file is served
    /// in its place to browsers that accept that encoding.
    pub fn new(embedded: EmbeddedFiles) -> Self {
        let all: HashMap<&'static str, &'static [u8]> = embedded.files.iter().copied().collect();
        let precompressed = |path: &str| {
            ["br", "gz"].iter().any(|ext| {
                path.strip_suffix(ext)
                    .and_then(|p| p.strip_suffix('.'))
                    .is_some_and(|original| all.contains_key(original))
            })
        };
        let copy = |path: &str, ext: &str| {
            all.get(format!("{path}.{ext}").as_str())
                .map(|bytes| Representation::new(bytes))
        };
        let files = embedded
            .files
            .iter()
            .filter(|(path, _)| !precompressed(path))
            .map(|&(path, bytes)| {
                let file = EmbeddedFile {
                    content_type: content_type(path),
                    identity: Representation::new(bytes),
                    br: copy(path, "br"),
                    gzip: copy(path, "gz"),
                };
                (path, file)
            })
            .collect();
        Self {
            output_name: embedded.output_name,
            pkg_dir: embedded.pkg_dir,
            files,
        }
    }

    /// The answer for a request to `path`, or `None` when no such file is embedded.
    fn respond(&self, path: &str, headers: &HeaderMap, head: bool) -> Option<Response> {
        let file = self.files.get(path)?;
        let (representation, encoding) = file.negotiate(headers);
        let mut res = Response::new(Body::empty());
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, file.content_type.clone());
        h.insert(header::ETAG, representation.etag.clone());
        if file.br.is_some() || file.gzip.is_some() {
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if let Some(encoding) = encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        if none_match(headers, &representation.etag) {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return Some(res);
        }
        h.insert(header::CONTENT_LENGTH, representation.bytes.len().into());
        if !head {
            *res.body_mut() = Body::from(representation.bytes);
        }
        Some(res)
    }
}

impl fmt::Debug for EmbeddedSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedSite")
            .field("output_name", &self.output_name)
            .field("pkg_dir", &self.pkg_dir)
            .field("files", &self.files.len())
            .finish()
    }
}

impl EmbeddedFile {
    /// Brotli if the browser takes it at least as gladly as gzip, then gzip, then the file.
    fn negotiate(&self, headers: &HeaderMap) -> (&Representation, Option<&'static str>) {
        let br = self.br.as_ref().map_or(0.0, |_| quality(headers, "br"));
        let gzip = self.gzip.as_ref().map_or(0.0, |_| quality(headers, "gzip"));
        match (&self.br, &self.gzip) {
            (Some(rep), _) if br > 0.0 && br >= gzip => (rep, Some("br")),
            (_, Some(rep)) if gzip > 0.0 => (rep, Some("gzip")),
            _ => (&self.identity, None),
        }
    }
}

/// The type `ServeDir` would send for the path (by its extension).
fn content_type(path: &str) -> HeaderValue {
    mime_guess::from_path(Path::new(path))
        .first_raw()
        .map_or(HeaderValue::from_static("application/octet-stream"), |t| {
            HeaderValue::from_static(t)
        })
}

/// The q-value `Accept-Encoding` gives `coding` (by name, else through `*`), 0 if none.
fn quality(headers: &HeaderMap, coding: &str) -> f32 {
    let mut wildcard = None;
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case(coding) {
            return q;
        }
        if name == "*" {
            wildcard = Some(q);
        }
    }
    wildcard.unwrap_or(0.0)
}

/// Whether `If-None-Match` lists `etag` (or `*`): the browser's copy is current.
fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// The site's files as a fallback service; `not_found` answers for missing files.
pub fn site<S, NF>(files: &SiteFiles, options: &LeptosOptions, not_found: NF) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    NF: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    NF::Future: Send + 'static,
{
    let (router, hashed) = match files {
        SiteFiles::Disk { root, hashed } => {
            let files = ServeDir::new(root)
                .precompressed_br()
                .precompressed_gzip()
                .append_index_html_on_directories(false)
                .not_found_service(not_found);
            (Router::new().fallback_service(files), *hashed)
        }
        SiteFiles::Embedded(site) => {
            let site = site.clone();
            let files = tower::service_fn(move |req: Request| {
                let site = site.clone();
                let not_found = not_found.clone();
                async move {
                    // As `ServeDir` answers: files are only read.
                    let head = req.method() == Method::HEAD;
                    if req.method() != Method::GET && !head {
                        let mut res = Response::new(Body::empty());
                        *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                        res.headers_mut()
                            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
                        return Ok(res);
                    }
                    match site.respond(req.uri().path(), req.headers(), head) {
                        Some(res) => Ok::<_, Infallible>(res),
                        None => not_found.oneshot(req).await,
                    }
                }
            });
            (Router::new().fallback_service(files), true)
        }
    };
    let pkg_prefix = format!("/{}/", options.site_pkg_dir);
    router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let is_pkg = req.uri().path().starts_with(&pkg_prefix);
        async move {
            let mut res = next.run(req).await;
            if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
                let rule = match (is_pkg, hashed) {
                    (true, true) => IMMUTABLE,
                    (true, false) => REVALIDATE,
                    (false, _) => SHORT,
                };
                res.headers_mut().insert(header::CACHE_CONTROL, rule);
            }
            res
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    static FILES: &[(&str, &[u8])] = &[
        ("/pkg/site.h.wasm", b"\0asm wasm"),
        ("/pkg/site.h.wasm.br", b"brotli wasm"),
        ("/pkg/site.h.wasm.gz", b"gzip wasm"),
        ("/pkg/site.h.js", b"js"),
        ("/logo.svg", b"<svg/>"),
    ];

    fn site() -> EmbeddedSite {
        EmbeddedSite::new(EmbeddedFiles {
            output_name: "site.h",
            pkg_dir: "pkg",
            files: FILES,
        })
    }

    fn get(path: &str, headers: &[(header::HeaderName, &str)]) -> Option<Response> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        site().respond(path, &map, false)
    }

    async fn body(res: Response) -> Vec<u8> {
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn brotli_goes_to_browsers_that_take_it_and_the_file_to_the_rest() {
        let res = get("/pkg/site.h.wasm", &[(header::ACCEPT_ENCODING, "gzip, br")]).unwrap();
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        assert_eq!(body(res).await, b"brotli wasm");

        let res = get("/pkg/site.h.wasm", &[(header::ACCEPT_ENCODING, "gzip")]).unwrap();
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(body(res).await, b"gzip wasm");

        let res = get(
            "/pkg/site.h.wasm",
            &[(header::ACCEPT_ENCODING, "br;q=0, gzip;q=0.5")],
        )
        .unwrap();
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");

        let res = get("/pkg/site.h.wasm", &[]).unwrap();
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(res.headers()[header::CONTENT_LENGTH], "9");
        assert_eq!(body(res).await, b"\0asm wasm");
    }

    #[test]
    fn precompressed_copies_are_not_files_of_their_own_and_missing_files_are_none() {
        assert!(get("/pkg/site.h.wasm.br", &[]).is_none());
        assert!(get("/pkg/missing.js", &[]).is_none());
        assert!(get("/pkg", &[]).is_none());
    }

    #[test]
    fn a_current_copy_gets_not_modified() {
        let res = get("/logo.svg", &[]).unwrap();
        assert_eq!(res.headers()[header::CONTENT_TYPE], "image/svg+xml");
        assert!(res.headers().get(header::VARY).is_none());
        let etag = res.headers()[header::ETAG].to_str().unwrap().to_string();

        let res = get("/logo.svg", &[(header::IF_NONE_MATCH, &etag)]).unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        let res = get("/logo.svg", &[(header::IF_NONE_MATCH, "\"other\"")]).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[test]
    fn each_encoding_has_its_own_etag() {
        let br = get("/pkg/site.h.wasm", &[(header::ACCEPT_ENCODING, "br")]).unwrap();
        let plain = get("/pkg/site.h.wasm", &[]).unwrap();
        assert_ne!(br.headers()[header::ETAG], plain.headers()[header::ETAG]);
    }
}
