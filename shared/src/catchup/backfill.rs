//! The backfill: orders that existed before the link (or were missed by the webhooks). A run
//! is one record per store (`BackfillRun`) holding its cursor, advanced one store page (100
//! orders, `orderby=id`: orders created meanwhile land on later pages, never shift earlier
//! ones) at a time, each page's orders sent to the orders queue. A run stopped anywhere
//! continues from its cursor, never page 1.

use chrono::Utc;
use rand::RngCore;

use super::{order_message, store_error, tenant_active, CatchUp, Job, Starting};
use crate::domain::{parse_woo_time, woo_time, StoreId, TriggerStatus};
use crate::envelope::Source;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{BackfillRun, BackfillState};
use crate::ports::Backfills;
use crate::secrets::keyed_link;
use crate::woocommerce::{OrderQuery, WooError};

/// Orders per store page (WooCommerce's maximum).
pub const PAGE_SIZE: u32 = 100;

/// Most orders one backfill reads, whatever the store counts (10 million: 100,000 pages).
const MAX_ORDERS: u64 = 10_000_000;

/// Which orders to backfill.
#[derive(Clone, Debug, Default)]
pub struct BackfillRequest {
    /// WooCommerce statuses; the link's trigger statuses when absent.
    pub statuses: Option<Vec<String>>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub dry_run: bool,
}

impl BackfillRequest {
    /// A request from what a client sent: statuses as WooCommerce names them (`wc-` prefix
    /// optional, 1 to 20), times as RFC 3339 (any offset) or WooCommerce's
    /// `YYYY-MM-DDTHH:MM:SS` (GMT), `created_after` before `created_before`.
    pub fn parse(
        statuses: Option<&[String]>,
        created_after: Option<&str>,
        created_before: Option<&str>,
        dry_run: bool,
    ) -> Result<Self> {
        let statuses = match statuses {
            None => None,
            Some(list) if list.is_empty() || list.len() > 20 => {
                return Err(Error::invalid_request(
                    "statuses must name 1 to 20 statuses",
                ))
            }
            Some(list) => Some(
                list.iter()
                    .map(|s| woo_status(s))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let after = created_after
            .map(|t| requested_time("createdAfter", t))
            .transpose()?;
        let before = created_before
            .map(|t| requested_time("createdBefore", t))
            .transpose()?;
        if let (Some(a), Some(b)) = (after, before) {
            if a >= b {
                return Err(Error::invalid_request(
                    "createdAfter must be earlier than createdBefore",
                ));
            }
        }
        Ok(Self {
            statuses,
            created_after: after.map(woo_time),
            created_before: before.map(woo_time),
            dry_run,
        })
    }
}

/// A WooCommerce status as a listing takes it: the rule trigger statuses follow.
fn woo_status(raw: &str) -> Result<String> {
    TriggerStatus::parse(raw)
        .map(|s| s.as_str().to_owned())
        .map_err(|_| {
            Error::invalid_request(format!(
                "statuses: {raw:?} is not a WooCommerce order status"
            ))
        })
}

fn requested_time(field: &str, raw: &str) -> Result<chrono::DateTime<Utc>> {
    parse_woo_time(raw).ok_or_else(|| {
        Error::invalid_request(format!(
            "{field} must be a time such as 2026-11-01T00:00:00Z"
        ))
    })
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
        ..OrderQuery::default()
    }
}

/// Starts a backfill of a linked store that holds WooCommerce keys (one per store at a time:
/// a second start while one runs is a `Conflict`), or, as a dry run, counts what it would
/// send.
pub async fn start_backfill(
    ports: &Starting<'_>,
    store: &StoreId,
    request: BackfillRequest,
) -> Result<Started> {
    let (link, creds) = keyed_link(ports.links, ports.secrets, store).await?;
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
    let job = Job::Backfill {
        store_id: store.clone(),
        run_id: run.run_id.clone(),
    };
    if let Err(e) = job.enqueue(ports.jobs).await {
        // No job carries it: the run ends now, so the store is not held by a run nobody runs.
        fail_run(
            ports.backfills,
            store,
            &run.run_id,
            "the backfill could not be queued",
        )
        .await?;
        return Err(e);
    }
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
    let (link, creds) = match keyed_link(ports.links, ports.secrets, store).await {
        Ok(found) => found,
        Err(e) => return finish(ports.backfills, run, Err(e.message().to_owned())).await,
    };
    if !tenant_active(ports, &link).await? {
        return finish(ports.backfills, run, Err("the tenant is not active".into())).await;
    }
    let mut pages = 0;
    // A hostile or broken store (one that ignores `page`) must not keep a run going: full
    // pages with nothing new, other than those re-read after stepping back, end it.
    let (mut stale, mut grace) = (0u32, 0u32);
    while pages < max_pages {
        let cap = run.matched.min(MAX_ORDERS).div_ceil(u64::from(PAGE_SIZE)) + 10;
        if u64::from(run.next_page) > cap {
            return finish(
                ports.backfills,
                run,
                Err("the store's paging does not end (more pages than it counts)".into()),
            )
            .await;
        }
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
                return finish(
                    ports.backfills,
                    run,
                    Err("the store refused the API keys".into()),
                )
                .await
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
            grace = grace.saturating_add(back).saturating_add(1);
            continue;
        }
        run.matched = page.total;
        let after = run.last_id;
        let fresh = page.orders.iter().any(|o| o.id > after);
        if fresh {
            stale = 0;
        } else if grace > 0 {
            grace -= 1;
        } else if page.orders.len() as u32 >= PAGE_SIZE {
            stale += 1;
            if stale >= 3 {
                return finish(
                    ports.backfills,
                    run,
                    Err("the store repeats pages (it does not honour page numbers)".into()),
                )
                .await;
            }
        }
        let mut bodies = Vec::with_capacity(page.orders.len());
        for row in page.orders.iter().filter(|o| o.id > after) {
            bodies.extend(order_message(ports, &link, &row.raw, Source::Backfill));
            run.last_id = run.last_id.max(row.id);
        }
        run.queued += bodies.len() as u64;
        ports
            .orders
            .send_many_grouped(bodies, link.tenant.as_str())
            .await?;
        let last_page = u64::from(run.next_page) >= page.total_pages;
        run.next_page += 1;
        if last_page || page.orders.is_empty() {
            return finish(ports.backfills, run, Ok(()))
                .await
                .map(|s| Stepped { pages, ..s });
        }
        run = save(ports.backfills, run).await?;
    }
    Ok(Stepped { run, pages })
}

async fn save(backfills: &dyn Backfills, mut run: BackfillRun) -> Result<BackfillRun> {
    let expected = run.revision;
    run.revision += 1;
    backfills.save_backfill(&run, Some(expected)).await?;
    Ok(run)
}

async fn finish(
    backfills: &dyn Backfills,
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
    let run = save(backfills, run).await?;
    tracing::info!(store = %run.store_id, run = %run.run_id, state = run.state.as_str(), queued = run.queued, "backfill finished");
    Ok(Stepped { run, pages: 0 })
}

/// Marks run `run_id` failed with `why` (its jobs kept failing), unless it moved on.
pub(crate) async fn fail_run(
    backfills: &dyn Backfills,
    store: &StoreId,
    run_id: &str,
    why: &str,
) -> Result<()> {
    match backfills.get_backfill(store).await? {
        Some(run) if run.run_id == run_id && run.state == BackfillState::Running => {
            finish(backfills, run, Err(why.to_owned()))
                .await
                .map(|_| ())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_and_normalised() {
        let r = BackfillRequest::parse(
            Some(&["wc-processing".to_owned(), "on-hold".to_owned()]),
            Some("2026-11-01T01:00:00+01:00"),
            Some("2026-11-02T00:00:00"),
            true,
        )
        .unwrap();
        assert_eq!(
            r.statuses.as_deref(),
            Some(&["processing".to_owned(), "on-hold".to_owned()][..])
        );
        assert_eq!(r.created_after.as_deref(), Some("2026-11-01T00:00:00"));
        assert_eq!(r.created_before.as_deref(), Some("2026-11-02T00:00:00"));
        assert!(r.dry_run);
        type Asked<'a> = (Option<&'a [String]>, Option<&'a str>, Option<&'a str>);
        let bad: [Asked<'_>; 5] = [
            (Some(&[]), None, None),
            (Some(&["Processing!".to_owned()]), None, None),
            (None, Some("yesterday"), None),
            (
                None,
                Some("2026-11-02T00:00:00Z"),
                Some("2026-11-01T00:00:00Z"),
            ),
            (None, None, Some("2026-13-01T00:00:00Z")),
        ];
        for (statuses, after, before) in bad {
            let e = BackfillRequest::parse(statuses, after, before, false).unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::InvalidRequest,
                "{statuses:?} {after:?} {before:?}"
            );
        }
    }
}
