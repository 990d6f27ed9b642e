//! Tenant operations (issue 20): an order's history through the real pipeline, the store's
//! counters kept on write (exact, and read in a fixed number of calls whatever the history),
//! and the tenant's lists with cursors, scopes and other tenants refused.

use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, Utc};
use futures::StreamExt;
use serde_json::{json, Value};
use woolink::admin::put_fixed_tenant_key;
use woolink::domain::{OrderId, Scope, StoreId, TenantCode};
use woolink::model::{OrderSync, SyncState};
use woolink::ports::OrderSyncs;
use woolink::store::DynamoStore;

use crate::both_backends;
use crate::helpers::*;

fn acme_key() -> String {
    format!("wlt_{}", "a1".repeat(20))
}
fn beta_key() -> String {
    format!("wlt_{}", "b2".repeat(20))
}
fn no_orders_key() -> String {
    format!("wlt_{}", "c3".repeat(20))
}

async fn keys(app: &TestApp) {
    let admin = app.services.admin();
    for (code, key, scopes) in [
        (
            "ACME",
            acme_key(),
            vec![Scope::StoresRead, Scope::OrdersRead],
        ),
        (
            "BETA",
            beta_key(),
            vec![Scope::StoresRead, Scope::OrdersRead],
        ),
        ("ACME", no_orders_key(), vec![Scope::StoresRead]),
    ] {
        put_fixed_tenant_key(&admin, &TenantCode::parse(code).unwrap(), &key, &scopes)
            .await
            .unwrap();
    }
}

fn kinds(timeline: &Value) -> Vec<String> {
    timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// An order refused once (503) and then accepted: its history names every step, with the
/// tenant's status and the attempt's latency, and the store's counters and lag follow.
async fn an_orders_history_tells_where_it_is_and_why(backend: Backend) {
    let tenant = FakeTenant::answering(&[503, 200]).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    keys(&app).await;
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(41, "pending", "2026-11-23T10:00:00"),
    )
    .await;
    send(
        &app,
        &secret,
        "order.updated",
        &order(41, "processing", "2026-11-23T10:00:05"),
    )
    .await;
    eventually("delivered after one refusal", || {
        tenant.accepted().len() == 1
    })
    .await;
    drained(&app).await;

    let a = app
        .get("/v1/tenant/stores/st_a1/orders/41", Some(&acme_key()))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let t = &a.body["timeline"];
    assert_eq!(
        kinds(t),
        ["received", "skipped", "received", "queued", "attempt", "attempt", "synced"],
        "{t:#}"
    );
    assert_eq!(t[0]["topic"], "order.created");
    assert_eq!(t[0]["status"], "pending");
    assert_eq!(t[0]["source"], "webhook");
    assert_eq!(t[1]["reason"], "status pending is not a trigger status");
    assert_eq!(t[2]["version"], "2026-11-23T10:00:05.000");
    assert_eq!(t[3]["event"], "order.created");
    assert_eq!(t[4]["status"], 503);
    assert_eq!(t[4]["error"], "tenant answered 503");
    assert!(t[4]["latencyMs"].is_u64());
    assert_eq!(t[5]["status"], 200);
    assert_eq!(t[5]["error"], Value::Null);
    let times: Vec<&str> = t
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert_eq!(a.body["order"]["state"], "synced");
    assert_eq!(a.body["order"]["attempts"], 2);
    assert_eq!(a.body["timelineDropped"], 0);
    assert_eq!(a.body["shipments"], json!([]));

    // The same store's status: counters kept on write, the delivery's lag, healthy.
    let s = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert_eq!(
        s["orders"],
        json!({"received": 1, "skipped": 0, "queued": 0, "synced": 1, "failed": 0, "deadLetters": 0}),
        "{s}"
    );
    assert_eq!(s["lag"]["deliveries"], 1, "{s}");
    assert!(s["lag"]["p99Ms"].is_u64(), "{s}");
    assert!(s["lastOrderAt"].is_string() && s["lastWebhookAt"].is_string());
    assert_eq!(s["health"]["state"], "healthy", "{s}");

    // Routes refuse what they should, as the rest of the tenant API does.
    app.get("/v1/tenant/stores/st_a1/orders/41", Some(&beta_key()))
        .await
        .error(404, "store_not_found");
    app.get("/v1/tenant/stores/st_a1/orders/41", Some(&no_orders_key()))
        .await
        .error(403, "insufficient_scope");
    app.get("/v1/tenant/stores/st_a1/orders/41", None)
        .await
        .error(401, "invalid_api_key");
    app.get("/v1/tenant/stores/st_a1/orders/42", Some(&acme_key()))
        .await
        .error(404, "order_not_found");
    app.get("/v1/tenant/stores/st_a1/orders/x", Some(&acme_key()))
        .await
        .error(404, "order_not_found");

    // Completed: the tenant hears of it, and the finished order's record now expires after
    // the retention period (90 days by default).
    send(
        &app,
        &secret,
        "order.updated",
        &order(41, "completed", "2026-11-23T10:00:09"),
    )
    .await;
    drained(&app).await;
    let a = app
        .get("/v1/tenant/stores/st_a1/orders/41", Some(&acme_key()))
        .await;
    let steps = kinds(&a.body["timeline"]);
    assert_eq!(
        &steps[steps.len() - 4..],
        ["received", "queued", "attempt", "synced"],
        "{}",
        a.body
    );
    assert_eq!(a.body["order"]["wooStatus"], "completed");
    let expires =
        chrono::DateTime::parse_from_rfc3339(a.body["order"]["expiresAt"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
    let days = (expires - Utc::now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.1).contains(&days), "{days} days");
}

both_backends!(an_orders_history_tells_where_it_is_and_why);

/// One base time for the records of a test (two hours ago).
fn base() -> chrono::DateTime<Utc> {
    static BASE: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| Utc::now() - ChronoDuration::hours(2))
}

/// A record as the worker would leave it, changed at `at` seconds past the base time.
fn record(store: &str, id: u64, state: SyncState, at: i64) -> OrderSync {
    let base = base();
    let mut o = OrderSync::first(
        StoreId::parse(store).unwrap(),
        OrderId::new(id),
        base + ChronoDuration::seconds(at),
    );
    o.state = state;
    o.woo_status = "processing".into();
    o.in_scope = state != SyncState::Skipped;
    // Tried once: a queued order waits for a retry (a first attempt in flight is not counted).
    o.attempts = u32::from(o.in_scope);
    o
}

async fn seed(orders: &dyn OrderSyncs, records: Vec<OrderSync>) {
    futures::stream::iter(records)
        .for_each_concurrent(16, |o| async move {
            orders.save_order_sync(&o, None).await.unwrap();
        })
        .await;
}

async fn all_pages(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
    let mut listed = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/tenant/stores/st_a1/orders?{query}"),
            Some(c) => format!("/v1/tenant/stores/st_a1/orders?{query}&cursor={c}"),
        };
        let a = app.get(&path, Some(&acme_key())).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        pages += 1;
        listed.extend(a.body["orders"].as_array().unwrap().iter().cloned());
        match a.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (listed, pages),
        }
        assert!(pages < 50, "pages never end");
    }
}

fn ids(listed: &[Value]) -> Vec<u64> {
    listed
        .iter()
        .map(|o| o["orderId"].as_u64().unwrap())
        .collect()
}

/// Lists by state page through every order once, most recently changed first, from the
/// index; `since` bounds them; bad parameters are 400s; other tenants see nothing.
async fn order_lists_page_by_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    keys(&app).await;
    let token = app.acme_token().await;
    app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    let orders = app.services.repos.orders.as_ref();
    let mut records = Vec::new();
    for id in 1..=23u64 {
        records.push(record("st_a1", id, SyncState::Failed, id as i64));
    }
    for id in 100..=130u64 {
        records.push(record("st_a1", id, SyncState::Synced, id as i64));
    }
    for id in 200..=204u64 {
        records.push(record("st_a1", id, SyncState::Skipped, id as i64));
    }
    // Another store's failed orders never show.
    records.push(record("st_a2", 7, SyncState::Failed, 7));
    seed(orders, records).await;

    let (failed, pages) = all_pages(&app, "state=failed&limit=10").await;
    assert_eq!(pages, 3);
    assert_eq!(
        ids(&failed),
        (1..=23).rev().collect::<Vec<_>>(),
        "newest change first, once each"
    );
    assert!(failed.iter().all(|o| o["state"] == "failed"));
    assert!(failed[0]["updatedAt"].is_string());

    let (synced, _) = all_pages(&app, "state=synced&limit=7").await;
    assert_eq!(ids(&synced), (100..=130).rev().collect::<Vec<_>>());

    // `since`: only orders changed at or after it.
    let since =
        (base() + ChronoDuration::seconds(120)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (recent, _) = all_pages(&app, &format!("state=synced&since={since}")).await;
    assert_eq!(ids(&recent), (120..=130).rev().collect::<Vec<_>>());

    // Without a state: every order (skipped ones too), newest id first.
    let (every, _) = all_pages(&app, "limit=20").await;
    let mut expected: Vec<u64> = (1..=23).chain(100..=130).chain(200..=204).collect();
    expected.reverse();
    assert_eq!(ids(&every), expected);

    let base = "/v1/tenant/stores/st_a1/orders";
    for (query, why) in [
        ("state=skipped", "not listed by state"),
        ("state=lost", "unknown state"),
        ("since=2026-11-30T00:00:00Z", "since without a state"),
        ("state=failed&since=yesterday", "not a time"),
        ("limit=0", "limit too small"),
        ("limit=101", "limit too large"),
        ("limit=ten", "limit not a number"),
        ("cursor=garbage", "a cursor never given"),
        (
            "state=failed&cursor=bzo1",
            "an order-id cursor on a state list",
        ),
        ("colour=red", "unknown parameter"),
        ("state=failed&state=synced", "a parameter twice"),
    ] {
        let a = app.get(&format!("{base}?{query}"), Some(&acme_key())).await;
        assert_eq!(a.status, 400, "{why}: {}", a.body);
        assert_eq!(a.body["error"]["code"], "invalid_request", "{why}");
    }
    app.get(&format!("{base}?state=failed"), Some(&beta_key()))
        .await
        .error(404, "store_not_found");
    app.get(&format!("{base}?state=failed"), Some(&no_orders_key()))
        .await
        .error(403, "insufficient_scope");

    // The tenant's stores, filtered by link status, in pages.
    let a = app
        .get("/v1/tenant/stores?limit=1", Some(&acme_key()))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["stores"][0]["storeId"], "st_a1");
    assert_eq!(a.body["stores"][0]["status"], "connected");
    let next = a.body["nextCursor"].as_str().unwrap().to_owned();
    let b = app
        .get(
            &format!("/v1/tenant/stores?limit=1&cursor={next}"),
            Some(&acme_key()),
        )
        .await;
    assert_eq!(b.body["stores"][0]["storeId"], "st_a2");
    assert_eq!(b.body["stores"][0]["status"], "unlinked");
    assert_eq!(b.body["nextCursor"], Value::Null, "{}", b.body);
    let c = app
        .get("/v1/tenant/stores?status=connected", Some(&acme_key()))
        .await;
    assert_eq!(
        c.body["stores"].as_array().map(Vec::len),
        Some(1),
        "{}",
        c.body
    );
    let beta = app.get("/v1/tenant/stores", Some(&beta_key())).await;
    assert_eq!(beta.body["stores"][0]["storeId"], "st_b1", "only its own");
    assert_eq!(beta.body["stores"].as_array().map(Vec::len), Some(1));
    app.get("/v1/tenant/stores?status=sleepy", Some(&acme_key()))
        .await
        .error(400, "invalid_request");
}

both_backends!(order_lists_page_by_state);

/// Counts the DynamoDB calls a client makes.
#[derive(Debug, Default, Clone)]
struct Calls(Arc<Mutex<u64>>);

impl aws_sdk_dynamodb::config::Intercept for Calls {
    fn name(&self) -> &'static str {
        "Calls"
    }
    fn read_before_transmit(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
}

/// The status of a store costs the same DynamoDB calls with 0 and with 5,000 orders, and its
/// counters are exact: every order written concurrently, in every state, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_status_reads_the_same_whatever_the_history() {
    let calls = Calls::default();
    let sdk = moto_sdk_config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(calls.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let table = unique_name("woolink-status");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let db = DynamoStore::new(client, table);
    let link = sample_link("st_big");
    let describe = || async {
        let before = *calls.0.lock().unwrap();
        let records = woolink::status::CatchUpRecords {
            backfills: &db,
            reconciliations: &db,
            catalogue: &db,
        };
        let s = woolink::status::describe_store(link.clone(), &db, records)
            .await
            .unwrap();
        (s, *calls.0.lock().unwrap() - before)
    };
    let (empty, calls_empty) = describe().await;
    assert_eq!(empty.tally.received, 0);

    let states = [
        SyncState::Skipped,
        SyncState::Queued,
        SyncState::Synced,
        SyncState::Failed,
    ];
    let records: Vec<OrderSync> = (1..=5_000u64)
        .map(|id| record("st_big", id, states[(id % 4) as usize], id as i64))
        .collect();
    seed(&db, records).await;
    // Half the queued ones move on to synced, as deliveries do.
    futures::stream::iter((1..=5_000u64).filter(|id| id % 4 == 1 && id % 8 == 1))
        .for_each_concurrent(16, |id| {
            let db = &db;
            async move {
                let mut o = db
                    .get_order_sync(&StoreId::parse("st_big").unwrap(), OrderId::new(id))
                    .await
                    .unwrap()
                    .unwrap();
                o.state = SyncState::Synced;
                o.revision += 1;
                db.save_order_sync(&o, Some(o.revision - 1)).await.unwrap();
            }
        })
        .await;

    let (full, calls_full) = describe().await;
    assert_eq!(calls_full, calls_empty, "no read grows with the history");
    assert!(calls_full <= 5, "{calls_full} calls");
    let t = &full.tally;
    assert_eq!(t.received, 5_000);
    assert_eq!(
        (t.skipped, t.queued, t.synced, t.failed),
        (1_250, 625, 1_875, 1_250)
    );
    assert_eq!(t.skipped + t.queued + t.synced + t.failed, t.received);
}

fn sample_link(store: &str) -> woolink::model::Link {
    use woolink::domain::*;
    let now = Utc::now();
    woolink::model::Link {
        store_id: StoreId::parse(store).unwrap(),
        tenant: TenantCode::parse("ACME").unwrap(),
        customer_id: CustomerId::parse("cus_1").unwrap(),
        store_url: StoreUrl::parse("https://shop.example.com").unwrap(),
        device_id: DeviceId::parse(&"d".repeat(64)).unwrap(),
        status: woolink::model::LinkStatus::Connected,
        trigger_statuses: vec![TriggerStatus::parse("processing").unwrap()],
        webhook_secret: None,
        previous_webhook_secret: None,
        previous_secret_until: None,
        api_key_hash: None,
        revoked_api_key_hash: None,
        woo_keys: None,
        webhook_ids: vec![],
        linked_at: now,
        updated_at: now,
        disconnected_at: None,
        paused_at: None,
        revision: 1,
    }
}

/// Every function's metrics are EMF lines of the specification's shape, dimensioned by tenant
/// (and the stack-wide series): an order refused once then accepted publishes its receipt,
/// queueing, both attempts' latency, its sync and its lag.
async fn metrics_are_emf_lines_per_tenant(backend: Backend) {
    woolink::metrics::capture();
    let tenant = FakeTenant::answering(&[503, 200]).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (_key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(77, "processing", "2026-11-23T10:00:00"),
    )
    .await;
    eventually("delivered", || tenant.accepted().len() == 1).await;
    drained(&app).await;
    let lines: Vec<Value> = woolink::metrics::captured()
        .iter()
        .map(|l| serde_json::from_str(l).expect("an EMF line is one JSON object"))
        .collect();
    for line in &lines {
        assert_emf_shape(line);
    }
    let named = |name: &str| {
        lines
            .iter()
            .filter(|l| l["Tenant"] == "ACME" && l.get(name).is_some())
            .count()
    };
    for name in [
        "OrdersReceived",
        "OrdersQueued",
        "OrdersSynced",
        "DeliveryLatency",
        "DeliveryLag",
    ] {
        assert!(named(name) >= 1, "{name} published: {lines:?}");
    }
    assert!(named("DeliveryLatency") >= 2, "each attempt");
    assert!(
        lines
            .iter()
            .all(|l| l.get("storeId").is_none() && l.get("Store").is_none()),
        "never dimensioned by store"
    );
}

both_backends!(metrics_are_emf_lines_per_tenant);

/// The EMF specification's shape: `_aws.Timestamp` in epoch ms; directives with a namespace,
/// dimension sets of at most 30 names each named at the top level as a string, 1-100 metrics
/// each with a known unit and a number at the top level.
fn assert_emf_shape(line: &Value) {
    let aws = &line["_aws"];
    assert!(
        aws["Timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{line}"
    );
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert!(!directives.is_empty());
    for d in directives {
        assert!(d["Namespace"]
            .as_str()
            .is_some_and(|n| !n.is_empty() && n.len() <= 255));
        for dims in d["Dimensions"].as_array().expect("dimension sets") {
            let dims = dims.as_array().expect("a dimension set");
            assert!(dims.len() <= 30);
            for n in dims {
                assert!(line[n.as_str().unwrap()].is_string(), "{n} named: {line}");
            }
        }
        let metrics = d["Metrics"].as_array().expect("metrics");
        assert!((1..=100).contains(&metrics.len()));
        for m in metrics {
            assert!(
                ["Count", "Milliseconds"].contains(&m["Unit"].as_str().unwrap()),
                "{m}"
            );
            assert!(line[m["Name"].as_str().unwrap()].is_number(), "{m}: {line}");
        }
    }
}

fn ops_key() -> String {
    format!("wlt_{}", "d4".repeat(20))
}
fn beta_ops_key() -> String {
    format!("wlt_{}", "e5".repeat(20))
}

/// ACME's and BETA's keys with every scope.
async fn ops_keys(app: &TestApp) {
    for (code, key) in [("ACME", ops_key()), ("BETA", beta_ops_key())] {
        put_fixed_tenant_key(
            &app.services.admin(),
            &TenantCode::parse(code).unwrap(),
            &key,
            &Scope::ALL,
        )
        .await
        .unwrap();
    }
}

/// A tenant, the pipeline, a healthy store holding order 61 (processing), st_a1 linked to it
/// with keys, the order delivered once; keys for ACME (every scope) and BETA.
async fn delivered_once(backend: Backend) -> (FakeTenant, TestApp, FakeStore, String) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    keys(&app).await;
    ops_keys(&app).await;
    let token = app.acme_token().await;
    let linked = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = order(61, "processing", "2026-11-23T10:00:00");
    store.set_order(61, &php_json(&body));
    send(&app, &secret, "order.created", &body).await;
    eventually("delivered once", || tenant.accepted().len() == 1).await;
    drained(&app).await;
    (tenant, app, store, secret)
}

/// Resend: the order as the store has it, a new effect (its own webhook-id) though the tenant
/// has it; audited; a second resend is another new effect; refusals are named.
async fn an_order_is_sent_again_as_a_new_effect(backend: Backend) {
    let (tenant, app, _store, _secret) = delivered_once(backend).await;
    let path = "/v1/tenant/stores/st_a1/orders/61/resend";
    let a = app.post_json(path, json!({}), Some(&ops_key())).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["resend"], "queued");
    eventually("resent", || tenant.accepted().len() == 2).await;
    drained(&app).await;
    let calls = tenant.accepted();
    let (first, again) = (calls[0].json(), calls[1].json());
    assert_eq!(again["type"], "order.updated", "the tenant had it");
    assert_eq!(again["data"]["orderId"], 61);
    assert_ne!(calls[0].webhook_id, calls[1].webhook_id, "a new effect");
    assert_eq!(first["data"]["orderId"], again["data"]["orderId"]);
    let h = app
        .get("/v1/tenant/stores/st_a1/orders/61", Some(&ops_key()))
        .await
        .body;
    let steps = kinds(&h["timeline"]);
    assert_eq!(
        &steps[steps.len() - 4..],
        ["received", "queued", "attempt", "synced"],
        "{h:#}"
    );
    assert_eq!(h["timeline"][steps.len() - 4]["source"], "resend");
    assert_eq!(h["order"]["state"], "synced");
    // Again: another new effect.
    app.post_json(path, json!({}), Some(&ops_key())).await;
    eventually("resent twice", || tenant.accepted().len() == 3).await;
    let ids: std::collections::HashSet<String> = tenant
        .accepted()
        .iter()
        .map(|c| c.webhook_id.clone())
        .collect();
    assert_eq!(ids.len(), 3);
    // Audited, newest first.
    let audit = app.get("/v1/tenant/audit", Some(&ops_key())).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "resend");
    assert_eq!(entries[0]["orderId"], 61);
    assert_eq!(entries[0]["storeId"], "st_a1");
    assert!(entries[0]["by"].as_str().unwrap().starts_with("tk_"));
    assert_eq!(
        app.get("/v1/tenant/audit", Some(&beta_key())).await.body["entries"],
        json!([]),
        "another tenant's trail is its own"
    );
    // Refusals.
    app.post_json(
        "/v1/tenant/stores/st_a1/orders/62/resend",
        json!({}),
        Some(&ops_key()),
    )
    .await
    .error(404, "order_not_found");
    app.post_json(path, json!({}), Some(&acme_key()))
        .await
        .error(403, "insufficient_scope");
    app.post_json(path, json!({}), Some(&beta_ops_key()))
        .await
        .error(404, "store_not_found");
}

both_backends!(an_order_is_sent_again_as_a_new_effect);

/// Pause holds the store's orders (received, not delivered); resume delivers them; trigger
/// statuses change for the next order without re-linking; every change is audited.
async fn pause_resume_and_trigger_statuses_without_relinking(backend: Backend) {
    let (tenant, app, store, secret) = delivered_once(backend).await;
    let settings = "/v1/tenant/stores/st_a1/settings";
    let a = app
        .patch_json(settings, json!({"paused": true}), Some(&ops_key()))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["settings"]["paused"], true);
    let s = app
        .get("/v1/tenant/stores/st_a1", Some(&ops_key()))
        .await
        .body;
    assert!(
        s["health"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "paused"),
        "{s}"
    );
    // Held while paused (the worker caches the link for 100 ms in the tests).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let body = order(63, "processing", "2026-11-23T11:00:00");
    store.set_order(63, &php_json(&body));
    send(&app, &secret, "order.created", &body).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert_eq!(tenant.accepted().len(), 1, "nothing delivered while paused");
    let a = app
        .patch_json(settings, json!({"paused": false}), Some(&ops_key()))
        .await;
    assert_eq!(a.body["settings"]["paused"], false, "{}", a.body);
    eventually("delivered on resume", || tenant.accepted().len() == 2).await;
    assert_eq!(tenant.accepted()[1].json()["data"]["orderId"], 63);

    // Trigger statuses: on-hold orders now go too, without re-linking.
    let a = app
        .patch_json(
            settings,
            json!({"triggerStatuses": ["processing", "on-hold", "on-hold"]}),
            Some(&ops_key()),
        )
        .await;
    assert_eq!(
        a.body["settings"]["triggerStatuses"],
        json!(["processing", "on-hold"]),
        "{}",
        a.body
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(64, "on-hold", "2026-11-23T12:00:00"),
    )
    .await;
    eventually("on-hold delivered", || tenant.accepted().len() == 3).await;
    // The same settings again change nothing (and are not audited again).
    app.patch_json(settings, json!({"paused": false}), Some(&ops_key()))
        .await;
    let entries = app.get("/v1/tenant/audit", Some(&ops_key())).await.body["entries"].clone();
    assert_eq!(entries.as_array().map(Vec::len), Some(3), "{entries}");
    assert_eq!(
        entries[0]["after"]["triggerStatuses"],
        json!(["processing", "on-hold"])
    );
    assert_eq!(
        entries[0]["before"]["triggerStatuses"],
        json!(["processing"])
    );
    assert_eq!(entries[2]["after"]["paused"], true);

    for (body, why) in [
        (json!({}), "nothing to change"),
        (json!({"triggerStatuses": []}), "no statuses"),
        (
            json!({"triggerStatuses": ["draft"]}),
            "drafts are not orders",
        ),
        (json!({"paused": "yes"}), "not a boolean"),
        (json!({"colour": "red"}), "unknown field"),
    ] {
        let a = app.patch_json(settings, body, Some(&ops_key())).await;
        assert_eq!(a.status, 400, "{why}: {}", a.body);
    }
    app.patch_json(settings, json!({"paused": true}), Some(&acme_key()))
        .await
        .error(403, "insufficient_scope");
    app.patch_json(settings, json!({"paused": true}), Some(&beta_ops_key()))
        .await
        .error(404, "store_not_found");
}

both_backends!(pause_resume_and_trigger_statuses_without_relinking);

/// Retry failed: every failed order of the store goes again (read from the store) and is
/// synced; a store linked without keys is told to redrive the dead-letter queue instead.
async fn failed_orders_are_retried(backend: Backend) {
    let tenant = FakeTenant::answering(&[400, 400, 400]).await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    ops_keys(&app).await;
    let token = app.acme_token().await;
    let linked = app.link_with_keys(&token, "st_a1", &store.url).await;
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [71, 72, 73] {
        let body = order(id, "processing", "2026-11-23T10:00:00");
        store.set_order(id, &php_json(&body));
        send(&app, &secret, "order.created", &body).await;
    }
    drained(&app).await;
    let s = app
        .get("/v1/tenant/stores/st_a1", Some(&ops_key()))
        .await
        .body;
    assert_eq!(s["orders"]["failed"], 3, "{s}");
    assert_eq!(s["health"]["state"], "attention_needed");
    let a = app
        .post_json(
            "/v1/tenant/stores/st_a1/orders/retry-failed",
            json!({}),
            Some(&ops_key()),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body, json!({"queued": 3, "nextCursor": null}));
    eventually("all three accepted", || tenant.accepted().len() == 3).await;
    drained(&app).await;
    let s = app
        .get("/v1/tenant/stores/st_a1", Some(&ops_key()))
        .await
        .body;
    assert_eq!(
        (&s["orders"]["failed"], &s["orders"]["synced"]),
        (&json!(0), &json!(3)),
        "{s}"
    );
    assert_eq!(s["health"]["state"], "healthy", "{s}");

    // Without keys there is no body to send again.
    let other = app.link_simple(&token, "st_a2", "http://127.0.0.1:9").await;
    assert_eq!(other.status, 201);
    let a = app
        .post_json(
            "/v1/tenant/stores/st_a2/orders/retry-failed",
            json!({}),
            Some(&ops_key()),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("dead-letter"));
}

both_backends!(failed_orders_are_retried);

/// The tenant moves its fulfilment endpoint itself: the next order goes there, signed with the
/// same secret; a private address is refused; audited; the scope is its own.
async fn the_tenant_moves_its_endpoint_for_the_next_order(backend: Backend) {
    let (old, app, _store, secret) = delivered_once(backend).await;
    let new = FakeTenant::sharing_secret_of(&old).await;
    let a = app
        .put_json(
            "/v1/tenant/fulfilment",
            json!({"url": new.url}),
            Some(&ops_key()),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["result"], "updated");
    let again = app
        .put_json(
            "/v1/tenant/fulfilment",
            json!({"url": new.url}),
            Some(&ops_key()),
        )
        .await;
    assert_eq!(again.body["result"], "unchanged");
    // The worker caches a tenant for 100 ms in the tests.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(65, "processing", "2026-11-23T13:00:00"),
    )
    .await;
    eventually("the new endpoint has it", || new.accepted().len() == 1).await;
    assert_eq!(old.accepted().len(), 1, "the old one got only the first");
    let entries = app.get("/v1/tenant/audit", Some(&ops_key())).await.body["entries"].clone();
    assert_eq!(entries[0]["action"], "fulfilment_endpoint", "{entries}");
    assert_eq!(entries[0]["before"]["url"], json!(old.url));
    assert_eq!(entries[0]["after"]["url"], json!(new.url));
    assert_eq!(
        entries.as_array().map(Vec::len),
        Some(1),
        "unchanged is not audited"
    );

    let refused = app
        .put_json(
            "/v1/tenant/fulfilment",
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            Some(&ops_key()),
        )
        .await;
    // The tests' policy allows loopback, never the metadata service.
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("refused"));
    for body in [
        json!({}),
        json!({"url": "not a url"}),
        json!({"url": 5}),
        json!({"url": "https://a.example", "secret": "x"}),
    ] {
        let a = app
            .put_json("/v1/tenant/fulfilment", body.clone(), Some(&ops_key()))
            .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
    }
    app.put_json(
        "/v1/tenant/fulfilment",
        json!({"url": new.url}),
        Some(&acme_key()),
    )
    .await
    .error(403, "insufficient_scope");
}

both_backends!(the_tenant_moves_its_endpoint_for_the_next_order);

/// Controls raced: 24 settings changes at once (pause, resume, trigger statuses) are each
/// applied once or found unchanged — no 5xx, no lost audit entry, the link's revision moved
/// once per entry; 10 resends at once are 10 new effects.
async fn controls_hold_under_parallel_requests(backend: Backend) {
    let (tenant, app, _store, _secret) = delivered_once(backend).await;
    let settings = "/v1/tenant/stores/st_a1/settings";
    let before = app
        .services
        .repos
        .links
        .get_link(&StoreId::parse("st_a1").unwrap())
        .await
        .unwrap()
        .unwrap()
        .revision;
    let bodies: Vec<Value> = (0..24)
        .map(|i| match i % 3 {
            0 => json!({"paused": true}),
            1 => json!({"paused": false}),
            _ => json!({"triggerStatuses": if i % 2 == 0 { json!(["processing"]) } else { json!(["processing", "on-hold"]) }}),
        })
        .collect();
    let key = ops_key();
    let answers = futures::future::join_all(
        bodies
            .iter()
            .map(|b| app.patch_json(settings, b.clone(), Some(&key))),
    )
    .await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let after = app
        .services
        .repos
        .links
        .get_link(&StoreId::parse("st_a1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let entries = app
        .get("/v1/tenant/audit?limit=100", Some(&ops_key()))
        .await
        .body["entries"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(
        after.revision - before,
        entries,
        "one audit entry per change the link took"
    );
    assert!(entries >= 1);

    // Ten resends at once: ten new effects (the tenant sees ten webhook-ids).
    app.patch_json(settings, json!({"paused": false}), Some(&ops_key()))
        .await;
    let answers = futures::future::join_all((0..10).map(|_| {
        app.post_json(
            "/v1/tenant/stores/st_a1/orders/61/resend",
            json!({}),
            Some(&key),
        )
    }))
    .await;
    assert!(answers.iter().all(|a| a.status == 202));
    eventually("ten more effects", || tenant.accepted().len() == 11).await;
    drained(&app).await;
    let ids: std::collections::HashSet<String> = tenant
        .accepted()
        .iter()
        .map(|c| c.webhook_id.clone())
        .collect();
    assert_eq!(ids.len(), 11, "each a new effect, none twice");
    let s = app
        .get("/v1/tenant/stores/st_a1", Some(&ops_key()))
        .await
        .body;
    assert_eq!(
        (
            &s["orders"]["received"],
            &s["orders"]["synced"],
            &s["orders"]["queued"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{s}"
    );
}

both_backends!(controls_hold_under_parallel_requests);
