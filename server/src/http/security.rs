//! Browser-facing defences: response security headers (with a per-page CSP nonce for
//! hydration) and a cross-origin check on every state-changing request (CSRF).

use crate::config::PublicOrigin;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use std::sync::Arc;

/// Security settings computed once at start-up.
#[derive(Debug)]
pub struct SecurityPolicy {
    public_origin: Option<PublicOrigin>,
    /// CSP before and after the nonce source in `script-src`.
    csp_head: String,
    csp_tail: String,
    csp_default: HeaderValue,
    hsts: Option<HeaderValue>,
}

impl SecurityPolicy {
    /// `dev_reload_port`: cargo-leptos' live-reload socket, allowed in `connect-src` only
    /// under `cargo leptos watch`.
    pub fn new(public_origin: Option<PublicOrigin>, dev_reload_port: Option<u32>) -> Self {
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
        let hsts = public_origin
            .as_ref()
            .filter(|o| o.is_https())
            .map(|_| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
        Self {
            public_origin,
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

    /// Whether a request comes from another site than ours (ASVS 3.5). Browsers say so with
    /// `Sec-Fetch-Site` or `Origin`; a request with neither is not from a browser, and
    /// cannot carry a victim's cookie on an attacker's behalf.
    pub fn is_cross_origin(&self, headers: &HeaderMap) -> bool {
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        if matches!(fetch_site, Some("same-origin" | "none")) {
            return false;
        }
        match headers.get(header::ORIGIN).map(|v| v.to_str()) {
            Some(Ok(origin)) => !self.is_own_origin(origin, headers),
            // An Origin that is not even text is not ours.
            Some(Err(_)) => true,
            // A browser that said `same-site`/`cross-site` but sent no Origin.
            None => fetch_site.is_some(),
        }
    }

    /// Whether HTTP Basic may be used from `peer`: it sends the password in the clear, so
    /// only from loopback, and not when browsers reach us through a plain-http proxy (on the
    /// same host, every proxied request looks like loopback).
    pub fn allows_basic_auth(&self, peer: std::net::IpAddr) -> bool {
        peer.is_loopback()
            && self
                .public_origin
                .as_ref()
                .is_none_or(PublicOrigin::is_https)
    }

    /// Whether the request names an `Origin` that is not ours (for the WebSocket upgrade,
    /// where browsers always send one; scripts send none and carry no victim's cookie).
    pub fn is_foreign_origin(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN).map(|v| v.to_str()) {
            Some(Ok(origin)) => !self.is_own_origin(origin, headers),
            Some(Err(_)) => true,
            None => false,
        }
    }

    fn is_own_origin(&self, origin: &str, headers: &HeaderMap) -> bool {
        match &self.public_origin {
            Some(public) => origin.eq_ignore_ascii_case(public.as_str()),
            None => {
                let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
                let authority = origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"));
                matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
            }
        }
    }
}

/// Refuses state-changing requests from other sites with 403.
pub async fn reject_cross_origin(
    State(policy): State<Arc<SecurityPolicy>>,
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        let p = SecurityPolicy::new(None, None);
        assert!(!p.is_cross_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
        assert!(!p.is_cross_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!p.is_cross_origin(&headers(&[("host", "127.0.0.1:3000")])));
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let p = SecurityPolicy::new(None, None);
        assert!(p.is_cross_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example")
        ])));
        assert!(p.is_cross_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "null")])));
        assert!(p.is_cross_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(p.is_cross_origin(&headers(&[
            ("host", "a.example"),
            ("sec-fetch-site", "same-site"),
            ("origin", "http://b.a.example")
        ])));
    }

    #[test]
    fn a_public_origin_replaces_the_host_header() {
        let p = SecurityPolicy::new(
            Some(PublicOrigin::parse("https://lookout.example.com").unwrap()),
            None,
        );
        assert!(!p.is_cross_origin(&headers(&[
            ("host", "10.0.0.5:3000"),
            ("origin", "https://lookout.example.com")
        ])));
        assert!(p.is_cross_origin(&headers(&[
            ("host", "10.0.0.5:3000"),
            ("origin", "http://10.0.0.5:3000")
        ])));
    }

    #[test]
    fn basic_auth_only_from_loopback_and_never_behind_a_plain_http_proxy() {
        let local = std::net::IpAddr::from([127, 0, 0, 1]);
        let remote = std::net::IpAddr::from([192, 0, 2, 7]);
        assert!(SecurityPolicy::new(None, None).allows_basic_auth(local));
        assert!(!SecurityPolicy::new(None, None).allows_basic_auth(remote));
        let https = SecurityPolicy::new(
            Some(PublicOrigin::parse("https://l.example").unwrap()),
            None,
        );
        assert!(https.allows_basic_auth(local));
        let http =
            SecurityPolicy::new(Some(PublicOrigin::parse("http://l.example").unwrap()), None);
        assert!(!http.allows_basic_auth(local));
    }

    #[test]
    fn csp_allows_wasm_and_the_nonce_and_forbids_framing() {
        let p = SecurityPolicy::new(None, None);
        let csp = p.csp_with_nonce("abc123").unwrap();
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-abc123';"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
