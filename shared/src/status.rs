//! What a store's link and orders look like to the status routes.

use chrono::Utc;

use crate::auth::{authorize_link, Gate, StoreCaller};
use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::health::{self, Facts, Lag, Overall, StoreTally};
use crate::model::{BackfillRun, Link, OrderSync, Reconciliation, WebhookHealth};
use crate::ports::{Backfills, OrderSyncs, Reconciliations};

/// A store's link as the status routes show it: read in a fixed number of calls, whatever
/// the store's history (the counters are kept on write, `crate::health`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStatus {
    pub link: Link,
    pub tally: StoreTally,
    /// Delivery lag (webhook received → tenant accepted) over the last hour.
    pub lag_1h: Option<Lag>,
    /// Orders the reconciliation poll delivered before their webhook, in the last 24 hours.
    pub recovered_24h: u64,
    pub backfill: Option<BackfillRun>,
    pub reconciliation: Option<Reconciliation>,
    /// The last catalogue import, with the SKU problems it found.
    pub catalogue: Option<crate::model::CatalogueRun>,
    /// The overall verdict, and every reason for it (code, sentence), worst first.
    pub health: Overall,
    pub reasons: Vec<(&'static str, String)>,
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

/// The status of a store whose link the caller may see (however it was authorised): six
/// reads (counters, a day of buckets, backfill, poll, catalogue; the link came with the
/// caller), none of them over the store's orders.
pub async fn describe_store(
    link: Link,
    orders: &dyn OrderSyncs,
    records: CatchUpRecords<'_>,
) -> Result<StoreStatus> {
    let store = &link.store_id.clone();
    let now = Utc::now();
    let (tally, buckets, backfill, reconciliation, catalogue) = futures::try_join!(
        orders.get_tally(store),
        orders.get_buckets(
            store,
            health::bucket_start(now - chrono::Duration::hours(24))
        ),
        records.backfills.get_backfill(store),
        records.reconciliations.get_reconciliation(store),
        records.catalogue.get_catalogue_run(store),
    )?;
    let lag_1h = health::lag_over(&buckets, now - chrono::Duration::hours(1));
    let recovered_24h = health::recovered_since(&buckets, now - chrono::Duration::hours(24));
    let r = reconciliation.as_ref();
    let facts = Facts {
        connected: link.is_connected(),
        paused: link.paused_at.is_some(),
        keys_refused: r.and_then(|r| r.attention.clone()),
        webhooks_failing: r.and_then(|r| r.webhooks) == Some(WebhookHealth::Failing),
        webhooks_repaired: r.and_then(|r| r.webhooks) == Some(WebhookHealth::Repaired),
        failed_orders: tally.failed,
        lag_p99_ms: lag_1h.as_ref().map(|l| l.p99_ms),
        recovered_24h,
        reconciliation_error: r.and_then(|r| r.last_error.clone()),
    };
    let (health, reasons) = health::verdict(&facts);
    Ok(StoreStatus {
        link,
        tally,
        lag_1h,
        recovered_24h,
        backfill,
        reconciliation,
        catalogue,
        health,
        reasons,
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
