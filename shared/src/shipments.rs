//! Shipments back to the store (issue 16): a tenant's shipment becomes a tracking number on
//! the merchant's order, through the best API the store serves (`TrackingApi`, detected once
//! per store and cached, detected again when a write finds the route gone), else a
//! customer-visible order note.
//!
//! Exactly once in effect: before writing, the order's existing entries are read, and one
//! that already carries this shipment (its tracking number; for a note, woolink's marker) is
//! adopted instead of written again — so a retry after a crash between the store's write and
//! the record's is a no-op.
//!
//! Not yet behind a route or a queue (issue 16): `write_shipment` is the use case those will
//! call.

use std::time::Duration;

use chrono::Utc;

use crate::cache::TtlCache;
use crate::crypto::SecretBox;
use crate::domain::{OrderId, StoreId};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Link, Shipment, ShipmentState};
use crate::ports::{Links, Shipments};
use crate::secrets::keyed_link;
use crate::woocommerce::{NewTracking, TrackingApi, WooClient, WooCredentials, WooError};

/// How long a store's detected tracking API is trusted.
pub const TRACKING_API_TTL: Duration = Duration::from_secs(3600);

/// The ports writing a shipment uses.
pub struct Writing<'a> {
    pub links: &'a dyn Links,
    pub shipments: &'a dyn Shipments,
    pub secrets: &'a SecretBox,
    pub woo: &'a WooClient,
    /// Each store's tracking API, as last detected.
    pub apis: &'a TtlCache<StoreId, TrackingApi>,
}

/// The marker that names a shipment in an order note (how a retry finds its own note).
pub fn note_marker(shipment_id: &str) -> String {
    format!("[woolink shipment {shipment_id}]")
}

/// The customer-visible note of a store without a tracking plugin.
pub fn note_text(s: &Shipment) -> String {
    let link = s
        .tracking_url
        .as_deref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    format!(
        "Shipped with {}: {}{} {}",
        s.carrier,
        s.tracking_number,
        link,
        note_marker(&s.shipment_id)
    )
}

/// What a store error means for the shipment: try again later, or it failed for good.
enum Outcome {
    Retry(String),
    Failed(String),
}

fn judged(e: &WooError) -> Outcome {
    match e {
        WooError::AuthFailed => Outcome::Failed("the store refused the WooCommerce keys".into()),
        WooError::Rejected { status, code } if *status != 404 && *status != 429 => Outcome::Failed(
            format!("the store refused the tracking number ({status} {code})"),
        ),
        other => Outcome::Retry(other.to_string()),
    }
}

/// Writes shipment `shipment_id` of order `order` to the store, once: a shipment already
/// written or failed is returned as it is. A store error that may pass is an `Unavailable`
/// error (the caller's queue retries; the attempt is recorded); one that will not (keys
/// refused, the store refusing the entry) marks the shipment `failed` with the reason.
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
        Err(e) => {
            return settle(
                ports,
                shipment,
                Err(Outcome::Failed(e.message().to_owned())),
            )
            .await
        }
    };
    let api = match ports
        .apis
        .get_or_load(store, || async {
            ports
                .woo
                .detect_tracking_api(&link.store_url, &creds, order.get())
                .await
        })
        .await
    {
        Ok(api) => api,
        Err(e) => return settle(ports, shipment, Err(judged(&e))).await,
    };
    let shipment = claim(ports, shipment).await?;
    let written = write(ports, &link, &creds, api, &shipment).await;
    if let Err(WooError::Rejected { status: 404, .. }) = &written {
        // The plugin went away (or came): detect again on the next attempt.
        ports.apis.forget(store);
    }
    let outcome = written.map(|id| (api, id)).map_err(|e| judged(&e));
    settle(ports, shipment, outcome).await
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

/// How long one attempt holds a shipment (longer than a store call's timeouts and waits).
const CLAIM: Duration = Duration::from_secs(120);

/// Adds the entry unless the order already has it: the store's id for it.
async fn write(
    ports: &Writing<'_>,
    link: &Link,
    creds: &WooCredentials,
    api: TrackingApi,
    s: &Shipment,
) -> std::result::Result<String, WooError> {
    let (url, order) = (&link.store_url, s.order_id.get());
    match api {
        TrackingApi::Ast | TrackingApi::ShipmentTracking => {
            let existing = ports.woo.list_trackings(url, creds, api, order).await?;
            if let Some(t) = existing
                .iter()
                .find(|t| t.tracking_number == s.tracking_number)
            {
                tracing::info!(store = %link.store_id, %order, shipment = %s.shipment_id, "tracking number already on the order; adopted");
                return Ok(t.tracking_id.clone());
            }
            let date = s.shipped_at.map(|t| t.format("%Y-%m-%d").to_string());
            let added = ports
                .woo
                .add_tracking(
                    url,
                    creds,
                    api,
                    order,
                    &NewTracking {
                        provider: &s.carrier,
                        number: &s.tracking_number,
                        date_shipped: date.as_deref(),
                    },
                )
                .await?;
            Ok(added.tracking_id)
        }
        // Core fulfillments (WooCommerce 10.1+) are not written yet: a note says it instead.
        TrackingApi::Fulfillments | TrackingApi::OrderNote => {
            let marker = note_marker(&s.shipment_id);
            let notes = ports.woo.list_order_notes(url, creds, order).await?;
            if let Some((id, _)) = notes.iter().find(|(_, text)| text.contains(&marker)) {
                return Ok(id.to_string());
            }
            let id = ports
                .woo
                .add_order_note(url, creds, order, &note_text(s), s.notify_customer)
                .await?;
            Ok(id.to_string())
        }
    }
}

async fn settle(
    ports: &Writing<'_>,
    mut s: Shipment,
    outcome: std::result::Result<(TrackingApi, String), Outcome>,
) -> Result<Shipment> {
    let expected = s.revision;
    s.revision += 1;
    s.updated_at = Utc::now();
    s.claimed_until = None;
    let retry = match outcome {
        Ok((api, id)) => {
            s.state = ShipmentState::Written;
            s.method = Some(api.as_str().to_owned());
            s.store_tracking_id = Some(id);
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
    ports.shipments.save_shipment(&s, Some(expected)).await?;
    tracing::info!(store = %s.store_id, order = %s.order_id, shipment = %s.shipment_id, state = s.state.as_str(), attempts = s.attempts, "shipment written");
    match retry {
        Some(why) => Err(Error::unavailable("the store", why)),
        None => Ok(s),
    }
}
