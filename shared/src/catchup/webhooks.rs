//! Webhook self-healing: WooCommerce disables a webhook after more than 5 failed deliveries
//! in a row, and merchants delete or pause webhooks by hand. Each poll compares the store's
//! webhooks with the ones woolink needs (one active webhook per topic, pointing at the
//! store's delivery URL) and repairs the difference.

use super::{CatchUp, Halt};
use crate::domain::Topic;
use crate::model::{Link, WebhookHealth};
use crate::secrets::{open, Sealing};
use crate::woocommerce::{StoreWebhook, WebhookStatus, WooCredentials, WooError};

/// What a check found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healed {
    pub health: WebhookHealth,
    /// Webhooks re-activated, recreated or deleted.
    pub repairs: u64,
    /// The link's webhook ids after the repairs.
    pub webhook_ids: Vec<u64>,
}

/// The delivery URL of this deployment for the store: from the API's public base when it is
/// configured, else the one a webhook the link registered shows.
fn our_delivery_url(
    hooks: &[StoreWebhook],
    link: &Link,
    public_base: Option<&str>,
) -> Option<String> {
    public_base
        .map(|b| crate::connect::delivery_url(b, &link.store_id))
        .or_else(|| {
            hooks
                .iter()
                .find(|h| link.webhook_ids.contains(&h.id))
                .map(|h| h.delivery_url.clone())
        })
}

/// Checks the store's webhooks against the link and repairs them: a woolink webhook that is
/// `disabled` or `paused` is set `active`; a missing one is recreated with the link's current
/// secret (at `public_base`'s delivery URL, or the one its siblings use); duplicates for one
/// topic are deleted (the one the link names is kept). Webhooks that are neither named by the
/// link nor pointed at this deployment's delivery URL are never touched (another app's, or
/// another woolink deployment's). Store errors are returned as they are (the caller records
/// them as `Halt::Store`; woolink's own failures are `Halt::Ours`).
pub async fn heal_webhooks(
    ports: &CatchUp<'_>,
    link: &Link,
    creds: &WooCredentials,
    public_base: Option<&str>,
) -> std::result::Result<Healed, Halt> {
    let hooks = ports.woo.list_webhooks(&link.store_url, creds).await?;
    // Ours: the ones the link registered, and any other to this deployment's delivery URL
    // for the store (never a webhook of another app, or of another woolink deployment).
    let delivery_url = our_delivery_url(&hooks, link, public_base);
    let ours: Vec<&StoreWebhook> = hooks
        .iter()
        .filter(|h| {
            link.webhook_ids.contains(&h.id)
                || delivery_url.as_deref() == Some(h.delivery_url.as_str())
        })
        .collect();
    let mut repairs = 0u64;
    let topics = Topic::for_link(true);
    let mut ids = Vec::with_capacity(topics.len());
    for topic in topics {
        let mut same: Vec<&StoreWebhook> = ours
            .iter()
            .copied()
            .filter(|h| h.topic == topic.as_str())
            .collect();
        // Keep the one the link names, else an active one, else any.
        same.sort_by_key(|h| {
            (
                !link.webhook_ids.contains(&h.id),
                h.status != WebhookStatus::Active,
                h.id,
            )
        });
        let mut kept = same.first().copied();
        for extra in same.iter().skip(1) {
            ports
                .woo
                .delete_webhook(&link.store_url, creds, extra.id)
                .await?;
            tracing::info!(store = %link.store_id, webhook = extra.id, %topic, "duplicate webhook deleted");
            repairs += 1;
        }
        if let Some(hook) = kept.filter(|h| h.status != WebhookStatus::Active) {
            match ports
                .woo
                .set_webhook_status(&link.store_url, creds, hook.id, WebhookStatus::Active)
                .await
            {
                Ok(()) => {
                    tracing::info!(store = %link.store_id, webhook = hook.id, %topic, was = ?hook.status, "webhook re-activated");
                    repairs += 1;
                }
                // Gone between the listing and now: recreate it below.
                Err(WooError::Rejected { status: 404, .. }) => kept = None,
                Err(e) => return Err(e.into()),
            }
        }
        match kept {
            Some(hook) => ids.push(hook.id),
            None => {
                let (Some(url), Some(sealed)) = (&delivery_url, &link.webhook_secret) else {
                    return Err(Halt::Store(WooError::Unreachable(format!(
                        "the {topic} webhook is missing and cannot be recreated here (no \
                         delivery URL or secret known)"
                    ))));
                };
                let secret = open(ports.secrets, sealed, Sealing::Webhook(&link.store_id))?;
                match ports
                    .woo
                    .create_webhook(&link.store_url, creds, topic, url, &secret)
                    .await
                {
                    Ok(id) => {
                        tracing::info!(store = %link.store_id, webhook = id, %topic, "missing webhook recreated");
                        ids.push(id);
                        repairs += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(Healed {
        health: if repairs == 0 {
            WebhookHealth::Healthy
        } else {
            WebhookHealth::Repaired
        },
        repairs,
        webhook_ids: ids,
    })
}
