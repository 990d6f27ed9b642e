//! Catalogue and stock benchmark: a store of `STOCK_N` simple products (default 10,000, stock
//! managed), imported as the catalogue import's jobs do it, then one inventory push of every
//! SKU (each quantity changed) applied as the inventory jobs do it (chunks of 500, ten
//! chunks a job). Reports wall time, WooCommerce requests by kind and AWS calls by operation
//! (`STOCK_BACKEND=moto`, counted by an SDK interceptor) for the import and the push.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use woolink::catalogue::{
    import_step, inventory_step, start_import, submit_inventory, Cataloguing, InventoryRequest,
};
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, Queue, SqsQueue};
use woolink::store::{DynamoStore, MemoryStore};

#[path = "common/mod.rs"]
mod common;
use common::CallCounter;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

#[derive(Clone)]
struct Shop {
    n: u64,
    requests: Counts,
    stock: Arc<Mutex<Vec<i64>>>,
}

fn product(id: u64, qty: i64) -> Value {
    json!({"id": id, "type": "simple", "status": "publish", "name": format!("Product {id}"),
        "sku": format!("SKU-{id:05}"), "manage_stock": true, "stock_quantity": qty,
        "stock_status": "instock", "weight": "0.5", "price": "10",
        "dimensions": {"length": "10", "width": "10", "height": "10"},
        "date_modified_gmt": "2026-11-30T10:00:00"})
}

fn param(q: &Option<String>, name: &str) -> Option<String> {
    q.as_deref()?.split('&').find_map(|kv| {
        kv.strip_prefix(&format!("{name}="))
            .map(|v| v.replace("%2C", ","))
    })
}

async fn shop(
    State(shop): State<Shop>,
    method: Method,
    uri: Uri,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> (StatusCode, HeaderMap, String) {
    let path = uri.path().trim_start_matches("/wp-json/wc/v3/").to_owned();
    let mut headers = HeaderMap::new();
    let kind = match (method.as_str(), path.as_str()) {
        ("GET", "products") if param(&q, "include").is_some() => {
            "GET products?include (stock read back)"
        }
        ("GET", "products") => "GET products (a page of 100)",
        ("POST", "products/batch") => "POST products/batch",
        ("GET", p) if p.starts_with("settings/") => "GET settings (units)",
        _ => "other",
    };
    *shop
        .requests
        .lock()
        .expect("lock")
        .entry(kind.into())
        .or_default() += 1;
    let stock = shop.stock.clone();
    let answer = match kind {
        "GET settings (units)" => {
            json!({"value": if path.contains("weight") { "kg" } else { "cm" }})
        }
        "GET products (a page of 100)" => {
            let page: u64 = param(&q, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let pages = shop.n.div_ceil(100);
            headers.insert("x-wp-totalpages", pages.into());
            let stock = stock.lock().expect("lock");
            Value::Array(
                ((page - 1) * 100 + 1..=(page * 100).min(shop.n))
                    .map(|id| product(id, stock[id as usize]))
                    .collect(),
            )
        }
        "GET products?include (stock read back)" => {
            let stock = stock.lock().expect("lock");
            Value::Array(
                param(&q, "include")
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|id| id.parse::<u64>().ok())
                    .filter(|id| *id >= 1 && *id <= shop.n)
                    .map(|id| json!({"id": id, "manage_stock": true, "stock_quantity": stock[id as usize]}))
                    .collect(),
            )
        }
        "POST products/batch" => {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mut stock = stock.lock().expect("lock");
            let updated: Vec<Value> = body["update"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|u| {
                    let id = u["id"].as_u64().unwrap_or(0);
                    let qty = u["stock_quantity"].as_i64().unwrap_or(0);
                    stock[id as usize] = qty;
                    json!({"id": id, "manage_stock": true, "stock_quantity": qty})
                })
                .collect();
            json!({"update": updated})
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                headers,
                "{\"code\":\"rest_no_route\"}".into(),
            )
        }
    };
    (StatusCode::OK, headers, answer.to_string())
}

fn since(now: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    now.iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn print(what: &str, counts: &BTreeMap<String, u64>, n: u64) {
    let total: u64 = counts.values().sum();
    println!("  {what}: {total} ({:.4} per SKU)", total as f64 / n as f64);
    for (k, v) in counts {
        println!("    {k:<45} {v}");
    }
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::var("STOCK_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let moto = std::env::var("STOCK_BACKEND").as_deref() == Ok("moto");
    let the_shop = Shop {
        n,
        requests: Arc::default(),
        stock: Arc::new(Mutex::new(vec![0; n as usize + 1])),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let store_url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .fallback(shop)
        .with_state(the_shop.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let counter = CallCounter::default();
    let (repos, events, jobs): (Repos, Arc<dyn Queue>, Arc<dyn Queue>) = if moto {
        let (ddb, sqs) = common::moto_clients(&counter).await;
        let table = format!("stock-bench-{}", std::process::id());
        DynamoStore::ensure_local_table(&ddb, &table)
            .await
            .expect("table");
        let (events, _) = SqsQueue::create_with_dlq(
            &sqs,
            &format!("{table}-events"),
            Duration::from_secs(60),
            16,
        )
        .await
        .expect("queue");
        let (jobs, _) =
            SqsQueue::create_with_dlq(&sqs, &format!("{table}-jobs"), Duration::from_secs(60), 5)
                .await
                .expect("queue");
        (
            Repos::from_adapter(Arc::new(DynamoStore::new(ddb, table))),
            Arc::new(SqsQueue::new(sqs.clone(), events)),
            Arc::new(SqsQueue::new(sqs, jobs)),
        )
    } else {
        (
            Repos::from_adapter(Arc::new(MemoryStore::new())),
            Arc::new(MemoryQueue::new(Duration::from_secs(60))),
            Arc::new(MemoryQueue::new(Duration::from_secs(60))),
        )
    };
    // The deployed default pace (5 requests/s, burst 10) would make this a measure of the
    // store's budget (reported below); lifted here to time woolink itself.
    let config = common::bench_config(woolink::politeness::StoreRate {
        per_second: 100_000.0,
        burst: 100_000.0,
    });
    let secrets = config.secret_box().expect("key");
    let link = common::bench_link(&secrets, &store_url);
    common::install(&repos, &link, None).await;
    let woo = woolink::woocommerce::WooClient::new(
        config.outbound.client(config.http_timeout).expect("client"),
        config.outbound,
    )
    .with_rate(config.store_rate);
    let ports = Cataloguing {
        links: repos.links.as_ref(),
        catalogue: repos.catalogue.as_ref(),
        orders: repos.orders.as_ref(),
        shipments: repos.shipments.as_ref(),
        secrets: &secrets,
        woo: &woo,
        events: events.as_ref(),
        jobs: jobs.as_ref(),
        pages_per_job: config.catchup_pages_per_job,
    };
    let store = link.store_id.clone();
    let snapshot = |c: &CallCounter| c.snapshot();
    println!(
        "stock bench ({}): {n} simple products, imported, then one push of every SKU",
        if moto {
            "DynamoDB + SQS on moto"
        } else {
            "in memory"
        }
    );

    let (calls0, store0) = (
        snapshot(&counter),
        the_shop.requests.lock().expect("lock").clone(),
    );
    let started = Instant::now();
    let run = start_import(&ports.submitting(), &store)
        .await
        .expect("import");
    let mut import_jobs = 1;
    while !import_step(&ports, &store, &run.run_id)
        .await
        .expect("step")
        .done
    {
        import_jobs += 1;
    }
    let import_took = started.elapsed();
    let import_store = since(&the_shop.requests.lock().expect("lock"), &store0);
    let import_calls = since(&snapshot(&counter), &calls0);

    let (calls1, store1) = (
        snapshot(&counter),
        the_shop.requests.lock().expect("lock").clone(),
    );
    let started = Instant::now();
    let items = (1..=n)
        .map(|id| (format!("SKU-{id:05}"), (id % 50) as i64 + 1))
        .collect();
    let job = submit_inventory(
        &ports.submitting(),
        &store,
        InventoryRequest {
            snapshot_at: chrono::Utc::now(),
            items,
            net_of_open_orders: false,
        },
    )
    .await
    .expect("push");
    let accepted = started.elapsed();
    let mut push_jobs = 1;
    while !inventory_step(&ports, &store, &job.job_id)
        .await
        .expect("step")
    {
        push_jobs += 1;
    }
    let push_took = started.elapsed();
    let push_store = since(&the_shop.requests.lock().expect("lock"), &store1);
    let push_calls = since(&snapshot(&counter), &calls1);
    let done = repos
        .catalogue
        .get_inventory_job(&store, &job.job_id)
        .await
        .expect("read")
        .expect("job");
    assert_eq!(
        done.counts.get("updated").copied(),
        Some(n as u32),
        "{:?}",
        done.counts
    );
    assert!(the_shop.stock.lock().expect("lock")[1..]
        .iter()
        .all(|q| *q >= 1));

    println!(
        "import: {:.2} s in {import_jobs} job(s), {:.0} items/s",
        import_took.as_secs_f64(),
        n as f64 / import_took.as_secs_f64()
    );
    print("WooCommerce requests", &import_store, n);
    if moto {
        print("AWS calls", &import_calls, n);
    }
    println!(
        "push: accepted in {:.0} ms (the route's work), applied in {:.2} s in {push_jobs} job(s) of ≤ 5,000 SKUs",
        accepted.as_secs_f64() * 1e3,
        push_took.as_secs_f64()
    );
    print("WooCommerce requests", &push_store, n);
    if moto {
        print("AWS calls", &push_calls, n);
    }
    let requests: u64 = push_store.values().sum();
    println!(
        "  at the deployed store rate (5 requests/s, burst 10) the push's {requests} requests take ≈ {:.0} s of the store's budget",
        (requests.saturating_sub(10)) as f64 / 5.0
    );
}
