//! HTTP adapter of the disconnect function.

use std::sync::Arc;

use super::extract::{Path, Query};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::extract::{parse_json, Bearer, RawBody};
use super::wire;
use crate::auth::store_not_found;
use crate::disconnect::{self, Caller, Disconnected};
use crate::domain::{CustomerId, StoreId, StoreUrl};
use crate::error::{Error, Result};
use crate::wiring::Services;

type AppState = State<Arc<Services>>;

#[derive(Deserialize, Default)]
pub struct PurgeQuery {
    #[serde(default)]
    purge: Option<String>,
}

impl PurgeQuery {
    fn purge(&self) -> Result<bool> {
        match self.purge.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(_) => Err(Error::invalid_request("purge must be true or false")),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectBody {
    #[schema(example = "https://shop.example.com")]
    store_url: String,
    #[schema(example = "cus_1")]
    customer_id: String,
}

fn answer(d: Disconnected) -> Response {
    Json(wire::Unlinked::from(&d)).into_response()
}

/// `POST /v1/connect/disconnect`: the plugin's remote uninstall.
#[utoipa::path(
    post,
    path = "/v1/connect/disconnect",
    tag = "disconnect",
    summary = "The plugin's disconnect: end the link, remove the webhooks and the keys.",
    security(("storeKey" = [])),
    params(super::openapi::PurgeQuery),
    request_body = DisconnectBody,
    responses(
        (status = 200, body = wire::Unlinked),
        super::openapi::DisconnectErrors,
    )
)]
pub async fn by_plugin(
    State(svc): AppState,
    bearer: Bearer,
    Query(q): Query<PurgeQuery>,
    RawBody(body): RawBody,
) -> Result<Response> {
    // No key, no look at the body: a stranger learns nothing from its errors.
    if bearer.as_deref().is_none() {
        return Err(crate::auth::invalid_api_key());
    }
    let body: DisconnectBody = parse_json(&body)?;
    let purge = q.purge()?;
    let caller = Caller::Plugin {
        api_key: bearer.as_deref(),
        store_url: StoreUrl::parse(&body.store_url)
            .map_err(|_| Error::invalid_request("storeUrl is not a valid URL"))?,
        customer_id: CustomerId::parse(&body.customer_id)?,
    };
    disconnect::disconnect(&svc.unlinking(), caller, purge)
        .await
        .map(answer)
}

/// `DELETE /v1/connect/links/{storeId}`: the tenant ends a link.
#[utoipa::path(
    delete,
    path = "/v1/connect/links/{storeId}",
    tag = "disconnect",
    summary = "The tenant ends a link.",
    security(("session" = [])),
    params(super::openapi::StorePath, super::openapi::PurgeQuery),
    responses(
        (status = 200, body = wire::Unlinked),
        super::openapi::DisconnectErrors,
    )
)]
pub async fn by_tenant(
    State(svc): AppState,
    bearer: Bearer,
    Path(store): Path<String>,
    Query(q): Query<PurgeQuery>,
) -> Result<Response> {
    let purge = q.purge()?;
    let store = StoreId::parse(&store).map_err(|_| store_not_found())?;
    let caller = Caller::Tenant {
        token: bearer.as_deref(),
        store,
    };
    disconnect::disconnect(&svc.unlinking(), caller, purge)
        .await
        .map(answer)
}
