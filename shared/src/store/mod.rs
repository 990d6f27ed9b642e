//! Adapters for the ports in `crate::ports`.

pub mod dynamo;
pub mod memory;

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind};

/// A lost race on a link's revision (both adapters answer it the same way).
pub(crate) fn conflict_on_link(store: &StoreId) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("the link of store {store} was changed concurrently; try again"),
    )
}

/// A lost race on an order record's revision.
pub(crate) fn conflict_on_order(store: &StoreId, order: OrderId) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("order {order} of store {store} was changed concurrently"),
    )
}

/// A lost race on a backfill run's revision.
pub(crate) fn conflict_on_backfill(store: &StoreId) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("the backfill of store {store} changed meanwhile"),
    )
}

pub(crate) fn conflict_on_reconciliation(store: &StoreId) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("the reconciliation of store {store} changed meanwhile"),
    )
}

pub(crate) fn conflict_on_shipment(store: &StoreId, shipment: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("shipment {shipment} of store {store} changed meanwhile"),
    )
}

pub(crate) fn conflict_on_catalogue(store: &StoreId, what: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("{what} of store {store} changed meanwhile"),
    )
}

/// The order in which both adapters list an order's shipments: oldest first, then by id.
pub(crate) fn oldest_first(list: &mut [crate::model::Shipment]) {
    list.sort_by(|a, b| (a.created_at, &a.shipment_id).cmp(&(b.created_at, &b.shipment_id)));
}

/// Cuts a page read with one item more than it shows to `limit`; whether more follow. A page
/// that came back short but `cut_short` (DynamoDB's 1 MB page ended first) has more too.
pub(crate) fn trim_page<T>(items: &mut Vec<T>, limit: usize, cut_short: bool) -> bool {
    if items.len() > limit {
        items.truncate(limit);
        return true;
    }
    cut_short
}
