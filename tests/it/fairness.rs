//! One tenant's endpoint must not hold the others: a tenant answering slowly is moved to
//! the slow lane by the worker instance that sees it (a call cut short there goes on in the
//! slow lane with its claim on the order, and a newer version of the order waits until the
//! same `webhook-id` settles it), and delivered there; a tenant whose
//! endpoint keeps failing is parked in the slow lane (sent back with a delay, no receive
//! spent) until it answers, and still reaches the dead-letter queue when it never does.

use std::collections::HashSet;
use std::time::Duration;

use crate::both_backends;
use crate::helpers::*;

/// BETA's store st_b1 linked, its endpoint `tenant`; returns the store's webhook secret.
async fn link_beta(app: &TestApp, tenant: &FakeTenant) -> String {
    app.set_fulfilment("BETA", "Beta Logistics", &tenant.url, &tenant.secret)
        .await;
    let token = app.token_for("BETA", "ops@beta.test").await;
    let a = app.link_simple(&token, "st_b1", "http://127.0.0.1:9").await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["webhook"]["secret"].as_str().unwrap().to_owned()
}

async fn send_to(app: &TestApp, store: &str, secret: &str, id: u64) {
    let body = php_json(&order(id, "processing", "2026-11-30T10:00:00"));
    let a = deliver_signed(app, store, "order.created", &body, secret).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

fn distinct_ids(calls: &[TenantCall]) -> usize {
    calls
        .iter()
        .map(|c| c.webhook_id.as_str())
        .collect::<HashSet<_>>()
        .len()
}

/// ACME's endpoint answering in 300 ms, and a worker that cuts a call short at 150 ms and
/// keeps a tripped gate open for a minute (retries after 1 s).
async fn slow_acme(backend: Backend) -> (FakeTenant, TestApp) {
    let slow = FakeTenant::faulty(Faults {
        delay: Duration::from_millis(300),
        ..Faults::default()
    })
    .await;
    let app = TestApp::pipeline_paused_tuned(backend, &slow, |s| {
        s.gate.slow_after = Duration::from_millis(150);
        s.gate.open_base = Duration::from_secs(60);
        s.gate.open_max = Duration::from_secs(60);
        s.backoff_base = Duration::from_secs(1);
    })
    .await;
    (slow, app)
}

async fn a_slow_tenant_goes_to_the_slow_lane_and_the_others_stay(backend: Backend) {
    let quick = FakeTenant::start().await;
    let (slow, app) = slow_acme(backend).await;
    let (_, acme) = linked(&app).await;
    let beta = link_beta(&app, &quick).await;

    // Slow answers in the main lane: cut short at `slow_after` (the tenant may have them:
    // they go on with the same webhook-id), moved to the slow lane at once, and ACME's gate
    // trips.
    for id in 1..=3 {
        send_to(&app, "st_a1", &acme, id).await;
    }
    // Cut short, not waited for: each order is in the slow lane, its outcome unknown (below),
    // where a call waited for would have been answered and settled (no wall time asserted).
    assert_eq!(round(&app.queue, &app.worker).await, 3);
    assert_eq!(slow.calls().len(), 3);
    assert_eq!(
        app.queue.depth().await.unwrap(),
        (0, 0),
        "none retried here"
    );
    visible(&app.slow_lane, 3).await;

    // A batch of both tenants: ACME's orders go to the slow lane, BETA's are delivered here.
    for id in 4..=7 {
        send_to(&app, "st_a1", &acme, id).await;
    }
    for id in 100..=102 {
        send_to(&app, "st_b1", &beta, id).await;
    }
    assert_eq!(round(&app.queue, &app.worker).await, 7);
    // The batch did not wait for the slow tenant: no call to it in the main lane.
    assert_eq!(
        slow.calls().len(),
        3,
        "no call to the slow tenant in the main lane"
    );
    assert_eq!(quick.accepted().len(), 3);
    assert_eq!(app.queue.depth().await.unwrap(), (0, 0));
    visible(&app.slow_lane, 7).await;

    // The slow lane delivers all seven, slow answers and all, with the whole timeout; the
    // three cut short come again with the webhook-id they had.
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 7);
    let calls = slow.calls();
    assert_eq!(calls.len(), 10);
    assert_eq!(distinct_ids(&calls), 7, "one webhook-id per order");
    let first: HashSet<&str> = calls[..3].iter().map(|c| c.webhook_id.as_str()).collect();
    assert_eq!(
        calls[3..]
            .iter()
            .filter(|c| first.contains(c.webhook_id.as_str()))
            .count(),
        3
    );
    assert!(calls.iter().all(|c| c.verified && c.answered == 200));
    assert_eq!(app.dlq.depth().await.unwrap(), (0, 0));
    // Still slow: the main lane sends it on, the slow lane does not send it anywhere else.
    send_to(&app, "st_a1", &acme, 8).await;
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    visible(&app.slow_lane, 1).await;
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 1);
    assert_eq!(distinct_ids(&slow.calls()), 8);
    assert_eq!(app.slow_lane.depth().await.unwrap(), (0, 0));
}

/// A call cut short in the main lane may have been accepted: the order's record holds it
/// unsettled, and the order's next version, arriving meanwhile, waits until the first goes
/// again in the slow lane with the same `webhook-id`; then it goes as `order.updated`. The
/// tenant never gets the order created twice.
async fn a_newer_version_waits_until_a_call_cut_short_is_settled(backend: Backend) {
    let (slow, app) = slow_acme(backend).await;
    let (key, acme) = linked(&app).await;
    send_to(&app, "st_a1", &acme, 1).await;
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    let s = app.get("/v1/stores/st_a1/orders/1", Some(&key)).await;
    assert_eq!(s.body["state"], "queued", "{}", s.body);
    assert!(
        s.body["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("no answer within")),
        "{}",
        s.body
    );
    // The tenant had it (the fake acts before it answers): only the worker does not know.
    assert_eq!(slow.accepted().len(), 1);

    // Version 2: a new address, a minute later; moved to the slow lane by the open gate.
    let mut v2 = order(1, "processing", "2026-11-30T10:01:00");
    v2["shipping"]["address_1"] = serde_json::json!("2 New Street");
    let a = deliver_signed(&app, "st_a1", "order.updated", &php_json(&v2), &acme).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    visible(&app.slow_lane, 2).await;

    // Both in one slow-lane batch: the first goes again (same id); the second waits for it.
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 2);
    visible(&app.slow_lane, 1).await;
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 1);
    assert_eq!(app.slow_lane.depth().await.unwrap(), (0, 0));
    assert_eq!(app.dlq.depth().await.unwrap(), (0, 0));

    let calls = slow.calls();
    let kinds: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            (
                c.json()["type"].as_str().unwrap().to_owned(),
                c.webhook_id.clone(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(
        kinds[0], kinds[1],
        "the first version again, the same webhook-id"
    );
    assert_eq!(kinds[0].0, "order.created");
    assert_eq!(kinds[2].0, "order.updated", "{kinds:?}");
    assert_eq!(
        calls[2].json()["data"]["shipping"]["address1"],
        "2 New Street"
    );
    let s = app.get("/v1/stores/st_a1/orders/1", Some(&key)).await;
    assert_eq!(s.body["state"], "synced", "{}", s.body);
}

/// A call cut short whose message is then lost to the lanes (as one parked in the dead-letter
/// queue and redriven without its claim would be): a copy of the same body, the same
/// `webhook-id`, settles the order; it is not held behind a claim nobody holds any more.
async fn a_copy_of_a_call_cut_short_settles_it_when_the_first_is_gone(backend: Backend) {
    let (slow, app) = slow_acme(backend).await;
    let (key, acme) = linked(&app).await;
    send_to(&app, "st_a1", &acme, 1).await;
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    visible(&app.slow_lane, 1).await;
    // The moved message, holding the claim, is gone.
    let moved = app.slow_lane.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(moved.len(), 1);
    let receipts: Vec<String> = moved.iter().map(|m| m.receipt.clone()).collect();
    app.slow_lane.delete(&receipts).await.unwrap();
    let s = app.get("/v1/stores/st_a1/orders/1", Some(&key)).await;
    assert_eq!(s.body["state"], "queued", "{}", s.body);

    // The same body again (WooCommerce's duplicate, or a redrive): moved on, and delivered.
    send_to(&app, "st_a1", &acme, 1).await;
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    visible(&app.slow_lane, 1).await;
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 1);
    let s = app.get("/v1/stores/st_a1/orders/1", Some(&key)).await;
    assert_eq!(s.body["state"], "synced", "{}", s.body);
    let calls = slow.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(distinct_ids(&calls), 1, "the same webhook-id: one effect");
    assert_eq!(app.slow_lane.depth().await.unwrap(), (0, 0));
}

async fn a_failing_tenant_is_parked_without_spending_its_retries(backend: Backend) {
    // Nine failures: three in the main lane, three in the slow lane, three more probes.
    let tenant = FakeTenant::answering(&[503; 6]).await;
    let app = TestApp::pipeline_paused_tuned(backend, &tenant, |s| {
        s.gate.open_base = Duration::from_millis(600);
        s.gate.open_max = Duration::from_millis(600);
        s.gate.hold_max = Duration::from_secs(60);
    })
    .await;
    let (key, acme) = linked(&app).await;
    for id in 1..=3 {
        send_to(&app, "st_a1", &acme, id).await;
    }
    // Main lane: three failures trip the gate; the messages come back after their backoff
    // and leave for the slow lane.
    assert_eq!(round(&app.queue, &app.worker).await, 3);
    assert_eq!(tenant.calls().len(), 3);
    visible(&app.queue, 3).await;
    assert_eq!(round(&app.queue, &app.worker).await, 3);
    assert_eq!(tenant.calls().len(), 3);
    visible(&app.slow_lane, 3).await;

    // Slow lane: three more failures trip its gate; back after the backoff, they are parked.
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 3);
    assert_eq!(tenant.calls().len(), 6);
    visible(&app.slow_lane, 3).await;
    let parked_at = std::time::Instant::now();
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 3);
    assert_eq!(tenant.calls().len(), 6, "parked, not tried");

    // Parked: new messages with the open period as delay, their first receive, the time
    // they were first parked in them.
    visible(&app.slow_lane, 3).await;
    assert!(parked_at.elapsed() >= Duration::from_millis(500));
    let back = app
        .slow_lane
        .receive(10, Duration::from_millis(500))
        .await
        .unwrap();
    assert!(!back.is_empty());
    for m in &back {
        assert_eq!(m.receive_count, 1, "no receive spent while parked");
        let env = woolink::envelope::Envelope::decode(&m.body).unwrap();
        assert!(env.head.moves().held_since.is_some(), "{}", m.body);
        assert_eq!(
            env.head.moves().receives_before,
            2,
            "one receive spent in each lane: parking renews none"
        );
        assert!(env.payload.is_some(), "the order travels with it");
    }
    // The endpoint is back (its script is spent): they are delivered, each once.
    woolink::local::process_batch(app.slow_lane.as_ref(), app.slow_worker.as_ref(), &back).await;
    round(&app.slow_lane, &app.slow_worker).await;
    let accepted = tenant.accepted();
    assert_eq!(accepted.len(), 3);
    assert_eq!(distinct_ids(&accepted), 3);
    assert_eq!(app.dlq.depth().await.unwrap(), (0, 0));
    for id in 1..=3 {
        let s = app
            .get(&format!("/v1/stores/st_a1/orders/{id}"), Some(&key))
            .await;
        assert_eq!(s.body["state"], "synced", "{}", s.body);
    }
}

/// ACME answering after `delay` and BETA at once, on a paused pipeline whose main lane cuts
/// a straggler 100 ms after the rest of its batch (and any call at 5 s), then `tune`d.
struct Lingering {
    slow: FakeTenant,
    quick: FakeTenant,
    app: TestApp,
    key: String,
    acme: String,
    beta: String,
}

async fn lingering(
    backend: Backend,
    delay: Duration,
    tune: impl FnOnce(&mut woolink::worker::WorkerSettings),
) -> Lingering {
    let slow = FakeTenant::faulty(Faults {
        delay,
        ..Faults::default()
    })
    .await;
    let quick = FakeTenant::start().await;
    let app = TestApp::pipeline_paused_tuned(backend, &slow, |s| {
        s.gate.slow_after = Duration::from_secs(5);
        s.gate.linger = Duration::from_millis(100);
        tune(s);
    })
    .await;
    let (key, acme) = linked(&app).await;
    let beta = link_beta(&app, &quick).await;
    Lingering {
        slow,
        quick,
        app,
        key,
        acme,
        beta,
    }
}

/// Four of BETA's orders, one batch each: the main lane's instance learns that its calls
/// usually take milliseconds.
async fn usual_time_of_milliseconds(app: &TestApp, beta: &str) {
    for id in 100..=103 {
        send_to(app, "st_b1", beta, id).await;
        assert_eq!(round(&app.queue, &app.worker).await, 1);
    }
}

/// ACME's order `id`, cut short in the main lane (its last error says `why`), held queued
/// until the slow lane delivers it.
async fn settled_in_the_slow_lane(app: &TestApp, key: &str, id: u64, why: &str) {
    visible(&app.slow_lane, 1).await;
    let path = format!("/v1/stores/st_a1/orders/{id}");
    let s = app.get(&path, Some(key)).await;
    assert_eq!(s.body["state"], "queued", "{}", s.body);
    let error = s.body["lastError"].as_str().unwrap_or_default();
    assert!(error.contains(why), "{}", s.body);
    assert_eq!(round(&app.slow_lane, &app.slow_worker).await, 1);
    let s = app.get(&path, Some(key)).await;
    assert_eq!(s.body["state"], "synced", "{}", s.body);
}

/// A delivery still unanswered `linger` after the rest of its batch is cut short and goes on
/// in the slow lane (its outcome unknown, the order held for it), when its tenant has not
/// answered on this instance yet; one straggler is one strike.
async fn a_straggler_goes_on_in_the_slow_lane(backend: Backend) {
    let Lingering {
        slow,
        quick,
        app,
        key,
        acme,
        beta,
        // Well past what the rest of the batch takes on a loaded machine (moto included), and
        // short of `slow_after` (5 s): only the linger rule cuts it.
    } = lingering(backend, Duration::from_millis(3_000), |_| {}).await;
    // One of ACME's among BETA's: it holds the batch alone, is cut short, goes on in the lane.
    send_to(&app, "st_a1", &acme, 4).await;
    for id in 100..=104 {
        send_to(&app, "st_b1", &beta, id).await;
    }
    // The straggler is cut (it settles in the slow lane, below), not waited for.
    assert_eq!(round(&app.queue, &app.worker).await, 6);
    assert_eq!(quick.accepted().len(), 5);
    assert_eq!(app.queue.depth().await.unwrap(), (0, 0));
    settled_in_the_slow_lane(&app, &key, 4, "after the rest of its batch").await;
    let calls = slow.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].webhook_id, calls[1].webhook_id,
        "the same webhook-id again"
    );
    // One straggler is one strike: ACME's next order is still tried here.
    send_to(&app, "st_a1", &acme, 5).await;
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    assert_eq!(slow.calls().len(), 3);
}

/// On an instance that does not know its usual answer time yet, a batch all of one slow
/// tenant holds no straggler and is not cut; once that tenant has answered here, a call of it
/// taking its usual time is not cut either, even alone among faster ones.
async fn an_evenly_slow_batch_and_a_tenant_at_its_usual_time_are_not_cut(backend: Backend) {
    let Lingering {
        slow,
        quick,
        app,
        key,
        acme,
        beta,
    } = lingering(backend, Duration::from_millis(400), |_| {}).await;
    // Three of ACME's alone: evenly slow, delivered here.
    for id in 1..=3 {
        send_to(&app, "st_a1", &acme, id).await;
    }
    assert_eq!(round(&app.queue, &app.worker).await, 3);
    assert_eq!(slow.calls().len(), 3);
    // One of ACME's among BETA's: it holds the batch alone, but 400 ms is its usual time.
    send_to(&app, "st_a1", &acme, 4).await;
    for id in 100..=104 {
        send_to(&app, "st_b1", &beta, id).await;
    }
    assert_eq!(round(&app.queue, &app.worker).await, 6);
    assert_eq!(quick.accepted().len(), 5);
    assert_eq!(slow.calls().len(), 4);
    assert_eq!(app.slow_lane.depth().await.unwrap(), (0, 0));
    for id in 1..=4 {
        let s = app
            .get(&format!("/v1/stores/st_a1/orders/{id}"), Some(&key))
            .await;
        assert_eq!(s.body["state"], "synced", "{}", s.body);
    }
}

/// Once an instance knows how long its calls usually take, a call still unanswered `linger`
/// after that is a straggler even alone in its batch (a fresh instance waits `slow_after`
/// for it): it is cut short and goes on in the slow lane with its `webhook-id`.
async fn a_slow_call_alone_in_its_batch_is_cut_once_the_usual_answer_time_is_known(
    backend: Backend,
) {
    let Lingering {
        slow,
        quick,
        app,
        key,
        acme,
        beta,
    } = lingering(backend, Duration::from_millis(1_500), |_| {}).await;
    usual_time_of_milliseconds(&app, &beta).await;
    assert_eq!(quick.accepted().len(), 4);

    // One of ACME's alone in its batch: cut short well before its 1.5 s answer.
    send_to(&app, "st_a1", &acme, 1).await;
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    // The slow lane gives it the whole timeout, with the same webhook-id.
    settled_in_the_slow_lane(&app, &key, 1, "usual answer time").await;
    let calls = slow.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].webhook_id, calls[1].webhook_id);
    assert_eq!(app.queue.depth().await.unwrap(), (0, 0));
}

/// A tenant steadily slower than the others (400 ms among answers of milliseconds), new to an
/// instance, has its lone calls cut until its gate trips. The probe after the open period is
/// cut at `slow_after` only: its answer closes the gate and gives the tenant a usual time of
/// its own, and its calls are not cut again.
async fn a_steady_slower_tenant_is_cut_only_until_its_probe_is_answered(backend: Backend) {
    // (BETA's endpoint must live as long as the test: bound, not dropped.)
    let Lingering {
        slow,
        quick: _quick,
        app,
        key,
        acme,
        beta,
    } = lingering(backend, Duration::from_millis(400), |s| {
        s.gate.linger = Duration::from_millis(150);
        s.gate.open_base = Duration::from_secs(1);
        s.gate.open_max = Duration::from_secs(1);
        s.gate.jitter = 0.0;
    })
    .await;
    usual_time_of_milliseconds(&app, &beta).await;
    // Three of ACME's alone, one batch each: each cut short, the third trips its gate.
    for id in 1..=3 {
        send_to(&app, "st_a1", &acme, id).await;
        assert_eq!(round(&app.queue, &app.worker).await, 1);
    }
    visible(&app.slow_lane, 3).await;
    assert_eq!(slow.calls().len(), 3);

    // After the open period, the probe gets its 400 ms and is delivered here.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    send_to(&app, "st_a1", &acme, 4).await;
    assert_eq!(round(&app.queue, &app.worker).await, 1);
    // So is every order after it: the tenant's own usual time is 400 ms.
    for id in 5..=7 {
        send_to(&app, "st_a1", &acme, id).await;
        assert_eq!(round(&app.queue, &app.worker).await, 1);
    }
    for id in 4..=7 {
        let s = app
            .get(&format!("/v1/stores/st_a1/orders/{id}"), Some(&key))
            .await;
        assert_eq!(s.body["state"], "synced", "{}", s.body);
    }
    assert_eq!(
        app.slow_lane.depth().await.unwrap().0,
        3,
        "nothing more moved"
    );
    assert_eq!(slow.calls().len(), 7);
}

/// An endpoint that never recovers: held for `hold_max` at most, then retried as before
/// until the dead-letter queue takes every order (nothing lost, nothing stuck).
async fn a_tenant_that_never_recovers_still_reaches_the_dead_letter_queue(backend: Backend) {
    let tenant = FakeTenant::answering(&[503; 500]).await;
    let app = TestApp::pipeline_tuned(
        backend,
        &tenant,
        |_| {},
        |s| s.gate.hold_max = Duration::from_secs(1),
    )
    .await;
    let (_, acme) = linked(&app).await;
    for id in 1..=6 {
        send_to(&app, "st_a1", &acme, id).await;
    }
    let dead = async {
        loop {
            let (v, f) = app.dlq.depth().await.unwrap();
            if v + f >= 6 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), dead)
        .await
        .expect("every order in the dead-letter queue");
    drained(&app).await;
    let parked = app
        .dlq
        .receive(10, Duration::from_millis(500))
        .await
        .unwrap();
    let mut ids: Vec<u64> = parked
        .iter()
        .map(|m| {
            woolink::envelope::Envelope::decode(&m.body)
                .unwrap()
                .head
                .order_id()
                .get()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        parked.len(),
        "each order once in the dead-letter queue"
    );
    assert!(tenant.accepted().is_empty());
    // Moving and parking renew no retries: at most the queue's receives per order, in all.
    assert!(
        tenant.calls().len() <= 6 * MAX_RECEIVES as usize,
        "{} calls",
        tenant.calls().len()
    );
}

both_backends!(
    a_slow_tenant_goes_to_the_slow_lane_and_the_others_stay,
    a_newer_version_waits_until_a_call_cut_short_is_settled,
    a_copy_of_a_call_cut_short_settles_it_when_the_first_is_gone,
    a_straggler_goes_on_in_the_slow_lane,
    an_evenly_slow_batch_and_a_tenant_at_its_usual_time_are_not_cut,
    a_slow_call_alone_in_its_batch_is_cut_once_the_usual_answer_time_is_known,
    a_steady_slower_tenant_is_cut_only_until_its_probe_is_answered,
    a_failing_tenant_is_parked_without_spending_its_retries,
    a_tenant_that_never_recovers_still_reaches_the_dead_letter_queue,
);
