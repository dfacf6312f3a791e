//! Which address a request comes from when the server sits behind proxies: the peer itself,
//! or the client named in `X-Forwarded-For` when (and only when) the peer is a trusted proxy.
//! It never believes that header from a peer that is not trusted.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or network (e.g. 10.0.0.0/8)"))?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?
        };
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// The address to hold a request's failures against. Each proxy appends the address it
/// saw to `X-Forwarded-For`, so reading from the right, the first address that is not a
/// trusted proxy is the client; whatever stands left of it was written by the client and is
/// ignored. From an untrusted peer the header is ignored altogether.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(list) = value.to_str() else {
            return client;
        };
        for hop in list.rsplit(',') {
            let Some(ip) = parse_hop(hop) else {
                // Only a trusted proxy wrote to the right of here: it is the last one known.
                return client;
            };
            client = ip.to_canonical();
            if !is_trusted(client) {
                return client;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, with or without a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:80`, `[2001:db8::1]`), as proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            hop.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<std::net::Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address literal")
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter()
            .map(|c| c.parse().expect("cidr literal"))
            .collect()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let lan: Cidr = "10.0.0.0/8".parse().expect("cidr");
        assert!(lan.contains(ip("10.255.1.2")) && !lan.contains(ip("11.0.0.1")));
        assert!(
            lan.contains(ip("::ffff:10.0.0.7")),
            "IPv4-mapped counts as IPv4"
        );
        let host: Cidr = "127.0.0.1".parse().expect("cidr");
        assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
        let v6: Cidr = "2001:db8::/32".parse().expect("cidr");
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "host",
            "::1/129",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_forwarded_client_counts_only_behind_a_trusted_proxy() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let headers = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
            }
            h
        };
        let proxy = ip("10.0.0.2");
        assert_eq!(
            client_addr(proxy, &headers(&["203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
        // The client's own (forged) entries stand left of what the proxy appended.
        assert_eq!(
            client_addr(
                proxy,
                &headers(&["1.2.3.4, garbage, 203.0.113.7"]),
                &trusted
            ),
            ip("203.0.113.7")
        );
        // Two trusted hops, over two header lines.
        assert_eq!(
            client_addr(proxy, &headers(&["198.51.100.3", "10.0.0.9"]), &trusted),
            ip("198.51.100.3")
        );
        // No header: the proxy itself.
        assert_eq!(client_addr(proxy, &headers(&[]), &trusted), proxy);
        // From an untrusted peer the header is never believed.
        let stranger = ip("198.51.100.50");
        assert_eq!(
            client_addr(stranger, &headers(&["203.0.113.7"]), &trusted),
            stranger
        );
        assert_eq!(
            client_addr(stranger, &headers(&["10.0.0.2"]), &trusted),
            stranger
        );
        assert_eq!(client_addr(proxy, &headers(&["203.0.113.7"]), &[]), proxy);
    }

    #[test]
    fn forwarded_entries_with_ports_name_their_address() {
        let trusted = cidrs(&["10.0.0.0/8", "fd00::/8"]);
        let proxy = ip("10.0.0.2");
        let forwarded = |v: &str| {
            let mut h = HeaderMap::new();
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
            client_addr(proxy, &h, &trusted)
        };
        assert_eq!(forwarded("203.0.113.7:5678"), ip("203.0.113.7"));
        assert_eq!(forwarded("[2001:db8::1]:80"), ip("2001:db8::1"));
        assert_eq!(forwarded("[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(forwarded("[::1]:80"), ip("::1"));
        // A trusted hop with a port is walked past like one without.
        assert_eq!(forwarded("198.51.100.3, 10.0.0.9:443"), ip("198.51.100.3"));
        assert_eq!(forwarded("198.51.100.3, [fd00::9]:443"), ip("198.51.100.3"));
        // Still not an address: the last trusted hop stands.
        assert_eq!(forwarded("203.0.113.7:99999"), proxy);
        assert_eq!(forwarded("[203.0.113.7]"), proxy);
    }
}
