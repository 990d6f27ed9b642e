//! Shipments back to the store (issue 16): a tenant's shipment becomes a tracking entry on
//! the merchant's order, through the best API the store serves (core fulfillments, AST, the
//! Shipment Tracking extension, else a customer-visible order note), and may move the order
//! to `completed` or `partial-shipped`.
//!
//! - `accept`: the tenant's routes. A shipment is validated against the order as the store
//!   has it now, recorded `pending` under the tenant's own id (its idempotency key) and
//!   queued; nothing touches the store while the tenant waits.
//! - `write`: the shipments queue's worker. Exactly once in effect: it claims the shipment,
//!   adopts an entry already on the order (a retry after a crash between the store's write
//!   and the record's), records the store's id before anything else, then moves the status,
//!   then tells the tenant (`shipment.written` / `shipment.failed`).
//! - `status`: which status an order moves to (a pure rule).
//! - `carriers`: a tenant's carrier name as each API knows it.

mod accept;
mod carriers;
mod status;
mod worker;
mod write;

use serde::{Deserialize, Serialize};

use crate::domain::{OrderId, StoreId};
use crate::error::{Error, Result};
use crate::model::Shipment;

pub use accept::{
    accept_shipment, delete_shipment, list_shipments, Accepted, Accepting, RequestedItem,
    ShipmentRequest,
};
pub use carriers::{provider_for, Provider};
pub use status::{next_status, StatusMove, PARTIAL_SHIPPED};
pub use worker::{shipment_document, ShipmentDocument, ShipmentDocumentItem, ShipmentWorker};
pub use write::{give_up, remove_shipment, write_shipment, StoreProfile, Writing, PROFILE_TTL};

/// What a shipments-queue message asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShipmentOp {
    /// Write the shipment to the store (and move the order, and tell the tenant).
    Write,
    /// Remove it from the store, then its record.
    Delete,
}

const JOB_VERSION: u8 = 1;
const JOB_KIND: &str = "shipment";

/// The shipments queue's message: which shipment, and what to do with it. Everything else is
/// read from its record (the message carries no tenant data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentJob {
    v: u8,
    kind: String,
    pub store_id: StoreId,
    pub order_id: OrderId,
    pub shipment_id: String,
    pub op: ShipmentOp,
}

impl ShipmentJob {
    pub fn new(s: &Shipment, op: ShipmentOp) -> Self {
        Self {
            v: JOB_VERSION,
            kind: JOB_KIND.into(),
            store_id: s.store_id.clone(),
            order_id: s.order_id,
            shipment_id: s.shipment_id.clone(),
            op,
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(raw: &str) -> Result<Self> {
        let job: Self = serde_json::from_str(raw)
            .map_err(|e| Error::invalid_request(format!("not a shipment job: {e}")))?;
        if job.v != JOB_VERSION || job.kind != JOB_KIND {
            return Err(Error::invalid_request(format!(
                "not a shipment job: kind {} version {}",
                job.kind, job.v
            )));
        }
        Ok(job)
    }
}

/// The marker that names a shipment in an order note (how a retry finds its own note).
pub fn note_marker(shipment_id: &str) -> String {
    format!("[woolink shipment {shipment_id}]")
}

/// The customer-visible note of a store without a tracking plugin.
pub fn note_text(s: &Shipment) -> String {
    let link = s
        .tracking_url
        .as_deref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    format!(
        "Shipped with {}: {}{} {}",
        s.carrier,
        s.tracking_number,
        link,
        note_marker(&s.shipment_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_and_strangers_are_refused() {
        let s = Shipment::accepted(
            StoreId::parse("st_1").unwrap(),
            OrderId::new(7),
            "sh-1",
            "1Z",
            "UPS",
            chrono::Utc::now(),
        );
        let job = ShipmentJob::new(&s, ShipmentOp::Delete);
        let raw = job.encode();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&raw).unwrap(),
            serde_json::json!({"v": 1, "kind": "shipment", "storeId": "st_1", "orderId": 7,
                "shipmentId": "sh-1", "op": "delete"})
        );
        assert_eq!(ShipmentJob::decode(&raw).unwrap(), job);
        assert!(ShipmentJob::decode(&raw.replace("\"v\":1", "\"v\":2")).is_err());
        assert!(ShipmentJob::decode(r#"{"v":1,"kind":"backfill"}"#).is_err());
        assert!(ShipmentJob::decode("not json").is_err());
    }
}
