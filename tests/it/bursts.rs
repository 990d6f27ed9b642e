//! A checkout's burst of versions of one order, handled by several workers at once (as Lambda
//! runs several batches in several containers): a version that meets another delivery of its
//! order waits for it (no retry schedule), an obsolete version is not delivered, and the
//! tenant hears of each order's versions in order and ends with the last one.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

const VERSIONS: u64 = 4;

/// Version `k` of order `id`: a new address each time, every two sharing a timestamp.
fn version(id: u64, k: u64) -> serde_json::Value {
    let mut o = order(id, "processing", &format!("2026-11-23T10:00:0{}", k / 2));
    o["shipping"]["address_1"] = json!(format!("{id} Street v{k}"));
    o
}

async fn bursts_across_containers_wait_for_each_other(backend: Backend) {
    // A slow but healthy tenant keeps deliveries in flight long enough to be met.
    let tenant = FakeTenant::faulty(Faults {
        delay: Duration::from_millis(40),
        ..Faults::default()
    })
    .await;
    // A retry backoff far beyond the test's patience: a version put back on the retry
    // schedule instead of waiting for its order's delivery would never arrive in time.
    let app = TestApp::pipeline_tuned(
        backend,
        &tenant,
        |_| {},
        |s| {
            s.backoff_base = Duration::from_secs(120);
            s.backoff_max = Duration::from_secs(120);
            s.wait_budget = Duration::from_secs(5);
            s.wait_retry = Duration::from_secs(1);
        },
    )
    .await;
    // Three more containers consume the same queue with workers of their own.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let others: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(woolink::local::consume(
                app.queue.clone(),
                app.another_worker(),
                stopped.clone(),
            ))
        })
        .collect();
    let (key, secret) = linked(&app).await;
    let orders: Vec<u64> = (1..=12).collect();
    // Each order's versions back to back, all orders at once.
    futures::future::join_all(orders.iter().map(|&id| {
        let (app, secret) = (&app, &secret);
        async move {
            for k in 0..VERSIONS {
                send(
                    app,
                    secret,
                    if k == 0 {
                        "order.created"
                    } else {
                        "order.updated"
                    },
                    &version(id, k),
                )
                .await;
            }
        }
    }))
    .await;
    drained_within(&app, Duration::from_secs(30)).await;
    let _ = stop.send(true);
    for o in others {
        let _ = o.await;
    }

    let mut seen: HashMap<u64, Vec<u64>> = HashMap::new();
    for call in tenant.accepted() {
        let e = call.json();
        let id = e["data"]["orderId"].as_u64().unwrap();
        let address = e["data"]["shipping"]["address1"]
            .as_str()
            .unwrap()
            .to_owned();
        let k: u64 = address.rsplit_once(" v").unwrap().1.parse().unwrap();
        seen.entry(id).or_default().push(k);
    }
    for id in &orders {
        let ks = seen.get(id).cloned().unwrap_or_default();
        assert_eq!(
            ks.last(),
            Some(&(VERSIONS - 1)),
            "order {id} ends with its last version: {ks:?}"
        );
        assert!(
            ks.windows(2).all(|w| w[0] < w[1]),
            "order {id}: versions in order, each once: {ks:?}"
        );
        let s = app
            .get(&format!("/v1/stores/st_a1/orders/{id}"), Some(&key))
            .await
            .body;
        assert_eq!(s["state"], "synced", "{s}");
    }
    let delivered: usize = seen.values().map(Vec::len).sum();
    println!(
        "bursts ({backend:?}): {} orders × {VERSIONS} versions on 4 workers: {delivered} deliveries",
        orders.len()
    );
    assert!(delivered <= orders.len() * VERSIONS as usize);
}

both_backends!(bursts_across_containers_wait_for_each_other);
