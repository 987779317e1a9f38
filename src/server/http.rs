//! The plain HTTP front door: `axum::serve` on the configured address, graceful shutdown on SIGTERM/Ctrl-C.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::{router, AppState};

/// Serves `state` on `bind` until SIGTERM or Ctrl-C, letting requests in flight finish.
pub async fn serve(state: AppState, bind: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(bind).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await
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
