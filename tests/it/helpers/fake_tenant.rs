//! A fake tenant fulfilment endpoint on loopback: verifies every signature, answers from a
//! script, misbehaves on request.

use super::*;

/// What a fake tenant endpoint received.
#[derive(Clone, Debug)]
pub struct TenantCall {
    pub webhook_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub verified: bool,
    pub answered: u16,
    /// Answered only after the `stall` (an effect whose answer the worker may not have had).
    pub late: bool,
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
    /// Acts on the request (an effect) but answers 200 only after `stall`: past the worker's
    /// client timeout, whether it was accepted is unknown to the worker.
    pub late_accept_percent: u64,
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
    let f = &st.faults;
    let (answer, stall) = if roll < f.unavailable_percent {
        (503, false)
    } else if roll < f.unavailable_percent + f.stall_percent {
        (STALLED, true)
    } else if roll < f.unavailable_percent + f.stall_percent + f.late_accept_percent {
        (200, true)
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
        late: stall && answer != STALLED,
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

    /// A second endpoint of the same tenant: it verifies with `other`'s signing secret.
    #[allow(dead_code)]
    pub async fn sharing_secret_of(other: &FakeTenant) -> Self {
        Self::with_secret(&[], Faults::default(), other.secret.clone()).await
    }

    /// Answers with `statuses` in turn, then 200, misbehaving as `faults` says.
    pub async fn with(statuses: &[u16], faults: Faults) -> Self {
        Self::with_secret(statuses, faults, woolink::admin::new_signing_secret()).await
    }

    async fn with_secret(statuses: &[u16], faults: Faults, secret: SecretString) -> Self {
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

    /// Calls the tenant accepted (2xx), i.e. effects. Every order document v2 among them is
    /// checked against the published JSON Schema (`docs/order-document-v2.schema.json`).
    pub fn accepted(&self) -> Vec<TenantCall> {
        let accepted: Vec<TenantCall> = self
            .calls()
            .into_iter()
            .filter(|c| c.verified && (200..300).contains(&c.answered))
            .collect();
        for c in &accepted {
            assert_valid_document(&c.json());
        }
        accepted
    }

    /// The events of type `kind` the endpoint accepted (signatures verified), as JSON.
    #[allow(dead_code)]
    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.accepted()
            .iter()
            .map(TenantCall::json)
            .filter(|e| e["type"] == kind)
            .collect()
    }
}

static ORDER_SCHEMA_V2: std::sync::LazyLock<jsonschema::Validator> =
    std::sync::LazyLock::new(|| {
        let raw = include_str!("../../../docs/order-document-v2.schema.json");
        jsonschema::validator_for(&serde_json::from_str(raw).expect("the schema is JSON"))
            .expect("the schema compiles")
    });

/// Panics unless an `order.*` event's v2 document matches the published schema (v1
/// documents, and other events, have no schema).
pub fn assert_valid_document(event: &Value) {
    let is_order = event["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("order."));
    if is_order && event["data"]["schemaVersion"] == 2 {
        let errors: Vec<String> = ORDER_SCHEMA_V2
            .iter_errors(&event["data"])
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "an order document v2 breaks its schema: {errors:?}\n{event:#}"
        );
    }
}
