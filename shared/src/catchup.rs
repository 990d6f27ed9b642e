//! Catching up with a store: the backfill of orders that existed before (or were missed by)
//! the webhooks. A run is one record per store (`BackfillRun`) holding its cursor, advanced one
//! store page (100 orders) at a time, each page's orders sent to the orders queue as their
//! webhooks would have been (`source: backfill`), so the worker's state machine deduplicates
//! them against webhooks. A run stopped anywhere continues from its cursor, never page 1.
//!
//! Not yet wired to a route, a function or a queue of its own (issue 15): `start_backfill`
//! and `backfill_step` are the use cases those will call.

use chrono::Utc;
use rand::RngCore;

use crate::crypto::SecretBox;
use crate::domain::{StoreId, WooTopic};
use crate::envelope::Source;
use crate::error::{Error, ErrorKind, Result};
use crate::intake::{message_for, OrderBody};
use crate::model::{BackfillRun, BackfillState, Link};
use crate::ports::{Backfills, Links, Queue};
use crate::secrets::open_woo_keys;
use crate::woocommerce::{OrderQuery, WooClient, WooCredentials, WooError};

/// Orders per store page (WooCommerce's maximum).
pub const PAGE_SIZE: u32 = 100;

/// The ports a backfill uses.
pub struct CatchUp<'a> {
    pub links: &'a dyn Links,
    pub backfills: &'a dyn Backfills,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// The orders queue.
    pub orders: &'a dyn Queue,
    pub max_message_bytes: usize,
}

/// Which orders to backfill.
#[derive(Clone, Debug, Default)]
pub struct BackfillRequest {
    /// WooCommerce statuses; the link's trigger statuses when absent.
    pub statuses: Option<Vec<String>>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub dry_run: bool,
}

/// What starting a backfill did.
#[derive(Clone, Debug, PartialEq)]
pub enum Started {
    /// A dry run: how many orders match, as the store counts them (one request).
    DryRun { matching: u64 },
    /// A run was recorded; `backfill_step` carries it out.
    Running(BackfillRun),
}

fn query_of(run: &BackfillRun) -> OrderQuery {
    OrderQuery {
        statuses: run.statuses.clone(),
        created_after: run.created_after.clone(),
        created_before: run.created_before.clone(),
        modified_after: None,
    }
}

fn store_error(e: WooError) -> Error {
    match e {
        WooError::AuthFailed => Error::new(
            ErrorKind::WooCommerceAuthFailed,
            "the store refused the WooCommerce API keys",
        ),
        other => Error::new(
            ErrorKind::WooCommerceUnreachable,
            format!("the store's order list could not be read ({other})"),
        ),
    }
}

async fn keyed_link(ports: &CatchUp<'_>, store: &StoreId) -> Result<(Link, WooCredentials)> {
    let link = ports
        .links
        .get_link(store)
        .await?
        .filter(Link::is_connected)
        .ok_or_else(|| Error::new(ErrorKind::StoreNotFound, "this store is not linked"))?;
    let creds = open_woo_keys(ports.secrets, &link)?.ok_or_else(|| {
        Error::invalid_request("a backfill needs the store's WooCommerce keys on the link")
    })?;
    Ok((link, creds))
}

/// Starts a backfill of a linked store that holds WooCommerce keys (one per store at a time:
/// a second start while one runs is a `Conflict`), or, as a dry run, counts what it would
/// send.
pub async fn start_backfill(
    ports: &CatchUp<'_>,
    store: &StoreId,
    request: BackfillRequest,
) -> Result<Started> {
    let (link, creds) = keyed_link(ports, store).await?;
    let statuses = request.statuses.unwrap_or_else(|| {
        link.trigger_statuses
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect()
    });
    let existing = ports.backfills.get_backfill(store).await?;
    let now = Utc::now();
    let mut id = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let run = BackfillRun {
        store_id: store.clone(),
        run_id: format!("bf_{}", hex::encode(id)),
        state: BackfillState::Running,
        statuses,
        created_after: request.created_after,
        created_before: request.created_before,
        matched: 0,
        queued: 0,
        next_page: 1,
        last_id: 0,
        started_at: now,
        finished_at: None,
        error: None,
        revision: existing.as_ref().map_or(1, |r| r.revision + 1),
    };
    let count = ports
        .woo
        .orders_page(&link.store_url, &creds, &query_of(&run), 1, 1)
        .await
        .map_err(store_error)?;
    if request.dry_run {
        return Ok(Started::DryRun {
            matching: count.total,
        });
    }
    if existing
        .as_ref()
        .is_some_and(|r| r.state == BackfillState::Running)
    {
        return Err(Error::new(
            ErrorKind::Conflict,
            "a backfill of this store is already running",
        ));
    }
    let run = BackfillRun {
        matched: count.total,
        ..run
    };
    ports
        .backfills
        .save_backfill(&run, existing.as_ref().map(|r| r.revision))
        .await?;
    tracing::info!(store = %store, run = %run.run_id, matched = run.matched, "backfill started");
    Ok(Started::Running(run))
}

/// What one step did.
#[derive(Clone, Debug, PartialEq)]
pub struct Stepped {
    pub run: BackfillRun,
    /// Pages read in this step.
    pub pages: u32,
}

/// Carries run `run_id` of `store` forward by at most `max_pages` pages: each page's orders
/// past the cursor go to the orders queue, then the cursor is saved (so a step that dies
/// mid-page sends that page again — harmless, the worker deduplicates — and never an earlier
/// one). When orders were deleted meanwhile and the store's count went down, the cursor steps
/// back by as many pages, and the ids already sent are skipped. A step for a run that is no
/// longer current or running does nothing.
pub async fn backfill_step(
    ports: &CatchUp<'_>,
    store: &StoreId,
    run_id: &str,
    max_pages: u32,
) -> Result<Stepped> {
    let Some(mut run) = ports.backfills.get_backfill(store).await? else {
        return Err(Error::new(
            ErrorKind::NotFound,
            "no backfill for this store",
        ));
    };
    if run.run_id != run_id || run.state != BackfillState::Running {
        return Ok(Stepped { run, pages: 0 });
    }
    let (link, creds) = match keyed_link(ports, store).await {
        Ok(found) => found,
        Err(e) => return finish(ports, run, Err(e.message().to_owned())).await,
    };
    let mut pages = 0;
    while pages < max_pages {
        let page = match ports
            .woo
            .orders_page(
                &link.store_url,
                &creds,
                &query_of(&run),
                run.next_page,
                PAGE_SIZE,
            )
            .await
        {
            Ok(p) => p,
            // Keys that stopped working end the run with a reason; anything else is tried
            // again by the caller from the saved cursor.
            Err(WooError::AuthFailed) => {
                return finish(ports, run, Err("the store refused the API keys".into())).await
            }
            Err(e) => return Err(store_error(e)),
        };
        pages += 1;
        if page.total < run.matched {
            // Deleted orders moved later ones onto earlier pages: step back over them.
            let gone = run.matched - page.total;
            let back = u32::try_from(gone.div_ceil(u64::from(PAGE_SIZE))).unwrap_or(u32::MAX);
            run.next_page = run.next_page.saturating_sub(back).max(1);
            run.matched = page.total;
            continue;
        }
        run.matched = page.total;
        let mut sent = 0;
        let after = run.last_id;
        for (id, raw) in page.orders.iter().filter(|(id, _)| *id > after) {
            let message = message_for(
                OrderBody {
                    store_id: store,
                    tenant: &link.tenant,
                    topic: WooTopic::OrderUpdated,
                    body: raw.as_bytes(),
                    source: Source::Backfill,
                },
                true,
                ports.max_message_bytes,
            );
            match message {
                Ok(m) => {
                    ports.orders.send(m.body).await?;
                    sent += 1;
                }
                // An order the store lists but that is not one (no id) is skipped, not fatal.
                Err(e) => {
                    tracing::warn!(store = %store, order = id, error = %e.message(), "backfill skipped an order")
                }
            }
            run.last_id = run.last_id.max(*id);
        }
        run.queued += sent;
        let last_page = u64::from(run.next_page) >= page.total_pages;
        run.next_page += 1;
        if last_page || page.orders.is_empty() {
            return finish(ports, run, Ok(()))
                .await
                .map(|s| Stepped { pages, ..s });
        }
        run = save(ports, run).await?;
    }
    Ok(Stepped { run, pages })
}

async fn save(ports: &CatchUp<'_>, mut run: BackfillRun) -> Result<BackfillRun> {
    let expected = run.revision;
    run.revision += 1;
    ports.backfills.save_backfill(&run, Some(expected)).await?;
    Ok(run)
}

async fn finish(
    ports: &CatchUp<'_>,
    mut run: BackfillRun,
    outcome: std::result::Result<(), String>,
) -> Result<Stepped> {
    run.finished_at = Some(Utc::now());
    match outcome {
        Ok(()) => run.state = BackfillState::Done,
        Err(why) => {
            run.state = BackfillState::Failed;
            run.error = Some(why);
        }
    }
    let run = save(ports, run).await?;
    tracing::info!(store = %run.store_id, run = %run.run_id, state = run.state.as_str(), queued = run.queued, "backfill finished");
    Ok(Stepped { run, pages: 0 })
}
