//! Who is asking: resolving a tenant code, logging in (with the lockout), the sessions that
//! log-ins open, and the one authorisation of a caller for a store (the link's API key, or a
//! login of the owning tenant).

use chrono::{DateTime, Duration, Utc};

use crate::crypto::{issue_credential, verify_password, CredentialHash, SecretString};
use crate::domain::{DeviceId, Email, Password, Scope, StoreId, TenantCode};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, LoginAttempts, Session, Tenant, TenantApiKey};
use crate::ports::{Links, Sessions, TenantKeys, Tenants, Throttles, Users};

/// The ports logging in uses.
pub struct Logins<'a> {
    pub tenants: &'a dyn Tenants,
    pub users: &'a dyn Users,
    pub sessions: &'a dyn Sessions,
    pub throttles: &'a dyn Throttles,
    /// How long a login token is valid.
    pub token_ttl: std::time::Duration,
}

/// The ports that say who a caller is: sessions of active tenants, and links by API key.
pub struct Gate<'a> {
    pub tenants: &'a dyn Tenants,
    pub sessions: &'a dyn Sessions,
    pub links: &'a dyn Links,
    pub tenant_keys: &'a dyn TenantKeys,
}

/// How often a key's last-used time is written (at most once per this, per key).
const LAST_USED_EVERY: Duration = Duration::minutes(1);

/// Prefix of login tokens.
pub const TOKEN_PREFIX: &str = "wls_";
/// Prefix of per-link API keys.
pub const API_KEY_PREFIX: &str = "wlk_";

/// Consecutive failures before an account is locked.
pub const LOCKOUT_THRESHOLD: u32 = 5;
const LOCKOUT_BASE_SECS: i64 = 30;
const LOCKOUT_MAX_SECS: i64 = 3600;

/// Logins one source address may attempt per minute, whatever the accounts (the account
/// lockout alone never limits guesses spread over many emails).
pub const LOGINS_PER_SOURCE_PER_MINUTE: u32 = 20;

/// At most this many password checks (argon2id, 19 MiB each) run at once in a process.
const CONCURRENT_PASSWORD_CHECKS: usize = 4;
static PASSWORD_CHECKS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(CONCURRENT_PASSWORD_CHECKS);

/// Lock length after `failures` consecutive failures: 30 s, 60 s, 120 s… capped at an hour.
pub fn lockout_duration(failures: u32) -> Duration {
    let exp = failures.saturating_sub(LOCKOUT_THRESHOLD).min(20);
    Duration::seconds((LOCKOUT_BASE_SECS << exp).min(LOCKOUT_MAX_SECS))
}

fn tenant_inactive() -> Error {
    Error::new(ErrorKind::TenantInactive, "this tenant is not active")
}

async fn active_tenant(tenants: &dyn Tenants, code: &TenantCode) -> Result<Tenant> {
    let tenant = tenants
        .get_tenant(code)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::TenantNotFound, "no tenant has this code"))?;
    if !tenant.active {
        return Err(tenant_inactive());
    }
    Ok(tenant)
}

/// Step 1: which tenant does this code name?
pub async fn resolve(tenants: &dyn Tenants, code: &TenantCode) -> Result<Tenant> {
    active_tenant(tenants, code).await
}

/// Counts the login against its source address's minute; refused past the limit.
async fn limit_source(
    throttles: &dyn Throttles,
    source: Option<std::net::IpAddr>,
    now: DateTime<Utc>,
) -> Result<()> {
    let key = match source {
        Some(ip) => format!("login/{ip}"),
        None => "login/unknown".to_owned(),
    };
    let minute = now.timestamp().div_euclid(60);
    let next_minute = (minute + 1) * 60;
    if throttles
        .take(&key, minute, LOGINS_PER_SOURCE_PER_MINUTE, next_minute + 60)
        .await?
    {
        return Ok(());
    }
    tracing::warn!(source = %key, "login refused: too many from one source");
    let until = DateTime::<Utc>::from_timestamp(next_minute, 0).unwrap_or(now);
    Err(too_many_attempts(until, now))
}

/// How often a reservation is tried again after another attempt changed the record first.
const RESERVE_ROUNDS: usize = 16;

/// Counts one attempt on the account, as a failure until the password proves right: refused
/// while the account is locked; the attempt that reaches the limit locks it (for the length
/// its failure count earns). Under contention it fails closed (429, try again in a second).
async fn reserve_attempt(
    users: &dyn Users,
    code: &TenantCode,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<LoginAttempts> {
    for _ in 0..RESERVE_ROUNDS {
        let current = users.login_attempts(code, email).await?;
        if let Some(until) = current.locked_until.filter(|u| *u > now) {
            return Err(too_many_attempts(until, now));
        }
        let failures = current.consecutive_failures.saturating_add(1);
        let next = LoginAttempts {
            consecutive_failures: failures,
            locked_until: if failures >= LOCKOUT_THRESHOLD {
                Some(now + lockout_duration(failures))
            } else {
                current.locked_until
            },
        };
        if users
            .swap_login_attempts(code, email, &current, &next)
            .await?
        {
            return Ok(next);
        }
    }
    Err(too_many_attempts(now, now))
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
    ports: &Logins<'_>,
    source: Option<std::net::IpAddr>,
    code: &TenantCode,
    email: &Email,
    password: Password,
    device: &DeviceId,
) -> Result<IssuedToken> {
    let now = Utc::now();
    limit_source(ports.throttles, source, now).await?;
    active_tenant(ports.tenants, code).await?;
    let users = ports.users;
    // The attempt is counted (and the account locked when it reaches the limit) before the
    // password is checked, so parallel guesses cannot all pass one look at the counter.
    let reserved = reserve_attempt(users, code, email, now).await?;
    let user = users.get_user(code, email).await?;
    let phc = user.map(|u| u.password_hash);
    // argon2id is deliberately slow; keep it off the async workers. Unknown accounts verify
    // against a dummy hash so they take as long as known ones.
    let permit = PASSWORD_CHECKS.acquire().await.map_err(Error::internal)?;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, phc.as_deref()))
        .await
        .map_err(Error::internal)?;
    drop(permit);
    if !ok {
        if reserved.locked_until.is_some_and(|u| u > now) {
            let failures = reserved.consecutive_failures;
            tracing::warn!(tenant = %code, failures, "login locked after repeated failures");
        }
        return Err(Error::new(
            ErrorKind::InvalidCredentials,
            "email or password is wrong",
        ));
    }
    users.clear_login_failures(code, email).await?;
    let credential = issue_credential(TOKEN_PREFIX);
    let expires_at =
        now + Duration::from_std(ports.token_ttl).map_err(|e| Error::internal(e.to_string()))?;
    ports
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
pub async fn authenticate(gate: &Gate<'_>, bearer: Option<&str>) -> Result<Session> {
    let token = bearer
        .filter(|t| t.starts_with(TOKEN_PREFIX))
        .ok_or_else(invalid_token)?;
    let session = gate
        .sessions
        .get_session(&CredentialHash::of(token))
        .await?
        .filter(|s| s.expires_at > Utc::now())
        .ok_or_else(invalid_token)?;
    let tenant = gate.tenants.get_tenant(&session.tenant).await?;
    if !tenant.is_some_and(|t| t.active) {
        return Err(tenant_inactive());
    }
    Ok(session)
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

pub fn invalid_api_key() -> Error {
    Error::new(
        ErrorKind::InvalidApiKey,
        "the API key is missing or not valid",
    )
}

pub fn store_not_found() -> Error {
    Error::new(ErrorKind::StoreNotFound, "no such store")
}

impl Gate<'_> {
    /// The link an API key belongs to: its current key, or the key a disconnect revoked (so a
    /// repeated disconnect is answered again). The stored hash is compared in constant time.
    /// A deactivated tenant's keys authorise nothing.
    pub async fn link_of_api_key(&self, key: &str) -> Result<Link> {
        let link = self
            .links
            .find_link_by_api_key(&CredentialHash::of(key))
            .await?
            .filter(|l| {
                [&l.api_key_hash, &l.revoked_api_key_hash]
                    .into_iter()
                    .flatten()
                    .any(|h| h.matches(key))
            })
            .ok_or_else(invalid_api_key)?;
        let tenant = self.tenants.get_tenant(&link.tenant).await?;
        if !tenant.is_some_and(|t| t.active) {
            return Err(tenant_inactive());
        }
        Ok(link)
    }

    /// A store's link, for a login of the tenant that owns it.
    pub async fn link_of_tenant(&self, token: Option<&str>, store: &StoreId) -> Result<Link> {
        let session = authenticate(self, token).await?;
        self.links
            .get_link(store)
            .await?
            .filter(|l| l.tenant == session.tenant)
            .ok_or_else(store_not_found)
    }
}

impl Gate<'_> {
    /// The tenant API key `bearer` is, if it is one, not revoked, of an active tenant, and
    /// holds `scope`. Its last use is recorded (at most once a minute). A key that is not one
    /// is 401 `invalid_api_key`; a missing scope 403 `insufficient_scope`.
    pub async fn tenant_key(&self, bearer: Option<&str>, scope: Scope) -> Result<TenantApiKey> {
        let plaintext = bearer
            .filter(|b| b.starts_with(crate::admin::TENANT_KEY_PREFIX))
            .ok_or_else(invalid_api_key)?;
        let hash = CredentialHash::of(plaintext);
        let key = self
            .tenant_keys
            .find_tenant_key(&hash)
            .await?
            .filter(|k| k.hash.matches(plaintext) && k.revoked_at.is_none())
            .ok_or_else(invalid_api_key)?;
        if !self
            .tenants
            .get_tenant(&key.tenant)
            .await?
            .is_some_and(|t| t.active)
        {
            return Err(tenant_inactive());
        }
        if !key.scopes.contains(&scope) {
            return Err(Error::new(
                ErrorKind::InsufficientScope,
                format!("this API key lacks the {scope} scope"),
            ));
        }
        let now = Utc::now();
        if key
            .last_used_at
            .is_none_or(|at| now - at >= LAST_USED_EVERY)
        {
            if let Err(e) = self.tenant_keys.touch_tenant_key(&key.hash, now).await {
                tracing::warn!(key = %key.id, error = %e, "recording a key's last use failed");
            }
        }
        Ok(key)
    }

    /// A store's link for a tenant API key holding `scope`: another tenant's store, or one
    /// never linked, is 404 `store_not_found` alike.
    pub async fn link_for_tenant_key(
        &self,
        bearer: Option<&str>,
        scope: Scope,
        store: &StoreId,
    ) -> Result<Link> {
        Ok(self.key_and_link(bearer, scope, store).await?.1)
    }

    /// The same, with the key itself (whose id an audited change names).
    pub async fn key_and_link(
        &self,
        bearer: Option<&str>,
        scope: Scope,
        store: &StoreId,
    ) -> Result<(TenantApiKey, Link)> {
        let key = self.tenant_key(bearer, scope).await?;
        let link = self
            .links
            .get_link(store)
            .await?
            .filter(|l| l.tenant == key.tenant)
            .ok_or_else(store_not_found)?;
        Ok((key, link))
    }
}

/// The link a caller may see: its own (current API key), or one of its tenant's (token).
pub async fn authorize_link(
    gate: &Gate<'_>,
    caller: StoreCaller<'_>,
    store: &StoreId,
) -> Result<Link> {
    match caller {
        StoreCaller::ApiKey(key) => {
            let link = gate.link_of_api_key(key).await?;
            if !link.api_key_hash.as_ref().is_some_and(|h| h.matches(key)) {
                return Err(invalid_api_key());
            }
            // Another store's key: do not reveal whether this store exists.
            if &link.store_id != store {
                return Err(store_not_found());
            }
            Ok(link)
        }
        StoreCaller::Token(token) => gate.link_of_tenant(Some(token), store).await,
    }
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
}
