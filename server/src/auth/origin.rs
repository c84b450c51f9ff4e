//! Which requests come from us: the `Origin` and `Host` rules (cross-site request
//! forgery, cross-site WebSocket hijacking, DNS rebinding) and where HTTP Basic may be
//! used. Decided once at start-up from the configuration.

use crate::config::PublicOrigin;
use http::{header, HeaderMap};
use std::net::{IpAddr, SocketAddr};

/// Which `Host` names are served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostRule {
    /// Bound to loopback: only `localhost`, `127.0.0.1` and `[::1]` (any port). A page on
    /// another site whose name was re-pointed at 127.0.0.1 reaches us under its own name.
    Loopback,
    /// With `--public-origin`: only that origin's `host[:port]`.
    Exact { authority: String, https: bool },
    /// Bound to another address without `--public-origin`: any (warned about at start).
    Any,
}

impl HostRule {
    pub fn new(bound: SocketAddr, public_origin: Option<&PublicOrigin>) -> Self {
        match public_origin {
            Some(origin) => Self::Exact {
                authority: origin.authority().to_string(),
                https: origin.is_https(),
            },
            None if bound.ip().is_loopback() => Self::Loopback,
            None => Self::Any,
        }
    }

    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host.map(str::to_ascii_lowercase) else {
            return matches!(self, Self::Any);
        };
        match self {
            Self::Any => true,
            Self::Loopback => {
                let name = match host.strip_prefix('[') {
                    Some(v6) => v6.split_once(']').map(|(addr, _)| addr),
                    None => Some(host.split(':').next().unwrap_or_default()),
                };
                let port_ok = match host.rsplit_once(':') {
                    Some((_, port)) if !host.ends_with(']') => port.parse::<u16>().is_ok(),
                    _ => true,
                };
                port_ok && matches!(name, Some("localhost" | "127.0.0.1" | "::1"))
            }
            Self::Exact { authority, https } => {
                let default_port = if *https { ":443" } else { ":80" };
                host == *authority || host.strip_suffix(default_port) == Some(authority.as_str())
            }
        }
    }
}

#[derive(Debug)]
pub struct OriginPolicy {
    public_origin: Option<PublicOrigin>,
    hosts: HostRule,
    /// Served over TLS by Lookout itself.
    tls: bool,
}

impl OriginPolicy {
    pub fn new(public_origin: Option<PublicOrigin>, bound: SocketAddr) -> Self {
        let hosts = HostRule::new(bound, public_origin.as_ref());
        Self {
            public_origin,
            hosts,
            tls: false,
        }
    }

    /// The same, served over TLS by Lookout itself.
    pub fn with_tls(self, tls: bool) -> Self {
        Self { tls, ..self }
    }

    /// Where this server is reached, for links it hands out: the public origin, or the
    /// request's own `Host` (which [`OriginPolicy::allows_host`] has checked already).
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        match &self.public_origin {
            Some(origin) => origin.as_str().trim_end_matches('/').to_string(),
            None => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("127.0.0.1");
                let scheme = if self.tls { "https" } else { "http" };
                format!("{scheme}://{host}")
            }
        }
    }

    pub fn host_rule(&self) -> &HostRule {
        &self.hosts
    }

    /// Whether the request's `Host` is one we serve (DNS rebinding).
    pub fn allows_host(&self, headers: &HeaderMap) -> bool {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        self.hosts.allows(host)
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

    /// Whether HTTP Basic may be used from `peer`: over our own TLS from anywhere; without
    /// it the password goes in the clear, so only from loopback, and not when browsers reach
    /// us through a plain-http proxy (on the same host, every proxied request looks like
    /// loopback).
    pub fn allows_basic_auth(&self, peer: IpAddr) -> bool {
        self.tls
            || (peer.is_loopback()
                && self
                    .public_origin
                    .as_ref()
                    .is_none_or(PublicOrigin::is_https))
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const LOCAL: &str = "127.0.0.1:3000";

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

    fn local() -> OriginPolicy {
        OriginPolicy::new(None, LOCAL.parse().unwrap())
    }

    fn public(origin: &str) -> OriginPolicy {
        OriginPolicy::new(
            Some(PublicOrigin::parse(origin).unwrap()),
            "0.0.0.0:3000".parse().unwrap(),
        )
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        let p = local();
        assert!(!p.is_cross_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
        assert!(!p.is_cross_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!p.is_cross_origin(&headers(&[("host", "127.0.0.1:3000")])));
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let p = local();
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
        let p = public("https://lookout.example.com");
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
        let here = IpAddr::from([127, 0, 0, 1]);
        let remote = IpAddr::from([192, 0, 2, 7]);
        assert!(local().allows_basic_auth(here));
        assert!(!local().allows_basic_auth(remote));
        assert!(public("https://l.example").allows_basic_auth(here));
        assert!(!public("http://l.example").allows_basic_auth(here));
        // Over Lookout's own TLS the password is never in the clear: from anywhere.
        assert!(local().with_tls(true).allows_basic_auth(remote));
        assert!(public("https://l.example")
            .with_tls(true)
            .allows_basic_auth(remote));
    }

    #[test]
    fn links_handed_out_over_tls_are_https() {
        let h = headers(&[("host", "127.0.0.1:3443")]);
        assert_eq!(local().base_url(&h), "http://127.0.0.1:3443");
        assert_eq!(
            local().with_tls(true).base_url(&h),
            "https://127.0.0.1:3443"
        );
    }

    #[test]
    fn bound_to_loopback_only_loopback_host_names_are_served() {
        let rule = HostRule::new(LOCAL.parse().unwrap(), None);
        for ok in [
            "localhost",
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "[::1]",
            "LOCALHOST:80",
        ] {
            assert!(rule.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:3000",
            "127.0.0.1.evil.example",
            "localhost.evil.example:3000",
            "localhost:x",
            "[::2]:3000",
            "",
        ] {
            assert!(!rule.allows(Some(bad)), "{bad}");
        }
        assert!(!rule.allows(None));
    }

    #[test]
    fn with_a_public_origin_only_its_host_is_served() {
        let rule = HostRule::Exact {
            authority: "lookout.example.com".into(),
            https: true,
        };
        assert!(rule.allows(Some("lookout.example.com")));
        assert!(rule.allows(Some("Lookout.Example.com:443")));
        assert!(!rule.allows(Some("lookout.example.com:80")));
        assert!(!rule.allows(Some("127.0.0.1:3000")));
        assert_eq!(
            HostRule::new("0.0.0.0:3000".parse().unwrap(), None),
            HostRule::Any
        );
    }
}
