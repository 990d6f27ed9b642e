//! In-memory adapter for every port: the local runner's embedded store and the fast tests'.
//! It keeps the DynamoDB adapter's contract (conditional writes, conflicts, index upkeep).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{conflict_on_link, conflict_on_order};
use chrono::Utc;

use crate::crypto::CredentialHash;
use crate::domain::{Email, OrderId, StoreId, TenantCode};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Link, LoginAttempts, OrderSync, Reconciliation, Session, Shipment, Store, Tenant, TenantApiKey,
    User,
};
use crate::ports::{
    Backfills, Links, OrderSyncs, Reconciliations, Sessions, Shipments, Stores, TenantKeys,
    Tenants, Throttles, Users, Written,
};

#[derive(Default)]
struct Data {
    tenants: BTreeMap<TenantCode, Tenant>,
    users: HashMap<(TenantCode, Email), User>,
    attempts: HashMap<(TenantCode, Email), LoginAttempts>,
    throttles: HashMap<(String, i64), u32>,
    backfills: HashMap<StoreId, crate::model::BackfillRun>,
    reconciliations: HashMap<StoreId, Reconciliation>,
    tenant_keys: HashMap<CredentialHash, TenantApiKey>,
    shipments: BTreeMap<(StoreId, OrderId, String), Shipment>,
    stores: BTreeMap<StoreId, Store>,
    links: HashMap<StoreId, Link>,
    api_keys: HashMap<CredentialHash, StoreId>,
    sessions: HashMap<CredentialHash, Session>,
    orders: BTreeMap<(StoreId, OrderId), OrderSync>,
    tallies: HashMap<StoreId, crate::health::StoreTally>,
    buckets: BTreeMap<(StoreId, i64), crate::health::Bucket>,
    catalogue: BTreeMap<(StoreId, u64), crate::model::CatalogueItem>,
    catalogue_runs: HashMap<StoreId, crate::model::CatalogueRun>,
    inventory_jobs: HashMap<(StoreId, String), crate::model::InventoryJob>,
    inventory_chunks: HashMap<(StoreId, String, u32), crate::model::InventoryChunk>,
    inventory_leases: HashMap<StoreId, (String, chrono::DateTime<chrono::Utc>)>,
    consents: HashMap<String, crate::consent::ConsentRecord>,
    audits: BTreeMap<(TenantCode, String), crate::model::AuditEntry>,
}

#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> Result<T> {
        let mut guard = self
            .data
            .lock()
            .map_err(|_| Error::internal("memory store lock poisoned"))?;
        Ok(f(&mut guard))
    }
}

#[async_trait]
impl Tenants for MemoryStore {
    async fn get_tenant(&self, code: &TenantCode) -> Result<Option<Tenant>> {
        self.with(|d| d.tenants.get(code).cloned())
    }
    async fn set_fulfilment_url(&self, code: &TenantCode, url: &str) -> Result<bool> {
        self.with(
            |d| match d.tenants.get_mut(code).and_then(|t| t.fulfilment.as_mut()) {
                Some(f) => {
                    f.url = url.to_owned();
                    true
                }
                None => false,
            },
        )
    }
    async fn put_tenant(&self, tenant: &Tenant) -> Result<Written> {
        self.with(|d| {
            Written::of(
                d.tenants
                    .insert(tenant.code.clone(), tenant.clone())
                    .as_ref(),
                tenant,
            )
        })
    }
    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.with(|d| d.tenants.values().cloned().collect())
    }
}

#[async_trait]
impl Users for MemoryStore {
    async fn get_user(&self, tenant: &TenantCode, email: &Email) -> Result<Option<User>> {
        self.with(|d| d.users.get(&(tenant.clone(), email.clone())).cloned())
    }
    async fn put_user(&self, user: &User) -> Result<Written> {
        self.with(|d| {
            Written::of(
                d.users
                    .insert((user.tenant.clone(), user.email.clone()), user.clone())
                    .as_ref(),
                user,
            )
        })
    }
    async fn login_attempts(&self, tenant: &TenantCode, email: &Email) -> Result<LoginAttempts> {
        self.with(|d| {
            d.attempts
                .get(&(tenant.clone(), email.clone()))
                .cloned()
                .unwrap_or_default()
        })
    }
    async fn swap_login_attempts(
        &self,
        tenant: &TenantCode,
        email: &Email,
        expected: &LoginAttempts,
        next: &LoginAttempts,
    ) -> Result<bool> {
        self.with(|d| {
            let key = (tenant.clone(), email.clone());
            let stored = d.attempts.get(&key).map_or(0, |a| a.consecutive_failures);
            if stored != expected.consecutive_failures {
                return false;
            }
            d.attempts.insert(key, next.clone());
            true
        })
    }
    async fn clear_login_failures(&self, tenant: &TenantCode, email: &Email) -> Result<()> {
        self.with(|d| {
            d.attempts.remove(&(tenant.clone(), email.clone()));
        })
    }
}

#[async_trait]
impl Stores for MemoryStore {
    async fn get_store(&self, id: &StoreId) -> Result<Option<Store>> {
        self.with(|d| d.stores.get(id).cloned())
    }
    async fn list_stores(&self, tenant: &TenantCode) -> Result<Vec<Store>> {
        self.with(|d| {
            d.stores
                .values()
                .filter(|s| &s.tenant == tenant)
                .cloned()
                .collect()
        })
    }
    async fn list_stores_page(
        &self,
        tenant: &TenantCode,
        after: Option<&StoreId>,
        limit: usize,
    ) -> Result<(Vec<Store>, Option<StoreId>)> {
        self.with(|d| {
            let mut page: Vec<Store> = d
                .stores
                .values()
                .filter(|s| &s.tenant == tenant && after.is_none_or(|a| &s.id > a))
                .take(limit + 1)
                .cloned()
                .collect();
            let more = super::trim_page(&mut page, limit, false);
            let next = more.then(|| page.last().map(|s| s.id.clone())).flatten();
            (page, next)
        })
    }
    async fn put_store(&self, store: &Store) -> Result<Written> {
        self.with(|d| match d.stores.get(&store.id) {
            Some(existing) if existing.tenant != store.tenant => Err(Error::new(
                ErrorKind::Conflict,
                format!("store id {} belongs to another tenant", store.id),
            )),
            _ => Ok(Written::of(
                d.stores.insert(store.id.clone(), store.clone()).as_ref(),
                store,
            )),
        })?
    }
}

#[async_trait]
impl Links for MemoryStore {
    async fn get_link(&self, store: &StoreId) -> Result<Option<Link>> {
        self.with(|d| d.links.get(store).cloned())
    }
    async fn get_links(&self, stores: &[StoreId]) -> Result<Vec<Link>> {
        self.with(|d| {
            stores
                .iter()
                .filter_map(|s| d.links.get(s).cloned())
                .collect()
        })
    }
    async fn find_link_by_api_key(&self, key: &CredentialHash) -> Result<Option<Link>> {
        self.with(|d| d.api_keys.get(key).and_then(|s| d.links.get(s)).cloned())
    }
    async fn save_link(&self, link: &Link, expected: Option<u64>) -> Result<()> {
        self.with(|d| {
            let current = d.links.get(&link.store_id);
            if current.map(|l| l.revision) != expected {
                return Err(conflict_on_link(&link.store_id));
            }
            let old: Vec<CredentialHash> = current
                .map(|l| l.indexed_keys().into_iter().cloned().collect())
                .unwrap_or_default();
            for key in old {
                d.api_keys.remove(&key);
            }
            for key in link.indexed_keys() {
                d.api_keys.insert(key.clone(), link.store_id.clone());
            }
            d.links.insert(link.store_id.clone(), link.clone());
            Ok(())
        })?
    }
    async fn pollable_stores(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<StoreId>, Option<String>)> {
        self.with(|d| {
            let mut ids: Vec<&StoreId> = d
                .links
                .values()
                .filter(|l| l.is_connected() && l.woo_keys.is_some())
                .map(|l| &l.store_id)
                .filter(|id| cursor.as_deref().is_none_or(|c| id.as_str() > c))
                .collect();
            ids.sort();
            let more = ids.len() > limit;
            let page: Vec<StoreId> = ids.into_iter().take(limit).cloned().collect();
            let next = more.then(|| page.last().map(|id| id.to_string())).flatten();
            (page, next)
        })
    }
}

#[async_trait]
impl Sessions for MemoryStore {
    async fn put_session(&self, session: &Session) -> Result<()> {
        self.with(|d| {
            // Lazy expiry, like DynamoDB TTL: drop what has ended while we are here.
            let now = Utc::now();
            d.sessions.retain(|_, s| s.expires_at > now);
            d.sessions
                .insert(session.token_hash.clone(), session.clone());
        })
    }
    async fn get_session(&self, token: &CredentialHash) -> Result<Option<Session>> {
        self.with(|d| d.sessions.get(token).cloned())
    }
}

#[async_trait]
impl OrderSyncs for MemoryStore {
    async fn get_order_sync(&self, store: &StoreId, order: OrderId) -> Result<Option<OrderSync>> {
        self.with(|d| d.orders.get(&(store.clone(), order)).cloned())
    }
    async fn save_order_sync(&self, sync: &OrderSync, expected: Option<u64>) -> Result<()> {
        self.with(|d| {
            let key = (sync.store_id.clone(), sync.order_id);
            if d.orders.get(&key).map(|o| o.revision) != expected {
                return Err(conflict_on_order(&sync.store_id, sync.order_id));
            }
            if let Some(change) = crate::health::tally_change(sync) {
                d.tallies
                    .entry(sync.store_id.clone())
                    .or_default()
                    .apply(&change);
            }
            if let Some(sample) = crate::health::sample_of(sync) {
                d.buckets
                    .entry((sync.store_id.clone(), sample.bucket))
                    .or_insert_with(|| crate::health::Bucket::empty(sample.bucket))
                    .add(&sample);
            }
            let mut stored = sync.clone();
            stored.counted = crate::health::counted_as(sync);
            // Kept as the index keeps it: to the millisecond.
            stored.listed_at = crate::health::listing(sync)
                .and_then(|_| crate::health::changed_at(&crate::health::changed_key(sync)));
            d.orders.insert(key, stored);
            Ok(())
        })?
    }
    async fn list_orders(
        &self,
        store: &StoreId,
        query: &crate::health::OrderQuery,
    ) -> Result<crate::health::OrderPage> {
        use crate::health::{changed_key, indexed, since_key, After, OrderPage};
        self.with(|d| {
            let of_store = d.orders.values().filter(|o| &o.store_id == store);
            let mut listed: Vec<(After, OrderSync)> = match query.state {
                Some(state) => {
                    let from = query.since.map(since_key).unwrap_or_default();
                    let mut v: Vec<_> = of_store
                        .filter(|o| {
                            indexed(state)
                                && crate::health::listing(o).map(|(s, _)| s) == Some(state)
                        })
                        .map(|o| (changed_key(o), o))
                        .filter(|(k, _)| *k >= from)
                        .filter(|(k, _)| match &query.after {
                            Some(After::Changed(a)) => k < a,
                            _ => true,
                        })
                        .map(|(k, o)| (After::Changed(k), o.clone()))
                        .collect();
                    v.sort_by(|a, b| b.0.cmp(&a.0));
                    v
                }
                None => of_store
                    .rev()
                    .filter(|o| match &query.after {
                        Some(After::Order(a)) => o.order_id.get() < *a,
                        _ => true,
                    })
                    .map(|o| (After::Order(o.order_id.get()), o.clone()))
                    .collect(),
            };
            let more = super::trim_page(&mut listed, query.limit, false);
            OrderPage {
                next: if more {
                    listed.last().map(|(a, _)| a.clone())
                } else {
                    None
                },
                orders: listed.into_iter().map(|(_, o)| o).collect(),
            }
        })
    }
    async fn get_tally(&self, store: &StoreId) -> Result<crate::health::StoreTally> {
        self.with(|d| d.tallies.get(store).cloned().unwrap_or_default())
    }
    async fn get_buckets(&self, store: &StoreId, since: i64) -> Result<Vec<crate::health::Bucket>> {
        self.with(|d| {
            d.buckets
                .range((store.clone(), since)..=(store.clone(), i64::MAX))
                .map(|(_, b)| b.clone())
                .collect()
        })
    }
    async fn list_order_syncs(&self, store: &StoreId) -> Result<Vec<OrderSync>> {
        self.with(|d| {
            d.orders
                .values()
                .filter(|o| &o.store_id == store)
                .cloned()
                .collect()
        })
    }
    async fn delete_order_syncs(&self, store: &StoreId) -> Result<usize> {
        self.with(|d| {
            let before = d.orders.len();
            d.orders.retain(|(s, _), _| s != store);
            d.tallies.remove(store);
            d.buckets.retain(|(s, _), _| s != store);
            // With them go the store's shipments, catch-up and catalogue records, as in
            // DynamoDB (every item of the store's partition but the store and its link).
            d.shipments.retain(|(s, _, _), _| s != store);
            d.backfills.remove(store);
            d.reconciliations.remove(store);
            d.catalogue.retain(|(s, _), _| s != store);
            d.catalogue_runs.remove(store);
            d.inventory_jobs.retain(|(s, _), _| s != store);
            d.inventory_chunks.retain(|(s, _, _), _| s != store);
            d.inventory_leases.remove(store);
            before - d.orders.len()
        })
    }
}

#[async_trait]
impl Throttles for MemoryStore {
    async fn take(&self, key: &str, window: i64, limit: u32, _expires_at: i64) -> Result<bool> {
        self.with(|d| {
            // Older windows are never read again.
            d.throttles.retain(|(k, w), _| k != key || *w >= window);
            let n = d.throttles.entry((key.to_owned(), window)).or_default();
            if *n >= limit {
                return false;
            }
            *n += 1;
            true
        })
    }
}

#[async_trait]
impl crate::ports::Audits for MemoryStore {
    async fn record_audit(&self, entry: &crate::model::AuditEntry) -> Result<()> {
        self.with(|d| {
            d.audits
                .insert((entry.tenant.clone(), entry.id.clone()), entry.clone());
        })
    }
    async fn list_audit(
        &self,
        tenant: &TenantCode,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<crate::model::AuditEntry>, Option<String>)> {
        self.with(|d| {
            let mut page: Vec<_> = d
                .audits
                .iter()
                .rev()
                .filter(|((t, id), _)| t == tenant && after.is_none_or(|a| id.as_str() < a))
                .map(|(_, e)| e.clone())
                .take(limit + 1)
                .collect();
            let more = super::trim_page(&mut page, limit, false);
            let next = more.then(|| page.last().map(|e| e.id.clone())).flatten();
            (page, next)
        })
    }
}

#[async_trait]
impl crate::ports::Consents for MemoryStore {
    async fn claim_consent(&self, record: &crate::consent::ConsentRecord) -> Result<bool> {
        self.with(|d| {
            let now = chrono::Utc::now();
            // Expired attempts are gone, as DynamoDB's TTL removes them (eventually).
            d.consents.retain(|_, r| r.expires_at > now);
            if d.consents.contains_key(&record.nonce) {
                return false;
            }
            d.consents.insert(record.nonce.clone(), record.clone());
            true
        })
    }
    async fn finish_consent(&self, record: &crate::consent::ConsentRecord) -> Result<()> {
        self.with(|d| {
            d.consents.insert(record.nonce.clone(), record.clone());
        })
    }
    async fn get_consent(&self, nonce: &str) -> Result<Option<crate::consent::ConsentRecord>> {
        self.with(|d| d.consents.get(nonce).cloned())
    }
}

#[async_trait]
impl Backfills for MemoryStore {
    async fn get_backfill(&self, store: &StoreId) -> Result<Option<crate::model::BackfillRun>> {
        self.with(|d| d.backfills.get(store).cloned())
    }
    async fn save_backfill(
        &self,
        run: &crate::model::BackfillRun,
        expected: Option<u64>,
    ) -> Result<()> {
        self.with(|d| {
            if d.backfills.get(&run.store_id).map(|r| r.revision) != expected {
                return Err(crate::store::conflict_on_backfill(&run.store_id));
            }
            d.backfills.insert(run.store_id.clone(), run.clone());
            Ok(())
        })?
    }
}

#[async_trait]
impl Reconciliations for MemoryStore {
    async fn get_reconciliation(&self, store: &StoreId) -> Result<Option<Reconciliation>> {
        self.with(|d| d.reconciliations.get(store).cloned())
    }
    async fn save_reconciliation(
        &self,
        state: &Reconciliation,
        expected: Option<u64>,
    ) -> Result<()> {
        self.with(|d| {
            if d.reconciliations.get(&state.store_id).map(|r| r.revision) != expected {
                return Err(crate::store::conflict_on_reconciliation(&state.store_id));
            }
            d.reconciliations
                .insert(state.store_id.clone(), state.clone());
            Ok(())
        })?
    }
}

#[async_trait]
impl TenantKeys for MemoryStore {
    async fn put_tenant_key(&self, key: &TenantApiKey) -> Result<()> {
        self.with(|d| {
            let taken = d.tenant_keys.contains_key(&key.hash)
                || d.tenant_keys
                    .values()
                    .any(|k| k.tenant == key.tenant && k.id == key.id);
            if taken {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "this tenant API key exists",
                ));
            }
            d.tenant_keys.insert(key.hash.clone(), key.clone());
            Ok(())
        })?
    }
    async fn find_tenant_key(&self, hash: &CredentialHash) -> Result<Option<TenantApiKey>> {
        self.with(|d| d.tenant_keys.get(hash).cloned())
    }
    async fn list_tenant_keys(&self, tenant: &TenantCode) -> Result<Vec<TenantApiKey>> {
        self.with(|d| {
            let mut keys: Vec<TenantApiKey> = d
                .tenant_keys
                .values()
                .filter(|k| &k.tenant == tenant)
                .cloned()
                .collect();
            keys.sort_by(|a, b| a.id.cmp(&b.id));
            keys
        })
    }
    async fn revoke_tenant_key(
        &self,
        tenant: &TenantCode,
        id: &str,
        at: chrono::DateTime<Utc>,
    ) -> Result<Option<TenantApiKey>> {
        self.with(|d| {
            d.tenant_keys
                .values_mut()
                .find(|k| &k.tenant == tenant && k.id == id)
                .map(|k| {
                    k.revoked_at.get_or_insert(at);
                    k.clone()
                })
        })
    }
    async fn touch_tenant_key(
        &self,
        hash: &CredentialHash,
        at: chrono::DateTime<Utc>,
    ) -> Result<()> {
        self.with(|d| {
            if let Some(k) = d.tenant_keys.get_mut(hash) {
                k.last_used_at = Some(at);
            }
        })
    }
}

#[async_trait]
impl Shipments for MemoryStore {
    async fn get_shipment(
        &self,
        store: &StoreId,
        order: OrderId,
        shipment_id: &str,
    ) -> Result<Option<Shipment>> {
        self.with(|d| {
            d.shipments
                .get(&(store.clone(), order, shipment_id.to_owned()))
                .cloned()
        })
    }
    async fn save_shipment(&self, shipment: &Shipment, expected: Option<u64>) -> Result<()> {
        self.with(|d| {
            let key = (
                shipment.store_id.clone(),
                shipment.order_id,
                shipment.shipment_id.clone(),
            );
            if d.shipments.get(&key).map(|s| s.revision) != expected {
                return Err(crate::store::conflict_on_shipment(
                    &shipment.store_id,
                    &shipment.shipment_id,
                ));
            }
            d.shipments.insert(key, shipment.clone());
            Ok(())
        })?
    }
    async fn list_shipments(&self, store: &StoreId, order: OrderId) -> Result<Vec<Shipment>> {
        self.with(|d| {
            let mut list: Vec<Shipment> = d
                .shipments
                .iter()
                .filter(|((s, o, _), _)| s == store && *o == order)
                .map(|(_, v)| v.clone())
                .collect();
            crate::store::oldest_first(&mut list);
            list
        })
    }
    async fn delete_shipment(
        &self,
        store: &StoreId,
        order: OrderId,
        shipment_id: &str,
    ) -> Result<bool> {
        self.with(|d| {
            d.shipments
                .remove(&(store.clone(), order, shipment_id.to_owned()))
                .is_some()
        })
    }
}

#[async_trait]
impl crate::ports::Catalogue for MemoryStore {
    async fn catalogue_items(&self, store: &StoreId) -> Result<Vec<crate::model::CatalogueItem>> {
        self.with(|d| {
            d.catalogue
                .range((store.clone(), 0)..=(store.clone(), u64::MAX))
                .map(|(_, v)| v.clone())
                .collect()
        })
    }
    async fn get_catalogue_item(
        &self,
        store: &StoreId,
        id: u64,
    ) -> Result<Option<crate::model::CatalogueItem>> {
        self.with(|d| d.catalogue.get(&(store.clone(), id)).cloned())
    }
    async fn save_catalogue_item(
        &self,
        item: &crate::model::CatalogueItem,
        expected: Option<u64>,
    ) -> Result<()> {
        self.with(|d| {
            let key = (item.store_id.clone(), item.id);
            if d.catalogue.get(&key).map(|i| i.revision) != expected {
                return Err(crate::store::conflict_on_catalogue(
                    &item.store_id,
                    "an item",
                ));
            }
            d.catalogue.insert(key, item.clone());
            Ok(())
        })?
    }
    async fn get_catalogue_run(
        &self,
        store: &StoreId,
    ) -> Result<Option<crate::model::CatalogueRun>> {
        self.with(|d| d.catalogue_runs.get(store).cloned())
    }
    async fn save_catalogue_run(
        &self,
        run: &crate::model::CatalogueRun,
        expected: Option<u64>,
    ) -> Result<()> {
        self.with(|d| {
            if d.catalogue_runs.get(&run.store_id).map(|r| r.revision) != expected {
                return Err(crate::store::conflict_on_catalogue(
                    &run.store_id,
                    "the catalogue import",
                ));
            }
            d.catalogue_runs.insert(run.store_id.clone(), run.clone());
            Ok(())
        })?
    }
    async fn get_inventory_job(
        &self,
        store: &StoreId,
        job: &str,
    ) -> Result<Option<crate::model::InventoryJob>> {
        self.with(|d| {
            d.inventory_jobs
                .get(&(store.clone(), job.to_owned()))
                .cloned()
        })
    }
    async fn save_inventory_job(
        &self,
        job: &crate::model::InventoryJob,
        expected: Option<u64>,
    ) -> Result<()> {
        self.with(|d| {
            let key = (job.store_id.clone(), job.job_id.clone());
            if d.inventory_jobs.get(&key).map(|j| j.revision) != expected {
                return Err(crate::store::conflict_on_catalogue(
                    &job.store_id,
                    "an inventory job",
                ));
            }
            d.inventory_jobs.insert(key, job.clone());
            Ok(())
        })?
    }
    async fn get_inventory_chunk(
        &self,
        store: &StoreId,
        job: &str,
        index: u32,
    ) -> Result<Option<crate::model::InventoryChunk>> {
        self.with(|d| {
            d.inventory_chunks
                .get(&(store.clone(), job.to_owned(), index))
                .cloned()
        })
    }
    async fn take_inventory_lease(
        &self,
        store: &StoreId,
        job: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        self.with(|d| {
            let free = d
                .inventory_leases
                .get(store)
                .is_none_or(|(holder, ends)| holder == job || *ends < now);
            if free {
                d.inventory_leases
                    .insert(store.clone(), (job.to_owned(), until));
            }
            free
        })
    }
    async fn release_inventory_lease(&self, store: &StoreId, job: &str) -> Result<()> {
        self.with(|d| {
            if d.inventory_leases.get(store).is_some_and(|(h, _)| h == job) {
                d.inventory_leases.remove(store);
            }
        })
    }
    async fn put_inventory_chunk(&self, chunk: &crate::model::InventoryChunk) -> Result<()> {
        self.with(|d| {
            d.inventory_chunks.insert(
                (chunk.store_id.clone(), chunk.job_id.clone(), chunk.index),
                chunk.clone(),
            );
        })
    }
}
