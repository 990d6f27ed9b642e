//! HTTP adapter of the connect function: decode, call one use case, encode.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::extract::{Bearer, JsonBody, SourceIp};
use super::wire;
use crate::auth::store_not_found;
use crate::auth::{self, StoreCaller};
use crate::connect::{self, LinkRequest};
use crate::crypto::SecretString;
use crate::domain::{
    DeviceId, Email, OrderId, Password, Platform, StoreId, StoreUrl, TenantCode, TriggerStatus,
};
use crate::error::{Error, ErrorKind, Result};
use crate::status;
use crate::wiring::Services;
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
) -> Result<impl IntoResponse> {
    DeviceId::parse(&body.device_id)?;
    Platform::parse(&body.platform)?;
    let tenant = auth::resolve(svc.repos.tenants.as_ref(), &TenantCode::parse(&body.code)?).await?;
    Ok(Json(wire::Resolved::from(&tenant)).into_response())
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
    SourceIp(source): SourceIp,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<impl IntoResponse> {
    let device = DeviceId::parse(&body.device_id)?;
    let code = TenantCode::parse(&body.code)?;
    let password = Password::parse(&body.password)?;
    // A malformed email cannot belong to an account: same answer as a wrong password.
    let email = Email::parse(&body.email)
        .map_err(|_| Error::new(ErrorKind::InvalidCredentials, "email or password is wrong"))?;
    let issued = auth::login(&svc.logins(), source, &code, &email, password, &device).await?;
    Ok(Json(wire::LoggedIn {
        expires_at: wire::Time(issued.expires_at),
        token: issued.token.expose(),
    })
    .into_response())
}

pub async fn stores(State(svc): AppState, bearer: Bearer) -> Result<impl IntoResponse> {
    let session = auth::authenticate(&svc.gate(), bearer.as_deref()).await?;
    let choices = connect::list_stores(&svc.linking(), &session).await?;
    Ok(Json(wire::StoreList::from(choices.as_slice())).into_response())
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
    let session = auth::authenticate(&svc.gate(), bearer.as_deref()).await?;
    let request = LinkRequest {
        store_id: StoreId::parse(&body.store_id)?,
        store_url: StoreUrl::parse(&body.store_url)?,
        device_id: DeviceId::parse(&body.device_id)?,
        trigger_statuses: TriggerStatus::parse_list(body.trigger_statuses.as_deref())?,
        woo: body.woo_commerce.map(woo_credentials).transpose()?,
    };
    let base = public_base(&svc, &headers)?;
    let out = connect::link(&svc.linking(), &session, request, &base).await?;
    Ok((StatusCode::CREATED, Json(wire::Linked::from(&out))).into_response())
}

pub async fn store_status(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
) -> Result<impl IntoResponse> {
    let caller = StoreCaller::from_bearer(bearer.as_deref())?;
    let store = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    let status =
        status::store_status(&svc.gate(), svc.repos.orders.as_ref(), caller, &store).await?;
    Ok(Json(wire::StoreState::from(&status)).into_response())
}

pub async fn order_status(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, order_id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    let caller = StoreCaller::from_bearer(bearer.as_deref())?;
    let tenant = matches!(caller, StoreCaller::Token(_));
    let store = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    let order = OrderId::parse(&order_id).map_err(|_| status::order_not_found())?;
    let o = status::order_status(
        &svc.gate(),
        svc.repos.orders.as_ref(),
        caller,
        &store,
        order,
    )
    .await?;
    Ok(Json(if tenant {
        wire::OrderState::for_tenant(&o)
    } else {
        wire::OrderState::from(&o)
    })
    .into_response())
}
