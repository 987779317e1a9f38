//! Faults (issue 8): the S3 endpoint down or slow (as source and as result cache), the origin answering
//! 5xx or down, DNS failing. Each gives a clear error promptly, never a crash, and the same running app
//! recovers by itself once the fault is gone (no restart, no poisoned state).
//!
//! "Down" is a closed loopback port; "back up" is a forwarder bound to that same port in front of the
//! real servers; "slow" is a listener that accepts and never answers. Only 127.0.0.1 is contacted,
//! except the DNS case, which asks the system resolver for `nonexistent.invalid` (RFC 6761: never
//! resolves, and resolvers answer it at once).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{b64, corpus_bytes, get, s3, start_app_state, Reply};
use tokio::net::{TcpListener, TcpStream};

/// Bound for a fault answer: download timeout (1 s) plus slack; the slow-endpoint cases are cut by it.
const PROMPT: Duration = Duration::from_secs(4);

/// A free loopback port with nothing listening on it (connecting is refused).
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Brings `port` back up as a TCP forwarder to `target`.
async fn forward(port: u16, target: SocketAddr) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("rebind the faulty port");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

/// A listener that accepts and never answers.
async fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

fn vars(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
        ("IMGPROXY_DOWNLOAD_TIMEOUT", "1"),
        ("IMGPROXY_TIMEOUT", "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend_from_slice(extra);
    vars
}

fn s3_vars(endpoint: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = vec![
        ("IMGPROXY_USE_S3".to_string(), "true".to_string()),
        ("IMGPROXY_S3_ENDPOINT".to_string(), endpoint.to_string()),
        ("IMGPROXY_S3_REGION".to_string(), "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), s3::ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), s3::SECRET_KEY.to_string()),
    ];
    out.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars(&out)
}

/// GET with a time bound; the reply must be one of `want`, with a one-line reason when it is an error.
async fn expect(app: SocketAddr, path: &str, want: &[u16], what: &str) -> Reply {
    let started = Instant::now();
    let reply = get(app, path, &[]).await;
    let took = started.elapsed();
    let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]).to_string();
    assert!(want.contains(&reply.status.as_u16()), "{what}: got {} ({body}), want {want:?}", reply.status);
    assert!(took < PROMPT, "{what}: took {took:?}");
    if reply.status == 200 {
        common::decode(&reply.body);
    } else {
        let reason = body.trim_end();
        assert!(!reason.is_empty() && !reason.contains('\n'), "{what}: error reason must be one line: {body:?}");
    }
    reply
}

const S3_PATH: &str = "/_/rs:fit:40:40/plain/s3://images/hopper.bmp@png";

#[tokio::test]
async fn s3_source_endpoint_down_then_back_recovers_without_restart() {
    let server = s3::start("fault-down").await;
    server.put("images", "hopper.bmp", &corpus_bytes("formats/hopper.bmp"));
    let port = closed_port().await;
    let (app, _state) = start_app_state(&s3_vars(&format!("http://127.0.0.1:{port}"), &[])).await;
    // Down: "can't connect" (404 in the error table) or, when the SDK's retries outlast the download
    // timeout, "timed out" (504); never a 500 or a hang.
    expect(app, S3_PATH, &[404, 504], "S3 down").await;
    expect(app, S3_PATH, &[404, 504], "S3 still down").await;
    forward(port, server.addr).await;
    expect(app, S3_PATH, &[200], "S3 back").await;
    assert!(server.gets() >= 1);
}

#[tokio::test]
async fn s3_source_endpoint_slow_is_cut_by_the_download_timeout() {
    let hole = black_hole().await;
    let (app, _state) = start_app_state(&s3_vars(&format!("http://{hole}"), &[])).await;
    expect(app, S3_PATH, &[504], "S3 slow").await;
    // The app still answers other requests at once.
    let reply = get(app, "/health", &[]).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn origin_5xx_and_origin_down_then_back_recover_without_restart() {
    let status = Arc::new(AtomicU16::new(500));
    let port = closed_port().await;
    let (app, _state) = start_app_state(&vars(&[])).await;
    let source = format!("http://127.0.0.1:{port}/flapping.png");
    let path = format!("/_/rs:fit:40:40/{}.png", b64(&source));
    // Down first: connection refused.
    expect(app, &path, &[404], "origin down").await;
    // Up, but failing: the origin's 5xx becomes 502.
    let origin = flapping_origin(status.clone()).await;
    forward(port, origin).await;
    for code in [500, 502, 503, 504] {
        status.store(code, Ordering::SeqCst);
        expect(app, &path, &[502], &format!("origin {code}")).await;
    }
    // Healthy again: the same app serves the image.
    status.store(200, Ordering::SeqCst);
    expect(app, &path, &[200], "origin healthy").await;
}

/// An origin that answers with the status in `status`, or the image when it is 200.
async fn flapping_origin(status: Arc<AtomicU16>) -> SocketAddr {
    async fn answer(State(status): State<Arc<AtomicU16>>) -> Response {
        match status.load(Ordering::SeqCst) {
            200 => corpus_bytes("formats/i_trns.png").into_response(),
            code => (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "upstream broke")
                .into_response(),
        }
    }
    let app = axum::Router::new().route("/flapping.png", axum::routing::get(answer)).with_state(status);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn dns_failure_is_a_clear_404_and_does_not_poison_later_requests() {
    let origin = common::origin::start().await;
    let (app, _state) = start_app_state(&vars(&[])).await;
    let bad = format!("/_/rs:fit:40:40/{}.png", b64("http://nonexistent.invalid/a.png"));
    let reply = expect(app, &bad, &[404], "DNS failure").await;
    assert!(String::from_utf8_lossy(&reply.body).contains("connect"), "names the failure");
    let good = format!("/_/rs:fit:40:40/{}.png", b64(&origin.url("/corpus/formats/i_trns.png")));
    expect(app, &good, &[200], "after DNS failure").await;
}

#[tokio::test]
async fn result_cache_endpoint_down_or_slow_images_still_served_then_recovers() {
    let origin = common::origin::start().await;
    let server = s3::start("fault-cache").await;
    server.bucket("results");
    let port = closed_port().await;
    let (app, state) =
        start_app_state(&s3_vars(&format!("http://127.0.0.1:{port}"), &[("RESULT_BUCKET", "results")])).await;
    let path = format!("/_/rs:fit:40:40/{}.png", b64(&origin.url("/corpus/formats/i_trns.png")));
    expect(app, &path, &[200], "cache endpoint down").await;
    forward(port, server.addr).await;
    expect(app, &path, &[200], "cache endpoint back").await;
    assert!(s3::exists(&server.root, "results") > 0, "stored once the endpoint is back");
    let runs = state.delivery_stats.pipeline_runs();
    expect(app, &path, &[200], "cache hit").await;
    assert_eq!(state.delivery_stats.pipeline_runs(), runs, "served from the cache");
    // A cache endpoint that accepts and never answers must not hold requests past the deadline.
    let hole = black_hole().await;
    let (slow_app, _) = start_app_state(&s3_vars(&format!("http://{hole}"), &[("RESULT_BUCKET", "results")])).await;
    expect(slow_app, &path, &[200, 503, 504], "cache endpoint slow").await;
}
