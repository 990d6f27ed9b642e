//! The local runner: every function's routes on one port, served by `axum::serve` (which also
//! answers HTTP/1.0, as WooCommerce speaks it).

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api;
use crate::intake::Intake;
use crate::services::Services;

/// Serves the merged app on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    svc: Arc<Services>,
    intake: Arc<Intake>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, api::local_app(svc, intake))
        .with_graceful_shutdown(shutdown)
        .await
}
