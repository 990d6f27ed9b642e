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
