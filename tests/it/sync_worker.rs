//! The whole pipeline (signed webhook → intake → queue → worker → tenant) on both backends:
//! each order version reaches the tenant once, in effect, whatever WooCommerce repeats.

use std::time::Duration;

use serde_json::{json, Value};
use woolink::envelope::Envelope;

use crate::both_backends;
use crate::helpers::*;

async fn order_status(app: &TestApp, key: &str, id: u64) -> Answer {
    app.get(&format!("/v1/stores/st_a1/orders/{id}"), Some(key))
        .await
}

async fn processing_order_is_delivered_once_with_every_field(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(727, "processing", "2026-11-23T10:00:00"),
    )
    .await;
    eventually("one delivery", || tenant.accepted().len() == 1).await;
    drained(&app).await;

    let calls = tenant.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(call.verified, "signature verifies");
    let body = call.json();
    assert_eq!(body["type"], "order.created");
    let d = &body["data"];
    assert_eq!(
        d["schemaVersion"], 2,
        "a tenant created now gets document v2"
    );
    assert_eq!(d["orderId"], 727);
    assert_eq!(d["number"], "727");
    assert_eq!(d["customerId"], "cus_a1");
    assert_eq!(d["storeId"], "st_a1");
    assert_eq!(d["status"], "processing");
    assert_eq!(d["currency"], "USD");
    assert_eq!(d["dateCreated"], "2017-03-22T19:28:02Z");
    assert_eq!(d["dateModified"], "2026-11-23T10:00:00Z");
    assert_eq!(d["totals"]["total"], "29.35");
    assert_eq!(d["items"][0]["name"], "Woo Single #1");
    assert_eq!(d["items"][0]["sku"], Value::Null, "an empty SKU is absent");
    assert_eq!(d["items"][0]["quantity"], 2.0);
    assert_eq!(d["items"][0]["unitPrice"], 3.0);
    assert_eq!(d["items"][0]["lineItemId"], 315);
    assert_eq!(d["items"][0]["subtotal"], "6.00");
    assert_eq!(
        d["items"][0]["shippable"],
        Value::Null,
        "no keys: the catalogue is not read"
    );
    assert_eq!(d["items"][1]["sku"], "Bar3");
    assert_eq!(d["weightSource"], "not_available");
    assert_eq!(d["shipping"]["firstName"], "John");
    assert_eq!(d["shipping"]["address1"], "969 Market");
    assert_eq!(d["shipping"]["city"], "San Francisco");
    assert_eq!(d["shipping"]["state"], "CA");
    assert_eq!(d["shipping"]["postcode"], "94103");
    assert_eq!(d["shipping"]["country"], "US");
    assert_eq!(d["billing"]["email"], "john.doe@example.com");
    assert_eq!(d["billing"]["phone"], "(555) 555-5555");
    assert_eq!(d["billing"]["firstName"], "John");
    assert_eq!(d["billing"]["address1"], "969 Market");
    assert_eq!(
        d["payment"],
        json!({"methodId": "bacs", "methodTitle": "Direct Bank Transfer", "paid": true,
               "cashOnDelivery": null})
    );
    assert_eq!(d["shippingLines"][0]["methodId"], "flat_rate");
    assert_eq!(d["taxLines"][0]["rateCode"], "US-CA-STATE TAX");
    assert!(d["feeLines"].is_array());
    assert!(d["customerNote"].is_string());
    let text = String::from_utf8_lossy(&call.body);
    // The payment method is shipping data (cash on delivery); the payment itself is not.
    for banned in ["transaction", "payment_method", "order_key", "customer_ip"] {
        assert!(!text.contains(banned), "payment data leaked: {banned}");
    }

    // The state is visible to the store's API key, and counted in the store status.
    let a = order_status(&app, &key, 727).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["state"], "synced");
    assert_eq!(a.body["wooStatus"], "processing");
    assert_eq!(a.body["version"], "2026-11-23T10:00:00.000");
    assert_eq!(a.body["attempts"], 1);
    assert_eq!(a.body["lastError"], Value::Null);
    assert_eq!(a.body["webhookId"], call.webhook_id);
    let s = app.get("/v1/stores/st_a1", Some(&key)).await;
    assert_eq!(
        s.body["orders"],
        json!({"received": 1, "skipped": 0, "queued": 0, "synced": 1, "failed": 0, "deadLetters": 0})
    );
    assert!(s.body["lastSyncAt"].is_string());
    order_status(&app, &key, 9999)
        .await
        .error(404, "order_not_found");

    // The signature also verifies with the reference Python library.
    verify_with_python(&tenant.secret, call);
}

/// Checks a delivery with the `standardwebhooks` Python package from the test venv.
fn verify_with_python(secret: &woolink::crypto::SecretString, call: &TenantCall) {
    let python = std::env::var("WOOLINK_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("WOOLINK_TEST_PYTHON is not set: run the tests with scripts/test")
    });
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
d = json.load(sys.stdin)
Webhook(d["secret"]).verify(d["body"], {"webhook-id": d["id"], "webhook-timestamp": d["ts"], "webhook-signature": d["sig"]})
print("verified")
"#;
    let input = json!({
        "secret": secret.expose(), "body": String::from_utf8(call.body.clone()).unwrap(),
        "id": call.webhook_id, "ts": call.timestamp, "sig": call.signature,
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        input.to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verified");
}

async fn order_lifecycle_has_one_effect_per_change(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;

    // pending: not in scope yet.
    send(
        &app,
        &secret,
        "order.created",
        &order(100, "pending", "2026-11-23T10:00:00"),
    )
    .await;
    drained(&app).await;
    assert!(tenant.calls().is_empty());
    assert_eq!(order_status(&app, &key, 100).await.body["state"], "skipped");

    // processing: one order.created; the same delivery three times: still one.
    let v2 = order(100, "processing", "2026-11-23T10:05:00");
    for _ in 0..3 {
        send(&app, &secret, "order.updated", &v2).await;
    }
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 1);
    assert_eq!(tenant.accepted()[0].json()["type"], "order.created");

    // A meta-only save (new version, nothing that matters to shipping): nothing new.
    let mut v3 = order(100, "processing", "2026-11-23T10:06:00");
    v3["meta_data"] = json!([{"id": 1, "key": "_tracking", "value": {"n": "1Z999"}}]);
    send(&app, &secret, "order.updated", &v3).await;
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 1);

    // An address change: order.updated.
    let mut v4 = order(100, "processing", "2026-11-23T10:07:00");
    v4["shipping"]["address_1"] = json!("1 New Street");
    send(&app, &secret, "order.updated", &v4).await;
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 2);
    let updated = tenant.accepted()[1].json();
    assert_eq!(updated["type"], "order.updated");
    assert_eq!(updated["data"]["shipping"]["address1"], "1 New Street");

    // An older version arriving late changes nothing.
    send(
        &app,
        &secret,
        "order.updated",
        &order(100, "on-hold", "2026-11-23T10:01:00"),
    )
    .await;
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 2);
    let s = order_status(&app, &key, 100).await;
    assert_eq!(s.body["version"], "2026-11-23T10:07:00.000");
    assert_eq!(s.body["wooStatus"], "processing");

    // Cancellation: order.cancelled, once.
    let mut v5 = v4.clone();
    v5["status"] = json!("cancelled");
    v5["date_modified_gmt"] = json!("2026-11-23T10:08:00");
    send(&app, &secret, "order.updated", &v5).await;
    send(&app, &secret, "order.updated", &v5).await;
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 3);
    assert_eq!(tenant.accepted()[2].json()["type"], "order.cancelled");
    assert_eq!(order_status(&app, &key, 100).await.body["state"], "synced");

    // Every webhook id differs per version.
    let ids: std::collections::HashSet<_> = tenant
        .accepted()
        .iter()
        .map(|c| c.webhook_id.clone())
        .collect();
    assert_eq!(ids.len(), 3);

    // A checkout draft is ignored entirely.
    send(
        &app,
        &secret,
        "order.updated",
        &order(200, "checkout-draft", "2026-11-23T10:00:00"),
    )
    .await;
    drained(&app).await;
    assert_eq!(tenant.calls().len(), 3);
    order_status(&app, &key, 200)
        .await
        .error(404, "order_not_found");

    // Moved to trash (`order.deleted` carries only the id): cancelled for the tenant.
    send(
        &app,
        &secret,
        "order.created",
        &order(300, "processing", "2026-11-23T11:00:00"),
    )
    .await;
    drained(&app).await;
    send(&app, &secret, "order.deleted", &json!({"id": 300})).await;
    drained(&app).await;
    let last = tenant.accepted().last().unwrap().json();
    assert_eq!(
        (last["type"].as_str(), last["data"]["orderId"].as_u64()),
        (Some("order.cancelled"), Some(300))
    );
}

async fn newer_then_older_keeps_the_newer(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    let mut v2 = order(500, "processing", "2026-11-23T12:00:02");
    v2["shipping"]["city"] = json!("Oakland");
    send(&app, &secret, "order.updated", &v2).await;
    drained(&app).await;
    send(
        &app,
        &secret,
        "order.updated",
        &order(500, "processing", "2026-11-23T12:00:01"),
    )
    .await;
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 1);
    assert_eq!(
        tenant.accepted()[0].json()["data"]["shipping"]["city"],
        "Oakland"
    );
    assert_eq!(
        order_status(&app, &key, 500).await.body["version"],
        "2026-11-23T12:00:02.000"
    );
}

/// The worker writes an `order.created`'s record without reading first; when the order is
/// known after all (WooCommerce sent `order.updated` first, or repeats `order.created`), the
/// write's condition fails and the record is read: still one effect per version.
async fn a_late_or_repeated_order_created_changes_nothing(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    let v2 = order(600, "processing", "2026-11-23T12:00:02");
    send(&app, &secret, "order.updated", &v2).await;
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 1);

    // The order's `order.created`, older and arriving late, then the current one repeated.
    send(
        &app,
        &secret,
        "order.created",
        &order(600, "pending", "2026-11-23T12:00:01"),
    )
    .await;
    send(&app, &secret, "order.created", &v2).await;
    drained(&app).await;
    assert_eq!(tenant.accepted().len(), 1, "nothing new for the tenant");
    let s = order_status(&app, &key, 600).await;
    assert_eq!(s.body["version"], "2026-11-23T12:00:02.000");
    assert_eq!(s.body["state"], "synced");

    // A newer version under `order.created` (the payload is built at delivery time) is
    // still an update of a known order, not a second creation.
    let mut v3 = order(600, "processing", "2026-11-23T12:00:03");
    v3["shipping"]["city"] = json!("Oakland");
    send(&app, &secret, "order.created", &v3).await;
    drained(&app).await;
    let accepted = tenant.accepted();
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[1].json()["type"], "order.updated");
}

async fn transient_failures_are_retried_with_the_same_id(backend: Backend) {
    let tenant = FakeTenant::answering(&[500, 500]).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(600, "processing", "2026-11-23T13:00:00"),
    )
    .await;
    eventually("delivery after two 500s", || tenant.accepted().len() == 1).await;
    drained(&app).await;
    let calls = tenant.calls();
    assert_eq!(
        calls.iter().map(|c| c.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(
        calls.iter().all(|c| c.webhook_id == calls[0].webhook_id),
        "same webhook-id on every attempt"
    );
    let s = order_status(&app, &key, 600).await;
    assert_eq!(s.body["state"], "synced");
    assert_eq!(s.body["attempts"], 3);
    assert_eq!(app.dlq.depth().await.unwrap(), (0, 0));
}

async fn a_refusal_is_recorded_and_parked(backend: Backend) {
    let tenant = FakeTenant::answering(&[400]).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(700, "processing", "2026-11-23T14:00:00"),
    )
    .await;
    eventually("the refusal", || tenant.calls().len() == 1).await;
    drained(&app).await;
    // No automatic retry.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tenant.calls().len(), 1);
    let s = order_status(&app, &key, 700).await;
    assert_eq!(s.body["state"], "failed");
    let err = s.body["lastError"].as_str().unwrap();
    assert!(err.starts_with("tenant answered 400"), "{err}");
    // The tenant's own words are kept for the tenant, never shown to the merchant's site.
    assert!(!s.body.to_string().contains("scripted"), "{}", s.body);
    let token = app.acme_token().await;
    let t = app.get("/v1/stores/st_a1/orders/700", Some(&token)).await;
    assert_eq!(t.body["lastError"], s.body["lastError"]);
    let answer = t.body["tenantAnswer"].as_str().unwrap();
    assert!(
        answer.contains("scripted"),
        "the tenant's answer is kept: {answer}"
    );
    let st = app.get("/v1/stores/st_a1", Some(&key)).await;
    assert_eq!(st.body["orders"]["failed"], 1);
    // The message waits in the dead-letter queue for a redrive.
    let parked = app
        .dlq
        .receive(10, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        Envelope::decode(&parked[0].body)
            .unwrap()
            .head
            .order_id()
            .get(),
        700
    );

    // Redriven once the tenant is fixed: delivered, same webhook id.
    app.queue.send(parked[0].body.clone()).await.unwrap();
    app.dlq.delete(&[parked[0].receipt.clone()]).await.unwrap();
    eventually("the redriven delivery", || tenant.accepted().len() == 1).await;
    assert_eq!(
        tenant.accepted()[0].webhook_id,
        tenant.calls()[0].webhook_id
    );
    drained(&app).await;
    assert_eq!(order_status(&app, &key, 700).await.body["state"], "synced");
}

async fn retries_run_out_into_the_dead_letter_queue(backend: Backend) {
    let tenant = FakeTenant::answering(&[503; 20]).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(800, "processing", "2026-11-23T15:00:00"),
    )
    .await;
    eventually("five attempts", || {
        tenant.calls().len() >= MAX_RECEIVES as usize
    })
    .await;
    let s = async {
        loop {
            let a = order_status(&app, &key, 800).await;
            if a.body["state"] == "failed" {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let s = tokio::time::timeout(Duration::from_secs(10), s)
        .await
        .expect("state failed");
    assert!(s.body["lastError"].as_str().unwrap().contains("503"));
    // The message moves to the DLQ on the receive after the last (after its visibility ends).
    let dead = async {
        loop {
            let (v, f) = app.dlq.depth().await.unwrap();
            if v + f > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(40), dead)
        .await
        .expect("message in the DLQ");
    assert_eq!(tenant.calls().len(), MAX_RECEIVES as usize);
}

both_backends!(
    processing_order_is_delivered_once_with_every_field,
    order_lifecycle_has_one_effect_per_change,
    newer_then_older_keeps_the_newer,
    a_late_or_repeated_order_created_changes_nothing,
    transient_failures_are_retried_with_the_same_id,
    a_refusal_is_recorded_and_parked,
    retries_run_out_into_the_dead_letter_queue,
);

/// One poison record among nine good ones: nine delivered, the poison one parked.
async fn poison_record_in_a_batch(backend: Backend) {
    use woolink::domain::{OrderId, StoreId, TenantCode};
    use woolink::envelope::{encode, EnvelopeHead};

    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    linked(&app).await;
    // The batch is handed to the worker's handler directly, as Lambda would.
    let mut messages: Vec<woolink::queue::Received> = (1..=9u64)
        .map(|n| {
            let body = php_json(&order(900 + n, "processing", "2026-11-23T16:00:00"));
            let head = EnvelopeHead::for_delivery(
                StoreId::parse("st_a1").unwrap(),
                TenantCode::parse("ACME").unwrap(),
                woolink::domain::WooTopic::OrderCreated,
                OrderId::new(900 + n),
                Some("2026-11-23T16:00:00".into()),
                &body,
            );
            woolink::queue::Received {
                message_id: format!("m{n}"),
                receipt: format!("r{n}"),
                body: encode(&head, Some(std::str::from_utf8(&body).unwrap())).unwrap(),
                receive_count: 1,
            }
        })
        .collect();
    messages.insert(
        4,
        woolink::queue::Received {
            message_id: "poison".into(),
            receipt: "r-poison".into(),
            body: "{\"v\":1,\"kind\":\"woo.order\",\"trunc".into(),
            receive_count: 1,
        },
    );
    // The poison record never decodes: it is parked in the DLQ at once, not retried.
    let failed = app.worker.handle_batch(&messages).await;
    assert!(failed.is_empty(), "{failed:?}");
    let parked = app.dlq.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body, messages[4].body);
    assert_eq!(tenant.accepted().len(), 9);
    let mut ids: Vec<u64> = tenant
        .accepted()
        .iter()
        .map(|c| c.json()["data"]["orderId"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (901..=909).collect::<Vec<_>>());
}

both_backends!(poison_record_in_a_batch);

/// A worker that died mid-delivery leaves the order `queued` and claimed by its message. When
/// that message comes back (visibility timeout) it takes over at once; another copy of the
/// same version waits while the claim is young, as another worker may still be delivering.
async fn a_returning_message_takes_over_its_own_claim(backend: Backend) {
    use woolink::domain::{OrderId, StoreId, TenantCode};
    use woolink::envelope::{encode, EnvelopeHead};
    use woolink::model::SyncState;

    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    linked(&app).await;
    let store = StoreId::parse("st_a1").unwrap();
    let body = php_json(&order(950, "processing", "2026-11-23T16:00:00"));
    let head = EnvelopeHead::for_delivery(
        store.clone(),
        TenantCode::parse("ACME").unwrap(),
        woolink::domain::WooTopic::OrderUpdated,
        OrderId::new(950),
        Some("2026-11-23T16:00:00".into()),
        &body,
    );
    let envelope = encode(&head, Some(std::str::from_utf8(&body).unwrap())).unwrap();
    let message = |id: &str, receive_count: u32| woolink::queue::Received {
        message_id: id.into(),
        receipt: format!("r-{id}-{receive_count}"),
        body: envelope.clone(),
        receive_count,
    };

    // "m1" is received and delivered; then its record is rewound below to what a worker
    // killed in the middle of that delivery leaves behind.
    let orders = &app.services.repos.orders;
    let mut record = {
        let r = app.worker.handle_batch(&[message("m1", 1)]).await;
        assert!(r.is_empty());
        orders
            .get_order_sync(&store, OrderId::new(950))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(record.state, SyncState::Synced);
    assert_eq!(record.claimed_by.as_deref(), Some("m1"));
    let delivered = tenant.accepted().len();
    // Rewind it to "being delivered by m1 right now" (what a SIGKILL mid-request leaves).
    let expected = record.revision;
    record.revision += 1;
    record.state = SyncState::Queued;
    record.delivered_hash = None;
    record.synced_at = None;
    record.updated_at = chrono::Utc::now();
    orders
        .save_order_sync(&record, Some(expected))
        .await
        .unwrap();

    // Another copy of the same version waits for the claim…
    let r = app.worker.handle_batch(&[message("m2", 1)]).await;
    assert_eq!(
        r,
        ["m2"],
        "a copy waits while another worker may be delivering"
    );
    assert_eq!(tenant.accepted().len(), delivered);
    // …while m1 itself, back after its visibility timeout, delivers at once.
    let r = app.worker.handle_batch(&[message("m1", 2)]).await;
    assert!(r.is_empty(), "the claim's own message takes over");
    let accepted = tenant.accepted();
    assert_eq!(accepted.len(), delivered + 1);
    assert_eq!(
        accepted[delivered].webhook_id, accepted[0].webhook_id,
        "the same webhook-id: the tenant deduplicates the repeat"
    );
    let after = orders
        .get_order_sync(&store, OrderId::new(950))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.state, SyncState::Synced);
}

both_backends!(a_returning_message_takes_over_its_own_claim);

async fn weights_come_from_the_store_when_the_link_holds_keys(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let token = app.acme_token().await;
    let a = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let secret = a.body["webhook"]["secret"].as_str().unwrap().to_owned();
    send(
        &app,
        &secret,
        "order.created",
        &order(1000, "processing", "2026-11-23T17:00:00"),
    )
    .await;
    eventually("delivery", || tenant.accepted().len() == 1).await;
    let d = tenant.accepted()[0].json()["data"].clone();
    assert_eq!(d["weightSource"], "store");
    assert_eq!(d["items"][0]["productId"], 93);
    assert_eq!(d["items"][0]["weight"], 9.3);
    assert_eq!(
        d["items"][1]["weight"], 2.3,
        "variation 23's own weight, not its parent 22's"
    );
    assert_eq!(d["units"], json!({"weight": "kg", "dimension": "cm"}));
    let lookups: Vec<_> = store
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/wp-json/wc/v3/products"))
        .collect();
    assert_eq!(
        lookups.len(),
        2,
        "one call for the products, one for the variations of product 22: {lookups:?}"
    );
    let query_of = |path: &str| {
        lookups
            .iter()
            .find(|c| c.path == path)
            .and_then(|c| c.query.clone())
            .unwrap_or_default()
    };
    assert!(query_of("/wp-json/wc/v3/products").contains("include=93&"));
    assert!(query_of("/wp-json/wc/v3/products/22/variations").contains("include=23&"));

    // Cached: the next order with the same products asks nothing.
    send(
        &app,
        &secret,
        "order.created",
        &order(1001, "processing", "2026-11-23T17:00:00"),
    )
    .await;
    eventually("second delivery", || tenant.accepted().len() == 2).await;
    assert_eq!(
        store
            .calls()
            .iter()
            .filter(|c| c.path.starts_with("/wp-json/wc/v3/products"))
            .count(),
        2
    );
    // The store's units were read once, for both orders.
    assert_eq!(
        store
            .calls()
            .iter()
            .filter(|c| c.path.starts_with("/wp-json/wc/v3/settings/products/"))
            .count(),
        2,
        "woocommerce_weight_unit and woocommerce_dimension_unit, once"
    );

    // The store goes away: a bounded wait, then delivered without weights, saying so.
    store.stop().await;
    let mut other = order(1002, "processing", "2026-11-23T17:00:00");
    other["line_items"][0]["product_id"] = json!(4242);
    send(&app, &secret, "order.created", &other).await;
    eventually("delivery without weights", || tenant.accepted().len() == 3).await;
    let d = tenant.accepted()[2].json()["data"].clone();
    assert_eq!(d["weightSource"], "lookup_failed");
    assert_eq!(d["items"][0]["weight"], Value::Null);
}

both_backends!(weights_come_from_the_store_when_the_link_holds_keys);

/// A partial refund, then a full one (`refunded`), a `failed` payment and a restore from the
/// trash, as document v2 tells them: the refunds with their items (read from the store's
/// refunds endpoint), `order.cancelled` for refunded and failed, and the restored order
/// sent again as `order.updated`.
async fn refunds_failures_and_restores_reach_the_tenant(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let token = app.acme_token().await;
    let a = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let secret = a.body["webhook"]["secret"].as_str().unwrap().to_owned();
    let events = |order: u64| -> Vec<(String, Value)> {
        tenant
            .accepted()
            .iter()
            .map(|c| c.json())
            .filter(|e| e["data"]["orderId"] == order)
            .map(|e| (e["type"].as_str().unwrap().to_owned(), e["data"].clone()))
            .collect()
    };

    // Order 900: paid, then one of the two Bar3 refunded (damaged), then everything.
    send(
        &app,
        &secret,
        "order.created",
        &order(900, "processing", "2026-11-23T10:00:00"),
    )
    .await;
    eventually("created", || events(900).len() == 1).await;
    store.set_refunds(
        900,
        vec![json!({"id": 950, "amount": "4.00", "reason": "damaged",
            "line_items": [{"id": 951, "name": "Ship Your Idea", "product_id": 22,
                "variation_id": 23, "quantity": -1, "subtotal": "-4.00", "total": "-4.00",
                "meta_data": [{"id": 7, "key": "_refunded_item_id", "value": "316"}]}]})],
    );
    let mut partial = order(900, "processing", "2026-11-23T10:05:00");
    partial["refunds"] = json!([{"id": 950, "reason": "damaged", "total": "-4.00"}]);
    send(&app, &secret, "order.updated", &partial).await;
    eventually("the partial refund", || events(900).len() == 2).await;
    let (kind, d) = &events(900)[1];
    assert_eq!(kind, "order.updated");
    assert_eq!(
        d["refunds"],
        json!([{"id": 950, "amount": "4.00", "reason": "damaged",
                "items": [{"lineItemId": 316, "quantity": 1, "amount": "4.00"}]}])
    );
    assert_eq!(d["totals"]["refunded"], "4.00");
    let mut full = order(900, "refunded", "2026-11-23T10:10:00");
    full["refunds"] = json!([{"id": 950, "reason": "damaged", "total": "-4.00"},
                             {"id": 960, "reason": "", "total": "-25.35"}]);
    send(&app, &secret, "order.updated", &full).await;
    eventually("the full refund", || events(900).len() == 3).await;
    let (kind, d) = &events(900)[2];
    assert_eq!(kind, "order.cancelled");
    assert_eq!(d["status"], "refunded");
    assert_eq!(d["totals"]["refunded"], "29.35");
    assert_eq!(
        d["refunds"][1]["items"],
        json!([]),
        "the store listed no items for 960"
    );

    // Order 901: the payment failed after it was sent.
    send(
        &app,
        &secret,
        "order.created",
        &order(901, "processing", "2026-11-23T11:00:00"),
    )
    .await;
    eventually("created", || events(901).len() == 1).await;
    send(
        &app,
        &secret,
        "order.updated",
        &order(901, "failed", "2026-11-23T11:01:00"),
    )
    .await;
    eventually("failed", || events(901).len() == 2).await;
    assert_eq!(events(901)[1].0, "order.cancelled");
    assert_eq!(events(901)[1].1["status"], "failed");

    // Order 902: trashed (WooCommerce's order.deleted carries only the id), then restored.
    send(
        &app,
        &secret,
        "order.created",
        &order(902, "processing", "2026-11-23T12:00:00"),
    )
    .await;
    eventually("created", || events(902).len() == 1).await;
    let trashed = order(902, "trash", "2026-11-23T12:01:00");
    store.set_order(902, &php_json(&trashed));
    send(&app, &secret, "order.deleted", &json!({"id": 902})).await;
    eventually("trashed", || events(902).len() == 2).await;
    assert_eq!(events(902)[1].0, "order.cancelled");
    let restored = order(902, "processing", "2026-11-23T12:02:00");
    store.set_order(902, &php_json(&restored));
    send(&app, &secret, "order.restored", &restored).await;
    eventually("restored", || events(902).len() == 3).await;
    let (kind, d) = &events(902)[2];
    assert_eq!(kind, "order.updated", "back from the trash: sent again");
    assert_eq!(d["status"], "processing");
    assert_eq!(d["schemaVersion"], 2);
}

both_backends!(refunds_failures_and_restores_reach_the_tenant);

/// A retry in flight holds its order as a first attempt does. The first attempt got a 503,
/// so the record carries that error while the retry is being delivered; the order's next
/// version, arriving meanwhile, must wait for the retry rather than take the order over (it
/// did: the retry was accepted, and the next version went out as a second
/// `order.created`).
async fn a_retry_in_flight_holds_its_order(backend: Backend) {
    let tenant = FakeTenant::with(
        &[503],
        Faults {
            delay: Duration::from_millis(600),
            ..Faults::default()
        },
    )
    .await;
    let app = TestApp::pipeline_paused_tuned(backend, &tenant, |s| {
        s.backoff_base = Duration::from_secs(1);
    })
    .await;
    let (key, secret) = linked(&app).await;
    let v1 = order(1, "processing", "2026-11-23T10:00:00");
    let a = deliver_signed(&app, "st_a1", "order.created", &php_json(&v1), &secret).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    let s = app.get("/v1/stores/st_a1/orders/1", Some(&key)).await;
    assert_eq!(s.body["state"], "queued", "{}", s.body);
    assert!(s.body["lastError"].as_str().unwrap().contains("503"));

    // The retry, in flight for 600 ms; 200 ms in, the next version arrives and is handled.
    visible(&app.queue, 1).await;
    let retry = app.queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(retry.len(), 1);
    let mut v2 = order(1, "processing", "2026-11-23T10:01:00");
    v2["shipping"]["address_1"] = json!("2 New Street");
    let next = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let a = deliver_signed(&app, "st_a1", "order.updated", &php_json(&v2), &secret).await;
        assert_eq!(a.status, 200, "{}", a.body);
        round(&app.queue, &app.worker).await
    };
    let (_, handled) = tokio::join!(
        woolink::local::process_batch(app.queue.as_ref(), &app.worker, &retry),
        next
    );
    assert_eq!(handled, 1);
    // Past the tests' short wait budget the next version comes back once the retry is done.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.queue.depth().await.unwrap() != (0, 0) {
        assert!(std::time::Instant::now() < deadline, "the queue drains");
        round(&app.queue, &app.worker).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let kinds: Vec<String> = tenant
        .accepted()
        .iter()
        .map(|c| c.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["order.created", "order.updated"], "{kinds:?}");
    let s = app.get("/v1/stores/st_a1/orders/1", Some(&key)).await;
    assert_eq!(s.body["state"], "synced", "{}", s.body);
}

both_backends!(a_retry_in_flight_holds_its_order);
