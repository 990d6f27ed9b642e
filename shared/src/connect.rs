//! Onboarding use cases: resolve a tenant code, log in, list stores, link a store, and read a
//! store's status. They see only ports and domain types, never HTTP or SDK types.

use chrono::{DateTime, Duration, Utc};

use crate::crypto::{
    hash_password, issue_credential, new_webhook_secret, verify_password, CredentialHash,
    SecretString,
};
use crate::domain::{
    DeviceId, Email, OrderId, Password, StoreId, StoreUrl, TenantCode, TriggerStatus, WooTopic,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, LinkStatus, OrderSync, Session, Store, SyncState, Tenant, User, WooKeys};
use crate::secrets::{self, open_woo_keys, Sealing};
use crate::services::Services;
use crate::woocommerce::{WooCredentials, WooError};

/// Prefix of login tokens.
pub const TOKEN_PREFIX: &str = "wlt_";
/// Prefix of per-link API keys.
pub const API_KEY_PREFIX: &str = "wlk_";

/// Consecutive failures before an account is locked.
pub const LOCKOUT_THRESHOLD: u32 = 5;
const LOCKOUT_BASE_SECS: i64 = 30;
const LOCKOUT_MAX_SECS: i64 = 3600;
/// How long the secret before a rotation keeps verifying deliveries already on their way.
const PREVIOUS_SECRET_GRACE: Duration = Duration::hours(24);

/// Lock length after `failures` consecutive failures: 30 s, 60 s, 120 s… capped at an hour.
pub fn lockout_duration(failures: u32) -> Duration {
    let exp = failures.saturating_sub(LOCKOUT_THRESHOLD).min(20);
    Duration::seconds((LOCKOUT_BASE_SECS << exp).min(LOCKOUT_MAX_SECS))
}

fn tenant_inactive() -> Error {
    Error::new(ErrorKind::TenantInactive, "this tenant is not active")
}

async fn active_tenant(svc: &Services, code: &TenantCode) -> Result<Tenant> {
    let tenant = svc
        .repos
        .tenants
        .get_tenant(code)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::TenantNotFound, "no tenant has this code"))?;
    if !tenant.active {
        return Err(tenant_inactive());
    }
    Ok(tenant)
}

/// Step 1: which tenant does this code name?
pub async fn resolve(svc: &Services, code: &TenantCode) -> Result<Tenant> {
    active_tenant(svc, code).await
}

/// A login token as handed to the client, once.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

fn too_many_attempts(until: DateTime<Utc>, now: DateTime<Utc>) -> Error {
    let secs = (until - now).num_milliseconds().max(0).div_euclid(1000) + 1;
    Error::new(
        ErrorKind::TooManyAttempts {
            retry_after_secs: secs as u64,
        },
        "too many failed logins; try again later",
    )
}

/// Step 2: email and password for a session token bound to the site's device id.
pub async fn login(
    svc: &Services,
    code: &TenantCode,
    email: &Email,
    password: Password,
    device: &DeviceId,
) -> Result<IssuedToken> {
    active_tenant(svc, code).await?;
    let users = &svc.repos.users;
    let now = Utc::now();
    let attempts = users.login_attempts(code, email).await?;
    if let Some(until) = attempts.locked_until.filter(|u| *u > now) {
        return Err(too_many_attempts(until, now));
    }
    let user = users.get_user(code, email).await?;
    let phc = user.map(|u| u.password_hash);
    // argon2id is deliberately slow; keep it off the async workers. Unknown accounts verify
    // against a dummy hash so they take as long as known ones.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, phc.as_deref()))
        .await
        .map_err(Error::internal)?;
    if !ok {
        let failures = users.add_login_failure(code, email).await?;
        if failures >= LOCKOUT_THRESHOLD {
            let until = now + lockout_duration(failures);
            users.lock_login(code, email, until).await?;
            tracing::warn!(tenant = %code, failures, "login locked after repeated failures");
        }
        return Err(Error::new(
            ErrorKind::InvalidCredentials,
            "email or password is wrong",
        ));
    }
    if attempts.consecutive_failures > 0 {
        users.clear_login_failures(code, email).await?;
    }
    let credential = issue_credential(TOKEN_PREFIX);
    let expires_at =
        now + Duration::from_std(svc.token_ttl).map_err(|e| Error::internal(e.to_string()))?;
    svc.repos
        .sessions
        .put_session(&Session {
            token_hash: credential.hash,
            tenant: code.clone(),
            email: email.clone(),
            device_id: device.clone(),
            expires_at,
        })
        .await?;
    Ok(IssuedToken {
        token: SecretString::new(credential.plaintext),
        expires_at,
    })
}

fn invalid_token() -> Error {
    Error::new(
        ErrorKind::InvalidToken,
        "the token is missing, unknown or expired",
    )
}

/// The session behind a bearer token, if it is still valid and its tenant still active.
pub async fn authenticate(svc: &Services, bearer: Option<&str>) -> Result<Session> {
    let token = bearer
        .filter(|t| t.starts_with(TOKEN_PREFIX))
        .ok_or_else(invalid_token)?;
    let session = svc
        .repos
        .sessions
        .get_session(&CredentialHash::of(token))
        .await?
        .filter(|s| s.expires_at > Utc::now())
        .ok_or_else(invalid_token)?;
    let tenant = svc.repos.tenants.get_tenant(&session.tenant).await?;
    if !tenant.is_some_and(|t| t.active) {
        return Err(tenant_inactive());
    }
    Ok(session)
}

/// One row of the store picker.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreChoice {
    pub store: Store,
    pub linked: bool,
}

/// Step 3: the tenant's stores, with whether each is linked now.
pub async fn list_stores(svc: &Services, session: &Session) -> Result<Vec<StoreChoice>> {
    let stores = svc.repos.stores.list_stores(&session.tenant).await?;
    let ids: Vec<StoreId> = stores.iter().map(|s| s.id.clone()).collect();
    let links = svc.repos.links.get_links(&ids).await?;
    Ok(stores
        .into_iter()
        .map(|store| {
            let linked = links
                .iter()
                .any(|l| l.store_id == store.id && l.tenant == store.tenant && l.is_connected());
            StoreChoice { store, linked }
        })
        .collect())
}

/// What the merchant's site asks to link.
pub struct LinkRequest {
    pub store_id: StoreId,
    pub store_url: StoreUrl,
    pub device_id: DeviceId,
    pub trigger_statuses: Vec<TriggerStatus>,
    pub woo: Option<WooCredentials>,
}

/// A new link and the secrets that are shown once.
#[derive(Debug)]
pub struct LinkOutcome {
    pub link: Link,
    pub delivery_url: String,
    pub webhook_secret: SecretString,
    pub api_key: SecretString,
    pub topics: Vec<WooTopic>,
}

/// The delivery URL WooCommerce posts to for a store.
pub fn delivery_url(base: &str, store: &StoreId) -> String {
    format!(
        "{}/v1/webhooks/woocommerce/{store}",
        base.trim_end_matches('/')
    )
}

/// Step 4: link the store to this site, or rotate the secrets of the existing link.
pub async fn link(
    svc: &Services,
    session: &Session,
    request: LinkRequest,
    public_base: &str,
) -> Result<LinkOutcome> {
    if request.device_id != session.device_id {
        return Err(Error::new(
            ErrorKind::InvalidToken,
            "the token was issued to another site",
        ));
    }
    svc.outbound.vet(&request.store_url.url()).await?;
    let store = svc
        .repos
        .stores
        .get_store(&request.store_id)
        .await?
        .filter(|s| s.tenant == session.tenant)
        .ok_or_else(|| Error::new(ErrorKind::StoreNotFound, "this tenant has no such store"))?;
    let existing = svc.repos.links.get_link(&store.id).await?;
    if let Some(current) = existing.as_ref().filter(|l| l.is_connected()) {
        if current.device_id != request.device_id || current.store_url != request.store_url {
            return Err(Error::new(
                ErrorKind::StoreAlreadyLinked,
                "this store is already linked from another site; disconnect it there first",
            ));
        }
    }

    let now = Utc::now();
    let webhook_secret = new_webhook_secret();
    let api_key = issue_credential(API_KEY_PREFIX);
    let delivery = delivery_url(public_base, &store.id);
    let seal = |value: &str, what| secrets::seal(&svc.secrets, value, what);

    let (woo_keys, webhook_ids) = match &request.woo {
        None => (None, Vec::new()),
        Some(creds) => {
            let ids = register_webhooks(svc, &request.store_url, creds, &delivery, &webhook_secret)
                .await?;
            let keys = WooKeys {
                consumer_key: seal(creds.consumer_key.expose(), Sealing::WooKey(&store.id))?,
                consumer_secret: seal(
                    creds.consumer_secret.expose(),
                    Sealing::WooSecret(&store.id),
                )?,
            };
            (Some(keys), ids)
        }
    };

    // A rotation from the same site keeps the old secret valid for a grace period, so
    // deliveries already signed with it are not refused.
    let (previous_secret, previous_until) = match existing.as_ref().filter(|l| l.is_connected()) {
        Some(old) => (
            old.webhook_secret.clone(),
            Some(now + PREVIOUS_SECRET_GRACE),
        ),
        None => (None, None),
    };
    let link = Link {
        store_id: store.id.clone(),
        tenant: store.tenant.clone(),
        customer_id: store.customer_id.clone(),
        store_url: request.store_url.clone(),
        device_id: request.device_id.clone(),
        status: LinkStatus::Connected,
        trigger_statuses: request.trigger_statuses,
        webhook_secret: Some(seal(webhook_secret.expose(), Sealing::Webhook(&store.id))?),
        previous_webhook_secret: previous_secret,
        previous_secret_until: previous_until,
        api_key_hash: Some(api_key.hash),
        revoked_api_key_hash: None,
        woo_keys,
        webhook_ids: webhook_ids.clone(),
        linked_at: now,
        updated_at: now,
        disconnected_at: None,
        revision: existing.as_ref().map_or(1, |l| l.revision + 1),
    };
    if let Err(e) = svc
        .repos
        .links
        .save_link(&link, existing.as_ref().map(|l| l.revision))
        .await
    {
        // No half-made link: take back the webhooks registered for it.
        if let Some(creds) = &request.woo {
            remove_webhooks(svc, &request.store_url, creds, &webhook_ids).await;
        }
        return Err(e);
    }
    // The webhooks of the link this one replaced now point at a rotated secret: remove them.
    if let Some(old) = existing.filter(|l| !l.webhook_ids.is_empty()) {
        if let Some(creds) = open_woo_keys(&svc.secrets, &old)? {
            remove_webhooks(svc, &old.store_url, &creds, &old.webhook_ids).await;
        }
    }
    svc.link_changes.link_changed(&link.store_id);
    tracing::info!(tenant = %link.tenant, store = %link.store_id, webhooks = webhook_ids.len(), "store linked");
    Ok(LinkOutcome {
        link,
        delivery_url: delivery,
        webhook_secret,
        api_key: SecretString::new(api_key.plaintext),
        topics: WooTopic::ALL.to_vec(),
    })
}

async fn register_webhooks(
    svc: &Services,
    store: &StoreUrl,
    creds: &WooCredentials,
    delivery: &str,
    secret: &SecretString,
) -> Result<Vec<u64>> {
    let mut ids = Vec::with_capacity(WooTopic::ALL.len());
    for topic in WooTopic::ALL {
        match svc
            .woo
            .create_webhook(store, creds, topic, delivery, secret)
            .await
        {
            Ok(id) => ids.push(id),
            Err(e) => {
                remove_webhooks(svc, store, creds, &ids).await;
                tracing::warn!(error = %e, %topic, "registering webhooks on the store failed");
                return Err(match e {
                    WooError::AuthFailed => Error::new(
                        ErrorKind::WooCommerceAuthFailed,
                        "the store refused the WooCommerce API keys",
                    ),
                    WooError::Rejected { status, code } => Error::new(
                        ErrorKind::WooCommerceUnreachable,
                        format!("the store refused to create a webhook ({status} {code})"),
                    ),
                    WooError::Unreachable(why) => Error::new(
                        ErrorKind::WooCommerceUnreachable,
                        format!("the store's WooCommerce API could not be reached ({why})"),
                    ),
                });
            }
        }
    }
    Ok(ids)
}

/// Best effort: what cannot be removed now is reported in the log.
async fn remove_webhooks(svc: &Services, store: &StoreUrl, creds: &WooCredentials, ids: &[u64]) {
    for id in ids {
        if let Err(e) = svc.woo.delete_webhook(store, creds, *id).await {
            tracing::warn!(error = %e, webhook = id, "could not remove a webhook from the store");
        }
    }
}

/// Who is asking about a store: the link's own API key, or a login of the owning tenant.
pub enum StoreCaller<'a> {
    ApiKey(&'a str),
    Token(&'a str),
}

impl<'a> StoreCaller<'a> {
    pub fn from_bearer(bearer: Option<&'a str>) -> Result<Self> {
        match bearer {
            Some(t) if t.starts_with(TOKEN_PREFIX) => Ok(Self::Token(t)),
            Some(k) => Ok(Self::ApiKey(k)),
            None => Err(invalid_api_key()),
        }
    }
}

fn invalid_api_key() -> Error {
    Error::new(
        ErrorKind::InvalidApiKey,
        "the API key is missing or not valid",
    )
}

fn store_not_found() -> Error {
    Error::new(ErrorKind::StoreNotFound, "no such store")
}

/// The link a caller may see: its own (API key), or one of its tenant's (token).
pub async fn authorize_link(
    svc: &Services,
    caller: StoreCaller<'_>,
    store: &StoreId,
) -> Result<Link> {
    match caller {
        StoreCaller::ApiKey(key) => {
            let link = svc
                .repos
                .links
                .find_link_by_api_key(&CredentialHash::of(key))
                .await?
                .filter(|l| l.api_key_hash.as_ref().is_some_and(|h| h.matches(key)))
                .ok_or_else(invalid_api_key)?;
            // Another store's key: do not reveal whether this store exists.
            if &link.store_id != store {
                return Err(store_not_found());
            }
            Ok(link)
        }
        StoreCaller::Token(token) => {
            let session = authenticate(svc, Some(token)).await?;
            svc.repos
                .links
                .get_link(store)
                .await?
                .filter(|l| l.tenant == session.tenant)
                .ok_or_else(store_not_found)
        }
    }
}

/// A store's link as the status route shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStatus {
    pub link: Link,
    pub received: u64,
    pub synced: u64,
    pub failed: u64,
    pub last_sync_at: Option<DateTime<Utc>>,
}

pub async fn store_status(
    svc: &Services,
    caller: StoreCaller<'_>,
    store: &StoreId,
) -> Result<StoreStatus> {
    let link = authorize_link(svc, caller, store).await?;
    // Counted from the store's order records: one partition query on a read path that is
    // rare, rather than counter writes on every delivery.
    let orders = svc.repos.orders.list_order_syncs(store).await?;
    let count = |s: SyncState| orders.iter().filter(|o| o.state == s).count() as u64;
    Ok(StoreStatus {
        link,
        received: orders.len() as u64,
        synced: count(SyncState::Synced),
        failed: count(SyncState::Failed),
        last_sync_at: orders.iter().filter_map(|o| o.synced_at).max(),
    })
}

/// One order's sync state, for the link's own API key or the owning tenant.
pub async fn order_status(
    svc: &Services,
    caller: StoreCaller<'_>,
    store: &StoreId,
    order: OrderId,
) -> Result<OrderSync> {
    authorize_link(svc, caller, store).await?;
    svc.repos
        .orders
        .get_order_sync(store, order)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::OrderNotFound, "woolink has not seen this order"))
}

/// Admin: create or update a user with a freshly hashed password.
pub async fn put_user(
    svc: &Services,
    tenant: &TenantCode,
    email: &Email,
    password: Password,
) -> Result<crate::ports::Written> {
    if let Some(existing) = svc.repos.users.get_user(tenant, email).await? {
        let (pw, phc) = (password.clone(), existing.password_hash);
        let same = tokio::task::spawn_blocking(move || verify_password(&pw, Some(&phc)))
            .await
            .map_err(Error::internal)?;
        if same {
            return Ok(crate::ports::Written::Unchanged);
        }
    }
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(Error::internal)??;
    svc.repos
        .users
        .put_user(&User {
            tenant: tenant.clone(),
            email: email.clone(),
            password_hash: hash,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_grows_exponentially_and_is_capped() {
        assert_eq!(lockout_duration(5).num_seconds(), 30);
        assert_eq!(lockout_duration(6).num_seconds(), 60);
        assert_eq!(lockout_duration(7).num_seconds(), 120);
        assert_eq!(lockout_duration(40).num_seconds(), 3600);
    }

    #[test]
    fn delivery_urls_join_cleanly() {
        let s = StoreId::parse("st_1").unwrap();
        assert_eq!(
            delivery_url("https://api.example.com/", &s),
            "https://api.example.com/v1/webhooks/woocommerce/st_1"
        );
    }
}
