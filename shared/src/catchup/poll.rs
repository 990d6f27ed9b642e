//! The reconciliation poll of one store: repair its webhooks, then read the orders modified
//! since its watermark (minus an overlap) and send them to the orders queue (`source: poll`),
//! so an order whose webhook was lost reaches the tenant within one poll period.
//!
//! Reading: `modified_after=<cursor>&orderby=modified&order=asc`, always page 1 of a cursor
//! that moves to just before the last page's newest second (keyset paging: an order modified
//! while the poll runs moves past the cursor and is read later, it never shifts a page so
//! that another is skipped). Only when a whole page shares one second (a bulk edit) does it
//! page by number within that second. The watermark is saved after each page, and only up
//! to what that page fully queued.
//!
//! What it cannot see: on classic (post) order storage an edit of the address alone does not
//! move `date_modified_gmt` (see the repository's WooCommerce notes), so such an edit whose
//! webhook was lost is not recovered by the poll.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{heal_webhooks, order_message, tenant_active, CatchUp, Halt, PollCursor};
use crate::domain::{parse_woo_time, woo_time, StoreId};
use crate::envelope::Source;
use crate::error::{ErrorKind, Result};
use crate::model::{Link, Reconciliation, WebhookHealth};
use crate::secrets::keyed_link;
use crate::woocommerce::{OrderBy, OrderQuery, WooError};

/// Pages read within one second of modifications before the listing is taken as broken.
const MAX_PAGES_IN_ONE_SECOND: u32 = 100;

/// What one poll job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Orders sent to the orders queue.
    pub queued: u64,
    /// Store pages read.
    pub pages: u32,
    /// Webhook repairs made.
    pub repairs: u64,
    /// It stopped at its page budget: another job carries on from here.
    pub next: Option<PollCursor>,
    /// It did nothing: the store is not polled (no keys, not linked) or another poll holds it.
    pub skipped: bool,
}

impl Polled {
    fn skipped() -> Self {
        Self {
            skipped: true,
            ..Self::default()
        }
    }
}

/// Polls `store` once (see the module's documentation). A store that refuses the keys is
/// marked as needing attention (once per period, one request: never a retry storm); any other
/// store error is recorded as the run's `last_error` and the watermark stays where it is.
pub async fn poll_store(
    ports: &CatchUp<'_>,
    store: &StoreId,
    resume: Option<PollCursor>,
) -> Result<Polled> {
    let (link, creds) = match keyed_link(ports.links, ports.secrets, store).await {
        Ok(found) => found,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::StoreNotFound | ErrorKind::InvalidRequest
            ) =>
        {
            return Ok(Polled::skipped())
        }
        Err(e) => return Err(e),
    };
    if !tenant_active(ports, &link).await? {
        tracing::info!(%store, tenant = %link.tenant, "not polled: the tenant is not active");
        return Ok(Polled::skipped());
    }
    let now = Utc::now();
    let existing = ports.reconciliations.get_reconciliation(store).await?;
    if existing
        .as_ref()
        .and_then(|r| r.lease_until)
        .is_some_and(|until| until > now)
    {
        tracing::info!(%store, "another poll of this store is running");
        return Ok(Polled::skipped());
    }
    // Take the store: a conditional write, so two polls cannot both run it.
    let mut state = existing.unwrap_or_else(|| Reconciliation::new(store.clone()));
    state.lease_until = chrono::Duration::from_std(ports.settings.lease)
        .ok()
        .map(|l| now + l);
    let Some(mut state) = save(ports, state).await? else {
        return Ok(Polled::skipped());
    };

    let mut polled = Polled::default();
    let outcome = run(ports, &link, &creds, &mut state, &mut polled, resume).await;
    state.last_run_at = Some(Utc::now());
    state.lease_until = None;
    state.last_queued = polled.queued;
    match outcome {
        Ok(()) => {
            state.last_error = None;
            state.attention = None;
        }
        // Woolink's own table or queue failed: the job comes back (the store is let go).
        Err(Halt::Ours(e)) => {
            state.lease_until = None;
            save(ports, state).await?;
            return Err(e);
        }
        Err(Halt::Store(WooError::AuthFailed)) => {
            let why = "the store refused woolink's WooCommerce keys (401/403): re-link the \
                       store with working keys";
            tracing::warn!(%store, "{why}");
            state.attention = Some(why.to_owned());
            state.last_error = Some(why.to_owned());
            polled.next = None;
        }
        Err(Halt::Store(e)) => {
            tracing::warn!(%store, error = %e, "the poll could not finish");
            state.last_error = Some(e.to_string());
            polled.next = None;
        }
    }
    save(ports, state).await?;
    tracing::info!(%store, queued = polled.queued, pages = polled.pages, repairs = polled.repairs, more = polled.next.is_some(), "store polled");
    Ok(polled)
}

async fn run(
    ports: &CatchUp<'_>,
    link: &Link,
    creds: &crate::woocommerce::WooCredentials,
    state: &mut Reconciliation,
    polled: &mut Polled,
    resume: Option<PollCursor>,
) -> std::result::Result<(), Halt> {
    // A run's first job checks the webhooks; its continuations only read on.
    if resume.is_none() {
        check_webhooks(ports, link, creds, state, polled).await?;
    }
    let overlap = chrono::Duration::from_std(ports.settings.overlap).unwrap_or_default();
    let (mut cursor, mut page_no) = match resume
        .as_ref()
        .and_then(|r| Some((parse_woo_time(&r.modified_after)?, r.page.max(1))))
    {
        Some(resumed) => resumed,
        None => (
            state
                .watermark
                .as_deref()
                .and_then(parse_woo_time)
                .unwrap_or(link.linked_at)
                - overlap,
            1,
        ),
    };
    let mut sent: HashSet<u64> = HashSet::new();
    loop {
        if polled.pages >= ports.settings.pages_per_job {
            polled.next = Some(PollCursor {
                modified_after: woo_time(cursor),
                page: page_no,
            });
            return Ok(());
        }
        let query = OrderQuery {
            modified_after: Some(woo_time(cursor)),
            order_by: OrderBy::Modified,
            ..OrderQuery::default()
        };
        let page = ports
            .woo
            .orders_page(&link.store_url, creds, &query, page_no, super::PAGE_SIZE)
            .await?;
        polled.pages += 1;
        let bodies: Vec<String> = page
            .orders
            .iter()
            .filter(|o| sent.insert(o.id))
            .filter_map(|o| order_message(ports, link, &o.raw, Source::Poll))
            .collect();
        polled.queued += bodies.len() as u64;
        ports
            .orders
            .send_many_grouped(bodies, link.tenant.as_str())
            .await?;
        let times: Vec<DateTime<Utc>> = page
            .orders
            .iter()
            .filter_map(|o| o.modified.as_deref().and_then(parse_woo_time))
            .collect();
        let (Some(oldest), Some(newest)) = (times.iter().min(), times.iter().max()) else {
            return Ok(());
        };
        if (page.orders.len() as u32) < super::PAGE_SIZE {
            // Everything modified up to the newest order seen is queued.
            advance(state, *newest);
            return Ok(());
        }
        if *newest <= cursor {
            // Nothing listed is after the cursor: the store ignores `modified_after`.
            return Err(ignores_modified_after());
        }
        if oldest == newest {
            // A whole page of one second (a bulk edit): the next page of the same listing.
            page_no += 1;
            if page_no > MAX_PAGES_IN_ONE_SECOND {
                return Err(Halt::Store(WooError::Unreachable(
                    "the store lists more than 10,000 orders modified in one second".into(),
                )));
            }
        } else {
            // Everything before the newest second is queued: read on from just before it
            // (what was sent is not sent twice). A store that honours `modified_after` always
            // moves the cursor on from page 1; one that does not would keep it in place.
            let next = *newest - chrono::Duration::seconds(1);
            if next <= cursor && page_no == 1 {
                return Err(ignores_modified_after());
            }
            cursor = next;
            page_no = 1;
            advance(state, cursor);
            // Saved per page: a poll that dies later keeps what it did.
            if let Some(saved) = save(ports, state.clone()).await? {
                *state = saved;
            }
        }
    }
}

fn ignores_modified_after() -> Halt {
    Halt::Store(WooError::Unreachable(
        "the store's order list ignores modified_after".into(),
    ))
}

/// The webhook check of a run, recorded on `state`: refused keys end the run.
async fn check_webhooks(
    ports: &CatchUp<'_>,
    link: &Link,
    creds: &crate::woocommerce::WooCredentials,
    state: &mut Reconciliation,
    polled: &mut Polled,
) -> std::result::Result<(), Halt> {
    let healed = heal_webhooks(ports, link, creds, ports.settings.public_base.as_deref()).await;
    state.webhooks_checked_at = Some(Utc::now());
    match healed {
        Ok(h) => {
            state.webhooks = Some(h.health);
            state.repairs += h.repairs;
            polled.repairs = h.repairs;
            if h.webhook_ids != link.webhook_ids {
                remember_webhooks(ports, link, h.webhook_ids).await;
            }
        }
        Err(Halt::Store(WooError::AuthFailed)) => return Err(WooError::AuthFailed.into()),
        Err(Halt::Ours(e)) => return Err(Halt::Ours(e)),
        // The orders are still read: that is what recovers what broken webhooks lose.
        Err(Halt::Store(e)) => {
            state.webhooks = Some(WebhookHealth::Failing);
            tracing::warn!(store = %link.store_id, error = %e, "the store's webhooks could not be checked or repaired");
        }
    }
    Ok(())
}

/// Moves the watermark forward to `to` (never back).
fn advance(state: &mut Reconciliation, to: DateTime<Utc>) {
    let current = state.watermark.as_deref().and_then(parse_woo_time);
    if current.is_none_or(|c| to > c) {
        state.watermark = Some(woo_time(to));
    }
}

/// Saves `state` at its next revision: `None` when another poll saved first.
async fn save(ports: &CatchUp<'_>, mut state: Reconciliation) -> Result<Option<Reconciliation>> {
    let expected = (state.revision > 0).then_some(state.revision);
    state.revision += 1;
    match ports
        .reconciliations
        .save_reconciliation(&state, expected)
        .await
    {
        Ok(()) => Ok(Some(state)),
        Err(e) if e.kind() == ErrorKind::Conflict => Ok(None),
        Err(e) => Err(e),
    }
}

/// Records the repaired webhook ids on the link (a disconnect removes those); a link that
/// changed meanwhile keeps its own (the next poll looks again).
async fn remember_webhooks(ports: &CatchUp<'_>, link: &Link, ids: Vec<u64>) {
    let next = Link {
        webhook_ids: ids,
        updated_at: Utc::now(),
        revision: link.revision + 1,
        ..link.clone()
    };
    if let Err(e) = ports.links.save_link(&next, Some(link.revision)).await {
        tracing::info!(store = %link.store_id, error = %e.message(), "the link changed meanwhile; its webhook ids are left for the next poll");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_only_moves_forward() {
        let mut r = Reconciliation::new(StoreId::parse("st_1").unwrap());
        let t = parse_woo_time("2026-11-29T10:00:05").unwrap();
        advance(&mut r, t);
        advance(&mut r, t - chrono::Duration::seconds(60));
        assert_eq!(r.watermark.as_deref(), Some("2026-11-29T10:00:05"));
        advance(&mut r, t + chrono::Duration::seconds(1));
        assert_eq!(r.watermark.as_deref(), Some("2026-11-29T10:00:06"));
    }
}
