//! Static files: the WASM bundle, JS, CSS and public assets, served precompressed
//! (brotli, gzip) when the build made `.br`/`.gz` files, with long cache lifetimes on
//! content-hashed names.

use axum::{
    extract::Request,
    middleware::{self, Next},
    response::Response,
    Router,
};
use http::{header, HeaderValue};
use leptos::prelude::LeptosOptions;
use tower::Service;
use tower_http::services::ServeDir;

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
const SHORT: HeaderValue = HeaderValue::from_static("public, max-age=3600");

/// The site root as a fallback service; `not_found` answers for missing files.
pub fn site<S, NF>(options: &LeptosOptions, not_found: NF) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    NF: Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    NF::Future: Send + 'static,
{
    let files = ServeDir::new(options.site_root.as_ref())
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false)
        .not_found_service(not_found);
    let pkg_prefix = format!("/{}/", options.site_pkg_dir);
    let hashed = options.hash_files;
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let is_pkg = req.uri().path().starts_with(&pkg_prefix);
            async move {
                let mut res = next.run(req).await;
                if res.status().is_success() {
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
