//! The local pipeline under load: the local runner (in-memory store and queue, the same code
//! `woolink dev` runs) receives N signed WooCommerce deliveries at a fixed concurrency; the
//! worker delivers them to a tenant endpoint on loopback that verifies every signature.
//!
//! Reports accepted deliveries per second, webhook ack latency p50/p99, and webhook → tenant
//! lag p50/p99/max. Run: `cargo bench -p woolink-tests --bench pipeline`
//! (`PIPELINE_N`, default 5000; `PIPELINE_CONCURRENCY`, default 32; `PIPELINE_RATE`, deliveries
//! per second, default unlimited; `PIPELINE_VERSIONS=2`: half the orders created, the other
//! half of the deliveries updates of them).
//!
//! `PIPELINE_WORKERS=N` runs N queue consumers with a worker each (Lambda's concurrent
//! batches in separate containers); default 1, as `woolink dev`.
//!
//! `PIPELINE_BURST=V` sends checkout-like bursts instead: N / V orders, each as V versions
//! sent back to back by one sender (as WooCommerce sends the versions of one order within a
//! second: `order.created`, then `order.updated`s, every two of them sharing one
//! `date_modified_gmt`, each with a new address); `PIPELINE_RATE` is then bursts per second.
//! It reports the final version's lag (its send → the tenant has it) and how many
//! deliveries each order cost the tenant (obsolete versions are not delivered).
//!
//! With `PIPELINE_BACKEND=moto` (and `WOOLINK_TEST_MOTO_ENDPOINT`) the store and queue are
//! DynamoDB and SQS on a moto server, and every AWS call is counted by operation through an
//! SDK interceptor, giving the calls per delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use woolink::admin::{self, Seed, TenantSpec};
use woolink::config::{
    Config, DEFAULT_LINK_CACHE_TTL, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_RECEIVES,
    DEFAULT_TOKEN_TTL,
};
use woolink::crypto::{SecretBox, SecretString};
use woolink::intake::woo_signature;
use woolink::local::LocalRunner;
use woolink::outbound::OutboundPolicy;
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, Queue, SqsQueue};
use woolink::store::{DynamoStore, MemoryStore};
use woolink::wiring::OneProcess;

#[path = "common/mod.rs"]
mod common;
use common::CallCounter;
use common::{env_num, percentile};
use woolink::worker::{Worker, WorkerSettings};

type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;
/// One signed delivery: its arrival key, topic, body and signature.
type Delivery = (u64, &'static str, Vec<u8>, String);

/// Versions of one order an arrival key can tell apart.
const MAX_VERSIONS: u64 = 8;

/// Counts every AWS call by service and operation.
#[derive(Clone)]
struct Tenant {
    secret: String,
    arrivals: Arrivals,
    bad: Arc<Mutex<u64>>,
    deliveries: Arc<Mutex<u64>>,
}

async fn tenant_inbox(State(t): State<Tenant>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let ok = standardwebhooks::Webhook::new(&t.secret)
        .and_then(|w| w.verify(&body, &headers))
        .is_ok();
    if !ok {
        *t.bad.lock().expect("lock") += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(id) = v["data"]["orderId"].as_u64() {
        // One key per order version: version k's address ends in " vk".
        let k = v["data"]["shipping"]["address1"]
            .as_str()
            .and_then(|a| a.rsplit_once(" v"))
            .and_then(|(_, k)| k.parse::<u64>().ok())
            .unwrap_or(0);
        t.arrivals
            .lock()
            .expect("lock")
            .entry(id * MAX_VERSIONS + k)
            .or_insert(now);
        *t.deliveries.lock().expect("lock") += 1;
    }
    StatusCode::OK
}

#[tokio::main]
async fn main() {
    let n = env_num("PIPELINE_N", 5000);
    let concurrency = env_num("PIPELINE_CONCURRENCY", 32);
    let rate = env_num("PIPELINE_RATE", 0);

    // The tenant.
    let signing = admin::new_signing_secret();
    let tenant = Tenant {
        secret: signing.expose().to_owned(),
        arrivals: Arc::new(Mutex::new(HashMap::new())),
        bad: Arc::new(Mutex::new(0)),
        deliveries: Arc::new(Mutex::new(0)),
    };
    let tl = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tenant_url = format!("http://{}/orders", tl.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/orders", axum::routing::post(tenant_inbox))
        .with_state(tenant.clone());
    tokio::spawn(async move { axum::serve(tl, app).await });

    // The local runner, as `woolink dev` builds it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let config = Config {
        table: "bench".into(),
        secrets_key: SecretString::new(SecretBox::generate_key_base64()),
        previous_secrets_keys: Vec::new(),
        public_url: Some(url::Url::parse(&base).expect("url")),
        webhook_base_url: None,
        callback_url: None,
        token_ttl: DEFAULT_TOKEN_TTL,
        consent_ttl: woolink::config::DEFAULT_CONSENT_TTL,
        http_timeout: Duration::from_secs(10),
        outbound: OutboundPolicy::local_development(),
        queue_url: None,
        dlq_url: None,
        slow_lane_url: None,
        max_receives: DEFAULT_MAX_RECEIVES,
        retention: woolink::config::DEFAULT_RETENTION,
        history_retention: woolink::config::DEFAULT_HISTORY_RETENTION,
        link_cache_ttl: DEFAULT_LINK_CACHE_TTL,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        jobs_queue_url: None,
        shipments_queue_url: None,
        shipments_dlq_url: None,
        store_rate: woolink::politeness::StoreRate::DEFAULT,
        store_intake_rate: None,
        poll_overlap: woolink::config::DEFAULT_POLL_OVERLAP,
        catchup_pages_per_job: woolink::config::DEFAULT_CATCHUP_PAGES_PER_JOB,
    };
    let counter = CallCounter::default();
    let moto = std::env::var("PIPELINE_BACKEND").is_ok_and(|b| b == "moto");
    let (repos, queue, dlq): (Repos, Arc<dyn Queue>, Arc<dyn Queue>) = if moto {
        let (ddb, sqs) = common::moto_clients(&counter).await;
        let name = format!("bench-{}", std::process::id());
        DynamoStore::create_table(&ddb, &name).await.expect("table");
        let (q, d) =
            SqsQueue::create_with_dlq(&sqs, &name, Duration::from_secs(60), DEFAULT_MAX_RECEIVES)
                .await
                .expect("queues");
        (
            Repos::from_adapter(Arc::new(DynamoStore::new(ddb, name))),
            Arc::new(SqsQueue::new(sqs.clone(), q)),
            Arc::new(SqsQueue::new(sqs, d)),
        )
    } else {
        let dlq = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
        let queue: Arc<dyn Queue> = Arc::new(MemoryQueue::with_dead_letter(
            Duration::from_secs(60),
            DEFAULT_MAX_RECEIVES,
            dlq.clone(),
        ));
        (
            Repos::from_adapter(Arc::new(MemoryStore::new())),
            queue,
            dlq,
        )
    };
    let OneProcess {
        services,
        intake,
        worker,
        ..
    } = OneProcess::new(
        repos.clone(),
        woolink::wiring::Queues {
            orders: queue.clone(),
            dead_letters: dlq.clone(),
            slow_lane: None,
            jobs: Arc::new(MemoryQueue::new(Duration::from_secs(60))),
            shipments: Arc::new(MemoryQueue::new(Duration::from_secs(60))),
            shipment_dead_letters: Arc::new(MemoryQueue::new(Duration::from_secs(60))),
        },
        &config,
        WorkerSettings::default(),
    )
    .expect("wiring");
    // PIPELINE_WORKERS=N: N consumers of the queue, each with a worker of its own (as Lambda
    // runs N batches in N containers); the first is the local runner's.
    let new_worker = || {
        Arc::new(
            Worker::from_parts(
                &repos,
                queue.clone(),
                dlq.clone(),
                &config,
                WorkerSettings::default(),
            )
            .expect("worker"),
        )
    };
    let workers = env_num("PIPELINE_WORKERS", 1).max(1);
    for _ in 1..workers {
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(woolink::local::consume(
            queue.clone(),
            new_worker(),
            stopped,
        ));
        std::mem::forget(_stop);
    }
    let seed = json!({"tenants": [{"code": "BENCH", "name": "Bench", "active": true,
        "users": [{"email": "ops@bench.test", "password": "bench-password-1"}],
        "stores": [{"id": "st_bench", "name": "Bench Shop", "customerId": "cus_bench"}]}]});
    admin::apply_seed(
        &services.admin(),
        Seed::parse(&seed.to_string()).expect("seed"),
    )
    .await
    .expect("seed applies");
    admin::put_tenant(
        &services.admin(),
        TenantSpec {
            code: woolink::domain::TenantCode::parse("BENCH").expect("code"),
            name: "Bench".into(),
            active: true,
            fulfilment: Some((tenant_url, signing)),
            document: None,
        },
    )
    .await
    .expect("tenant");
    let runner = LocalRunner {
        services,
        intake,
        worker: Some(worker),
        queue: queue.clone(),
        slow_lane: None,
        inbox: None,
        catch_up: None,
        poll_every: None,
        shipments: None,
    };
    tokio::spawn(
        async move { woolink::local::serve(listener, runner, std::future::pending()).await },
    );

    let http = reqwest::Client::new();
    let device = "ab".repeat(32);
    let login: Value = http
        .post(format!("{base}/v1/connect/login"))
        .json(&json!({"code": "BENCH", "email": "ops@bench.test", "password": "bench-password-1", "deviceId": device}))
        .send().await.expect("login").json().await.expect("json");
    let token = login["token"].as_str().expect("token").to_owned();
    let link: Value = http
        .post(format!("{base}/v1/connect/link"))
        .bearer_auth(&token)
        .json(&json!({"storeId": "st_bench", "storeUrl": "http://127.0.0.1:9", "deviceId": device}))
        .send()
        .await
        .expect("link")
        .json()
        .await
        .expect("json");
    let secret = link["webhook"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let url = format!("{base}/v1/webhooks/woocommerce/st_bench");

    // Signed bodies, prepared before the clock starts (a 3.3 KB REST v3 order each).
    let sample: Value = common::sample_order();
    // With PIPELINE_VERSIONS=2, half the orders are created and later updated (a new
    // address): n deliveries, as many `order.updated` as `order.created`. With
    // PIPELINE_BURST=V, every order's V versions go out back to back.
    let burst = env_num("PIPELINE_BURST", 0).min(MAX_VERSIONS as usize) as u64;
    let versions = if burst > 0 {
        burst
    } else {
        env_num("PIPELINE_VERSIONS", 1).clamp(1, 2) as u64
    };
    let orders = n as u64 / versions;
    let body_of = |id: u64, k: u64| {
        let mut o = sample.clone();
        o["id"] = json!(id);
        // In a burst every two versions share a timestamp (an address edit keeps it).
        let second = if burst > 0 { k / 2 } else { k * 60 };
        o["date_modified_gmt"] = json!(format!(
            "2026-11-23T10:{:02}:{:02}",
            second / 60,
            second % 60
        ));
        o["shipping"]["address_1"] = json!(format!("{id} Street v{k}"));
        let body = serde_json::to_string(&o)
            .expect("json")
            .replace('/', "\\/")
            .into_bytes();
        let sig = woo_signature(secret.as_bytes(), &body);
        let topic = if k == 0 {
            "order.created"
        } else {
            "order.updated"
        };
        (id * MAX_VERSIONS + k, topic, body, sig)
    };
    // Work items: one delivery each, or one order's whole burst each.
    let bodies: Vec<Vec<Delivery>> = if burst > 0 {
        (1..=orders)
            .map(|id| (0..versions).map(|k| body_of(id, k)).collect())
            .collect()
    } else {
        (0..versions)
            .flat_map(|k| (1..=orders).map(move |id| (id, k)))
            .map(|(id, k)| vec![body_of(id, k)])
            .collect()
    };
    let finals: Vec<u64> = (1..=orders)
        .map(|id| id * MAX_VERSIONS + versions - 1)
        .collect();
    let n = bodies.iter().map(Vec::len).sum::<usize>();

    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let acks: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let work = Arc::new(Mutex::new(bodies.into_iter().enumerate()));
    // The AWS calls of setting up are not the pipeline's.
    counter.0.lock().expect("lock").clear();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, url, work, sent, acks) = (
            http.clone(),
            url.clone(),
            work.clone(),
            sent.clone(),
            acks.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = work.lock().expect("lock").next();
                let Some((seq, versions)) = next else {
                    return;
                };
                if rate > 0 {
                    // Open loop at a fixed rate: work item `seq` is due at seq / rate s.
                    let due = started + Duration::from_secs_f64(seq as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                for (key, topic, body, sig) in versions {
                    let t0 = Instant::now();
                    sent.lock().expect("lock").insert(key, t0);
                    let r = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-wc-webhook-topic", topic)
                        .header("x-wc-webhook-signature", sig)
                        .body(body)
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(r.status(), 200);
                    acks.lock().expect("lock").push(t0.elapsed());
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let accept_time = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    let all_arrived = || {
        let arrivals = tenant.arrivals.lock().expect("lock");
        if burst > 0 {
            finals.iter().all(|k| arrivals.contains_key(k))
        } else {
            arrivals.len() >= n
        }
    };
    while !all_arrived() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_time = started.elapsed();

    let mut ack = acks.lock().expect("lock").clone();
    ack.sort();
    let arrivals = tenant.arrivals.lock().expect("lock").clone();
    let sent = sent.lock().expect("lock").clone();
    let mut lag: Vec<Duration> = arrivals
        .iter()
        .filter_map(|(id, at)| sent.get(id).map(|s| at.duration_since(*s)))
        .collect();
    lag.sort();
    let mut final_lag: Vec<Duration> = finals
        .iter()
        .filter_map(|k| Some(arrivals.get(k)?.duration_since(*sent.get(k)?)))
        .collect();
    final_lag.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let backend = if moto {
        "DynamoDB and SQS on moto"
    } else {
        "in-memory store and queue"
    };
    let pace = if rate > 0 {
        format!("{rate}/s offered")
    } else {
        "as fast as acknowledged".to_owned()
    };
    let shape = if burst > 0 {
        format!(" ({orders} orders × {burst} versions sent back to back; rate in bursts)")
    } else {
        String::new()
    };
    println!("local pipeline: {n} signed deliveries{shape}, concurrency {concurrency}, {pace}, {backend}, {workers} worker(s)");
    println!(
        "  accepted:   {n} in {:.2} s = {:.0} deliveries/s",
        accept_time.as_secs_f64(),
        n as f64 / accept_time.as_secs_f64()
    );
    println!("  delivered:  {} of {n} (bad signatures at tenant: {}) in {:.2} s = {:.0} orders/s end to end",
        arrivals.len(), tenant.bad.lock().expect("lock"), drain_time.as_secs_f64(), arrivals.len() as f64 / drain_time.as_secs_f64());
    println!(
        "  ack latency ms:            p50 {:.2}  p99 {:.2}  max {:.2}",
        ms(percentile(&ack, 0.5)),
        ms(percentile(&ack, 0.99)),
        ms(percentile(&ack, 1.0))
    );
    println!(
        "  webhook → tenant lag ms:   p50 {:.2}  p99 {:.2}  max {:.2}",
        ms(percentile(&lag, 0.5)),
        ms(percentile(&lag, 0.99)),
        ms(percentile(&lag, 1.0))
    );
    if burst > 0 {
        println!(
            "  final version lag ms:      p50 {:.2}  p99 {:.2}  max {:.2}  ({} of {orders} final versions arrived)",
            ms(percentile(&final_lag, 0.5)),
            ms(percentile(&final_lag, 0.99)),
            ms(percentile(&final_lag, 1.0)),
            final_lag.len()
        );
        let deliveries = *tenant.deliveries.lock().expect("lock");
        println!(
            "  deliveries to the tenant:  {deliveries} for {orders} orders = {:.2} per order ({burst} versions sent each)",
            deliveries as f64 / orders as f64,
        );
    }
    if moto {
        // Let the last deletes land, then report calls per delivery.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let calls = counter.0.lock().expect("lock").clone();
        println!(
            "  AWS calls per delivery (all {} calls counted by an SDK interceptor):",
            calls.values().sum::<u64>()
        );
        for (op, count) in &calls {
            println!("    {op:<40} {count:>8}  {:.3}", *count as f64 / n as f64);
        }
        // First attempts only: what the code asks for (retries are listed above).
        let per = |ops: &[&str]| {
            ops.iter()
                .map(|o| calls.get(*o).copied().unwrap_or(0))
                .sum::<u64>() as f64
                / n as f64
        };
        let retries: u64 = calls
            .iter()
            .filter(|(op, _)| op.ends_with("(SDK retry)"))
            .map(|(_, c)| c)
            .sum();
        println!(
            "  SDK retries of throttled/failed attempts: {retries} ({:.3} per delivery)",
            retries as f64 / n as f64
        );
        println!("  first attempts per delivery: SQS sends {:.3}, receives+deletes {:.3}; DynamoDB writes {:.3}, reads {:.3}, scans {}",
            per(&["SQS.SendMessage"]),
            per(&["SQS.ReceiveMessage", "SQS.DeleteMessageBatch", "SQS.DeleteMessage"]),
            per(&["DynamoDB.PutItem", "DynamoDB.UpdateItem", "DynamoDB.DeleteItem", "DynamoDB.TransactWriteItems", "DynamoDB.BatchWriteItem"]),
            per(&["DynamoDB.GetItem", "DynamoDB.Query", "DynamoDB.BatchGetItem"]),
            calls.get("DynamoDB.Scan").copied().unwrap_or(0));
    }
    if burst > 0 {
        assert_eq!(
            final_lag.len(),
            finals.len(),
            "every final version delivered"
        );
    } else {
        assert_eq!(arrivals.len(), n, "every order delivered");
    }
}
