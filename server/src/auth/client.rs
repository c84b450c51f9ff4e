//! Who is on the other end: the client address a request is counted under (throttling,
//! socket caps, audit). Forwarding headers are believed only from a configured trusted
//! proxy; from anyone else they are ignored, so rotating them changes nothing.

use axum::extract::ConnectInfo;
use http::{header, Extensions, HeaderMap};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The resolved client address of a request, put in its extensions by the HTTP layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client address, as an extractor for handlers.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(&parts.extensions)))
    }
}

/// The client address of a request: as resolved by the HTTP layer, else the peer.
pub fn client_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_canonical())
        })
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
}

/// The address to count: IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64,
/// so counting single IPv6 addresses would let it rotate through 2^64 of them).
pub fn counted(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// The client address of a request that came from `peer` with `headers`.
///
/// Only when `peer` is a trusted proxy: the rightmost `X-Forwarded-For` entry that is not
/// itself a trusted proxy (entries to its left are whatever the client claimed), or
/// failing that the `Forwarded` header's `for=` the same way.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let xff: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let hops: Vec<&str> = if xff.is_empty() {
        headers
            .get_all(header::FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(forwarded_for)
            .collect()
    } else {
        xff
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            // Garbage where an address should be: stop at the last hop we could trust.
            None => return client,
        }
    }
    client
}

/// The `for=` value of one `Forwarded` element (RFC 7239).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An address from a forwarding header: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .or_else(|_| raw.parse::<SocketAddr>().map(|s| s.ip()))
        .or_else(|_| raw.trim_start_matches('[').trim_end_matches(']').parse())
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn proxies() -> Vec<IpNet> {
        vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        assert_eq!(
            resolve(ip("203.0.113.9"), &h, &proxies()),
            ip("203.0.113.9")
        );
        assert_eq!(resolve(ip("127.0.0.1"), &h, &[]), ip("127.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &proxies()), ip("198.51.100.7"));
        // Split over several header lines, the order still counts.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.8"),
        ]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &proxies()), ip("198.51.100.8"));
        // Garbage to the left of the real client does not matter; garbage in its place
        // leaves the request counted under the proxy.
        let h = headers(&[("x-forwarded-for", "not-an-ip, 198.51.100.7")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &proxies()), ip("198.51.100.7"));
        let h = headers(&[("x-forwarded-for", "198.51.100.7, not-an-ip")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &proxies()), ip("127.0.0.1"));
    }

    #[test]
    fn the_forwarded_header_is_read_when_there_is_no_x_forwarded_for() {
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2"#,
        )]);
        assert_eq!(
            resolve(ip("10.0.0.1"), &h, &proxies()),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "for=192.0.2.60:8080;by=10.0.0.1")]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &proxies()), ip("192.0.2.60"));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(counted(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            counted(ip("2001:db8:1:2:ffff:1:2:3")),
            counted(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            counted(ip("2001:db8:1:3::1")),
            counted(ip("2001:db8:1:2::1"))
        );
        assert_eq!(counted(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(counted(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
