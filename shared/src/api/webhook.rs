//! HTTP adapter of the webhook function: WooCommerce deliveries in, one queue message out.

use std::sync::Arc;

use super::extract::Path;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use super::extract::body_rejection;
use super::wire::Acknowledged;
use crate::auth::store_not_found;
use crate::domain::StoreId;
use crate::error::{Error, ErrorKind, Result};
use crate::intake::{is_ping, Intake, Outcome, UnverifiedDelivery};

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[utoipa::path(
    post,
    path = "/v1/webhooks/woocommerce/{storeId}",
    tag = "webhooks",
    summary = "WooCommerce's delivery of an order or product (signed), or its ping.",
    params(super::openapi::StorePath, ("X-WC-Webhook-Topic" = Option<String>, Header, description = "order.created, order.updated, …"), ("X-WC-Webhook-Signature" = Option<String>, Header, description = "base64 HMAC-SHA256 of the body with the link's webhook secret")),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 200, description = "`ok` (a ping), `queued` or `ignored`.", body = Acknowledged),
        super::openapi::WebhookErrors,
    )
)]
pub async fn deliver(
    State(intake): State<Arc<Intake>>,
    Path(store_id): Path<String>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Acknowledged>> {
    let body = body.map_err(body_rejection)?;
    let topic = header(&headers, "x-wc-webhook-topic");
    // WooCommerce's ping carries nothing to verify; it only needs a 200.
    if is_ping(topic.as_deref(), &body) {
        return Ok(Json(Acknowledged { status: "ok" }));
    }
    // WooCommerce sends every delivery as `application/json` (its ping alone is a form).
    let json = header(&headers, "content-type").is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Err(Error::new(
            ErrorKind::UnsupportedMediaType,
            "a delivery must be application/json",
        ));
    }
    let store_id = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    let outcome = intake
        .accept(UnverifiedDelivery {
            store_id,
            topic,
            signature: header(&headers, "x-wc-webhook-signature"),
            body,
        })
        .await?;
    Ok(Json(Acknowledged {
        status: match outcome {
            Outcome::Ignored { .. } => "ignored",
            Outcome::Queued { .. } | Outcome::ProductQueued { .. } => "queued",
        },
    }))
}
