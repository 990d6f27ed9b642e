//! Delivery to a tenant's fulfilment endpoint as a Standard Webhooks message.

use std::fmt;

use crate::crypto::SecretString;
use crate::error::{Error, Result};
use crate::outbound::OutboundPolicy;

/// How much of a refusing tenant's answer is kept.
const ANSWER_KEPT: usize = 1024;

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Timeout, connection error, 408, 429 or 5xx: may heal, retry later.
    Retryable(String),
    /// Any other refusal: the tenant's status and the first 1 KB of its answer.
    Permanent(String),
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable(s) | Self::Permanent(s) => f.write_str(s),
        }
    }
}

/// Signs and sends order events. Holds the vetted outbound client (no redirects, timeouts).
#[derive(Clone)]
pub struct FulfilmentClient {
    http: reqwest::Client,
    policy: OutboundPolicy,
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the `whsec_` secret.
pub fn sign(
    secret: &SecretString,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String> {
    let wh = standardwebhooks::Webhook::new(secret.expose())
        .map_err(|_| Error::internal("the tenant's signing secret is not whsec_ base64"))?;
    wh.sign(webhook_id, timestamp, body)
        .map_err(|_| Error::internal("the order document is not UTF-8"))
}

impl FulfilmentClient {
    pub fn new(http: reqwest::Client, policy: OutboundPolicy) -> Self {
        Self { http, policy }
    }

    /// POSTs `body` to `url` with Standard Webhooks headers; returns the tenant's status.
    pub async fn deliver(
        &self,
        url: &str,
        secret: &SecretString,
        webhook_id: &str,
        body: &[u8],
    ) -> std::result::Result<u16, DeliveryError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| DeliveryError::Permanent("the fulfilment URL is not a URL".into()))?;
        self.policy.check_url(&parsed).map_err(|e| {
            DeliveryError::Permanent(format!("fulfilment URL refused: {}", e.message()))
        })?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(secret, webhook_id, timestamp, body)
            .map_err(|e| DeliveryError::Permanent(e.message().to_owned()))?;
        let response = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                DeliveryError::Retryable(if e.is_timeout() {
                    "the tenant did not answer in time".to_owned()
                } else if e.is_connect() {
                    "the tenant's endpoint could not be reached".to_owned()
                } else {
                    "the request to the tenant failed".to_owned()
                })
            })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(status);
        }
        let retryable = status == 408 || status == 429 || status >= 500;
        let answer = response.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&answer[..answer.len().min(ANSWER_KEPT)]).into_owned();
        let message = format!("tenant answered {status}: {text}");
        Err(if retryable {
            DeliveryError::Retryable(message)
        } else {
            DeliveryError::Permanent(message)
        })
    }
}
