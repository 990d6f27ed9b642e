//! The sync worker: SQS batches in, one effect per order version at the tenant.
//!
//! Each record is handled on its own, concurrently (bounded). The order's state lives in one
//! record per (store, order) and changes only through conditional writes, so replays and older
//! versions change nothing, and two copies of one delivery in flight cannot both deliver.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{NaiveDateTime, Utc};
use futures::stream::{self, StreamExt};
use serde_json::json;
use tracing::Instrument;

use crate::admin::fulfilment_seal_context;
use crate::cache::TtlCache;
use crate::connect::open_woo_keys;
use crate::crypto::{sha256_hex, SecretBox, SecretString};
use crate::domain::{OrderId, StoreId, TenantCode};
use crate::envelope::Envelope;
use crate::error::{Error, ErrorKind, Result};
use crate::fulfilment::{DeliveryError, FulfilmentClient};
use crate::model::{Link, OrderSync, SyncState};
use crate::order::{is_cancelled, OrderDocument, WeightSource, WooOrder};
use crate::ports::Repos;
use crate::queue::Queue;
use crate::woocommerce::WooClient;

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
    /// How long a `queued` record counts as being delivered by another worker (a newer or
    /// duplicate record of the order waits meanwhile); after it, the record is superseded.
    pub in_flight_window: Duration,
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
            in_flight_window: Duration::from_secs(30),
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

/// A tenant's endpoint with its secret opened.
#[derive(Clone)]
struct Target {
    url: String,
    secret: SecretString,
}

pub struct Worker {
    repos: Repos,
    secrets: SecretBox,
    fulfilment: FulfilmentClient,
    woo: WooClient,
    queue: Arc<dyn Queue>,
    dead_letters: Arc<dyn Queue>,
    settings: WorkerSettings,
    links: TtlCache<StoreId, Link>,
    targets: TtlCache<TenantCode, Target>,
    weights: TtlCache<(StoreId, u64), Option<f64>>,
}

/// Why a record is handed back to the queue.
#[derive(Debug)]
struct RecordFailure {
    reason: String,
    /// Delay before the next attempt; `None` keeps the queue's visibility timeout.
    retry_after: Option<Duration>,
}

impl RecordFailure {
    fn now(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry_after: None,
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
    fn of(record: &'a SqsMessage) -> Self {
        Self {
            message_id: record.message_id.as_deref().unwrap_or_default(),
            receive_count: record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
        }
    }
}

/// What a record asks of the order's state.
enum Plan {
    /// Replay, older version, draft: nothing to do.
    Nothing(&'static str),
    /// Record the new version without telling the tenant.
    Record(OrderSync),
    /// Record the new version as queued, then deliver `event` with `doc`.
    Deliver {
        next: OrderSync,
        event: &'static str,
        doc: Box<OrderDocument>,
    },
}

/// `date_modified_gmt` (or the receive time) as a version that sorts as text.
pub fn normalise_version(raw: &str) -> String {
    let trimmed = raw.trim().trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(trimmed, fmt) {
            return t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
        }
    }
    raw.to_owned()
}

/// Stable per (store, order, version): the same on every retry, so tenants can deduplicate.
pub fn webhook_id(store: &StoreId, order: OrderId, version: &str) -> String {
    let digest = sha256_hex(format!("{store}/{order}/{version}").as_bytes());
    format!("msg_{}", &digest[..32])
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        repos: Repos,
        secrets: SecretBox,
        fulfilment: FulfilmentClient,
        woo: WooClient,
        queue: Arc<dyn Queue>,
        dead_letters: Arc<dyn Queue>,
        settings: WorkerSettings,
    ) -> Self {
        let ttl = settings.cache_ttl;
        Self {
            repos,
            secrets,
            fulfilment,
            woo,
            queue,
            dead_letters,
            settings,
            links: TtlCache::new(ttl),
            targets: TtlCache::new(ttl),
            weights: TtlCache::new(Duration::from_secs(600)),
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Handles a batch; returns only the ids of records that must come back.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let failures: Vec<String> = stream::iter(event.records)
            .map(|record| async move {
                let id = record.message_id.clone().unwrap_or_default();
                let span = tracing::info_span!("message", message_id = %id);
                let outcome = self.handle_record(&record).instrument(span.clone()).await;
                match outcome {
                    Ok(()) => None,
                    Err(failure) => {
                        span.in_scope(
                            || tracing::warn!(reason = %failure.reason, "record will be retried"),
                        );
                        if let (Some(delay), Some(receipt)) =
                            (failure.retry_after, record.receipt_handle.as_deref())
                        {
                            if let Err(e) = self.queue.change_visibility(receipt, delay).await {
                                tracing::warn!(error = %e, "could not set the retry delay");
                            }
                        }
                        Some(id)
                    }
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .filter_map(|f| async move { f })
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        response
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<(), RecordFailure> {
        let body = record
            .body
            .as_deref()
            .ok_or_else(|| RecordFailure::now("the record has no body"))?;
        let attempt = Attempt::of(record);
        let receive_count = attempt.receive_count;
        let envelope = Envelope::decode(body).map_err(|e| {
            tracing::error!(error = %e.message(), "undecodable message; it will reach the dead-letter queue");
            RecordFailure::from(e)
        })?;
        let head = &envelope.head;
        let link = self.link(&head.store_id).await?;
        let raw = match &envelope.payload {
            Some(p) => p.get().to_owned(),
            None => self.fetch_order(&link, head.order_id).await?,
        };
        let order = WooOrder::parse(&raw).map_err(|e| {
            tracing::error!(store = %head.store_id, "order payload does not parse");
            RecordFailure::from(e)
        })?;
        let status = if head.topic == "order.deleted" {
            "trash".to_owned()
        } else {
            order.status.clone()
        };
        if order.is_draft() {
            tracing::info!(store = %head.store_id, order = %head.order_id, "draft order ignored");
            return Ok(());
        }
        let version = normalise_version(head.modified_at.as_deref().unwrap_or(&head.received_at));

        // An `order.created` is usually the first word of an order: its record is written
        // without reading first, as the write's condition (no record yet) is the check; if
        // the order is known after all, the conflict sends us back to reading.
        let mut assume_new = head.topic == "order.created";
        for _ in 0..4 {
            let existing = if std::mem::take(&mut assume_new) {
                None
            } else {
                self.repos
                    .orders
                    .get_order_sync(&head.store_id, head.order_id)
                    .await?
            };
            let plan = self
                .plan(&link, &order, &status, &version, existing.as_ref(), attempt)
                .await?;
            let expected = existing.as_ref().map(|e| e.revision);
            let result = match plan {
                Plan::Nothing(why) => {
                    tracing::info!(store = %head.store_id, order = %head.order_id, why, "no change for the tenant");
                    return Ok(());
                }
                Plan::Record(next) => self.repos.orders.save_order_sync(&next, expected).await,
                Plan::Deliver { next, event, doc } => {
                    match self.repos.orders.save_order_sync(&next, expected).await {
                        Ok(()) => {
                            return self
                                .deliver(&link, next, event, &doc, body, receive_count)
                                .await
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(()) => return Ok(()),
                // Another record of the same order moved first: look again.
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RecordFailure::now("the order kept changing concurrently"))
    }

    async fn plan(
        &self,
        link: &Link,
        order: &WooOrder,
        status: &str,
        version: &str,
        existing: Option<&OrderSync>,
        attempt: Attempt<'_>,
    ) -> Result<Plan, RecordFailure> {
        let Attempt {
            message_id,
            receive_count,
        } = attempt;
        let now = Utc::now();
        if let Some(e) = existing {
            if e.version.as_str() > version {
                return Ok(Plan::Nothing("an older version"));
            }
            if e.version == version && matches!(e.state, SyncState::Synced | SyncState::Skipped) {
                return Ok(Plan::Nothing("a replay"));
            }
            // Another record of this order is being delivered right now: wait for it, so
            // the tenant hears about versions in order and a copy does not send twice.
            let in_flight = e.state == SyncState::Queued
                && e.last_error.is_none()
                && e.claimed_by.as_deref() != Some(message_id)
                && (now - e.updated_at)
                    .to_std()
                    .is_ok_and(|age| age < self.settings.in_flight_window);
            if in_flight {
                return Err(RecordFailure {
                    reason: "another delivery of this order is in flight".into(),
                    retry_after: Some(self.settings.backoff(receive_count)),
                });
            }
        }
        let in_scope = existing.is_some_and(|e| e.in_scope)
            || link.trigger_statuses.iter().any(|t| t.as_str() == status);
        let mut next = match existing {
            Some(e) => OrderSync {
                revision: e.revision + 1,
                updated_at: now,
                ..e.clone()
            },
            None => OrderSync {
                store_id: link.store_id.clone(),
                order_id: OrderId::new(order.id),
                state: SyncState::Skipped,
                woo_status: String::new(),
                version: String::new(),
                in_scope: false,
                event: None,
                webhook_id: None,
                claimed_by: None,
                doc_hash: None,
                delivered_hash: None,
                attempts: 0,
                last_error: None,
                created_at: now,
                updated_at: now,
                synced_at: None,
                expires_at: None,
                revision: 1,
            },
        };
        let same_version = next.version == version;
        next.woo_status = status.to_owned();
        next.version = version.to_owned();
        next.in_scope = in_scope;
        // Orders still queued when the store disconnected are delivered, and kept no longer
        // than the store's other records.
        if let Some(at) = link.disconnected_at.filter(|_| !link.is_connected()) {
            next.expires_at = chrono::Duration::from_std(self.settings.retention)
                .ok()
                .map(|r| at + r);
        }
        if !same_version {
            next.attempts = 0;
            next.last_error = None;
        }
        if !in_scope {
            next.state = SyncState::Skipped;
            return Ok(Plan::Record(next));
        }

        let mut doc = OrderDocument::map(order, &link.store_id, &link.customer_id);
        doc.status = status.to_owned();
        self.fill_weights(link, &mut doc, receive_count).await?;
        let hash = doc.shipping_hash();
        let delivered_before = next.delivered_hash.is_some();
        let last_was_cancel =
            next.event.as_deref() == Some("order.cancelled") && next.state == SyncState::Synced;
        let event = if is_cancelled(status) {
            (delivered_before && !last_was_cancel).then_some("order.cancelled")
        } else if !delivered_before {
            Some("order.created")
        } else if next.delivered_hash.as_deref() != Some(hash.as_str()) || last_was_cancel {
            Some("order.updated")
        } else {
            None
        };
        let Some(event) = event else {
            // Nothing the tenant needs: a meta-only save, or a cancellation of an order it never had.
            next.state = if delivered_before {
                SyncState::Synced
            } else {
                SyncState::Skipped
            };
            next.doc_hash = Some(hash);
            return Ok(Plan::Record(next));
        };
        next.state = SyncState::Queued;
        next.event = Some(event.to_owned());
        next.webhook_id = Some(webhook_id(&link.store_id, next.order_id, version));
        next.claimed_by = Some(message_id.to_owned());
        next.doc_hash = Some(hash);
        Ok(Plan::Deliver {
            next,
            event,
            doc: Box::new(doc),
        })
    }

    async fn deliver(
        &self,
        link: &Link,
        mut state: OrderSync,
        event: &str,
        doc: &OrderDocument,
        message: &str,
        receive_count: u32,
    ) -> Result<(), RecordFailure> {
        let target = self.target(&link.tenant).await?;
        let webhook_id = state.webhook_id.clone().unwrap_or_default();
        let timestamp = doc
            .date_modified
            .clone()
            .unwrap_or_else(|| state.version.clone() + "Z");
        let body = serde_json::to_vec(&json!({"type": event, "timestamp": timestamp, "data": doc}))
            .map_err(|e| RecordFailure::now(e.to_string()))?;
        let outcome = self
            .fulfilment
            .deliver(&target.url, &target.secret, &webhook_id, &body)
            .await;
        let expected = state.revision;
        state.revision += 1;
        state.attempts += 1;
        state.updated_at = Utc::now();
        let (store, order) = (state.store_id.clone(), state.order_id);
        let retry = match outcome {
            Ok(status) => {
                state.state = SyncState::Synced;
                state.delivered_hash = state.doc_hash.clone();
                state.synced_at = Some(state.updated_at);
                state.last_error = None;
                tracing::info!(%store, %order, event, status, webhook_id = %webhook_id, "delivered to the tenant");
                None
            }
            Err(DeliveryError::Permanent(answer)) => {
                state.state = SyncState::Failed;
                state.last_error = Some(answer);
                tracing::warn!(%store, %order, event, "the tenant refused the order; parked in the dead-letter queue");
                // No automatic retry: the message waits in the DLQ for a redrive.
                self.dead_letters.send(message.to_owned()).await?;
                None
            }
            Err(DeliveryError::Retryable(why)) => {
                let exhausted = receive_count >= self.settings.max_receives;
                state.state = if exhausted {
                    SyncState::Failed
                } else {
                    SyncState::Queued
                };
                state.last_error = Some(why.clone());
                tracing::warn!(%store, %order, event, receive_count, exhausted, "delivery failed; will retry");
                Some(why)
            }
        };
        match self
            .repos
            .orders
            .save_order_sync(&state, Some(expected))
            .await
        {
            Ok(()) => {}
            // A newer version took over the record meanwhile; it carries on from there.
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => return Err(e.into()),
        }
        match retry {
            None => Ok(()),
            Some(why) => Err(RecordFailure {
                // The log gets the status, not the tenant's answer (kept in the order record).
                reason: why
                    .split(':')
                    .next()
                    .unwrap_or("delivery failed")
                    .to_owned(),
                retry_after: Some(self.settings.backoff(receive_count)),
            }),
        }
    }

    async fn link(&self, store: &StoreId) -> Result<Link, RecordFailure> {
        self.links
            .get_or_load(store, || async {
                self.repos
                    .links
                    .get_link(store)
                    .await?
                    .ok_or_else(|| RecordFailure::now(format!("store {store} has no link")))
            })
            .await
    }

    async fn target(&self, tenant: &TenantCode) -> Result<Target, RecordFailure> {
        self.targets
            .get_or_load(tenant, || async {
                let fulfilment = self
                    .repos
                    .tenants
                    .get_tenant(tenant)
                    .await?
                    .and_then(|t| t.fulfilment)
                    .ok_or_else(|| {
                        RecordFailure::now(format!("tenant {tenant} has no fulfilment endpoint"))
                    })?;
                Ok(Target {
                    url: fulfilment.url,
                    secret: self
                        .secrets
                        .open(&fulfilment.secret, &fulfilment_seal_context(tenant))?,
                })
            })
            .await
    }

    async fn fetch_order(&self, link: &Link, order: OrderId) -> Result<String, RecordFailure> {
        let creds = open_woo_keys(&self.secrets, link)?.ok_or_else(|| {
            RecordFailure::now("a claim-check message, but the link holds no keys")
        })?;
        self.woo
            .get_order(&link.store_url, &creds, order.get())
            .await
            .map_err(|e| RecordFailure::now(format!("fetching the order: {e}")))
    }

    /// Looks up missing item weights when the link holds keys (one call per order, cached).
    /// A failing store is retried for a bounded number of receives, then the order goes
    /// without weights and says so.
    async fn fill_weights(
        &self,
        link: &Link,
        doc: &mut OrderDocument,
        receive_count: u32,
    ) -> Result<(), RecordFailure> {
        let Some(creds) = open_woo_keys(&self.secrets, link)? else {
            doc.weight_source = WeightSource::NotAvailable;
            return Ok(());
        };
        let mut missing = Vec::new();
        for id in doc.products_missing_weight() {
            match self.weights.get(&(link.store_id.clone(), id)) {
                Some(_) => {}
                None => missing.push(id),
            }
        }
        if !missing.is_empty() {
            match self
                .woo
                .product_weights(&link.store_url, &creds, &missing)
                .await
            {
                Ok(found) => {
                    for id in &missing {
                        let w = found.iter().find(|(p, _)| p == id).and_then(|(_, w)| *w);
                        self.weights.put((link.store_id.clone(), *id), w);
                    }
                }
                Err(e) if receive_count < self.settings.weight_lookup_receives => {
                    return Err(RecordFailure {
                        reason: format!("weight lookup: {e}"),
                        retry_after: Some(self.settings.backoff(receive_count)),
                    });
                }
                Err(_) => {
                    doc.weight_source = WeightSource::LookupFailed;
                    return Ok(());
                }
            }
        }
        for item in &mut doc.items {
            item.weight = self
                .weights
                .get(&(link.store_id.clone(), item.product_id))
                .flatten();
        }
        doc.weight_source = WeightSource::Store;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_text_whatever_their_source() {
        assert_eq!(
            normalise_version("2026-11-23T10:00:00"),
            "2026-11-23T10:00:00.000"
        );
        assert_eq!(
            normalise_version("2026-11-23T10:00:01.250Z"),
            "2026-11-23T10:00:01.250"
        );
        assert!(
            normalise_version("2026-11-23T10:00:00") < normalise_version("2026-11-23T10:00:00.5Z")
        );
    }

    #[test]
    fn webhook_ids_are_stable_per_version() {
        let s = StoreId::parse("st_1").unwrap();
        let a = webhook_id(&s, OrderId::new(7), "2026-01-01T00:00:00.000");
        assert_eq!(
            a,
            webhook_id(&s, OrderId::new(7), "2026-01-01T00:00:00.000")
        );
        assert_ne!(
            a,
            webhook_id(&s, OrderId::new(7), "2026-01-01T00:00:01.000")
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
