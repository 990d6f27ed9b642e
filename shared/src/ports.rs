//! The ports use cases depend on. Each has two adapters: `store::memory` (tests, local runner)
//! and `store::dynamo` (production), held to the same contract by `tests/it/contract.rs`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::consent::ConsentRecord;
use crate::crypto::CredentialHash;
use crate::domain::{Email, OrderId, StoreId, TenantCode};
use crate::error::Result;
use crate::model::{
    BackfillRun, CatalogueItem, CatalogueRun, InventoryChunk, InventoryJob, Link, LoginAttempts,
    OrderSync, Reconciliation, Session, Shipment, Store, Tenant, TenantApiKey, User,
};

/// What an idempotent admin write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    Unchanged,
}

impl Written {
    /// What writing `new` over `old` (the value stored before) amounts to.
    pub fn of<T: PartialEq>(old: Option<&T>, new: &T) -> Self {
        match old {
            None => Self::Created,
            Some(o) if o == new => Self::Unchanged,
            Some(_) => Self::Updated,
        }
    }
}

#[async_trait]
pub trait Tenants: Send + Sync {
    async fn get_tenant(&self, code: &TenantCode) -> Result<Option<Tenant>>;
    /// Creates or replaces the tenant.
    async fn put_tenant(&self, tenant: &Tenant) -> Result<Written>;
    /// All tenants (admin only; a query over one partition, never a scan).
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    /// Points the tenant's existing fulfilment endpoint at `url` (its signing secret stays);
    /// `false` when the tenant has no endpoint to move.
    async fn set_fulfilment_url(&self, code: &TenantCode, url: &str) -> Result<bool>;
}

#[async_trait]
pub trait Users: Send + Sync {
    async fn get_user(&self, tenant: &TenantCode, email: &Email) -> Result<Option<User>>;
    /// Creates or replaces the user (password change).
    async fn put_user(&self, user: &User) -> Result<Written>;
    async fn login_attempts(&self, tenant: &TenantCode, email: &Email) -> Result<LoginAttempts>;
    /// Replaces the account's attempt record with `next` if its failure count is still
    /// `expected`'s (as `login_attempts` returned it; 0: no record): `false` when another
    /// attempt changed it first. Every write but clearing raises the count, so it serves as
    /// the record's revision. This compare-and-set is what makes the lockout hold under
    /// parallel requests.
    async fn swap_login_attempts(
        &self,
        tenant: &TenantCode,
        email: &Email,
        expected: &LoginAttempts,
        next: &LoginAttempts,
    ) -> Result<bool>;
    async fn clear_login_failures(&self, tenant: &TenantCode, email: &Email) -> Result<()>;
}

#[async_trait]
pub trait Stores: Send + Sync {
    async fn get_store(&self, id: &StoreId) -> Result<Option<Store>>;
    async fn list_stores(&self, tenant: &TenantCode) -> Result<Vec<Store>>;
    /// One page of the tenant's stores in id order, after `after`: the stores and the last
    /// id when more may follow.
    async fn list_stores_page(
        &self,
        tenant: &TenantCode,
        after: Option<&StoreId>,
        limit: usize,
    ) -> Result<(Vec<Store>, Option<StoreId>)>;
    /// Creates the store or updates its name/customer id. A store id owned by another tenant
    /// is a `Conflict`.
    async fn put_store(&self, store: &Store) -> Result<Written>;
}

#[async_trait]
pub trait Links: Send + Sync {
    async fn get_link(&self, store: &StoreId) -> Result<Option<Link>>;
    /// The links of several stores at once (missing ones are left out).
    async fn get_links(&self, stores: &[StoreId]) -> Result<Vec<Link>>;
    async fn find_link_by_api_key(&self, key: &CredentialHash) -> Result<Option<Link>>;
    /// Saves `link` if the stored revision is still `expected` (`None`: no link stored yet),
    /// keeping the API-key index in step. `link.revision` must be `expected + 1` (or 1).
    /// A lost race is a `Conflict`.
    async fn save_link(&self, link: &Link, expected: Option<u64>) -> Result<()>;
    /// One page of the stores the reconciliation poll visits (connected links holding
    /// WooCommerce keys), from an index (never a scan): pass the returned cursor back for the
    /// next page; `None` when there is none.
    async fn pollable_stores(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<StoreId>, Option<String>)>;
}

#[async_trait]
pub trait Sessions: Send + Sync {
    async fn put_session(&self, session: &Session) -> Result<()>;
    /// The session, if stored; expiry is the caller's check (TTL deletion is lazy).
    async fn get_session(&self, token: &CredentialHash) -> Result<Option<Session>>;
}

#[async_trait]
pub trait OrderSyncs: Send + Sync {
    async fn get_order_sync(&self, store: &StoreId, order: OrderId) -> Result<Option<OrderSync>>;
    /// Saves if the stored revision is still `expected` (`None`: nothing stored yet); a lost
    /// race is a `Conflict`. `sync.revision` must be `expected + 1` (or 1).
    async fn save_order_sync(&self, sync: &OrderSync, expected: Option<u64>) -> Result<()>;
    /// Every order record of a store (disconnect's expiry), one partition query.
    async fn list_order_syncs(&self, store: &StoreId) -> Result<Vec<OrderSync>>;
    /// One page of a store's orders (`crate::health::OrderQuery`), from an index: never a scan.
    async fn list_orders(
        &self,
        store: &StoreId,
        query: &crate::health::OrderQuery,
    ) -> Result<crate::health::OrderPage>;
    /// The store's counters, moved by every order write that changes an order's state (zero
    /// when nothing was counted yet).
    async fn get_tally(&self, store: &StoreId) -> Result<crate::health::StoreTally>;
    /// The store's lag and recovery buckets that start at or after `since` (epoch seconds).
    async fn get_buckets(&self, store: &StoreId, since: i64) -> Result<Vec<crate::health::Bucket>>;
    /// Erases every order record of a store, with its shipments and its backfill and poll
    /// records (the store and its link stay); returns how many order records there were.
    async fn delete_order_syncs(&self, store: &StoreId) -> Result<usize>;
}

#[async_trait]
pub trait Backfills: Send + Sync {
    async fn get_backfill(&self, store: &StoreId) -> Result<Option<BackfillRun>>;
    /// Saves if the stored revision is still `expected` (`None`: none stored yet); a lost race
    /// is a `Conflict`. `run.revision` must be `expected + 1` (or 1).
    async fn save_backfill(&self, run: &BackfillRun, expected: Option<u64>) -> Result<()>;
}

#[async_trait]
pub trait Reconciliations: Send + Sync {
    async fn get_reconciliation(&self, store: &StoreId) -> Result<Option<Reconciliation>>;
    /// Saves if the stored revision is still `expected` (`None`: none stored yet); a lost race
    /// is a `Conflict`. `state.revision` must be `expected + 1` (or 1).
    async fn save_reconciliation(
        &self,
        state: &Reconciliation,
        expected: Option<u64>,
    ) -> Result<()>;
}

/// The tenant's audit trail of controls (`crate::controls`): who changed what, when.
#[async_trait]
pub trait Audits: Send + Sync {
    async fn record_audit(&self, entry: &crate::model::AuditEntry) -> Result<()>;
    /// One page of the tenant's entries, newest first, after `after` (an entry's `id`).
    async fn list_audit(
        &self,
        tenant: &TenantCode,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<crate::model::AuditEntry>, Option<String>)>;
}

/// The one-click connect attempts (`crate::consent`), by nonce.
#[async_trait]
pub trait Consents: Send + Sync {
    /// Records a new attempt (revision 1); `false` when its nonce is taken (a replay).
    async fn claim_consent(&self, record: &ConsentRecord) -> Result<bool>;
    /// Overwrites the attempt with its outcome.
    async fn finish_consent(&self, record: &ConsentRecord) -> Result<()>;
    async fn get_consent(&self, nonce: &str) -> Result<Option<ConsentRecord>>;
}

#[async_trait]
pub trait Shipments: Send + Sync {
    async fn get_shipment(
        &self,
        store: &StoreId,
        order: OrderId,
        shipment_id: &str,
    ) -> Result<Option<Shipment>>;
    /// Saves if the stored revision is still `expected` (`None`: none stored yet); a lost race
    /// is a `Conflict`. `shipment.revision` must be `expected + 1` (or 1).
    async fn save_shipment(&self, shipment: &Shipment, expected: Option<u64>) -> Result<()>;
    /// The order's shipments, oldest first (one partition query).
    async fn list_shipments(&self, store: &StoreId, order: OrderId) -> Result<Vec<Shipment>>;
    /// Removes the record; `false` when there was none.
    async fn delete_shipment(
        &self,
        store: &StoreId,
        order: OrderId,
        shipment_id: &str,
    ) -> Result<bool>;
}

/// A store's catalogue (its sellable items), its imports and its inventory pushes.
#[async_trait]
pub trait Catalogue: Send + Sync {
    /// Every item of the store's catalogue (one partition query).
    async fn catalogue_items(&self, store: &StoreId) -> Result<Vec<CatalogueItem>>;
    async fn get_catalogue_item(&self, store: &StoreId, id: u64) -> Result<Option<CatalogueItem>>;
    /// Saves if the stored revision is still `expected` (`None`: none stored yet).
    async fn save_catalogue_item(&self, item: &CatalogueItem, expected: Option<u64>) -> Result<()>;
    async fn get_catalogue_run(&self, store: &StoreId) -> Result<Option<CatalogueRun>>;
    async fn save_catalogue_run(&self, run: &CatalogueRun, expected: Option<u64>) -> Result<()>;
    async fn get_inventory_job(&self, store: &StoreId, job: &str) -> Result<Option<InventoryJob>>;
    async fn save_inventory_job(&self, job: &InventoryJob, expected: Option<u64>) -> Result<()>;
    async fn get_inventory_chunk(
        &self,
        store: &StoreId,
        job: &str,
        index: u32,
    ) -> Result<Option<InventoryChunk>>;
    /// Stores a chunk (its items, later its results), replacing what was there.
    async fn put_inventory_chunk(&self, chunk: &InventoryChunk) -> Result<()>;
    /// Takes (or renews) the store's inventory lease for `job` until `until`: `false` while
    /// another job holds an unexpired one. One push writes a store's stock at a time.
    async fn take_inventory_lease(
        &self,
        store: &StoreId,
        job: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool>;
    /// Gives the lease back if `job` holds it.
    async fn release_inventory_lease(&self, store: &StoreId, job: &str) -> Result<()>;
}

#[async_trait]
pub trait TenantKeys: Send + Sync {
    /// Stores a new key; one whose hash or id is already stored is a `Conflict`.
    async fn put_tenant_key(&self, key: &TenantApiKey) -> Result<()>;
    async fn find_tenant_key(&self, hash: &CredentialHash) -> Result<Option<TenantApiKey>>;
    /// The tenant's keys, revoked ones too (one partition query and a batch read).
    async fn list_tenant_keys(&self, tenant: &TenantCode) -> Result<Vec<TenantApiKey>>;
    /// Marks key `id` of `tenant` revoked at `at`: the key as it is now, `None` if the tenant
    /// has no such key. Revoking twice keeps the first time.
    async fn revoke_tenant_key(
        &self,
        tenant: &TenantCode,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<TenantApiKey>>;
    /// Records a use of the key.
    async fn touch_tenant_key(
        &self,
        hash: &CredentialHash,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
}

/// Fixed-window counters for limits that must hold across every container (each Lambda
/// request may run in its own).
#[async_trait]
pub trait Throttles: Send + Sync {
    /// Counts one use of `key` in the window `window` (any number that names it, such as the
    /// minute) if fewer than `limit` were counted there already: `false` when the limit is
    /// reached (nothing counted). Counters are forgotten after `expires_at` (epoch seconds).
    async fn take(&self, key: &str, window: i64, limit: u32, expires_at: i64) -> Result<bool>;
}

/// The orders queue: what the intake sends and the worker receives.
/// A message as received: its id, the handle to delete it or change its visibility, the body,
/// and how many times it has been received (1 on the first delivery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub receive_count: u32,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one message; returns its id once the queue has accepted it.
    async fn send(&self, body: String) -> Result<String>;
    /// Sends one message in a fairness group (SQS fair queues: a standard queue's
    /// `MessageGroupId`): when one group floods the queue, the others' messages are still
    /// served first-come. Queues without groups send it as `send` does.
    async fn send_grouped(&self, body: String, _group: &str) -> Result<String> {
        self.send(body).await
    }
    /// Sends one message that becomes visible only after `delay` (at most 15 minutes).
    async fn send_delayed(&self, body: String, delay: Duration) -> Result<String>;
    /// The same, in a fairness group.
    async fn send_delayed_grouped(
        &self,
        body: String,
        delay: Duration,
        _group: &str,
    ) -> Result<String> {
        self.send_delayed(body, delay).await
    }
    /// Sends several messages in one fairness group, in as few calls as the queue allows.
    async fn send_many_grouped(&self, bodies: Vec<String>, _group: &str) -> Result<()> {
        self.send_many(bodies).await
    }
    /// Sends several messages, in as few calls as the queue allows (SQS: 10 per call).
    async fn send_many(&self, bodies: Vec<String>) -> Result<()> {
        for body in bodies {
            self.send(body).await?;
        }
        Ok(())
    }
    /// Up to `max` (≤ 10) messages, waiting up to `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>>;
    /// Deletes received messages by receipt.
    async fn delete(&self, receipts: &[String]) -> Result<()>;
    /// Makes a received message visible again after `timeout` (backoff before a retry).
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()>;
    /// Approximate (visible, not visible yet: in flight or delayed) counts.
    async fn depth(&self) -> Result<(u64, u64)>;
}

/// Told when a use case changed a store's link (linked, re-linked, disconnected). In Lambda
/// nobody listens (`LinkChangesIgnored`: the intake's cache expires within its short TTL);
/// the local runner points it at the intake's cache, so a change is seen at once there.
pub trait LinkChanges: Send + Sync {
    fn link_changed(&self, store: &StoreId);
}

/// Nobody in this process caches links.
pub struct LinkChangesIgnored;

impl LinkChanges for LinkChangesIgnored {
    fn link_changed(&self, _: &StoreId) {}
}

/// All repositories, as the use cases see them.
#[derive(Clone)]
pub struct Repos {
    pub tenants: Arc<dyn Tenants>,
    pub users: Arc<dyn Users>,
    pub stores: Arc<dyn Stores>,
    pub links: Arc<dyn Links>,
    pub sessions: Arc<dyn Sessions>,
    pub orders: Arc<dyn OrderSyncs>,
    pub throttles: Arc<dyn Throttles>,
    pub backfills: Arc<dyn Backfills>,
    pub reconciliations: Arc<dyn Reconciliations>,
    pub tenant_keys: Arc<dyn TenantKeys>,
    pub shipments: Arc<dyn Shipments>,
    pub catalogue: Arc<dyn Catalogue>,
    pub consents: Arc<dyn Consents>,
    pub audits: Arc<dyn Audits>,
}

impl Repos {
    /// One adapter serving every port.
    pub fn from_adapter<A>(adapter: Arc<A>) -> Self
    where
        A: Tenants
            + Users
            + Stores
            + Links
            + Sessions
            + OrderSyncs
            + Throttles
            + Backfills
            + Reconciliations
            + TenantKeys
            + Shipments
            + Catalogue
            + Consents
            + Audits
            + 'static,
    {
        Self {
            tenants: adapter.clone(),
            users: adapter.clone(),
            stores: adapter.clone(),
            links: adapter.clone(),
            sessions: adapter.clone(),
            orders: adapter.clone(),
            throttles: adapter.clone(),
            backfills: adapter.clone(),
            reconciliations: adapter.clone(),
            tenant_keys: adapter.clone(),
            shipments: adapter.clone(),
            catalogue: adapter.clone(),
            consents: adapter.clone(),
            audits: adapter,
        }
    }
}
