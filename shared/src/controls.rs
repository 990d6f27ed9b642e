//! What a tenant's operations people can do without an engineer (tenant API key): change a
//! store's trigger statuses, pause and resume its deliveries, send an order again, send every
//! failed order again. Every change is audited (`AuditEntry`: who, what, before, after).

use chrono::Utc;
use serde_json::json;

use crate::domain::{OrderId, TriggerStatus, WooTopic};
use crate::envelope::{self, EnvelopeHead, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::health::{After, OrderQuery};
use crate::model::{AuditEntry, Link, SyncState, TenantApiKey};
use crate::ports::{Audits, LinkChanges, Links, OrderSyncs, Queue};

/// Most failed orders one retry request sends again (the answer's cursor continues).
pub const RETRY_BATCH: usize = 200;

pub struct Controlling<'a> {
    pub tenants: &'a dyn crate::ports::Tenants,
    pub outbound: crate::outbound::OutboundPolicy,
    pub links: &'a dyn Links,
    pub orders: &'a dyn OrderSyncs,
    pub audits: &'a dyn Audits,
    /// The orders queue; resends need it.
    pub queue: Option<&'a dyn Queue>,
    pub link_changes: &'a dyn LinkChanges,
}

/// A change of a store's settings; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SettingsChange {
    pub trigger_statuses: Option<Vec<TriggerStatus>>,
    pub paused: Option<bool>,
}

fn settings_of(link: &Link) -> serde_json::Value {
    json!({
        "triggerStatuses": link.trigger_statuses.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "paused": link.paused_at.is_some(),
    })
}

/// An audit entry of `key`'s tenant, now: time-ordered, unique.
fn audited(key: &TenantApiKey, action: &str) -> AuditEntry {
    let at = Utc::now();
    AuditEntry {
        id: format!(
            "{}#{}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            hex::encode(rand::random::<[u8; 6]>())
        ),
        tenant: key.tenant.clone(),
        at,
        by: key.id.clone(),
        action: action.to_owned(),
        store_id: None,
        order_id: None,
        before: None,
        after: None,
    }
}

fn entry(key: &TenantApiKey, action: &str, link: &Link, order: Option<OrderId>) -> AuditEntry {
    AuditEntry {
        store_id: Some(link.store_id.clone()),
        order_id: order.map(OrderId::get),
        ..audited(key, action)
    }
}

/// Applies `change` to the store's link (the next order sees it: the intake and the worker
/// cache a link for seconds), audited. Unchanged settings write nothing.
pub async fn change_settings(
    ports: &Controlling<'_>,
    key: &TenantApiKey,
    link: Link,
    change: SettingsChange,
) -> Result<Link> {
    if !link.is_connected() {
        return Err(Error::new(
            ErrorKind::StoreDisconnected,
            "the store is disconnected; link it again to change its settings",
        ));
    }
    let mut current = link;
    for _ in 0..8 {
        let mut next = current.clone();
        if let Some(t) = &change.trigger_statuses {
            next.trigger_statuses = t.clone();
        }
        match change.paused {
            Some(true) if next.paused_at.is_none() => next.paused_at = Some(Utc::now()),
            Some(false) => next.paused_at = None,
            _ => {}
        }
        if settings_of(&next) == settings_of(&current) {
            return Ok(current);
        }
        next.revision = current.revision + 1;
        next.updated_at = Utc::now();
        match ports.links.save_link(&next, Some(current.revision)).await {
            Ok(()) => {
                ports.link_changes.link_changed(&next.store_id);
                let mut e = entry(key, "settings", &next, None);
                e.before = Some(settings_of(&current));
                e.after = Some(settings_of(&next));
                ports.audits.record_audit(&e).await?;
                tracing::info!(store = %next.store_id, by = %key.id, paused = next.paused_at.is_some(), "store settings changed");
                return Ok(next);
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {
                current = ports
                    .links
                    .get_link(&current.store_id)
                    .await?
                    .ok_or_else(crate::auth::store_not_found)?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        "the store's link kept changing; try again",
    ))
}

fn resend_message(link: &Link, order: OrderId) -> Result<String> {
    let head = EnvelopeHead::for_delivery(
        link.store_id.clone(),
        link.tenant.clone(),
        WooTopic::OrderUpdated,
        order,
        None,
        b"",
    )
    .from_source(Source::Resend);
    envelope::encode(&head, None)
}

/// Checks the order can be sent again: woolink knows it, it entered scope, the link holds
/// WooCommerce keys (the worker reads the order from the store: woolink keeps no bodies).
fn resendable(link: &Link, found: Option<&crate::model::OrderSync>, order: OrderId) -> Result<()> {
    let Some(o) = found else {
        return Err(crate::status::order_not_found());
    };
    if !o.in_scope {
        return Err(Error::new(
            ErrorKind::OrderNotInScope,
            format!("order {order} never reached a trigger status: there is nothing to send again"),
        )
        .with_details(json!({"orderId": order.get()})));
    }
    if link.woo_keys.is_none() {
        return Err(Error::invalid_request(
            "the store was linked without WooCommerce keys: woolink keeps no order bodies and \
             cannot read the order again (link it with keys, or redrive the dead-letter queue)",
        ));
    }
    Ok(())
}

fn queue<'a>(ports: &Controlling<'a>) -> Result<&'a dyn Queue> {
    ports
        .queue
        .ok_or_else(|| Error::unavailable("the orders queue", "WOOLINK_QUEUE_URL is not set"))
}

/// Sends one order again: the worker reads it from the store and delivers it as a new effect
/// (a new `webhook-id`), even when the tenant has it. Audited.
pub async fn resend(
    ports: &Controlling<'_>,
    key: &TenantApiKey,
    link: &Link,
    order: OrderId,
) -> Result<crate::model::OrderSync> {
    let queue = queue(ports)?;
    let found = ports.orders.get_order_sync(&link.store_id, order).await?;
    resendable(link, found.as_ref(), order)?;
    queue
        .send_grouped(resend_message(link, order)?, link.tenant.as_str())
        .await?;
    ports
        .audits
        .record_audit(&entry(key, "resend", link, Some(order)))
        .await?;
    tracing::info!(store = %link.store_id, %order, by = %key.id, "order resend queued");
    found.ok_or_else(crate::status::order_not_found)
}

/// Sends the store's failed orders again, up to [`RETRY_BATCH`] from `after` (the failed
/// orders list's cursor); returns how many and where the next call continues. Audited.
pub async fn retry_failed(
    ports: &Controlling<'_>,
    key: &TenantApiKey,
    link: &Link,
    after: Option<After>,
) -> Result<(usize, Option<After>)> {
    let queue = queue(ports)?;
    if link.woo_keys.is_none() {
        return Err(Error::invalid_request(
            "the store was linked without WooCommerce keys: woolink keeps no order bodies and \
             cannot read its orders again (redrive the dead-letter queue instead)",
        ));
    }
    let mut sent = 0;
    let mut cursor = after;
    while sent < RETRY_BATCH {
        let page = ports
            .orders
            .list_orders(
                &link.store_id,
                &OrderQuery {
                    state: Some(SyncState::Failed),
                    since: None,
                    limit: (RETRY_BATCH - sent).min(100),
                    after: cursor.clone(),
                },
            )
            .await?;
        let bodies = page
            .orders
            .iter()
            .map(|o| resend_message(link, o.order_id))
            .collect::<Result<Vec<_>>>()?;
        sent += bodies.len();
        queue
            .send_many_grouped(bodies, link.tenant.as_str())
            .await?;
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    let mut e = entry(key, "retry_failed", link, None);
    e.after = Some(json!({"queued": sent}));
    ports.audits.record_audit(&e).await?;
    tracing::info!(store = %link.store_id, sent, by = %key.id, "failed orders sent again");
    Ok((sent, cursor))
}

/// Moves the tenant's fulfilment endpoint (its signing secret stays): the next delivery
/// goes there (the worker caches a tenant for seconds). The URL must be one woolink may call
/// (public https outside the local runner). Audited.
pub async fn change_endpoint(
    ports: &Controlling<'_>,
    key: &TenantApiKey,
    url: &str,
) -> Result<bool> {
    let parsed = url::Url::parse(url)
        .map_err(|_| Error::invalid_request("the fulfilment URL is not a URL"))?;
    ports
        .outbound
        .check_url(&parsed)
        .map_err(|e| Error::invalid_request(format!("fulfilment URL refused: {}", e.message())))?;
    let tenant = ports
        .tenants
        .get_tenant(&key.tenant)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::TenantInactive, "the tenant is gone"))?;
    let Some(before) = tenant.fulfilment.map(|f| f.url) else {
        return Err(Error::new(
            ErrorKind::Conflict,
            "the tenant has no fulfilment endpoint (and no signing secret) yet: the operator \
             sets the first one",
        ));
    };
    if before == url {
        return Ok(false);
    }
    if !ports.tenants.set_fulfilment_url(&key.tenant, url).await? {
        return Err(Error::new(
            ErrorKind::Conflict,
            "the tenant's endpoint was removed meanwhile",
        ));
    }
    ports
        .audits
        .record_audit(&AuditEntry {
            before: Some(json!({"url": before})),
            after: Some(json!({"url": url})),
            ..audited(key, "fulfilment_endpoint")
        })
        .await?;
    tracing::info!(tenant = %key.tenant, by = %key.id, "fulfilment endpoint moved");
    Ok(true)
}
