//! A fake WooCommerce store on loopback, shaped like the real one where they were compared.

use super::*;

/// What a fake WooCommerce store saw.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreCall {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub auth: Option<String>,
    pub body: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// How the store misbehaves, changeable while it runs.
#[derive(Clone, Debug, Default)]
pub struct Misbehaviour {
    /// Its host drops the `Authorization` header (keys work only in the query string).
    pub strips_authorization: bool,
    /// It answers `429` with `Retry-After: <secs>` to calls beyond this many per second.
    pub rate_limit: Option<(usize, u64)>,
    /// Its order list ignores `page` and `modified_after` (the first page, every time) and
    /// counts a million orders.
    pub ignores_paging: bool,
    /// It runs Advanced Shipment Tracking (`/wc-ast/v3/…/shipment-trackings`); without it
    /// those routes are 404 `rest_no_route`.
    pub ast: bool,
    /// It runs the official Shipment Tracking extension (`/wc-shipment-tracking/v3/…` only,
    /// no per-item data; custom providers shown as given).
    pub shipment_tracking: bool,
    /// It runs WooCommerce 10.1+ with Order Fulfillments on (`/wc/v3/orders/{id}/fulfillments`).
    pub fulfillments: bool,
    /// It has AST's `partial-shipped` order status (AST registers it when its setting is on).
    pub partial_shipped: bool,
    /// Its batch endpoints take at most this many items (WooCommerce's
    /// `woocommerce_rest_batch_items_limit` filter; 100 when unset).
    pub batch_limit: Option<usize>,
    /// Adding a tracking number, fulfillment or note answers 500.
    pub tracking_fails: bool,
    /// Adding a tracking number, fulfillment or note does not answer in time (the client
    /// times out; the store writes nothing).
    pub tracking_hangs: bool,
    /// Core's tracking lookup (`…/fulfillments/lookup`) answers this status and body.
    pub lookup: Option<(u16, Value)>,
    /// Every answer takes this long (a slow host: shared hosting under load).
    pub latency: Option<std::time::Duration>,
    /// WordPress with plain permalinks: `/wp-json/` is a 404, the REST API answers only at
    /// `/?rest_route=/`.
    pub plain_permalinks: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// Accepts the right keys, refuses others with 401.
    Healthy,
    /// Creates `n` webhooks, then answers 500.
    FailsAfter(usize),
}

/// The fake store's catalogue, shaped like the real test store's (`woocommerce-stack`): a
/// T-shirt 10 (0.25), mug 11 (0.40), a variable product 12 without a weight of its own, its
/// variations 13 and 14 (0.80 each); variable product 22's variation 23; every other id a
/// simple product (or variation) weighing id / 10 (as WooCommerce sends it: a string).
fn catalogue_parent(id: u64) -> Option<u64> {
    match id {
        13 | 14 => Some(12),
        // The REST docs' order sample: "Ship Your Idea" 22, its variation 23.
        23 => Some(22),
        _ => None,
    }
}

/// The catalogue's virtual product (a gift card: nothing to ship).
pub const VIRTUAL_PRODUCT: u64 = 15;

fn catalogue_weight(id: u64) -> String {
    match id {
        10 => "0.25".into(),
        11 => "0.40".into(),
        12 => String::new(),
        13 | 14 => "0.80".into(),
        _ => format!("{}", id as f64 / 10.0),
    }
}

/// A fake WooCommerce store: a real HTTP server on loopback speaking the webhooks REST API.
pub struct FakeStore {
    pub url: String,
    pub calls: Arc<Mutex<Vec<StoreCall>>>,
    /// The pings of new webhooks: delivery URL and the status it answered (0: no answer).
    pings: Arc<Mutex<Vec<(String, u16)>>>,
    orders: Arc<Mutex<std::collections::HashMap<u64, String>>>,
    webhooks: Arc<Mutex<std::collections::BTreeMap<u64, Value>>>,
    misbehaviour: Arc<Mutex<Misbehaviour>>,
    next_id: Arc<AtomicU64>,
    trackings: Trackings,
    refunds: Trackings,
    notes: Trackings,
    fulfillments: Trackings,
    products: Catalogue,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Products and variations by id, as the store keeps them.
type Catalogue = Arc<Mutex<std::collections::BTreeMap<u64, Value>>>;

/// Entries per order (AST tracking numbers, order notes), as the store keeps them.
type Trackings = Arc<Mutex<std::collections::HashMap<u64, Vec<Value>>>>;

impl Drop for FakeStore {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const CONSUMER_KEY: &str = "ck_0123456789abcdef0123456789abcdef01234567";
pub const CONSUMER_SECRET: &str = "cs_fedcba9876543210fedcba9876543210fedcba98";

impl FakeStore {
    pub async fn start(mode: StoreMode) -> Self {
        use axum::extract::{Path, RawQuery, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        use axum::routing::{get, post};
        use base64::Engine as _;

        #[derive(Clone)]
        struct St {
            calls: Arc<Mutex<Vec<StoreCall>>>,
            pings: Arc<Mutex<Vec<(String, u16)>>>,
            orders: Arc<Mutex<std::collections::HashMap<u64, String>>>,
            webhooks: Arc<Mutex<std::collections::BTreeMap<u64, Value>>>,
            misbehaviour: Arc<Mutex<Misbehaviour>>,
            trackings: Trackings,
            refunds: Trackings,
            notes: Trackings,
            fulfillments: Trackings,
            products: Catalogue,
            mode: StoreMode,
            next_id: Arc<AtomicU64>,
        }
        fn auth_of(h: &HeaderMap) -> Option<String> {
            h.get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }
        fn query_param(q: &Option<String>, name: &str) -> Option<String> {
            q.as_deref()?.split('&').find_map(|kv| {
                kv.strip_prefix(&format!("{name}="))
                    .map(|v| v.replace("%2C", ",").replace("%3A", ":"))
            })
        }
        /// As WooCommerce: HTTP Basic keys, or (over HTTPS, here anywhere) the query string;
        /// a host that strips the header leaves only the latter.
        fn authorized(st: &St, h: &HeaderMap, q: &Option<String>) -> bool {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{CONSUMER_KEY}:{CONSUMER_SECRET}"))
            );
            let stripped = st.misbehaviour.lock().expect("lock").strips_authorization;
            let by_header = !stripped && auth_of(h).as_deref() == Some(expected.as_str());
            let by_query = query_param(q, "consumer_key").as_deref() == Some(CONSUMER_KEY)
                && query_param(q, "consumer_secret").as_deref() == Some(CONSUMER_SECRET);
            by_header || by_query
        }
        let calls = Arc::new(Mutex::new(Vec::new()));
        let orders = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let webhooks = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
        let misbehaviour = Arc::new(Mutex::new(Misbehaviour::default()));
        let slow = misbehaviour.clone();
        let pings = Arc::new(Mutex::new(Vec::new()));
        let next_id = Arc::new(AtomicU64::new(100));
        let trackings: Trackings = Arc::default();
        let refunds: Trackings = Arc::default();
        let notes: Trackings = Arc::default();
        let fulfillments: Trackings = Arc::default();
        let products: Catalogue = Arc::default();
        let state = St {
            products: products.clone(),
            trackings: trackings.clone(),
            refunds: refunds.clone(),
            notes: notes.clone(),
            fulfillments: fulfillments.clone(),
            calls: calls.clone(),
            pings: pings.clone(),
            orders: orders.clone(),
            webhooks: webhooks.clone(),
            misbehaviour: misbehaviour.clone(),
            mode,
            next_id: next_id.clone(),
        };
        fn record(st: &St, method: &str, path: String, query: Option<String>, h: &HeaderMap) {
            st.calls.lock().expect("lock").push(StoreCall {
                method: method.into(),
                path,
                query,
                auth: auth_of(h),
                body: Value::Null,
                at: std::time::Instant::now(),
            });
        }
        fn no_route() -> axum::response::Response {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"code": "rest_no_route",
                    "message": "No route was found matching the URL and request method",
                    "data": {"status": 404}})),
            )
                .into_response()
        }
        fn server_error() -> axum::response::Response {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"code": "internal_server_error", "message": "boom",
                    "data": {"status": 500}})),
            )
                .into_response()
        }
        /// Records a call with its JSON body; the store's `429` when it is over its limit.
        #[allow(clippy::result_large_err)]
        fn arrived(
            st: &St,
            method: &axum::http::Method,
            uri: &axum::http::Uri,
            q: &Option<String>,
            headers: &HeaderMap,
            body: &[u8],
        ) -> Result<(String, Value), axum::response::Response> {
            let path = uri.path().to_owned();
            let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            st.calls.lock().expect("lock").push(StoreCall {
                method: method.to_string(),
                path: path.clone(),
                query: q.clone(),
                auth: auth_of(headers),
                body: body.clone(),
                at: std::time::Instant::now(),
            });
            match limited(st) {
                Some(busy) => Err(busy),
                None => Ok((path, body)),
            }
        }
        /// The tracking side of a store: AST (both its namespaces), the Shipment Tracking
        /// extension, core fulfillments, order notes, order statuses and status updates, as
        /// their docs and the real store describe them.
        async fn tracking_api(
            State(st): State<St>,
            method: axum::http::Method,
            uri: axum::http::Uri,
            RawQuery(q): RawQuery,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::response::Response {
            let (path, body) = match arrived(&st, &method, &uri, &q, &headers, &body) {
                Ok(call) => call,
                Err(busy) => return busy,
            };
            let m = st.misbehaviour.lock().expect("lock").clone();
            let rest = path.trim_start_matches("/wp-json/");
            let parts: Vec<&str> = rest.split('/').collect();
            // (namespace, resource, order, entry)
            let (ns, resource, order, entry) = match parts.as_slice() {
                [a, b, "orders", id, res] => (format!("{a}/{b}"), *res, id.parse().ok(), None),
                [a, b, "orders", id, res, e] => {
                    (format!("{a}/{b}"), *res, id.parse().ok(), Some(*e))
                }
                ["wc", "v3", "reports", "orders", "totals"] => {
                    ("wc/v3".into(), "totals", None, None)
                }
                ["wc", "v3", "orders", id] => ("wc/v3".into(), "order", id.parse().ok(), None),
                _ => return no_route(),
            };
            let served = match (ns.as_str(), resource) {
                ("wc-ast/v3", "shipment-trackings") => m.ast,
                ("wc-shipment-tracking/v3", "shipment-trackings") => m.ast || m.shipment_tracking,
                ("wc/v3", "fulfillments") => m.fulfillments,
                ("wc/v3", "notes" | "totals" | "order" | "refunds") => true,
                _ => false,
            };
            if !served {
                return no_route();
            }
            if !authorized(&st, &headers, &q) {
                return not_allowed().into_response();
            }
            let writes = method == axum::http::Method::POST;
            if writes && m.tracking_hangs {
                // Longer than any client waits; then it fails without writing anything.
                tokio::time::sleep(Duration::from_secs(60)).await;
                return server_error();
            }
            if writes && m.tracking_fails {
                return server_error();
            }
            let statuses = || {
                let mut s: Vec<&str> = vec![
                    "pending",
                    "processing",
                    "on-hold",
                    "completed",
                    "cancelled",
                    "refunded",
                    "failed",
                    "checkout-draft",
                ];
                if m.partial_shipped {
                    s.push("partial-shipped");
                }
                s
            };
            if resource == "totals" {
                let list: Vec<Value> = statuses()
                    .into_iter()
                    .map(|slug| json!({"slug": slug, "name": slug, "total": 0}))
                    .collect();
                return (StatusCode::OK, axum::Json(Value::Array(list))).into_response();
            }
            let Some(order) = order else {
                return no_route();
            };
            if resource == "refunds" {
                // GET /wc/v3/orders/{id}/refunds: as WooCommerce lists them (negative amounts,
                // each refunded line naming the order's line in `_refunded_item_id`).
                let list = st
                    .refunds
                    .lock()
                    .expect("lock")
                    .get(&order)
                    .cloned()
                    .unwrap_or_default();
                return (StatusCode::OK, axum::Json(Value::Array(list))).into_response();
            }
            if resource == "order" {
                // PUT /wc/v3/orders/{id}: only the status is changed here.
                let wanted = body["status"].as_str().unwrap_or_default().to_owned();
                if !statuses().contains(&wanted.as_str()) {
                    return (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({"code": "rest_invalid_param",
                        "message": "Invalid parameter(s): status", "data": {"status": 400}})),
                    )
                        .into_response();
                }
                let mut orders = st.orders.lock().expect("lock");
                let Some(raw) = orders.get_mut(&order) else {
                    return (
                        StatusCode::NOT_FOUND,
                        axum::Json(json!({"code": "woocommerce_rest_shop_order_invalid_id",
                        "message": "Invalid ID.", "data": {"status": 404}})),
                    )
                        .into_response();
                };
                let mut o: Value = serde_json::from_str(raw).expect("stored order");
                o["status"] = json!(wanted);
                *raw = o.to_string();
                return (StatusCode::OK, axum::Json(o)).into_response();
            }
            let kind = match resource {
                "fulfillments" => &st.fulfillments,
                "notes" => &st.notes,
                _ => &st.trackings,
            };
            if method == axum::http::Method::DELETE && resource == "fulfillments" {
                // A soft delete: `date_deleted` set; a second delete of it is HTTP 400 with
                // `"code": 404`.
                let id = entry.unwrap_or_default().to_owned();
                let mut all = kind.lock().expect("lock");
                let found =
                    all.entry(order).or_default().iter_mut().find(|e| {
                        e["id"].as_u64() == id.parse().ok() && e["date_deleted"].is_null()
                    });
                return match found {
                    Some(e) => {
                        e["date_deleted"] = json!("2026-12-07 15:39:03");
                        (
                            StatusCode::OK,
                            axum::Json(json!({"message": "Fulfillment deleted successfully."})),
                        )
                            .into_response()
                    }
                    None => (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({"code": 404,
                        "message": "Fulfillment not found.", "data": {"status": 400}})),
                    )
                        .into_response(),
                };
            }
            if method == axum::http::Method::DELETE {
                let id = entry.unwrap_or_default().to_owned();
                let mut all = kind.lock().expect("lock");
                let list = all.entry(order).or_default();
                let before = list.len();
                list.retain(|e| {
                    let eid = match resource {
                        "shipment-trackings" => {
                            e["tracking_id"].as_str().unwrap_or_default().to_owned()
                        }
                        _ => e["id"].to_string(),
                    };
                    eid != id
                });
                if list.len() == before {
                    return (
                        StatusCode::NOT_FOUND,
                        axum::Json(json!({"code": "woocommerce_rest_invalid_id",
                        "message": "Invalid ID.", "data": {"status": 404}})),
                    )
                        .into_response();
                }
                return (StatusCode::OK, axum::Json(json!({"deleted": true}))).into_response();
            }
            if method == axum::http::Method::GET {
                if entry == Some("providers") {
                    let providers = if m.ast {
                        // The real test store's AST carriers.
                        json!({"United States": {"USPS": "https://tools.usps.com/?%1$s",
                            "UPS": "https://www.ups.com/track?tracknum=%1$s",
                            "FedEx": "https://www.fedex.com/fedextrack/?tracknumbers=%1$s"},
                            "Global": {"DHL Express": "https://www.dhl.com/?AWB=%1$s"}})
                    } else {
                        let sample: Value = serde_json::from_slice(&fixture(
                            "fluxc-wc-order-shipment-providers-success.json",
                        ))
                        .expect("fixture");
                        sample["data"].clone()
                    };
                    return (StatusCode::OK, axum::Json(providers)).into_response();
                }
                if resource == "fulfillments" && entry == Some("lookup") {
                    // Core's guess of the carrier and its tracking page (the recorded answer's
                    // shape, for UPS numbers).
                    if let Some((status, body)) = m.lookup.clone() {
                        let status = StatusCode::from_u16(status).expect("a status");
                        return (status, axum::Json(body)).into_response();
                    }
                    let number = query_param(&q, "tracking_number").unwrap_or_default();
                    let ups = format!("https://www.ups.com/track?tracknum={number}");
                    let answer = if number.starts_with("1Z") {
                        json!({"tracking_number": number, "shipping_provider": "ups", "tracking_url": ups,
                            "possibilities": {"ups": {"url": ups, "ambiguity_score": 95}}})
                    } else {
                        json!({"tracking_number": number, "shipping_provider": "", "tracking_url": "",
                            "possibilities": []})
                    };
                    return (StatusCode::OK, axum::Json(answer)).into_response();
                }
                let list: Vec<Value> = kind
                    .lock()
                    .expect("lock")
                    .get(&order)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| e.get("date_deleted").is_none_or(Value::is_null))
                    .collect();
                return (StatusCode::OK, axum::Json(Value::Array(list))).into_response();
            }
            if !writes {
                return no_route();
            }
            if !st.orders.lock().expect("lock").contains_key(&order) && resource != "notes" {
                return (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"code": "woocommerce_rest_order_invalid_id",
                    "message": "Invalid order ID.", "data": {"status": 404}})),
                )
                    .into_response();
            }
            let id = st.next_id.fetch_add(1, Ordering::Relaxed);
            let created = match resource {
                "fulfillments" => {
                    // As core's REST API answered in the reference recordings
                    // (`recorded/wc10.5-*/04-fulfillments/`).
                    let Some(sent) = body["meta_data"].as_array() else {
                        return (
                            StatusCode::BAD_REQUEST,
                            axum::Json(json!({"code": "rest_missing_callback_param",
                            "message": "Missing parameter(s): meta_data",
                            "data": {"status": 400, "params": ["meta_data"]}})),
                        )
                            .into_response();
                    };
                    // Entries without `"id"` are dropped without a word.
                    let mut meta: Vec<Value> = sent
                        .iter()
                        .filter(|e| e.get("id").is_some())
                        .cloned()
                        .enumerate()
                        .map(|(i, mut e)| {
                            e["id"] = json!(id * 100 + i as u64);
                            e
                        })
                        .collect();
                    let items = meta
                        .iter()
                        .find(|e| e["key"] == "_items")
                        .and_then(|e| e["value"].as_array().cloned())
                        .unwrap_or_default();
                    if items.is_empty() {
                        return (
                            StatusCode::BAD_REQUEST,
                            axum::Json(json!({"code": 0,
                            "message": "The fulfillment should contain at least one item.",
                            "data": {"status": 400}})),
                        )
                            .into_response();
                    }
                    if items.iter().any(|i| i["qty"].as_u64().unwrap_or(0) == 0) {
                        return (
                            StatusCode::BAD_REQUEST,
                            axum::Json(json!({"code": 0,
                            "message": "Invalid item.", "data": {"status": 400}})),
                        )
                            .into_response();
                    }
                    let fulfilled = body["status"] == "fulfilled";
                    if fulfilled {
                        meta.push(
                            json!({"key": "_date_fulfilled", "value": "2026-12-07 15:38:59",
                            "id": id * 100 + 99}),
                        );
                    }
                    let notify = body["notify_customer"].as_bool();
                    json!({"id": id, "entity_type": "WC_Order", "entity_id": order.to_string(),
                        "status": if fulfilled { "fulfilled" } else { "unfulfilled" },
                        "is_fulfilled": fulfilled, "date_updated": "2026-12-07 15:38:59",
                        "notify_customer": notify, "date_deleted": null, "meta_data": meta})
                }
                "notes" => {
                    json!({"id": id, "note": body["note"], "customer_note": body["customer_note"]})
                }
                _ => {
                    if body["tracking_number"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty()
                    {
                        return (StatusCode::BAD_REQUEST, axum::Json(json!({"code": "rest_missing_callback_param",
                            "message": "Missing parameter(s): tracking_number", "data": {"status": 400}}))).into_response();
                    }
                    let known = ["USPS", "UPS", "FedEx", "DHL Express"];
                    let named = body["tracking_provider"].as_str().unwrap_or_default();
                    let custom = body["custom_tracking_provider"]
                        .as_str()
                        .unwrap_or_default();
                    // AST shows a carrier it does not list as empty (the real store's README);
                    // the Shipment Tracking extension shows a custom one as given.
                    let (provider, link) = if m.ast {
                        let name = if custom.is_empty() { named } else { custom };
                        if known.contains(&name) {
                            (
                                name.to_owned(),
                                format!(
                                    "https://track.example/{}",
                                    body["tracking_number"].as_str().unwrap_or_default()
                                ),
                            )
                        } else {
                            (String::new(), String::new())
                        }
                    } else if custom.is_empty() {
                        (named.to_owned(), String::new())
                    } else {
                        (
                            custom.to_owned(),
                            body["custom_tracking_link"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        )
                    };
                    json!({"tracking_id": format!("{id:032x}"), "tracking_provider": provider,
                        "tracking_number": body["tracking_number"], "tracking_link": link,
                        "date_shipped": body["date_shipped"]})
                }
            };
            kind.lock()
                .expect("lock")
                .entry(order)
                .or_default()
                .push(created.clone());
            (StatusCode::CREATED, axum::Json(created)).into_response()
        }
        /// Products, variations, their batch endpoints and the product settings, as
        /// WooCommerce serves them: a stored catalogue (`add_product`), else (for the weight
        /// look-ups of the order tests) the synthetic one of `catalogue_weight`.
        async fn catalogue_api(
            State(st): State<St>,
            method: axum::http::Method,
            uri: axum::http::Uri,
            RawQuery(q): RawQuery,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::response::Response {
            let (path, body) = match arrived(&st, &method, &uri, &q, &headers, &body) {
                Ok(call) => call,
                Err(busy) => return busy,
            };
            if !authorized(&st, &headers, &q) {
                return not_allowed().into_response();
            }
            let rest = path.trim_start_matches("/wp-json/wc/v3/");
            let parts: Vec<&str> = rest.split('/').collect();
            let param = |name: &str| query_param(&q, name);
            let products = st.products.lock().expect("lock").clone();
            // As WooCommerce 7.9's variations endpoint: neither `type` nor `parent_id` in them.
            let of_parent = |parent: u64| -> Vec<Value> {
                products
                    .values()
                    .filter(|p| p["parent_id"] == parent && parent != 0)
                    .map(|p| {
                        let mut v = p.clone();
                        if let Some(o) = v.as_object_mut() {
                            o.remove("type");
                            o.remove("parent_id");
                        }
                        v
                    })
                    .collect()
            };
            let page_of = |list: Vec<Value>| -> axum::response::Response {
                let per_page: usize = param("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
                let page: usize = param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let pages = list.len().div_ceil(per_page.max(1)).max(1);
                let slice: Vec<Value> = list
                    .into_iter()
                    .skip((page - 1) * per_page)
                    .take(per_page)
                    .collect();
                let mut h = HeaderMap::new();
                h.insert("x-wp-totalpages", pages.into());
                (StatusCode::OK, h, axum::Json(Value::Array(slice))).into_response()
            };
            let invalid = |id: u64| {
                json!({"id": id, "error": {"code": "woocommerce_rest_product_invalid_id",
                "message": "Invalid ID.", "data": {"status": 400}}})
            };
            let batch = |parent: Option<u64>| -> axum::response::Response {
                let count = ["create", "update", "delete"]
                    .iter()
                    .map(|k| body[*k].as_array().map_or(0, Vec::len))
                    .sum::<usize>();
                let limit = st
                    .misbehaviour
                    .lock()
                    .expect("lock")
                    .batch_limit
                    .unwrap_or(100);
                if count > limit {
                    return (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        axum::Json(json!({
                        "code": "woocommerce_rest_request_entity_too_large",
                        "message": format!("Unable to accept more than {limit} items for this request."),
                        "data": {"status": 413}})),
                    )
                        .into_response();
                }
                let mut stored = st.products.lock().expect("lock");
                let updated: Vec<Value> = body["update"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| {
                        let id = u["id"].as_u64().unwrap_or(0);
                        match stored
                            .get_mut(&id)
                            .filter(|p| parent.is_none_or(|par| p["parent_id"] == par))
                        {
                            Some(p) => {
                                if p["manage_stock"] == true {
                                    if let Some(q) = u.get("stock_quantity") {
                                        p["stock_quantity"] = q.clone();
                                    }
                                }
                                p.clone()
                            }
                            None => invalid(id),
                        }
                    })
                    .collect();
                (StatusCode::OK, axum::Json(json!({"update": updated}))).into_response()
            };
            match (method.as_str(), parts.as_slice()) {
                ("GET", ["settings", "products", setting]) => {
                    let value = if setting.contains("weight") {
                        "kg"
                    } else {
                        "cm"
                    };
                    (
                        StatusCode::OK,
                        axum::Json(json!({"id": setting, "value": value})),
                    )
                        .into_response()
                }
                ("GET", ["products"]) => {
                    if q.as_deref().is_some_and(|q| q.contains("include=")) {
                        // As WooCommerce: variations are not listed among the products.
                        let list: Vec<Value> = included(&q).into_iter().filter_map(|id| {
                            match products.get(&id) {
                                Some(p) if p["parent_id"] == 0 || p["parent_id"].is_null() => Some(p.clone()),
                                Some(_) => None,
                                None => catalogue_parent(id).is_none().then(|| json!({"id": id,
                                    "weight": catalogue_weight(id), "virtual": id == VIRTUAL_PRODUCT})),
                            }
                        }).collect();
                        return (StatusCode::OK, axum::Json(Value::Array(list))).into_response();
                    }
                    if let Some(sku) = param("sku") {
                        let list: Vec<Value> = products
                            .values()
                            .filter(|p| {
                                p["sku"] == sku.as_str()
                                    && (p["parent_id"] == 0 || p["parent_id"].is_null())
                            })
                            .cloned()
                            .collect();
                        return (StatusCode::OK, axum::Json(Value::Array(list))).into_response();
                    }
                    page_of(
                        products
                            .values()
                            .filter(|p| p["parent_id"] == 0 || p["parent_id"].is_null())
                            .cloned()
                            .collect(),
                    )
                }
                ("GET", ["products", id]) => {
                    match id.parse::<u64>().ok().and_then(|id| products.get(&id)) {
                        Some(p) => (StatusCode::OK, axum::Json(p.clone())).into_response(),
                        None => (
                            StatusCode::NOT_FOUND,
                            axum::Json(json!({"code": "woocommerce_rest_product_invalid_id",
                        "message": "Invalid ID.", "data": {"status": 404}})),
                        )
                            .into_response(),
                    }
                }
                ("GET", ["products", parent, "variations"]) => {
                    let parent: u64 = parent.parse().unwrap_or(0);
                    if q.as_deref().is_some_and(|q| q.contains("include=")) {
                        let ids = included(&q);
                        let mut list: Vec<Value> = of_parent(parent)
                            .into_iter()
                            .filter(|v| ids.contains(&v["id"].as_u64().unwrap_or(0)))
                            .collect();
                        if list.is_empty() {
                            list = ids
                                .into_iter()
                                .filter(|id| catalogue_parent(*id) == Some(parent))
                                .map(|id| json!({"id": id, "weight": catalogue_weight(id)}))
                                .collect();
                        }
                        return (StatusCode::OK, axum::Json(Value::Array(list))).into_response();
                    }
                    page_of(of_parent(parent))
                }
                ("POST", ["products", "batch"]) => batch(None),
                ("POST", ["products", parent, "variations", "batch"]) => batch(parent.parse().ok()),
                _ => no_route(),
            }
        }
        /// A `429` when the calls of the last second exceed the store's own limit.
        fn limited(st: &St) -> Option<axum::response::Response> {
            let (per_second, retry_after) = st.misbehaviour.lock().expect("lock").rate_limit?;
            let now = std::time::Instant::now();
            let recent = st
                .calls
                .lock()
                .expect("lock")
                .iter()
                .filter(|c| now.duration_since(c.at) < Duration::from_secs(1))
                .count();
            (recent > per_second).then(|| {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", retry_after.to_string())],
                    "{\"code\":\"rate_limited\"}",
                )
                    .into_response()
            })
        }
        fn not_allowed() -> (StatusCode, axum::Json<Value>) {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": "woocommerce_rest_cannot_view",
                    "message": "Sorry, you cannot list resources.", "data": {"status": 401}})),
            )
        }
        fn included(q: &Option<String>) -> Vec<u64> {
            q.as_deref()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("include=")))
                .unwrap_or("")
                .replace("%2C", ",")
                .split(',')
                .filter_map(|id| id.parse::<u64>().ok())
                .collect()
        }
        /// The REST API's index, as WordPress lists it (WooCommerce adds `wc/v3`).
        fn rest_index() -> axum::response::Response {
            axum::Json(json!({"name": "Fake Store", "url": "", "namespaces":
                ["oembed/1.0", "wc/store/v1", "wc/v1", "wc/v2", "wc/v3", "wp/v2"]}))
            .into_response()
        }
        let app = axum::Router::new()
            .route(
                "/wp-json/",
                get(
                    |State(st): State<St>, RawQuery(q): RawQuery, h: HeaderMap| async move {
                        record(&st, "GET", "/wp-json/".into(), q, &h);
                        if st.misbehaviour.lock().expect("lock").plain_permalinks {
                            return (StatusCode::NOT_FOUND, "<html>Page not found</html>")
                                .into_response();
                        }
                        rest_index()
                    },
                ),
            )
            .route(
                "/",
                get(|State(st): State<St>, RawQuery(q): RawQuery| async move {
                    let rest = q.as_deref().is_some_and(|q| {
                        q.starts_with("rest_route=%2F") || q.starts_with("rest_route=/")
                    });
                    if rest && st.misbehaviour.lock().expect("lock").plain_permalinks {
                        return rest_index();
                    }
                    (StatusCode::OK, "<html>A shop</html>").into_response()
                }),
            )
            .route("/wp-json/wc/v3/products", axum::routing::any(catalogue_api))
            .route(
                "/wp-json/wc/v3/products/{a}",
                axum::routing::any(catalogue_api),
            )
            .route(
                "/wp-json/wc/v3/products/{a}/{b}",
                axum::routing::any(catalogue_api),
            )
            .route(
                "/wp-json/wc/v3/products/{a}/{b}/{c}",
                axum::routing::any(catalogue_api),
            )
            .route(
                "/wp-json/wc/v3/settings/products/{a}",
                axum::routing::get(catalogue_api),
            )
            .route(
                "/wp-json/wc/v3/orders/{id}",
                axum::routing::get(
                    |State(st): State<St>,
                     Path(id): Path<u64>,
                     RawQuery(q): RawQuery,
                     headers: HeaderMap| async move {
                        record(
                            &st,
                            "GET",
                            format!("/wp-json/wc/v3/orders/{id}"),
                            q.clone(),
                            &headers,
                        );
                        if let Some(busy) = limited(&st) {
                            return busy;
                        }
                        if !authorized(&st, &headers, &q) {
                            return not_allowed().into_response();
                        }
                        match st.orders.lock().expect("lock").get(&id) {
                            Some(raw) => (StatusCode::OK, raw.clone()).into_response(),
                            None => (
                                StatusCode::NOT_FOUND,
                                json!({"code": "woocommerce_rest_shop_order_invalid_id",
                                    "message": "Invalid ID.", "data": {"status": 404}})
                                .to_string(),
                            )
                                .into_response(),
                        }
                    },
                )
                .put(tracking_api),
            )
            .route(
                "/wp-json/{ns}/{version}/orders/{id}/{resource}",
                axum::routing::any(tracking_api),
            )
            .route(
                "/wp-json/{ns}/{version}/orders/{id}/{resource}/{entry}",
                axum::routing::any(tracking_api),
            )
            .route(
                "/wp-json/wc/v3/reports/orders/totals",
                axum::routing::get(tracking_api),
            )
            .route(
                "/wp-json/wc/v3/orders",
                axum::routing::get(
                    |State(st): State<St>, RawQuery(q): RawQuery, headers: HeaderMap| async move {
                        record(
                            &st,
                            "GET",
                            "/wp-json/wc/v3/orders".into(),
                            q.clone(),
                            &headers,
                        );
                        if let Some(busy) = limited(&st) {
                            return busy;
                        }
                        if !authorized(&st, &headers, &q) {
                            return not_allowed().into_response();
                        }
                        let param = |name: &str| query_param(&q, name);
                        // As WooCommerce: `modified_after` is exclusive, to the second.
                        let broken = st.misbehaviour.lock().expect("lock").ignores_paging;
                        let modified_after = param("modified_after").filter(|_| !broken);
                        let by_modified = param("orderby").as_deref() == Some("modified");
                        let page: usize = if broken {
                            1
                        } else {
                            param("page").and_then(|p| p.parse().ok()).unwrap_or(1)
                        };
                        let per_page: usize =
                            param("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
                        let statuses: Vec<String> = param("status")
                            .map(|s| s.split(',').map(str::to_owned).collect())
                            .unwrap_or_default();
                        let orders = st.orders.lock().expect("lock").clone();
                        let modified = |raw: &str| -> String {
                            serde_json::from_str::<Value>(raw)
                                .ok()
                                .and_then(|o| o["date_modified_gmt"].as_str().map(str::to_owned))
                                .unwrap_or_default()
                        };
                        let mut matching: Vec<(u64, String)> = orders
                            .into_iter()
                            .filter(|(_, raw)| {
                                statuses.is_empty()
                                    || serde_json::from_str::<Value>(raw).is_ok_and(|o| {
                                        statuses.iter().any(|s| o["status"] == s.as_str())
                                    })
                            })
                            .filter(|(_, raw)| {
                                modified_after
                                    .as_deref()
                                    .is_none_or(|after| modified(raw).as_str() > after)
                            })
                            .collect();
                        if by_modified {
                            matching.sort_by_key(|(id, raw)| (modified(raw), *id));
                        } else {
                            matching.sort_by_key(|(id, _)| *id);
                        }
                        let total = if broken { 1_000_000 } else { matching.len() };
                        let pages = total.div_ceil(per_page.max(1));
                        let body: Vec<&str> = matching
                            .iter()
                            .skip((page - 1) * per_page)
                            .take(per_page)
                            .map(|(_, raw)| raw.as_str())
                            .collect();
                        let mut h = HeaderMap::new();
                        h.insert("x-wp-total", total.into());
                        h.insert("x-wp-totalpages", pages.into());
                        (StatusCode::OK, h, format!("[{}]", body.join(","))).into_response()
                    },
                ),
            )
            .route(
                "/wp-json/wc/v3/webhooks",
                post(
                    |State(st): State<St>,
                     RawQuery(q): RawQuery,
                     headers: HeaderMap,
                     body: axum::Json<Value>| async move {
                        let created = {
                            let mut c = st.calls.lock().expect("lock");
                            c.push(StoreCall {
                                method: "POST".into(),
                                path: "/wp-json/wc/v3/webhooks".into(),
                                query: q.clone(),
                                auth: auth_of(&headers),
                                body: body.0.clone(),
                                at: std::time::Instant::now(),
                            });
                            c.iter().filter(|c| c.method == "POST").count()
                        };
                        if let Some(busy) = limited(&st) {
                            return busy;
                        }
                        if !authorized(&st, &headers, &q) {
                            return (
                                StatusCode::UNAUTHORIZED,
                                axum::Json(json!({"code": "woocommerce_rest_cannot_create",
                                    "message": "Sorry, you are not allowed to create resources.",
                                    "data": {"status": 401}})),
                            )
                                .into_response();
                        }
                        if let StoreMode::FailsAfter(n) = st.mode {
                            if created > n {
                                return (
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    axum::Json(json!({"code": "internal_server_error",
                                        "message": "boom", "data": {"status": 500}})),
                                )
                                    .into_response();
                            }
                        }
                        let id = st.next_id.fetch_add(1, Ordering::Relaxed);
                        // As WooCommerce: a new webhook is pinged at once, a form body without
                        // topic headers, 5 s timeout, while the creating request waits.
                        let url = body.0["delivery_url"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        let answered = reqwest::Client::new()
                            .post(&url)
                            .timeout(Duration::from_secs(5))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(format!("webhook_id={id}"))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        st.pings.lock().expect("lock").push((url, answered));
                        let hook = json!({"id": id, "name": body.0["name"], "status": "active",
                            "topic": body.0["topic"], "delivery_url": body.0["delivery_url"],
                            "secret": body.0["secret"]});
                        st.webhooks.lock().expect("lock").insert(id, hook.clone());
                        (StatusCode::CREATED, axum::Json(hook)).into_response()
                    },
                )
                .get(
                    |State(st): State<St>, RawQuery(q): RawQuery, headers: HeaderMap| async move {
                        record(
                            &st,
                            "GET",
                            "/wp-json/wc/v3/webhooks".into(),
                            q.clone(),
                            &headers,
                        );
                        if let Some(busy) = limited(&st) {
                            return busy;
                        }
                        if !authorized(&st, &headers, &q) {
                            return not_allowed().into_response();
                        }
                        let hooks: Vec<Value> = st
                            .webhooks
                            .lock()
                            .expect("lock")
                            .values()
                            .cloned()
                            .collect();
                        (StatusCode::OK, axum::Json(Value::Array(hooks))).into_response()
                    },
                ),
            )
            .route(
                "/wp-json/wc/v3/webhooks/{id}",
                axum::routing::put(
                    |State(st): State<St>,
                     Path(id): Path<u64>,
                     RawQuery(q): RawQuery,
                     headers: HeaderMap,
                     body: axum::Json<Value>| async move {
                        st.calls.lock().expect("lock").push(StoreCall {
                            method: "PUT".into(),
                            path: format!("/wp-json/wc/v3/webhooks/{id}"),
                            query: q.clone(),
                            auth: auth_of(&headers),
                            body: body.0.clone(),
                            at: std::time::Instant::now(),
                        });
                        if let Some(busy) = limited(&st) {
                            return busy;
                        }
                        if !authorized(&st, &headers, &q) {
                            return not_allowed().into_response();
                        }
                        let mut hooks = st.webhooks.lock().expect("lock");
                        match hooks.get_mut(&id) {
                            Some(hook) => {
                                if let Some(status) = body.0.get("status") {
                                    hook["status"] = status.clone();
                                }
                                (StatusCode::OK, axum::Json(hook.clone())).into_response()
                            }
                            None => (
                                StatusCode::NOT_FOUND,
                                axum::Json(json!({"code": "woocommerce_rest_webhook_invalid_id",
                                    "message": "Invalid ID.", "data": {"status": 404}})),
                            )
                                .into_response(),
                        }
                    },
                )
                .delete(
                    |State(st): State<St>,
                     Path(id): Path<u64>,
                     RawQuery(q): RawQuery,
                     headers: HeaderMap| async move {
                        st.calls.lock().expect("lock").push(StoreCall {
                            method: "DELETE".into(),
                            path: format!("/wp-json/wc/v3/webhooks/{id}"),
                            query: q.clone(),
                            auth: auth_of(&headers),
                            body: Value::Null,
                            at: std::time::Instant::now(),
                        });
                        if let Some(busy) = limited(&st) {
                            return busy;
                        }
                        st.webhooks.lock().expect("lock").remove(&id);
                        (StatusCode::OK, axum::Json(json!({"id": id}))).into_response()
                    },
                ),
            )
            .with_state(state)
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let latency = slow.lock().expect("lock").latency;
                    async move {
                        if let Some(wait) = latency {
                            tokio::time::sleep(wait).await;
                        }
                        next.run(req).await
                    }
                },
            ));
        let (addr, tx) = serve_on_loopback(app).await;
        Self {
            url: format!("http://{addr}"),
            calls,
            pings,
            orders,
            webhooks,
            misbehaviour,
            next_id,
            trackings,
            refunds,
            notes,
            fulfillments,
            products,
            shutdown: Some(tx),
        }
    }

    /// What `GET /wc/v3/orders/{id}` answers from now on (WooCommerce sends a webhook's body
    /// and this answer byte for byte alike).
    /// What `GET /wc/v3/orders/{id}/refunds` answers from now on.
    #[allow(dead_code)]
    pub fn set_refunds(&self, order: u64, refunds: Vec<Value>) {
        self.refunds.lock().expect("lock").insert(order, refunds);
    }

    pub fn set_order(&self, id: u64, raw: &[u8]) {
        let raw = String::from_utf8(raw.to_vec()).expect("utf-8");
        self.orders.lock().expect("lock").insert(id, raw);
    }

    /// Stops the store and waits until its port refuses connections (its server stops on its
    /// own task; until then a pooled keep-alive connection could still be served).
    #[allow(dead_code)]
    pub async fn stop(self) {
        let addr = self.url.trim_start_matches("http://").to_owned();
        drop(self);
        for _ in 0..250 {
            if tokio::net::TcpStream::connect(&addr).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the fake store at {addr} did not stop");
    }

    /// The order is gone from the store (deleted for good).
    #[allow(dead_code)]
    pub fn remove_order(&self, id: u64) {
        self.orders.lock().expect("lock").remove(&id);
    }

    /// The store's webhooks, as `GET /wc/v3/webhooks` lists them.
    #[allow(dead_code)]
    pub fn webhooks(&self) -> Vec<Value> {
        self.webhooks
            .lock()
            .expect("lock")
            .values()
            .cloned()
            .collect()
    }

    /// What a merchant or WooCommerce itself does to a webhook: `Some(status)` sets it
    /// (`disabled` after failed deliveries, `paused` by hand), `None` deletes it.
    #[allow(dead_code)]
    pub fn tamper_webhook(&self, id: u64, status: Option<&str>) {
        let mut hooks = self.webhooks.lock().expect("lock");
        match status {
            Some(s) => {
                if let Some(h) = hooks.get_mut(&id) {
                    h["status"] = json!(s);
                }
            }
            None => {
                hooks.remove(&id);
            }
        }
    }

    /// A second webhook for `topic` to `delivery_url` (a plugin re-registering, a restore
    /// from backup): returns its id.
    #[allow(dead_code)]
    pub fn add_webhook(&self, topic: &str, delivery_url: &str) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.webhooks.lock().expect("lock").insert(
            id,
            json!({"id": id, "name": "copy", "status": "active", "topic": topic,
                "delivery_url": delivery_url}),
        );
        id
    }

    /// Order `order`'s AST tracking entries.
    #[allow(dead_code)]
    pub fn trackings(&self, order: u64) -> Vec<Value> {
        self.trackings
            .lock()
            .expect("lock")
            .get(&order)
            .cloned()
            .unwrap_or_default()
    }

    /// Adds (or replaces) a product or variation (a variation has `parent_id`).
    #[allow(dead_code)]
    pub fn add_product(&self, product: Value) {
        let id = product["id"].as_u64().expect("a product id");
        self.products.lock().expect("lock").insert(id, product);
    }

    /// A product or variation as the store has it now.
    #[allow(dead_code)]
    pub fn product(&self, id: u64) -> Option<Value> {
        self.products.lock().expect("lock").get(&id).cloned()
    }

    /// What a shop manager's edit does: the stock number changed in the store itself.
    #[allow(dead_code)]
    pub fn set_stock(&self, id: u64, quantity: i64) {
        if let Some(p) = self.products.lock().expect("lock").get_mut(&id) {
            p["stock_quantity"] = json!(quantity);
        }
    }

    /// Order `order`'s core fulfillments.
    #[allow(dead_code)]
    /// (Those deleted, which core keeps with `date_deleted`, are left out.)
    pub fn fulfillments(&self, order: u64) -> Vec<Value> {
        self.fulfillments
            .lock()
            .expect("lock")
            .get(&order)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["date_deleted"].is_null())
            .collect()
    }

    /// Order `order`'s status as the store has it now.
    #[allow(dead_code)]
    pub fn order_status(&self, order: u64) -> Option<String> {
        let orders = self.orders.lock().expect("lock");
        let o: Value = serde_json::from_str(orders.get(&order)?).ok()?;
        o["status"].as_str().map(str::to_owned)
    }

    /// Order `order`'s notes.
    #[allow(dead_code)]
    pub fn notes(&self, order: u64) -> Vec<Value> {
        self.notes
            .lock()
            .expect("lock")
            .get(&order)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes how the store misbehaves from now on.
    #[allow(dead_code)]
    pub fn misbehave(&self, m: Misbehaviour) {
        *self.misbehaviour.lock().expect("lock") = m;
    }

    /// Which pages of 100 an order listing was asked for, in order.
    #[allow(dead_code)]
    pub fn pages_read(&self) -> Vec<u32> {
        self.calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path == "/wp-json/wc/v3/orders")
            .filter_map(|c| c.query.clone())
            .filter(|q| q.contains("per_page=100"))
            .filter_map(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("page="))
                    .and_then(|p| p.parse().ok())
            })
            .collect()
    }

    pub fn calls(&self) -> Vec<StoreCall> {
        self.calls.lock().expect("lock").clone()
    }

    pub fn pings(&self) -> Vec<(String, u16)> {
        self.pings.lock().expect("lock").clone()
    }
}

/// A loopback URL where nothing listens.
pub async fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}
