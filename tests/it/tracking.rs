//! Tracking write-back (issue 16), the store client's half: which tracking API a store serves.
//! (Writing through AST is proven against the real store in `real_store.rs`.)

use crate::helpers::*;

/// A store with none of the tracking APIs (every probe 404) gets order notes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_a_tracking_plugin_gets_order_notes() {
    let store = FakeStore::start(StoreMode::Healthy).await;
    let policy = woolink::outbound::OutboundPolicy::local_development();
    let woo = woolink::woocommerce::WooClient::new(
        policy.client(std::time::Duration::from_secs(5)).unwrap(),
        policy,
    );
    let creds = woolink::woocommerce::WooCredentials {
        consumer_key: woolink::crypto::SecretString::new(CONSUMER_KEY.into()),
        consumer_secret: woolink::crypto::SecretString::new(CONSUMER_SECRET.into()),
    };
    let url = woolink::domain::StoreUrl::parse(&store.url).unwrap();
    let api = woo.detect_tracking_api(&url, &creds, 1).await.unwrap();
    assert_eq!(api, woolink::woocommerce::TrackingApi::OrderNote);
}

use serde_json::json;
use woolink::domain::{OrderId, StoreId};
use woolink::model::{Shipment, ShipmentState};
use woolink::shipments::{note_marker, write_shipment, Writing};

use crate::both_backends;

fn writing(app: &TestApp) -> Writing<'_> {
    app.shipments.writing()
}

/// A store holding order 727 (the REST docs' sample, processing).
async fn store_with_order() -> FakeStore {
    let store = FakeStore::start(StoreMode::Healthy).await;
    store.set_order(
        727,
        &php_json(&order(727, "processing", "2026-11-30T10:00:00")),
    );
    store
}

/// A pending shipment of st_a1's order 727, as a tenant would have posted it.
async fn pending(app: &TestApp, id: &str, number: &str) -> Shipment {
    let s = Shipment {
        tracking_url: Some(format!("https://ups.example/{number}")),
        shipped_at: Some(chrono::Utc::now()),
        ..shipment_of("st_a1", 727, id, number)
    };
    app.services
        .repos
        .shipments
        .save_shipment(&s, None)
        .await
        .unwrap();
    s
}

fn posts(store: &FakeStore, path_end: &str) -> usize {
    store
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(path_end))
        .count()
}

/// Through AST: written once with the store's tracking id; written again, nothing new; a
/// retry after a crash between the store's write and the record's (the number already on
/// the order) adopts the store's entry instead of adding a second.
async fn shipments_are_written_once_through_ast(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = store_with_order().await;
    store.misbehave(Misbehaviour {
        ast: true,
        ..Misbehaviour::default()
    });
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a1", &store.url).await.status,
        201
    );
    let ports = writing(&app);
    let st = StoreId::parse("st_a1").unwrap();

    pending(&app, "sh-1", "1Z001").await;
    let done = write_shipment(&ports, &st, OrderId::new(727), "sh-1")
        .await
        .unwrap();
    assert_eq!(done.state, ShipmentState::Written);
    assert_eq!(done.method.as_deref(), Some("ast"));
    let on_store = store.trackings(727);
    assert_eq!(on_store.len(), 1);
    assert_eq!(
        done.store_tracking_id.as_deref(),
        on_store[0]["tracking_id"].as_str()
    );
    assert_eq!(on_store[0]["tracking_provider"], "UPS");
    let again = write_shipment(&ports, &st, OrderId::new(727), "sh-1")
        .await
        .unwrap();
    assert_eq!(again, done, "a written shipment is not written again");
    assert_eq!(posts(&store, "/shipment-trackings"), 1);

    // The store took sh-2's number, but the record never heard (the writer died).
    pending(&app, "sh-2", "1Z002").await;
    let ap = woolink::woocommerce::NewTracking {
        provider: "UPS",
        custom: false,
        link: None,
        number: "1Z002",
        date_shipped: None,
        items: &[],
        skus: &[],
        notify_customer: true,
    };
    let creds = woolink::woocommerce::WooCredentials {
        consumer_key: woolink::crypto::SecretString::new(CONSUMER_KEY.into()),
        consumer_secret: woolink::crypto::SecretString::new(CONSUMER_SECRET.into()),
    };
    let url = woolink::domain::StoreUrl::parse(&store.url).unwrap();
    app.services
        .woo
        .add_tracking(
            &url,
            &creds,
            woolink::woocommerce::TrackingApi::Ast,
            727,
            &ap,
        )
        .await
        .unwrap();
    let adopted = write_shipment(&ports, &st, OrderId::new(727), "sh-2")
        .await
        .unwrap();
    assert_eq!(adopted.state, ShipmentState::Written);
    assert_eq!(store.trackings(727).len(), 2, "no second entry for 1Z002");
    assert_eq!(
        posts(&store, "/shipment-trackings"),
        2,
        "only the simulated one"
    );
}

both_backends!(shipments_are_written_once_through_ast);

/// A store without a tracking plugin: a customer note with the carrier, number and link and
/// woolink's marker, once (a retry finds its own note). A store answering 500 keeps the
/// shipment pending with the error (to be retried); keys it refuses fail it for good.
async fn stores_without_a_plugin_get_a_note_and_failures_are_told_apart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = store_with_order().await;
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a1", &store.url).await.status,
        201
    );
    let ports = writing(&app);
    let st = StoreId::parse("st_a1").unwrap();

    pending(&app, "sh-n", "1Z777").await;
    store.misbehave(Misbehaviour {
        tracking_fails: true,
        ..Misbehaviour::default()
    });
    let e = write_shipment(&ports, &st, OrderId::new(727), "sh-n")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), woolink::ErrorKind::Unavailable);
    let held = app
        .services
        .repos
        .shipments
        .get_shipment(&st, OrderId::new(727), "sh-n")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((held.state, held.attempts), (ShipmentState::Pending, 1));
    assert!(
        held.last_error
            .as_deref()
            .is_some_and(|e| e.contains("500")),
        "{held:?}"
    );

    store.misbehave(Misbehaviour::default());
    let done = write_shipment(&ports, &st, OrderId::new(727), "sh-n")
        .await
        .unwrap();
    assert_eq!(
        (done.state, done.method.as_deref()),
        (ShipmentState::Written, Some("order_note"))
    );
    let notes = store.notes(727);
    assert_eq!(notes.len(), 1);
    let text = notes[0]["note"].as_str().unwrap();
    assert!(
        text.contains("UPS")
            && text.contains("1Z777")
            && text.contains("https://ups.example/1Z777")
    );
    assert!(text.contains(&note_marker("sh-n")));
    assert_eq!(notes[0]["customer_note"], json!(true));

    // Keys the store refuses: failed, with the reason, no retry.
    pending(&app, "sh-k", "1Z888").await;
    revoke_woo_keys(&app, "st_a1").await;
    let failed = write_shipment(&ports, &st, OrderId::new(727), "sh-k")
        .await
        .unwrap();
    assert_eq!(failed.state, ShipmentState::Failed);
    assert!(failed
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("refused")));
}

both_backends!(stores_without_a_plugin_get_a_note_and_failures_are_told_apart);

/// Eight writers of one shipment at once (SQS may hand a message to two workers): the store
/// gets one entry; the writers that lost the claim are told to come back, and coming back
/// they find it written.
async fn parallel_writers_add_one_entry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = store_with_order().await;
    store.misbehave(Misbehaviour {
        ast: true,
        ..Misbehaviour::default()
    });
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a1", &store.url).await.status,
        201
    );
    let ports = writing(&app);
    let st = StoreId::parse("st_a1").unwrap();
    pending(&app, "sh-p", "1Z999").await;
    let results = futures::future::join_all(
        (0..8).map(|_| write_shipment(&ports, &st, OrderId::new(727), "sh-p")),
    )
    .await;
    assert_eq!(store.trackings(727).len(), 1, "{results:?}");
    assert!(results.iter().all(|r| match r {
        Ok(s) => s.state == ShipmentState::Written,
        Err(e) => e.kind() == woolink::ErrorKind::Unavailable,
    }));
    let after = write_shipment(&ports, &st, OrderId::new(727), "sh-p")
        .await
        .unwrap();
    assert_eq!((after.state, after.attempts), (ShipmentState::Written, 1));
    assert_eq!(store.trackings(727).len(), 1);
}

both_backends!(parallel_writers_add_one_entry);
