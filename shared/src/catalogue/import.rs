//! The catalogue import: the store's products a page at a time (each variable product's
//! variations with it), every sellable item recorded and, when new or changed, sent to the
//! tenant; items that stopped being sellable sent as deleted. SKU problems (none, or shared)
//! are reported when the run ends, never merged.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::json;

use super::product::{classify, Class, ItemDocument, Units, WooProduct};
use super::{Cataloguing, Recording, Submitting, TenantEvent};
use crate::catchup::Job;
use crate::domain::StoreId;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{BackfillState, CatalogueItem, CatalogueRun, Link};
use crate::ports::Catalogue;
use crate::secrets::keyed_link;
use crate::woocommerce::{WooCredentials, WooError};

/// SKU problems listed at most (the store status and the run show the first ones).
const PROBLEMS_SHOWN: usize = 100;

/// Starts an import of the store's catalogue (one run per store at a time: a running one is
/// returned as it is).
pub async fn start_import(ports: &Submitting<'_>, store: &StoreId) -> Result<CatalogueRun> {
    keyed_link(ports.links, ports.secrets, store).await?;
    let existing = ports.catalogue.get_catalogue_run(store).await?;
    if let Some(run) = existing
        .as_ref()
        .filter(|r| r.state == BackfillState::Running.as_str())
    {
        return Ok(run.clone());
    }
    let run = CatalogueRun {
        store_id: store.clone(),
        run_id: format!(
            "cat_{}",
            &crate::crypto::sha256_hex(
                format!(
                    "{store}|{}",
                    Utc::now().timestamp_nanos_opt().unwrap_or_default()
                )
                .as_bytes()
            )[..16]
        ),
        state: BackfillState::Running.as_str().into(),
        next_page: 1,
        items: 0,
        sent: 0,
        skipped: 0,
        units: None,
        empty_skus: Vec::new(),
        duplicate_skus: Vec::new(),
        started_at: Utc::now(),
        finished_at: None,
        error: None,
        revision: existing.as_ref().map_or(1, |r| r.revision + 1),
    };
    ports
        .catalogue
        .save_catalogue_run(&run, existing.map(|r| r.revision))
        .await?;
    Job::Catalogue {
        store_id: store.clone(),
        run_id: run.run_id.clone(),
    }
    .enqueue(ports.jobs)
    .await?;
    tracing::info!(%store, run = %run.run_id, "catalogue import started");
    Ok(run)
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportStepped {
    pub done: bool,
}

/// Carries run `run_id` on by up to `pages_per_job` pages, then sends its continuation (or
/// ends the run with its SKU problems). A run that is not running any more is left alone.
pub async fn import_step(
    ports: &Cataloguing<'_>,
    store: &StoreId,
    run_id: &str,
) -> Result<ImportStepped> {
    let Some(mut run) = ports.catalogue.get_catalogue_run(store).await? else {
        return Ok(ImportStepped { done: true });
    };
    if run.run_id != run_id || run.state != BackfillState::Running.as_str() {
        return Ok(ImportStepped { done: true });
    }
    let (link, creds) = match keyed_link(ports.links, ports.secrets, store).await {
        Ok(found) => found,
        Err(e) => return fail(ports, run, e.message().to_owned()).await,
    };
    let units = match &run.units {
        Some(u) => u.clone(),
        None => match ports.woo.units(&link.store_url, &creds).await {
            Ok(u) => u,
            Err(e) => return store_error(ports, run, e).await,
        },
    };
    run.units = Some(units.clone());
    let batch = super::Batch::knowing(ports.catalogue.catalogue_items(store).await?);
    let recording = Recording {
        batch: Some(&batch),
        ..ports.recording()
    };
    for _ in 0..ports.pages_per_job.max(1) {
        let (products, more) = match ports
            .woo
            .products_page(&link.store_url, &creds, run.next_page)
            .await
        {
            Ok(page) => page,
            Err(e) => return store_error(ports, run, e).await,
        };
        for p in &products {
            if let Err(e) = take_product(&recording, &link, &creds, &units, p, &mut run).await {
                return match e {
                    Taken::Store(e) => store_error(ports, run, e).await,
                    Taken::Ours(e) => Err(e),
                };
            }
        }
        batch.flush(ports.catalogue, ports.events).await?;
        run.next_page += 1;
        if !more {
            let (empty, duplicates) = finish_problems(ports.catalogue, store).await?;
            run.empty_skus = empty;
            run.duplicate_skus = duplicates;
            run.state = BackfillState::Done.as_str().into();
            run.finished_at = Some(Utc::now());
            save(ports, &mut run).await?;
            tracing::info!(%store, items = run.items, sent = run.sent, "catalogue import done");
            return Ok(ImportStepped { done: true });
        }
        save(ports, &mut run).await?;
    }
    Job::Catalogue {
        store_id: store.clone(),
        run_id: run.run_id.clone(),
    }
    .enqueue(ports.jobs)
    .await?;
    Ok(ImportStepped { done: false })
}

enum Taken {
    Store(WooError),
    Ours(Error),
}

impl From<Error> for Taken {
    fn from(e: Error) -> Self {
        Self::Ours(e)
    }
}

/// One listed product: its sellable items recorded (and sent when changed).
async fn take_product(
    ports: &Recording<'_>,
    link: &Link,
    creds: &WooCredentials,
    units: &Units,
    p: &WooProduct,
    run: &mut CatalogueRun,
) -> std::result::Result<(), Taken> {
    match classify(p) {
        Class::Sellable => {
            run.items += 1;
            if upsert(ports, link, &ItemDocument::of(p, None, units), p).await? {
                run.sent += 1;
            }
        }
        Class::VariableParent => {
            let variations = ports
                .woo
                .variations(&link.store_url, creds, p.id)
                .await
                .map_err(Taken::Store)?;
            for v in &variations {
                match classify(v) {
                    Class::Sellable => {
                        run.items += 1;
                        if upsert(ports, link, &ItemDocument::of(v, Some(p), units), v).await? {
                            run.sent += 1;
                        }
                    }
                    _ => {
                        run.skipped += 1;
                        withdraw(ports, link, v.id).await?;
                    }
                }
            }
        }
        Class::Skipped(_) => {
            run.skipped += 1;
            withdraw(ports, link, p.id).await?;
        }
    }
    Ok(())
}

/// Records item `doc` (of product or variation `p`); sends `product.upserted` when it is new
/// or what the tenant sees changed: whether it was sent.
pub(crate) async fn upsert(
    ports: &Recording<'_>,
    link: &Link,
    doc: &ItemDocument,
    p: &WooProduct,
) -> Result<bool> {
    let store = &link.store_id;
    let hash = doc.hash();
    for attempt in 0..3 {
        let existing = match ports.batch {
            Some(batch) if attempt == 0 => batch.known(doc.id),
            _ => ports.catalogue.get_catalogue_item(store, doc.id).await?,
        };
        let changed = existing
            .as_ref()
            .is_none_or(|i| i.deleted || i.doc_hash != hash);
        let quantity = p.stock_quantity();
        let item = CatalogueItem {
            store_id: store.clone(),
            id: doc.id,
            parent_id: doc.parent_id.unwrap_or(0),
            sku: doc.sku.clone(),
            doc_hash: hash.clone(),
            deleted: false,
            managed: p.manages_stock(),
            quantity,
            written_quantity: existing.as_ref().and_then(|i| i.written_quantity),
            snapshot_at: existing.as_ref().and_then(|i| i.snapshot_at),
            updated_at: Utc::now(),
            revision: existing.as_ref().map_or(1, |i| i.revision + 1),
        };
        let same_record = existing.as_ref().is_some_and(|i| {
            !changed
                && i.managed == item.managed
                && i.quantity == item.quantity
                && i.sku == item.sku
        });
        if same_record {
            return Ok(false);
        }
        let event = if changed {
            let data = serde_json::to_value(doc).map_err(Error::internal)?;
            Some(TenantEvent::new(
                store,
                &link.tenant,
                "product.upserted",
                &format!("{}|{hash}", doc.id),
                data,
            ))
        } else {
            None
        };
        let expected = existing.as_ref().map(|i| i.revision);
        if let (Some(batch), Some(event)) = (ports.batch, &event) {
            batch.hold(event, item, expected);
            return Ok(true);
        }
        match ports.catalogue.save_catalogue_item(&item, expected).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Conflict => continue,
            Err(e) => return Err(e),
        }
        if let Some(event) = event {
            ports
                .events
                .send_grouped(event.encode(), event.tenant.as_str())
                .await?;
        }
        return Ok(changed);
    }
    Err(Error::unavailable(
        "the catalogue",
        "an item kept changing concurrently",
    ))
}

/// An item that is no longer sellable (or gone): sent as deleted, once.
pub(crate) async fn withdraw(ports: &Recording<'_>, link: &Link, id: u64) -> Result<()> {
    let store = &link.store_id;
    for attempt in 0..3 {
        let existing = match ports.batch {
            Some(batch) if attempt == 0 => batch.known(id),
            _ => ports.catalogue.get_catalogue_item(store, id).await?,
        };
        let Some(existing) = existing else {
            return Ok(());
        };
        if existing.deleted {
            return Ok(());
        }
        let item = CatalogueItem {
            deleted: true,
            doc_hash: String::new(),
            updated_at: Utc::now(),
            revision: existing.revision + 1,
            ..existing.clone()
        };
        let event = TenantEvent::new(
            store,
            &link.tenant,
            "product.deleted",
            &format!("{id}|{}", item.revision),
            json!({"id": id, "parentId": (existing.parent_id != 0).then_some(existing.parent_id), "sku": existing.sku}),
        );
        if let Some(batch) = ports.batch {
            batch.hold(&event, item, Some(existing.revision));
            return Ok(());
        }
        match ports
            .catalogue
            .save_catalogue_item(&item, Some(existing.revision))
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Conflict => continue,
            Err(e) => return Err(e),
        }
        ports
            .events
            .send_grouped(event.encode(), event.tenant.as_str())
            .await?;
        return Ok(());
    }
    Err(Error::unavailable(
        "the catalogue",
        "an item kept changing concurrently",
    ))
}

/// The catalogue's SKU problems: sellable items without a SKU (ids), and SKUs on more than one
/// item (with their ids) — the first `PROBLEMS_SHOWN` of each.
pub async fn finish_problems(
    catalogue: &dyn Catalogue,
    store: &StoreId,
) -> Result<(Vec<u64>, Vec<(String, Vec<u64>)>)> {
    let items = catalogue.catalogue_items(store).await?;
    let mut empty = Vec::new();
    let mut by_sku: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for i in items.iter().filter(|i| !i.deleted) {
        match &i.sku {
            None => empty.push(i.id),
            Some(sku) => by_sku.entry(sku.clone()).or_default().push(i.id),
        }
    }
    empty.truncate(PROBLEMS_SHOWN);
    let duplicates: Vec<(String, Vec<u64>)> = by_sku
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .take(PROBLEMS_SHOWN)
        .collect();
    Ok((empty, duplicates))
}

async fn save(ports: &Cataloguing<'_>, run: &mut CatalogueRun) -> Result<()> {
    let expected = run.revision;
    run.revision += 1;
    ports
        .catalogue
        .save_catalogue_run(run, Some(expected))
        .await
}

async fn fail(
    ports: &Cataloguing<'_>,
    mut run: CatalogueRun,
    why: String,
) -> Result<ImportStepped> {
    tracing::warn!(store = %run.store_id, reason = %why, "catalogue import failed");
    run.state = BackfillState::Failed.as_str().into();
    run.error = Some(why);
    run.finished_at = Some(Utc::now());
    save(ports, &mut run).await?;
    Ok(ImportStepped { done: true })
}

/// A store error: keys refused end the run; anything else comes back (the queue retries).
async fn store_error(
    ports: &Cataloguing<'_>,
    run: CatalogueRun,
    e: WooError,
) -> Result<ImportStepped> {
    match e {
        WooError::AuthFailed | WooError::Refused(_) | WooError::TooLarge { .. } => {
            fail(ports, run, e.to_string()).await
        }
        other => Err(Error::unavailable("the store", other)),
    }
}

/// What a product webhook changes in the catalogue: the product read from the store, its
/// sellable items recorded and sent when changed (a variable product's variations read with
/// it), or withdrawn (deleted, gone from the store, no longer sellable).
pub async fn apply_product_change(
    ports: &Recording<'_>,
    change: &super::ProductChange,
) -> Result<()> {
    let store = &change.store_id;
    let (link, creds) = keyed_link(ports.links, ports.secrets, store).await?;
    let unavailable = |e: WooError| Error::unavailable("the store", e);
    let product = if change.topic == "product.deleted" {
        None
    } else {
        match ports
            .woo
            .get_product(&link.store_url, &creds, change.product_id)
            .await
        {
            Ok(p) => Some(p),
            Err(WooError::Rejected { status: 404, .. }) => None,
            Err(e) => return Err(unavailable(e)),
        }
    };
    let Some(p) = product else {
        // Gone: the product, and its variations if it had any.
        for item in ports.catalogue.catalogue_items(store).await? {
            if item.id == change.product_id || item.parent_id == change.product_id {
                withdraw(ports, &link, item.id).await?;
            }
        }
        return Ok(());
    };
    let units = match ports
        .catalogue
        .get_catalogue_run(store)
        .await?
        .and_then(|r| r.units)
    {
        Some(u) => u,
        None => ports
            .woo
            .units(&link.store_url, &creds)
            .await
            .map_err(unavailable)?,
    };
    if p.is_variation() {
        let parent = ports
            .woo
            .get_product(&link.store_url, &creds, p.parent_id)
            .await
            .map_err(unavailable)?;
        return match classify(&p) {
            Class::Sellable => upsert(
                ports,
                &link,
                &ItemDocument::of(&p, Some(&parent), &units),
                &p,
            )
            .await
            .map(|_| ()),
            _ => withdraw(ports, &link, p.id).await,
        };
    }
    let mut run = CatalogueRun {
        store_id: store.clone(),
        run_id: String::new(),
        state: String::new(),
        next_page: 0,
        items: 0,
        sent: 0,
        skipped: 0,
        units: None,
        empty_skus: vec![],
        duplicate_skus: vec![],
        started_at: Utc::now(),
        finished_at: None,
        error: None,
        revision: 0,
    };
    take_product(ports, &link, &creds, &units, &p, &mut run)
        .await
        .map_err(|e| match e {
            Taken::Store(e) => unavailable(e),
            Taken::Ours(e) => e,
        })
}

/// Ends run `run_id` as failed after its job kept failing (the queue's last receive).
pub async fn give_up_import(
    catalogue: &dyn Catalogue,
    store: &StoreId,
    run_id: &str,
    why: &str,
) -> Result<()> {
    let Some(mut run) = catalogue.get_catalogue_run(store).await? else {
        return Ok(());
    };
    if run.run_id != run_id || run.state != BackfillState::Running.as_str() {
        return Ok(());
    }
    run.state = BackfillState::Failed.as_str().into();
    run.error = Some(format!("gave up: {why}"));
    run.finished_at = Some(Utc::now());
    let expected = run.revision;
    run.revision += 1;
    catalogue.save_catalogue_run(&run, Some(expected)).await
}
