//! Handler tests on real API Gateway v2 (HTTP API) event JSON, through `lambda_http`'s own
//! event → request → response → event conversion: the path the deployed function takes.

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::{Adapter, Context, LambdaEvent};
use serde_json::Value;
use woolink::admin;
use woolink::outbound::OutboundPolicy;
use woolink::wiring::Services;

use crate::helpers::*;

/// A function as Lambda runs it: the app behind `lambda_http`'s adapter.
pub struct LambdaHarness {
    app: axum::Router,
}

impl LambdaHarness {
    pub fn new(app: axum::Router) -> Self {
        Self { app }
    }

    /// Feeds one fixture (with `{{NAME}}` placeholders replaced) and returns the
    /// API Gateway response JSON.
    pub async fn invoke(&self, fixture: &str, vars: &[(&str, &str)]) -> Value {
        let vars: Vec<(String, &str)> = vars
            .iter()
            .map(|(name, value)| (format!("{{{{{name}}}}}"), *value))
            .collect();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.invoke_replacing(fixture, &pairs).await
    }

    /// The same, replacing literal text of the fixture (`from`, `to`).
    pub async fn invoke_replacing(&self, fixture: &str, replace: &[(&str, &str)]) -> Value {
        let path = format!("{}/fixtures/apigw/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let mut raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for (from, to) in replace {
            raw = raw.replace(from, to);
        }
        let request: LambdaRequest =
            serde_json::from_str(&raw).expect("fixture is an API Gateway event");
        let event = LambdaEvent::new(request, Context::default());
        let adapter: Adapter<'_, _, _> = Adapter::from(self.app.clone());
        let response = adapter.oneshot(event).await.expect("handler never errors");
        serde_json::to_value(&response).expect("response serialises")
    }
}

/// The body of an API Gateway response as JSON.
pub fn body_of(response: &Value) -> Value {
    let body = response["body"].as_str().unwrap_or("");
    let bytes = if response["isBase64Encoded"] == true {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64 body")
    } else {
        body.as_bytes().to_vec()
    };
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

async fn connect_function() -> (LambdaHarness, Arc<Services>) {
    // As deployed: no configured public URL (taken from the Host API Gateway sets), and the
    // local runner's outbound policy only so the fixture's loopback store URL is accepted.
    let mut config = test_config("http://unused", OutboundPolicy::local_development());
    config.public_url = None;
    let svc = Arc::new(Services::new(repos(Backend::Memory).await, &config).unwrap());
    admin::apply_seed(&svc.admin(), test_seed()).await.unwrap();
    (
        LambdaHarness::new(woolink::api::connect_app(svc.clone())),
        svc,
    )
}

#[tokio::test]
async fn connect_wizard_on_api_gateway_events() {
    let (f, _) = connect_function().await;

    let r = f.invoke("connect-resolve.json", &[]).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(body_of(&r)["tenant"]["code"], "ACME");
    assert_eq!(r["headers"]["content-type"], "application/json");
    // API Gateway's request id, so its access log and the function's logs name it alike.
    assert_eq!(r["headers"]["x-request-id"], "JKJaXmPLvHcESHA=");

    // The plugin's login arrives base64-encoded.
    let r = f.invoke("connect-login-base64.json", &[]).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    let token = body_of(&r)["token"].as_str().unwrap().to_owned();

    let r = f.invoke("connect-stores.json", &[("TOKEN", &token)]).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(body_of(&r)["stores"].as_array().unwrap().len(), 2);

    let r = f.invoke("connect-link.json", &[("TOKEN", &token)]).await;
    assert_eq!(r["statusCode"], 201, "{r}");
    let body = body_of(&r);
    assert_eq!(
        body["webhook"]["deliveryUrl"],
        "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1/webhooks/woocommerce/st_a1"
    );
    let key = body["apiKey"].as_str().unwrap().to_owned();

    let r = f
        .invoke("connect-store-status.json", &[("API_KEY", &key)])
        .await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(body_of(&r)["status"], "connected");
}

/// The connect page and WooCommerce's consent callback on API Gateway events: HTML, cookies
/// in the event's own `cookies` fields both ways, a base64 form body, the API's host as the
/// public base (so the callback and return URLs are the deployed API's).
#[tokio::test]
async fn connect_page_and_consent_callback_on_api_gateway_events() {
    use base64::Engine as _;
    let (f, svc) = connect_function().await;
    let cookie = |r: &Value, name: &str| -> String {
        r["cookies"]
            .as_array()
            .unwrap_or_else(|| panic!("no cookies in {r}"))
            .iter()
            .filter_map(|c| c.as_str())
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {name} cookie in {r}"))
    };
    let r = f.invoke("page-tenant.json", &[]).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["headers"]["content-type"], "text/html; charset=utf-8");
    assert_eq!(r["headers"]["content-language"], "es");
    assert!(r["headers"]["content-security-policy"]
        .as_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let csrf = cookie(&r, "wl_csrf");
    let set = r["cookies"][0].as_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure"),
        "{set}"
    );
    assert!(r["body"].as_str().unwrap().contains(&csrf));

    let form = format!("csrf={csrf}&email=ops%40acme.test&password=correct+horse+battery+staple");
    let body = base64::engine::general_purpose::STANDARD.encode(form);
    let r = f
        .invoke("page-login-form.json", &[("CSRF", &csrf), ("BODY", &body)])
        .await;
    assert_eq!(r["statusCode"], 303, "{r}");
    assert_eq!(r["headers"]["location"], "/connect/ACME/store?lang=es");
    let session = cookie(&r, "wl_session");
    assert!(session.starts_with("wls_"));

    let r = f
        .invoke("page-store.json", &[("CSRF", &csrf), ("SESSION", &session)])
        .await;
    assert_eq!(r["statusCode"], 200, "{r}");
    let html = r["body"].as_str().unwrap();
    assert!(
        html.contains("Acme Shop") && html.contains("Elige la tienda"),
        "{html}"
    );

    // WooCommerce's callback for a state this deployment sealed.
    let store = FakeStore::start(StoreMode::Healthy).await;
    let mut state = woolink::consent::ConnectState::new(
        woolink::domain::TenantCode::parse("ACME").unwrap(),
        woolink::domain::StoreId::parse("st_a1").unwrap(),
        woolink::domain::StoreUrl::parse(&store.url).unwrap(),
        chrono::Utc::now(),
    );
    state.expires_at = chrono::Utc::now() + chrono::Duration::minutes(5);
    let token = state.seal(&svc.secrets).unwrap();
    let vars = [
        ("STATE", token.as_str()),
        ("CK", CONSUMER_KEY),
        ("CS", CONSUMER_SECRET),
    ];
    let r = f.invoke("wc-auth-callback.json", &vars).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(body_of(&r)["outcome"], "connected");
    assert!(store.webhooks().iter().all(|w| w["delivery_url"]
        == "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1/webhooks/woocommerce/st_a1"));
    assert_eq!(store.webhooks().len(), 8);
    let r = f.invoke("wc-auth-callback.json", &vars).await;
    assert_eq!(r["statusCode"], 409, "{r}");
}

#[tokio::test]
async fn connect_errors_on_api_gateway_events() {
    let (f, _) = connect_function().await;
    let r = f.invoke("connect-resolve-malformed.json", &[]).await;
    assert_eq!(r["statusCode"], 400, "{r}");
    assert_eq!(body_of(&r)["error"]["code"], "invalid_request");

    let r = f.invoke("connect-wrong-method.json", &[]).await;
    assert_eq!(r["statusCode"], 405, "{r}");
    assert_eq!(body_of(&r)["error"]["code"], "method_not_allowed");

    let r = f
        .invoke("connect-stores.json", &[("TOKEN", "wls_forged")])
        .await;
    assert_eq!(r["statusCode"], 401, "{r}");
    assert_eq!(body_of(&r)["error"]["code"], "invalid_token");

    let r = f
        .invoke("connect-store-status.json", &[("API_KEY", "wlk_forged")])
        .await;
    assert_eq!(r["statusCode"], 401, "{r}");
    assert_eq!(body_of(&r)["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn webhook_function_on_api_gateway_events() {
    let app = TestApp::spawn(Backend::Memory).await;
    let f = signed_fixture();
    install_link(&app, "st_a1", &f.secret, false).await;
    let function = LambdaHarness::new(woolink::api::webhook_app(app.intake.clone()));

    let r = function.invoke("webhook-ping.json", &[]).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert!(take_all(&app).await.is_empty());

    for fixture in [
        "webhook-order-updated.json",
        "webhook-order-updated-base64.json",
    ] {
        let r = function.invoke(fixture, &[]).await;
        assert_eq!(r["statusCode"], 200, "{fixture}: {r}");
        assert_eq!(body_of(&r)["status"], "queued");
        let messages = take_all(&app).await;
        assert_eq!(messages.len(), 1, "{fixture}");
        let env = woolink::envelope::Envelope::decode(&messages[0].body).unwrap();
        assert_eq!(
            env.head.body_sha256(),
            f.sha256,
            "{fixture}: the body arrived byte for byte"
        );
        app.queue
            .delete(&[messages[0].receipt.clone()])
            .await
            .unwrap();
    }
}

/// With `IntakeEndpoint: function-url` the webhook function is invoked through its Lambda
/// function URL: the same payload format 2.0, with the URL's own host and a `$default` route
/// and stage. The delivery is queued byte for byte, as through API Gateway.
#[tokio::test]
async fn webhook_function_on_a_function_url_event() {
    let app = TestApp::spawn(Backend::Memory).await;
    let f = signed_fixture();
    install_link(&app, "st_a1", &f.secret, false).await;
    let function = LambdaHarness::new(woolink::api::webhook_app(app.intake.clone()));
    let r = function.invoke("webhook-function-url.json", &[]).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(body_of(&r)["status"], "queued");
    let messages = take_all(&app).await;
    assert_eq!(messages.len(), 1);
    let env = woolink::envelope::Envelope::decode(&messages[0].body).unwrap();
    assert_eq!(env.head.body_sha256(), f.sha256);
    // A wrong signature through the URL is refused as through API Gateway.
    let r = function
        .invoke_replacing(
            "webhook-function-url.json",
            &[(
                "w5xc/R1CWSQnKuNoGf+UqWcdzwH4Lx5inOjPXbBwOp4=",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )],
        )
        .await;
    assert_eq!(r["statusCode"], 401, "{r}");
}

/// In Lambda the per-source login limit counts API Gateway's `requestContext.http.sourceIp`
/// (never a header the client sets): 20 logins a minute from 203.0.113.7, the 21st refused;
/// the same login from another address still works.
#[tokio::test]
async fn logins_are_limited_by_api_gateways_source_ip() {
    let (f, _) = connect_function().await;
    let second = chrono::Utc::now().timestamp().rem_euclid(60);
    if second > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
    for _ in 0..20 {
        let r = f.invoke("connect-login-base64.json", &[]).await;
        assert_eq!(r["statusCode"], 200, "{r}");
    }
    let r = f.invoke("connect-login-base64.json", &[]).await;
    assert_eq!(r["statusCode"], 429, "{r}");
    assert_eq!(body_of(&r)["error"]["code"], "too_many_attempts");
    let r = f
        .invoke_replacing(
            "connect-login-base64.json",
            &[(
                "\"sourceIp\": \"203.0.113.7\"",
                "\"sourceIp\": \"198.51.100.9\"",
            )],
        )
        .await;
    assert_eq!(r["statusCode"], 200, "{r}");
}
