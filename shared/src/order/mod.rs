//! WooCommerce orders as they arrive (parsed leniently: money as strings, `sku` null, numbers
//! as strings…) and woolink's order document as tenants receive it. No payment data crosses.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::sha256_hex;
use crate::domain::{CustomerId, StoreId, DRAFT_STATUSES};
use crate::error::{Error, Result};

pub mod v2;

/// Quantities as the tenant reads them: a whole number as a JSON integer (`2`, not `2.0`, so
/// an integer field in Go, Rust or Java takes it), a fractional one (a decimal-quantity
/// plugin's) as a number.
pub(crate) fn whole_or_number<S: serde::Serializer>(
    q: &f64,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    // Exact below 2^53; beyond that an f64 is not a count anyone ships.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if q.fract() == 0.0 && q.abs() < EXACT {
        #[allow(clippy::cast_possible_truncation)]
        let whole = *q as i64;
        s.serialize_i64(whole)
    } else {
        s.serialize_f64(*q)
    }
}

/// Lenient field parsers: WooCommerce and its plugins are loose with types.
pub(crate) mod lenient {
    use super::*;

    /// Any scalar as a string; null or absent as "".
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => String::new(),
        })
    }

    /// Any scalar as an optional string; null, "" or absent as None.
    pub fn opt_string<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<String>, D::Error> {
        Ok(Some(string(d)?).filter(|s| !s.is_empty()))
    }

    /// A number or numeric string; anything else as 0.
    pub fn number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) => s.trim().parse().unwrap_or(0.0),
            _ => 0.0,
        })
    }

    /// A non-negative integer or its string form; anything else as 0.
    pub fn id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64().unwrap_or(0),
            Value::String(s) => s.trim().parse().unwrap_or(0),
            _ => 0,
        })
    }

    /// A list whose entries that do not parse are skipped; null or a non-list as empty.
    pub fn list<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: de::DeserializeOwned,
    {
        Ok(match Value::deserialize(d)? {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
            _ => Vec::new(),
        })
    }

    /// `true`, `"true"`, `"yes"`, `1` as true; anything else as false.
    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Bool(b) => b,
            Value::String(s) => matches!(s.trim(), "true" | "yes" | "1"),
            Value::Number(n) => n.as_u64() == Some(1),
            _ => false,
        })
    }

    /// Any JSON value as it is (null when absent).
    pub fn any<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
        Value::deserialize(d)
    }

    /// An object, or its default when null or of another type.
    pub fn object<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: de::DeserializeOwned + Default,
    {
        let v = Value::deserialize(d)?;
        Ok(serde_json::from_value(v).unwrap_or_default())
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooAddress {
    #[serde(deserialize_with = "lenient::string")]
    pub first_name: String,
    #[serde(deserialize_with = "lenient::string")]
    pub last_name: String,
    #[serde(deserialize_with = "lenient::string")]
    pub company: String,
    #[serde(deserialize_with = "lenient::string")]
    pub address_1: String,
    #[serde(deserialize_with = "lenient::string")]
    pub address_2: String,
    #[serde(deserialize_with = "lenient::string")]
    pub city: String,
    #[serde(deserialize_with = "lenient::string")]
    pub state: String,
    #[serde(deserialize_with = "lenient::string")]
    pub postcode: String,
    #[serde(deserialize_with = "lenient::string")]
    pub country: String,
    #[serde(deserialize_with = "lenient::string")]
    pub email: String,
    #[serde(deserialize_with = "lenient::string")]
    pub phone: String,
}

/// One `meta_data` entry (orders, line items, shipping lines): a key and any JSON value.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooMeta {
    #[serde(deserialize_with = "lenient::string")]
    pub key: String,
    #[serde(deserialize_with = "lenient::any")]
    pub value: Value,
    #[serde(deserialize_with = "lenient::string")]
    pub display_key: String,
    #[serde(deserialize_with = "lenient::any")]
    pub display_value: Value,
}

/// An entry of an order's `refunds`: what the order body says of each refund.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooRefundRef {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(deserialize_with = "lenient::string")]
    pub reason: String,
    /// Negative, as WooCommerce writes it (`"-10.00"`).
    #[serde(deserialize_with = "lenient::string")]
    pub total: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooLineItem {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub sku: Option<String>,
    #[serde(deserialize_with = "lenient::id")]
    pub product_id: u64,
    #[serde(deserialize_with = "lenient::id")]
    pub variation_id: u64,
    #[serde(deserialize_with = "lenient::number")]
    pub quantity: f64,
    #[serde(deserialize_with = "lenient::number")]
    pub price: f64,
    #[serde(deserialize_with = "lenient::string")]
    pub subtotal: String,
    #[serde(deserialize_with = "lenient::string")]
    pub subtotal_tax: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total_tax: String,
    #[serde(deserialize_with = "lenient::list")]
    pub meta_data: Vec<WooMeta>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooFeeLine {
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total_tax: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooShippingLine {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(deserialize_with = "lenient::string")]
    pub instance_id: String,
    #[serde(deserialize_with = "lenient::list")]
    pub meta_data: Vec<WooMeta>,
    #[serde(deserialize_with = "lenient::string")]
    pub method_title: String,
    #[serde(deserialize_with = "lenient::string")]
    pub method_id: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total_tax: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooTaxLine {
    #[serde(deserialize_with = "lenient::string")]
    pub rate_code: String,
    #[serde(deserialize_with = "lenient::string")]
    pub label: String,
    #[serde(deserialize_with = "lenient::string")]
    pub tax_total: String,
    #[serde(deserialize_with = "lenient::string")]
    pub shipping_tax_total: String,
}

/// A WooCommerce REST v3 order, as much of it as woolink uses.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooOrder {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(deserialize_with = "lenient::string")]
    pub number: String,
    #[serde(deserialize_with = "lenient::string")]
    pub status: String,
    #[serde(deserialize_with = "lenient::string")]
    pub currency: String,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub date_created_gmt: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub date_modified_gmt: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub date_paid_gmt: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub date_completed_gmt: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub discount_total: String,
    #[serde(deserialize_with = "lenient::string")]
    pub shipping_total: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total: String,
    #[serde(deserialize_with = "lenient::string")]
    pub total_tax: String,
    #[serde(deserialize_with = "lenient::string")]
    pub customer_note: String,
    #[serde(deserialize_with = "lenient::string")]
    pub shipping_tax: String,
    #[serde(deserialize_with = "lenient::string")]
    pub discount_tax: String,
    #[serde(deserialize_with = "lenient::boolean")]
    pub prices_include_tax: bool,
    #[serde(deserialize_with = "lenient::string")]
    pub payment_method: String,
    #[serde(deserialize_with = "lenient::string")]
    pub payment_method_title: String,
    #[serde(deserialize_with = "lenient::list")]
    pub meta_data: Vec<WooMeta>,
    #[serde(deserialize_with = "lenient::list")]
    pub refunds: Vec<WooRefundRef>,
    #[serde(deserialize_with = "lenient::object")]
    pub billing: WooAddress,
    #[serde(deserialize_with = "lenient::object")]
    pub shipping: WooAddress,
    #[serde(deserialize_with = "lenient::list")]
    pub line_items: Vec<WooLineItem>,
    #[serde(deserialize_with = "lenient::list")]
    pub fee_lines: Vec<WooFeeLine>,
    #[serde(deserialize_with = "lenient::list")]
    pub shipping_lines: Vec<WooShippingLine>,
    #[serde(deserialize_with = "lenient::list")]
    pub tax_lines: Vec<WooTaxLine>,
}

impl WooOrder {
    /// Parses an order body; only a body that is not a JSON object with an id is refused.
    pub fn parse(json: &str) -> Result<Self> {
        // serde would also accept a JSON array for a struct.
        if !json.trim_start().starts_with('{') {
            return Err(Error::invalid_request(
                "the order payload is not a JSON object",
            ));
        }
        let order: Self = serde_json::from_str(json)
            .map_err(|_| Error::invalid_request("the order payload is not a JSON object"))?;
        if order.id == 0 {
            return Err(Error::invalid_request("the order payload has no id"));
        }
        Ok(order)
    }

    pub fn is_draft(&self) -> bool {
        DRAFT_STATUSES.contains(&self.status.as_str())
    }
}

/// Statuses after which the tenant should not ship.
pub const CANCELLED_STATUSES: [&str; 4] = ["cancelled", "refunded", "failed", "trash"];

pub fn is_cancelled(status: &str) -> bool {
    CANCELLED_STATUSES.contains(&status)
}

/// `YYYY-MM-DDTHH:MM:SS` (GMT, as WooCommerce sends `_gmt` dates) → RFC 3339 with `Z`.
fn gmt(date: &Option<String>) -> Option<String> {
    date.as_ref().map(|d| {
        if d.ends_with('Z') || d.contains('+') {
            d.clone()
        } else {
            format!("{d}Z")
        }
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub name: String,
    pub sku: Option<String>,
    #[serde(serialize_with = "whole_or_number")]
    pub quantity: f64,
    /// Unit price.
    pub price: f64,
    pub total: String,
    pub product_id: u64,
    pub variation_id: u64,
    /// Unit weight in the store's weight unit, when known.
    pub weight: Option<f64>,
}

/// Where an item's weight lives in the store's catalogue: a variation has its own (or shows
/// its parent's), and is not listed among the products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CatalogueId {
    Product(u64),
    Variation { parent: u64, id: u64 },
}

impl CatalogueId {
    /// The post id (products and variations share one id space).
    pub fn id(self) -> u64 {
        match self {
            Self::Product(id) | Self::Variation { id, .. } => id,
        }
    }
}

impl CatalogueId {
    /// What a line item's `product_id` and `variation_id` point at (nothing for a line
    /// without a product: a deleted product, a custom line).
    pub fn of(product_id: u64, variation_id: u64) -> Option<Self> {
        match (product_id, variation_id) {
            (0, _) => None,
            (p, 0) => Some(Self::Product(p)),
            (parent, id) => Some(Self::Variation { parent, id }),
        }
    }
}

impl WooLineItem {
    pub fn catalogue_id(&self) -> Option<CatalogueId> {
        CatalogueId::of(self.product_id, self.variation_id)
    }
}

impl Item {
    pub fn catalogue_id(&self) -> Option<CatalogueId> {
        CatalogueId::of(self.product_id, self.variation_id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state: String,
    pub postcode: String,
    pub country: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub total: String,
    pub total_tax: String,
    pub shipping_total: String,
    pub discount_total: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeLine {
    pub name: String,
    pub total: String,
    pub total_tax: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingLine {
    pub method_title: String,
    pub method_id: String,
    pub total: String,
    pub total_tax: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxLine {
    pub rate_code: String,
    pub label: String,
    pub tax_total: String,
    pub shipping_tax_total: String,
}

/// Where the items' weights came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightSource {
    /// Looked up in the store's products API.
    Store,
    /// The link holds no WooCommerce keys, so weights cannot be looked up.
    NotAvailable,
    /// The lookup failed after bounded retries; delivered without weights.
    LookupFailed,
}

/// The order document delivered to the tenant (`data` of the Standard Webhooks message).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDocument {
    pub store_id: StoreId,
    pub order_id: u64,
    pub number: String,
    /// The tenant's customer id for the merchant (the link's).
    pub customer_id: CustomerId,
    pub status: String,
    pub currency: String,
    pub date_created: Option<String>,
    pub date_modified: Option<String>,
    pub date_paid: Option<String>,
    pub date_completed: Option<String>,
    pub totals: Totals,
    pub items: Vec<Item>,
    pub weight_source: WeightSource,
    pub shipping: ShippingAddress,
    pub billing: Contact,
    pub fee_lines: Vec<FeeLine>,
    pub shipping_lines: Vec<ShippingLine>,
    pub tax_lines: Vec<TaxLine>,
    pub customer_note: String,
}

impl WooOrder {
    /// The order's number, or its id when it has none.
    pub fn number_or_id(&self) -> String {
        if self.number.is_empty() {
            self.id.to_string()
        } else {
            self.number.clone()
        }
    }

    /// The fee lines as every document version writes them.
    pub fn fee_line_docs(&self) -> Vec<FeeLine> {
        self.fee_lines
            .iter()
            .map(|f| FeeLine {
                name: f.name.clone(),
                total: f.total.clone(),
                total_tax: f.total_tax.clone(),
            })
            .collect()
    }

    /// The tax lines as every document version writes them.
    pub fn tax_line_docs(&self) -> Vec<TaxLine> {
        self.tax_lines
            .iter()
            .map(|t| TaxLine {
                rate_code: t.rate_code.clone(),
                label: t.label.clone(),
                tax_total: t.tax_total.clone(),
                shipping_tax_total: t.shipping_tax_total.clone(),
            })
            .collect()
    }
}

impl OrderDocument {
    pub fn map(order: &WooOrder, store: &StoreId, customer: &CustomerId) -> Self {
        let (s, b) = (&order.shipping, &order.billing);
        Self {
            store_id: store.clone(),
            order_id: order.id,
            number: order.number_or_id(),
            customer_id: customer.clone(),
            status: order.status.clone(),
            currency: order.currency.clone(),
            date_created: gmt(&order.date_created_gmt),
            date_modified: gmt(&order.date_modified_gmt),
            date_paid: gmt(&order.date_paid_gmt),
            date_completed: gmt(&order.date_completed_gmt),
            totals: Totals {
                total: order.total.clone(),
                total_tax: order.total_tax.clone(),
                shipping_total: order.shipping_total.clone(),
                discount_total: order.discount_total.clone(),
            },
            items: order
                .line_items
                .iter()
                .map(|i| Item {
                    name: i.name.clone(),
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                    price: i.price,
                    total: i.total.clone(),
                    product_id: i.product_id,
                    variation_id: i.variation_id,
                    weight: None,
                })
                .collect(),
            weight_source: WeightSource::NotAvailable,
            shipping: ShippingAddress {
                first_name: s.first_name.clone(),
                last_name: s.last_name.clone(),
                company: s.company.clone(),
                address1: s.address_1.clone(),
                address2: s.address_2.clone(),
                city: s.city.clone(),
                state: s.state.clone(),
                postcode: s.postcode.clone(),
                country: s.country.clone(),
                phone: s.phone.clone(),
            },
            billing: Contact {
                email: b.email.clone(),
                phone: b.phone.clone(),
            },
            fee_lines: order.fee_line_docs(),
            shipping_lines: order
                .shipping_lines
                .iter()
                .map(|l| ShippingLine {
                    method_title: l.method_title.clone(),
                    method_id: l.method_id.clone(),
                    total: l.total.clone(),
                    total_tax: l.total_tax.clone(),
                })
                .collect(),
            tax_lines: order.tax_line_docs(),
            customer_note: order.customer_note.clone(),
        }
    }

    /// The hash that decides whether the tenant must hear about a change: everything that
    /// matters to shipping, not the modification date (a meta-only save changes only that).
    pub fn shipping_hash(&self) -> String {
        let mut copy = self.clone();
        copy.date_modified = None;
        sha256_hex(&serde_json::to_vec(&copy).unwrap_or_default())
    }
}

/// The document a tenant receives, in the version its settings say.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Document {
    V1(Box<OrderDocument>),
    V2(Box<v2::OrderDocumentV2>),
}

impl Document {
    pub fn shipping_hash(&self) -> String {
        match self {
            Self::V1(d) => d.shipping_hash(),
            Self::V2(d) => d.shipping_hash(),
        }
    }

    pub fn date_modified(&self) -> Option<&str> {
        match self {
            Self::V1(d) => d.date_modified.as_deref(),
            Self::V2(d) => d.date_modified.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_quantities_are_integers_and_fractions_stay_numbers() {
        #[derive(Serialize)]
        struct Q(#[serde(serialize_with = "whole_or_number")] f64);
        let text = |q: f64| serde_json::to_string(&Q(q)).unwrap();
        assert_eq!(text(2.0), "2");
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-1.0), "-1");
        assert_eq!(text(0.5), "0.5");
        assert_eq!(text(1e300), "1e+300");
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../tests/fixtures/woocommerce/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn ids() -> (StoreId, CustomerId) {
        (
            StoreId::parse("st_1").unwrap(),
            CustomerId::parse("cus_1").unwrap(),
        )
    }

    #[test]
    fn maps_the_v3_order_sample_without_payment_data() {
        let order = WooOrder::parse(&fixture("docs-v3-order-retrieve-response.json")).unwrap();
        let (s, c) = ids();
        let doc = OrderDocument::map(&order, &s, &c);
        assert_eq!(doc.order_id, 727);
        assert_eq!(doc.status, "processing");
        assert_eq!(doc.items.len(), 2);
        assert_eq!(doc.items[0].name, "Woo Single #1");
        assert_eq!(doc.items[0].quantity, 2.0);
        assert_eq!(doc.shipping.city, "San Francisco");
        assert_eq!(doc.billing.email, "john.doe@example.com");
        assert_eq!(doc.date_modified.as_deref(), Some("2017-03-22T19:28:08Z"));
        assert_eq!(doc.shipping_lines[0].method_id, "flat_rate");
        let json = serde_json::to_string(&doc).unwrap();
        for banned in [
            "payment_method",
            "paymentMethod",
            "transaction_id",
            "Direct Bank Transfer",
        ] {
            assert!(!json.contains(banned), "{banned} leaked");
        }
    }

    #[test]
    fn parsing_is_lenient() {
        let order = WooOrder::parse(
            r#"{"id":"9","status":null,"line_items":[{"name":5,"sku":null,"quantity":"3","price":"1.5"},"junk"],
                "shipping":null,"billing":[],"fee_lines":{"a":1},"total":12.5}"#,
        )
        .unwrap();
        assert_eq!(order.id, 9);
        assert_eq!(order.line_items.len(), 1);
        assert_eq!(order.line_items[0].name, "5");
        assert_eq!(order.line_items[0].sku, None);
        assert_eq!(order.line_items[0].quantity, 3.0);
        assert_eq!(order.total, "12.5");
        assert!(WooOrder::parse("[1]").is_err());
        assert!(WooOrder::parse(r#"{"status":"processing"}"#).is_err());
    }

    #[test]
    fn the_shipping_hash_ignores_the_modification_date_only() {
        let order = WooOrder::parse(&fixture("docs-v3-order-retrieve-response.json")).unwrap();
        let (s, c) = ids();
        let a = OrderDocument::map(&order, &s, &c);
        let mut b = a.clone();
        b.date_modified = Some("2030-01-01T00:00:00Z".into());
        assert_eq!(a.shipping_hash(), b.shipping_hash());
        b.shipping.address1 = "1 Other Street".into();
        assert_ne!(a.shipping_hash(), b.shipping_hash());
    }

    #[test]
    fn other_real_samples_parse() {
        let list: Value =
            serde_json::from_str(&fixture("fluxc-wc-orders-response-success.json")).unwrap();
        for o in list["data"].as_array().unwrap() {
            WooOrder::parse(&o.to_string()).unwrap();
        }
        WooOrder::parse(&fixture("pipedream-order-wc-8.0.2-webhook-test-event.json")).unwrap();
    }
}
