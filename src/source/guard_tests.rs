//! Table-driven tests of address classification, the policy and `Cidr`.

use super::*;

fn ip(s: &str) -> IpAddr {
    match s.parse() {
        Ok(ip) => ip,
        Err(e) => panic!("test table has a bad address {s}: {e}"),
    }
}

fn cidr(s: &str) -> Cidr {
    match s.parse() {
        Ok(c) => c,
        Err(e) => panic!("test table has a bad network {s}: {e}"),
    }
}

#[test]
fn classify_table() {
    use AddrClass::*;
    let rows: &[(&str, &str, AddrClass)] = &[
        ("public v4", "93.184.216.34", Public),
        ("public v6", "2606:2800:220:1:248:1893:25c8:1946", Public),
        ("loopback v4 start", "127.0.0.1", Loopback),
        ("loopback v4 anywhere in /8", "127.255.0.2", Loopback),
        ("loopback v6", "::1", Loopback),
        ("private 10/8", "10.1.2.3", Private),
        ("private 172.16/12 low", "172.16.0.1", Private),
        ("private 172.16/12 high", "172.31.255.255", Private),
        ("just outside 172.16/12", "172.32.0.1", Public),
        ("private 192.168/16", "192.168.1.1", Private),
        ("unique-local fc00::/7", "fd12:3456::1", Private),
        ("unique-local fc", "fc00::1", Private),
        ("site-local fec0::/10", "fec0::1", Private),
        ("cgnat low", "100.64.0.1", Cgnat),
        ("cgnat high", "100.127.255.254", Cgnat),
        ("just outside cgnat", "100.128.0.1", Public),
        ("link-local v4", "169.254.1.1", LinkLocal),
        ("link-local v6", "fe80::1", LinkLocal),
        ("metadata v4", "169.254.169.254", Metadata),
        ("metadata v6 (AWS)", "fd00:ec2::254", Metadata),
        ("multicast v4", "224.0.0.1", Multicast),
        ("multicast v6", "ff02::1", Multicast),
        ("unspecified v4", "0.0.0.0", Unspecified),
        ("this-network 0/8", "0.1.2.3", Unspecified),
        ("unspecified v6", "::", Unspecified),
        ("broadcast", "255.255.255.255", Broadcast),
        ("reserved 240/4", "240.0.0.1", Reserved),
        ("ietf protocol 192.0.0/24 (OCI metadata)", "192.0.0.192", Reserved),
        ("benchmarking 198.18/15", "198.19.1.1", Reserved),
        ("documentation v4", "203.0.113.5", Reserved),
        ("documentation v6", "2001:db8::1", Reserved),
        ("teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", Reserved),
        ("outside 2000::/3", "4000::1", Reserved),
        ("v4-mapped loopback", "::ffff:127.0.0.1", Loopback),
        ("v4-mapped private", "::ffff:10.0.0.1", Private),
        ("v4-mapped metadata", "::ffff:169.254.169.254", Metadata),
        ("v4-mapped public", "::ffff:93.184.216.34", Public),
        ("v4-compatible loopback", "::127.0.0.1", Loopback),
        ("v4-compatible private", "::192.168.0.1", Private),
        ("siit translated loopback", "::ffff:0:127.0.0.1", Loopback),
        ("nat64 loopback", "64:ff9b::127.0.0.1", Loopback),
        ("nat64 metadata", "64:ff9b::a9fe:a9fe", Metadata),
        ("nat64 public", "64:ff9b::93.184.216.34", Public),
        ("local-use nat64", "64:ff9b:1::a00:1", Reserved),
        ("6to4 loopback", "2002:7f00:1::1", Loopback),
        ("6to4 private", "2002:c0a8:101::", Private),
        ("6to4 public", "2002:5db8:d822::1", Public),
    ];
    for (name, addr, want) in rows {
        assert_eq!(classify(ip(addr)), *want, "{name}: {addr}");
    }
}

fn policy(loopback: bool, private: bool, link_local: bool, networks: &[&str]) -> Guard {
    Guard {
        allow_loopback: loopback,
        allow_private: private,
        allow_link_local: link_local,
        allowed_networks: networks.iter().map(|n| cidr(n)).collect(),
    }
}

#[test]
fn policy_table() {
    let default = policy(false, false, false, &[]);
    let everything = policy(true, true, true, &[]);
    let only_net = policy(false, false, false, &["127.0.0.1/32", "fd00::/8"]);
    let rows: &[(&str, &Guard, &str, bool)] = &[
        ("public allowed by default", &default, "8.8.8.8", true),
        ("loopback refused by default", &default, "127.0.0.1", false),
        ("private refused by default", &default, "192.168.0.10", false),
        ("cgnat refused by default", &default, "100.64.1.1", false),
        ("link-local refused by default", &default, "fe80::1", false),
        ("mapped loopback refused by default", &default, "::ffff:127.0.0.1", false),
        ("loopback allowed when enabled", &everything, "127.0.0.1", true),
        ("private allowed when enabled", &everything, "10.0.0.1", true),
        ("cgnat goes with private", &everything, "100.100.0.1", true),
        ("link-local allowed when enabled", &everything, "169.254.10.10", true),
        ("metadata refused even with every allowance", &everything, "169.254.169.254", false),
        ("v6 metadata refused even with every allowance", &everything, "fd00:ec2::254", false),
        ("multicast never allowed by class", &everything, "239.1.1.1", false),
        ("unspecified never allowed by class", &everything, "0.0.0.0", false),
        ("allowed network wins over class", &only_net, "127.0.0.1", true),
        ("allowed network covers its mapped form", &only_net, "::ffff:127.0.0.1", true),
        ("outside allowed network still refused", &only_net, "127.0.0.2", false),
        ("v6 allowed network wins over class", &only_net, "fd00:ec2::254", true),
        ("v6 network does not leak to other ula", &only_net, "fc00::1", false),
    ];
    for (name, guard, addr, want) in rows {
        assert_eq!(guard.check(ip(addr)).is_ok(), *want, "{name}: {addr}");
    }
}

#[test]
fn refusal_names_the_class() {
    let guard = policy(false, false, false, &[]);
    assert_eq!(guard.check(ip("10.9.8.7")), Err(AddrClass::Private));
    assert_eq!(guard.check(ip("64:ff9b::7f00:1")), Err(AddrClass::Loopback));
}

#[test]
fn cidr_parse_table() {
    let rows: &[(&str, &str, Option<&str>)] = &[
        ("v4 network", "10.0.0.0/8", Some("10.0.0.0/8")),
        ("v6 network", "fd00::/8", Some("fd00::/8")),
        ("bare v4 is /32", "192.168.1.1", Some("192.168.1.1/32")),
        ("bare v6 is /128", "::1", Some("::1/128")),
        ("surrounding spaces", " 10.0.0.0/8 ", Some("10.0.0.0/8")),
        ("zero prefix", "0.0.0.0/0", Some("0.0.0.0/0")),
        ("v4 prefix too long", "10.0.0.0/33", None),
        ("v6 prefix too long", "fd00::/129", None),
        ("negative prefix", "10.0.0.0/-1", None),
        ("signed prefix", "10.0.0.0/+8", None),
        ("empty prefix", "10.0.0.0/", None),
        ("not an address", "example.com/8", None),
        ("empty", "", None),
    ];
    for (name, input, want) in rows {
        let got = input.parse::<Cidr>().ok().map(|c| c.to_string());
        assert_eq!(got.as_deref(), *want, "{name}: {input:?}");
    }
}

#[test]
fn cidr_contains_table() {
    let rows: &[(&str, &str, &str, bool)] = &[
        ("inside /8", "10.0.0.0/8", "10.255.1.2", true),
        ("outside /8", "10.0.0.0/8", "11.0.0.1", false),
        ("host bits in the network are ignored", "10.1.2.3/8", "10.200.0.1", true),
        ("/32 matches itself", "127.0.0.1", "127.0.0.1", true),
        ("/32 does not match a neighbour", "127.0.0.1", "127.0.0.2", false),
        ("/0 matches every v4", "0.0.0.0/0", "203.0.113.9", true),
        ("v4 network never matches a plain v6", "0.0.0.0/0", "2001:db8::1", false),
        ("v4 network matches the mapped form", "127.0.0.0/8", "::ffff:127.0.0.9", true),
        ("inside v6 /8", "fd00::/8", "fd12::1", true),
        ("outside v6 /8", "fd00::/8", "fc00::1", false),
        ("/0 matches every v6", "::/0", "fe80::1", true),
        ("v6 /128", "::1", "::1", true),
        ("v6 network never matches v4", "::/0", "10.0.0.1", false),
    ];
    for (name, net, addr, want) in rows {
        assert_eq!(cidr(net).contains(ip(addr)), *want, "{name}: {net} ∋ {addr}");
    }
}
