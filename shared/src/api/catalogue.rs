//! HTTP adapter of the tenant's catalogue and inventory routes (tenant API key).

use std::collections::HashSet;
use std::sync::Arc;

use super::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::extract::{parse_json, Bearer, RawBody};
use super::wire;
use crate::auth::store_not_found;
use crate::catalogue::{self, InventoryRequest, MAX_ITEMS};
use crate::domain::{Scope, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::wiring::Services;

type AppState = State<Arc<Services>>;

/// Largest inventory body (20,000 SKUs of up to 100 characters, with room).
pub const INVENTORY_BODY_LIMIT: usize = 4 << 20;

/// Chunks of results one `GET …/inventory/jobs/{id}` answers (2 × 500 SKUs).
const RESULT_CHUNKS_PER_PAGE: u32 = 2;

/// The store, once the tenant key may reach it with `scope`.
async fn authorised(svc: &Services, bearer: &Bearer, id: &str, scope: Scope) -> Result<StoreId> {
    let store = StoreId::parse(id).map_err(|_| store_not_found())?;
    svc.gate()
        .link_for_tenant_key(bearer.as_deref(), scope, &store)
        .await?;
    Ok(store)
}

#[utoipa::path(
    post,
    path = "/v1/tenant/stores/{storeId}/catalogue/import",
    tag = "catalogue",
    summary = "Send the store's sellable products to the tenant (stores:read).",
    security(("tenantKey" = [])),
    params(super::openapi::StorePath),
    responses(
        (status = 202, body = wire::ImportStarted),
        super::openapi::CatalogueErrors,
    )
)]
pub async fn start_import(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
) -> Result<impl IntoResponse> {
    let store = authorised(&svc, &bearer, &store_id, Scope::StoresRead).await?;
    let run = catalogue::start_import(&svc.submitting()?, &store).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(wire::ImportStarted {
            import: wire::ImportRun::from(&run),
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/v1/tenant/stores/{storeId}/catalogue",
    tag = "catalogue",
    summary = "The store's catalogue: items, SKU problems, the last import (stores:read).",
    security(("tenantKey" = [])),
    params(super::openapi::StorePath),
    responses(
        (status = 200, body = wire::CatalogueState),
        super::openapi::CatalogueErrors,
    )
)]
pub async fn status(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
) -> Result<impl IntoResponse> {
    let store = authorised(&svc, &bearer, &store_id, Scope::StoresRead).await?;
    let items = svc.repos.catalogue.catalogue_items(&store).await?;
    let (empty, duplicates) =
        catalogue::finish_problems(svc.repos.catalogue.as_ref(), &store).await?;
    let run = svc.repos.catalogue.get_catalogue_run(&store).await?;
    Ok(Json(wire::CatalogueState {
        duplicate_skus: wire::duplicates(&duplicates),
        empty_skus: &empty,
        import: run.as_ref().map(wire::ImportRun::from),
        items: items.iter().filter(|i| !i.deleted).count(),
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryBody {
    /// When the tenant counted (RFC 3339); an older snapshot than the last applied is `stale`.
    #[schema(format = DateTime)]
    snapshot_at: String,
    /// 1-20,000 SKUs, each once.
    #[schema(min_items = 1, max_items = 20000)]
    items: Vec<InventoryItemBody>,
    /// The numbers already leave out the store's open orders.
    #[serde(default)]
    net_of_open_orders: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryItemBody {
    #[schema(example = "TSHIRT-001")]
    sku: String,
    #[schema(minimum = 0, maximum = 1000000000)]
    available: i64,
}

fn inventory_request(body: InventoryBody) -> Result<InventoryRequest> {
    let snapshot_at = DateTime::parse_from_rfc3339(&body.snapshot_at)
        .map_err(|_| Error::invalid_request("snapshotAt must be an RFC 3339 time"))?
        .with_timezone(&Utc);
    if snapshot_at > Utc::now() + chrono::Duration::minutes(5) {
        return Err(Error::invalid_request(
            "snapshotAt must not be in the future",
        ));
    }
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(Error::invalid_request(format!(
            "items: 1 to {MAX_ITEMS} per push"
        )));
    }
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(body.items.len());
    for (i, item) in body.items.into_iter().enumerate() {
        let sku = item.sku.trim().to_owned();
        if sku.is_empty() || sku.chars().count() > 100 || sku.chars().any(char::is_control) {
            return Err(Error::invalid_request(format!(
                "items[{i}].sku must be 1-100 printable characters"
            )));
        }
        if !(0..=1_000_000_000).contains(&item.available) {
            return Err(Error::invalid_request(format!(
                "items[{i}].available must be 0 to 1,000,000,000"
            )));
        }
        if !seen.insert(sku.clone()) {
            return Err(Error::invalid_request(format!(
                "items[{i}].sku {sku} appears twice"
            )));
        }
        items.push((sku, item.available));
    }
    Ok(InventoryRequest {
        snapshot_at,
        items,
        net_of_open_orders: body.net_of_open_orders,
    })
}

#[utoipa::path(
    put,
    path = "/v1/tenant/stores/{storeId}/inventory",
    tag = "catalogue",
    summary = "Set the store's stock from the tenant's numbers (inventory:write).",
    security(("tenantKey" = [])),
    params(super::openapi::StorePath),
    request_body = InventoryBody,
    responses(
        (status = 202, body = wire::JobAccepted),
        super::openapi::CatalogueErrors,
    )
)]
pub async fn push_inventory(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
    RawBody(body): RawBody,
) -> Result<impl IntoResponse> {
    let store = authorised(&svc, &bearer, &store_id, Scope::InventoryWrite).await?;
    let request = inventory_request(parse_json(&body)?)?;
    let job = catalogue::submit_inventory(&svc.submitting()?, &store, request).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(wire::JobAccepted {
            job: wire::InventoryJobView::from(&job),
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ResultsPage {
    #[serde(default)]
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/tenant/stores/{storeId}/inventory/jobs/{jobId}",
    tag = "catalogue",
    summary = "An inventory push and a page of its results (inventory:write).",
    security(("tenantKey" = [])),
    params(super::openapi::JobPath, super::openapi::CursorQuery),
    responses(
        (status = 200, body = wire::JobResults),
        super::openapi::CatalogueErrors,
    )
)]
pub async fn inventory_job(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, job_id)): Path<(String, String)>,
    Query(page): Query<ResultsPage>,
) -> Result<impl IntoResponse> {
    let store = authorised(&svc, &bearer, &store_id, Scope::InventoryWrite).await?;
    let not_found = || Error::new(ErrorKind::NotFound, "no such inventory job");
    if job_id.len() > 64
        || !job_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(not_found());
    }
    let job = svc
        .repos
        .catalogue
        .get_inventory_job(&store, &job_id)
        .await?
        .ok_or_else(not_found)?;
    let from: u32 = match page.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| Error::invalid_request("cursor is not one this route gave"))?,
    };
    let mut results = Vec::new();
    let mut next = from;
    while next < job.next_chunk.min(job.chunks) && next < from + RESULT_CHUNKS_PER_PAGE {
        if let Some(chunk) = svc
            .repos
            .catalogue
            .get_inventory_chunk(&store, &job_id, next)
            .await?
        {
            results.extend(chunk.results);
        }
        next += 1;
    }
    let more = next < job.next_chunk.min(job.chunks);
    Ok(Json(wire::JobResults {
        job: wire::InventoryJobView::from(&job),
        next_cursor: more.then(|| next.to_string()),
        results: &results,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{json, Value};

    fn body(v: Value) -> Result<InventoryRequest> {
        inventory_request(
            serde_json::from_value(v).map_err(|e| Error::invalid_request(e.to_string()))?,
        )
    }

    #[test]
    fn inventory_bodies_are_checked_field_by_field() {
        let ok = body(json!({"snapshotAt": "2026-01-01T10:00:00Z",
            "items": [{"sku": " A ", "available": 3}, {"sku": "B", "available": 0}]}))
        .unwrap();
        assert_eq!(ok.items, vec![("A".into(), 3), ("B".into(), 0)]);
        assert!(!ok.net_of_open_orders);
        for (v, field) in [
            (
                json!({"snapshotAt": "noon", "items": [{"sku": "A", "available": 1}]}),
                "snapshotAt",
            ),
            (
                json!({"snapshotAt": "2999-01-01T00:00:00Z", "items": [{"sku": "A", "available": 1}]}),
                "snapshotAt",
            ),
            (
                json!({"snapshotAt": "2026-01-01T10:00:00Z", "items": []}),
                "items",
            ),
            (
                json!({"snapshotAt": "2026-01-01T10:00:00Z", "items": [{"sku": "", "available": 1}]}),
                "sku",
            ),
            (
                json!({"snapshotAt": "2026-01-01T10:00:00Z", "items": [{"sku": "A", "available": -1}]}),
                "available",
            ),
            (
                json!({"snapshotAt": "2026-01-01T10:00:00Z", "items": [{"sku": "A", "available": 1}, {"sku": "A", "available": 2}]}),
                "twice",
            ),
        ] {
            let e = body(v).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidRequest);
            assert!(e.message().contains(field), "{field}: {}", e.message());
        }
    }
}
