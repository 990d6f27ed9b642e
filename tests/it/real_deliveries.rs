//! Deliveries captured byte for byte from a real WooCommerce 7.9 (classic order storage), fed
//! through the whole pipeline on both backends. `date_modified_gmt` does not move on address
//! or meta saves and has 1-second resolution, so bodies with the same timestamp must still be
//! told apart: an address change reaches the tenant, a meta-only save does not (because no
//! shipping field changed, not because it was taken for a replay), and an order paid within
//! the second it was created is never lost, whatever order the worker sees the bodies in.

use serde_json::Value;
use woolink::domain::{OrderId, StoreId};
use woolink::queue::Received;

use crate::both_backends;
use crate::helpers::*;

/// A real delivery's exact body.
fn real(name: &str) -> Vec<u8> {
    fixture(&format!("real-7.9/{name}.body"))
}

const LIFE: [(&str, &str); 7] = [
    ("01-created-pending-1-order-created", "order.created"),
    ("01-created-pending-2-order-updated", "order.updated"),
    ("02-paid-processing-1-order-updated", "order.updated"),
    (
        "03-address-only-same-modified-1-order-updated",
        "order.updated",
    ),
    (
        "04-meta-only-same-modified-1-order-updated",
        "order.updated",
    ),
    ("05-ast-tracking-added-1-order-updated", "order.updated"),
    ("06-cancelled-1-order-updated", "order.updated"),
];

const SAME_SECOND: [(&str, &str); 3] = [
    (
        "07-pending-then-processing-same-second-1-order-created",
        "order.created",
    ),
    (
        "07-pending-then-processing-same-second-2-order-updated",
        "order.updated",
    ),
    (
        "07-pending-then-processing-same-second-3-order-updated",
        "order.updated",
    ),
];

async fn record_of(app: &TestApp, order: u64) -> woolink::model::OrderSync {
    app.services
        .repos
        .orders
        .get_order_sync(&StoreId::parse("st_a1").unwrap(), OrderId::new(order))
        .await
        .unwrap()
        .expect("an order record")
}

/// Links st_a1 with WooCommerce keys at `store`; returns the webhook secret.
async fn linked_with_keys(app: &TestApp, store: &FakeStore) -> String {
    let token = app.acme_token().await;
    let a = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["webhook"]["secret"].as_str().unwrap().to_owned()
}

/// What the store answers to `GET /orders/15` when woolink holds its keys.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    /// No keys: nothing is read.
    None,
    /// The order as it was when the delivery was made.
    Honest,
    /// 200 with an HTML error page (a caching proxy, a broken plugin).
    Junk,
    /// 200 with another order (a hostile or confused store).
    OtherOrder,
}

/// The order's life, each delivery sent when WooCommerce sent it (the worker done with the
/// one before). Whatever the store answers to reads, the tenant hears the same: an answer
/// that is not the order counts as no answer, and the receipt order decides.
async fn life_of_an_order(backend: Backend, reads: Reads) {
    let with_keys = reads != Reads::None;
    let tenant = FakeTenant::start().await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let secret = if with_keys {
        linked_with_keys(&app, &store).await
    } else {
        linked(&app).await.1
    };
    let mut told = Vec::new();
    for (name, topic) in LIFE {
        let body = real(name);
        match reads {
            Reads::Junk => store.set_order(15, b"<html><body>502 Bad Gateway</body></html>"),
            Reads::OtherOrder => store.set_order(15, &real(SAME_SECOND[2].0)),
            _ => store.set_order(15, &body),
        }
        let a = deliver_signed(&app, "st_a1", topic, &body, &secret).await;
        assert_eq!(a.status, 200, "{name}: {}", a.body);
        drained(&app).await;
        told.push((name, tenant.accepted().len()));
        if name.starts_with("04") {
            // Taken as a change (its body is new), found to change nothing for shipping.
            let r = record_of(&app, 15).await;
            assert_eq!(
                r.content_hash.as_deref(),
                Some(woolink::crypto::sha256_hex(&body).as_str()),
                "the meta-only body is the order's latest version"
            );
            assert_eq!(r.doc_hash, r.delivered_hash);
        }
    }
    let events: Vec<Value> = tenant.accepted().iter().map(TenantCall::json).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["order.created", "order.updated", "order.cancelled"],
        "after each step: {told:?}"
    );
    let created = &events[0]["data"];
    assert_eq!(created["status"], "processing");
    assert_eq!(created["shipping"]["address1"], "ul. Długa 5");
    let updated = &events[1]["data"];
    assert_eq!(
        updated["shipping"]["address1"], "ul. Floriańska 10",
        "the address edit kept the timestamp and still reached the tenant"
    );
    assert_eq!(events[2]["data"]["status"], "cancelled");
    let ids: std::collections::HashSet<_> = tenant
        .accepted()
        .iter()
        .map(|c| c.webhook_id.clone())
        .collect();
    assert_eq!(
        ids.len(),
        3,
        "one webhook-id per body, even within one second"
    );

    let items = &created["items"];
    assert_eq!(items[0]["sku"], "TSHIRT-001");
    assert_eq!(items[1]["sku"], "HOODIE-S");
    assert_eq!(items[1]["variationId"], 13);
    if with_keys {
        assert_eq!(created["weightSource"], "store");
        assert_eq!(items[0]["weight"], 0.25);
        assert_eq!(items[1]["weight"], 0.8, "the variation's own weight");
        let calls = store.calls();
        assert!(
            calls
                .iter()
                .any(|c| c.path == "/wp-json/wc/v3/products/12/variations"
                    && c.query.as_deref().unwrap_or("").contains("include=13")),
            "{calls:?}"
        );
        // 03, 04 and 05 share 02's timestamp with other bodies: each was settled by a read.
        let reads = calls
            .iter()
            .filter(|c| c.path == "/wp-json/wc/v3/orders/15")
            .count();
        assert_eq!(reads, 3, "{calls:?}");
    } else {
        assert_eq!(created["weightSource"], "not_available");
    }
}

async fn an_orders_life_without_keys(backend: Backend) {
    life_of_an_order(backend, Reads::None).await;
}

async fn an_orders_life_with_keys(backend: Backend) {
    life_of_an_order(backend, Reads::Honest).await;
}

async fn an_orders_life_with_a_store_answering_junk(backend: Backend) {
    life_of_an_order(backend, Reads::Junk).await;
}

async fn an_orders_life_with_a_store_answering_another_order(backend: Backend) {
    life_of_an_order(backend, Reads::OtherOrder).await;
}

both_backends!(
    an_orders_life_without_keys,
    an_orders_life_with_keys,
    an_orders_life_with_a_store_answering_junk,
    an_orders_life_with_a_store_answering_another_order
);

/// The three deliveries of an order created pending and paid within one second, as the
/// intake received them, handed to the worker in `order` (one batch each), or all in one
/// batch when `order` is empty.
async fn same_second(backend: Backend, with_keys: bool, order: &[usize]) {
    let tenant = FakeTenant::start().await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    let secret = if with_keys {
        linked_with_keys(&app, &store).await
    } else {
        linked(&app).await.1
    };
    // The store holds the order as it ended up: processing.
    store.set_order(16, &real(SAME_SECOND[2].0));
    for (name, topic) in SAME_SECOND {
        let a = deliver_signed(&app, "st_a1", topic, &real(name), &secret).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let mut messages: Vec<Received> = Vec::new();
    while messages.len() < 3 {
        messages.extend(
            app.queue
                .receive(10, std::time::Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    // Received in the order they were sent (the intake stamps each with its receipt time).
    messages.sort_by_key(|m| {
        woolink::envelope::Envelope::decode(&m.body)
            .unwrap()
            .head
            .received_at()
            .to_owned()
    });
    let batches: Vec<Vec<Received>> = if order.is_empty() {
        vec![messages]
    } else {
        order.iter().map(|&i| vec![messages[i].clone()]).collect()
    };
    for batch in batches {
        let failed = app.worker.handle_batch(&batch).await;
        assert!(failed.is_empty(), "{order:?}");
    }
    let accepted = tenant.accepted();
    assert_eq!(accepted.len(), 1, "exactly one delivery for {order:?}");
    let d = accepted[0].json();
    assert_eq!(d["type"], "order.created", "{order:?}");
    assert_eq!(d["data"]["status"], "processing", "{order:?}");
    let r = record_of(&app, 16).await;
    assert_eq!(r.woo_status, "processing", "{order:?}");
    assert!(r.in_scope);
}

async fn paid_within_the_second_it_was_created(backend: Backend) {
    let orders: [&[usize]; 7] = [
        &[0, 1, 2],
        &[0, 2, 1],
        &[1, 0, 2],
        &[1, 2, 0],
        &[2, 0, 1],
        &[2, 1, 0],
        &[],
    ];
    for with_keys in [false, true] {
        for order in orders {
            same_second(backend, with_keys, order).await;
        }
    }
}

both_backends!(paid_within_the_second_it_was_created);
