//! HTTP adapter of the tenant's shipment routes (tenant API key): decode and validate, call
//! one use case, encode.

use std::sync::Arc;

use super::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::extract::{parse_json, Bearer, RawBody};
use super::wire;
use crate::auth::store_not_found;
use crate::domain::{OrderId, Scope, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::CompleteRule;
use crate::shipments::{self, shipment_document, Accepted, RequestedItem, ShipmentRequest};
use crate::wiring::Services;

type AppState = State<Arc<Services>>;

/// Most items one shipment names.
pub const MAX_ITEMS: usize = 100;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShipmentBody {
    /// The tenant's id for the shipment (its idempotency key).
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,64}$", example = "box-1")]
    shipment_id: String,
    #[schema(example = "1Z999AA10123456784")]
    tracking_number: String,
    #[schema(example = "UPS")]
    carrier: String,
    /// An http(s) URL.
    #[serde(default)]
    #[schema(format = "uri", max_length = 2048)]
    tracking_url: Option<String>,
    /// RFC 3339, not in the future.
    #[serde(default)]
    #[schema(format = DateTime)]
    shipped_at: Option<String>,
    /// What is in the box (default: the whole order).
    #[serde(default)]
    #[schema(max_items = 100)]
    items: Vec<ItemBody>,
    /// Let WooCommerce email the customer (default true).
    #[serde(default)]
    notify_customer: Option<bool>,
    /// When to complete the order: `auto` (default), `always`, `never`.
    #[serde(default)]
    #[schema(example = "auto")]
    complete: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemBody {
    /// One of `sku` and `lineItemId`.
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    line_item_id: Option<u64>,
    #[schema(minimum = 1, maximum = 100000)]
    quantity: u32,
}

/// A shipment id: the tenant's own, 1-64 of `A-Z a-z 0-9 . _ : -` (it appears in paths).
fn valid_shipment_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// Printable text of 1..=`max` characters, trimmed.
fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid_request(format!(
            "{field} must be 1-{max} printable characters"
        )));
    }
    Ok(v.to_owned())
}

fn request_of(body: ShipmentBody) -> Result<ShipmentRequest> {
    if !valid_shipment_id(&body.shipment_id) {
        return Err(Error::invalid_request(
            "shipmentId must be 1-64 characters of A-Z a-z 0-9 . _ : -",
        ));
    }
    let tracking_number = text("trackingNumber", &body.tracking_number, 64)?;
    let carrier = text("carrier", &body.carrier, 64)?;
    let tracking_url = match body.tracking_url {
        None => None,
        Some(raw) => {
            if crate::domain::web_url(&raw).is_none() {
                return Err(Error::invalid_request(
                    "trackingUrl must be an http(s) URL of at most 2048 characters",
                ));
            }
            Some(raw)
        }
    };
    let shipped_at = match body.shipped_at {
        None => None,
        Some(raw) => {
            let t = DateTime::parse_from_rfc3339(&raw)
                .map_err(|_| Error::invalid_request("shippedAt must be an RFC 3339 time"))?
                .with_timezone(&Utc);
            if t > Utc::now() + chrono::Duration::days(1) {
                return Err(Error::invalid_request(
                    "shippedAt must not be in the future",
                ));
            }
            Some(t)
        }
    };
    if body.items.len() > MAX_ITEMS {
        return Err(Error::invalid_request(format!(
            "items: at most {MAX_ITEMS} per shipment"
        )));
    }
    let items = body
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if !(1..=100_000).contains(&item.quantity) {
                return Err(Error::invalid_request(format!(
                    "items[{i}].quantity must be 1-100000"
                )));
            }
            match (item.sku, item.line_item_id) {
                (Some(sku), None) => Ok(RequestedItem::Sku {
                    sku: text(&format!("items[{i}].sku"), &sku, 100)?,
                    quantity: item.quantity,
                }),
                (None, Some(line_item_id)) => Ok(RequestedItem::Line {
                    line_item_id,
                    quantity: item.quantity,
                }),
                _ => Err(Error::invalid_request(format!(
                    "items[{i}] must name exactly one of sku and lineItemId"
                ))),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let complete = match body.complete.as_deref() {
        None => CompleteRule::Auto,
        Some(c) => CompleteRule::parse(c)
            .ok_or_else(|| Error::invalid_request("complete must be one of auto, always, never"))?,
    };
    Ok(ShipmentRequest {
        shipment_id: body.shipment_id,
        tracking_number,
        carrier,
        tracking_url,
        shipped_at,
        items,
        notify_customer: body.notify_customer.unwrap_or(true),
        complete,
    })
}

fn ids(store_id: &str, order_id: &str) -> Result<(StoreId, OrderId)> {
    let store = StoreId::parse(store_id).map_err(|_| store_not_found())?;
    let order = OrderId::parse(order_id)
        .map_err(|_| Error::new(ErrorKind::OrderNotFound, "no such order"))?;
    Ok((store, order))
}

#[utoipa::path(
    post,
    path = "/v1/tenant/stores/{storeId}/orders/{orderId}/shipments",
    tag = "shipments",
    summary = "Write a shipment (tracking number, items) to the order in the store (shipments:write).",
    security(("tenantKey" = [])),
    params(super::openapi::OrderPath),
    request_body = ShipmentBody,
    responses(
        (status = 200, description = "The same shipment was accepted before.", body = wire::ShipmentAnswer),
        (status = 202, description = "Accepted; written to the store in the background.", body = wire::ShipmentAnswer),
        super::openapi::ShipmentErrors,
    )
)]
pub async fn create(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, order_id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse> {
    let (store, order) = ids(&store_id, &order_id)?;
    let link = svc
        .gate()
        .link_for_tenant_key(bearer.as_deref(), Scope::ShipmentsWrite, &store)
        .await?;
    let request = request_of(parse_json(&body)?)?;
    let (status, shipment) =
        match shipments::accept_shipment(&svc.accepting()?, &link, order, request).await? {
            Accepted::Created(s) => (StatusCode::ACCEPTED, s),
            Accepted::Existing(s) => (StatusCode::OK, s),
        };
    Ok((
        status,
        Json(wire::ShipmentAnswer {
            shipment: shipment_document(&shipment),
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/tenant/stores/{storeId}/orders/{orderId}/shipments",
    tag = "shipments",
    summary = "The order's shipments (shipments:read).",
    security(("tenantKey" = [])),
    params(super::openapi::OrderPath),
    responses(
        (status = 200, body = wire::ShipmentList),
        super::openapi::TenantOrderErrors,
    )
)]
pub async fn list(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, order_id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    let (store, order) = ids(&store_id, &order_id)?;
    svc.gate()
        .link_for_tenant_key(bearer.as_deref(), Scope::ShipmentsRead, &store)
        .await?;
    let all = shipments::list_shipments(svc.repos.shipments.as_ref(), &store, order).await?;
    Ok(Json(wire::ShipmentList {
        shipments: all.iter().map(shipment_document).collect(),
    })
    .into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/tenant/stores/{storeId}/orders/{orderId}/shipments/{shipmentId}",
    tag = "shipments",
    summary = "Remove a shipment from the store (shipments:write).",
    security(("tenantKey" = [])),
    params(super::openapi::ShipmentPath),
    responses(
        (status = 202, body = wire::ShipmentAnswer),
        super::openapi::ShipmentDeleteErrors,
    )
)]
pub async fn delete(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, order_id, shipment_id)): Path<(String, String, String)>,
) -> Result<impl IntoResponse> {
    let (store, order) = ids(&store_id, &order_id)?;
    svc.gate()
        .link_for_tenant_key(bearer.as_deref(), Scope::ShipmentsWrite, &store)
        .await?;
    if !valid_shipment_id(&shipment_id) {
        return Err(Error::new(ErrorKind::NotFound, "no such shipment"));
    }
    let s = shipments::delete_shipment(&svc.accepting()?, &store, order, &shipment_id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(wire::ShipmentAnswer {
            shipment: shipment_document(&s),
        }),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(v: serde_json::Value) -> Result<ShipmentRequest> {
        request_of(serde_json::from_value(v).map_err(|e| Error::invalid_request(e.to_string()))?)
    }

    #[test]
    fn a_full_body_is_read() {
        let r = body(
            json!({"shipmentId": "sh-1", "trackingNumber": " 1Z999 ", "carrier": "UPS",
            "trackingUrl": "https://ups.example/1Z999", "shippedAt": "2026-11-01T10:00:00+01:00",
            "items": [{"sku": "TSHIRT-001", "quantity": 2}, {"lineItemId": 7, "quantity": 1}],
            "notifyCustomer": false, "complete": "never"}),
        )
        .unwrap();
        assert_eq!(r.tracking_number, "1Z999");
        assert_eq!(r.complete, CompleteRule::Never);
        assert!(!r.notify_customer);
        assert_eq!(r.items.len(), 2);
        assert_eq!(
            r.shipped_at.unwrap().to_rfc3339(),
            "2026-11-01T09:00:00+00:00"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let base = json!({"shipmentId": "sh-1", "trackingNumber": "1Z", "carrier": "UPS"});
        let cases = [
            ("shipmentId", json!("a/b")),
            ("shipmentId", json!("")),
            ("trackingNumber", json!("   ")),
            ("carrier", json!("x".repeat(65))),
            ("trackingUrl", json!("javascript:alert(1)")),
            ("shippedAt", json!("yesterday")),
            ("shippedAt", json!("2999-01-01T00:00:00Z")),
            ("complete", json!("sometimes")),
            ("items", json!([{"quantity": 1}])),
            (
                "items",
                json!([{"sku": "A", "lineItemId": 1, "quantity": 1}]),
            ),
            ("items", json!([{"sku": "A", "quantity": 0}])),
        ];
        for (field, value) in cases {
            let mut b = base.clone();
            b[field] = value.clone();
            let err = body(b).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{field} {value}");
            assert!(err.message().contains(field), "{field}: {}", err.message());
        }
        let many: Vec<_> = (0..101)
            .map(|i| json!({"lineItemId": i, "quantity": 1}))
            .collect();
        let mut b = base.clone();
        b["items"] = json!(many);
        assert!(body(b).is_err());
        let mut b = base;
        b["surprise"] = json!(1);
        assert!(body(b).is_err(), "unknown fields are refused");
    }
}
