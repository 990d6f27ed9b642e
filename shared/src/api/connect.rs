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
use crate::catchup::{self, BackfillRequest, Started};
use crate::connect::{self, LinkRequest};
use crate::crypto::SecretString;
use crate::domain::{
    DeviceId, Email, OrderId, Password, Platform, Scope, StoreId, StoreUrl, TenantCode,
    TriggerStatus,
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
    /// A backfill to start once linked (needs `wooCommerce` keys).
    #[serde(default)]
    backfill: Option<BackfillBody>,
}

/// `POST /v1/stores/{storeId}/backfill`, and `backfill` in the link body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackfillBody {
    #[serde(default)]
    statuses: Option<Vec<String>>,
    #[serde(default)]
    created_after: Option<String>,
    #[serde(default)]
    created_before: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

fn backfill_request(body: BackfillBody) -> Result<BackfillRequest> {
    BackfillRequest::parse(
        body.statuses.as_deref(),
        body.created_after.as_deref(),
        body.created_before.as_deref(),
        body.dry_run,
    )
}

pub async fn backfill(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
    JsonBody(body): JsonBody<BackfillBody>,
) -> Result<impl IntoResponse> {
    let caller = StoreCaller::from_bearer(bearer.as_deref())?;
    let store = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    let request = backfill_request(body)?;
    auth::authorize_link(&svc.gate(), caller, &store).await?;
    match catchup::start_backfill(&svc.starting()?, &store, request).await? {
        Started::DryRun { matching } => Ok(Json(wire::BackfillCount { matching }).into_response()),
        Started::Running(run) => Ok((
            StatusCode::ACCEPTED,
            Json(wire::BackfillStarted {
                backfill: wire::BackfillView::from(&run),
            }),
        )
            .into_response()),
    }
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
pub(crate) fn public_base(svc: &Services, headers: &HeaderMap) -> Result<String> {
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
    let backfill = body.backfill.map(backfill_request).transpose()?;
    if backfill.is_some() && body.woo_commerce.is_none() {
        return Err(Error::invalid_request(
            "a backfill needs the store's wooCommerce keys in the link body",
        ));
    }
    let request = LinkRequest {
        store_id: StoreId::parse(&body.store_id)?,
        store_url: StoreUrl::parse(&body.store_url)?,
        device_id: DeviceId::parse(&body.device_id)?,
        trigger_statuses: TriggerStatus::parse_list(body.trigger_statuses.as_deref())?,
        woo: body.woo_commerce.map(woo_credentials).transpose()?,
    };
    let base = public_base(&svc, &headers)?;
    let out = connect::link(&svc.linking(), &session, request, &base).await?;
    let mut answer = serde_json::to_value(wire::Linked::from(&out))
        .map_err(|e| Error::internal(e.to_string()))?;
    if let Some(request) = backfill {
        // The link stands whatever the backfill does; its outcome is part of the answer.
        let started = match svc.starting() {
            Ok(ports) => catchup::start_backfill(&ports, &out.link.store_id, request).await,
            Err(e) => Err(e),
        };
        answer["backfill"] = match started {
            Ok(Started::Running(run)) => serde_json::to_value(wire::BackfillView::from(&run)),
            Ok(Started::DryRun { matching }) => {
                serde_json::to_value(wire::BackfillCount { matching })
            }
            Err(e) => {
                tracing::warn!(store = %out.link.store_id, error = %e, "the backfill asked for with the link did not start");
                Ok(serde_json::json!({"state": "failed", "error": e.message()}))
            }
        }
        .map_err(|e| Error::internal(e.to_string()))?;
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn store_status(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
) -> Result<impl IntoResponse> {
    let caller = StoreCaller::from_bearer(bearer.as_deref())?;
    let store = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    let records = status::CatchUpRecords {
        backfills: svc.repos.backfills.as_ref(),
        reconciliations: svc.repos.reconciliations.as_ref(),
        catalogue: svc.repos.catalogue.as_ref(),
    };
    let status = status::store_status(
        &svc.gate(),
        svc.repos.orders.as_ref(),
        records,
        caller,
        &store,
    )
    .await?;
    Ok(Json(wire::StoreState::from(&status)).into_response())
}

/// `GET /v1/tenant/stores/{storeId}`: the same status, for a tenant API key (`stores:read`).
pub async fn tenant_store_status(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
) -> Result<impl IntoResponse> {
    let store = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    let link = svc
        .gate()
        .link_for_tenant_key(bearer.as_deref(), Scope::StoresRead, &store)
        .await?;
    let records = status::CatchUpRecords {
        backfills: svc.repos.backfills.as_ref(),
        reconciliations: svc.repos.reconciliations.as_ref(),
        catalogue: svc.repos.catalogue.as_ref(),
    };
    let status = status::describe_store(link, svc.repos.orders.as_ref(), records).await?;
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
