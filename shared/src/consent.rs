//! One-click connect through WooCommerce's own consent screen (`wc-auth`).
//!
//! 1. [`prepare`]: a signed-in tenant user picked a store and typed its shop's address. The
//!    shop is probed (reachable, WooCommerce, pretty permalinks, https) and a connect state
//!    is sealed: tenant, store, shop, a nonce and an expiry, encrypted and authenticated with
//!    the application key, so it is opaque, unforgeable and carries no secret in clear. It
//!    travels as WooCommerce's `user_id` in the approval URL.
//! 2. The merchant approves in their shop; WooCommerce POSTs fresh keys with the `user_id` to
//!    the callback, [`complete`]: the state is opened, its nonce claimed once (a replay finds
//!    it taken), the keys' permissions checked, and the store linked exactly as the API
//!    wizard links it (keys proved by registering the webhooks, then sealed). The outcome is
//!    recorded under the nonce.
//! 3. WooCommerce sends the browser back with the `user_id`; [`outcome`] reads what happened.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::connect::{self, LinkRequest, Linking};
use crate::crypto::{sha256_hex, Sealed, SecretBox, SecretString};
use crate::domain::{DeviceId, StoreId, StoreUrl, TenantCode, TriggerStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, Store, Tenant};
use crate::ports::{Consents, Tenants};
use crate::woocommerce::{Probe, WooCredentials};

/// The default time a merchant has between leaving the connect page and WooCommerce's
/// callback (signing in to the shop, maybe resetting a password); `WOOLINK_CONSENT_TTL_SECS`.
pub const STATE_TTL: chrono::Duration = chrono::Duration::minutes(30);

/// How long the outcome of an attempt stays readable (and its nonce stays taken, so a
/// replay is refused while the state could still be accepted).
pub const RECORD_TTL: chrono::Duration = chrono::Duration::days(1);

/// WooCommerce gives the callback 60 s; API Gateway gives an integration 30 s. The link
/// (webhook registration on the shop) must end before either.
pub const LINK_DEADLINE: Duration = Duration::from_secs(25);

/// The permission `wc-auth` grants with `scope=read_write`.
pub const READ_WRITE: &str = "read_write";

const STATE_CONTEXT: &str = "consent/state";

/// Why an attempt did not connect, each with its own explanation and fix on the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    TenantUnknown,
    TenantInactive,
    LoginFailed,
    TooMany,
    Session,
    FormExpired,
    PickStore,
    InvalidUrl,
    Https,
    Unreachable,
    NotWooCommerce,
    Permalinks,
    AlreadyLinked,
    StoreUnknown,
    KeysRefused,
    ReadOnly,
    Expired,
    UnknownAttempt,
    Failed,
    Moved,
}

impl Problem {
    pub const ALL: [Problem; 20] = [
        Problem::TenantUnknown,
        Problem::TenantInactive,
        Problem::LoginFailed,
        Problem::TooMany,
        Problem::Session,
        Problem::FormExpired,
        Problem::PickStore,
        Problem::InvalidUrl,
        Problem::Https,
        Problem::Unreachable,
        Problem::NotWooCommerce,
        Problem::Permalinks,
        Problem::AlreadyLinked,
        Problem::StoreUnknown,
        Problem::KeysRefused,
        Problem::ReadOnly,
        Problem::Expired,
        Problem::UnknownAttempt,
        Problem::Failed,
        Problem::Moved,
    ];

    /// Its stable name (stored, and the catalogue key `problem.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::TenantUnknown => "tenant_unknown",
            Problem::TenantInactive => "tenant_inactive",
            Problem::LoginFailed => "login_failed",
            Problem::TooMany => "too_many",
            Problem::Session => "session",
            Problem::FormExpired => "form_expired",
            Problem::PickStore => "pick_store",
            Problem::InvalidUrl => "invalid_url",
            Problem::Https => "https",
            Problem::Unreachable => "unreachable",
            Problem::NotWooCommerce => "not_woocommerce",
            Problem::Permalinks => "permalinks",
            Problem::AlreadyLinked => "already_linked",
            Problem::StoreUnknown => "store_unknown",
            Problem::KeysRefused => "keys_refused",
            Problem::ReadOnly => "read_only",
            Problem::Expired => "expired",
            Problem::UnknownAttempt => "unknown_attempt",
            Problem::Failed => "failed",
            Problem::Moved => "moved",
        }
    }

    pub fn parse(raw: &str) -> Option<Problem> {
        Problem::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// What a failed link (or a refused request on the way) means for the merchant.
    pub fn of_error(e: &Error) -> Problem {
        match e.kind() {
            ErrorKind::TenantNotFound => Problem::TenantUnknown,
            ErrorKind::TenantInactive => Problem::TenantInactive,
            ErrorKind::InvalidCredentials => Problem::LoginFailed,
            ErrorKind::TooManyAttempts { .. } => Problem::TooMany,
            ErrorKind::InvalidToken => Problem::Session,
            ErrorKind::InvalidStoreUrl => Problem::InvalidUrl,
            ErrorKind::StoreAlreadyLinked => Problem::AlreadyLinked,
            ErrorKind::StoreNotFound => Problem::StoreUnknown,
            ErrorKind::WooCommerceAuthFailed => Problem::KeysRefused,
            ErrorKind::WooCommerceUnreachable => Problem::Unreachable,
            _ => Problem::Failed,
        }
    }
}

/// What woolink signs into WooCommerce's `user_id`: whose attempt it is and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectState {
    #[serde(rename = "t")]
    pub tenant: TenantCode,
    #[serde(rename = "s")]
    pub store: StoreId,
    #[serde(rename = "u")]
    pub site: StoreUrl,
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "e", with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

impl ConnectState {
    pub fn new(tenant: TenantCode, store: StoreId, site: StoreUrl, now: DateTime<Utc>) -> Self {
        Self::with_ttl(tenant, store, site, now, STATE_TTL)
    }

    pub fn with_ttl(
        tenant: TenantCode,
        store: StoreId,
        site: StoreUrl,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Self {
        let mut nonce = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        Self {
            tenant,
            store,
            site,
            nonce: hex::encode(nonce),
            // Whole seconds: what the sealed form keeps.
            expires_at: DateTime::from_timestamp((now + ttl).timestamp(), 0).unwrap_or(now + ttl),
        }
    }

    /// The opaque token: the sealed state, in URL-safe characters only (WooCommerce passes
    /// `user_id` through `sanitize_text_field` and back in a query string).
    pub fn seal(&self, secrets: &SecretBox) -> Result<String> {
        let json = serde_json::to_string(self).map_err(|e| Error::internal(e.to_string()))?;
        let sealed = secrets.seal(&json, STATE_CONTEXT)?;
        Ok(URL_SAFE_NO_PAD.encode(sealed.as_str()))
    }

    /// The state in `token`, if woolink sealed it (with the current or a previous key);
    /// `None` for anything forged, cut or altered. The expiry is the caller's to judge.
    pub fn open(token: &str, secrets: &SecretBox) -> Option<Self> {
        if token.is_empty() || token.len() > 2048 {
            return None;
        }
        let sealed = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        let sealed = Sealed::from_stored(String::from_utf8(sealed).ok()?);
        let json = secrets.open(&sealed, STATE_CONTEXT).ok()?;
        serde_json::from_str(json.expose()).ok()
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// The site identity of a shop linked through its consent screen (the plugin computes its own
/// from its salt; this one is woolink's: re-connecting the same shop this way rotates its
/// link instead of being refused as "another site").
pub fn consent_device(site: &StoreUrl) -> DeviceId {
    DeviceId::parse(&sha256_hex(format!("woolink wc-auth\0{site}").as_bytes()))
        .expect("a SHA-256 hex digest is 64 hexadecimal characters")
}

/// Where an attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The callback is being handled.
    Pending,
    Connected,
    Failed(Problem),
}

/// One attempt's record, under its nonce (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    pub nonce: String,
    pub tenant: TenantCode,
    pub store_id: StoreId,
    pub outcome: Outcome,
    /// WooCommerce's id of the key it made (to name it when it is left unused).
    pub key_id: Option<u64>,
    pub at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revision: u64,
}

/// The ports the consent flow uses.
pub struct Consenting<'a> {
    pub linking: Linking<'a>,
    pub tenants: &'a dyn Tenants,
    pub consents: &'a dyn Consents,
    pub secrets: &'a SecretBox,
    /// How long a state is accepted.
    pub state_ttl: chrono::Duration,
}

/// Where WooCommerce sends the keys and the browser.
pub struct Endpoints {
    /// `https://…/v1/connect/wc-auth/callback`
    pub callback: Url,
    /// `…/connect/{tenant}/done` (with the page's language).
    pub return_to: Url,
    /// The API's base, for the store's webhook delivery URL.
    pub public_base: String,
}

/// Why the page cannot send the merchant to the shop, and the address to use instead when
/// the shop named one (a redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub problem: Problem,
    pub suggestion: Option<String>,
}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Self {
        Self {
            problem,
            suggestion: None,
        }
    }
}

/// The page's next step: the approval URL on the shop.
#[derive(Debug)]
pub struct Prepared {
    pub store: Store,
    pub site: StoreUrl,
    pub authorize: Url,
}

/// The application name the shop shows on its consent screen.
pub fn app_name(tenant: &Tenant) -> String {
    let name: String = tenant.name.chars().take(80).collect();
    format!("woolink ({name})")
}

/// Checks the chosen store and the shop, and seals a state for the approval URL.
pub async fn prepare(
    ports: &Consenting<'_>,
    tenant: &Tenant,
    store_id: &StoreId,
    site_raw: &str,
    endpoints: &Endpoints,
) -> std::result::Result<Prepared, Refusal> {
    let site = StoreUrl::parse(site_raw).map_err(|_| Problem::InvalidUrl)?;
    let url = site.url();
    if let Err(e) = ports.linking.outbound.check_url(&url) {
        return Err(Refusal::from(
            if url.scheme() == "http" && e.kind() == ErrorKind::InvalidStoreUrl {
                // Everything else about the address was fine: only the scheme is refused.
                let https = url.as_str().replacen("http://", "https://", 1);
                match Url::parse(&https).map(|u| ports.linking.outbound.check_url(&u)) {
                    Ok(Ok(())) => Problem::Https,
                    _ => Problem::InvalidUrl,
                }
            } else {
                Problem::InvalidUrl
            },
        ));
    }
    if let Err(e) = ports.linking.outbound.vet(&url).await {
        tracing::info!(error = %e.message(), "a shop address was refused");
        return Err(Refusal::from(
            if e.message().contains("could not be resolved") {
                Problem::Unreachable
            } else {
                Problem::InvalidUrl
            },
        ));
    }
    let (store, link) = connect::tenant_store(&ports.linking, &tenant.code, store_id)
        .await
        .map_err(|e| Problem::of_error(&e))?;
    connect::check_same_site(link.as_ref(), &consent_device(&site), &site)
        .map_err(|e| Problem::of_error(&e))?;
    match ports.linking.woo.probe(&site).await {
        Probe::WooCommerce => {}
        Probe::PlainPermalinks => return Err(Problem::Permalinks.into()),
        Probe::NotWooCommerce => return Err(Problem::NotWooCommerce.into()),
        Probe::Unreachable => return Err(Problem::Unreachable.into()),
        Probe::Moved(to) => {
            return Err(Refusal {
                problem: Problem::Moved,
                suggestion: Some(to),
            })
        }
    }
    let state = ConnectState::with_ttl(
        tenant.code.clone(),
        store.id.clone(),
        site.clone(),
        Utc::now(),
        ports.state_ttl,
    );
    let token = state.seal(ports.secrets).map_err(|e| {
        tracing::error!(error = %e, "a connect state could not be sealed");
        Problem::Failed
    })?;
    let mut authorize =
        Url::parse(&format!("{site}/wc-auth/v1/authorize")).map_err(|_| Problem::InvalidUrl)?;
    authorize
        .query_pairs_mut()
        .append_pair("app_name", &app_name(tenant))
        .append_pair("scope", "read_write")
        .append_pair("user_id", &token)
        .append_pair("return_url", endpoints.return_to.as_str())
        .append_pair("callback_url", endpoints.callback.as_str());
    tracing::info!(tenant = %tenant.code, store = %store.id, "a merchant was sent to approve woolink");
    Ok(Prepared {
        store,
        site,
        authorize,
    })
}

/// WooCommerce's server-to-server POST.
#[derive(Debug)]
pub struct Callback {
    pub key_id: Option<u64>,
    pub user_id: String,
    pub consumer_key: SecretString,
    pub consumer_secret: SecretString,
    pub key_permissions: String,
}

/// Handles the callback. `Err` (nothing changed) for a state woolink did not seal, one that
/// expired, or one used already; `Ok` with the recorded outcome otherwise, so that WooCommerce
/// sends the browser back to the page that explains it.
pub async fn complete(
    ports: &Consenting<'_>,
    callback: Callback,
    public_base: &str,
) -> Result<Outcome> {
    let refused = |why: &str| Error::new(ErrorKind::InvalidToken, why.to_owned());
    let state = ConnectState::open(&callback.user_id, ports.secrets)
        .ok_or_else(|| refused("the connect state is not one woolink issued"))?;
    let now = Utc::now();
    if state.expired(now) {
        return Err(refused("the connect state has expired; start again"));
    }
    let mut record = ConsentRecord {
        nonce: state.nonce.clone(),
        tenant: state.tenant.clone(),
        store_id: state.store.clone(),
        outcome: Outcome::Pending,
        key_id: callback.key_id,
        at: now,
        // Kept past the state's own expiry, so a replay is refused for as long as the state
        // would be accepted.
        expires_at: state.expires_at.max(now) + RECORD_TTL,
        revision: 1,
    };
    if !ports.consents.claim_consent(&record).await? {
        tracing::warn!(tenant = %state.tenant, store = %state.store, "a connect state was presented again");
        return Err(Error::new(
            ErrorKind::Conflict,
            "this connect state was used already",
        ));
    }
    let outcome = match link(ports, &state, &callback, public_base).await {
        Ok(link) => {
            tracing::info!(tenant = %link.tenant, store = %link.store_id, "a store was connected through its consent screen");
            Outcome::Connected
        }
        Err(problem) => {
            tracing::warn!(tenant = %state.tenant, store = %state.store, problem = problem.as_str(), "a consent callback did not connect the store");
            Outcome::Failed(problem)
        }
    };
    record.outcome = outcome;
    record.at = Utc::now();
    record.revision = 2;
    ports.consents.finish_consent(&record).await?;
    Ok(outcome)
}

async fn link(
    ports: &Consenting<'_>,
    state: &ConnectState,
    callback: &Callback,
    public_base: &str,
) -> std::result::Result<Link, Problem> {
    if callback.key_permissions.trim() != READ_WRITE {
        return Err(Problem::ReadOnly);
    }
    let valid = |s: &str| !s.trim().is_empty() && s.len() <= 256 && s.is_ascii();
    if !valid(callback.consumer_key.expose()) || !valid(callback.consumer_secret.expose()) {
        return Err(Problem::KeysRefused);
    }
    match ports.tenants.get_tenant(&state.tenant).await {
        Ok(Some(t)) if t.active => {}
        Ok(Some(_)) => return Err(Problem::TenantInactive),
        Ok(None) => return Err(Problem::TenantUnknown),
        Err(_) => return Err(Problem::Failed),
    }
    let request = LinkRequest {
        store_id: state.store.clone(),
        store_url: state.site.clone(),
        device_id: consent_device(&state.site),
        trigger_statuses: TriggerStatus::defaults(),
        woo: Some(WooCredentials {
            consumer_key: SecretString::new(callback.consumer_key.expose().trim().to_owned()),
            consumer_secret: SecretString::new(callback.consumer_secret.expose().trim().to_owned()),
        }),
    };
    let linked = tokio::time::timeout(
        LINK_DEADLINE,
        connect::link_for_tenant(&ports.linking, &state.tenant, request, public_base),
    )
    .await
    .map_err(|_| Problem::Unreachable)?;
    linked
        .map(|out| out.link)
        .map_err(|e| Problem::of_error(&e))
}

/// What the return page shows.
#[derive(Debug)]
pub enum Seen {
    /// Connected: the store and its link as they are now.
    Connected { store: Store, link: Box<Link> },
    Failed {
        problem: Problem,
        /// The shop made a key woolink does not use (the callback was answered 200).
        key_left: bool,
    },
    /// WooCommerce has not called back yet (or the callback is being handled).
    Pending,
}

/// The outcome of the attempt in `token`, for a page of `tenant`. A token that is not
/// woolink's, or is another tenant's, is `UnknownAttempt`.
pub async fn outcome(
    ports: &Consenting<'_>,
    tenant: &TenantCode,
    token: &str,
) -> std::result::Result<Seen, Problem> {
    let state = ConnectState::open(token, ports.secrets)
        .filter(|s| &s.tenant == tenant)
        .ok_or(Problem::UnknownAttempt)?;
    let record = ports
        .consents
        .get_consent(&state.nonce)
        .await
        .map_err(|_| Problem::Failed)?;
    match record.map(|r| r.outcome) {
        None if state.expired(Utc::now()) => Err(Problem::Expired),
        None | Some(Outcome::Pending) => Ok(Seen::Pending),
        Some(Outcome::Failed(problem)) => Ok(Seen::Failed {
            problem,
            key_left: true,
        }),
        Some(Outcome::Connected) => {
            let (store, link) = connect::tenant_store(&ports.linking, &state.tenant, &state.store)
                .await
                .map_err(|e| Problem::of_error(&e))?;
            match link.filter(|l| l.is_connected()) {
                Some(link) => Ok(Seen::Connected {
                    store,
                    link: Box::new(link),
                }),
                // Disconnected since: say so rather than show a stale success.
                None => Err(Problem::Failed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> SecretBox {
        SecretBox::from_base64(&SecretBox::generate_key_base64()).unwrap()
    }

    fn state() -> ConnectState {
        ConnectState::new(
            TenantCode::parse("ACME").unwrap(),
            StoreId::parse("st_1").unwrap(),
            StoreUrl::parse("https://shop.example.com").unwrap(),
            Utc::now(),
        )
    }

    #[test]
    fn a_sealed_state_opens_only_with_the_key_and_intact() {
        let (key, other) = (secrets(), secrets());
        let s = state();
        let token = s.seal(&key).unwrap();
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(!token.contains("shop.example.com") && !token.contains(&s.nonce));
        assert_eq!(ConnectState::open(&token, &key), Some(s));
        assert_eq!(ConnectState::open(&token, &other), None);
        let mut bytes = token.clone().into_bytes();
        let mid = bytes.len() / 2;
        bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            ConnectState::open(&String::from_utf8(bytes).unwrap(), &key),
            None
        );
        assert_eq!(ConnectState::open(&token[..token.len() - 4], &key), None);
        assert_eq!(ConnectState::open("", &key), None);
        assert_eq!(ConnectState::open("%%%", &key), None);
    }

    #[test]
    fn a_state_sealed_with_a_previous_key_still_opens() {
        let old = SecretBox::generate_key_base64();
        let token = state()
            .seal(&SecretBox::from_base64(&old).unwrap())
            .unwrap();
        let rotated =
            SecretBox::with_previous(&SecretBox::generate_key_base64(), &[SecretString::new(old)])
                .unwrap();
        assert!(ConnectState::open(&token, &rotated).is_some());
    }

    #[test]
    fn states_expire_and_nonces_differ() {
        let s = state();
        assert!(!s.expired(Utc::now()));
        assert!(s.expired(Utc::now() + STATE_TTL + chrono::Duration::seconds(1)));
        assert_ne!(s.nonce, state().nonce);
    }

    #[test]
    fn the_same_shop_has_one_consent_device() {
        let a = StoreUrl::parse("https://shop.example.com/").unwrap();
        let b = StoreUrl::parse("https://SHOP.example.com").unwrap();
        let c = StoreUrl::parse("https://other.example.com").unwrap();
        assert_eq!(consent_device(&a), consent_device(&b));
        assert_ne!(consent_device(&a), consent_device(&c));
    }

    #[test]
    fn problems_round_trip() {
        for p in Problem::ALL {
            assert_eq!(Problem::parse(p.as_str()), Some(p));
        }
        assert_eq!(Problem::parse("nope"), None);
    }
}
