//! Test harness: each test gets its own app on a free port, its own data (a fresh DynamoDB
//! table on the moto server when the backend is `Dynamo`), and helpers named after what a
//! merchant or operator does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use woolink::admin::{self, Seed};
use woolink::config::{
    Config, DEFAULT_LINK_CACHE_TTL, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TOKEN_TTL,
};
use woolink::crypto::{SecretBox, SecretString};
use woolink::intake::Intake;
use woolink::outbound::OutboundPolicy;
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, Queue, SqsQueue};
use woolink::worker::{Worker, WorkerSettings};

/// Quick retries and short caches, so tests see retries and changes within milliseconds.
pub fn test_worker_settings() -> WorkerSettings {
    WorkerSettings {
        max_receives: MAX_RECEIVES,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        cache_ttl: Duration::from_millis(100),
        in_flight_window: Duration::from_secs(2),
        wait_budget: Duration::from_millis(300),
        wait_retry: Duration::from_millis(50),
        ..WorkerSettings::default()
    }
}
use woolink::services::Services;
use woolink::store::{DynamoStore, MemoryStore};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Dynamo,
}

/// Runs an async scenario against both adapters: `both_backends!(scenario);` makes
/// `scenario::memory` and `scenario::dynamo` tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$name($crate::helpers::Backend::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamo() {
                super::$name($crate::helpers::Backend::Dynamo).await
            }
        }
    )+};
}

/// The moto server started by `scripts/test` (never assumed: a clear failure when absent).
pub fn moto_endpoint() -> String {
    std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "WOOLINK_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test, \
             which starts a moto server and points the tests at it"
        )
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A table name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

/// A fresh DynamoDB adapter on its own table.
pub async fn fresh_dynamo() -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&moto_sdk_config().await);
    let table = unique_name("woolink-test");
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create test table on moto");
    DynamoStore::new(client, table)
}

pub async fn repos(backend: Backend) -> Repos {
    match backend {
        Backend::Memory => Repos::from_adapter(Arc::new(MemoryStore::new())),
        Backend::Dynamo => Repos::from_adapter(Arc::new(fresh_dynamo().await)),
    }
}

pub const MAX_RECEIVES: u32 = 5;

/// A fresh orders queue (and its DLQ: messages move there after `max_receives` receives),
/// in memory, or SQS on moto.
pub async fn fresh_queue_with(
    backend: Backend,
    visibility: Duration,
    max_receives: u32,
) -> (Arc<dyn Queue>, Arc<dyn Queue>) {
    match backend {
        Backend::Memory => {
            let dlq = Arc::new(MemoryQueue::new(visibility));
            let q = Arc::new(MemoryQueue::with_dead_letter(
                visibility,
                max_receives,
                dlq.clone(),
            ));
            (q, dlq)
        }
        Backend::Dynamo => {
            let client = aws_sdk_sqs::Client::new(&moto_sdk_config().await);
            let (url, dlq_url) = SqsQueue::create_with_dlq(
                &client,
                &unique_name("orders"),
                visibility,
                max_receives,
            )
            .await
            .expect("create test queue on moto");
            (
                Arc::new(SqsQueue::new(client.clone(), url)),
                Arc::new(SqsQueue::new(client, dlq_url)),
            )
        }
    }
}

pub fn test_config(public_url: &str, outbound: OutboundPolicy) -> Config {
    Config {
        table: "unused".into(),
        secrets_key: SecretString::new(SecretBox::generate_key_base64()),
        public_url: Some(url::Url::parse(public_url).expect("url")),
        token_ttl: DEFAULT_TOKEN_TTL,
        http_timeout: Duration::from_secs(5),
        outbound,
        queue_url: None,
        dlq_url: None,
        max_receives: MAX_RECEIVES,
        retention: woolink::config::DEFAULT_RETENTION,
        link_cache_ttl: DEFAULT_LINK_CACHE_TTL,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
    }
}

pub const DEVICE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
pub const OTHER_DEVICE: &str = "2222222222222222222222222222222222222222222222222222222222222222";
pub const PASSWORD: &str = "correct horse battery staple";

/// Two tenants: ACME (stores st_a1, st_a2) and BETA (store st_b1), plus an inactive SLEEPY.
pub fn test_seed() -> Seed {
    Seed::parse(
        &json!({"tenants": [
            {"code": "ACME", "name": "Acme Couriers", "active": true,
             "users": [{"email": "ops@acme.test", "password": PASSWORD}],
             "stores": [{"id": "st_a1", "name": "Acme Shop", "customerId": "cus_a1"},
                        {"id": "st_a2", "name": "Acme Outlet", "customerId": "cus_a2"}]},
            {"code": "BETA", "name": "Beta Logistics", "active": true,
             "users": [{"email": "ops@beta.test", "password": PASSWORD}],
             "stores": [{"id": "st_b1", "name": "Beta Shop", "customerId": "cus_b1"}]},
            {"code": "SLEEPY", "name": "Sleepy Freight", "active": false,
             "users": [{"email": "ops@sleepy.test", "password": PASSWORD}],
             "stores": []}
        ]})
        .to_string(),
    )
    .expect("test seed parses")
}

/// A running app (all routes, as the local runner serves them) and a client for it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub services: Arc<Services>,
    pub intake: Arc<Intake>,
    pub worker: Arc<Worker>,
    pub queue: Arc<dyn Queue>,
    /// The orders queue's dead-letter queue (the worker's tests inspect it).
    #[allow(dead_code)]
    pub dlq: Arc<dyn Queue>,
    config: Config,
    settings: WorkerSettings,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    /// With the local runner's outbound policy, so fake stores on loopback can be reached.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, OutboundPolicy::local_development()).await
    }

    pub async fn spawn_with(backend: Backend, outbound: OutboundPolicy) -> Self {
        Self::spawn_configured(backend, |c| c.outbound = outbound).await
    }

    /// With the configuration adjusted by `adjust` (cache TTL, message size…); the queue is
    /// left alone (no worker consumes it) so tests can look at what the intake sent.
    pub async fn spawn_configured(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(backend, adjust, |_| {}, false).await
    }

    /// The whole pipeline: intake, queue, worker (fed like the SQS event source) and ACME's
    /// fulfilment endpoint set to `tenant`.
    pub async fn pipeline(backend: Backend, tenant: &FakeTenant) -> Self {
        Self::pipeline_with(backend, tenant, true).await
    }

    /// The pipeline with nothing consuming the queue: the test hands batches to the worker.
    pub async fn pipeline_paused(backend: Backend, tenant: &FakeTenant) -> Self {
        Self::pipeline_with(backend, tenant, false).await
    }

    /// The whole pipeline with the configuration (client timeout, the queue's and the
    /// worker's `max_receives`…) and the worker's settings (backoff…) adjusted.
    pub async fn pipeline_tuned(
        backend: Backend,
        tenant: &FakeTenant,
        config: impl FnOnce(&mut Config),
        settings: impl FnOnce(&mut WorkerSettings),
    ) -> Self {
        let app = Self::start(backend, config, settings, true).await;
        app.point_acme_at(tenant).await;
        app
    }

    async fn pipeline_with(backend: Backend, tenant: &FakeTenant, consume: bool) -> Self {
        let app = Self::start(backend, |_| {}, |_| {}, consume).await;
        app.point_acme_at(tenant).await;
        app
    }

    async fn point_acme_at(&self, tenant: &FakeTenant) {
        self.set_fulfilment("ACME", "Acme Couriers", &tenant.url, &tenant.secret)
            .await;
    }

    /// Sets tenant `code`'s fulfilment endpoint and signing secret (as an operator would).
    pub async fn set_fulfilment(&self, code: &str, name: &str, url: &str, secret: &SecretString) {
        woolink::admin::put_tenant(
            &self.services,
            woolink::admin::TenantSpec {
                code: woolink::domain::TenantCode::parse(code).unwrap(),
                name: name.into(),
                active: true,
                fulfilment: Some((url.to_owned(), secret.clone())),
            },
        )
        .await
        .expect("tenant endpoint set");
    }

    async fn start(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
        tune: impl FnOnce(&mut WorkerSettings),
        consume: bool,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let mut config = test_config(&base, OutboundPolicy::local_development());
        adjust(&mut config);
        let repos = repos(backend).await;
        let links = repos.links.clone();
        let (queue, dlq) =
            fresh_queue_with(backend, Duration::from_secs(30), config.max_receives).await;
        let mut settings = WorkerSettings {
            max_receives: config.max_receives,
            ..test_worker_settings()
        };
        tune(&mut settings);
        let worker_settings = settings.clone();
        let intake = Arc::new(Intake::new(links, queue.clone(), &config).expect("intake"));
        let mut services = Services::new(repos, &config).expect("services");
        services.intake_cache = Some(intake.cache.clone());
        let services = Arc::new(services);
        let worker = Arc::new(
            Worker::from_parts(
                services.repos.clone(),
                queue.clone(),
                dlq.clone(),
                &config,
                settings,
            )
            .expect("worker"),
        );
        admin::apply_seed(&services, test_seed())
            .await
            .expect("seed applies");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runner = woolink::local::LocalRunner {
            services: services.clone(),
            intake: intake.clone(),
            worker: consume.then(|| worker.clone()),
            queue: queue.clone(),
            inbox: None,
        };
        tokio::spawn(async move {
            let _ = woolink::local::serve(listener, runner, async {
                let _ = rx.await;
            })
            .await;
        });
        Self {
            base,
            http: reqwest::Client::new(),
            services,
            intake,
            worker,
            queue,
            dlq,
            config,
            settings: worker_settings,
            shutdown: Some(tx),
        }
    }

    /// Another worker over the same table and queues, as another Lambda container runs one
    /// (its own caches, nothing shared in memory with the app's worker).
    pub fn another_worker(&self) -> Arc<Worker> {
        Arc::new(
            Worker::from_parts(
                self.services.repos.clone(),
                self.queue.clone(),
                self.dlq.clone(),
                &self.config,
                self.settings.clone(),
            )
            .expect("worker"),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: Value, bearer: Option<&str>) -> Answer {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        Answer::from(req.send().await.expect("request sent")).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>, bearer: Option<&str>) -> Answer {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        Answer::from(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Answer {
        let mut req = self.http.get(self.url(path));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        Answer::from(req.send().await.expect("request sent")).await
    }

    pub async fn resolve(&self, code: &str) -> Answer {
        self.post_json(
            "/v1/connect/resolve",
            json!({"code": code, "platform": "woocommerce", "deviceId": DEVICE}),
            None,
        )
        .await
    }

    pub async fn login_as(&self, code: &str, email: &str, password: &str, device: &str) -> Answer {
        self.post_json(
            "/v1/connect/login",
            json!({"code": code, "email": email, "password": password, "deviceId": device}),
            None,
        )
        .await
    }

    /// Logs in as ACME's operator and returns the token.
    pub async fn acme_token(&self) -> String {
        self.token_for("ACME", "ops@acme.test").await
    }

    pub async fn token_for(&self, code: &str, email: &str) -> String {
        let a = self.login_as(code, email, PASSWORD, DEVICE).await;
        assert_eq!(a.status, 200, "login failed: {}", a.body);
        a.body["token"].as_str().expect("token").to_owned()
    }

    pub async fn link(&self, token: &str, body: Value) -> Answer {
        self.post_json("/v1/connect/link", body, Some(token)).await
    }

    /// Links `store` to `url` from DEVICE with the fake store's WooCommerce keys.
    pub async fn link_with_keys(&self, token: &str, store: &str, url: &str) -> Answer {
        self.link(
            token,
            json!({"storeId": store, "storeUrl": url, "deviceId": DEVICE,
                   "wooCommerce": {"consumerKey": CONSUMER_KEY, "consumerSecret": CONSUMER_SECRET}}),
        )
        .await
    }

    /// Links `store` to `url` from DEVICE without WooCommerce keys.
    pub async fn link_simple(&self, token: &str, store: &str, url: &str) -> Answer {
        self.link(
            token,
            json!({"storeId": store, "storeUrl": url, "deviceId": DEVICE}),
        )
        .await
    }
}

/// An HTTP answer: status, headers and the JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
        }
    }

    /// Asserts the contract's error shape and returns the code.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.body);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error needs a message: {}",
            self.body
        );
        assert!(self.headers.contains_key("x-request-id"));
    }
}

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

/// What a fake tenant endpoint received.
#[derive(Clone, Debug)]
pub struct TenantCall {
    pub webhook_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub verified: bool,
    pub answered: u16,
}

impl TenantCall {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// How a fake tenant misbehaves, decided per request by a seeded generator (the same run
/// every time): `unavailable_percent` of requests get 503, `stall_percent` get no answer for
/// `stall` (longer than the worker's client timeout), the rest follow the script, then 200.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub unavailable_percent: u64,
    pub stall_percent: u64,
    pub stall: Duration,
    /// Every answer takes this long (a slow but healthy endpoint).
    pub delay: Duration,
}

/// What a stalled request is recorded as: no answer reached the worker in time.
pub const STALLED: u16 = 0;

/// A tenant's fulfilment endpoint: a real HTTP server on loopback that verifies every
/// Standard Webhooks signature and answers from a script (then 200), with optional faults.
/// It can go down (its port refuses connections) and come back on the same address.
pub struct FakeTenant {
    pub url: String,
    pub secret: SecretString,
    pub calls: Arc<Mutex<Vec<TenantCall>>>,
    addr: std::net::SocketAddr,
    app: axum::Router,
    server: Option<RunningServer>,
}

struct RunningServer {
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTenant {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.shutdown.send(());
        }
    }
}

/// Deterministic pseudo-randomness (no extra dependency; the same run every time).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone)]
struct TenantState {
    secret: String,
    calls: Arc<Mutex<Vec<TenantCall>>>,
    script: Arc<Mutex<std::collections::VecDeque<u16>>>,
    faults: Faults,
    dice: Arc<Mutex<Lcg>>,
}

async fn tenant_endpoint(
    axum::extract::State(st): axum::extract::State<TenantState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    let verified = standardwebhooks::Webhook::new(&st.secret)
        .and_then(|w| w.verify(&body, &headers))
        .is_ok();
    let roll = st.dice.lock().unwrap().next() % 100;
    let (answer, stall) = if roll < st.faults.unavailable_percent {
        (503, false)
    } else if roll < st.faults.unavailable_percent + st.faults.stall_percent {
        (STALLED, true)
    } else {
        (st.script.lock().unwrap().pop_front().unwrap_or(200), false)
    };
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    st.calls.lock().unwrap().push(TenantCall {
        webhook_id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body: body.to_vec(),
        verified,
        answered: answer,
    });
    if stall {
        // Past the worker's client timeout: the worker gives up and retries later.
        tokio::time::sleep(st.faults.stall).await;
    }
    tokio::time::sleep(st.faults.delay).await;
    let status = match (verified, answer) {
        (false, _) => 401,
        (true, STALLED) => 504,
        (true, a) => a,
    };
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        format!("{{\"answer\":{status},\"detail\":\"scripted\"}}"),
    )
}

impl FakeTenant {
    pub async fn start() -> Self {
        Self::answering(&[]).await
    }

    /// Answers with `statuses` in turn, then 200.
    pub async fn answering(statuses: &[u16]) -> Self {
        Self::with(statuses, Faults::default()).await
    }

    /// Misbehaves as `faults` says.
    pub async fn faulty(faults: Faults) -> Self {
        Self::with(&[], faults).await
    }

    async fn with(statuses: &[u16], faults: Faults) -> Self {
        let secret = woolink::admin::new_signing_secret();
        let calls: Arc<Mutex<Vec<TenantCall>>> = Arc::new(Mutex::new(Vec::new()));
        let st = TenantState {
            secret: secret.expose().to_owned(),
            calls: calls.clone(),
            script: Arc::new(Mutex::new(statuses.iter().copied().collect())),
            faults,
            dice: Arc::new(Mutex::new(Lcg(7))),
        };
        let app = axum::Router::new()
            .route("/orders", axum::routing::post(tenant_endpoint))
            .with_state(st);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut tenant = Self {
            url: format!("http://{addr}/orders"),
            secret,
            calls,
            addr,
            app,
            server: None,
        };
        tenant.listen(listener);
        tenant
    }

    fn listen(&mut self, listener: TcpListener) {
        let (shutdown, task) = serve(listener, self.app.clone());
        self.server = Some(RunningServer { shutdown, task });
    }

    /// Stops listening: connections to the endpoint are refused until `come_back`.
    pub async fn go_down(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.shutdown.send(());
            let _ = s.task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn come_back(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        self.listen(listener);
    }

    pub fn calls(&self) -> Vec<TenantCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls the tenant accepted (2xx), i.e. effects.
    pub fn accepted(&self) -> Vec<TenantCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.verified && (200..300).contains(&c.answered))
            .collect()
    }
}

/// Waits until the queue and the worker are idle (nothing visible or in flight), up to 20 s.
pub async fn drained(app: &TestApp) {
    drained_within(app, Duration::from_secs(20)).await;
}

/// Waits until the queue and the worker are idle, up to `limit`.
pub async fn drained_within(app: &TestApp, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let (visible, in_flight) = app.queue.depth().await.unwrap();
        if visible == 0 && in_flight == 0 {
            // One more beat for a batch that was just deleted to finish its writes.
            tokio::time::sleep(Duration::from_millis(60)).await;
            let (v, f) = app.queue.depth().await.unwrap();
            if v == 0 && f == 0 {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue did not drain: {visible} visible, {in_flight} in flight"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls st_a1's order `id` (with the link's API key) until its status satisfies `check`,
/// up to `limit`; returns that status.
pub async fn order_status_until(
    app: &TestApp,
    key: &str,
    id: u64,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let status = app
            .get(&format!("/v1/stores/st_a1/orders/{id}"), Some(key))
            .await
            .body;
        if check(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "order {id}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to 15 s for `check` to hold, polling.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Serves `app` on a free loopback port until the returned sender is used or dropped.
pub async fn serve_on_loopback(
    app: axum::Router,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, _) = serve(listener, app);
    (addr, tx)
}

/// Serves `app` on `listener` until the sender is used or dropped; the handle ends when the
/// server has stopped (and its port is free again).
fn serve(
    listener: TcpListener,
    app: axum::Router,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (tx, task)
}
