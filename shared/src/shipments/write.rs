//! Writing a shipment to the store, and removing it: the shipments worker's use cases.

use std::time::Duration;

use chrono::Utc;

use super::carriers::provider_for;
use super::status::{left_to_ship, next_status, StatusMove, PARTIAL_SHIPPED};
use super::{note_marker, note_text};
use crate::cache::TtlCache;
use crate::crypto::SecretBox;
use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, Shipment, ShipmentState};
use crate::order::WooOrder;
use crate::ports::{Links, Shipments};
use crate::secrets::keyed_link;
use crate::woocommerce::{
    FulfillmentItem, NewTracking, TrackingApi, WooClient, WooCredentials, WooError,
};

/// How long what woolink learnt of a store's tracking setup is trusted.
pub const PROFILE_TTL: Duration = Duration::from_secs(3600);

/// What a store offers for shipments, learnt once per `PROFILE_TTL` (and again when a write
/// finds the API gone): its tracking API, that API's carriers, its order statuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreProfile {
    pub api: TrackingApi,
    pub providers: Vec<String>,
    pub statuses: Vec<String>,
}

/// The ports writing a shipment uses.
pub struct Writing<'a> {
    pub links: &'a dyn Links,
    pub shipments: &'a dyn Shipments,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// Each store's profile, as last learnt.
    pub profiles: &'a TtlCache<StoreId, StoreProfile>,
}

/// What a store error means for the shipment: try again later, or it failed for good.
enum Outcome {
    Retry(String),
    Failed(String),
}

fn judged(e: &WooError) -> Outcome {
    match e {
        WooError::AuthFailed => Outcome::Failed("the store refused the WooCommerce keys".into()),
        // A route that is gone is the plugin going away (learnt again next time); any other
        // 404 is the order gone.
        WooError::Rejected {
            status: 404, code, ..
        } if code != "rest_no_route" => {
            Outcome::Failed(format!("the store no longer has the order ({code})"))
        }
        WooError::Rejected {
            status,
            code,
            message,
        } if *status != 404 && *status != 429 => Outcome::Failed(format!(
            "the store refused the tracking entry ({status} {code}: {message})"
        )),
        other => Outcome::Retry(other.to_string()),
    }
}

/// How long one attempt holds a shipment (longer than a store call's timeouts and waits).
const CLAIM: Duration = Duration::from_secs(120);

impl Writing<'_> {
    async fn profile(
        &self,
        store: &StoreId,
        link: &Link,
        creds: &WooCredentials,
        order: OrderId,
    ) -> std::result::Result<StoreProfile, WooError> {
        self.profiles
            .get_or_load(store, || async {
                let url = &link.store_url;
                let api = self
                    .woo
                    .detect_tracking_api(url, creds, order.get())
                    .await?;
                // Without the lists, carriers go as custom providers and no partial-shipped.
                let providers = self
                    .woo
                    .tracking_providers(url, creds, api, order.get())
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(%store, error = %e, "the store's carriers could not be read");
                        Vec::new()
                    });
                let statuses = self.woo.order_statuses(url, creds).await.unwrap_or_else(|e| {
                    tracing::warn!(%store, error = %e, "the store's order statuses could not be read");
                    Vec::new()
                });
                tracing::info!(%store, api = api.as_str(), providers = providers.len(), "store tracking setup learnt");
                Ok(StoreProfile {
                    api,
                    providers,
                    statuses,
                })
            })
            .await
    }
}

/// Writes shipment `shipment_id` of order `order` to the store, once, then moves the order's
/// status as the shipment's rule says. A shipment that is no longer pending is returned as
/// it is. A store error that may pass is an `Unavailable` error (the caller's queue retries;
/// the attempt is recorded); one that will not (keys refused, the store refusing the entry)
/// marks the shipment `failed` with the reason. No record is `NotFound` (deleted meanwhile).
pub async fn write_shipment(
    ports: &Writing<'_>,
    store: &StoreId,
    order: OrderId,
    shipment_id: &str,
) -> Result<Shipment> {
    let shipment = ports
        .shipments
        .get_shipment(store, order, shipment_id)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "no such shipment"))?;
    if shipment.state != ShipmentState::Pending {
        return Ok(shipment);
    }
    let (link, creds) = match keyed_link(ports.links, ports.secrets, store).await {
        Ok(found) => found,
        Err(e) if e.kind() == ErrorKind::StoreNotFound || e.kind() == ErrorKind::InvalidRequest => {
            let why = e.message().to_owned();
            return settle(ports, shipment, Err(Outcome::Failed(why))).await;
        }
        Err(e) => return Err(e),
    };
    let profile = match ports.profile(store, &link, &creds, order).await {
        Ok(p) => p,
        Err(e) => return reported(&link, settle(ports, shipment, Err(judged(&e))).await),
    };
    let mut shipment = claim(ports, shipment).await?;
    if shipment.store_tracking_id.is_none() {
        match write(ports, &link, &creds, &profile, &shipment).await {
            Ok(id) => {
                // Recorded before anything else: from here on a retry never writes again.
                shipment = progress(ports, shipment, |s| {
                    s.method = Some(profile.api.as_str().to_owned());
                    s.store_tracking_id = Some(id);
                })
                .await?;
            }
            Err(e) => {
                if matches!(&e, WooError::Rejected { status: 404, code, .. } if code == "rest_no_route")
                {
                    // The plugin went away (or came): learn the store again next attempt.
                    ports.profiles.forget(store);
                }
                return reported(&link, settle(ports, shipment, Err(judged(&e))).await);
            }
        }
    }
    // Recorded with the outcome (one write): a crash before it moves the status again on the
    // retry, which finds it moved and leaves it.
    match move_status(ports, &link, &creds, &profile, &shipment).await {
        Ok(done) => shipment.order_status = Some(done),
        Err(e) if e.is_transient() => {
            return settle(ports, shipment, Err(Outcome::Retry(e.to_string()))).await
        }
        // The tracking entry is on the store: a status the store refuses does not undo it.
        Err(e) => shipment.order_status = Some(format!("unchanged: {e}")),
    }
    reported(&link, settle(ports, shipment, Ok(())).await)
}

/// Counts a shipment's final outcome on the store (written or failed) for its tenant.
fn reported(link: &Link, settled: Result<Shipment>) -> Result<Shipment> {
    if let Ok(s) = &settled {
        let result = match s.state {
            ShipmentState::Written => Some("shipment_written"),
            ShipmentState::Failed => Some("shipment_failed"),
            _ => None,
        };
        if let Some(result) = result {
            crate::metrics::emit(
                &link.tenant,
                Some(("Result", result)),
                &[(crate::metrics::Metric::StoreWrites, 1.0)],
            );
        }
    }
    settled
}

/// Takes the shipment for one attempt (a conditional write), so two writers — a message SQS
/// delivered twice at once — never both add an entry: the other is told to come back.
async fn claim(ports: &Writing<'_>, mut s: Shipment) -> Result<Shipment> {
    let now = Utc::now();
    let busy = || Error::unavailable("the shipment", "another writer holds it");
    if s.claimed_until.is_some_and(|until| until > now) {
        return Err(busy());
    }
    let expected = s.revision;
    s.revision += 1;
    s.attempts += 1;
    s.claimed_until = chrono::Duration::from_std(CLAIM).ok().map(|c| now + c);
    s.updated_at = now;
    match ports.shipments.save_shipment(&s, Some(expected)).await {
        Ok(()) => Ok(s),
        Err(e) if e.kind() == ErrorKind::Conflict => Err(busy()),
        Err(e) => Err(e),
    }
}

/// Saves a step of a claimed attempt; losing the record meanwhile (deleted, or taken over
/// after the claim ran out) ends the attempt, to be judged again from the record.
async fn progress(
    ports: &Writing<'_>,
    mut s: Shipment,
    change: impl FnOnce(&mut Shipment),
) -> Result<Shipment> {
    let expected = s.revision;
    change(&mut s);
    s.revision += 1;
    s.updated_at = Utc::now();
    match ports.shipments.save_shipment(&s, Some(expected)).await {
        Ok(()) => Ok(s),
        Err(e) if e.kind() == ErrorKind::Conflict => Err(Error::unavailable(
            "the shipment",
            "it changed during the write (deleted, or taken over)",
        )),
        Err(e) => Err(e),
    }
}

/// Adds the entry unless the order already has it: the store's id for it.
async fn write(
    ports: &Writing<'_>,
    link: &Link,
    creds: &WooCredentials,
    profile: &StoreProfile,
    s: &Shipment,
) -> std::result::Result<String, WooError> {
    let (url, order, api) = (&link.store_url, s.order_id.get(), profile.api);
    if let Some(id) = find_on_store(ports, link, creds, api, s).await? {
        tracing::info!(store = %link.store_id, %order, shipment = %s.shipment_id, "already on the order; adopted");
        return Ok(id);
    }
    if api == TrackingApi::OrderNote {
        let id = ports
            .woo
            .add_order_note(url, creds, order, &note_text(s), s.notify_customer)
            .await?;
        return Ok(id.to_string());
    }
    let provider = provider_for(&s.carrier, api, &profile.providers);
    let date = s.shipped_at.map(|t| t.format("%Y-%m-%d").to_string());
    let mut items: Vec<FulfillmentItem> = s
        .items
        .iter()
        .filter_map(|i| {
            i.line_item_id.map(|item_id| FulfillmentItem {
                item_id,
                qty: i.quantity,
            })
        })
        .collect();
    if items.is_empty() && api == TrackingApi::Fulfillments {
        // A whole-order shipment: core takes no fulfillment without items.
        items = rest_of_order(ports, link, creds, s).await?;
    }
    // Per item by SKU only when every item has one (else AST PRO would see part of it).
    let skus: Vec<(String, u32)> = s
        .items
        .iter()
        .map(|i| i.sku.clone().map(|sku| (sku, i.quantity)))
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    let added = ports
        .woo
        .add_tracking(
            url,
            creds,
            api,
            order,
            &NewTracking {
                provider: &provider.name,
                custom: provider.custom,
                link: s.tracking_url.as_deref(),
                number: &s.tracking_number,
                date_shipped: date.as_deref(),
                items: &items,
                skus: &skus,
                notify_customer: s.notify_customer,
            },
        )
        .await?;
    Ok(added.tracking_id)
}

/// What a whole-order shipment carries: what is left to ship of the order (every shippable
/// line, if nothing is left: the tracking number still needs a fulfillment to live in).
async fn rest_of_order(
    ports: &Writing<'_>,
    link: &Link,
    creds: &WooCredentials,
    s: &Shipment,
) -> std::result::Result<Vec<FulfillmentItem>, WooError> {
    let (_, lines, all) = order_and_shipments(ports, link, creds, s).await?;
    // This one is not on the store yet (it has no store id), so it is not among them.
    let left = left_to_ship(&lines, &on_store(&all));
    let carried = if left.is_empty() { lines } else { left };
    Ok(carried
        .into_iter()
        .map(|(item_id, qty)| FulfillmentItem { item_id, qty })
        .collect())
}

/// The order as the store has it now, its shippable lines (id, quantity) and woolink's
/// shipments of it.
async fn order_and_shipments(
    ports: &Writing<'_>,
    link: &Link,
    creds: &WooCredentials,
    s: &Shipment,
) -> std::result::Result<(WooOrder, Vec<(u64, u32)>, Vec<Shipment>), WooError> {
    let raw = ports
        .woo
        .get_order(&link.store_url, creds, s.order_id.get())
        .await?;
    let order = WooOrder::parse(&raw)
        .map_err(|_| WooError::Unreachable("the order answer was not an order".into()))?;
    let lines = shippable_lines(ports, link, creds, &order).await;
    let all = ports
        .shipments
        .list_shipments(&s.store_id, s.order_id)
        .await
        .map_err(|e| WooError::Unreachable(format!("woolink's records: {e}")))?;
    Ok((order, lines, all))
}

/// The shipments whose entry is on the store (written, and not being deleted).
fn on_store(all: &[Shipment]) -> Vec<&Shipment> {
    all.iter()
        .filter(|x| x.state != ShipmentState::Deleting && x.store_tracking_id.is_some())
        .collect()
}

/// The store's id of the entry that carries this shipment, if the order has one (its tracking
/// number; for a note, woolink's marker).
async fn find_on_store(
    ports: &Writing<'_>,
    link: &Link,
    creds: &WooCredentials,
    api: TrackingApi,
    s: &Shipment,
) -> std::result::Result<Option<String>, WooError> {
    let (url, order) = (&link.store_url, s.order_id.get());
    if api == TrackingApi::OrderNote {
        let marker = note_marker(&s.shipment_id);
        let notes = ports.woo.list_order_notes(url, creds, order).await?;
        return Ok(notes
            .into_iter()
            .find(|(_, text)| text.contains(&marker))
            .map(|(id, _)| id.to_string()));
    }
    let existing = ports.woo.list_trackings(url, creds, api, order).await?;
    Ok(existing
        .into_iter()
        .find(|t| t.tracking_number == s.tracking_number)
        .map(|t| t.tracking_id))
}

/// Moves the order's status as the shipment's rule says: what it did (`completed`,
/// `partial-shipped`) or why it did not (`unchanged: …`).
async fn move_status(
    ports: &Writing<'_>,
    link: &Link,
    creds: &WooCredentials,
    profile: &StoreProfile,
    s: &Shipment,
) -> std::result::Result<String, WooError> {
    if s.complete == crate::model::CompleteRule::Never {
        return Ok("unchanged: complete: never".into());
    }
    let decide = || async {
        let (order, lines, all) = order_and_shipments(ports, link, creds, s).await?;
        let has_partial = profile.statuses.iter().any(|st| st == PARTIAL_SHIPPED);
        Ok::<_, WooError>(next_status(
            s.complete,
            &order.status,
            &lines,
            &on_store(&all),
            has_partial,
        ))
    };
    let status = match decide().await? {
        StatusMove::To(status) => status,
        StatusMove::Unchanged(why) => return Ok(format!("unchanged: {why}")),
    };
    ports
        .woo
        .set_order_status(&link.store_url, creds, s.order_id.get(), status)
        .await?;
    tracing::info!(store = %link.store_id, order = %s.order_id, status, "order status moved");
    if status == PARTIAL_SHIPPED {
        // Another shipment may have landed meanwhile and seen this one missing: the last
        // word is checked once more, so the order never stays partial when it is complete.
        if let StatusMove::To("completed") = decide().await? {
            ports
                .woo
                .set_order_status(&link.store_url, creds, s.order_id.get(), "completed")
                .await?;
            return Ok("completed".into());
        }
    }
    Ok(status.to_owned())
}

/// The order's line items that ship: (line id, quantity), without virtual products (asked of
/// the store in one call; if it cannot say, every line counts).
async fn shippable_lines(
    ports: &Writing<'_>,
    link: &Link,
    creds: &WooCredentials,
    order: &WooOrder,
) -> Vec<(u64, u32)> {
    let mut products: Vec<u64> = order
        .line_items
        .iter()
        .map(|l| l.product_id)
        .filter(|p| *p != 0)
        .collect();
    products.sort_unstable();
    products.dedup();
    let virtuals = ports
        .woo
        .virtual_products(&link.store_url, creds, &products)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(store = %link.store_id, error = %e, "could not tell virtual products; every line counts");
            Vec::new()
        });
    order
        .line_items
        .iter()
        .filter(|l| l.quantity >= 1.0 && !virtuals.contains(&l.product_id))
        .map(|l| (l.id, l.quantity as u32))
        .collect()
}

async fn settle(
    ports: &Writing<'_>,
    mut s: Shipment,
    outcome: std::result::Result<(), Outcome>,
) -> Result<Shipment> {
    let expected = s.revision;
    s.revision += 1;
    s.updated_at = Utc::now();
    s.claimed_until = None;
    let retry = match outcome {
        Ok(()) => {
            s.state = ShipmentState::Written;
            s.last_error = None;
            None
        }
        Err(Outcome::Failed(why)) => {
            s.state = ShipmentState::Failed;
            s.last_error = Some(why);
            None
        }
        Err(Outcome::Retry(why)) => {
            s.last_error = Some(why.clone());
            Some(why)
        }
    };
    match ports.shipments.save_shipment(&s, Some(expected)).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Conflict => {
            return Err(Error::unavailable(
                "the shipment",
                "it changed during the write (deleted, or taken over)",
            ))
        }
        Err(e) => return Err(e),
    }
    tracing::info!(store = %s.store_id, order = %s.order_id, shipment = %s.shipment_id, state = s.state.as_str(), attempts = s.attempts, "shipment attempt recorded");
    match retry {
        Some(why) => Err(Error::unavailable("the store", why)),
        None => Ok(s),
    }
}

/// Marks a final shipment `failed` after its retries ran out (the queue's last receive).
pub async fn give_up(ports: &Writing<'_>, s: Shipment, why: String) -> Result<Shipment> {
    if s.state != ShipmentState::Pending {
        return Ok(s);
    }
    settle(ports, s, Err(Outcome::Failed(why))).await
}

/// Removes a shipment the tenant deleted (`deleting`) from the store, then its record. An
/// entry woolink never recorded (a writer that died after the store's write) is found by its
/// number or marker. A store that is no longer linked (or keyless) keeps its entry: only
/// the record goes. Nothing recorded: done.
pub async fn remove_shipment(
    ports: &Writing<'_>,
    store: &StoreId,
    order: OrderId,
    shipment_id: &str,
) -> Result<()> {
    let Some(s) = ports
        .shipments
        .get_shipment(store, order, shipment_id)
        .await?
    else {
        return Ok(());
    };
    if s.state != ShipmentState::Deleting {
        return Ok(());
    }
    if s.claimed_until.is_some_and(|until| until > Utc::now()) {
        return Err(Error::unavailable(
            "the shipment",
            "a write of it is still in progress",
        ));
    }
    match keyed_link(ports.links, ports.secrets, store).await {
        Ok((link, creds)) => {
            let recorded = s
                .method
                .as_deref()
                .and_then(TrackingApi::parse)
                .zip(s.store_tracking_id.clone());
            let target = match recorded {
                Some(found) => Some(found),
                None => {
                    let profile = ports
                        .profile(store, &link, &creds, order)
                        .await
                        .map_err(|e| Error::unavailable("the store", e))?;
                    find_on_store(ports, &link, &creds, profile.api, &s)
                        .await
                        .map_err(|e| Error::unavailable("the store", e))?
                        .map(|id| (profile.api, id))
                }
            };
            if let Some((api, id)) = target {
                ports
                    .woo
                    .delete_tracking(&link.store_url, &creds, api, order.get(), &id)
                    .await
                    .map_err(|e| Error::unavailable("the store", e))?;
                tracing::info!(%store, %order, shipment = %shipment_id, api = api.as_str(), "shipment removed from the store");
            }
        }
        Err(e) if e.kind() == ErrorKind::StoreNotFound || e.kind() == ErrorKind::InvalidRequest => {
            tracing::info!(%store, %order, shipment = %shipment_id, "store not reachable with keys; only the record is removed");
        }
        Err(e) => return Err(e),
    }
    ports
        .shipments
        .delete_shipment(store, order, shipment_id)
        .await?;
    Ok(())
}
