//! HTTP adapter of the tenant's shipment routes (tenant API key): decode and validate, call
//! one use case, encode.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::extract::{parse_json, Bearer, RawBody};
use crate::auth::store_not_found;
use crate::domain::{OrderId, Scope, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::CompleteRule;
use crate::shipments::{self, shipment_document, Accepted, RequestedItem, ShipmentRequest};
use crate::wiring::Services;

type AppState = State<Arc<Services>>;

/// Most items one shipment names.
pub const MAX_ITEMS: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShipmentBody {
    shipment_id: String,
    tracking_number: String,
    carrier: String,
    #[serde(default)]
    tracking_url: Option<String>,
    #[serde(default)]
    shipped_at: Option<String>,
    #[serde(default)]
    items: Vec<ItemBody>,
    #[serde(default)]
    notify_customer: Option<bool>,
    #[serde(default)]
    complete: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemBody {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    line_item_id: Option<u64>,
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
            let ok = raw.len() <= 2048
                && url::Url::parse(&raw).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https") && u.host_str().is_some()
                });
            if !ok {
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
        Json(json!({"shipment": shipment_document(&shipment)})),
    ))
}

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
    let docs: Vec<_> = all.iter().map(shipment_document).collect();
    Ok(Json(json!({"shipments": docs})))
}

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
        Json(json!({"shipment": shipment_document(&s)})),
    ))
}

#[cfg(test)]
mod tests {
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
