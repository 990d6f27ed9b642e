//! Disconnect: the store's plugin (with the link's API key) or the tenant (with a login)
//! ends a link. The link is marked disconnected and its API key and webhook secrets revoked at
//! once; woolink's webhooks on the store are deleted and the WooCommerce keys erased; the
//! store's order records are given an expiry, or purged on request.

use chrono::{DateTime, Utc};

use crate::auth::{invalid_api_key, Gate};
use crate::crypto::SecretBox;
use crate::domain::{CustomerId, StoreId, StoreUrl};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, LinkStatus};
use crate::ports::{LinkChanges, OrderSyncs};
use crate::secrets::open_woo_keys;
use crate::woocommerce::WooClient;

/// The ports ending a link uses.
pub struct Unlinking<'a> {
    pub gate: Gate<'a>,
    pub orders: &'a dyn OrderSyncs,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// How long a disconnected store's order records are kept.
    pub retention: chrono::Duration,
    pub link_changes: &'a dyn LinkChanges,
}

/// Who asks.
pub enum Caller<'a> {
    /// The plugin: the link's API key and what it knows of the link.
    Plugin {
        api_key: Option<&'a str>,
        store_url: StoreUrl,
        customer_id: CustomerId,
    },
    /// The tenant: a login token and the store.
    Tenant {
        token: Option<&'a str>,
        store: StoreId,
    },
    /// An operator with access to the table (the CLI).
    Operator { store: StoreId },
}

/// What was cleaned up.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleanup {
    pub webhooks_deleted: Vec<u64>,
    /// Webhooks that could not be deleted (store unreachable): they now get 410 from woolink,
    /// and WooCommerce disables them after repeated failures.
    pub webhooks_not_deleted: Vec<u64>,
    pub woo_keys_erased: bool,
    /// When the store's order records expire (TTL), unless purged.
    pub orders_expire_at: Option<DateTime<Utc>>,
    pub orders_purged: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Disconnected {
    pub link: Link,
    pub cleanup: Cleanup,
}

async fn find_link(ports: &Unlinking<'_>, caller: &Caller<'_>) -> Result<Link> {
    match caller {
        Caller::Plugin {
            api_key,
            store_url,
            customer_id,
        } => {
            let key = api_key.ok_or_else(invalid_api_key)?;
            let link = ports.gate.link_of_api_key(key).await?;
            if &link.store_url != store_url || &link.customer_id != customer_id {
                return Err(Error::new(
                    ErrorKind::LinkMismatch,
                    "storeUrl and customerId do not match this API key's link",
                ));
            }
            Ok(link)
        }
        Caller::Tenant { token, store } => ports.gate.link_of_tenant(*token, store).await,
        Caller::Operator { store } => ports
            .gate
            .links
            .get_link(store)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::StoreNotFound, "this store has no link")),
    }
}

/// Whether the caller holds only a revoked key: it may repeat the disconnect (and hear the
/// same answer), nothing more.
fn holds_revoked_key(caller: &Caller<'_>, link: &Link) -> bool {
    match caller {
        Caller::Plugin { api_key, .. } => {
            !api_key.is_some_and(|k| link.api_key_hash.as_ref().is_some_and(|h| h.matches(k)))
        }
        Caller::Tenant { .. } | Caller::Operator { .. } => false,
    }
}

/// Disconnects (or, when already disconnected, reports the same outcome again).
pub async fn disconnect(
    ports: &Unlinking<'_>,
    caller: Caller<'_>,
    purge: bool,
) -> Result<Disconnected> {
    let mut link = find_link(ports, &caller).await?;
    if holds_revoked_key(&caller, &link) {
        if purge {
            return Err(invalid_api_key());
        }
        return Ok(Disconnected {
            cleanup: Cleanup {
                webhooks_deleted: Vec::new(),
                webhooks_not_deleted: link.webhook_ids.clone(),
                woo_keys_erased: link.woo_keys.is_none(),
                orders_expire_at: Some(orders_expiry(ports, &link)),
                orders_purged: None,
            },
            link,
        });
    }
    let mut deleted = Vec::new();
    if link.is_connected() {
        let creds = open_woo_keys(ports.secrets, &link)?;
        let now = Utc::now();
        let expected = link.revision;
        link.status = LinkStatus::Disconnected;
        link.disconnected_at = Some(now);
        link.updated_at = now;
        link.webhook_secret = None;
        link.previous_webhook_secret = None;
        link.previous_secret_until = None;
        link.revoked_api_key_hash = link.api_key_hash.take();
        // Erased with the same write: the keys are gone even if cleanup below is cut short.
        link.woo_keys = None;
        link.revision += 1;
        ports.gate.links.save_link(&link, Some(expected)).await?;
        ports.link_changes.link_changed(&link.store_id);
        tracing::info!(tenant = %link.tenant, store = %link.store_id, "store disconnected");

        if let (Some(creds), false) = (creds, link.webhook_ids.is_empty()) {
            let mut left = Vec::new();
            for id in &link.webhook_ids {
                match ports.woo.delete_webhook(&link.store_url, &creds, *id).await {
                    Ok(()) => deleted.push(*id),
                    Err(e) => {
                        tracing::warn!(store = %link.store_id, webhook = id, error = %e, "webhook not deleted");
                        left.push(*id);
                    }
                }
            }
            let expected = link.revision;
            link.webhook_ids = left;
            link.revision += 1;
            if let Err(e) = ports.gate.links.save_link(&link, Some(expected)).await {
                // A re-link raced us; it owns the record now.
                tracing::warn!(store = %link.store_id, error = %e, "could not record the webhook cleanup");
            }
        }
    }

    let (orders_expire_at, orders_purged) = if purge {
        (
            None,
            Some(purge_orders(ports.orders, &link.store_id).await?),
        )
    } else {
        (Some(expire_orders(ports, &link).await?), None)
    };
    Ok(Disconnected {
        cleanup: Cleanup {
            webhooks_deleted: deleted,
            webhooks_not_deleted: link.webhook_ids.clone(),
            woo_keys_erased: link.woo_keys.is_none(),
            orders_expire_at,
            orders_purged,
        },
        link,
    })
}

/// When a disconnected store's order records expire.
pub fn orders_expiry(ports: &Unlinking<'_>, link: &Link) -> DateTime<Utc> {
    link.disconnected_at.unwrap_or_else(Utc::now) + ports.retention
}

/// Gives every order record of the store its expiry (DynamoDB TTL then erases them).
async fn expire_orders(ports: &Unlinking<'_>, link: &Link) -> Result<DateTime<Utc>> {
    let expires = orders_expiry(ports, link);
    for mut order in ports.orders.list_order_syncs(&link.store_id).await? {
        if order.expires_at.is_some() {
            continue;
        }
        let expected = order.revision;
        order.expires_at = Some(expires);
        order.revision += 1;
        match ports.orders.save_order_sync(&order, Some(expected)).await {
            // The worker moved it meanwhile; it sets the expiry itself for a disconnected link.
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            other => other?,
        }
    }
    Ok(expires)
}

/// Erases the store's order records now (TTL alone is too slow for erasure).
pub async fn purge_orders(orders: &dyn OrderSyncs, store: &StoreId) -> Result<usize> {
    let n = orders.delete_order_syncs(store).await?;
    tracing::info!(store = %store, records = n, "order records purged");
    Ok(n)
}
