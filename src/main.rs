//! Reads the configuration, sets up logging, and starts the front door. Nothing else lives here.
//!
//! `lambda-media-proxy sign /{options}/plain/{url}` prints a signed imgproxy path for the configured
//! `IMGPROXY_KEY`/`IMGPROXY_SALT` (the first pair), so scripts need no HMAC code of their own.

use anyhow::Context;
use lambda_media_proxy::config::Config;
use lambda_media_proxy::imgproxy::sign_path;
use lambda_media_proxy::server::lambda::{self, FrontDoor};
use lambda_media_proxy::server::{http, payload_limit, AppState};
use std::sync::Arc;

fn main() {
    if let Err(e) = run() {
        // One line naming the problem (SPEC §2: a malformed value stops start-up).
        eprintln!("lambda-media-proxy: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(config),
        Some("sign") => sign(&config, &args[1..]),
        Some(other) => anyhow::bail!("unknown command `{other}` (expected `serve` or `sign PATH`)"),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    lambda_media_proxy::telemetry::init_logging(&config.server.log_level);
    for var in &config.ignored {
        tracing::info!(variable = %var, "accepted but not needed here (Go/libvips tuning)");
    }
    for var in &config.unknown {
        tracing::warn!(variable = %var, "unknown IMGPROXY_ variable ignored");
    }
    let lwa_extension = std::path::Path::new(lambda::LWA_EXTENSION_PATH).exists();
    let front_door = lambda::select_front_door(&config.lambda, lwa_extension);
    let bind = config.server.bind;
    let state = AppState::new(config).map_err(anyhow::Error::msg)?;
    match front_door {
        FrontDoor::Http => {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
            runtime.block_on(http::serve(state, bind)).with_context(|| format!("serving on {bind}"))
        }
        FrontDoor::Lambda | FrontDoor::LambdaStreaming => {
            // One invocation at a time per instance: a single-threaded reactor starts faster; image work
            // still runs on the blocking pool.
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
            let streaming = front_door == FrontDoor::LambdaStreaming;
            // Oversized results go to the result bucket, when one is configured (SPEC §5 rule 2).
            let store = state.result_store.clone().map(|s| s as Arc<dyn payload_limit::ResultStore>);
            runtime.block_on(lambda::run(state, streaming, store)).map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
        }
    }
}

/// glibc 2.35 gave `hypotf` a new symbol version and Lambda's al2023 has 2.34: the arm64 cross-build
/// (built against Debian's newer glibc) links with `-Wl,--wrap=hypotf` (`scripts/cross-build-arm64`), so
/// every call lands here instead. In f64, x² + y² cannot overflow for any f32, and `sqrt` is one
/// instruction (no libm version at all).
#[cfg(all(target_arch = "aarch64", target_os = "linux", target_env = "gnu"))]
#[no_mangle]
pub extern "C" fn __wrap_hypotf(x: f32, y: f32) -> f32 {
    let (x, y) = (f64::from(x), f64::from(y));
    (x * x + y * y).sqrt() as f32
}

/// Prints `/{signature}{path}`; with no key configured, `/insecure{path}` (any signature is accepted then).
fn sign(config: &Config, args: &[String]) -> anyhow::Result<()> {
    let [path] = args else { anyhow::bail!("usage: lambda-media-proxy sign /{{options}}/plain/{{url}}") };
    anyhow::ensure!(path.starts_with('/'), "the path to sign must start with `/`");
    let signature = match config.imgproxy.signing.first() {
        Some(pair) => sign_path(pair, path, config.imgproxy.signature_size),
        None => "insecure".to_string(),
    };
    println!("/{signature}{path}");
    Ok(())
}
