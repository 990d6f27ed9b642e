//! Webhook intake: a WooCommerce delivery is verified against the link's secret(s) and becomes
//! one queue message. Only a `VerifiedDelivery` can become a message, and only the verifier
//! makes one, so nothing unverified can reach the queue.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::cache::TtlCache;
use crate::crypto::{KeyRing, SecretBox, SecretString};
use crate::domain::{OrderId, StoreId, TenantCode, WooTopic};
use crate::envelope::{self, EnvelopeHead, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metric;
use crate::model::{Link, LinkStatus};
use crate::ports::{Links, Tenants};
use crate::queue::Queue;
use crate::secrets::{self, Sealing};

type HmacSha256 = Hmac<Sha256>;

/// `base64(HMAC-SHA256(secret, body))`, WooCommerce's `X-WC-Webhook-Signature`.
pub fn woo_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac_for(secret);
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

fn hmac_for(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Why a delivery failed verification: one variant per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    MissingSignature,
    MalformedSignature,
    Mismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingSignature => "the X-WC-Webhook-Signature header is missing",
            Self::MalformedSignature => {
                "the X-WC-Webhook-Signature header is not base64 of 32 bytes"
            }
            Self::Mismatch => "the signature does not match the body",
        })
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::new(ErrorKind::InvalidSignature, e.to_string())
    }
}

/// Checks `X-WC-Webhook-Signature` against a link's current and previous secrets.
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<SecretString>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Verifier {
    pub fn new(secrets: Vec<SecretString>) -> Self {
        Self { secrets }
    }

    /// The only way to a `VerifiedDelivery`: compare in constant time against every secret.
    pub fn verify(&self, delivery: UnverifiedDelivery) -> Result<VerifiedDelivery, VerifyError> {
        let sig = delivery
            .signature
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(VerifyError::MissingSignature)?;
        let expected = STANDARD
            .decode(sig)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or(VerifyError::MalformedSignature)?;
        let matches = self.secrets.iter().fold(false, |found, secret| {
            let mut mac = hmac_for(secret.expose().as_bytes());
            mac.update(&delivery.body);
            // `verify_slice` compares in constant time; check every secret regardless.
            mac.verify_slice(&expected).is_ok() | found
        });
        if !matches {
            return Err(VerifyError::Mismatch);
        }
        Ok(VerifiedDelivery {
            store_id: delivery.store_id,
            topic: delivery.topic,
            body: delivery.body,
        })
    }
}

/// A delivery as it arrived: nothing in it is trusted yet.
pub struct UnverifiedDelivery {
    pub store_id: StoreId,
    pub topic: Option<String>,
    pub signature: Option<String>,
    pub body: Bytes,
}

/// A delivery whose body was signed with the link's secret. Fields are private: only
/// `Verifier::verify` constructs one.
pub struct VerifiedDelivery {
    store_id: StoreId,
    topic: Option<String>,
    body: Bytes,
}

impl VerifiedDelivery {
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }
}

/// Is this WooCommerce's ping (`webhook_id=<n>` form body, no topic header)?
pub fn is_ping(topic: Option<&str>, body: &[u8]) -> bool {
    topic.is_none()
        && body
            .strip_prefix(b"webhook_id=")
            .is_some_and(|n| !n.is_empty() && n.len() <= 20 && n.iter().all(u8::is_ascii_digit))
}

/// What the intake needs of a link, with its secrets opened, cached for a short time.
#[derive(Clone, Debug)]
pub struct IntakeLink {
    pub tenant: TenantCode,
    /// The tenant is active (a deactivated tenant's stores are refused).
    pub tenant_active: bool,
    pub status: LinkStatus,
    pub verifier: Verifier,
    pub holds_woo_keys: bool,
}

impl IntakeLink {
    fn from_link(link: &Link, tenant_active: bool, secrets: &SecretBox) -> Result<Self> {
        let mut opened = Vec::with_capacity(2);
        if let Some(current) = &link.webhook_secret {
            opened.push(secrets::open(
                secrets,
                current,
                Sealing::Webhook(&link.store_id),
            )?);
        }
        let previous_valid = link.previous_secret_until.is_some_and(|u| u > Utc::now());
        if let (Some(previous), true) = (&link.previous_webhook_secret, previous_valid) {
            opened.push(secrets::open(
                secrets,
                previous,
                Sealing::Webhook(&link.store_id),
            )?);
        }
        Ok(Self {
            tenant: link.tenant.clone(),
            tenant_active,
            status: link.status,
            verifier: Verifier::new(opened),
            holds_woo_keys: link.woo_keys.is_some(),
        })
    }
}

/// A per-container cache of links (and of their absence), so a delivery costs at most one
/// read; the short TTL bounds how long a disconnect or rotation takes to be seen.
pub struct LinkCache {
    inner: TtlCache<StoreId, Option<Arc<IntakeLink>>>,
}

impl LinkCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: TtlCache::new(ttl),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.inner.ttl()
    }

    /// Drops a store's entry (a link changed in this process).
    pub fn forget(&self, store: &StoreId) {
        self.inner.forget(store);
    }

    /// The store's link (or its absence) and whether its tenant is active, read at most
    /// once per TTL however many deliveries for the store arrive at once.
    pub async fn get(
        &self,
        store: &StoreId,
        links: &dyn Links,
        tenants: &dyn Tenants,
        secrets: &KeyRing,
    ) -> Result<Option<Arc<IntakeLink>>> {
        self.inner
            .get_or_load(store, || async {
                let Some(link) = links.get_link(store).await? else {
                    return Ok(None);
                };
                let active = tenants
                    .get_tenant(&link.tenant)
                    .await?
                    .is_some_and(|t| t.active);
                // The keys only for a link that exists: pings and unknown stores open nothing.
                let secrets = secrets.get().await?;
                Ok(Some(Arc::new(IntakeLink::from_link(
                    &link, active, secrets,
                )?)))
            })
            .await
    }
}

impl crate::ports::LinkChanges for LinkCache {
    fn link_changed(&self, store: &StoreId) {
        self.forget(store);
    }
}

/// Verified deliveries a store may make to this instance: a token bucket per store, so a store
/// flooding its webhook (a plugin in a loop) is answered 429 without spending anyone else's
/// share. Only deliveries that carry the store's signature count: a stranger cannot spend a
/// store's budget with junk. Per instance, like every limit kept in a process.
pub struct IntakeLimit {
    rate: crate::politeness::StoreRate,
    buckets: std::sync::Mutex<std::collections::HashMap<StoreId, (f64, std::time::Instant)>>,
}

/// Stores remembered before the full buckets are forgotten.
const MAX_LIMITED_STORES: usize = 50_000;

impl IntakeLimit {
    pub fn new(rate: crate::politeness::StoreRate) -> Self {
        Self {
            rate,
            buckets: Default::default(),
        }
    }

    /// Takes one delivery's token, or says how long until there is one.
    pub fn take(&self, store: &StoreId) -> std::result::Result<(), std::time::Duration> {
        let now = std::time::Instant::now();
        let rate = self.rate;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_LIMITED_STORES && !buckets.contains_key(store) {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate.per_second < rate.burst
            });
        }
        // A store seen before is found without allocating (the intake's hot path).
        if !buckets.contains_key(store) {
            buckets.insert(store.clone(), (rate.burst, now));
        }
        let Some((tokens, at)) = buckets.get_mut(store) else {
            return Ok(());
        };
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * rate.per_second).min(rate.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(std::time::Duration::from_secs_f64(
                (1.0 - *tokens) / rate.per_second,
            ))
        }
    }
}

/// The intake's dependencies: link reads and queue sends, nothing else.
pub struct Intake {
    pub links: Arc<dyn Links>,
    pub tenants: Arc<dyn Tenants>,
    pub queue: Arc<dyn Queue>,
    pub secrets: KeyRing,
    pub cache: Arc<LinkCache>,
    /// Largest message the queue accepts, in bytes.
    pub max_message_bytes: usize,
    /// Verified deliveries per store (`WOOLINK_STORE_INTAKE_RATE`); none: no limit.
    pub limit: Option<IntakeLimit>,
}

/// What the intake did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Verified, but not an order topic.
    Ignored { topic: String },
    /// A product webhook, queued for the worker.
    ProductQueued { message_id: String },
    Queued {
        message_id: String,
        order_id: OrderId,
        claim_check: bool,
    },
}

/// The parts of an order the envelope needs; everything else is skipped while parsing.
#[derive(Deserialize)]
struct OrderHead {
    id: u64,
    #[serde(default)]
    date_modified_gmt: Option<String>,
}

/// A delivery's body must be a JSON object (WooCommerce sends the REST resource) with a
/// positive integer `id`; anything else could never become an order and is refused here.
fn parse_order_head(body: &[u8]) -> Result<OrderHead> {
    let object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if !object {
        return Err(Error::invalid_request("the body is not a JSON object"));
    }
    let head: OrderHead = serde_json::from_slice(body).map_err(|e| {
        Error::invalid_request(if e.is_data() {
            "the order has no integer id"
        } else {
            "the body is not JSON"
        })
    })?;
    if head.id == 0 {
        return Err(Error::invalid_request("the order has no integer id"));
    }
    Ok(head)
}

impl Intake {
    /// Handles one delivery end to end: link, signature, parse, one queue send. (WooCommerce's
    /// ping carries nothing to verify: the route answers it before calling this.)
    pub async fn accept(&self, delivery: UnverifiedDelivery) -> Result<Outcome> {
        let link = self
            .cache
            .get(
                &delivery.store_id,
                self.links.as_ref(),
                self.tenants.as_ref(),
                &self.secrets,
            )
            .await?
            .ok_or_else(|| Error::new(ErrorKind::StoreNotFound, "no such store"))?;
        if !link.tenant_active {
            return Err(Error::new(
                ErrorKind::TenantInactive,
                "this store's tenant is not active",
            ));
        }
        if link.status == LinkStatus::Disconnected {
            return Err(Error::new(
                ErrorKind::StoreDisconnected,
                "this store has been disconnected from woolink",
            ));
        }
        let verified = link.verifier.verify(delivery)?;
        if let Some(limit) = &self.limit {
            if let Err(wait) = limit.take(&verified.store_id) {
                crate::metrics::emit(
                    &link.tenant,
                    Some(("Reason", "store_rate_limited")),
                    &[(Metric::OrdersSkipped, 1.0)],
                );
                return Err(Error::new(
                    ErrorKind::TooManyAttempts {
                        retry_after_secs: wait.as_secs().max(1),
                    },
                    "this store sends more deliveries than woolink takes from one store; the reconciliation poll will pick up what was refused",
                ));
            }
        }
        self.enqueue(&link, verified).await
    }

    async fn enqueue(&self, link: &IntakeLink, delivery: VerifiedDelivery) -> Result<Outcome> {
        let prepared = match prepare(link, &delivery, self.max_message_bytes)? {
            Prepared::Ignored { topic } => {
                tracing::info!(store = %delivery.store_id, topic = %topic, "ignored a non-order topic");
                return Ok(Outcome::Ignored { topic });
            }
            Prepared::Message(m) => m,
            Prepared::Product(change) => {
                let message_id = self
                    .queue
                    .send_grouped(change.encode(), link.tenant.as_str())
                    .await?;
                tracing::info!(store = %change.store_id, product = change.product_id, topic = %change.topic, "product change queued");
                return Ok(Outcome::ProductQueued { message_id });
            }
        };
        // One fairness group per tenant: a tenant whose stores flood the queue (or whose
        // endpoint is slow, so its messages pile up) does not delay the others' deliveries.
        let message_id = self
            .queue
            .send_grouped(prepared.body, link.tenant.as_str())
            .await?;
        let head = &prepared.head;
        tracing::info!(
            store = %head.store_id(), tenant = %head.tenant(), order = %head.order_id(),
            topic = %head.topic(), claim_check = prepared.claim_check, "delivery queued"
        );
        crate::metrics::emit(head.tenant(), None, &[(Metric::OrdersReceived, 1.0)]);
        Ok(Outcome::Queued {
            message_id,
            order_id: head.order_id(),
            claim_check: prepared.claim_check,
        })
    }
}

/// A queue message ready to send.
pub struct Message {
    pub head: EnvelopeHead,
    pub body: String,
    pub claim_check: bool,
}

pub enum Prepared {
    Ignored {
        topic: String,
    },
    Message(Message),
    /// A product webhook (links with keys register them): the product's id and topic.
    Product(crate::catalogue::ProductChange),
}

/// The intake's CPU work after verification: parse what the envelope needs, hash the body,
/// build the envelope around the raw payload (or a claim check when it would not fit).
pub fn prepare(
    link: &IntakeLink,
    delivery: &VerifiedDelivery,
    max_message_bytes: usize,
) -> Result<Prepared> {
    let Some(raw_topic) = delivery.topic() else {
        return Err(Error::invalid_request(
            "the X-WC-Webhook-Topic header is missing",
        ));
    };
    // Orders first: they are the intake's hot path.
    let topic = match WooTopic::parse(raw_topic) {
        Some(topic) => topic,
        // Only a link that holds keys can have a product read back.
        None => {
            return match crate::domain::ProductTopic::parse(raw_topic) {
                Some(topic) if link.holds_woo_keys => {
                    crate::catalogue::ProductChange::from_delivery(
                        &delivery.store_id,
                        &link.tenant,
                        topic,
                        delivery.body(),
                    )
                    .map(Prepared::Product)
                }
                _ => Ok(Prepared::Ignored {
                    topic: raw_topic.to_owned(),
                }),
            }
        }
    };
    let order = OrderBody {
        store_id: &delivery.store_id,
        tenant: &link.tenant,
        topic,
        body: delivery.body(),
        source: Source::Webhook,
    };
    message_for(order, link.holds_woo_keys, max_message_bytes).map(Prepared::Message)
}

/// An order's body from a store (a verified delivery, or a page the store answered), as the
/// one queue message it becomes.
pub struct OrderBody<'a> {
    pub store_id: &'a StoreId,
    pub tenant: &'a TenantCode,
    pub topic: WooTopic,
    pub body: &'a [u8],
    pub source: Source,
}

/// The queue message for an order's body: the envelope around the raw body, or a claim check
/// when it would not fit the queue and the link holds keys to fetch it again.
pub fn message_for(
    order: OrderBody<'_>,
    holds_woo_keys: bool,
    max_message_bytes: usize,
) -> Result<Message> {
    let body = order.body;
    let parsed = parse_order_head(body)?;
    let payload =
        std::str::from_utf8(body).map_err(|_| Error::invalid_request("the body is not UTF-8"))?;
    let head = EnvelopeHead::for_delivery(
        order.store_id.clone(),
        order.tenant.clone(),
        order.topic,
        OrderId::new(parsed.id),
        parsed.date_modified_gmt,
        body,
    )
    .from_source(order.source);
    let full = (payload.len() < max_message_bytes)
        .then(|| envelope::encode(&head, Some(payload)))
        .transpose()?
        .filter(|m| m.len() < max_message_bytes);
    let (body, claim_check) = match full {
        Some(m) => (m, false),
        None if holds_woo_keys => (envelope::encode(&head, None)?, true),
        None => {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                "the order is larger than the queue can carry",
            ))
        }
    };
    Ok(Message {
        head,
        body,
        claim_check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(body: &[u8], signature: Option<String>) -> UnverifiedDelivery {
        UnverifiedDelivery {
            store_id: StoreId::parse("st_1").unwrap(),
            topic: Some("order.updated".into()),
            signature,
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn verifies_with_current_or_previous_secret_only() {
        let body = br#"{"id":1}"#;
        let v = Verifier::new(vec![
            SecretString::new("current".into()),
            SecretString::new("previous".into()),
        ]);
        for s in ["current", "previous"] {
            let sig = woo_signature(s.as_bytes(), body);
            assert!(v.verify(delivery(body, Some(sig))).is_ok());
        }
        let other = woo_signature(b"other", body);
        assert_eq!(
            v.verify(delivery(body, Some(other))).err(),
            Some(VerifyError::Mismatch)
        );
        assert_eq!(
            v.verify(delivery(body, None)).err(),
            Some(VerifyError::MissingSignature)
        );
        assert_eq!(
            v.verify(delivery(body, Some("%%%".into()))).err(),
            Some(VerifyError::MalformedSignature)
        );
        assert!(!format!("{v:?}").contains("current"));
    }

    #[test]
    fn pings_are_recognised_only_without_a_topic() {
        assert!(is_ping(None, b"webhook_id=142"));
        assert!(!is_ping(Some("order.updated"), b"webhook_id=142"));
        assert!(!is_ping(None, b"webhook_id="));
        assert!(!is_ping(None, b"webhook_id=1&x=2"));
        assert!(!is_ping(None, br#"{"id":1}"#));
    }

    #[test]
    fn order_heads_are_objects_with_an_integer_id() {
        assert_eq!(parse_order_head(b" {\"id\":42}").unwrap().id, 42);
        let h = parse_order_head(br#"{"id":7,"date_modified_gmt":"2026-01-01T00:00:00"}"#).unwrap();
        assert_eq!(h.date_modified_gmt.as_deref(), Some("2026-01-01T00:00:00"));
        assert!(parse_order_head(br#"{"id":7,"date_modified_gmt":null}"#).is_ok());
        for bad in [
            &b"[]"[..],
            b"[5]",
            b"[5,\"2026-01-01T00:00:00\"]",
            b"{\"id\":\"42\"}",
            b"{\"id\":4.2}",
            b"{}",
            b"{\"id\":0}",
            b"{\"id\":-1}",
            b"nope",
            b"{\"id\":1} x",
        ] {
            assert!(
                parse_order_head(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
