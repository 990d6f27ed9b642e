//! The outside review's attacks (issue 14), each re-run as a test: parallel guesses against
//! the lockout, floods from one source, hostile answers from stores and tenants, bad bodies,
//! replays, revoked keys, and what a merchant is shown of a tenant's refusal.

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
