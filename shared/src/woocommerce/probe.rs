//! What a store is, asked without keys before a merchant is sent to approve woolink there:
//! whether it answers, whether it runs WooCommerce's REST API, and whether its permalinks let
//! WooCommerce's `/wc-auth/v1/` approval pages work.

use serde::Deserialize;

use super::{WooClient, ANSWER_LIMIT};
use crate::domain::StoreUrl;
use crate::outbound::read_capped;

/// What the probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// WooCommerce with pretty permalinks: `/wc-auth/v1/authorize` will work.
    WooCommerce,
    /// WooCommerce, but the REST API answers only at `?rest_route=`: plain permalinks, and
    /// `/wc-auth/v1/authorize` is a 404 there.
    PlainPermalinks,
    /// It answers, but not as a WordPress site with WooCommerce's `wc/v3` API.
    NotWooCommerce,
    /// No answer (connection refused, timeout, TLS failure).
    Unreachable,
    /// Its REST API redirects to another address (`https://shop.example` → `https://www.shop.example`):
    /// the shop's address is that one.
    Moved(String),
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    namespaces: Vec<String>,
}

/// The REST index's namespaces, when `url` answers 200 with one.
enum Answer {
    Index(Vec<String>),
    /// A redirect to the REST index at another base address.
    Moved(String),
    Other,
    Unreachable,
}

impl WooClient {
    /// `GET {store}/wp-json/`, then (on a 404) `GET {store}/?rest_route=/`: the REST index
    /// lists `wc/v3` when WooCommerce is active. No keys are sent. Only the namespaces are
    /// asked for: the whole index of the real test store (WooCommerce 7.9 alone) is 1 MB.
    pub async fn probe(&self, store: &StoreUrl) -> Probe {
        match self
            .index(&format!("{}?_fields=namespaces", store.rest_endpoint("")))
            .await
        {
            Answer::Index(ns) if ns.iter().any(|n| n == "wc/v3") => Probe::WooCommerce,
            Answer::Index(_) => Probe::NotWooCommerce,
            Answer::Unreachable => Probe::Unreachable,
            Answer::Moved(to) => Probe::Moved(to),
            Answer::Other => match self
                .index(&format!("{store}/?rest_route=/&_fields=namespaces"))
                .await
            {
                Answer::Index(ns) if ns.iter().any(|n| n == "wc/v3") => Probe::PlainPermalinks,
                Answer::Unreachable => Probe::Unreachable,
                _ => Probe::NotWooCommerce,
            },
        }
    }

    async fn index(&self, url: &str) -> Answer {
        let Ok(request) = self.request(reqwest::Method::GET, url) else {
            return Answer::Other;
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(_) => return Answer::Unreachable,
        };
        if response.status().is_redirection() {
            // Not followed (the client never follows redirects): named to the merchant.
            return response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url::Url::parse(url).ok()?.join(l).ok())
                .and_then(|to| {
                    let base = to.as_str().split("/wp-json").next()?.to_owned();
                    (to.path().contains("/wp-json")).then_some(base)
                })
                .filter(|base| base.starts_with("http"))
                .map_or(Answer::Other, |base| {
                    Answer::Moved(base.trim_end_matches('/').to_owned())
                });
        }
        if !response.status().is_success() {
            return Answer::Other;
        }
        // The index of a big site with many plugins runs to a few hundred KB.
        match read_capped(response, ANSWER_LIMIT).await {
            Ok(body) => serde_json::from_slice::<Index>(&body)
                .map_or(Answer::Other, |i| Answer::Index(i.namespaces)),
            Err(_) => Answer::Other,
        }
    }
}
