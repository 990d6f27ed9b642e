//! A store and a tenant that answer with 300 MB: `woolink dev`'s peak RSS (read from
//! /proc, the whole runner process) stays within a small margin of what it was before the
//! order arrived, and the order fails cleanly: its weights are looked up and given up on at
//! once (an answer that large will not shrink on a retry), and the tenant's refusal is kept
//! to its first kilobyte. Before the reads were capped, the same run took the runner from
//! about 100 MB to over 1 GB.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::routing;
use serde_json::json;

mod common;
use common::*;

const HUGE: usize = 300;

/// `prefix`, then `HUGE` MiB of `filler`, then `suffix`, streamed (the fake holds 1 MiB).
fn huge_body(prefix: &'static str, suffix: &'static str) -> Body {
    let mib = Bytes::from(vec![b'7'; 1 << 20]);
    let chunks = std::iter::once(Bytes::from_static(prefix.as_bytes()))
        .chain(std::iter::repeat_n(mib, HUGE))
        .chain(std::iter::once(Bytes::from_static(suffix.as_bytes())));
    Body::from_stream(futures::stream::iter(
        chunks.map(Ok::<_, std::convert::Infallible>),
    ))
}

#[derive(Default)]
struct Hits {
    products: AtomicUsize,
    tenant: AtomicUsize,
}

async fn hostile_peer() -> (String, Arc<Hits>) {
    let hits = Arc::new(Hits::default());
    let (h1, h2) = (hits.clone(), hits.clone());
    let webhook_ids = Arc::new(AtomicUsize::new(100));
    let app = axum::Router::new()
        .route(
            "/wp-json/wc/v3/webhooks",
            routing::post(move || {
                let n = webhook_ids.fetch_add(1, Ordering::SeqCst);
                async move { axum::Json(json!({"id": n})) }
            }),
        )
        .route(
            "/wp-json/wc/v3/webhooks/{id}",
            routing::delete(|| async { "{}" }),
        )
        .route(
            "/wp-json/wc/v3/products",
            routing::get(move || {
                h1.products.fetch_add(1, Ordering::SeqCst);
                async { huge_body(r#"[{"id":77,"weight":""#, r#""}]"#) }
            }),
        )
        .route(
            "/tenant",
            routing::post(move || {
                h2.tenant.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::BAD_REQUEST, huge_body("no: ", "")) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_answers_from_a_store_and_a_tenant_are_cut_off() {
    let (peer, hits) = hostile_peer().await;
    let seed = write_seed(
        "woolink-hostile",
        &json!({"tenants": [{"code": "ACME", "name": "Acme Couriers",
            "fulfilment": {"url": format!("{peer}/tenant"),
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
            "users": [{"email": "ops@acme.test", "password": "correct horse battery staple"}],
            "stores": [{"id": "st_1", "name": "Acme Shop", "customerId": "cus_1"}]}]}),
    );
    let dev = start_dev(&["--seed", seed.to_str().unwrap()], &[]);
    let b = dev.base.as_str();
    let token = acme_token(b).await;
    let (s, r) = post(
        b,
        "/v1/connect/link",
        json!({"storeId": "st_1", "storeUrl": peer, "deviceId": DEVICE,
            "wooCommerce": {"consumerKey": "ck_test", "consumerSecret": "cs_test"}}),
        Some(&token),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let secret = r["webhook"]["secret"].as_str().unwrap().to_owned();
    let key = r["apiKey"].as_str().unwrap().to_owned();
    let before = peak_rss_mib(dev.child.id());

    let order = json!({"id": 501, "status": "processing", "currency": "EUR",
        "date_modified_gmt": "2026-11-29T10:00:00",
        "shipping": {"first_name": "Ada", "address_1": "1 Road", "city": "Town",
            "postcode": "12345", "country": "DE"},
        "line_items": [{"id": 1, "product_id": 77, "variation_id": 0, "quantity": 1,
            "name": "Thing", "sku": "THING", "total": "10.00"}]});
    let status = deliver_signed(
        &reqwest::Client::new(),
        &format!("{b}/v1/webhooks/woocommerce/st_1"),
        "order.created",
        &secret,
        serde_json::to_vec(&order).unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    let deadline = Instant::now() + Duration::from_secs(60);
    let record = loop {
        let (s, r) = get(b, "/v1/stores/st_1/orders/501", &key).await;
        if s == 200 && r["state"] == "failed" {
            break r;
        }
        assert!(Instant::now() < deadline, "the order never failed: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let after = peak_rss_mib(dev.child.id());
    eprintln!("woolink dev peak RSS: {before:.1} MiB before the order, {after:.1} MiB after");

    assert_eq!(
        hits.products.load(Ordering::SeqCst),
        1,
        "weights asked once, not retried"
    );
    assert_eq!(
        hits.tenant.load(Ordering::SeqCst),
        1,
        "a 400 is not retried"
    );
    let last_error = record["lastError"].as_str().unwrap();
    assert!(
        last_error.starts_with("tenant answered 400"),
        "{last_error}"
    );
    assert!(last_error.len() < 2048, "{} bytes kept", last_error.len());
    assert!(
        after - before < 48.0,
        "peak RSS grew by {:.1} MiB for one order ({before:.1} → {after:.1})",
        after - before
    );
}
