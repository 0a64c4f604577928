//! The real client address behind proxies. When the peer is one of `http.trusted_proxies`,
//! the client is the right-most address of `Forwarded` (RFC 7239 `for=`) or, without it,
//! `X-Forwarded-For` that is not itself a trusted proxy; otherwise the peer. A layer records
//! it on every request (HTTP, WebSocket upgrade, long polling, gRPC), so every per-address
//! limit and log line sees the same address.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request},
    http::HeaderMap,
};
use ipnet::IpNet;

/// The client address a request was resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("http.trusted_proxies: {entry:?} is not a CIDR or address"))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, from the request's forwarding headers when `peer` is trusted.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        // Right to left: the nearest hop not ours is the client as far as we can know; a
        // client can prepend anything, so nothing left of it is believed.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return *ip,
                // An obfuscated or unparsable hop: stop at the last address we trust.
                None => return client,
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as dual-stack sockets report) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops of `Forwarded` (`for=` of each element), or else of `X-Forwarded-For`, in
/// order; `None` for one that is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for").then(|| parse_node(value))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(parse_node)
        .collect()
}

/// One node of a forwarding header: `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:443"`, `::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim().trim_matches('"');
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    let bracketed = raw.strip_prefix('[')?.split(']').next()?;
    bracketed.parse::<IpAddr>().ok().map(canonical)
}

/// Records the client address of a request (see the module docs).
pub fn record(trusted: &TrustedProxies, request: &mut Request) {
    let Some(peer) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return;
    };
    let client = trusted.resolve(canonical(peer), request.headers());
    request.extensions_mut().insert(ClientIp(client));
}

/// The client's address from what the listener recorded on a request: the one resolved
/// behind trusted proxies, else the socket's peer. HTTP and gRPC keep their extensions in
/// different types, so each passes the two lookups.
pub(crate) fn recorded(
    resolved: Option<&ClientIp>,
    peer: Option<&axum::extract::ConnectInfo<std::net::SocketAddr>>,
) -> Option<IpAddr> {
    resolved.map(|c| c.0).or_else(|| peer.map(|c| c.0.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap_or_else(|_| panic!("{v}")));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let none = TrustedProxies::default();
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(none.resolve(ip("9.9.9.9"), &h), ip("9.9.9.9"));
        let lb = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap_or_default();
        assert_eq!(lb.resolve(ip("9.9.9.9"), &h), ip("9.9.9.9"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let lb =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "fd00::1".into()]).unwrap_or_default();
        // The client forged the first entry; the proxies appended the real one and themselves.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 2.2.2.2, 10.1.1.1")]);
        assert_eq!(lb.resolve(ip("10.0.0.5"), &h), ip("2.2.2.2"));
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https, for=10.2.2.2",
        )]);
        assert_eq!(lb.resolve(ip("fd00::1"), &h), ip("2001:db8::7"));
        // Forwarded wins over X-Forwarded-For; a mapped peer is its IPv4 address.
        let h = headers(&[("forwarded", "for=3.3.3.3"), ("x-forwarded-for", "4.4.4.4")]);
        assert_eq!(lb.resolve(ip("10.0.0.5"), &h), ip("3.3.3.3"));
        // Nothing forwarded: the proxy itself; garbage: the last trusted hop.
        assert_eq!(
            lb.resolve(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        let h = headers(&[("x-forwarded-for", "1.1.1.1, nonsense, 10.3.3.3")]);
        assert_eq!(lb.resolve(ip("10.0.0.5"), &h), ip("10.3.3.3"));
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert_eq!(
            canonical(ip("::ffff:10.0.0.5")),
            ip("10.0.0.5"),
            "mapped addresses compare as IPv4"
        );
    }
}
