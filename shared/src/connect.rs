//! Linking a store: the store picker, the link itself (keys, secrets, webhooks registered on
//! the store with its WooCommerce keys), and re-linking. They see only ports and domain
//! types, never HTTP or SDK types.

use chrono::{Duration, Utc};

use crate::auth::API_KEY_PREFIX;
use crate::crypto::SecretBox;
use crate::crypto::{issue_credential, new_webhook_secret, SecretString};
use crate::domain::{DeviceId, StoreId, StoreUrl, TenantCode, Topic, TriggerStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, LinkStatus, Session, Store, WooKeys};
use crate::outbound::OutboundPolicy;
use crate::ports::{LinkChanges, Links, Stores};
use crate::secrets::{self, open_woo_keys, Sealing};
use crate::woocommerce::{WooClient, WooCredentials, WooError};

/// The ports linking uses.
pub struct Linking<'a> {
    pub stores: &'a dyn Stores,
    pub links: &'a dyn Links,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    pub outbound: &'a OutboundPolicy,
    pub link_changes: &'a dyn LinkChanges,
}

/// How long the secret before a rotation keeps verifying deliveries already on their way.
const PREVIOUS_SECRET_GRACE: Duration = Duration::hours(24);

/// One row of the store picker.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreChoice {
    pub store: Store,
    pub linked: bool,
}

/// Step 3: the tenant's stores, with whether each is linked now.
pub async fn list_stores(ports: &Linking<'_>, session: &Session) -> Result<Vec<StoreChoice>> {
    let stores = ports.stores.list_stores(&session.tenant).await?;
    let ids: Vec<StoreId> = stores.iter().map(|s| s.id.clone()).collect();
    let links = ports.links.get_links(&ids).await?;
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
    pub topics: Vec<Topic>,
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
    ports: &Linking<'_>,
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
    link_for_tenant(ports, &session.tenant, request, public_base).await
}

/// The tenant's store `id`, and its link when there is one; `StoreNotFound` for a store of
/// another tenant.
pub async fn tenant_store(
    ports: &Linking<'_>,
    tenant: &TenantCode,
    id: &StoreId,
) -> Result<(Store, Option<Link>)> {
    let store = ports
        .stores
        .get_store(id)
        .await?
        .filter(|s| &s.tenant == tenant)
        .ok_or_else(|| Error::new(ErrorKind::StoreNotFound, "this tenant has no such store"))?;
    let link = ports.links.get_link(&store.id).await?;
    Ok((store, link))
}

/// Refuses to link a store that is connected from another site (another device or URL).
pub fn check_same_site(existing: Option<&Link>, device: &DeviceId, url: &StoreUrl) -> Result<()> {
    match existing.filter(|l| l.is_connected()) {
        Some(current) if &current.device_id != device || &current.store_url != url => {
            Err(Error::new(
                ErrorKind::StoreAlreadyLinked,
                "this store is already linked from another site; disconnect it there first",
            ))
        }
        _ => Ok(()),
    }
}

/// Links `request.store_id` of `tenant` (the caller has proved it acts for the tenant: a
/// session of its user, or a consent state woolink signed for one).
pub async fn link_for_tenant(
    ports: &Linking<'_>,
    tenant: &TenantCode,
    request: LinkRequest,
    public_base: &str,
) -> Result<LinkOutcome> {
    ports.outbound.vet(&request.store_url.url()).await?;
    let (store, existing) = tenant_store(ports, tenant, &request.store_id).await?;
    check_same_site(existing.as_ref(), &request.device_id, &request.store_url)?;

    let now = Utc::now();
    let webhook_secret = new_webhook_secret();
    let api_key = issue_credential(API_KEY_PREFIX);
    let delivery = delivery_url(public_base, &store.id);
    let seal = |value: &str, what| secrets::seal(ports.secrets, value, what);

    let (woo_keys, webhook_ids) = match &request.woo {
        None => (None, Vec::new()),
        Some(creds) => {
            let ids =
                register_webhooks(ports, &request.store_url, creds, &delivery, &webhook_secret)
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
        paused_at: None,
        revision: existing.as_ref().map_or(1, |l| l.revision + 1),
    };
    if let Err(e) = ports
        .links
        .save_link(&link, existing.as_ref().map(|l| l.revision))
        .await
    {
        // No half-made link: take back the webhooks registered for it.
        if let Some(creds) = &request.woo {
            remove_webhooks(ports, &request.store_url, creds, &webhook_ids).await;
        }
        return Err(e);
    }
    // The webhooks of the link this one replaced now point at a rotated secret: remove them.
    if let Some(old) = existing.filter(|l| !l.webhook_ids.is_empty()) {
        if let Some(creds) = open_woo_keys(ports.secrets, &old)? {
            remove_webhooks(ports, &old.store_url, &creds, &old.webhook_ids).await;
        }
    }
    ports.link_changes.link_changed(&link.store_id);
    tracing::info!(tenant = %link.tenant, store = %link.store_id, webhooks = webhook_ids.len(), "store linked");
    let topics = Topic::for_link(link.woo_keys.is_some());
    Ok(LinkOutcome {
        link,
        delivery_url: delivery,
        webhook_secret,
        api_key: SecretString::new(api_key.plaintext),
        topics,
    })
}

async fn register_webhooks(
    ports: &Linking<'_>,
    store: &StoreUrl,
    creds: &WooCredentials,
    delivery: &str,
    secret: &SecretString,
) -> Result<Vec<u64>> {
    let topics = Topic::for_link(true);
    let mut ids = Vec::with_capacity(topics.len());
    for topic in topics {
        match ports
            .woo
            .create_webhook(store, creds, topic, delivery, secret)
            .await
        {
            Ok(id) => ids.push(id),
            Err(e) => {
                remove_webhooks(ports, store, creds, &ids).await;
                tracing::warn!(error = %e, %topic, "registering webhooks on the store failed");
                return Err(match e {
                    WooError::AuthFailed => Error::new(
                        ErrorKind::WooCommerceAuthFailed,
                        "the store refused the WooCommerce API keys",
                    ),
                    WooError::Rejected { status, code, .. } => Error::new(
                        ErrorKind::WooCommerceUnreachable,
                        format!("the store refused to create a webhook ({status} {code})"),
                    ),
                    WooError::Refused(why) => Error::invalid_store_url(why),
                    WooError::TooLarge { .. } => Error::new(
                        ErrorKind::WooCommerceUnreachable,
                        "the store's answer to creating a webhook was too large",
                    ),
                    WooError::Unreachable(why) => Error::new(
                        ErrorKind::WooCommerceUnreachable,
                        format!("the store's WooCommerce API could not be reached ({why})"),
                    ),
                    busy @ WooError::Busy { .. } => Error::new(
                        ErrorKind::WooCommerceUnreachable,
                        format!("the store's WooCommerce API is busy ({busy})"),
                    ),
                });
            }
        }
    }
    Ok(ids)
}

/// Best effort: what cannot be removed now is reported in the log.
async fn remove_webhooks(
    ports: &Linking<'_>,
    store: &StoreUrl,
    creds: &WooCredentials,
    ids: &[u64],
) {
    for id in ids {
        if let Err(e) = ports.woo.delete_webhook(store, creds, *id).await {
            tracing::warn!(error = %e, webhook = id, "could not remove a webhook from the store");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_urls_join_cleanly() {
        let s = StoreId::parse("st_1").unwrap();
        assert_eq!(
            delivery_url("https://api.example.com/", &s),
            "https://api.example.com/v1/webhooks/woocommerce/st_1"
        );
    }
}
