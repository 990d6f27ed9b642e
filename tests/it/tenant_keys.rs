//! Tenant API keys (`wlt_…`, issue 16's credentials): the port's contract on both adapters,
//! and the first route that takes them, `GET /v1/tenant/stores/{storeId}`: only the key's own
//! tenant's stores (404 for another's, never a hint), scopes enforced, revocation immediate,
//! last use recorded, a deactivated tenant refused, and other credentials not mistaken for one.

use serde_json::json;
use woolink::admin::{create_tenant_key, put_fixed_tenant_key, revoke_tenant_key};
use woolink::domain::{Scope, TenantCode};
use woolink::ports::Written;
use woolink::ErrorKind;

use crate::both_backends;
use crate::helpers::*;

fn acme() -> TenantCode {
    TenantCode::parse("ACME").unwrap()
}

async fn tenant_keys_contract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.services.admin();
    let keys = app.services.repos.tenant_keys.as_ref();
    let (plain, key) = create_tenant_key(&admin, &acme(), &[Scope::OrdersRead])
        .await
        .unwrap();
    assert!(plain.expose().starts_with("wlt_") && plain.expose().len() >= 4 + 43);
    assert_eq!(
        key.hash,
        woolink::crypto::CredentialHash::of(plain.expose())
    );
    assert_eq!(
        keys.find_tenant_key(&key.hash).await.unwrap(),
        Some(key.clone())
    );
    // The same key again (same hash) is refused, whoever asks.
    assert_eq!(
        keys.put_tenant_key(&key).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let fixed = format!("wlt_{}", "f".repeat(40));
    assert_eq!(
        put_fixed_tenant_key(&admin, &acme(), &fixed, &[Scope::StoresRead])
            .await
            .unwrap(),
        Written::Created
    );
    assert_eq!(
        put_fixed_tenant_key(&admin, &acme(), &fixed, &[Scope::StoresRead])
            .await
            .unwrap(),
        Written::Unchanged,
        "a seed applied again"
    );
    let beta = TenantCode::parse("BETA").unwrap();
    assert_eq!(
        put_fixed_tenant_key(&admin, &beta, &fixed, &[Scope::StoresRead])
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict,
        "another tenant's key"
    );
    for bad in ["wlk_short", "wlt_short", "nothing"] {
        assert!(
            put_fixed_tenant_key(&admin, &acme(), bad, &[Scope::StoresRead])
                .await
                .is_err()
        );
    }
    let listed = keys.list_tenant_keys(&acme()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(keys.list_tenant_keys(&beta).await.unwrap().is_empty());

    let at = chrono::Utc::now();
    keys.touch_tenant_key(&key.hash, at).await.unwrap();
    let revoked = revoke_tenant_key(&admin, &acme(), &key.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(revoked.last_used_at.is_some());
    let again = revoke_tenant_key(&admin, &acme(), &key.id).await.unwrap();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "the first revocation stands"
    );
    assert_eq!(
        revoke_tenant_key(&admin, &beta, &key.id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound,
        "another tenant cannot revoke it"
    );
}

both_backends!(tenant_keys_contract);

async fn the_tenant_route_reaches_only_the_keys_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.services.admin();
    let (_, _) = linked(&app).await; // ACME's st_a1
    let beta_token = app.token_for("BETA", "ops@beta.test").await;
    assert_eq!(
        app.link_simple(&beta_token, "st_b1", "http://127.0.0.1:9")
            .await
            .status,
        201
    );
    let (key, stored) = create_tenant_key(&admin, &acme(), &[Scope::StoresRead])
        .await
        .unwrap();
    let key = key.expose().to_owned();
    let ok = app.get("/v1/tenant/stores/st_a1", Some(&key)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["storeId"], "st_a1");
    assert_eq!(ok.body["status"], "connected");
    let used = app
        .services
        .repos
        .tenant_keys
        .find_tenant_key(&stored.hash)
        .await
        .unwrap()
        .unwrap();
    assert!(used.last_used_at.is_some(), "last use recorded");

    // Another tenant's store and an unknown one look the same.
    app.get("/v1/tenant/stores/st_b1", Some(&key))
        .await
        .error(404, "store_not_found");
    app.get("/v1/tenant/stores/st_nope", Some(&key))
        .await
        .error(404, "store_not_found");
    app.get("/v1/tenant/stores/..%2F..", Some(&key))
        .await
        .error(404, "store_not_found");
    // Not a tenant key: none, a login token, a link key, a forged one.
    let token = app.acme_token().await;
    let (link_key, _) = linked(&app).await;
    for bearer in [
        None,
        Some(token.as_str()),
        Some(link_key.as_str()),
        Some("wlt_forged"),
    ] {
        app.get("/v1/tenant/stores/st_a1", bearer)
            .await
            .error(401, "invalid_api_key");
    }
    // A key without the scope.
    let (narrow, _) = create_tenant_key(&admin, &acme(), &[Scope::ShipmentsWrite])
        .await
        .unwrap();
    app.get("/v1/tenant/stores/st_a1", Some(narrow.expose()))
        .await
        .error(403, "insufficient_scope");
    // Parallel uses all pass (the last-use write never fails a request).
    let answers =
        futures::future::join_all((0..20).map(|_| app.get("/v1/tenant/stores/st_a1", Some(&key))))
            .await;
    assert!(answers.iter().all(|a| a.status == 200));
    // Revoked: refused at once.
    revoke_tenant_key(&admin, &acme(), &stored.id)
        .await
        .unwrap();
    app.get("/v1/tenant/stores/st_a1", Some(&key))
        .await
        .error(401, "invalid_api_key");
    // A deactivated tenant's keys authorise nothing.
    let (fresh, _) = create_tenant_key(&admin, &acme(), &[Scope::StoresRead])
        .await
        .unwrap();
    woolink::admin::put_tenant(
        &admin,
        woolink::admin::TenantSpec {
            code: acme(),
            name: "Acme Couriers".into(),
            active: false,
            fulfilment: None,
            document: None,
        },
    )
    .await
    .unwrap();
    app.get("/v1/tenant/stores/st_a1", Some(fresh.expose()))
        .await
        .error(403, "tenant_inactive");
}

both_backends!(the_tenant_route_reaches_only_the_keys_tenant);

/// A seed file's fixed keys (local runs, demos, tests) are hashed on load and work at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_files_carry_fixed_tenant_keys() {
    let app = TestApp::spawn(Backend::Memory).await;
    let key = format!("wlt_demo_{}", "k".repeat(40));
    let seed = woolink::admin::Seed::parse(
        &json!({"tenants": [{"code": "ACME", "name": "Acme Couriers",
            "apiKeys": [{"key": key, "scopes": ["stores:read", "orders:read"]}]}]})
        .to_string(),
    )
    .unwrap();
    let report = woolink::admin::apply_seed(&app.services.admin(), seed)
        .await
        .unwrap();
    assert_eq!(report.api_keys, 1);
    linked(&app).await;
    assert_eq!(
        app.get("/v1/tenant/stores/st_a1", Some(&key)).await.status,
        200
    );
    let bad = woolink::admin::Seed::parse(
        &json!({"tenants": [{"code": "ACME", "name": "Acme Couriers",
            "apiKeys": [{"key": key, "scopes": ["everything"]}]}]})
        .to_string(),
    )
    .unwrap();
    let e = woolink::admin::apply_seed(&app.services.admin(), bad)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(e.message().contains("unknown scope"), "{}", e.message());
}
