//! The client's address, trusting `X-Forwarded-For` only when the connection comes from a
//! configured proxy (anyone can send the header; only your proxy's word counts).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::{Extensions, HeaderMap};

/// An address range such as `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = text.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self {
            network: addr,
            prefix,
        })
    }

    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client address: the peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    extensions: &Extensions,
    trusted: &[IpRange],
) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    match peer {
        Some(peer) if !is_trusted(peer) => Some(peer),
        _ if trusted.is_empty() => peer,
        _ => {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|s| s.trim().parse::<IpAddr>().ok())
                .collect::<Vec<_>>();
            forwarded
                .iter()
                .rev()
                .copied()
                .find(|ip| !is_trusted(*ip))
                .or(peer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_peer(peer: &str) -> Extensions {
        let mut ext = Extensions::new();
        ext.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 5000)));
        ext
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let trusted = [IpRange::parse("10.0.0.0/8").unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.7, 10.1.2.3".parse().unwrap(),
        );
        assert_eq!(
            client_ip(&headers, &with_peer("10.0.0.1"), &trusted),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            client_ip(&headers, &with_peer("198.51.100.9"), &trusted),
            Some("198.51.100.9".parse().unwrap()),
            "a client cannot claim another address"
        );
        assert_eq!(
            client_ip(&headers, &with_peer("10.0.0.1"), &[]),
            Some("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn ranges() {
        let r = IpRange::parse("192.168.0.0/16").unwrap();
        assert!(r.contains("192.168.4.5".parse().unwrap()));
        assert!(!r.contains("192.169.0.1".parse().unwrap()));
        assert!(IpRange::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(IpRange::parse("1.2.3.4/33").is_none());
    }
}
