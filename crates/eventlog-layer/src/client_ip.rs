//! The client's address as the layer sees it: the connection's peer and the
//! `X-Forwarded-For` rule of [`eventlog_core::net`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
pub use eventlog_core::net::IpRange;
use http::{Extensions, HeaderMap};

/// The client address of a request (see [`eventlog_core::net::client_ip`]).
pub(crate) fn client_ip(
    headers: &HeaderMap,
    extensions: &Extensions,
    trusted: &[IpRange],
) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    eventlog_core::net::client_ip(peer, forwarded, trusted)
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
}
