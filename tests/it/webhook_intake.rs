//! Webhook intake against both backends (memory queue; SQS on moto): signatures over the
//! exact bytes WooCommerce sends, pings, refusals, one queue message per delivery.

use std::time::Duration;

use serde_json::{json, Value};
use woolink::crypto::sha256_hex;
use woolink::domain::StoreId;
use woolink::envelope::Envelope;
use woolink::intake::{woo_signature, UnverifiedDelivery, Verifier, VerifyError};
use woolink::model::LinkStatus;

use crate::both_backends;
use crate::helpers::*;

/// The webhook function's app over `intake`, on a loopback port.
async fn serve_intake(intake: woolink::intake::Intake) -> std::net::SocketAddr {
    let webhook = woolink::api::webhook_app(std::sync::Arc::new(intake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, webhook).await });
    addr
}

fn unverified(body: &[u8], signature: Option<&str>) -> UnverifiedDelivery {
    UnverifiedDelivery {
        store_id: StoreId::parse("st_a1").unwrap(),
        topic: Some("order.updated".into()),
        signature: signature.map(str::to_owned),
        body: body.to_vec().into(),
    }
}

#[test]
fn the_php_made_delivery_verifies_byte_for_byte() {
    let f = signed_fixture();
    let sig = f
        .headers
        .iter()
        .find(|(k, _)| k == "X-WC-Webhook-Signature")
        .unwrap()
        .1
        .clone();
    assert_eq!(woo_signature(f.secret.as_bytes(), &f.body), sig);
    assert_eq!(sha256_hex(&f.body), f.sha256);
    let v = Verifier::new(vec![woolink::crypto::SecretString::new(f.secret.clone())]);
    assert!(v.verify(unverified(&f.body, Some(&sig))).is_ok());

    // One flipped byte anywhere fails.
    for i in [0, f.body.len() / 2, f.body.len() - 1] {
        let mut flipped = f.body.clone();
        flipped[i] ^= 0x01;
        assert_eq!(
            v.verify(unverified(&flipped, Some(&sig))).err(),
            Some(VerifyError::Mismatch)
        );
    }
    // A wrong secret fails.
    let wrong = Verifier::new(vec![woolink::crypto::SecretString::new(
        "test_secret_Abc124".into(),
    )]);
    assert_eq!(
        wrong.verify(unverified(&f.body, Some(&sig))).err(),
        Some(VerifyError::Mismatch)
    );
    // A missing header fails.
    assert_eq!(
        v.verify(unverified(&f.body, None)).err(),
        Some(VerifyError::MissingSignature)
    );
    // JSON re-serialised by us (`\/` becomes `/`, key order and spacing may change) fails.
    let reserialized =
        serde_json::to_vec(&serde_json::from_slice::<Value>(&f.body).unwrap()).unwrap();
    assert_ne!(reserialized, f.body);
    assert_eq!(
        v.verify(unverified(&reserialized, Some(&sig))).err(),
        Some(VerifyError::Mismatch)
    );
}

async fn exact_delivery_becomes_one_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let f = signed_fixture();
    install_link(&app, "st_a1", &f.secret, false).await;
    let headers: Vec<(&str, &str)> = f
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = post_delivery(&app, "st_a1", f.body.clone(), &headers).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "queued");

    let messages = take_all(&app).await;
    assert_eq!(messages.len(), 1);
    let env = Envelope::decode(&messages[0].body).unwrap();
    assert_eq!(env.head.v(), 1);
    assert_eq!(env.head.kind(), "woo.order");
    assert_eq!(env.head.store_id().as_str(), "st_a1");
    assert_eq!(env.head.tenant().as_str(), "ACME");
    assert_eq!(env.head.topic().as_str(), "order.updated");
    assert_eq!(env.head.order_id().get(), 727);
    assert_eq!(env.head.modified_at(), Some("2017-03-22T19:28:08"));
    assert_eq!(env.head.body_sha256(), f.sha256);
    assert!(env.head.received_time().is_some());
    // The payload is the delivery's bytes, not a re-encoding.
    assert_eq!(env.payload.unwrap().get().as_bytes(), f.body.as_slice());
}

async fn pings_and_refusals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = "s3cretAbc";
    install_link(&app, "st_a1", secret, false).await;
    let body = br#"{"id":42,"status":"processing","date_modified_gmt":"2026-11-23T10:00:00"}"#;

    // WooCommerce's ping: form body, no topic, no signature, any store.
    for store in ["st_a1", "st_unknown"] {
        let a = post_delivery(
            &app,
            store,
            b"webhook_id=142".to_vec(),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    deliver_signed(&app, "st_nope", "order.updated", body, secret)
        .await
        .error(404, "store_not_found");
    deliver_signed(&app, "bad%20id", "order.updated", body, secret)
        .await
        .error(404, "store_not_found");
    post_delivery(
        &app,
        "st_a1",
        body.to_vec(),
        &[
            ("content-type", "application/json"),
            ("x-wc-webhook-topic", "order.updated"),
        ],
    )
    .await
    .error(401, "invalid_signature");
    deliver_signed(&app, "st_a1", "order.updated", body, "wrong-secret")
        .await
        .error(401, "invalid_signature");
    let sig = woo_signature(secret.as_bytes(), body);
    let mut flipped = body.to_vec();
    flipped[5] ^= 1;
    post_delivery(
        &app,
        "st_a1",
        flipped,
        &[
            ("content-type", "application/json"),
            ("x-wc-webhook-topic", "order.updated"),
            ("x-wc-webhook-signature", &sig),
        ],
    )
    .await
    .error(401, "invalid_signature");
    // An unsigned ping-looking body with a topic is a delivery, and unsigned.
    post_delivery(
        &app,
        "st_a1",
        b"webhook_id=1".to_vec(),
        &[
            ("content-type", "application/json"),
            ("x-wc-webhook-topic", "order.updated"),
        ],
    )
    .await
    .error(401, "invalid_signature");
    // …and without saying it is JSON, it is refused before anything else.
    post_delivery(
        &app,
        "st_a1",
        b"webhook_id=1".to_vec(),
        &[("x-wc-webhook-topic", "order.updated")],
    )
    .await
    .error(415, "unsupported_media_type");
    deliver_signed(&app, "st_a1", "order.updated", b"not json", secret)
        .await
        .error(400, "invalid_request");
    deliver_signed(
        &app,
        "st_a1",
        "order.updated",
        br#"{"status":"processing"}"#,
        secret,
    )
    .await
    .error(400, "invalid_request");
    deliver_signed(&app, "st_a1", "order.updated", b"", secret)
        .await
        .error(400, "invalid_request");
    let a = app.get("/v1/webhooks/woocommerce/st_a1", None).await;
    a.error(405, "method_not_allowed");
    // Other topics are acknowledged and ignored.
    let a = deliver_signed(&app, "st_a1", "product.updated", br#"{"id":9}"#, secret).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (200, Some("ignored"))
    );
    assert!(
        take_all(&app).await.is_empty(),
        "nothing refused or ignored was queued"
    );

    // A charset in the content type changes nothing.
    let a = post_delivery(
        &app,
        "st_a1",
        body.to_vec(),
        &[
            ("content-type", "application/json; charset=UTF-8"),
            ("x-wc-webhook-topic", "order.created"),
            ("x-wc-webhook-signature", &sig),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // order.deleted carries only the id.
    let a = deliver_signed(&app, "st_a1", "order.deleted", br#"{"id":42}"#, secret).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let messages = take_all(&app).await;
    assert_eq!(messages.len(), 2);
    let deleted = messages
        .iter()
        .map(|m| Envelope::decode(&m.body).unwrap())
        .find(|e| e.head.topic().as_str() == "order.deleted")
        .unwrap();
    assert_eq!(deleted.head.modified_at(), None);
}

async fn oversized_orders(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |c| c.max_message_bytes = 8 * 1024).await;
    let secret = "s3cretAbc";
    let big = json!({"id": 77, "date_modified_gmt": "2026-11-23T10:00:00", "customer_note": "x".repeat(9000)}).to_string();
    install_link(&app, "st_a1", secret, false).await;
    deliver_signed(&app, "st_a1", "order.updated", big.as_bytes(), secret)
        .await
        .error(413, "payload_too_large");
    assert!(take_all(&app).await.is_empty());

    // With WooCommerce keys the worker can fetch the order itself: a claim-check message.
    install_link(&app, "st_a1", secret, true).await;
    tokio::time::sleep(app.intake.cache.ttl() + Duration::from_millis(50)).await;
    let a = deliver_signed(&app, "st_a1", "order.updated", big.as_bytes(), secret).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let messages = take_all(&app).await;
    assert_eq!(messages.len(), 1);
    let env = Envelope::decode(&messages[0].body).unwrap();
    assert!(env.payload.is_none());
    assert_eq!(env.head.order_id().get(), 77);
    assert_eq!(env.head.body_sha256(), sha256_hex(big.as_bytes()));

    // Past the HTTP limit nothing is read at all.
    let huge = vec![b' '; woolink::api::WEBHOOK_BODY_LIMIT + 1];
    deliver_signed(&app, "st_a1", "order.updated", &huge, secret)
        .await
        .error(413, "payload_too_large");
}

async fn rotation_and_disconnect_are_seen_within_the_cache_ttl(backend: Backend) {
    let app =
        TestApp::spawn_configured(backend, |c| c.link_cache_ttl = Duration::from_millis(300)).await;
    let token = app.acme_token().await;
    let body = br#"{"id":5,"date_modified_gmt":"2026-11-23T10:00:00"}"#;
    let first = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    let s1 = first.body["webhook"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        deliver_signed(&app, "st_a1", "order.updated", body, &s1)
            .await
            .status,
        200
    );

    let second = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    let s2 = second.body["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        deliver_signed(&app, "st_a1", "order.updated", body, &s2)
            .await
            .status,
        200
    );
    // During the rotation the previous secret still verifies…
    assert_eq!(
        deliver_signed(&app, "st_a1", "order.updated", body, &s1)
            .await
            .status,
        200
    );
    // …but not the one before it.
    let third = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    let s3 = third.body["webhook"]["secret"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        deliver_signed(&app, "st_a1", "order.updated", body, &s3)
            .await
            .status,
        200
    );
    deliver_signed(&app, "st_a1", "order.updated", body, &s1)
        .await
        .error(401, "invalid_signature");

    // A disconnected link answers 410 once the cache entry has expired.
    let id = StoreId::parse("st_a1").unwrap();
    let mut link = app
        .services
        .repos
        .links
        .get_link(&id)
        .await
        .unwrap()
        .unwrap();
    let rev = link.revision;
    link.status = LinkStatus::Disconnected;
    link.webhook_secret = None;
    link.previous_webhook_secret = None;
    link.revision = rev + 1;
    app.services
        .repos
        .links
        .save_link(&link, Some(rev))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    deliver_signed(&app, "st_a1", "order.updated", body, &s3)
        .await
        .error(410, "store_disconnected");
    assert_eq!(
        take_all(&app).await.len(),
        4,
        "every accepted delivery, nothing refused"
    );
}

/// A store flooding its webhook (a plugin in a loop) is answered 429 with `Retry-After` past
/// its share, and only it: another store goes on, and a stranger's unsigned junk for the
/// flooding store's URL spends none of its share.
async fn a_flooding_store_is_refused_alone(backend: Backend) {
    use woolink::intake::Intake;

    let app = TestApp::spawn(backend).await;
    install_link(&app, "st_a1", "s3cretAbc", false).await;
    install_link(&app, "st_b1", "s3cretBcd", false).await;
    let mut config = app.config().clone();
    config.store_intake_rate = woolink::politeness::StoreRate::parse("0.5/3");
    let mut intake = Intake::new(
        app.services.repos.links.clone(),
        app.services.repos.tenants.clone(),
        app.queue.clone(),
        &config,
    )
    .unwrap();
    intake.secrets = woolink::crypto::KeyRing::ready(app.services.secrets.clone());
    let addr = serve_intake(intake).await;
    let http = reqwest::Client::new();
    let send = |store: &'static str, secret: &'static [u8], id: u64| {
        let http = http.clone();
        async move {
            let body = format!(r#"{{"id":{id},"date_modified_gmt":"2026-11-23T10:00:00"}}"#);
            let r = http
                .post(format!("http://{addr}/v1/webhooks/woocommerce/{store}"))
                .header("content-type", "application/json")
                .header("x-wc-webhook-topic", "order.updated")
                .header(
                    "x-wc-webhook-signature",
                    woo_signature(secret, body.as_bytes()),
                )
                .body(body)
                .send()
                .await
                .unwrap();
            Answer::from(r).await
        }
    };
    // Junk first: unsigned, it is refused 401 and spends nothing.
    for _ in 0..10 {
        let r = http
            .post(format!("http://{addr}/v1/webhooks/woocommerce/st_a1"))
            .header("content-type", "application/json")
            .header("x-wc-webhook-topic", "order.updated")
            .header("x-wc-webhook-signature", "AAAA")
            .body(r#"{"id":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // Ten at once from st_a1: its burst of three goes through, the rest are told to wait.
    let answers = futures::future::join_all((1..=10).map(|i| send("st_a1", b"s3cretAbc", i))).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 3, "the burst");
    for a in answers.iter().filter(|a| a.status != 200) {
        a.error(429, "too_many_attempts");
        let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "retry after {wait}");
    }
    // st_b1 is not held back by st_a1.
    for i in 1..=3 {
        assert_eq!(send("st_b1", b"s3cretBcd", 100 + i).await.status, 200);
    }
    // Three accepted from st_a1 and three from st_b1 reached the queue, nothing else.
    let (visible, in_flight) = app.queue.depth().await.unwrap();
    assert_eq!(visible + in_flight, 6);
}

both_backends!(
    exact_delivery_becomes_one_message,
    pings_and_refusals,
    oversized_orders,
    rotation_and_disconnect_are_seen_within_the_cache_ttl,
    a_flooding_store_is_refused_alone,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_outage_answers_503_and_queues_nothing() {
    use std::sync::Arc;
    use woolink::intake::Intake;
    use woolink::queue::SqsQueue;

    let app = TestApp::spawn(Backend::Dynamo).await;
    install_link(&app, "st_a1", "s3cretAbc", false).await;
    let body = br#"{"id":5,"date_modified_gmt":"2026-11-23T10:00:00"}"#;

    // The queue is gone (deleted), as in a misconfiguration or a regional outage.
    let client = aws_sdk_sqs::Client::new(&moto_sdk_config().await);
    let (url, _) =
        SqsQueue::create_with_dlq(&client, &unique_name("gone"), Duration::from_secs(30), 5)
            .await
            .unwrap();
    client.delete_queue().queue_url(&url).send().await.unwrap();
    let config = test_config(
        &app.base,
        woolink::outbound::OutboundPolicy::local_development(),
    );
    let mut intake = Intake::new(
        app.services.repos.links.clone(),
        app.services.repos.tenants.clone(),
        Arc::new(SqsQueue::new(client, url)),
        &config,
    )
    .unwrap();
    intake.secrets = woolink::crypto::KeyRing::ready(app.services.secrets.clone());
    let sig = woo_signature(b"s3cretAbc", body);
    let err = intake
        .accept(UnverifiedDelivery {
            store_id: StoreId::parse("st_a1").unwrap(),
            topic: Some("order.updated".into()),
            signature: Some(sig.clone()),
            body: body.to_vec().into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), woolink::ErrorKind::Unavailable);

    // And over HTTP, through the webhook function's app, with SQS unreachable.
    let dead = dead_url().await;
    let unreachable = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&moto_sdk_config().await)
            .endpoint_url(&dead)
            .build(),
    );
    let mut intake = Intake::new(
        app.services.repos.links.clone(),
        app.services.repos.tenants.clone(),
        Arc::new(SqsQueue::new(
            unreachable,
            format!("{dead}/123456789012/orders"),
        )),
        &config,
    )
    .unwrap();
    intake.secrets = woolink::crypto::KeyRing::ready(app.services.secrets.clone());
    let addr = serve_intake(intake).await;
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/webhooks/woocommerce/st_a1"))
        .header("content-type", "application/json")
        .header("x-wc-webhook-topic", "order.updated")
        .header("x-wc-webhook-signature", sig)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let a = Answer::from(r).await;
    a.error(503, "service_unavailable");
    assert!(
        !a.body.to_string().contains("sqs"),
        "no internals in a 5xx: {}",
        a.body
    );
    assert!(take_all(&app).await.is_empty());
}

/// The webhook function reads the application key beside the runtime, not before it: a
/// ping and an unknown store need no key; a delivery that needs it while Secrets Manager
/// cannot give it is a 503 (WooCommerce's delivery fails, the reconciliation poll finds the
/// order), and the next delivery reads it again and goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_key_is_read_on_first_need_and_again_after_a_failure() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use woolink::intake::Intake;

    let app = TestApp::spawn(Backend::Dynamo).await;
    install_link(&app, "st_a1", "s3cretAbc", false).await;
    let sdk = moto_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique_name("app-key");
    let fetches = Arc::new(AtomicUsize::new(0));
    let (client, arn, counted) = (secrets.clone(), name.clone(), fetches.clone());
    let mut intake = Intake::new(
        app.services.repos.links.clone(),
        app.services.repos.tenants.clone(),
        app.queue.clone(),
        app.config(),
    )
    .unwrap();
    intake.secrets = woolink::crypto::KeyRing::deferred(Box::new(move || {
        let (client, arn, counted) = (client.clone(), arn.clone(), counted.clone());
        Box::pin(async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let (current, previous) = woolink::wiring::fetch_keys(&client, &arn).await?;
            woolink::crypto::SecretBox::with_previous(current.expose(), &previous)
        })
    }));
    let addr = serve_intake(intake).await;
    let body = br#"{"id":5,"date_modified_gmt":"2026-11-23T10:00:00"}"#;
    let sig = woo_signature(b"s3cretAbc", body);
    let http = reqwest::Client::new();
    let deliver = |store: &'static str, topic: Option<&'static str>, body: Vec<u8>| {
        let (http, sig) = (http.clone(), sig.clone());
        async move {
            let mut r = http
                .post(format!("http://{addr}/v1/webhooks/woocommerce/{store}"))
                .header("x-wc-webhook-signature", sig)
                .body(body);
            r = match topic {
                Some(t) => r
                    .header("content-type", "application/json")
                    .header("x-wc-webhook-topic", t),
                None => r.header("content-type", "application/x-www-form-urlencoded"),
            };
            Answer::from(r.send().await.unwrap()).await
        }
    };

    // The key does not exist yet in Secrets Manager.
    let ping = deliver("st_a1", None, b"webhook_id=7".to_vec()).await;
    assert_eq!(ping.status, 200, "a ping needs no key");
    deliver("st_nope", Some("order.updated"), body.to_vec())
        .await
        .error(404, "store_not_found");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        0,
        "nothing needed the key yet"
    );
    deliver("st_a1", Some("order.updated"), body.to_vec())
        .await
        .error(503, "service_unavailable");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // The key appears: the next delivery reads it and is queued; later ones reuse it.
    secrets
        .create_secret()
        .name(&name)
        .secret_string(app.config().secrets_key.expose())
        .send()
        .await
        .unwrap();
    // Ten stores' first deliveries at once, each loading its link: one read between them.
    for i in 0..10 {
        let store: &'static str = Box::leak(format!("st_c{i}").into_boxed_str());
        install_link(&app, store, "s3cretAbc", false).await;
    }
    let answers = futures::future::join_all((0..10).map(|i| {
        let store: &'static str = Box::leak(format!("st_c{i}").into_boxed_str());
        deliver(store, Some("order.updated"), body.to_vec())
    }))
    .await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["status"], "queued");
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "one read for ten at once"
    );
    let a = deliver("st_a1", Some("order.updated"), body.to_vec()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "read once more, then kept"
    );
}

/// SQS fair queues: every delivery goes to the orders queue in its tenant's message group, so a
/// tenant whose stores flood the queue (or whose endpoint is slow) does not hold up the others.
#[tokio::test]
async fn deliveries_are_queued_in_their_tenants_fairness_group() {
    use std::sync::Arc;
    use woolink::intake::Intake;
    use woolink::queue::SqsQueue;

    let app = TestApp::spawn(Backend::Dynamo).await;
    install_link(&app, "st_a1", "s3cretAbc", false).await;
    let client = aws_sdk_sqs::Client::new(&moto_sdk_config().await);
    let (url, _) =
        SqsQueue::create_with_dlq(&client, &unique_name("fair"), Duration::from_secs(30), 5)
            .await
            .unwrap();
    let mut intake = Intake::new(
        app.services.repos.links.clone(),
        app.services.repos.tenants.clone(),
        Arc::new(SqsQueue::new(client.clone(), url.clone())),
        app.config(),
    )
    .unwrap();
    intake.secrets = woolink::crypto::KeyRing::ready(app.services.secrets.clone());
    let body = br#"{"id":5,"date_modified_gmt":"2026-11-23T10:00:00"}"#;
    intake
        .accept(UnverifiedDelivery {
            store_id: StoreId::parse("st_a1").unwrap(),
            topic: Some("order.updated".into()),
            signature: Some(woo_signature(b"s3cretAbc", body)),
            body: body.to_vec().into(),
        })
        .await
        .unwrap();
    let got = client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
        )
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(
        m.attributes().unwrap()[&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId],
        "ACME"
    );
    assert!(m.body().unwrap().contains(r#""tenant":"ACME""#));
    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();

    // The other ways orders reach the queue keep the group: batches (backfill, poll, retry
    // failed; 12 here, two SendMessageBatch calls), and held messages (a paused store's).
    use woolink::ports::Queue;
    let queue = SqsQueue::new(client.clone(), url.clone());
    queue
        .send_many_grouped((0..12).map(|i| format!("batch {i}")).collect(), "ACME")
        .await
        .unwrap();
    queue
        .send_delayed_grouped("held".into(), Duration::ZERO, "OTHER")
        .await
        .unwrap();
    let mut groups = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..10 {
        let got = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let group = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .unwrap_or_default();
            *groups.entry(group).or_default() += 1;
        }
        if groups.values().sum::<usize>() == 13 {
            break;
        }
    }
    assert_eq!(
        groups,
        [("ACME".to_owned(), 12), ("OTHER".to_owned(), 1)].into(),
        "every message in its group"
    );
}
