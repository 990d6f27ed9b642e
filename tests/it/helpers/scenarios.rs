//! Scenario builders the test modules share: WooCommerce orders and fixtures, signed
//! deliveries, a linked store.

use super::*;
use chrono::Utc;
use woolink::crypto::issue_credential;
use woolink::domain::{CustomerId, DeviceId, StoreId, StoreUrl, TenantCode, TriggerStatus};
use woolink::intake::woo_signature;
use woolink::model::{Link, LinkStatus, WooKeys};
use woolink::queue::Received;

/// A file of `tests/fixtures/woocommerce/` (real WooCommerce samples and deliveries).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/woocommerce/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub async fn post_delivery(
    app: &TestApp,
    store: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = app
        .http
        .post(app.url(&format!("/v1/webhooks/woocommerce/{store}")))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Answer::from(req.send().await.unwrap()).await
}

/// A delivery signed with `secret`, as WooCommerce would send it.
pub async fn deliver_signed(
    app: &TestApp,
    store: &str,
    topic: &str,
    body: &[u8],
    secret: &str,
) -> Answer {
    let sig = woo_signature(secret.as_bytes(), body);
    post_delivery(
        app,
        store,
        body.to_vec(),
        &[
            ("content-type", "application/json"),
            ("x-wc-webhook-topic", topic),
            ("x-wc-webhook-signature", &sig),
        ],
    )
    .await
}

/// A v3 order (the REST docs' sample) with the given id, status and version, encoded as PHP
/// does (`/` as `\/`).
pub fn order(id: u64, status: &str, modified: &str) -> Value {
    let mut o: Value =
        serde_json::from_slice(&fixture("docs-v3-order-retrieve-response.json")).unwrap();
    o["id"] = json!(id);
    o["number"] = json!(id.to_string());
    o["status"] = json!(status);
    o["date_modified_gmt"] = json!(modified);
    o["date_modified"] = json!(modified);
    o
}

pub fn php_json(v: &Value) -> Vec<u8> {
    serde_json::to_string(v)
        .unwrap()
        .replace('/', "\\/")
        .into_bytes()
}

/// Links ACME's st_a1 through the wizard and returns (api key, webhook secret).
pub async fn linked(app: &TestApp) -> (String, String) {
    let token = app.acme_token().await;
    let a = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    assert_eq!(a.status, 201, "{}", a.body);
    (
        a.body["apiKey"].as_str().unwrap().to_owned(),
        a.body["webhook"]["secret"].as_str().unwrap().to_owned(),
    )
}

pub async fn send(app: &TestApp, secret: &str, topic: &str, order: &Value) {
    let a = deliver_signed(app, "st_a1", topic, &php_json(order), secret).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// The exact PHP-made delivery: body bytes, headers, secret.
pub struct SignedFixture {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub secret: String,
    pub sha256: String,
}

pub fn signed_fixture() -> SignedFixture {
    let meta: Value =
        serde_json::from_slice(&fixture("signed-order-updated.request.json")).unwrap();
    SignedFixture {
        body: fixture("signed-order-updated.body"),
        headers: meta["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect(),
        secret: meta["secret"].as_str().unwrap().to_owned(),
        sha256: meta["body_sha256_hex"].as_str().unwrap().to_owned(),
    }
}

/// Puts a connected link for ACME's `store` with `secret` as its webhook secret.
pub async fn install_link(app: &TestApp, store: &str, secret: &str, with_keys: bool) {
    let id = StoreId::parse(store).unwrap();
    let sb = &app.services.secrets;
    let existing = app.services.repos.links.get_link(&id).await.unwrap();
    let now = Utc::now();
    let link = Link {
        store_id: id.clone(),
        tenant: TenantCode::parse("ACME").unwrap(),
        customer_id: CustomerId::parse("cus_a1").unwrap(),
        store_url: StoreUrl::parse("https://example.com").unwrap(),
        device_id: DeviceId::parse(DEVICE).unwrap(),
        status: LinkStatus::Connected,
        trigger_statuses: TriggerStatus::defaults(),
        webhook_secret: Some(
            sb.seal(secret, &woolink::secrets::Sealing::Webhook(&id).context())
                .unwrap(),
        ),
        previous_webhook_secret: None,
        previous_secret_until: None,
        api_key_hash: Some(issue_credential("wlk_").hash),
        revoked_api_key_hash: None,
        woo_keys: with_keys.then(|| WooKeys {
            consumer_key: sb
                .seal(
                    CONSUMER_KEY,
                    &woolink::secrets::Sealing::WooKey(&id).context(),
                )
                .unwrap(),
            consumer_secret: sb
                .seal(
                    CONSUMER_SECRET,
                    &woolink::secrets::Sealing::WooSecret(&id).context(),
                )
                .unwrap(),
        }),
        webhook_ids: vec![],
        linked_at: now,
        updated_at: now,
        disconnected_at: None,
        paused_at: None,
        revision: existing.as_ref().map_or(1, |l| l.revision + 1),
    };
    app.services
        .repos
        .links
        .save_link(&link, existing.map(|l| l.revision))
        .await
        .unwrap();
}

/// Replaces `store`'s WooCommerce keys on its link with keys the store refuses (as if the
/// merchant revoked them in WooCommerce).
#[allow(dead_code)]
pub async fn revoke_woo_keys(app: &TestApp, store: &str) {
    let st = StoreId::parse(store).unwrap();
    let links = &app.services.repos.links;
    let mut link = links.get_link(&st).await.unwrap().unwrap();
    let expected = link.revision;
    let sealed = |v: &str, f: woolink::secrets::Sealing| {
        woolink::secrets::seal(&app.services.secrets, v, f).unwrap()
    };
    link.woo_keys = Some(WooKeys {
        consumer_key: sealed("ck_revoked", woolink::secrets::Sealing::WooKey(&st)),
        consumer_secret: sealed("cs_revoked", woolink::secrets::Sealing::WooSecret(&st)),
    });
    link.revision += 1;
    links.save_link(&link, Some(expected)).await.unwrap();
}

/// Everything currently visible on the queue (received and left to reappear later).
pub async fn take_all(app: &TestApp) -> Vec<Received> {
    let mut out = Vec::new();
    loop {
        let batch = app.queue.receive(10, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// A shipment record of `store`'s order `order`, pending, as a tenant would have posted it
/// (UPS, one T-shirt).
#[allow(dead_code)]
pub fn shipment_of(store: &str, order: u64, id: &str, number: &str) -> woolink::model::Shipment {
    woolink::model::Shipment {
        items: vec![woolink::model::ShipmentItem {
            sku: Some("TSHIRT-001".into()),
            line_item_id: None,
            quantity: 1,
        }],
        complete: woolink::model::CompleteRule::Never,
        request_hash: "h".into(),
        ..woolink::model::Shipment::accepted(
            StoreId::parse(store).unwrap(),
            woolink::domain::OrderId::new(order),
            id,
            number,
            "UPS",
            Utc::now(),
        )
    }
}
