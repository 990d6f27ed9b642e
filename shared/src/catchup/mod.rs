//! Catching up with a store, for orders whose webhook never came: the **backfill** of orders
//! that existed before the link (`backfill`), the **reconciliation poll** of orders modified
//! since the last one, and the repair of woolink's webhooks on the store (`poll`,
//! `webhooks`). Both feed the orders queue exactly as the intake does (same envelope,
//! `source: backfill | poll`), so the worker's state machine deduplicates them against
//! webhooks and the tenant hears of each change once.
//!
//! The work is cut into jobs (`Job`) on the catch-up queue, each bounded (pages per job), a
//! job that did not finish sending its own continuation: a Lambda call lasts at most 15
//! minutes, a store may have 200,000 orders. A fan-out (`fan_out`, on a schedule) sends one
//! poll job per store that holds keys, read from an index.

mod backfill;
mod poll;
mod webhooks;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use backfill::{backfill_step, start_backfill, BackfillRequest, Started, Stepped, PAGE_SIZE};
pub use poll::{poll_store, Polled};
pub use webhooks::{heal_webhooks, Healed};

use crate::crypto::SecretBox;
use crate::domain::StoreId;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{BackfillState, Link};
use crate::ports::{Backfills, Links, Queue, Reconciliations, Tenants};
use crate::woocommerce::{WooClient, WooError};

/// How catch-up work is cut and paced.
#[derive(Clone, Debug)]
pub struct CatchUpSettings {
    /// Store pages (of 100 orders) one backfill or poll job reads before handing on.
    pub pages_per_job: u32,
    /// How far before its watermark a poll reads again (clock skew, WooCommerce's write lag).
    pub overlap: Duration,
    /// How long a poll holds its store (one poll per store at a time).
    pub lease: Duration,
    /// Receives of a failing backfill job before the run is marked failed.
    pub max_receives: u32,
    /// The API's public base URL, for recreating a webhook the store lost when no sibling
    /// shows the delivery URL (`WOOLINK_PUBLIC_URL`).
    pub public_base: Option<String>,
}

impl Default for CatchUpSettings {
    fn default() -> Self {
        Self {
            pages_per_job: 50,
            overlap: Duration::from_secs(120),
            lease: Duration::from_secs(300),
            max_receives: 5,
            public_base: None,
        }
    }
}

/// The ports catch-up work uses.
pub struct CatchUp<'a> {
    pub tenants: &'a dyn Tenants,
    pub links: &'a dyn Links,
    pub backfills: &'a dyn Backfills,
    pub reconciliations: &'a dyn Reconciliations,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// The orders queue (what the worker reads).
    pub orders: &'a dyn Queue,
    /// The catch-up queue (jobs and their continuations).
    pub jobs: &'a dyn Queue,
    pub max_message_bytes: usize,
    pub settings: &'a CatchUpSettings,
    /// The catalogue (imports and inventory pushes run as catch-up jobs too).
    pub catalogue: &'a dyn crate::ports::Catalogue,
    pub order_records: &'a dyn crate::ports::OrderSyncs,
    pub shipments: &'a dyn crate::ports::Shipments,
}

/// The ports starting a backfill uses (the connect function and the operator CLI).
pub struct Starting<'a> {
    pub links: &'a dyn Links,
    pub backfills: &'a dyn Backfills,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// The catch-up queue, where the run's first job goes.
    pub jobs: &'a dyn Queue,
}

impl CatchUp<'_> {
    /// The part of these ports the catalogue's jobs use.
    pub fn cataloguing(&self) -> crate::catalogue::Cataloguing<'_> {
        crate::catalogue::Cataloguing {
            links: self.links,
            catalogue: self.catalogue,
            orders: self.order_records,
            shipments: self.shipments,
            secrets: self.secrets,
            woo: self.woo,
            events: self.orders,
            jobs: self.jobs,
            pages_per_job: self.settings.pages_per_job,
        }
    }

    /// The part of these ports that starts a backfill.
    pub fn starting(&self) -> Starting<'_> {
        Starting {
            links: self.links,
            backfills: self.backfills,
            secrets: self.secrets,
            woo: self.woo,
            jobs: self.jobs,
        }
    }
}

/// One unit of catch-up work, as a message on the catch-up queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "camelCase")]
pub enum Job {
    /// Carry backfill run `run_id` of the store on from its cursor.
    #[serde(rename_all = "camelCase")]
    Backfill { store_id: StoreId, run_id: String },
    /// Repair the store's webhooks and read the orders modified since its watermark; or,
    /// with `resume`, carry on reading where the job before stopped.
    #[serde(rename_all = "camelCase")]
    Poll {
        store_id: StoreId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<PollCursor>,
    },
    /// Carry catalogue import `run_id` of the store on from its next page.
    #[serde(rename_all = "camelCase")]
    Catalogue { store_id: StoreId, run_id: String },
    /// Apply inventory push `job_id` of the store from its next chunk.
    #[serde(rename_all = "camelCase")]
    Inventory { store_id: StoreId, job_id: String },
}

/// Where a poll that ran out of pages stopped: the listing's `modified_after` and page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollCursor {
    pub modified_after: String,
    pub page: u32,
}

/// The message group of the reconciliation poll's fan-out.
pub const POLL_GROUP: &str = "poll";

impl Job {
    /// Its message group in the jobs queue: the store's (a store's backfill or import does
    /// not hold the others').
    pub fn group(&self) -> &str {
        match self {
            Self::Backfill { store_id, .. }
            | Self::Poll { store_id, .. }
            | Self::Catalogue { store_id, .. }
            | Self::Inventory { store_id, .. } => store_id.as_str(),
        }
    }

    /// Sends the job to the jobs queue, in its group.
    pub async fn enqueue(&self, jobs: &dyn Queue) -> Result<()> {
        jobs.send_grouped(self.encode(), self.group())
            .await
            .map(|_| ())
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(raw: &str) -> Result<Self> {
        serde_json::from_str(raw)
            .map_err(|e| Error::invalid_request(format!("not a catch-up job: {e}")))
    }

    pub fn store_id(&self) -> &StoreId {
        match self {
            Self::Backfill { store_id, .. }
            | Self::Poll { store_id, .. }
            | Self::Catalogue { store_id, .. }
            | Self::Inventory { store_id, .. } => store_id,
        }
    }
}

/// Runs one job received for the `receive_count`-th time. An error leaves the message to come
/// back (SQS's visibility timeout); a job that cannot succeed ends with a reason recorded
/// (a backfill run marked failed after `max_receives`, a poll's `last_error`) and `Ok`.
pub async fn run_job(ports: &CatchUp<'_>, job: &Job, receive_count: u32) -> Result<()> {
    match job {
        Job::Backfill { store_id, run_id } => {
            match backfill_step(ports, store_id, run_id, ports.settings.pages_per_job).await {
                Ok(step) if step.run.state == BackfillState::Running => {
                    job.enqueue(ports.jobs).await?;
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) if receive_count >= ports.settings.max_receives => {
                    backfill::fail_run(ports.backfills, store_id, run_id, e.message()).await
                }
                Err(e) => Err(e),
            }
        }
        Job::Poll { store_id, resume } => {
            let polled = poll_store(ports, store_id, resume.clone()).await?;
            if let Some(next) = polled.next {
                let job = Job::Poll {
                    store_id: store_id.clone(),
                    resume: Some(next),
                };
                job.enqueue(ports.jobs).await?;
            }
            Ok(())
        }
        Job::Catalogue { store_id, run_id } => {
            let cataloguing = ports.cataloguing();
            match crate::catalogue::import_step(&cataloguing, store_id, run_id).await {
                Ok(_) => Ok(()),
                Err(e) if receive_count >= ports.settings.max_receives => {
                    crate::catalogue::give_up_import(
                        ports.catalogue,
                        store_id,
                        run_id,
                        &e.to_string(),
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        Job::Inventory { store_id, job_id } => {
            let cataloguing = ports.cataloguing();
            match crate::catalogue::inventory_step(&cataloguing, store_id, job_id).await {
                Ok(_) => Ok(()),
                Err(e) if receive_count >= ports.settings.max_receives => {
                    crate::catalogue::give_up_inventory(
                        ports.catalogue,
                        store_id,
                        job_id,
                        &e.to_string(),
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Sends one poll job per store the poll visits (connected, holding keys), read page by page
/// from an index: returns how many. Run on a schedule.
pub async fn fan_out(links: &dyn Links, jobs: &dyn Queue) -> Result<u64> {
    let mut cursor = None;
    let mut sent = 0u64;
    loop {
        let (stores, next) = links.pollable_stores(cursor, 500).await?;
        let bodies: Vec<String> = stores
            .into_iter()
            .map(|store_id| {
                Job::Poll {
                    store_id,
                    resume: None,
                }
                .encode()
            })
            .collect();
        sent += bodies.len() as u64;
        if !bodies.is_empty() {
            // One group for the whole fan-out: a fair queue lets the backfills, imports and
            // pushes of other stores (each in its store's group) past this flood.
            jobs.send_many_grouped(bodies, POLL_GROUP).await?;
        }
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    tracing::info!(stores = sent, "reconciliation poll fanned out");
    Ok(sent)
}

pub(crate) fn store_error(e: WooError) -> Error {
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

/// Why a store's catch-up run stopped short: the store (recorded on the run, which ends), or
/// woolink's own table or queue (returned, so the job comes back).
#[derive(Debug)]
pub enum Halt {
    Store(WooError),
    Ours(Error),
}

impl From<WooError> for Halt {
    fn from(e: WooError) -> Self {
        Self::Store(e)
    }
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Self::Ours(e)
    }
}

/// Whether the link's tenant is active: a deactivated tenant's stores are not read (their
/// orders would only be parked by the worker).
pub(crate) async fn tenant_active(ports: &CatchUp<'_>, link: &Link) -> Result<bool> {
    Ok(ports
        .tenants
        .get_tenant(&link.tenant)
        .await?
        .is_some_and(|t| t.active))
}

/// The orders-queue message for `raw` (an order as the store listed it), as its webhook
/// would have made it: `None` when it is not an order (skipped, with a log line).
pub(crate) fn order_message(
    ports: &CatchUp<'_>,
    link: &Link,
    raw: &str,
    source: crate::envelope::Source,
) -> Option<String> {
    let message = crate::intake::message_for(
        crate::intake::OrderBody {
            store_id: &link.store_id,
            tenant: &link.tenant,
            topic: crate::domain::WooTopic::OrderUpdated,
            body: raw.as_bytes(),
            source,
        },
        true,
        ports.max_message_bytes,
    );
    match message {
        Ok(m) => Some(m.body),
        Err(e) => {
            tracing::warn!(store = %link.store_id, error = %e.message(), source = source.as_str(), "an order the store listed was skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_travel_as_small_tagged_json() {
        let job = Job::Backfill {
            store_id: StoreId::parse("st_1").unwrap(),
            run_id: "bf_1".into(),
        };
        assert_eq!(
            job.encode(),
            r#"{"job":"backfill","storeId":"st_1","runId":"bf_1"}"#
        );
        assert_eq!(Job::decode(&job.encode()).unwrap(), job);
        let poll = Job::Poll {
            store_id: StoreId::parse("st_2").unwrap(),
            resume: None,
        };
        assert_eq!(poll.encode(), r#"{"job":"poll","storeId":"st_2"}"#);
        let resumed = Job::Poll {
            store_id: StoreId::parse("st_2").unwrap(),
            resume: Some(PollCursor {
                modified_after: "2026-11-29T10:00:00".into(),
                page: 2,
            }),
        };
        assert_eq!(
            resumed.encode(),
            r#"{"job":"poll","storeId":"st_2","resume":{"modifiedAfter":"2026-11-29T10:00:00","page":2}}"#
        );
        assert_eq!(Job::decode(&resumed.encode()).unwrap(), resumed);
        for bad in [
            "",
            "{}",
            r#"{"job":"dance","storeId":"st_1"}"#,
            r#"{"job":"poll","storeId":"../x"}"#,
        ] {
            assert!(Job::decode(bad).is_err(), "{bad}");
        }
    }
}
