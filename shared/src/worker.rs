//! The sync worker: SQS batches in, one effect per order version at the tenant.
//!
//! Each record is handled on its own, concurrently (bounded). The order's state lives in one
//! record per (store, order) and changes only through conditional writes, so replays and older
//! versions change nothing, and two copies of one delivery in flight cannot both deliver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::stream::{self, StreamExt};
use serde_json::json;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::cache::TtlCache;
use crate::crypto::{sha256_hex, SecretBox, SecretString};
use crate::decide::{self, Hold, Incoming, Rules, Told, Verdict, VersionKey};
use crate::domain::{OrderId, OrderVersion, StoreId, TenantCode, TenantEvent, WooTopic};
use crate::envelope::{Envelope, EnvelopeHead, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::fulfilment::{DeliveryError, Failure, FulfilmentClient};
use crate::gate::{Answer, BatchClock, GateSettings, Lane, Moves, TenantGate};
use crate::metrics::{self, Metric};
use crate::model::{DocumentSettings, DocumentVersion};
use crate::model::{Link, OrderSync, SyncState};
use crate::order::v2::{self, ItemFacts, Units};
use crate::order::{CatalogueId, Document, OrderDocument, WeightSource, WooOrder};
use crate::ports::{Links, OrderSyncs, Tenants};
use crate::queue::{Queue, Received};
use crate::secrets::{self, open_woo_keys, Sealing};
use crate::timeline::Step;
use crate::woocommerce::{WooClient, WooCredentials, WooError};

/// Knobs of the worker; defaults match the SAM template.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Records of one batch handled at once.
    pub concurrency: usize,
    /// The queue's `maxReceiveCount`: the receive after which a failing message is in the DLQ.
    pub max_receives: u32,
    /// First retry delay; doubles per receive up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Receives during which a failed weight lookup is retried before delivering without.
    pub weight_lookup_receives: u32,
    /// How long link and tenant look-ups are cached in the container.
    pub cache_ttl: Duration,
    /// How long order records of a disconnected store are kept.
    pub retention: Duration,
    /// How long an order's history is kept, and a finished order's record after its last
    /// change.
    pub history_retention: Duration,
    /// How long a `queued` record counts as being delivered by another worker (a newer or
    /// duplicate record of the order waits meanwhile); after it, the record is superseded.
    pub in_flight_window: Duration,
    /// How long a version waits, in the worker, for another delivery of its order to end
    /// before it goes back to the queue…
    pub wait_budget: Duration,
    /// …for this long (not the retry backoff: nothing failed).
    pub wait_retry: Duration,
    /// How often an order of a paused store comes back to see whether it resumed (sent
    /// again with this delay: no receive is counted against the dead-letter limit).
    pub pause_recheck: Duration,
    /// When a tenant's deliveries leave this lane (the slow lane) or are parked there.
    pub gate: GateSettings,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 10,
            max_receives: crate::config::DEFAULT_MAX_RECEIVES,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(900),
            weight_lookup_receives: 2,
            cache_ttl: Duration::from_secs(5),
            retention: crate::config::DEFAULT_RETENTION,
            history_retention: crate::config::DEFAULT_HISTORY_RETENTION,
            in_flight_window: Duration::from_secs(30),
            wait_budget: Duration::from_secs(5),
            wait_retry: Duration::from_secs(1),
            pause_recheck: Duration::from_secs(900),
            gate: GateSettings::default(),
        }
    }
}

impl WorkerSettings {
    /// Visibility before the next attempt after `receive_count` receives: 10 s, 20 s, 40 s…
    pub fn backoff(&self, receive_count: u32) -> Duration {
        let exp = receive_count.saturating_sub(1).min(16);
        self.backoff_base
            .saturating_mul(1 << exp)
            .min(self.backoff_max)
    }
}

/// What the worker keeps of a tenant: whether it is active (deactivated: nothing delivered)
/// and its endpoint with the secret opened, or why there is none.
#[derive(Clone)]
struct TenantView {
    active: bool,
    target: std::result::Result<Target, String>,
    /// Which order document it receives.
    document: DocumentSettings,
}

/// A tenant's endpoint with its secret opened.
#[derive(Clone)]
struct Target {
    /// Parsed once when loaded (`None`: the stored URL is not one, and every delivery fails).
    url: Option<url::Url>,
    secret: SecretString,
}

/// The repositories the worker reads and writes.
#[derive(Clone)]
pub struct WorkerRepos {
    pub tenants: Arc<dyn Tenants>,
    pub links: Arc<dyn Links>,
    pub orders: Arc<dyn OrderSyncs>,
    /// The catalogue, for product webhooks.
    pub catalogue: Arc<dyn crate::ports::Catalogue>,
}

/// What the worker talks to: its repositories, the key that opens sealed secrets, the
/// tenant's endpoint, the store's API, and its queue with the queue's dead letters.
pub struct WorkerPorts {
    pub repos: WorkerRepos,
    pub secrets: SecretBox,
    pub fulfilment: FulfilmentClient,
    pub woo: WooClient,
    pub queue: Arc<dyn Queue>,
    pub dead_letters: Arc<dyn Queue>,
    /// Where the main lane sends a tenant whose gate tripped (`None`: no slow lane, every
    /// tenant is delivered here whatever its answers).
    pub slow_lane: Option<Arc<dyn Queue>>,
}

pub struct Worker {
    ports: WorkerPorts,
    settings: WorkerSettings,
    gate: TenantGate,
    links: TtlCache<StoreId, Link>,
    tenants: TtlCache<TenantCode, TenantView>,
    /// What the catalogue says of items (weight, dimensions, shippable) by (store, product or
    /// variation id); `None` when the store did not list it.
    facts: TtlCache<(StoreId, u64), Option<ItemFacts>>,
    /// The stores' weight and dimension units (document v2).
    units: TtlCache<StoreId, Units>,
    deliveries: Deliveries,
}

/// Why a record is handed back to the queue.
#[derive(Debug)]
struct RecordFailure {
    reason: String,
    /// Delay before the next attempt; `None` keeps the queue's visibility timeout.
    retry_after: Option<Duration>,
    /// The message cannot be handled now or later without an operator (it does not decode,
    /// or its tenant is inactive): parked in the dead-letter queue at once instead of coming
    /// back until the queue gives up on it.
    poison: bool,
}

impl RecordFailure {
    fn now(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry_after: None,
            poison: false,
        }
    }

    fn later(reason: impl Into<String>, delay: Duration) -> Self {
        Self {
            retry_after: Some(delay),
            ..Self::now(reason)
        }
    }

    fn poison(reason: impl Into<String>) -> Self {
        Self {
            poison: true,
            ..Self::now(reason)
        }
    }
}

impl From<Error> for RecordFailure {
    fn from(e: Error) -> Self {
        Self::now(e.to_string())
    }
}

/// One receive of a queue message: its id (the claim it puts on an order while delivering it)
/// and how many times the queue has handed it out.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    message_id: &'a str,
    receive_count: u32,
}

impl<'a> Attempt<'a> {
    fn of(message: &'a Received) -> Self {
        Self {
            message_id: &message.message_id,
            receive_count: message.receive_count.max(1),
        }
    }
}

/// What an applied version asks of the order's record.
enum Plan {
    /// Record the version without telling the tenant.
    Record(OrderSync),
    /// Record the version as queued, then deliver `event` with `doc`.
    Deliver {
        next: OrderSync,
        event: TenantEvent,
        doc: Document,
    },
}

/// An `order.deleted` body: a JSON object with nothing but the order's id.
fn carries_only_the_id(raw: &str) -> bool {
    raw.len() <= 64
        && serde_json::from_str::<HashMap<String, serde_json::Value>>(raw)
            .is_ok_and(|m| m.len() == 1 && m.contains_key("id"))
}

/// Stable per (store, order, version, body): the same on every retry, so tenants can
/// deduplicate, and different for two bodies with the same `date_modified_gmt`.
pub fn webhook_id(store: &StoreId, order: OrderId, version: &str, content: &str) -> String {
    let digest = sha256_hex(format!("{store}/{order}/{version}/{content}").as_bytes());
    format!("msg_{}", &digest[..32])
}

/// One received version of an order, parsed.
struct Version {
    order: WooOrder,
    status: String,
    content: String,
    key: VersionKey,
    /// Read from the store (so not read again), or the store cannot say more.
    settled: bool,
    /// An `order.deleted` webhook's body: only the id, nothing to judge by.
    only_id: bool,
    /// An earlier body of this receive was in a trigger status.
    entered_scope: bool,
}

impl Version {
    /// Makes `record` this version's: status, version, receipt, body hash and how it came.
    fn stamp(&self, record: &mut OrderSync, source: Source) {
        record.woo_status = self.status.clone();
        record.version = self.key.modified.clone();
        record.received_at = Some(self.key.received.clone());
        record.content_hash = Some(self.content.clone());
        record.source = source;
    }

    /// A webhook's body, as the intake received it (and hashed it).
    fn delivered(raw: &str, head: &EnvelopeHead) -> Result<Self, RecordFailure> {
        let order = WooOrder::parse(raw).map_err(|e| {
            RecordFailure::poison(format!("the order payload does not parse: {}", e.message()))
        })?;
        // `order.deleted` carries only the id: the order went to the trash (or for good).
        // What a body means comes from the body: the topic header is not signed.
        let only_id = carries_only_the_id(raw);
        let status = if only_id {
            "trash".to_owned()
        } else {
            order.status.clone()
        };
        Ok(Self::new(
            order,
            status,
            head.body_sha256().to_owned(),
            head.received_at().to_owned(),
            false,
            only_id,
        ))
    }

    /// The store's answer to `GET /orders/{id}`, read just now; `None` when it is not that
    /// order (a store may answer anything).
    fn read(raw: &str, id: OrderId) -> Option<Self> {
        let order = WooOrder::parse(raw).ok().filter(|o| o.id == id.get())?;
        let status = order.status.clone();
        let content = sha256_hex(raw.as_bytes());
        Some(Self::new(
            order,
            status,
            content,
            EnvelopeHead::received_now(),
            true,
            false,
        ))
    }

    fn new(
        order: WooOrder,
        status: String,
        content: String,
        received_at: String,
        settled: bool,
        only_id: bool,
    ) -> Self {
        let modified = match order.date_modified_gmt.as_deref() {
            Some(m) if !m.trim().is_empty() => OrderVersion::of_modified(m),
            _ => OrderVersion::of_receipt(&received_at),
        };
        Self {
            content,
            status,
            key: VersionKey {
                modified,
                received: received_at,
            },
            order,
            settled,
            only_id,
            entered_scope: false,
        }
    }

    /// Whether the body carries its own `date_modified_gmt` (else it is placed by receipt).
    fn timestamped(&self) -> bool {
        self.order
            .date_modified_gmt
            .as_deref()
            .is_some_and(|m| !m.trim().is_empty())
    }

    fn view(&self) -> Incoming<'_> {
        Incoming {
            key: self.key.clone(),
            content: &self.content,
            status: &self.status,
            settled: self.settled,
            only_id: self.only_id,
            timestamped: self.timestamped(),
            entered_scope: self.entered_scope,
        }
    }
}

/// In-container wake-ups for versions waiting on a delivery of their order (a delivery in
/// another container is seen by polling the order's record).
#[derive(Default)]
struct Deliveries {
    waiting: Mutex<HashMap<(StoreId, OrderId), Arc<Notify>>>,
}

impl Deliveries {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(StoreId, OrderId), Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a delivery of the order ends here, or `pause` passes.
    async fn wait(&self, store: &StoreId, order: OrderId, pause: Duration) {
        let key = (store.clone(), order);
        let notify = self.lock().entry(key.clone()).or_default().clone();
        let _ = tokio::time::timeout(pause, notify.notified()).await;
        let mut waiting = self.lock();
        let last = waiting
            .get(&key)
            .is_some_and(|n| Arc::ptr_eq(n, &notify) && Arc::strong_count(n) <= 2);
        if last {
            waiting.remove(&key);
        }
    }

    fn ended(&self, store: &StoreId, order: OrderId) {
        if let Some(n) = self.lock().remove(&(store.clone(), order)) {
            n.notify_waiters();
        }
    }
}

tokio::task_local! {
    /// The batch the record being handled belongs to (the main lane cuts a straggler short).
    static BATCH: Arc<BatchClock>;
}

/// A call to a tenant's endpoint: how it went, how long it took, and whether the main lane
/// cut it short.
struct Call {
    outcome: std::result::Result<u16, DeliveryError>,
    took: Duration,
    cut: bool,
}

/// `body` (an order's envelope or a tenant event) as a new message with its `Moves`
/// changed; `None` when it is neither.
fn remade(body: &str, attempt: Attempt<'_>, change: impl FnOnce(Moves) -> Moves) -> Option<String> {
    // The new message is still the one that holds its order.
    let change = |m| Moves {
        claim: Some(attempt.message_id.to_owned()),
        ..change(m)
    };
    if let Some(event) = crate::catalogue::TenantEvent::decode(body) {
        let mut event = event.ok()?;
        event.moves = change(std::mem::take(&mut event.moves));
        return Some(event.encode());
    }
    let envelope = Envelope::decode(body).ok()?;
    let payload = envelope.payload.as_deref().map(|p| p.get());
    let moves = change(envelope.head.moves().clone());
    crate::envelope::encode(&envelope.head.clone().moved(moves), payload).ok()
}

/// The longest pause between two looks at an order another delivery holds.
const MAX_WAIT_PAUSE: Duration = Duration::from_millis(200);

impl Worker {
    pub fn new(ports: WorkerPorts, settings: WorkerSettings) -> Self {
        let ttl = settings.cache_ttl;
        Self {
            gate: TenantGate::new(Lane::Main, settings.gate.clone()),
            ports,
            settings,
            links: TtlCache::new(ttl),
            tenants: TtlCache::new(ttl),
            facts: TtlCache::new(Duration::from_secs(600)),
            units: TtlCache::new(Duration::from_secs(3600)),
            deliveries: Deliveries::default(),
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// This worker with a slow lane to send tenants whose gate trips to.
    pub fn with_slow_lane(mut self, lane: Option<Arc<dyn Queue>>) -> Self {
        self.ports.slow_lane = lane;
        self
    }

    /// The queue this worker consumes.
    pub fn queue(&self) -> Arc<dyn Queue> {
        self.ports.queue.clone()
    }

    /// This worker as the slow lane's: its `queue` is the slow lane, where a tenant whose
    /// deliveries keep failing is parked.
    pub fn into_slow_lane(mut self) -> Self {
        self.gate = TenantGate::new(Lane::Slow, self.settings.gate.clone());
        self.ports.slow_lane = None;
        self
    }

    /// Handles a batch of received messages, each on its own and concurrently (bounded);
    /// returns the ids of those that must come back (after the delay a failure asks for).
    pub async fn handle_batch(&self, messages: &[Received]) -> Vec<String> {
        // (By index: a stream of borrowed messages is not `Send` enough for `tokio::spawn`.)
        let clock = Arc::new(BatchClock::new(messages.len()));
        stream::iter(0..messages.len())
            .map(|i| {
                let clock = clock.clone();
                async move {
                    let outcome = BATCH
                        .scope(clock.clone(), self.handle_one(&messages[i]))
                        .await;
                    clock.done();
                    outcome
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .filter_map(|f| async move { f })
            .collect()
            .await
    }

    /// One message of a batch: `Some(id)` when it must come back (after the delay its failure
    /// asks for), parked in the dead-letter queue when it is poison.
    async fn handle_one(&self, message: &Received) -> Option<String> {
        let span = tracing::info_span!("message", message_id = %message.message_id);
        let outcome = self.handle_message(message).instrument(span.clone()).await;
        let failure = outcome.err()?;
        if failure.poison {
            match self.ports.dead_letters.send(message.body.clone()).await {
                Ok(_) => {
                    span.in_scope(|| tracing::error!(reason = %failure.reason, "message parked in the dead-letter queue"));
                    return None;
                }
                Err(e) => span.in_scope(
                    || tracing::warn!(error = %e, "could not park an undecodable message"),
                ),
            }
        }
        span.in_scope(|| tracing::warn!(reason = %failure.reason, "record will be retried"));
        if let Some(delay) = failure.retry_after {
            if let Err(e) = self
                .ports
                .queue
                .change_visibility(&message.receipt, delay)
                .await
            {
                tracing::warn!(error = %e, "could not set the retry delay");
            }
        }
        Some(message.message_id.clone())
    }

    /// One message: an envelope that does not decode is parked in the dead-letter queue at
    /// once (never dropped after a log line, never retried: it will not decode next time).
    async fn handle_message(&self, message: &Received) -> Result<(), RecordFailure> {
        if let Some(change) = crate::catalogue::ProductChange::decode(&message.body) {
            let change = change.map_err(|e| {
                RecordFailure::poison(format!("undecodable product change: {}", e.message()))
            })?;
            let ports = crate::catalogue::Recording {
                links: self.ports.repos.links.as_ref(),
                catalogue: self.ports.repos.catalogue.as_ref(),
                secrets: &self.ports.secrets,
                woo: &self.ports.woo,
                events: self.ports.queue.as_ref(),
                batch: None,
            };
            let attempt = Attempt::of(message);
            return crate::catalogue::apply_product_change(&ports, &change)
                .await
                .map_err(|e| {
                    RecordFailure::later(
                        e.to_string(),
                        self.settings.backoff(attempt.receive_count),
                    )
                });
        }
        if let Some(event) = crate::catalogue::TenantEvent::decode(&message.body) {
            let event = event.map_err(|e| {
                RecordFailure::poison(format!("undecodable event: {}", e.message()))
            })?;
            let attempt = self.attempt(message, &event.moves);
            if self
                .gated(&event.tenant, &event.moves, attempt, &message.body)
                .await?
            {
                return Ok(());
            }
            return self.last_in_the_slow_lane(
                attempt,
                self.deliver_event(&event, attempt, &message.body).await,
            );
        }
        let envelope = Envelope::decode(&message.body)
            .map_err(|e| RecordFailure::poison(format!("undecodable message: {}", e.message())))?;
        let head = &envelope.head;
        let attempt = self.attempt(message, head.moves());
        if self
            .gated(head.tenant(), head.moves(), attempt, &message.body)
            .await?
        {
            return Ok(());
        }
        self.last_in_the_slow_lane(attempt, self.sync(&envelope, attempt, &message.body).await)
    }

    /// This receive of `message`: its claim is the one it carries from the message it was sent
    /// on from, if any; in the slow lane its receives count on from those it spent before it
    /// was moved (a message redriven to the orders queue starts again).
    fn attempt<'a>(&self, message: &'a Received, moves: &'a Moves) -> Attempt<'a> {
        let mut attempt = Attempt::of(message);
        if let Some(claim) = moves.claim.as_deref() {
            attempt.message_id = claim;
        }
        if self.gate.lane() == Lane::Slow {
            attempt.receive_count = attempt.receive_count.saturating_add(moves.receives_before);
        }
        attempt
    }

    /// In the slow lane a message's last receive is counted across lanes, which the queue's
    /// own redrive does not see: a failure on it goes to the dead-letter queue now.
    fn last_in_the_slow_lane(
        &self,
        attempt: Attempt<'_>,
        outcome: Result<(), RecordFailure>,
    ) -> Result<(), RecordFailure> {
        match outcome {
            Err(f)
                if self.gate.lane() == Lane::Slow
                    && !f.poison
                    && attempt.receive_count >= self.settings.max_receives =>
            {
                Err(RecordFailure::poison(format!(
                    "{}; retries ran out",
                    f.reason
                )))
            }
            other => other,
        }
    }

    /// Whether the tenant's gate takes the message away from here: in the main lane, to the
    /// slow lane; in the slow lane, back to it with the open period as delay (parked), unless
    /// it has been held for `hold_max` in all. Either way as a new message noting the receives
    /// spent (`remade`). `Ok(false)`: deliver it here.
    async fn gated(
        &self,
        tenant: &TenantCode,
        moves: &Moves,
        attempt: Attempt<'_>,
        body: &str,
    ) -> Result<bool, RecordFailure> {
        let Some(open) = self.gate.open(tenant) else {
            return Ok(false);
        };
        // This receive is not an attempt.
        let spent = attempt.receive_count.saturating_sub(1);
        let reason = match self.gate.lane() {
            Lane::Main => {
                if !self.to_slow_lane(body, tenant, attempt, spent).await? {
                    return Ok(false);
                }
                "slow_lane"
            }
            Lane::Slow => {
                if moves.held_for(Utc::now()) >= self.settings.gate.hold_max {
                    return Ok(false);
                }
                let Some(moved) = remade(body, attempt, |m| Moves {
                    receives_before: spent,
                    held_since: Some(m.held_since.unwrap_or_else(EnvelopeHead::received_now)),
                    ..m
                }) else {
                    return Ok(false);
                };
                // Whole seconds, rounded up: SQS delays are counted in seconds.
                let delay = Duration::from_secs(open.as_secs_f64().ceil() as u64)
                    .min(crate::queue::MAX_DELAY);
                self.ports
                    .queue
                    .send_delayed_grouped(moved, delay, tenant.as_str())
                    .await?;
                "parked"
            }
        };
        self.deferred(tenant, reason, "tenant's gate is open");
        Ok(true)
    }

    /// Logs and counts a delivery sent on instead of made here (`reason`: `slow_lane`,
    /// `parked`).
    fn deferred(&self, tenant: &TenantCode, reason: &'static str, why: &'static str) {
        tracing::info!(%tenant, lane = self.gate.lane().as_str(), reason, why, "delivery deferred");
        metrics::emit(
            tenant,
            Some(("Reason", reason)),
            &[(Metric::DeliveriesDeferred, 1.0)],
        );
    }

    /// Delivers `body` to the tenant's endpoint and notes how it went and how long it took in
    /// the tenant's gate. In the main lane, with a slow lane to go on in, a call `cut` short
    /// after the gate's `slow_after`, or once it alone has held its batch for `linger` (after
    /// the rest of the batch, or after the instance's usual answer time), is an
    /// outcome unknown (`Failure::unknown`): the order's
    /// record holds it unsettled and the message goes on in the slow lane, where the same
    /// `webhook-id` settles it with the client's whole timeout. Elsewhere a call gets the
    /// client's whole timeout.
    async fn call_tenant(
        &self,
        tenant: &TenantCode,
        target: &Target,
        webhook_id: &str,
        body: &[u8],
        may_cut: bool,
    ) -> Call {
        let started = Instant::now();
        let Some(url) = &target.url else {
            return Call {
                outcome: Err(DeliveryError::Permanent(Failure::plain(
                    "the fulfilment URL is not a URL",
                ))),
                took: started.elapsed(),
                cut: false,
            };
        };
        let call = self
            .ports
            .fulfilment
            .deliver(url, &target.secret, webhook_id, body);
        let gate = &self.settings.gate;
        let (outcome, cut) = if may_cut && self.cuts_slow_calls() {
            let batch = BATCH.try_with(Arc::clone).ok();
            let _calling = batch.as_ref().map(|b| b.calling());
            // `None` for a probe after an open period: cut at `slow_after` only.
            let straggler = self.gate.straggler(tenant);
            let straggling = async {
                match (&batch, straggler) {
                    (Some(b), Some(by)) => b.held_for(gate.linger, by).await,
                    _ => std::future::pending().await,
                }
            };
            let cut = |why: String| (Err(DeliveryError::Retryable(Failure::unknown(why))), true);
            tokio::select! {
                outcome = call => (outcome, false),
                _ = tokio::time::sleep(gate.slow_after) => cut(format!(
                    "no answer within {} ms; sent again in the slow lane",
                    gate.slow_after.as_millis()
                )),
                _ = straggling => cut(format!(
                    "no answer {} ms after the rest of its batch or this instance's usual answer time; sent again in the slow lane",
                    gate.linger.as_millis()
                )),
            }
        } else {
            (call.await, false)
        };
        let took = started.elapsed();
        self.note_answer(tenant, &outcome, took);
        Call { outcome, took, cut }
    }

    /// The main lane with a slow lane and a gate that trips cuts a call short at `slow_after`.
    fn cuts_slow_calls(&self) -> bool {
        self.gate.lane() == Lane::Main
            && self.ports.slow_lane.is_some()
            && self.settings.gate.trip_after > 0
    }

    /// Sends `body` on to the slow lane noting the receives it `spent` (and its claim);
    /// `false` when there is no slow lane or the body is no message that can move.
    async fn to_slow_lane(
        &self,
        body: &str,
        tenant: &TenantCode,
        attempt: Attempt<'_>,
        spent: u32,
    ) -> Result<bool, RecordFailure> {
        let (Some(lane), Some(moved)) = (
            &self.ports.slow_lane,
            remade(body, attempt, |m| Moves {
                receives_before: spent,
                ..m
            }),
        ) else {
            return Ok(false);
        };
        lane.send_grouped(moved, tenant.as_str()).await?;
        Ok(true)
    }

    /// Notes how a delivery to the tenant went, and says when that tripped its gate.
    fn note_answer(
        &self,
        tenant: &TenantCode,
        outcome: &std::result::Result<u16, DeliveryError>,
        took: Duration,
    ) {
        let answer = Answer {
            failed: matches!(outcome, Err(DeliveryError::Retryable(_))),
            took,
        };
        if let Some(open) = self.gate.record(tenant, answer) {
            let (lane, then) = match self.gate.lane() {
                Lane::Main => ("main", "sent to the slow lane"),
                Lane::Slow => ("slow", "parked"),
            };
            tracing::warn!(%tenant, lane, open_s = open.as_secs(), "tenant's endpoint keeps failing or answering slowly; its deliveries are {then} meanwhile");
        }
    }

    /// A tenant event that is not an order (a catalogue item): signed and delivered as orders
    /// are; retried with the same backoff; parked in the dead-letter queue when the tenant
    /// refuses it or is not active. No record: the event's `webhook-id` is stable per item
    /// and content, so a repeat is one the tenant can recognise.
    async fn deliver_event(
        &self,
        event: &crate::catalogue::TenantEvent,
        attempt: Attempt<'_>,
        body: &str,
    ) -> Result<(), RecordFailure> {
        let view = self.tenant(&event.tenant).await?;
        if !view.active {
            return Err(RecordFailure::poison(format!(
                "tenant {} is not active",
                event.tenant
            )));
        }
        let target = view.target.map_err(RecordFailure::now)?;
        let payload =
            serde_json::to_vec(&event.body()).map_err(|e| RecordFailure::now(e.to_string()))?;
        // Never cut short: an event has no record to hold an unknown outcome.
        let call = self
            .call_tenant(&event.tenant, &target, &event.webhook_id, &payload, false)
            .await;
        match call.outcome {
            Ok(status) => {
                tracing::info!(store = %event.store_id, kind = %event.event_type, status, webhook_id = %event.webhook_id, "event delivered to the tenant");
                Ok(())
            }
            Err(DeliveryError::Permanent(f)) => {
                tracing::warn!(store = %event.store_id, kind = %event.event_type, reason = %f.summary, "the tenant refused the event; parked in the dead-letter queue");
                self.ports.dead_letters.send(body.to_owned()).await?;
                Ok(())
            }
            Err(DeliveryError::Retryable(f)) => Err(RecordFailure::later(
                f.summary,
                self.settings.backoff(attempt.receive_count),
            )),
        }
    }

    /// The use case: one version of an order (`envelope`, as received for the `attempt`-th
    /// time) brought to the tenant. `body` is the message itself, parked as it is if the
    /// tenant refuses the order.
    async fn sync(
        &self,
        envelope: &Envelope,
        attempt: Attempt<'_>,
        body: &str,
    ) -> Result<(), RecordFailure> {
        let head = &envelope.head;
        let link = self.link(head.store_id()).await?;
        // A deactivated tenant's orders wait in the dead-letter queue (a redrive after it is
        // active again delivers them), untouched and unread.
        if !self.tenant(&link.tenant).await?.active {
            return Err(RecordFailure::poison(format!(
                "tenant {} is not active",
                link.tenant
            )));
        }
        // A paused store's orders wait in the queue, unread, until it resumes.
        if link.paused_at.is_some() && link.is_connected() {
            // As a new message carrying this one's claim on the order, if it holds one.
            let held = remade(body, attempt, |m| m).unwrap_or_else(|| body.to_owned());
            self.ports
                .queue
                .send_delayed_grouped(held, self.settings.pause_recheck, link.tenant.as_str())
                .await?;
            tracing::info!(store = %head.store_id(), order = %head.order_id(), "store paused; order held");
            return Ok(());
        }
        let creds = open_woo_keys(&self.ports.secrets, &link)?;
        let incoming = match (&envelope.payload, creds.as_ref()) {
            (Some(p), _) => Version::delivered(p.get(), head)?,
            // A claim check: the order was too large for the queue; the store has it.
            (None, Some(creds)) => {
                let raw = self
                    .read_order(&link, creds, head.order_id())
                    .await
                    .map_err(|e| RecordFailure::now(format!("fetching the order: {e}")))?
                    .ok_or_else(|| RecordFailure::now("fetching the order: it is gone"))?;
                Version::read(&raw, head.order_id()).ok_or_else(|| {
                    RecordFailure::now("fetching the order: the store's answer is not the order")
                })?
            }
            (None, None) => {
                return Err(RecordFailure::now(
                    "a claim-check message, but the link holds no keys",
                ))
            }
        };
        if head.source() == Source::Resend {
            return self.resend(&link, incoming, attempt, body).await;
        }
        self.settle(&link, creds.as_ref(), incoming, head, attempt, body)
            .await
    }

    /// A tenant's resend: the order as the store has it now, delivered as a new effect (a
    /// `webhook-id` of its own), whatever the tenant already has. It waits for a delivery of
    /// the order in flight, as any version does; an order never in scope stays as it is.
    async fn resend(
        &self,
        link: &Link,
        incoming: Version,
        attempt: Attempt<'_>,
        message: &str,
    ) -> Result<(), RecordFailure> {
        let (store, order) = (&link.store_id, OrderId::new(incoming.order.id));
        // Like any version, it waits here (milliseconds) for a delivery of the order in flight
        // before going back to the queue, so resends at once do not spend their receives.
        let deadline = Instant::now() + self.settings.wait_budget;
        let mut pause = Duration::from_millis(5);
        let mut conflicts = 0;
        loop {
            let Some(existing) = self.ports.repos.orders.get_order_sync(store, order).await? else {
                tracing::info!(%store, %order, "resend of an order woolink does not know: nothing to do");
                return Ok(());
            };
            let now = Utc::now();
            let window = self.settings.in_flight_window;
            if let Some(hold) = decide::held(&existing, attempt.message_id, now, window) {
                if let Some(back) = self.back_to_the_queue(hold, attempt, deadline) {
                    return Err(back);
                }
                self.deliveries.wait(store, order, pause).await;
                pause = (pause * 2).min(MAX_WAIT_PAUSE);
                continue;
            }
            if !existing.in_scope {
                return Ok(());
            }
            let keep = self.history_retention();
            let expected = existing.revision;
            let ours = existing.claimed_by.as_deref() == Some(attempt.message_id)
                && existing.state == SyncState::Queued;
            let mut next = OrderSync {
                revision: expected + 1,
                updated_at: now,
                ..existing
            };
            let doc = self
                .document(
                    link,
                    &incoming.order,
                    &incoming.status,
                    attempt.receive_count,
                )
                .await?;
            let hash = doc.shipping_hash();
            let event = decide::resend_event(Told::of(&next), &incoming.status);
            if !ours {
                // A first receive of this resend (a retry keeps its attempts and its id).
                incoming.stamp(&mut next, Source::Resend);
                next.waiting = None;
                next.unsettled = false;
                next.attempts = 0;
                next.last_error = None;
                next.tenant_answer = None;
                next.note(
                    now,
                    Step::Received {
                        source: Source::Resend.as_str().to_owned(),
                        topic: None,
                        version: incoming.key.modified.to_string(),
                        status: incoming.status.clone(),
                    },
                    keep,
                );
                next.note(
                    now,
                    Step::Queued {
                        event: event.as_str().to_owned(),
                    },
                    keep,
                );
                metrics::emit(&link.tenant, None, &[(Metric::OrdersQueued, 1.0)]);
            }
            next.claim(attempt.message_id);
            next.event = Some(event);
            next.webhook_id = Some(webhook_id(
                store,
                order,
                incoming.key.modified.as_str(),
                &format!("{}|resend|{}", incoming.content, attempt.message_id),
            ));
            next.doc_hash = Some(hash);
            match self
                .ports
                .repos
                .orders
                .save_order_sync(&next, Some(expected))
                .await
            {
                Ok(()) => {
                    next.counted = crate::health::counted_as(&next);
                    return self
                        .deliver(link, next, event, &doc, message, attempt)
                        .await;
                }
                Err(e) if e.kind() == ErrorKind::Conflict && conflicts < 16 => conflicts += 1,
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    return Err(RecordFailure::now("the order kept changing concurrently"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Judges the version against the order's record until it is applied, ignored, or must
    /// come back later: reading the store when the bodies cannot tell which is newer, and
    /// waiting (milliseconds, not a retry schedule) while another delivery of the order is
    /// in flight.
    async fn settle(
        &self,
        link: &Link,
        creds: Option<&WooCredentials>,
        mut incoming: Version,
        head: &EnvelopeHead,
        attempt: Attempt<'_>,
        message: &str,
    ) -> Result<(), RecordFailure> {
        let (store, order) = (head.store_id(), head.order_id());
        let mut store_readable = creds.is_some();
        let deadline = Instant::now() + self.settings.wait_budget;
        let mut pause = Duration::from_millis(5);
        let mut conflicts = 0;
        // An `order.created` is usually the first word of an order: its record is written
        // without reading first, as the write's condition (no record yet) is the check; if
        // the order is known after all, the conflict sends us back to reading.
        let mut assume_new = head.topic() == WooTopic::OrderCreated;
        loop {
            if incoming.order.is_draft() {
                tracing::info!(%store, %order, "draft order ignored");
                return Ok(());
            }
            let existing = if std::mem::take(&mut assume_new) {
                None
            } else {
                self.ports.repos.orders.get_order_sync(store, order).await?
            };
            let rules = Rules {
                triggers: &link.trigger_statuses,
                can_read_store: store_readable,
                claim: attempt.message_id,
                now: Utc::now(),
                in_flight_window: self.settings.in_flight_window,
            };
            let written = match decide::judge(existing.as_ref(), &incoming.view(), &rules) {
                Verdict::Ignore(why) => {
                    tracing::info!(%store, %order, why, "no change for the tenant");
                    skipped(link, "no_change");
                    return Ok(());
                }
                Verdict::ReadStore(why) => {
                    tracing::info!(%store, %order, why, "reading the order from the store");
                    let entered = incoming.entered_scope
                        || decide::is_trigger(&link.trigger_statuses, &incoming.status);
                    let read = match creds {
                        Some(creds) => self.read_order(link, creds, order).await,
                        None => Ok(None),
                    };
                    match read.map(|raw| raw.map(|r| Version::read(&r, order))) {
                        Ok(Some(Some(read))) => {
                            incoming = read;
                            incoming.entered_scope = entered;
                        }
                        // Gone from the store: the body received is all there is.
                        Ok(None) => incoming.settled = true,
                        Ok(Some(None)) => {
                            tracing::warn!(%store, %order, "the store's answer is not this order; ordering by receipt");
                            store_readable = false;
                        }
                        Err(e) => {
                            tracing::warn!(%store, %order, error = %e, "the store could not be read; ordering by receipt");
                            store_readable = false;
                        }
                    }
                    continue;
                }
                Verdict::Wait(hold) => {
                    if let Some(e) = &existing {
                        self.mark_waiting(e, &incoming.key).await?;
                    }
                    if let Some(back) = self.back_to_the_queue(hold, attempt, deadline) {
                        return Err(back);
                    }
                    self.deliveries.wait(store, order, pause).await;
                    pause = (pause * 2).min(MAX_WAIT_PAUSE);
                    continue;
                }
                Verdict::Apply { in_scope, newest } => {
                    let expected = existing.as_ref().map(|e| e.revision);
                    let plan = self
                        .plan(
                            link,
                            existing,
                            &incoming,
                            (in_scope, newest),
                            (head.source(), head.topic()),
                            attempt,
                        )
                        .await?;
                    match plan {
                        Plan::Record(next) => {
                            self.ports
                                .repos
                                .orders
                                .save_order_sync(&next, expected)
                                .await
                        }
                        Plan::Deliver { next, event, doc } => {
                            match self
                                .ports
                                .repos
                                .orders
                                .save_order_sync(&next, expected)
                                .await
                            {
                                Ok(()) => {
                                    // What is stored now (the counters moved from it next).
                                    let mut next = next;
                                    next.counted = crate::health::counted_as(&next);
                                    return self
                                        .deliver(link, next, event, &doc, message, attempt)
                                        .await;
                                }
                                Err(e) => Err(e),
                            }
                        }
                    }
                }
            };
            match written {
                Ok(()) => return Ok(()),
                // Another record of the same order moved first: look again.
                Err(e) if e.kind() == ErrorKind::Conflict && conflicts < 16 => conflicts += 1,
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    return Err(RecordFailure::now("the order kept changing concurrently"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// When a version held by another delivery of its order goes back to the queue instead of
    /// waiting here: behind a delivery in flight, once the wait budget is spent (back after
    /// `wait_retry`: nothing failed); behind an outcome unknown, at once and on the retry
    /// schedule, as that attempt's own retries are.
    fn back_to_the_queue(
        &self,
        hold: Hold,
        attempt: Attempt<'_>,
        deadline: Instant,
    ) -> Option<RecordFailure> {
        match hold {
            Hold::Delivering => (Instant::now() >= deadline).then(|| {
                RecordFailure::later(
                    "another delivery of this order is in flight",
                    self.settings.wait_retry,
                )
            }),
            Hold::Unsettled => Some(RecordFailure::later(
                "waits on an earlier delivery of this order whose outcome is unknown",
                self.settings.backoff(attempt.receive_count),
            )),
        }
    }

    /// Notes on the record that `key` waits for the delivery in flight, unless a newer
    /// version already does (a lost race only means looking again).
    async fn mark_waiting(
        &self,
        record: &OrderSync,
        key: &VersionKey,
    ) -> Result<(), RecordFailure> {
        let newer_waits = record
            .waiting
            .as_deref()
            .and_then(VersionKey::decode)
            .is_some_and(|w| w >= *key);
        if newer_waits {
            return Ok(());
        }
        let mut next = record.clone();
        next.waiting = Some(key.encode());
        next.revision += 1;
        match self
            .ports
            .repos
            .orders
            .save_order_sync(&next, Some(record.revision))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The record an applied version leaves, and whether the tenant must hear of it.
    async fn plan(
        &self,
        link: &Link,
        existing: Option<OrderSync>,
        incoming: &Version,
        (in_scope, newest): (bool, bool),
        (source, topic): (Source, WooTopic),
        attempt: Attempt<'_>,
    ) -> Result<Plan, RecordFailure> {
        let now = Utc::now();
        let keep = self.history_retention();
        let mut next = match existing {
            Some(e) => OrderSync {
                revision: e.revision + 1,
                updated_at: now,
                ..e
            },
            None => OrderSync::first(link.store_id.clone(), OrderId::new(incoming.order.id), now),
        };
        // A version not seen before (not the same one coming back for another attempt).
        let mut fresh = false;
        if newest {
            let moved = VersionKey::of(&next) != incoming.key
                || next.content_hash.as_deref() != Some(incoming.content.as_str());
            incoming.stamp(&mut next, source);
            if moved {
                next.note(
                    now,
                    Step::Received {
                        source: source.as_str().to_owned(),
                        topic: Some(topic.as_str().to_owned()),
                        version: incoming.key.modified.to_string(),
                        status: incoming.status.clone(),
                    },
                    keep,
                );
            }
            fresh = moved;
            // A finished order's record is kept for the retention period after its last
            // change (DynamoDB TTL); one still moving is kept while it moves.
            next.expires_at = finished(&incoming.status).then(|| now + keep);
            let superseded = next
                .waiting
                .as_deref()
                .and_then(VersionKey::decode)
                .is_none_or(|w| w <= incoming.key);
            if superseded {
                next.waiting = None;
            }
            if moved {
                next.attempts = 0;
                next.last_error = None;
                next.tenant_answer = None;
                next.unsettled = false;
            }
        }
        if !incoming.timestamped() {
            // Such a body is the same bytes each time (`{"id": N}`): once applied, the same
            // body again is a replay, however late it comes.
            next.replay_guard = Some(incoming.content.clone());
        }
        next.in_scope = in_scope;
        // Orders still queued when the store disconnected are delivered, and kept no longer
        // than the store's other records.
        if let Some(at) = link.disconnected_at.filter(|_| !link.is_connected()) {
            next.expires_at = chrono::Duration::from_std(self.settings.retention)
                .ok()
                .map(|r| at + r);
        }
        if !in_scope {
            skipped(link, "not_trigger");
            next.state = SyncState::Skipped;
            next.note(
                now,
                Step::Skipped {
                    reason: format!("status {} is not a trigger status", incoming.status),
                },
                keep,
            );
            return Ok(Plan::Record(next));
        }

        let doc = self
            .document(
                link,
                &incoming.order,
                &incoming.status,
                attempt.receive_count,
            )
            .await?;
        let hash = doc.shipping_hash();
        let Some(event) = decide::event_for(Told::of(&next), &incoming.status, &hash) else {
            // Nothing the tenant needs: a meta-only save, or a cancellation of an order it never had.
            next.state = if next.delivered_hash.is_some() {
                SyncState::Synced
            } else {
                SyncState::Skipped
            };
            next.doc_hash = Some(hash);
            skipped(link, "no_change");
            next.note(
                now,
                Step::Skipped {
                    reason: "nothing the tenant receives changed".to_owned(),
                },
                keep,
            );
            return Ok(Plan::Record(next));
        };
        if fresh || next.state != SyncState::Queued {
            metrics::emit(&link.tenant, None, &[(Metric::OrdersQueued, 1.0)]);
            next.note(
                now,
                Step::Queued {
                    event: event.as_str().to_owned(),
                },
                keep,
            );
        }
        next.claim(attempt.message_id);
        next.event = Some(event);
        next.webhook_id = Some(webhook_id(
            &link.store_id,
            next.order_id,
            incoming.key.modified.as_str(),
            &incoming.content,
        ));
        next.doc_hash = Some(hash);
        // The poll found what the tenant had to hear before any webhook said it.
        if source == Source::Poll {
            next.recovered_at = Some(now);
        }
        Ok(Plan::Deliver { next, event, doc })
    }

    async fn deliver(
        &self,
        link: &Link,
        mut state: OrderSync,
        event: TenantEvent,
        doc: &Document,
        message: &str,
        attempt: Attempt<'_>,
    ) -> Result<(), RecordFailure> {
        let receive_count = attempt.receive_count;
        let target = self.target(&link.tenant).await?;
        let webhook_id = state.webhook_id.clone().unwrap_or_default();
        let timestamp = doc
            .date_modified()
            .map_or_else(|| format!("{}Z", state.version), str::to_owned);
        let body = serde_json::to_vec(&json!({"type": event, "timestamp": timestamp, "data": doc}))
            .map_err(|e| RecordFailure::now(e.to_string()))?;
        let Call { outcome, took, cut } = self
            .call_tenant(&link.tenant, &target, &webhook_id, &body, true)
            .await;
        let latency_ms = took.as_millis() as u64;
        let expected = state.revision;
        state.revision += 1;
        state.attempts += 1;
        state.updated_at = Utc::now();
        let keep = self.history_retention();
        // An answer settles what the tenant has; an outcome unknown leaves it unsettled until
        // an attempt with this body gets one.
        state.unsettled = match &outcome {
            Ok(_) | Err(DeliveryError::Permanent(_)) => false,
            Err(DeliveryError::Retryable(f)) => state.unsettled || f.unknown,
        };
        let (status, error) = match &outcome {
            Ok(status) => (Some(*status), None),
            Err(DeliveryError::Permanent(f) | DeliveryError::Retryable(f)) => {
                (f.status, Some(f.summary.clone()))
            }
        };
        state.note(
            state.updated_at,
            Step::Attempt {
                status,
                latency_ms,
                error,
            },
            keep,
        );
        let (store, order) = (state.store_id.clone(), state.order_id);
        let retry = match outcome {
            Ok(status) => {
                state.state = SyncState::Synced;
                state.delivered_hash = state.doc_hash.clone();
                state.synced_at = Some(state.updated_at);
                state.last_error = None;
                state.tenant_answer = None;
                state.note(
                    state.updated_at,
                    Step::Synced {
                        event: event.as_str().to_owned(),
                    },
                    keep,
                );
                tracing::info!(%store, %order, %event, status, webhook_id = %webhook_id, "delivered to the tenant");
                None
            }
            Err(DeliveryError::Permanent(failure)) => {
                state.state = SyncState::Failed;
                state.last_error = Some(failure.summary.clone());
                state.tenant_answer = failure.answer.clone();
                state.note(
                    state.updated_at,
                    Step::Failed {
                        error: format!("{}; parked in the dead-letter queue", failure.summary),
                    },
                    keep,
                );
                tracing::warn!(%store, %order, %event, "the tenant refused the order; parked in the dead-letter queue");
                // No automatic retry: the message waits in the DLQ for a redrive.
                self.ports.dead_letters.send(message.to_owned()).await?;
                None
            }
            Err(DeliveryError::Retryable(failure)) => {
                let exhausted = receive_count >= self.settings.max_receives;
                state.state = if exhausted {
                    SyncState::Failed
                } else {
                    SyncState::Queued
                };
                state.last_error = Some(failure.summary.clone());
                state.tenant_answer = failure.answer.clone();
                if exhausted {
                    state.note(
                        state.updated_at,
                        Step::Failed {
                            error: format!("{}; retries ran out", failure.summary),
                        },
                        keep,
                    );
                }
                tracing::warn!(%store, %order, %event, receive_count, exhausted, "delivery failed; will retry");
                Some(failure)
            }
        };
        // The attempt's metrics in one line: its latency, and how it ended.
        let mut values = vec![(Metric::DeliveryLatency, latency_ms as f64)];
        match state.state {
            SyncState::Synced => {
                values.push((Metric::OrdersSynced, 1.0));
                if let Some(ms) = crate::health::webhook_lag_ms(&state) {
                    values.push((Metric::DeliveryLag, ms as f64));
                }
            }
            SyncState::Failed => values.push((Metric::OrdersFailed, 1.0)),
            _ => {}
        }
        metrics::emit(&link.tenant, None, &values);
        let saved = self.record_outcome(state, expected).await;
        self.deliveries.ended(&store, order);
        saved?;
        match retry {
            None => Ok(()),
            // Cut short in the main lane: it goes on in the slow lane now, holding its claim,
            // with this receive spent (it made a call).
            Some(_)
                if cut
                    && receive_count < self.settings.max_receives
                    && self
                        .to_slow_lane(message, &link.tenant, attempt, receive_count)
                        .await? =>
            {
                self.deferred(&link.tenant, "slow_lane", "a call cut short");
                Ok(())
            }
            // The log gets the summary, not the tenant's answer (kept in the order record).
            Some(failure) => Err(RecordFailure::later(
                failure.summary,
                self.settings.backoff(receive_count),
            )),
        }
    }

    /// Saves a delivery's outcome. A version that started waiting meanwhile only marked the
    /// record, so the outcome is carried onto the record as it is now; a version that took the
    /// order over (a stale claim) carries on from there, and the outcome is dropped.
    async fn record_outcome(
        &self,
        mut state: OrderSync,
        mut expected: u64,
    ) -> Result<(), RecordFailure> {
        for _ in 0..8 {
            match self
                .ports
                .repos
                .orders
                .save_order_sync(&state, Some(expected))
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Conflict => {}
                Err(e) => return Err(e.into()),
            }
            let Some(now) = self
                .ports
                .repos
                .orders
                .get_order_sync(&state.store_id, state.order_id)
                .await?
            else {
                return Ok(());
            };
            let ours = now.state == SyncState::Queued
                && now.claimed_by == state.claimed_by
                && now.webhook_id == state.webhook_id;
            if !ours {
                return Ok(());
            }
            expected = now.revision;
            state = OrderSync {
                revision: now.revision + 1,
                waiting: now.waiting,
                counted: now.counted,
                ..state
            };
        }
        Err(RecordFailure::now("the order kept changing concurrently"))
    }

    fn history_retention(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.history_retention)
            .unwrap_or_else(|_| chrono::Duration::days(90))
    }

    async fn link(&self, store: &StoreId) -> Result<Link, RecordFailure> {
        self.links
            .get_or_load(store, || async {
                self.ports
                    .repos
                    .links
                    .get_link(store)
                    .await?
                    .ok_or_else(|| RecordFailure::now(format!("store {store} has no link")))
            })
            .await
    }

    /// The tenant as the worker needs it, read once per cache period for both questions
    /// (is it active, where do its orders go).
    async fn tenant(&self, tenant: &TenantCode) -> Result<TenantView, RecordFailure> {
        self.tenants
            .get_or_load(tenant, || async {
                let found = self.ports.repos.tenants.get_tenant(tenant).await?;
                let active = found.as_ref().is_some_and(|t| t.active);
                let document = found
                    .as_ref()
                    .map_or_else(DocumentSettings::current, |t| t.document.clone());
                let target = match found.and_then(|t| t.fulfilment) {
                    None => Err(format!("tenant {tenant} has no fulfilment endpoint")),
                    Some(f) => {
                        secrets::open(&self.ports.secrets, &f.secret, Sealing::Fulfilment(tenant))
                            .map(|secret| Target {
                                url: url::Url::parse(&f.url).ok(),
                                secret,
                            })
                            .map_err(|e| e.to_string())
                    }
                };
                Ok::<_, RecordFailure>(TenantView {
                    active,
                    target,
                    document,
                })
            })
            .await
    }

    async fn target(&self, tenant: &TenantCode) -> Result<Target, RecordFailure> {
        self.tenant(tenant)
            .await?
            .target
            .map_err(RecordFailure::now)
    }

    /// `GET` the order from the store: `None` when it is gone (404).
    async fn read_order(
        &self,
        link: &Link,
        creds: &WooCredentials,
        order: OrderId,
    ) -> Result<Option<String>, WooError> {
        match self
            .ports
            .woo
            .get_order(&link.store_url, creds, order.get())
            .await
        {
            Ok(raw) => Ok(Some(raw)),
            Err(WooError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tenant's document for `order`: v1 or v2 as its settings say, with what the store's
    /// catalogue says of the items (and, for v2, the store's units and the refunds' items).
    async fn document(
        &self,
        link: &Link,
        order: &WooOrder,
        status: &str,
        receive_count: u32,
    ) -> Result<Document, RecordFailure> {
        let settings = self.tenant(&link.tenant).await?.document;
        let creds = open_woo_keys(&self.ports.secrets, link)?;
        let mut ids: Vec<CatalogueId> = order
            .line_items
            .iter()
            .filter_map(|i| i.catalogue_id())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let (facts, source) = match &creds {
            None => (HashMap::new(), WeightSource::NotAvailable),
            Some(creds) => self.item_facts(link, creds, &ids, receive_count).await?,
        };
        Ok(match settings.version {
            DocumentVersion::V1 => {
                let mut doc = OrderDocument::map(order, &link.store_id, &link.customer_id);
                doc.status = status.to_owned();
                for item in &mut doc.items {
                    item.weight = item
                        .catalogue_id()
                        .and_then(|c| facts.get(&c.id()))
                        .and_then(|f| f.weight);
                }
                doc.weight_source = source;
                Document::V1(Box::new(doc))
            }
            DocumentVersion::V2 => {
                let (units, refund_items) = match &creds {
                    Some(creds) => (
                        self.store_units(link, creds).await,
                        self.refund_items(link, creds, order).await,
                    ),
                    None => (None, None),
                };
                let ctx = v2::Context {
                    settings: Some(&settings),
                    facts,
                    weight_source: Some(source),
                    units,
                    refund_items,
                };
                let mut doc =
                    v2::OrderDocumentV2::map(order, &link.store_id, &link.customer_id, &ctx);
                doc.status = status.to_owned();
                Document::V2(Box::new(doc))
            }
        })
    }

    /// What the catalogue says of `ids`: read once per cache period (one call for the
    /// products, one per variable product for its variations). A failing store is retried
    /// for a bounded number of receives, then the order goes without and says so.
    async fn item_facts(
        &self,
        link: &Link,
        creds: &WooCredentials,
        ids: &[CatalogueId],
        receive_count: u32,
    ) -> Result<(HashMap<u64, ItemFacts>, WeightSource), RecordFailure> {
        let store = &link.store_id;
        let missing: Vec<CatalogueId> = ids
            .iter()
            .copied()
            .filter(|c| self.facts.get(&(store.clone(), c.id())).is_none())
            .collect();
        if !missing.is_empty() {
            match self.lookup_facts(link, creds, &missing).await {
                Ok(found) => {
                    for c in &missing {
                        self.facts
                            .put((store.clone(), c.id()), found.get(&c.id()).copied());
                    }
                }
                Err(e)
                    if e.is_transient() && receive_count < self.settings.weight_lookup_receives =>
                {
                    return Err(RecordFailure::later(
                        format!("weight lookup: {e}"),
                        self.settings.backoff(receive_count),
                    ));
                }
                Err(_) => return Ok((HashMap::new(), WeightSource::LookupFailed)),
            }
        }
        let facts = ids
            .iter()
            .filter_map(|c| {
                self.facts
                    .get(&(store.clone(), c.id()))
                    .flatten()
                    .map(|f| (c.id(), f))
            })
            .collect();
        Ok((facts, WeightSource::Store))
    }

    async fn lookup_facts(
        &self,
        link: &Link,
        creds: &WooCredentials,
        missing: &[CatalogueId],
    ) -> Result<HashMap<u64, ItemFacts>, WooError> {
        let mut products = Vec::new();
        let mut variations: HashMap<u64, Vec<u64>> = HashMap::new();
        for c in missing {
            match *c {
                CatalogueId::Product(id) => products.push(id),
                CatalogueId::Variation { parent, id } => {
                    variations.entry(parent).or_default().push(id)
                }
            }
        }
        let url = &link.store_url;
        let mut calls = Vec::new();
        if !products.is_empty() {
            calls.push(futures::future::Either::Left(
                self.ports.woo.product_facts(url, creds, &products),
            ));
        }
        for (parent, ids) in &variations {
            calls.push(futures::future::Either::Right(
                self.ports.woo.variation_facts(url, creds, *parent, ids),
            ));
        }
        let found = futures::future::try_join_all(calls).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The store's units, read once per cache period; `None` when they cannot be read (the
    /// document says so with `units: null`, and is not held back for it).
    async fn store_units(&self, link: &Link, creds: &WooCredentials) -> Option<Units> {
        self.units
            .get_or_load(&link.store_id, || async {
                self.ports.woo.units(&link.store_url, creds).await
            })
            .await
            .map_err(|e| tracing::info!(store = %link.store_id, error = %e, "the store's units could not be read"))
            .ok()
    }

    /// The items of the order's refunds, one call when it has any; `None` when the store
    /// cannot say (the document then has `items: null`).
    async fn refund_items(
        &self,
        link: &Link,
        creds: &WooCredentials,
        order: &WooOrder,
    ) -> Option<HashMap<u64, Vec<v2::RefundItem>>> {
        if order.refunds.is_empty() {
            return Some(HashMap::new());
        }
        match self
            .ports
            .woo
            .order_refunds(&link.store_url, creds, order.id)
            .await
        {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::info!(store = %link.store_id, order = order.id, error = %e, "the order's refunds could not be read");
                None
            }
        }
    }
}

/// Counts a version with nothing for the tenant, by a bounded reason.
fn skipped(link: &Link, reason: &'static str) {
    metrics::emit(
        &link.tenant,
        Some(("Reason", reason)),
        &[(Metric::OrdersSkipped, 1.0)],
    );
}

/// WooCommerce statuses after which an order normally changes no more.
fn finished(status: &str) -> bool {
    matches!(
        status,
        "completed" | "cancelled" | "refunded" | "failed" | "trash"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_ids_are_stable_per_version_and_body() {
        let s = StoreId::parse("st_1").unwrap();
        let v = "2026-01-01T00:00:00.000";
        let a = webhook_id(&s, OrderId::new(7), v, "h1");
        assert_eq!(a, webhook_id(&s, OrderId::new(7), v, "h1"));
        assert_ne!(
            a,
            webhook_id(&s, OrderId::new(7), "2026-01-01T00:00:01.000", "h1")
        );
        assert_ne!(
            a,
            webhook_id(&s, OrderId::new(7), v, "h2"),
            "same second, another body"
        );
        assert!(a.starts_with("msg_"));
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let s = WorkerSettings::default();
        assert_eq!(s.backoff(1), Duration::from_secs(10));
        assert_eq!(s.backoff(3), Duration::from_secs(40));
        assert_eq!(s.backoff(30), Duration::from_secs(900));
    }
}
