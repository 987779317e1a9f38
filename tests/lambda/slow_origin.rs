//! A slow origin on 127.0.0.1:0: serves one large body in paced chunks and records when its last chunk
//! left and every request target it saw, so tests can tell streaming from buffering and see the query the
//! app sent upstream.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

/// Chunk size and pause: 20 MB leave in about 80 × 10 ms, long enough to see the first bytes arrive
/// downstream well before the last leave.
pub const CHUNK: usize = 256 * 1024;
const PAUSE: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Seen {
    targets: Mutex<Vec<String>>,
    finished: Mutex<Vec<Instant>>,
    bytes_sent: Mutex<u64>,
}

/// A running slow origin.
pub struct SlowOrigin {
    /// `http://127.0.0.1:port`.
    pub base: String,
    seen: Arc<Seen>,
}

#[derive(Clone)]
struct Served {
    body: Bytes,
    small: Bytes,
    seen: Arc<Seen>,
}

impl SlowOrigin {
    /// Serves `body` at `/big.jpg` (paced, with `Content-Length`), `/big-chunked.jpg` (paced, without) and
    /// `small` at `/small.jpg` (at once).
    pub async fn start(body: Bytes, small: Bytes) -> SlowOrigin {
        let seen = Arc::new(Seen::default());
        let state = Served { body, small, seen: seen.clone() };
        let app = Router::new()
            .route("/big.jpg", get(|s, r| paced(s, r, true)))
            .route("/big-chunked.jpg", get(|s, r| paced(s, r, false)))
            .route("/small.jpg", get(serve_small))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        SlowOrigin { base, seen }
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// When each fully sent paced body had its last chunk handed to the connection.
    pub fn finished(&self) -> Vec<Instant> {
        self.seen.finished.lock().expect("lock").clone()
    }

    /// Paced body bytes handed to connections so far.
    pub fn bytes_sent(&self) -> u64 {
        *self.seen.bytes_sent.lock().expect("lock")
    }

    /// Every request target (path and query) seen, in order.
    pub fn targets(&self) -> Vec<String> {
        self.seen.targets.lock().expect("lock").clone()
    }
}

fn record(seen: &Seen, request: &Request) {
    let target = request.uri().path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_default();
    seen.targets.lock().expect("lock").push(target);
}

async fn serve_small(State(s): State<Served>, request: Request) -> Response {
    record(&s.seen, &request);
    ([(header::CONTENT_TYPE, "image/jpeg")], s.small.clone()).into_response()
}

async fn paced(State(s): State<Served>, request: Request, with_length: bool) -> Response {
    record(&s.seen, &request);
    let (body, seen) = (s.body.clone(), s.seen.clone());
    let total = body.len();
    let stream = futures_util::stream::unfold(0usize, move |at| {
        let (body, seen) = (body.clone(), seen.clone());
        async move {
            if at >= body.len() {
                return None;
            }
            if at > 0 {
                tokio::time::sleep(PAUSE).await;
            }
            let end = (at + CHUNK).min(body.len());
            *seen.bytes_sent.lock().expect("lock") += (end - at) as u64;
            if end == body.len() {
                seen.finished.lock().expect("lock").push(Instant::now());
            }
            Some((Ok::<_, std::io::Error>(body.slice(at..end)), end))
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, "image/jpeg".parse().expect("value"));
    if with_length {
        headers.insert(header::CONTENT_LENGTH, total.to_string().parse().expect("value"));
    }
    response
}
