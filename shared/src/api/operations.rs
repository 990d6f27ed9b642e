//! HTTP adapter of the tenant's operations routes (tenant API key): its stores, a store's
//! orders by state, and one order with its history. Every list is one index query per page.

use std::sync::Arc;

use super::extract::Path;
use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};

use super::extract::Bearer;
use super::wire::{self, time, Time};
use crate::auth::store_not_found;
use crate::domain::{OrderId, Scope, StoreId};
use crate::error::{Error, Result};
use crate::health::{After, OrderQuery};
use crate::model::{LinkStatus, OrderSync, Shipment, ShipmentState, SyncState};
use crate::wiring::Services;

type AppState = State<Arc<Services>>;

/// Items per page unless `limit` says otherwise, and the most it may say.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 100;

/// The query string as `name → value`, refusing names the route does not know and repeats.
fn query_params(raw: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !known.contains(&k.as_ref()) {
            return Err(Error::invalid_request(format!(
                "unknown query parameter {k:?} (known: {})",
                known.join(", ")
            )));
        }
        if seen.iter().any(|(n, _)| n == k.as_ref()) {
            return Err(Error::invalid_request(format!(
                "query parameter {k} given twice"
            )));
        }
        seen.push((k.into_owned(), v.into_owned()));
    }
    Ok(seen)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn limit_of(params: &[(String, String)]) -> Result<usize> {
    match param(params, "limit") {
        None => Ok(DEFAULT_PAGE),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::invalid_request(format!("limit must be a whole number 1-{MAX_PAGE}"))
            }),
    }
}

fn bad_cursor() -> Error {
    Error::invalid_request("cursor is not one this route gave (pass nextCursor back as it is)")
}

/// `GET /v1/tenant/stores?status=connected|disconnected|unlinked&limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/v1/tenant/stores",
    tag = "operations",
    summary = "The tenant's stores, by link state (stores:read).",
    security(("tenantKey" = [])),
    params(super::openapi::StoresQuery),
    responses(
        (status = 200, body = wire::TenantStores),
        super::openapi::TenantKeyErrors,
    )
)]
pub async fn stores(
    State(svc): AppState,
    bearer: Bearer,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    let params = query_params(raw.as_deref(), &["status", "limit", "cursor"])?;
    let key = svc
        .gate()
        .tenant_key(bearer.as_deref(), Scope::StoresRead)
        .await?;
    let wanted = match param(&params, "status") {
        None => None,
        Some(s @ ("connected" | "disconnected" | "unlinked")) => Some(s),
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "status {other:?} is not one of connected, disconnected, unlinked"
            )))
        }
    };
    let limit = limit_of(&params)?;
    let after = match param(&params, "cursor") {
        None => None,
        Some(c) => Some(decode_store_cursor(c).ok_or_else(bad_cursor)?),
    };
    let (page, next) = svc
        .repos
        .stores
        .list_stores_page(&key.tenant, after.as_ref(), limit)
        .await?;
    let ids: Vec<StoreId> = page.iter().map(|s| s.id.clone()).collect();
    let links = svc.repos.links.get_links(&ids).await?;
    let mut listed = Vec::with_capacity(page.len());
    for store in &page {
        let link = links
            .iter()
            .find(|l| l.store_id == store.id && l.tenant == key.tenant);
        let status = match link.map(|l| l.status) {
            None => "unlinked",
            Some(LinkStatus::Connected) => "connected",
            Some(LinkStatus::Disconnected) => "disconnected",
        };
        if wanted.is_some_and(|w| w != status) {
            continue;
        }
        listed.push(wire::StoreEntry {
            customer_id: store.customer_id.as_str(),
            linked_at: link.map(|l| Time(l.linked_at)),
            name: &store.name,
            status,
            store_id: store.id.as_str(),
            store_url: link.map(|l| l.store_url.as_str()),
        });
    }
    Ok(Json(wire::TenantStores {
        next_cursor: next.map(|id| encode_store_cursor(&id)),
        stores: listed,
    })
    .into_response())
}

fn encode_store_cursor(id: &StoreId) -> String {
    crate::health::cursor(&format!("s:{id}"))
}

fn decode_store_cursor(cursor: &str) -> Option<StoreId> {
    let raw = crate::health::cursor_text(cursor)?;
    StoreId::parse(raw.strip_prefix("s:")?).ok()
}

/// `GET /v1/tenant/stores/{storeId}/orders?state=queued|synced|failed&since=&limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/v1/tenant/stores/{storeId}/orders",
    tag = "operations",
    summary = "A store's orders, by state and time of change (orders:read).",
    security(("tenantKey" = [])),
    params(super::openapi::StorePath, super::openapi::OrdersQuery),
    responses(
        (status = 200, body = wire::OrderList),
        super::openapi::TenantStoreErrors,
    )
)]
pub async fn orders(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    let params = query_params(raw.as_deref(), &["state", "since", "limit", "cursor"])?;
    let store = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    svc.gate()
        .link_for_tenant_key(bearer.as_deref(), Scope::OrdersRead, &store)
        .await?;
    let state = match param(&params, "state") {
        None => None,
        Some(s) => match SyncState::parse(s).filter(|s| crate::health::indexed(*s)) {
            Some(state) => Some(state),
            None => {
                return Err(Error::invalid_request(format!(
                    "state {s:?} is not one of queued, synced, failed"
                )))
            }
        },
    };
    let since =
        match param(&params, "since") {
            None => None,
            Some(_) if state.is_none() => return Err(Error::invalid_request(
                "since needs a state (orders are listed by when they last changed within a state)",
            )),
            Some(s) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|_| {
                        Error::invalid_request(format!(
                            "since {s:?} is not an RFC 3339 time (e.g. 2026-11-30T09:00:00Z)"
                        ))
                    })?,
            ),
        };
    let after = match param(&params, "cursor") {
        None => None,
        Some(c) => {
            let after = After::decode(c).ok_or_else(bad_cursor)?;
            let fits = matches!(
                (&after, state),
                (After::Changed(_), Some(_)) | (After::Order(_), None)
            );
            if !fits {
                return Err(bad_cursor());
            }
            Some(after)
        }
    };
    let query = OrderQuery {
        state,
        since,
        limit: limit_of(&params)?,
        after,
    };
    let page = svc.repos.orders.list_orders(&store, &query).await?;
    Ok(Json(wire::OrderList {
        next_cursor: page.next.map(|a| a.encode()),
        orders: page.orders.iter().map(wire::OrderEntry::from).collect(),
    })
    .into_response())
}

/// `GET /v1/tenant/stores/{storeId}/orders/{orderId}`: the order, its history and its
/// shipments.
#[utoipa::path(
    get,
    path = "/v1/tenant/stores/{storeId}/orders/{orderId}",
    tag = "operations",
    summary = "One order with its history and its shipments (orders:read).",
    security(("tenantKey" = [])),
    params(super::openapi::OrderPath),
    responses(
        (status = 200, body = wire::OrderView),
        super::openapi::TenantOrderErrors,
    )
)]
pub async fn order(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, order_id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    let store = StoreId::parse(&store_id).map_err(|_| store_not_found())?;
    svc.gate()
        .link_for_tenant_key(bearer.as_deref(), Scope::OrdersRead, &store)
        .await?;
    let order = OrderId::parse(&order_id).map_err(|_| crate::status::order_not_found())?;
    let (found, shipments) = futures::try_join!(
        svc.repos.orders.get_order_sync(&store, order),
        crate::shipments::list_shipments(svc.repos.shipments.as_ref(), &store, order),
    )?;
    let found = found.ok_or_else(crate::status::order_not_found)?;
    Ok(Json(order_view(&found, &shipments)).into_response())
}

/// An order as its tenant sees it, with its history and its shipments' steps in time order
/// (times to the millisecond: attempts a few milliseconds apart stay apart).
pub fn order_view<'a>(o: &'a OrderSync, shipments: &'a [Shipment]) -> wire::OrderView<'a> {
    use wire::{Happened, ShipmentStep};
    let mut timeline: Vec<(DateTime<Utc>, Happened<'a>)> = o
        .timeline
        .iter()
        .map(|e| (e.at, Happened::Order(&e.step)))
        .collect();
    for s in shipments {
        timeline.push((
            s.created_at,
            Happened::Shipment(ShipmentStep::ShipmentRequested {
                shipment_id: &s.shipment_id,
                tracking_number: &s.tracking_number,
            }),
        ));
        let (error, method, shipment_id) = (
            s.last_error.as_deref(),
            s.method.as_deref(),
            s.shipment_id.as_str(),
        );
        let done = match s.state {
            ShipmentState::Written => Some(ShipmentStep::ShipmentWritten {
                error,
                method,
                shipment_id,
            }),
            ShipmentState::Failed => Some(ShipmentStep::ShipmentFailed {
                error,
                method,
                shipment_id,
            }),
            _ => None,
        };
        if let Some(step) = done {
            timeline.push((s.updated_at, Happened::Shipment(step)));
        }
    }
    timeline.sort_by_key(|(at, _)| *at);
    wire::OrderView {
        order: wire::OrderDetail {
            entry: wire::OrderEntry::from(o),
            created_at: Time(o.created_at),
            expires_at: time(o.expires_at),
            source: o.source.as_str(),
        },
        shipments: shipments
            .iter()
            .map(crate::shipments::shipment_document)
            .collect(),
        timeline: timeline
            .into_iter()
            .map(|(at, step)| wire::HistoryStep {
                at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                step,
            })
            .collect(),
        timeline_dropped: o.timeline_dropped,
    }
}

/// The caller's tenant API key (with `scope`) and the link of one of its tenant's stores.
async fn key_and_link(
    svc: &Services,
    bearer: &Bearer,
    scope: Scope,
    store_id: &str,
) -> Result<(crate::model::TenantApiKey, crate::model::Link)> {
    let store = StoreId::parse(store_id).map_err(|_| store_not_found())?;
    svc.gate()
        .key_and_link(bearer.as_deref(), scope, &store)
        .await
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsBody {
    /// 1-10 WooCommerce statuses.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 10)]
    trigger_statuses: Option<Vec<String>>,
    /// Hold (`true`) or resume (`false`) the store's deliveries.
    #[serde(default)]
    paused: Option<bool>,
}

/// `PATCH /v1/tenant/stores/{storeId}/settings` `{triggerStatuses?, paused?}` (`stores:write`).
#[utoipa::path(
    patch,
    path = "/v1/tenant/stores/{storeId}/settings",
    tag = "operations",
    summary = "Change a store's trigger statuses or pause it, without re-linking (stores:write, audited).",
    security(("tenantKey" = [])),
    params(super::openapi::StorePath),
    request_body = SettingsBody,
    responses(
        (status = 200, body = wire::SettingsView),
        super::openapi::TenantControlErrors,
    )
)]
pub async fn change_settings(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
    super::extract::RawBody(body): super::extract::RawBody,
) -> Result<impl IntoResponse> {
    let (key, link) = key_and_link(&svc, &bearer, Scope::StoresWrite, &store_id).await?;
    let body: SettingsBody = super::extract::parse_json(&body)?;
    let trigger_statuses = match body.trigger_statuses {
        None => None,
        Some(list) => {
            if list.is_empty() || list.len() > 10 {
                return Err(Error::invalid_request(
                    "triggerStatuses needs 1-10 WooCommerce statuses",
                ));
            }
            let mut parsed = Vec::with_capacity(list.len());
            for s in &list {
                let t = crate::domain::TriggerStatus::parse(s)?;
                if !parsed.contains(&t) {
                    parsed.push(t);
                }
            }
            Some(parsed)
        }
    };
    if trigger_statuses.is_none() && body.paused.is_none() {
        return Err(Error::invalid_request(
            "name a setting to change: triggerStatuses, paused",
        ));
    }
    let change = crate::controls::SettingsChange {
        trigger_statuses,
        paused: body.paused,
    };
    let link = crate::controls::change_settings(&svc.controlling(), &key, link, change).await?;
    Ok(Json(wire::SettingsView::from(&link)).into_response())
}

/// `POST /v1/tenant/stores/{storeId}/orders/{orderId}/resend` (`orders:write`).
#[utoipa::path(
    post,
    path = "/v1/tenant/stores/{storeId}/orders/{orderId}/resend",
    tag = "operations",
    summary = "Deliver an order again, as a new effect (orders:write, audited).",
    security(("tenantKey" = [])),
    params(super::openapi::OrderPath),
    responses(
        (status = 202, body = wire::ResendQueued),
        super::openapi::TenantControlErrors,
    )
)]
pub async fn resend(
    State(svc): AppState,
    bearer: Bearer,
    Path((store_id, order_id)): Path<(String, String)>,
) -> Result<impl IntoResponse> {
    let (key, link) = key_and_link(&svc, &bearer, Scope::OrdersWrite, &store_id).await?;
    let order = OrderId::parse(&order_id).map_err(|_| crate::status::order_not_found())?;
    let o = crate::controls::resend(&svc.controlling(), &key, &link, order).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(wire::ResendQueued {
            order: wire::OrderEntry::from(&o),
            resend: "queued",
        }),
    )
        .into_response())
}

/// `POST /v1/tenant/stores/{storeId}/orders/retry-failed[?cursor=…]` (`orders:write`).
#[utoipa::path(
    post,
    path = "/v1/tenant/stores/{storeId}/orders/retry-failed",
    tag = "operations",
    summary = "Deliver a store's failed orders again, 200 a call (orders:write, audited).",
    security(("tenantKey" = [])),
    params(super::openapi::StorePath, super::openapi::CursorQuery),
    responses(
        (status = 202, body = wire::RetryQueued),
        super::openapi::TenantControlErrors,
    )
)]
pub async fn retry_failed(
    State(svc): AppState,
    bearer: Bearer,
    Path(store_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    let params = query_params(raw.as_deref(), &["cursor"])?;
    let (key, link) = key_and_link(&svc, &bearer, Scope::OrdersWrite, &store_id).await?;
    let after = match param(&params, "cursor") {
        None => None,
        Some(c) => match After::decode(c) {
            Some(a @ After::Changed(_)) => Some(a),
            _ => return Err(bad_cursor()),
        },
    };
    let (queued, next) =
        crate::controls::retry_failed(&svc.controlling(), &key, &link, after).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(wire::RetryQueued {
            next_cursor: next.map(|a| a.encode()),
            queued,
        }),
    ))
}

/// `GET /v1/tenant/audit[?limit=…&cursor=…]` (`stores:read`): the tenant's controls, newest
/// first.
#[utoipa::path(
    get,
    path = "/v1/tenant/audit",
    tag = "operations",
    summary = "The tenant's controls, newest first (stores:read).",
    security(("tenantKey" = [])),
    params(super::openapi::PageQuery),
    responses(
        (status = 200, body = wire::AuditList),
        super::openapi::TenantKeyErrors,
    )
)]
pub async fn audit(
    State(svc): AppState,
    bearer: Bearer,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse> {
    let params = query_params(raw.as_deref(), &["limit", "cursor"])?;
    let key = svc
        .gate()
        .tenant_key(bearer.as_deref(), Scope::StoresRead)
        .await?;
    let limit = limit_of(&params)?;
    let after = match param(&params, "cursor") {
        None => None,
        Some(c) => Some(
            crate::health::cursor_text(c)
                .filter(|s| s.len() <= 64 && s.contains('#'))
                .ok_or_else(bad_cursor)?,
        ),
    };
    let (entries, next) = svc
        .repos
        .audits
        .list_audit(&key.tenant, after.as_deref(), limit)
        .await?;
    let next = next.map(|id| crate::health::cursor(&id));
    Ok(Json(wire::AuditList {
        entries: &entries,
        next_cursor: next,
    })
    .into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EndpointBody {
    /// The new fulfilment endpoint (https, a public host).
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "https://fulfilment.example.com/woolink"
    )]
    url: String,
}

/// `PUT /v1/tenant/fulfilment` `{url}` (`fulfilment:write`): where the tenant's orders go.
#[utoipa::path(
    put,
    path = "/v1/tenant/fulfilment",
    tag = "operations",
    summary = "Move the tenant's fulfilment endpoint (fulfilment:write, audited).",
    security(("tenantKey" = [])),
    request_body = EndpointBody,
    responses(
        (status = 200, body = wire::EndpointMoved),
        super::openapi::EndpointErrors,
    )
)]
pub async fn change_endpoint(
    State(svc): AppState,
    bearer: Bearer,
    super::extract::RawBody(body): super::extract::RawBody,
) -> Result<impl IntoResponse> {
    let key = svc
        .gate()
        .tenant_key(bearer.as_deref(), Scope::FulfilmentWrite)
        .await?;
    let body: EndpointBody = super::extract::parse_json(&body)?;
    if body.url.len() > 2048 {
        return Err(Error::invalid_request(
            "the fulfilment URL is longer than 2048 characters",
        ));
    }
    let changed = crate::controls::change_endpoint(&svc.controlling(), &key, &body.url).await?;
    Ok(Json(wire::EndpointMoved {
        fulfilment: wire::EndpointUrl { url: &body.url },
        result: if changed { "updated" } else { "unchanged" },
    })
    .into_response())
}
