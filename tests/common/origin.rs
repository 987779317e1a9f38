//! A real HTTP origin on 127.0.0.1:0 serving corpus images and hostile bodies, counting what it sees.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};

/// What the origin has seen.
#[derive(Default)]
pub struct Counters {
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// HTTP requests served.
    pub hits: AtomicUsize,
    /// Body bytes handed to the socket by streaming routes.
    pub streamed: AtomicU64,
}

/// A running origin.
pub struct Origin {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
}

impl Origin {
    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn hits(&self) -> usize {
        self.counters.hits.load(Ordering::SeqCst)
    }
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }
}

/// Starts the origin on 127.0.0.1:0.
pub async fn start() -> Origin {
    start_on("127.0.0.1:0").await
}

/// Starts the origin on a given loopback address.
pub async fn start_on(bind: &str) -> Origin {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/corpus/{*path}", get(corpus_file))
        .route("/bomb.png", get(|| async { super::png_header_bomb(30_000, 30_000) }))
        .route("/endless", get(endless))
        .route("/slow", get(slow))
        .route("/status/{code}", get(status))
        .with_state(counters.clone());
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = Counting { inner: listener, counters: counters.clone() };
    tokio::spawn(async move { axum::serve(listener, app).await });
    Origin { addr, counters }
}

async fn corpus_file(State(c): State<Arc<Counters>>, Path(path): Path<String>) -> Response {
    c.hits.fetch_add(1, Ordering::SeqCst);
    match std::fs::read(super::corpus().join(&path)) {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// 64 MiB of zeros in 64 KiB chunks without Content-Length, counting what was handed to the socket.
async fn endless(State(c): State<Arc<Counters>>) -> Response {
    c.hits.fetch_add(1, Ordering::SeqCst);
    let chunk = Bytes::from(vec![0u8; 64 * 1024]);
    let stream = futures_util::stream::iter(0..1024).map(move |_| {
        c.streamed.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok::<_, Infallible>(chunk.clone())
    });
    Response::builder().header(header::CONTENT_TYPE, "image/png").body(Body::from_stream(stream)).unwrap()
}

/// A valid image after a 3-second pause.
async fn slow(State(c): State<Arc<Counters>>) -> Response {
    c.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    std::fs::read(super::corpus().join("formats/flower2.webp")).unwrap().into_response()
}

async fn status(State(c): State<Arc<Counters>>, Path(code): Path<u16>) -> Response {
    c.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT).into_response()
}

/// A listener that counts accepted connections, so tests can prove a refused source was never contacted.
struct Counting {
    inner: TcpListener,
    counters: Arc<Counters>,
}

impl axum::serve::Listener for Counting {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((io, addr)) = self.inner.accept().await {
                self.counters.connections.fetch_add(1, Ordering::SeqCst);
                return (io, addr);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
