//! The store's side of the catalogue and stock (issue 17): products and variations read a page
//! at a time, the store's units, the stock of chosen items, and stock written through
//! WooCommerce's batch endpoints (at most 100 items a call).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{include, WooClient, WooCredentials, WooError, ANSWER_LIMIT, ORDER_PAGE_LIMIT};
use crate::catalogue::{Units, WooProduct};
use crate::domain::StoreUrl;

/// Items one batch call may carry (WooCommerce refuses more: 413
/// `woocommerce_rest_request_entity_too_large`).
pub const BATCH_LIMIT: usize = 100;

/// An item's stock as the store has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StockLevel {
    pub id: u64,
    pub managed: bool,
    pub quantity: Option<i64>,
}

#[derive(Deserialize)]
struct StockAnswer {
    id: u64,
    #[serde(default)]
    manage_stock: Value,
    #[serde(default)]
    stock_quantity: Value,
    #[serde(default)]
    error: Option<Value>,
}

impl StockAnswer {
    fn level(&self) -> StockLevel {
        StockLevel {
            id: self.id,
            managed: self.manage_stock.as_bool() == Some(true),
            quantity: self
                .stock_quantity
                .as_i64()
                .or_else(|| self.stock_quantity.as_f64().map(|f| f as i64)),
        }
    }
}

fn items_path(parent: Option<u64>) -> String {
    match parent {
        Some(p) => format!("wc/v3/products/{p}/variations"),
        None => "wc/v3/products".into(),
    }
}

impl WooClient {
    /// Page `page` of the store's products (100, by id ascending, every status): the products
    /// and whether more pages follow.
    pub async fn products_page(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        page: u32,
    ) -> Result<(Vec<WooProduct>, bool), WooError> {
        self.product_list(store, creds, None, page).await
    }

    /// Every variation of variable product `parent` (pages of 100).
    pub async fn variations(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        parent: u64,
    ) -> Result<Vec<WooProduct>, WooError> {
        let mut all = Vec::new();
        for page in 1..=100 {
            let (list, more) = self.product_list(store, creds, Some(parent), page).await?;
            // The variations endpoint names neither (WooCommerce 7.9): they are known here.
            all.extend(list.into_iter().map(|mut v| {
                v.kind = "variation".into();
                v.parent_id = parent;
                v
            }));
            if !more {
                break;
            }
        }
        Ok(all)
    }

    async fn product_list(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        parent: Option<u64>,
        page: u32,
    ) -> Result<(Vec<WooProduct>, bool), WooError> {
        let page_s = page.to_string();
        let mut query = vec![
            ("per_page", "100"),
            ("page", page_s.as_str()),
            ("orderby", "id"),
            ("order", "asc"),
        ];
        if parent.is_none() {
            query.push(("status", "any"));
        }
        let request = self
            .request(
                reqwest::Method::GET,
                &store.rest_endpoint(&items_path(parent)),
            )?
            .query(&query);
        let response = self.call(request, creds).await?;
        let pages: Option<u32> = response
            .headers()
            .get("x-wp-totalpages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let raw: Vec<Value> = Self::read(response, ORDER_PAGE_LIMIT, "a product list").await?;
        let count = raw.len();
        let list: Vec<WooProduct> = raw
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .filter(|p: &WooProduct| p.id != 0)
            .collect();
        let more = match pages {
            Some(total) => page < total,
            None => count >= 100,
        };
        Ok((list, more))
    }

    /// The store's weight and dimension units (two settings reads).
    pub async fn units(&self, store: &StoreUrl, creds: &WooCredentials) -> Result<Units, WooError> {
        #[derive(Deserialize)]
        struct Setting {
            #[serde(default)]
            value: String,
        }
        let read = |id: &'static str| {
            let url = store.rest_endpoint(&format!("wc/v3/settings/products/{id}"));
            async move {
                let request = self.request(reqwest::Method::GET, &url)?;
                let response = self.call(request, creds).await?;
                Self::read::<Setting>(response, ANSWER_LIMIT, "a setting")
                    .await
                    .map(|s| s.value)
            }
        };
        let weight = read("woocommerce_weight_unit").await?;
        let dimension = read("woocommerce_dimension_unit").await?;
        let defaults = Units::default();
        Ok(Units {
            weight: Some(weight)
                .filter(|w| !w.is_empty())
                .unwrap_or(defaults.weight),
            dimension: Some(dimension)
                .filter(|d| !d.is_empty())
                .unwrap_or(defaults.dimension),
        })
    }

    /// Product `id` (`GET /wc/v3/products/{id}`).
    pub async fn get_product(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        id: u64,
    ) -> Result<WooProduct, WooError> {
        let request = self.request(
            reqwest::Method::GET,
            &store.rest_endpoint(&format!("wc/v3/products/{id}")),
        )?;
        let response = self.call(request, creds).await?;
        Self::read(response, ANSWER_LIMIT, "a product").await
    }

    /// The product with SKU `sku` (`GET /wc/v3/products?sku=`), if the store has one.
    pub async fn product_by_sku(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        sku: &str,
    ) -> Result<Option<WooProduct>, WooError> {
        let request = self
            .request(reqwest::Method::GET, &store.rest_endpoint("wc/v3/products"))?
            .query(&[("sku", sku)]);
        let response = self.call(request, creds).await?;
        let list: Vec<Value> = Self::read(response, ANSWER_LIMIT, "a product list").await?;
        Ok(list
            .into_iter()
            .filter_map(|v| serde_json::from_value::<WooProduct>(v).ok())
            .find(|p| p.id != 0 && p.sku.as_deref() == Some(sku)))
    }

    /// The stock of products `ids`, or of `parent`'s variations `ids` (one call, ≤ 100).
    pub async fn stock_levels(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        parent: Option<u64>,
        ids: &[u64],
    ) -> Result<Vec<StockLevel>, WooError> {
        let include = include(ids);
        let request = self
            .request(
                reqwest::Method::GET,
                &store.rest_endpoint(&items_path(parent)),
            )?
            .query(&[
                ("include", include.as_str()),
                ("per_page", "100"),
                ("_fields", "id,manage_stock,stock_quantity"),
            ]);
        let response = self.call(request, creds).await?;
        let list: Vec<StockAnswer> = Self::read(response, ANSWER_LIMIT, "a stock list").await?;
        Ok(list.iter().map(StockAnswer::level).collect())
    }

    /// Sets the stock of products (or `parent`'s variations) through the batch endpoint
    /// (`…/batch`, ≤ 100 a call): each item's new level, or the store's error for it. A store
    /// whose limit is lower (WooCommerce's `woocommerce_rest_batch_items_limit` filter) answers
    /// 413: the items are then sent in halves until the store takes them.
    pub async fn set_stock(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        parent: Option<u64>,
        updates: &[(u64, i64)],
    ) -> Result<Vec<(u64, Result<StockLevel, String>)>, WooError> {
        let updates = &updates[..updates.len().min(BATCH_LIMIT)];
        match self.stock_batch(store, creds, parent, updates).await {
            Err(WooError::Rejected { status: 413, .. }) if updates.len() > 1 => {
                let (a, b) = updates.split_at(updates.len() / 2);
                let mut all = Box::pin(self.set_stock(store, creds, parent, a)).await?;
                all.extend(Box::pin(self.set_stock(store, creds, parent, b)).await?);
                Ok(all)
            }
            other => other,
        }
    }

    async fn stock_batch(
        &self,
        store: &StoreUrl,
        creds: &WooCredentials,
        parent: Option<u64>,
        updates: &[(u64, i64)],
    ) -> Result<Vec<(u64, Result<StockLevel, String>)>, WooError> {
        let update: Vec<Value> = updates
            .iter()
            .map(|(id, qty)| json!({"id": id, "stock_quantity": qty}))
            .collect();
        let request = self
            .request(
                reqwest::Method::POST,
                &store.rest_endpoint(&format!("{}/batch", items_path(parent))),
            )?
            .json(&json!({ "update": update }));
        let response = self.call(request, creds).await?;
        #[derive(Deserialize)]
        struct Batch {
            #[serde(default)]
            update: Vec<StockAnswer>,
        }
        let batch: Batch = Self::read(response, ORDER_PAGE_LIMIT, "a batch answer").await?;
        Ok(batch
            .update
            .into_iter()
            .map(|a| {
                let outcome = match &a.error {
                    Some(e) => Err(e["code"].as_str().unwrap_or("error").to_owned()),
                    None => Ok(a.level()),
                };
                (a.id, outcome)
            })
            .collect())
    }
}
