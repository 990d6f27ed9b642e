//! HTTP adapter of the connect function: decode, call one use case, encode.

use std::sync::Arc;

use super::extract::Path;
use axum::extract::State;
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolveBody {
    /// The tenant's code (any case).
    #[schema(example = "DEMO")]
    code: String,
    /// `woocommerce`.
    #[schema(example = "woocommerce")]
    platform: String,
    /// The plugin's install id.
    #[schema(
        pattern = "^[0-9A-Fa-f]{64}$",
        example = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
    )]
    device_id: String,
}

#[utoipa::path(
    post,
    path = "/v1/connect/resolve",
    tag = "connect",
    summary = "Which tenant a code names (wizard step 1).",
    request_body = ResolveBody,
    responses(
        (status = 200, body = wire::Resolved),
        super::openapi::ResolveErrors,
    )
)]
pub async fn resolve(
    State(svc): AppState,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<impl IntoResponse> {
    DeviceId::parse(&body.device_id)?;
    Platform::parse(&body.platform)?;
    let tenant = auth::resolve(svc.repos.tenants.as_ref(), &TenantCode::parse(&body.code)?).await?;
    Ok(Json(wire::Resolved::from(&tenant)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginBody {
    #[schema(example = "DEMO")]
    code: String,
    #[schema(example = "ops@demo.test")]
    email: String,
    #[schema(min_length = 1, max_length = 1024, format = Password)]
    password: String,
    #[schema(
        pattern = "^[0-9A-Fa-f]{64}$",
        example = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
    )]
    device_id: String,
}

#[utoipa::path(
    post,
    path = "/v1/connect/login",
    tag = "connect",
    summary = "A login of the tenant's user: a session token (wizard step 2).",
    request_body = LoginBody,
    responses(
        (status = 200, body = wire::LoggedIn),
        super::openapi::LoginErrors,
    )
)]
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

#[utoipa::path(
    get,
    path = "/v1/connect/stores",
    tag = "connect",
    summary = "The tenant's stores to pick from (wizard step 3).",
    security(("session" = [])),
    responses(
        (status = 200, body = wire::StoreList),
        super::openapi::SessionErrors,
    )
)]
pub async fn stores(State(svc): AppState, bearer: Bearer) -> Result<impl IntoResponse> {
    let session = auth::authenticate(&svc.gate(), bearer.as_deref()).await?;
    let choices = connect::list_stores(&svc.linking(), &session).await?;
    Ok(Json(wire::StoreList::from(choices.as_slice())).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WooKeysBody {
    consumer_key: String,
    consumer_secret: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkBody {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "st_demo_1")]
    store_id: String,
    #[schema(format = "uri", example = "https://shop.example.com")]
    store_url: String,
    #[schema(
        pattern = "^[0-9A-Fa-f]{64}$",
        example = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
    )]
    device_id: String,
    /// 1-10 WooCommerce statuses (default `["processing"]`).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 10)]
    trigger_statuses: Option<Vec<String>>,
    #[serde(default)]
    woo_commerce: Option<WooKeysBody>,
    /// A backfill to start once linked (needs `wooCommerce` keys).
    #[serde(default)]
    backfill: Option<BackfillBody>,
}

/// `POST /v1/stores/{storeId}/backfill`, and `backfill` in the link body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackfillBody {
    /// 1-20 WooCommerce statuses (default: the link's trigger statuses).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 20)]
    statuses: Option<Vec<String>>,
    /// RFC 3339.
    #[serde(default)]
    #[schema(format = DateTime)]
    created_after: Option<String>,
    /// RFC 3339, later than `createdAfter`.
    #[serde(default)]
    #[schema(format = DateTime)]
    created_before: Option<String>,
    /// Count the matching orders only.
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

#[utoipa::path(
    post,
    path = "/v1/stores/{storeId}/backfill",
    tag = "stores",
    summary = "Deliver the store's existing orders (or count them: dryRun).",
    security(("storeKey" = []), ("session" = [])),
    params(super::openapi::StorePath),
    request_body = BackfillBody,
    responses(
        (status = 200, description = "dryRun: how many orders match.", body = wire::BackfillCount),
        (status = 202, description = "The run started.", body = wire::BackfillStarted),
        super::openapi::BackfillErrors,
    )
)]
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

/// Where WooCommerce delivers a store's webhooks: the configured webhook base (the intake's
/// function URL), else the public base.
pub(crate) fn delivery_base(svc: &Services, headers: &HeaderMap) -> Result<String> {
    match &svc.webhook_base_url {
        Some(url) => Ok(url.as_str().trim_end_matches('/').to_owned()),
        None => public_base(svc, headers),
    }
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

#[utoipa::path(
    post,
    path = "/v1/connect/link",
    tag = "connect",
    summary = "Link a store (wizard step 4): the webhook to register and the store API key, once.",
    security(("session" = [])),
    request_body = LinkBody,
    responses(
        (status = 201, body = wire::Linked),
        super::openapi::LinkErrors,
    )
)]
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
    let base = delivery_base(&svc, &headers)?;
    let out = connect::link(&svc.linking(), &session, request, &base).await?;
    let mut answer = wire::Linked::from(&out);
    let started = match backfill {
        None => None,
        // The link stands whatever the backfill does; its outcome is part of the answer.
        Some(request) => Some(match svc.starting() {
            Ok(ports) => catchup::start_backfill(&ports, &out.link.store_id, request).await,
            Err(e) => Err(e),
        }),
    };
    answer.backfill = started.as_ref().map(|started| match started {
        Ok(Started::Running(run)) => wire::LinkBackfill::Started(wire::BackfillView::from(run)),
        Ok(Started::DryRun { matching }) => wire::LinkBackfill::Counted(wire::BackfillCount {
            matching: *matching,
        }),
        Err(e) => {
            tracing::warn!(store = %out.link.store_id, error = %e, "the backfill asked for with the link did not start");
            wire::LinkBackfill::NotStarted(wire::BackfillRefused {
                error: e.message(),
                state: "failed",
            })
        }
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/stores/{storeId}",
    tag = "stores",
    summary = "A store's link, counters, lag, catch-up and health.",
    security(("storeKey" = []), ("session" = [])),
    params(super::openapi::StorePath),
    responses(
        (status = 200, body = wire::StoreState),
        super::openapi::StoreCallerErrors,
    )
)]
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
#[utoipa::path(
    get,
    path = "/v1/tenant/stores/{storeId}",
    tag = "operations",
    summary = "A store's link, counters, lag, catch-up and health (stores:read).",
    security(("tenantKey" = [])),
    params(super::openapi::StorePath),
    responses(
        (status = 200, body = wire::StoreState),
        super::openapi::TenantOrderErrors,
    )
)]
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

#[utoipa::path(
    get,
    path = "/v1/stores/{storeId}/orders/{orderId}",
    tag = "stores",
    summary = "Where one order stands with the tenant.",
    security(("storeKey" = []), ("session" = [])),
    params(super::openapi::OrderPath),
    responses(
        (status = 200, body = wire::OrderState),
        super::openapi::StoreOrderErrors,
    )
)]
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
