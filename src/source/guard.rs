//! The address guard: classifies an IP address and decides whether a source may be fetched from it
//! (SPEC §4 "SSRF").
//!
//! Owns the list of refused address classes and the `Cidr` type for explicitly allowed networks. It is
//! pure (no I/O): the HTTP fetcher calls it on every address its resolver returns and on every literal
//! IP host, so what we connect to is exactly what was checked. It must not know about URLs or requests.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::config::SourceConfig;

/// Why an address is not an ordinary public one. `Public` is the only class allowed unconditionally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrClass {
    /// A globally routable address.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7, the deprecated site-local fec0::/10.
    Private,
    /// Shared address space 100.64.0.0/10 (CGNAT); refused with the private ranges.
    Cgnat,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// Cloud instance metadata (169.254.169.254, fd00:ec2::254): refused even when link-local or
    /// private addresses are allowed, because it hands out credentials.
    Metadata,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 0.0.0.0/8 and ::; on Linux, connecting to 0.0.0.0 reaches the local host.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// Reserved or special-purpose ranges that no image server lives on (240/4, 192.0.0.0/24,
    /// 198.18/15, documentation ranges, Teredo, local-use NAT64).
    Reserved,
}

impl fmt::Display for AddrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::Cgnat => "shared (CGNAT)",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Metadata => "cloud metadata",
            AddrClass::Multicast => "multicast",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Broadcast => "broadcast",
            AddrClass::Reserved => "reserved",
        };
        f.write_str(name)
    }
}

/// Classifies an address. IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4)
/// take the class of the embedded address, so `::ffff:127.0.0.1` is loopback.
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => AddrClass::Metadata,
        _ if ip.is_broadcast() => AddrClass::Broadcast,
        (0, _, _) => AddrClass::Unspecified,
        (127, _, _) => AddrClass::Loopback,
        (10, _, _) | (192, 168, _) => AddrClass::Private,
        (172, 16..=31, _) => AddrClass::Private,
        (100, 64..=127, _) => AddrClass::Cgnat,
        (169, 254, _) => AddrClass::LinkLocal,
        (224..=239, _, _) => AddrClass::Multicast,
        (240..=255, _, _) => AddrClass::Reserved,
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddrClass::Reserved,
        (198, 18..=19, _) => AddrClass::Reserved,
        _ => AddrClass::Public,
    }
}

/// The IPv4 address carried inside an IPv6 one, for the forms that reach IPv4 hosts. `::` and `::1`
/// look IPv4-compatible but are classified before this is asked.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(tail),
        // SIIT translated form ::ffff:0:a.b.c.d (RFC 2765).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(tail),
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // 6to4 2002:AABB:CCDD::/48 carries the IPv4 address in bits 16..48 (RFC 3056).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let first = ip.segments()[0];
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return AddrClass::Metadata;
    }
    if ip.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddrClass::Loopback;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    match first {
        0xfe80..=0xfebf => AddrClass::LinkLocal,
        0xfec0..=0xfeff | 0xfc00..=0xfdff => AddrClass::Private,
        0xff00..=0xffff => AddrClass::Multicast,
        // Teredo (2001::/32) hides a client address we cannot check; local-use NAT64 (64:ff9b:1::/48)
        // translates into private networks; 2001:db8::/32 is documentation.
        _ if ip.segments()[..2] == [0x2001, 0] || ip.segments()[..2] == [0x2001, 0xdb8] => AddrClass::Reserved,
        _ if ip.segments()[..3] == [0x64, 0xff9b, 1] => AddrClass::Reserved,
        // Everything outside 2000::/3 is unassigned or special.
        0x2000..=0x3fff => AddrClass::Public,
        _ => AddrClass::Reserved,
    }
}

/// An IP network, `10.0.0.0/8` or `fd00::/8`; a bare address is a single-address network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A malformed network in configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an IP network (expected e.g. 10.0.0.0/8, fd00::/8 or a bare address)")]
pub struct CidrParseError(String);

impl FromStr for Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Cidr, CidrParseError> {
        let bad = || CidrParseError(s.to_string());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p.parse().map_err(|_| bad())?,
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` lies in this network. An IPv4-mapped IPv6 address counts as its IPv4 address, so
    /// `127.0.0.1/32` also allows `::ffff:127.0.0.1`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(net.to_bits().into(), ip.to_bits().into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(net.to_bits(), ip.to_bits(), self.prefix, 128),
            _ => false,
        }
    }
}

/// Compares the top `prefix` bits of two `width`-bit numbers held in a `u128`.
fn same_prefix(a: u128, b: u128, prefix: u8, width: u32) -> bool {
    let host_bits = width.saturating_sub(u32::from(prefix));
    a.checked_shr(host_bits).unwrap_or(0) == b.checked_shr(host_bits).unwrap_or(0)
}

/// The address policy: which classes are allowed, plus networks allowed regardless of class.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    allow_loopback: bool,
    allow_private: bool,
    allow_link_local: bool,
    allowed_networks: Vec<Cidr>,
}

impl Guard {
    /// The policy of `IMGPROXY_ALLOW_*_SOURCE_ADDRESSES` and the explicitly allowed networks.
    pub fn new(config: &SourceConfig) -> Guard {
        Guard {
            allow_loopback: config.allow_loopback,
            allow_private: config.allow_private,
            allow_link_local: config.allow_link_local,
            allowed_networks: config.allowed_networks.clone(),
        }
    }

    /// `Ok` when a connection to `ip` is allowed; otherwise the class that refused it.
    pub fn check(&self, ip: IpAddr) -> Result<(), AddrClass> {
        if self.allowed_networks.iter().any(|net| net.contains(ip)) {
            return Ok(());
        }
        let class = classify(ip);
        let allowed = match class {
            AddrClass::Public => true,
            AddrClass::Loopback => self.allow_loopback,
            AddrClass::Private | AddrClass::Cgnat => self.allow_private,
            AddrClass::LinkLocal => self.allow_link_local,
            AddrClass::Metadata
            | AddrClass::Multicast
            | AddrClass::Unspecified
            | AddrClass::Broadcast
            | AddrClass::Reserved => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(class)
        }
    }
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
