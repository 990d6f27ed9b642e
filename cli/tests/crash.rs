//! The local runner killed with SIGKILL mid-run on DynamoDB and SQS (moto), then started
//! again on the same table and queue: every order still reaches the tenant (the messages the
//! dead runner held come back after the visibility timeout), and no effect happens twice
//! (a delivery the tenant got just before the kill comes again with the same `webhook-id`).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::*;

/// What the fake tenant accepted: (webhook-id, order id, version, event type).
type Accepted = Arc<Mutex<Vec<(String, u64, String, String)>>>;

/// A tenant endpoint on loopback that verifies every Standard Webhooks signature, records
/// the order and answers 150 ms later, so the run is still going when the runner is killed.
async fn slow_tenant(secret: String) -> (String, Accepted, Arc<Mutex<usize>>) {
    use axum::http::{HeaderMap, StatusCode};
    let accepted: Accepted = Arc::default();
    let forged = Arc::new(Mutex::new(0));
    let (acc, bad) = (accepted.clone(), forged.clone());
    let app = axum::Router::new().route(
        "/orders",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (acc, bad, secret) = (acc.clone(), bad.clone(), secret.clone());
            async move {
                let verified = standardwebhooks::Webhook::new(&secret)
                    .and_then(|w| w.verify(&body, &headers))
                    .is_ok();
                if !verified {
                    *bad.lock().unwrap() += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                // The tenant acts on the order at once and answers 150 ms later: a runner
                // killed in between never hears the answer and delivers it again.
                let v: Value = serde_json::from_slice(&body).unwrap();
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                acc.lock().unwrap().push((
                    id,
                    v["data"]["orderId"].as_u64().unwrap(),
                    v["data"]["dateModified"].as_str().unwrap().to_owned(),
                    v["type"].as_str().unwrap().to_owned(),
                ));
                tokio::time::sleep(Duration::from_millis(150)).await;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/orders", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, accepted, forged)
}

/// A WooCommerce order body (PHP's escaping of `/`), version `minute`.
fn order(id: u64, minute: u32) -> Vec<u8> {
    json!({"id": id, "number": id.to_string(), "status": "processing", "currency": "EUR",
           "date_created_gmt": "2026-11-23T09:00:00",
           "date_modified_gmt": format!("2026-11-23T10:{minute:02}:00"),
           "billing": {"email": "a@b.test", "phone": "1"},
           "shipping": {"first_name": "A", "last_name": "B", "address_1": format!("{id}/{minute} Main St"),
                        "city": "Gent", "postcode": "9000", "country": "BE"},
           "line_items": [{"id": 1, "name": "Box", "product_id": 5, "variation_id": 0,
                           "quantity": 1, "price": 10, "total": "10.00", "sku": "BOX"}]})
    .to_string()
    .replace('/', "\\/")
    .into_bytes()
}

/// The latest version each order should end at: minute 1 for the first half, 0 for the rest.
fn expected(orders: u64) -> BTreeMap<u64, String> {
    (1..=orders)
        .map(|id| {
            let minute = u32::from(id <= orders / 2);
            (id, format!("2026-11-23T10:{minute:02}:00Z"))
        })
        .collect()
}

/// Orders whose latest accepted version is the expected one.
fn complete(accepted: &Accepted, want: &BTreeMap<u64, String>) -> usize {
    let mut latest: BTreeMap<u64, String> = BTreeMap::new();
    for (_, order, version, _) in accepted.lock().unwrap().iter() {
        let e = latest.entry(*order).or_default();
        if *version > *e {
            e.clone_from(version);
        }
    }
    want.iter()
        .filter(|(id, v)| latest.get(id) == Some(*v))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_mid_run_loses_nothing_and_doubles_nothing() {
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").expect("run with scripts/test");
    let orders: u64 = 200;
    let signing = woolink::admin::new_signing_secret();
    let (tenant_url, accepted, forged) = slow_tenant(signing.expose().to_owned()).await;

    let seed = write_seed(
        "woolink-crash",
        &json!({"tenants": [{"code": "ACME", "name": "Acme Couriers", "active": true,
            "fulfilment": {"url": tenant_url, "secret": signing.expose()},
            "users": [{"email": "ops@acme.test", "password": "correct horse battery staple"}],
            "stores": [{"id": "st_k1", "name": "Acme Shop", "customerId": "cus_k1"}]}]}),
    );
    let table = format!("woolink-crash-{}", std::process::id());
    let seed_arg = seed.to_string_lossy().into_owned();
    let args = [
        "--aws",
        "--table",
        table.as_str(),
        "--seed",
        seed_arg.as_str(),
        "--queue-visibility",
        "3",
    ];
    let envs = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        (
            "WOOLINK_SECRETS_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
    ];
    let mut dev = start_dev(&args, &envs);
    let base = dev.base.clone();

    let token = acme_token(&base).await;
    let (s, r) = post(
        &base,
        "/v1/connect/link",
        json!({"storeId": "st_k1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE}),
        Some(&token),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let secret = r["webhook"]["secret"].as_str().unwrap().to_owned();

    // Every order's first version, then a second version of half of them.
    let mut deliveries: Vec<(&str, Vec<u8>)> = (1..=orders)
        .map(|id| ("order.created", order(id, 0)))
        .collect();
    deliveries.extend((1..=orders / 2).map(|id| ("order.updated", order(id, 1))));
    let sent = deliveries.len();
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/webhooks/woocommerce/st_k1");
    let work = Arc::new(Mutex::new(deliveries.into_iter()));
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (http, url, work, secret) = (http.clone(), url.clone(), work.clone(), secret.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let next = work.lock().unwrap().next();
                let Some((topic, body)) = next else { return };
                assert_eq!(deliver_signed(&http, &url, topic, &secret, body).await, 200);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }

    // Every delivery is in the queue; kill the runner while it is delivering.
    let want = expected(orders);
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "nothing reached the tenant");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dev.child.kill().unwrap(); // SIGKILL
    dev.child.wait().unwrap();
    let calls_at_kill = accepted.lock().unwrap().len();
    let done_at_kill = complete(&accepted, &want);
    assert!(
        done_at_kill < want.len(),
        "the runner was killed after it had finished ({done_at_kill} orders complete)"
    );
    drop(dev);

    // Started again on the same table and queue.
    let _dev = start_dev(&args, &envs);
    let deadline = Instant::now() + Duration::from_secs(120);
    while complete(&accepted, &want) < want.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} orders complete after the restart",
            complete(&accepted, &want),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The queue and the DLQ end empty.
    let sqs = moto_sqs().await;
    for name in [format!("{table}-orders"), format!("{table}-orders-dlq")] {
        let url = sqs
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap_or_default();
            let count = |a: aws_sdk_sqs::types::QueueAttributeName| {
                attrs
                    .get(&a)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let left = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                + count(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                );
            if left == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{name} still holds {left}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // No distinct effect twice: a repeat of a webhook-id is the same effect (the tenant
    // deduplicates it); counted once each, every order was created once and each version
    // reached the tenant at most once.
    let accepted = accepted.lock().unwrap().clone();
    let mut effects: BTreeMap<&str, &(String, u64, String, String)> = BTreeMap::new();
    for a in &accepted {
        effects.entry(a.0.as_str()).or_insert(a);
    }
    let mut created: BTreeMap<u64, usize> = BTreeMap::new();
    let mut versions: HashSet<(u64, &str)> = HashSet::new();
    let mut double = 0;
    for (_, order, version, kind) in effects.values() {
        if kind == "order.created" {
            *created.entry(*order).or_default() += 1;
        }
        if !versions.insert((*order, version.as_str())) {
            double += 1;
        }
    }
    double += created.values().map(|n| n - 1).sum::<usize>();
    println!(
        "SIGKILL mid-run (moto): {sent} deliveries for {orders} orders; killed after {calls_at_kill} tenant calls \
         ({done_at_kill} orders complete); \
         after the restart all {} complete: {} effects, {} calls ({} repeats of a webhook-id), lost 0, double effects {double}",
        want.len(),
        effects.len(),
        accepted.len(),
        accepted.len() - effects.len()
    );
    assert_eq!(*forged.lock().unwrap(), 0, "every signature verified");
    assert_eq!(created.len(), want.len(), "every order created");
    assert_eq!(double, 0, "no effect twice");
}
