//! A client for the parts of a store's WooCommerce REST API woolink uses.

use std::fmt;

use serde::Deserialize;
use serde_json::json;

use crate::crypto::SecretString;
use crate::domain::{StoreUrl, WooTopic};

/// A store's REST API keys, in clear, only for the duration of a call.
pub struct WooCredentials {
    pub consumer_key: SecretString,
    pub consumer_secret: SecretString,
}

impl WooCredentials {
    /// The password half of HTTP Basic auth.
    fn secret(&self) -> Option<&str> {
        Some(self.consumer_secret.expose())
    }
}

impl fmt::Debug for WooCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WooCredentials([redacted])")
    }
}

/// Why a call to a store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WooError {
    /// Connection refused, DNS, TLS, timeout, 5xx, or an answer that is not WooCommerce's.
    Unreachable(String),
    /// 401/403: the keys are wrong or lack permission.
    AuthFailed,
    /// Another 4xx with WooCommerce's error code.
    Rejected { status: u16, code: String },
}

impl fmt::Display for WooError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "store unreachable: {why}"),
            Self::AuthFailed => f.write_str("store refused the API keys"),
            Self::Rejected { status, code } => write!(f, "store answered {status} {code}"),
        }
    }
}

impl std::error::Error for WooError {}

#[derive(Deserialize)]
struct CreatedWebhook {
    id: u64,
}

#[derive(Deserialize, Default)]
struct RestError {
    #[serde(default)]
    code: String,
}

/// The WooCommerce REST client. Wraps the vetted outbound client (`crate::outbound`).
#[derive(Clone)]
pub struct WooClient {
    http: reqwest::Client,
}

impl WooClient {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    async fn classify(response: reqwest::Response) -> WooError {
        let status = response.status().as_u16();
        match status {
            401 | 403 => WooError::AuthFailed,
            400..=499 => {
                let body = response.json::<RestError>().await.unwrap_or_default();
                WooError::Rejected {
                    status,
                    code: body.code.chars().take(64).collect(),
                }
            }
            _ => WooError::Unreachable(format!("HTTP {status}")),
        }
    }

    /// Sends `request` with the store's keys; any answer but a 2xx is classified as an error.
    async fn call(
        request: reqwest::RequestBuilder,
        creds: &WooCredentials,
    ) -> Result<reqwest::Response, WooError> {
        let response = request
            .basic_auth(creds.consumer_key.expose(), creds.secret())
            .send()
            .await
            .map_err(Self::transport)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(Self::classify(response).await)
        }
    }

    fn transport(e: reqwest::Error) -> WooError {
        // reqwest's Display includes the URL; store URLs are not secret, keys are in headers.
        let kind = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        WooError::Unreachable(kind.to_owned())
    }

    /// `POST /wc/v3/webhooks`: returns the new webhook's id.
    pub async fn create_webhook(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        topic: WooTopic,
        delivery_url: &str,
        secret: &SecretString,
    ) -> Result<u64, WooError> {
        let request = self
            .http
            .post(store.rest_endpoint("wc/v3/webhooks"))
            .json(&json!({
                "name": format!("woolink {topic}"),
                "topic": topic,
                "delivery_url": delivery_url,
                "secret": secret.expose(),
                "status": "active",
            }));
        Self::call(request, creds)
            .await?
            .json::<CreatedWebhook>()
            .await
            .map(|w| w.id)
            .map_err(|_| WooError::Unreachable("answer was not a WooCommerce webhook".into()))
    }

    /// `GET /wc/v3/orders/{id}`: the order as raw JSON (for claim-check messages).
    pub async fn get_order(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        id: u64,
    ) -> Result<String, WooError> {
        let request = self
            .http
            .get(store.rest_endpoint(&format!("wc/v3/orders/{id}")));
        Self::call(request, creds)
            .await?
            .text()
            .await
            .map_err(Self::transport)
    }

    /// Weights of products, one call: `GET /wc/v3/products?include=…&per_page=100`.
    /// Products without a weight map to `None`. Variations are not products here: ask
    /// `variation_weights` for them.
    pub async fn product_weights(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        ids: &[u64],
    ) -> Result<Vec<(u64, Option<f64>)>, WooError> {
        self.weights(store.rest_endpoint("wc/v3/products"), creds, ids)
            .await
    }

    /// Weights of one variable product's variations, one call:
    /// `GET /wc/v3/products/{parent}/variations?include=…&per_page=100` (a variation without a
    /// weight of its own shows its parent's, as WooCommerce ships it).
    pub async fn variation_weights(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        parent: u64,
        ids: &[u64],
    ) -> Result<Vec<(u64, Option<f64>)>, WooError> {
        let url = store.rest_endpoint(&format!("wc/v3/products/{parent}/variations"));
        self.weights(url, creds, ids).await
    }

    async fn weights(
        &self,
        url: String,
        creds: &WooCredentials,
        ids: &[u64],
    ) -> Result<Vec<(u64, Option<f64>)>, WooError> {
        #[derive(Deserialize)]
        struct Product {
            id: u64,
            #[serde(default)]
            weight: Option<serde_json::Value>,
        }
        let include = ids
            .iter()
            .take(100)
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let request = self
            .http
            .get(url)
            .query(&[("include", include.as_str()), ("per_page", "100")]);
        let products: Vec<Product> = Self::call(request, creds)
            .await?
            .json()
            .await
            .map_err(|_| WooError::Unreachable("answer was not a product list".into()))?;
        Ok(products
            .into_iter()
            .map(|p| {
                let w = match p.weight {
                    Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                    Some(serde_json::Value::Number(n)) => n.as_f64(),
                    _ => None,
                };
                (p.id, w)
            })
            .collect())
    }

    /// `DELETE /wc/v3/webhooks/{id}?force=true`; a 404 means it is already gone.
    pub async fn delete_webhook(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        id: u64,
    ) -> Result<(), WooError> {
        let request = self
            .http
            .delete(store.rest_endpoint(&format!("wc/v3/webhooks/{id}")))
            .query(&[("force", "true")]);
        match Self::call(request, creds).await {
            Ok(_) | Err(WooError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
