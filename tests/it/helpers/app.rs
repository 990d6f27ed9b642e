//! The app under test: every route as the local runner serves it, on its own port, and a
//! client with helpers named after what a merchant or operator does.

use super::*;

/// Which queues the app's own consumers read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Consume {
    Nothing,
    Orders,
    Everything,
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
    /// The orders' slow lane (consumed by its own worker unless the app consumes nothing).
    #[allow(dead_code)]
    pub slow_lane: Arc<dyn Queue>,
    /// The slow lane's worker (the test hands it batches when the app consumes nothing).
    #[allow(dead_code)]
    pub slow_worker: Arc<Worker>,
    /// Backfill and poll jobs, and what runs them.
    #[allow(dead_code)]
    pub catch_up: Arc<woolink::wiring::CatchUpWork>,
    /// Shipments to write to stores, and what writes them (consumed in process unless the
    /// app consumes nothing).
    #[allow(dead_code)]
    pub shipments: Arc<woolink::shipments::ShipmentWorker>,
    config: Config,
    pub settings: WorkerSettings,
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
        Self::start(backend, adjust, |_| {}, Consume::Nothing).await
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
        let app = Self::start(backend, config, settings, Consume::Everything).await;
        app.point_acme_at(tenant).await;
        app
    }

    /// The pipeline with the worker's settings adjusted and nothing consuming the queues:
    /// the test hands batches to the worker and to the slow lane's.
    #[allow(dead_code)]
    pub async fn pipeline_paused_tuned(
        backend: Backend,
        tenant: &FakeTenant,
        settings: impl FnOnce(&mut WorkerSettings),
    ) -> Self {
        let app = Self::start(backend, |_| {}, settings, Consume::Nothing).await;
        app.point_acme_at(tenant).await;
        app
    }

    /// The whole pipeline, but catch-up jobs (backfill steps, polls) are left on their queue
    /// for the test to run.
    #[allow(dead_code)]
    pub async fn pipeline_jobs_paused(
        backend: Backend,
        tenant: &FakeTenant,
        config: impl FnOnce(&mut Config),
    ) -> Self {
        let app = Self::start(backend, config, |_| {}, Consume::Orders).await;
        app.point_acme_at(tenant).await;
        app
    }

    async fn pipeline_with(backend: Backend, tenant: &FakeTenant, consume: bool) -> Self {
        let consume = if consume {
            Consume::Everything
        } else {
            Consume::Nothing
        };
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
            &self.services.admin(),
            woolink::admin::TenantSpec {
                code: woolink::domain::TenantCode::parse(code).unwrap(),
                name: name.into(),
                active: true,
                fulfilment: Some((url.to_owned(), secret.clone())),
                document: None,
            },
        )
        .await
        .expect("tenant endpoint set");
    }

    async fn start(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
        tune: impl FnOnce(&mut WorkerSettings),
        consume: Consume,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let mut config = test_config(&base, OutboundPolicy::local_development());
        adjust(&mut config);
        let repos = repos(backend).await;
        let (queue, dlq, slow_lane) =
            fresh_queues_with_lane(backend, Duration::from_secs(30), config.max_receives).await;
        let mut settings = WorkerSettings {
            max_receives: config.max_receives,
            ..test_worker_settings()
        };
        tune(&mut settings);
        let worker_settings = settings.clone();
        let jobs = fresh_jobs_queue(backend, Duration::from_secs(30)).await;
        let (shipment_queue, shipment_dlq) =
            fresh_queue_with(backend, Duration::from_secs(30), config.max_receives).await;
        let queues = woolink::wiring::Queues {
            orders: queue.clone(),
            dead_letters: dlq.clone(),
            slow_lane: Some(slow_lane.clone()),
            jobs,
            shipments: shipment_queue,
            shipment_dead_letters: shipment_dlq,
        };
        let OneProcess {
            services,
            intake,
            worker,
            slow_lane: slow_worker,
            catch_up,
            shipments,
        } = OneProcess::new(repos, queues, &config, settings).expect("wiring");
        let slow_worker = slow_worker.expect("the test app has a slow lane");
        admin::apply_seed(&services.admin(), test_seed())
            .await
            .expect("seed applies");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runner = woolink::local::LocalRunner {
            services: services.clone(),
            intake: intake.clone(),
            worker: (consume != Consume::Nothing).then(|| worker.clone()),
            queue: queue.clone(),
            slow_lane: (consume != Consume::Nothing).then(|| slow_worker.clone()),
            inbox: None,
            catch_up: (consume == Consume::Everything).then(|| catch_up.clone()),
            poll_every: None,
            shipments: (consume != Consume::Nothing).then(|| shipments.clone()),
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
            slow_lane,
            slow_worker,
            catch_up,
            shipments,
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
                &self.services.repos,
                self.queue.clone(),
                self.dlq.clone(),
                &self.config,
                self.settings.clone(),
            )
            .expect("worker"),
        )
    }

    /// The configuration the app runs with (its application key, limits, …).
    #[allow(dead_code)]
    pub fn config(&self) -> &Config {
        &self.config
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

    pub async fn put_json(&self, path: &str, body: Value, bearer: Option<&str>) -> Answer {
        let mut req = self.http.put(self.url(path)).json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        Answer::from(req.send().await.expect("request sent")).await
    }

    pub async fn patch_json(&self, path: &str, body: Value, bearer: Option<&str>) -> Answer {
        let mut req = self.http.patch(self.url(path)).json(&body);
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

    #[allow(dead_code)]
    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Answer {
        let mut req = self.http.delete(self.url(path));
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

    /// A login sent from another loopback address (each its own source for the per-source
    /// login limit).
    #[allow(dead_code)]
    pub async fn login_from(
        &self,
        source: std::net::IpAddr,
        code: &str,
        email: &str,
        password: &str,
        device: &str,
    ) -> Answer {
        let client = reqwest::Client::builder()
            .local_address(source)
            .build()
            .expect("client");
        let r = client
            .post(self.url("/v1/connect/login"))
            .json(&json!({"code": code, "email": email, "password": password, "deviceId": device}))
            .send()
            .await
            .expect("request sent");
        Answer::from(r).await
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
