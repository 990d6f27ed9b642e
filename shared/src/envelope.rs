//! The queue message: one versioned JSON envelope, the only thing the intake writes and the
//! worker reads. `payload` is the WooCommerce order exactly as received (raw JSON, never
//! re-encoded), or absent for a claim-check message whose order the worker fetches itself.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::{OrderId, StoreId, TenantCode, WooTopic};
use crate::error::{Error, Result};

pub const ENVELOPE_VERSION: u8 = 1;
pub const KIND_WOO_ORDER: &str = "woo.order";

/// How an order reached woolink: its webhook (the default, not written), or read from the
/// store by a backfill or the reconciliation poll (the worker treats these alike), or a
/// tenant's resend (a claim check: the worker reads the order and delivers it as a new
/// effect, whatever the tenant already has).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[default]
    Webhook,
    Backfill,
    Poll,
    Resend,
}

impl Source {
    pub fn is_webhook(&self) -> bool {
        *self == Self::Webhook
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Backfill => "backfill",
            Self::Poll => "poll",
            Self::Resend => "resend",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(Self::Webhook),
            "backfill" => Some(Self::Backfill),
            "poll" => Some(Self::Poll),
            "resend" => Some(Self::Resend),
            _ => None,
        }
    }
}

/// The envelope's fields besides the payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeHead {
    v: u8,
    kind: String,
    store_id: StoreId,
    tenant: TenantCode,
    /// The WooCommerce topic (`order.updated`…), from the delivery's header.
    topic: WooTopic,
    order_id: OrderId,
    /// The order's `date_modified_gmt`, as sent (absent for `order.deleted`).
    modified_at: Option<String>,
    received_at: String,
    /// SHA-256 hex of the delivery's raw body.
    body_sha256: String,
    /// Absent for webhooks (messages stay byte-identical to those before it existed).
    #[serde(default, skip_serializing_if = "Source::is_webhook")]
    source: Source,
    /// What the slow lane's gate noted on it (nothing, until it moved the message).
    #[serde(flatten)]
    moves: crate::gate::Moves,
}

impl EnvelopeHead {
    /// The head of a delivery of `body` received now (the only way to make one; a decoded
    /// message's head comes from `Envelope::decode`).
    pub fn for_delivery(
        store_id: StoreId,
        tenant: TenantCode,
        topic: WooTopic,
        order_id: OrderId,
        modified_at: Option<String>,
        body: &[u8],
    ) -> Self {
        Self {
            v: ENVELOPE_VERSION,
            kind: KIND_WOO_ORDER.to_owned(),
            store_id,
            tenant,
            topic,
            order_id,
            modified_at,
            received_at: Self::received_now(),
            body_sha256: crate::crypto::sha256_hex(body),
            source: Source::Webhook,
            moves: crate::gate::Moves::default(),
        }
    }

    /// The same head for an order read from the store rather than delivered by its webhook.
    pub fn from_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    pub fn source(&self) -> Source {
        self.source
    }

    /// What the gate noted on the message.
    pub fn moves(&self) -> &crate::gate::Moves {
        &self.moves
    }

    /// The same head with `moves` noted.
    pub fn moved(mut self, moves: crate::gate::Moves) -> Self {
        self.moves = moves;
        self
    }

    pub fn received_now() -> String {
        Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn v(&self) -> u8 {
        self.v
    }
    pub fn kind(&self) -> &str {
        &self.kind
    }
    pub fn store_id(&self) -> &StoreId {
        &self.store_id
    }
    pub fn tenant(&self) -> &TenantCode {
        &self.tenant
    }
    pub fn topic(&self) -> WooTopic {
        self.topic
    }
    pub fn order_id(&self) -> OrderId {
        self.order_id
    }
    pub fn modified_at(&self) -> Option<&str> {
        self.modified_at.as_deref()
    }
    /// When the intake received the delivery (RFC 3339, microseconds).
    pub fn received_at(&self) -> &str {
        &self.received_at
    }
    pub fn received_time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.received_at)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
    pub fn body_sha256(&self) -> &str {
        &self.body_sha256
    }
}

/// A decoded queue message (worker side).
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(flatten)]
    pub head: EnvelopeHead,
    #[serde(default)]
    pub payload: Option<Box<RawValue>>,
}

impl Envelope {
    pub fn decode(body: &str) -> Result<Self> {
        let env: Self = serde_json::from_str(body)
            .map_err(|e| Error::invalid_request(format!("undecodable queue message: {e}")))?;
        if env.head.v != ENVELOPE_VERSION || env.head.kind != KIND_WOO_ORDER {
            return Err(Error::invalid_request(format!(
                "unsupported queue message v{} kind {}",
                env.head.v, env.head.kind
            )));
        }
        Ok(env)
    }
}

/// Encodes an envelope around `payload` without parsing or re-encoding it: the head is
/// serialised and the payload bytes are spliced in. `payload` must be one complete JSON value
/// (the caller has parsed it once already) and valid UTF-8.
pub fn encode(head: &EnvelopeHead, payload: Option<&str>) -> Result<String> {
    let head_json = serde_json::to_string(head).map_err(Error::internal)?;
    let Some(payload) = payload else {
        return Ok(head_json);
    };
    // `{...head...}` → `{...head...,"payload":<raw>}`
    let mut out = String::with_capacity(head_json.len() + payload.len() + 12);
    out.push_str(&head_json[..head_json.len() - 1]);
    out.push_str(",\"payload\":");
    out.push_str(payload);
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> EnvelopeHead {
        EnvelopeHead {
            v: 1,
            kind: KIND_WOO_ORDER.into(),
            store_id: StoreId::parse("st_1").unwrap(),
            tenant: TenantCode::parse("ACME").unwrap(),
            topic: WooTopic::OrderUpdated,
            order_id: OrderId::new(727),
            modified_at: Some("2026-11-23T10:00:00".into()),
            received_at: "2026-11-23T10:00:01.000Z".into(),
            body_sha256: "ab".repeat(32),
            source: Source::Webhook,
            moves: crate::gate::Moves::default(),
        }
    }

    /// A webhook's message has no `source` (the bytes before it existed); a backfill's says so.
    #[test]
    fn the_source_is_written_only_when_not_a_webhook() {
        let webhook = encode(&head(), Some("{}")).unwrap();
        assert!(!webhook.contains("source"), "{webhook}");
        assert_eq!(
            Envelope::decode(&webhook).unwrap().head.source(),
            Source::Webhook
        );
        let backfill = encode(&head().from_source(Source::Backfill), Some("{}")).unwrap();
        assert!(backfill.contains(r#""source":"backfill""#), "{backfill}");
        assert_eq!(
            Envelope::decode(&backfill).unwrap().head.source(),
            Source::Backfill
        );
    }

    #[test]
    fn payload_is_carried_byte_for_byte() {
        let raw = r#"{"id":727,"note":"a\/b \u00e9",  "x":[1, 2]}"#;
        let encoded = encode(&head(), Some(raw)).unwrap();
        let env = Envelope::decode(&encoded).unwrap();
        assert_eq!(env.head, head());
        assert_eq!(env.payload.unwrap().get(), raw);
        assert!(encoded.len() < raw.len() + 400);
    }

    #[test]
    fn claim_checks_have_no_payload_and_others_are_refused() {
        let env = Envelope::decode(&encode(&head(), None).unwrap()).unwrap();
        assert!(env.payload.is_none());
        assert!(Envelope::decode("not json").is_err());
        let mut h = head();
        h.v = 2;
        assert!(Envelope::decode(&encode(&h, None).unwrap()).is_err());
    }
}
