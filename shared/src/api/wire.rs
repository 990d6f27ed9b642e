//! The HTTP API's JSON answers, as types (API.md documents each). Fields are declared in
//! alphabetical order of their JSON names: the answers were first written as `json!` maps,
//! which sort their keys, and the bytes on the wire stay exactly what they were.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::connect::{LinkOutcome, StoreChoice};
use crate::disconnect::Disconnected;
use crate::domain::{
    CustomerId, OrderId, StoreId, StoreUrl, TenantCode, TenantEvent, Topic, TriggerStatus,
};
use crate::model::{BackfillRun, Link, OrderSync, Tenant};
use crate::status::StoreStatus;

/// A time as the API writes it: RFC 3339 in UTC, to the second (`2026-11-29T10:00:00Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time(pub DateTime<Utc>);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

pub fn time(t: Option<DateTime<Utc>>) -> Option<Time> {
    t.map(Time)
}

/// `POST /v1/connect/resolve`.
#[derive(Serialize, ToSchema)]
pub struct Resolved<'a> {
    pub tenant: TenantName<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantName<'a> {
    pub code: &'a TenantCode,
    pub name: &'a str,
}

impl<'a> From<&'a Tenant> for Resolved<'a> {
    fn from(t: &'a Tenant) -> Self {
        Self {
            tenant: TenantName {
                code: &t.code,
                name: &t.name,
            },
        }
    }
}

/// `POST /v1/connect/login`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoggedIn<'a> {
    pub expires_at: Time,
    pub token: &'a str,
}

/// `GET /v1/connect/stores`.
#[derive(Serialize, ToSchema)]
pub struct StoreList<'a> {
    pub stores: Vec<StoreRow<'a>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreRow<'a> {
    pub customer_id: &'a CustomerId,
    pub id: &'a StoreId,
    pub linked: bool,
    pub name: &'a str,
}

impl<'a> From<&'a [StoreChoice]> for StoreList<'a> {
    fn from(choices: &'a [StoreChoice]) -> Self {
        Self {
            stores: choices
                .iter()
                .map(|c| StoreRow {
                    customer_id: &c.store.customer_id,
                    id: &c.store.id,
                    linked: c.linked,
                    name: &c.store.name,
                })
                .collect(),
        }
    }
}

/// `POST /v1/connect/link` (201).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Linked<'a> {
    pub api_key: &'a str,
    /// The backfill the link body asked for: started, counted, or why it did not start
    /// (the link stands either way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<LinkBackfill<'a>>,
    pub link: LinkView<'a>,
    pub webhook: WebhookView<'a>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkView<'a> {
    pub customer_id: &'a CustomerId,
    pub status: &'static str,
    pub store_id: &'a StoreId,
    pub store_url: &'a StoreUrl,
    pub trigger_statuses: &'a [TriggerStatus],
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView<'a> {
    pub delivery_url: &'a str,
    pub secret: &'a str,
    pub topics: &'a [Topic],
}

/// What became of the backfill a link asked for.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LinkBackfill<'a> {
    Started(BackfillView<'a>),
    Counted(BackfillCount),
    NotStarted(BackfillRefused<'a>),
}

/// A backfill that did not start: `state` is `failed`, `error` says why.
#[derive(Serialize, ToSchema)]
pub struct BackfillRefused<'a> {
    pub error: &'a str,
    pub state: &'static str,
}

impl<'a> From<&'a LinkOutcome> for Linked<'a> {
    fn from(out: &'a LinkOutcome) -> Self {
        let l = &out.link;
        Self {
            api_key: out.api_key.expose(),
            backfill: None,
            link: LinkView {
                customer_id: &l.customer_id,
                status: l.status.as_str(),
                store_id: &l.store_id,
                store_url: &l.store_url,
                trigger_statuses: &l.trigger_statuses,
            },
            webhook: WebhookView {
                delivery_url: &out.delivery_url,
                secret: out.webhook_secret.expose(),
                topics: &out.topics,
            },
        }
    }
}

/// `GET /v1/stores/{storeId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreState<'a> {
    pub backfill: Option<BackfillView<'a>>,
    pub catalogue: Option<CatalogueView<'a>>,
    pub customer_id: &'a CustomerId,
    pub disconnected_at: Option<Time>,
    pub health: Health<'a>,
    pub keys: &'static str,
    pub lag: Option<LagView>,
    pub last_order_at: Option<Time>,
    pub last_sync_at: Option<Time>,
    pub last_webhook_at: Option<Time>,
    pub linked_at: Time,
    pub orders: OrderCounts,
    pub paused_at: Option<Time>,
    pub reconciliation: ReconciliationView<'a>,
    pub status: &'static str,
    pub store_id: &'a StoreId,
    pub store_url: &'a StoreUrl,
    pub trigger_statuses: Vec<&'a str>,
    pub webhooks: Option<WebhooksView>,
}

/// A SKU on more than one item, with the items' ids.
#[derive(Serialize, ToSchema)]
pub struct DuplicateSku<'a> {
    pub ids: &'a [u64],
    pub sku: &'a str,
}

/// `(sku, ids)` pairs as the API writes them.
pub fn duplicates(pairs: &[(String, Vec<u64>)]) -> Vec<DuplicateSku<'_>> {
    pairs
        .iter()
        .map(|(sku, ids)| DuplicateSku { ids, sku })
        .collect()
}

/// The last catalogue import and the SKU problems it found (`GET /v1/stores/{id}`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueView<'a> {
    pub duplicate_skus: Vec<DuplicateSku<'a>>,
    pub empty_skus: &'a [u64],
    pub finished_at: Option<Time>,
    pub items: u64,
    pub run_id: &'a str,
    pub state: &'a str,
}

impl<'a> From<&'a crate::model::CatalogueRun> for CatalogueView<'a> {
    fn from(r: &'a crate::model::CatalogueRun) -> Self {
        Self {
            duplicate_skus: duplicates(&r.duplicate_skus),
            empty_skus: &r.empty_skus,
            finished_at: time(r.finished_at),
            items: r.items,
            run_id: &r.run_id,
            state: &r.state,
        }
    }
}

/// A backfill run as the API shows it (`GET /v1/stores/{id}`, `POST …/backfill`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillView<'a> {
    pub error: Option<&'a str>,
    pub finished_at: Option<Time>,
    pub matched: u64,
    pub queued: u64,
    pub run_id: &'a str,
    pub started_at: Time,
    pub state: &'static str,
    pub statuses: &'a [String],
}

impl<'a> From<&'a BackfillRun> for BackfillView<'a> {
    fn from(r: &'a BackfillRun) -> Self {
        Self {
            error: r.error.as_deref(),
            finished_at: time(r.finished_at),
            matched: r.matched,
            queued: r.queued,
            run_id: &r.run_id,
            started_at: Time(r.started_at),
            state: r.state.as_str(),
            statuses: &r.statuses,
        }
    }
}

/// `POST /v1/stores/{id}/backfill`: a run started.
#[derive(Serialize, ToSchema)]
pub struct BackfillStarted<'a> {
    pub backfill: BackfillView<'a>,
}

/// `POST /v1/stores/{id}/backfill` with `dryRun`.
#[derive(Serialize, ToSchema)]
pub struct BackfillCount {
    pub matching: u64,
}

/// The overall verdict: `healthy`, `degraded` or `attention_needed`, every reason (worst
/// first), and the first reason's sentence alone (what clients before the reasons read).
#[derive(Serialize, ToSchema)]
pub struct Health<'a> {
    pub reason: Option<&'a str>,
    pub reasons: Vec<Reason<'a>>,
    pub state: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Reason<'a> {
    pub code: &'static str,
    pub message: &'a str,
}

/// Delivery lag over the last hour: webhook received → tenant accepted, as the upper bounds
/// of the histogram bins the 50th and 99th percentiles fall in (`null`: above 6 hours).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LagView {
    pub deliveries: u64,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub window: &'static str,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationView<'a> {
    pub last_error: Option<&'a str>,
    pub last_queued: u64,
    pub last_run_at: Option<Time>,
    #[serde(rename = "recovered24h")]
    pub recovered_24h: u64,
    pub watermark: Option<&'a str>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhooksView {
    pub checked_at: Option<Time>,
    pub repairs: u64,
    pub state: &'static str,
}

/// Orders by where they stand now (`received`: every order ever recorded). `deadLetters`:
/// the failed ones, whose messages wait in the dead-letter queue.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCounts {
    pub dead_letters: i64,
    pub failed: i64,
    pub queued: i64,
    pub received: i64,
    pub skipped: i64,
    pub synced: i64,
}

impl<'a> From<&'a StoreStatus> for StoreState<'a> {
    fn from(s: &'a StoreStatus) -> Self {
        let l = &s.link;
        let r = s.reconciliation.as_ref();
        let t = &s.tally;
        Self {
            backfill: s.backfill.as_ref().map(BackfillView::from),
            catalogue: s.catalogue.as_ref().map(CatalogueView::from),
            customer_id: &l.customer_id,
            disconnected_at: time(l.disconnected_at),
            health: Health {
                reason: s.reasons.first().map(|r| r.1.as_str()),
                reasons: s
                    .reasons
                    .iter()
                    .map(|(code, message)| Reason { code, message })
                    .collect(),
                state: s.health.as_str(),
            },
            keys: match (&l.woo_keys, r.and_then(|r| r.attention.as_deref())) {
                (None, _) => "none",
                (Some(_), Some(_)) => "refused",
                (Some(_), None) => "valid",
            },
            lag: s.lag_1h.as_ref().map(|lag| LagView {
                deliveries: lag.deliveries,
                p50_ms: lag.p50_ms,
                p99_ms: lag.p99_ms,
                window: "1h",
            }),
            last_order_at: time(t.last_order_at),
            last_sync_at: time(t.last_synced_at),
            last_webhook_at: time(t.last_webhook_at),
            linked_at: Time(l.linked_at),
            orders: OrderCounts {
                dead_letters: t.failed,
                failed: t.failed,
                queued: t.queued,
                received: t.received,
                skipped: t.skipped,
                synced: t.synced,
            },
            paused_at: time(l.paused_at),
            reconciliation: ReconciliationView {
                last_error: r.and_then(|r| r.last_error.as_deref()),
                last_queued: r.map_or(0, |r| r.last_queued),
                last_run_at: time(r.and_then(|r| r.last_run_at)),
                recovered_24h: s.recovered_24h,
                watermark: r.and_then(|r| r.watermark.as_deref()),
            },
            status: l.status.as_str(),
            store_id: &l.store_id,
            store_url: &l.store_url,
            trigger_statuses: l.trigger_statuses.iter().map(|t| t.as_str()).collect(),
            webhooks: r.and_then(|r| {
                r.webhooks.map(|w| WebhooksView {
                    checked_at: time(r.webhooks_checked_at),
                    repairs: r.repairs,
                    state: w.as_str(),
                })
            }),
        }
    }
}

/// `GET /v1/stores/{storeId}/orders/{orderId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderState<'a> {
    pub attempts: u32,
    pub event: Option<TenantEvent>,
    pub last_error: Option<&'a str>,
    pub order_id: OrderId,
    pub state: &'static str,
    pub synced_at: Option<Time>,
    /// Only for the tenant (a login of the owning tenant), never for the link's API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_answer: Option<&'a str>,
    pub version: &'a str,
    pub webhook_id: Option<&'a str>,
    pub woo_status: &'a str,
}

impl<'a> OrderState<'a> {
    /// The order as its tenant sees it: with the tenant's own answer to the last delivery.
    pub fn for_tenant(o: &'a OrderSync) -> Self {
        Self {
            tenant_answer: o.tenant_answer.as_deref(),
            ..Self::from(o)
        }
    }
}

impl<'a> From<&'a OrderSync> for OrderState<'a> {
    /// The order as the merchant's site (the link's API key) sees it.
    fn from(o: &'a OrderSync) -> Self {
        Self {
            attempts: o.attempts,
            event: o.event,
            last_error: o.last_error.as_deref(),
            order_id: o.order_id,
            state: o.state.as_str(),
            synced_at: time(o.synced_at),
            tenant_answer: None,
            version: o.version.as_str(),
            webhook_id: o.webhook_id.as_deref(),
            woo_status: &o.woo_status,
        }
    }
}

/// A store in `GET /v1/tenant/stores`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreEntry<'a> {
    pub customer_id: &'a str,
    pub linked_at: Option<Time>,
    pub name: &'a str,
    pub status: &'static str,
    pub store_id: &'a str,
    pub store_url: Option<&'a str>,
}

/// `GET /v1/tenant/stores`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStores<'a> {
    pub next_cursor: Option<String>,
    pub stores: Vec<StoreEntry<'a>>,
}

/// An order in the tenant's lists: its state as the tenant sees it, and when it last changed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEntry<'a> {
    #[serde(flatten)]
    pub state: OrderState<'a>,
    pub updated_at: Time,
}

impl<'a> From<&'a OrderSync> for OrderEntry<'a> {
    fn from(o: &'a OrderSync) -> Self {
        Self {
            state: OrderState::for_tenant(o),
            updated_at: Time(o.updated_at),
        }
    }
}

/// `GET /v1/tenant/stores/{storeId}/orders`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderList<'a> {
    pub next_cursor: Option<String>,
    pub orders: Vec<OrderEntry<'a>>,
}

/// One order in full: the list's fields, when woolink first saw it, how the latest version
/// came, and when its record expires.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDetail<'a> {
    #[serde(flatten)]
    pub entry: OrderEntry<'a>,
    pub created_at: Time,
    pub expires_at: Option<Time>,
    pub source: &'static str,
}

/// A step of a shipment of the order, in its history.
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShipmentStep<'a> {
    #[serde(rename_all = "camelCase")]
    ShipmentRequested {
        shipment_id: &'a str,
        tracking_number: &'a str,
    },
    #[serde(rename_all = "camelCase")]
    ShipmentWritten {
        error: Option<&'a str>,
        method: Option<&'a str>,
        shipment_id: &'a str,
    },
    #[serde(rename_all = "camelCase")]
    ShipmentFailed {
        error: Option<&'a str>,
        method: Option<&'a str>,
        shipment_id: &'a str,
    },
}

/// What one history step is: the order's own, or one of its shipments'.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Happened<'a> {
    Order(&'a crate::timeline::Step),
    Shipment(ShipmentStep<'a>),
}

/// A step of the order's history, at the millisecond.
#[derive(Serialize, ToSchema)]
pub struct HistoryStep<'a> {
    pub at: String,
    #[serde(flatten)]
    pub step: Happened<'a>,
}

/// `GET /v1/tenant/stores/{storeId}/orders/{orderId}` (and `woolink order show`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView<'a> {
    pub order: OrderDetail<'a>,
    pub shipments: Vec<crate::shipments::ShipmentDocument<'a>>,
    pub timeline: Vec<HistoryStep<'a>>,
    pub timeline_dropped: u32,
}

/// A store's settings the tenant changes itself.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings<'a> {
    pub paused: bool,
    pub paused_at: Option<Time>,
    pub trigger_statuses: Vec<&'a str>,
}

/// `PATCH /v1/tenant/stores/{storeId}/settings`.
#[derive(Serialize, ToSchema)]
pub struct SettingsView<'a> {
    pub settings: Settings<'a>,
}

impl<'a> From<&'a Link> for SettingsView<'a> {
    fn from(l: &'a Link) -> Self {
        Self {
            settings: Settings {
                paused: l.paused_at.is_some(),
                paused_at: time(l.paused_at),
                trigger_statuses: l.trigger_statuses.iter().map(|t| t.as_str()).collect(),
            },
        }
    }
}

/// `POST …/orders/{orderId}/resend`.
#[derive(Serialize, ToSchema)]
pub struct ResendQueued<'a> {
    pub order: OrderEntry<'a>,
    pub resend: &'static str,
}

/// `POST …/orders/retry-failed`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryQueued {
    pub next_cursor: Option<String>,
    pub queued: usize,
}

/// `GET /v1/tenant/audit`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditList<'a> {
    pub entries: &'a [crate::model::AuditEntry],
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointUrl<'a> {
    pub url: &'a str,
}

/// `PUT /v1/tenant/fulfilment`.
#[derive(Serialize, ToSchema)]
pub struct EndpointMoved<'a> {
    pub fulfilment: EndpointUrl<'a>,
    pub result: &'static str,
}

/// A catalogue import run in full (`POST …/catalogue/import`, `GET …/catalogue`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportRun<'a> {
    pub duplicate_skus: Vec<DuplicateSku<'a>>,
    /// Items without a SKU (ids, the first 100).
    pub empty_skus: &'a [u64],
    pub error: Option<&'a str>,
    pub finished_at: Option<Time>,
    /// Sellable items seen.
    pub items: u64,
    pub run_id: &'a str,
    /// Items sent to the tenant (new or changed).
    pub sent: u64,
    /// Items that are not sellable.
    pub skipped: u64,
    pub started_at: Time,
    #[schema(schema_with = run_states)]
    pub state: &'a str,
    /// The store's weight and dimension units.
    pub units: Option<&'a crate::catalogue::Units>,
}

fn run_states() -> utoipa::openapi::schema::ObjectBuilder {
    super::openapi::words("Where the run stands.", &["running", "done", "failed"])
}

impl<'a> From<&'a crate::model::CatalogueRun> for ImportRun<'a> {
    fn from(run: &'a crate::model::CatalogueRun) -> Self {
        Self {
            duplicate_skus: duplicates(&run.duplicate_skus),
            empty_skus: &run.empty_skus,
            error: run.error.as_deref(),
            finished_at: time(run.finished_at),
            items: run.items,
            run_id: &run.run_id,
            sent: run.sent,
            skipped: run.skipped,
            started_at: Time(run.started_at),
            state: &run.state,
            units: run.units.as_ref(),
        }
    }
}

/// `POST /v1/tenant/stores/{storeId}/catalogue/import` (202).
#[derive(Serialize, ToSchema)]
pub struct ImportStarted<'a> {
    pub import: ImportRun<'a>,
}

/// `GET /v1/tenant/stores/{storeId}/catalogue`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueState<'a> {
    pub duplicate_skus: Vec<DuplicateSku<'a>>,
    pub empty_skus: &'a [u64],
    pub import: Option<ImportRun<'a>>,
    /// The store's sellable items woolink knows.
    pub items: usize,
}

/// An inventory push (`PUT …/inventory`, `GET …/inventory/jobs/{jobId}`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryJobView<'a> {
    /// SKUs by result so far (`updated`, `unchanged`, `drifted`, `stale`, `unknown_sku`,
    /// `not_managed`, `duplicate_sku`, `failed`).
    pub counts: &'a std::collections::BTreeMap<String, u32>,
    pub created_at: Time,
    pub error: Option<&'a str>,
    pub finished_at: Option<Time>,
    pub id: &'a str,
    pub net_of_open_orders: bool,
    /// SKUs applied so far.
    pub processed: u32,
    pub snapshot_at: Time,
    #[schema(schema_with = run_states)]
    pub state: &'a str,
    pub total: u32,
}

impl<'a> From<&'a crate::model::InventoryJob> for InventoryJobView<'a> {
    fn from(job: &'a crate::model::InventoryJob) -> Self {
        Self {
            counts: &job.counts,
            created_at: Time(job.created_at),
            error: job.error.as_deref(),
            finished_at: time(job.finished_at),
            id: &job.job_id,
            net_of_open_orders: job.net_of_open_orders,
            processed: job
                .next_chunk
                .saturating_mul(crate::catalogue::CHUNK as u32)
                .min(job.total),
            snapshot_at: Time(job.snapshot_at),
            state: &job.state,
            total: job.total,
        }
    }
}

/// `PUT /v1/tenant/stores/{storeId}/inventory` (202).
#[derive(Serialize, ToSchema)]
pub struct JobAccepted<'a> {
    pub job: InventoryJobView<'a>,
}

/// `GET /v1/tenant/stores/{storeId}/inventory/jobs/{jobId}`: the job and a page of results.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobResults<'a> {
    pub job: InventoryJobView<'a>,
    pub next_cursor: Option<String>,
    pub results: &'a [crate::model::InventoryResult],
}

/// `GET`/`POST …/shipments`: one shipment.
#[derive(Serialize, ToSchema)]
pub struct ShipmentAnswer<'a> {
    pub shipment: crate::shipments::ShipmentDocument<'a>,
}

/// `GET …/shipments`: the order's shipments.
#[derive(Serialize, ToSchema)]
pub struct ShipmentList<'a> {
    pub shipments: Vec<crate::shipments::ShipmentDocument<'a>>,
}

/// `POST /v1/connect/disconnect` and `DELETE /v1/connect/links/{storeId}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unlinked<'a> {
    pub cleanup: CleanupView<'a>,
    pub disconnected_at: Option<Time>,
    pub status: &'static str,
    pub store_id: &'a StoreId,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupView<'a> {
    pub orders_expire_at: Option<Time>,
    pub orders_purged: Option<usize>,
    pub webhooks_deleted: &'a [u64],
    pub webhooks_not_deleted: &'a [u64],
    pub woo_commerce_keys_erased: bool,
}

impl<'a> From<&'a Disconnected> for Unlinked<'a> {
    fn from(d: &'a Disconnected) -> Self {
        let c = &d.cleanup;
        Self {
            cleanup: CleanupView {
                orders_expire_at: time(c.orders_expire_at),
                orders_purged: c.orders_purged,
                webhooks_deleted: &c.webhooks_deleted,
                webhooks_not_deleted: &c.webhooks_not_deleted,
                woo_commerce_keys_erased: c.woo_keys_erased,
            },
            disconnected_at: time(d.link.disconnected_at),
            status: "disconnected",
            store_id: &d.link.store_id,
        }
    }
}

/// A webhook delivery's answer: `ok` (a ping), `queued` or `ignored`.
#[derive(Serialize, ToSchema)]
pub struct Acknowledged {
    pub status: &'static str,
}

/// The error body (`crate::api::error` picks the status).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorView<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorView<'a> {
    pub code: &'a str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<&'a serde_json::Value>,
}

#[cfg(test)]
mod tests {
    //! Each answer's bytes against the `json!` map it replaced (keys sorted, the same values).
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::crypto::SecretString;
    use crate::disconnect::Cleanup;
    use crate::domain::DeviceId;
    use crate::model::{Link, LinkStatus, SyncState};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_400_000 + secs, 0).unwrap()
    }

    fn link(disconnected: Option<DateTime<Utc>>) -> Link {
        Link {
            store_id: StoreId::parse("st_1").unwrap(),
            tenant: TenantCode::parse("ACME").unwrap(),
            customer_id: CustomerId::parse("cus_1").unwrap(),
            store_url: StoreUrl::parse("https://shop.example.com").unwrap(),
            device_id: DeviceId::parse(&"ab".repeat(32)).unwrap(),
            status: LinkStatus::Connected,
            trigger_statuses: TriggerStatus::parse_list(None).unwrap(),
            webhook_secret: None,
            previous_webhook_secret: None,
            previous_secret_until: None,
            api_key_hash: None,
            revoked_api_key_hash: None,
            woo_keys: None,
            webhook_ids: vec![7, 8],
            linked_at: at(0),
            updated_at: at(1),
            disconnected_at: disconnected,
            paused_at: None,
            revision: 3,
        }
    }

    fn same_bytes(typed: impl Serialize, map: serde_json::Value) {
        assert_eq!(
            serde_json::to_string(&typed).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
    }

    #[test]
    fn store_state_is_the_map_it_replaced() {
        for (disconnected, last_sync) in [(None, None), (Some(at(9)), Some(at(5)))] {
            let status = StoreStatus {
                link: link(disconnected),
                tally: crate::health::StoreTally {
                    received: 4,
                    skipped: 0,
                    queued: 0,
                    synced: 3,
                    failed: 1,
                    last_webhook_at: None,
                    last_order_at: None,
                    last_synced_at: last_sync,
                },
                lag_1h: None,
                recovered_24h: 2,
                backfill: None,
                reconciliation: None,
                catalogue: None,
                health: crate::health::Overall::AttentionNeeded,
                reasons: vec![("failed_orders", "1 order(s) failed".to_owned())],
            };
            let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
            let l = &status.link;
            same_bytes(
                StoreState::from(&status),
                json!({
                    "storeId": l.store_id,
                    "status": l.status.as_str(),
                    "storeUrl": l.store_url,
                    "customerId": l.customer_id,
                    "linkedAt": ts(l.linked_at),
                    "disconnectedAt": l.disconnected_at.map(ts),
                    "orders": {"received": 4, "skipped": 0, "queued": 0, "synced": 3, "failed": 1, "deadLetters": 1},
                    "lastOrderAt": null,
                    "pausedAt": null,
                    "triggerStatuses": l.trigger_statuses.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                    "keys": "none",
                    "lag": null,
                    "lastSyncAt": last_sync.map(ts),
                    "backfill": null,
                    "catalogue": null,
                    "health": {"state": "attention_needed", "reason": "1 order(s) failed",
                        "reasons": [{"code": "failed_orders", "message": "1 order(s) failed"}]},
                    "lastWebhookAt": null,
                    "reconciliation": {"lastRunAt": null, "watermark": null,
                        "recovered24h": 2, "lastQueued": 0, "lastError": null},
                    "webhooks": null,
                }),
            );
        }
    }

    #[test]
    fn order_state_is_the_map_it_replaced() {
        let mut o = OrderSync::first(
            StoreId::parse("st_1").unwrap(),
            OrderId::parse("42").unwrap(),
            at(0),
        );
        same_bytes(
            OrderState::from(&o),
            json!({"orderId": 42, "state": "skipped", "wooStatus": "", "version": "",
                "event": null, "webhookId": null, "syncedAt": null, "attempts": 0,
                "lastError": null}),
        );
        o.state = SyncState::Failed;
        o.woo_status = "processing".into();
        o.version = "2026-11-29T10:00:00.000".into();
        o.event = Some(TenantEvent::Created);
        o.webhook_id = Some("msg_1".into());
        o.synced_at = Some(at(3));
        o.attempts = 2;
        o.last_error = Some("tenant answered 500".into());
        same_bytes(
            OrderState::from(&o),
            json!({"orderId": 42, "state": "failed", "wooStatus": "processing",
                "version": "2026-11-29T10:00:00.000", "event": "order.created",
                "webhookId": "msg_1", "syncedAt": "2025-11-29T07:06:43Z", "attempts": 2,
                "lastError": "tenant answered 500"}),
        );
    }

    #[test]
    fn link_and_unlink_answers_are_the_maps_they_replaced() {
        let out = LinkOutcome {
            link: link(None),
            delivery_url: "https://api.example.com/v1/webhooks/woocommerce/st_1".into(),
            webhook_secret: SecretString::new("s3cret".into()),
            api_key: SecretString::new("wlk_x".into()),
            topics: Topic::for_link(false),
        };
        let l = &out.link;
        same_bytes(
            Linked::from(&out),
            json!({
                "link": {
                    "storeId": l.store_id,
                    "customerId": l.customer_id,
                    "storeUrl": l.store_url,
                    "status": "connected",
                    "triggerStatuses": l.trigger_statuses,
                },
                "webhook": {"deliveryUrl": out.delivery_url, "secret": "s3cret",
                    "topics": out.topics},
                "apiKey": "wlk_x",
            }),
        );
        let gone = Disconnected {
            link: link(Some(at(60))),
            cleanup: Cleanup {
                webhooks_deleted: vec![7],
                webhooks_not_deleted: vec![8],
                woo_keys_erased: true,
                orders_expire_at: Some(at(120)),
                orders_purged: None,
            },
        };
        same_bytes(
            Unlinked::from(&gone),
            json!({
                "status": "disconnected",
                "storeId": "st_1",
                "disconnectedAt": "2025-11-29T07:07:40Z",
                "cleanup": {
                    "webhooksDeleted": [7],
                    "webhooksNotDeleted": [8],
                    "wooCommerceKeysErased": true,
                    "ordersExpireAt": "2025-11-29T07:08:40Z",
                    "ordersPurged": null,
                },
            }),
        );
    }

    #[test]
    fn small_answers_are_the_maps_they_replaced() {
        same_bytes(
            LoggedIn {
                expires_at: Time(at(0)),
                token: "wls_t",
            },
            json!({"token": "wls_t", "expiresAt": "2025-11-29T07:06:40Z"}),
        );
        same_bytes(
            ErrorBody {
                error: ErrorView {
                    code: "store_not_found",
                    message: "no such store",
                    details: None,
                },
            },
            json!({"error": {"code": "store_not_found", "message": "no such store"}}),
        );
        same_bytes(
            Acknowledged { status: "queued" },
            json!({"status": "queued"}),
        );
    }
}
