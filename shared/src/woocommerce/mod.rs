//! A client for the parts of a store's WooCommerce REST API woolink uses.

use std::fmt;

use serde::Deserialize;
use serde_json::json;

use crate::crypto::SecretString;
use crate::domain::StoreUrl;
use crate::order::v2::{ItemFacts, RefundItem};
use crate::outbound::{read_capped, BodyError, OutboundPolicy};
use crate::politeness::{self, StoreRate};

mod catalogue;
mod probe;
mod tracking;

pub use probe::Probe;

pub use catalogue::{StockLevel, BATCH_LIMIT};
pub use tracking::{FulfillmentItem, NewTracking, StoreTracking, TrackingApi};

/// How woolink introduces itself to stores (their logs and firewalls see who calls).
pub const USER_AGENT: &str = concat!(
    "woolink/",
    env!("CARGO_PKG_VERSION"),
    " (WooCommerce integration)"
);

/// Largest order answer read from a store (a claim-checked order: one too large for the queue).
pub const ORDER_ANSWER_LIMIT: usize = 4 << 20;
/// Largest other answer read from a store (webhooks, weight lists of at most 100 items asked
/// for with `_fields=id,weight`, error bodies).
pub const ANSWER_LIMIT: usize = 1 << 20;

/// A store's REST API keys, in clear, only for the duration of a call.
pub struct WooCredentials {
    pub consumer_key: SecretString,
    pub consumer_secret: SecretString,
}

/// Puts the keys on a request: HTTP Basic auth, or WooCommerce's query-string form
/// (`consumer_key`/`consumer_secret`, accepted over HTTPS) for hosts that lose the header.
fn authorize(request: &mut reqwest::Request, creds: &WooCredentials, by_query: bool) {
    use base64::Engine as _;
    if by_query {
        request
            .url_mut()
            .query_pairs_mut()
            .append_pair("consumer_key", creds.consumer_key.expose())
            .append_pair("consumer_secret", creds.consumer_secret.expose());
        return;
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        creds.consumer_key.expose(),
        creds.consumer_secret.expose()
    ));
    if let Ok(mut value) = reqwest::header::HeaderValue::from_str(&format!("Basic {basic}")) {
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(reqwest::header::AUTHORIZATION, value);
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
    /// Another 4xx with WooCommerce's error code (a string, or the number some routes send:
    /// core fulfillments answer `"code": 0` and `"code": 404`) and its message, both cut short.
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// The answer was larger than woolink reads from a store (it will not shrink on a retry).
    TooLarge { limit: usize },
    /// The store's address is one woolink may not call (checked before every call).
    Refused(String),
    /// The store asked to be called again later (`429`, `503` with `Retry-After`) for longer
    /// than a call waits.
    Busy { retry_after_secs: u64 },
}

impl WooError {
    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Busy { .. })
    }
}

impl fmt::Display for WooError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "store unreachable: {why}"),
            Self::AuthFailed => f.write_str("store refused the API keys"),
            Self::Rejected {
                status,
                code,
                message,
            } => {
                write!(f, "store answered {status} {code}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Self::TooLarge { limit } => write!(f, "store answered more than {limit} bytes"),
            Self::Refused(why) => write!(f, "store address refused: {why}"),
            Self::Busy { retry_after_secs } => {
                write!(f, "store busy: asked to wait {retry_after_secs} s")
            }
        }
    }
}

impl std::error::Error for WooError {}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize, Default)]
struct RestError {
    #[serde(default, deserialize_with = "crate::order::lenient::string")]
    code: String,
    #[serde(default, deserialize_with = "crate::order::lenient::string")]
    message: String,
}

/// A store's text as woolink repeats it: printable characters only, at most `max`.
fn plain(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !crate::domain::is_invisible(*c))
        .take(max)
        .collect()
}

/// Which orders a listing asks for (times in WooCommerce's ISO 8601, GMT).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderQuery {
    /// WooCommerce statuses without `wc-` (`processing`, `on-hold`, …); empty: any.
    pub statuses: Vec<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    /// Orders modified strictly after this time (WooCommerce's `modified_after`).
    pub modified_after: Option<String>,
    pub order_by: OrderBy,
}

/// The order of a listing, always ascending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrderBy {
    /// By id: orders created meanwhile land on later pages (the backfill).
    #[default]
    Id,
    /// By modification time (the poll).
    Modified,
}

/// An order as a listing carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedOrder {
    pub id: u64,
    /// Its `date_modified_gmt` (`YYYY-MM-DDTHH:MM:SS`), when it has one.
    pub modified: Option<String>,
    /// The order's JSON exactly as the store sent it.
    pub raw: String,
}

/// One page of orders, in the listing's order, and what the store says matches in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdersPage {
    pub orders: Vec<ListedOrder>,
    pub total: u64,
    pub total_pages: u64,
}

/// A webhook's state on the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    Active,
    Paused,
    Disabled,
}

/// A webhook as the store lists it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct StoreWebhook {
    pub id: u64,
    #[serde(default)]
    pub topic: String,
    pub status: WebhookStatus,
    #[serde(default)]
    pub delivery_url: String,
}

/// A list query's `include`: up to 100 ids (one page), comma-separated.
fn include(ids: &[u64]) -> String {
    ids.iter()
        .take(100)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Largest order page read from a store: 100 orders of a typical 3-30 KB each, with room.
pub const ORDER_PAGE_LIMIT: usize = 16 << 20;

/// The WooCommerce REST client. Wraps the vetted outbound client (`crate::outbound`), and
/// checks each URL itself first: an IP literal never reaches the vetting resolver.
#[derive(Clone)]
pub struct WooClient {
    http: reqwest::Client,
    policy: OutboundPolicy,
    rate: StoreRate,
}

impl WooClient {
    /// A client calling each store at most at the default rate (`StoreRate::DEFAULT`).
    pub fn new(http: reqwest::Client, policy: OutboundPolicy) -> Self {
        Self {
            http,
            policy,
            rate: StoreRate::DEFAULT,
        }
    }

    /// The same client with another rate per store.
    pub fn with_rate(mut self, rate: StoreRate) -> Self {
        self.rate = rate;
        self
    }

    /// A request to `url` if the policy allows the address.
    fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, WooError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| WooError::Refused("the store URL is not a URL".into()))?;
        self.policy
            .check_url(&parsed)
            .map_err(|e| WooError::Refused(e.message().to_owned()))?;
        Ok(self
            .http
            .request(method, parsed)
            .header(reqwest::header::USER_AGENT, USER_AGENT))
    }

    async fn classify(response: reqwest::Response) -> WooError {
        let status = response.status().as_u16();
        match status {
            401 | 403 => WooError::AuthFailed,
            400..=499 => {
                let body = read_capped(response, ANSWER_LIMIT)
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<RestError>(&b).ok())
                    .unwrap_or_default();
                WooError::Rejected {
                    status,
                    code: plain(&body.code, 64),
                    message: plain(&body.message, 200),
                }
            }
            _ => WooError::Unreachable(format!("HTTP {status}")),
        }
    }

    /// Sends `request` with the store's keys, in the store's turn (`crate::politeness`); any
    /// answer but a 2xx is classified as an error. A `429` (or a `503` with `Retry-After`)
    /// pauses the store for as long as it asks, up to `MAX_RETRY_AFTER`, and is tried again
    /// twice; a longer wait ends the call (`Busy`). A `401` over HTTPS is tried once more with
    /// the keys in the query string: hosts that strip the `Authorization` header answer so to
    /// valid keys, and the store is then called that way from then on.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        creds: &WooCredentials,
    ) -> Result<reqwest::Response, WooError> {
        let template = request
            .build()
            .map_err(|_| WooError::Refused("the request could not be built".into()))?;
        let url = template.url();
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        let query_allowed = url.scheme() == "https" || self.policy.allows_loopback();
        let mut by_query = query_allowed && politeness::uses_query_auth(&host);
        let mut tried_query = by_query;
        let mut waits = 0;
        loop {
            let mut attempt = template
                .try_clone()
                .ok_or_else(|| WooError::Refused("the request could not be repeated".into()))?;
            authorize(&mut attempt, creds, by_query);
            politeness::turn(&host, self.rate).await;
            let response = self.http.execute(attempt).await.map_err(Self::transport)?;
            let status = response.status().as_u16();
            if response.status().is_success() {
                if by_query && !politeness::uses_query_auth(&host) {
                    tracing::warn!(store = %host, "the store loses the Authorization header; using query-string authentication");
                    politeness::use_query_auth(&host);
                }
                return Ok(response);
            }
            let asked = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match status {
                429 | 503 if status == 429 || asked.is_some() => {
                    let delay = politeness::retry_after(asked.as_deref());
                    politeness::pause(&host, delay.min(politeness::MAX_RETRY_AFTER));
                    if delay > politeness::MAX_RETRY_AFTER || waits >= 2 {
                        return Err(WooError::Busy {
                            retry_after_secs: delay.as_secs(),
                        });
                    }
                    tracing::info!(store = %host, status, wait_secs = delay.as_secs(), "the store asked to slow down");
                    waits += 1;
                }
                401 if query_allowed && !tried_query => {
                    tried_query = true;
                    by_query = true;
                }
                _ => return Err(Self::classify(response).await),
            }
        }
    }

    /// The answer's body, read up to `limit` bytes.
    async fn body(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, WooError> {
        read_capped(response, limit).await.map_err(|e| match e {
            BodyError::TooLarge { limit } => WooError::TooLarge { limit },
            BodyError::Interrupted => WooError::Unreachable("the answer was cut off".into()),
        })
    }

    /// The answer's body as `T`, read up to `limit` bytes.
    async fn read<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
        limit: usize,
        what: &str,
    ) -> Result<T, WooError> {
        let body = Self::body(response, limit).await?;
        serde_json::from_slice(&body)
            .map_err(|_| WooError::Unreachable(format!("answer was not {what}")))
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
        topic: crate::domain::Topic,
        delivery_url: &str,
        secret: &SecretString,
    ) -> Result<u64, WooError> {
        let request = self
            .request(
                reqwest::Method::POST,
                &store.rest_endpoint("wc/v3/webhooks"),
            )?
            .json(&json!({
                "name": format!("woolink {topic}"),
                "topic": topic.as_str(),
                "delivery_url": delivery_url,
                "secret": secret.expose(),
                "status": "active",
            }));
        let response = self.call(request, creds).await?;
        Self::read::<Created>(response, ANSWER_LIMIT, "a WooCommerce webhook")
            .await
            .map(|w| w.id)
    }

    /// `GET /wc/v3/orders/{id}`: the order as raw JSON (for claim-check messages).
    pub async fn get_order(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        id: u64,
    ) -> Result<String, WooError> {
        let request = self.request(
            reqwest::Method::GET,
            &store.rest_endpoint(&format!("wc/v3/orders/{id}")),
        )?;
        let response = self.call(request, creds).await?;
        let body = Self::body(response, ORDER_ANSWER_LIMIT).await?;
        String::from_utf8(body).map_err(|_| WooError::Unreachable("answer was not text".into()))
    }

    /// One page of the store's orders in `query.order_by` order, ascending (by id: orders
    /// created meanwhile land on later pages, never shift earlier ones), with WooCommerce's
    /// own count of what matches (`X-WP-Total`). Each order comes back as the raw JSON the store
    /// sent for it (the worker parses and hashes it as it does a webhook's body). With
    /// `per_page` 1 and page 1 this is also the cheap count a dry run needs.
    pub async fn orders_page(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        query: &OrderQuery,
        page: u32,
        per_page: u32,
    ) -> Result<OrdersPage, WooError> {
        let order_by = match query.order_by {
            OrderBy::Id => "id",
            OrderBy::Modified => "modified",
        };
        let mut params: Vec<(&str, String)> = vec![
            ("orderby", order_by.into()),
            ("order", "asc".into()),
            ("page", page.max(1).to_string()),
            ("per_page", per_page.clamp(1, 100).to_string()),
            ("dates_are_gmt", "true".into()),
        ];
        if !query.statuses.is_empty() {
            params.push(("status", query.statuses.join(",")));
        }
        if let Some(t) = &query.created_after {
            params.push(("after", t.clone()));
        }
        if let Some(t) = &query.created_before {
            params.push(("before", t.clone()));
        }
        if let Some(t) = &query.modified_after {
            params.push(("modified_after", t.clone()));
        }
        let request = self
            .request(reqwest::Method::GET, &store.rest_endpoint("wc/v3/orders"))?
            .query(&params);
        let response = self.call(request, creds).await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (total, total_pages) = (header("x-wp-total"), header("x-wp-totalpages"));
        let raw: Vec<Box<serde_json::value::RawValue>> =
            Self::read(response, ORDER_PAGE_LIMIT, "an order list").await?;
        #[derive(Deserialize)]
        struct Head {
            id: u64,
            #[serde(default)]
            date_modified_gmt: Option<String>,
        }
        let orders = raw
            .into_iter()
            .map(|r| {
                serde_json::from_str::<Head>(r.get())
                    .map(|o| ListedOrder {
                        id: o.id,
                        modified: o.date_modified_gmt,
                        raw: r.get().to_owned(),
                    })
                    .map_err(|_| WooError::Unreachable("an order in the list has no id".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrdersPage {
            total: total.unwrap_or(orders.len() as u64),
            total_pages: total_pages.unwrap_or(1),
            orders,
        })
    }

    /// What products say about shipping (weight, dimensions, virtual, downloadable), one
    /// call: `GET /wc/v3/products?include=…&per_page=100`. Variations are not products here:
    /// ask `variation_facts` for them.
    pub async fn product_facts(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        ids: &[u64],
    ) -> Result<Vec<(u64, ItemFacts)>, WooError> {
        self.facts(store.rest_endpoint("wc/v3/products"), creds, ids)
            .await
    }

    /// The same of one variable product's variations, one call:
    /// `GET /wc/v3/products/{parent}/variations?include=…&per_page=100` (a variation without a
    /// weight or dimensions of its own shows its parent's, as WooCommerce serves it).
    pub async fn variation_facts(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        parent: u64,
        ids: &[u64],
    ) -> Result<Vec<(u64, ItemFacts)>, WooError> {
        let url = store.rest_endpoint(&format!("wc/v3/products/{parent}/variations"));
        self.facts(url, creds, ids).await
    }

    async fn facts(
        &self,
        url: String,
        creds: &WooCredentials,
        ids: &[u64],
    ) -> Result<Vec<(u64, ItemFacts)>, WooError> {
        let include = include(ids);
        let request = self.request(reqwest::Method::GET, &url)?.query(&[
            ("include", include.as_str()),
            ("per_page", "100"),
            ("_fields", "id,weight,dimensions,virtual,downloadable"),
        ]);
        let response = self.call(request, creds).await?;
        let body = Self::body(response, ANSWER_LIMIT).await?;
        item_facts(&body).map_err(|_| WooError::Unreachable("answer was not a product list".into()))
    }

    /// The items of an order's refunds, by refund id: `GET /wc/v3/orders/{id}/refunds`.
    pub async fn order_refunds(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        order: u64,
    ) -> Result<std::collections::HashMap<u64, Vec<RefundItem>>, WooError> {
        let url = store.rest_endpoint(&format!("wc/v3/orders/{order}/refunds"));
        let request = self
            .request(reqwest::Method::GET, &url)?
            .query(&[("per_page", "100"), ("_fields", "id,line_items")]);
        let response = self.call(request, creds).await?;
        let body = Self::body(response, ANSWER_LIMIT).await?;
        refund_items(&body)
            .map_err(|_| WooError::Unreachable("answer was not a refund list".into()))
    }

    /// The store's webhooks (`GET /wc/v3/webhooks`, up to 100): what self-healing compares
    /// with the link's (WooCommerce disables a webhook after repeated failed deliveries).
    pub async fn list_webhooks(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
    ) -> Result<Vec<StoreWebhook>, WooError> {
        let request = self
            .request(reqwest::Method::GET, &store.rest_endpoint("wc/v3/webhooks"))?
            .query(&[("per_page", "100")]);
        let response = self.call(request, creds).await?;
        Self::read(response, ANSWER_LIMIT, "a webhook list").await
    }

    /// `PUT /wc/v3/webhooks/{id}` with a new status (`active` re-enables a webhook
    /// WooCommerce disabled).
    pub async fn set_webhook_status(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        id: u64,
        status: WebhookStatus,
    ) -> Result<(), WooError> {
        let request = self
            .request(
                reqwest::Method::PUT,
                &store.rest_endpoint(&format!("wc/v3/webhooks/{id}")),
            )?
            .json(&json!({ "status": status }));
        let response = self.call(request, creds).await?;
        let hook: StoreWebhook = Self::read(response, ANSWER_LIMIT, "a webhook").await?;
        if hook.status == status {
            Ok(())
        } else {
            Err(WooError::Unreachable(format!(
                "the store kept webhook {id} {:?}",
                hook.status
            )))
        }
    }

    /// `DELETE /wc/v3/webhooks/{id}?force=true`; a 404 means it is already gone.
    pub async fn delete_webhook(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        id: u64,
    ) -> Result<(), WooError> {
        let request = self
            .request(
                reqwest::Method::DELETE,
                &store.rest_endpoint(&format!("wc/v3/webhooks/{id}")),
            )?
            .query(&[("force", "true")]);
        match self.call(request, creds).await {
            Ok(_) | Err(WooError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A product or variation list (`_fields=id,weight,dimensions,virtual,downloadable`) as what
/// it says about shipping, read as the catalogue reads products (`WooProduct`). Numbers come as
/// strings (`"0.80"`), absent ones as `""`.
pub fn item_facts(body: &[u8]) -> Result<Vec<(u64, ItemFacts)>, serde_json::Error> {
    let products: Vec<crate::catalogue::WooProduct> = serde_json::from_slice(body)?;
    Ok(products.iter().map(|p| (p.id, ItemFacts::of(p))).collect())
}

/// An order's refund list as the refunded items of each refund (each refunded line names the
/// order's line in its `_refunded_item_id` meta; quantities and totals come negative).
pub fn refund_items(
    body: &[u8],
) -> Result<std::collections::HashMap<u64, Vec<RefundItem>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Line {
        #[serde(default)]
        quantity: serde_json::Value,
        #[serde(default)]
        total: serde_json::Value,
        #[serde(default)]
        meta_data: Vec<crate::order::WooMeta>,
    }
    #[derive(Deserialize)]
    struct Refund {
        id: u64,
        #[serde(default)]
        line_items: Vec<Line>,
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let refunds: Vec<Refund> = serde_json::from_slice(body)?;
    Ok(refunds
        .into_iter()
        .map(|r| {
            let items = r
                .line_items
                .iter()
                .map(|l| RefundItem {
                    line_item_id: l
                        .meta_data
                        .iter()
                        .find(|m| m.key == "_refunded_item_id")
                        .and_then(|m| text(&m.value).parse().ok()),
                    quantity: text(&l.quantity).parse::<f64>().unwrap_or(0.0).abs(),
                    amount: text(&l.total).trim_start_matches('-').to_owned(),
                })
                .collect();
            (r.id, items)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stores_text_is_repeated_plain_and_short() {
        assert_eq!(plain("Invalid item.", 200), "Invalid item.");
        // Controls, bidi overrides, zero-width and line separators go; the rest is cut.
        assert_eq!(
            plain("a\u{202E}b\u{200B}c\nd\u{2028}e\u{FEFF}", 200),
            "abcde"
        );
        assert_eq!(plain("żółw ✓ 1Z", 200), "żółw ✓ 1Z");
        assert_eq!(plain(&"x".repeat(300), 64).len(), 64);
    }
}
