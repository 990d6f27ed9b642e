//! Bad input, generated: the intake with any bytes and headers, the order mapper with any JSON.
//! No panic; client mistakes are 4xx, never 5xx. Plus the boundary cases named in the issue.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;
use woolink::intake::woo_signature;
use woolink::order::{OrderDocument, WooOrder};

use crate::helpers::*;

const SECRET: &str = "fuzzsecret123";

/// Executions of generated cases, reported by the test that sums them.
pub static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

/// The webhook function's app over an in-memory link and queue, built once for all cases.
fn intake_app() -> axum::Router {
    static APP: std::sync::OnceLock<axum::Router> = std::sync::OnceLock::new();
    APP.get_or_init(|| {
        use woolink::crypto::issue_credential;
        use woolink::domain::{CustomerId, DeviceId, StoreId, StoreUrl, TenantCode, TriggerStatus};
        use woolink::model::{Link, LinkStatus};
        let config = test_config(
            "http://127.0.0.1:1",
            woolink::outbound::OutboundPolicy::public_only(),
        );
        let repos = woolink::ports::Repos::from_adapter(std::sync::Arc::new(
            woolink::store::MemoryStore::new(),
        ));
        // Small queue messages so "larger than the queue can carry" is reachable.
        let queue = std::sync::Arc::new(woolink::queue::MemoryQueue::new(
            std::time::Duration::from_secs(30),
        ));
        let intake = woolink::intake::Intake::new(
            repos.links.clone(),
            repos.tenants.clone(),
            queue,
            &config,
        )
        .unwrap();
        let id = StoreId::parse("st_a1").unwrap();
        let now = chrono::Utc::now();
        let link = Link {
            store_id: id.clone(),
            tenant: TenantCode::parse("ACME").unwrap(),
            customer_id: CustomerId::parse("cus_a1").unwrap(),
            store_url: StoreUrl::parse("https://example.com").unwrap(),
            device_id: DeviceId::parse(DEVICE).unwrap(),
            status: LinkStatus::Connected,
            trigger_statuses: TriggerStatus::defaults(),
            webhook_secret: Some(
                config
                    .secret_box()
                    .unwrap()
                    .seal(SECRET, &woolink::secrets::Sealing::Webhook(&id).context())
                    .unwrap(),
            ),
            previous_webhook_secret: None,
            previous_secret_until: None,
            api_key_hash: Some(issue_credential("wlk_").hash),
            revoked_api_key_hash: None,
            woo_keys: None,
            webhook_ids: vec![],
            linked_at: now,
            updated_at: now,
            disconnected_at: None,
            paused_at: None,
            revision: 1,
        };
        // The link's tenant, active (a link always belongs to one).
        let tenant = woolink::model::Tenant {
            code: TenantCode::parse("ACME").unwrap(),
            name: "Acme".into(),
            active: true,
            fulfilment: None,
            document: woolink::model::DocumentSettings::current(),
        };
        // Built on a thread of its own: callers may already be inside a runtime.
        let (links, tenants) = (repos.links.clone(), repos.tenants.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(async {
                    tenants.put_tenant(&tenant).await?;
                    links.save_link(&link, None).await
                })
        })
        .join()
        .unwrap()
        .unwrap();
        woolink::api::webhook_app(std::sync::Arc::new(intake))
    })
    .clone()
}

async fn post(app: &axum::Router, headers: &[(String, String)], body: Vec<u8>) -> (u16, Value) {
    let mut req = Request::post("/v1/webhooks/woocommerce/st_a1");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("order.updated".to_owned()),
        Just("order.created".to_owned()),
        Just("product.updated".to_owned()),
        "[ -~]{0,40}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[^\u{0}]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("status".to_owned()),
                    Just("line_items".to_owned()),
                    Just("shipping".to_owned()),
                    Just("date_modified_gmt".to_owned()),
                    Just("quantity".to_owned()),
                    Just("meta_data".to_owned()),
                    Just("key".to_owned()),
                    Just("value".to_owned()),
                    Just("refunds".to_owned()),
                    Just("total".to_owned()),
                    Just("payment_method".to_owned()),
                    Just("shipping_lines".to_owned()),
                    Just("product_id".to_owned()),
                    Just("variation_id".to_owned()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn the_intake_never_fails_on_a_client(
        body in prop::collection::vec(any::<u8>(), 0..600),
        topic in prop::option::of(header_value()),
        sign in any::<bool>(),
        junk_sig in "[ -~]{0,60}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let app = intake_app();
            // WooCommerce sends every delivery as JSON; without it the intake stops at 415.
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if let Some(t) = &topic {
                headers.push(("x-wc-webhook-topic".to_owned(), t.clone()));
            }
            let sig = if sign { woo_signature(SECRET.as_bytes(), &body) } else { junk_sig.clone() };
            headers.push(("x-wc-webhook-signature".to_owned(), sig));
            let (status, answer) = post(&app, &headers, body.clone()).await;
            EXECUTIONS.fetch_add(1, Ordering::Relaxed);
            prop_assert!(status < 500, "{status} {answer}");
            if !sign && status == 200 {
                // Unsigned: only WooCommerce's ping may pass.
                prop_assert!(topic.is_none() && body.starts_with(b"webhook_id="));
            }
            Ok(())
        })?;
    }

    #[test]
    fn the_mapper_takes_any_json(v in json_value(), weight in prop::option::of(0.0f64..1e6), virtual_item in any::<bool>()) {
        EXECUTIONS.fetch_add(1, Ordering::Relaxed);
        let text = v.to_string();
        if let Ok(order) = WooOrder::parse(&text) {
            let (store, customer) = (
                woolink::domain::StoreId::parse("st_1").unwrap(),
                woolink::domain::CustomerId::parse("c").unwrap(),
            );
            let doc = OrderDocument::map(&order, &store, &customer);
            let _ = doc.shipping_hash();
            // Version 2, with catalogue facts for every id the order names, and the tenant's
            // meta allow-list: the document must still match its schema.
            let settings = woolink::model::DocumentSettings {
                order_meta_keys: vec!["key".into(), "value".into()],
                cod_methods: vec!["x".into()],
                ..woolink::model::DocumentSettings::current()
            };
            let facts = order
                .line_items
                .iter()
                .flat_map(|i| [i.product_id, i.variation_id])
                .map(|id| (id, woolink::order::v2::ItemFacts { weight, virtual_item, ..Default::default() }))
                .collect();
            let ctx = woolink::order::v2::Context {
                settings: Some(&settings),
                facts,
                refund_items: Some(Default::default()),
                ..Default::default()
            };
            let v2 = woolink::order::v2::OrderDocumentV2::map(&order, &store, &customer, &ctx);
            let _ = v2.shipping_hash();
            assert_valid_document(&json!({"type": "order.created", "data": v2}));
        }
    }
}

#[tokio::test]
async fn boundary_inputs_are_refused_cleanly() {
    let app = intake_app();
    let signed = |body: &[u8]| {
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-wc-webhook-topic".to_owned(), "order.updated".to_owned()),
            (
                "x-wc-webhook-signature".to_owned(),
                woo_signature(SECRET.as_bytes(), body),
            ),
        ]
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty body", Vec::new(), 400),
        (
            "invalid UTF-8",
            b"{\"id\":1,\"x\":\"\xff\xfe\"}".to_vec(),
            400,
        ),
        (
            "nested 10,000 deep",
            {
                let mut b = "[".repeat(10_000).into_bytes();
                b.extend("]".repeat(10_000).bytes());
                b
            },
            400,
        ),
        (
            "id out of range",
            br#"{"id":184467440737095516150}"#.to_vec(),
            400,
        ),
        ("negative id", br#"{"id":-5}"#.to_vec(), 400),
        ("float id", br#"{"id":1.5}"#.to_vec(), 400),
        // PHP's json_encode never repeats a key; a body that does is not WooCommerce's.
        (
            "duplicate keys",
            br#"{"id":1,"id":2,"date_modified_gmt":"2026-01-01T00:00:00"}"#.to_vec(),
            400,
        ),
        (
            "huge line_items",
            json!({"id": 9, "line_items": vec![json!({"name": "x", "quantity": 1}); 50_000]})
                .to_string()
                .into_bytes(),
            413,
        ),
        (
            "1 byte over the HTTP limit",
            vec![b' '; woolink::api::WEBHOOK_BODY_LIMIT + 1],
            413,
        ),
    ];
    for (what, body, want) in cases {
        let (status, answer) = post(&app, &signed(&body), body).await;
        assert_eq!(status, want, "{what}: {answer}");
        if status >= 400 {
            assert!(answer["error"]["code"].is_string(), "{what}: {answer}");
        }
    }
    // Numbers out of range and huge lists inside an order map without panicking.
    let order = WooOrder::parse(
        &json!({"id": 1, "total": 1e308, "line_items": vec![json!({"quantity": f64::MAX, "price": "NaN", "product_id": -1}); 50_000]})
            .to_string(),
    )
    .unwrap();
    let doc = OrderDocument::map(
        &order,
        &woolink::domain::StoreId::parse("st_1").unwrap(),
        &woolink::domain::CustomerId::parse("c").unwrap(),
    );
    assert_eq!(doc.items.len(), 50_000);
    assert_eq!(doc.items[0].product_id, 0);
    let _ = doc.shipping_hash();
}
