//! The SSRF probe suite (issue 8, SPEC §4): every way of naming an internal address that we know of,
//! sent through the real app (both dialects), must be refused with the documented status (404, the
//! imgproxy and Misskey answer for a refused source) and must never reach a listener.
//!
//! `tests/source_http.rs` covers the fetcher alone (a few obfuscated literals, one redirect per code);
//! this file covers the whole request path and the full list of the issue. Safety: only loopback
//! addresses are ever connected to. Probes that name a non-loopback address (10/8, metadata, NAT64 …)
//! are first checked with the pure, I/O-free `Sources::check_allowed` and only sent through the app
//! once that check has refused them, so a broken guard fails the test before anything is dialled.
//! Names resolve through the test resolver (unknown names fail without DNS), except `localhost`, which
//! the system resolver answers from /etc/hosts.

mod common;
#[path = "common/source_origin.rs"]
mod source_origin;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_media_proxy::config::Config;
use lambda_media_proxy::plan::SourceRef;
use lambda_media_proxy::server::{router, AppState};
use lambda_media_proxy::source::{SourceError, Sources};
use source_origin::{CountingListener, Origin};

/// The status both dialects give a refused source (SPEC §2 error table, SPEC §4).
const REFUSED: u16 = 404;

/// Every refusal must be immediate: no connect attempt, no timeout.
const PROMPT: Duration = Duration::from_secs(2);

/// Names the test resolver knows; all point at loopback listeners. Anything else fails to resolve.
fn test_hosts() -> HashMap<String, Vec<IpAddr>> {
    let pairs: &[(&str, &[&str])] = &[
        ("internal.test", &["127.0.0.1"]),
        ("second.test", &["127.0.0.2"]),
        ("mapped.test", &["::ffff:127.0.0.1"]),
        ("v6.test", &["::1"]),
        ("both.test", &["127.0.0.1", "::1"]),
        ("zero.test", &["0.0.0.0"]),
        ("localhost.", &["127.0.0.1"]),
        ("app.localhost", &["127.0.0.1"]),
        ("allowed.test", &["127.0.0.3"]),
    ];
    let parse = |ips: &[&str]| ips.iter().map(|ip| ip.parse().expect("test ip")).collect();
    pairs.iter().map(|(name, ips)| (name.to_string(), parse(ips))).collect()
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).expect("config")
}

/// The real router on 127.0.0.1:0; names resolve through [`test_hosts`] unless `system_dns`.
async fn start(config: Config, system_dns: bool) -> (SocketAddr, Arc<Sources>) {
    let mut state = AppState::new(config.clone()).expect("state");
    if !system_dns {
        let sources = Sources::with_test_resolver(&config.source, test_hosts()).expect("sources");
        state.sources = Arc::new(sources);
    }
    let sources = state.sources.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let addr = listener.local_addr().expect("app addr");
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    (addr, sources)
}

fn imgproxy_path(source: &str) -> String {
    format!("/_/rs:fit:10:10/{}.png", common::b64(source))
}

fn misskey_path(source: &str) -> String {
    let escaped = percent_encoding::utf8_percent_encode(source, percent_encoding::NON_ALPHANUMERIC);
    format!("/proxy/image.webp?url={escaped}")
}

/// The documented status per dialect: imgproxy answers 404 for any refused or unparsable source; Misskey
/// answers 400 for a URL that is not http(s) with a host (media-proxy's "bad url") and 404 for a refused
/// address.
fn expected(source: &str) -> [u16; 2] {
    match url::Url::parse(source) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => [REFUSED, REFUSED],
        _ => [REFUSED, 400],
    }
}

/// Sends `source` through both dialects and asserts the refusal status, promptly.
async fn assert_refused(app: SocketAddr, source: &str) {
    for (path, want) in [imgproxy_path(source), misskey_path(source)].into_iter().zip(expected(source)) {
        let started = Instant::now();
        let reply = common::get(app, &path, &[]).await;
        let body = String::from_utf8_lossy(&reply.body);
        assert_eq!(reply.status.as_u16(), want, "{source} via {path}: {body}");
        assert!(started.elapsed() < PROMPT, "{source} took {:?}", started.elapsed());
    }
}

/// The pure pre-check: a literal non-loopback probe must be refused before any I/O could happen.
fn assert_blocked_without_io(sources: &Sources, source: &str) {
    let url = url::Url::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let got = sources.check_allowed(&SourceRef::Http(url));
    assert!(matches!(got, Err(SourceError::BlockedAddress(_))), "{source} must be refused by class: {got:?}");
}

#[tokio::test]
async fn loopback_literals_in_every_spelling_are_refused_without_connecting() {
    let v4 = CountingListener::start("127.0.0.1").await;
    let v6 = CountingListener::start("::1").await;
    let (app, _) = start(config(&[]), false).await;
    let (p4, p6) = (v4.addr.port(), v6.addr.port());
    let hosts4 = [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.0.0.1",
        "0x7f.1",
        "0177.0.0.1",
        "0177.1",
        "017700000001",
        "0x7F.0x00.0x00.0x01",
        "127.000.000.001",
        "0.0.0.0",
        "0",
        "0x0",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::ffff:0:127.0.0.1]",
    ];
    for host in hosts4 {
        assert_refused(app, &format!("http://{host}:{p4}/a.png")).await;
        assert_refused(app, &format!("https://{host}:{p4}/a.png")).await;
    }
    for host in ["[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "[0::1]"] {
        assert_refused(app, &format!("http://{host}:{p6}/a.png")).await;
    }
    assert_eq!((v4.accepted(), v6.accepted()), (0, 0), "a refused probe reached a listener");
}

#[tokio::test]
async fn names_that_resolve_to_loopback_are_refused_without_connecting() {
    let v4 = CountingListener::start("127.0.0.1").await;
    let v4b = CountingListener::start("127.0.0.2").await;
    let v6 = CountingListener::start("::1").await;
    let (app, _) = start(config(&[]), false).await;
    for name in
        ["internal.test", "mapped.test", "both.test", "zero.test", "localhost.", "app.localhost", "INTERNAL.test"]
    {
        assert_refused(app, &format!("http://{name}:{}/a.png", v4.addr.port())).await;
    }
    assert_refused(app, &format!("http://second.test:{}/a.png", v4b.addr.port())).await;
    assert_refused(app, &format!("http://v6.test:{}/a.png", v6.addr.port())).await;
    // The real system resolver answers `localhost` from /etc/hosts (no query leaves the machine).
    let (system_app, _) = start(config(&[]), true).await;
    for name in ["localhost", "LOCALHOST", "LocalHost"] {
        assert_refused(system_app, &format!("http://{name}:{}/a.png", v4.addr.port())).await;
    }
    assert_eq!((v4.accepted(), v4b.accepted(), v6.accepted()), (0, 0, 0));
}

#[tokio::test]
async fn userinfo_and_parser_confusion_tricks_are_refused_without_connecting() {
    let v4 = CountingListener::start("127.0.0.1").await;
    let (app, _) = start(config(&[]), false).await;
    let p = v4.addr.port();
    let probes = [
        format!("http://a@127.0.0.1:{p}/a.png"),
        format!("http://allowed.test@127.0.0.1:{p}/a.png"),
        format!("http://allowed.test:80@127.0.0.1:{p}/a.png"),
        format!("http://user:pass@internal.test:{p}/a.png"),
        format!("http://127.0.0.1:{p}#@allowed.test/a.png"),
        format!("http://127.0.0.1:{p}?@allowed.test/a.png"),
        format!("http://allowed.test\\@127.0.0.1:{p}/a.png"),
        format!("http://127.0.0.1%2f@allowed.test:{p}/a.png"),
        format!("http://%31%32%37.0.0.1:{p}/a.png"),
        format!("http://127.0.0.1.:{p}/a.png"),
        format!("http://[::ffff:127.0.0.1]:{p}@allowed.test/a.png"),
    ];
    for probe in &probes {
        assert_refused(app, probe).await;
    }
    assert_eq!(v4.accepted(), 0);
}

#[tokio::test]
async fn every_internal_address_class_is_refused_before_any_io() {
    let (app, sources) = start(config(&[]), false).await;
    let hosts = [
        // private, CGNAT, link-local, metadata, multicast, broadcast, reserved (IPv4)
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "169.254.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "198.18.0.1",
        "192.0.0.170",
        // the metadata address spelled every way
        "2852039166",
        "0xa9fea9fe",
        "0xa9.0xfe.0xa9.0xfe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "169.16689662",
        // other classes in numeric spellings
        "167772161",
        "0xa.1",
        "012.0.0.1",
        "3232235521",
        "0xc0a80001",
        // IPv6: unique-local, metadata, link-local, site-local, multicast, documentation, Teredo
        "[fc00::1]",
        "[fd00::1]",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "[fec0::1]",
        "[ff02::1]",
        "[ff05::2]",
        "[2001:db8::1]",
        "[2001::1]",
        // IPv4-mapped, -compatible, SIIT, NAT64 and 6to4 forms of internal IPv4 addresses
        "[::ffff:10.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "[::10.0.0.1]",
        "[::ffff:0:10.0.0.1]",
        "[64:ff9b::10.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b::7f00:1]",
        "[64:ff9b:1::1]",
        "[2002:a9fe:a9fe::1]",
        "[2002:7f00:1::]",
        "[2002:c0a8:1::1]",
    ];
    for host in hosts {
        let source = format!("http://{host}/latest/meta-data/");
        assert_blocked_without_io(&sources, &source);
        assert_refused(app, &source).await;
    }
}

#[tokio::test]
async fn non_http_schemes_and_unix_socket_forms_are_refused_without_connecting() {
    let v4 = CountingListener::start("127.0.0.1").await;
    let (app, _) = start(config(&[]), false).await;
    let p = v4.addr.port();
    let probes = [
        "file:///etc/passwd".to_string(),
        "file://localhost/etc/passwd".to_string(),
        format!("ftp://127.0.0.1:{p}/a.png"),
        format!("gopher://127.0.0.1:{p}/_GET%20/%20HTTP/1.0%0d%0a"),
        format!("dict://127.0.0.1:{p}/info"),
        format!("ldap://127.0.0.1:{p}/"),
        format!("ws://127.0.0.1:{p}/"),
        "unix:///var/run/docker.sock".to_string(),
        "http+unix://%2Fvar%2Frun%2Fdocker.sock/info".to_string(),
        "http://unix:/var/run/docker.sock:/info".to_string(),
        "http://[unix:/var/run/docker.sock]/info".to_string(),
        "local:///../../../../etc/passwd".to_string(),
        "s3://bucket/key".to_string(),
        "data:image/png;base64,iVBORw0KGgo=".to_string(),
        "javascript:alert(1)".to_string(),
    ];
    for probe in &probes {
        assert_refused(app, probe).await;
    }
    assert_eq!(v4.accepted(), 0);
}

/// An allowed origin (127.0.0.1 allowed as an explicit network) redirects to internal targets: every
/// hop is checked, so the target listener sees nothing.
#[tokio::test]
async fn redirects_from_an_allowed_origin_to_internal_targets_are_refused() {
    let origin = Origin::start("127.0.0.1").await;
    let inner = CountingListener::start("127.0.0.2").await;
    let inner_v6 = CountingListener::start("::1").await;
    let zero = CountingListener::start("127.0.0.1").await;
    let (app, sources) = start(config(&[("MEDIA_PROXY_ALLOWED_PRIVATE_NETWORKS", "127.0.0.1/32")]), false).await;
    let (q, q6, z) = (inner.addr.port(), inner_v6.addr.port(), zero.addr.port());
    let targets = [
        format!("http://127.0.0.2:{q}/x.png"),
        format!("http://2130706434:{q}/x.png"),
        format!("http://second.test:{q}/x.png"),
        format!("http://a@127.0.0.2:{q}/x.png"),
        format!("//127.0.0.2:{q}/x.png"),
        format!("http://[::1]:{q6}/x.png"),
        format!("http://v6.test:{q6}/x.png"),
        format!("http://0.0.0.0:{z}/x.png"),
        format!("http://[::ffff:127.0.0.2]:{q}/x.png"),
        "file:///etc/passwd".to_string(),
        format!("gopher://127.0.0.2:{q}/_x"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_string(),
        "http://10.0.0.1/x.png".to_string(),
    ];
    for literal in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/x.png",
    ] {
        assert_blocked_without_io(&sources, literal);
    }
    for code in [301, 302, 303, 307, 308] {
        for target in &targets {
            let escaped = percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC);
            assert_refused(app, &origin.url(&format!("/redirect?code={code}&to={escaped}"))).await;
        }
    }
    assert!(origin.accepted() > 0, "the allowed first hop must have been fetched");
    assert_eq!((inner.accepted(), inner_v6.accepted(), zero.accepted()), (0, 0, 0), "a redirect reached a target");
}
