//! Security checks that need more than one request: redirects towards internal addresses are
//! never followed (stores and tenant endpoints alike), and login timing does not tell known
//! accounts from unknown ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};

use crate::both_backends;
use crate::helpers::*;

/// A loopback server that counts the requests reaching it and answers each with `status`
/// (and `Location: target` when given).
async fn counting_server(
    status: StatusCode,
    location: Option<String>,
) -> (String, Arc<AtomicUsize>, tokio::sync::oneshot::Sender<()>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let (counted, location) = (counted.clone(), location.clone());
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let headers: Vec<_> = location
                .map(|l| (header::LOCATION, l))
                .into_iter()
                .collect();
            (
                status,
                axum::response::AppendHeaders(headers),
                "{\"id\": 1}",
            )
        }
    });
    let (addr, tx) = serve_on_loopback(app).await;
    (format!("http://{addr}"), hits, tx)
}

/// A loopback server standing in for an internal service (the metadata endpoint, a private
/// admin API).
async fn internal_service() -> (String, Arc<AtomicUsize>, tokio::sync::oneshot::Sender<()>) {
    counting_server(StatusCode::OK, None).await
}

/// A server that answers every request with `status` and `Location: target`.
async fn redirecting_to(
    status: StatusCode,
    target: String,
) -> (String, Arc<AtomicUsize>, tokio::sync::oneshot::Sender<()>) {
    counting_server(status, Some(target)).await
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
        let a = app.link_with_keys(&token, "st_a1", &store).await;
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
    let endpoint = format!("{redirector}/orders");
    app.set_fulfilment("ACME", "Acme Couriers", &endpoint, &tenant.secret)
        .await;
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(910, "processing", "2026-11-23T10:00:00"),
    )
    .await;
    let status = order_status_until(&app, &key, 910, Duration::from_secs(20), |s| {
        s["state"] == "failed"
    })
    .await;
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
/// time. 32 samples of each, taken in pairs one right after the other with the order
/// alternating, while the rest of the suite loads the machine. Load only ever adds time, so
/// the statistic compared is each side's lower quartile (what an attacker who repeats and
/// keeps the fastest answers would see): their ratio must be within 25 % of 1. If unknown
/// accounts skipped the password hash the ratio would be about 0.01.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_timing_does_not_reveal_accounts() {
    let app = TestApp::spawn(Backend::Memory).await;
    // Each request from its own loopback address, so the per-source login limit (20 a
    // minute) is not what this test measures.
    let sources = std::sync::atomic::AtomicU32::new(0);
    let timed = |email: String, password: &'static str| {
        let app = &app;
        let n = sources.fetch_add(1, Ordering::Relaxed);
        async move {
            let source = std::net::Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8);
            let t0 = Instant::now();
            let a = app
                .login_from(source.into(), "ACME", &email, password, DEVICE)
                .await;
            (t0.elapsed().as_secs_f64() * 1e3, a)
        }
    };
    // Warm up (connections, allocator, the dummy hash unknown accounts verify against).
    let _ = timed("ops@acme.test".into(), PASSWORD).await;
    let _ = timed("warm-up@acme.test".into(), "a wrong password").await;
    const PAIRS: usize = 32;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..PAIRS {
        // Four failures at most per account (the fifth locks it): log in rightly in between.
        if i % 4 == 0 {
            let (_, ok) = timed("ops@acme.test".into(), PASSWORD).await;
            assert_eq!(ok.status, 200);
        }
        let known_first = i % 2 == 0;
        let mut answers = Vec::new();
        for known_now in [known_first, !known_first] {
            let email = if known_now {
                "ops@acme.test".to_owned()
            } else {
                format!("nobody-{i}@acme.test")
            };
            let (ms, a) = timed(email, "a wrong password").await;
            a.error(401, "invalid_credentials");
            answers.push(a.body);
            if known_now {
                known.push(ms);
            } else {
                unknown.push(ms);
            }
        }
        assert_eq!(answers[0], answers[1], "the same answer");
    }
    known.sort_by(f64::total_cmp);
    unknown.sort_by(f64::total_cmp);
    let q1 = |v: &[f64]| v[v.len() / 4];
    let median = |v: &[f64]| v[v.len() / 2];
    let ratio = q1(&unknown) / q1(&known);
    println!(
        "login timing ({PAIRS} each): known account min/q1/median {:.1}/{:.1}/{:.1} ms, unknown {:.1}/{:.1}/{:.1} ms; \
         lower-quartile ratio {ratio:.3}",
        known[0],
        q1(&known),
        median(&known),
        unknown[0],
        q1(&unknown),
        median(&unknown)
    );
    assert!(
        (0.8..=1.25).contains(&ratio),
        "unknown/known login time ratio {ratio:.3} tells accounts apart"
    );
}
