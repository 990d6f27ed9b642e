//! Shipments through the tenant's routes (issue 16), end to end: a tenant API key posts a
//! shipment, the shipments worker (in process, fed from its queue as Lambda's event source
//! does) writes it to a fake store of each flavour (core fulfillments, AST, the Shipment
//! Tracking extension, none: order notes), moves the order, and the tenant hears
//! `shipment.written` / `shipment.failed`. Bad input is named, never a 5xx; replays are
//! idempotent; other tenants see nothing.

use std::time::Duration;

use serde_json::{json, Value};
use woolink::admin::put_fixed_tenant_key;
use woolink::domain::{Scope, TenantCode};

use crate::both_backends;
use crate::helpers::*;

const ORDER: u64 = 727;
/// The REST docs' order 727: line 315 (no SKU, 2 of product 93), line 316 (SKU Bar3, 1 of
/// variation 23 of product 22).
const PATH: &str = "/v1/tenant/stores/st_a1/orders/727/shipments";

fn acme_key() -> String {
    format!("wlt_{}", "a1".repeat(20))
}

fn beta_key() -> String {
    format!("wlt_{}", "b2".repeat(20))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Fulfillments,
    Ast,
    ShipmentTracking,
    Notes,
}

/// A tenant, the whole pipeline, a store of `flavour` holding order 727 and linked with keys,
/// the order delivered to the tenant (so in scope), and tenant keys for ACME and BETA.
struct Setup {
    app: TestApp,
    store: FakeStore,
    tenant: FakeTenant,
}

async fn setup(backend: Backend, flavour: Flavour) -> Setup {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    store.misbehave(Misbehaviour {
        fulfillments: flavour == Flavour::Fulfillments,
        ast: flavour == Flavour::Ast,
        shipment_tracking: flavour == Flavour::ShipmentTracking,
        partial_shipped: flavour == Flavour::Ast,
        ..Misbehaviour::default()
    });
    let body = order(ORDER, "processing", "2026-11-30T10:00:00");
    store.set_order(ORDER, &php_json(&body));
    let token = app.acme_token().await;
    let linked = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    send(&app, &secret, "order.updated", &body).await;
    order_status_until(&app, &key, ORDER, Duration::from_secs(15), |s| {
        s["state"] == "synced"
    })
    .await;
    let admin = app.services.admin();
    for (code, k) in [("ACME", acme_key()), ("BETA", beta_key())] {
        put_fixed_tenant_key(
            &admin,
            &TenantCode::parse(code).unwrap(),
            &k,
            &[
                Scope::ShipmentsWrite,
                Scope::ShipmentsRead,
                Scope::StoresRead,
            ],
        )
        .await
        .unwrap();
    }
    Setup { app, store, tenant }
}

impl Setup {
    async fn post(&self, body: Value) -> Answer {
        self.app.post_json(PATH, body, Some(&acme_key())).await
    }

    async fn list(&self) -> Vec<Value> {
        let a = self.app.get(PATH, Some(&acme_key())).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["shipments"].as_array().unwrap().clone()
    }

    /// Waits until shipment `id` has left `pending`; its document.
    async fn settled(&self, id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.list().await.into_iter().find(|s| s["id"] == id);
            if let Some(s) = found.filter(|s| s["state"] != "pending") {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "shipment {id} stays pending: {:?}",
                self.list().await
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// The events of type `kind` the tenant accepted (signatures verified).
    fn events(&self, kind: &str) -> Vec<Value> {
        self.tenant.events(kind)
    }

    fn entries(&self, flavour: Flavour) -> Vec<Value> {
        match flavour {
            Flavour::Fulfillments => self.store.fulfillments(ORDER),
            Flavour::Ast | Flavour::ShipmentTracking => self.store.trackings(ORDER),
            Flavour::Notes => self.store.notes(ORDER),
        }
    }
}

/// Part of the order, then the rest: one entry each through the store's flavour; the order
/// goes partial-shipped (where the store has it) then completed; the tenant hears both.
async fn partial_then_complete(backend: Backend, flavour: Flavour) {
    let s = setup(backend, flavour).await;
    let first = s
        .post(
            json!({"shipmentId": "sh-1", "trackingNumber": "1Z001", "carrier": "ups",
            "trackingUrl": "https://ups.example/1Z001", "shippedAt": "2026-11-30T09:00:00Z",
            "items": [{"sku": "Bar3", "quantity": 1}]}),
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.body["shipment"]["state"], "pending");
    assert_eq!(
        first.body["shipment"]["items"],
        json!([{"lineItemId": 316, "quantity": 1, "sku": "Bar3"}])
    );
    let written = s.settled("sh-1").await;
    let method = match flavour {
        Flavour::Fulfillments => "fulfillments",
        Flavour::Ast => "ast",
        Flavour::ShipmentTracking => "shipment_tracking",
        Flavour::Notes => "order_note",
    };
    assert_eq!(written["state"], "written", "{written}");
    assert_eq!(written["method"], method);
    let entries = s.entries(flavour);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let expected_status = if flavour == Flavour::Ast {
        "partial-shipped"
    } else {
        "processing"
    };
    assert_eq!(
        s.store.order_status(ORDER).as_deref(),
        Some(expected_status)
    );
    match flavour {
        Flavour::Fulfillments => {
            let f = &entries[0];
            assert_eq!(written["storeTrackingId"], f["id"].to_string());
            let meta = |k: &str| meta_value(f, k);
            assert_eq!(meta("_items"), Some(json!([{"item_id": 316, "qty": 1}])));
            assert_eq!(meta("_tracking_number"), Some(json!("1Z001")));
            // Core's key: what its customer email and orders list show.
            assert_eq!(meta("_shipment_provider"), Some(json!("ups")));
            assert_eq!(meta("_shipping_provider"), None);
            assert_eq!(
                meta("_tracking_url"),
                Some(json!("https://ups.example/1Z001"))
            );
            assert_eq!(f["notify_customer"], true);
            assert_eq!(f["status"], "fulfilled");
            assert_eq!(
                written["orderStatus"],
                "unchanged: shipped in part; the store has no partial-shipped status"
            );
        }
        Flavour::Ast | Flavour::ShipmentTracking => {
            assert_eq!(written["storeTrackingId"], entries[0]["tracking_id"]);
            assert_eq!(entries[0]["tracking_number"], "1Z001");
            assert_eq!(entries[0]["date_shipped"], "2026-11-30");
            // "ups" is the store's own "UPS" (its carriers list), not a custom provider.
            let post = s
                .store
                .calls()
                .into_iter()
                .find(|c| c.method == "POST" && c.path.ends_with("/shipment-trackings"))
                .unwrap();
            assert_eq!(post.body["tracking_provider"], "UPS", "{}", post.body);
            assert!(post.body.get("custom_tracking_provider").is_none());
            if flavour == Flavour::Ast {
                // AST PRO's per-item fields (the free plugin ignores them).
                assert_eq!(
                    (post.body["sku"].as_str(), post.body["qty"].as_str()),
                    (Some("Bar3"), Some("1"))
                );
            } else {
                assert!(post.body.get("sku").is_none(), "{}", post.body);
            }
        }
        Flavour::Notes => {
            let text = entries[0]["note"].as_str().unwrap();
            assert!(
                text.contains("ups")
                    && text.contains("1Z001")
                    && text.contains("https://ups.example/1Z001"),
                "{text}"
            );
            assert_eq!(entries[0]["customer_note"], true);
        }
    }

    let rest = s
        .post(
            json!({"shipmentId": "sh-2", "trackingNumber": "1Z002", "carrier": "Acme Parcel",
            "trackingUrl": "https://acme.example/t/1Z002",
            "items": [{"lineItemId": 315, "quantity": 2}]}),
        )
        .await;
    assert_eq!(rest.status, 202, "{}", rest.body);
    let done = s.settled("sh-2").await;
    assert_eq!(done["state"], "written", "{done}");
    assert_eq!(done["orderStatus"], "completed");
    assert_eq!(s.store.order_status(ORDER).as_deref(), Some("completed"));
    assert_eq!(s.entries(flavour).len(), 2);
    if flavour == Flavour::ShipmentTracking {
        // A carrier the store does not list goes as a custom provider with the link.
        let t = &s.store.trackings(ORDER)[1];
        assert_eq!(
            (t["tracking_provider"].as_str(), t["tracking_link"].as_str()),
            (Some("Acme Parcel"), Some("https://acme.example/t/1Z002"))
        );
    }
    eventually("the tenant hears both", || {
        s.events("shipment.written").len() == 2
    })
    .await;
    let events = s.events("shipment.written");
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"sh-1") && ids.contains(&"sh-2"), "{ids:?}");
    assert!(events
        .iter()
        .all(|e| e["data"]["storeId"] == "st_a1" && e["data"]["orderId"] == ORDER));
    // Nothing more happens: the shipments are written once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.entries(flavour).len(), 2);
    assert_eq!(s.events("shipment.written").len(), 2);
}

async fn through_core_fulfillments(backend: Backend) {
    partial_then_complete(backend, Flavour::Fulfillments).await
}
async fn through_ast(backend: Backend) {
    partial_then_complete(backend, Flavour::Ast).await
}
async fn through_shipment_tracking(backend: Backend) {
    partial_then_complete(backend, Flavour::ShipmentTracking).await
}
async fn through_order_notes(backend: Backend) {
    partial_then_complete(backend, Flavour::Notes).await
}

both_backends!(
    through_core_fulfillments,
    through_ast,
    through_shipment_tracking,
    through_order_notes
);

/// Core's lookup of a carrier's tracking page is only a nicety: a store that answers it with
/// a script URL, or with a 500, still gets its fulfillment, without a link. A whole-order
/// shipment (no items) carries every line of the order, as core takes no fulfillment without.
async fn a_hostile_or_failing_lookup_leaves_only_the_link_out(backend: Backend) {
    let script = "javascript:alert(1)";
    for answer in [
        (
            200,
            json!({"tracking_number": "1Z9", "shipping_provider": "ups", "tracking_url": script,
                   "possibilities": {"ups": {"url": script, "ambiguity_score": 95}}}),
        ),
        (500, json!({"code": "internal_server_error"})),
    ] {
        let s = setup(backend, Flavour::Fulfillments).await;
        s.store.misbehave(Misbehaviour {
            fulfillments: true,
            lookup: Some(answer.clone()),
            ..Misbehaviour::default()
        });
        let posted = s
            .post(
                json!({"shipmentId": "sh-l", "trackingNumber": "1Z9", "carrier": "UPS",
                         "complete": "never"}),
            )
            .await;
        assert_eq!(posted.status, 202, "{}", posted.body);
        let written = s.settled("sh-l").await;
        assert_eq!(written["state"], "written", "{answer:?}: {written}");
        let entries = s.store.fulfillments(ORDER);
        assert_eq!(entries.len(), 1, "{entries:?}");
        let f = &entries[0];
        assert_eq!(meta_value(f, "_tracking_url"), None, "{answer:?}: {f}");
        assert_eq!(meta_value(f, "_shipment_provider"), Some(json!("ups")));
        let lines: Vec<Value> = order(ORDER, "processing", "2026-11-30T10:00:00")["line_items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| json!({"item_id": l["id"], "qty": l["quantity"]}))
            .collect();
        assert_eq!(meta_value(f, "_items"), Some(Value::Array(lines)), "{f}");
    }
}

both_backends!(a_hostile_or_failing_lookup_leaves_only_the_link_out);

/// The shipment id is the tenant's idempotency key: the same body again is 200 with the same
/// shipment, another body 409 `shipment_conflict`; eight identical posts at once make one
/// shipment and one store entry.
async fn replays_are_idempotent_and_conflicts_refused(backend: Backend) {
    let s = setup(backend, Flavour::Ast).await;
    let body = json!({"shipmentId": "sh-r", "trackingNumber": "1Z100", "carrier": "UPS", "complete": "never"});
    let first = s.post(body.clone()).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let again = s.post(body.clone()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["shipment"]["id"], "sh-r");
    let mut other = body.clone();
    other["trackingNumber"] = json!("1Z101");
    let conflict = s.post(other).await;
    conflict.error(409, "shipment_conflict");
    assert_eq!(conflict.body["error"]["details"]["shipmentId"], "sh-r");

    let parallel = json!({"shipmentId": "sh-p", "trackingNumber": "1Z200", "carrier": "UPS", "complete": "never"});
    let answers = futures::future::join_all((0..8).map(|_| s.post(parallel.clone()))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|c| **c == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|c| **c == 200).count(),
        7,
        "{statuses:?}"
    );
    s.settled("sh-p").await;
    s.settled("sh-r").await;
    let numbers: Vec<String> = s
        .store
        .trackings(ORDER)
        .iter()
        .map(|t| t["tracking_number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(numbers.len(), 2, "{numbers:?}");
    assert_eq!(
        s.store.order_status(ORDER).as_deref(),
        Some("processing"),
        "complete: never"
    );
    // A replay of a written shipment is still 200 and queues nothing new.
    let late = s.post(body).await;
    assert_eq!(
        (late.status, late.body["shipment"]["state"].as_str()),
        (200, Some("written"))
    );
}

both_backends!(replays_are_idempotent_and_conflicts_refused);

/// Bad input is named and changes nothing: unknown SKUs and line items, more than ordered,
/// an order woolink never delivered, malformed bodies, missing or weak credentials, another
/// tenant's store.
async fn bad_input_is_named_and_changes_nothing(backend: Backend) {
    let s = setup(backend, Flavour::Ast).await;
    let bad = s
        .post(
            json!({"shipmentId": "sh-x", "trackingNumber": "1Z", "carrier": "UPS",
            "items": [{"sku": "NOPE", "quantity": 1}, {"sku": "Bar3", "quantity": 2},
                      {"lineItemId": 999, "quantity": 1}, {"lineItemId": 315, "quantity": 3}]}),
        )
        .await;
    bad.error(422, "invalid_items");
    assert_eq!(
        bad.body["error"]["details"]["items"],
        json!([
            {"sku": "NOPE", "quantity": 1, "problem": "unknown_sku"},
            {"sku": "Bar3", "quantity": 2, "problem": "more_than_ordered", "ordered": 1, "alreadyShipped": 0},
            {"lineItemId": 999, "quantity": 1, "problem": "unknown_line_item"},
            {"lineItemId": 315, "quantity": 3, "problem": "more_than_ordered", "ordered": 2, "alreadyShipped": 0},
        ])
    );
    // What other shipments carry counts: the T-shirts once, then not again.
    assert_eq!(s.post(json!({"shipmentId": "sh-a", "trackingNumber": "1Z1", "carrier": "UPS", "complete": "never",
        "items": [{"lineItemId": 315, "quantity": 2}]})).await.status, 202);
    let twice = s
        .post(
            json!({"shipmentId": "sh-b", "trackingNumber": "1Z2", "carrier": "UPS",
        "items": [{"lineItemId": 315, "quantity": 1}]}),
        )
        .await;
    twice.error(422, "invalid_items");
    assert_eq!(
        twice.body["error"]["details"]["items"][0]["alreadyShipped"],
        2
    );

    let unknown_order = s
        .app
        .post_json(
            "/v1/tenant/stores/st_a1/orders/999/shipments",
            json!({"shipmentId": "sh-o", "trackingNumber": "1Z", "carrier": "UPS"}),
            Some(&acme_key()),
        )
        .await;
    unknown_order.error(422, "order_not_in_scope");
    assert_eq!(unknown_order.body["error"]["details"]["orderId"], 999);

    for (body, why) in [
        (
            json!({"shipmentId": "a b", "trackingNumber": "1Z", "carrier": "UPS"}),
            "shipmentId",
        ),
        (
            json!({"shipmentId": "sh", "trackingNumber": "", "carrier": "UPS"}),
            "trackingNumber",
        ),
        (
            json!({"shipmentId": "sh", "trackingNumber": "1Z", "carrier": "UPS", "complete": "maybe"}),
            "complete",
        ),
        (
            json!({"shipmentId": "sh", "trackingNumber": "1Z", "carrier": "UPS", "items": [{"quantity": 1}]}),
            "items",
        ),
        (
            json!({"shipmentId": "sh", "trackingNumber": "1Z"}),
            "carrier",
        ),
        (
            json!({"shipmentId": "sh", "trackingNumber": "1Z", "carrier": "UPS", "extra": true}),
            "extra",
        ),
    ] {
        let a = s.post(body).await;
        a.error(400, "invalid_request");
        assert!(
            a.body["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {}",
            a.body
        );
    }
    let raw = s
        .app
        .post_raw(PATH, b"{not json".to_vec(), Some(&acme_key()))
        .await;
    raw.error(400, "invalid_request");

    let none = s.app.post_json(PATH, json!({}), None).await;
    assert_eq!(none.status, 401, "{}", none.body);
    let link_key_like = s.app.post_json(PATH, json!({}), Some("wlk_nope")).await;
    assert_eq!(link_key_like.status, 401, "{}", link_key_like.body);
    let admin = s.app.services.admin();
    let read_only = format!("wlt_{}", "c3".repeat(20));
    put_fixed_tenant_key(
        &admin,
        &TenantCode::parse("ACME").unwrap(),
        &read_only,
        &[Scope::ShipmentsRead],
    )
    .await
    .unwrap();
    let weak = s
        .app
        .post_json(
            PATH,
            json!({"shipmentId": "sh-w", "trackingNumber": "1Z", "carrier": "UPS"}),
            Some(&read_only),
        )
        .await;
    weak.error(403, "insufficient_scope");
    // Another tenant's store: not found, as if it did not exist; nothing listed either.
    let other = s
        .app
        .post_json(
            PATH,
            json!({"shipmentId": "sh-z", "trackingNumber": "1Z", "carrier": "UPS"}),
            Some(&beta_key()),
        )
        .await;
    other.error(404, "store_not_found");
    s.app
        .get(PATH, Some(&beta_key()))
        .await
        .error(404, "store_not_found");
    s.app
        .delete(&format!("{PATH}/sh-a"), Some(&beta_key()))
        .await
        .error(404, "store_not_found");

    // Past the body limit: 413 (on a connection of its own: the server answers before it has
    // read the whole body and closes).
    let huge = Answer::from(
        reqwest::Client::new()
            .post(s.app.url(PATH))
            .bearer_auth(acme_key())
            .header("content-type", "application/json")
            .body(vec![b' '; 200 * 1024])
            .send()
            .await
            .unwrap(),
    )
    .await;
    huge.error(413, "payload_too_large");

    s.settled("sh-a").await;
    let ids: Vec<Value> = s.list().await.iter().map(|x| x["id"].clone()).collect();
    assert_eq!(ids, vec![json!("sh-a")], "only the valid shipment exists");
    assert_eq!(s.store.trackings(ORDER).len(), 1);
}

both_backends!(bad_input_is_named_and_changes_nothing);

/// Deleting a shipment removes its entry from the store, then the record; deleting one that
/// is not there is 404.
async fn a_deleted_shipment_leaves_the_store(backend: Backend) {
    for flavour in [Flavour::Ast, Flavour::Fulfillments, Flavour::Notes] {
        let s = setup(backend, flavour).await;
        assert_eq!(s.post(json!({"shipmentId": "sh-d", "trackingNumber": "1Z300", "carrier": "UPS", "complete": "never"})).await.status, 202);
        s.settled("sh-d").await;
        assert_eq!(s.entries(flavour).len(), 1);
        let gone = s
            .app
            .delete(&format!("{PATH}/sh-d"), Some(&acme_key()))
            .await;
        assert_eq!(gone.status, 202, "{}", gone.body);
        assert_eq!(gone.body["shipment"]["state"], "deleting");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !s.list().await.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{flavour:?}: still listed"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert!(
            s.entries(flavour).is_empty(),
            "{flavour:?}: {:?}",
            s.entries(flavour)
        );
        s.app
            .delete(&format!("{PATH}/sh-d"), Some(&acme_key()))
            .await
            .error(404, "not_found");
        s.app
            .delete(&format!("{PATH}/..%2F"), Some(&acme_key()))
            .await
            .error(404, "not_found");
    }
}

both_backends!(a_deleted_shipment_leaves_the_store);

/// A store that answers 500 keeps the shipment pending (retried with backoff, the error
/// shown) until it heals; one that times out likewise; keys the store refuses fail it, and
/// the tenant hears `shipment.failed`.
async fn store_failures_retry_or_fail(backend: Backend) {
    let s = setup(backend, Flavour::Ast).await;
    s.store.misbehave(Misbehaviour {
        ast: true,
        tracking_fails: true,
        ..Misbehaviour::default()
    });
    assert_eq!(s.post(json!({"shipmentId": "sh-5", "trackingNumber": "1Z500", "carrier": "UPS", "complete": "never"})).await.status, 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = s.list().await;
        let sh = &listed[0];
        if sh["attempts"].as_u64().unwrap_or(0) >= 2 {
            assert_eq!(sh["state"], "pending", "{sh}");
            assert!(sh["lastError"].as_str().unwrap().contains("500"), "{sh}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{sh}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    s.store.misbehave(Misbehaviour {
        ast: true,
        ..Misbehaviour::default()
    });
    let healed = s.settled("sh-5").await;
    assert_eq!(healed["state"], "written", "{healed}");
    assert!(healed["lastError"].is_null());
    assert_eq!(s.store.trackings(ORDER).len(), 1);

    // The store refuses woolink's keys from now on (they were revoked there).
    revoke_woo_keys(&s.app, "st_a1").await;
    // (The order is checked on the store at once: refused keys are told then, not queued.)
    let refused = s
        .post(json!({"shipmentId": "sh-6", "trackingNumber": "1Z600", "carrier": "UPS"}))
        .await;
    refused.error(422, "woocommerce_auth_failed");
}

both_backends!(store_failures_retry_or_fail);

/// Keys revoked after the shipment was accepted: it fails for good, and the tenant hears
/// `shipment.failed` with the reason.
async fn refused_keys_fail_the_shipment_and_the_tenant_hears(backend: Backend) {
    let s = setup(backend, Flavour::Ast).await;
    // Accepted while the store hangs (so it is still pending), then the keys go bad.
    s.store.misbehave(Misbehaviour {
        ast: true,
        tracking_fails: true,
        ..Misbehaviour::default()
    });
    assert_eq!(
        s.post(json!({"shipmentId": "sh-7", "trackingNumber": "1Z700", "carrier": "UPS"}))
            .await
            .status,
        202
    );
    revoke_woo_keys(&s.app, "st_a1").await;
    let failed = s.settled("sh-7").await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["lastError"].as_str().unwrap().contains("refused"),
        "{failed}"
    );
    eventually("the tenant hears shipment.failed", || {
        s.events("shipment.failed").len() == 1
    })
    .await;
    assert_eq!(s.events("shipment.failed")[0]["data"]["id"], "sh-7");
    assert!(s.store.trackings(ORDER).is_empty());
}

both_backends!(refused_keys_fail_the_shipment_and_the_tenant_hears);

/// The merchant removes the tracking plugin after woolink learnt it: the write meets
/// `rest_no_route`, woolink learns the store again and writes a note instead. A store that
/// does not answer in time keeps the shipment pending with the reason until it does.
async fn a_vanished_plugin_and_a_hanging_store(backend: Backend) {
    let s = setup(backend, Flavour::Ast).await;
    let ship = |id: &str| json!({"shipmentId": id, "trackingNumber": format!("1Z-{id}"), "carrier": "UPS", "complete": "never"});
    assert_eq!(s.post(ship("sh-a")).await.status, 202);
    assert_eq!(s.settled("sh-a").await["method"], "ast");

    s.store.misbehave(Misbehaviour::default());
    assert_eq!(s.post(ship("sh-b")).await.status, 202);
    let b = s.settled("sh-b").await;
    assert_eq!(
        (b["state"].as_str(), b["method"].as_str()),
        (Some("written"), Some("order_note")),
        "{b}"
    );
    let notes = s.store.notes(ORDER);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0]["note"]
        .as_str()
        .unwrap()
        .contains("[woolink shipment sh-b]"));
    let ast_calls = |method: &str| {
        s.store
            .calls()
            .into_iter()
            .filter(|c| c.method == method && c.path.contains("wc-ast"))
            .count()
    };
    assert_eq!(ast_calls("POST"), 1, "AST written once, before it vanished");
    // sh-a's probe and its check for an existing entry, then sh-b's check that met
    // rest_no_route and the probe that learnt the store again.
    assert!(ast_calls("GET") >= 4, "{}", ast_calls("GET"));

    s.store.misbehave(Misbehaviour {
        tracking_hangs: true,
        ..Misbehaviour::default()
    });
    assert_eq!(s.post(ship("sh-c")).await.status, 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let c = s
            .list()
            .await
            .into_iter()
            .find(|x| x["id"] == "sh-c")
            .unwrap();
        if c["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("timeout"))
        {
            assert_eq!(c["state"], "pending", "{c}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.store.misbehave(Misbehaviour::default());
    let c = s.settled("sh-c").await;
    assert_eq!(c["state"], "written", "{c}");
    assert_eq!(s.store.notes(ORDER).len(), 2);
}

both_backends!(a_vanished_plugin_and_a_hanging_store);
