//! Catalogue and stock (issue 17), end to end through the tenant's routes: a catalogue import
//! (catch-up jobs in process) sends the store's sellable items to the tenant and reports SKU
//! problems; an inventory push writes only changed stock through the batch endpoints, ignores
//! stale snapshots, reports drift, unknown, unmanaged and shared SKUs; a push resumes after a
//! crash without writing twice; other tenants see nothing.

use std::time::Duration;

use serde_json::{json, Value};
use woolink::admin::put_fixed_tenant_key;
use woolink::domain::{Scope, StoreId, TenantCode};

use crate::both_backends;
use crate::helpers::*;

fn acme_key() -> String {
    format!("wlt_{}", "c7".repeat(20))
}

fn beta_key() -> String {
    format!("wlt_{}", "d8".repeat(20))
}

fn simple(id: u64, sku: &str, qty: Option<i64>) -> Value {
    json!({"id": id, "parent_id": 0, "name": format!("Product {id}"), "type": "simple",
        "status": "publish", "sku": sku, "virtual": false, "downloadable": false,
        "manage_stock": qty.is_some(), "stock_quantity": qty, "stock_status": "instock",
        "weight": "0.25", "dimensions": {"length": "30", "width": "20", "height": "2"},
        "price": "19.99", "date_modified_gmt": "2026-11-30T10:00:00", "meta_data": [], "attributes": []})
}

/// The store of these tests: a T-shirt, a hoodie with three sizes, a grouped bundle, a gift
/// card (virtual), an e-book (downloadable), an item without a SKU, two items sharing one, and
/// a mug whose stock the shop does not manage.
fn stock_catalogue(store: &FakeStore) {
    store.add_product(simple(101, "TSHIRT-001", Some(10)));
    store.add_product(
        json!({"id": 200, "parent_id": 0, "name": "Hoodie", "type": "variable",
        "status": "publish", "sku": "HOODIE", "weight": "0.8", "manage_stock": false,
        "dimensions": {"length": "40", "width": "30", "height": "5"},
        "meta_data": [{"key": "_gtin", "value": "4006381333931"}], "variations": [201, 202, 203]}),
    );
    for (id, size, qty) in [(201, "S", 5), (202, "M", 6), (203, "L", 7)] {
        store.add_product(json!({"id": id, "parent_id": 200, "type": "variation",
            "sku": format!("HOODIE-{size}"), "manage_stock": true, "stock_quantity": qty,
            "stock_status": "instock", "weight": "", "price": "45",
            "dimensions": {"length": "", "width": "", "height": ""},
            "attributes": [{"id": 0, "name": "Size", "option": size}]}));
    }
    store.add_product(
        json!({"id": 300, "parent_id": 0, "name": "Bundle", "type": "grouped",
        "sku": "BUNDLE", "grouped_products": [101]}),
    );
    store.add_product(
        json!({"id": 400, "parent_id": 0, "name": "Gift card", "type": "simple",
        "sku": "GIFT", "virtual": true}),
    );
    store.add_product(
        json!({"id": 500, "parent_id": 0, "name": "E-book", "type": "simple",
        "sku": "EBOOK", "downloadable": true}),
    );
    store.add_product(simple(600, "", Some(1)));
    store.add_product(simple(700, "DUP", Some(1)));
    store.add_product(simple(701, "DUP", Some(1)));
    store.add_product(simple(800, "MUG-001", None));
}

struct Setup {
    app: TestApp,
    store: FakeStore,
    tenant: FakeTenant,
    /// The link's webhook secret (WooCommerce signs deliveries with it).
    secret: String,
}

async fn setup(backend: Backend, fill: impl FnOnce(&FakeStore)) -> Setup {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    fill(&store);
    let token = app.acme_token().await;
    let linked = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = app.services.admin();
    let all = [Scope::StoresRead, Scope::InventoryWrite];
    for (code, key) in [("ACME", acme_key()), ("BETA", beta_key())] {
        put_fixed_tenant_key(&admin, &TenantCode::parse(code).unwrap(), &key, &all)
            .await
            .unwrap();
    }
    Setup {
        app,
        store,
        tenant,
        secret,
    }
}

impl Setup {
    async fn import(&self) -> Value {
        let started = self
            .app
            .post_json(
                "/v1/tenant/stores/st_a1/catalogue/import",
                json!({}),
                Some(&acme_key()),
            )
            .await;
        assert_eq!(started.status, 202, "{}", started.body);
        let run = started.body["import"]["runId"].clone();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let status = self
                .app
                .get("/v1/tenant/stores/st_a1/catalogue", Some(&acme_key()))
                .await
                .body;
            if status["import"]["runId"] == run && status["import"]["state"] != "running" {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "{status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn push(&self, body: Value) -> Value {
        let pushed = Answer::from(
            self.app
                .http
                .put(self.app.url("/v1/tenant/stores/st_a1/inventory"))
                .bearer_auth(acme_key())
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(pushed.status, 202, "{}", pushed.body);
        let id = pushed.body["job"]["id"].as_str().unwrap().to_owned();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.job(&id, None).await;
            if job["job"]["state"] != "running" {
                return job;
            }
            assert!(std::time::Instant::now() < deadline, "{job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn job(&self, id: &str, cursor: Option<&str>) -> Value {
        let path = match cursor {
            Some(c) => format!("/v1/tenant/stores/st_a1/inventory/jobs/{id}?cursor={c}"),
            None => format!("/v1/tenant/stores/st_a1/inventory/jobs/{id}"),
        };
        let a = self.app.get(&path, Some(&acme_key())).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    /// The events of type `kind` the tenant accepted (signatures verified).
    fn events(&self, kind: &str) -> Vec<Value> {
        self.tenant.events(kind)
    }

    fn batch_calls(&self, path_end: &str) -> usize {
        self.store
            .calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with(path_end))
            .count()
    }
}

fn by_sku(results: &Value) -> std::collections::HashMap<String, Value> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sku"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// Simple products and variations reach the tenant; a variable parent, a grouped product, a
/// virtual and a downloadable one do not; a missing SKU and a shared one are reported, not
/// merged. An import again sends nothing unchanged; a product that becomes virtual is sent as
/// deleted.
async fn a_catalogue_imports_with_its_problems_reported(backend: Backend) {
    let s = setup(backend, stock_catalogue).await;
    let status = s.import().await;
    assert_eq!(status["import"]["state"], "done", "{status}");
    assert_eq!(status["items"], 8, "{status}");
    assert_eq!(status["emptySkus"], json!([600]));
    assert_eq!(
        status["duplicateSkus"],
        json!([{"sku": "DUP", "ids": [700, 701]}])
    );
    assert_eq!(
        status["import"]["units"],
        json!({"weight": "kg", "dimension": "cm"})
    );
    eventually("the tenant has the 8 items", || {
        s.events("product.upserted").len() == 8
    })
    .await;
    let mut ids: Vec<u64> = s
        .events("product.upserted")
        .iter()
        .map(|e| e["data"]["id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![101, 201, 202, 203, 600, 700, 701, 800]);
    let events = s.events("product.upserted");
    let medium = events.iter().find(|e| e["data"]["id"] == 202).unwrap();
    assert_eq!(medium["data"]["type"], "variation");
    assert_eq!(medium["data"]["parentSku"], "HOODIE");
    assert_eq!(medium["data"]["name"], "Hoodie");
    assert_eq!(
        medium["data"]["attributes"],
        json!([{"name": "Size", "option": "M"}])
    );
    assert_eq!(
        medium["data"]["weight"],
        json!({"value": 0.8, "unit": "kg"})
    );
    assert_eq!(
        medium["data"]["stock"],
        json!({"managed": true, "quantity": 6, "status": "instock"})
    );
    assert_eq!(medium["data"]["barcode"]["value"], "4006381333931");

    // Again: nothing changed, nothing sent.
    let again = s.import().await;
    assert_eq!(again["import"]["sent"], 0, "{again}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.events("product.upserted").len(), 8);

    // The T-shirt becomes a virtual product: sent as deleted.
    let mut shirt = s.store.product(101).unwrap();
    shirt["virtual"] = json!(true);
    s.store.add_product(shirt);
    s.import().await;
    eventually("the T-shirt is withdrawn", || {
        s.events("product.deleted").len() == 1
    })
    .await;
    assert_eq!(s.events("product.deleted")[0]["data"]["id"], 101);
}

both_backends!(a_catalogue_imports_with_its_problems_reported);

/// Only changed numbers are written, in one batch call per kind; each SKU gets its result;
/// an older snapshot loses; a shop edit since woolink's write is reported as drift.
async fn inventory_pushes_write_only_changes(backend: Backend) {
    let s = setup(backend, stock_catalogue).await;
    s.import().await;
    let done = s
        .push(json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": [
            {"sku": "TSHIRT-001", "available": 8}, {"sku": "HOODIE-S", "available": 5},
            {"sku": "HOODIE-M", "available": 9}, {"sku": "MUG-001", "available": 3},
            {"sku": "NOPE", "available": 1}, {"sku": "DUP", "available": 2}]}))
        .await;
    assert_eq!(done["job"]["state"], "done", "{done}");
    let r = by_sku(&done["results"]);
    assert_eq!(r["TSHIRT-001"]["result"], "updated");
    assert_eq!(
        (
            r["TSHIRT-001"]["before"].as_i64(),
            r["TSHIRT-001"]["after"].as_i64()
        ),
        (Some(10), Some(8))
    );
    assert_eq!(r["HOODIE-S"]["result"], "unchanged");
    assert_eq!(r["HOODIE-M"]["result"], "updated");
    assert_eq!(r["MUG-001"]["result"], "not_managed");
    assert_eq!(r["NOPE"]["result"], "unknown_sku");
    assert_eq!(r["DUP"]["result"], "duplicate_sku");
    assert_eq!(
        done["job"]["counts"],
        json!({"duplicate_sku": 1, "not_managed": 1, "unchanged": 1, "unknown_sku": 1, "updated": 2})
    );
    assert_eq!(s.store.product(101).unwrap()["stock_quantity"], 8);
    assert_eq!(s.store.product(202).unwrap()["stock_quantity"], 9);
    assert_eq!(s.store.product(800).unwrap()["stock_quantity"], Value::Null);
    assert_eq!(s.batch_calls("/products/batch"), 1);
    assert_eq!(s.batch_calls("/products/200/variations/batch"), 1);
    let body = &s
        .store
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with("/products/batch"))
        .unwrap()
        .body;
    assert_eq!(body, &json!({"update": [{"id": 101, "stock_quantity": 8}]}));

    // An older snapshot arriving late is ignored.
    let late = s
        .push(json!({"snapshotAt": "2026-11-29T09:00:00Z", "items": [{"sku": "TSHIRT-001", "available": 100}]}))
        .await;
    assert_eq!(by_sku(&late["results"])["TSHIRT-001"]["result"], "stale");
    assert_eq!(s.store.product(101).unwrap()["stock_quantity"], 8);

    // The shop sold two meanwhile (or someone edited the stock): drift, with both numbers.
    s.store.set_stock(101, 6);
    let next = s
        .push(json!({"snapshotAt": "2026-11-29T11:00:00Z", "items": [{"sku": "TSHIRT-001", "available": 7}]}))
        .await;
    let shirt = &by_sku(&next["results"])["TSHIRT-001"];
    assert_eq!(shirt["result"], "drifted", "{shirt}");
    assert_eq!(
        (
            shirt["before"].as_i64(),
            shirt["lastWritten"].as_i64(),
            shirt["after"].as_i64()
        ),
        (Some(6), Some(8), Some(7))
    );
    assert_eq!(s.store.product(101).unwrap()["stock_quantity"], 7);
}

both_backends!(inventory_pushes_write_only_changes);

/// A thousand SKUs in at most ten batch calls (the 100-item limit honoured), results paged;
/// a SKU the catalogue has not seen yet is looked up in the store. (On moto 250: its
/// DynamoDB answers in milliseconds per call; the batch arithmetic is the same.)
async fn a_thousand_skus_in_ten_batch_calls(backend: Backend) {
    let n: u64 = if backend == Backend::Memory {
        1000
    } else {
        250
    };
    let s = setup(backend, |store| {
        for id in 1..=n {
            store.add_product(simple(10_000 + id, &format!("SKU-{id:04}"), Some(0)));
        }
    })
    .await;
    s.import().await;
    // Added after the import: found by its SKU.
    s.store.add_product(simple(20_000, "LATE-1", Some(0)));
    let mut items: Vec<Value> = (1..=n)
        .map(|id| json!({"sku": format!("SKU-{id:04}"), "available": 5}))
        .collect();
    items.push(json!({"sku": "LATE-1", "available": 2}));
    let done = s
        .push(json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": items}))
        .await;
    assert_eq!(done["job"]["state"], "done", "{}", done["job"]);
    assert_eq!(done["job"]["counts"], json!({"updated": n + 1}));
    // n / 100 full calls; the late SKU rides in the last chunk's.
    assert!(
        s.batch_calls("/products/batch") as u64 <= n / 100 + 1,
        "{}",
        s.batch_calls("/products/batch")
    );
    assert!(s
        .store
        .calls()
        .iter()
        .all(|c| !c.path.ends_with("/batch") || c.body["update"].as_array().unwrap().len() <= 100));
    assert_eq!(
        s.store.product(10_000 + n / 2).unwrap()["stock_quantity"],
        5
    );
    assert_eq!(s.store.product(20_000).unwrap()["stock_quantity"], 2);
    // Results in pages of 1,000.
    let id = done["job"]["id"].as_str().unwrap();
    if n == 1000 {
        assert_eq!(done["results"].as_array().unwrap().len(), 1000);
        let cursor = done["nextCursor"].as_str().unwrap();
        let rest = s.job(id, Some(cursor)).await;
        assert_eq!(rest["results"].as_array().unwrap().len(), 1);
        assert_eq!(rest["nextCursor"], Value::Null);
    } else {
        assert_eq!(done["results"].as_array().unwrap().len() as u64, n + 1);
    }
}

both_backends!(a_thousand_skus_in_ten_batch_calls);

/// A push whose first attempt died after the store took part of a chunk but before woolink
/// recorded it: the retry reads the stock back, finds those numbers already right and writes
/// only the rest — nothing twice.
async fn a_push_resumes_after_a_crash_without_writing_twice(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_jobs_paused(backend, &tenant, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    for id in 1..=300u64 {
        store.add_product(simple(id, &format!("S-{id}"), Some(0)));
    }
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a1", &store.url).await.status,
        201
    );
    let st = StoreId::parse("st_a1").unwrap();
    let work = app.catch_up.ports();
    let cataloguing = work.cataloguing();
    let run = woolink::catalogue::start_import(&cataloguing.submitting(), &st)
        .await
        .unwrap();
    while !woolink::catalogue::import_step(&cataloguing, &st, &run.run_id)
        .await
        .unwrap()
        .done
    {}
    let items = (1..=300).map(|id| (format!("S-{id}"), 4)).collect();
    let job = woolink::catalogue::submit_inventory(
        &cataloguing.submitting(),
        &st,
        woolink::catalogue::InventoryRequest {
            snapshot_at: chrono::Utc::now(),
            items,
            net_of_open_orders: false,
        },
    )
    .await
    .unwrap();
    // The first attempt's batch call reached the store for the first 100, then it died.
    for id in 1..=100 {
        store.set_stock(id, 4);
    }
    let before = store.calls().len();
    assert!(
        woolink::catalogue::inventory_step(&cataloguing, &st, &job.job_id)
            .await
            .unwrap()
    );
    let writes: Vec<Value> = store.calls()[before..]
        .iter()
        .filter(|c| c.path.ends_with("/products/batch"))
        .flat_map(|c| c.body["update"].as_array().unwrap().clone())
        .collect();
    assert_eq!(writes.len(), 200, "only the 200 the store did not have yet");
    assert!(writes.iter().all(|w| w["id"].as_u64().unwrap() > 100));
    let done = app
        .services
        .repos
        .catalogue
        .get_inventory_job(&st, &job.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, "done");
    assert_eq!(done.counts.get("unchanged"), Some(&100));
    assert_eq!(done.counts.get("updated"), Some(&200));
    // Run again (a redelivered message): nothing more.
    let calls = store.calls().len();
    assert!(
        woolink::catalogue::inventory_step(&cataloguing, &st, &job.job_id)
            .await
            .unwrap()
    );
    assert_eq!(store.calls().len(), calls);
}

both_backends!(a_push_resumes_after_a_crash_without_writing_twice);

/// Other tenants and weak keys are refused; bad pushes are named and queue nothing.
async fn catalogue_routes_refuse_strangers_and_bad_pushes(backend: Backend) {
    let s = setup(backend, stock_catalogue).await;
    let paths = [
        ("POST", "/v1/tenant/stores/st_a1/catalogue/import"),
        ("GET", "/v1/tenant/stores/st_a1/catalogue"),
        ("PUT", "/v1/tenant/stores/st_a1/inventory"),
        ("GET", "/v1/tenant/stores/st_a1/inventory/jobs/inv_0"),
    ];
    let push =
        json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": [{"sku": "A", "available": 1}]});
    for (method, path) in paths {
        let a = Answer::from(
            s.app
                .http
                .request(method.parse().unwrap(), s.app.url(path))
                .bearer_auth(beta_key())
                .json(&push)
                .send()
                .await
                .unwrap(),
        )
        .await;
        a.error(404, "store_not_found");
    }
    let read_only = format!("wlt_{}", "e9".repeat(20));
    put_fixed_tenant_key(
        &s.app.services.admin(),
        &TenantCode::parse("ACME").unwrap(),
        &read_only,
        &[Scope::StoresRead],
    )
    .await
    .unwrap();
    let put = |key: String, body: Value| {
        let app = &s.app;
        async move {
            Answer::from(
                app.http
                    .put(app.url("/v1/tenant/stores/st_a1/inventory"))
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    put(read_only, push.clone())
        .await
        .error(403, "insufficient_scope");
    for (body, field) in [
        (
            json!({"snapshotAt": "soon", "items": [{"sku": "A", "available": 1}]}),
            "snapshotAt",
        ),
        (
            json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": []}),
            "items",
        ),
        (
            json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": [{"sku": "A", "available": -3}]}),
            "available",
        ),
        (
            json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": [{"sku": "A"}]}),
            "available",
        ),
        (
            json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": [{"sku": "A", "available": 1}], "extra": 1}),
            "extra",
        ),
    ] {
        let a = put(acme_key(), body).await;
        a.error(400, "invalid_request");
        assert!(
            a.body["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {}",
            a.body
        );
    }
    let too_many: Vec<Value> = (0..20_001)
        .map(|i| json!({"sku": format!("X{i}"), "available": 1}))
        .collect();
    put(
        acme_key(),
        json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": too_many}),
    )
    .await
    .error(400, "invalid_request");
    s.app
        .get(
            "/v1/tenant/stores/st_a1/inventory/jobs/inv_nope",
            Some(&acme_key()),
        )
        .await
        .error(404, "not_found");
    s.app
        .get(
            "/v1/tenant/stores/st_a1/inventory/jobs/..%2F..",
            Some(&acme_key()),
        )
        .await
        .error(404, "not_found");
}

both_backends!(catalogue_routes_refuse_strangers_and_bad_pushes);

/// Product webhooks (registered beside the order ones on a link with keys): the worker reads
/// the product back and the tenant hears what changed, once; a variation's change carries its
/// parent's data; a deletion withdraws the product and its variations.
async fn product_webhooks_reach_the_tenant_once(backend: Backend) {
    let s = setup(backend, stock_catalogue).await;
    let topics: Vec<String> = s
        .store
        .webhooks()
        .iter()
        .filter_map(|h| h["topic"].as_str().map(str::to_owned))
        .collect();
    for t in [
        "product.created",
        "product.updated",
        "product.deleted",
        "product.restored",
    ] {
        assert!(topics.iter().any(|x| x == t), "{t} registered: {topics:?}");
    }
    s.import().await;
    eventually("the import's items", || {
        s.events("product.upserted").len() == 8
    })
    .await;

    // The shop sells two T-shirts: WooCommerce sends product.updated.
    s.store.set_stock(101, 8);
    let body = php_json(&s.store.product(101).unwrap());
    let a = deliver_signed(&s.app, "st_a1", "product.updated", &body, &s.secret).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("queued")),
        "{}",
        a.body
    );
    eventually("the change", || s.events("product.upserted").len() == 9).await;
    let last = s.events("product.upserted").pop().unwrap();
    assert_eq!(
        (
            last["data"]["id"].as_u64(),
            last["data"]["stock"]["quantity"].as_i64()
        ),
        (Some(101), Some(8))
    );
    // The same delivery again (WooCommerce repeats itself): nothing new for the tenant.
    deliver_signed(&s.app, "st_a1", "product.updated", &body, &s.secret).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.events("product.upserted").len(), 9);

    // A variation changes.
    s.store.set_stock(203, 1);
    let body = php_json(&s.store.product(203).unwrap());
    deliver_signed(&s.app, "st_a1", "product.updated", &body, &s.secret).await;
    eventually("the variation", || s.events("product.upserted").len() == 10).await;
    let last = s.events("product.upserted").pop().unwrap();
    assert_eq!(
        (
            last["data"]["parentSku"].as_str(),
            last["data"]["stock"]["quantity"].as_i64()
        ),
        (Some("HOODIE"), Some(1))
    );

    // The hoodie is deleted: it and its variations are withdrawn.
    let a = deliver_signed(
        &s.app,
        "st_a1",
        "product.deleted",
        br#"{"id":200}"#,
        &s.secret,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    eventually("three withdrawals", || {
        s.events("product.deleted").len() == 3
    })
    .await;
    let mut gone: Vec<u64> = s
        .events("product.deleted")
        .iter()
        .map(|e| e["data"]["id"].as_u64().unwrap())
        .collect();
    gone.sort_unstable();
    assert_eq!(gone, vec![201, 202, 203]);
    // A forged one is refused before anything is queued.
    deliver_signed(
        &s.app,
        "st_a1",
        "product.deleted",
        br#"{"id":101}"#,
        "wrong-secret",
    )
    .await
    .error(401, "invalid_signature");
}

both_backends!(product_webhooks_reach_the_tenant_once);

/// `netOfOpenOrders`: what an open order woolink delivered still needs is held back from the
/// shop's number, less what the tenant's shipments of it already carried.
async fn open_orders_are_netted(backend: Backend) {
    let s = setup(backend, |store| {
        // The REST docs' order 727 has one "Bar3" (line 316) and two SKU-less items.
        store.add_product(simple(900, "Bar3", Some(0)));
    })
    .await;
    s.store.set_order(
        727,
        &php_json(&order(727, "processing", "2026-11-29T10:00:00")),
    );
    s.import().await;
    send(
        &s.app,
        &s.secret,
        "order.updated",
        &order(727, "processing", "2026-11-29T10:00:00"),
    )
    .await;
    eventually("the order reaches the tenant", || {
        s.tenant.events("order.created").len() == 1
    })
    .await;
    let netted = s
        .push(
            json!({"snapshotAt": "2026-11-29T11:00:00Z", "netOfOpenOrders": true,
            "items": [{"sku": "Bar3", "available": 10}]}),
        )
        .await;
    assert_eq!(by_sku(&netted["results"])["Bar3"]["after"], 9, "{netted}");
    assert_eq!(s.store.product(900).unwrap()["stock_quantity"], 9);
    // The tenant shipped it: nothing is held back any more.
    let shipped = woolink::model::Shipment {
        items: vec![woolink::model::ShipmentItem {
            sku: Some("Bar3".into()),
            line_item_id: Some(316),
            quantity: 1,
        }],
        ..shipment_of("st_a1", 727, "sh-1", "1Z1")
    };
    s.app
        .services
        .repos
        .shipments
        .save_shipment(&shipped, None)
        .await
        .unwrap();
    let after_shipping = s
        .push(
            json!({"snapshotAt": "2026-11-29T12:00:00Z", "netOfOpenOrders": true,
            "items": [{"sku": "Bar3", "available": 10}]}),
        )
        .await;
    assert_eq!(
        by_sku(&after_shipping["results"])["Bar3"]["after"],
        10,
        "{after_shipping}"
    );
}

both_backends!(open_orders_are_netted);

/// A store that lowered WooCommerce's batch limit (its `woocommerce_rest_batch_items_limit`
/// filter) answers 413 to 100 items: the writes go in halves until it takes them, none lost,
/// none written twice.
async fn a_store_with_a_lower_batch_limit_gets_smaller_batches(backend: Backend) {
    let s = setup(backend, |store| {
        for id in 1..=100u64 {
            store.add_product(simple(30_000 + id, &format!("LIM-{id:03}"), Some(0)));
        }
    })
    .await;
    s.store.misbehave(Misbehaviour {
        batch_limit: Some(30),
        ..Misbehaviour::default()
    });
    s.import().await;
    let items: Vec<Value> = (1..=100)
        .map(|id| json!({"sku": format!("LIM-{id:03}"), "available": 4}))
        .collect();
    let done = s
        .push(json!({"snapshotAt": "2026-11-29T10:00:00Z", "items": items}))
        .await;
    assert_eq!(
        done["job"]["counts"],
        json!({"updated": 100}),
        "{}",
        done["job"]
    );
    let batches: Vec<usize> = s
        .store
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/products/batch"))
        .map(|c| c.body["update"].as_array().unwrap().len())
        .collect();
    // 100 refused, 50 + 50 refused, then four of 25 taken.
    assert_eq!(batches, vec![100, 50, 25, 25, 50, 25, 25], "{batches:?}");
    assert!((1..=100).all(|id| s.store.product(30_000 + id).unwrap()["stock_quantity"] == 4));
}

both_backends!(a_store_with_a_lower_batch_limit_gets_smaller_batches);

/// Two pushes of one store at once (a tenant re-sending, two warehouses' systems): they take
/// turns on the store's stock — the one that finds the store held waits, writing nothing —
/// and the newer snapshot's numbers are what the shop ends with, whichever ran first.
async fn two_pushes_of_one_store_take_turns(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_jobs_paused(backend, &tenant, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    for id in 1..=150u64 {
        store.add_product(simple(id, &format!("T-{id}"), Some(0)));
    }
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a1", &store.url).await.status,
        201
    );
    let st = StoreId::parse("st_a1").unwrap();
    let work = app.catch_up.ports();
    let cataloguing = work.cataloguing();
    let run = woolink::catalogue::start_import(&cataloguing.submitting(), &st)
        .await
        .unwrap();
    while !woolink::catalogue::import_step(&cataloguing, &st, &run.run_id)
        .await
        .unwrap()
        .done
    {}
    let push = |minutes_ago: i64, qty: i64| {
        let submitting = cataloguing.submitting();
        let st = st.clone();
        async move {
            woolink::catalogue::submit_inventory(
                &submitting,
                &st,
                woolink::catalogue::InventoryRequest {
                    snapshot_at: chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
                    items: (1..=150).map(|id| (format!("T-{id}"), qty)).collect(),
                    net_of_open_orders: false,
                },
            )
            .await
            .unwrap()
        }
    };
    let older = push(10, 5).await;
    let newer = push(1, 9).await;
    let (a, b) = tokio::join!(
        woolink::catalogue::inventory_step(&cataloguing, &st, &older.job_id),
        woolink::catalogue::inventory_step(&cataloguing, &st, &newer.job_id),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a != b, "one applied, one waited: {a} {b}");
    let waited = if a { &newer.job_id } else { &older.job_id };
    let before = store.calls().len();
    // The waiting one left a delayed turn on the queue, and wrote nothing.
    let catalogue = &app.services.repos.catalogue;
    let waiting = catalogue
        .get_inventory_job(&st, waited)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((waiting.state.as_str(), waiting.next_chunk), ("running", 0));
    assert!(
        woolink::catalogue::inventory_step(&cataloguing, &st, waited)
            .await
            .unwrap()
    );
    assert!(
        store.calls()[before..]
            .iter()
            .all(|c| !c.path.ends_with("/batch") || a),
        "after the newer one, the older writes nothing"
    );
    assert!((1..=150).all(|id| store.product(id).unwrap()["stock_quantity"] == 9));
    let older_done = catalogue
        .get_inventory_job(&st, &older.job_id)
        .await
        .unwrap()
        .unwrap();
    let newer_done = catalogue
        .get_inventory_job(&st, &newer.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newer_done.counts.get("updated"), Some(&150));
    if a {
        // The older ran first, then the newer overwrote every number.
        assert_eq!(older_done.counts.get("updated"), Some(&150));
    } else {
        assert_eq!(older_done.counts.get("stale"), Some(&150));
    }
}

both_backends!(two_pushes_of_one_store_take_turns);
