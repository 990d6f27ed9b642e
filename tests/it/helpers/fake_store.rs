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
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

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
        use axum::routing::{delete, post};
        use base64::Engine as _;

        #[derive(Clone)]
        struct St {
            calls: Arc<Mutex<Vec<StoreCall>>>,
            pings: Arc<Mutex<Vec<(String, u16)>>>,
            orders: Arc<Mutex<std::collections::HashMap<u64, String>>>,
            mode: StoreMode,
            next_id: Arc<AtomicU64>,
        }
        fn auth_of(h: &HeaderMap) -> Option<String> {
            h.get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }
        fn authorized(h: &HeaderMap) -> bool {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{CONSUMER_KEY}:{CONSUMER_SECRET}"))
            );
            auth_of(h).as_deref() == Some(expected.as_str())
        }
        let calls = Arc::new(Mutex::new(Vec::new()));
        let orders = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let pings = Arc::new(Mutex::new(Vec::new()));
        let state = St {
            calls: calls.clone(),
            pings: pings.clone(),
            orders: orders.clone(),
            mode,
            next_id: Arc::new(AtomicU64::new(100)),
        };
        fn record(st: &St, method: &str, path: String, query: Option<String>, h: &HeaderMap) {
            st.calls.lock().expect("lock").push(StoreCall {
                method: method.into(),
                path,
                query,
                auth: auth_of(h),
                body: Value::Null,
            });
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
        let app = axum::Router::new()
            .route(
                "/wp-json/wc/v3/products",
                axum::routing::get(
                    |State(st): State<St>, RawQuery(q): RawQuery, headers: HeaderMap| async move {
                        record(
                            &st,
                            "GET",
                            "/wp-json/wc/v3/products".into(),
                            q.clone(),
                            &headers,
                        );
                        if !authorized(&headers) {
                            return not_allowed();
                        }
                        // As WooCommerce: variations are not listed among the products.
                        let products: Vec<Value> = included(&q)
                            .into_iter()
                            .filter(|id| catalogue_parent(*id).is_none())
                            .map(|id| json!({"id": id, "weight": catalogue_weight(id)}))
                            .collect();
                        (StatusCode::OK, axum::Json(Value::Array(products)))
                    },
                ),
            )
            .route(
                "/wp-json/wc/v3/products/{parent}/variations",
                axum::routing::get(
                    |State(st): State<St>,
                     Path(parent): Path<u64>,
                     RawQuery(q): RawQuery,
                     headers: HeaderMap| async move {
                        let path = format!("/wp-json/wc/v3/products/{parent}/variations");
                        record(&st, "GET", path, q.clone(), &headers);
                        if !authorized(&headers) {
                            return not_allowed();
                        }
                        let variations: Vec<Value> = included(&q)
                            .into_iter()
                            .filter(|id| catalogue_parent(*id) == Some(parent))
                            .map(|id| json!({"id": id, "weight": catalogue_weight(id)}))
                            .collect();
                        (StatusCode::OK, axum::Json(Value::Array(variations)))
                    },
                ),
            )
            .route(
                "/wp-json/wc/v3/orders/{id}",
                axum::routing::get(
                    |State(st): State<St>, Path(id): Path<u64>, headers: HeaderMap| async move {
                        record(
                            &st,
                            "GET",
                            format!("/wp-json/wc/v3/orders/{id}"),
                            None,
                            &headers,
                        );
                        if !authorized(&headers) {
                            let (status, body) = not_allowed();
                            return (status, body.0.to_string());
                        }
                        match st.orders.lock().expect("lock").get(&id) {
                            Some(raw) => (StatusCode::OK, raw.clone()),
                            None => (
                                StatusCode::NOT_FOUND,
                                json!({"code": "woocommerce_rest_shop_order_invalid_id",
                                    "message": "Invalid ID.", "data": {"status": 404}})
                                .to_string(),
                            ),
                        }
                    },
                ),
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
                        if !authorized(&headers) {
                            let (status, body) = not_allowed();
                            return (status, HeaderMap::new(), body.0.to_string());
                        }
                        let param = |name: &str| -> Option<String> {
                            q.as_deref()?.split('&').find_map(|kv| {
                                kv.strip_prefix(&format!("{name}="))
                                    .map(|v| v.replace("%2C", ","))
                            })
                        };
                        let page: usize = param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                        let per_page: usize =
                            param("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
                        let statuses: Vec<String> = param("status")
                            .map(|s| s.split(',').map(str::to_owned).collect())
                            .unwrap_or_default();
                        let orders = st.orders.lock().expect("lock").clone();
                        let mut matching: Vec<(u64, String)> = orders
                            .into_iter()
                            .filter(|(_, raw)| {
                                statuses.is_empty()
                                    || serde_json::from_str::<Value>(raw).is_ok_and(|o| {
                                        statuses.iter().any(|s| o["status"] == s.as_str())
                                    })
                            })
                            .collect();
                        matching.sort_by_key(|(id, _)| *id);
                        let total = matching.len();
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
                        (StatusCode::OK, h, format!("[{}]", body.join(",")))
                    },
                ),
            )
            .route(
                "/wp-json/wc/v3/webhooks",
                post(
                    |State(st): State<St>, headers: HeaderMap, body: axum::Json<Value>| async move {
                        let created = {
                            let mut c = st.calls.lock().expect("lock");
                            c.push(StoreCall {
                                method: "POST".into(),
                                path: "/wp-json/wc/v3/webhooks".into(),
                                query: None,
                                auth: auth_of(&headers),
                                body: body.0.clone(),
                            });
                            c.iter().filter(|c| c.method == "POST").count()
                        };
                        if !authorized(&headers) {
                            return (
                                StatusCode::UNAUTHORIZED,
                                axum::Json(json!({"code": "woocommerce_rest_cannot_create",
                                    "message": "Sorry, you are not allowed to create resources.",
                                    "data": {"status": 401}})),
                            );
                        }
                        if let StoreMode::FailsAfter(n) = st.mode {
                            if created > n {
                                return (
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    axum::Json(json!({"code": "internal_server_error",
                                        "message": "boom", "data": {"status": 500}})),
                                );
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
                        (
                            StatusCode::CREATED,
                            axum::Json(
                                json!({"id": id, "name": body.0["name"], "status": "active",
                                "topic": body.0["topic"], "delivery_url": body.0["delivery_url"]}),
                            ),
                        )
                    },
                ),
            )
            .route(
                "/wp-json/wc/v3/webhooks/{id}",
                delete(
                    |State(st): State<St>,
                     Path(id): Path<u64>,
                     RawQuery(q): RawQuery,
                     headers: HeaderMap| async move {
                        st.calls.lock().expect("lock").push(StoreCall {
                            method: "DELETE".into(),
                            path: format!("/wp-json/wc/v3/webhooks/{id}"),
                            query: q,
                            auth: auth_of(&headers),
                            body: Value::Null,
                        });
                        (StatusCode::OK, axum::Json(json!({"id": id})))
                    },
                ),
            )
            .with_state(state);
        let (addr, tx) = serve_on_loopback(app).await;
        Self {
            url: format!("http://{addr}"),
            calls,
            pings,
            orders,
            shutdown: Some(tx),
        }
    }

    /// What `GET /wc/v3/orders/{id}` answers from now on (WooCommerce sends a webhook's body
    /// and this answer byte for byte alike).
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
