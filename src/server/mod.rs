//! The axum [`Router`]: the single entry point shared by every front door (HTTP server, Lambda, tests).
//!
//! Fixed routes (`/health`, `/healthz`, `/`) answer without I/O; every other GET/HEAD path goes to the
//! dialect dispatcher; OPTIONS answers CORS preflight (SPEC §1). Front doors live in `http.rs`; the
//! request flow shared by the dialects (admission, fetch, pipeline, cache, validators) lives in `deliver.rs`.

pub mod conditional;
pub mod deliver;
pub mod http;
mod imgproxy_route;
pub mod lambda;
mod misskey_route;
pub mod observe;
pub mod passthrough;
pub mod payload_limit;
mod request_id;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use axum::routing::get;
use axum::Router;

use crate::config::Config;
use crate::fallback::Fallback;
use crate::memory_budget::{self, MemoryBudget};
use crate::metrics::Metrics;
use crate::result_store::ResultStore;
use crate::source::Sources;
use crate::workers::Workers;

/// Everything a request needs, built once at start-up and shared (`Clone` is a few `Arc` bumps).
#[derive(Clone)]
pub struct AppState {
    /// All settings.
    pub config: Arc<Config>,
    /// Source fetchers.
    pub sources: Arc<Sources>,
    /// Worker slots and queue.
    pub workers: Arc<Workers>,
    /// The `RESULT_BUCKET` result cache, when configured.
    pub result_store: Option<Arc<ResultStore>>,
    /// The fallback image, loaded on first use.
    pub fallback: Arc<Fallback>,
    /// Which delivery paths were taken (cache hits, 304s, pipeline runs).
    pub delivery_stats: Arc<deliver::DeliveryStats>,
    /// Stream pass-through sources instead of buffering them (`passthrough.rs`; the streaming Lambda
    /// front door turns it on).
    pub stream_pass_through: bool,
    /// Bytes of decoded images allowed in flight (`MEMORY_BUDGET_BYTES`, issue 7).
    pub memory_budget: Arc<MemoryBudget>,
    /// The SPEC §7 metrics.
    pub metrics: Arc<Metrics>,
    /// The watermark image, loaded on first use.
    pub watermark: Arc<crate::watermark_source::WatermarkSource>,
}

impl AppState {
    /// Builds the shared state; fails on settings that cannot work (reported at start-up).
    pub fn new(config: Config) -> Result<AppState, String> {
        let sources = Sources::new(&config.source)?;
        let workers = Workers::new(config.server.workers, config.server.queue_size);
        let result_store = ResultStore::new(&config.source).map(Arc::new);
        let fallback = Arc::new(Fallback::new(&config));
        let workers = Arc::new(workers);
        let budget = MemoryBudget::new(memory_budget::default_budget(&config.observability));
        let watermark = Arc::new(crate::watermark_source::WatermarkSource::new(&config));
        Ok(AppState {
            config: Arc::new(config),
            sources: Arc::new(sources),
            workers: workers.clone(),
            result_store,
            fallback,
            delivery_stats: Arc::default(),
            stream_pass_through: false,
            metrics: Metrics::new(workers, budget.clone()),
            memory_budget: budget,
            watermark,
        })
    }
}

/// The application: every route, for every front door. `/metrics` is here only with
/// `METRICS_ON_MAIN_ROUTER` (imgproxy serves it on `IMGPROXY_PROMETHEUS_BIND` alone).
pub fn router(state: AppState) -> Router {
    let mut router = Router::new().route("/health", get(health)).route("/healthz", get(health)).route("/", get(banner));
    if state.config.observability.metrics_on_main_router {
        router = router.route("/metrics", get(observe::metrics));
    }
    router
        .fallback(dispatch)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe::layer))
        .with_state(state)
}

/// `GET /health`: cheap, no I/O, as imgproxy's.
async fn health() -> Response<Body> {
    text(StatusCode::OK, "OK\n")
}

async fn banner() -> Response<Body> {
    text(StatusCode::OK, concat!("lambda-media-proxy ", env!("CARGO_PKG_VERSION"), "\n"))
}

/// Routes everything that is not a fixed route: preflight, health under the path prefix, then the dialects.
async fn dispatch(State(state): State<AppState>, request: Request) -> Response<Body> {
    let method = request.method().clone();
    let query = request.uri().query().map(str::to_string);
    let misskey = is_misskey(&state, request.uri().path(), query.as_deref());
    if method == Method::OPTIONS {
        return if misskey { misskey_route::preflight(&state) } else { preflight(&state) };
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    let prefix = state.config.server.path_prefix.as_str();
    let Some(path) = request.uri().path().strip_prefix(prefix).filter(|p| p.starts_with('/')) else {
        return text(StatusCode::NOT_FOUND, "Not found\n");
    };
    if path == "/health" || path == "/healthz" {
        return without_body_for_head(&method, health().await);
    }
    let path = path.to_string();
    if misskey {
        let response = misskey_route::handle(&state, &path, query.as_deref(), request.headers()).await;
        return without_body_for_head(&method, response);
    }
    let response = imgproxy_route::handle(&state, &path, request.headers()).await;
    without_body_for_head(&method, response)
}

/// The Misskey routing rule (README "Use with Misskey"), applied after the path prefix is removed.
fn is_misskey(state: &AppState, path: &str, query: Option<&str>) -> bool {
    let prefix = state.config.server.path_prefix.as_str();
    path.strip_prefix(prefix).is_some_and(|p| crate::misskey::is_misskey_path(p, query))
}

/// CORS preflight: answered with the configured origin; 204 either way so browsers get a quick answer.
fn preflight(state: &AppState) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Some(origin) = &state.config.imgproxy.allow_origin {
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, OPTIONS"));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

/// HEAD answers with the GET headers and no body (axum does this for routed GETs; the fallback does it here).
fn without_body_for_head(method: &Method, response: Response<Body>) -> Response<Body> {
    if method != Method::HEAD {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::TRANSFER_ENCODING);
    Response::from_parts(parts, Body::empty())
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Seconds since the epoch; a clock before 1970 reads as 0.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
