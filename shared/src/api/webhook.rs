//! HTTP adapter of the webhook function: WooCommerce deliveries in, one queue message out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
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
