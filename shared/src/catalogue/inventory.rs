//! Inventory pushes: a tenant's snapshot of available quantities by SKU, applied to the
//! store's stock in chunks. Per chunk: SKUs resolved through the catalogue (a miss looked up
//! in the store), the current stock read back (≤ 100 a call), and only changed quantities
//! written through the batch endpoints (≤ 100 a call). Each SKU gets a result; the shop's
//! number having moved since woolink last wrote it is reported as drift; a snapshot older
//! than the last one applied to a SKU is ignored.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::import::upsert;
use super::product::{classify, Class, ItemDocument};
use super::{Cataloguing, Submitting, CHUNK, CHUNKS_PER_JOB, LOOKUPS_PER_CHUNK};
use crate::catchup::Job;
use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    BackfillState, CatalogueItem, InventoryChunk, InventoryJob, InventoryResult, Link,
};
use crate::order::WooOrder;
use crate::secrets::keyed_link;
use crate::woocommerce::{OrderQuery, StockLevel, WooCredentials, WooError, BATCH_LIMIT};

/// How long a push holds its store's stock (longer than a catch-up call may run).
const LEASE: std::time::Duration = std::time::Duration::from_secs(360);
/// How long a push waits before it asks again while another holds the store.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A validated inventory push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryRequest {
    pub snapshot_at: DateTime<Utc>,
    /// (SKU, available), each SKU once.
    pub items: Vec<(String, i64)>,
    pub net_of_open_orders: bool,
}

/// Records the push (in chunks) and queues its first job.
pub async fn submit_inventory(
    ports: &Submitting<'_>,
    store: &StoreId,
    request: InventoryRequest,
) -> Result<InventoryJob> {
    keyed_link(ports.links, ports.secrets, store).await?;
    let now = Utc::now();
    let job_id = format!(
        "inv_{}",
        &crate::crypto::sha256_hex(
            format!("{store}|{}", now.timestamp_nanos_opt().unwrap_or_default()).as_bytes()
        )[..16]
    );
    let chunks: Vec<&[(String, i64)]> = request.items.chunks(CHUNK).collect();
    for (index, items) in chunks.iter().enumerate() {
        ports
            .catalogue
            .put_inventory_chunk(&InventoryChunk {
                store_id: store.clone(),
                job_id: job_id.clone(),
                index: index as u32,
                items: items.to_vec(),
                results: Vec::new(),
                done: false,
            })
            .await?;
    }
    let job = InventoryJob {
        store_id: store.clone(),
        job_id: job_id.clone(),
        state: BackfillState::Running.as_str().into(),
        snapshot_at: request.snapshot_at,
        net_of_open_orders: request.net_of_open_orders,
        total: request.items.len() as u32,
        chunks: chunks.len() as u32,
        next_chunk: 0,
        counts: BTreeMap::new(),
        created_at: now,
        finished_at: None,
        error: None,
        revision: 1,
    };
    ports.catalogue.save_inventory_job(&job, None).await?;
    Job::Inventory {
        store_id: store.clone(),
        job_id,
    }
    .enqueue(ports.jobs)
    .await?;
    tracing::info!(%store, job = %job.job_id, skus = job.total, "inventory push accepted");
    Ok(job)
}

/// What to do with one SKU, given its catalogue record, the store's stock now and the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// An older snapshot than the one last applied to this SKU.
    Stale,
    NotManaged,
    Unchanged,
    /// Write `target`; `drifted_from` is what woolink last wrote when the shop moved since.
    Write {
        drifted_from: Option<i64>,
    },
}

/// The rule, pure: stale snapshots lose; unmanaged stock is left alone; an equal number is
/// not written; a number the shop moved since woolink's last write is drift (and is written).
pub fn plan_item(
    item: &CatalogueItem,
    current: StockLevel,
    target: i64,
    snapshot_at: DateTime<Utc>,
) -> Plan {
    if item.snapshot_at.is_some_and(|last| last > snapshot_at) {
        return Plan::Stale;
    }
    if !current.managed {
        return Plan::NotManaged;
    }
    if current.quantity == Some(target) {
        return Plan::Unchanged;
    }
    let drifted_from = item
        .written_quantity
        .filter(|w| current.quantity != Some(*w));
    Plan::Write { drifted_from }
}

fn result(sku: &str, kind: &str) -> InventoryResult {
    InventoryResult {
        sku: sku.to_owned(),
        result: kind.to_owned(),
        before: None,
        after: None,
        last_written: None,
        detail: None,
    }
}

/// Applies up to `CHUNKS_PER_JOB` chunks of job `job_id`, then hands on (or ends the job).
/// A chunk is recorded with its results before the job moves past it, so a job that dies
/// mid-chunk applies that chunk again — reading the stock back first, so nothing already
/// written is written twice.
pub async fn inventory_step(
    ports: &Cataloguing<'_>,
    store: &StoreId,
    job_id: &str,
) -> Result<bool> {
    let Some(mut job) = ports.catalogue.get_inventory_job(store, job_id).await? else {
        return Ok(true);
    };
    if job.state != BackfillState::Running.as_str() {
        return Ok(true);
    }
    // One push writes a store's stock at a time: two at once could each read a number, and
    // the older snapshot's write land after the newer one's. (In turn, the per-SKU snapshot
    // rule makes the newest win whichever runs first.)
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    if !ports
        .catalogue
        .take_inventory_lease(store, job_id, now, until)
        .await?
    {
        tracing::info!(%store, job = %job_id, "another inventory push of this store is running; waiting");
        let again = Job::Inventory {
            store_id: store.clone(),
            job_id: job_id.to_owned(),
        };
        ports
            .jobs
            .send_delayed_grouped(again.encode(), LEASE_WAIT, again.group())
            .await?;
        return Ok(false);
    }
    let (link, creds) = match keyed_link(ports.links, ports.secrets, store).await {
        Ok(found) => found,
        Err(e) => return fail(ports, job, e.message().to_owned()).await,
    };
    let mut catalogue: HashMap<String, Vec<CatalogueItem>> = HashMap::new();
    for item in ports.catalogue.catalogue_items(store).await? {
        if let (false, Some(sku)) = (item.deleted, item.sku.clone()) {
            catalogue.entry(sku).or_default().push(item);
        }
    }
    let committed = if job.net_of_open_orders {
        match committed_by_sku(ports, &link, &creds).await {
            Ok(c) => c,
            Err(e) => return store_error(ports, job, e).await,
        }
    } else {
        HashMap::new()
    };
    for _ in 0..CHUNKS_PER_JOB {
        if job.next_chunk >= job.chunks {
            break;
        }
        let Some(mut chunk) = ports
            .catalogue
            .get_inventory_chunk(store, job_id, job.next_chunk)
            .await?
        else {
            let why = format!("chunk {} is missing", job.next_chunk);
            return fail(ports, job, why).await;
        };
        if !chunk.done {
            match apply_chunk(
                ports,
                &link,
                &creds,
                &job,
                &chunk.items,
                &mut catalogue,
                &committed,
            )
            .await
            {
                Ok(results) => {
                    chunk.results = results;
                    chunk.done = true;
                    ports.catalogue.put_inventory_chunk(&chunk).await?;
                }
                Err(e) => return store_error(ports, job, e).await,
            }
        }
        for r in &chunk.results {
            *job.counts.entry(r.result.clone()).or_default() += 1;
        }
        job.next_chunk += 1;
        save(ports, &mut job).await?;
    }
    if job.next_chunk >= job.chunks {
        job.state = BackfillState::Done.as_str().into();
        job.finished_at = Some(Utc::now());
        save(ports, &mut job).await?;
        ports
            .catalogue
            .release_inventory_lease(store, job_id)
            .await?;
        tracing::info!(%store, job = %job.job_id, counts = ?job.counts, "inventory push applied");
        return Ok(true);
    }
    Job::Inventory {
        store_id: store.clone(),
        job_id: job_id.to_owned(),
    }
    .enqueue(ports.jobs)
    .await?;
    Ok(false)
}

/// A SKU whose new quantity is being written.
struct Pending {
    pos: usize,
    item: CatalogueItem,
    target: i64,
    before: Option<i64>,
    drifted_from: Option<i64>,
}

/// One chunk: every SKU's result, in the chunk's order.
async fn apply_chunk(
    ports: &Cataloguing<'_>,
    link: &Link,
    creds: &WooCredentials,
    job: &InventoryJob,
    items: &[(String, i64)],
    catalogue: &mut HashMap<String, Vec<CatalogueItem>>,
    committed: &HashMap<String, i64>,
) -> std::result::Result<Vec<InventoryResult>, WooError> {
    let mut results: Vec<Option<InventoryResult>> = vec![None; items.len()];
    // (parent or 0) → [(position, item, target)]
    let mut groups: BTreeMap<u64, Vec<(usize, CatalogueItem, i64)>> = BTreeMap::new();
    let mut lookups = 0;
    for (pos, (sku, available)) in items.iter().enumerate() {
        if !catalogue.contains_key(sku) && lookups < LOOKUPS_PER_CHUNK {
            lookups += 1;
            if let Some(found) = look_up(ports, link, creds, sku).await? {
                catalogue.insert(sku.clone(), vec![found]);
            }
        }
        let target = (available - committed.get(sku).copied().unwrap_or(0)).max(0);
        match catalogue.get(sku).map(Vec::as_slice) {
            None | Some([]) => results[pos] = Some(result(sku, "unknown_sku")),
            Some([item]) => {
                groups
                    .entry(item.parent_id)
                    .or_default()
                    .push((pos, item.clone(), target))
            }
            Some(many) => {
                let ids: Vec<String> = many.iter().map(|i| i.id.to_string()).collect();
                results[pos] = Some(InventoryResult {
                    detail: Some(format!("on items {}", ids.join(", "))),
                    ..result(sku, "duplicate_sku")
                });
            }
        }
    }
    for (parent, members) in groups {
        let parent = (parent != 0).then_some(parent);
        for part in members.chunks(BATCH_LIMIT) {
            let ids: Vec<u64> = part.iter().map(|(_, i, _)| i.id).collect();
            let levels: HashMap<u64, StockLevel> = ports
                .woo
                .stock_levels(&link.store_url, creds, parent, &ids)
                .await?
                .into_iter()
                .map(|l| (l.id, l))
                .collect();
            let mut writes: Vec<(u64, i64)> = Vec::new();
            let mut pending: HashMap<u64, Pending> = HashMap::new();
            for (pos, item, target) in part {
                let sku = item.sku.clone().unwrap_or_default();
                let Some(level) = levels.get(&item.id).copied() else {
                    results[*pos] = Some(InventoryResult {
                        detail: Some("the store no longer has this item".into()),
                        ..result(&sku, "unknown_sku")
                    });
                    continue;
                };
                match plan_item(item, level, *target, job.snapshot_at) {
                    Plan::Stale => {
                        results[*pos] = Some(InventoryResult {
                            before: level.quantity,
                            after: level.quantity,
                            ..result(&sku, "stale")
                        })
                    }
                    Plan::NotManaged => results[*pos] = Some(result(&sku, "not_managed")),
                    Plan::Unchanged => {
                        results[*pos] = Some(InventoryResult {
                            before: level.quantity,
                            after: level.quantity,
                            ..result(&sku, "unchanged")
                        });
                        remember(ports, item, level.quantity, *target, job.snapshot_at).await;
                    }
                    Plan::Write { drifted_from } => {
                        writes.push((item.id, *target));
                        pending.insert(
                            item.id,
                            Pending {
                                pos: *pos,
                                item: item.clone(),
                                target: *target,
                                before: level.quantity,
                                drifted_from,
                            },
                        );
                    }
                }
            }
            if writes.is_empty() {
                continue;
            }
            let written = ports
                .woo
                .set_stock(&link.store_url, creds, parent, &writes)
                .await?;
            let (mut stored, mut refused) = (0u32, 0u32);
            for (id, outcome) in written {
                if outcome.is_ok() {
                    stored += 1;
                } else {
                    refused += 1;
                }
                let Some(Pending {
                    pos,
                    item,
                    target,
                    before,
                    drifted_from,
                }) = pending.remove(&id)
                else {
                    continue;
                };
                let sku = item.sku.clone().unwrap_or_default();
                results[pos] = Some(match outcome {
                    Ok(level) => {
                        remember(ports, &item, level.quantity, target, job.snapshot_at).await;
                        InventoryResult {
                            before,
                            after: level.quantity,
                            last_written: drifted_from,
                            ..result(
                                &sku,
                                if drifted_from.is_some() {
                                    "drifted"
                                } else {
                                    "updated"
                                },
                            )
                        }
                    }
                    Err(code) => InventoryResult {
                        before,
                        detail: Some(format!("the store refused it ({code})")),
                        ..result(&sku, "failed")
                    },
                });
            }
            for (result, n) in [("stock_written", stored), ("stock_failed", refused)] {
                if n > 0 {
                    crate::metrics::emit(
                        &link.tenant,
                        Some(("Result", result)),
                        &[(crate::metrics::Metric::StoreWrites, f64::from(n))],
                    );
                }
            }
            for Pending {
                pos, item, before, ..
            } in pending.into_values()
            {
                results[pos] = Some(InventoryResult {
                    before,
                    detail: Some("the store's batch answer left it out".into()),
                    ..result(item.sku.as_deref().unwrap_or_default(), "failed")
                });
            }
        }
    }
    Ok(results
        .into_iter()
        .zip(items)
        .map(|(r, (sku, _))| r.unwrap_or_else(|| result(sku, "failed")))
        .collect())
}

/// Keeps what woolink wrote (or found already right) on the item: the next push compares with
/// it (drift) and no older snapshot overrides it. Best effort: a lost race leaves the record
/// as the other writer left it.
async fn remember(
    ports: &Cataloguing<'_>,
    item: &CatalogueItem,
    quantity: Option<i64>,
    target: i64,
    snapshot_at: DateTime<Utc>,
) {
    let next = CatalogueItem {
        quantity,
        written_quantity: Some(target),
        snapshot_at: Some(snapshot_at),
        updated_at: Utc::now(),
        revision: item.revision + 1,
        ..item.clone()
    };
    if let Err(e) = ports
        .catalogue
        .save_catalogue_item(&next, Some(item.revision))
        .await
    {
        tracing::warn!(store = %item.store_id, item = item.id, error = %e, "could not record the written stock");
    }
}

/// A SKU the catalogue does not know, asked of the store (a product imported since): recorded
/// (and sent to the tenant) when it is a sellable product.
async fn look_up(
    ports: &Cataloguing<'_>,
    link: &Link,
    creds: &WooCredentials,
    sku: &str,
) -> std::result::Result<Option<CatalogueItem>, WooError> {
    let Some(p) = ports
        .woo
        .product_by_sku(&link.store_url, creds, sku)
        .await?
    else {
        return Ok(None);
    };
    if classify(&p) != Class::Sellable {
        return Ok(None);
    }
    // `/products?sku=` finds variations too (most apparel SKUs are variations): their
    // document takes the parent's name, measures and SKU.
    let parent = if p.is_variation() {
        Some(
            ports
                .woo
                .get_product(&link.store_url, creds, p.parent_id)
                .await?,
        )
    } else {
        None
    };
    let units = ports
        .catalogue
        .get_catalogue_run(&link.store_id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.units)
        .unwrap_or_default();
    if let Err(e) = upsert(
        &ports.recording(),
        link,
        &ItemDocument::of(&p, parent.as_ref(), &units),
        &p,
    )
    .await
    {
        tracing::warn!(store = %link.store_id, error = %e, "could not record a product found by SKU");
        return Ok(None);
    }
    Ok(ports
        .catalogue
        .get_catalogue_item(&link.store_id, p.id)
        .await
        .ok()
        .flatten())
}

/// Quantities by SKU of the store's open orders (processing, on-hold) that woolink delivered
/// to the tenant, less what the tenant's shipments of them carry: what the warehouse still
/// holds for those orders.
async fn committed_by_sku(
    ports: &Cataloguing<'_>,
    link: &Link,
    creds: &WooCredentials,
) -> std::result::Result<HashMap<String, i64>, WooError> {
    let query = OrderQuery {
        statuses: vec!["processing".into(), "on-hold".into()],
        ..OrderQuery::default()
    };
    let mut committed: HashMap<String, i64> = HashMap::new();
    for page in 1..=50 {
        let listed = ports
            .woo
            .orders_page(&link.store_url, creds, &query, page, 100)
            .await?;
        for o in &listed.orders {
            let Ok(order) = WooOrder::parse(&o.raw) else {
                continue;
            };
            let id = OrderId::new(o.id);
            let delivered = ports
                .orders
                .get_order_sync(&link.store_id, id)
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.in_scope);
            if !delivered {
                continue;
            }
            let shipped: HashMap<u64, i64> = ports
                .shipments
                .list_shipments(&link.store_id, id)
                .await
                .unwrap_or_default()
                .iter()
                .filter(|s| s.state != crate::model::ShipmentState::Deleting)
                .flat_map(|s| s.items.iter())
                .filter_map(|i| i.line_item_id.map(|l| (l, i64::from(i.quantity))))
                .fold(HashMap::new(), |mut m, (l, q)| {
                    *m.entry(l).or_default() += q;
                    m
                });
            for line in &order.line_items {
                if let Some(sku) = &line.sku {
                    let open =
                        (line.quantity as i64 - shipped.get(&line.id).copied().unwrap_or(0)).max(0);
                    *committed.entry(sku.clone()).or_default() += open;
                }
            }
        }
        if u64::from(page) >= listed.total_pages {
            break;
        }
    }
    Ok(committed)
}

async fn save(ports: &Cataloguing<'_>, job: &mut InventoryJob) -> Result<()> {
    let expected = job.revision;
    job.revision += 1;
    match ports
        .catalogue
        .save_inventory_job(job, Some(expected))
        .await
    {
        Err(e) if e.kind() == ErrorKind::Conflict => Err(Error::unavailable(
            "the inventory job",
            "another worker moved it on",
        )),
        other => other,
    }
}

async fn fail(ports: &Cataloguing<'_>, mut job: InventoryJob, why: String) -> Result<bool> {
    tracing::warn!(store = %job.store_id, job = %job.job_id, reason = %why, "inventory push failed");
    job.state = BackfillState::Failed.as_str().into();
    job.error = Some(why);
    job.finished_at = Some(Utc::now());
    save(ports, &mut job).await?;
    ports
        .catalogue
        .release_inventory_lease(&job.store_id, &job.job_id)
        .await?;
    Ok(true)
}

async fn store_error(ports: &Cataloguing<'_>, job: InventoryJob, e: WooError) -> Result<bool> {
    match e {
        WooError::AuthFailed | WooError::Refused(_) => fail(ports, job, e.to_string()).await,
        other => Err(Error::unavailable("the store", other)),
    }
}

/// Ends job `job_id` as failed after it kept failing (the queue's last receive).
pub async fn give_up_inventory(
    catalogue: &dyn crate::ports::Catalogue,
    store: &StoreId,
    job_id: &str,
    why: &str,
) -> Result<()> {
    let Some(mut job) = catalogue.get_inventory_job(store, job_id).await? else {
        return Ok(());
    };
    if job.state != BackfillState::Running.as_str() {
        return Ok(());
    }
    job.state = BackfillState::Failed.as_str().into();
    job.error = Some(format!("gave up: {why}"));
    job.finished_at = Some(Utc::now());
    let expected = job.revision;
    job.revision += 1;
    catalogue.save_inventory_job(&job, Some(expected)).await?;
    catalogue.release_inventory_lease(store, job_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(written: Option<i64>, snapshot: Option<i64>) -> CatalogueItem {
        CatalogueItem {
            store_id: StoreId::parse("st_1").unwrap(),
            id: 5,
            parent_id: 0,
            sku: Some("A".into()),
            doc_hash: String::new(),
            deleted: false,
            managed: true,
            quantity: Some(3),
            written_quantity: written,
            snapshot_at: snapshot.map(at),
            updated_at: at(0),
            revision: 1,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn level(managed: bool, q: Option<i64>) -> StockLevel {
        StockLevel {
            id: 5,
            managed,
            quantity: q,
        }
    }

    #[test]
    fn the_inventory_rule() {
        assert_eq!(
            plan_item(&item(None, Some(10)), level(true, Some(3)), 7, at(5)),
            Plan::Stale
        );
        assert_eq!(
            plan_item(&item(None, None), level(false, None), 7, at(5)),
            Plan::NotManaged
        );
        assert_eq!(
            plan_item(&item(None, None), level(true, Some(7)), 7, at(5)),
            Plan::Unchanged
        );
        assert_eq!(
            plan_item(&item(None, None), level(true, Some(3)), 7, at(5)),
            Plan::Write { drifted_from: None }
        );
        // woolink wrote 3, the shop still has 3: no drift.
        assert_eq!(
            plan_item(&item(Some(3), Some(1)), level(true, Some(3)), 7, at(5)),
            Plan::Write { drifted_from: None }
        );
        // woolink wrote 4, the shop sold one: drift from 4.
        assert_eq!(
            plan_item(&item(Some(4), Some(1)), level(true, Some(3)), 7, at(5)),
            Plan::Write {
                drifted_from: Some(4)
            }
        );
        // The same snapshot again is not stale (a retried job).
        assert_eq!(
            plan_item(&item(Some(7), Some(5)), level(true, Some(7)), 7, at(5)),
            Plan::Unchanged
        );
    }
}
