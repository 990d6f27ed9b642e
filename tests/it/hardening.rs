//! The outside review's attacks (issue 14), each re-run as a test: parallel guesses against
//! the lockout, floods from one source, hostile answers from stores and tenants, bad bodies,
//! replays, revoked keys, and what a merchant is shown of a tenant's refusal.

use std::time::Duration;

use serde_json::json;

use futures::future::join_all;

use crate::both_backends;
use crate::helpers::*;
use woolink::intake::woo_signature;

/// Answers to `n` logins sent at once.
async fn parallel_logins(app: &TestApp, passwords: Vec<&str>) -> Vec<Answer> {
    join_all(
        passwords
            .into_iter()
            .map(|p| app.login_as("ACME", "ops@acme.test", p, DEVICE)),
    )
    .await
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

/// 100 wrong passwords at once: no more than the lockout's 5 are ever checked (401), every
/// other is refused before argon2 runs (429). Then 39 wrong and the right one at once: still
/// at most 5 checked in all, so the right one is checked only if it is among them.
async fn parallel_logins_cannot_outrun_the_lockout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answers = parallel_logins(&app, vec!["wrong-guess"; 100]).await;
    let (checked, refused) = (count(&answers, 401), count(&answers, 429));
    assert_eq!(checked + refused, 100, "every answer is 401 or 429");
    assert!(
        checked <= 5,
        "{checked} guesses checked through a limit of 5"
    );
    for a in answers.iter().filter(|a| a.status == 429) {
        a.error(429, "too_many_attempts");
        assert!(a.headers.contains_key("retry-after"));
    }

    let app = TestApp::spawn(backend).await;
    let mut passwords = vec!["wrong-guess"; 39];
    passwords.push(PASSWORD);
    let answers = parallel_logins(&app, passwords).await;
    let (checked, ok) = (count(&answers, 401), count(&answers, 200));
    assert_eq!(checked + ok + count(&answers, 429), 40);
    assert!(
        checked + ok <= 5,
        "{checked} wrong and {ok} right passwords checked through a limit of 5"
    );
}

both_backends!(parallel_logins_cannot_outrun_the_lockout);

/// A store whose order answer is 300 MB (streamed, or announced by Content-Length): the client
/// stops at its limit and says so, instead of holding the answer.
#[tokio::test]
async fn a_huge_order_answer_is_refused_at_the_limit() {
    use axum::body::{Body, Bytes};
    use woolink::woocommerce::{WooClient, WooCredentials, WooError, ORDER_ANSWER_LIMIT};

    let mib = Bytes::from(vec![b' '; 1 << 20]);
    let streamed = mib.clone();
    let app = axum::Router::new()
        .route(
            "/wp-json/wc/v3/orders/1",
            axum::routing::get(move || {
                let chunks =
                    std::iter::repeat_n(streamed.clone(), 300).map(Ok::<_, std::io::Error>);
                async move { Body::from_stream(futures::stream::iter(chunks)) }
            }),
        )
        .route(
            "/wp-json/wc/v3/orders/2",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let body = [mib.as_ref(); 8].concat();
                // Every store call says who it is.
                let ua = headers.get("user-agent").and_then(|v| v.to_str().ok());
                let ok = ua == Some(woolink::woocommerce::USER_AGENT);
                async move {
                    if ok {
                        (axum::http::StatusCode::OK, body)
                    } else {
                        (axum::http::StatusCode::BAD_REQUEST, Vec::new())
                    }
                }
            }),
        );
    let (addr, _stop) = serve_on_loopback(app).await;
    let store = woolink::domain::StoreUrl::parse(&format!("http://{addr}")).unwrap();
    let policy = woolink::outbound::OutboundPolicy::local_development();
    let woo = WooClient::new(policy.client(Duration::from_secs(10)).unwrap(), policy);
    let creds = WooCredentials {
        consumer_key: woolink::crypto::SecretString::new("ck".into()),
        consumer_secret: woolink::crypto::SecretString::new("cs".into()),
    };
    for id in [1, 2] {
        assert_eq!(
            woo.get_order(&store, &creds, id).await,
            Err(WooError::TooLarge {
                limit: ORDER_ANSWER_LIMIT
            }),
            "order {id}"
        );
    }
}

/// Signed bodies that are not a JSON object with an integer `id` are refused at the door
/// (before: `[5]` was queued and retried for over two hours), and so is a delivery that does
/// not say it is JSON; nothing reaches the queue.
async fn bad_bodies_are_refused_at_the_intake(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    let (_, secret) = linked(&app).await;
    for body in [
        "[5]",
        "[5, \"2026-11-23T10:00:00\"]",
        "5",
        "\"order\"",
        "null",
        "{}",
        "{\"id\": \"5\"}",
        "{\"id\": 5.5}",
        "{\"id\": -1}",
        "{\"id\": 0}",
        "{\"id\": 5",
    ] {
        deliver_signed(&app, "st_a1", "order.updated", body.as_bytes(), &secret)
            .await
            .error(400, "invalid_request");
    }
    let good = php_json(&order(77, "processing", "2026-11-23T10:00:00"));
    let sig = woo_signature(secret.as_bytes(), &good);
    for (content_type, status) in [
        (None, 415),
        (Some("text/plain"), 415),
        (Some("application/x-www-form-urlencoded"), 415),
        (Some("application/json; charset=UTF-8"), 200),
    ] {
        let mut headers = vec![
            ("x-wc-webhook-topic", "order.updated"),
            ("x-wc-webhook-signature", sig.as_str()),
        ];
        headers.extend(content_type.map(|c| ("content-type", c)));
        let a = post_delivery(&app, "st_a1", good.clone(), &headers).await;
        if status == 415 {
            a.error(415, "unsupported_media_type");
        } else {
            assert_eq!(a.status, 200, "{}", a.body);
        }
    }
    assert_eq!(
        app.queue.depth().await.unwrap(),
        (1, 0),
        "only the good one queued"
    );
}

/// A message the worker can never decode (an envelope cut short, a payload that is not an
/// order) goes to the dead-letter queue on its first receive, not after 16.
async fn undecodable_messages_are_parked_at_once(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    linked(&app).await;
    let head = woolink::envelope::EnvelopeHead::for_delivery(
        woolink::domain::StoreId::parse("st_a1").unwrap(),
        woolink::domain::TenantCode::parse("ACME").unwrap(),
        woolink::domain::WooTopic::OrderUpdated,
        woolink::domain::OrderId::new(5),
        None,
        b"[5]",
    );
    let not_an_order = woolink::envelope::encode(&head, Some("[5]")).unwrap();
    for body in [
        "{\"v\":1,\"kind\":\"woo.order\",\"trunc",
        not_an_order.as_str(),
    ] {
        app.queue.send(body.to_owned()).await.unwrap();
    }
    let messages = app.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.receive_count == 1));
    let failed = app.worker.handle_batch(&messages).await;
    assert!(failed.is_empty(), "{failed:?} would come back");
    let parked = app.dlq.receive(10, Duration::from_secs(1)).await.unwrap();
    let mut bodies: Vec<&str> = parked.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_unstable();
    let mut sent = vec![
        "{\"v\":1,\"kind\":\"woo.order\",\"trunc",
        not_an_order.as_str(),
    ];
    sent.sort_unstable();
    assert_eq!(bodies, sent);
    assert!(tenant.accepted().is_empty());
}

both_backends!(
    bad_bodies_are_refused_at_the_intake,
    undecodable_messages_are_parked_at_once
);

/// A store URL that is an IP literal never reaches the vetting resolver, so the store client
/// checks the URL itself on every call, as the tenant client does: with the production policy
/// no call to a loopback store leaves woolink.
#[tokio::test]
async fn store_calls_check_their_url_every_time() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use woolink::crypto::SecretString;
    use woolink::domain::{StoreUrl, WooTopic};
    use woolink::outbound::OutboundPolicy;
    use woolink::woocommerce::{WooClient, WooCredentials};

    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "{\"id\": 1}" }
    });
    let (addr, _stop) = serve_on_loopback(app).await;
    let policy = OutboundPolicy::public_only();
    let woo = WooClient::new(policy.client(Duration::from_secs(5)).unwrap(), policy);
    let creds = WooCredentials {
        consumer_key: SecretString::new("ck".into()),
        consumer_secret: SecretString::new("cs".into()),
    };
    let secret = SecretString::new("s".into());
    for raw in [
        format!("http://{addr}"),
        format!("https://{addr}"),
        format!("http://[::ffff:127.0.0.1]:{}", addr.port()),
    ] {
        let store = StoreUrl::parse(&raw).unwrap();
        assert!(woo.get_order(&store, &creds, 1).await.is_err(), "{raw}");
        assert!(woo.product_facts(&store, &creds, &[1]).await.is_err());
        assert!(woo
            .create_webhook(
                &store,
                &creds,
                woolink::domain::Topic::Order(WooTopic::OrderCreated),
                "https://x.test",
                &secret
            )
            .await
            .is_err());
        assert!(woo.delete_webhook(&store, &creds, 1).await.is_err());
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a call reached the loopback store"
    );
}

/// A disconnect revokes the link's API key: repeating the disconnect with it is answered the
/// same (the plugin may retry), but it authorises nothing more — not a purge of the store's
/// order records, which stay until their expiry or a purge by the tenant.
async fn a_revoked_key_cannot_purge(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    send(
        &app,
        &secret,
        "order.created",
        &order(31, "processing", "2026-11-23T18:00:00"),
    )
    .await;
    drained(&app).await;
    let body = json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a1"});
    let first = app
        .post_json("/v1/connect/disconnect", body.clone(), Some(&key))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = app
        .post_json("/v1/connect/disconnect", body.clone(), Some(&key))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["disconnectedAt"], first.body["disconnectedAt"]);
    app.post_json("/v1/connect/disconnect?purge=true", body, Some(&key))
        .await
        .error(401, "invalid_api_key");
    let store = woolink::domain::StoreId::parse("st_a1").unwrap();
    let records = app.services.repos.orders.list_order_syncs(&store).await;
    assert_eq!(records.unwrap().len(), 1, "the records were not purged");
    // The tenant still can.
    let token = app.acme_token().await;
    let a = app
        .delete("/v1/connect/links/st_a1?purge=true", Some(&token))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["cleanup"]["ordersPurged"], 1);
}

both_backends!(a_revoked_key_cannot_purge);

/// Replays of captured signed bodies, on a link without WooCommerce keys (so the store cannot
/// be asked): a deletion body (`{"id": N}`, the same bytes every time) replayed after the
/// order was restored, a full body replayed under the `order.deleted` topic, and a deletion
/// body under another topic. None changes the order; the tenant hears created, cancelled,
/// updated (the real history) and nothing more.
async fn replayed_bodies_change_nothing(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    // As on a store: the restore is stamped after the trashing, which woolink versions by
    // the second it received the deletion (the body carries no time).
    let stamp = |secs: i64| {
        (chrono::Utc::now() + chrono::Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let created = php_json(&order(41, "processing", &stamp(-60)));
    let deletion = b"{\"id\":41}".to_vec();
    let restored = php_json(&order(41, "processing", &stamp(1)));
    let steps: [(&str, &[u8]); 3] = [
        ("order.created", &created),
        ("order.deleted", &deletion),
        ("order.restored", &restored),
    ];
    for (topic, body) in steps {
        deliver_signed(&app, "st_a1", topic, body, &secret).await;
        drained(&app).await;
    }
    let events = |t: &FakeTenant| -> Vec<String> {
        t.accepted()
            .iter()
            .map(|c| c.json()["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        events(&tenant),
        ["order.created", "order.cancelled", "order.updated"]
    );
    // The replays come later than everything the store stamped (hours later, in an attack).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let replays: [(&str, &[u8]); 4] = [
        ("order.deleted", &deletion),
        ("order.deleted", &restored),
        ("order.updated", &deletion),
        ("order.deleted", &created),
    ];
    for (topic, body) in replays {
        let a = deliver_signed(&app, "st_a1", topic, body, &secret).await;
        assert_eq!(a.status, 200, "{}", a.body);
        drained(&app).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        events(&tenant),
        ["order.created", "order.cancelled", "order.updated"],
        "a replay reached the tenant"
    );
    let s = app.get("/v1/stores/st_a1/orders/41", Some(&key)).await;
    assert_eq!(s.body["wooStatus"], "processing", "{}", s.body);
    assert_eq!(s.body["state"], "synced", "{}", s.body);
}

both_backends!(replayed_bodies_change_nothing);

/// Logins spread over many emails from one address: the account lockout never sees two on
/// the same account, so the per-source limit is what stops them — 20 a minute, each refused
/// one before argon2 runs; another address is not affected.
async fn one_source_cannot_spray_logins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Start well inside a minute, so the run does not straddle two windows.
    let second = chrono::Utc::now().timestamp().rem_euclid(60);
    if second > 40 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    let sprayer: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut answers = Vec::new();
    for i in 0..26 {
        let email = format!("guess-{i}@acme.test");
        answers.push(
            app.login_from(sprayer, "ACME", &email, "wrong-guess", DEVICE)
                .await,
        );
    }
    assert_eq!(count(&answers, 401), 20, "20 checked");
    for a in &answers[20..] {
        a.error(429, "too_many_attempts");
        let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=61).contains(&wait), "Retry-After {wait}");
    }
    let other: std::net::IpAddr = "127.0.0.3".parse().unwrap();
    let a = app
        .login_from(other, "ACME", "ops@acme.test", PASSWORD, DEVICE)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

both_backends!(one_source_cannot_spray_logins);

/// Rotating the application key: a box with the new key current and the old one previous
/// opens everything and re-seals every stored secret (a tenant's signing secret, a link's
/// webhook secret) under the new key; after that the new key alone opens them, and the old
/// one alone no longer does; a second run has nothing to do. The intake, given only the new
/// key, still verifies the store's deliveries.
async fn the_application_key_rotates(backend: Backend) {
    use woolink::crypto::{SecretBox, SecretString};
    use woolink::intake::{Intake, UnverifiedDelivery};
    use woolink::secrets::{self, Sealing};

    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let (_, webhook_secret) = linked(&app).await;
    let old_key = app.config().secrets_key.expose().to_owned();
    let new_key = SecretBox::generate_key_base64();
    let rotating =
        SecretBox::with_previous(&new_key, &[SecretString::new(old_key.clone())]).unwrap();
    let repos = &app.services.repos;
    let admin = woolink::admin::Admin {
        tenants: repos.tenants.as_ref(),
        tenant_keys: repos.tenant_keys.as_ref(),
        users: repos.users.as_ref(),
        stores: repos.stores.as_ref(),
        links: repos.links.as_ref(),
        secrets: &rotating,
        outbound: &app.config().outbound,
    };
    let report = woolink::admin::reseal(&admin).await.unwrap();
    assert_eq!(report.conflicts, 0);
    assert!(report.resealed >= 2, "{report:?}");

    let store = woolink::domain::StoreId::parse("st_a1").unwrap();
    let code = woolink::domain::TenantCode::parse("ACME").unwrap();
    let link = repos.links.get_link(&store).await.unwrap().unwrap();
    let fulfilment = repos
        .tenants
        .get_tenant(&code)
        .await
        .unwrap()
        .unwrap()
        .fulfilment
        .unwrap();
    let new_only = SecretBox::from_base64(&new_key).unwrap();
    let old_only = SecretBox::from_base64(&old_key).unwrap();
    let sealed_webhook = link.webhook_secret.as_ref().unwrap();
    assert_eq!(
        secrets::open(&new_only, sealed_webhook, Sealing::Webhook(&store))
            .unwrap()
            .expose(),
        webhook_secret
    );
    assert!(secrets::open(&new_only, &fulfilment.secret, Sealing::Fulfilment(&code)).is_ok());
    assert!(secrets::open(&old_only, sealed_webhook, Sealing::Webhook(&store)).is_err());
    assert!(secrets::open(&old_only, &fulfilment.secret, Sealing::Fulfilment(&code)).is_err());

    let again = woolink::admin::reseal(&admin).await.unwrap();
    assert_eq!((again.resealed, again.conflicts), (0, 0), "{again:?}");
    assert!(again.current >= 2);

    let mut config = app.config().clone();
    config.secrets_key = SecretString::new(new_key);
    let intake = Intake::new(
        repos.links.clone(),
        repos.tenants.clone(),
        app.queue.clone(),
        &config,
    )
    .unwrap();
    let body = php_json(&order(61, "processing", "2026-11-23T10:00:00"));
    let outcome = intake
        .accept(UnverifiedDelivery {
            store_id: store,
            topic: Some("order.created".into()),
            signature: Some(woo_signature(webhook_secret.as_bytes(), &body)),
            body: body.into(),
        })
        .await;
    assert!(outcome.is_ok(), "{outcome:?}");
}

both_backends!(the_application_key_rotates);

/// Deactivating a tenant stops its intake (deliveries to its stores are refused, 403, once
/// the intake's 5 s link cache has turned over), its deliveries (an order queued before is
/// parked in the dead-letter queue, not delivered) and its stores' API keys.
async fn a_deactivated_tenant_gets_nothing_and_authorises_nothing(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    let (key, secret) = linked(&app).await;
    let queued = php_json(&order(71, "processing", "2026-11-23T10:00:00"));
    let a = deliver_signed(&app, "st_a1", "order.created", &queued, &secret).await;
    assert_eq!(a.status, 200, "{}", a.body);

    let code = woolink::domain::TenantCode::parse("ACME").unwrap();
    let repos = &app.services.repos;
    let mut acme = repos.tenants.get_tenant(&code).await.unwrap().unwrap();
    acme.active = false;
    repos.tenants.put_tenant(&acme).await.unwrap();

    app.get("/v1/stores/st_a1", Some(&key))
        .await
        .error(403, "tenant_inactive");
    let worker = app.another_worker();
    let messages = app.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert!(worker.handle_batch(&messages).await.is_empty());
    let parked = app.dlq.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(parked.len(), 1, "the order waits in the DLQ");
    assert!(tenant.calls().is_empty(), "nothing delivered");

    tokio::time::sleep(app.config().link_cache_ttl + Duration::from_millis(200)).await;
    let later = php_json(&order(72, "processing", "2026-11-23T10:00:00"));
    deliver_signed(&app, "st_a1", "order.created", &later, &secret)
        .await
        .error(403, "tenant_inactive");
}

both_backends!(a_deactivated_tenant_gets_nothing_and_authorises_nothing);
