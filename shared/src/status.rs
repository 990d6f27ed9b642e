//! What a store's link and orders look like to the status routes.

use chrono::{DateTime, Utc};

use crate::auth::{authorize_link, Gate, StoreCaller};
use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, OrderSync, SyncState};
use crate::ports::OrderSyncs;

/// A store's link as the status route shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStatus {
    pub link: Link,
    pub received: u64,
    pub synced: u64,
    pub failed: u64,
    pub last_sync_at: Option<DateTime<Utc>>,
}

pub async fn store_status(
    gate: &Gate<'_>,
    orders: &dyn OrderSyncs,
    caller: StoreCaller<'_>,
    store: &StoreId,
) -> Result<StoreStatus> {
    let link = authorize_link(gate, caller, store).await?;
    // Counted from the store's order records: one partition query on a read path that is
    // rare, rather than counter writes on every delivery.
    let orders = orders.list_order_syncs(store).await?;
    let count = |s: SyncState| orders.iter().filter(|o| o.state == s).count() as u64;
    Ok(StoreStatus {
        link,
        received: orders.len() as u64,
        synced: count(SyncState::Synced),
        failed: count(SyncState::Failed),
        last_sync_at: orders.iter().filter_map(|o| o.synced_at).max(),
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
