//! The shipments queue's consumer (the `shipment-worker` function; in process locally): each
//! message writes or removes one shipment, then tells the tenant the outcome as a Standard
//! Webhooks event (`shipment.written` / `shipment.failed`), signed and retried as orders are.

use std::sync::Arc;

use chrono::SecondsFormat;
use futures::stream::{self, StreamExt};
use serde_json::json;

use super::write::give_up;
use super::{remove_shipment, write_shipment, ShipmentJob, ShipmentOp, StoreProfile, Writing};
use crate::api::wire::Time;
use crate::cache::TtlCache;
use crate::crypto::{sha256_hex, SecretBox};
use crate::domain::StoreId;
use crate::error::{Error, ErrorKind};
use crate::fulfilment::{DeliveryError, FulfilmentClient};
use crate::model::{Shipment, ShipmentState};
use crate::ports::{Links, Queue, Received, Shipments, Tenants};
use crate::secrets::{self, Sealing};
use crate::woocommerce::WooClient;
use crate::worker::WorkerSettings;

/// A shipment as the tenant sees it (the routes' answers and the events' `data`). Fields in
/// the alphabetical order of their JSON names (the bytes of the `json!` map it replaced).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Shipment)]
pub struct ShipmentDocument<'a> {
    pub attempts: u32,
    pub carrier: &'a str,
    /// When to complete the order: `auto` (once every item has shipped), `always`, `never`.
    #[schema(schema_with = complete_words)]
    pub complete: &'static str,
    pub created_at: Time,
    /// The tenant's shipment id.
    pub id: &'a str,
    pub items: Vec<ShipmentDocumentItem<'a>>,
    pub last_error: Option<&'a str>,
    /// How it was written to the store (`ast`, `note`, …).
    pub method: Option<&'a str>,
    pub notify_customer: bool,
    pub order_id: u64,
    /// The status woolink moved the order to after writing it, or why it did not.
    pub order_status: Option<&'a str>,
    pub shipped_at: Option<Time>,
    #[schema(schema_with = shipment_states)]
    pub state: &'static str,
    pub store_id: &'a StoreId,
    /// The tracking entry's id in the store.
    pub store_tracking_id: Option<&'a str>,
    pub tracking_number: &'a str,
    pub tracking_url: Option<&'a str>,
    pub updated_at: Time,
}

/// One shipped line: the order's line item, how many, and its SKU when it has one.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ShipmentItem)]
pub struct ShipmentDocumentItem<'a> {
    pub line_item_id: Option<u64>,
    pub quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<&'a str>,
}

fn complete_words() -> utoipa::openapi::schema::ObjectBuilder {
    crate::api::openapi::words("When to complete the order.", &["auto", "always", "never"])
}

fn shipment_states() -> utoipa::openapi::schema::ObjectBuilder {
    crate::api::openapi::words(
        "Where the shipment stands with the store.",
        &["pending", "written", "failed", "deleting"],
    )
}

pub fn shipment_document(s: &Shipment) -> ShipmentDocument<'_> {
    ShipmentDocument {
        attempts: s.attempts,
        carrier: &s.carrier,
        complete: s.complete.as_str(),
        created_at: Time(s.created_at),
        id: &s.shipment_id,
        items: s
            .items
            .iter()
            .map(|i| ShipmentDocumentItem {
                line_item_id: i.line_item_id,
                quantity: i.quantity,
                sku: i.sku.as_deref(),
            })
            .collect(),
        last_error: s.last_error.as_deref(),
        method: s.method.as_deref(),
        notify_customer: s.notify_customer,
        order_id: s.order_id.get(),
        order_status: s.order_status.as_deref(),
        shipped_at: s.shipped_at.map(Time),
        state: s.state.as_str(),
        store_id: &s.store_id,
        store_tracking_id: s.store_tracking_id.as_deref(),
        tracking_number: &s.tracking_number,
        tracking_url: s.tracking_url.as_deref(),
        updated_at: Time(s.updated_at),
    }
}

/// The shipments worker's parts.
pub struct ShipmentWorker {
    pub links: Arc<dyn Links>,
    pub shipments: Arc<dyn Shipments>,
    pub tenants: Arc<dyn Tenants>,
    pub secrets: SecretBox,
    pub woo: WooClient,
    pub fulfilment: FulfilmentClient,
    /// The shipments queue (retry delays) and its dead letters.
    pub queue: Arc<dyn Queue>,
    pub dead_letters: Arc<dyn Queue>,
    /// Receives, backoff and concurrency, as the order worker's.
    pub settings: WorkerSettings,
    pub profiles: TtlCache<StoreId, StoreProfile>,
    /// Where each store's outcomes go (its tenant's endpoint, `None`: nowhere), read once per
    /// `settings.cache_ttl` rather than twice per shipment.
    pub targets: TtlCache<StoreId, Option<(crate::domain::TenantCode, crate::model::Fulfilment)>>,
}

/// Why a message comes back.
struct Again {
    reason: String,
    backoff: bool,
}

impl From<Error> for Again {
    fn from(e: Error) -> Self {
        Self {
            reason: e.to_string(),
            backoff: true,
        }
    }
}

impl ShipmentWorker {
    pub fn writing(&self) -> Writing<'_> {
        Writing {
            links: self.links.as_ref(),
            shipments: self.shipments.as_ref(),
            secrets: &self.secrets,
            woo: &self.woo,
            profiles: &self.profiles,
        }
    }

    /// Handles a batch, each message on its own (bounded concurrency): the ids of those that
    /// must come back, after the backoff their receive count asks for.
    pub async fn handle_batch(&self, messages: &[Received]) -> Vec<String> {
        stream::iter(0..messages.len())
            .map(|i| async move {
                let message = &messages[i];
                let again = self.handle(message).await.err()?;
                tracing::warn!(message_id = %message.message_id, reason = %again.reason, "shipment job will be retried");
                if again.backoff {
                    let delay = self.settings.backoff(message.receive_count.max(1));
                    if let Err(e) = self.queue.change_visibility(&message.receipt, delay).await {
                        tracing::warn!(error = %e, "could not set the retry delay");
                    }
                }
                Some(message.message_id.clone())
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .filter_map(|f| async move { f })
            .collect()
            .await
    }

    async fn handle(&self, message: &Received) -> std::result::Result<(), Again> {
        let job = match ShipmentJob::decode(&message.body) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(message_id = %message.message_id, error = %e.message(), "not a shipment job; parked in the dead-letter queue");
                self.dead_letters.send(message.body.clone()).await?;
                return Ok(());
            }
        };
        let ports = self.writing();
        let (store, order, id) = (&job.store_id, job.order_id, job.shipment_id.as_str());
        match job.op {
            ShipmentOp::Delete => Ok(remove_shipment(&ports, store, order, id).await?),
            ShipmentOp::Write => {
                let last_try = message.receive_count >= self.settings.max_receives;
                let shipment = match write_shipment(&ports, store, order, id).await {
                    Ok(s) => s,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                    Err(e) if last_try => {
                        let Some(s) = self.shipments.get_shipment(store, order, id).await? else {
                            return Ok(());
                        };
                        let why = s.last_error.clone().unwrap_or_else(|| e.to_string());
                        give_up(
                            &ports,
                            s,
                            format!("gave up after {} attempts: {why}", message.receive_count),
                        )
                        .await?
                    }
                    Err(e) => return Err(e.into()),
                };
                self.report(&shipment, &message.body).await
            }
        }
    }

    /// Tells the tenant a final outcome once (`reported` marks it). A refusal parks the
    /// message in the dead-letter queue (a redrive sends the event again); a failure that may
    /// pass comes back with backoff.
    async fn report(&self, s: &Shipment, message: &str) -> std::result::Result<(), Again> {
        let kind = match s.state {
            ShipmentState::Written => "shipment.written",
            ShipmentState::Failed => "shipment.failed",
            ShipmentState::Pending | ShipmentState::Deleting => return Ok(()),
        };
        if s.reported {
            return Ok(());
        }
        let target = self
            .targets
            .get_or_load(&s.store_id, || async {
                let Some(link) = self.links.get_link(&s.store_id).await? else {
                    return Ok::<_, Error>(None);
                };
                let tenant = self.tenants.get_tenant(&link.tenant).await?;
                Ok(tenant
                    .filter(|t| t.active)
                    .and_then(|t| t.fulfilment)
                    .map(|f| (link.tenant, f)))
            })
            .await?;
        let Some((tenant, fulfilment)) = target else {
            tracing::info!(store = %s.store_id, "no active tenant endpoint; shipment outcome not sent");
            return Ok(());
        };
        let secret = secrets::open(
            &self.secrets,
            &fulfilment.secret,
            Sealing::Fulfilment(&tenant),
        )?;
        let webhook_id = format!(
            "shp_{}",
            &sha256_hex(
                format!("{}|{}|{}|{kind}", s.store_id, s.order_id, s.shipment_id).as_bytes()
            )[..32]
        );
        let body = json!({
            "type": kind,
            "timestamp": s.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "data": shipment_document(s),
        })
        .to_string();
        let outcome = match url::Url::parse(&fulfilment.url) {
            Ok(url) => {
                self.fulfilment
                    .deliver(&url, &secret, &webhook_id, body.as_bytes())
                    .await
            }
            Err(_) => Err(DeliveryError::Permanent(crate::fulfilment::Failure::plain(
                "the fulfilment URL is not a URL",
            ))),
        };
        match outcome {
            Ok(status) => {
                tracing::info!(store = %s.store_id, order = %s.order_id, shipment = %s.shipment_id, kind, status, "shipment outcome sent to the tenant");
                self.mark_reported(s).await
            }
            Err(DeliveryError::Permanent(f)) => {
                tracing::warn!(store = %s.store_id, shipment = %s.shipment_id, reason = %f.summary, "the tenant refused the shipment event; parked in the dead-letter queue");
                self.dead_letters.send(message.to_owned()).await?;
                Ok(())
            }
            Err(DeliveryError::Retryable(f)) => Err(Again {
                reason: f.summary,
                backoff: true,
            }),
        }
    }

    async fn mark_reported(&self, s: &Shipment) -> std::result::Result<(), Again> {
        let mut next = s.clone();
        next.reported = true;
        next.revision += 1;
        match self.shipments.save_shipment(&next, Some(s.revision)).await {
            // Changed meanwhile (deleted): the event went; nothing to mark.
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
