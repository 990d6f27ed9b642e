//! What a store's link and orders look like to the status routes.

use chrono::{DateTime, Utc};

use crate::auth::{authorize_link, Gate, StoreCaller};
use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{BackfillRun, Link, OrderSync, Reconciliation, SyncState};
use crate::ports::{Backfills, OrderSyncs, Reconciliations};

/// A store's link as the status route shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStatus {
    pub link: Link,
    pub received: u64,
    pub synced: u64,
    pub failed: u64,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// When the newest order version that came by webhook was received.
    pub last_webhook_at: Option<DateTime<Utc>>,
    /// Orders the reconciliation poll delivered before their webhook, in the last 24 hours.
    pub recovered_24h: u64,
    pub backfill: Option<BackfillRun>,
    pub reconciliation: Option<Reconciliation>,
    /// The last catalogue import, with the SKU problems it found.
    pub catalogue: Option<crate::model::CatalogueRun>,
}

/// The read side of the catch-up records, for the status route.
pub struct CatchUpRecords<'a> {
    pub backfills: &'a dyn Backfills,
    pub reconciliations: &'a dyn Reconciliations,
    pub catalogue: &'a dyn crate::ports::Catalogue,
}

pub async fn store_status(
    gate: &Gate<'_>,
    orders: &dyn OrderSyncs,
    records: CatchUpRecords<'_>,
    caller: StoreCaller<'_>,
    store: &StoreId,
) -> Result<StoreStatus> {
    let link = authorize_link(gate, caller, store).await?;
    describe_store(link, orders, records).await
}

/// The status of a store whose link the caller may see (however it was authorised).
pub async fn describe_store(
    link: Link,
    orders: &dyn OrderSyncs,
    records: CatchUpRecords<'_>,
) -> Result<StoreStatus> {
    let store = &link.store_id.clone();
    // Counted from the store's order records: one partition query on a read path that is
    // rare, rather than counter writes on every delivery.
    let orders = orders.list_order_syncs(store).await?;
    let count = |s: SyncState| orders.iter().filter(|o| o.state == s).count() as u64;
    let day_ago = Utc::now() - chrono::Duration::hours(24);
    Ok(StoreStatus {
        link,
        received: orders.len() as u64,
        synced: count(SyncState::Synced),
        failed: count(SyncState::Failed),
        last_sync_at: orders.iter().filter_map(|o| o.synced_at).max(),
        last_webhook_at: orders
            .iter()
            .filter(|o| o.source.is_webhook())
            .filter_map(|o| o.received_at.as_deref())
            .filter_map(|r| DateTime::parse_from_rfc3339(r).ok())
            .map(|d| d.with_timezone(&Utc))
            .max(),
        recovered_24h: orders
            .iter()
            .filter(|o| o.recovered_at.is_some_and(|at| at > day_ago))
            .count() as u64,
        backfill: records.backfills.get_backfill(store).await?,
        reconciliation: records.reconciliations.get_reconciliation(store).await?,
        catalogue: records.catalogue.get_catalogue_run(store).await?,
    })
}

/// One order's sync state, for the link's own API key or the owning tenant.
pub async fn order_status(
    gate: &Gate<'_>,
    orders: &dyn OrderSyncs,
    caller: StoreCaller<'_>,
    store: &StoreId,
    order: OrderId,
) -> Result<OrderSync> {
    authorize_link(gate, caller, store).await?;
    orders
        .get_order_sync(store, order)
        .await?
        .ok_or_else(order_not_found)
}

pub fn order_not_found() -> Error {
    Error::new(ErrorKind::OrderNotFound, "woolink has not seen this order")
}
