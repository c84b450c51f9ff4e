//! Browser-facing defences: response security headers (with a per-page CSP nonce for
//! hydration), a cross-origin check on every state-changing request (CSRF), and the
//! `Host` check against DNS rebinding. Which origins and hosts are ours is decided by
//! [`OriginPolicy`].

use crate::auth::origin::OriginPolicy;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, HeaderValue, Method, StatusCode};
use std::sync::Arc;

/// Response headers computed once at start-up.
#[derive(Debug)]
pub struct SecurityPolicy {
    /// CSP before and after the nonce source in `script-src`.
    csp_head: String,
    csp_tail: String,
    csp_default: HeaderValue,
    hsts: Option<HeaderValue>,
}

impl SecurityPolicy {
    /// `dev_reload_port`: cargo-leptos' live-reload socket, allowed in `connect-src` only
    /// under `cargo leptos watch`. `https`: browsers reach us over TLS (HSTS).
    pub fn new(https: bool, dev_reload_port: Option<u32>) -> Self {
        let connect = match dev_reload_port {
            Some(port) => format!("'self' ws://*:{port}"),
            None => "'self'".to_string(),
        };
        let csp_head = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'".to_string();
        let csp_tail = format!(
            "; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src {connect}; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        let csp_default =
            HeaderValue::from_str(&format!("{csp_head}{csp_tail}")).unwrap_or_else(|_| {
                HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'")
            });
        let hsts = https.then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
        Self {
            csp_head,
            csp_tail,
            csp_default,
            hsts,
        }
    }

    /// The CSP of a rendered page: its inline hydration scripts carry `nonce`.
    pub fn csp_with_nonce(&self, nonce: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!(
            "{} 'nonce-{nonce}'{}",
            self.csp_head, self.csp_tail
        ))
        .ok()
    }
}

/// Refuses requests whose `Host` is not ours with 421 (DNS rebinding: a page elsewhere
/// whose name was re-pointed at this server reaches it under its own name).
///
/// Load balancers and Prometheus reach each instance by its own address: `/healthz` and
/// `/readyz` (which say nothing but "up") pass under any name, and so does `/metrics` with
/// a token (which a rebound page cannot have); `/metrics` without one stays ours only.
pub async fn check_host(
    State(origin): State<Arc<OriginPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let any_host = match req.uri().path() {
        "/healthz" | "/readyz" => true,
        "/metrics" => req.headers().contains_key(header::AUTHORIZATION),
        _ => false,
    };
    if !any_host && !origin.allows_host(req.headers()) {
        tracing::warn!(host = ?req.headers().get(header::HOST), "request for a foreign host refused");
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "This server does not serve that host name.",
        )
            .into_response();
    }
    next.run(req).await
}

/// Refuses state-changing requests from other sites with 403.
pub async fn reject_cross_origin(
    State(policy): State<Arc<OriginPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && policy.is_cross_origin(req.headers()) {
        tracing::warn!(
            method = %req.method(),
            path = req.uri().path(),
            origin = ?req.headers().get(header::ORIGIN),
            "cross-origin request refused"
        );
        return (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response();
    }
    next.run(req).await
}

/// Adds the security headers to every response. Pages set their own nonce CSP; all else
/// gets the default one. Responses without their own caching rule are not stored.
pub async fn security_headers(
    State(policy): State<Arc<SecurityPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy.csp_default.clone());
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(hsts) = &policy.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_wasm_and_the_nonce_and_forbids_framing() {
        let p = SecurityPolicy::new(false, None);
        let csp = p.csp_with_nonce("abc123").unwrap();
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-abc123';"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(p.hsts.is_none() && SecurityPolicy::new(true, None).hsts.is_some());
    }
}
