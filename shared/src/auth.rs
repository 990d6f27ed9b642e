//! Who is asking: resolving a tenant code, logging in (with the lockout), the sessions that
//! log-ins open, and the one authorisation of a caller for a store (the link's API key, or a
//! login of the owning tenant).

use chrono::{DateTime, Duration, Utc};

use crate::crypto::{issue_credential, verify_password, CredentialHash, SecretString};
use crate::domain::{DeviceId, Email, Password, StoreId, TenantCode};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, Session, Tenant};
use crate::services::Services;

/// Prefix of login tokens.
pub const TOKEN_PREFIX: &str = "wlt_";
/// Prefix of per-link API keys.
pub const API_KEY_PREFIX: &str = "wlk_";

/// Consecutive failures before an account is locked.
pub const LOCKOUT_THRESHOLD: u32 = 5;
const LOCKOUT_BASE_SECS: i64 = 30;
const LOCKOUT_MAX_SECS: i64 = 3600;

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
