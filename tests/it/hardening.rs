//! The outside review's attacks (issue 14), each re-run as a test: parallel guesses against
//! the lockout, floods from one source, hostile answers from stores and tenants, bad bodies,
//! replays, revoked keys, and what a merchant is shown of a tenant's refusal.

use std::time::Duration;

use futures::future::join_all;

use crate::both_backends;
use crate::helpers::*;

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
            axum::routing::get(move || {
                let body = [mib.as_ref(); 8].concat();
                async move { body }
            }),
        );
    let (addr, _stop) = serve_on_loopback(app).await;
    let store = woolink::domain::StoreUrl::parse(&format!("http://{addr}")).unwrap();
    let http = woolink::outbound::OutboundPolicy::local_development()
        .client(Duration::from_secs(10))
        .unwrap();
    let woo = WooClient::new(http);
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
