//! What woolink stores: tenants, their users, their merchants' stores, store links and sessions.
//! Storage-agnostic; `crate::store::dynamo` owns how each is laid out in DynamoDB.

use chrono::{DateTime, Utc};

use crate::crypto::{CredentialHash, Sealed};
use crate::domain::{CustomerId, DeviceId, Email, StoreId, StoreUrl, TenantCode, TriggerStatus};

/// A logistics company running woolink.
#[derive(Clone, Debug, PartialEq)]
pub struct Tenant {
    pub code: TenantCode,
    pub name: String,
    pub active: bool,
    pub fulfilment: Option<Fulfilment>,
    /// What its order documents look like.
    pub document: DocumentSettings,
}

/// Which order document a tenant receives (`crate::order`): v1, the first one, or v2 with
/// everything a courier needs. Tenants created before v2 keep v1 until switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentVersion {
    V1,
    V2,
}

impl DocumentVersion {
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }
}

/// A tenant's order document settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSettings {
    pub version: DocumentVersion,
    /// Payment method ids that mean cash on delivery, besides WooCommerce's own `cod`.
    pub cod_methods: Vec<String>,
    /// Order meta keys passed through to the tenant (`meta`); nothing else is.
    pub order_meta_keys: Vec<String>,
}

impl DocumentSettings {
    /// What a tenant created now gets.
    pub fn current() -> Self {
        Self {
            version: DocumentVersion::V2,
            cod_methods: Vec::new(),
            order_meta_keys: Vec::new(),
        }
    }

    /// What a tenant stored before document settings existed has.
    pub fn legacy() -> Self {
        Self {
            version: DocumentVersion::V1,
            ..Self::current()
        }
    }
}

/// Where and how a tenant receives orders: Standard Webhooks with a `whsec_` secret (sealed).
#[derive(Clone, Debug, PartialEq)]
pub struct Fulfilment {
    pub url: String,
    pub secret: Sealed,
}

/// A person at the tenant who may link stores.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub tenant: TenantCode,
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Failed-login bookkeeping per (tenant, email), kept whether or not the account exists so the
/// lockout cannot be used to discover accounts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoginAttempts {
    pub consecutive_failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// A merchant store known to a tenant (created by the tenant's admin, linked by the merchant).
#[derive(Clone, Debug, PartialEq)]
pub struct Store {
    pub id: StoreId,
    pub tenant: TenantCode,
    pub name: String,
    pub customer_id: CustomerId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    Connected,
    Disconnected,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "connected" => Some(Self::Connected),
            "disconnected" => Some(Self::Disconnected),
            _ => None,
        }
    }
}

/// WooCommerce REST keys the merchant handed over, sealed.
#[derive(Clone, Debug, PartialEq)]
pub struct WooKeys {
    pub consumer_key: Sealed,
    pub consumer_secret: Sealed,
}

/// A store's connection to woolink from one WooCommerce site.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub store_id: StoreId,
    pub tenant: TenantCode,
    pub customer_id: CustomerId,
    pub store_url: StoreUrl,
    pub device_id: DeviceId,
    pub status: LinkStatus,
    pub trigger_statuses: Vec<TriggerStatus>,
    /// Current webhook secret (sealed); absent once revoked.
    pub webhook_secret: Option<Sealed>,
    /// The secret before the last rotation, accepted until `previous_secret_until`.
    pub previous_webhook_secret: Option<Sealed>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// SHA-256 of the link's API key; absent once revoked.
    pub api_key_hash: Option<CredentialHash>,
    /// The key revoked by a disconnect: it can only repeat the disconnect (which answers the
    /// same 200), nothing else.
    pub revoked_api_key_hash: Option<CredentialHash>,
    pub woo_keys: Option<WooKeys>,
    /// Ids of the webhooks woolink registered on the store.
    pub webhook_ids: Vec<u64>,
    pub linked_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub disconnected_at: Option<DateTime<Utc>>,
    /// Set while the tenant has paused deliveries of this store: orders are still received and
    /// held (in the queue), and delivered once it resumes.
    pub paused_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency counter: every save must name the revision it read.
    pub revision: u64,
}

impl Link {
    pub fn is_connected(&self) -> bool {
        self.status == LinkStatus::Connected
    }

    /// Every key hash the API-key index must map to this link.
    pub fn indexed_keys(&self) -> Vec<&CredentialHash> {
        self.api_key_hash
            .iter()
            .chain(self.revoked_api_key_hash.iter())
            .collect()
    }
}

/// A login session: the token's hash, who it belongs to, and when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub token_hash: CredentialHash,
    pub tenant: TenantCode,
    pub email: Email,
    pub device_id: DeviceId,
    pub expires_at: DateTime<Utc>,
}

/// One control a tenant used (`crate::controls`): who (the tenant API key's id), what, on
/// which store, and the values before and after.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Time-ordered and unique: `{at, ms}#{random}`.
    pub id: String,
    pub tenant: TenantCode,
    pub at: DateTime<Utc>,
    /// The tenant API key's id (`tk_…`).
    pub by: String,
    pub action: String,
    pub store_id: Option<StoreId>,
    pub order_id: Option<u64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Where an order stands with the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    /// Seen, but never in one of the link's trigger statuses: not the tenant's business yet.
    Skipped,
    /// A delivery to the tenant is under way (or waiting for a retry).
    Queued,
    /// The tenant accepted the latest delivery.
    Synced,
    /// The tenant refused it, or retries ran out; `last_error` says why.
    Failed,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skipped => "skipped",
            Self::Queued => "queued",
            Self::Synced => "synced",
            Self::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "skipped" => Some(Self::Skipped),
            "queued" => Some(Self::Queued),
            "synced" => Some(Self::Synced),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Sync state of one order of one store. Every change is a conditional write on `revision`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderSync {
    pub store_id: StoreId,
    pub order_id: crate::domain::OrderId,
    pub state: SyncState,
    /// WooCommerce status of the latest version seen.
    pub woo_status: String,
    /// The latest version seen.
    pub version: crate::domain::OrderVersion,
    /// When woolink received that version's body (orders different bodies with the same
    /// `date_modified_gmt`; see `crate::decide`).
    pub received_at: Option<String>,
    /// SHA-256 of that body: the same body again is a replay, another one never is.
    pub content_hash: Option<String>,
    /// The newest version waiting for the delivery in flight (`VersionKey::encode`): an older
    /// one waiting too is obsolete and is dropped instead of delivered.
    pub waiting: Option<String>,
    /// SHA-256 of the last body without a timestamp applied (an `order.deleted` body, the same
    /// bytes every time): the same body again, when the store cannot be asked, is a replay.
    pub replay_guard: Option<String>,
    /// Whether the order has entered scope (was seen in a trigger status).
    pub in_scope: bool,
    /// Event type and id of the latest delivery (pending or done).
    pub event: Option<crate::domain::TenantEvent>,
    pub webhook_id: Option<String>,
    /// The queue message delivering it while `queued`: when that same message comes back
    /// (its earlier receive died or timed out), it takes over at once instead of waiting.
    pub claimed_by: Option<String>,
    /// The latest attempt's outcome is unknown: the request may have reached the tenant, whose
    /// answer never came (a timeout, a connection lost after sending, a call the main lane cut
    /// short). Until an attempt carrying the same body (the same `webhook-id`) gets an answer,
    /// no other version is planned on what the tenant has (`crate::decide::held`).
    pub unsettled: bool,
    /// Shipping hash of the latest document, and of the one the tenant last accepted.
    pub doc_hash: Option<String>,
    pub delivered_hash: Option<String>,
    pub attempts: u32,
    /// Why the last delivery failed, as the merchant may see it (a status and a class); unset
    /// while the next attempt is in flight (`OrderSync::claim`).
    pub last_error: Option<String>,
    /// The start (1 KB) of the tenant's refusal: shown to the tenant, never to the merchant.
    pub tenant_answer: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub synced_at: Option<DateTime<Utc>>,
    /// Set once the store is disconnected: the record is erased after this (TTL).
    pub expires_at: Option<DateTime<Utc>>,
    /// How the latest version reached woolink (webhook, backfill, poll).
    pub source: crate::envelope::Source,
    /// When the reconciliation poll found a version the tenant had to hear of before its
    /// webhook came (an order the webhooks alone would have lost).
    pub recovered_at: Option<DateTime<Utc>>,
    /// The order's history (`crate::timeline`), oldest first.
    pub timeline: Vec<crate::timeline::Entry>,
    /// How many entries the history left out for length.
    pub timeline_dropped: u32,
    /// What the store's counters count this order as (`None`: not counted yet). Stored with
    /// the record; each write moves the counters from it to what the record's new state counts
    /// as (`crate::health::counted_as`) and stores that.
    pub counted: Option<SyncState>,
    /// Since when it has been listed as what it counts as (`crate::health::listing`; the
    /// time in its `orderState` index entry). Set by the stores on each write.
    pub listed_at: Option<DateTime<Utc>>,
    pub revision: u64,
}

impl OrderSync {
    /// Adds a step to the order's history (`crate::timeline`), kept within `retention`.
    pub fn note(
        &mut self,
        at: DateTime<Utc>,
        step: crate::timeline::Step,
        retention: chrono::Duration,
    ) {
        self.timeline_dropped += crate::timeline::append(&mut self.timeline, at, step, retention);
    }

    /// Claims the record for an attempt by `message`: queued, held by it, and no error until
    /// this attempt's outcome, so that a retry in flight holds the order as a first attempt
    /// does (`crate::decide::held`; the history keeps the earlier attempts' errors).
    pub fn claim(&mut self, message: &str) {
        self.state = SyncState::Queued;
        self.claimed_by = Some(message.to_owned());
        self.last_error = None;
        self.tenant_answer = None;
    }

    /// The record of an order seen for the first time: out of scope, nothing told, revision 1.
    pub fn first(store_id: StoreId, order_id: crate::domain::OrderId, now: DateTime<Utc>) -> Self {
        Self {
            store_id,
            order_id,
            state: SyncState::Skipped,
            woo_status: String::new(),
            version: crate::domain::OrderVersion::default(),
            received_at: None,
            content_hash: None,
            waiting: None,
            replay_guard: None,
            in_scope: false,
            event: None,
            webhook_id: None,
            claimed_by: None,
            unsettled: false,
            doc_hash: None,
            delivered_hash: None,
            attempts: 0,
            last_error: None,
            tenant_answer: None,
            created_at: now,
            updated_at: now,
            synced_at: None,
            expires_at: None,
            source: crate::envelope::Source::Webhook,
            recovered_at: None,
            timeline: Vec::new(),
            timeline_dropped: 0,
            counted: None,
            listed_at: None,
            revision: 1,
        }
    }
}

/// Where a backfill run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackfillState {
    Running,
    Done,
    Failed,
}

impl BackfillState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A store's backfill: which orders, how far it got (its cursor: the next page, the last
/// order id queued, and the total that page numbering was read with), one per store.
#[derive(Clone, Debug, PartialEq)]
pub struct BackfillRun {
    pub store_id: StoreId,
    pub run_id: String,
    pub state: BackfillState,
    /// WooCommerce statuses asked for (the link's trigger statuses unless given).
    pub statuses: Vec<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    /// What the store counted as matching (`X-WP-Total`) when the last page was read.
    pub matched: u64,
    /// Orders sent to the orders queue so far.
    pub queued: u64,
    pub next_page: u32,
    pub last_id: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub revision: u64,
}

/// What the last check of a store's webhooks found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookHealth {
    /// Every woolink webhook was there and active.
    Healthy,
    /// Some were re-activated, recreated or de-duplicated.
    Repaired,
    /// They could not be read or repaired (`Reconciliation::last_error` says why).
    Failing,
}

impl WebhookHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Repaired => "repaired",
            Self::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "healthy" => Some(Self::Healthy),
            "repaired" => Some(Self::Repaired),
            "failing" => Some(Self::Failing),
            _ => None,
        }
    }
}

/// A store's reconciliation poll: how far its orders have been read back from the store (the
/// watermark), its webhooks' health, and whether it needs a person's attention. One per store.
#[derive(Clone, Debug, PartialEq)]
pub struct Reconciliation {
    pub store_id: StoreId,
    /// The store's own modification time (GMT, `YYYY-MM-DDTHH:MM:SS`): every order modified
    /// up to it has been queued. The next poll reads from it minus the overlap.
    pub watermark: Option<String>,
    pub last_run_at: Option<DateTime<Utc>>,
    /// Orders the last poll queued.
    pub last_queued: u64,
    /// Why the last run failed, if it did.
    pub last_error: Option<String>,
    /// A run holds the store until then (one poll of a store at a time).
    pub lease_until: Option<DateTime<Utc>>,
    pub webhooks: Option<WebhookHealth>,
    pub webhooks_checked_at: Option<DateTime<Utc>>,
    /// Webhook repairs made since the link.
    pub repairs: u64,
    /// Set when the store refuses the keys (401/403): a person must act; cleared by a run that
    /// succeeds.
    pub attention: Option<String>,
    pub revision: u64,
}

impl Reconciliation {
    /// A store never polled.
    pub fn new(store_id: StoreId) -> Self {
        Self {
            store_id,
            watermark: None,
            last_run_at: None,
            last_queued: 0,
            last_error: None,
            lease_until: None,
            webhooks: None,
            webhooks_checked_at: None,
            repairs: 0,
            attention: None,
            revision: 0,
        }
    }
}

/// A tenant's machine credential (`wlt_…`): for its own systems, scoped, stored only as a
/// hash. The id names it in listings and revocation; the key itself is shown once.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantApiKey {
    pub id: String,
    pub tenant: TenantCode,
    pub hash: CredentialHash,
    pub scopes: Vec<crate::domain::Scope>,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute per key.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where a shipment stands with the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShipmentState {
    /// Accepted; not yet on the store.
    Pending,
    /// On the store (`store_tracking_id` names it there).
    Written,
    /// The store refused it, or retries ran out (`last_error` says why).
    Failed,
    /// The tenant deleted it; being removed from the store (then the record goes).
    Deleting,
}

impl ShipmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Written => "written",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "written" => Some(Self::Written),
            "failed" => Some(Self::Failed),
            "deleting" => Some(Self::Deleting),
            _ => None,
        }
    }
}

/// What a shipment does to the order's status once it is on the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompleteRule {
    /// `completed` once every line item has shipped (over all the order's shipments), else
    /// `partial-shipped` when the store has that status.
    #[default]
    Auto,
    /// `completed` now.
    Always,
    /// The status is left alone.
    Never,
}

impl CompleteRule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Auto, Self::Always, Self::Never]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One shipped item: the order's line item (resolved from the SKU the tenant named, when it
/// named one), and how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipmentItem {
    pub sku: Option<String>,
    pub line_item_id: Option<u64>,
    pub quantity: u32,
}

/// A tenant's shipment of (part of) an order, to be written to the store as a tracking
/// number. `shipment_id` is the tenant's idempotency key; `request_hash` is what the tenant
/// sent under it (the same id with another body is a conflict).
#[derive(Clone, Debug, PartialEq)]
pub struct Shipment {
    pub store_id: StoreId,
    pub order_id: crate::domain::OrderId,
    pub shipment_id: String,
    pub tracking_number: String,
    pub carrier: String,
    pub tracking_url: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub items: Vec<ShipmentItem>,
    pub notify_customer: bool,
    pub complete: CompleteRule,
    pub request_hash: String,
    pub state: ShipmentState,
    /// How it was written (`TrackingApi::as_str`).
    pub method: Option<String>,
    pub store_tracking_id: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// A writer holds the shipment until then (one write to the store at a time).
    pub claimed_until: Option<DateTime<Utc>>,
    /// The status woolink moved the order to after writing it (`completed`,
    /// `partial-shipped`), or why it did not (`unchanged: …`).
    pub order_status: Option<String>,
    /// The tenant has been told the outcome (`shipment.written` / `shipment.failed`).
    pub reported: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision: u64,
}

impl Shipment {
    /// A shipment just accepted: defaults (no link, no date, the whole order,
    /// customer notified, `complete: auto`), pending, nothing written, revision 1.
    pub fn accepted(
        store_id: StoreId,
        order_id: crate::domain::OrderId,
        shipment_id: impl Into<String>,
        tracking_number: impl Into<String>,
        carrier: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            store_id,
            order_id,
            shipment_id: shipment_id.into(),
            tracking_number: tracking_number.into(),
            carrier: carrier.into(),
            tracking_url: None,
            shipped_at: None,
            items: Vec::new(),
            notify_customer: true,
            complete: CompleteRule::Auto,
            request_hash: String::new(),
            state: ShipmentState::Pending,
            method: None,
            store_tracking_id: None,
            attempts: 0,
            last_error: None,
            claimed_until: None,
            order_status: None,
            reported: false,
            created_at: now,
            updated_at: now,
            revision: 1,
        }
    }
}

/// A sellable item of a store's catalogue (a simple product or a variation) as woolink last
/// saw it, what it last sent the tenant, and what it last wrote to the shop's stock.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueItem {
    pub store_id: StoreId,
    /// The product's id, or the variation's.
    pub id: u64,
    /// The variable product's id (0 for a simple product).
    pub parent_id: u64,
    pub sku: Option<String>,
    /// Hash of the document last sent (`product.upserted`); empty once sent as deleted.
    pub doc_hash: String,
    /// Sent as deleted (gone from the store, or no longer sellable).
    pub deleted: bool,
    /// The shop manages its stock number (else an inventory push leaves it alone).
    pub managed: bool,
    /// The shop's quantity as woolink last saw it (import, webhook, read-back).
    pub quantity: Option<i64>,
    /// The quantity woolink last wrote, and the snapshot it came from.
    pub written_quantity: Option<i64>,
    pub snapshot_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub revision: u64,
}

/// A store's catalogue import: how far it got (the next products page), what it found.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueRun {
    pub store_id: StoreId,
    pub run_id: String,
    /// `running`, `done` or `failed` (`BackfillState`'s words).
    pub state: String,
    pub next_page: u32,
    /// Sellable items seen, sent to the tenant (new or changed), skipped (not sellable).
    pub items: u64,
    pub sent: u64,
    pub skipped: u64,
    /// The store's weight and dimension units, read once per run.
    pub units: Option<crate::catalogue::Units>,
    /// Items without a SKU (ids, the first 100).
    pub empty_skus: Vec<u64>,
    /// SKUs on more than one item, with their ids (the first 100).
    pub duplicate_skus: Vec<(String, Vec<u64>)>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub revision: u64,
}

/// What an inventory push did with one SKU.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryResult {
    pub sku: String,
    /// `updated`, `unchanged`, `drifted` (updated; the shop's number had moved since woolink
    /// last wrote it), `stale` (an older snapshot than the last applied), `unknown_sku`,
    /// `not_managed`, `duplicate_sku`, `failed`.
    pub result: String,
    /// The shop's quantity before, and what it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// For `drifted`: what woolink had written last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_written: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tenant's inventory push: a snapshot of available quantities by SKU, applied in chunks.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryJob {
    pub store_id: StoreId,
    pub job_id: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub snapshot_at: DateTime<Utc>,
    pub net_of_open_orders: bool,
    pub total: u32,
    pub chunks: u32,
    /// The next chunk to apply (chunks before it are done).
    pub next_chunk: u32,
    /// Results so far, by kind.
    pub counts: std::collections::BTreeMap<String, u32>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub revision: u64,
}

/// One chunk of an inventory push (at most `catalogue::CHUNK` SKUs): its items and, once
/// applied, their results.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryChunk {
    pub store_id: StoreId,
    pub job_id: String,
    pub index: u32,
    /// (SKU, available).
    pub items: Vec<(String, i64)>,
    pub results: Vec<InventoryResult>,
    pub done: bool,
}
