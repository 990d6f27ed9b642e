//! HTTP adapter of the connect pages and of WooCommerce's consent callback: decode the form
//! or query, call the same use cases as the API wizard (`auth`, `connect`) and the consent
//! flow (`consent`), render HTML (`crate::web`).
//!
//! Forms are protected against cross-site requests three ways: a CSRF token in the form that
//! must equal the `wl_csrf` cookie (double submit), `SameSite=Strict` cookies, and a refusal of
//! `Origin` / `Sec-Fetch-Site` headers that name another site. The signed-in user's session
//! token lives only in an `HttpOnly` cookie scoped to `/connect`.

use std::collections::HashMap;
use std::sync::Arc;

use super::extract::Path;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::RngCore;
use serde::Deserialize;
use url::Url;

use super::connect::{delivery_base, public_base};
use super::extract::{JsonBody, RawBody, SourceIp};
use crate::auth;
use crate::connect;
use crate::consent::{self, Callback, Endpoints, Outcome, Problem, Seen};
use crate::crypto::{ct_eq, SecretString};
use crate::domain::{DeviceId, Email, Password, StoreId, TenantCode};
use crate::error::{Error, ErrorKind, Result};
use crate::i18n::{self, Lang};
use crate::model::{Session, Tenant};
use crate::web::{self, href, Frame, StoreOption};
use crate::wiring::Services;

type AppState = State<Arc<Services>>;

const CSRF_COOKIE: &str = "wl_csrf";
const SESSION_COOKIE: &str = "wl_session";
const COOKIE_PATH: &str = "/connect";
/// How long a form's CSRF token lives (a merchant may take a while to find their password).
const CSRF_MAX_AGE_SECS: u64 = 2 * 3600;

/// The path of WooCommerce's consent callback.
pub const CALLBACK_PATH: &str = "/v1/connect/wc-auth/callback";

/// An HTML answer with the pages' security headers, and cookies to set.
struct Html {
    status: StatusCode,
    body: String,
    cookies: Vec<String>,
}

impl Html {
    fn new(status: StatusCode, body: String) -> Self {
        Self {
            status,
            body,
            cookies: Vec::new(),
        }
    }

    fn cookie(mut self, cookie: Option<String>) -> Self {
        self.cookies.extend(cookie);
        self
    }
}

/// The headers every page carries.
fn harden(response: &mut Response, lang: Lang) {
    let h = response.headers_mut();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(
        header::CONTENT_SECURITY_POLICY,
        &web::content_security_policy(),
    );
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Same-origin: forms still carry `Origin` (no-referrer would make it `null`); the shop and
    // any other site get no referrer.
    set(header::REFERRER_POLICY, "same-origin");
    set(header::CACHE_CONTROL, "no-store");
    set(header::CONTENT_LANGUAGE, lang.tag());
    set(header::VARY, "Accept-Language, Cookie");
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
}

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.body,
        )
            .into_response();
        harden(&mut response, i18n::current());
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }
}

/// A `303 See Other` to one of woolink's own pages (never to a URL from the request).
fn see_other(path: &str, cookies: Vec<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&href(path, i18n::current())) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    harden(&mut response, i18n::current());
    response
}

/// A query string's or form body's fields (the first 32; a field given twice keeps the last).
fn fields(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw)
        .take(32)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

fn secure(base: &str) -> bool {
    base.starts_with("https://")
}

/// The form token this browser has, or a new one (with its cookie to set).
fn csrf_token(headers: &HeaderMap, base: &str) -> (String, Option<String>) {
    match cookies(headers).remove(CSRF_COOKIE) {
        Some(t) if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) => (t, None),
        _ => {
            let t = random_hex(32);
            let cookie = set_cookie(CSRF_COOKIE, &t, CSRF_MAX_AGE_SECS, secure(base));
            (t, Some(cookie))
        }
    }
}

/// `scheme://host[:port]` of a base URL.
fn origin_of(base: &str) -> Option<String> {
    let url = Url::parse(base).ok()?;
    Some(url.origin().ascii_serialization())
}

/// Whether a form POST came from woolink's own page in this browser.
fn same_site_form(headers: &HeaderMap, form: &HashMap<String, String>, base: &str) -> bool {
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header_str("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    // `null` is what a privacy setting or a sandboxed frame sends: not proof of anything,
    // so the token decides (and `Sec-Fetch-Site` above, which browsers always send).
    if let Some(origin) = header_str("origin").filter(|o| *o != "null") {
        if Some(origin.to_owned()) != origin_of(base) {
            return false;
        }
    }
    let cookie = cookies(headers).remove(CSRF_COOKIE).unwrap_or_default();
    let sent = form.get("csrf").map(String::as_str).unwrap_or_default();
    cookie.len() == 64 && ct_eq(cookie.as_bytes(), sent.as_bytes())
}

/// The page for a problem's status code.
fn status_of(problem: Problem) -> StatusCode {
    match problem {
        Problem::TenantUnknown | Problem::StoreUnknown | Problem::UnknownAttempt => {
            StatusCode::NOT_FOUND
        }
        Problem::TenantInactive | Problem::FormExpired => StatusCode::FORBIDDEN,
        Problem::LoginFailed | Problem::Session => StatusCode::UNAUTHORIZED,
        Problem::TooMany => StatusCode::TOO_MANY_REQUESTS,
        Problem::AlreadyLinked => StatusCode::CONFLICT,
        Problem::Expired => StatusCode::GONE,
        // Woolink could not finish, for a reason of its own or of WooCommerce's.
        Problem::Failed => StatusCode::BAD_GATEWAY,
        // The address the merchant typed does not lead to a usable shop: theirs to fix.
        Problem::Unreachable
        | Problem::NotWooCommerce
        | Problem::Moved
        | Problem::PickStore
        | Problem::InvalidUrl
        | Problem::Https
        | Problem::Permalinks
        | Problem::KeysRefused
        | Problem::ReadOnly => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// Step 1 at `/connect`, or its answer (`?tenant=CODE` → the tenant's login page).
#[utoipa::path(
    get,
    path = "/connect",
    tag = "pages",
    summary = "The connect page: the tenant code form, or with ?tenant= on to its login.",
    params(("tenant" = Option<String>, Query, description = "A tenant code.")),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "On to the tenant's login page."),
        super::openapi::PageErrors,
    )
)]
pub async fn start(State(svc): AppState, RawQuery(q): RawQuery) -> Response {
    let lang = i18n::current();
    let q = fields(q.as_deref().unwrap_or_default().as_bytes());
    let given = q.get("tenant").map(|c| c.trim()).unwrap_or_default();
    if given.is_empty() {
        return tenant_page(lang, "", None).into_response();
    }
    match resolve(&svc, given).await {
        Ok(t) => see_other(&format!("/connect/{}", t.code), Vec::new()),
        Err(p) => tenant_page(lang, given, Some(p)).into_response(),
    }
}

fn tenant_page(lang: Lang, code: &str, problem: Option<Problem>) -> Html {
    let frame = Frame {
        lang,
        here: "/connect",
        step: Some(1),
        heading: web::heading(lang, "tenant.heading", &[]),
        problem: problem.map(|p| (p, vec![("code", code.to_owned())])),
        refresh: None,
    };
    let status = problem.map_or(StatusCode::OK, status_of);
    Html::new(status, web::page(frame, &web::tenant_form(lang, code)))
}

async fn resolve(svc: &Services, code: &str) -> std::result::Result<Tenant, Problem> {
    let code = TenantCode::parse(code).map_err(|_| Problem::TenantUnknown)?;
    auth::resolve(svc.repos.tenants.as_ref(), &code)
        .await
        .map_err(|e| Problem::of_error(&e))
}

/// The signed-in session of this browser for `tenant`, if any.
async fn session_of(svc: &Services, headers: &HeaderMap, tenant: &TenantCode) -> Option<Session> {
    let token = cookies(headers).remove(SESSION_COOKIE)?;
    auth::authenticate(&svc.gate(), Some(&token))
        .await
        .ok()
        .filter(|s| &s.tenant == tenant)
}

fn login_page(
    lang: Lang,
    tenant: &Tenant,
    csrf: &str,
    email: &str,
    problem: Option<Problem>,
) -> Html {
    let here = format!("/connect/{}", tenant.code);
    let frame = Frame {
        lang,
        here: &here,
        step: Some(2),
        heading: web::heading(lang, "login.heading", &[("tenant", &tenant.name)]),
        problem: problem.map(|p| (p, Vec::new())),
        refresh: None,
    };
    let content = web::login_form(lang, tenant.code.as_str(), &tenant.name, csrf, email);
    Html::new(
        problem.map_or(StatusCode::OK, status_of),
        web::page(frame, &content),
    )
}

/// Step 2 at `/connect/{tenantCode}`: the login (or, when signed in, on to step 3).
#[utoipa::path(
    get,
    path = "/connect/{tenantCode}",
    tag = "pages",
    summary = "The tenant's login page.",
    params(super::openapi::TenantPath),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Signed in already: on to the store choice."),
        super::openapi::PageErrors,
    )
)]
pub async fn tenant(
    State(svc): AppState,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let lang = i18n::current();
    let tenant = match resolve(&svc, &code).await {
        Ok(t) => t,
        Err(p) => return Ok(tenant_page(lang, &code, Some(p)).into_response()),
    };
    if session_of(&svc, &headers, &tenant.code).await.is_some() {
        return Ok(see_other(
            &format!("/connect/{}/store", tenant.code),
            Vec::new(),
        ));
    }
    let base = public_base(&svc, &headers)?;
    let (csrf, cookie) = csrf_token(&headers, &base);
    Ok(login_page(lang, &tenant, &csrf, "", None)
        .cookie(cookie)
        .into_response())
}

/// The login form's POST.
#[utoipa::path(
    post,
    path = "/connect/{tenantCode}/login",
    tag = "pages",
    summary = "Sign in (a form with email, password, csrf).",
    params(super::openapi::TenantPath),
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The page again, with what was wrong.", content_type = "text/html", body = String),
        (status = 303, description = "Signed in: on to the store choice."),
        super::openapi::PageErrors,
    )
)]
pub async fn login(
    State(svc): AppState,
    Path(code): Path<String>,
    SourceIp(source): SourceIp,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response> {
    let lang = i18n::current();
    let tenant = match resolve(&svc, &code).await {
        Ok(t) => t,
        Err(p) => return Ok(tenant_page(lang, &code, Some(p)).into_response()),
    };
    let base = public_base(&svc, &headers)?;
    let form = fields(&body);
    let email_raw = form.get("email").map(|e| e.trim()).unwrap_or_default();
    if !same_site_form(&headers, &form, &base) {
        let (csrf, cookie) = csrf_token(&headers, &base);
        return Ok(
            login_page(lang, &tenant, &csrf, email_raw, Some(Problem::FormExpired))
                .cookie(cookie)
                .into_response(),
        );
    }
    let attempt = async {
        let email = Email::parse(email_raw)
            .map_err(|_| Error::new(ErrorKind::InvalidCredentials, "email or password is wrong"))?;
        let password = Password::parse(form.get("password").map_or("", String::as_str))
            .map_err(|_| Error::new(ErrorKind::InvalidCredentials, "email or password is wrong"))?;
        // The browser's own site identity for this session; the link itself uses the shop's.
        let device = DeviceId::parse(&random_hex(32))?;
        auth::login(
            &svc.logins(),
            source,
            &tenant.code,
            &email,
            password,
            &device,
        )
        .await
    };
    match attempt.await {
        Ok(issued) => {
            let max_age = (issued.expires_at - chrono::Utc::now())
                .num_seconds()
                .max(1) as u64;
            let cookie = set_cookie(
                SESSION_COOKIE,
                issued.token.expose(),
                max_age,
                secure(&base),
            );
            Ok(see_other(
                &format!("/connect/{}/store", tenant.code),
                vec![cookie],
            ))
        }
        Err(e) => {
            let (csrf, cookie) = csrf_token(&headers, &base);
            Ok(
                login_page(lang, &tenant, &csrf, email_raw, Some(Problem::of_error(&e)))
                    .cookie(cookie)
                    .into_response(),
            )
        }
    }
}

struct StoreStep<'a> {
    tenant: &'a Tenant,
    session: &'a Session,
    csrf: &'a str,
    chosen: Option<&'a str>,
    url: &'a str,
    problem: Option<Problem>,
    /// The address the merchant typed, when `url` is one the shop redirected to.
    suggested_from: Option<&'a str>,
}

async fn store_page(svc: &Services, lang: Lang, s: StoreStep<'_>) -> Result<Html> {
    let choices = connect::list_stores(&svc.linking(), s.session).await?;
    let options: Vec<StoreOption> = choices
        .iter()
        .map(|c| StoreOption {
            id: c.store.id.to_string(),
            name: c.store.name.clone(),
            connected: c.linked,
        })
        .collect();
    let here = format!("/connect/{}/store", s.tenant.code);
    let frame = Frame {
        lang,
        here: &here,
        step: Some(3),
        heading: web::heading(lang, "store.heading", &[]),
        problem: s.problem.map(|p| {
            (
                p,
                vec![
                    ("url", s.suggested_from.unwrap_or(s.url).to_owned()),
                    ("to", s.url.to_owned()),
                    ("tenant", s.tenant.name.clone()),
                ],
            )
        }),
        refresh: None,
    };
    let content = web::store_form(
        lang,
        s.tenant.code.as_str(),
        &s.tenant.name,
        s.csrf,
        &options,
        s.chosen,
        s.url,
    );
    Ok(Html::new(
        s.problem.map_or(StatusCode::OK, status_of),
        web::page(frame, &content),
    ))
}

/// What a page behind the login needs: the tenant and the signed-in session, or the page
/// to show instead.
async fn signed_in(
    svc: &Services,
    code: &str,
    headers: &HeaderMap,
    base: &str,
) -> std::result::Result<(Tenant, Session), Response> {
    let lang = i18n::current();
    let tenant = resolve(svc, code)
        .await
        .map_err(|p| tenant_page(lang, code, Some(p)).into_response())?;
    match session_of(svc, headers, &tenant.code).await {
        Some(s) => Ok((tenant, s)),
        None => {
            let (csrf, cookie) = csrf_token(headers, base);
            Err(login_page(lang, &tenant, &csrf, "", Some(Problem::Session))
                .cookie(cookie)
                .into_response())
        }
    }
}

/// Step 3 at `/connect/{tenantCode}/store`.
#[utoipa::path(
    get,
    path = "/connect/{tenantCode}/store",
    tag = "pages",
    summary = "Pick the store and its address.",
    params(super::openapi::TenantPath),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: back to the login."),
        super::openapi::PageErrors,
    )
)]
pub async fn stores(
    State(svc): AppState,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let base = public_base(&svc, &headers)?;
    let (tenant, session) = match signed_in(&svc, &code, &headers, &base).await {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let (csrf, cookie) = csrf_token(&headers, &base);
    let step = StoreStep {
        tenant: &tenant,
        session: &session,
        csrf: &csrf,
        chosen: None,
        url: "",
        problem: None,
        suggested_from: None,
    };
    Ok(store_page(&svc, i18n::current(), step)
        .await?
        .cookie(cookie)
        .into_response())
}

/// The store form's POST: checks the store and the shop, then step 4, the way to the shop.
#[utoipa::path(
    post,
    path = "/connect/{tenantCode}/authorize",
    tag = "pages",
    summary = "Send the merchant to the shop's consent screen (a form with store, url, csrf).",
    params(super::openapi::TenantPath),
    request_body(content = AuthorizeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The page again, with what was wrong.", content_type = "text/html", body = String),
        (status = 303, description = "On to WooCommerce's consent screen."),
        super::openapi::PageErrors,
    )
)]
pub async fn authorize(
    State(svc): AppState,
    Path(code): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response> {
    let lang = i18n::current();
    let base = public_base(&svc, &headers)?;
    let (tenant, session) = match signed_in(&svc, &code, &headers, &base).await {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let form = fields(&body);
    let chosen = form.get("store").map(|s| s.trim()).unwrap_or_default();
    let url = form.get("url").map(|s| s.trim()).unwrap_or_default();
    let (csrf, cookie) = csrf_token(&headers, &base);
    let again = |problem| StoreStep {
        tenant: &tenant,
        session: &session,
        csrf: &csrf,
        chosen: Some(chosen),
        url,
        problem: Some(problem),
        suggested_from: None,
    };
    if !same_site_form(&headers, &form, &base) {
        let page = store_page(&svc, lang, again(Problem::FormExpired)).await?;
        return Ok(page.cookie(cookie).into_response());
    }
    let Ok(store_id) = StoreId::parse(chosen) else {
        let page = store_page(&svc, lang, again(Problem::PickStore)).await?;
        return Ok(page.cookie(cookie).into_response());
    };
    let endpoints = endpoints(&svc, &base, &tenant.code, lang)?;
    match consent::prepare(&svc.consenting(), &tenant, &store_id, url, &endpoints).await {
        Ok(prepared) => {
            let frame = Frame {
                lang,
                here: &format!("/connect/{}/store", tenant.code),
                step: Some(4),
                heading: web::heading(lang, "ready.heading", &[]),
                problem: None,
                refresh: None,
            };
            let content = web::ready(
                lang,
                tenant.code.as_str(),
                &tenant.name,
                &consent::app_name(&tenant),
                prepared.site.as_str(),
                prepared.authorize.as_str(),
            );
            Ok(Html::new(StatusCode::OK, web::page(frame, &content))
                .cookie(cookie)
                .into_response())
        }
        Err(refusal) => {
            // A shop that redirects: its address is offered in the field, to continue with.
            let suggested_url = refusal.suggestion.clone().unwrap_or_default();
            let mut step = again(refusal.problem);
            if refusal.suggestion.is_some() {
                step.url = &suggested_url;
                step.suggested_from = Some(url);
            }
            let page = store_page(&svc, lang, step).await?;
            Ok(page.cookie(cookie).into_response())
        }
    }
}

/// Where WooCommerce posts the keys (https) and sends the browser back.
fn endpoints(svc: &Services, base: &str, tenant: &TenantCode, lang: Lang) -> Result<Endpoints> {
    let callback_base = svc
        .callback_url
        .as_ref()
        .map_or(base, |u| u.as_str())
        .trim_end_matches('/');
    let parse = |s: String| Url::parse(&s).map_err(|e| Error::internal(e.to_string()));
    Ok(Endpoints {
        callback: parse(format!("{callback_base}{CALLBACK_PATH}"))?,
        return_to: parse(format!(
            "{base}{}",
            href(&format!("/connect/{tenant}/done"), lang)
        ))?,
        public_base: base.to_owned(),
    })
}

/// The return page at `/connect/{tenantCode}/done?success=0|1&user_id=…`. It never
/// redirects: no parameter can send the browser anywhere.
#[utoipa::path(
    get,
    path = "/connect/{tenantCode}/done",
    tag = "pages",
    summary = "Where WooCommerce sends the merchant back: connected, still working, or why not.",
    params(super::openapi::TenantPath, ("user_id" = Option<String>, Query, description = "The attempt woolink gave WooCommerce."), ("success" = Option<String>, Query, description = "WooCommerce's 1 or 0.")),
    responses(
        (status = 200, description = "Connected, or why not.", content_type = "text/html", body = String),
        (status = 202, description = "Still working: the page reloads itself.", content_type = "text/html", body = String),
        super::openapi::PageErrors,
    )
)]
pub async fn done(
    State(svc): AppState,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let lang = i18n::current();
    let tenant = match resolve(&svc, &code).await {
        Ok(t) => t,
        Err(p) => return tenant_page(lang, &code, Some(p)).into_response(),
    };
    let q = fields(raw.as_deref().unwrap_or_default().as_bytes());
    let token = q.get("user_id").map(String::as_str).unwrap_or_default();
    let here = format!(
        "/connect/{}/done?success={}&user_id={}",
        tenant.code,
        if q.get("success").map(String::as_str) == Some("1") {
            "1"
        } else {
            "0"
        },
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    let frame = |heading: String, problem: Option<Problem>, refresh| Frame {
        lang,
        here: "/connect",
        step: None,
        heading,
        problem: problem.map(|p| (p, vec![("tenant", tenant.name.clone())])),
        refresh,
    };
    let start_again = |key: Option<&str>| web::start_again(lang, Some(tenant.code.as_str()), key);
    let failed = |problem: Problem, key_left: bool| {
        let heading = web::heading(lang, "done.failed.heading", &[]);
        let body = start_again(key_left.then_some("done.leftover"));
        Html::new(
            status_of(problem),
            web::page(frame(heading, Some(problem), None), &body),
        )
    };
    if q.get("success").map(String::as_str) != Some("1") {
        // Denied at the shop (`success=0`): nothing was made. A token that is not woolink's
        // is still only an unknown attempt.
        if consent::ConnectState::open(token, &svc.secrets).is_none_or(|s| s.tenant != tenant.code)
        {
            return failed(Problem::UnknownAttempt, false).into_response();
        }
        let heading = web::heading(lang, "done.denied.heading", &[]);
        let body = start_again(Some("done.denied.body"));
        return Html::new(StatusCode::OK, web::page(frame(heading, None, None), &body))
            .into_response();
    }
    match consent::outcome(&svc.consenting(), &tenant.code, token).await {
        Ok(Seen::Connected { store, link }) => {
            let statuses: Vec<&str> = link.trigger_statuses.iter().map(|s| s.as_str()).collect();
            let since = link.linked_at.format("%Y-%m-%d %H:%M UTC").to_string();
            let content = web::connected(
                lang,
                &web::Connected {
                    tenant_name: &tenant.name,
                    shop: link.store_url.as_str(),
                    statuses: &statuses.join(", "),
                    webhooks: link.webhook_ids.len(),
                    since: &since,
                },
            );
            let heading = web::heading(lang, "done.connected.heading", &[("store", &store.name)]);
            Html::new(
                StatusCode::OK,
                web::page(frame(heading, None, None), &content),
            )
            .into_response()
        }
        Ok(Seen::Pending) => {
            let heading = web::heading(lang, "done.pending.heading", &[]);
            let content = web::pending(lang, &href(&here, lang));
            Html::new(
                StatusCode::ACCEPTED,
                web::page(frame(heading, None, Some(3)), &content),
            )
            .into_response()
        }
        Ok(Seen::Failed { problem, key_left }) => failed(problem, key_left).into_response(),
        Err(problem) => failed(problem, false).into_response(),
    }
}

/// The sign-in form (`POST /connect/{tenantCode}/login`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LoginForm {
    email: String,
    password: String,
    /// The form's anti-forgery token (its cookie's twin).
    csrf: String,
}

/// The store form (`POST /connect/{tenantCode}/authorize`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuthorizeForm {
    /// The chosen store's id.
    store: String,
    /// The shop's address.
    url: String,
    csrf: String,
}

/// What the callback did with the keys: `connected`, `pending`, or `failed` and why.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CallbackAnswer {
    #[schema(schema_with = callback_outcomes)]
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'static str>,
}

fn callback_outcomes() -> utoipa::openapi::schema::ObjectBuilder {
    super::openapi::words("The outcome.", &["connected", "pending", "failed"])
}

/// WooCommerce's server-to-server POST of the new keys.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CallbackBody {
    #[serde(default)]
    key_id: Option<u64>,
    /// The attempt's token woolink gave WooCommerce as `user_id`.
    #[schema(value_type = String)]
    user_id: serde_json::Value,
    consumer_key: String,
    consumer_secret: String,
    #[serde(default)]
    key_permissions: String,
}

/// `POST /v1/connect/wc-auth/callback`: 200 with the outcome once the attempt is recorded
/// (WooCommerce then sends the browser to the return page, which explains it); 401 for a
/// state woolink did not issue or that expired, 409 for one used already (WooCommerce then
/// deletes the keys it made).
#[utoipa::path(
    post,
    path = "/v1/connect/wc-auth/callback",
    tag = "pages",
    summary = "WooCommerce's server-to-server POST of the keys the merchant approved.",
    request_body = CallbackBody,
    responses(
        (status = 200, body = CallbackAnswer),
        super::openapi::CallbackErrors,
    )
)]
pub async fn callback(
    State(svc): AppState,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CallbackBody>,
) -> Result<Response> {
    let base = delivery_base(&svc, &headers)?;
    let user_id = match body.user_id {
        serde_json::Value::String(s) => s,
        _ => return Err(Error::invalid_request("user_id must be a string")),
    };
    let outcome = consent::complete(
        &svc.consenting(),
        Callback {
            key_id: body.key_id,
            user_id,
            consumer_key: SecretString::new(body.consumer_key),
            consumer_secret: SecretString::new(body.consumer_secret),
            key_permissions: body.key_permissions,
        },
        &base,
    )
    .await?;
    let answer = match outcome {
        Outcome::Connected => CallbackAnswer {
            outcome: "connected",
            problem: None,
        },
        Outcome::Failed(p) => CallbackAnswer {
            outcome: "failed",
            problem: Some(p.as_str()),
        },
        Outcome::Pending => CallbackAnswer {
            outcome: "pending",
            problem: None,
        },
    };
    Ok((StatusCode::OK, Json(answer)).into_response())
}
