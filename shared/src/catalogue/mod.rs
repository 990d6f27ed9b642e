//! Catalogue and stock (issue 17): the store's sellable items to the tenant
//! (`product.upserted` / `product.deleted`), and the tenant's available quantities back to
//! the store's stock.
//!
//! - `product`: WooCommerce products and the tenant's item document (pure).
//! - `import`: a catalogue import, job by job on the catch-up queue (pages of 100 products,
//!   each variable product's variations), and what a product webhook changes. Every item is
//!   kept in the store's partition (`CatalogueItem`): the SKU → id index inventory pushes use,
//!   the document's hash (an unchanged item is not sent again), the stock as last seen.
//! - `inventory`: an inventory push, in chunks of `CHUNK` SKUs on the catch-up queue: stock
//!   read back, only changed quantities written, through the batch endpoints (≤ 100 a call).
//!
//! Events go to the tenant through the orders queue as `TenantEvent` messages, so they are
//! delivered, signed and retried as orders are.

mod import;
mod inventory;
mod product;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use import::{
    apply_product_change, finish_problems, give_up_import, import_step, start_import, ImportStepped,
};
pub use inventory::{
    give_up_inventory, inventory_step, plan_item, submit_inventory, InventoryRequest, Plan,
};
pub use product::{classify, Class, ItemDocument, Units, WooProduct, BARCODE_KEYS};

use crate::crypto::{sha256_hex, SecretBox};
use crate::domain::{StoreId, TenantCode};
use crate::error::{Error, Result};
use crate::ports::{Catalogue, Links, OrderSyncs, Queue, Shipments};
use crate::woocommerce::WooClient;

/// SKUs per inventory chunk (one stored item, one unit of progress).
pub const CHUNK: usize = 500;
/// Most SKUs one inventory push may carry.
pub const MAX_ITEMS: usize = 20_000;
/// Chunks one inventory job applies before it hands on (a Lambda call must end in time).
pub const CHUNKS_PER_JOB: u32 = 10;
/// Unknown SKUs one chunk may look up in the store before calling the rest unknown.
pub const LOOKUPS_PER_CHUNK: usize = 20;

/// The ports the catalogue's use cases use.
pub struct Cataloguing<'a> {
    pub links: &'a dyn Links,
    pub catalogue: &'a dyn Catalogue,
    pub orders: &'a dyn OrderSyncs,
    pub shipments: &'a dyn Shipments,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// The orders queue: the tenant's product events travel it.
    pub events: &'a dyn Queue,
    /// The catch-up queue: import and inventory jobs and their continuations.
    pub jobs: &'a dyn Queue,
    /// Product pages one import job reads before it hands on.
    pub pages_per_job: u32,
}

/// The ports starting an import or a push uses (the connect function's routes).
pub struct Submitting<'a> {
    pub links: &'a dyn Links,
    pub catalogue: &'a dyn Catalogue,
    pub secrets: &'a SecretBox,
    /// The catch-up queue, where the first job goes.
    pub jobs: &'a dyn Queue,
}

impl Cataloguing<'_> {
    pub fn submitting(&self) -> Submitting<'_> {
        Submitting {
            links: self.links,
            catalogue: self.catalogue,
            secrets: self.secrets,
            jobs: self.jobs,
        }
    }
}

pub const PRODUCT_KIND: &str = "woo.product";

/// A queue message's `kind` (`None`: not a JSON object).
fn kind_of(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(default)]
        kind: String,
    }
    serde_json::from_str::<Kind>(raw).ok().map(|k| k.kind)
}

/// A product webhook as the intake queues it: which product changed and how. The worker reads
/// the product from the store (so the message is small whatever the product's description,
/// and a late message never applies an older body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductChange {
    pub v: u8,
    pub kind: String,
    pub store_id: StoreId,
    pub tenant: TenantCode,
    /// `product.created`, `product.updated`, `product.deleted` or `product.restored`.
    pub topic: String,
    pub product_id: u64,
}

impl ProductChange {
    /// The message for a verified product delivery (`body`: the product, or `{"id": N}`).
    pub fn from_delivery(
        store: &StoreId,
        tenant: &TenantCode,
        topic: crate::domain::ProductTopic,
        body: &[u8],
    ) -> Result<Self> {
        #[derive(Deserialize)]
        struct Head {
            id: u64,
        }
        let head: Head = serde_json::from_slice(body)
            .ok()
            .filter(|h: &Head| h.id != 0)
            .ok_or_else(|| Error::invalid_request("the product has no integer id"))?;
        Ok(Self {
            v: 1,
            kind: PRODUCT_KIND.into(),
            store_id: store.clone(),
            tenant: tenant.clone(),
            topic: topic.as_str().into(),
            product_id: head.id,
        })
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A queue message that is a product change (`None`: another kind of message).
    pub fn decode(raw: &str) -> Option<Result<Self>> {
        (kind_of(raw)? == PRODUCT_KIND).then(|| {
            serde_json::from_str(raw)
                .map_err(|e| Error::invalid_request(format!("not a product change: {e}")))
        })
    }
}

/// What recording an item and telling the tenant uses (the sync worker's product webhooks,
/// and the catalogue's jobs).
pub struct Recording<'a> {
    pub links: &'a dyn Links,
    pub catalogue: &'a dyn Catalogue,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// The orders queue: the tenant's product events travel it.
    pub events: &'a dyn Queue,
    /// An import's batch: the store's items read once (not one read per item), and the
    /// changes of a page kept to be applied together (`Batch::flush`). `None`: each item is
    /// read, recorded and sent on its own (webhooks).
    pub batch: Option<&'a Batch>,
}

/// The items an import step knows and the changes it has yet to apply: events first (sent
/// ten to a call), then records — so a step that dies between the two sends the events again
/// (the same `webhook-id`s) rather than recording changes the tenant never heard of.
#[derive(Default)]
pub struct Batch {
    known: std::sync::Mutex<std::collections::HashMap<u64, crate::model::CatalogueItem>>,
    /// Encoded events, each with its tenant (its message group).
    events: std::sync::Mutex<Vec<(String, TenantCode)>>,
    records: std::sync::Mutex<Vec<(crate::model::CatalogueItem, Option<u64>)>>,
}

impl Batch {
    /// A batch knowing `items` (every item of the store).
    pub fn knowing(items: Vec<crate::model::CatalogueItem>) -> Self {
        let batch = Self::default();
        if let Ok(mut known) = batch.known.lock() {
            known.extend(items.into_iter().map(|i| (i.id, i)));
        }
        batch
    }

    fn known(&self, id: u64) -> Option<crate::model::CatalogueItem> {
        self.known.lock().ok().and_then(|k| k.get(&id).cloned())
    }

    fn hold(
        &self,
        event: &TenantEvent,
        record: crate::model::CatalogueItem,
        expected: Option<u64>,
    ) {
        if let Ok(mut e) = self.events.lock() {
            e.push((event.encode(), event.tenant.clone()));
        }
        if let Ok(mut r) = self.records.lock() {
            r.push((record, expected));
        }
    }

    /// Sends the held events, then saves the held records (a record that changed meanwhile is
    /// left to the next import or webhook: its event has gone, with a stable id).
    pub async fn flush(&self, catalogue: &dyn Catalogue, events: &dyn Queue) -> Result<()> {
        let bodies = self
            .events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        // In their tenant's group (one store's batch: one tenant, so usually one call).
        let mut by_tenant: std::collections::BTreeMap<TenantCode, Vec<String>> =
            std::collections::BTreeMap::new();
        for (body, tenant) in bodies {
            by_tenant.entry(tenant).or_default().push(body);
        }
        for (tenant, bodies) in by_tenant {
            events.send_many_grouped(bodies, tenant.as_str()).await?;
        }
        let records = self
            .records
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        for (record, expected) in records {
            match catalogue.save_catalogue_item(&record, expected).await {
                Ok(()) => {
                    if let Ok(mut known) = self.known.lock() {
                        known.insert(record.id, record);
                    }
                }
                Err(e) if e.kind() == crate::error::ErrorKind::Conflict => {
                    tracing::warn!(store = %record.store_id, item = record.id, "an item changed during the import; left to the next change");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Cataloguing<'_> {
    pub fn recording(&self) -> Recording<'_> {
        Recording {
            links: self.links,
            catalogue: self.catalogue,
            secrets: self.secrets,
            woo: self.woo,
            events: self.events,
            batch: None,
        }
    }
}

pub const EVENT_KIND: &str = "tenant.event";

/// An event for the tenant that is not an order (a catalogue item): delivered by the sync
/// worker as it delivers orders (signed, retried, parked when refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantEvent {
    pub v: u8,
    pub kind: String,
    pub store_id: StoreId,
    pub tenant: TenantCode,
    /// `product.upserted` or `product.deleted`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Stable per item and content: the tenant deduplicates on it.
    pub webhook_id: String,
    pub timestamp: String,
    pub data: Value,
    /// What the slow lane's gate noted on it (nothing, until it moved the event).
    #[serde(flatten)]
    pub moves: crate::gate::Moves,
}

impl TenantEvent {
    pub fn new(
        store: &StoreId,
        tenant: &TenantCode,
        event_type: &str,
        identity: &str,
        data: Value,
    ) -> Self {
        Self {
            v: 1,
            kind: EVENT_KIND.into(),
            store_id: store.clone(),
            tenant: tenant.clone(),
            event_type: event_type.into(),
            webhook_id: format!(
                "prd_{}",
                &sha256_hex(format!("{store}|{event_type}|{identity}").as_bytes())[..32]
            ),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            data,
            moves: crate::gate::Moves::default(),
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A queue message that is a tenant event (`None`: another kind of message).
    pub fn decode(raw: &str) -> Option<Result<Self>> {
        (kind_of(raw)? == EVENT_KIND).then(|| {
            serde_json::from_str(raw)
                .map_err(|e| Error::invalid_request(format!("not a tenant event: {e}")))
        })
    }

    /// The body the tenant receives.
    pub fn body(&self) -> Value {
        serde_json::json!({"type": self.event_type, "timestamp": self.timestamp, "data": self.data})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_events_round_trip_and_other_messages_are_not_events() {
        let e = TenantEvent::new(
            &StoreId::parse("st_1").unwrap(),
            &TenantCode::parse("ACME").unwrap(),
            "product.upserted",
            "13|abc",
            serde_json::json!({"id": 13}),
        );
        let back = TenantEvent::decode(&e.encode()).unwrap().unwrap();
        assert_eq!(back, e);
        assert!(e.webhook_id.starts_with("prd_"));
        assert!(TenantEvent::decode(r#"{"v":1,"kind":"woo.order"}"#).is_none());
        assert!(TenantEvent::decode("not json").is_none());
        assert!(TenantEvent::decode(r#"{"kind":"tenant.event"}"#)
            .unwrap()
            .is_err());
    }
}
