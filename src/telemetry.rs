//! Logging: JSON lines to stdout via `tracing` (SPEC §7). `RUST_LOG` wins over `IMGPROXY_LOG_LEVEL`.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; later calls are ignored (tests may call it repeatedly).
pub fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
