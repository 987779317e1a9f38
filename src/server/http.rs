//! The plain HTTP front door: `axum::serve` on the configured address, graceful shutdown on SIGTERM/Ctrl-C,
//! and beside it the metrics exporters (`IMGPROXY_PROMETHEUS_BIND` listener, periodic OTLP push).

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::{observe, router, AppState};

/// Serves `state` on `bind` until SIGTERM or Ctrl-C, letting requests in flight finish.
pub async fn serve(state: AppState, bind: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let exporter = observe::start_exporters(&state).await?;
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    // The counts since the last push would be lost with the process.
    if let Some(exporter) = exporter {
        exporter.export().await;
    }
    Ok(())
}

/// Resolves on the first SIGTERM (what Lambda, ECS and Kubernetes send) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
