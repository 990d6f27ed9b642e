//! Catch-up benchmark: a backfill of `CATCHUP_N` existing orders (default 10,000) from a
//! store on loopback, carried out by catch-up jobs exactly as the catch-up function runs them
//! (one job at a time, each sending its continuation), into the orders queue; then
//! `CATCHUP_POLLS` steady-state reconciliation polls of the same store (nothing changed).
//! Reports wall time, orders per second, AWS calls per order and per poll (counted by an SDK
//! interceptor), and WooCommerce requests per order and per poll.
//!
//! `CATCHUP_STORE_RATE=R/B` replaces the default 5 requests/s, burst 10, to one store.
//! `CATCHUP_BACKEND=moto` (with `WOOLINK_TEST_MOTO_ENDPOINT`) uses DynamoDB and SQS on a moto
//! server; the default is the in-memory store and queues. `scripts/bench` runs both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use woolink::catchup::{start_backfill, BackfillRequest, CatchUpSettings, Started};
use woolink::config::Config;
use woolink::domain::StoreId;
use woolink::model::BackfillState;
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, Queue, SqsQueue};
use woolink::store::{DynamoStore, MemoryStore};
use woolink::wiring::CatchUpWork;

#[path = "common/mod.rs"]
mod common;
use common::CallCounter;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fake store: `n` processing orders (the REST docs' sample order, ~3 KB each), listed
/// in id order with WooCommerce's paging headers; nothing modified recently; woolink's four
/// webhooks, active.
#[derive(Clone)]
struct Shop {
    orders: Arc<Vec<String>>,
    hooks: Arc<Value>,
    requests: Arc<AtomicU64>,
}

async fn list_orders(
    State(shop): State<Shop>,
    RawQuery(q): RawQuery,
) -> (StatusCode, HeaderMap, String) {
    shop.requests.fetch_add(1, Ordering::Relaxed);
    let q = q.unwrap_or_default();
    let param = |name: &str| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    let page: usize = param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let per_page: usize = param("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    // Every order was last modified long before the link: a poll's `modified_after` finds none.
    let total = if param("modified_after").is_some() {
        0
    } else {
        shop.orders.len()
    };
    let body: Vec<&str> = shop
        .orders
        .iter()
        .take(total)
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(String::as_str)
        .collect();
    let mut h = HeaderMap::new();
    h.insert("x-wp-total", total.into());
    h.insert("x-wp-totalpages", total.div_ceil(per_page.max(1)).into());
    (StatusCode::OK, h, format!("[{}]", body.join(",")))
}

async fn list_webhooks(State(shop): State<Shop>) -> axum::Json<Value> {
    shop.requests.fetch_add(1, Ordering::Relaxed);
    axum::Json((*shop.hooks).clone())
}

/// The calls counted since `before`.
fn since(
    counter: &CallCounter,
    before: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    counter
        .snapshot()
        .into_iter()
        .map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn per(n: u64, of: u64) -> f64 {
    n as f64 / of.max(1) as f64
}

fn print_calls(what: &str, calls: &std::collections::BTreeMap<String, u64>, of: u64) {
    let total: u64 = calls.values().sum();
    println!("  AWS calls per {what}: {:.4} in all", per(total, of));
    for (op, n) in calls {
        println!("    {op:<40} {n:>8}  ({:.4} per {what})", per(*n, of));
    }
}

#[tokio::main]
async fn main() {
    let n = env_num("CATCHUP_N", 10_000);
    let polls = env_num("CATCHUP_POLLS", 200);
    let moto = std::env::var("CATCHUP_BACKEND").is_ok_and(|b| b == "moto");

    let sample: Value = common::sample_order();
    let orders: Vec<String> = (1..=n)
        .map(|id| {
            let mut o = sample.clone();
            o["id"] = json!(id);
            o["number"] = json!(id.to_string());
            o["status"] = json!("processing");
            o["date_modified_gmt"] = json!("2026-01-01T00:00:00");
            o.to_string()
        })
        .collect();
    let order_bytes = orders.iter().map(String::len).sum::<usize>() / orders.len().max(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let store_url = format!("http://{}", listener.local_addr().expect("addr"));
    let delivery = "http://127.0.0.1:9/v1/webhooks/woocommerce/st_bench";
    let hooks: Vec<Value> = [
        "order.created",
        "order.updated",
        "order.deleted",
        "order.restored",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| json!({"id": i + 1, "topic": t, "status": "active", "delivery_url": delivery}))
    .collect();
    let shop = Shop {
        orders: Arc::new(orders),
        hooks: Arc::new(Value::Array(hooks)),
        requests: Arc::new(AtomicU64::new(0)),
    };
    let app = axum::Router::new()
        .route("/wp-json/wc/v3/orders", axum::routing::get(list_orders))
        .route("/wp-json/wc/v3/webhooks", axum::routing::get(list_webhooks))
        .with_state(shop.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let counter = CallCounter::default();
    let (repos, orders_queue, jobs): (Repos, Arc<dyn Queue>, Arc<dyn Queue>) = if moto {
        let (ddb, sqs) = common::moto_clients(&counter).await;
        let name = format!("catchup-{}", std::process::id());
        DynamoStore::create_table(&ddb, &name).await.expect("table");
        let (orders, _) = SqsQueue::create_with_dlq(&sqs, &name, Duration::from_secs(60), 16)
            .await
            .expect("orders queue");
        let (jobs, _) =
            SqsQueue::create_with_dlq(&sqs, &format!("{name}-jobs"), Duration::from_secs(1800), 5)
                .await
                .expect("jobs queue");
        (
            Repos::from_adapter(Arc::new(DynamoStore::new(ddb, name))),
            Arc::new(SqsQueue::new(sqs.clone(), orders)),
            Arc::new(SqsQueue::new(sqs, jobs)),
        )
    } else {
        (
            Repos::from_adapter(Arc::new(MemoryStore::new())),
            Arc::new(MemoryQueue::new(Duration::from_secs(60))),
            Arc::new(MemoryQueue::new(Duration::from_secs(1800))),
        )
    };

    // The deployed default (the pace a polite backfill keeps), or `CATCHUP_STORE_RATE`
    // (`10000/10000` shows woolink's own speed).
    let config = common::bench_config(
        std::env::var("CATCHUP_STORE_RATE")
            .ok()
            .and_then(|r| woolink::politeness::StoreRate::parse(&r))
            .unwrap_or(woolink::politeness::StoreRate::DEFAULT),
    );
    let secrets = config.secret_box().expect("key");
    let store = StoreId::parse("st_bench").expect("id");
    let link = common::bench_link(&secrets, &store_url);
    common::install(&repos, &link, None).await;
    let work = CatchUpWork::new(
        &repos,
        orders_queue.clone(),
        jobs.clone(),
        &config,
        CatchUpSettings::default(),
    )
    .expect("wiring");

    // The backfill, job by job as the catch-up function takes them (batch size 1).
    let before_calls = counter.snapshot();
    let before_requests = shop.requests.load(Ordering::Relaxed);
    let started = Instant::now();
    let ports = work.ports();
    let Started::Running(run) =
        start_backfill(&ports.starting(), &store, BackfillRequest::default())
            .await
            .expect("started")
    else {
        panic!("a run")
    };
    let mut job_count = 0u64;
    loop {
        let got = jobs
            .receive(1, Duration::from_millis(200))
            .await
            .expect("receive");
        if got.is_empty() {
            break;
        }
        job_count += 1;
        let failed = work.handle_batch(&got).await;
        assert!(failed.is_empty(), "a job failed");
        jobs.delete(&[got[0].receipt.clone()])
            .await
            .expect("delete");
    }
    let took = started.elapsed();
    let done = repos
        .backfills
        .get_backfill(&store)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(done.run_id, run.run_id);
    assert_eq!(done.state, BackfillState::Done, "{done:?}");
    assert_eq!(done.queued, n, "every order queued");
    let calls = since(&counter, &before_calls);
    let requests = shop.requests.load(Ordering::Relaxed) - before_requests;
    println!(
        "catch-up bench ({}): backfill of {n} orders (~{order_bytes} bytes each), {} jobs of ≤ {} pages",
        if moto { "DynamoDB + SQS on moto" } else { "in memory" },
        job_count,
        config.catchup_pages_per_job
    );
    println!(
        "  wall time {:.2} s, {:.0} orders/s (store rate limit {}/s, burst {})",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        config.store_rate.per_second,
        config.store_rate.burst
    );
    println!(
        "  WooCommerce requests per order: {:.4} ({requests} in all)",
        per(requests, n)
    );
    if moto {
        print_calls("order", &calls, n);
    }

    // Steady-state polls: the store unchanged since the last one. A store is polled once a
    // period, so its bucket never binds there: these runs lift it to time the poll itself.
    let unthrottled = Config {
        store_rate: woolink::politeness::StoreRate {
            per_second: 100_000.0,
            burst: 100_000.0,
        },
        ..config.clone()
    };
    let work = CatchUpWork::new(
        &repos,
        orders_queue.clone(),
        jobs.clone(),
        &unthrottled,
        CatchUpSettings::default(),
    )
    .expect("wiring");
    let before_calls = counter.snapshot();
    let before_requests = shop.requests.load(Ordering::Relaxed);
    let started = Instant::now();
    for _ in 0..polls {
        let polled = woolink::catchup::poll_store(&work.ports(), &store, None)
            .await
            .expect("poll");
        assert!(
            !polled.skipped && polled.queued == 0 && polled.next.is_none(),
            "{polled:?}"
        );
    }
    let took = started.elapsed();
    let calls = since(&counter, &before_calls);
    let requests = shop.requests.load(Ordering::Relaxed) - before_requests;
    println!("steady-state poll of an unchanged store, {polls} runs");
    println!(
        "  {:.1} ms per poll; WooCommerce requests per poll: {:.2}",
        took.as_secs_f64() * 1000.0 / polls as f64,
        per(requests, polls)
    );
    if moto {
        print_calls("poll", &calls, polls);
    }
}
