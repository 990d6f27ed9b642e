//! The local runner: every function's routes on one port, served by `axum::serve` (which also
//! answers HTTP/1.0, as WooCommerce speaks it), and the worker fed from the queue in-process
//! the way Lambda's SQS event source does it: batches of up to 10, succeeded messages deleted,
//! failed ones left to reappear (the worker's use case takes the queue's messages directly;
//! `crate::sqs_batch` is Lambda's adapter).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::api;
use crate::crypto::SecretString;
use crate::intake::Intake;
use crate::queue::{Queue, Received};
use crate::shipments::ShipmentWorker;
use crate::wiring::{CatchUpWork, Services};
use crate::worker::Worker;

/// What the local runner runs.
pub struct LocalRunner {
    pub services: Arc<Services>,
    pub intake: Arc<Intake>,
    /// The worker fed from `queue`; `None` leaves the queue alone (tests that inspect it).
    pub worker: Option<Arc<Worker>>,
    pub queue: Arc<dyn Queue>,
    /// The slow lane's worker, fed from its own queue (`None`: no slow lane).
    pub slow_lane: Option<Arc<Worker>>,
    /// A demo fulfilment inbox at `/_local/inbox`, verifying with this secret.
    pub inbox: Option<Arc<Inbox>>,
    /// Catch-up jobs (backfills, polls) run from its queue in process; `None` leaves that
    /// queue alone (tests that run jobs themselves).
    pub catch_up: Option<Arc<CatchUpWork>>,
    /// The reconciliation poll's period (the scheduler's, in AWS); `None`: no poll.
    pub poll_every: Option<Duration>,
    /// Shipments written to stores from their queue in process; `None` leaves that queue
    /// alone (tests that run the worker themselves).
    pub shipments: Option<Arc<ShipmentWorker>>,
}

/// Serves the merged app and runs the queue consumer until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    runner: LocalRunner,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_also(listener, runner, shutdown, |_| {}).await
}

/// `serve`, handing the merged app to `also` first (`woolink dev` serves it on its https
/// listener too).
pub async fn serve_also(
    listener: TcpListener,
    runner: LocalRunner,
    shutdown: impl Future<Output = ()> + Send + 'static,
    also: impl FnOnce(axum::Router),
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let consumer = runner.worker.map({
        let stop = stop_rx.clone();
        |worker| tokio::spawn(consume(runner.queue.clone(), worker, stop))
    });
    let slow_lane = runner.slow_lane.map({
        let stop = stop_rx.clone();
        |worker| tokio::spawn(consume(worker.queue(), worker, stop))
    });
    let jobs = runner.catch_up.clone().map({
        let stop = stop_rx.clone();
        |work| tokio::spawn(consume(work.jobs.clone(), work, stop))
    });
    let shipments = runner.shipments.map({
        let stop = stop_rx.clone();
        |work| tokio::spawn(consume(work.queue.clone(), work, stop))
    });
    let poll = match (runner.catch_up, runner.poll_every) {
        (Some(work), Some(every)) => Some(tokio::spawn(poll_every(work, every, stop_rx))),
        _ => None,
    };
    let extra = runner.inbox.map(inbox_routes).unwrap_or_default();
    let app = api::local_app(runner.services, runner.intake, extra);
    also(app.clone());
    // The peer's address is the caller's source (per-source limits), as API Gateway's
    // `sourceIp` is in Lambda.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    for task in [consumer, slow_lane, jobs, shipments, poll]
        .into_iter()
        .flatten()
    {
        let _ = task.await;
    }
    served
}

/// The reconciliation poll's schedule: a fan-out every `every`, the first one after `every`.
pub async fn poll_every(
    work: Arc<CatchUpWork>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(e) = work.fan_out().await {
                    tracing::warn!(error = %e, "the reconciliation poll's fan-out failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// What consumes a queue the way Lambda's SQS event source feeds a function: batches in,
/// the ids of the messages that must come back out.
#[async_trait::async_trait]
pub trait Consumer: Send + Sync {
    async fn handle_batch(&self, messages: &[Received]) -> Vec<String>;
}

#[async_trait::async_trait]
impl Consumer for Worker {
    async fn handle_batch(&self, messages: &[Received]) -> Vec<String> {
        Worker::handle_batch(self, messages).await
    }
}

#[async_trait::async_trait]
impl Consumer for CatchUpWork {
    async fn handle_batch(&self, messages: &[Received]) -> Vec<String> {
        CatchUpWork::handle_batch(self, messages).await
    }
}

#[async_trait::async_trait]
impl Consumer for ShipmentWorker {
    async fn handle_batch(&self, messages: &[Received]) -> Vec<String> {
        ShipmentWorker::handle_batch(self, messages).await
    }
}

#[async_trait::async_trait]
impl<T: Consumer + ?Sized> Consumer for Arc<T> {
    async fn handle_batch(&self, messages: &[Received]) -> Vec<String> {
        self.as_ref().handle_batch(messages).await
    }
}

/// Polls the queue and hands batches to the consumer until told to stop.
pub async fn consume<C: Consumer + ?Sized>(
    queue: Arc<dyn Queue>,
    worker: Arc<C>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let received = tokio::select! {
            r = queue.receive(10, Duration::from_secs(1)) => r,
            _ = stop.changed() => return,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "receiving from the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        process_batch(queue.as_ref(), worker.as_ref(), &messages).await;
    }
}

/// One batch through the consumer's handler; deletes what succeeded.
pub async fn process_batch<C: Consumer + ?Sized>(
    queue: &dyn Queue,
    worker: &C,
    messages: &[Received],
) -> usize {
    let failed = worker.handle_batch(messages).await;
    let done: Vec<String> = messages
        .iter()
        .filter(|m| !failed.contains(&m.message_id))
        .map(|m| m.receipt.clone())
        .collect();
    if let Err(e) = queue.delete(&done).await {
        tracing::warn!(error = %e, "deleting processed messages failed; they will be seen again");
    }
    failed.len()
}

/// A demo fulfilment endpoint: verifies the Standard Webhooks signature and keeps what came.
pub struct Inbox {
    secret: SecretString,
    received: Mutex<Vec<Value>>,
}

impl Inbox {
    pub fn new(secret: SecretString) -> Arc<Self> {
        Arc::new(Self {
            secret,
            received: Mutex::new(Vec::new()),
        })
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn inbox_routes(inbox: Arc<Inbox>) -> Router {
    Router::new()
        .route("/_local/inbox", post(inbox_post).get(inbox_list))
        .with_state(inbox)
}

async fn inbox_post(
    State(inbox): State<Arc<Inbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let verified = standardwebhooks::Webhook::new(inbox.secret.expose())
        .and_then(|wh| wh.verify(&body, &headers))
        .is_ok();
    if !verified {
        return (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"error": {"code": "invalid_signature", "message": "signature does not verify"}}),
            ),
        );
    }
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let entry = json!({
        "webhookId": headers.get("webhook-id").and_then(|v| v.to_str().ok()),
        "verified": true,
        "receivedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "type": event["type"],
        "orderId": event["data"]["orderId"],
        "event": event,
    });
    if let Ok(mut r) = inbox.received.lock() {
        r.push(entry);
    }
    (StatusCode::OK, Json(json!({"status": "received"})))
}

async fn inbox_list(State(inbox): State<Arc<Inbox>>) -> Json<Value> {
    Json(json!({"received": inbox.received()}))
}
