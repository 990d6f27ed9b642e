//! One-click connect over HTTP, as a browser without JavaScript walks it (forms, cookies,
//! redirects not followed) and as WooCommerce calls back: the pages, the consent state, the
//! callback's refusals, and the attacks on each.

use std::collections::HashMap;

use chrono::Utc;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};
use woolink::consent::ConnectState;
use woolink::domain::{StoreId, StoreUrl, TenantCode};

use crate::both_backends;
use crate::helpers::*;

/// A browser: its cookies, no redirect followed, no JavaScript.
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, String>,
    base: String,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The value of the first `name="…" value="…"` input (HTML-unescaped).
    fn input(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\" value=\""))?;
        let rest = &self.body[at + name.len() + 15..];
        Some(unescape(&rest[..rest.find('"')?]))
    }

    /// The `href` of the element with `id`.
    fn href_of(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("id=\"{id}\" href=\""))?;
        let rest = &self.body[at + id.len() + 12..];
        Some(unescape(&rest[..rest.find('"')?]))
    }

    /// The problem the page shows (`data-problem`), if any.
    fn problem(&self) -> Option<String> {
        let at = self.body.find("data-problem=\"")?;
        let rest = &self.body[at + 14..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body, as a browser encodes it.
fn encoded(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
            base: app.url(""),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.jar.is_empty() {
            req
        } else {
            req.header(COOKIE, self.cookie_header())
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        for c in headers.get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            self.jar.insert(k.to_owned(), v.to_owned());
        }
        Page {
            status,
            headers,
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let req = self.http.get(url);
        self.send(req).await
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", FORM)
            .body(encoded(form))
            .header("origin", self.base.trim_end_matches('/'))
            .header("sec-fetch-site", "same-origin");
        self.send(req).await
    }

    /// Signs in to ACME (unless signed in already) and lands on the store step.
    async fn sign_in(&mut self) -> Page {
        let login = self.get("/connect/ACME").await;
        if login.status == 303 {
            assert_eq!(login.location(), Some("/connect/ACME/store?lang=en"));
            return self.get("/connect/ACME/store").await;
        }
        assert_eq!(login.status, 200, "{}", login.body);
        let csrf = login.input("csrf").expect("a csrf field");
        let signed = self
            .post_form(
                "/connect/ACME/login?lang=en",
                &[
                    ("csrf", &csrf),
                    ("email", "ops@acme.test"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        assert_eq!(signed.location(), Some("/connect/ACME/store?lang=en"));
        let store = self.get("/connect/ACME/store").await;
        assert_eq!(store.status, 200, "{}", store.body);
        store
    }

    /// Signs in, picks `store` and enters `url`: the page that answers.
    async fn choose(&mut self, store: &str, url: &str) -> Page {
        let page = self.sign_in().await;
        let csrf = page.input("csrf").unwrap();
        self.post_form(
            "/connect/ACME/authorize?lang=en",
            &[("csrf", &csrf), ("store", store), ("url", url)],
        )
        .await
    }
}

/// What WooCommerce POSTs to the callback.
fn keys_for(user_id: &str, permissions: &str) -> Value {
    json!({"key_id": 7, "user_id": user_id, "consumer_key": CONSUMER_KEY,
           "consumer_secret": CONSUMER_SECRET, "key_permissions": permissions})
}

/// The approval URL's query, as a map.
fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn assert_hardened(page: &Page) {
    let h = |n: &str| {
        page.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = h("content-security-policy");
    for part in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    assert_eq!(h("x-frame-options"), "DENY");
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("referrer-policy"), "same-origin");
    assert_eq!(h("cache-control"), "no-store");
    assert!(h("content-type").starts_with("text/html"));
    // Nothing from another origin: no script, no external style, image or font.
    assert!(!page.body.contains("<script"), "{}", page.body);
    assert!(!page.body.contains("src=\"http"), "{}", page.body);
}

/// The whole flow: the pages up to the shop's consent screen, WooCommerce's callback with
/// fresh keys, the return page; then the same callback replayed changes nothing.
async fn a_store_connects_through_its_consent_screen(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let mut browser = Browser::new(&app);

    let start = browser.get("/connect").await;
    assert_eq!(start.status, 200);
    assert_hardened(&start);
    let to_tenant = browser.get("/connect?tenant=acme&lang=en").await;
    assert_eq!(to_tenant.status, 303);
    assert_eq!(to_tenant.location(), Some("/connect/ACME?lang=en"));

    let store_step = browser.sign_in().await;
    assert_hardened(&store_step);
    for cookie in ["wl_csrf", "wl_session"] {
        assert!(browser.jar.contains_key(cookie), "{:?}", browser.jar);
    }
    assert!(store_step.body.contains("Acme Shop") && store_step.body.contains("st_a1"));
    assert!(
        !store_step.body.contains("Beta Shop"),
        "another tenant's store"
    );

    let ready = browser.choose("st_a1", &store.url).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_hardened(&ready);
    // The shop was probed without keys, for its REST namespaces only (the real store's
    // whole index is over 1 MB).
    let probe = store
        .calls()
        .into_iter()
        .find(|c| c.path == "/wp-json/")
        .expect("the shop was probed");
    assert_eq!(probe.query.as_deref(), Some("_fields=namespaces"));
    assert!(probe.auth.is_none());
    let approve = ready.href_of("approve").expect("the approve link");
    assert!(
        approve.starts_with(&format!("{}/wc-auth/v1/authorize?", store.url)),
        "{approve}"
    );
    let q = query_of(&approve);
    assert_eq!(q["app_name"], "woolink (Acme Couriers)");
    assert_eq!(q["scope"], "read_write");
    assert_eq!(q["callback_url"], app.url("/v1/connect/wc-auth/callback"));
    assert_eq!(q["return_url"], app.url("/connect/ACME/done?lang=en"));
    let state = &q["user_id"];
    assert!(
        !state.contains("st_a1") && !state.contains("ACME") && !state.contains("127.0.0.1"),
        "the state is opaque: {state}"
    );
    assert!(
        store.webhooks().is_empty(),
        "nothing registered before consent"
    );

    // WooCommerce's server-to-server POST (its body, its content type).
    let callback = app
        .http
        .post(app.url("/v1/connect/wc-auth/callback"))
        .header("content-type", "application/json;charset=UTF-8")
        .body(keys_for(state, "read_write").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 200);
    assert_eq!(
        callback.json::<Value>().await.unwrap(),
        json!({"outcome": "connected"})
    );
    let registered = store.webhooks();
    assert_eq!(registered.len(), 8, "{registered:?}");
    assert!(registered.iter().all(|w| w["delivery_url"]
        .as_str()
        .unwrap()
        .ends_with("/v1/webhooks/woocommerce/st_a1")));
    let link = link_of(&app, "st_a1").await.expect("linked");
    assert!(link.is_connected() && link.woo_keys.is_some());
    assert_eq!(link.store_url.as_str(), store.url);

    // The browser comes back.
    let done = browser
        .get(&format!(
            "{}&success=1&user_id={}",
            q["return_url"],
            urlencode(state)
        ))
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_hardened(&done);
    assert!(
        done.body.contains("Acme Shop is connected"),
        "{}",
        done.body
    );
    assert!(done.body.contains("<dd id=\"webhooks\">8</dd>"));
    assert!(done.body.contains("processing"));

    // A replay of the callback (even with other keys) is refused and changes nothing.
    let replay = app
        .post_json(
            "/v1/connect/wc-auth/callback",
            json!({"key_id": 8, "user_id": state, "consumer_key": "ck_other",
                   "consumer_secret": "cs_other", "key_permissions": "read_write"}),
            None,
        )
        .await;
    assert_eq!(replay.status, 409, "{}", replay.body);
    assert_eq!(replay.body["error"]["code"], "conflict");
    let after = link_of(&app, "st_a1").await.unwrap();
    assert_eq!(after.revision, link.revision);
    assert_eq!(store.webhooks().len(), 8);
}

both_backends!(a_store_connects_through_its_consent_screen);

/// The link of `store`, as stored.
async fn link_of(app: &TestApp, store: &str) -> Option<woolink::model::Link> {
    app.services
        .repos
        .links
        .get_link(&StoreId::parse(store).unwrap())
        .await
        .unwrap()
}

/// The result page's path for `tenant`, `success` and the state `token`.
fn done_path(tenant: &str, success: u8, token: &str) -> String {
    format!(
        "/connect/{tenant}/done?lang=en&success={success}&user_id={}",
        urlencode(token)
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A state for `store` at `site`, sealed with the app's key, expiring at `expires_at`.
fn sealed_state(app: &TestApp, site: &str, expires_in: chrono::Duration) -> String {
    let mut s = ConnectState::new(
        TenantCode::parse("ACME").unwrap(),
        StoreId::parse("st_a1").unwrap(),
        StoreUrl::parse(site).unwrap(),
        Utc::now(),
    );
    s.expires_at = Utc::now() + expires_in;
    s.seal(&app.services.secrets).unwrap()
}

/// Forged, altered and expired states are refused (WooCommerce then deletes its keys) and
/// touch neither the store nor the table; read-only keys and keys the shop refuses are
/// answered 200 so the merchant sees why on the return page.
async fn bad_callbacks_change_nothing(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let valid = sealed_state(&app, &store.url, chrono::Duration::minutes(10));

    // Sealed with another key (a forger's), altered, cut, empty, not a string.
    let other_key =
        woolink::crypto::SecretBox::from_base64(&woolink::crypto::SecretBox::generate_key_base64())
            .unwrap();
    let forged = ConnectState::open(&valid, &app.services.secrets)
        .unwrap()
        .seal(&other_key)
        .unwrap();
    let mut altered = valid.clone().into_bytes();
    altered[20] = if altered[20] == b'x' { b'y' } else { b'x' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in [
        forged.as_str(),
        &altered,
        &valid[..valid.len() - 3],
        "",
        "1",
    ] {
        let r = app
            .post_json(
                "/v1/connect/wc-auth/callback",
                keys_for(bad, "read_write"),
                None,
            )
            .await;
        assert_eq!(r.status, 401, "{bad}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_token");
    }
    let numeric = app
        .post_json(
            "/v1/connect/wc-auth/callback",
            json!({"user_id": 12, "consumer_key": "a", "consumer_secret": "b"}),
            None,
        )
        .await;
    assert_eq!(numeric.status, 400, "{}", numeric.body);
    let junk = app
        .post_raw("/v1/connect/wc-auth/callback", b"{not json".to_vec(), None)
        .await;
    assert_eq!(junk.status, 400, "{}", junk.body);

    // Expired: refused, and the nonce is not spent by the refusal.
    let expired = sealed_state(&app, &store.url, chrono::Duration::seconds(-1));
    let r = app
        .post_json(
            "/v1/connect/wc-auth/callback",
            keys_for(&expired, "read_write"),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        r.body
    );
    assert!(store.webhooks().is_empty());
    assert!(link_of(&app, "st_a1").await.is_none());

    // Read-only keys: recorded as such, nothing linked.
    let read_only = sealed_state(&app, &store.url, chrono::Duration::minutes(10));
    let r = app
        .post_json(
            "/v1/connect/wc-auth/callback",
            keys_for(&read_only, "read"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"outcome": "failed", "problem": "read_only"}));
    assert!(store.webhooks().is_empty());
    assert!(link_of(&app, "st_a1").await.is_none());
    let mut browser = Browser::new(&app);
    let page = browser.get(&done_path("ACME", 1, &read_only)).await;
    assert_eq!(
        page.problem().as_deref(),
        Some("read_only"),
        "{}",
        page.body
    );
    assert!(page.body.contains("REST API"), "the unused key is named");

    // Keys the shop refuses: recorded, nothing linked, no webhook left behind.
    let refused = sealed_state(&app, &store.url, chrono::Duration::minutes(10));
    let r = app
        .post_json(
            "/v1/connect/wc-auth/callback",
            json!({"key_id": 9, "user_id": refused, "consumer_key": "ck_wrong",
                   "consumer_secret": "cs_wrong", "key_permissions": "read_write"}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"outcome": "failed", "problem": "keys_refused"})
    );
    assert!(store.webhooks().is_empty());
    assert!(link_of(&app, "st_a1").await.is_none());

    // Another tenant's page cannot read this attempt.
    let page = browser.get(&done_path("BETA", 1, &refused)).await;
    assert_eq!(page.problem().as_deref(), Some("unknown_attempt"));
}

both_backends!(bad_callbacks_change_nothing);

/// Ten copies of one callback at once: one links the store, nine are refused as replays.
async fn parallel_callbacks_link_once(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let state = sealed_state(&app, &store.url, chrono::Duration::minutes(10));
    let answers = futures::future::join_all((0..10).map(|_| {
        app.post_json(
            "/v1/connect/wc-auth/callback",
            keys_for(&state, "read_write"),
            None,
        )
    }))
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(store.webhooks().len(), 8);
}

both_backends!(parallel_callbacks_link_once);

/// Forms refuse what did not come from woolink's own page in this browser.
async fn forms_refuse_cross_site_posts(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let mut browser = Browser::new(&app);
    let login = browser.get("/connect/ACME").await;
    let csrf = login.input("csrf").unwrap();
    let fields = [
        ("csrf", csrf.as_str()),
        ("email", "ops@acme.test"),
        ("password", PASSWORD),
    ];

    // No token in the form, a wrong token, the right token from another site.
    let no_token = browser.post_form("/connect/ACME/login", &fields[1..]).await;
    let wrong = browser
        .post_form(
            "/connect/ACME/login",
            &[
                ("csrf", &"0".repeat(64)),
                ("email", "ops@acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let from_evil = |site: &'static str, origin: &'static str| {
        let mut req = browser
            .http
            .post(app.url("/connect/ACME/login"))
            .header("content-type", FORM)
            .body(encoded(&fields))
            .header(COOKIE, browser.cookie_header());
        if !site.is_empty() {
            req = req.header("sec-fetch-site", site);
        }
        if !origin.is_empty() {
            req = req.header("origin", origin);
        }
        req.send()
    };
    let cross_site = from_evil("cross-site", "").await.unwrap();
    let other_origin = from_evil("", "https://evil.example").await.unwrap();
    // A cookie-less attacker page that copies a token it somehow saw.
    let no_cookie = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/connect/ACME/login"))
        .header("content-type", FORM)
        .body(encoded(&fields))
        .send()
        .await
        .unwrap();
    for (what, status, body) in [
        ("no token", no_token.status, no_token.body.clone()),
        ("wrong token", wrong.status, wrong.body.clone()),
        (
            "cross-site",
            cross_site.status().as_u16(),
            cross_site.text().await.unwrap(),
        ),
        (
            "other origin",
            other_origin.status().as_u16(),
            other_origin.text().await.unwrap(),
        ),
        (
            "no cookie",
            no_cookie.status().as_u16(),
            no_cookie.text().await.unwrap(),
        ),
    ] {
        assert_eq!(status, 403, "{what}: {body}");
        assert!(body.contains("data-problem=\"form_expired\""), "{what}");
    }
    assert!(!browser.jar.contains_key("wl_session"), "never signed in");

    // Without a session, the store step and its POST ask to sign in; nothing is prepared.
    let store_step = browser.get("/connect/ACME/store").await;
    assert_eq!(store_step.status, 401);
    assert_eq!(store_step.problem().as_deref(), Some("session"));
    let posted = browser
        .post_form(
            "/connect/ACME/authorize",
            &[("csrf", &csrf), ("store", "st_a1"), ("url", &store.url)],
        )
        .await;
    assert_eq!(posted.status, 401);
    assert!(posted.href_of("approve").is_none());

    // Signed in to ACME, a session is no key to BETA's pages.
    browser.sign_in().await;
    let beta = browser.get("/connect/BETA/store").await;
    assert_eq!(beta.status, 401);
    // A wrong password is a clear page, not an error dump.
    let mut other = Browser::new(&app);
    let login = other.get("/connect/ACME").await;
    let failed = other
        .post_form(
            "/connect/ACME/login",
            &[
                ("csrf", &login.input("csrf").unwrap()),
                ("email", "ops@acme.test"),
                ("password", "wrong password!"),
            ],
        )
        .await;
    assert_eq!(failed.status, 401);
    assert_eq!(failed.problem().as_deref(), Some("login_failed"));
    assert_eq!(failed.input("email").as_deref(), Some("ops@acme.test"));
}

both_backends!(forms_refuse_cross_site_posts);

/// Every problem with the shop is named, with its fix, before the merchant leaves woolink.
async fn shop_problems_are_named_before_leaving(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let plain = FakeStore::start(StoreMode::Healthy).await;
    plain.misbehave(Misbehaviour {
        plain_permalinks: true,
        ..Misbehaviour::default()
    });
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    };
    let cases = [
        ("st_a1", "not a url", "invalid_url", 422),
        ("st_a1", "http://shop.example.com", "https", 422),
        ("st_a1", "https://10.0.0.8", "invalid_url", 422),
        ("st_a1", &closed, "unreachable", 422),
        ("st_a1", &plain.url, "permalinks", 422),
        // The fake tenant's endpoint: a web server, but no WordPress.
        ("st_a1", &tenant.url, "not_woocommerce", 422),
        ("st_b1", &plain.url, "store_unknown", 404),
        ("", &plain.url, "pick_store", 422),
    ];
    let mut browser = Browser::new(&app);
    for (store, url, problem, status) in cases {
        let page = browser.choose(store, url).await;
        assert_eq!(
            page.problem().as_deref(),
            Some(problem),
            "{url}: {}",
            page.body
        );
        assert_eq!(page.status, status, "{url}");
        assert!(page.href_of("approve").is_none());
        assert!(page.body.contains("What to do"), "a fix is given");
        // The form is shown again with what was typed.
        assert_eq!(page.input("url").as_deref(), Some(url));
    }
    // A shop whose address redirects (no www → www): named, and its real address offered.
    let real_shop = FakeStore::start(StoreMode::Healthy).await;
    let target = real_shop.url.clone();
    let redirector = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let to = format!(
            "{target}{}",
            uri.path_and_query().map_or("", |p| p.as_str())
        );
        async move {
            (
                axum::http::StatusCode::MOVED_PERMANENTLY,
                [(axum::http::header::LOCATION, to)],
            )
        }
    });
    let (addr, _stop) = serve_on_loopback(redirector).await;
    let typed = format!("http://{addr}");
    let page = browser.choose("st_a1", &typed).await;
    assert_eq!(page.problem().as_deref(), Some("moved"), "{}", page.body);
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains(&real_shop.url),
        "the shop's address is named"
    );
    assert_eq!(
        page.input("url").as_deref(),
        Some(real_shop.url.as_str()),
        "and filled in"
    );
    let ready = browser.choose("st_a1", &real_shop.url).await;
    assert!(ready.href_of("approve").is_some(), "{}", ready.body);
    // Linked from the plugin on another site: refused before the shop is asked.
    let token = app.acme_token().await;
    let linked = app
        .link(
            &token,
            json!({"storeId": "st_a2", "storeUrl": plain.url, "deviceId": DEVICE}),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    plain.misbehave(Misbehaviour::default());
    let page = browser.choose("st_a2", &plain.url).await;
    assert_eq!(page.problem().as_deref(), Some("already_linked"));
    assert_eq!(page.status, 409);
}

both_backends!(shop_problems_are_named_before_leaving);

/// Nothing on the pages sends the browser anywhere a request names, and the result page
/// tells a denial and an unknown attempt apart.
async fn no_open_redirect_and_denials(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let store = FakeStore::start(StoreMode::Healthy).await;
    let mut browser = Browser::new(&app);
    for path in [
        "/connect?tenant=https://evil.example",
        "/connect?tenant=//evil.example",
        "/connect/ACME/done?success=1&user_id=x&return_url=https://evil.example",
        "/connect/ACME/done?success=1&redirect_to=https://evil.example",
        "/connect/%2F%2Fevil.example",
        "/connect/ACME/done?success=0&user_id=forged",
    ] {
        let page = browser.get(path).await;
        assert!(page.location().is_none(), "{path} redirected");
        for attr in ["href=\"", "action=\"", "url="] {
            assert!(
                !page.body.contains(&format!("{attr}https://evil"))
                    && !page.body.contains(&format!("{attr}//evil")),
                "{path}: {attr}"
            );
        }
        assert!(page.status >= 400, "{path}: {}", page.status);
    }
    // A tenant code redirects only to its own canonical page.
    let page = browser.get("/connect?tenant=acme").await;
    assert_eq!(page.location(), Some("/connect/ACME?lang=en"));
    // The merchant said no at the shop.
    let state = sealed_state(&app, &store.url, chrono::Duration::minutes(10));
    let denied = browser.get(&done_path("ACME", 0, &state)).await;
    assert_eq!(denied.status, 200);
    assert!(
        denied.body.contains("You did not approve woolink"),
        "{}",
        denied.body
    );
    // Back before WooCommerce called: the page waits and reloads by itself.
    let pending = browser.get(&done_path("ACME", 1, &state)).await;
    assert_eq!(pending.status, 202, "{}", pending.body);
    assert!(pending.body.contains("http-equiv=\"refresh\""));
    // An expired attempt that never called back.
    let old = sealed_state(&app, &store.url, chrono::Duration::seconds(-5));
    let expired = browser.get(&done_path("ACME", 1, &old)).await;
    assert_eq!(expired.problem().as_deref(), Some("expired"));
}

both_backends!(no_open_redirect_and_denials);

/// The pages and the API's error messages speak the request's language; codes never change.
async fn pages_and_errors_follow_the_language(backend: Backend) {
    let tenant = FakeTenant::start().await;
    let app = TestApp::pipeline(backend, &tenant).await;
    let cases = [
        (
            None,
            Some("zh-CN,zh;q=0.9,en;q=0.5"),
            "zh-Hans",
            "谁为您配送订单？",
        ),
        (
            None,
            Some("es-CL,es;q=0.9"),
            "es",
            "¿Quién entrega tus pedidos?",
        ),
        (
            Some("pl"),
            Some("es"),
            "pl",
            "Kto dostarcza Twoje zamówienia?",
        ),
        (None, Some("fr-FR"), "en", "Who delivers your orders?"),
        (Some("xx"), None, "en", "Who delivers your orders?"),
    ];
    for (query, accept, tag, heading) in cases {
        let mut req = app.http.get(app.url(&match query {
            Some(q) => format!("/connect?lang={q}"),
            None => "/connect".to_owned(),
        }));
        if let Some(a) = accept {
            req = req.header("accept-language", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["content-language"], tag);
        let body = r.text().await.unwrap();
        assert!(body.contains(&format!("<html lang=\"{tag}\">")), "{tag}");
        assert!(body.contains(heading), "{tag}: {body}");
    }
    let r = app
        .http
        .post(app.url("/v1/connect/login?lang=es"))
        .json(
            &json!({"code": "ACME", "email": "ops@acme.test", "password": "wrong password",
                      "deviceId": DEVICE}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(
        body["error"]["message"],
        "El correo electrónico o la contraseña no son correctos."
    );
    let r = app
        .http
        .get(app.url("/v1/no/such/route"))
        .header("accept-language", "pl")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "Nie ma takiej ścieżki.");
}

both_backends!(pages_and_errors_follow_the_language);
