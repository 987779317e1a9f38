//! An in-process Lambda Runtime API on 127.0.0.1 and the real binary pointed at it.
//!
//! The emulator hands out queued events on `GET /2018-06-01/runtime/invocation/next` (with the
//! request-id, deadline and ARN headers the runtime reads) and records what the function posts to
//! `/{id}/response` and `/{id}/error`, headers included, so streaming framing can be checked, with the
//! arrival time of every body chunk, so incremental delivery can be told from a buffered one.
#![allow(dead_code)]

pub mod slow_origin;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Mutex};

/// What the function posted back for one invocation.
pub struct Invocation {
    /// `response` or `error`.
    pub kind: &'static str,
    /// The request id it answered.
    pub id: String,
    /// Headers of the POST.
    pub headers: HeaderMap,
    /// Body of the POST.
    pub body: Bytes,
    /// When each body chunk arrived and how long it was, in order.
    pub chunks: Vec<(Instant, usize)>,
}

impl Invocation {
    /// The body as JSON (buffered responses).
    pub fn json(&self) -> Value {
        assert_eq!(self.kind, "response", "the function reported an error: {}", String::from_utf8_lossy(&self.body));
        serde_json::from_slice(&self.body).expect("response is JSON")
    }

    /// When the body's byte at `offset` arrived.
    pub fn arrival_of(&self, offset: usize) -> Option<Instant> {
        let mut end = 0;
        self.chunks
            .iter()
            .find(|(_, len)| {
                end += len;
                end > offset
            })
            .map(|(at, _)| *at)
    }

    /// A header of the POST ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

#[derive(Clone)]
struct Shared {
    events: Arc<Mutex<mpsc::UnboundedReceiver<(String, String)>>>,
    results: mpsc::UnboundedSender<Invocation>,
    first_poll: Arc<OnceLock<Instant>>,
}

/// A running Runtime API.
pub struct Emulator {
    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub addr: SocketAddr,
    events: mpsc::UnboundedSender<(String, String)>,
    results: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    first_poll: Arc<OnceLock<Instant>>,
}

impl Emulator {
    /// Starts the emulator on 127.0.0.1:0.
    pub async fn start() -> Emulator {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let first_poll = Arc::new(OnceLock::new());
        let shared =
            Shared { events: Arc::new(Mutex::new(events_rx)), results: results_tx, first_poll: first_poll.clone() };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // The Extensions API, as far as the Lambda Web Adapter uses it: register, then wait for events.
            .route("/2020-01-01/extension/register", post(extension_register))
            .route("/2020-01-01/extension/event/next", get(std::future::pending::<StatusCode>))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Emulator { addr, events: events_tx, results: Mutex::new(results_rx), first_poll }
    }

    /// Queues `event` under request id `id` and waits for the function's answer.
    pub async fn invoke(&self, id: &str, event: &Value) -> Invocation {
        self.events.send((id.to_string(), event.to_string())).unwrap();
        let mut results = self.results.lock().await;
        let Ok(answer) = tokio::time::timeout(Duration::from_secs(60), results.recv()).await else {
            // With a CARGO_TARGET_DIR shared between checkouts, another build can replace the binary.
            let polled = if self.first_poll().is_some() { "polled" } else { "never polled the Runtime API" };
            panic!("no answer from the function within 60 s (it {polled})");
        };
        let invocation = answer.expect("emulator stopped");
        assert_eq!(invocation.id, id);
        invocation
    }

    /// When the function first asked for an event.
    pub fn first_poll(&self) -> Option<Instant> {
        self.first_poll.get().copied()
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    let _ = shared.first_poll.set(Instant::now());
    let Some((id, body)) = shared.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let headers = [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", (now_ms + 30_000).to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:media".into()),
        ("lambda-runtime-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=1;Sampled=0".into()),
        ("content-type", "application/json".into()),
    ];
    let mut response = body.into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn response(State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> StatusCode {
    let (body, chunks) = read_timed(body).await;
    let _ = s.results.send(Invocation { kind: "response", id, headers, body, chunks });
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> StatusCode {
    let (body, chunks) = read_timed(body).await;
    let _ = s.results.send(Invocation { kind: "error", id, headers, body, chunks });
    StatusCode::ACCEPTED
}

/// The whole body, and when each chunk of it arrived.
async fn read_timed(body: Body) -> (Bytes, Vec<(Instant, usize)>) {
    let mut stream = body.into_data_stream();
    let (mut all, mut chunks) = (Vec::new(), Vec::new());
    while let Some(Ok(chunk)) = stream.next().await {
        chunks.push((Instant::now(), chunk.len()));
        all.extend_from_slice(&chunk);
    }
    (Bytes::from(all), chunks)
}

async fn extension_register() -> Response {
    let body = r#"{"functionName":"media","functionVersion":"$LATEST","handler":"bootstrap"}"#;
    ([("lambda-extension-identifier", "lwa-test-extension-id")], body).into_response()
}

async fn init_error(body: Bytes) -> StatusCode {
    panic!("the function failed to initialise: {}", String::from_utf8_lossy(&body));
}

/// The binary, running as a Lambda function against `runtime`.
pub struct Function {
    child: tokio::process::Child,
}

impl Function {
    /// Kills the function and returns what it logged.
    pub async fn stop(&mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let mut logs = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut logs).await;
        }
        logs
    }
}

/// Starts the binary with a clean environment: the Lambda variables, local files from the corpus, `vars`.
pub fn spawn_function(runtime: SocketAddr, vars: &[(&str, &str)]) -> Function {
    // `LAMBDA_TEST_BINARY` runs another build (e.g. release, to measure the cold start) against the emulator.
    let binary =
        std::env::var("LAMBDA_TEST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lambda-media-proxy").into());
    spawn_with_lambda_env(&binary, runtime, vars)
}

/// The binary in HTTP mode on a free loopback port behind the real Lambda Web Adapter (`adapter`), as the
/// `lwa` image target runs them: both see the Runtime API; `RUN_MODE=http` keeps the app off it.
/// Returns (adapter, app) once the app's port is chosen; the adapter waits for `/healthz` itself.
pub fn spawn_behind_adapter(runtime: SocketAddr, adapter: &str, invoke_mode: &str) -> (Function, Function) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let (port, bind) = (port.to_string(), format!("127.0.0.1:{port}"));
    let binary =
        std::env::var("LAMBDA_TEST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lambda-media-proxy").into());
    let app = [("RUN_MODE", "http"), ("AWS_LWA_PORT", port.as_str()), ("IMGPROXY_BIND", bind.as_str())];
    let app = spawn_with_lambda_env(&binary, runtime, &app);
    let vars = [
        ("AWS_LWA_PORT", port.as_str()),
        ("AWS_LWA_READINESS_CHECK_PATH", "/healthz"),
        ("AWS_LWA_INVOKE_MODE", invoke_mode),
    ];
    (spawn_with_lambda_env(adapter, runtime, &vars), app)
}

fn spawn_with_lambda_env(binary: &str, runtime: SocketAddr, vars: &[(&str, &str)]) -> Function {
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "media")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("IMGPROXY_LOCAL_FILESYSTEM_ROOT", super::common::corpus())
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    Function { child: command.spawn().expect("starting the binary") }
}

impl Function {
    /// The function's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

/// A fixture from `tests/fixtures/lambda/`.
pub fn event(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/lambda/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Points a function URL / API Gateway v2 event at `path`.
pub fn set_path(event: &mut Value, path: &str) {
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["path"] = path.into();
}

/// A response header from `headers` or, for multi-value responses, `multiValueHeaders` ("" when absent).
pub fn header(response: &Value, name: &str) -> String {
    if let Some(value) = response["headers"][name].as_str() {
        return value.to_string();
    }
    response["multiValueHeaders"][name][0].as_str().unwrap_or("").to_string()
}
