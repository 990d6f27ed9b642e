//! The API's OpenAPI 3.1 reference, generated from the code: each route's path, parameters,
//! request body and answers come from its handler's `#[utoipa::path]` and the `wire` types it
//! returns; its error answers from the error kinds it can return, through the same
//! `status_of` and `code()` the error responses use. The routers are built from those
//! annotations (`utoipa_axum::routes!`), so no route exists without its entry.
//!
//! Served at `GET /openapi.json`; `woolink openapi` prints it, and `docs/openapi.json` and
//! `docs/API-REFERENCE.md` are it, checked equal by a test.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, Response, Schema};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};

use super::error::status_of;
use crate::domain::{
    CustomerId, OrderId, StoreId, StoreUrl, TenantCode, TenantEvent, Topic, TriggerStatus,
};
use crate::error::ErrorKind;

// ---------------------------------------------------------------------------------------------
// Domain values as the API writes them.

fn text(description: &str, pattern: Option<&str>, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .examples([example])
        .into()
}

/// A string that is one of `words`.
pub fn words(description: &str, words: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(words.iter().copied()))
}

macro_rules! text_schema {
    ($ty:ty, $description:expr, $pattern:expr, $example:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                text($description, $pattern, $example)
            }
        }
        impl ToSchema for $ty {}
    };
}

text_schema!(
    TenantCode,
    "A tenant's code: 1-32 letters, digits, '-' or '_', upper-cased.",
    Some("^[A-Z0-9_-]{1,32}$"),
    "ACME"
);
text_schema!(
    StoreId,
    "A store's id (the tenant's): 1-64 letters, digits, '-' or '_'.",
    Some("^[A-Za-z0-9_-]{1,64}$"),
    "st_demo_1"
);
text_schema!(
    CustomerId,
    "The tenant's id for the merchant: 1-128 printable characters.",
    None,
    "cus_1"
);
text_schema!(
    StoreUrl,
    "The shop's address: http(s), no credentials, query or fragment, no trailing slash.",
    None,
    "https://shop.example.com"
);
text_schema!(
    TriggerStatus,
    "A WooCommerce order status name without `wc-` (never a draft status).",
    Some("^[a-z0-9_-]{1,32}$"),
    "processing"
);

impl PartialSchema for Topic {
    fn schema() -> RefOr<Schema> {
        let all: Vec<&str> = Topic::for_link(true).iter().map(|t| t.as_str()).collect();
        words("A WooCommerce webhook topic woolink registers.", &all).into()
    }
}
impl ToSchema for Topic {}

impl PartialSchema for TenantEvent {
    fn schema() -> RefOr<Schema> {
        words(
            "What the tenant was told about the order.",
            &[
                TenantEvent::Created.as_str(),
                TenantEvent::Updated.as_str(),
                TenantEvent::Cancelled.as_str(),
            ],
        )
        .into()
    }
}
impl ToSchema for TenantEvent {}

impl PartialSchema for OrderId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(utoipa::Number::UInt(u64::MAX as usize)))
            .description(Some("A WooCommerce order id."))
            .into()
    }
}
impl ToSchema for OrderId {}

impl PartialSchema for super::wire::Time {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 in UTC, to the second."))
            .examples(["2026-11-30T09:00:00Z"])
            .into()
    }
}
impl ToSchema for super::wire::Time {
    fn name() -> std::borrow::Cow<'static, str> {
        "Time".into()
    }
}

/// Any JSON value (`schema_with` for fields that carry what a store or a tenant wrote).
pub fn any_value() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
}

// ---------------------------------------------------------------------------------------------
// Error answers: from the kinds a route returns, through the one mapping to HTTP.

/// What every route may answer whatever it does: a request it cannot read (a path that is
/// not UTF-8 once decoded, a malformed query), a dependency failing (503), a bug (500).
const ALWAYS: [ErrorKind; 3] = [
    ErrorKind::InvalidRequest,
    ErrorKind::Unavailable,
    ErrorKind::Internal,
];

/// The error body with `code` limited to `codes`.
fn error_schema(codes: &[&str]) -> ObjectBuilder {
    let inner = ObjectBuilder::new()
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().copied())),
        )
        .required("code")
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "In the request's language (`?lang=`, `Accept-Language`).",
                )),
        )
        .required("message")
        .property(
            "details",
            any_value().description(Some("What the message cannot name (e.g. the wrong items).")),
        );
    ObjectBuilder::new()
        .property("error", inner)
        .required("error")
}

/// Responses for `kinds` (plus [`ALWAYS`]), one per status, each listing its codes. `html`:
/// a page route, whose refusals are pages too.
pub fn error_responses(kinds: &[ErrorKind], html: bool) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for kind in kinds.iter().chain(ALWAYS.iter()) {
        let codes = by_status.entry(status_of(*kind).as_u16()).or_default();
        if !codes.contains(&kind.code()) {
            codes.push(kind.code());
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let listed: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
            let mut response = ResponseBuilder::new()
                .description(listed.join(", "))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(error_schema(&codes)))
                        .build(),
                );
            if html {
                response = response.content(
                    "text/html",
                    ContentBuilder::new().schema(Some(String::schema())).build(),
                );
            }
            if status == 429 {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(i64::schema())
                        .description(Some("Seconds to wait."))
                        .build(),
                );
            }
            (status.to_string(), response.build().into())
        })
        .collect()
}

/// A route's error answers as a type `#[utoipa::path(responses(…))]` takes.
macro_rules! errors {
    ($(#[$meta:meta])* $name:ident, html = $html:expr, [$($kind:expr),* $(,)?]) => {
        $(#[$meta])*
        pub struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                #[allow(unused_imports)]
                use crate::error::ErrorKind::*;
                error_responses(&[$($kind),*], $html)
            }
        }
    };
}

errors!(
    /// `POST /v1/connect/resolve`.
    ResolveErrors, html = false,
    [InvalidRequest, PayloadTooLarge, UnsupportedPlatform, TenantNotFound, TenantInactive]
);
errors!(
    /// `POST /v1/connect/login`.
    LoginErrors, html = false,
    [InvalidRequest, PayloadTooLarge, TenantNotFound, TenantInactive, InvalidCredentials,
        TooManyAttempts { retry_after_secs: 0 }]
);
errors!(
    /// Routes for a login (session token) alone.
    SessionErrors, html = false,
    [InvalidToken, TenantInactive]
);
errors!(
    /// `POST /v1/connect/link`.
    LinkErrors, html = false,
    [InvalidRequest, InvalidStoreUrl, PayloadTooLarge, InvalidToken, TenantInactive,
        StoreNotFound, StoreAlreadyLinked, WooCommerceUnreachable, WooCommerceAuthFailed]
);
errors!(
    /// A store's routes for its own API key or a login of its tenant.
    StoreCallerErrors, html = false,
    [InvalidApiKey, InvalidToken, TenantInactive, StoreNotFound]
);
errors!(
    /// `GET /v1/stores/{storeId}/orders/{orderId}`.
    StoreOrderErrors, html = false,
    [InvalidApiKey, InvalidToken, TenantInactive, StoreNotFound, OrderNotFound]
);
errors!(
    /// `POST /v1/stores/{storeId}/backfill`.
    BackfillErrors, html = false,
    [InvalidRequest, PayloadTooLarge, InvalidApiKey, InvalidToken, TenantInactive,
        StoreNotFound, StoreDisconnected, Conflict, WooCommerceUnreachable,
        WooCommerceAuthFailed]
);
errors!(
    /// Tenant API key routes on the tenant as a whole.
    TenantKeyErrors, html = false,
    [InvalidRequest, InvalidApiKey, TenantInactive, InsufficientScope]
);
errors!(
    /// `PUT /v1/tenant/fulfilment`.
    EndpointErrors, html = false,
    [InvalidRequest, PayloadTooLarge, InvalidApiKey, TenantInactive, InsufficientScope]
);
errors!(
    /// Tenant API key routes on one of the tenant's stores.
    TenantStoreErrors, html = false,
    [InvalidRequest, InvalidApiKey, TenantInactive, InsufficientScope, StoreNotFound]
);
errors!(
    /// Tenant API key routes on one order of a store.
    TenantOrderErrors, html = false,
    [InvalidApiKey, TenantInactive, InsufficientScope, StoreNotFound, OrderNotFound]
);
errors!(
    /// Tenant API key routes that change something of a store.
    TenantControlErrors, html = false,
    [InvalidRequest, PayloadTooLarge, InvalidApiKey, TenantInactive, InsufficientScope,
        StoreNotFound, StoreDisconnected, OrderNotFound, Conflict]
);
errors!(
    /// `POST …/shipments`.
    ShipmentErrors, html = false,
    [InvalidRequest, PayloadTooLarge, InvalidApiKey, TenantInactive, InsufficientScope,
        StoreNotFound, OrderNotFound, StoreDisconnected, ShipmentConflict, OrderNotInScope,
        InvalidItems]
);
errors!(
    /// `DELETE …/shipments/{shipmentId}`.
    ShipmentDeleteErrors, html = false,
    [InvalidApiKey, TenantInactive, InsufficientScope, StoreNotFound, OrderNotFound,
        NotFound, StoreDisconnected, ShipmentConflict]
);
errors!(
    /// Catalogue and inventory routes.
    CatalogueErrors, html = false,
    [InvalidRequest, PayloadTooLarge, InvalidApiKey, TenantInactive, InsufficientScope,
        StoreNotFound, NotFound, StoreDisconnected, Conflict]
);
errors!(
    /// The disconnect routes.
    DisconnectErrors, html = false,
    [InvalidRequest, InvalidStoreUrl, PayloadTooLarge, InvalidApiKey, InvalidToken,
        TenantInactive, StoreNotFound, LinkMismatch]
);
errors!(
    /// WooCommerce's deliveries.
    WebhookErrors, html = false,
    [InvalidRequest, InvalidSignature, TenantInactive, StoreNotFound, StoreDisconnected,
        PayloadTooLarge, UnsupportedMediaType, TooManyAttempts { retry_after_secs: 0 }]
);
errors!(
    /// WooCommerce's consent callback.
    CallbackErrors, html = false,
    [InvalidRequest, PayloadTooLarge, InvalidToken, StoreAlreadyLinked, Conflict]
);
errors!(
    /// The connect pages: each refusal is a page in the visitor's language.
    PageErrors, html = true,
    [InvalidRequest, InvalidCredentials, InvalidToken, TenantInactive, TenantNotFound,
        StoreNotFound, NotFound, StoreAlreadyLinked, StoreDisconnected, PayloadTooLarge,
        WooCommerceAuthFailed, TooManyAttempts { retry_after_secs: 0 },
        WooCommerceUnreachable]
);

// ---------------------------------------------------------------------------------------------
// Parameters.

/// `{storeId}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct StorePath {
    /// The store's id (a malformed one is answered like an unknown one: 404).
    #[param(rename = "storeId")]
    store_id: StoreId,
}

/// `{storeId}` and `{orderId}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct OrderPath {
    /// The store's id.
    #[param(rename = "storeId")]
    store_id: StoreId,
    /// The WooCommerce order id (anything else is answered 404).
    #[param(rename = "orderId")]
    order_id: OrderId,
}

/// `{storeId}`, `{orderId}` and `{shipmentId}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ShipmentPath {
    #[param(rename = "storeId")]
    store_id: StoreId,
    #[param(rename = "orderId")]
    order_id: OrderId,
    /// The tenant's shipment id.
    #[param(rename = "shipmentId", pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    shipment_id: String,
}

/// `{storeId}` and `{jobId}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct JobPath {
    #[param(rename = "storeId")]
    store_id: StoreId,
    /// The inventory job's id (`POST …/inventory` answered it).
    #[param(rename = "jobId")]
    job_id: String,
}

/// `{tenantCode}` of the connect pages.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantPath {
    /// The tenant's code, any case.
    #[param(rename = "tenantCode")]
    tenant_code: String,
}

/// `?cursor=` of a list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CursorQuery {
    /// `nextCursor` of the page before, as it was given.
    cursor: Option<String>,
}

/// `?limit=&cursor=`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageQuery {
    /// Items per page, 1-100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `nextCursor` of the page before, as it was given.
    cursor: Option<String>,
}

/// `GET /v1/tenant/stores`'s query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StoresQuery {
    /// Only stores in this state.
    #[param(inline, schema_with = store_link_state)]
    status: Option<String>,
    /// Items per page, 1-100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `nextCursor` of the page before, as it was given.
    cursor: Option<String>,
}

fn store_link_state() -> ObjectBuilder {
    words(
        "Where the store stands with the tenant.",
        &["connected", "disconnected", "unlinked"],
    )
}

/// `GET /v1/tenant/stores/{storeId}/orders`'s query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OrdersQuery {
    /// Only orders in this state, newest change first (without it: every order, newest id
    /// first).
    #[param(inline, schema_with = listed_state)]
    state: Option<String>,
    /// With `state`: only orders that changed at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Items per page, 1-100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `nextCursor` of the page before, as it was given.
    cursor: Option<String>,
}

fn listed_state() -> ObjectBuilder {
    words("An order's state.", &["queued", "synced", "failed"])
}

/// `?purge=` of the disconnect routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PurgeQuery {
    /// Delete the store's order records now instead of letting them expire
    /// (`true`/`1`/empty, `false`/`0`).
    #[param(inline, schema_with = purge_words)]
    purge: Option<String>,
}

fn purge_words() -> ObjectBuilder {
    words("A yes or no.", &["true", "false", "1", "0", ""])
}

// ---------------------------------------------------------------------------------------------
// The document.

/// The credentials: each route's `security` names the one it takes.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                "tenantKey",
                "A tenant API key (`wlt_…`, `woolink tenant key create`), with the scopes the \
                 route names.",
            ),
            (
                "session",
                "A login's session token (`wls_…`, `POST /v1/connect/login`).",
            ),
            (
                "storeKey",
                "A link's API key (`wlk_…`, answered once by `POST /v1/connect/link`).",
            ),
        ] {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_owned());
            components.add_security_scheme(name, SecurityScheme::Http(http));
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "woolink",
        description = "WooCommerce ⇄ logistics integration: the merchants' connect flow, \
            WooCommerce's webhook deliveries, and the tenants' operations, shipments, catalogue \
            and stock. Errors are `{\"error\": {\"code\", \"message\"}}`; every answer carries \
            `x-request-id`. API.md explains each route; this reference is generated from the code.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Credentials),
    tags(
        (name = "connect", description = "Linking a store: the plugin's and the wizard's calls."),
        (name = "pages", description = "The one-click connect pages (HTML) and WooCommerce's consent callback."),
        (name = "stores", description = "A store's state, for its own API key or its tenant's login."),
        (name = "operations", description = "The tenant's stores, orders, history and controls (tenant API key)."),
        (name = "shipments", description = "Tracking back to the store (tenant API key)."),
        (name = "catalogue", description = "Products to the tenant, stock back to the store (tenant API key)."),
        (name = "disconnect", description = "Ending a link."),
        (name = "webhooks", description = "WooCommerce's deliveries."),
        (name = "meta", description = "This reference."),
    )
)]
struct Reference;

/// The whole API's reference: every function's routes.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Reference::openapi();
    doc.merge(super::connect_routes().into_openapi());
    doc.merge(super::disconnect_routes().into_openapi());
    doc.merge(super::webhook_routes().into_openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    share_error_answers(&mut doc);
    doc
}

/// Moves each distinct error answer into `components.responses` (named by its codes) and
/// refers to it: routes share a handful of refusal sets, and the document stays small.
fn share_error_answers(doc: &mut utoipa::openapi::OpenApi) {
    let mut shared: BTreeMap<String, RefOr<Response>> = BTreeMap::new();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for (status, answer) in op.responses.responses.iter_mut() {
                if !status.starts_with(['4', '5']) {
                    continue;
                }
                let RefOr::T(response) = answer else { continue };
                let Some(codes) = response
                    .content
                    .get("application/json")
                    .and_then(|c| serde_json::to_value(&c.schema).ok())
                    .and_then(|v| {
                        let codes = v.pointer("/properties/error/properties/code/enum")?;
                        let codes: Vec<String> = codes
                            .as_array()?
                            .iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect();
                        Some(codes)
                    })
                else {
                    continue;
                };
                let mut name = codes.join("__");
                if response.content.contains_key("text/html") {
                    name.push_str("__page");
                }
                let reference = RefOr::Ref(utoipa::openapi::Ref::from_response_name(&name));
                let definition = std::mem::replace(answer, reference);
                shared.entry(name).or_insert(definition);
            }
        }
    }
    doc.components
        .get_or_insert_with(Default::default)
        .responses
        .extend(shared);
}

/// [`document`] as pretty JSON with a final newline (what `docs/openapi.json` holds).
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut json = document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        json.push('\n');
        json
    })
}

/// `GET /openapi.json`: this reference.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "This reference (OpenAPI 3.1).",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json",
            body = Object),
    )
)]
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

/// The statuses each operation documents, by (method, route template).
#[cfg(debug_assertions)]
fn documented_statuses() -> &'static std::collections::HashMap<(String, String), Vec<u16>> {
    static STATUSES: OnceLock<std::collections::HashMap<(String, String), Vec<u16>>> =
        OnceLock::new();
    STATUSES.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap_or_default();
        let mut all = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let statuses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(s, _)| s.parse().ok())
                    .collect();
                all.insert((method.to_ascii_uppercase(), path.clone()), statuses);
            }
        }
        all
    })
}

/// Debug builds (tests, `cargo run -- dev`): an API route answering a status its reference
/// does not document is a bug, turned into a 500 and logged, so every test that reaches a
/// route also checks the reference. (405 is the router's, for methods no route has.)
#[cfg(debug_assertions)]
pub async fn conformance(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().as_str().to_owned();
    let path = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let Some(path) = path else { return response };
    match documented_statuses().get(&(method.clone(), path.clone())) {
        Some(statuses) if !statuses.contains(&status) && status != 405 => {
            tracing::error!(
                status,
                method,
                path,
                "the route answered a status its API reference does not document"
            );
            crate::error::Error::internal(format!(
                "{method} {path} answered {status}, which its reference does not document"
            ))
            .into_response()
        }
        _ => response,
    }
}

// ---------------------------------------------------------------------------------------------
// The reference as Markdown (`docs/API-REFERENCE.md`).

fn schema_summary(schema: &RefOr<Schema>) -> String {
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            format!("[`{name}`](#{})", name.to_ascii_lowercase())
        }
        RefOr::T(Schema::Array(a)) => match &a.items {
            utoipa::openapi::schema::ArrayItems::RefOrSchema(item) => {
                format!("array of {}", schema_summary(item))
            }
            _ => "array".to_owned(),
        },
        RefOr::T(Schema::Object(o)) => {
            if let Some(values) = &o.enum_values {
                let v: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
                return format!("one of {}", v.join(", "));
            }
            let ty = match serde_json::to_value(&o.schema_type) {
                Ok(serde_json::Value::String(t)) => t,
                Ok(serde_json::Value::Array(types)) => types
                    .iter()
                    .filter_map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                _ => String::new(),
            };
            match &o.format {
                Some(f) => {
                    let f = serde_json::to_value(f)
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    format!("{ty} ({})", f.replace('"', ""))
                }
                None if ty.is_empty() => "any".to_owned(),
                None => ty,
            }
        }
        RefOr::T(Schema::OneOf(o)) => {
            let parts: Vec<String> = o.items.iter().map(schema_summary).collect();
            parts.join(" or ")
        }
        RefOr::T(Schema::AllOf(a)) => {
            let parts: Vec<String> = a.items.iter().map(schema_summary).collect();
            format!("all of {}", parts.join(", "))
        }
        _ => "any".to_owned(),
    }
}

fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

/// The reference, readably: each route with its credentials, parameters, body and answers,
/// then each type's fields.
pub fn markdown(doc: &utoipa::openapi::OpenApi) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# API reference\n\nGenerated from the code (`woolink openapi --markdown`; the JSON is \
         `docs/openapi.json` and `GET /openapi.json`). API.md explains the routes with \
         examples; this page lists every route, what it takes and every answer it gives, with \
         the error codes behind each status.\n"
    );
    let mut routes = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            if let Some(op) = op {
                routes.push((path, method, op));
            }
        }
    }
    let _ = writeln!(out, "## Routes\n");
    let _ = writeln!(out, "| route | what |\n|---|---|");
    for (path, method, op) in &routes {
        let _ = writeln!(
            out,
            "| [`{method} {path}`](#{}) | {} |",
            anchor(&format!("{method} {path}")),
            cell(op.summary.as_deref().unwrap_or_default())
        );
    }
    for (path, method, op) in &routes {
        let _ = writeln!(out, "\n### `{method} {path}`\n");
        if let Some(s) = &op.summary {
            let _ = writeln!(out, "{s}\n");
        }
        if let Some(d) = &op.description {
            let _ = writeln!(out, "{d}\n");
        }
        let security: Vec<String> = op
            .security
            .iter()
            .flatten()
            .filter_map(|s| serde_json::to_value(s).ok())
            .filter_map(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
            .collect();
        if !security.is_empty() {
            let _ = writeln!(out, "Credentials: {}.\n", security.join(" or "));
        }
        if let Some(params) = &op.parameters {
            let _ = writeln!(out, "| parameter | in | type | |\n|---|---|---|---|");
            for p in params {
                let place = serde_json::to_value(&p.parameter_in)
                    .map(|v| v.to_string().replace('"', ""))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| `{}` | {place} | {} | {} |",
                    p.name,
                    p.schema.as_ref().map(schema_summary).unwrap_or_default(),
                    cell(p.description.as_deref().unwrap_or_default())
                );
            }
            out.push('\n');
        }
        if let Some(body) = &op.request_body {
            for (media, content) in &body.content {
                let _ = writeln!(
                    out,
                    "Body ({media}): {}.\n",
                    content
                        .schema
                        .as_ref()
                        .map(schema_summary)
                        .unwrap_or_default()
                );
            }
        }
        let _ = writeln!(out, "| status | answer |\n|---|---|");
        for (status, response) in &op.responses.responses {
            let r = match response {
                RefOr::T(r) => r,
                RefOr::Ref(reference) => {
                    let name = reference
                        .ref_location
                        .rsplit('/')
                        .next()
                        .unwrap_or_default();
                    match doc.components.as_ref().and_then(|c| c.responses.get(name)) {
                        Some(RefOr::T(r)) => r,
                        _ => continue,
                    }
                }
            };
            let bodies: Vec<String> = r
                .content
                .iter()
                .filter_map(|(media, c)| {
                    let s = c.schema.as_ref()?;
                    let named = matches!(s, RefOr::Ref(_)) || !status.starts_with(['4', '5']);
                    named.then(|| format!("{} ({media})", schema_summary(s)))
                })
                .collect();
            let mut answer = cell(&r.description);
            if !bodies.is_empty() {
                let sep = if answer.is_empty() { "" } else { " — " };
                answer = format!("{}{sep}{answer}", bodies.join(", "));
            }
            let _ = writeln!(out, "| {status} | {answer} |");
        }
    }
    let _ = writeln!(out, "\n## Types\n");
    if let Some(components) = &doc.components {
        for (name, schema) in &components.schemas {
            let _ = writeln!(out, "### {name}\n");
            match schema {
                RefOr::T(Schema::Object(o)) if !o.properties.is_empty() => {
                    if let Some(d) = &o.description {
                        let _ = writeln!(out, "{}\n", d);
                    }
                    let _ = writeln!(out, "| field | type | required | |\n|---|---|---|---|");
                    for (field, s) in &o.properties {
                        let description = match s {
                            RefOr::T(Schema::Object(f)) => f.description.clone(),
                            RefOr::T(Schema::Array(a)) => a.description.clone(),
                            _ => None,
                        };
                        let _ = writeln!(
                            out,
                            "| `{field}` | {} | {} | {} |",
                            schema_summary(s),
                            if o.required.contains(field) {
                                "yes"
                            } else {
                                ""
                            },
                            cell(description.as_deref().unwrap_or_default())
                        );
                    }
                }
                other => {
                    let _ = writeln!(out, "{}", schema_summary(other));
                    if let RefOr::T(Schema::Object(o)) = other {
                        if let Some(d) = &o.description {
                            let _ = writeln!(out, "\n{d}");
                        }
                    }
                }
            }
            out.push('\n');
        }
    }
    out
}

/// GitHub's heading anchor for a `### \`…\`` heading.
fn anchor(heading: &str) -> String {
    heading
        .to_ascii_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(file: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(file)
    }

    /// `docs/openapi.json` and `docs/API-REFERENCE.md` are what the code generates
    /// (`WOOLINK_UPDATE_DOCS=1 cargo test -p woolink-shared openapi` rewrites them).
    #[test]
    fn the_committed_reference_is_the_generated_one() {
        let json = document_json();
        let md = markdown(&document());
        for (file, generated) in [("openapi.json", json), ("API-REFERENCE.md", md.as_str())] {
            let path = docs(file);
            if std::env::var("WOOLINK_UPDATE_DOCS").as_deref() == Ok("1") {
                std::fs::write(&path, generated).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "docs/{file} is not what the code generates: run \
                 WOOLINK_UPDATE_DOCS=1 cargo test -p woolink-shared openapi"
            );
        }
    }

    /// Debug builds hold every route to its reference: a status it does not document is a 500.
    #[tokio::test]
    async fn an_undocumented_status_is_caught_in_debug_builds() {
        use axum::http::{Request, StatusCode};
        use tower::ServiceExt;
        let app = crate::api::finish(
            axum::Router::new()
                .route(
                    "/v1/tenant/audit",
                    axum::routing::get(|| async { StatusCode::IM_A_TEAPOT }),
                )
                .route(
                    "/v1/tenant/stores",
                    axum::routing::get(|| async { StatusCode::UNAUTHORIZED }),
                )
                .route(
                    "/_local/other",
                    axum::routing::get(|| async { StatusCode::IM_A_TEAPOT }),
                ),
        );
        let status = |path: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(
            status("/v1/tenant/audit").await,
            500,
            "418 is not documented"
        );
        assert_eq!(status("/v1/tenant/stores").await, 401, "401 is");
        assert_eq!(status("/_local/other").await, 418, "not an API route");
    }

    #[test]
    fn every_operation_answers_json_errors_with_codes_and_names_its_credentials() {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key(crate::api::pages::CALLBACK_PATH));
        let mut operations = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path}: no success answer"
                );
                // The reference itself is a constant: it cannot fail.
                let server_side: &[&str] = if path == "/openapi.json" {
                    &[]
                } else {
                    &["500", "503"]
                };
                for status in server_side {
                    let mut r = responses
                        .get(*status)
                        .unwrap_or_else(|| panic!("{method} {path}: {status} is not documented"));
                    if let Some(name) = r["$ref"].as_str() {
                        let name = name.trim_start_matches("#/components/responses/");
                        r = &doc["components"]["responses"][name];
                    }
                    let codes = &r["content"]["application/json"]["schema"]["properties"]["error"]
                        ["properties"]["code"]["enum"];
                    assert!(codes.is_array(), "{method} {path} {status}: no codes");
                }
                let tenant_route = path.starts_with("/v1/tenant/");
                if tenant_route {
                    assert_eq!(
                        op["security"],
                        serde_json::json!([{"tenantKey": []}]),
                        "{method} {path}"
                    );
                    for status in ["401", "403"] {
                        assert!(responses.contains_key(status), "{method} {path}: {status}");
                    }
                }
            }
        }
        assert_eq!(operations, 34, "every route of every function");
    }
}
