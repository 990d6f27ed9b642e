//! Disconnect on both backends: revocation, webhook cleanup on a fake store, erasure, purge,
//! re-link, and how long a revoked secret can still get through another container's cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use woolink::domain::StoreId;
use woolink::intake::Intake;

use crate::both_backends;
use crate::helpers::*;

struct Linked {
    api_key: String,
    secret: String,
    token: String,
}

async fn link_with_keys(app: &TestApp, store_url: &str) -> Linked {
    let token = app.acme_token().await;
    let a = app.link_with_keys(&token, "st_a1", store_url).await;
    assert_eq!(a.status, 201, "{}", a.body);
    Linked {
        api_key: a.body["apiKey"].as_str().unwrap().to_owned(),
        secret: a.body["webhook"]["secret"].as_str().unwrap().to_owned(),
        token,
    }
}

async fn disconnect(app: &TestApp, key: Option<&str>, body: Value, query: &str) -> Answer {
    app.post_json(&format!("/v1/connect/disconnect{query}"), body, key)
        .await
}

fn id() -> StoreId {
    StoreId::parse("st_a1").unwrap()
}

async fn disconnect_revokes_cleans_up_and_keeps_queued_orders(backend: Backend) {
    let store = FakeStore::start(StoreMode::Healthy).await;
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    let l = link_with_keys(&app, &store.url).await;

    // An order arrives and waits in the queue.
    let o = order(4242, "processing", "2026-11-23T18:00:00");
    assert_eq!(
        deliver_signed(&app, "st_a1", "order.created", &php_json(&o), &l.secret)
            .await
            .status,
        200
    );

    // The plugin disconnects; its URL may differ in case and trailing slash.
    let url = store.url.replace("http://127.0.0.1", "HTTP://127.0.0.1") + "/";
    let a = disconnect(
        &app,
        Some(&l.api_key),
        json!({"storeUrl": url, "customerId": "cus_a1"}),
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "disconnected");
    assert_eq!(
        a.body["cleanup"]["webhooksDeleted"],
        json!([100, 101, 102, 103, 104, 105, 106, 107])
    );
    assert_eq!(a.body["cleanup"]["webhooksNotDeleted"], json!([]));
    assert_eq!(a.body["cleanup"]["wooCommerceKeysErased"], true);
    let expires =
        chrono::DateTime::parse_from_rfc3339(a.body["cleanup"]["ordersExpireAt"].as_str().unwrap())
            .unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days}");

    // The store saw one DELETE per registered webhook, forced.
    let deletes: Vec<_> = store
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 8, "four order and four product webhooks");
    assert!(deletes
        .iter()
        .all(|c| c.query.as_deref() == Some("force=true")));

    // Repeating answers the same 200.
    let again = disconnect(
        &app,
        Some(&l.api_key),
        json!({"storeUrl": store.url, "customerId": "cus_a1"}),
        "",
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["status"], "disconnected");
    assert_eq!(again.body["disconnectedAt"], a.body["disconnectedAt"]);
    assert_eq!(
        store
            .calls()
            .iter()
            .filter(|c| c.method == "DELETE")
            .count(),
        8
    );

    // Revoked at once: the intake answers 410, the key reads nothing.
    deliver_signed(&app, "st_a1", "order.updated", &php_json(&o), &l.secret)
        .await
        .error(410, "store_disconnected");
    app.get("/v1/stores/st_a1", Some(&l.api_key))
        .await
        .error(401, "invalid_api_key");
    let s = app.get("/v1/stores/st_a1", Some(&l.token)).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["status"], "disconnected");
    assert!(s.body["disconnectedAt"].is_string());
    let stores = app.get("/v1/connect/stores", Some(&l.token)).await;
    assert_eq!(stores.body["stores"][0]["linked"], false);

    // Nothing secret is left on the link.
    let link = app
        .services
        .repos
        .links
        .get_link(&id())
        .await
        .unwrap()
        .unwrap();
    assert!(
        link.woo_keys.is_none() && link.webhook_secret.is_none() && link.api_key_hash.is_none()
    );
    assert!(link.previous_webhook_secret.is_none());

    // The order queued before the disconnect is still delivered, and its record expires.
    let msgs = app
        .queue
        .receive(10, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        woolink::local::process_batch(app.queue.as_ref(), &app.worker, &msgs).await,
        0
    );
    assert_eq!(tenant.accepted().len(), 1);
    let rec = app
        .services
        .repos
        .orders
        .get_order_sync(&id(), woolink::domain::OrderId::new(4242))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.state, woolink::model::SyncState::Synced);
    assert!(
        rec.expires_at.is_some(),
        "records of a disconnected store expire"
    );
}

async fn disconnect_refuses_the_wrong_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.acme_token().await;
    let a = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    let key = a.body["apiKey"].as_str().unwrap().to_owned();
    let good = json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a1"});
    disconnect(
        &app,
        Some(&key),
        json!({"storeUrl": "http://127.0.0.1:10", "customerId": "cus_a1"}),
        "",
    )
    .await
    .error(403, "link_mismatch");
    disconnect(
        &app,
        Some(&key),
        json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a2"}),
        "",
    )
    .await
    .error(403, "link_mismatch");
    disconnect(&app, Some("wlk_forged"), good.clone(), "")
        .await
        .error(401, "invalid_api_key");
    disconnect(&app, None, good.clone(), "")
        .await
        .error(401, "invalid_api_key");
    disconnect(
        &app,
        Some(&key),
        json!({"storeUrl": "http://127.0.0.1:9"}),
        "",
    )
    .await
    .error(400, "invalid_request");
    disconnect(&app, Some(&key), good.clone(), "?purge=maybe")
        .await
        .error(400, "invalid_request");
    app.get("/v1/connect/disconnect", None)
        .await
        .error(405, "method_not_allowed");
    // Another tenant cannot end this link; the owning tenant can.
    let beta = app.token_for("BETA", "ops@beta.test").await;
    let del = |t: Option<String>| {
        let mut r = app.http.delete(app.url("/v1/connect/links/st_a1"));
        if let Some(t) = t {
            r = r.bearer_auth(t);
        }
        async move { Answer::from(r.send().await.unwrap()).await }
    };
    del(Some(beta)).await.error(404, "store_not_found");
    del(None).await.error(401, "invalid_token");
    assert!(app
        .services
        .repos
        .links
        .get_link(&id())
        .await
        .unwrap()
        .unwrap()
        .is_connected());
    let a = del(Some(token)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "disconnected");
    assert_eq!(a.body["cleanup"]["webhooksDeleted"], json!([]));
}

async fn an_unreachable_store_does_not_block_the_disconnect(backend: Backend) {
    let store = FakeStore::start(StoreMode::Healthy).await;
    let app = TestApp::spawn(backend).await;
    let l = link_with_keys(&app, &store.url).await;
    let url = store.url.clone();
    store.stop().await;
    let a = disconnect(
        &app,
        Some(&l.api_key),
        json!({"storeUrl": url, "customerId": "cus_a1"}),
        "",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["cleanup"]["webhooksDeleted"], json!([]));
    assert_eq!(
        a.body["cleanup"]["webhooksNotDeleted"],
        json!([100, 101, 102, 103, 104, 105, 106, 107])
    );
    assert_eq!(a.body["cleanup"]["wooCommerceKeysErased"], true);
    let link = app
        .services
        .repos
        .links
        .get_link(&id())
        .await
        .unwrap()
        .unwrap();
    assert!(!link.is_connected());
    assert!(link.woo_keys.is_none());
    assert_eq!(
        link.webhook_ids,
        vec![100, 101, 102, 103, 104, 105, 106, 107],
        "what could not be cleaned is recorded"
    );
}

async fn purge_erases_order_records_now(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    for n in 0..3 {
        send(
            &app,
            &secret,
            "order.created",
            &order(10 + n, "processing", "2026-11-23T18:00:00"),
        )
        .await;
    }
    drained(&app).await;
    assert_eq!(
        app.services
            .repos
            .orders
            .list_order_syncs(&id())
            .await
            .unwrap()
            .len(),
        3
    );
    // A shipment and a poll record of the store go with its orders.
    let repos = &app.services.repos;
    let shipment = shipment_of("st_a1", 10, "sh-1", "1Z1");
    repos
        .shipments
        .save_shipment(&shipment, None)
        .await
        .unwrap();
    let mut poll = woolink::model::Reconciliation::new(id());
    poll.revision = 1;
    repos
        .reconciliations
        .save_reconciliation(&poll, None)
        .await
        .unwrap();
    // And its catalogue: an item, an import, an inventory push and its chunk.
    let now = chrono::Utc::now();
    let item = woolink::model::CatalogueItem {
        store_id: id(),
        id: 101,
        parent_id: 0,
        sku: Some("A".into()),
        doc_hash: "h".into(),
        deleted: false,
        managed: true,
        quantity: Some(1),
        written_quantity: None,
        snapshot_at: None,
        updated_at: now,
        revision: 1,
    };
    repos
        .catalogue
        .save_catalogue_item(&item, None)
        .await
        .unwrap();
    let job = woolink::model::InventoryJob {
        store_id: id(),
        job_id: "inv_1".into(),
        state: "done".into(),
        snapshot_at: now,
        net_of_open_orders: false,
        total: 1,
        chunks: 1,
        next_chunk: 1,
        counts: Default::default(),
        created_at: now,
        finished_at: Some(now),
        error: None,
        revision: 1,
    };
    repos
        .catalogue
        .save_inventory_job(&job, None)
        .await
        .unwrap();
    repos
        .catalogue
        .put_inventory_chunk(&woolink::model::InventoryChunk {
            store_id: id(),
            job_id: "inv_1".into(),
            index: 0,
            items: vec![("A".into(), 1)],
            results: vec![],
            done: true,
        })
        .await
        .unwrap();
    let a = disconnect(
        &app,
        Some(&key),
        json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a1"}),
        "?purge=true",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["cleanup"]["ordersPurged"], 3);
    assert!(repos
        .catalogue
        .catalogue_items(&id())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        repos
            .catalogue
            .get_inventory_job(&id(), "inv_1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repos
            .catalogue
            .get_inventory_chunk(&id(), "inv_1", 0)
            .await
            .unwrap(),
        None
    );
    assert!(app
        .services
        .repos
        .orders
        .list_order_syncs(&id())
        .await
        .unwrap()
        .is_empty());
    let order = woolink::domain::OrderId::new(10);
    assert!(repos
        .shipments
        .list_shipments(&id(), order)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        repos
            .reconciliations
            .get_reconciliation(&id())
            .await
            .unwrap(),
        None
    );
    assert!(
        repos.links.get_link(&id()).await.unwrap().is_some(),
        "the link stays"
    );
}

async fn relink_after_disconnect_issues_new_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.acme_token().await;
    let first = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    let (k1, s1) = (
        first.body["apiKey"].as_str().unwrap().to_owned(),
        first.body["webhook"]["secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        disconnect(
            &app,
            Some(&k1),
            json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a1"}),
            ""
        )
        .await
        .status,
        200
    );
    // Even from another site and URL, once disconnected.
    let other = app
        .login_as("ACME", "ops@acme.test", PASSWORD, OTHER_DEVICE)
        .await;
    let other_token = other.body["token"].as_str().unwrap();
    let second = app
        .link(other_token, json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:10", "deviceId": OTHER_DEVICE}))
        .await;
    assert_eq!(second.status, 201, "{}", second.body);
    let (k2, s2) = (
        second.body["apiKey"].as_str().unwrap(),
        second.body["webhook"]["secret"].as_str().unwrap(),
    );
    assert_ne!(k1, k2);
    assert_ne!(s1, s2);
    let body = php_json(&order(1, "processing", "2026-11-23T18:00:00"));
    assert_eq!(
        deliver_signed(&app, "st_a1", "order.created", &body, s2)
            .await
            .status,
        200
    );
    // The old secret is not a "previous" one: a disconnect ended it.
    deliver_signed(&app, "st_a1", "order.created", &body, &s1)
        .await
        .error(401, "invalid_signature");
    app.get("/v1/stores/st_a1", Some(&k1))
        .await
        .error(401, "invalid_api_key");
    disconnect(
        &app,
        Some(&k1),
        json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a1"}),
        "",
    )
    .await
    .error(401, "invalid_api_key");
    assert_eq!(
        app.get("/v1/stores/st_a1", Some(k2)).await.body["status"],
        "connected"
    );
}

/// A webhook container elsewhere (its own cache, as another Lambda instance has) sees the
/// disconnect within its cache TTL, never later.
async fn another_containers_cache_lets_a_revoked_secret_through_for_at_most_its_ttl(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let token = app.acme_token().await;
    let linked = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    let (key, secret) = (
        linked.body["apiKey"].as_str().unwrap().to_owned(),
        linked.body["webhook"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let ttl = Duration::from_millis(800);
    let mut config = test_config(
        &app.base,
        woolink::outbound::OutboundPolicy::local_development(),
    );
    config.link_cache_ttl = ttl;
    let mut elsewhere = Intake::new(
        app.services.repos.links.clone(),
        app.services.repos.tenants.clone(),
        app.queue.clone(),
        &config,
    )
    .unwrap();
    elsewhere.secrets = woolink::crypto::KeyRing::ready(app.services.secrets.clone());
    let elsewhere = Arc::new(elsewhere);
    let body = php_json(&order(1, "processing", "2026-11-23T18:00:00"));
    let sig = woolink::intake::woo_signature(secret.as_bytes(), &body);
    let try_once = |intake: Arc<Intake>| {
        let (sig, body) = (sig.clone(), body.clone());
        async move {
            intake
                .accept(woolink::intake::UnverifiedDelivery {
                    store_id: id(),
                    topic: Some("order.created".into()),
                    signature: Some(sig),
                    body: body.into(),
                })
                .await
        }
    };
    assert!(
        try_once(elsewhere.clone()).await.is_ok(),
        "the link is now cached there"
    );
    let a = disconnect(
        &app,
        Some(&key),
        json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a1"}),
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    let disconnected_at = Instant::now();
    // When the refused attempt *started*: a reload of the link from the table may take a while
    // under load, and that time is not a window in which the secret was accepted.
    let refused_after = loop {
        let started = disconnected_at.elapsed();
        match try_once(elsewhere.clone()).await {
            Err(e) if e.kind() == woolink::ErrorKind::StoreDisconnected => break started,
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => {
                assert!(
                    disconnected_at.elapsed() <= ttl + Duration::from_millis(200),
                    "a revoked secret got through past the TTL"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert!(
        refused_after <= ttl + Duration::from_millis(200),
        "{refused_after:?}"
    );
}

both_backends!(
    disconnect_revokes_cleans_up_and_keeps_queued_orders,
    disconnect_refuses_the_wrong_caller,
    an_unreachable_store_does_not_block_the_disconnect,
    purge_erases_order_records_now,
    relink_after_disconnect_issues_new_secrets,
    another_containers_cache_lets_a_revoked_secret_through_for_at_most_its_ttl,
);
