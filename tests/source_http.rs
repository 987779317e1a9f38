//! `Sources` against a real loopback origin: happy path, SSRF refusals (first hop, every redirect hop,
//! obfuscated literals), redirect limits, size caps, download timeout and upstream statuses (SPEC §4).
//! Every connection in these tests targets 127.0.0.1 or 127.0.0.2; refusals must happen before any.

#[path = "common/source_origin.rs"]
mod origin;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lambda_media_proxy::config::{Config, SourceConfig};
use lambda_media_proxy::plan::SourceRef;
use lambda_media_proxy::source::{Fetched, SourceError, Sources};
use origin::{CountingListener, Origin, SMALL_BODY};

fn config(vars: &[(&str, &str)]) -> SourceConfig {
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::from_vars(vars).expect("test config").source
}

fn loopback_allowed() -> SourceConfig {
    config(&[("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true")])
}

/// Loopback refused by class, but the origin's own 127.0.0.1 allowed as an explicit network.
fn only_origin_network() -> SourceConfig {
    config(&[("MEDIA_PROXY_ALLOWED_PRIVATE_NETWORKS", "127.0.0.1/32")])
}

fn sources(config: &SourceConfig) -> Sources {
    Sources::new(config).expect("sources")
}

fn hosts(pairs: &[(&str, &str)]) -> HashMap<String, Vec<IpAddr>> {
    pairs.iter().map(|(name, ip)| (name.to_string(), vec![ip.parse().expect("test ip")])).collect()
}

fn http(url: &str) -> SourceRef {
    SourceRef::Http(url::Url::parse(url).expect("test url"))
}

async fn fetch(sources: &Sources, url: &str, max_bytes: u64) -> Result<Fetched, SourceError> {
    sources.fetch(&http(url), max_bytes).await
}

#[tokio::test]
async fn happy_path_returns_body_and_caching_headers() {
    let origin = Origin::start("127.0.0.1").await;
    let got = fetch(&sources(&loopback_allowed()), &origin.url("/bytes"), 0).await.expect("fetch");
    assert_eq!(&got.bytes[..], SMALL_BODY);
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert_eq!(got.etag.as_deref(), Some("\"abc123\""));
    assert_eq!(got.last_modified.as_deref(), Some("Wed, 21 Oct 2015 07:28:00 GMT"));
    assert_eq!(got.cache_control.as_deref(), Some("max-age=60, public"));
    assert_eq!(got.expires.as_deref(), Some("Thu, 22 Oct 2015 07:28:00 GMT"));
    assert_eq!(got.content_disposition.as_deref(), Some("inline; filename=\"cat.png\""));
}

#[tokio::test]
async fn sends_configured_user_agent_and_identity_encoding() {
    let origin = Origin::start("127.0.0.1").await;
    let mut cfg = loopback_allowed();
    cfg.user_agent = "test-agent/1.0".into();
    let got = fetch(&sources(&cfg), &origin.url("/echo"), 0).await.expect("fetch");
    assert_eq!(std::str::from_utf8(&got.bytes).expect("utf8"), "ua=test-agent/1.0\nae=identity");
}

#[tokio::test]
async fn named_host_from_the_resolver_is_fetched_when_allowed() {
    let origin = Origin::start("127.0.0.1").await;
    let s = Sources::with_test_resolver(&loopback_allowed(), hosts(&[("origin.test", "127.0.0.1")])).expect("sources");
    let url = format!("http://origin.test:{}/bytes", origin.addr.port());
    assert_eq!(&fetch(&s, &url, 0).await.expect("fetch").bytes[..], SMALL_BODY);
}

#[tokio::test]
async fn loopback_refused_by_default_without_connecting() {
    let origin = Origin::start("127.0.0.1").await;
    let cfg = config(&[]);
    let s = Sources::with_test_resolver(&cfg, hosts(&[("origin.test", "127.0.0.1")])).expect("sources");
    let literal = origin.url("/bytes");
    assert!(matches!(s.check_allowed(&http(&literal)), Err(SourceError::BlockedAddress(_))));
    assert!(matches!(fetch(&s, &literal, 0).await, Err(SourceError::BlockedAddress(_))));
    // A name is checked at resolution time: the resolver refuses before reqwest connects.
    let named = format!("http://origin.test:{}/bytes", origin.addr.port());
    assert_eq!(s.check_allowed(&http(&named)), Ok(()));
    assert!(matches!(fetch(&s, &named, 0).await, Err(SourceError::BlockedAddress(_))), "named");
    assert_eq!(origin.accepted(), 0);
}

#[tokio::test]
async fn obfuscated_loopback_literals_are_refused_without_connecting() {
    let origin = Origin::start("127.0.0.1").await;
    let s = sources(&config(&[]));
    let port = origin.addr.port();
    for host in ["2130706433", "0x7f.1", "[::ffff:127.0.0.1]", "0177.0.0.1", "127.1", "[::ffff:7f00:1]"] {
        let url = format!("http://{host}:{port}/bytes");
        assert!(matches!(s.check_allowed(&http(&url)), Err(SourceError::BlockedAddress(_))), "{url}");
        assert!(matches!(fetch(&s, &url, 0).await, Err(SourceError::BlockedAddress(_))), "{url}");
    }
    assert_eq!(origin.accepted(), 0);
}

#[tokio::test]
async fn redirect_to_a_refused_address_is_blocked_before_connecting() {
    let origin = Origin::start("127.0.0.1").await;
    let refused = CountingListener::start("127.0.0.2").await;
    let port = refused.addr.port();
    let s =
        Sources::with_test_resolver(&only_origin_network(), hosts(&[("inner.test", "127.0.0.2")])).expect("sources");
    for code in [302, 307, 308] {
        for target in [format!("http://127.0.0.2:{port}/x"), format!("http://inner.test:{port}/x")] {
            let url = origin.url(&format!("/redirect?code={code}&to={target}"));
            let got = fetch(&s, &url, 0).await;
            assert!(matches!(got, Err(SourceError::BlockedAddress(_))), "{code} → {target}: {got:?}");
        }
    }
    assert!(origin.accepted() > 0, "the first hop must have been fetched");
    assert_eq!(refused.accepted(), 0);
}

#[tokio::test]
async fn redirect_to_an_allowed_address_is_followed() {
    let origin = Origin::start("127.0.0.1").await;
    let s = sources(&only_origin_network());
    let target = origin.url("/bytes");
    let got = fetch(&s, &origin.url(&format!("/redirect?code=301&to={target}")), 0).await.expect("fetch");
    assert_eq!(&got.bytes[..], SMALL_BODY);
}

#[tokio::test]
async fn redirect_to_a_non_http_scheme_is_refused() {
    let origin = Origin::start("127.0.0.1").await;
    let s = sources(&loopback_allowed());
    // `file:` never reaches the redirect policy (it is not an HTTP URI); `ftp:` and `gopher:` do.
    for (target, scheme) in
        [("file:///etc/passwd", "file"), ("ftp://127.0.0.1/x", "ftp"), ("gopher://127.0.0.1/_", "gopher")]
    {
        let got = fetch(&s, &origin.url(&format!("/redirect?to={target}")), 0).await;
        assert_eq!(got.map(|_| ()), Err(SourceError::SchemeDisabled(scheme.into())), "{target}");
    }
}

#[tokio::test]
async fn redirects_beyond_the_limit_are_refused() {
    let origin = Origin::start("127.0.0.1").await;
    let mut cfg = loopback_allowed();
    cfg.max_redirects = 3;
    let s = sources(&cfg);
    // `/chain/n` redirects n times and then once more to `/bytes`.
    assert_eq!(&fetch(&s, &origin.url("/chain/2"), 0).await.expect("3 redirects").bytes[..], SMALL_BODY);
    assert_eq!(fetch(&s, &origin.url("/chain/3"), 0).await.map(|_| ()), Err(SourceError::TooManyRedirects));
}

#[tokio::test]
async fn size_cap_exact_and_one_over() {
    let origin = Origin::start("127.0.0.1").await;
    let s = sources(&loopback_allowed());
    for cl in ["0", "1"] {
        let url = origin.url(&format!("/big?len=100000&cl={cl}"));
        assert_eq!(fetch(&s, &url, 100_000).await.expect("at the cap").bytes.len(), 100_000, "cl={cl}");
        let over = fetch(&s, &url, 99_999).await.map(|_| ());
        assert_eq!(over, Err(SourceError::TooLarge { limit: 99_999 }), "cl={cl}");
    }
}

#[tokio::test]
async fn size_cap_aborts_the_download_with_and_without_content_length() {
    const LEN: u64 = 256 << 20;
    for cl in ["1", "0"] {
        let origin = Origin::start("127.0.0.1").await;
        let url = origin.url(&format!("/big?len={LEN}&cl={cl}"));
        let got = fetch(&sources(&loopback_allowed()), &url, 1 << 20).await.map(|_| ());
        assert_eq!(got, Err(SourceError::TooLarge { limit: 1 << 20 }), "cl={cl}");
        // Give the origin a moment to notice the closed connection, then check it stopped early.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let streamed = origin.counters.streamed.load(Ordering::SeqCst);
        assert!(!origin.counters.finished.load(Ordering::SeqCst), "cl={cl}: body was read to the end");
        assert!(streamed < LEN / 4, "cl={cl}: origin streamed {streamed} of {LEN} bytes");
    }
}

#[tokio::test]
async fn download_timeout_covers_a_slow_body_and_slow_headers() {
    let origin = Origin::start("127.0.0.1").await;
    let cfg = config(&[("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"), ("IMGPROXY_DOWNLOAD_TIMEOUT", "0.5")]);
    let s = sources(&cfg);
    for path in ["/slow-body", "/slow-headers"] {
        let started = Instant::now();
        assert_eq!(fetch(&s, &origin.url(path), 0).await.map(|_| ()), Err(SourceError::Timeout), "{path}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(2), "{path}: {took:?}");
    }
}

#[tokio::test]
async fn upstream_error_statuses_are_reported() {
    let origin = Origin::start("127.0.0.1").await;
    let s = sources(&loopback_allowed());
    for code in [403u16, 404, 500, 503] {
        let got = fetch(&s, &origin.url(&format!("/status/{code}")), 0).await.map(|_| ());
        assert_eq!(got, Err(SourceError::UpstreamStatus(code)));
    }
}

#[tokio::test]
async fn allowed_sources_miss_is_refused_before_io() {
    let origin = Origin::start("127.0.0.1").await;
    let mut cfg = loopback_allowed();
    cfg.allowed_sources = vec!["https://images.example.com/".into()];
    let s = sources(&cfg);
    let url = origin.url("/bytes");
    assert!(matches!(s.check_allowed(&http(&url)), Err(SourceError::NotAllowed(_))));
    assert!(matches!(fetch(&s, &url, 0).await, Err(SourceError::NotAllowed(_))));
    cfg.allowed_sources = vec![format!("http://127.0.0.*:{}/", origin.addr.port())];
    assert_eq!(&fetch(&sources(&cfg), &url, 0).await.expect("allowed by glob").bytes[..], SMALL_BODY);
    assert_eq!(origin.accepted(), 1);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr").port();
    let got = fetch(&sources(&loopback_allowed()), &format!("http://127.0.0.1:{port}/"), 0).await;
    assert!(matches!(got, Err(SourceError::Connect(_))), "{got:?}");
}

#[tokio::test]
async fn disabled_schemes_are_refused() {
    let s = sources(&loopback_allowed());
    let s3 = SourceRef::S3 { bucket: "b".into(), key: "k.png".into(), version_id: None };
    assert_eq!(s.check_allowed(&s3), Err(SourceError::SchemeDisabled("s3".into())));
    let local = SourceRef::Local("/a.png".into());
    assert_eq!(s.fetch(&local, 0).await.map(|_| ()), Err(SourceError::SchemeDisabled("local".into())));
}

#[tokio::test]
async fn local_sources_are_served_only_under_the_root() {
    let base = std::env::temp_dir().join(format!("lmp-source-http-local-{}", std::process::id()));
    let root = base.join("root");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(root.join("a.png"), SMALL_BODY).expect("write");
    let mut cfg = config(&[]);
    cfg.local_root = Some(root.clone());
    let s = sources(&cfg);
    let got = s.fetch(&SourceRef::Local("/a.png".into()), 0).await.map(|f| f.bytes.to_vec());
    let escaped = s.fetch(&SourceRef::Local("/../a.png".into()), 0).await.map(|_| ());
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(got, Ok(SMALL_BODY.to_vec()));
    assert!(matches!(escaped, Err(SourceError::NotAllowed(_))), "{escaped:?}");
    cfg.local_root = Some(base.join("missing"));
    assert!(Sources::new(&cfg).is_err(), "a missing root is a start-up error");
}

#[test]
fn sources_and_fetch_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let s = sources(&loopback_allowed());
    send_sync(&s);
    let source = http("http://example.com/");
    let future = s.fetch(&source, 0);
    send(&future);
}
