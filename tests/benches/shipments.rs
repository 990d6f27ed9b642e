//! Shipments benchmark: `SHIPMENTS_N` tenant shipments (default 200), each of one order,
//! accepted as the route accepts them and written by the shipment worker as its function
//! runs it (batches of 10 from the shipments queue) to a store on loopback that runs AST
//! (as the real test store does), each completing its order; then each deleted. Reports AWS
//! calls per shipment (counted by an SDK interceptor, on moto) and store and tenant requests
//! per shipment, by kind, for the accept, the write and the delete, and the wall time.
//!
//! `SHIPMENTS_BACKEND=moto` (with `WOOLINK_TEST_MOTO_ENDPOINT`) uses DynamoDB and SQS on a moto
//! server; the default is the in-memory store and queues. `scripts/bench` runs both.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use woolink::domain::{OrderId, StoreId, TenantCode};
use woolink::model::{Fulfilment, OrderSync};
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, Queue, SqsQueue};
use woolink::secrets::{seal, Sealing};
use woolink::shipments::{
    accept_shipment, delete_shipment, Accepting, RequestedItem, ShipmentRequest, ShipmentWorker,
};
use woolink::store::{DynamoStore, MemoryStore};
use woolink::worker::WorkerSettings;

#[path = "common/mod.rs"]
mod common;
use common::CallCounter;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// A store running AST: orders of one T-shirt each, their tracking lists, statuses.
#[derive(Clone, Default)]
struct Shop {
    requests: Counts,
    trackings: Arc<Mutex<BTreeMap<u64, Vec<Value>>>>,
    statuses: Arc<Mutex<BTreeMap<u64, String>>>,
}

async fn shop(
    State(shop): State<Shop>,
    method: Method,
    uri: Uri,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let path = uri.path().trim_start_matches("/wp-json/").to_owned();
    let parts: Vec<&str> = path.split('/').collect();
    let kind = match parts.as_slice() {
        [_, _, "orders", _] => "order",
        [_, _, "orders", _, "fulfillments"] => "fulfillments probe",
        [_, _, "orders", _, "shipment-trackings"] => "trackings",
        [_, _, "orders", _, "shipment-trackings", "providers"] => "carriers",
        [_, _, "orders", _, "shipment-trackings", _] => "tracking",
        ["wc", "v3", "reports", "orders", "totals"] => "statuses",
        ["wc", "v3", "products"] => "products",
        _ => "other",
    };
    *shop
        .requests
        .lock()
        .expect("lock")
        .entry(format!("{method} {kind}"))
        .or_default() += 1;
    let order: u64 = parts.get(3).and_then(|p| p.parse().ok()).unwrap_or(0);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match (method.as_str(), kind) {
        (_, "fulfillments probe") => (
            StatusCode::NOT_FOUND,
            json!({"code": "rest_no_route"}).to_string(),
        ),
        ("GET", "order") => {
            let status = shop
                .statuses
                .lock()
                .expect("lock")
                .get(&order)
                .cloned()
                .unwrap_or_else(|| "processing".into());
            (
                StatusCode::OK,
                json!({"id": order, "status": status, "line_items": [
                {"id": order * 10, "sku": "TSHIRT-001", "quantity": 1, "product_id": 10}]})
                .to_string(),
            )
        }
        ("PUT", "order") => {
            let status = body["status"].as_str().unwrap_or_default().to_owned();
            shop.statuses
                .lock()
                .expect("lock")
                .insert(order, status.clone());
            (
                StatusCode::OK,
                json!({"id": order, "status": status}).to_string(),
            )
        }
        ("GET", "trackings") => {
            let list = shop
                .trackings
                .lock()
                .expect("lock")
                .get(&order)
                .cloned()
                .unwrap_or_default();
            (StatusCode::OK, Value::Array(list).to_string())
        }
        ("POST", "trackings") => {
            let entry = json!({"tracking_id": format!("t{order}"), "tracking_provider": body["tracking_provider"],
                "tracking_number": body["tracking_number"], "tracking_link": ""});
            shop.trackings
                .lock()
                .expect("lock")
                .entry(order)
                .or_default()
                .push(entry.clone());
            (StatusCode::CREATED, entry.to_string())
        }
        ("DELETE", "tracking") => {
            shop.trackings.lock().expect("lock").remove(&order);
            (StatusCode::OK, "{}".into())
        }
        ("GET", "carriers") => (
            StatusCode::OK,
            json!({"United States": {"UPS": "", "USPS": ""}}).to_string(),
        ),
        ("GET", "statuses") => (
            StatusCode::OK,
            json!([{"slug": "processing"}, {"slug": "completed"}]).to_string(),
        ),
        ("GET", "products") => (
            StatusCode::OK,
            json!([{"id": 10, "virtual": false}]).to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            json!({"code": "rest_no_route"}).to_string(),
        ),
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn since(counter: &CallCounter, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    counter
        .snapshot()
        .into_iter()
        .map(|(k, v)| {
            let d = v - before.get(&k).copied().unwrap_or(0);
            (k, d)
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn print_per(what: &str, counts: &BTreeMap<String, u64>, n: u64) {
    let total: u64 = counts.values().sum();
    println!(
        "  {what}: {:.2} per shipment ({total} in all)",
        total as f64 / n as f64
    );
    for (k, v) in counts {
        println!("    {k:<40} {:.2}", *v as f64 / n as f64);
    }
}

async fn drain(worker: &ShipmentWorker, queue: &Arc<dyn Queue>) {
    loop {
        let got = queue
            .receive(10, Duration::from_millis(200))
            .await
            .expect("receive");
        if got.is_empty() {
            return;
        }
        let failed = worker.handle_batch(&got).await;
        assert!(failed.is_empty(), "a shipment job failed");
        let receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
        queue.delete(&receipts).await.expect("delete");
    }
}

#[tokio::main]
async fn main() {
    let n = env_num("SHIPMENTS_N", 200);
    let moto = std::env::var("SHIPMENTS_BACKEND").as_deref() == Ok("moto");

    let the_shop = Shop::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let store_url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .fallback(shop)
        .with_state(the_shop.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let events: Counts = Arc::default();
    let tenant_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tenant_url = format!(
        "http://{}/events",
        tenant_listener.local_addr().expect("addr")
    );
    let tenant_app = axum::Router::new()
        .fallback(
            |State(c): State<Counts>, body: axum::body::Bytes| async move {
                let e: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                *c.lock()
                    .expect("lock")
                    .entry(e["type"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
                "ok"
            },
        )
        .with_state(events.clone());
    tokio::spawn(async move { axum::serve(tenant_listener, tenant_app).await });

    let counter = CallCounter::default();
    let (repos, queue, dlq): (Repos, Arc<dyn Queue>, Arc<dyn Queue>) = if moto {
        let (ddb, sqs) = common::moto_clients(&counter).await;
        let table = format!("shipments-bench-{}", std::process::id());
        DynamoStore::ensure_local_table(&ddb, &table)
            .await
            .expect("table");
        let (q, d) = SqsQueue::create_with_dlq(&sqs, &table, Duration::from_secs(540), 16)
            .await
            .expect("queues");
        (
            Repos::from_adapter(Arc::new(DynamoStore::new(ddb, table))),
            Arc::new(SqsQueue::new(sqs.clone(), q)),
            Arc::new(SqsQueue::new(sqs, d)),
        )
    } else {
        (
            Repos::from_adapter(Arc::new(MemoryStore::new())),
            Arc::new(MemoryQueue::new(Duration::from_secs(540))),
            Arc::new(MemoryQueue::new(Duration::from_secs(540))),
        )
    };
    // The store's own pace is lifted: it is not what is measured here.
    let config = common::bench_config(woolink::politeness::StoreRate {
        per_second: 100_000.0,
        burst: 100_000.0,
    });
    let secrets = config.secret_box().expect("key");
    let store = StoreId::parse("st_bench").expect("id");
    let tenant = TenantCode::parse("BENCH").expect("code");
    let now = chrono::Utc::now();
    let link = common::bench_link(&secrets, &store_url);
    let signing = woolink::admin::new_signing_secret();
    let fulfilment = Fulfilment {
        url: tenant_url,
        secret: seal(&secrets, signing.expose(), Sealing::Fulfilment(&tenant)).expect("seal"),
    };
    common::install(&repos, &link, Some(fulfilment)).await;
    for id in 1..=n {
        let mut o = OrderSync::first(store.clone(), OrderId::new(id), now);
        o.in_scope = true;
        repos.orders.save_order_sync(&o, None).await.expect("order");
    }
    let woo = woolink::woocommerce::WooClient::new(
        config.outbound.client(config.http_timeout).expect("client"),
        config.outbound,
    )
    .with_rate(config.store_rate);
    let worker = ShipmentWorker::from_parts(
        &repos,
        queue.clone(),
        dlq,
        &config,
        WorkerSettings::default(),
    )
    .expect("worker");
    let accepting = Accepting {
        links: repos.links.as_ref(),
        orders: repos.orders.as_ref(),
        shipments: repos.shipments.as_ref(),
        secrets: &secrets,
        woo: &woo,
        queue: queue.as_ref(),
    };
    let store_counts = |before: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        the_shop
            .requests
            .lock()
            .expect("lock")
            .iter()
            .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect()
    };
    println!(
        "shipments bench ({}): {n} shipments of one order each, to a store running AST, each completing its order",
        if moto { "DynamoDB + SQS on moto" } else { "in memory" }
    );

    // Accept, as the route does.
    let (calls0, store0) = (
        counter.snapshot(),
        the_shop.requests.lock().expect("lock").clone(),
    );
    let started = Instant::now();
    for id in 1..=n {
        let request = ShipmentRequest {
            shipment_id: format!("sh-{id}"),
            tracking_number: format!("1Z{id:016}"),
            carrier: "ups".into(),
            tracking_url: None,
            shipped_at: None,
            items: vec![RequestedItem::Sku {
                sku: "TSHIRT-001".into(),
                quantity: 1,
            }],
            notify_customer: true,
            complete: Default::default(),
        };
        accept_shipment(&accepting, &link, OrderId::new(id), request)
            .await
            .expect("accepted");
    }
    let accept_took = started.elapsed();
    let accept_calls = since(&counter, &calls0);
    let accept_store = store_counts(&store0);

    // Write, as the shipment-worker function does.
    let (calls1, store1) = (
        counter.snapshot(),
        the_shop.requests.lock().expect("lock").clone(),
    );
    let started = Instant::now();
    drain(&worker, &queue).await;
    let write_took = started.elapsed();
    let write_calls = since(&counter, &calls1);
    let write_store = store_counts(&store1);
    let completed = the_shop
        .statuses
        .lock()
        .expect("lock")
        .values()
        .filter(|s| *s == "completed")
        .count() as u64;
    assert_eq!(completed, n, "every order completed");

    // Delete.
    let (calls2, store2) = (
        counter.snapshot(),
        the_shop.requests.lock().expect("lock").clone(),
    );
    let started = Instant::now();
    for id in 1..=n {
        delete_shipment(&accepting, &store, OrderId::new(id), &format!("sh-{id}"))
            .await
            .expect("deleted");
    }
    drain(&worker, &queue).await;
    let delete_took = started.elapsed();
    let delete_calls = since(&counter, &calls2);
    let delete_store = store_counts(&store2);
    assert!(
        the_shop.trackings.lock().expect("lock").is_empty(),
        "every entry removed"
    );

    println!(
        "  wall time: accept {:.2} ms, write {:.2} ms, delete {:.2} ms per shipment (one worker, batches of 10)",
        accept_took.as_secs_f64() * 1e3 / n as f64,
        write_took.as_secs_f64() * 1e3 / n as f64,
        delete_took.as_secs_f64() * 1e3 / n as f64
    );
    println!("accept (the route):");
    print_per("store requests", &accept_store, n);
    if moto {
        print_per("AWS calls", &accept_calls, n);
    }
    println!("write (the shipment worker; the store's setup is learnt once per store and hour):");
    print_per("store requests", &write_store, n);
    if moto {
        print_per("AWS calls", &write_calls, n);
    }
    print_per("tenant events", &events.lock().expect("lock").clone(), n);
    println!("delete (the route, then the worker):");
    print_per("store requests", &delete_store, n);
    if moto {
        print_per("AWS calls", &delete_calls, n);
    }
}
