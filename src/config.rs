//! Every environment variable, parsed once at start-up into typed settings with imgproxy's names and
//! defaults (SPEC §2 "Config").
//!
//! This is the only module that knows environment variable names. A malformed value stops start-up
//! with one line naming the variable; Go/libvips memory-tuning variables that mean nothing here are
//! accepted and reported as not needed, so an imgproxy deployment's config can be reused unchanged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::plan::ImageFormat;
use crate::source::guard::{Cidr, CidrParseError};

/// A bad configuration value: the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The variable at fault.
    pub var: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One HMAC key/salt pair for URL signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningPair {
    /// Raw key bytes (hex-decoded).
    pub key: Vec<u8>,
    /// Raw salt bytes (hex-decoded).
    pub salt: Vec<u8>,
}

/// All settings. Grouped by the module that consumes them.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listener, workers, timeouts.
    pub server: ServerConfig,
    /// imgproxy URL dialect settings.
    pub imgproxy: ImgproxyConfig,
    /// Source fetching settings.
    pub source: SourceConfig,
    /// Misskey media-proxy dialect settings (`MEDIA_PROXY_*`).
    pub misskey: MisskeyConfig,
    /// Variables accepted but without effect here, for a start-up log line.
    pub ignored: Vec<String>,
    /// `IMGPROXY_*` variables we do not know, for a start-up warning.
    pub unknown: Vec<String>,
    /// Front-door selection and the Lambda payload cap (SPEC §1, §5).
    pub lambda: LambdaConfig,
    /// Metrics export and the memory budget (SPEC §7, issue 7).
    pub observability: ObservabilityConfig,
}

/// Metrics export (OTLP, Prometheus) and the memory budget's inputs (SPEC §7). The budget's default is
/// derived in `memory_budget.rs`, which reads the cgroup and `/proc`; this only records what the
/// environment says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservabilityConfig {
    /// `IMGPROXY_OPEN_TELEMETRY_ENABLE`: push metrics over OTLP `http/protobuf`.
    pub otlp_enabled: bool,
    /// Where metrics are POSTed: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` as is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (or imgproxy's `IMGPROXY_OPEN_TELEMETRY_ENDPOINT`) + `/v1/metrics`,
    /// else `http://localhost:4318/v1/metrics` (the OpenTelemetry defaults).
    pub otlp_metrics_url: String,
    /// `OTEL_EXPORTER_OTLP_HEADERS` then `OTEL_EXPORTER_OTLP_METRICS_HEADERS` (`k=v,k=v`, percent-decoded).
    pub otlp_headers: Vec<(String, String)>,
    /// `OTEL_SERVICE_NAME` > `IMGPROXY_OPEN_TELEMETRY_SERVICE_NAME` > `lambda-media-proxy`.
    pub service_name: String,
    /// `OTEL_METRIC_EXPORT_INTERVAL` in milliseconds (default 60000).
    pub export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT` / `OTEL_EXPORTER_OTLP_TIMEOUT` in milliseconds (default 10000).
    pub export_timeout: Duration,
    /// `IMGPROXY_PROMETHEUS_BIND`: a separate listener serving `/metrics`, as imgproxy.
    pub prometheus_bind: Option<SocketAddr>,
    /// `IMGPROXY_PROMETHEUS_NAMESPACE`: prefix of every Prometheus metric name (`ns_requests_total`).
    pub prometheus_namespace: String,
    /// `METRICS_ON_MAIN_ROUTER`: also serve `/metrics` on the main listener (not in imgproxy).
    pub metrics_on_main_router: bool,
    /// `MEMORY_BUDGET_BYTES`: bytes of decoded images allowed in flight; `None` = derived.
    pub memory_budget_bytes: Option<u64>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB, set by Lambda.
    pub lambda_memory_mb: Option<u64>,
}

/// What the front-door selection and the Lambda response cap read (SPEC §1, §5). The decision itself is
/// `server::lambda::select_front_door`; this only records what the environment says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LambdaConfig {
    /// `RUN_MODE=http|lambda|lambda-stream`: overrides detection.
    pub run_mode: Option<RunMode>,
    /// `AWS_LWA_PORT` is set: we are behind the Lambda Web Adapter.
    pub lwa_port_set: bool,
    /// `AWS_LAMBDA_RUNTIME_API` is set (also true behind the Web Adapter, so never decisive alone).
    pub runtime_api_set: bool,
    /// `INVOKE_MODE=RESPONSE_STREAM` (`BUFFERED` or unset: false).
    pub invoke_mode_streaming: bool,
    /// `LAMBDA_MAX_RESPONSE_BYTES`: the body size above which the cap rule applies; `None` = the mode's default.
    pub max_response_bytes: Option<u64>,
}

/// An explicit `RUN_MODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// `http`: the plain HTTP server.
    Http,
    /// `lambda`: native Lambda, buffered responses.
    Lambda,
    /// `lambda-stream`: native Lambda, streamed responses.
    LambdaStream,
}

/// Listener, concurrency and timeouts.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (`IMGPROXY_BIND`, `AWS_LWA_PORT`, `PORT`; default `0.0.0.0:8080`).
    pub bind: SocketAddr,
    /// Concurrent image jobs (`IMGPROXY_WORKERS`, default number of CPUs).
    pub workers: usize,
    /// Requests allowed to wait for a worker; 0 = unlimited (`IMGPROXY_REQUESTS_QUEUE_SIZE`).
    pub queue_size: usize,
    /// Whole-request deadline (`IMGPROXY_TIMEOUT`, default 10 s).
    pub timeout: Duration,
    /// Path prefix stripped before routing (`IMGPROXY_PATH_PREFIX`).
    pub path_prefix: String,
    /// Debug headers (`IMGPROXY_ENABLE_DEBUG_HEADERS`).
    pub enable_debug_headers: bool,
    /// Log level (`IMGPROXY_LOG_LEVEL`; `RUST_LOG` wins).
    pub log_level: String,
}

/// Everything the imgproxy dialect needs to turn a path into a plan.
#[derive(Clone, Debug)]
pub struct ImgproxyConfig {
    /// Key/salt pairs; empty = unsigned mode.
    pub signing: Vec<SigningPair>,
    /// Bytes of the HMAC kept in the signature (`IMGPROXY_SIGNATURE_SIZE`, 1..=32, default 32).
    pub signature_size: usize,
    /// `IMGPROXY_TTL` (default 31536000).
    pub ttl: u32,
    /// `IMGPROXY_CACHE_CONTROL_PASSTHROUGH`.
    pub cache_control_passthrough: bool,
    /// `IMGPROXY_MAX_SRC_RESOLUTION` in pixels (env in megapixels, default 50).
    pub max_src_resolution: u64,
    /// `IMGPROXY_MAX_SRC_FILE_SIZE` in bytes; 0 = unlimited.
    pub max_src_file_size: u64,
    /// `IMGPROXY_MAX_ANIMATION_FRAMES` (default 1).
    pub max_animation_frames: u32,
    /// `IMGPROXY_MAX_ANIMATION_FRAME_RESOLUTION` in pixels; 0 = unlimited.
    pub max_animation_frame_resolution: u64,
    /// `IMGPROXY_MAX_RESULT_DIMENSION`; 0 = unlimited.
    pub max_result_dimension: u32,
    /// `IMGPROXY_QUALITY` (default 80).
    pub quality: u8,
    /// `IMGPROXY_FORMAT_QUALITY` (default `webp=79,avif=63`).
    pub format_quality: Vec<(ImageFormat, u8)>,
    /// `IMGPROXY_STRIP_METADATA` (default true).
    pub strip_metadata: bool,
    /// `IMGPROXY_KEEP_COPYRIGHT` (default true).
    pub keep_copyright: bool,
    /// `IMGPROXY_STRIP_COLOR_PROFILE` (default true).
    pub strip_color_profile: bool,
    /// `IMGPROXY_AUTO_ROTATE` (default true).
    pub auto_rotate: bool,
    /// `IMGPROXY_AUTO_WEBP`.
    pub auto_webp: bool,
    /// `IMGPROXY_ENFORCE_WEBP`.
    pub enforce_webp: bool,
    /// `IMGPROXY_AUTO_AVIF`.
    pub auto_avif: bool,
    /// `IMGPROXY_ENFORCE_AVIF`.
    pub enforce_avif: bool,
    /// `IMGPROXY_PREFERRED_FORMATS` (default `jpeg,png,gif`).
    pub preferred_formats: Vec<ImageFormat>,
    /// `IMGPROXY_SKIP_PROCESSING_FORMATS`.
    pub skip_processing_formats: Vec<ImageFormat>,
    /// `IMGPROXY_JPEG_PROGRESSIVE`.
    pub jpeg_progressive: bool,
    /// `IMGPROXY_AVIF_SPEED` (0..=9, default 8).
    pub avif_speed: u8,
    /// `IMGPROXY_ALLOW_SECURITY_OPTIONS`.
    pub allow_security_options: bool,
    /// `IMGPROXY_ALLOWED_PROCESSING_OPTIONS`: option names allowed; empty = all.
    pub allowed_processing_options: Vec<String>,
    /// `IMGPROXY_PRESETS`: name → option string (`a:1/b:2`).
    pub presets: BTreeMap<String, String>,
    /// `IMGPROXY_ONLY_PRESETS`.
    pub only_presets: bool,
    /// `IMGPROXY_RETURN_ATTACHMENT`.
    pub return_attachment: bool,
    /// `IMGPROXY_USE_ETAG`.
    pub use_etag: bool,
    /// `IMGPROXY_ETAG_BUSTER`.
    pub etag_buster: String,
    /// `IMGPROXY_USE_LAST_MODIFIED`.
    pub use_last_modified: bool,
    /// `IMGPROXY_FALLBACK_IMAGE_HTTP_CODE` (default 200; 0 = original status).
    pub fallback_image_http_code: u16,
    /// `IMGPROXY_FALLBACK_IMAGE_TTL` (0 = use `ttl`).
    pub fallback_image_ttl: u32,
    /// `IMGPROXY_WATERMARK_OPACITY` (default 1).
    pub watermark_opacity: f64,
    /// `Access-Control-Allow-Origin` (`IMGPROXY_ALLOW_ORIGIN`).
    pub allow_origin: Option<String>,
}

/// How sources are fetched and which are allowed.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// `IMGPROXY_USER_AGENT`.
    pub user_agent: String,
    /// `IMGPROXY_DOWNLOAD_TIMEOUT` (default 5 s).
    pub download_timeout: Duration,
    /// `IMGPROXY_MAX_REDIRECTS` (default 10).
    pub max_redirects: usize,
    /// `IMGPROXY_ALLOWED_SOURCES`: prefixes; empty = all.
    pub allowed_sources: Vec<String>,
    /// `IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES`.
    pub allow_loopback: bool,
    /// `IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES`.
    pub allow_private: bool,
    /// `IMGPROXY_ALLOW_LINK_LOCAL_SOURCE_ADDRESSES`.
    pub allow_link_local: bool,
    /// `MEDIA_PROXY_ALLOWED_PRIVATE_NETWORKS`: networks allowed whatever their address class.
    pub allowed_networks: Vec<Cidr>,
    /// `IMGPROXY_LOCAL_FILESYSTEM_ROOT`; `None` disables `local://`.
    pub local_root: Option<PathBuf>,
    /// `IMGPROXY_USE_S3`.
    pub use_s3: bool,
    /// `IMGPROXY_S3_ENDPOINT`.
    pub s3_endpoint: Option<String>,
    /// `IMGPROXY_S3_REGION`.
    pub s3_region: Option<String>,
    /// `IMGPROXY_FALLBACK_IMAGE_DATA` (base64-decoded).
    pub fallback_image_data: Option<Vec<u8>>,
    /// `IMGPROXY_FALLBACK_IMAGE_PATH`.
    pub fallback_image_path: Option<PathBuf>,
    /// `IMGPROXY_FALLBACK_IMAGE_URL`.
    pub fallback_image_url: Option<String>,
    /// `IMGPROXY_WATERMARK_DATA` (base64-decoded).
    pub watermark_data: Option<Vec<u8>>,
    /// `IMGPROXY_WATERMARK_PATH`.
    pub watermark_path: Option<PathBuf>,
    /// `IMGPROXY_WATERMARK_URL`.
    pub watermark_url: Option<String>,
    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) when both are set, read with
    /// the rest of the configuration so tests need not touch the process environment; otherwise the
    /// standard AWS credential chain (profile, web identity, ECS/Lambda role, instance role) is used.
    pub s3_credentials: Option<S3Credentials>,
    /// `RESULT_BUCKET`: where processed results are cached (not in imgproxy OSS); none = no result cache.
    pub result_bucket: Option<String>,
    /// `RESULT_PREFIX`: key prefix inside `RESULT_BUCKET` (e.g. `results/`).
    pub result_prefix: String,
}

/// Static AWS credentials. `Debug` never shows the secret or the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// The Misskey media-proxy dialect (SPEC §3).
#[derive(Clone, Debug)]
pub struct MisskeyConfig {
    /// `MEDIA_PROXY_MAX_SIZE`: most source bytes, counted as received (default 262144000, as media-proxy).
    pub max_size: u64,
    /// `MEDIA_PROXY_USER_AGENT`: `User-Agent` sent upstream by this dialect; `None` uses the source default.
    pub user_agent: Option<String>,
    /// `MEDIA_PROXY_REJECT_RECURSIVE`: refuse requests whose `User-Agent` contains `misskey/` (proxy loops).
    pub reject_recursive: bool,
    /// `MEDIA_PROXY_ALLOW_ORIGIN` (default `*`).
    pub allow_origin: String,
    /// `MEDIA_PROXY_CSP` (default media-proxy's policy).
    pub content_security_policy: String,
    /// `MEDIA_PROXY_MAX_ANIMATION_FRAMES`: frames kept from animated emoji/avatars (default 500).
    pub max_animation_frames: u32,
}

/// media-proxy's `Content-Security-Policy` (SPEC §3).
pub const MISSKEY_DEFAULT_CSP: &str = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";

/// Variables from imgproxy's Go/libvips runtime that tune memory there and mean nothing here.
const NOT_NEEDED: &[&str] = &[
    "IMGPROXY_MALLOC",
    "IMGPROXY_FREE_MEMORY_INTERVAL",
    "IMGPROXY_DOWNLOAD_BUFFER_SIZE",
    "IMGPROXY_BUFFER_POOL_CALIBRATION_THRESHOLD",
    "IMGPROXY_MAX_CLIENTS",
    "IMGPROXY_READ_REQUEST_TIMEOUT",
    "IMGPROXY_KEEP_ALIVE_TIMEOUT",
    "IMGPROXY_CLIENT_KEEP_ALIVE_TIMEOUT",
    "IMGPROXY_GO_BENCHMARK",
    "IMGPROXY_VIPS_LEAK_CHECK",
    "IMGPROXY_VIPS_CACHE_TRACE",
    "GOMEMLIMIT",
    "GOGC",
    "MALLOC_ARENA_MAX",
];

/// Variables read elsewhere by name (front-door selection, telemetry): known, so not warned about.
const READ_ELSEWHERE: &[&str] = &[
    "IMGPROXY_OPEN_TELEMETRY_ENABLE",
    "IMGPROXY_OPEN_TELEMETRY_ENDPOINT",
    "IMGPROXY_OPEN_TELEMETRY_SERVICE_NAME",
    "IMGPROXY_PROMETHEUS_BIND",
    "IMGPROXY_PROMETHEUS_NAMESPACE",
    "IMGPROXY_LOG_FORMAT",
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// Reads settings from `vars`; the pure core of [`Config::from_env`], used by tests.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env = Env::new(vars);
        let config = Config {
            server: server_config(&env)?,
            imgproxy: imgproxy_config(&env)?,
            source: source_config(&env)?,
            misskey: misskey_config(&env)?,
            ignored: env.present(NOT_NEEDED),
            unknown: env.unknown(),
            lambda: lambda_config(&env)?,
            observability: observability_config(&env)?,
        };
        Ok(config)
    }
}

fn server_config(env: &Env) -> Result<ServerConfig, ConfigError> {
    Ok(ServerConfig {
        bind: bind_address(env)?,
        workers: env.parse("IMGPROXY_WORKERS", default_workers())?.max(1),
        queue_size: env.parse("IMGPROXY_REQUESTS_QUEUE_SIZE", 0)?,
        timeout: env.seconds("IMGPROXY_TIMEOUT", 10)?,
        path_prefix: env.string("IMGPROXY_PATH_PREFIX").unwrap_or_default().trim_end_matches('/').to_string(),
        enable_debug_headers: env.bool("IMGPROXY_ENABLE_DEBUG_HEADERS", false)?,
        log_level: env.string("IMGPROXY_LOG_LEVEL").unwrap_or_else(|| "info".into()),
    })
}

fn imgproxy_config(env: &Env) -> Result<ImgproxyConfig, ConfigError> {
    let mut format_quality = vec![(ImageFormat::Webp, 79), (ImageFormat::Avif, 63)];
    if let Some(raw) = env.string("IMGPROXY_FORMAT_QUALITY") {
        format_quality = parse_format_quality("IMGPROXY_FORMAT_QUALITY", &raw)?;
    }
    let megapixels: f64 = env.parse("IMGPROXY_MAX_SRC_RESOLUTION", 50.0)?;
    let frame_megapixels: f64 = env.parse("IMGPROXY_MAX_ANIMATION_FRAME_RESOLUTION", 0.0)?;
    Ok(ImgproxyConfig {
        signing: signing_pairs(env)?,
        signature_size: signature_size(env)?,
        ttl: env.parse("IMGPROXY_TTL", 31_536_000)?,
        cache_control_passthrough: env.bool("IMGPROXY_CACHE_CONTROL_PASSTHROUGH", false)?,
        max_src_resolution: megapixels_to_pixels("IMGPROXY_MAX_SRC_RESOLUTION", megapixels)?,
        max_src_file_size: env.parse("IMGPROXY_MAX_SRC_FILE_SIZE", 0)?,
        max_animation_frames: env.parse("IMGPROXY_MAX_ANIMATION_FRAMES", 1)?,
        max_animation_frame_resolution: megapixels_to_pixels(
            "IMGPROXY_MAX_ANIMATION_FRAME_RESOLUTION",
            frame_megapixels,
        )?,
        max_result_dimension: env.parse("IMGPROXY_MAX_RESULT_DIMENSION", 0)?,
        quality: quality(env, "IMGPROXY_QUALITY", 80)?,
        format_quality,
        strip_metadata: env.bool("IMGPROXY_STRIP_METADATA", true)?,
        keep_copyright: env.bool("IMGPROXY_KEEP_COPYRIGHT", true)?,
        strip_color_profile: env.bool("IMGPROXY_STRIP_COLOR_PROFILE", true)?,
        auto_rotate: env.bool("IMGPROXY_AUTO_ROTATE", true)?,
        auto_webp: env.bool("IMGPROXY_AUTO_WEBP", false)?,
        enforce_webp: env.bool("IMGPROXY_ENFORCE_WEBP", false)?,
        auto_avif: env.bool("IMGPROXY_AUTO_AVIF", false)?,
        enforce_avif: env.bool("IMGPROXY_ENFORCE_AVIF", false)?,
        preferred_formats: env
            .formats("IMGPROXY_PREFERRED_FORMATS")?
            .unwrap_or_else(|| vec![ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif]),
        skip_processing_formats: env.formats("IMGPROXY_SKIP_PROCESSING_FORMATS")?.unwrap_or_default(),
        jpeg_progressive: env.bool("IMGPROXY_JPEG_PROGRESSIVE", false)?,
        avif_speed: bounded(env, "IMGPROXY_AVIF_SPEED", 8, 0, 9)?,
        allow_security_options: env.bool("IMGPROXY_ALLOW_SECURITY_OPTIONS", false)?,
        allowed_processing_options: env.list("IMGPROXY_ALLOWED_PROCESSING_OPTIONS"),
        presets: presets(env)?,
        only_presets: env.bool("IMGPROXY_ONLY_PRESETS", false)?,
        return_attachment: env.bool("IMGPROXY_RETURN_ATTACHMENT", false)?,
        use_etag: env.bool("IMGPROXY_USE_ETAG", false)?,
        etag_buster: env.string("IMGPROXY_ETAG_BUSTER").unwrap_or_default(),
        use_last_modified: env.bool("IMGPROXY_USE_LAST_MODIFIED", false)?,
        fallback_image_http_code: fallback_code(env)?,
        fallback_image_ttl: env.parse("IMGPROXY_FALLBACK_IMAGE_TTL", 0)?,
        watermark_opacity: env.parse("IMGPROXY_WATERMARK_OPACITY", 1.0)?,
        allow_origin: env.string("IMGPROXY_ALLOW_ORIGIN"),
    })
}

fn source_config(env: &Env) -> Result<SourceConfig, ConfigError> {
    let default_ua = concat!("lambda-media-proxy/", env!("CARGO_PKG_VERSION"));
    Ok(SourceConfig {
        user_agent: env.string("IMGPROXY_USER_AGENT").unwrap_or_else(|| default_ua.into()),
        download_timeout: env.seconds("IMGPROXY_DOWNLOAD_TIMEOUT", 5)?,
        max_redirects: env.parse("IMGPROXY_MAX_REDIRECTS", 10)?,
        allowed_sources: env.list("IMGPROXY_ALLOWED_SOURCES"),
        allow_loopback: env.bool("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", false)?,
        allow_private: env.bool("IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES", false)?,
        allow_link_local: env.bool("IMGPROXY_ALLOW_LINK_LOCAL_SOURCE_ADDRESSES", false)?,
        allowed_networks: allowed_networks(env)?,
        local_root: env.string("IMGPROXY_LOCAL_FILESYSTEM_ROOT").map(PathBuf::from),
        use_s3: env.bool("IMGPROXY_USE_S3", false)?,
        s3_endpoint: env.string("IMGPROXY_S3_ENDPOINT"),
        s3_region: env.string("IMGPROXY_S3_REGION"),
        fallback_image_data: env.base64("IMGPROXY_FALLBACK_IMAGE_DATA")?,
        fallback_image_path: env.string("IMGPROXY_FALLBACK_IMAGE_PATH").map(PathBuf::from),
        fallback_image_url: env.string("IMGPROXY_FALLBACK_IMAGE_URL"),
        watermark_data: env.base64("IMGPROXY_WATERMARK_DATA")?,
        watermark_path: env.string("IMGPROXY_WATERMARK_PATH").map(PathBuf::from),
        watermark_url: env.string("IMGPROXY_WATERMARK_URL"),
        s3_credentials: s3_credentials(env),
        result_bucket: env.string("RESULT_BUCKET"),
        result_prefix: env.string("RESULT_PREFIX").unwrap_or_default(),
    })
}

/// Static credentials only when both halves are present (SigV4 needs both).
fn s3_credentials(env: &Env) -> Option<S3Credentials> {
    Some(S3Credentials {
        access_key_id: env.string("AWS_ACCESS_KEY_ID")?,
        secret_access_key: env.string("AWS_SECRET_ACCESS_KEY")?,
        session_token: env.string("AWS_SESSION_TOKEN"),
    })
}

fn misskey_config(env: &Env) -> Result<MisskeyConfig, ConfigError> {
    Ok(MisskeyConfig {
        max_size: env.parse("MEDIA_PROXY_MAX_SIZE", 262_144_000)?,
        user_agent: env.string("MEDIA_PROXY_USER_AGENT"),
        reject_recursive: env.bool("MEDIA_PROXY_REJECT_RECURSIVE", false)?,
        allow_origin: env.string("MEDIA_PROXY_ALLOW_ORIGIN").unwrap_or_else(|| "*".into()),
        content_security_policy: env.string("MEDIA_PROXY_CSP").unwrap_or_else(|| MISSKEY_DEFAULT_CSP.into()),
        max_animation_frames: env.parse("MEDIA_PROXY_MAX_ANIMATION_FRAMES", 500)?.max(1),
    })
}

fn lambda_config(env: &Env) -> Result<LambdaConfig, ConfigError> {
    let run_mode = match env.string("RUN_MODE").as_deref() {
        None => None,
        Some("http") => Some(RunMode::Http),
        Some("lambda") => Some(RunMode::Lambda),
        Some("lambda-stream") => Some(RunMode::LambdaStream),
        Some(raw) => return Err(err("RUN_MODE", &format!("`{raw}` is not http, lambda or lambda-stream"))),
    };
    // The function URL's InvokeMode values, as AWS spells them.
    let invoke_mode_streaming = match env.string("INVOKE_MODE").as_deref() {
        None | Some("BUFFERED") => false,
        Some("RESPONSE_STREAM") => true,
        Some(raw) => return Err(err("INVOKE_MODE", &format!("`{raw}` is not BUFFERED or RESPONSE_STREAM"))),
    };
    let var = "LAMBDA_MAX_RESPONSE_BYTES";
    let max_response_bytes = match env.string(var) {
        None => None,
        Some(_) => match env.parse::<u64>(var, 0)? {
            0 => return Err(err(var, "must be a positive number of bytes")),
            n => Some(n),
        },
    };
    Ok(LambdaConfig {
        run_mode,
        lwa_port_set: env.string("AWS_LWA_PORT").is_some(),
        runtime_api_set: env.string("AWS_LAMBDA_RUNTIME_API").is_some(),
        invoke_mode_streaming,
        max_response_bytes,
    })
}

fn observability_config(env: &Env) -> Result<ObservabilityConfig, ConfigError> {
    for var in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] {
        if let Some(raw) = env.string(var).filter(|p| p != "http/protobuf") {
            return Err(err(var, &format!("`{raw}` is not supported; only http/protobuf is")));
        }
    }
    let millis = |var: &str, default: u64| -> Result<Duration, ConfigError> {
        match env.parse::<u64>(var, default)? {
            0 => Err(err(var, "must be a positive number of milliseconds")),
            ms => Ok(Duration::from_millis(ms)),
        }
    };
    let timeout_var = if env.string("OTEL_METRIC_EXPORT_TIMEOUT").is_some() {
        "OTEL_METRIC_EXPORT_TIMEOUT"
    } else {
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    };
    let memory_budget_bytes = match env.string("MEMORY_BUDGET_BYTES") {
        None => None,
        Some(_) => match env.parse::<u64>("MEMORY_BUDGET_BYTES", 0)? {
            0 => return Err(err("MEMORY_BUDGET_BYTES", "must be a positive number of bytes")),
            n => Some(n),
        },
    };
    Ok(ObservabilityConfig {
        otlp_enabled: env.bool("IMGPROXY_OPEN_TELEMETRY_ENABLE", false)?,
        otlp_metrics_url: otlp_metrics_url(env),
        otlp_headers: otlp_headers(env)?,
        service_name: env
            .string("OTEL_SERVICE_NAME")
            .or_else(|| env.string("IMGPROXY_OPEN_TELEMETRY_SERVICE_NAME"))
            .unwrap_or_else(|| "lambda-media-proxy".into()),
        export_interval: millis("OTEL_METRIC_EXPORT_INTERVAL", 60_000)?,
        export_timeout: millis(timeout_var, 10_000)?,
        prometheus_bind: env
            .string("IMGPROXY_PROMETHEUS_BIND")
            .map(|b| parse_bind("IMGPROXY_PROMETHEUS_BIND", &b))
            .transpose()?,
        prometheus_namespace: env.string("IMGPROXY_PROMETHEUS_NAMESPACE").unwrap_or_default(),
        metrics_on_main_router: env.bool("METRICS_ON_MAIN_ROUTER", false)?,
        memory_budget_bytes,
        lambda_memory_mb: env.string("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|v| v.parse().ok()),
    })
}

/// The OpenTelemetry endpoint rules: the signal-specific URL is used as is, the base one gets `/v1/metrics`.
fn otlp_metrics_url(env: &Env) -> String {
    if let Some(url) = env.string("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
        return url;
    }
    let base = env.string("OTEL_EXPORTER_OTLP_ENDPOINT").or_else(|| {
        // imgproxy's own variable is `host:port`.
        env.string("IMGPROXY_OPEN_TELEMETRY_ENDPOINT")
            .map(|e| if e.contains("://") { e } else { format!("http://{e}") })
    });
    let base = base.unwrap_or_else(|| "http://localhost:4318".into());
    format!("{}/v1/metrics", base.trim_end_matches('/'))
}

/// `k=v,k=v` with percent-encoded values (the OpenTelemetry header format); metrics-specific ones win.
fn otlp_headers(env: &Env) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for var in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"] {
        for item in env.list(var) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(err(var, "expected key=value pairs separated by commas"));
            };
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy().to_string();
            let key = key.trim().to_ascii_lowercase();
            out.retain(|(k, _)| *k != key);
            out.push((key, value));
        }
    }
    Ok(out)
}

/// `:port` or `host:port`, as `IMGPROXY_BIND`.
fn parse_bind(var: &str, bind: &str) -> Result<SocketAddr, ConfigError> {
    let full = if bind.starts_with(':') { format!("0.0.0.0{bind}") } else { bind.to_string() };
    full.parse().map_err(|_| err(var, "expected host:port or :port"))
}

/// Comma-separated CIDRs or bare addresses (`10.0.0.0/8,fd00::/8,192.168.1.5`).
fn allowed_networks(env: &Env) -> Result<Vec<Cidr>, ConfigError> {
    let var = "MEDIA_PROXY_ALLOWED_PRIVATE_NETWORKS";
    env.list(var).iter().map(|item| item.parse().map_err(|e: CidrParseError| err(var, &e.to_string()))).collect()
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `IMGPROXY_BIND` (`:8080` or `host:port`) > `AWS_LWA_PORT` > `PORT` > 8080 (SPEC §1).
fn bind_address(env: &Env) -> Result<SocketAddr, ConfigError> {
    if let Some(bind) = env.string("IMGPROXY_BIND") {
        let full = if bind.starts_with(':') { format!("0.0.0.0{bind}") } else { bind };
        return full.parse().map_err(|_| err("IMGPROXY_BIND", "expected host:port or :port"));
    }
    for var in ["AWS_LWA_PORT", "PORT"] {
        if env.string(var).is_some() {
            let port: u16 = env.parse(var, 8080)?;
            return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
        }
    }
    Ok(SocketAddr::from(([0, 0, 0, 0], 8080)))
}

/// Comma-separated hex keys and salts, paired by position; counts must match.
fn signing_pairs(env: &Env) -> Result<Vec<SigningPair>, ConfigError> {
    let keys = hex_list(env, "IMGPROXY_KEY")?;
    let salts = hex_list(env, "IMGPROXY_SALT")?;
    if keys.len() != salts.len() {
        let reason = format!("{} key(s) but {} salt(s) in IMGPROXY_SALT; they must pair up", keys.len(), salts.len());
        return Err(err("IMGPROXY_KEY", &reason));
    }
    Ok(keys.into_iter().zip(salts).map(|(key, salt)| SigningPair { key, salt }).collect())
}

fn hex_list(env: &Env, var: &str) -> Result<Vec<Vec<u8>>, ConfigError> {
    env.list(var).iter().map(|item| hex::decode(item).map_err(|e| err(var, &format!("not valid hex ({e})")))).collect()
}

fn signature_size(env: &Env) -> Result<usize, ConfigError> {
    let size: usize = env.parse("IMGPROXY_SIGNATURE_SIZE", 32)?;
    if !(1..=32).contains(&size) {
        return Err(err("IMGPROXY_SIGNATURE_SIZE", "must be between 1 and 32"));
    }
    Ok(size)
}

fn quality(env: &Env, var: &str, default: u8) -> Result<u8, ConfigError> {
    bounded(env, var, default, 1, 100)
}

fn bounded(env: &Env, var: &str, default: u8, min: u8, max: u8) -> Result<u8, ConfigError> {
    let value: u8 = env.parse(var, default)?;
    if value < min || value > max {
        return Err(err(var, &format!("must be between {min} and {max}")));
    }
    Ok(value)
}

fn megapixels_to_pixels(var: &str, megapixels: f64) -> Result<u64, ConfigError> {
    if !megapixels.is_finite() || megapixels < 0.0 {
        return Err(err(var, "must be a non-negative number of megapixels"));
    }
    Ok((megapixels * 1_000_000.0).round() as u64)
}

/// `webp=79,avif=63`.
fn parse_format_quality(var: &str, raw: &str) -> Result<Vec<(ImageFormat, u8)>, ConfigError> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, q) = item.split_once('=').ok_or_else(|| err(var, &format!("`{item}` is not format=quality")))?;
        let format =
            ImageFormat::from_extension(name.trim()).ok_or_else(|| err(var, &format!("unknown format `{name}`")))?;
        let q: u8 = q.trim().parse().map_err(|_| err(var, &format!("`{q}` is not a quality")))?;
        if !(1..=100).contains(&q) {
            return Err(err(var, "quality must be between 1 and 100"));
        }
        out.push((format, q));
    }
    Ok(out)
}

/// `name=opts,name2=opts2` (imgproxy `IMGPROXY_PRESETS`).
fn presets(env: &Env) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for item in env.list("IMGPROXY_PRESETS") {
        let (name, options) =
            item.split_once('=').ok_or_else(|| err("IMGPROXY_PRESETS", &format!("`{item}` is not name=options")))?;
        if name.trim().is_empty() {
            return Err(err("IMGPROXY_PRESETS", "a preset has an empty name"));
        }
        out.insert(name.trim().to_string(), options.trim().to_string());
    }
    Ok(out)
}

fn fallback_code(env: &Env) -> Result<u16, ConfigError> {
    let code: u16 = env.parse("IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", 200)?;
    if code != 0 && !(100..=599).contains(&code) {
        return Err(err("IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", "must be 0 or an HTTP status"));
    }
    Ok(code)
}

fn err(var: &str, reason: &str) -> ConfigError {
    ConfigError { var: var.to_string(), reason: reason.to_string() }
}

/// A snapshot of the environment with typed getters. Empty values count as unset, as in imgproxy.
struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    fn new<I, K, V>(vars: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env { vars: vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    fn string(&self, var: &str) -> Option<String> {
        self.vars.get(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, var: &str, default: T) -> Result<T, ConfigError> {
        match self.string(var) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| err(var, &format!("`{raw}` is not a valid value"))),
        }
    }

    /// Booleans as Go's `strconv.ParseBool`: 1 t T TRUE true True / 0 f F FALSE false False.
    fn bool(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.string(var).as_deref() {
            None => Ok(default),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(raw) => Err(err(var, &format!("`{raw}` is not a boolean (true/false)"))),
        }
    }

    fn seconds(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        let secs: f64 = self.parse(var, default as f64)?;
        if !secs.is_finite() || secs <= 0.0 {
            return Err(err(var, "must be a positive number of seconds"));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    fn list(&self, var: &str) -> Vec<String> {
        self.string(var)
            .map(|raw| raw.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    fn formats(&self, var: &str) -> Result<Option<Vec<ImageFormat>>, ConfigError> {
        if self.string(var).is_none() {
            return Ok(None);
        }
        self.list(var)
            .iter()
            .map(|name| ImageFormat::from_extension(name).ok_or_else(|| err(var, &format!("unknown format `{name}`"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn base64(&self, var: &str) -> Result<Option<Vec<u8>>, ConfigError> {
        use base64::Engine;
        let Some(raw) = self.string(var) else { return Ok(None) };
        base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .map(Some)
            .map_err(|e| err(var, &format!("not valid base64 ({e})")))
    }

    fn present(&self, names: &[&str]) -> Vec<String> {
        names.iter().filter(|n| self.vars.contains_key(**n)).map(|n| n.to_string()).collect()
    }

    /// `IMGPROXY_*` names that no getter reads; computed from the list of names we know.
    fn unknown(&self) -> Vec<String> {
        self.vars
            .keys()
            .filter(|k| k.starts_with("IMGPROXY_"))
            .filter(|k| !KNOWN.contains(&k.as_str()) && !NOT_NEEDED.contains(&k.as_str()))
            .filter(|k| !READ_ELSEWHERE.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// Every `IMGPROXY_*` variable read above.
const KNOWN: &[&str] = &[
    "IMGPROXY_BIND",
    "IMGPROXY_WORKERS",
    "IMGPROXY_REQUESTS_QUEUE_SIZE",
    "IMGPROXY_TIMEOUT",
    "IMGPROXY_PATH_PREFIX",
    "IMGPROXY_ALLOW_ORIGIN",
    "IMGPROXY_ENABLE_DEBUG_HEADERS",
    "IMGPROXY_LOG_LEVEL",
    "IMGPROXY_KEY",
    "IMGPROXY_SALT",
    "IMGPROXY_SIGNATURE_SIZE",
    "IMGPROXY_TTL",
    "IMGPROXY_CACHE_CONTROL_PASSTHROUGH",
    "IMGPROXY_MAX_SRC_RESOLUTION",
    "IMGPROXY_MAX_SRC_FILE_SIZE",
    "IMGPROXY_MAX_ANIMATION_FRAMES",
    "IMGPROXY_MAX_ANIMATION_FRAME_RESOLUTION",
    "IMGPROXY_MAX_RESULT_DIMENSION",
    "IMGPROXY_QUALITY",
    "IMGPROXY_FORMAT_QUALITY",
    "IMGPROXY_STRIP_METADATA",
    "IMGPROXY_KEEP_COPYRIGHT",
    "IMGPROXY_STRIP_COLOR_PROFILE",
    "IMGPROXY_AUTO_ROTATE",
    "IMGPROXY_AUTO_WEBP",
    "IMGPROXY_ENFORCE_WEBP",
    "IMGPROXY_AUTO_AVIF",
    "IMGPROXY_ENFORCE_AVIF",
    "IMGPROXY_PREFERRED_FORMATS",
    "IMGPROXY_SKIP_PROCESSING_FORMATS",
    "IMGPROXY_JPEG_PROGRESSIVE",
    "IMGPROXY_AVIF_SPEED",
    "IMGPROXY_ALLOW_SECURITY_OPTIONS",
    "IMGPROXY_ALLOWED_PROCESSING_OPTIONS",
    "IMGPROXY_PRESETS",
    "IMGPROXY_ONLY_PRESETS",
    "IMGPROXY_RETURN_ATTACHMENT",
    "IMGPROXY_USE_ETAG",
    "IMGPROXY_ETAG_BUSTER",
    "IMGPROXY_USE_LAST_MODIFIED",
    "IMGPROXY_FALLBACK_IMAGE_HTTP_CODE",
    "IMGPROXY_FALLBACK_IMAGE_TTL",
    "IMGPROXY_WATERMARK_OPACITY",
    "IMGPROXY_USER_AGENT",
    "IMGPROXY_DOWNLOAD_TIMEOUT",
    "IMGPROXY_MAX_REDIRECTS",
    "IMGPROXY_ALLOWED_SOURCES",
    "IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES",
    "IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES",
    "IMGPROXY_ALLOW_LINK_LOCAL_SOURCE_ADDRESSES",
    "IMGPROXY_LOCAL_FILESYSTEM_ROOT",
    "IMGPROXY_USE_S3",
    "IMGPROXY_S3_ENDPOINT",
    "IMGPROXY_S3_REGION",
    "IMGPROXY_FALLBACK_IMAGE_DATA",
    "IMGPROXY_FALLBACK_IMAGE_PATH",
    "IMGPROXY_FALLBACK_IMAGE_URL",
    "IMGPROXY_WATERMARK_DATA",
    "IMGPROXY_WATERMARK_PATH",
    "IMGPROXY_WATERMARK_URL",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_are_imgproxys() {
        let c = config(&[]).unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.server.queue_size, 0);
        assert_eq!(c.server.timeout, Duration::from_secs(10));
        assert_eq!(c.source.download_timeout, Duration::from_secs(5));
        assert_eq!(c.imgproxy.ttl, 31_536_000);
        assert_eq!(c.imgproxy.quality, 80);
        assert_eq!(c.imgproxy.format_quality, vec![(ImageFormat::Webp, 79), (ImageFormat::Avif, 63)]);
        assert_eq!(c.imgproxy.max_src_resolution, 50_000_000);
        assert_eq!(c.imgproxy.max_animation_frames, 1);
        assert_eq!(c.imgproxy.signature_size, 32);
        assert!(c.imgproxy.signing.is_empty());
        assert!(c.imgproxy.strip_metadata && c.imgproxy.auto_rotate && c.imgproxy.keep_copyright);
        assert_eq!(c.imgproxy.preferred_formats, vec![ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif]);
        assert!(!c.source.allow_loopback);
        assert_eq!(c.source.max_redirects, 10);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("IMGPROXY_KEY", "zz"),
            ("IMGPROXY_KEY", "abc"),
            ("IMGPROXY_QUALITY", "abc"),
            ("IMGPROXY_QUALITY", "101"),
            ("IMGPROXY_AUTO_WEBP", "yes"),
            ("IMGPROXY_TIMEOUT", "-1"),
            ("IMGPROXY_SIGNATURE_SIZE", "33"),
            ("IMGPROXY_FORMAT_QUALITY", "webp:79"),
            ("IMGPROXY_PREFERRED_FORMATS", "jpeg,xyz"),
            ("IMGPROXY_BIND", "nonsense"),
            ("IMGPROXY_FALLBACK_IMAGE_DATA", "***"),
        ] {
            let salt = if var == "IMGPROXY_KEY" { "aa" } else { "" };
            let e = config(&[(var, value), ("IMGPROXY_SALT", salt)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={value}");
            assert!(e.to_string().starts_with(var), "{e}");
        }
    }

    #[test]
    fn key_and_salt_counts_must_match() {
        let e = config(&[("IMGPROXY_KEY", "aa,bb"), ("IMGPROXY_SALT", "cc")]).unwrap_err();
        assert_eq!(e.var, "IMGPROXY_KEY");
        let c = config(&[("IMGPROXY_KEY", "aa,bb"), ("IMGPROXY_SALT", "cc,dd")]).unwrap();
        assert_eq!(c.imgproxy.signing[1], SigningPair { key: vec![0xbb], salt: vec![0xdd] });
    }

    #[test]
    fn go_tuning_variables_are_accepted_and_listed() {
        let c = config(&[("GOMEMLIMIT", "1GiB"), ("IMGPROXY_MALLOC", "jemalloc"), ("IMGPROXY_NOPE", "1")]).unwrap();
        assert_eq!(c.ignored, vec!["IMGPROXY_MALLOC", "GOMEMLIMIT"]);
        assert_eq!(c.unknown, vec!["IMGPROXY_NOPE"]);
    }

    #[test]
    fn bind_sources_in_order() {
        assert_eq!(config(&[("PORT", "9000")]).unwrap().server.bind.port(), 9000);
        assert_eq!(config(&[("PORT", "9000"), ("AWS_LWA_PORT", "9001")]).unwrap().server.bind.port(), 9001);
        let c = config(&[("PORT", "9000"), ("IMGPROXY_BIND", ":9002")]).unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:9002".parse().unwrap());
    }

    #[test]
    fn allowed_private_networks_parse_and_bad_entries_name_the_variable() {
        let var = "MEDIA_PROXY_ALLOWED_PRIVATE_NETWORKS";
        assert!(config(&[]).unwrap().source.allowed_networks.is_empty());
        let c = config(&[(var, "10.0.0.0/8, fd00::/8,127.0.0.1")]).unwrap();
        let shown: Vec<String> = c.source.allowed_networks.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, vec!["10.0.0.0/8", "fd00::/8", "127.0.0.1/32"]);
        for bad in ["10.0.0.0/33", "10.0.0.0/8,nope", "fd00::/x"] {
            let e = config(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var, "{bad}");
        }
    }

    #[test]
    fn misskey_defaults_and_overrides() {
        let c = config(&[]).unwrap().misskey;
        assert_eq!(c.max_size, 262_144_000);
        assert_eq!((c.allow_origin.as_str(), c.content_security_policy.as_str()), ("*", MISSKEY_DEFAULT_CSP));
        assert!(!c.reject_recursive && c.user_agent.is_none());
        let c = config(&[("MEDIA_PROXY_MAX_SIZE", "10"), ("MEDIA_PROXY_REJECT_RECURSIVE", "true")]).unwrap().misskey;
        assert!(c.reject_recursive);
        assert_eq!(c.max_size, 10);
        assert_eq!(config(&[("MEDIA_PROXY_MAX_SIZE", "x")]).unwrap_err().var, "MEDIA_PROXY_MAX_SIZE");
    }

    #[test]
    fn lists_and_presets_parse() {
        let c = config(&[
            ("IMGPROXY_PRESETS", "default=q:70,thumb=rs:fill:100:100/q:50"),
            ("IMGPROXY_FORMAT_QUALITY", "jpeg=70, webp=60"),
            ("IMGPROXY_MAX_SRC_RESOLUTION", "0.5"),
        ])
        .unwrap();
        assert_eq!(c.imgproxy.presets["thumb"], "rs:fill:100:100/q:50");
        assert_eq!(c.imgproxy.format_quality, vec![(ImageFormat::Jpeg, 70), (ImageFormat::Webp, 60)]);
        assert_eq!(c.imgproxy.max_src_resolution, 500_000);
    }

    #[test]
    fn lambda_variables_are_read_and_bad_values_name_the_variable() {
        let c = config(&[
            ("RUN_MODE", "lambda-stream"),
            ("AWS_LWA_PORT", "8000"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("INVOKE_MODE", "RESPONSE_STREAM"),
            ("LAMBDA_MAX_RESPONSE_BYTES", "1000"),
        ])
        .unwrap();
        let expected = LambdaConfig {
            run_mode: Some(RunMode::LambdaStream),
            lwa_port_set: true,
            runtime_api_set: true,
            invoke_mode_streaming: true,
            max_response_bytes: Some(1000),
        };
        assert_eq!(c.lambda, expected);
        assert_eq!(config(&[]).unwrap().lambda, LambdaConfig::default());
        assert!(!config(&[("INVOKE_MODE", "BUFFERED")]).unwrap().lambda.invoke_mode_streaming);
        for (var, bad) in [("RUN_MODE", "lwa"), ("INVOKE_MODE", "stream"), ("LAMBDA_MAX_RESPONSE_BYTES", "0")] {
            assert_eq!(config(&[(var, bad)]).unwrap_err().var, var, "{bad}");
        }
    }

    #[test]
    fn otlp_endpoint_follows_the_opentelemetry_rules() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let rows: &[(&str, Vars, &str)] = &[
            ("nothing set: the collector default", &[], "http://localhost:4318/v1/metrics"),
            (
                "base endpoint gets the signal path",
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")],
                "http://c:4318/v1/metrics",
            ),
            ("imgproxy's host:port", &[("IMGPROXY_OPEN_TELEMETRY_ENDPOINT", "c:4318")], "http://c:4318/v1/metrics"),
            (
                "metrics endpoint is used as is",
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a"), ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://b/m")],
                "http://b/m",
            ),
        ];
        for (name, vars, expected) in rows {
            assert_eq!(config(vars).unwrap().observability.otlp_metrics_url, *expected, "{name}");
        }
    }

    #[test]
    fn observability_settings_parse_or_name_the_variable() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20x, x-a=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "X-A=2"),
            ("OTEL_SERVICE_NAME", "media"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("IMGPROXY_PROMETHEUS_BIND", ":9464"),
            ("MEMORY_BUDGET_BYTES", "1048576"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"),
        ];
        let o = config(&vars).unwrap().observability;
        let headers = vec![("authorization".to_string(), "Bearer x".to_string()), ("x-a".to_string(), "2".to_string())];
        assert_eq!(o.otlp_headers, headers);
        assert_eq!(o.service_name, "media");
        assert_eq!(o.export_interval, Duration::from_millis(1500));
        assert_eq!(o.prometheus_bind, Some(SocketAddr::from(([0, 0, 0, 0], 9464))));
        assert_eq!((o.memory_budget_bytes, o.lambda_memory_mb), (Some(1_048_576), Some(2048)));
        #[rustfmt::skip]
        let bad = [
            ("grpc is refused", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("zero budget", "MEMORY_BUDGET_BYTES", "0"),
            ("zero interval", "OTEL_METRIC_EXPORT_INTERVAL", "0"),
            ("header without =", "OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("bad bind", "IMGPROXY_PROMETHEUS_BIND", "nowhere"),
        ];
        for (name, var, value) in bad {
            assert_eq!(config(&[(var, value)]).unwrap_err().var, var, "{name}");
        }
    }
}
