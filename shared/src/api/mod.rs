//! HTTP routers. Each function serves its own router (through `lambda_http` in Lambda); the
//! local runner serves all of them merged (through `axum::serve`). Same code either way.

pub mod catalogue;
pub mod connect;
pub mod disconnect;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod operations;
pub mod pages;
pub mod shipments;
pub mod webhook;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use rand::RngCore;
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Error, ErrorKind};
use crate::intake::Intake;
use crate::wiring::Services;

/// Largest JSON body the connect routes accept.
pub const CONNECT_BODY_LIMIT: usize = 64 * 1024;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Largest delivery the webhook route reads (API Gateway's own limit is 10 MB); what fits
/// the queue is decided after verification.
pub const WEBHOOK_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// Routes of the `connect` function. Each comes from its handler's `#[utoipa::path]` (the
/// path is written once, and the OpenAPI reference has every route: `openapi`).
pub fn connect_routes() -> OpenApiRouter<Arc<Services>> {
    OpenApiRouter::new()
        .routes(routes!(pages::start))
        .routes(routes!(pages::tenant))
        .routes(routes!(pages::login))
        .routes(routes!(pages::stores))
        .routes(routes!(pages::authorize))
        .routes(routes!(pages::done))
        .routes(routes!(pages::callback))
        .routes(routes!(connect::resolve))
        .routes(routes!(connect::login))
        .routes(routes!(connect::stores))
        .routes(routes!(connect::link))
        .routes(routes!(connect::store_status))
        .routes(routes!(connect::backfill))
        .routes(routes!(connect::order_status))
        .routes(routes!(operations::stores))
        .routes(routes!(connect::tenant_store_status))
        .routes(routes!(operations::orders))
        .routes(routes!(operations::order))
        .routes(routes!(operations::resend))
        .routes(routes!(operations::retry_failed))
        .routes(routes!(operations::change_settings))
        .routes(routes!(operations::audit))
        .routes(routes!(operations::change_endpoint))
        .routes(routes!(shipments::create, shipments::list))
        .routes(routes!(shipments::delete))
        .routes(routes!(catalogue::status))
        .routes(routes!(catalogue::start_import))
        .routes(routes!(catalogue::inventory_job))
        .routes(routes!(openapi::serve))
        .layer(DefaultBodyLimit::max(CONNECT_BODY_LIMIT))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(catalogue::push_inventory))
                .layer(DefaultBodyLimit::max(catalogue::INVENTORY_BODY_LIMIT)),
        )
}

/// Routes of the `disconnect` function.
pub fn disconnect_routes() -> OpenApiRouter<Arc<Services>> {
    OpenApiRouter::new()
        .routes(routes!(disconnect::by_plugin))
        .routes(routes!(disconnect::by_tenant))
        .layer(DefaultBodyLimit::max(CONNECT_BODY_LIMIT))
}

/// The `disconnect` function's app.
pub fn disconnect_app(svc: Arc<Services>) -> Router {
    localized(finish(Router::from(disconnect_routes()).with_state(svc)))
}

/// Routes of the `webhook` function.
pub fn webhook_routes() -> OpenApiRouter<Arc<Intake>> {
    OpenApiRouter::new()
        .routes(routes!(webhook::deliver))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// The `connect` function's app.
pub fn connect_app(svc: Arc<Services>) -> Router {
    localized(finish(Router::from(connect_routes()).with_state(svc)))
}

/// The `webhook` function's app. Not localized: WooCommerce reads no message, and the
/// intake's hot path does nothing it does not need.
pub fn webhook_app(intake: Arc<Intake>) -> Router {
    finish(Router::from(webhook_routes()).with_state(intake))
}

/// Every route of every function, for the local runner, plus its own `extra` routes.
pub fn local_app(svc: Arc<Services>, intake: Arc<Intake>, extra: Router) -> Router {
    localized(finish(
        Router::from(connect_routes().merge(disconnect_routes()))
            .with_state(svc)
            .merge(Router::from(webhook_routes()).with_state(intake))
            .merge(extra),
    ))
}

/// The apps people and plugins call: answers in the request's language (`crate::i18n`).
fn localized(app: Router) -> Router {
    app.layer(middleware::from_fn(language))
}

/// Adds what every function's app has: JSON 404/405, request ids, access log.
pub fn finish(routes: Router) -> Router {
    #[cfg(debug_assertions)]
    let routes = routes.route_layer(middleware::from_fn(openapi::conformance));
    routes
        .fallback(|| async { Error::new(ErrorKind::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            Error::new(
                ErrorKind::MethodNotAllowed,
                "method not allowed on this route",
            )
        })
        .layer(middleware::from_fn(request_context))
}

/// The request's language (`?lang=`, then `Accept-Language`): the pages' words and the API's
/// error messages (`crate::i18n`).
async fn language(req: Request, next: Next) -> Response {
    let asked = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.into_owned())
    });
    let accept = req
        .headers()
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let lang = crate::i18n::Lang::negotiate(asked.as_deref(), accept.as_deref());
    crate::i18n::scope(lang, next.run(req)).await
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// One span per request with its id (API Gateway's in Lambda, else a random one); the id is
/// echoed in `x-request-id`. No bodies, no headers (they carry credentials) are logged.
async fn request_context(req: Request, next: Next) -> Response {
    // In Lambda, API Gateway's own request id: the access log, the function's log lines and
    // the answer's x-request-id then name a request alike.
    let request_id = match req
        .extensions()
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx
            .request_id
            .clone()
            .filter(|id| !id.is_empty() && id.len() <= 128),
        _ => None,
    }
    .unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_us = started.elapsed().as_micros() as u64,
            "request handled"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}
