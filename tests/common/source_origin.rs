//! A real axum origin on 127.0.0.1:0 for source tests, and a bare listener that only counts
//! connections (to prove a refused address was never contacted).
//!
//! Routes: `/bytes` (a small body with caching headers), `/echo` (the request's User-Agent and
//! Accept-Encoding), `/status/{code}`, `/redirect?code=302&to=URL`, `/chain/{n}` (n redirects, then
//! `/bytes`), `/big?len=N&cl=0|1` (a streamed body, with or without Content-Length, counting the
//! bytes it produced), `/slow-body` (headers at once, then a trickle) and `/slow-headers`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;

/// The body `/bytes` serves.
pub const SMALL_BODY: &[u8] = b"not really an image, but bytes all the same";

/// Counters shared between the origin and the test.
#[derive(Default)]
pub struct Counters {
    /// TCP connections accepted.
    pub accepted: AtomicU64,
    /// Bytes produced so far by `/big` streams.
    pub streamed: AtomicU64,
    /// Set when a `/big` stream produced its last byte.
    pub finished: AtomicBool,
}

/// A running origin.
pub struct Origin {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it has seen.
    pub counters: Arc<Counters>,
}

impl Origin {
    /// Starts an origin on `ip:0` (a loopback address).
    pub async fn start(ip: &str) -> Origin {
        let counters = Arc::new(Counters::default());
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        let tap = counters.clone();
        let listener = listener.tap_io(move |_| {
            tap.accepted.fetch_add(1, Ordering::SeqCst);
        });
        let app = routes(counters.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Origin { addr, counters }
    }

    /// `http://{addr}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::SeqCst)
    }
}

/// A listener that accepts, counts and drops connections: the stand-in for a refused host.
pub struct CountingListener {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicU64>,
}

impl CountingListener {
    /// Listens on `ip:0` (a loopback address).
    pub async fn start(ip: &str) -> CountingListener {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind counting listener");
        let addr = listener.local_addr().expect("listener address");
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        CountingListener { addr, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn routes(counters: Arc<Counters>) -> Router {
    Router::new()
        .route("/bytes", get(bytes))
        .route("/echo", get(echo))
        .route("/status/{code}", get(status))
        .route("/redirect", get(redirect))
        .route("/chain/{n}", get(chain))
        .route("/big", get(big))
        .route("/slow-body", get(slow_body))
        .route("/slow-headers", get(slow_headers))
        .with_state(counters)
}

async fn bytes() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "image/png"),
        (header::ETAG, "\"abc123\""),
        (header::LAST_MODIFIED, "Wed, 21 Oct 2015 07:28:00 GMT"),
        (header::CACHE_CONTROL, "max-age=60, public"),
        (header::EXPIRES, "Thu, 22 Oct 2015 07:28:00 GMT"),
        (header::CONTENT_DISPOSITION, "inline; filename=\"cat.png\""),
    ];
    (headers, SMALL_BODY).into_response()
}

async fn echo(headers: HeaderMap) -> String {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    format!("ua={}\nae={}", get(header::USER_AGENT), get(header::ACCEPT_ENCODING))
}

async fn status(Path(code): Path<u16>) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
    (code, "status body").into_response()
}

async fn redirect(Query(q): Query<HashMap<String, String>>) -> Response {
    let code = q.get("code").and_then(|c| c.parse().ok()).unwrap_or(302);
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
    let to = q.get("to").cloned().unwrap_or_default();
    (code, [(header::LOCATION, to)]).into_response()
}

async fn chain(Path(n): Path<u32>) -> Response {
    let to = if n == 0 { "/bytes".to_string() } else { format!("/chain/{}", n - 1) };
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

async fn big(State(counters): State<Arc<Counters>>, Query(q): Query<HashMap<String, String>>) -> Response {
    const CHUNK: u64 = 64 * 1024;
    let len: u64 = q.get("len").and_then(|l| l.parse().ok()).unwrap_or(0);
    let with_length = q.get("cl").map(String::as_str) == Some("1");
    let chunk = Bytes::from(vec![b'x'; CHUNK as usize]);
    let stream = futures_util::stream::unfold(0u64, move |sent| {
        let counters = counters.clone();
        let chunk = chunk.clone();
        async move {
            if sent >= len {
                counters.finished.store(true, Ordering::SeqCst);
                return None;
            }
            let n = CHUNK.min(len - sent);
            counters.streamed.fetch_add(n, Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(chunk.slice(..n as usize)), sent + n))
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    if with_length {
        response.headers_mut().insert(header::CONTENT_LENGTH, len.into());
    }
    response
}

async fn slow_body() -> Response {
    let stream = futures_util::stream::unfold(0u32, |i| async move {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (i < 50).then(|| (Ok::<_, std::io::Error>(Bytes::from_static(b"drip")), i + 1))
    });
    Response::new(Body::from_stream(stream))
}

async fn slow_headers() -> &'static str {
    tokio::time::sleep(Duration::from_secs(10)).await;
    "too late"
}
