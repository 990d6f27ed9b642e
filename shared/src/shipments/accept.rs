//! The tenant's shipment routes: accept (validated against the order as the store has it,
//! recorded, queued), list, delete (queued: the entry leaves the store, then the record).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::{ShipmentJob, ShipmentOp};
use crate::crypto::{sha256_hex, SecretBox};
use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{CompleteRule, Link, Shipment, ShipmentItem, ShipmentState};
use crate::order::WooOrder;
use crate::ports::{Links, OrderSyncs, Queue, Shipments};
use crate::secrets::keyed_link;
use crate::woocommerce::{WooClient, WooError};

/// An item the tenant says it shipped: by SKU or by the order's line item id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestedItem {
    Sku { sku: String, quantity: u32 },
    Line { line_item_id: u64, quantity: u32 },
}

/// A tenant's shipment, validated field by field (`crate::api::wire` builds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipmentRequest {
    pub shipment_id: String,
    pub tracking_number: String,
    pub carrier: String,
    pub tracking_url: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
    /// Empty: the whole order.
    pub items: Vec<RequestedItem>,
    pub notify_customer: bool,
    pub complete: CompleteRule,
}

impl ShipmentRequest {
    /// What the tenant sent under its id, as one hash: the same id with another body is a
    /// conflict, with the same body an idempotent replay.
    pub fn hash(&self) -> String {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|i| match i {
                RequestedItem::Sku { sku, quantity } => json!(["sku", sku, quantity]),
                RequestedItem::Line {
                    line_item_id,
                    quantity,
                } => json!(["line", line_item_id, quantity]),
            })
            .collect();
        let canonical = json!([
            self.shipment_id,
            self.tracking_number,
            self.carrier,
            self.tracking_url,
            self.shipped_at
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            items,
            self.notify_customer,
            self.complete.as_str(),
        ]);
        sha256_hex(canonical.to_string().as_bytes())
    }
}

/// The ports the routes use.
pub struct Accepting<'a> {
    pub links: &'a dyn Links,
    pub orders: &'a dyn OrderSyncs,
    pub shipments: &'a dyn Shipments,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// The shipments queue.
    pub queue: &'a dyn Queue,
}

/// What accepting did.
#[derive(Clone, Debug, PartialEq)]
pub enum Accepted {
    /// Recorded and queued (`202`).
    Created(Shipment),
    /// The same shipment again (`200`).
    Existing(Shipment),
}

fn not_in_scope(order: OrderId, why: &str) -> Error {
    Error::new(
        ErrorKind::OrderNotInScope,
        format!("order {order} is not in scope: {why}"),
    )
    .with_details(json!({"orderId": order.get()}))
}

/// Accepts shipment `request` of order `order` of the tenant's store `link`: validated
/// against the order's line items as the store has them now (less what other shipments
/// already carry), recorded `pending`, queued. The same id again with the same body is the
/// existing shipment (queued again while pending: a lost message cannot strand it); with
/// another body a `ShipmentConflict`.
pub async fn accept_shipment(
    ports: &Accepting<'_>,
    link: &Link,
    order: OrderId,
    request: ShipmentRequest,
) -> Result<Accepted> {
    let store = &link.store_id;
    let hash = request.hash();
    if let Some(existing) = ports
        .shipments
        .get_shipment(store, order, &request.shipment_id)
        .await?
    {
        return replay(ports, existing, &hash).await;
    }
    let in_scope = ports
        .orders
        .get_order_sync(store, order)
        .await?
        .is_some_and(|o| o.in_scope);
    if !in_scope {
        return Err(not_in_scope(
            order,
            "woolink has not delivered it to the tenant",
        ));
    }
    let (link, creds) = keyed_link(ports.links, ports.secrets, store).await?;
    let raw = ports
        .woo
        .get_order(&link.store_url, &creds, order.get())
        .await
        .map_err(|e| match e {
            WooError::Rejected { status: 404, .. } => {
                not_in_scope(order, "the store no longer has it")
            }
            WooError::AuthFailed => Error::new(
                ErrorKind::WooCommerceAuthFailed,
                "the store refused woolink's WooCommerce keys",
            ),
            other => Error::new(
                ErrorKind::WooCommerceUnreachable,
                "the store could not be asked for the order; try again",
            )
            .with_source(other),
        })?;
    let woo_order = WooOrder::parse(&raw).map_err(|_| {
        Error::new(
            ErrorKind::WooCommerceUnreachable,
            "the store's answer was not an order",
        )
    })?;
    let others = ports.shipments.list_shipments(store, order).await?;
    let items = allocate(&woo_order, &others, &request.items)?;
    let shipment = Shipment {
        tracking_url: request.tracking_url,
        shipped_at: request.shipped_at,
        items,
        notify_customer: request.notify_customer,
        complete: request.complete,
        request_hash: hash.clone(),
        ..Shipment::accepted(
            store.clone(),
            order,
            request.shipment_id,
            request.tracking_number,
            request.carrier,
            Utc::now(),
        )
    };
    match ports.shipments.save_shipment(&shipment, None).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Conflict => {
            // The same id raced in: judged as a replay of whatever won.
            let winner = ports
                .shipments
                .get_shipment(store, order, &shipment.shipment_id)
                .await?
                .ok_or_else(|| Error::unavailable("the shipment", "it vanished during a race"))?;
            return replay(ports, winner, &hash).await;
        }
        Err(e) => return Err(e),
    }
    enqueue(ports, &shipment, ShipmentOp::Write).await?;
    tracing::info!(%store, %order, shipment = %shipment.shipment_id, items = shipment.items.len(), "shipment accepted");
    Ok(Accepted::Created(shipment))
}

async fn replay(ports: &Accepting<'_>, existing: Shipment, hash: &str) -> Result<Accepted> {
    if existing.request_hash != hash {
        return Err(Error::new(
            ErrorKind::ShipmentConflict,
            format!("shipment {} exists with another body", existing.shipment_id),
        )
        .with_details(json!({"shipmentId": existing.shipment_id})));
    }
    if existing.state == ShipmentState::Deleting {
        return Err(Error::new(
            ErrorKind::ShipmentConflict,
            format!("shipment {} is being deleted", existing.shipment_id),
        )
        .with_details(json!({"shipmentId": existing.shipment_id})));
    }
    if existing.state == ShipmentState::Pending {
        enqueue(ports, &existing, ShipmentOp::Write).await?;
    }
    Ok(Accepted::Existing(existing))
}

async fn enqueue(ports: &Accepting<'_>, s: &Shipment, op: ShipmentOp) -> Result<()> {
    ports
        .queue
        .send_grouped(ShipmentJob::new(s, op).encode(), s.store_id.as_str())
        .await
        .map(|_| ())
}

/// Resolves the tenant's items to the order's line items, checked against what is left to
/// ship (ordered, less what other shipments carry). Every item that does not fit is named.
fn allocate(
    order: &WooOrder,
    others: &[Shipment],
    wanted: &[RequestedItem],
) -> Result<Vec<ShipmentItem>> {
    let mut shipped: HashMap<u64, u64> = HashMap::new();
    let whole_order_shipped = others
        .iter()
        .filter(|s| s.state != ShipmentState::Deleting && s.state != ShipmentState::Failed)
        .any(|s| {
            for item in &s.items {
                if let Some(line) = item.line_item_id {
                    *shipped.entry(line).or_default() += u64::from(item.quantity);
                }
            }
            s.items.is_empty()
        });
    let ordered = |line: u64| {
        order
            .line_items
            .iter()
            .find(|l| l.id == line)
            .map(|l| l.quantity.max(0.0) as u64)
    };
    let left = |line: u64, shipped: &HashMap<u64, u64>| {
        if whole_order_shipped {
            return 0;
        }
        ordered(line)
            .unwrap_or(0)
            .saturating_sub(shipped.get(&line).copied().unwrap_or(0))
    };
    let mut items = Vec::new();
    let mut problems = Vec::new();
    for want in wanted {
        match want {
            RequestedItem::Line {
                line_item_id,
                quantity,
            } => {
                let Some(qty) = ordered(*line_item_id) else {
                    problems.push(json!({"lineItemId": line_item_id, "quantity": quantity,
                        "problem": "unknown_line_item"}));
                    continue;
                };
                let available = left(*line_item_id, &shipped);
                if u64::from(*quantity) > available {
                    problems.push(json!({"lineItemId": line_item_id, "quantity": quantity,
                        "problem": "more_than_ordered", "ordered": qty,
                        "alreadyShipped": qty - available}));
                    continue;
                }
                *shipped.entry(*line_item_id).or_default() += u64::from(*quantity);
                items.push(ShipmentItem {
                    // The line's own SKU, when it has one (what AST PRO ships by).
                    sku: order
                        .line_items
                        .iter()
                        .find(|l| l.id == *line_item_id)
                        .and_then(|l| l.sku.clone()),
                    line_item_id: Some(*line_item_id),
                    quantity: *quantity,
                });
            }
            RequestedItem::Sku { sku, quantity } => {
                let lines: Vec<u64> = order
                    .line_items
                    .iter()
                    .filter(|l| l.sku.as_deref() == Some(sku.as_str()))
                    .map(|l| l.id)
                    .collect();
                if lines.is_empty() {
                    problems
                        .push(json!({"sku": sku, "quantity": quantity, "problem": "unknown_sku"}));
                    continue;
                }
                let available: u64 = lines.iter().map(|l| left(*l, &shipped)).sum();
                if u64::from(*quantity) > available {
                    let total: u64 = lines.iter().filter_map(|l| ordered(*l)).sum();
                    problems.push(json!({"sku": sku, "quantity": quantity,
                        "problem": "more_than_ordered", "ordered": total,
                        "alreadyShipped": total - available}));
                    continue;
                }
                // Spread over the SKU's lines in the order's own order.
                let mut rest = u64::from(*quantity);
                for line in lines {
                    let take = rest.min(left(line, &shipped));
                    if take == 0 {
                        continue;
                    }
                    *shipped.entry(line).or_default() += take;
                    rest -= take;
                    items.push(ShipmentItem {
                        sku: Some(sku.clone()),
                        line_item_id: Some(line),
                        quantity: take as u32,
                    });
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidItems,
            format!("{} item(s) do not match order {}", problems.len(), order.id),
        )
        .with_details(json!({"items": problems})));
    }
    Ok(items)
}

/// The order's shipments, oldest first.
pub async fn list_shipments(
    shipments: &dyn Shipments,
    store: &StoreId,
    order: OrderId,
) -> Result<Vec<Shipment>> {
    shipments.list_shipments(store, order).await
}

/// Deletes a shipment: marked `deleting` and queued (the worker removes the store's entry,
/// then the record). Deleting it again re-queues it.
pub async fn delete_shipment(
    ports: &Accepting<'_>,
    store: &StoreId,
    order: OrderId,
    shipment_id: &str,
) -> Result<Shipment> {
    for _ in 0..5 {
        let Some(mut s) = ports
            .shipments
            .get_shipment(store, order, shipment_id)
            .await?
        else {
            return Err(Error::new(ErrorKind::NotFound, "no such shipment"));
        };
        if s.state != ShipmentState::Deleting {
            let expected = s.revision;
            s.state = ShipmentState::Deleting;
            s.revision += 1;
            s.updated_at = Utc::now();
            match ports.shipments.save_shipment(&s, Some(expected)).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        enqueue(ports, &s, ShipmentOp::Delete).await?;
        tracing::info!(%store, %order, shipment = %shipment_id, "shipment deletion queued");
        return Ok(s);
    }
    Err(Error::unavailable(
        "the shipment",
        "it kept changing while being deleted",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> WooOrder {
        WooOrder::parse(
            r#"{"id": 9, "status": "processing", "line_items": [
                {"id": 1, "sku": "TSHIRT-001", "quantity": 2, "product_id": 10},
                {"id": 2, "sku": "MUG-001", "quantity": 1, "product_id": 11},
                {"id": 3, "sku": "TSHIRT-001", "quantity": 1, "product_id": 10}]}"#,
        )
        .unwrap()
    }

    fn sku(s: &str, q: u32) -> RequestedItem {
        RequestedItem::Sku {
            sku: s.into(),
            quantity: q,
        }
    }

    #[test]
    fn skus_spread_over_their_lines() {
        let items = allocate(&order(), &[], &[sku("TSHIRT-001", 3)]).unwrap();
        let got: Vec<(Option<u64>, u32)> =
            items.iter().map(|i| (i.line_item_id, i.quantity)).collect();
        assert_eq!(got, vec![(Some(1), 2), (Some(3), 1)]);
    }

    #[test]
    fn every_offending_item_is_named() {
        let err = allocate(
            &order(),
            &[],
            &[
                sku("NOPE", 1),
                sku("MUG-001", 2),
                RequestedItem::Line {
                    line_item_id: 77,
                    quantity: 1,
                },
                sku("TSHIRT-001", 1),
            ],
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidItems);
        assert_eq!(
            err.details().unwrap()["items"],
            json!([
                {"sku": "NOPE", "quantity": 1, "problem": "unknown_sku"},
                {"sku": "MUG-001", "quantity": 2, "problem": "more_than_ordered",
                    "ordered": 1, "alreadyShipped": 0},
                {"lineItemId": 77, "quantity": 1, "problem": "unknown_line_item"},
            ])
        );
    }

    #[test]
    fn the_same_body_hashes_the_same_and_any_change_does_not() {
        let a = ShipmentRequest {
            shipment_id: "s".into(),
            tracking_number: "1Z".into(),
            carrier: "UPS".into(),
            tracking_url: None,
            shipped_at: None,
            items: vec![sku("A", 1)],
            notify_customer: true,
            complete: CompleteRule::Auto,
        };
        assert_eq!(a.hash(), a.clone().hash());
        let changed = [
            ShipmentRequest {
                tracking_number: "1Y".into(),
                ..a.clone()
            },
            ShipmentRequest {
                items: vec![sku("A", 2)],
                ..a.clone()
            },
            ShipmentRequest {
                complete: CompleteRule::Never,
                ..a.clone()
            },
            ShipmentRequest {
                notify_customer: false,
                ..a.clone()
            },
        ];
        for c in changed {
            assert_ne!(c.hash(), a.hash());
        }
    }
}
