//! Delivery to a tenant's fulfilment endpoint as a Standard Webhooks message.

use std::fmt;

use crate::crypto::SecretString;
use crate::error::{Error, Result};
use crate::outbound::OutboundPolicy;

/// How much of a refusing tenant's answer is kept.
const ANSWER_KEPT: usize = 1024;

/// What went wrong with a delivery: a summary safe to log and to show the merchant (a status
/// and a class, never the tenant's words), and the first 1 KB of the tenant's answer when it
/// gave one (kept in the order's record, shown only to the tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub summary: String,
    pub answer: Option<String>,
    /// The tenant's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The request may have reached the tenant, whose answer never came (a timeout, a
    /// connection lost after sending, a call cut short): whether it acted is unknown.
    pub unknown: bool,
}

impl Failure {
    pub fn plain(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            answer: None,
            status: None,
            unknown: false,
        }
    }

    /// A failure after which the tenant may have acted on the request.
    pub fn unknown(summary: impl Into<String>) -> Self {
        Self {
            unknown: true,
            ..Self::plain(summary)
        }
    }
}

/// `summary: answer`, as `DeliveryError` prints it (the order record keeps the two apart:
/// `lastError` for the merchant, `tenantAnswer` for the tenant).
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.answer {
            Some(a) => write!(f, "{}: {a}", self.summary),
            None => f.write_str(&self.summary),
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Timeout, connection error, 408, 429 or 5xx: may heal, retry later.
    Retryable(Failure),
    /// Any other refusal, or an endpoint woolink may not call.
    Permanent(Failure),
}

impl DeliveryError {
    pub fn failure(&self) -> &Failure {
        match self {
            Self::Retryable(f) | Self::Permanent(f) => f,
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.failure().fmt(f)
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
        url: &url::Url,
        secret: &SecretString,
        webhook_id: &str,
        body: &[u8],
    ) -> std::result::Result<u16, DeliveryError> {
        self.policy.check_url(url).map_err(|e| {
            DeliveryError::Permanent(Failure::plain(format!(
                "fulfilment URL refused: {}",
                e.message()
            )))
        })?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(secret, webhook_id, timestamp, body)
            .map_err(|e| DeliveryError::Permanent(Failure::plain(e.message())))?;
        let response = self
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                // Only a connection never made is known not to have reached the tenant.
                DeliveryError::Retryable(if e.is_connect() {
                    Failure::plain("the tenant's endpoint could not be reached")
                } else if e.is_timeout() {
                    Failure::unknown("the tenant did not answer in time")
                } else {
                    Failure::unknown("the request to the tenant failed")
                })
            })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(status);
        }
        let retryable = status == 408 || status == 429 || status >= 500;
        let answer = crate::outbound::read_prefix(response, ANSWER_KEPT).await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let failure = Failure {
            summary: format!("tenant answered {status}"),
            answer: Some(text),
            status: Some(status),
            unknown: false,
        };
        Err(if retryable {
            DeliveryError::Retryable(failure)
        } else {
            DeliveryError::Permanent(failure)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn client() -> FulfilmentClient {
        let policy = OutboundPolicy::local_development();
        let http = policy.client(Duration::from_millis(300)).expect("client");
        FulfilmentClient::new(http, policy)
    }

    async fn call(url: &str) -> std::result::Result<u16, DeliveryError> {
        let secret = SecretString::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        client()
            .deliver(&url::Url::parse(url).unwrap(), &secret, "msg_1", b"{}")
            .await
    }

    #[tokio::test]
    async fn a_refused_connection_is_known_not_to_have_arrived() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let Err(DeliveryError::Retryable(f)) = call(&format!("http://127.0.0.1:{port}/")).await
        else {
            panic!("a retryable failure");
        };
        assert!(!f.unknown, "{f}");
    }

    #[tokio::test]
    async fn no_answer_in_time_is_an_unknown_outcome() {
        // Accepts the connection and reads the request, never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let Err(DeliveryError::Retryable(f)) = call(&format!("http://{addr}/")).await else {
            panic!("a retryable failure");
        };
        assert!(f.unknown, "{f}");
        assert_eq!(f.summary, "the tenant did not answer in time");
    }
}
