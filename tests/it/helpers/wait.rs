//! Waiting for the pipeline, polling, and serving on loopback.

use super::*;

/// How long a wait for a condition may take before the test fails: generous, since the
/// suite must pass on a loaded 2-core machine (moto, the store and the tests share it). A
/// passing wait returns as soon as its condition holds.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Waits until the queue and the worker are idle (nothing visible or in flight), up to
/// `PATIENCE`.
pub async fn drained(app: &TestApp) {
    drained_within(app, PATIENCE).await;
}

/// Waits until the queue, its slow lane and their workers are idle, up to `limit`.
pub async fn drained_within(app: &TestApp, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    let depth = || async {
        let (v, f) = app.queue.depth().await.unwrap();
        let (lv, lf) = app.slow_lane.depth().await.unwrap();
        (v + lv, f + lf)
    };
    loop {
        let (visible, in_flight) = depth().await;
        if visible == 0 && in_flight == 0 {
            // One more beat for a batch that was just deleted to finish its writes.
            tokio::time::sleep(Duration::from_millis(60)).await;
            if depth().await == (0, 0) {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue did not drain: {visible} visible, {in_flight} in flight"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls st_a1's order `id` (with the link's API key) until its status satisfies `check`,
/// up to `limit`; returns that status.
pub async fn order_status_until(
    app: &TestApp,
    key: &str,
    id: u64,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let status = app
            .get(&format!("/v1/stores/st_a1/orders/{id}"), Some(key))
            .await
            .body;
        if check(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "order {id}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `PATIENCE` for `check` to hold, polling.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Serves `app` on a free loopback port until the returned sender is used or dropped.
pub async fn serve_on_loopback(
    app: axum::Router,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, _) = serve(listener, app);
    (addr, tx)
}

/// Serves `app` on `listener` until the sender is used or dropped; the handle ends when the
/// server has stopped (and its port is free again).
pub(crate) fn serve(
    listener: TcpListener,
    app: axum::Router,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (tx, task)
}

/// Every message visible on `queue` now, handed to `worker` as one batch (deleting what
/// succeeded, as Lambda's event source does); returns how many there were.
pub async fn round(queue: &Arc<dyn Queue>, worker: &Worker) -> usize {
    let mut batch = Vec::new();
    loop {
        let got = queue.receive(10, Duration::ZERO).await.unwrap();
        if got.is_empty() {
            break;
        }
        batch.extend(got);
    }
    if !batch.is_empty() {
        woolink::local::process_batch(queue.as_ref(), worker, &batch).await;
    }
    batch.len()
}

/// Waits until `queue` shows `n` visible messages (delays and retries run out), up to
/// `PATIENCE`.
pub async fn visible(queue: &Arc<dyn Queue>, n: u64) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (v, _) = queue.depth().await.unwrap();
        if v >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{v} visible, waited for {n}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
