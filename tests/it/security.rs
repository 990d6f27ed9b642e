//! Security checks that need more than one request: redirects towards internal addresses are
//! never followed (stores and tenant endpoints alike), and login timing does not tell known
//! accounts from unknown ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;
use crate::sync_worker::{linked, order, send};

/// A loopback server standing in for an internal service (the metadata endpoint, a private
/// admin API): it counts every request that reaches it.
async fn internal_service() -> (String, Arc<AtomicUsize>, tokio::sync::oneshot::Sender<()>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (StatusCode::OK, "{\"id\": 1}")
        }
    });
    let (addr, tx) = serve_on_loopback(app).await;
    (format!("http://{addr}"), hits, tx)
}

/// A server that answers every request with `status` and `Location: target`.
async fn redirecting_to(
    status: StatusCode,
    target: String,
) -> (String, Arc<AtomicUsize>, tokio::sync::oneshot::Sender<()>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let (counted, target) = (counted.clone(), target.clone());
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (status, [(header::LOCATION, target)], "")
        }
    });
    let (addr, tx) = serve_on_loopback(app).await;
    (format!("http://{addr}"), hits, tx)
}

/// A store whose REST API redirects to an internal service: linking with keys fails as
/// unreachable, and the internal service is never called (the client follows no redirect).
async fn a_store_redirecting_inwards_is_not_followed(backend: Backend) {
    let (internal, internal_hits, _i) = internal_service().await;
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let (store, store_hits, _s) =
            redirecting_to(status, format!("{internal}/wp-json/wc/v3/webhooks")).await;
        let app = TestApp::spawn(backend).await;
        let token = app.acme_token().await;
        let a = app
            .link(
                &token,
                json!({"storeId": "st_a1", "storeUrl": store, "deviceId": DEVICE,
                       "wooCommerce": {"consumerKey": CONSUMER_KEY, "consumerSecret": CONSUMER_SECRET}}),
            )
            .await;
        a.error(502, "woocommerce_unreachable");
        assert!(
            store_hits.load(Ordering::SeqCst) >= 1,
            "the store was asked"
        );
    }
    assert_eq!(
        internal_hits.load(Ordering::SeqCst),
        0,
        "no redirect was followed to the internal service"
    );
}

/// A tenant endpoint that redirects to an internal service: the order is not delivered there;
/// a redirect is a refusal (recorded, parked for a redrive), never followed.
async fn a_tenant_redirecting_inwards_is_not_followed(backend: Backend) {
    let (internal, internal_hits, _i) = internal_service().await;
    let (redirector, redirector_hits, _r) =
        redirecting_to(StatusCode::TEMPORARY_REDIRECT, format!("{internal}/orders")).await;
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    woolink::admin::put_tenant(
        &app.services,
        woolink::admin::TenantSpec {
            code: woolink::domain::TenantCode::parse("ACME").unwrap(),
            name: "Acme Couriers".into(),
            active: true,
            fulfilment: Some((format!("{redirector}/orders"), tenant.secret.clone())),
        },
    )
    .await
    .unwrap();
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(910, "processing", "2026-11-23T10:00:00"),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let s = app.get("/v1/stores/st_a1/orders/910", Some(&key)).await;
        if s.body["state"] == "failed" {
            break s.body;
        }
        assert!(Instant::now() < deadline, "not refused: {}", s.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status["lastError"]
            .as_str()
            .is_some_and(|e| e.starts_with("tenant answered 307")),
        "{status}"
    );
    assert_eq!(redirector_hits.load(Ordering::SeqCst), 1, "asked once");
    assert_eq!(internal_hits.load(Ordering::SeqCst), 0, "never followed");
    assert!(tenant.calls().is_empty());
}

both_backends!(
    a_store_redirecting_inwards_is_not_followed,
    a_tenant_redirecting_inwards_is_not_followed
);

/// A wrong password for a known account and any password for an unknown one take the same
/// time. Samples are taken in pairs (known, unknown) one right after the other, so load on
/// the machine hits both alike; the median of the pairs' ratios must be within 25 % of 1. If
/// unknown accounts skipped the password hash, the ratio would be about 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_timing_does_not_reveal_accounts() {
    let app = TestApp::spawn(Backend::Memory).await;
    let timed = |email: String, password: &'static str| {
        let app = &app;
        async move {
            let t0 = Instant::now();
            let a = app.login_as("ACME", &email, password, DEVICE).await;
            (t0.elapsed(), a)
        }
    };
    // Warm up (connections, allocator, first argon2 run).
    let _ = timed("ops@acme.test".into(), PASSWORD).await;
    let mut ratios = Vec::new();
    let (mut known_total, mut unknown_total) = (Duration::ZERO, Duration::ZERO);
    for i in 0..24 {
        // Four failures at most per account (the fifth locks it): log in rightly in between.
        if i % 4 == 0 {
            let (_, ok) = timed("ops@acme.test".into(), PASSWORD).await;
            assert_eq!(ok.status, 200);
        }
        let (known, a) = timed("ops@acme.test".into(), "a wrong password").await;
        a.error(401, "invalid_credentials");
        let (unknown, b) = timed(format!("nobody-{i}@acme.test"), "a wrong password").await;
        b.error(401, "invalid_credentials");
        assert_eq!(a.body, b.body, "the same answer");
        known_total += known;
        unknown_total += unknown;
        ratios.push(unknown.as_secs_f64() / known.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let median = (ratios[11] + ratios[12]) / 2.0;
    println!(
        "login timing: known account {:.1} ms, unknown {:.1} ms on average; median ratio {median:.3}",
        known_total.as_secs_f64() * 1e3 / 24.0,
        unknown_total.as_secs_f64() * 1e3 / 24.0
    );
    assert!(
        (0.8..=1.25).contains(&median),
        "unknown/known login time ratio {median:.3} tells accounts apart"
    );
}
