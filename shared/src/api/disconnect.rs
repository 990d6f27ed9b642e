//! HTTP adapter of the disconnect function.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::extract::{Bearer, JsonBody};
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectBody {
    store_url: String,
    customer_id: String,
}

fn answer(d: Disconnected) -> Response {
    Json(wire::Unlinked::from(&d)).into_response()
}

/// `POST /v1/connect/disconnect`: the plugin's remote uninstall.
pub async fn by_plugin(
    State(svc): AppState,
    bearer: Bearer,
    Query(q): Query<PurgeQuery>,
    JsonBody(body): JsonBody<DisconnectBody>,
) -> Result<Response> {
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
