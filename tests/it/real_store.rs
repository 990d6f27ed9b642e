//! The real-store tier: a real WordPress + WooCommerce 7.9 (with Advanced Shipment Tracking),
//! started by `scripts/test` from `WOOLINK_WOOCOMMERCE_STACK`, driven over its REST API while
//! woolink runs as `woolink dev` does (the local runner) on both backends. Every webhook here
//! is WooCommerce's own, sent by its own code, signed with its own signature.
//!
//! The tests share one store, so they take turns (`TURN`); each links its own woolink, works
//! on orders it creates, and disconnects (which removes its webhooks) before it ends.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// One test at a time on the shared store: webhooks are per store, not per test.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The store `scripts/test` started (the `start` script's JSON line, in the file named by
/// `WOOLINK_TEST_WOO_STACK`).
struct RealStore {
    url: String,
    key: String,
    secret: String,
    wp_dir: String,
    mail_log: String,
    tshirt: u64,
    hoodie: u64,
    hoodie_small: u64,
    /// WooCommerce's version (`7.9.0`, `10.5.0`).
    version: String,
    /// Core Order Fulfillments are on (10.1+, `WC_FULFILLMENTS=1`).
    fulfillments: bool,
    /// Advanced Shipment Tracking is active.
    ast: bool,
    /// HPOS order storage (else posts).
    hpos: bool,
    http: reqwest::Client,
}

impl RealStore {
    fn get() -> Self {
        let path = std::env::var("WOOLINK_TEST_WOO_STACK").unwrap_or_else(|_| {
            panic!(
                "WOOLINK_TEST_WOO_STACK is not set: run the tests with scripts/test, which \
                 starts the real WooCommerce store (WOOLINK_WOOCOMMERCE_STACK, default \
                 ../shared/woocommerce-stack) and points the tests at it"
            )
        });
        let line = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let s: Value = serde_json::from_str(line.trim()).expect("the stack's JSON line");
        let text = |v: &Value| v.as_str().expect("a string").to_owned();
        let simple = &s["products"]["simple"];
        let tshirt = simple
            .as_array()
            .and_then(|a| a.iter().find(|p| p["sku"] == "TSHIRT-001"))
            .expect("TSHIRT-001");
        let hoodie = &s["products"]["variable"];
        Self {
            url: text(&s["url"]),
            key: text(&s["consumer_key"]),
            secret: text(&s["consumer_secret"]),
            wp_dir: text(&s["wp_dir"]),
            mail_log: text(&s["mail_log"]),
            tshirt: tshirt["id"].as_u64().expect("id"),
            hoodie: hoodie["id"].as_u64().expect("id"),
            hoodie_small: hoodie["variations"]
                .as_array()
                .and_then(|a| a.iter().find(|v| v["sku"] == "HOODIE-S"))
                .and_then(|v| v["id"].as_u64())
                .expect("HOODIE-S"),
            version: text(&s["versions"]["woocommerce"]),
            fulfillments: s["features"]["fulfillments"] == true,
            ast: s["plugins"]
                .as_object()
                .is_some_and(|p| p.contains_key("woo-advanced-shipment-tracking")),
            hpos: s["order_storage"] == "hpos",
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    /// A REST call with the store's keys (Basic auth: the stack accepts it over http).
    async fn rest(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}/wp-json/{path}", self.url))
            .basic_auth(&self.key, Some(&self.secret));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("the store answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.rest(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {v}");
        v
    }

    /// A customer's order: two T-shirts and a small hoodie (a variation), cash on delivery.
    async fn create_order(&self, status: &str) -> Value {
        self.ok(
            reqwest::Method::POST,
            "wc/v3/orders",
            Some(json!({
                "status": status,
                "payment_method": "cod",
                "payment_method_title": "Cash on delivery",
                "billing": {"first_name": "Anna", "last_name": "Nowak", "address_1": "ul. Długa 5",
                    "city": "Kraków", "postcode": "31-001", "country": "PL",
                    "email": "anna@example.test", "phone": "+48 600 000 000"},
                "shipping": {"first_name": "Anna", "last_name": "Nowak", "address_1": "ul. Długa 5",
                    "city": "Kraków", "postcode": "31-001", "country": "PL"},
                "line_items": [
                    {"product_id": self.tshirt, "quantity": 2},
                    {"product_id": self.hoodie, "variation_id": self.hoodie_small, "quantity": 1}
                ],
                "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "10.00"}]
            })),
        )
        .await
    }

    /// A new order's id.
    async fn new_order(&self, status: &str) -> u64 {
        self.create_order(status).await["id"]
            .as_u64()
            .expect("an order id")
    }

    async fn update_order(&self, id: u64, change: Value) -> Value {
        self.ok(
            reqwest::Method::PUT,
            &format!("wc/v3/orders/{id}"),
            Some(change),
        )
        .await
    }

    /// The store's webhooks that deliver to `base` (a woolink instance).
    /// Deletes the store's webhooks to `base` (cleaning up as an operator would).
    async fn remove_webhooks_to(&self, base: &str) {
        for w in self.webhooks_to(base).await {
            let id = w["id"].as_u64().expect("id");
            self.ok(
                reqwest::Method::DELETE,
                &format!("wc/v3/webhooks/{id}?force=true"),
                None,
            )
            .await;
        }
    }

    async fn webhooks_to(&self, base: &str) -> Vec<Value> {
        let all = self
            .ok(reqwest::Method::GET, "wc/v3/webhooks?per_page=100", None)
            .await;
        all.as_array()
            .expect("a list")
            .iter()
            .filter(|w| {
                w["delivery_url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with(base))
            })
            .cloned()
            .collect()
    }

    /// Runs PHP `code` inside WordPress (as wp-admin's own code would run it): its output.
    fn wp_php(&self, code: &str) -> String {
        let code = format!(
            "define('WP_USE_THEMES', false); $_SERVER['HTTP_HOST'] = '127.0.0.1'; \
             require 'wp-load.php'; {code}"
        );
        let out = std::process::Command::new("php")
            .arg("-r")
            .arg(code)
            .current_dir(&self.wp_dir)
            .output()
            .expect("php runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What a shop manager's "Restore" in wp-admin does: `wp_untrash_post`, in WordPress.
    fn restore_from_trash(&self, id: u64) {
        // With HPOS orders are not posts: wp-admin's Restore is the order's own untrash.
        let code = if self.hpos {
            format!("$o = wc_get_order({id}); echo ($o && $o->untrash()) ? 'restored' : 'not restored';")
        } else {
            format!("echo wp_untrash_post({id}) ? 'restored' : 'not restored';")
        };
        let text = self.wp_php(&code);
        assert!(text.contains("restored") && !text.contains("not"), "{text}");
    }

    /// The API woolink writes tracking to on this store, as it names it (`method`).
    fn tracking_method(&self) -> &'static str {
        if self.fulfillments {
            "fulfillments"
        } else {
            "ast"
        }
    }

    /// Order `order`'s tracking entries in the store's own list (core fulfillments where they
    /// are on, else AST's): (store id, tracking number, carrier as the store shows it).
    async fn tracking_entries(&self, order: u64) -> Vec<(String, String, String)> {
        if self.fulfillments {
            let list = self
                .ok(
                    reqwest::Method::GET,
                    &format!("wc/v3/orders/{order}/fulfillments"),
                    None,
                )
                .await;
            return list
                .as_array()
                .expect("a list")
                .iter()
                .map(|f| {
                    let meta = |k: &str| {
                        meta_value(f, k)
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    };
                    (
                        f["id"].to_string(),
                        meta("_tracking_number"),
                        meta("_shipment_provider"),
                    )
                })
                .collect();
        }
        let list = self
            .ok(
                reqwest::Method::GET,
                &format!("wc-ast/v3/orders/{order}/shipment-trackings"),
                None,
            )
            .await;
        list.as_array()
            .expect("a list")
            .iter()
            .map(|t| {
                let text = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                (
                    text("tracking_id"),
                    text("tracking_number"),
                    text("tracking_provider"),
                )
            })
            .collect()
    }

    /// The order's `_fulfillment_status` meta (core saves it with each fulfillment change).
    async fn fulfillment_status(&self, order: u64) -> Option<String> {
        let o = self
            .ok(reqwest::Method::GET, &format!("wc/v3/orders/{order}"), None)
            .await;
        meta_value(&o, "_fulfillment_status").and_then(|v| v.as_str().map(str::to_owned))
    }

    /// The emails the store sent (the stack logs each: to, subject, size) since line `from`.
    fn mails_since(&self, from: usize) -> Vec<Value> {
        std::fs::read_to_string(&self.mail_log)
            .unwrap_or_default()
            .lines()
            .skip(from)
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn mail_count(&self) -> usize {
        self.mails_since(0).len()
    }
}

/// Every topic a link with keys registers, sorted (written out: what the store must show).
const SORTED_TOPICS: [&str; 8] = [
    "order.created",
    "order.deleted",
    "order.restored",
    "order.updated",
    "product.created",
    "product.deleted",
    "product.restored",
    "product.updated",
];

/// woolink (as `woolink dev` runs it) linked to the real store through the wizard with the
/// store's keys; returns the app and the link's API key.
async fn linked_to(real: &RealStore, backend: Backend, tenant: &FakeTenant) -> (TestApp, String) {
    let app = TestApp::pipeline(backend, tenant).await;
    let key = link_real(&app, real).await;
    let hooks = real.webhooks_to(&app.base).await;
    let mut topics: Vec<&str> = hooks.iter().filter_map(|w| w["topic"].as_str()).collect();
    topics.sort_unstable();
    assert_eq!(topics, SORTED_TOPICS);
    assert!(hooks.iter().all(|w| w["status"] == "active"), "{hooks:?}");
    (app, key)
}

/// Links ACME's st_a1 to the real store with its keys: the link's API key.
async fn link_real(app: &TestApp, real: &RealStore) -> String {
    let token = app.acme_token().await;
    let a = app
        .link(
            &token,
            json!({"storeId": "st_a1", "storeUrl": real.url, "deviceId": DEVICE,
                   "wooCommerce": {"consumerKey": real.key, "consumerSecret": real.secret}}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["apiKey"].as_str().expect("api key").to_owned()
}

/// One test's turn on the real store: woolink linked to it, a tenant listening.
struct Turn {
    real: RealStore,
    tenant: FakeTenant,
    app: TestApp,
    key: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

async fn take_turn(backend: Backend) -> Turn {
    let turn = TURN.lock().await;
    let real = RealStore::get();
    let tenant = FakeTenant::start().await;
    let (app, key) = linked_to(&real, backend, &tenant).await;
    Turn {
        real,
        tenant,
        app,
        key,
        _turn: turn,
    }
}

/// Disconnects as the plugin would; woolink removes its webhooks from the store.
async fn disconnect(real: &RealStore, app: &TestApp, key: &str) {
    let a = app
        .post_json(
            "/v1/connect/disconnect",
            json!({"storeUrl": real.url, "customerId": "cus_a1"}),
            Some(key),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(real.webhooks_to(&app.base).await.is_empty());
}

/// The tenant's events about one order, in arrival order.
fn events_of(tenant: &FakeTenant, order: u64) -> Vec<Value> {
    tenant
        .accepted()
        .iter()
        .map(TenantCall::json)
        .filter(|e| e["data"]["orderId"] == order)
        .collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn state_of(app: &TestApp, key: &str, order: u64) -> Value {
    app.get(&format!("/v1/stores/st_a1/orders/{order}"), Some(key))
        .await
        .body
}

/// An order's life in the real store: pending (nothing), paid (one `order.created` with real
/// SKUs and weights, the variation's own), an address edit and a billing edit (each an
/// `order.updated`, though WooCommerce keeps `date_modified_gmt`), a meta-only save and an AST
/// tracking number (nothing), cancelled (one `order.cancelled`).
async fn an_orders_life_in_the_real_store(backend: Backend) {
    let turn = take_turn(backend).await;
    let (real, tenant, app, key) = (&turn.real, &turn.tenant, &turn.app, turn.key.as_str());

    let created = real.create_order("pending").await;
    let id = created["id"].as_u64().expect("id");
    drained(app).await;
    assert!(
        events_of(tenant, id).is_empty(),
        "pending is not the tenant's business"
    );
    assert_eq!(state_of(app, key, id).await["state"], "skipped");

    let paid = real.update_order(id, json!({"status": "processing"})).await;
    drained(app).await;
    let events = events_of(tenant, id);
    assert_eq!(types(&events), ["order.created"]);
    let d = &events[0]["data"];
    assert_eq!(d["status"], "processing");
    assert_eq!(d["items"][0]["sku"], "TSHIRT-001");
    // A JSON integer (`2`, not `2.0`), as strict integer decoders take it.
    assert!(d["items"][0]["quantity"].is_u64(), "{d}");
    assert_eq!(d["items"][0]["quantity"], 2);
    assert_eq!(d["items"][1]["sku"], "HOODIE-S");
    assert_eq!(d["weightSource"], "store");
    assert_eq!(d["items"][0]["weight"], 0.25);
    assert_eq!(d["items"][1]["weight"], 0.8, "the variation's weight");
    assert_eq!(d["shipping"]["address1"], "ul. Długa 5");

    let moved = real
        .update_order(id, json!({"shipping": {"address_1": "ul. Floriańska 10"}}))
        .await;
    if real.hpos {
        // HPOS sets it on every save (the same second gives the same value).
        assert!(
            moved["date_modified_gmt"].as_str() >= paid["date_modified_gmt"].as_str(),
            "{moved}"
        );
    } else {
        assert_eq!(
            moved["date_modified_gmt"], paid["date_modified_gmt"],
            "WooCommerce keeps the timestamp on an address edit (posts storage)"
        );
    }
    drained(app).await;
    let events = events_of(tenant, id);
    assert_eq!(types(&events), ["order.created", "order.updated"]);
    assert_eq!(
        events[1]["data"]["shipping"]["address1"],
        "ul. Floriańska 10"
    );

    real.update_order(id, json!({"billing": {"phone": "+48 611 111 111"}}))
        .await;
    drained(app).await;
    let events = events_of(tenant, id);
    assert_eq!(types(&events).len(), 3, "{events:?}");
    assert_eq!(events[2]["type"], "order.updated");
    assert_eq!(events[2]["data"]["billing"]["phone"], "+48 611 111 111");

    real.update_order(
        id,
        json!({"meta_data": [{"key": "_gift_wrap", "value": "yes"}]}),
    )
    .await;
    let (status, tracking) = real
        .rest(
            reqwest::Method::POST,
            &format!("wc-shipment-tracking/v3/orders/{id}/shipment-trackings"),
            Some(json!({"tracking_provider": "UPS", "tracking_number": "1Z999AA10123456784"})),
        )
        .await;
    assert_eq!(status, 201, "{tracking}");
    drained(app).await;
    assert_eq!(
        events_of(tenant, id).len(),
        3,
        "a meta-only save and a tracking number change nothing for shipping"
    );

    real.update_order(id, json!({"status": "cancelled"})).await;
    drained(app).await;
    let events = events_of(tenant, id);
    assert_eq!(
        types(&events),
        [
            "order.created",
            "order.updated",
            "order.updated",
            "order.cancelled"
        ]
    );
    let ids: std::collections::HashSet<_> = tenant
        .accepted()
        .iter()
        .filter(|c| c.json()["data"]["orderId"] == id)
        .map(|c| c.webhook_id.clone())
        .collect();
    assert_eq!(ids.len(), 4, "each event once");
    let s = state_of(app, key, id).await;
    assert_eq!(s["state"], "synced");
    assert_eq!(s["wooStatus"], "cancelled");
    disconnect(real, app, key).await;
}

/// A checkout's quick succession: created pending and paid at once (often within one second,
/// so with one `date_modified_gmt`), then two address edits back to back. The tenant gets the
/// order once as created, and ends with the last address.
async fn quick_changes_in_the_real_store(backend: Backend) {
    let turn = take_turn(backend).await;
    let (real, tenant, app, key) = (&turn.real, &turn.tenant, &turn.app, turn.key.as_str());

    // Until the store has shown the same-second case at least twice (it usually does: a
    // request takes well under a second), and at least three times in all.
    let (mut rounds, mut same_second) = (0, 0);
    while rounds < 3 || (same_second < 2 && rounds < 12) {
        rounds += 1;
        let created = real.create_order("pending").await;
        let id = created["id"].as_u64().expect("id");
        let paid = real.update_order(id, json!({"status": "processing"})).await;
        if paid["date_modified_gmt"] == created["date_modified_gmt"] {
            same_second += 1;
        }
        real.update_order(id, json!({"shipping": {"address_1": "Rynek 1"}}))
            .await;
        real.update_order(id, json!({"shipping": {"address_1": "Rynek 2"}}))
            .await;
        drained(app).await;
        let events = events_of(tenant, id);
        let t = types(&events);
        assert_eq!(t[0], "order.created", "{t:?}");
        assert_eq!(t.iter().filter(|t| *t == "order.created").count(), 1);
        assert!(t[1..].iter().all(|t| t == "order.updated"), "{t:?}");
        let last = events.last().expect("an event");
        assert_eq!(last["data"]["shipping"]["address1"], "Rynek 2");
        assert_eq!(last["data"]["status"], "processing");
    }
    assert!(
        same_second >= 1,
        "the store never created and paid an order within one second in {rounds} tries"
    );
    // Created straight in processing (one request: order.created and order.updated alike).
    let id = real.new_order("processing").await;
    drained(app).await;
    assert_eq!(types(&events_of(tenant, id)), ["order.created"]);
    assert_eq!(state_of(app, key, id).await["state"], "synced");
    disconnect(real, app, key).await;
}

/// Trash (`order.deleted`, only the id) cancels the order at the tenant; the shop manager's
/// Restore (`order.restored`) brings it back as an update.
async fn trash_and_restore_in_the_real_store(backend: Backend) {
    let turn = take_turn(backend).await;
    let (real, tenant, app, key) = (&turn.real, &turn.tenant, &turn.app, turn.key.as_str());

    let id = real.new_order("processing").await;
    drained(app).await;
    real.ok(reqwest::Method::DELETE, &format!("wc/v3/orders/{id}"), None)
        .await;
    drained(app).await;
    assert_eq!(
        types(&events_of(tenant, id)),
        ["order.created", "order.cancelled"]
    );
    assert_eq!(state_of(app, key, id).await["wooStatus"], "trash");

    real.restore_from_trash(id);
    drained(app).await;
    let events = events_of(tenant, id);
    assert_eq!(
        types(&events),
        ["order.created", "order.cancelled", "order.updated"]
    );
    assert_eq!(events[2]["data"]["status"], "processing");
    disconnect(real, app, key).await;
}

/// WooCommerce never retries: it counts failed deliveries and, at the 7th in a row, disables
/// the webhook for good. Here woolink's intake refuses every delivery (410: the link was ended
/// while the store could not be reached, so its webhooks stayed behind) while the shop keeps
/// changing an order. Once the link is back, the next reconciliation poll re-activates the
/// webhook and recovers the order none of whose deliveries arrived; a webhook deleted and one
/// copied on the store are recreated and removed by the poll after.
async fn a_failing_webhook_is_disabled_by_the_real_store(backend: Backend) {
    let turn = take_turn(backend).await;
    let (real, tenant, app) = (&turn.real, &turn.tenant, &turn.app);
    let hooks = real.webhooks_to(&app.base).await;
    let updated = hooks
        .iter()
        .find(|w| w["topic"] == "order.updated")
        .and_then(|w| w["id"].as_u64())
        .expect("the order.updated webhook");
    let links = &app.services.repos.links;
    let store = woolink::domain::StoreId::parse("st_a1").unwrap();
    let mut link = links.get_link(&store).await.unwrap().expect("the link");
    let expected = link.revision;
    link.status = woolink::model::LinkStatus::Disconnected;
    link.disconnected_at = Some(chrono::Utc::now());
    link.revision += 1;
    links.save_link(&link, Some(expected)).await.unwrap();
    app.intake.cache.forget(&store);

    // Creating sends order.updated too: failure 1; then five edits: failures 2–6.
    let id = real.new_order("processing").await;
    for n in 2..=6 {
        real.update_order(id, json!({"customer_note": format!("edit {n}")}))
            .await;
    }
    let hook = |v: Value| v["status"].as_str().unwrap_or_default().to_owned();
    let path = format!("wc/v3/webhooks/{updated}");
    assert_eq!(
        hook(real.ok(reqwest::Method::GET, &path, None).await),
        "active",
        "six failures in a row are tolerated"
    );
    real.update_order(id, json!({"customer_note": "edit 7"}))
        .await;
    assert_eq!(
        hook(real.ok(reqwest::Method::GET, &path, None).await),
        "disabled",
        "the 7th disables it"
    );
    let (visible, in_flight) = app.queue.depth().await.unwrap();
    assert_eq!((visible, in_flight), (0, 0), "nothing was queued");
    assert!(events_of(tenant, id).is_empty());

    // The link is back (as after a fix); the next poll re-activates the webhook and
    // recovers the order whose every delivery was refused meanwhile.
    let mut link = links.get_link(&store).await.unwrap().expect("the link");
    let expected = link.revision;
    link.status = woolink::model::LinkStatus::Connected;
    link.disconnected_at = None;
    link.revision += 1;
    links.save_link(&link, Some(expected)).await.unwrap();
    app.intake.cache.forget(&store);
    let polled = woolink::catchup::poll_store(&app.catch_up.ports(), &store, None)
        .await
        .unwrap();
    assert_eq!(polled.repairs, 1, "{polled:?}");
    assert_eq!(
        hook(real.ok(reqwest::Method::GET, &path, None).await),
        "active",
        "re-activated by the poll"
    );
    eventually("the order recovered by the poll", || {
        !events_of(tenant, id).is_empty()
    })
    .await;
    let status = app.get("/v1/stores/st_a1", Some(&turn.key)).await.body;
    assert_eq!(status["webhooks"]["state"], "repaired", "{status}");
    assert!(
        status["reconciliation"]["recovered24h"].as_u64() >= Some(1),
        "{status}"
    );
    // And the webhook delivers again.
    real.update_order(id, json!({"status": "on-hold"})).await;
    eventually("the repaired webhook delivers", || {
        types(&events_of(tenant, id)).contains(&"order.updated".to_owned())
    })
    .await;

    // A webhook deleted on the store and another copied (a merchant's doing, a restored
    // backup): the next poll recreates the one and deletes the other, on the real store.
    let created = hooks
        .iter()
        .find(|w| w["topic"] == "order.created")
        .and_then(|w| w["id"].as_u64())
        .expect("the order.created webhook");
    real.ok(
        reqwest::Method::DELETE,
        &format!("wc/v3/webhooks/{created}?force=true"),
        None,
    )
    .await;
    let delivery = hooks[0]["delivery_url"].as_str().unwrap().to_owned();
    real.ok(
        reqwest::Method::POST,
        "wc/v3/webhooks",
        Some(
            json!({"name": "copy", "topic": "order.restored", "delivery_url": delivery,
                    "secret": "a-copied-secret", "status": "active"}),
        ),
    )
    .await;
    let polled = woolink::catchup::poll_store(&app.catch_up.ports(), &store, None)
        .await
        .unwrap();
    assert_eq!(polled.repairs, 2, "{polled:?}");
    let now_hooks = real.webhooks_to(&app.base).await;
    let mut topics: Vec<&str> = now_hooks
        .iter()
        .filter_map(|w| w["topic"].as_str())
        .collect();
    topics.sort_unstable();
    assert_eq!(topics, SORTED_TOPICS, "{now_hooks:?}");
    assert!(now_hooks.iter().all(|w| w["status"] == "active"));
    // The recreated webhook signs with the link's secret: its deliveries verify.
    let next = real.new_order("processing").await;
    eventually("an order through the recreated webhook", || {
        !events_of(tenant, next).is_empty()
    })
    .await;

    // Clean up as an operator would: the store's webhooks go with woolink's.
    real.remove_webhooks_to(&app.base).await;
}

/// After a disconnect the store holds none of woolink's webhooks and its later changes reach
/// nobody; an order delivered before stays as it was.
async fn disconnect_from_the_real_store(backend: Backend) {
    let turn = take_turn(backend).await;
    let (real, tenant, app, key) = (&turn.real, &turn.tenant, &turn.app, turn.key.as_str());
    let id = real.new_order("processing").await;
    drained(app).await;
    assert_eq!(types(&events_of(tenant, id)), ["order.created"]);

    disconnect(real, app, key).await;
    real.update_order(id, json!({"shipping": {"address_1": "Nowa 3"}}))
        .await;
    real.update_order(id, json!({"status": "completed"})).await;
    drained(app).await;
    assert_eq!(types(&events_of(tenant, id)), ["order.created"]);
}

/// Backfill against the real store: two orders that were already `processing` when the store
/// linked reach the tenant through the backfill; one that came after, by its webhook, is not
/// sent to the tenant a second time. Counted by the store (`X-WP-Total`) in a dry run first.
async fn orders_from_before_the_link_are_backfilled_from_the_real_store(backend: Backend) {
    let turn = TURN.lock().await;
    let real = RealStore::get();
    // No order of an earlier test in the seconds `since` covers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // WooCommerce's `after` is exclusive and to the second.
    let since = (chrono::Utc::now() - chrono::Duration::seconds(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let before = [
        real.new_order("processing").await,
        real.new_order("processing").await,
    ];
    let tenant = FakeTenant::start().await;
    let (app, key) = linked_to(&real, backend, &tenant).await;
    let after_link = real.new_order("processing").await;
    eventually("the webhook's order", || {
        !events_of(&tenant, after_link).is_empty()
    })
    .await;
    assert!(before.iter().all(|id| events_of(&tenant, *id).is_empty()));

    // Through the route, with the link's own API key, and the catch-up jobs of the app.
    let path = "/v1/stores/st_a1/backfill";
    let dry = app
        .post_json(
            path,
            json!({"createdAfter": since, "dryRun": true}),
            Some(&key),
        )
        .await;
    assert_eq!((dry.status, &dry.body), (200, &json!({"matching": 3})));
    let started = app
        .post_json(path, json!({"createdAfter": since}), Some(&key))
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["backfill"]["state"], "running");
    let mut status = Value::Null;
    for _ in 0..200 {
        status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
        if status["backfill"]["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = &status["backfill"];
    assert_eq!(
        (&b["state"], &b["queued"], &b["matched"]),
        (&json!("done"), &json!(3), &json!(3)),
        "{status}"
    );
    for id in before {
        eventually("a backfilled order", || !events_of(&tenant, id).is_empty()).await;
        assert_eq!(types(&events_of(&tenant, id)), ["order.created"]);
    }
    drained(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        types(&events_of(&tenant, after_link)),
        ["order.created"],
        "the webhook's order is not sent again"
    );
    disconnect(&real, &app, &key).await;
    drop(turn);
}

/// What the poll can and cannot recover, measured on the real store (classic order storage):
/// while every delivery is lost, a status change moves `date_modified_gmt` and the poll finds
/// it; an edit of the shipping address alone keeps `date_modified_gmt`, so once the watermark
/// is past the order (beyond the overlap) `modified_after` never lists it and the edit is not
/// recovered. (Overlap 1 s here so the test need not wait out the default 2 minutes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_poll_recovers_on_the_real_store() {
    let _turn = TURN.lock().await;
    let real = RealStore::get();
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_tuned(
        Backend::Memory,
        &tenant,
        |c| c.poll_overlap = Duration::from_secs(1),
        |_| {},
    )
    .await;
    let key = link_real(&app, &real).await;
    let store = woolink::domain::StoreId::parse("st_a1").unwrap();
    let first = real.new_order("processing").await;
    eventually("the first order by webhook", || {
        !events_of(&tenant, first).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = real.new_order("processing").await;
    eventually("the later order by webhook", || {
        !events_of(&tenant, later).is_empty()
    })
    .await;
    woolink::catchup::poll_store(&app.catch_up.ports(), &store, None)
        .await
        .unwrap();

    // Every delivery is lost from now on (the intake answers 410).
    set_connected(&app, &store, false).await;
    let path = format!("wc/v3/orders/{first}");
    let before = real.ok(reqwest::Method::GET, &path, None).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    real.update_order(
        first,
        json!({"shipping": {"address_1": "1 Moved Street", "city": "Elsewhere"}}),
    )
    .await;
    let after = real.ok(reqwest::Method::GET, &path, None).await;
    assert_eq!(after["shipping"]["address_1"], "1 Moved Street");
    if real.hpos {
        assert!(
            after["date_modified_gmt"].as_str() > before["date_modified_gmt"].as_str(),
            "an address edit moves date_modified_gmt (HPOS): {after}"
        );
    } else {
        assert_eq!(
            after["date_modified_gmt"], before["date_modified_gmt"],
            "an address edit keeps date_modified_gmt (posts storage)"
        );
    }
    real.update_order(later, json!({"status": "on-hold"})).await;
    set_connected(&app, &store, true).await;

    let polled = woolink::catchup::poll_store(&app.catch_up.ports(), &store, None)
        .await
        .unwrap();
    drained(&app).await;
    eventually("the status change, recovered", || {
        events_of(&tenant, later)
            .iter()
            .any(|e| e["data"]["status"] == "on-hold")
    })
    .await;
    let moved = || {
        events_of(&tenant, first)
            .iter()
            .any(|e| e.to_string().contains("1 Moved Street"))
    };
    if real.hpos {
        // HPOS moved the timestamp, so the poll finds the address edit too.
        eventually("the address edit, recovered (HPOS)", moved).await;
    } else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !moved(),
            "the address-only edit is invisible to modified_after ({polled:?})"
        );
    }
    let status = app.get("/v1/stores/st_a1", Some(&key)).await.body;
    assert!(
        status["reconciliation"]["recovered24h"].as_u64() >= Some(1),
        "{status}"
    );
    real.remove_webhooks_to(&app.base).await;
}

/// Marks st_a1's link connected or not (a disconnected link's deliveries are refused).
async fn set_connected(app: &TestApp, store: &woolink::domain::StoreId, connected: bool) {
    let links = &app.services.repos.links;
    let mut link = links.get_link(store).await.unwrap().unwrap();
    let expected = link.revision;
    link.status = if connected {
        woolink::model::LinkStatus::Connected
    } else {
        woolink::model::LinkStatus::Disconnected
    };
    link.disconnected_at = (!connected).then(chrono::Utc::now);
    link.revision += 1;
    links.save_link(&link, Some(expected)).await.unwrap();
    app.intake.cache.forget(store);
}

/// The tenant's controls read the real store: an order an endpoint refused (400, failed) is
/// retried, once the tenant has moved its endpoint, from what the store holds and synced; a
/// resend then delivers the store's current order (an address edited in the shop) as a new
/// effect; the order's history tells it all.
async fn the_tenants_controls_read_the_real_store(backend: Backend) {
    let _turn = TURN.lock().await;
    let real = RealStore::get();
    // Everything this endpoint gets is refused (the store's product webhooks too).
    let refusing = FakeTenant::answering(&[400; 64]).await;
    let tenant = FakeTenant::sharing_secret_of(&refusing).await;
    let (app, key) = linked_to(&real, backend, &refusing).await;
    let ops = format!("wlt_{}", "f7".repeat(20));
    woolink::admin::put_fixed_tenant_key(
        &app.services.admin(),
        &woolink::domain::TenantCode::parse("ACME").unwrap(),
        &ops,
        &woolink::domain::Scope::ALL,
    )
    .await
    .unwrap();
    let id = real.new_order("processing").await;
    drained(&app).await;
    assert_eq!(state_of(&app, &key, id).await["state"], "failed");
    let moved = app
        .put_json(
            "/v1/tenant/fulfilment",
            json!({"url": tenant.url}),
            Some(&ops),
        )
        .await;
    assert_eq!(moved.body["result"], "updated", "{}", moved.body);
    // The worker caches a tenant for 100 ms in the tests.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let a = app
        .post_json(
            "/v1/tenant/stores/st_a1/orders/retry-failed",
            json!({}),
            Some(&ops),
        )
        .await;
    assert_eq!(
        a.body,
        json!({"queued": 1, "nextCursor": null}),
        "{}",
        a.body
    );
    eventually("retried from the store", || {
        events_of(&tenant, id).len() == 1
    })
    .await;
    drained(&app).await;
    assert_eq!(types(&events_of(&tenant, id)), ["order.created"]);
    assert_eq!(state_of(&app, &key, id).await["state"], "synced");

    // An address edit keeps date_modified_gmt in this store; a resend sends what it holds now.
    real.update_order(id, json!({"shipping": {"address_1": "Rynek 9"}}))
        .await;
    drained(&app).await;
    let before = events_of(&tenant, id).len();
    let a = app
        .post_json(
            &format!("/v1/tenant/stores/st_a1/orders/{id}/resend"),
            json!({}),
            Some(&ops),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    eventually("resent", || events_of(&tenant, id).len() == before + 1).await;
    drained(&app).await;
    let events = events_of(&tenant, id);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "order.updated");
    assert_eq!(last["data"]["shipping"]["address1"], "Rynek 9");
    let calls = tenant.accepted();
    let ids: std::collections::HashSet<&str> =
        calls.iter().map(|c| c.webhook_id.as_str()).collect();
    assert_eq!(ids.len(), calls.len(), "every delivery its own webhook-id");
    let h = app
        .get(&format!("/v1/tenant/stores/st_a1/orders/{id}"), Some(&ops))
        .await
        .body;
    let sources: Vec<&str> = h["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "received")
        .filter_map(|s| s["source"].as_str())
        .collect();
    assert_eq!(sources.last(), Some(&"resend"), "{h:#}");
    assert!(
        sources.iter().filter(|s| **s == "resend").count() >= 2,
        "retry and resend: {sources:?}"
    );
    disconnect(&real, &app, &key).await;
}

both_backends!(
    the_tenants_controls_read_the_real_store,
    orders_from_before_the_link_are_backfilled_from_the_real_store,
    an_orders_life_in_the_real_store,
    quick_changes_in_the_real_store,
    trash_and_restore_in_the_real_store,
    a_failing_webhook_is_disabled_by_the_real_store,
    disconnect_from_the_real_store,
);

/// The order listing backfill and polling stand on, against the real store: pages in id
/// order with nothing missing or repeated, `X-WP-Total` and `X-WP-TotalPages` as WooCommerce
/// counts, each order's raw JSON with its id, and the status and creation-time filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_listed_in_pages_by_the_real_store() {
    use woolink::crypto::SecretString;
    use woolink::domain::StoreUrl;
    use woolink::outbound::OutboundPolicy;
    use woolink::woocommerce::{OrderQuery, WooClient, WooCredentials};

    let _turn = TURN.lock().await;
    let real = RealStore::get();
    // Two orders of our own, so the listing is never empty.
    for _ in 0..2 {
        real.new_order("processing").await;
    }
    let policy = OutboundPolicy::local_development();
    let woo = WooClient::new(policy.client(Duration::from_secs(10)).unwrap(), policy);
    let store = StoreUrl::parse(&real.url).unwrap();
    let creds = WooCredentials {
        consumer_key: SecretString::new(real.key.clone()),
        consumer_secret: SecretString::new(real.secret.clone()),
    };
    let processing = OrderQuery {
        statuses: vec!["processing".into()],
        ..OrderQuery::default()
    };
    let count = woo
        .orders_page(&store, &creds, &processing, 1, 1)
        .await
        .unwrap();
    assert!(count.total >= 2, "{count:?}");
    assert_eq!(count.total_pages, count.total, "one per page");

    let per_page = 5;
    let mut seen: Vec<u64> = Vec::new();
    let mut page = 1;
    loop {
        let p = woo
            .orders_page(&store, &creds, &processing, page, per_page)
            .await
            .unwrap();
        assert_eq!(p.total, count.total);
        assert_eq!(p.total_pages, count.total.div_ceil(per_page as u64));
        for o in &p.orders {
            let order: Value = serde_json::from_str(&o.raw).unwrap();
            assert_eq!(order["id"].as_u64(), Some(o.id));
            assert_eq!(order["status"], "processing");
            assert_eq!(order["date_modified_gmt"].as_str(), o.modified.as_deref());
        }
        seen.extend(p.orders.iter().map(|o| o.id));
        if page as u64 >= p.total_pages {
            break;
        }
        page += 1;
    }
    assert_eq!(
        seen.len() as u64,
        count.total,
        "nothing missing or repeated"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ids ascend: {seen:?}");

    // Created after the middle order: only the later ones.
    let middle = seen[seen.len() / 2];
    let order = real
        .ok(
            reqwest::Method::GET,
            &format!("wc/v3/orders/{middle}"),
            None,
        )
        .await;
    let created = order["date_created_gmt"].as_str().unwrap().to_owned();
    let after = OrderQuery {
        created_after: Some(created.clone()),
        ..processing.clone()
    };
    let later = woo
        .orders_page(&store, &creds, &after, 1, 100)
        .await
        .unwrap();
    for listed in &later.orders {
        let (id, o): (u64, Value) = (listed.id, serde_json::from_str(&listed.raw).unwrap());
        assert!(
            o["date_created_gmt"].as_str().unwrap() > created.as_str(),
            "order {id} created {} is not after {created}",
            o["date_created_gmt"]
        );
    }
}

/// The store-side half of tracking write-back (issue 16), against the real store: woolink's
/// client finds the API the store prefers (core fulfillments where they are on, else AST;
/// they answer 404 `rest_no_route` where they are not), and through each API the store has it
/// adds a tracking number that then shows in the store's own list, deletes it (twice: the
/// second is a no-op), and adds a customer-visible order note (the fallback of a store
/// without a tracking plugin).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_numbers_are_written_through_each_api_of_the_real_store() {
    use woolink::woocommerce::{
        FulfillmentItem, NewTracking, TrackingApi, WooClient, WooCredentials,
    };

    let _turn = TURN.lock().await;
    let real = RealStore::get();
    let order = real.new_order("processing").await;
    let policy = woolink::outbound::OutboundPolicy::local_development();
    let woo = WooClient::new(policy.client(Duration::from_secs(10)).unwrap(), policy);
    let url = woolink::domain::StoreUrl::parse(&real.url).unwrap();
    let creds = WooCredentials {
        consumer_key: woolink::crypto::SecretString::new(real.key.clone()),
        consumer_secret: woolink::crypto::SecretString::new(real.secret.clone()),
    };
    let api = woo.detect_tracking_api(&url, &creds, order).await.unwrap();
    let preferred = if real.fulfillments {
        TrackingApi::Fulfillments
    } else if real.ast {
        TrackingApi::Ast
    } else {
        TrackingApi::OrderNote
    };
    assert_eq!(
        api,
        preferred,
        "WooCommerce {} ({} storage)",
        real.version,
        if real.hpos { "HPOS" } else { "posts" }
    );

    let apis = [
        (real.fulfillments, TrackingApi::Fulfillments, "ups"),
        (real.ast, TrackingApi::Ast, "UPS"),
    ];
    for (_, api, provider) in apis.into_iter().filter(|(has, _, _)| *has) {
        let order = real.new_order("processing").await;
        let lines = real
            .ok(reqwest::Method::GET, &format!("wc/v3/orders/{order}"), None)
            .await;
        let first_line = lines["line_items"][0]["id"].as_u64().unwrap();
        let items = [FulfillmentItem {
            item_id: first_line,
            qty: 2,
        }];
        let added = woo
            .add_tracking(
                &url,
                &creds,
                api,
                order,
                &NewTracking {
                    provider,
                    custom: false,
                    link: None,
                    number: "1Z999AA10123456784",
                    date_shipped: Some("2026-11-30"),
                    items: &items,
                    skus: &[],
                    notify_customer: true,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{api:?}: {e}"));
        assert!(!added.tracking_id.is_empty());
        assert_eq!(added.tracking_number, "1Z999AA10123456784");
        // The store's own list.
        let own = match api {
            TrackingApi::Fulfillments => format!("wc/v3/orders/{order}/fulfillments"),
            // Through the Shipment Tracking namespace AST also serves.
            _ => format!("wc-shipment-tracking/v3/orders/{order}/shipment-trackings"),
        };
        let listed = real.ok(reqwest::Method::GET, &own, None).await;
        let entry = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| match api {
                TrackingApi::Fulfillments => t["id"].as_u64() == added.tracking_id.parse().ok(),
                _ => t["tracking_id"] == added.tracking_id.as_str(),
            })
            .unwrap_or_else(|| panic!("{api:?}: {listed}"))
            .clone();
        if api == TrackingApi::Fulfillments {
            let meta = |k: &str| meta_value(&entry, k);
            // What core's customer email and orders list show, and the link core knows.
            assert_eq!(meta("_shipment_provider"), Some(json!("ups")), "{entry}");
            assert_eq!(
                meta("_tracking_url"),
                Some(json!(
                    "https://www.ups.com/track?tracknum=1Z999AA10123456784"
                )),
                "{entry}"
            );
            assert_eq!(
                meta("_items"),
                Some(json!([{"item_id": first_line, "qty": 2}]))
            );
            assert_eq!(entry["status"], "fulfilled");
            // The order is partly fulfilled (core saves it with `_fulfillment_status`).
            assert_eq!(
                real.fulfillment_status(order).await.as_deref(),
                Some("partially_fulfilled")
            );
        }
        let ours = woo.list_trackings(&url, &creds, api, order).await.unwrap();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(ours[0].tracking_provider, provider);

        woo.delete_tracking(&url, &creds, api, order, &added.tracking_id)
            .await
            .unwrap();
        assert!(woo
            .list_trackings(&url, &creds, api, order)
            .await
            .unwrap()
            .is_empty());
        // Already gone (core's soft delete answers 400 with `"code": 404`): fine.
        woo.delete_tracking(&url, &creds, api, order, &added.tracking_id)
            .await
            .unwrap_or_else(|e| panic!("{api:?}: {e}"));
    }

    let note = woo
        .add_order_note(
            &url,
            &creds,
            order,
            "Shipped with UPS: 1Z999AA10123456784",
            true,
        )
        .await
        .unwrap();
    let notes = real
        .ok(
            reqwest::Method::GET,
            &format!("wc/v3/orders/{order}/notes"),
            None,
        )
        .await;
    let ours = notes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == note)
        .expect("the note");
    assert_eq!(ours["customer_note"], true);
}

/// The shipment writer against the real store: a tenant's shipment lands in the store's own
/// AST tracking list once, however often it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_is_written_once_to_the_real_store() {
    use woolink::domain::{OrderId, StoreId};
    use woolink::model::{Shipment, ShipmentState};

    let _turn = TURN.lock().await;
    let real = RealStore::get();
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(Backend::Memory, &tenant).await;
    link_real(&app, &real).await;
    let order = real.new_order("processing").await;
    let st = StoreId::parse("st_a1").unwrap();
    let shipment = Shipment {
        carrier: "USPS".into(),
        shipped_at: Some(chrono::Utc::now()),
        items: vec![],
        ..shipment_of("st_a1", order, "sh-real-1", "9400111899562537866361")
    };
    app.services
        .repos
        .shipments
        .save_shipment(&shipment, None)
        .await
        .unwrap();
    let ports = app.shipments.writing();
    let done = woolink::shipments::write_shipment(&ports, &st, OrderId::new(order), "sh-real-1")
        .await
        .unwrap();
    assert_eq!(
        (done.state, done.method.as_deref()),
        (ShipmentState::Written, Some(real.tracking_method())),
        "{:?}",
        done.last_error
    );
    // Written again from a fresh record (as after a crash before the record was saved).
    let mut replay = shipment.clone();
    replay.revision = done.revision + 1;
    replay.state = ShipmentState::Pending;
    app.services
        .repos
        .shipments
        .save_shipment(&replay, Some(done.revision))
        .await
        .unwrap();
    let again = woolink::shipments::write_shipment(&ports, &st, OrderId::new(order), "sh-real-1")
        .await
        .unwrap();
    assert_eq!(
        again.store_tracking_id, done.store_tracking_id,
        "adopted, not added"
    );
    let list = real.tracking_entries(order).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].1, "9400111899562537866361");
    // AST's own carrier name, or core's slug.
    let usps = if real.fulfillments { "usps" } else { "USPS" };
    assert_eq!(list[0].2, usps);
    real.remove_webhooks_to(&app.base).await;
}

/// Issue 16 against the real store (AST 3.9.2 on WooCommerce 7.9), through the tenant's own
/// route: shipments appear in the store's AST tracking list with AST's own carrier names; the
/// first (the T-shirts) moves the order to AST's `partial-shipped` (its setting on), the
/// second (the hoodie) to `completed`; the customer's emails are sent, and the completed-order
/// email WooCommerce renders carries both tracking numbers; a deleted shipment leaves the
/// store's list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_shipments_reach_the_real_store() {
    use woolink::domain::{Scope, TenantCode};

    let t = take_turn(Backend::Memory).await;
    let (real, app) = (&t.real, &t.app);
    // AST's "Partially Shipped" status, as a merchant switches it on in AST's settings.
    let on = real.wp_php(
        "$s = get_option('ast_general_settings', array()); \
         $s['wc_ast_status_partial_shipped'] = 1; update_option('ast_general_settings', $s); \
         echo 'on';",
    );
    assert_eq!(on, "on");
    let created = real.create_order("processing").await;
    let order = created["id"].as_u64().unwrap();
    order_status_until(app, &t.key, order, Duration::from_secs(20), |s| {
        s["state"] == "synced"
    })
    .await;
    let key = format!("wlt_{}", "e5".repeat(20));
    woolink::admin::put_fixed_tenant_key(
        &app.services.admin(),
        &TenantCode::parse("ACME").unwrap(),
        &key,
        &[Scope::ShipmentsWrite, Scope::ShipmentsRead],
    )
    .await
    .unwrap();
    let path = format!("/v1/tenant/stores/st_a1/orders/{order}/shipments");
    let settled = |id: &'static str| {
        let path = path.clone();
        let key = key.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let list = app.get(&path, Some(&key)).await.body;
                if let Some(s) = list["shipments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["id"] == id && s["state"] != "pending")
                {
                    return s.clone();
                }
                assert!(std::time::Instant::now() < deadline, "{id}: {list}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let mails_before = real.mail_count();
    let order_status = || async {
        real.ok(reqwest::Method::GET, &format!("wc/v3/orders/{order}"), None)
            .await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let post = |body: Value| {
        let (path, key) = (path.clone(), key.clone());
        async move { app.post_json(&path, body, Some(&key)).await }
    };

    let first = post(
        json!({"shipmentId": "real-1", "trackingNumber": "1Z999AA10123456784",
        "carrier": "ups", "items": [{"sku": "TSHIRT-001", "quantity": 2}]}),
    )
    .await;
    assert_eq!(first.status, 202, "{}", first.body);
    let one = settled("real-1").await;
    assert_eq!(
        (one["state"].as_str(), one["method"].as_str()),
        (Some("written"), Some(real.tracking_method())),
        "{one}"
    );
    assert_eq!(one["orderStatus"], "partial-shipped", "{one}");
    let entries = real.tracking_entries(order).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].1, "1Z999AA10123456784");
    // AST's own carrier, or core's slug (what its email and orders list show).
    let ups = if real.fulfillments { "ups" } else { "UPS" };
    assert_eq!(entries[0].2, ups, "{entries:?}");
    assert_eq!(one["storeTrackingId"], entries[0].0.as_str());
    assert_eq!(order_status().await, "partial-shipped");
    if real.fulfillments {
        assert_eq!(
            real.fulfillment_status(order).await.as_deref(),
            Some("partially_fulfilled")
        );
    }

    let second = post(
        json!({"shipmentId": "real-2", "trackingNumber": "JD014600003828491234",
        "carrier": "DHL", "items": [{"sku": "HOODIE-S", "quantity": 1}]}),
    )
    .await;
    assert_eq!(second.status, 202, "{}", second.body);
    let two = settled("real-2").await;
    assert_eq!(two["orderStatus"], "completed", "{two}");
    assert_eq!(order_status().await, "completed");
    let entries = real.tracking_entries(order).await;
    let providers: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    let expected = if real.fulfillments {
        ["ups", "dhl"]
    } else {
        ["UPS", "DHL Express"]
    };
    assert_eq!(providers, expected, "{entries:?}");
    if real.fulfillments {
        assert_eq!(
            real.fulfillment_status(order).await.as_deref(),
            Some("fulfilled")
        );
    }

    // The customer was emailed: the order completed (and AST's partial-shipped mail).
    let mails = real.mails_since(mails_before);
    let to_customer: Vec<&str> = mails
        .iter()
        .filter(|m| m["to"] == "anna@example.test")
        .filter_map(|m| m["subject"].as_str())
        .collect();
    // "… order is now complete" (7.9), "… is on its way!" (10.5's email improvements).
    assert!(
        to_customer
            .iter()
            .any(|s| s.contains("complete") || s.contains("is on its way")),
        "{mails:?}"
    );
    if real.fulfillments {
        // Core's own "has been fulfilled" email, once per shipment (the tenant asked to
        // notify the customer): it names the carrier and carries the tracking link.
        let fulfilled = to_customer
            .iter()
            .filter(|s| s.contains("fulfilled"))
            .count();
        assert_eq!(fulfilled, 2, "{mails:?}");
    } else {
        // The completed-order email as WooCommerce renders it for this order carries both
        // tracking numbers (AST adds them to it).
        let html = real.wp_php(&format!(
            "$m = WC()->mailer()->emails['WC_Email_Customer_Completed_Order']; \
         $m->object = wc_get_order({order}); $m->recipient = 'anna@example.test'; \
         echo $m->get_content_html();"
        ));
        assert!(
            html.contains("1Z999AA10123456784") && html.contains("JD014600003828491234"),
            "{html}"
        );
    }

    // Deleted: gone from the store's list, then from woolink's.
    let gone = app.delete(&format!("{path}/real-1"), Some(&key)).await;
    assert_eq!(gone.status, 202, "{}", gone.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = real.tracking_entries(order).await;
        let mine = app.get(&path, Some(&key)).await.body;
        if left.len() == 1 && mine["shipments"].as_array().unwrap().len() == 1 {
            assert_eq!(left[0].1, "JD014600003828491234");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left:?} {mine}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    disconnect(real, app, &t.key).await;
}

/// The tenant's stock snapshot for st_a1 (`PUT /v1/tenant/stores/st_a1/inventory`), waited
/// for: the finished job.
async fn push_inventory(
    app: &TestApp,
    key: &str,
    snapshot: chrono::DateTime<chrono::Utc>,
    items: Value,
) -> Value {
    let pushed = Answer::from(
        app.http
            .put(app.url("/v1/tenant/stores/st_a1/inventory"))
            .bearer_auth(key)
            .json(&json!({"snapshotAt": snapshot.to_rfc3339(), "items": items}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(pushed.status, 202, "{}", pushed.body);
    let id = pushed.body["job"]["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job = app
            .get(
                &format!("/v1/tenant/stores/st_a1/inventory/jobs/{id}"),
                Some(key),
            )
            .await
            .body;
        if job["job"]["state"] != "running" {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 33: a variation's SKU (most apparel shops sell variations) is written on the first
/// push, with no catalogue import before it: the store's `/products?sku=` finds the
/// variation, woolink records it with its parent and writes through the variations batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variations_stock_is_written_on_the_first_push_without_an_import() {
    use woolink::domain::{Scope, TenantCode};

    let t = take_turn(Backend::Memory).await;
    let (real, app, tenant) = (&t.real, &t.app, &t.tenant);
    let key = format!("wlt_{}", "a7".repeat(20));
    woolink::admin::put_fixed_tenant_key(
        &app.services.admin(),
        &TenantCode::parse("ACME").unwrap(),
        &key,
        &[Scope::StoresRead, Scope::InventoryWrite],
    )
    .await
    .unwrap();
    let large = real
        .ok(
            reqwest::Method::GET,
            &format!("wc/v3/products/{}/variations", real.hoodie),
            None,
        )
        .await;
    let large = large
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sku"] == "HOODIE-L")
        .expect("HOODIE-L")
        .clone();
    let path = format!("wc/v3/products/{}/variations/{}", real.hoodie, large["id"]);
    // A number the store does not have yet (the store is shared by every run of the suite).
    let target = large["stock_quantity"].as_i64().unwrap_or(0).max(0) + 4;
    let done = push_inventory(
        app,
        &key,
        chrono::Utc::now() - chrono::Duration::minutes(1),
        json!([{"sku": "HOODIE-L", "available": target}]),
    )
    .await;
    assert_eq!(done["job"]["counts"], json!({"updated": 1}), "{done}");
    assert_eq!(done["results"][0]["result"], "updated", "{done}");
    let now = real.ok(reqwest::Method::GET, &path, None).await;
    assert_eq!(now["stock_quantity"].as_i64(), Some(target), "{now}");
    // Recorded as the variation it is, and the tenant told so.
    let told = tenant
        .accepted()
        .iter()
        .map(TenantCall::json)
        .find(|e| e["data"]["sku"] == "HOODIE-L")
        .unwrap_or_else(|| panic!("{:?}", tenant.accepted().len()));
    assert_eq!(told["data"]["parentSku"], "HOODIE", "{told}");
    assert_eq!(told["data"]["type"], "variation", "{told}");
    disconnect(real, app, &t.key).await;
}

/// Issue 17 against the real store: its products and variations import with their SKUs,
/// weights and types; an inventory push changes the real stock of a simple product and of a
/// variation through WooCommerce's batch endpoints; a stock edit made in the store reaches the
/// tenant by WooCommerce's own product webhook and shows as drift on the next push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_and_stock_with_the_real_store() {
    use woolink::domain::{Scope, TenantCode};

    let t = take_turn(Backend::Memory).await;
    let (real, app, tenant) = (&t.real, &t.app, &t.tenant);
    let key = format!("wlt_{}", "f6".repeat(20));
    woolink::admin::put_fixed_tenant_key(
        &app.services.admin(),
        &TenantCode::parse("ACME").unwrap(),
        &key,
        &[Scope::StoresRead, Scope::InventoryWrite],
    )
    .await
    .unwrap();
    let started = app
        .post_json(
            "/v1/tenant/stores/st_a1/catalogue/import",
            json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s = app
            .get("/v1/tenant/stores/st_a1/catalogue", Some(&key))
            .await
            .body;
        if s["import"]["state"] == "done" {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status["import"]["units"],
        json!({"weight": "kg", "dimension": "cm"})
    );
    let upserted = |sku: &str| {
        tenant
            .accepted()
            .iter()
            .map(TenantCall::json)
            .filter(|e| e["type"] == "product.upserted" && e["data"]["sku"] == sku)
            .collect::<Vec<Value>>()
    };
    let wait_for = |sku: &'static str, n: usize| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while upserted(sku).len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{sku}: {:?}",
                upserted(sku)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        upserted(sku).pop().unwrap()
    };
    let shirt = wait_for("TSHIRT-001", 1).await;
    assert_eq!(shirt["data"]["type"], "simple");
    assert_eq!(
        shirt["data"]["weight"],
        json!({"value": 0.25, "unit": "kg"})
    );
    assert_eq!(shirt["data"]["dimensions"]["length"], 30.0);
    let small = wait_for("HOODIE-S", 1).await;
    assert_eq!(small["data"]["type"], "variation");
    assert_eq!(small["data"]["parentSku"], "HOODIE");
    assert_eq!(small["data"]["weight"]["value"], 0.8);
    assert_eq!(small["data"]["attributes"][0]["option"], "Small");
    assert!(
        upserted("HOODIE").is_empty(),
        "a variable parent is not an item"
    );
    assert!(!upserted("MUG-001").is_empty() && !upserted("HOODIE-L").is_empty());

    let key = key.as_str();
    let push = |snapshot, items| push_inventory(app, key, snapshot, items);
    let now = chrono::Utc::now();
    let stock_of = |path: String| async move {
        real.ok(reqwest::Method::GET, &path, None).await["stock_quantity"].as_i64()
    };
    let shirt_path = format!("wc/v3/products/{}", real.tshirt);
    let small_path = format!(
        "wc/v3/products/{}/variations/{}",
        real.hoodie, real.hoodie_small
    );
    // Numbers the store does not have yet (the store is shared by every run of the suite).
    let shirt_target = stock_of(shirt_path.clone()).await.unwrap_or(0).max(0) + 7;
    let small_target = stock_of(small_path.clone()).await.unwrap_or(0).max(0) + 5;
    let done = push(
        now - chrono::Duration::minutes(2),
        json!([{"sku": "TSHIRT-001", "available": shirt_target},
               {"sku": "HOODIE-S", "available": small_target}]),
    )
    .await;
    assert_eq!(done["job"]["counts"], json!({"updated": 2}), "{done}");
    assert_eq!(stock_of(shirt_path.clone()).await, Some(shirt_target));
    assert_eq!(stock_of(small_path.clone()).await, Some(small_target));

    // A shop manager edits the T-shirt's stock in WooCommerce: its own product webhook tells
    // the tenant, and the next push reports the drift.
    real.ok(
        reqwest::Method::PUT,
        &shirt_path,
        Some(json!({"stock_quantity": shirt_target - 3})),
    )
    .await;
    // (Read back when the worker takes the webhook: the tenant hears the number as it is.)
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !upserted("TSHIRT-001")
        .iter()
        .any(|e| e["data"]["stock"]["quantity"] == shirt_target - 3)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            upserted("TSHIRT-001")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let next = push(
        now - chrono::Duration::minutes(1),
        json!([{"sku": "TSHIRT-001", "available": shirt_target}]),
    )
    .await;
    let r = &next["results"][0];
    assert_eq!(r["result"], "drifted", "{next}");
    assert_eq!(
        (
            r["before"].as_i64(),
            r["lastWritten"].as_i64(),
            r["after"].as_i64()
        ),
        (
            Some(shirt_target - 3),
            Some(shirt_target),
            Some(shirt_target)
        )
    );
    assert_eq!(stock_of(shirt_path).await, Some(shirt_target));
    disconnect(real, app, &t.key).await;
}

/// Order document v2 from the real store: a cash-on-delivery order with a variation, a fee,
/// an InPost locker on its shipping line and order meta (only the allowed key reaches the
/// tenant), then one T-shirt refunded: WooCommerce's own `order.updated` for the refund brings
/// it, with its items read from the store's refunds endpoint. Every document is checked
/// against the published JSON Schema as the fake tenant accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_v2_from_the_real_store() {
    let turn = take_turn(Backend::Memory).await;
    let (real, tenant, app, key) = (&turn.real, &turn.tenant, &turn.app, turn.key.as_str());
    woolink::admin::set_document_settings(
        &app.services.admin(),
        &woolink::domain::TenantCode::parse("ACME").unwrap(),
        woolink::admin::DocumentChanges {
            order_meta_keys: Some(vec!["_delivery_date".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(app.settings.cache_ttl + Duration::from_millis(50)).await;

    let created = real
        .ok(
            reqwest::Method::POST,
            "wc/v3/orders",
            Some(json!({
                "status": "processing", "payment_method": "cod",
                "payment_method_title": "Cash on delivery",
                "billing": {"first_name": "María José", "last_name": "González",
                    "company": "Tienda Sur SpA", "address_1": "Av. Providencia 1234",
                    "address_2": "Depto 56", "city": "Santiago", "state": "RM",
                    "postcode": "7500000", "country": "CL", "email": "mj@example.cl",
                    "phone": "+56 9 1234 5678"},
                "shipping": {"first_name": "María José", "last_name": "González",
                    "address_1": "Av. Providencia 1234", "city": "Santiago", "state": "RM",
                    "postcode": "7500000", "country": "CL"},
                "line_items": [
                    {"product_id": real.tshirt, "quantity": 2},
                    {"product_id": real.hoodie, "variation_id": real.hoodie_small, "quantity": 1}
                ],
                "fee_lines": [{"name": "Gift wrap", "total": "3.00"}],
                "shipping_lines": [{"method_id": "flexible_shipping_inpost",
                    "method_title": "Paczkomat InPost", "total": "12.00",
                    "meta_data": [{"key": "_paczkomat_id", "value": "KRA01M"}]}],
                "meta_data": [{"key": "_delivery_date", "value": "2026-12-01"},
                              {"key": "_customer_birthday", "value": "1990-01-01"}]
            })),
        )
        .await;
    let id = created["id"].as_u64().expect("id");
    let shirt_line = created["line_items"][0]["id"].as_u64().expect("line id");
    drained(app).await;
    let events = events_of(tenant, id);
    assert_eq!(types(&events), ["order.created"]);
    let d = &events[0]["data"];
    assert_eq!(d["schemaVersion"], 2);
    assert_eq!(d["payment"]["methodId"], "cod");
    assert_eq!(d["payment"]["cashOnDelivery"]["amount"], created["total"]);
    assert_eq!(d["units"], json!({"weight": "kg", "dimension": "cm"}));
    assert_eq!(
        d["items"][0]["dimensions"],
        json!({"length": 30.0, "width": 20.0, "height": 2.0})
    );
    assert_eq!(d["items"][1]["variationId"], real.hoodie_small);
    assert_eq!(d["items"][1]["weight"], 0.8);
    assert_eq!(d["shippableWeight"], 1.3);
    assert_eq!(d["feeLines"][0]["name"], "Gift wrap");
    assert_eq!(d["pickupPoint"]["carrier"], "inpost");
    assert_eq!(d["pickupPoint"]["id"], "KRA01M");
    assert_eq!(d["billing"]["company"], "Tienda Sur SpA");
    assert_eq!(d["meta"], json!({"_delivery_date": "2026-12-01"}));
    assert_eq!(d["refunds"], json!([]));

    real.ok(
        reqwest::Method::POST,
        &format!("wc/v3/orders/{id}/refunds"),
        Some(
            json!({"amount": "19.99", "reason": "Damaged in transit", "api_refund": false,
                    "line_items": [{"id": shirt_line, "quantity": 1, "refund_total": 19.99}]}),
        ),
    )
    .await;
    drained(app).await;
    let events = events_of(tenant, id);
    assert_eq!(types(&events), ["order.created", "order.updated"]);
    let d = &events[1]["data"];
    assert_eq!(d["totals"]["refunded"], "19.99");
    assert_eq!(d["refunds"][0]["reason"], "Damaged in transit");
    assert_eq!(
        d["refunds"][0]["items"],
        json!([{"lineItemId": shirt_line, "quantity": 1, "amount": "19.99"}])
    );
    assert_eq!(state_of(app, key, id).await["state"], "synced");
    disconnect(real, app, key).await;
}
