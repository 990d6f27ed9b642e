//! One contract for every port, run against the in-memory adapter and the DynamoDB adapter
//! (on moto, a fresh table per test).

use chrono::{Duration, Utc};
use woolink::crypto::{CredentialHash, Sealed};
use woolink::domain::{CustomerId, DeviceId, Email, StoreId, StoreUrl, TenantCode, TriggerStatus};
use woolink::model::{
    Fulfilment, Link, LinkStatus, LoginAttempts, Session, Store, Tenant, User, WooKeys,
};
use woolink::ports::Written;
use woolink::ErrorKind;

use crate::both_backends;
use crate::helpers::*;

fn code(c: &str) -> TenantCode {
    TenantCode::parse(c).unwrap()
}
fn sid(s: &str) -> StoreId {
    StoreId::parse(s).unwrap()
}
fn email(e: &str) -> Email {
    Email::parse(e).unwrap()
}

fn tenant(c: &str) -> Tenant {
    Tenant {
        code: code(c),
        name: format!("{c} Couriers"),
        active: true,
        fulfilment: Some(Fulfilment {
            url: "https://tenant.example.com/inbox".into(),
            secret: Sealed::from_stored("v1.c2VhbGVk".into()),
        }),
        document: woolink::model::DocumentSettings::current(),
    }
}

fn store(id: &str, t: &str) -> Store {
    Store {
        id: sid(id),
        tenant: code(t),
        name: format!("Shop {id}"),
        customer_id: CustomerId::parse(&format!("cus_{id}")).unwrap(),
    }
}

fn link(id: &str, t: &str, key: &str, revision: u64) -> Link {
    let now = Utc::now();
    Link {
        store_id: sid(id),
        tenant: code(t),
        customer_id: CustomerId::parse("cus_1").unwrap(),
        store_url: StoreUrl::parse("https://shop.example.com").unwrap(),
        device_id: DeviceId::parse(DEVICE).unwrap(),
        status: LinkStatus::Connected,
        trigger_statuses: vec![TriggerStatus::parse("processing").unwrap()],
        webhook_secret: Some(Sealed::from_stored("v1.d2g=".into())),
        previous_webhook_secret: None,
        previous_secret_until: None,
        api_key_hash: Some(CredentialHash::of(key)),
        revoked_api_key_hash: None,
        woo_keys: Some(WooKeys {
            consumer_key: Sealed::from_stored("v1.a2V5".into()),
            consumer_secret: Sealed::from_stored("v1.c2Vj".into()),
        }),
        webhook_ids: vec![7, 8],
        // Stored timestamps keep sub-second precision in both adapters.
        linked_at: now,
        updated_at: now,
        disconnected_at: None,
        paused_at: None,
        revision,
    }
}

async fn tenants_contract(backend: Backend) {
    let r = repos(backend).await;
    assert_eq!(r.tenants.get_tenant(&code("ACME")).await.unwrap(), None);
    assert_eq!(
        r.tenants.put_tenant(&tenant("ACME")).await.unwrap(),
        Written::Created
    );
    assert_eq!(
        r.tenants.put_tenant(&tenant("ACME")).await.unwrap(),
        Written::Unchanged
    );
    let mut changed = tenant("ACME");
    changed.active = false;
    changed.fulfilment = None;
    assert_eq!(
        r.tenants.put_tenant(&changed).await.unwrap(),
        Written::Updated
    );
    assert_eq!(
        r.tenants.get_tenant(&code("acme")).await.unwrap(),
        Some(changed.clone())
    );
    r.tenants.put_tenant(&tenant("BETA")).await.unwrap();
    let all = r.tenants.list_tenants().await.unwrap();
    assert_eq!(all, vec![changed, tenant("BETA")]);
}

async fn users_contract(backend: Backend) {
    let r = repos(backend).await;
    let u = User {
        tenant: code("ACME"),
        email: email("ops@acme.test"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$x$y".into(),
    };
    assert_eq!(r.users.put_user(&u).await.unwrap(), Written::Created);
    assert_eq!(r.users.put_user(&u).await.unwrap(), Written::Unchanged);
    assert_eq!(
        r.users.get_user(&code("ACME"), &u.email).await.unwrap(),
        Some(u.clone())
    );
    assert_eq!(
        r.users.get_user(&code("BETA"), &u.email).await.unwrap(),
        None
    );

    let (t, e) = (code("ACME"), email("anyone@acme.test"));
    assert_eq!(
        r.users
            .login_attempts(&t, &e)
            .await
            .unwrap()
            .consecutive_failures,
        0
    );
    let none = LoginAttempts::default();
    let one = LoginAttempts {
        consecutive_failures: 1,
        locked_until: None,
    };
    assert!(r
        .users
        .swap_login_attempts(&t, &e, &none, &one)
        .await
        .unwrap());
    // A second writer that read the same record loses.
    assert!(!r
        .users
        .swap_login_attempts(&t, &e, &none, &one)
        .await
        .unwrap());
    let until = Utc::now() + Duration::seconds(30);
    let two = LoginAttempts {
        consecutive_failures: 2,
        locked_until: Some(until),
    };
    assert!(!r
        .users
        .swap_login_attempts(&t, &e, &two, &two)
        .await
        .unwrap());
    assert!(r
        .users
        .swap_login_attempts(&t, &e, &one, &two)
        .await
        .unwrap());
    let a = r.users.login_attempts(&t, &e).await.unwrap();
    assert_eq!(a.consecutive_failures, 2);
    assert_eq!(
        a.locked_until.map(|u| u.timestamp()),
        Some(until.timestamp())
    );
    r.users.clear_login_failures(&t, &e).await.unwrap();
    assert_eq!(
        r.users.login_attempts(&t, &e).await.unwrap(),
        Default::default()
    );
}

/// Ten writers, each reading the record and swapping in one more failure until it wins:
/// every one wins exactly once, each with its own count, and none is lost.
async fn concurrent_login_failures_are_all_counted(backend: Backend) {
    let r = repos(backend).await;
    let (t, e) = (code("ACME"), email("ops@acme.test"));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let users = r.users.clone();
        let (t, e) = (t.clone(), e.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let current = users.login_attempts(&t, &e).await.unwrap();
                let next = LoginAttempts {
                    consecutive_failures: current.consecutive_failures + 1,
                    locked_until: None,
                };
                if users
                    .swap_login_attempts(&t, &e, &current, &next)
                    .await
                    .unwrap()
                {
                    return next.consecutive_failures;
                }
            }
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=10).collect::<Vec<u32>>());
    assert_eq!(
        r.users
            .login_attempts(&t, &e)
            .await
            .unwrap()
            .consecutive_failures,
        10
    );
}

async fn stores_contract(backend: Backend) {
    let r = repos(backend).await;
    assert_eq!(
        r.stores.put_store(&store("st_1", "ACME")).await.unwrap(),
        Written::Created
    );
    assert_eq!(
        r.stores.put_store(&store("st_1", "ACME")).await.unwrap(),
        Written::Unchanged
    );
    let mut renamed = store("st_1", "ACME");
    renamed.name = "Renamed".into();
    assert_eq!(
        r.stores.put_store(&renamed).await.unwrap(),
        Written::Updated
    );
    r.stores.put_store(&store("st_2", "ACME")).await.unwrap();
    r.stores.put_store(&store("st_3", "BETA")).await.unwrap();
    let err = r
        .stores
        .put_store(&store("st_1", "BETA"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        r.stores.get_store(&sid("st_1")).await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(
        r.stores.list_stores(&code("ACME")).await.unwrap(),
        vec![renamed, store("st_2", "ACME")]
    );
    assert_eq!(
        r.stores.list_stores(&code("BETA")).await.unwrap(),
        vec![store("st_3", "BETA")]
    );
    assert!(r
        .stores
        .list_stores(&code("NONE"))
        .await
        .unwrap()
        .is_empty());
}

async fn links_contract(backend: Backend) {
    let r = repos(backend).await;
    let first = link("st_1", "ACME", "wlk_first", 1);
    r.links.save_link(&first, None).await.unwrap();
    // Saving "new" again when one exists is a lost race.
    assert_eq!(
        r.links.save_link(&first, None).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let got = r.links.get_link(&sid("st_1")).await.unwrap().unwrap();
    assert_eq!(got, first);
    assert_eq!(
        r.links
            .find_link_by_api_key(&CredentialHash::of("wlk_first"))
            .await
            .unwrap(),
        Some(first.clone())
    );

    // Rotation: the old key stops finding the link, the new one finds it.
    let second = link("st_1", "ACME", "wlk_second", 2);
    assert_eq!(
        r.links
            .save_link(&second, Some(5))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    r.links.save_link(&second, Some(1)).await.unwrap();
    assert_eq!(
        r.links
            .find_link_by_api_key(&CredentialHash::of("wlk_first"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        r.links
            .find_link_by_api_key(&CredentialHash::of("wlk_second"))
            .await
            .unwrap(),
        Some(second.clone())
    );
    // A stale writer that read revision 1 loses.
    assert_eq!(
        r.links
            .save_link(&link("st_1", "ACME", "wlk_third", 2), Some(1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );

    // Revocation: the key is kept only as revoked (so a repeated disconnect is recognised).
    let mut revoked = second.clone();
    revoked.revoked_api_key_hash = revoked.api_key_hash.take();
    revoked.status = LinkStatus::Disconnected;
    revoked.webhook_secret = None;
    revoked.disconnected_at = Some(Utc::now());
    revoked.revision = 3;
    r.links.save_link(&revoked, Some(2)).await.unwrap();
    let found = r
        .links
        .find_link_by_api_key(&CredentialHash::of("wlk_second"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.api_key_hash, None);
    assert_eq!(
        found.revoked_api_key_hash,
        Some(CredentialHash::of("wlk_second"))
    );
    assert_eq!(
        r.links.get_link(&sid("st_1")).await.unwrap(),
        Some(revoked.clone())
    );
    // A new link drops the revoked key entirely.
    let relinked = link("st_1", "ACME", "wlk_fourth", 4);
    r.links.save_link(&relinked, Some(3)).await.unwrap();
    for gone in ["wlk_first", "wlk_second", "wlk_third"] {
        assert_eq!(
            r.links
                .find_link_by_api_key(&CredentialHash::of(gone))
                .await
                .unwrap(),
            None,
            "{gone}"
        );
    }

    r.links
        .save_link(&link("st_2", "ACME", "wlk_2", 1), None)
        .await
        .unwrap();
    let mut many: Vec<StoreId> = (0..130).map(|i| sid(&format!("st_x{i}"))).collect();
    many.push(sid("st_1"));
    many.push(sid("st_2"));
    let mut found: Vec<String> = r
        .links
        .get_links(&many)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.store_id.to_string())
        .collect();
    found.sort();
    assert_eq!(found, ["st_1", "st_2"]);
}

async fn sessions_contract(backend: Backend) {
    let r = repos(backend).await;
    let s = Session {
        token_hash: CredentialHash::of("wls_abc"),
        tenant: code("ACME"),
        email: email("ops@acme.test"),
        device_id: DeviceId::parse(DEVICE).unwrap(),
        expires_at: Utc::now() + Duration::minutes(15),
    };
    r.sessions.put_session(&s).await.unwrap();
    assert_eq!(
        r.sessions.get_session(&s.token_hash).await.unwrap(),
        Some(s)
    );
    assert_eq!(
        r.sessions
            .get_session(&CredentialHash::of("wls_other"))
            .await
            .unwrap(),
        None
    );
}

/// The poll record: conditional on its revision like every record with an invariant, and read
/// back as written; ten parallel first saves leave exactly one.
async fn reconciliations_contract(backend: Backend) {
    use woolink::model::{Reconciliation, WebhookHealth};
    let r = repos(backend).await;
    let store = sid("st_r1");
    assert_eq!(
        r.reconciliations.get_reconciliation(&store).await.unwrap(),
        None
    );
    let mut first = Reconciliation::new(store.clone());
    first.revision = 1;
    first.watermark = Some("2026-11-30T10:00:00".into());
    first.webhooks = Some(WebhookHealth::Repaired);
    first.repairs = 2;
    let saves = futures::future::join_all(
        (0..10).map(|_| r.reconciliations.save_reconciliation(&first, None)),
    )
    .await;
    assert_eq!(saves.iter().filter(|s| s.is_ok()).count(), 1, "{saves:?}");
    assert!(saves
        .iter()
        .filter_map(|s| s.as_ref().err())
        .all(|e| e.kind() == ErrorKind::Conflict));
    assert_eq!(
        r.reconciliations.get_reconciliation(&store).await.unwrap(),
        Some(first.clone())
    );
    let mut next = first.clone();
    next.revision = 2;
    next.attention = Some("keys refused".into());
    let stale = r.reconciliations.save_reconciliation(&next, Some(5)).await;
    assert_eq!(stale.unwrap_err().kind(), ErrorKind::Conflict);
    r.reconciliations
        .save_reconciliation(&next, Some(1))
        .await
        .unwrap();
    assert_eq!(
        r.reconciliations.get_reconciliation(&store).await.unwrap(),
        Some(next)
    );
}

/// Sending many and sending later, as the catch-up path uses the queues: every body arrives
/// once (more than SQS's 10 per batch), and a delayed one only after its delay.
async fn queues_send_many_and_later(backend: Backend) {
    let (queue, _dlq) = fresh_queue_with(backend, std::time::Duration::from_secs(30), 5).await;
    let bodies: Vec<String> = (0..23).map(|i| format!("m{i}")).collect();
    queue.send_many(bodies.clone()).await.unwrap();
    queue
        .send_delayed("later".into(), std::time::Duration::from_secs(2))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        let batch = queue
            .receive(10, std::time::Duration::from_millis(100))
            .await
            .unwrap();
        got.extend(batch.into_iter().map(|m| m.body));
        if got.len() >= 23 {
            break;
        }
    }
    got.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(got, want, "each body once, the delayed one not yet");
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let later = queue
        .receive(10, std::time::Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(
        later.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["later"]
    );
}

both_backends!(
    reconciliations_contract,
    queues_send_many_and_later,
    tenants_contract,
    users_contract,
    concurrent_login_failures_are_all_counted,
    stores_contract,
    links_contract,
    sessions_contract,
);

/// Shipment records: conditional on their revision, listed per order oldest first, deleted
/// once.
async fn shipments_contract(backend: Backend) {
    use woolink::domain::OrderId;
    use woolink::model::{Shipment, ShipmentState};
    let r = repos(backend).await;
    let store = sid("st_s1");
    let shipment = |id: &str, order: u64, secs: i64| Shipment {
        created_at: Utc::now() + Duration::seconds(secs),
        ..shipment_of("st_s1", order, id, &format!("1Z{id}"))
    };
    let (a, b, other) = (
        shipment("b-2", 7, 0),
        shipment("a-1", 7, 5),
        shipment("c", 8, 0),
    );
    for s in [&a, &b, &other] {
        r.shipments.save_shipment(s, None).await.unwrap();
    }
    assert_eq!(
        r.shipments
            .save_shipment(&a, None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict,
        "the same id twice"
    );
    let listed = r
        .shipments
        .list_shipments(&store, OrderId::new(7))
        .await
        .unwrap();
    assert_eq!(
        listed,
        [a.clone(), b.clone()],
        "oldest first, this order only"
    );
    let mut written = a.clone();
    written.state = ShipmentState::Written;
    written.store_tracking_id = Some("t1".into());
    written.revision = 2;
    assert_eq!(
        r.shipments
            .save_shipment(&written, Some(5))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    r.shipments.save_shipment(&written, Some(1)).await.unwrap();
    assert_eq!(
        r.shipments
            .get_shipment(&store, OrderId::new(7), "b-2")
            .await
            .unwrap(),
        Some(written)
    );
    assert!(r
        .shipments
        .delete_shipment(&store, OrderId::new(7), "b-2")
        .await
        .unwrap());
    assert!(!r
        .shipments
        .delete_shipment(&store, OrderId::new(7), "b-2")
        .await
        .unwrap());
    assert_eq!(
        r.shipments
            .list_shipments(&store, OrderId::new(7))
            .await
            .unwrap(),
        [b]
    );
}

both_backends!(shipments_contract);
