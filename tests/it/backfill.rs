//! Backfill, its use cases driven step by step: a store with 1,050 existing orders in mixed
//! statuses, on both backends, through the real worker to a tenant. (The route, the jobs
//! and the link-time backfill are in `catch_up.rs`.)

use std::collections::HashMap;

use woolink::catchup::{backfill_step, start_backfill, BackfillRequest, CatchUp, Started};
use woolink::domain::StoreId;
use woolink::model::BackfillState;

use crate::both_backends;
use crate::helpers::*;

fn ports(app: &TestApp) -> CatchUp<'_> {
    app.catch_up.ports()
}

/// 1,050 orders, a third of them `processing` (the link's trigger status): a dry run counts
/// 350; the run sends exactly those, each once, stopped after two pages and carried on from
/// its cursor (page 3, never page 1 again); a second start while it runs is refused; the
/// tenant hears 350 `order.created`, one per order; running it all again changes nothing.
async fn a_backfill_sends_each_in_scope_order_once_and_resumes(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_jobs_paused(backend, &tenant, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    for id in 1..=1_050u64 {
        let status = ["processing", "pending", "completed"][(id % 3) as usize];
        store.set_order(id, &php_json(&order(id, status, "2026-11-20T10:00:00")));
    }
    let token = app.acme_token().await;
    let a = app.link_with_keys(&token, "st_a1", &store.url).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let st = StoreId::parse("st_a1").unwrap();
    let p = ports(&app);

    let dry = BackfillRequest {
        dry_run: true,
        ..BackfillRequest::default()
    };
    assert_eq!(
        start_backfill(&p.starting(), &st, dry).await.unwrap(),
        Started::DryRun { matching: 350 }
    );
    assert!(store.pages_read().is_empty(), "a dry run reads no page");

    let Started::Running(run) = start_backfill(&p.starting(), &st, BackfillRequest::default())
        .await
        .unwrap()
    else {
        panic!("a run")
    };
    assert_eq!((run.matched, run.next_page), (350, 1));
    let again = start_backfill(&p.starting(), &st, BackfillRequest::default()).await;
    assert_eq!(again.unwrap_err().kind(), woolink::ErrorKind::Conflict);

    // Two pages, then the step ends (as a function would at its time budget, or die).
    let first = backfill_step(&p, &st, &run.run_id, 2).await.unwrap();
    assert_eq!(
        (first.pages, first.run.next_page, first.run.queued),
        (2, 3, 200)
    );
    assert_eq!(first.run.state, BackfillState::Running);
    // Carried on from the stored cursor.
    let mut last = first.run;
    while last.state == BackfillState::Running {
        last = backfill_step(&p, &st, &run.run_id, 5).await.unwrap().run;
    }
    assert_eq!(last.state, BackfillState::Done, "{last:?}");
    assert_eq!((last.queued, last.matched), (350, 350));
    assert_eq!(store.pages_read(), [1, 2, 3, 4], "no page read twice");

    drained_within(&app, 2 * PATIENCE).await;
    eventually("350 orders at the tenant", || {
        tenant.accepted().len() >= 350
    })
    .await;
    let mut per_order: HashMap<u64, Vec<String>> = HashMap::new();
    for c in tenant.accepted() {
        let event = c.json();
        per_order
            .entry(event["data"]["orderId"].as_u64().unwrap())
            .or_default()
            .push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(per_order.len(), 350);
    assert!(
        per_order.keys().all(|id| id % 3 == 0),
        "only processing orders"
    );
    assert!(
        per_order.values().all(|e| e == &["order.created"]),
        "each once"
    );

    // The whole backfill again: the worker knows every order; nothing new for the tenant.
    let Started::Running(run) = start_backfill(&p.starting(), &st, BackfillRequest::default())
        .await
        .unwrap()
    else {
        panic!("a second run once the first is done")
    };
    while backfill_step(&p, &st, &run.run_id, 10)
        .await
        .unwrap()
        .run
        .state
        == BackfillState::Running
    {}
    drained(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        tenant.accepted().len(),
        350,
        "a repeated backfill changes nothing"
    );
}

both_backends!(a_backfill_sends_each_in_scope_order_once_and_resumes);

/// Orders deleted from the store while a backfill runs move later orders onto earlier pages:
/// the run sees the store's count go down, steps back, and still sends every remaining
/// in-scope order after its cursor (each once). Keys revoked mid-run end it as failed, with
/// the reason, instead of retrying.
async fn a_backfill_survives_deletions_and_stops_on_refused_keys(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_jobs_paused(backend, &tenant, |_| {}).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    for id in 1..=500u64 {
        store.set_order(
            id,
            &php_json(&order(id, "processing", "2026-11-20T10:00:00")),
        );
    }
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a1", &store.url).await.status,
        201
    );
    let st = StoreId::parse("st_a1").unwrap();
    let p = ports(&app);
    let Started::Running(run) = start_backfill(&p.starting(), &st, BackfillRequest::default())
        .await
        .unwrap()
    else {
        panic!("a run")
    };
    let first = backfill_step(&p, &st, &run.run_id, 2).await.unwrap().run;
    assert_eq!((first.last_id, first.next_page), (200, 3));
    // 150 of the orders already sent are deleted: orders 351.. now sit on page 3.
    for id in 1..=150 {
        store.remove_order(id);
    }
    let mut last = first;
    while last.state == BackfillState::Running {
        last = backfill_step(&p, &st, &run.run_id, 5).await.unwrap().run;
    }
    assert_eq!(last.state, BackfillState::Done, "{last:?}");
    assert_eq!(last.queued, 500, "every order sent once: {last:?}");
    // 500 orders on moto while the rest of the suite runs: more than the usual 20 s.
    drained_within(&app, 2 * PATIENCE).await;
    eventually("500 orders at the tenant", || {
        tenant.accepted().len() >= 500
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(tenant.accepted().len(), 500);

    // A run on another store whose keys stop working after it started.
    let other = FakeStore::start(StoreMode::Healthy).await;
    other.set_order(9, &php_json(&order(9, "processing", "2026-11-20T10:00:00")));
    relink(&app, &st, &other.url, None).await;
    let Started::Running(run) = start_backfill(&p.starting(), &st, BackfillRequest::default())
        .await
        .unwrap()
    else {
        panic!("a run")
    };
    relink(&app, &st, &other.url, Some(("ck_revoked", "cs_revoked"))).await;
    let failed = backfill_step(&p, &st, &run.run_id, 5).await.unwrap().run;
    assert_eq!(failed.state, BackfillState::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("refused")),
        "{failed:?}"
    );
    let refused = start_backfill(&p.starting(), &st, BackfillRequest::default()).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        woolink::ErrorKind::WooCommerceAuthFailed
    );
}

/// Points the store's link at `url`, with other WooCommerce keys when given.
async fn relink(app: &TestApp, st: &StoreId, url: &str, keys: Option<(&str, &str)>) {
    use woolink::secrets::{seal, Sealing};
    let links = &app.services.repos.links;
    let mut link = links.get_link(st).await.unwrap().unwrap();
    let expected = link.revision;
    link.store_url = woolink::domain::StoreUrl::parse(url).unwrap();
    if let Some((k, s)) = keys {
        let secrets = &app.services.secrets;
        link.woo_keys = Some(woolink::model::WooKeys {
            consumer_key: seal(secrets, k, Sealing::WooKey(st)).unwrap(),
            consumer_secret: seal(secrets, s, Sealing::WooSecret(st)).unwrap(),
        });
    }
    link.revision += 1;
    links.save_link(&link, Some(expected)).await.unwrap();
}

both_backends!(a_backfill_survives_deletions_and_stops_on_refused_keys);

/// Ten starts of a backfill at once (as ten API calls in ten containers would): exactly one
/// run is recorded, the nine others are refused as a conflict.
async fn parallel_starts_record_one_run(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline_paused(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    store.set_order(1, &php_json(&order(1, "processing", "2026-11-20T10:00:00")));
    let token = app.acme_token().await;
    assert_eq!(
        app.link_with_keys(&token, "st_a1", &store.url).await.status,
        201
    );
    let st = StoreId::parse("st_a1").unwrap();
    let p = ports(&app);
    let starting = p.starting();
    let starts = futures::future::join_all(
        (0..10).map(|_| start_backfill(&starting, &st, BackfillRequest::default())),
    )
    .await;
    let running = starts
        .iter()
        .filter(|r| matches!(r, Ok(Started::Running(_))))
        .count();
    let refused = starts
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_err_and(|e| e.kind() == woolink::ErrorKind::Conflict)
        })
        .count();
    assert_eq!((running, refused), (1, 9), "{starts:?}");
}

both_backends!(parallel_starts_record_one_run);
