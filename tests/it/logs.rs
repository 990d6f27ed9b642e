//! No secret, password, token or API key in any log line, at debug level, on either backend.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs the whole wizard (with WooCommerce keys, failures and a lockout) with every log line
/// captured as JSON at debug level, and returns the log and the secrets that went by.
async fn wizard_with_captured_logs(backend: Backend) -> (String, Vec<String>) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_current_span(true)
        .with_writer(capture.clone())
        .finish();
    // The test runtime is single-threaded, so the app, the fake store and the client all run
    // on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = FakeStore::start(StoreMode::Healthy).await;
    let tenant = FakeTenant::answering(&[500]).await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    let fulfilment_secret = tenant.secret.clone();

    for _ in 0..6 {
        app.login_as("ACME", "ghost@acme.test", "wrong-password-123", DEVICE)
            .await;
    }
    let token = app.acme_token().await;
    app.get("/v1/connect/stores", Some(&token)).await;
    app.link(
        &token,
        json!({"storeId": "st_a1", "storeUrl": store.url, "deviceId": DEVICE,
               "wooCommerce": {"consumerKey": "ck_wrong_key_for_the_log_test", "consumerSecret": CONSUMER_SECRET}}),
    )
    .await
    .error(422, "woocommerce_auth_failed");
    let linked = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let api_key = linked.body["apiKey"].as_str().unwrap().to_owned();
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/v1/stores/st_a1", Some(&api_key)).await;

    // An order through the intake and the worker (a failed attempt, then a delivery).
    let body = php_json(&order(727, "processing", "2026-11-23T10:00:00"));
    let a = deliver_signed(&app, "st_a1", "order.created", &body, &secret).await;
    assert_eq!(a.status, 200, "{}", a.body);
    for _ in 0..2 {
        let msgs = app
            .queue
            .receive(10, std::time::Duration::from_secs(2))
            .await
            .unwrap();
        woolink::local::process_batch(app.queue.as_ref(), &app.worker, &msgs).await;
    }
    assert_eq!(tenant.accepted().len(), 1, "the order went through");
    // And the disconnect.
    let a = app
        .post_json(
            "/v1/connect/disconnect",
            json!({"storeUrl": store.url, "customerId": "cus_a1"}),
            Some(&api_key),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A one-click connect: WooCommerce's callback carries fresh keys in its body.
    let mut state = woolink::consent::ConnectState::new(
        woolink::domain::TenantCode::parse("ACME").unwrap(),
        woolink::domain::StoreId::parse("st_a2").unwrap(),
        woolink::domain::StoreUrl::parse(&store.url).unwrap(),
        chrono::Utc::now(),
    );
    state.expires_at = chrono::Utc::now() + chrono::Duration::minutes(5);
    let consent_state = state.seal(&app.services.secrets).unwrap();
    let a = app
        .post_json(
            "/v1/connect/wc-auth/callback",
            json!({"key_id": 3, "user_id": consent_state, "consumer_key": CONSUMER_KEY,
                   "consumer_secret": CONSUMER_SECRET, "key_permissions": "read_write"}),
            None,
        )
        .await;
    assert_eq!(a.body["outcome"], "connected", "{}", a.body);
    drop(app);

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let secrets = vec![
        PASSWORD.to_owned(),
        "wrong-password-123".to_owned(),
        token,
        api_key,
        secret,
        CONSUMER_KEY.to_owned(),
        CONSUMER_SECRET.to_owned(),
        "ck_wrong_key_for_the_log_test".to_owned(),
        consent_state,
        fulfilment_secret.expose().to_owned(),
        // Order contents: the customer's email, address and the raw body.
        "john.doe@example.com".to_owned(),
        "969 Market".to_owned(),
        String::from_utf8(body).unwrap(),
    ];
    (log, secrets)
}

async fn no_secret_in_logs(backend: Backend) {
    let (log, secrets) = wizard_with_captured_logs(backend).await;
    // The capture really saw the run.
    assert!(log.contains("store linked"), "capture is empty or partial");
    assert!(log.contains("login locked"), "lockout was not logged");
    assert!(
        log.contains("delivered to the tenant"),
        "the worker's logs were not captured"
    );
    assert!(
        log.contains("store disconnected"),
        "the disconnect was not logged"
    );
    assert!(
        log.contains("connected through its consent screen"),
        "the consent callback was not logged"
    );
    assert!(log.lines().count() > 20);
    for line in log.lines() {
        for s in &secrets {
            assert!(
                !line.contains(s.as_str()),
                "a secret leaked into the log: {line}"
            );
        }
        // Neither the basic-auth header of the store calls.
        assert!(!line.contains("Basic "), "{line}");
    }
}

#[tokio::test]
async fn no_secret_in_logs_memory() {
    no_secret_in_logs(Backend::Memory).await
}

#[tokio::test]
async fn no_secret_in_logs_dynamo() {
    no_secret_in_logs(Backend::Dynamo).await
}
