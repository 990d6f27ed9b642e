//! Catching up with a store (issue 15) through its real entry points: the backfill route and
//! the link-time backfill carried out by catch-up jobs; the reconciliation poll (fan-out,
//! jobs, keyset paging) recovering orders whose webhooks were lost; webhook self-healing;
//! refused keys; and politeness to stores (rate limits with `Retry-After`, hosts that strip
//! the `Authorization` header). On both backends where the behaviour is not about timing.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::{json, Value};
use woolink::catchup::{poll_store, Polled};
use woolink::domain::StoreId;
use woolink::secrets::{seal, Sealing};

use crate::both_backends;
use crate::helpers::*;

fn st() -> StoreId {
    StoreId::parse("st_a1").unwrap()
}

/// Links ACME's st_a1 to `store` with its keys (and `extra` fields in the link body):
/// the answer.
async fn link_keyed(app: &TestApp, store: &FakeStore, extra: Value) -> Answer {
    let token = app.acme_token().await;
    let mut body = json!({"storeId": "st_a1", "storeUrl": store.url, "deviceId": DEVICE,
        "wooCommerce": {"consumerKey": CONSUMER_KEY, "consumerSecret": CONSUMER_SECRET}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.link(&token, body).await
}

/// A tenant, the whole pipeline, a healthy store, and st_a1 linked to it with keys.
async fn keyed_pipeline(backend: Backend) -> (FakeTenant, TestApp, FakeStore, Answer) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let linked = link_keyed(&app, &store, json!({})).await;
    (tenant, app, store, linked)
}

/// `GET /v1/stores/st_a1` until `done` holds for it.
async fn status_until(app: &TestApp, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = app.get("/v1/stores/st_a1", Some(key)).await.body;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the store's status never got there: {last}");
}

/// The order events the tenant accepted, per order id.
fn events_per_order(tenant: &FakeTenant) -> HashMap<u64, Vec<String>> {
    let mut per_order: HashMap<u64, Vec<String>> = HashMap::new();
    for c in tenant.accepted() {
        let event = c.json();
        per_order
            .entry(event["data"]["orderId"].as_u64().unwrap())
            .or_default()
            .push(event["type"].as_str().unwrap().to_owned());
    }
    per_order
}

/// Runs the catch-up jobs on the app's queue until none is left (for apps that do not run
/// them themselves).
async fn run_jobs(app: &TestApp) {
    let jobs = app.catch_up.jobs.clone();
    loop {
        let got = jobs
            .receive(10, std::time::Duration::from_millis(200))
            .await
            .unwrap();
        if got.is_empty() {
            return;
        }
        let failed = app.catch_up.handle_batch(&got).await;
        assert!(failed.is_empty(), "jobs failed: {failed:?}");
        let receipts: Vec<String> = got.iter().map(|m| m.receipt.clone()).collect();
        jobs.delete(&receipts).await.unwrap();
    }
}

/// A backfill asked for in the link body: the link answers with the run, the catch-up jobs
/// carry it (one page per job here, so every page after the first is a continuation) to
/// `done` as `GET /v1/stores/{id}` shows, and the tenant hears each in-scope order once.
/// The route then counts in a dry run and refuses what it must.
async fn a_backfill_asked_for_at_link_time_runs_through_its_jobs(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app =
        TestApp::pipeline_tuned(backend, &tenant, |c| c.catchup_pages_per_job = 1, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    for id in 1..=1_050u64 {
        let status = ["processing", "pending", "completed"][(id % 3) as usize];
        store.set_order(id, &php_json(&order(id, status, "2026-11-20T10:00:00")));
    }
    let linked = link_keyed(&app, &store, json!({"backfill": {}})).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let run = &linked.body["backfill"];
    assert_eq!(
        (&run["state"], &run["matched"], &run["statuses"]),
        (&json!("running"), &json!(350), &json!(["processing"])),
        "{run}"
    );
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();

    let status = status_until(&app, &key, |s| s["backfill"]["state"] != "running").await;
    let b = &status["backfill"];
    assert_eq!(
        (&b["state"], &b["queued"], &b["matched"], &b["error"]),
        (&json!("done"), &json!(350), &json!(350), &Value::Null),
        "{status}"
    );
    assert!(b["finishedAt"].is_string() && b["startedAt"].is_string());
    assert_eq!(store.pages_read(), [1, 2, 3, 4], "each page once");
    drained(&app).await;
    eventually("350 orders at the tenant", || {
        tenant.accepted().len() >= 350
    })
    .await;
    let per_order = events_per_order(&tenant);
    assert_eq!(per_order.len(), 350);
    assert!(per_order.keys().all(|id| id % 3 == 0), "only processing");
    assert!(
        per_order.values().all(|e| e == &["order.created"]),
        "once each"
    );

    // The route: a dry run counts what another selection would send.
    let path = "/v1/stores/st_a1/backfill";
    let dry = app
        .post_json(
            path,
            json!({"statuses": ["wc-completed", "pending"], "dryRun": true}),
            Some(&key),
        )
        .await;
    assert_eq!(
        (dry.status, dry.body.clone()),
        (200, json!({"matching": 700}))
    );
    // What it refuses, and how.
    let beta = app.token_for("BETA", "ops@beta.test").await;
    for (body, bearer, status, code) in [
        (json!({}), None, 401, "invalid_api_key"),
        (json!({}), Some(beta.as_str()), 404, "store_not_found"),
        (
            json!({"dry_run": true}),
            Some(key.as_str()),
            400,
            "invalid_request",
        ),
        (
            json!({"statuses": ["Processing!"]}),
            Some(key.as_str()),
            400,
            "invalid_request",
        ),
        (
            json!({"statuses": []}),
            Some(key.as_str()),
            400,
            "invalid_request",
        ),
        (
            json!({"createdAfter": "2026-11-02T00:00:00Z", "createdBefore": "2026-11-01T00:00:00Z"}),
            Some(key.as_str()),
            400,
            "invalid_request",
        ),
        (
            json!({"createdAfter": "last week"}),
            Some(key.as_str()),
            400,
            "invalid_request",
        ),
    ] {
        app.post_json(path, body.clone(), bearer)
            .await
            .error(status, code);
    }
    app.post_json("/v1/stores/st_nope/backfill", json!({}), Some(&key))
        .await
        .error(404, "store_not_found");
    // Nothing was started by any of them.
    let after = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(after["backfill"]["runId"], b["runId"]);

    // A backfill needs keys: asked for on a link without them, the link is refused whole.
    let token = app.acme_token().await;
    app.link(
        &token,
        json!({"storeId": "st_a2", "storeUrl": store.url, "deviceId": DEVICE, "backfill": {}}),
    )
    .await
    .error(400, "invalid_request");
}

both_backends!(a_backfill_asked_for_at_link_time_runs_through_its_jobs);

fn woo_time(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// 250 orders reach `processing` while 30 % of their webhooks are lost (dropped at random):
/// one scheduled poll (fan-out → a poll job per store → continuation jobs, two pages each)
/// finds every missing one, and the tenant ends with each order exactly once. 149 orders
/// share one second and 101 the next (a bulk edit), so the keyset paging must page within a
/// second. A second poll re-reads the overlap and changes nothing.
async fn the_poll_recovers_every_order_whose_webhook_was_lost(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app =
        TestApp::pipeline_tuned(backend, &tenant, |c| c.catchup_pages_per_job = 2, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let linked = link_keyed(&app, &store, json!({})).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let base = Utc::now() + chrono::Duration::seconds(60);
    let mut lost = Vec::new();
    for id in 1..=250u64 {
        let modified = woo_time(base + chrono::Duration::seconds((id / 150) as i64));
        let o = order(id, "processing", &modified);
        store.set_order(id, &php_json(&o));
        // A fixed pseudo-random 30 %: the same orders every run.
        if id.wrapping_mul(2_654_435_761) % 100 < 30 {
            lost.push(id);
        } else {
            send(&app, &secret, "order.created", &o).await;
        }
    }
    assert_eq!(lost.len(), 75, "the same 30 % every run");
    drained(&app).await;
    eventually("the delivered orders", || {
        events_per_order(&tenant).len() == 250 - lost.len()
    })
    .await;

    let stores = app.catch_up.fan_out().await.unwrap();
    assert_eq!(stores, 1, "one store with keys");
    eventually("every order at the tenant", || {
        events_per_order(&tenant).len() == 250
    })
    .await;
    drained(&app).await;
    // The last job only reads the last page (nothing new) and moves the watermark.
    let newest = woo_time(base + chrono::Duration::seconds(1));
    let status = status_until(&app, &key, |s| {
        s["reconciliation"]["watermark"] == newest.as_str()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let per_order = events_per_order(&tenant);
    assert!(
        per_order.values().all(|e| e == &["order.created"]),
        "once each"
    );
    let r = &status["reconciliation"];
    assert_eq!(r["recovered24h"], json!(lost.len()), "{status}");
    assert_eq!(r["lastError"], Value::Null);
    assert_eq!(status["webhooks"]["state"], "healthy", "{status}");
    assert!(status["lastWebhookAt"].is_string(), "{status}");
    // Webhooks lost orders: the store is degraded, and says why.
    assert_eq!(status["health"]["state"], "degraded", "{status}");
    assert_eq!(
        status["health"]["reasons"][0]["code"], "webhooks_missed",
        "{status}"
    );
    assert_eq!(
        status["health"]["reasons"].as_array().map(Vec::len),
        Some(1)
    );
    // Keyset paging: 4 pages for 250 orders (two of them within one second).
    let listings = store.pages_read();
    assert_eq!(listings, [1, 2, 1, 2], "pages read");

    // Again: the overlap re-reads all of them; the worker knows each; nothing new.
    let again = poll_store(&app.catch_up.ports(), &st(), None)
        .await
        .unwrap();
    assert_eq!((again.queued, again.pages), (200, 2), "{again:?}");
    drained(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(tenant.accepted().len(), 250);
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(status["reconciliation"]["recovered24h"], json!(lost.len()));
}

both_backends!(the_poll_recovers_every_order_whose_webhook_was_lost);

/// The store's woolink webhooks broken every way: one disabled (by WooCommerce after failed
/// deliveries), one paused, one deleted, one duplicated, and webhooks of another app and of
/// another woolink deployment beside them. The poll re-activates, recreates (with the link's current secret), de-duplicates,
/// leaves the other app's alone, and records it; the next poll finds them healthy.
async fn the_poll_repairs_woolinks_webhooks(backend: Backend) {
    let (_tenant, app, store, linked) = keyed_pipeline(backend).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivery = linked.body["webhook"]["deliveryUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let id_of = |topic: &str| {
        store
            .webhooks()
            .iter()
            .find(|h| h["topic"] == topic)
            .and_then(|h| h["id"].as_u64())
            .unwrap()
    };
    store.tamper_webhook(id_of("order.created"), Some("disabled"));
    store.tamper_webhook(id_of("order.updated"), Some("paused"));
    store.tamper_webhook(id_of("order.deleted"), None);
    let copy = store.add_webhook("order.restored", &delivery);
    let foreign = store.add_webhook("order.updated", "https://erp.example.com/hook");
    // Another woolink deployment (staging, say) that links a store of the same id.
    let staging = store.add_webhook(
        "order.created",
        "https://staging.example.com/v1/webhooks/woocommerce/st_a1",
    );

    let polled: Polled = poll_store(&app.catch_up.ports(), &st(), None)
        .await
        .unwrap();
    assert_eq!(polled.repairs, 4, "{polled:?}");
    let hooks = store.webhooks();
    let ours: Vec<&Value> = hooks
        .iter()
        .filter(|h| h["delivery_url"] == delivery.as_str())
        .collect();
    let mut topics: Vec<&str> = ours.iter().filter_map(|h| h["topic"].as_str()).collect();
    topics.sort_unstable();
    assert_eq!(
        topics,
        [
            "order.created",
            "order.deleted",
            "order.restored",
            "order.updated",
            "product.created",
            "product.deleted",
            "product.restored",
            "product.updated"
        ]
    );
    assert!(ours.iter().all(|h| h["status"] == "active"), "{ours:?}");
    assert!(
        hooks.iter().all(|h| h["id"] != copy),
        "the duplicate is gone"
    );
    assert!(
        hooks.iter().any(|h| h["id"] == foreign),
        "another app's webhook is left alone"
    );
    assert!(
        hooks.iter().any(|h| h["id"] == staging),
        "so is another deployment's"
    );
    let recreated = ours.iter().find(|h| h["topic"] == "order.deleted").unwrap();
    assert_eq!(
        recreated["secret"],
        secret.as_str(),
        "signed with the link's secret"
    );
    let link = app
        .services
        .repos
        .links
        .get_link(&st())
        .await
        .unwrap()
        .unwrap();
    let mut ids: Vec<u64> = ours.iter().filter_map(|h| h["id"].as_u64()).collect();
    let mut on_link = link.webhook_ids.clone();
    ids.sort_unstable();
    on_link.sort_unstable();
    assert_eq!(
        on_link, ids,
        "the link names the webhooks a disconnect must remove"
    );

    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(
        (&status["webhooks"]["state"], &status["webhooks"]["repairs"]),
        (&json!("repaired"), &json!(4)),
        "{status}"
    );
    assert!(status["webhooks"]["checkedAt"].is_string());
    let again = poll_store(&app.catch_up.ports(), &st(), None)
        .await
        .unwrap();
    assert_eq!(again.repairs, 0);
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(
        (&status["webhooks"]["state"], &status["webhooks"]["repairs"]),
        (&json!("healthy"), &json!(4))
    );
}

both_backends!(the_poll_repairs_woolinks_webhooks);

/// Keys the store stops accepting: the poll asks once (and once more in the query string, in
/// case the host lost the header), marks the store as needing attention with the reason, and
/// goes no further; working keys clear it.
async fn refused_keys_mark_the_store_for_attention(backend: Backend) {
    let (_tenant, app, store, linked) = keyed_pipeline(backend).await;
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    set_keys(&app, "ck_revoked", "cs_revoked").await;
    let before = store.calls().len();
    poll_store(&app.catch_up.ports(), &st(), None)
        .await
        .unwrap();
    let calls = store.calls().len() - before;
    assert!(calls <= 2, "{calls} calls: no retry storm");
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(status["health"]["state"], "attention_needed", "{status}");
    assert!(status["health"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("refused")));
    assert!(status["reconciliation"]["lastError"].is_string());

    set_keys(&app, CONSUMER_KEY, CONSUMER_SECRET).await;
    poll_store(&app.catch_up.ports(), &st(), None)
        .await
        .unwrap();
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(
        status["health"],
        json!({"state": "healthy", "reason": null, "reasons": []}),
        "{status}"
    );
    assert_eq!(status["keys"], "valid");
}

/// Puts other WooCommerce keys on st_a1's link (as if the merchant revoked or replaced them).
async fn set_keys(app: &TestApp, ck: &str, cs: &str) {
    let links = &app.services.repos.links;
    let mut link = links.get_link(&st()).await.unwrap().unwrap();
    let expected = link.revision;
    let secrets = &app.services.secrets;
    link.woo_keys = Some(woolink::model::WooKeys {
        consumer_key: seal(secrets, ck, Sealing::WooKey(&st())).unwrap(),
        consumer_secret: seal(secrets, cs, Sealing::WooSecret(&st())).unwrap(),
    });
    link.revision += 1;
    links.save_link(&link, Some(expected)).await.unwrap();
}

both_backends!(refused_keys_mark_the_store_for_attention);

/// A store that allows 2 calls a second and answers `429 Retry-After: 1` beyond: a backfill
/// of 450 orders still finishes, and woolink never calls it faster than its bucket (4/s,
/// burst 4: at most 8 calls in any second), nor before the second it was asked to wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_store_is_never_called_faster_than_its_bucket() {
    let app = TestApp::spawn_configured(Backend::Memory, |c| {
        c.store_rate = woolink::politeness::StoreRate {
            per_second: 4.0,
            burst: 4.0,
        };
    })
    .await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let linked = link_keyed(&app, &store, json!({})).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    for id in 1..=450u64 {
        store.set_order(
            id,
            &php_json(&order(id, "processing", "2026-11-20T10:00:00")),
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    store.misbehave(Misbehaviour {
        rate_limit: Some((2, 1)),
        ..Misbehaviour::default()
    });
    let from = store.calls().len();
    let started = app
        .post_json("/v1/stores/st_a1/backfill", json!({}), Some(&key))
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    run_jobs(&app).await;
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(
        (&status["backfill"]["state"], &status["backfill"]["queued"]),
        (&json!("done"), &json!(450)),
        "{status}"
    );
    let calls: Vec<std::time::Instant> = store.calls()[from..].iter().map(|c| c.at).collect();
    let second = std::time::Duration::from_secs(1);
    let mut limited = 0;
    for (i, at) in calls.iter().enumerate() {
        let window = calls[i..]
            .iter()
            .filter(|c| c.duration_since(*at) < second)
            .count();
        assert!(window <= 8, "{window} calls within a second of call {i}");
        // The store's own rule: more than 2 in the second up to this call is a 429.
        let recent = calls[..=i]
            .iter()
            .filter(|c| at.duration_since(**c) < second)
            .count();
        if recent > 2 {
            limited += 1;
            if let Some(next) = calls.get(i + 1) {
                assert!(
                    next.duration_since(*at) >= second,
                    "call {} came {:?} after a 429 asking for 1 s",
                    i + 1,
                    next.duration_since(*at)
                );
            }
        }
    }
    assert!(limited > 0, "the store did ask woolink to slow down");
}

/// A host that strips the `Authorization` header (a shared-hosting fault): the first call is
/// refused, the same keys in the query string work, and from then on this store is called
/// that way; another store of the same woolink keeps getting the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_strips_authorization_is_served_by_query_string() {
    let app = TestApp::spawn(Backend::Memory).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    store.misbehave(Misbehaviour {
        strips_authorization: true,
        ..Misbehaviour::default()
    });
    for id in 1..=3u64 {
        store.set_order(
            id,
            &php_json(&order(id, "processing", "2026-11-20T10:00:00")),
        );
    }
    let linked = link_keyed(&app, &store, json!({"backfill": {}})).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    run_jobs(&app).await;
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(status["backfill"]["queued"], json!(3), "{status}");
    let calls = store.calls();
    let by_query = |c: &StoreCall| {
        c.query
            .as_deref()
            .is_some_and(|q| q.contains("consumer_key=") && q.contains("consumer_secret="))
    };
    assert!(!by_query(&calls[0]), "the header first");
    assert!(
        calls[1..].iter().all(by_query),
        "then the query string, always"
    );

    let healthy = FakeStore::start(StoreMode::Healthy).await;
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a2", &healthy.url)
            .await
            .status,
        201
    );
    assert!(healthy
        .calls()
        .iter()
        .all(|c| !by_query(c) && c.auth.is_some()));
}

/// The poll's index: only connected links that hold keys, each once, however it is paged.
async fn the_poll_visits_exactly_the_linked_stores_with_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..30 {
        let id = format!("st_p{i:02}");
        install_link(&app, &id, "whsec-unused", i % 3 != 0).await;
    }
    // Two of the keyed ones disconnect.
    for i in [1, 2] {
        let id = StoreId::parse(&format!("st_p{i:02}")).unwrap();
        let links = &app.services.repos.links;
        let mut link = links.get_link(&id).await.unwrap().unwrap();
        let expected = link.revision;
        link.status = woolink::model::LinkStatus::Disconnected;
        link.revision += 1;
        links.save_link(&link, Some(expected)).await.unwrap();
    }
    let mut cursor = None;
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let (page, next) = app
            .services
            .repos
            .links
            .pollable_stores(cursor, 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.into_iter().map(|s| s.to_string()));
        calls += 1;
        assert!(calls < 100, "paging ends");
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    seen.sort();
    let expected: Vec<String> = (0..30)
        .filter(|i| i % 3 != 0 && ![1, 2].contains(i))
        .map(|i| format!("st_p{i:02}"))
        .collect();
    assert_eq!(seen, expected);
    let sent = app.catch_up.fan_out().await.unwrap();
    assert_eq!(sent, expected.len() as u64);
}

both_backends!(the_poll_visits_exactly_the_linked_stores_with_keys);

/// A message on the catch-up queue that is not a job is dropped (it never will be one), and
/// a job for a store that is gone does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_orphan_jobs_are_dropped() {
    let app = TestApp::spawn(Backend::Memory).await;
    for body in [
        "",
        "{}",
        r#"{"job":"poll"}"#,
        r#"{"job":"poll","storeId":"st_gone"}"#,
        r#"{"job":"backfill","storeId":"st_gone","runId":"bf_x"}"#,
    ] {
        app.catch_up.jobs.send(body.to_owned()).await.unwrap();
    }
    run_jobs(&app).await;
    assert_eq!(app.catch_up.jobs.depth().await.unwrap(), (0, 0));
}

/// A deactivated tenant's stores are not read: the poll skips them (their orders would only be
/// parked by the worker, again every period), and a backfill ends as failed with the reason.
async fn a_deactivated_tenants_stores_are_not_read(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_jobs_paused(backend, &tenant, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    store.set_order(1, &php_json(&order(1, "processing", "2026-11-20T10:00:00")));
    let linked = link_keyed(&app, &store, json!({})).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let started = woolink::catchup::start_backfill(
        &app.catch_up.ports().starting(),
        &st(),
        woolink::catchup::BackfillRequest::default(),
    )
    .await
    .unwrap();
    let woolink::catchup::Started::Running(run) = started else {
        panic!("a run")
    };
    woolink::admin::put_tenant(
        &app.services.admin(),
        woolink::admin::TenantSpec {
            code: woolink::domain::TenantCode::parse("ACME").unwrap(),
            name: "Acme Couriers".into(),
            active: false,
            fulfilment: Some((tenant.url.clone(), tenant.secret.clone())),
            document: None,
        },
    )
    .await
    .unwrap();
    let before = store.calls().len();
    let polled = poll_store(&app.catch_up.ports(), &st(), None)
        .await
        .unwrap();
    assert!(polled.skipped, "{polled:?}");
    let step = woolink::catchup::backfill_step(&app.catch_up.ports(), &st(), &run.run_id, 5)
        .await
        .unwrap();
    assert_eq!(step.run.state, woolink::model::BackfillState::Failed);
    assert_eq!(step.run.error.as_deref(), Some("the tenant is not active"));
    assert_eq!(store.calls().len(), before, "the store was not called");
    assert_eq!(app.queue.depth().await.unwrap(), (0, 0), "nothing queued");
}

both_backends!(a_deactivated_tenants_stores_are_not_read);

/// A store whose order list ignores `page` and `modified_after` (the same first page every
/// time, a million counted): the backfill ends as failed after three repeated pages instead
/// of reading forever, and the poll stops at once with the reason recorded.
async fn a_store_that_ignores_paging_cannot_keep_catch_up_busy(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_jobs_paused(backend, &tenant, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    for id in 1..=150u64 {
        let modified = woo_time(Utc::now() + chrono::Duration::seconds(60 + (id % 7) as i64));
        store.set_order(id, &php_json(&order(id, "processing", &modified)));
    }
    let linked = link_keyed(&app, &store, json!({})).await;
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    store.misbehave(Misbehaviour {
        ignores_paging: true,
        ..Misbehaviour::default()
    });
    let ports = app.catch_up.ports();
    let started = woolink::catchup::start_backfill(
        &ports.starting(),
        &st(),
        woolink::catchup::BackfillRequest::default(),
    )
    .await
    .unwrap();
    let woolink::catchup::Started::Running(run) = started else {
        panic!("a run")
    };
    let step = woolink::catchup::backfill_step(&ports, &st(), &run.run_id, 50)
        .await
        .unwrap();
    assert_eq!(step.run.state, woolink::model::BackfillState::Failed);
    assert!(
        step.run
            .error
            .as_deref()
            .is_some_and(|e| e.contains("repeats pages")),
        "{:?}",
        step.run
    );
    assert!(step.pages <= 5, "{} pages read", step.pages);
    assert_eq!(step.run.queued, 100, "the first page, once");

    let polled = poll_store(&ports, &st(), None).await.unwrap();
    assert!(polled.next.is_none() && polled.pages <= 2, "{polled:?}");
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert!(
        status["reconciliation"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("ignores modified_after")),
        "{status}"
    );
}

both_backends!(a_store_that_ignores_paging_cannot_keep_catch_up_busy);

/// Ten polls of one store at once (a slow poll meeting the next period's, a job delivered
/// twice): one runs, the others see the store held and do nothing.
async fn parallel_polls_of_a_store_run_once(backend: Backend) {
    let (_tenant, app, store, linked) = keyed_pipeline(backend).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    // A slow store, so that the polls overlap: one that starts after another has finished
    // may read the store again, and that is not what this test is about.
    store.misbehave(Misbehaviour {
        latency: Some(std::time::Duration::from_millis(300)),
        ..Misbehaviour::default()
    });
    let before = store.calls().len();
    let (ports, store_id) = (app.catch_up.ports(), st());
    let polls =
        futures::future::join_all((0..10).map(|_| poll_store(&ports, &store_id, None))).await;
    let ran = polls
        .iter()
        .filter(|p| p.as_ref().is_ok_and(|p| !p.skipped))
        .count();
    assert_eq!(ran, 1, "{polls:?}");
    let webhook_lists = store.calls()[before..]
        .iter()
        .filter(|c| c.method == "GET" && c.path == "/wp-json/wc/v3/webhooks")
        .count();
    assert_eq!(webhook_lists, 1, "the store was read by one poll");
}

both_backends!(parallel_polls_of_a_store_run_once);

/// An orders queue that refuses every send (woolink's own outage, not the store's).
struct DownQueue;

#[async_trait::async_trait]
impl woolink::queue::Queue for DownQueue {
    async fn send(&self, _: String) -> woolink::Result<String> {
        Err(woolink::Error::unavailable("the queue", "down"))
    }
    async fn send_delayed(&self, _: String, _: std::time::Duration) -> woolink::Result<String> {
        Err(woolink::Error::unavailable("the queue", "down"))
    }
    async fn receive(
        &self,
        _: usize,
        _: std::time::Duration,
    ) -> woolink::Result<Vec<woolink::queue::Received>> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &[String]) -> woolink::Result<()> {
        Ok(())
    }
    async fn change_visibility(&self, _: &str, _: std::time::Duration) -> woolink::Result<()> {
        Ok(())
    }
    async fn depth(&self) -> woolink::Result<(u64, u64)> {
        Ok((0, 0))
    }
}

/// The orders queue down while a poll reads the store: the poll fails (its job comes back),
/// lets go of the store at once, and does not blame the store.
async fn woolinks_own_outage_is_not_the_stores(backend: Backend) {
    let (_tenant, app, store, linked) = keyed_pipeline(backend).await;
    let key = linked.body["apiKey"].as_str().unwrap().to_owned();
    let modified = woo_time(Utc::now() + chrono::Duration::seconds(60));
    store.set_order(1, &php_json(&order(1, "processing", &modified)));
    let mut ports = app.catch_up.ports();
    ports.orders = &DownQueue;
    let e = poll_store(&ports, &st(), None).await.unwrap_err();
    assert_eq!(e.kind(), woolink::ErrorKind::Unavailable);
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(
        status["reconciliation"]["lastError"],
        Value::Null,
        "{status}"
    );
    assert_eq!(status["health"]["state"], "healthy", "{status}");
    // Let go: the next poll runs at once (with the queue back) and queues the order.
    let again = poll_store(&app.catch_up.ports(), &st(), None)
        .await
        .unwrap();
    assert!(!again.skipped && again.queued == 1, "{again:?}");
}

both_backends!(woolinks_own_outage_is_not_the_stores);
