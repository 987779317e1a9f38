//! Reads the configuration, sets up logging, and starts the front door. Nothing else lives here.

use anyhow::Context;
use lambda_media_proxy::config::Config;
use lambda_media_proxy::server::{http, AppState};

fn main() {
    if let Err(e) = run() {
        // One line naming the problem (SPEC §2: a malformed value stops start-up).
        eprintln!("lambda-media-proxy: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    lambda_media_proxy::telemetry::init_logging(&config.server.log_level);
    for var in &config.ignored {
        tracing::info!(variable = %var, "accepted but not needed here (Go/libvips tuning)");
    }
    for var in &config.unknown {
        tracing::warn!(variable = %var, "unknown IMGPROXY_ variable ignored");
    }
    let bind = config.server.bind;
    let state = AppState::new(config).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(http::serve(state, bind)).with_context(|| format!("serving on {bind}"))
}
