//! The onboarding wizard over HTTP, against both adapters: every route's statuses and codes.

use chrono::Utc;
use serde_json::json;
use woolink::crypto::CredentialHash;
use woolink::domain::{Email, StoreId, TenantCode};
use woolink::model::Session;
use woolink::outbound::OutboundPolicy;

use crate::both_backends;
use crate::helpers::*;

async fn wizard_links_a_store(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let a = app.resolve("  acme ").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"tenant": {"code": "ACME", "name": "Acme Couriers"}})
    );
    assert!(a.headers.contains_key("x-request-id"));

    let a = app
        .login_as("acme", "OPS@acme.test", PASSWORD, DEVICE)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let token = a.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("wls_") && token.len() >= 4 + 43);
    let expires =
        chrono::DateTime::parse_from_rfc3339(a.body["expiresAt"].as_str().unwrap()).unwrap();
    let ttl = expires.with_timezone(&Utc) - Utc::now();
    assert!(
        ttl.num_seconds() > 14 * 60 && ttl.num_seconds() <= 15 * 60,
        "{ttl}"
    );

    let a = app.get("/v1/connect/stores", Some(&token)).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        json!({"stores": [
            {"id": "st_a1", "name": "Acme Shop", "customerId": "cus_a1", "linked": false},
            {"id": "st_a2", "name": "Acme Outlet", "customerId": "cus_a2", "linked": false}
        ]})
    );

    let a = app
        .link(
            &token,
            json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:9/Shop/", "deviceId": DEVICE,
                   "triggerStatuses": ["processing", "wc-on-hold"]}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        a.body["link"],
        json!({"storeId": "st_a1", "customerId": "cus_a1", "storeUrl": "http://127.0.0.1:9/Shop",
               "status": "connected", "triggerStatuses": ["processing", "on-hold"]})
    );
    assert_eq!(
        a.body["webhook"]["deliveryUrl"],
        app.url("/v1/webhooks/woocommerce/st_a1")
    );
    let secret = a.body["webhook"]["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        a.body["webhook"]["topics"],
        json!([
            "order.created",
            "order.updated",
            "order.deleted",
            "order.restored"
        ])
    );
    let api_key = a.body["apiKey"].as_str().unwrap().to_owned();
    assert!(api_key.starts_with("wlk_"));

    // Nothing readable is stored: the API key only as its hash, the secret sealed.
    let link = app
        .services
        .repos
        .links
        .get_link(&StoreId::parse("st_a1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.api_key_hash, Some(CredentialHash::of(&api_key)));
    assert!(!link
        .webhook_secret
        .as_ref()
        .unwrap()
        .as_str()
        .contains(secret));

    let a = app.get("/v1/connect/stores", Some(&token)).await;
    assert_eq!(a.body["stores"][0]["linked"], true);
    assert_eq!(a.body["stores"][1]["linked"], false);

    let a = app.get("/v1/stores/st_a1", Some(&api_key)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["storeId"], "st_a1");
    assert_eq!(a.body["status"], "connected");
    assert_eq!(a.body["storeUrl"], "http://127.0.0.1:9/Shop");
    assert_eq!(a.body["customerId"], "cus_a1");
    assert_eq!(
        a.body["orders"],
        json!({"received": 0, "skipped": 0, "queued": 0, "synced": 0, "failed": 0, "deadLetters": 0})
    );
    assert!(a.body["linkedAt"].as_str().is_some());
    assert_eq!(a.body["lastSyncAt"], serde_json::Value::Null);
    // The tenant's own login may look too.
    let a = app.get("/v1/stores/st_a1", Some(&token)).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

async fn resolve_refuses_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let path = "/v1/connect/resolve";
    app.post_raw(path, b"{not json".to_vec(), None)
        .await
        .error(400, "invalid_request");
    app.post_raw(path, Vec::new(), None)
        .await
        .error(400, "invalid_request");
    app.post_json(
        path,
        json!({"code": "ACME", "platform": "woocommerce"}),
        None,
    )
    .await
    .error(400, "invalid_request");
    app.post_json(
        path,
        json!({"code": 7, "platform": "woocommerce", "deviceId": DEVICE}),
        None,
    )
    .await
    .error(400, "invalid_request");
    app.post_json(
        path,
        json!({"code": "ACME", "platform": "woocommerce", "deviceId": "abc"}),
        None,
    )
    .await
    .error(400, "invalid_request");
    app.post_json(
        path,
        json!({"code": "ACME", "platform": "shopify", "deviceId": DEVICE}),
        None,
    )
    .await
    .error(422, "unsupported_platform");
    app.resolve("NOPE").await.error(404, "tenant_not_found");
    app.resolve("sleepy").await.error(403, "tenant_inactive");
    let huge = json!({"code": "ACME", "platform": "woocommerce", "deviceId": DEVICE,
                      "padding": "x".repeat(70 * 1024)});
    app.post_json(path, huge, None)
        .await
        .error(413, "payload_too_large");
    let a = app.get(path, None).await;
    a.error(405, "method_not_allowed");
    app.get("/v1/nothing-here", None)
        .await
        .error(404, "not_found");
}

async fn login_does_not_reveal_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wrong = app.login_as("ACME", "ops@acme.test", "wrong", DEVICE).await;
    wrong.error(401, "invalid_credentials");
    let unknown = app
        .login_as("ACME", "nobody@acme.test", PASSWORD, DEVICE)
        .await;
    unknown.error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    app.login_as("ACME", "not-an-email", PASSWORD, DEVICE)
        .await
        .error(401, "invalid_credentials");
    // Another tenant's user cannot log in here.
    app.login_as("ACME", "ops@beta.test", PASSWORD, DEVICE)
        .await
        .error(401, "invalid_credentials");
    app.login_as("SLEEPY", "ops@sleepy.test", PASSWORD, DEVICE)
        .await
        .error(403, "tenant_inactive");
    app.login_as("NOPE", "ops@acme.test", PASSWORD, DEVICE)
        .await
        .error(404, "tenant_not_found");
    app.login_as("ACME", "ops@acme.test", PASSWORD, "xyz")
        .await
        .error(400, "invalid_request");
    app.post_json(
        "/v1/connect/login",
        json!({"code": "ACME", "email": "ops@acme.test"}),
        None,
    )
    .await
    .error(400, "invalid_request");
}

/// Ends the account's lock now (as if its time had run out), keeping its failure count.
async fn expire_lock(users: &dyn woolink::ports::Users, code: &TenantCode, email: &Email) {
    let current = users.login_attempts(code, email).await.unwrap();
    let ended = woolink::model::LoginAttempts {
        locked_until: Some(Utc::now() - chrono::Duration::seconds(1)),
        ..current.clone()
    };
    assert!(users
        .swap_login_attempts(code, email, &current, &ended)
        .await
        .unwrap());
}

fn retry_after(a: &Answer) -> u64 {
    a.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

async fn login_locks_out_and_backs_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..5 {
        app.login_as("ACME", "ops@acme.test", "wrong", DEVICE)
            .await
            .error(401, "invalid_credentials");
    }
    let locked = app.login_as("ACME", "ops@acme.test", "wrong", DEVICE).await;
    locked.error(429, "too_many_attempts");
    let first = retry_after(&locked);
    assert!((25..=31).contains(&first), "Retry-After {first}");
    // Even the right password is refused while locked.
    let a = app
        .login_as("ACME", "ops@acme.test", PASSWORD, DEVICE)
        .await;
    a.error(429, "too_many_attempts");

    // An unknown account locks the same way, so lockout reveals nothing.
    for _ in 0..5 {
        app.login_as("ACME", "ghost@acme.test", "wrong", DEVICE)
            .await
            .error(401, "invalid_credentials");
    }
    app.login_as("ACME", "ghost@acme.test", "wrong", DEVICE)
        .await
        .error(429, "too_many_attempts");

    // When the lock has run out, the next failure locks for twice as long.
    let (code, email) = (
        TenantCode::parse("ACME").unwrap(),
        Email::parse("ops@acme.test").unwrap(),
    );
    let users = &app.services.repos.users;
    expire_lock(users.as_ref(), &code, &email).await;
    app.login_as("ACME", "ops@acme.test", "wrong", DEVICE)
        .await
        .error(401, "invalid_credentials");
    let a = app
        .login_as("ACME", "ops@acme.test", PASSWORD, DEVICE)
        .await;
    a.error(429, "too_many_attempts");
    let second = retry_after(&a);
    assert!((55..=61).contains(&second), "Retry-After {second}");

    // Once the lock ends, the right password works and the counter starts again.
    expire_lock(users.as_ref(), &code, &email).await;
    let a = app
        .login_as("ACME", "ops@acme.test", PASSWORD, DEVICE)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        users
            .login_attempts(&code, &email)
            .await
            .unwrap()
            .consecutive_failures,
        0
    );
}

async fn tokens_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.get("/v1/connect/stores", None)
        .await
        .error(401, "invalid_token");
    app.get("/v1/connect/stores", Some("wls_bogus"))
        .await
        .error(401, "invalid_token");
    // An API key is not a login token.
    app.get("/v1/connect/stores", Some("wlk_bogus"))
        .await
        .error(401, "invalid_token");
    // An expired session is refused even if the store still has it (TTL deletion is lazy).
    let expired = "wls_expired-token-for-test-purposes-only-0000000";
    app.services
        .repos
        .sessions
        .put_session(&Session {
            token_hash: CredentialHash::of(expired),
            tenant: TenantCode::parse("ACME").unwrap(),
            email: Email::parse("ops@acme.test").unwrap(),
            device_id: woolink::domain::DeviceId::parse(DEVICE).unwrap(),
            expires_at: Utc::now() - chrono::Duration::seconds(1),
        })
        .await
        .unwrap();
    app.get("/v1/connect/stores", Some(expired))
        .await
        .error(401, "invalid_token");
    let token = app.acme_token().await;
    let a = app
        .http
        .get(app.url("/v1/connect/stores"))
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
}

async fn link_refuses_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.acme_token().await;
    let link = |body| app.link(&token, body);
    link(json!({"storeId": "st_a1", "deviceId": DEVICE}))
        .await
        .error(400, "invalid_request");
    link(json!({"storeId": "st_a1", "storeUrl": "not a url", "deviceId": DEVICE}))
        .await
        .error(400, "invalid_store_url");
    link(json!({"storeId": "st_a1", "storeUrl": "ftp://127.0.0.1/", "deviceId": DEVICE}))
        .await
        .error(400, "invalid_store_url");
    link(
        json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE,
                "triggerStatuses": ["checkout-draft"]}),
    )
    .await
    .error(400, "invalid_request");
    link(
        json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE,
                "triggerStatuses": "processing"}),
    )
    .await
    .error(400, "invalid_request");
    link(
        json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE,
                "wooCommerce": {"consumerKey": "", "consumerSecret": "x"}}),
    )
    .await
    .error(400, "invalid_request");
    link(json!({"storeId": "st_zz", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE}))
        .await
        .error(404, "store_not_found");
    // Another tenant's store does not exist for this tenant.
    link(json!({"storeId": "st_b1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE}))
        .await
        .error(404, "store_not_found");
    // The token is bound to the site that logged in.
    link(json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:9", "deviceId": OTHER_DEVICE}))
        .await
        .error(401, "invalid_token");
    app.link(
        "wls_nope",
        json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:9", "deviceId": DEVICE}),
    )
    .await
    .error(401, "invalid_token");
    assert!(app
        .services
        .repos
        .links
        .get_link(&StoreId::parse("st_a1").unwrap())
        .await
        .unwrap()
        .is_none());
}

async fn production_policy_refuses_internal_store_urls(backend: Backend) {
    let app = TestApp::spawn_with(backend, OutboundPolicy::public_only()).await;
    let token = app.acme_token().await;
    for url in [
        "http://shop.example.com",
        "https://127.0.0.1",
        "https://localhost",
        "https://10.0.0.8",
        "https://172.20.1.1",
        "https://192.168.0.10",
        "https://169.254.169.254",
        "https://100.64.1.1",
        "https://[::1]",
        "https://[fd00::1]",
        "https://[fe80::1]",
        "https://[::ffff:127.0.0.1]",
        "https://2130706433",
        "https://0177.0.0.1",
    ] {
        app.link(
            &token,
            json!({"storeId": "st_a1", "storeUrl": url, "deviceId": DEVICE}),
        )
        .await
        .error(400, "invalid_store_url");
    }
}

async fn relink_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.acme_token().await;
    let first = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    assert_eq!(first.status, 201);
    let old_key = first.body["apiKey"].as_str().unwrap().to_owned();

    // Same site, same URL: rotates the key and the secret.
    let second = app
        .link_simple(&token, "st_a1", "http://127.0.0.1:9/")
        .await;
    assert_eq!(second.status, 201, "{}", second.body);
    let new_key = second.body["apiKey"].as_str().unwrap();
    assert_ne!(new_key, old_key);
    assert_ne!(
        second.body["webhook"]["secret"],
        first.body["webhook"]["secret"]
    );
    app.get("/v1/stores/st_a1", Some(&old_key))
        .await
        .error(401, "invalid_api_key");
    assert_eq!(app.get("/v1/stores/st_a1", Some(new_key)).await.status, 200);
    let link = app
        .services
        .repos
        .links
        .get_link(&StoreId::parse("st_a1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        link.previous_webhook_secret.is_some(),
        "old secret kept for the grace period"
    );
    assert_eq!(link.revision, 2);

    // Another URL, or another site, is refused while connected.
    app.link_simple(&token, "st_a1", "http://127.0.0.1:10")
        .await
        .error(409, "store_already_linked");
    let other = app
        .login_as("ACME", "ops@acme.test", PASSWORD, OTHER_DEVICE)
        .await;
    let other_token = other.body["token"].as_str().unwrap();
    app.link(
        other_token,
        json!({"storeId": "st_a1", "storeUrl": "http://127.0.0.1:9", "deviceId": OTHER_DEVICE}),
    )
    .await
    .error(409, "store_already_linked");
}

async fn link_registers_webhooks_on_the_store(backend: Backend) {
    let store = FakeStore::start(StoreMode::Healthy).await;
    let app = TestApp::spawn(backend).await;
    let token = app.acme_token().await;
    let a = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let secret = a.body["webhook"]["secret"].as_str().unwrap();
    let calls = store.calls();
    // Four order topics and, as the link holds keys, four product topics.
    assert_eq!(calls.len(), 8, "{calls:?}");
    // Each new webhook was pinged while the link was being made, and the intake said 200
    // (WooCommerce pings again on later saves until it gets exactly 200).
    let pings = store.pings();
    assert_eq!(pings.len(), 8, "{pings:?}");
    assert!(pings
        .iter()
        .all(|(url, status)| url == &app.url("/v1/webhooks/woocommerce/st_a1") && *status == 200));
    let topics: Vec<_> = calls
        .iter()
        .map(|c| c.body["topic"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        [
            "order.created",
            "order.updated",
            "order.deleted",
            "order.restored",
            "product.created",
            "product.updated",
            "product.deleted",
            "product.restored"
        ]
    );
    for c in &calls {
        assert_eq!(c.method, "POST");
        assert_eq!(
            c.body["delivery_url"],
            app.url("/v1/webhooks/woocommerce/st_a1")
        );
        assert_eq!(c.body["secret"], secret);
        assert!(c.body["name"].as_str().unwrap().starts_with("woolink"));
        assert!(c.auth.as_deref().unwrap().starts_with("Basic "));
    }
    let link = app
        .services
        .repos
        .links
        .get_link(&StoreId::parse("st_a1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.webhook_ids, (100..108).collect::<Vec<u64>>());
    let keys = link.woo_keys.as_ref().expect("keys held");
    assert!(!keys.consumer_secret.as_str().contains(CONSUMER_SECRET));
    let opened = woolink::secrets::open_woo_keys(&app.services.secrets, &link)
        .unwrap()
        .unwrap();
    assert_eq!(opened.consumer_secret.expose(), CONSUMER_SECRET);

    // Re-linking registers new webhooks and removes the old ones.
    let a = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let deletes: Vec<_> = store
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE")
        .map(|c| (c.path, c.query))
        .collect();
    assert_eq!(deletes.len(), 8);
    for (i, (path, query)) in deletes.iter().enumerate() {
        assert_eq!(path, &format!("/wp-json/wc/v3/webhooks/{}", 100 + i));
        assert_eq!(query.as_deref(), Some("force=true"));
    }
}

async fn failed_registration_leaves_no_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.acme_token().await;
    let st = StoreId::parse("st_a1").unwrap();
    let with_keys = |url: &str, key: &str| {
        json!({"storeId": "st_a1", "storeUrl": url, "deviceId": DEVICE,
               "wooCommerce": {"consumerKey": key, "consumerSecret": CONSUMER_SECRET}})
    };

    let store = FakeStore::start(StoreMode::Healthy).await;
    app.link(&token, with_keys(&store.url, "ck_wrong"))
        .await
        .error(422, "woocommerce_auth_failed");
    assert!(app
        .services
        .repos
        .links
        .get_link(&st)
        .await
        .unwrap()
        .is_none());

    let flaky = FakeStore::start(StoreMode::FailsAfter(2)).await;
    app.link(&token, with_keys(&flaky.url, CONSUMER_KEY))
        .await
        .error(502, "woocommerce_unreachable");
    assert!(app
        .services
        .repos
        .links
        .get_link(&st)
        .await
        .unwrap()
        .is_none());
    let deletes: Vec<_> = flaky
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE")
        .map(|c| c.path)
        .collect();
    assert_eq!(
        deletes,
        ["/wp-json/wc/v3/webhooks/100", "/wp-json/wc/v3/webhooks/101"],
        "the two webhooks made before the failure are taken back"
    );

    let dead = dead_url().await;
    app.link(&token, with_keys(&dead, CONSUMER_KEY))
        .await
        .error(502, "woocommerce_unreachable");
    assert!(app
        .services
        .repos
        .links
        .get_link(&st)
        .await
        .unwrap()
        .is_none());
    let a = app.get("/v1/connect/stores", Some(&token)).await;
    assert_eq!(a.body["stores"][0]["linked"], false);
}

async fn tenants_are_isolated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.acme_token().await;
    let beta = app.token_for("BETA", "ops@beta.test").await;
    let a1 = app.link_simple(&acme, "st_a1", "http://127.0.0.1:9").await;
    assert_eq!(a1.status, 201);
    let a1_key = a1.body["apiKey"].as_str().unwrap().to_owned();
    let b1 = app.link_simple(&beta, "st_b1", "http://127.0.0.1:8").await;
    assert_eq!(b1.status, 201);
    let b1_key = b1.body["apiKey"].as_str().unwrap().to_owned();

    let a = app.get("/v1/connect/stores", Some(&beta)).await;
    assert_eq!(
        a.body,
        json!({"stores": [{"id": "st_b1", "name": "Beta Shop", "customerId": "cus_b1", "linked": true}]})
    );
    app.link_simple(&beta, "st_a1", "http://127.0.0.1:8")
        .await
        .error(404, "store_not_found");
    app.get("/v1/stores/st_a1", Some(&beta))
        .await
        .error(404, "store_not_found");
    app.get("/v1/stores/st_a1", Some(&b1_key))
        .await
        .error(404, "store_not_found");
    app.get("/v1/stores/st_a2", Some(&a1_key))
        .await
        .error(404, "store_not_found");
    app.get("/v1/stores/st_a1", Some("wlk_not-a-key"))
        .await
        .error(401, "invalid_api_key");
    app.get("/v1/stores/st_a1", None)
        .await
        .error(401, "invalid_api_key");
    assert_eq!(app.get("/v1/stores/st_a1", Some(&a1_key)).await.status, 200);

    // An order of ACME's store, then every other route tried with BETA's credentials.
    let a1_secret = a1.body["webhook"]["secret"].as_str().unwrap().to_owned();
    let b1_secret = b1.body["webhook"]["secret"].as_str().unwrap().to_owned();
    let body = php_json(&order(5, "processing", "2026-11-23T10:00:00"));
    let queued = deliver_signed(&app, "st_a1", "order.created", &body, &a1_secret).await;
    assert_eq!(queued.status, 200, "{}", queued.body);
    deliver_signed(&app, "st_a1", "order.created", &body, &b1_secret)
        .await
        .error(401, "invalid_signature");
    for other in [&beta, &b1_key] {
        app.get("/v1/stores/st_a1/orders/5", Some(other))
            .await
            .error(404, "store_not_found");
    }
    app.post_json(
        "/v1/connect/disconnect",
        json!({"storeUrl": "http://127.0.0.1:9", "customerId": "cus_a1"}),
        Some(&b1_key),
    )
    .await
    .error(403, "link_mismatch");
    assert_eq!(
        app.get("/v1/stores/st_a1", Some(&a1_key)).await.body["status"],
        "connected"
    );
}

both_backends!(
    wizard_links_a_store,
    resolve_refuses_bad_input,
    login_does_not_reveal_accounts,
    login_locks_out_and_backs_off,
    tokens_are_checked,
    link_refuses_bad_input,
    production_policy_refuses_internal_store_urls,
    relink_rules,
    link_registers_webhooks_on_the_store,
    failed_registration_leaves_no_link,
    tenants_are_isolated,
);

/// With the intake on the webhook function's URL (`WOOLINK_WEBHOOK_BASE_URL`, template
/// `IntakeEndpoint: function-url`), a new link's webhooks are delivered there; the API's
/// own route keeps serving, so a store linked before still delivers.
#[tokio::test]
async fn a_function_url_intake_is_where_new_links_deliver() {
    let furl = "https://f3k2wq7v5xhdr4mz6lq2bnc4ey0xkqzs.lambda-url.eu-west-1.on.aws/";
    let app = TestApp::spawn_configured(Backend::Memory, |c| {
        c.outbound = woolink::outbound::OutboundPolicy::local_development();
        c.webhook_base_url = Some(url::Url::parse(furl).unwrap());
    })
    .await;
    let token = app.acme_token().await;
    let a = app.link_simple(&token, "st_a1", "http://127.0.0.1:9").await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        a.body["webhook"]["deliveryUrl"],
        "https://f3k2wq7v5xhdr4mz6lq2bnc4ey0xkqzs.lambda-url.eu-west-1.on.aws/v1/webhooks/woocommerce/st_a1"
    );
    let secret = a.body["webhook"]["secret"].as_str().unwrap().to_owned();
    send(
        &app,
        &secret,
        "order.created",
        &order(5, "processing", "2026-11-30T10:00:00"),
    )
    .await;
    assert_eq!(
        take_all(&app).await.len(),
        1,
        "the API route still takes it"
    );
}
