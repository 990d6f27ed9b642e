//! HTTP adapter of the connect function: decode, call one use case, encode.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Bearer, JsonBody};
use crate::auth::{self, StoreCaller};
use crate::connect::{self, LinkRequest};
use crate::crypto::SecretString;
use crate::domain::{
    DeviceId, Email, Password, Platform, StoreId, StoreUrl, TenantCode, TriggerStatus,
};
use crate::error::{Error, Result};
use crate::services::Services;
use crate::status;
use crate::woocommerce::WooCredentials;

type AppState = State<Arc<Services>>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveBody {
    code: String,
    platform: String,
    device_id: String,
}

pub async fn resolve(
    State(svc): AppState,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<Json<Value>> {
    DeviceId::parse(&body.device_id)?;
    Platform::parse(&body.platform)?;
    let tenant = auth::resolve(&svc, &TenantCode::parse(&body.code)?).await?;
    Ok(Json(
        json!({"tenant": {"code": tenant.code, "name": tenant.name}}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginBody {
    code: String,
    email: String,
    password: String,
    device_id: String,
}

pub async fn login(
    State(svc): AppState,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Json<Value>> {
    let device = DeviceId::parse(&body.device_id)?;
    let code = TenantCode::parse(&body.code)?;
    let password = Password::parse(&body.password)?;
    // A malformed email cannot belong to an account: same answer as a wrong password.
    let email = Email::parse(&body.email).map_err(|_| {
        Error::new(
            crate::error::ErrorKind::InvalidCredentials,
            "email or password is wrong",
        )
    })?;
    let issued = auth::login(&svc, &code, &email, password, &device).await?;
    Ok(Json(json!({
        "token": issued.token.expose(),
        "expiresAt": issued.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })))
}

pub async fn stores(State(svc): AppState, bearer: Bearer) -> Result<Json<Value>> {
    let session = auth::authenticate(&svc, bearer.as_deref()).await?;
    let choices = connect::list_stores(&svc, &session).await?;
    let stores: Vec<Value> = choices
        .into_iter()
        .map(|c| {
            json!({
                "id": c.store.id,
                "name": c.store.name,
                "customerId": c.store.customer_id,
                "linked": c.linked,
            })
        })
        .collect();
    Ok(Json(json!({ "stores": stores })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WooKeysBody {
    consumer_key: String,
    consumer_secret: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkBody {
    store_id: String,
    store_url: String,
    device_id: String,
    #[serde(default)]
    trigger_statuses: Option<Vec<String>>,
    #[serde(default)]
    woo_commerce: Option<WooKeysBody>,
}

fn woo_credentials(body: WooKeysBody) -> Result<WooCredentials> {
    let valid = |s: &str| !s.trim().is_empty() && s.len() <= 256 && s.is_ascii();
    if !valid(&body.consumer_key) || !valid(&body.consumer_secret) {
        return Err(Error::invalid_request(
            "wooCommerce.consumerKey and consumerSecret must be non-empty ASCII",
        ));
    }
    Ok(WooCredentials {
        consumer_key: SecretString::new(body.consumer_key.trim().to_owned()),
        consumer_secret: SecretString::new(body.consumer_secret.trim().to_owned()),
    })
}

/// The API's public base URL: configured, or the host API Gateway was called on.
fn public_base(svc: &Services, headers: &HeaderMap) -> Result<String> {
    if let Some(url) = &svc.public_url {
        return Ok(url.as_str().trim_end_matches('/').to_owned());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .ok_or_else(|| Error::invalid_request("the request has no usable Host header"))?;
    Ok(format!("https://{host}"))
}

pub async fn link(
    State(svc): AppState,
    bearer: Bearer,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LinkBody>,
) -> Result<impl IntoResponse> {
    let session = auth::authenticate(&svc, bearer.as_deref()).await?;
    let request = LinkRequest {
        store_id: StoreId::parse(&body.store_id)?,
        store_url: StoreUrl::parse(&body.store_url)?,
        device_id: DeviceId::parse(&body.device_id)?,
        trigger_statuses: TriggerStatus::parse_list(body.trigger_statuses.as_deref())?,
        woo: body.woo_commerce.map(woo_credentials).transpose()?,
    };
    let base = public_base(&svc, &headers)?;
    let out = connect::link(&svc, &session, request, &base).await?;
    let l = &out.link;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "link": {
                "storeId": l.store_id,
                "customerId": l.customer_id,
                "storeUrl": l.store_url,
                "status": l.status.as_str(),
                "triggerStatuses": l.trigger_statuses,
            },
            "webhook": {
                "deliveryUrl": out.delivery_url,
                "secret": out.webhook_secret.expose(),
                "topics": out.topics,
            },
            "apiKey": out.api_key.expose(),
        })),
    ))
}

pub async fn store_status(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
) -> Result<Json<Value>> {
    let caller = StoreCaller::from_bearer(bearer.as_deref())?;
    let store = StoreId::parse(&store_id)
        .map_err(|_| Error::new(crate::error::ErrorKind::StoreNotFound, "no such store"))?;
    let status = status::store_status(&svc, caller, &store).await?;
    let l = &status.link;
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Json(json!({
        "storeId": l.store_id,
        "status": l.status.as_str(),
        "storeUrl": l.store_url,
        "customerId": l.customer_id,
        "linkedAt": ts(l.linked_at),
        "disconnectedAt": l.disconnected_at.map(ts),
        "orders": {"received": status.received, "synced": status.synced, "failed": status.failed},
        "lastSyncAt": status.last_sync_at.map(ts),
    })))
}

pub async fn order_status(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, order_id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let caller = StoreCaller::from_bearer(bearer.as_deref())?;
    let store = StoreId::parse(&store_id)
        .map_err(|_| Error::new(crate::error::ErrorKind::StoreNotFound, "no such store"))?;
    let order = crate::domain::OrderId::parse(&order_id).map_err(|_| {
        Error::new(
            crate::error::ErrorKind::OrderNotFound,
            "woolink has not seen this order",
        )
    })?;
    let o = status::order_status(&svc, caller, &store, order).await?;
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Json(json!({
        "orderId": o.order_id,
        "state": o.state.as_str(),
        "wooStatus": o.woo_status,
        "version": o.version,
        "event": o.event,
        "webhookId": o.webhook_id,
        "syncedAt": o.synced_at.map(ts),
        "attempts": o.attempts,
        "lastError": o.last_error,
    })))
}
