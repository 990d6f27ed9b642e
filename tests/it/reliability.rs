//! WooCommerce's real misbehaviour at volume: thousands of signed deliveries for many orders
//! across 3 stores of 2 tenants, with exact duplicates, older versions arriving after newer
//! ones, and bad signatures. Fake tenants verify every signature and record effects by
//! `webhook-id`. Every order's latest version must arrive, no effect twice, nothing left over.
//!
//! Size: `WOOLINK_RELIABILITY_ORDERS` (default 2,100 in memory, which makes about 10,000
//! deliveries; 200 on moto). Each order makes 4 versions; on top come exact duplicates (about
//! 10 % of all deliveries), older versions after newer ones (about 5 %) and bad signatures
//! (about 2 %).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

struct Delivery {
    store: &'static str,
    /// `order.created` for an order's first version (and its repeats), as WooCommerce sends it.
    topic: &'static str,
    body: Vec<u8>,
    secret: String,
    /// A signature made with the wrong secret: must be refused with 401.
    forged: bool,
}

/// The 4 versions of an order: pending (out of scope), processing (created), a new address
/// (updated), a new phone (updated).
fn versions(id: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let base =
        |status: &str, minute: u32| order(id, status, &format!("2026-11-23T10:{minute:02}:00"));
    out.push(base("pending", 0));
    out.push(base("processing", 1));
    let mut v3 = base("processing", 2);
    v3["shipping"]["address_1"] = json!(format!("{id} Second Street"));
    out.push(v3.clone());
    let mut v4 = v3;
    v4["date_modified_gmt"] = json!("2026-11-23T10:03:00");
    v4["billing"]["phone"] = json!(format!("555-{id}"));
    out.push(v4);
    out
}

pub struct Figures {
    pub sent: usize,
    pub duplicates: usize,
    pub stale: usize,
    pub forged: usize,
    pub refused: usize,
    pub delivered_effects: usize,
    pub orders: usize,
    pub lost: usize,
    pub double_effects: usize,
    /// The same webhook-id received again (a redelivery the tenant deduplicates by id).
    pub redeliveries: usize,
    /// Stores whose counters (kept on write) differ from their order records counted one by one.
    pub counter_mismatches: usize,
}

async fn link_store(app: &TestApp, token: &str, store: &str, port: u16) -> String {
    let a = app
        .link_simple(token, store, &format!("http://127.0.0.1:{port}"))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["webhook"]["secret"].as_str().unwrap().to_owned()
}

/// `late_percent`: of ACME's calls, how many its endpoint acts on but answers only after the
/// worker's client timeout (0.5 s then, retries scaled to 1 s, 2 s …); 0: it answers at once.
pub async fn misbehaving_load(
    backend: Backend,
    orders: u64,
    concurrency: usize,
    late_percent: u64,
) -> Figures {
    let beta = FakeTenant::start().await;
    let (acme, app) = if late_percent == 0 {
        let acme = FakeTenant::start().await;
        let app = TestApp::pipeline(backend, &acme).await;
        (acme, app)
    } else {
        answering_too_late(backend, late_percent).await
    };
    app.set_fulfilment("BETA", "Beta Logistics", &beta.url, &beta.secret)
        .await;
    let acme_token = app.acme_token().await;
    let beta_token = app.token_for("BETA", "ops@beta.test").await;
    let secrets: HashMap<&str, String> = HashMap::from([
        ("st_a1", link_store(&app, &acme_token, "st_a1", 9).await),
        ("st_a2", link_store(&app, &acme_token, "st_a2", 10).await),
        ("st_b1", link_store(&app, &beta_token, "st_b1", 11).await),
    ]);
    let stores = ["st_a1", "st_a2", "st_b1"];

    // Waves: wave k carries version k of every order (so an order's versions are sent in
    // order), mixed with duplicates, stale versions and forgeries of earlier waves.
    let mut rng = Lcg(42);
    let mut waves: Vec<Vec<Delivery>> = (0..5).map(|_| Vec::new()).collect();
    let (mut duplicates, mut stale, mut forged) = (0, 0, 0);
    for id in 1..=orders {
        let store = stores[(id % 3) as usize];
        let secret = secrets[store].clone();
        let vs = versions(id);
        for (k, v) in vs.iter().enumerate() {
            let body = php_json(v);
            let topic = if k == 0 {
                "order.created"
            } else {
                "order.updated"
            };
            waves[k].push(Delivery {
                store,
                topic,
                body: body.clone(),
                secret: secret.clone(),
                forged: false,
            });
            if rng.chance(12) {
                duplicates += 1;
                waves[(k + 1).min(4)].push(Delivery {
                    store,
                    topic,
                    body: body.clone(),
                    secret: secret.clone(),
                    forged: false,
                });
            }
            if k > 0 && rng.chance(8) {
                stale += 1;
                let j = (rng.next() as usize) % k;
                let older = php_json(&vs[j]);
                waves[(k + 1).min(4)].push(Delivery {
                    store,
                    topic: if j == 0 {
                        "order.created"
                    } else {
                        "order.updated"
                    },
                    body: older,
                    secret: secret.clone(),
                    forged: false,
                });
            }
            if rng.chance(2) {
                forged += 1;
                waves[k].push(Delivery {
                    store,
                    topic,
                    body,
                    secret: "not-the-secret".into(),
                    forged: true,
                });
            }
        }
    }
    let sent: usize = waves.iter().map(Vec::len).sum();

    let mut refused = 0;
    for wave in waves {
        refused += send_wave(&app, wave, concurrency).await;
    }
    drain(&app, Duration::from_secs(300)).await;

    let (effects, distinct, redeliveries) = tally(&[("ACME", &acme), ("BETA", &beta)]);
    let (mut lost, mut double) = (0, 0);
    for id in 1..=orders {
        let tenant = if id % 3 == 2 { "BETA" } else { "ACME" };
        let Some(list) = effects.get(&(tenant.to_owned(), id)) else {
            lost += 1;
            continue;
        };
        let last = list
            .iter()
            .max_by_key(|e| e["data"]["dateModified"].as_str().unwrap_or("").to_owned())
            .unwrap();
        if last["data"]["billing"]["phone"] != json!(format!("555-{id}")) {
            lost += 1;
        }
        double += doubled(list);
    }
    // The counters each order write moved, against the records themselves.
    let mut counter_mismatches = 0;
    for store in secrets.keys() {
        let store = woolink::domain::StoreId::parse(store).unwrap();
        let orders = app.services.repos.orders.as_ref();
        let records = orders.list_order_syncs(&store).await.unwrap();
        let t = orders.get_tally(&store).await.unwrap();
        let count =
            |s: woolink::model::SyncState| records.iter().filter(|o| o.state == s).count() as i64;
        use woolink::model::SyncState::*;
        let truth = (
            records.len() as i64,
            count(Skipped),
            count(Queued),
            count(Synced),
            count(Failed),
        );
        let kept = (t.received, t.skipped, t.queued, t.synced, t.failed);
        if truth != kept {
            println!("{store}: counters {kept:?}, records {truth:?}");
            counter_mismatches += 1;
        }
    }
    Figures {
        sent,
        duplicates,
        stale,
        forged,
        refused,
        delivered_effects: distinct,
        orders: orders as usize,
        lost,
        double_effects: double,
        redeliveries,
        counter_mismatches,
    }
}

/// Sends one wave of deliveries at `concurrency`; every good one must be answered 200 and
/// every forged one 401. Returns how many were refused.
async fn send_wave(app: &TestApp, wave: Vec<Delivery>, concurrency: usize) -> usize {
    let refused = Arc::new(AtomicUsize::new(0));
    let wave = Arc::new(Mutex::new(wave.into_iter()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (wave, http, base, refused) = (
            wave.clone(),
            app.http.clone(),
            app.base.clone(),
            refused.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = wave.lock().unwrap().next();
                let Some(d) = next else { return };
                let sig = woolink::intake::woo_signature(d.secret.as_bytes(), &d.body);
                let r = http
                    .post(format!("{base}/v1/webhooks/woocommerce/{}", d.store))
                    .header("content-type", "application/json")
                    .header("x-wc-webhook-topic", d.topic)
                    .header("x-wc-webhook-signature", sig)
                    .body(d.body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                if d.forged {
                    assert_eq!(status, 401, "a bad signature must be refused");
                    refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    assert_eq!(status, 200, "a good delivery must be accepted");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    refused.load(Ordering::Relaxed)
}

/// Waits until nothing is visible or in flight in the orders queue, then checks that the
/// dead-letter queue is empty.
async fn drain(app: &TestApp, limit: Duration) {
    drained_within(app, limit).await;
    assert_eq!(
        app.dlq.depth().await.unwrap(),
        (0, 0),
        "nothing in the dead-letter queue"
    );
}

type Effects = BTreeMap<(String, u64), Vec<Value>>;

/// The tenants' accepted (2xx) calls as effects per (tenant, order), counted once per
/// `webhook-id`; every call's signature verified. Returns the effects, the number of
/// distinct webhook-ids and how many accepted calls repeated one.
fn tally(tenants: &[(&str, &FakeTenant)]) -> (Effects, usize, usize) {
    let mut effects: Effects = BTreeMap::new();
    let mut seen_ids = HashSet::new();
    let mut redeliveries = 0;
    for (tenant, fake) in tenants {
        for c in fake.calls() {
            assert!(c.verified, "every delivery's signature verifies");
            if !(200..300).contains(&c.answered) {
                continue;
            }
            if !seen_ids.insert(c.webhook_id.clone()) {
                redeliveries += 1;
                continue;
            }
            let v = c.json();
            let key = ((*tenant).to_owned(), v["data"]["orderId"].as_u64().unwrap());
            effects.entry(key).or_default().push(v);
        }
    }
    (effects, seen_ids.len(), redeliveries)
}

/// A distinct effect twice for one order: a second `order.created`, or two effects of one
/// version.
fn doubled(list: &[Value]) -> usize {
    let created = list.iter().filter(|e| e["type"] == "order.created").count();
    let versions: HashSet<_> = list
        .iter()
        .map(|e| e["data"]["dateModified"].clone())
        .collect();
    created.saturating_sub(1) + (list.len() - versions.len())
}

/// How many orders a run uses: the environment variable `name`, else the backend's default.
fn orders_from_env(name: &str, backend: Backend, memory: u64, dynamo: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(match backend {
            Backend::Memory => memory,
            Backend::Dynamo => dynamo,
        })
}

fn orders_for(backend: Backend) -> u64 {
    orders_from_env("WOOLINK_RELIABILITY_ORDERS", backend, 2100, 200)
}

async fn nothing_lost_nothing_doubled(backend: Backend) {
    let f = misbehaving_load(backend, orders_for(backend), 16, 0).await;
    println!(
        "reliability ({backend:?}): {} deliveries sent ({} duplicates, {} stale, {} bad signatures) for {} orders; \
         {} refused with 401; {} effects delivered; lost {}; double effects {}; redeliveries of one webhook-id {}",
        f.sent, f.duplicates, f.stale, f.forged, f.orders, f.refused, f.delivered_effects, f.lost, f.double_effects, f.redeliveries
    );
    assert_eq!(f.refused, f.forged);
    assert_eq!(f.lost, 0, "every order's latest version reached its tenant");
    assert_eq!(f.double_effects, 0, "no effect twice");
    assert_eq!(f.counter_mismatches, 0, "every store's counters are exact");
}

both_backends!(nothing_lost_nothing_doubled);

/// Two versions of each of `orders` orders of ACME's st_a1: `order.created` (processing),
/// then `order.updated` with a new city. Sent version by version.
async fn two_versions_each(app: &TestApp, secret: &str, orders: u64) {
    for k in 0..2 {
        let wave = (1..=orders)
            .map(|id| {
                let mut v = order(id, "processing", &format!("2026-11-23T10:0{k}:00"));
                if k == 1 {
                    v["shipping"]["city"] = json!(format!("City {id}"));
                }
                Delivery {
                    store: "st_a1",
                    topic: if k == 0 {
                        "order.created"
                    } else {
                        "order.updated"
                    },
                    body: php_json(&v),
                    secret: secret.to_owned(),
                    forged: false,
                }
            })
            .collect();
        send_wave(app, wave, 16).await;
    }
}

/// Every order's latest effect carries its second version (two effects, or one when the
/// versions collapsed while the tenant was failing), nothing twice; returns (lost, double
/// effects).
fn check_two_versions(tenant: &FakeTenant, orders: u64) -> (usize, usize) {
    let (effects, _, _) = tally(&[("ACME", tenant)]);
    let (mut lost, mut double) = (0, 0);
    for id in 1..=orders {
        let Some(list) = effects.get(&("ACME".to_owned(), id)) else {
            lost += 1;
            continue;
        };
        double += doubled(list);
        let latest = list
            .iter()
            .max_by_key(|e| e["data"]["dateModified"].as_str().unwrap_or("").to_owned())
            .map(|e| e["data"]["shipping"]["city"].clone());
        if latest != Some(json!(format!("City {id}"))) {
            lost += 1;
        }
    }
    (lost, double)
}

/// The deployed `maxReceiveCount` and a 0.5 s client timeout (stalls cost less test time).
fn deployed_retries_quick_timeout(c: &mut woolink::config::Config) {
    c.http_timeout = Duration::from_millis(500);
    c.max_receives = woolink::config::DEFAULT_MAX_RECEIVES;
}

fn fault_orders(backend: Backend) -> u64 {
    orders_from_env("WOOLINK_RELIABILITY_FAULT_ORDERS", backend, 500, 60)
}

/// The tenant answers 503 to 30 % of requests and stalls past the worker's client timeout
/// (0.5 s here) on 5 %: everything is delivered after retries, once, and the dead-letter
/// queue stays empty with the deployed `maxReceiveCount`.
async fn a_failing_and_stalling_tenant_still_gets_everything_once(backend: Backend) {
    let orders = fault_orders(backend);
    let tenant = FakeTenant::faulty(Faults {
        unavailable_percent: 30,
        stall_percent: 5,
        stall: Duration::from_millis(1500),
        ..Faults::default()
    })
    .await;
    let app =
        TestApp::pipeline_tuned(backend, &tenant, deployed_retries_quick_timeout, |_| {}).await;
    let (_, secret) = linked(&app).await;
    let started = Instant::now();
    two_versions_each(&app, &secret, orders).await;
    drain(&app, Duration::from_secs(600)).await;
    let calls = tenant.calls();
    let unavailable = calls.iter().filter(|c| c.answered == 503).count();
    let stalled = calls.iter().filter(|c| c.answered == STALLED).count();
    let (lost, double) = check_two_versions(&tenant, orders);
    println!(
        "faults ({backend:?}): {} deliveries for {orders} orders; tenant called {} times: {unavailable} answered 503, \
         {stalled} stalled past the timeout, {} accepted; lost {lost}; double effects {double}; {:.1} s",
        orders * 2,
        calls.len(),
        tenant.accepted().len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        unavailable > 0 && stalled > 0,
        "the faults happened: {unavailable} 503s, {stalled} stalls"
    );
    assert_eq!(lost, 0, "every version delivered");
    assert_eq!(double, 0, "no effect twice");
}

/// ACME's endpoint acting on `percent` % of calls but answering only after 1.5 s, past the
/// worker's 0.5 s client timeout; retries scaled down (1 s, 2 s, 2 s …), as for a tenant down.
async fn answering_too_late(backend: Backend, percent: u64) -> (FakeTenant, TestApp) {
    let tenant = FakeTenant::faulty(Faults {
        late_accept_percent: percent,
        stall: Duration::from_millis(1500),
        ..Faults::default()
    })
    .await;
    let app = TestApp::pipeline_tuned(backend, &tenant, deployed_retries_quick_timeout, |s| {
        s.backoff_base = Duration::from_secs(1);
        s.backoff_max = Duration::from_secs(2);
    })
    .await;
    (tenant, app)
}

/// The tenant acts on 20 % of requests but answers only after the worker's client timeout
/// (0.5 s here): the worker cannot know it was accepted. An order's second version, sent
/// right behind its first, must not reach the tenant as a second `order.created` when the
/// first's answer was lost: it waits until a retry of the first (the same `webhook-id`, which
/// the tenant recognises) settles what the tenant has, then goes as `order.updated`.
async fn a_tenant_that_answers_too_late_never_gets_an_order_twice(backend: Backend) {
    let orders = fault_orders(backend) / 2;
    let (tenant, app) = answering_too_late(backend, 20).await;
    let (_, secret) = linked(&app).await;
    let started = Instant::now();
    two_versions_each(&app, &secret, orders).await;
    drain(&app, Duration::from_secs(300)).await;
    let calls = tenant.calls();
    let late = calls.iter().filter(|c| c.late).count();
    let (lost, double) = check_two_versions(&tenant, orders);
    println!(
        "late answers ({backend:?}): {} deliveries for {orders} orders; tenant called {} times, {late} accepted but answered past the timeout; lost {lost}; double effects {double}; {:.1} s",
        orders * 2,
        calls.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(late > 0, "the late answers happened");
    assert_eq!(lost, 0, "every version delivered");
    assert_eq!(double, 0, "no order created twice, no version twice");
}

/// The misbehaving load above (duplicates, older versions after newer ones, forgeries, at
/// concurrency 16), to a tenant that acts on 10 % of calls but answers past the timeout: copies
/// of one body race to settle an unknown outcome while newer versions wait on it.
async fn the_misbehaving_load_to_a_tenant_that_answers_too_late(backend: Backend) {
    let orders = orders_from_env("WOOLINK_RELIABILITY_LATE_ORDERS", backend, 300, 60);
    let f = misbehaving_load(backend, orders, 16, 10).await;
    println!(
        "reliability, late answers ({backend:?}): {} deliveries sent ({} duplicates, {} stale, {} bad signatures) for {} orders; \
         {} effects delivered; lost {}; double effects {}; redeliveries of one webhook-id {}",
        f.sent, f.duplicates, f.stale, f.forged, f.orders, f.delivered_effects, f.lost, f.double_effects, f.redeliveries
    );
    assert_eq!(f.refused, f.forged);
    assert!(
        f.redeliveries > 0,
        "late answers made the worker send some id again"
    );
    assert_eq!(f.lost, 0, "every order's latest version reached its tenant");
    assert_eq!(f.double_effects, 0, "no effect twice");
    assert_eq!(f.counter_mismatches, 0, "every store's counters are exact");
}

/// The tenant's endpoint refuses connections for a while: the orders wait in the queue or
/// its slow lane (retried with backoff or parked there, never in the dead-letter queue) and
/// all arrive, once each, when it is back.
async fn a_tenant_down_for_a_while_gets_everything_when_back(backend: Backend) {
    let orders = fault_orders(backend) / 2;
    let mut tenant = FakeTenant::start().await;
    // SQS counts visibility in whole seconds: back off 1 s, 2 s, 2 s … (the deployed
    // worker's 10 s … 15 min, scaled down).
    let app = TestApp::pipeline_tuned(backend, &tenant, deployed_retries_quick_timeout, |s| {
        s.backoff_base = Duration::from_secs(1);
        s.backoff_max = Duration::from_secs(2);
    })
    .await;
    let (key, secret) = linked(&app).await;
    tenant.go_down().await;
    two_versions_each(&app, &secret, orders).await;

    // Down for 4 s: nothing arrives, nothing is parked, the orders say why they wait.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(tenant.calls().is_empty());
    // In the orders queue, or in its slow lane once the worker's gate for the tenant tripped.
    let (visible, in_flight) = app.queue.depth().await.unwrap();
    let (lane_visible, lane_later) = app.slow_lane.depth().await.unwrap();
    assert!(
        visible + in_flight + lane_visible + lane_later > 0,
        "the orders wait in the queues"
    );
    assert_eq!(app.dlq.depth().await.unwrap(), (0, 0), "nothing parked");
    // (Polled: between a new attempt's start and its failure the error is briefly unset.)
    order_status_until(&app, &key, 1, Duration::from_secs(5), |s| {
        s["state"] == "queued"
            && s["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("could not be reached"))
    })
    .await;

    let back = Instant::now();
    tenant.come_back().await;
    drain(&app, Duration::from_secs(300)).await;
    let (lost, double) = check_two_versions(&tenant, orders);
    println!(
        "tenant down ({backend:?}): {} deliveries for {orders} orders waited 4 s; drained {:.1} s after it came back; \
         lost {lost}; double effects {double}",
        orders * 2,
        back.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0, "every version delivered");
    assert_eq!(double, 0, "no effect twice");
}

both_backends!(
    a_failing_and_stalling_tenant_still_gets_everything_once,
    a_tenant_that_answers_too_late_never_gets_an_order_twice,
    the_misbehaving_load_to_a_tenant_that_answers_too_late,
    a_tenant_down_for_a_while_gets_everything_when_back
);
