//! Fairness under a skewed load (issue 22): 5,000 stores of 3 tenants, one store with 30 %
//! of the orders, one tenant's endpoint slow (10 s answers) and one failing (503), delivered
//! by worker instances the way Lambda runs them: each instance its own `Worker` (own caches,
//! own tenant gates), taking one batch of up to 10 at a time and the next only when the whole
//! batch is done; the slow lane with its own few instances.
//!
//! Three runs on the same traffic: **unloaded** (every endpoint healthy), **before** (the slow
//! and failing endpoints, no slow lane: every tenant in the orders queue) and **after** (the
//! slow lane and the tenants' gates, as deployed). Reports per tenant and for the big store
//! the lag from enqueue to the tenant's answer (p50/p99/max), orders delivered, and the calls
//! the failing endpoint got.
//!
//! Orders are enqueued as the intake enqueues them (the envelope, in the tenant's message
//! group) at a fixed rate; the intake itself is measured in section 1.
//!
//! Run: `cargo bench -p woolink-tests --bench fairness`. `FAIRNESS_RATE` (orders/s, default
//! 200), `FAIRNESS_SECONDS` (default 60), `FAIRNESS_STORES` (default 5000),
//! `FAIRNESS_INSTANCES` (main-lane instances, default 10, the template's
//! WorkerMaximumConcurrency), `FAIRNESS_LANE_INSTANCES` (default 2, SlowLaneMaximumConcurrency),
//! `FAIRNESS_SLOW_MS` (default 10000), `FAIRNESS_RUNS` (default `unloaded,before,after`),
//! `FAIRNESS_BACKEND=moto` with `WOOLINK_TEST_MOTO_ENDPOINT` for DynamoDB and SQS on moto,
//! and `FAIRNESS_LANE_MOTO_ENDPOINT` to put the slow lane's queues on a second moto server.
//! Neither the in-memory queue nor moto prioritises message groups as SQS fair queues do,
//! so what is measured is the slow lane and the gates alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use woolink::domain::{OrderId, StoreId, TenantCode, WooTopic};
use woolink::envelope::EnvelopeHead;
use woolink::model::Fulfilment;
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, Queue, SqsQueue};
use woolink::secrets::{seal, Sealing};
use woolink::store::{DynamoStore, MemoryStore};
use woolink::worker::{Worker, WorkerSettings};

#[path = "common/mod.rs"]
mod common;
use common::{env_num, percentile};

const TENANTS: [&str; 3] = ["HEALTHY", "SLOW", "FAILING"];

/// A tenant's endpoint: verifies, answers after `delay` with `status`, and notes when it
/// answered 200 to each order (the first time).
struct Endpoint {
    secret: String,
    delay: Duration,
    status: StatusCode,
    answered: Mutex<HashMap<u64, Instant>>,
    calls: AtomicU64,
    bad: AtomicU64,
}

async fn endpoint(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    e.calls.fetch_add(1, Ordering::Relaxed);
    let ok = standardwebhooks::Webhook::new(&e.secret)
        .and_then(|w| w.verify(&body, &headers))
        .is_ok();
    if !ok {
        e.bad.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    tokio::time::sleep(e.delay).await;
    if e.status == StatusCode::OK {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(id) = v["data"]["orderId"].as_u64() {
            e.answered
                .lock()
                .expect("lock")
                .entry(id)
                .or_insert_with(Instant::now);
        }
    }
    e.status
}

async fn serve(e: Arc<Endpoint>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/orders", l.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/orders", axum::routing::post(endpoint))
        .with_state(e);
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

/// Deterministic pseudo-randomness: the same traffic in every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Unloaded,
    Before,
    After,
}

impl Run {
    fn name(self) -> &'static str {
        match self {
            Self::Unloaded => "unloaded",
            Self::Before => "before",
            Self::After => "after",
        }
    }
}

struct Shape {
    rate: usize,
    seconds: usize,
    stores: usize,
    instances: usize,
    lane_instances: usize,
    slow: Duration,
    moto: bool,
    /// A second moto server's endpoint for the slow lane's queues.
    lane_moto: Option<String>,
}

/// One order of the traffic: its store's index and tenant.
struct Planned {
    store: usize,
    tenant: usize,
}

/// Store 0 has 30 % of the orders; the others share the rest evenly. Store 0 and every third
/// store after it belong to HEALTHY, then SLOW, then FAILING.
fn plan(shape: &Shape) -> Vec<Planned> {
    let mut dice = Lcg(22);
    (0..shape.rate * shape.seconds)
        .map(|_| {
            let store = if dice.next() % 100 < 30 {
                0
            } else {
                1 + (dice.next() as usize % (shape.stores - 1))
            };
            Planned {
                store,
                tenant: if store == 0 { 0 } else { store % 3 },
            }
        })
        .collect()
}

fn store_id(i: usize) -> StoreId {
    StoreId::parse(&format!("st_{i:05}")).expect("id")
}

struct Backend {
    repos: Repos,
    queue: Arc<dyn Queue>,
    dlq: Arc<dyn Queue>,
    lane: Arc<dyn Queue>,
}

async fn backend(shape: &Shape, run: Run) -> Backend {
    let visibility = Duration::from_secs(180);
    if shape.moto {
        let counter = common::CallCounter::default();
        let (ddb, sqs) = common::moto_clients(&counter).await;
        let name = format!("fair-{}-{}", std::process::id(), run.name());
        DynamoStore::create_table(&ddb, &name).await.expect("table");
        let (q, d) = SqsQueue::create_with_dlq(&sqs, &name, visibility, 16)
            .await
            .expect("queues");
        // The slow lane on a moto server of its own when asked: in SQS one queue's backlog
        // costs another nothing, while moto's send and receive look at every message of the
        // queue and hold the one interpreter meanwhile (BENCHMARKS.md section 10).
        let lane = match &shape.lane_moto {
            Some(endpoint) => {
                let sqs = common::moto_sqs_at(endpoint, &counter).await;
                let (l, _) =
                    SqsQueue::create_with_dlq(&sqs, &format!("{name}-slow"), visibility, 16)
                        .await
                        .expect("lane");
                SqsQueue::new(sqs, l)
            }
            None => {
                let l = SqsQueue::create_redriving_to(
                    &sqs,
                    &format!("{name}-slow"),
                    visibility,
                    16,
                    &d,
                )
                .await
                .expect("lane");
                SqsQueue::new(sqs.clone(), l)
            }
        };
        Backend {
            repos: Repos::from_adapter(Arc::new(DynamoStore::new(ddb, name))),
            queue: Arc::new(SqsQueue::new(sqs.clone(), q)),
            dlq: Arc::new(SqsQueue::new(sqs, d)),
            lane: Arc::new(lane),
        }
    } else {
        let dlq = Arc::new(MemoryQueue::new(visibility));
        Backend {
            repos: Repos::from_adapter(Arc::new(MemoryStore::new())),
            queue: Arc::new(MemoryQueue::with_dead_letter(visibility, 16, dlq.clone())),
            lane: Arc::new(MemoryQueue::with_dead_letter(visibility, 16, dlq.clone())),
            dlq,
        }
    }
}

struct Outcome {
    sent: Vec<Option<Instant>>,
    endpoints: Vec<Arc<Endpoint>>,
    wall: Duration,
}

async fn run(shape: &Shape, run: Run, traffic: &[Planned], sample: &Value) -> Outcome {
    let loaded = run != Run::Unloaded;
    let mut config = common::bench_config(woolink::politeness::StoreRate::DEFAULT);
    // A 10 s answer must be able to succeed somewhere: the client waits 12 s here (10 s in
    // the template, where a tenant answering in 10 s would fail everywhere).
    config.http_timeout = shape.slow + Duration::from_secs(2);
    let secrets = config.secret_box().expect("key");
    let b = backend(shape, run).await;

    let mut endpoints = Vec::new();
    for (i, code) in TENANTS.iter().enumerate() {
        let signing = woolink::admin::new_signing_secret();
        let (delay, status) = match (loaded, i) {
            (true, 1) => (shape.slow, StatusCode::OK),
            (true, 2) => (Duration::ZERO, StatusCode::SERVICE_UNAVAILABLE),
            _ => (Duration::from_millis(20), StatusCode::OK),
        };
        let e = Arc::new(Endpoint {
            secret: signing.expose().to_owned(),
            delay,
            status,
            answered: Mutex::new(HashMap::new()),
            calls: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        });
        let url = serve(e.clone()).await;
        let tenant = TenantCode::parse(code).expect("code");
        b.repos
            .tenants
            .put_tenant(&woolink::model::Tenant {
                code: tenant.clone(),
                name: code.to_string(),
                active: true,
                fulfilment: Some(Fulfilment {
                    url,
                    secret: seal(&secrets, signing.expose(), Sealing::Fulfilment(&tenant))
                        .expect("seal"),
                }),
                document: woolink::model::DocumentSettings::current(),
            })
            .await
            .expect("tenant");
        endpoints.push(e);
    }
    // The stores' links (no WooCommerce keys: the order travels in the message).
    let template = common::bench_link(&secrets, "http://127.0.0.1:9");
    let links = futures::stream::iter(0..shape.stores)
        .map(|i| {
            let mut link = template.clone();
            link.store_id = store_id(i);
            link.tenant = TenantCode::parse(TENANTS[if i == 0 { 0 } else { i % 3 }]).expect("code");
            link.woo_keys = None;
            link.webhook_ids = Vec::new();
            let links = b.repos.links.clone();
            async move {
                // moto answers a 500 now and then under concurrent writes: try again.
                for _ in 0..5 {
                    match links.save_link(&link, None).await {
                        Ok(()) => return,
                        Err(e) if e.kind() == woolink::error::ErrorKind::Conflict => return,
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                panic!("link {} not saved", link.store_id);
            }
        })
        .buffer_unordered(8);
    futures::StreamExt::collect::<Vec<()>>(links).await;

    // The instances.
    let settings = WorkerSettings::default();
    let lane = (run == Run::After).then(|| b.lane.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..shape.instances {
        let worker = Worker::from_parts(
            &b.repos,
            b.queue.clone(),
            b.dlq.clone(),
            &config,
            settings.clone(),
        )
        .expect("worker")
        .with_slow_lane(lane.clone());
        tasks.push(tokio::spawn(woolink::local::consume(
            b.queue.clone(),
            Arc::new(worker),
            stop_rx.clone(),
        )));
    }
    if run == Run::After {
        for _ in 0..shape.lane_instances {
            let worker = Worker::from_parts(
                &b.repos,
                b.lane.clone(),
                b.dlq.clone(),
                &config,
                settings.clone(),
            )
            .expect("worker")
            .into_slow_lane();
            tasks.push(tokio::spawn(woolink::local::consume(
                b.lane.clone(),
                Arc::new(worker),
                stop_rx.clone(),
            )));
        }
    }

    // The traffic, at a fixed rate.
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; traffic.len()]));
    let started = Instant::now();
    let mut sends = Vec::new();
    for (k, p) in traffic.iter().enumerate() {
        let due = started + Duration::from_secs_f64(k as f64 / shape.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let id = k as u64 + 1;
        let mut order = sample.clone();
        order["id"] = json!(id);
        order["shipping"]["address_1"] = json!(format!("{id} Street"));
        let body = serde_json::to_string(&order).expect("json");
        let tenant = TenantCode::parse(TENANTS[p.tenant]).expect("code");
        let head = EnvelopeHead::for_delivery(
            store_id(p.store),
            tenant.clone(),
            WooTopic::OrderCreated,
            OrderId::new(id),
            order["date_modified_gmt"].as_str().map(str::to_owned),
            body.as_bytes(),
        );
        let message = woolink::envelope::encode(&head, Some(&body)).expect("envelope");
        let (queue, sent) = (b.queue.clone(), sent.clone());
        sends.push(tokio::spawn(async move {
            sent.lock().expect("lock")[k] = Some(Instant::now());
            queue
                .send_grouped(message, tenant.as_str())
                .await
                .expect("enqueue");
        }));
    }
    for s in sends {
        s.await.expect("send");
    }
    // Until every order of the healthy tenant is delivered (or a minute more).
    let healthy = traffic.iter().filter(|p| p.tenant == 0).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while endpoints[0].answered.lock().expect("lock").len() < healthy && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed();
    let _ = stop_tx.send(true);
    for t in tasks {
        t.abort();
    }
    let sent = sent.lock().expect("lock").clone();
    Outcome {
        sent,
        endpoints,
        wall,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `delivered/of  p50  p99  max` of the orders `which` picks among those its tenant answered.
fn lag_line(
    outcome: &Outcome,
    traffic: &[Planned],
    tenant: usize,
    which: impl Fn(usize, &Planned) -> bool,
) -> String {
    let answered = outcome.endpoints[tenant].answered.lock().expect("lock");
    let mut of = 0;
    let mut lags = Vec::new();
    for (k, p) in traffic.iter().enumerate() {
        if p.tenant != tenant || !which(k, p) {
            continue;
        }
        of += 1;
        if let (Some(at), Some(sent)) = (answered.get(&(k as u64 + 1)), outcome.sent[k]) {
            lags.push(at.duration_since(sent));
        }
    }
    lags.sort();
    format!(
        "{:>6}/{:<6} p50 {:>9.1} ms  p99 {:>9.1} ms  max {:>9.1} ms",
        lags.len(),
        of,
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99)),
        ms(percentile(&lags, 1.0))
    )
}

#[tokio::main]
async fn main() {
    let shape = Shape {
        rate: env_num("FAIRNESS_RATE", 200),
        seconds: env_num("FAIRNESS_SECONDS", 60),
        stores: env_num("FAIRNESS_STORES", 5000).max(4),
        instances: env_num("FAIRNESS_INSTANCES", 10),
        lane_instances: env_num("FAIRNESS_LANE_INSTANCES", 2),
        slow: Duration::from_millis(env_num("FAIRNESS_SLOW_MS", 10_000) as u64),
        moto: std::env::var("FAIRNESS_BACKEND").is_ok_and(|b| b == "moto"),
        lane_moto: std::env::var("FAIRNESS_LANE_MOTO_ENDPOINT").ok(),
    };
    let runs: Vec<Run> = std::env::var("FAIRNESS_RUNS")
        .unwrap_or_else(|_| "unloaded,before,after".into())
        .split(',')
        .filter_map(|r| match r.trim() {
            "unloaded" => Some(Run::Unloaded),
            "before" => Some(Run::Before),
            "after" => Some(Run::After),
            _ => None,
        })
        .collect();
    let sample: Value = common::sample_order();
    let traffic = plan(&shape);
    println!(
        "fairness: {} orders at {}/s over {} s to {} stores of 3 tenants (store 0: 30 %), {} main-lane instances, {} slow-lane instances, {}",
        traffic.len(),
        shape.rate,
        shape.seconds,
        shape.stores,
        shape.instances,
        shape.lane_instances,
        match (shape.moto, &shape.lane_moto) {
            (true, Some(_)) => "DynamoDB and SQS on moto, the slow lane on a second moto server",
            (true, None) => "DynamoDB and SQS on moto",
            _ => "in-memory store and queues",
        }
    );
    println!(
        "  loaded runs: SLOW answers in {} ms, FAILING answers 503 at once; unloaded: every endpoint answers 200 in 20 ms",
        shape.slow.as_millis()
    );
    for r in runs {
        let outcome = run(&shape, r, &traffic, &sample).await;
        println!(
            "{} (measured over {:.1} s):",
            r.name(),
            outcome.wall.as_secs_f64()
        );
        println!(
            "  HEALTHY, all stores     {}",
            lag_line(&outcome, &traffic, 0, |_, _| true)
        );
        println!(
            "  HEALTHY, big store      {}",
            lag_line(&outcome, &traffic, 0, |_, p| p.store == 0)
        );
        println!(
            "  HEALTHY, other stores   {}",
            lag_line(&outcome, &traffic, 0, |_, p| p.store != 0)
        );
        let first = shape.rate * 10;
        println!(
            "  HEALTHY, first 10 s     {}",
            lag_line(&outcome, &traffic, 0, |k, _| k < first)
        );
        println!(
            "  HEALTHY, after 10 s     {}",
            lag_line(&outcome, &traffic, 0, |k, _| k >= first)
        );
        println!(
            "  SLOW                    {}",
            lag_line(&outcome, &traffic, 1, |_, _| true)
        );
        let failing = traffic.iter().filter(|p| p.tenant == 2).count();
        println!(
            "  FAILING                 {} calls for {failing} orders{}",
            outcome.endpoints[2].calls.load(Ordering::Relaxed),
            if r == Run::Unloaded {
                format!(" ({})", lag_line(&outcome, &traffic, 2, |_, _| true).trim())
            } else {
                String::new()
            }
        );
        let bad: u64 = outcome
            .endpoints
            .iter()
            .map(|e| e.bad.load(Ordering::Relaxed))
            .sum();
        assert_eq!(bad, 0, "every delivery verified");
    }
}

use futures::StreamExt as _;
