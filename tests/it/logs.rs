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
    let app = TestApp::spawn(backend).await;
    let fulfilment_secret = woolink::admin::new_signing_secret();
    woolink::admin::put_tenant(
        &app.services,
        woolink::admin::TenantSpec {
            code: woolink::domain::TenantCode::parse("ACME").unwrap(),
            name: "Acme Couriers".into(),
            active: true,
            fulfilment: Some(("http://127.0.0.1:9/inbox".into(), fulfilment_secret.clone())),
        },
    )
    .await
    .unwrap();

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
    let linked = app
        .link(
            &token,
            json!({"storeId": "st_a1", "storeUrl": store.url, "deviceId": DEVICE,
                   "wooCommerce": {"consumerKey": CONSUMER_KEY, "consumerSecret": CONSUMER_SECRET}}),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    let api_key = linked.body["apiKey"].as_str().unwrap().to_owned();
    let secret = linked.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/v1/stores/st_a1", Some(&api_key)).await;
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
        fulfilment_secret.expose().to_owned(),
    ];
    (log, secrets)
}

async fn no_secret_in_logs(backend: Backend) {
    let (log, secrets) = wizard_with_captured_logs(backend).await;
    // The capture really saw the run.
    assert!(log.contains("store linked"), "capture is empty or partial");
    assert!(log.contains("login locked"), "lockout was not logged");
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
