//! Order document v2: everything a courier needs to rate, label, collect and deliver.
//!
//! Pure: the worker gathers what the order body does not say (each item's weight,
//! dimensions and whether it ships, from the store's catalogue; the store's units; the
//! refunds' items) and hands it in as [`Context`]. The JSON Schema is
//! `docs/order-document-v2.schema.json`; every test that makes a document validates it.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{gmt, FeeLine, TaxLine, WeightSource, WooAddress, WooMeta, WooOrder};
use crate::crypto::sha256_hex;
use crate::domain::{CustomerId, StoreId};
use crate::model::DocumentSettings;

/// WooCommerce's own cash-on-delivery gateway id.
pub const COD: &str = "cod";

/// What the store's catalogue says of one product or variation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ItemFacts {
    /// Unit weight in the store's weight unit (a variation's own, else its parent's, as
    /// WooCommerce serves variations).
    pub weight: Option<f64>,
    pub dimensions: Option<Dimensions>,
    pub virtual_item: bool,
    pub downloadable: bool,
}

impl ItemFacts {
    /// What a product or variation says about shipping (an unparsable or negative number is
    /// unknown; dimensions only when all three are known).
    pub fn of(p: &crate::catalogue::WooProduct) -> Self {
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
        };
        let d = &p.dimensions;
        Self {
            weight: number(&p.weight),
            dimensions: (|| {
                Some(Dimensions {
                    length: number(&d.length)?,
                    width: number(&d.width)?,
                    height: number(&d.height)?,
                })
            })(),
            virtual_item: p.r#virtual,
            downloadable: p.downloadable,
        }
    }

    /// Virtual and downloadable items are not shipped.
    pub fn shippable(&self) -> bool {
        !(self.virtual_item || self.downloadable)
    }
}

/// Length × width × height in the store's dimension unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Dimensions {
    pub length: f64,
    pub width: f64,
    pub height: f64,
}

/// The store's units (`woocommerce_weight_unit`, `woocommerce_dimension_unit`).
pub use crate::catalogue::Units;

/// One refunded line, as the store's refunds endpoint lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundItem {
    /// The order's line item it refunds (`_refunded_item_id`), when the store says.
    pub line_item_id: Option<u64>,
    /// Positive: how many were refunded.
    #[serde(serialize_with = "super::whole_or_number")]
    pub quantity: f64,
    /// Positive, as a decimal string.
    pub amount: String,
}

/// What the worker found out beyond the order body.
#[derive(Debug, Default)]
pub struct Context<'a> {
    pub settings: Option<&'a DocumentSettings>,
    /// By product or variation id; absent when not looked up (no keys, lookup failed).
    pub facts: HashMap<u64, ItemFacts>,
    pub weight_source: Option<WeightSource>,
    pub units: Option<Units>,
    /// By refund id; absent when the refunds could not be read.
    pub refund_items: Option<HashMap<u64, Vec<RefundItem>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Address {
    fn of(a: &WooAddress, with_email: bool) -> Self {
        Self {
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            company: a.company.clone(),
            address1: a.address_1.clone(),
            address2: a.address_2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postcode: a.postcode.clone(),
            country: a.country.clone(),
            phone: a.phone.clone(),
            email: with_email.then(|| a.email.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub total: String,
    pub total_tax: String,
    pub shipping_total: String,
    pub shipping_tax: String,
    pub discount_total: String,
    pub discount_tax: String,
    /// The sum of the refunds, positive ("0.00" when none).
    pub refunded: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CashOnDelivery {
    /// What the courier collects: the order total.
    pub amount: String,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub method_id: String,
    pub method_title: String,
    pub paid: bool,
    pub cash_on_delivery: Option<CashOnDelivery>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribute {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub line_item_id: u64,
    pub product_id: Option<u64>,
    pub variation_id: Option<u64>,
    pub sku: Option<String>,
    pub name: String,
    #[serde(serialize_with = "super::whole_or_number")]
    pub quantity: f64,
    pub unit_price: f64,
    pub subtotal: String,
    pub subtotal_tax: String,
    pub total: String,
    pub total_tax: String,
    pub weight: Option<f64>,
    pub dimensions: Option<Dimensions>,
    /// `false` for virtual or downloadable items; `null` when the catalogue was not read.
    pub shippable: Option<bool>,
    /// The line's visible meta (a variation's size, a personalisation): `_` keys are WooCommerce's own.
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    pub key: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingLine {
    pub id: u64,
    pub method_id: String,
    pub method_title: String,
    pub instance_id: String,
    pub total: String,
    pub total_tax: String,
    pub meta: Vec<Meta>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PickupAddress {
    pub street: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    /// The address as the plugin wrote it, in one line.
    pub line: Option<String>,
}

/// A pickup point (parcel locker, service point) chosen at checkout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PickupPoint {
    /// `sendcloud`, `packeta`, `inpost`, or the shipping method's id.
    pub carrier: String,
    pub id: String,
    pub name: Option<String>,
    pub address: PickupAddress,
    /// The meta key it was read from.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    pub id: u64,
    /// Positive, as a decimal string.
    pub amount: String,
    pub reason: String,
    /// `null` when the store's refunds could not be read (no keys, or it failed).
    pub items: Option<Vec<RefundItem>>,
}

/// The order document v2 (`data` of `order.*` events for tenants on version 2).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDocumentV2 {
    pub schema_version: u8,
    pub store_id: StoreId,
    pub order_id: u64,
    pub number: String,
    pub customer_id: CustomerId,
    pub status: String,
    pub currency: String,
    pub date_created: Option<String>,
    pub date_modified: Option<String>,
    pub date_paid: Option<String>,
    pub date_completed: Option<String>,
    pub prices_include_tax: bool,
    pub totals: Totals,
    pub payment: Payment,
    pub units: Option<Units>,
    pub weight_source: WeightSource,
    /// Σ weight × quantity over the shippable items; `null` when one of them has no weight.
    pub shippable_weight: Option<f64>,
    pub items: Vec<Item>,
    pub shipping: Address,
    pub billing: Address,
    pub shipping_lines: Vec<ShippingLine>,
    pub pickup_point: Option<PickupPoint>,
    pub fee_lines: Vec<FeeLine>,
    pub tax_lines: Vec<TaxLine>,
    pub refunds: Vec<Refund>,
    pub customer_note: String,
    /// The order meta the tenant allowed (its settings), by key.
    pub meta: Map<String, Value>,
}

/// A decimal string without its sign (`"-10.00"` → `"10.00"`).
fn positive(amount: &str) -> String {
    amount.trim().trim_start_matches('-').to_owned()
}

/// Σ of decimal strings, in cents, back to a string with two decimals.
fn sum(amounts: impl Iterator<Item = String>) -> String {
    let cents: i64 = amounts
        .filter_map(|a| a.trim().parse::<f64>().ok())
        .map(|a| (a * 100.0).round() as i64)
        .sum();
    format!("{:.2}", cents as f64 / 100.0)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn meta_of<'a>(meta: &'a [WooMeta], key: &str) -> Option<&'a Value> {
    meta.iter().find(|m| m.key == key).map(|m| &m.value)
}

/// The pickup point a known plugin stored, if any (`docs` in API.md list the keys).
pub fn pickup_point(order: &WooOrder) -> Option<PickupPoint> {
    sendcloud(&order.meta_data)
        .or_else(|| packeta(&order.meta_data))
        .or_else(|| inpost(&order.meta_data))
        .or_else(|| {
            order.shipping_lines.iter().find_map(|l| {
                inpost(&l.meta_data).or_else(|| delivery_point(&l.meta_data, &l.method_id))
            })
        })
}

/// Sendcloud: `sendcloudshipping_service_point_meta` = `{id, extra: "Name|Street|Postcode City…", post_number}`.
fn sendcloud(meta: &[WooMeta]) -> Option<PickupPoint> {
    const KEY: &str = "sendcloudshipping_service_point_meta";
    let v = meta_of(meta, KEY)?;
    let id = v.get("id").and_then(text)?;
    let parts: Vec<String> = v
        .get("extra")
        .and_then(text)
        .map(|e| e.split('|').map(|p| p.trim().to_owned()).collect())
        .unwrap_or_default();
    let line = (parts.len() > 1).then(|| parts[1..].join(", "));
    Some(PickupPoint {
        carrier: "sendcloud".into(),
        id,
        name: parts.first().cloned().filter(|n| !n.is_empty()),
        address: PickupAddress {
            street: parts.get(1).cloned(),
            postcode: None,
            city: None,
            country: None,
            line,
        },
        source: KEY.into(),
    })
}

/// Packeta (Zásilkovna): `packetery_point_id`, `_name`, `_street`, `_zip`, `_city` (also with
/// a leading `_`, as its REST additions write them).
fn packeta(meta: &[WooMeta]) -> Option<PickupPoint> {
    let get = |k: &str| {
        meta_of(meta, &format!("packetery_point_{k}"))
            .or_else(|| meta_of(meta, &format!("_packetery_point_{k}")))
            .and_then(text)
    };
    let id = get("id")?;
    Some(PickupPoint {
        carrier: "packeta".into(),
        id,
        name: get("name"),
        address: PickupAddress {
            street: get("street"),
            postcode: get("zip"),
            city: get("city"),
            country: None,
            line: None,
        },
        source: "packetery_point_id".into(),
    })
}

/// InPost parcel lockers (WP Desk's plugin): `_paczkomat_id`, on the order or its shipping line.
fn inpost(meta: &[WooMeta]) -> Option<PickupPoint> {
    const KEY: &str = "_paczkomat_id";
    let id = meta_of(meta, KEY).and_then(text)?;
    Some(PickupPoint {
        carrier: "inpost".into(),
        id,
        name: None,
        address: PickupAddress {
            street: None,
            postcode: None,
            city: None,
            country: None,
            line: None,
        },
        source: KEY.into(),
    })
}

/// The generic shipping-line keys some integrations write: `delivery_point_id`,
/// `delivery_point_name`, `delivery_point_address`.
fn delivery_point(meta: &[WooMeta], method: &str) -> Option<PickupPoint> {
    let id = meta_of(meta, "delivery_point_id").and_then(text)?;
    Some(PickupPoint {
        carrier: method.to_owned(),
        id,
        name: meta_of(meta, "delivery_point_name").and_then(text),
        address: PickupAddress {
            street: None,
            postcode: None,
            city: None,
            country: None,
            line: meta_of(meta, "delivery_point_address").and_then(text),
        },
        source: "delivery_point_id".into(),
    })
}

impl OrderDocumentV2 {
    pub fn map(
        order: &WooOrder,
        store: &StoreId,
        customer: &CustomerId,
        ctx: &Context<'_>,
    ) -> Self {
        let items: Vec<Item> = order
            .line_items
            .iter()
            .map(|i| {
                let facts = i
                    .catalogue_id()
                    .and_then(|c| ctx.facts.get(&c.id()).copied());
                Item {
                    line_item_id: i.id,
                    product_id: Some(i.product_id).filter(|p| *p > 0),
                    variation_id: Some(i.variation_id).filter(|v| *v > 0),
                    sku: i.sku.clone(),
                    name: i.name.clone(),
                    quantity: i.quantity,
                    unit_price: i.price,
                    subtotal: i.subtotal.clone(),
                    subtotal_tax: i.subtotal_tax.clone(),
                    total: i.total.clone(),
                    total_tax: i.total_tax.clone(),
                    weight: facts.and_then(|f| f.weight),
                    dimensions: facts.and_then(|f| f.dimensions),
                    shippable: facts.map(|f| f.shippable()),
                    attributes: i
                        .meta_data
                        .iter()
                        .filter(|m| !m.key.starts_with('_') && !m.key.is_empty())
                        .filter_map(|m| {
                            let name = Some(m.display_key.clone())
                                .filter(|k| !k.is_empty())
                                .unwrap_or_else(|| m.key.clone());
                            let value = text(&m.display_value).or_else(|| text(&m.value))?;
                            Some(Attribute { name, value })
                        })
                        .collect(),
                }
            })
            .collect();
        let shippable_weight = items
            .iter()
            .filter(|i| i.shippable != Some(false))
            .try_fold(0.0, |acc, i| {
                // Unknown facts, or a shippable item without weight: no honest total.
                i.shippable?;
                i.weight.map(|w| acc + w * i.quantity)
            })
            .map(|w| (w * 1000.0).round() / 1000.0);
        let settings = ctx.settings;
        let is_cod = order.payment_method == COD
            || settings.is_some_and(|s| s.cod_methods.iter().any(|m| m == &order.payment_method));
        let refunds: Vec<Refund> = order
            .refunds
            .iter()
            .map(|r| Refund {
                id: r.id,
                amount: positive(&r.total),
                reason: r.reason.clone(),
                items: ctx
                    .refund_items
                    .as_ref()
                    .map(|all| all.get(&r.id).cloned().unwrap_or_default()),
            })
            .collect();
        let allowed = settings
            .map(|s| s.order_meta_keys.as_slice())
            .unwrap_or(&[]);
        let meta: Map<String, Value> = order
            .meta_data
            .iter()
            .filter(|m| allowed.iter().any(|k| k == &m.key))
            .map(|m| (m.key.clone(), m.value.clone()))
            .collect();
        Self {
            schema_version: 2,
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
            prices_include_tax: order.prices_include_tax,
            totals: Totals {
                total: order.total.clone(),
                total_tax: order.total_tax.clone(),
                shipping_total: order.shipping_total.clone(),
                shipping_tax: order.shipping_tax.clone(),
                discount_total: order.discount_total.clone(),
                discount_tax: order.discount_tax.clone(),
                refunded: sum(refunds.iter().map(|r| r.amount.clone())),
            },
            payment: Payment {
                method_id: order.payment_method.clone(),
                method_title: order.payment_method_title.clone(),
                paid: order.date_paid_gmt.is_some(),
                cash_on_delivery: is_cod.then(|| CashOnDelivery {
                    amount: order.total.clone(),
                    currency: order.currency.clone(),
                }),
            },
            units: ctx.units.clone(),
            weight_source: ctx.weight_source.unwrap_or(WeightSource::NotAvailable),
            shippable_weight,
            items,
            shipping: Address::of(&order.shipping, false),
            billing: Address::of(&order.billing, true),
            shipping_lines: order
                .shipping_lines
                .iter()
                .map(|l| ShippingLine {
                    id: l.id,
                    method_id: l.method_id.clone(),
                    method_title: l.method_title.clone(),
                    instance_id: l.instance_id.clone(),
                    total: l.total.clone(),
                    total_tax: l.total_tax.clone(),
                    meta: l
                        .meta_data
                        .iter()
                        .filter(|m| !m.key.is_empty())
                        .map(|m| Meta {
                            key: m.key.clone(),
                            value: m.value.clone(),
                        })
                        .collect(),
                })
                .collect(),
            pickup_point: pickup_point(order),
            fee_lines: order.fee_line_docs(),
            tax_lines: order.tax_line_docs(),
            refunds,
            customer_note: order.customer_note.clone(),
            meta,
        }
    }

    /// What decides whether the tenant must hear about a change: everything but the
    /// modification date.
    pub fn shipping_hash(&self) -> String {
        let mut copy = self.clone();
        copy.date_modified = None;
        sha256_hex(&serde_json::to_vec(&copy).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DocumentSettings, DocumentVersion};
    use serde_json::json;

    fn schema() -> jsonschema::Validator {
        let raw = include_str!("../../../docs/order-document-v2.schema.json");
        jsonschema::validator_for(&serde_json::from_str(raw).unwrap()).unwrap()
    }

    /// The document as JSON, after checking it against the published schema.
    fn valid(doc: &OrderDocumentV2) -> Value {
        let v = serde_json::to_value(doc).unwrap();
        let errors: Vec<String> = schema().iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{v:#}");
        v
    }

    fn ids() -> (StoreId, CustomerId) {
        (
            StoreId::parse("st_1").unwrap(),
            CustomerId::parse("cus_1").unwrap(),
        )
    }

    fn real(name: &str) -> WooOrder {
        let path = format!(
            "{}/../tests/fixtures/woocommerce/real-7.9/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        WooOrder::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn facts(weight: f64, dims: Option<(f64, f64, f64)>) -> ItemFacts {
        ItemFacts {
            weight: Some(weight),
            dimensions: dims.map(|(length, width, height)| Dimensions {
                length,
                width,
                height,
            }),
            virtual_item: false,
            downloadable: false,
        }
    }

    #[test]
    fn a_real_cash_on_delivery_order_from_woocommerce_7_9() {
        // Captured from the real store: two T-shirts (product 10) and a small hoodie
        // (variation 13 of product 12), paid on delivery, to Kraków.
        let order = real("02-paid-processing-1-order-updated.body");
        let settings = DocumentSettings::current();
        let ctx = Context {
            settings: Some(&settings),
            facts: HashMap::from([
                (10, facts(0.25, Some((30.0, 20.0, 2.0)))),
                (13, facts(0.8, None)),
            ]),
            weight_source: Some(WeightSource::Store),
            units: Some(Units {
                weight: "kg".into(),
                dimension: "cm".into(),
            }),
            refund_items: Some(HashMap::new()),
        };
        let (st, cus) = ids();
        let v = valid(&OrderDocumentV2::map(&order, &st, &cus, &ctx));
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["orderId"], 15);
        assert_eq!(v["status"], "processing");
        assert_eq!(v["totals"]["total"], "93.98");
        assert_eq!(v["totals"]["refunded"], "0.00");
        assert_eq!(
            v["payment"],
            json!({"methodId": "cod", "methodTitle": "Cash on delivery", "paid": false,
                   "cashOnDelivery": {"amount": "93.98", "currency": order.currency}})
        );
        assert_eq!(v["units"], json!({"weight": "kg", "dimension": "cm"}));
        assert_eq!(v["weightSource"], "store");
        assert_eq!(v["shippableWeight"], 1.3);
        let shirt = &v["items"][0];
        assert_eq!(shirt["lineItemId"], 1);
        assert_eq!(shirt["productId"], 10);
        assert_eq!(shirt["variationId"], Value::Null);
        assert_eq!(shirt["sku"], "TSHIRT-001");
        // A whole quantity is a JSON integer (`2`, never `2.0`): strict integer decoders
        // (Go, serde, Jackson) take it.
        assert!(shirt["quantity"].is_u64(), "{}", shirt["quantity"]);
        assert_eq!(shirt["quantity"], 2);
        assert_eq!(shirt["unitPrice"], 19.99);
        assert_eq!(shirt["subtotal"], "39.98");
        assert_eq!(shirt["subtotalTax"], "0.00");
        assert_eq!(
            shirt["dimensions"],
            json!({"length": 30.0, "width": 20.0, "height": 2.0})
        );
        assert_eq!(shirt["shippable"], true);
        // `_reduced_stock` is WooCommerce's own bookkeeping, not an attribute.
        assert_eq!(shirt["attributes"], json!([]));
        let hoodie = &v["items"][1];
        assert_eq!(
            (&hoodie["productId"], &hoodie["variationId"]),
            (&json!(12), &json!(13))
        );
        assert_eq!(hoodie["weight"], 0.8);
        assert_eq!(v["billing"]["firstName"], "Zoë");
        assert_eq!(v["billing"]["lastName"], "Łukasik");
        assert_eq!(v["billing"]["email"], "zoe@example.org");
        assert_eq!(v["billing"]["phone"], "+48 600 000 000");
        assert_eq!(v["shipping"]["address1"], "ul. Długa 5");
        assert_eq!(v["shipping"]["postcode"], "31-147");
        assert!(v["shipping"].get("email").is_none());
        assert_eq!(v["shippingLines"][0]["methodId"], "flat_rate");
        assert_eq!(v["shippingLines"][0]["methodTitle"], "Kurier");
        assert_eq!(v["pickupPoint"], Value::Null);
        assert_eq!(v["meta"], json!({}));
    }

    fn captured(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../tests/fixtures/woocommerce/real-7.9-v2/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn a_real_order_with_a_variation_a_fee_a_locker_and_a_refund() {
        // All captured from the real WooCommerce 7.9: the order, its refunds, and what the
        // catalogue says of its products and variation (README in that folder).
        let order = WooOrder::parse(
            std::str::from_utf8(&captured("order-cod-fee-locker-refund.json")).unwrap(),
        )
        .unwrap();
        let mut facts: HashMap<u64, ItemFacts> =
            crate::woocommerce::item_facts(&captured("products-facts.json"))
                .unwrap()
                .into_iter()
                .collect();
        facts.extend(crate::woocommerce::item_facts(&captured("variation-facts.json")).unwrap());
        let refund_items =
            crate::woocommerce::refund_items(&captured("order-refunds.json")).unwrap();
        let settings = DocumentSettings {
            order_meta_keys: vec!["_delivery_date".into()],
            ..DocumentSettings::current()
        };
        let ctx = Context {
            settings: Some(&settings),
            facts,
            weight_source: Some(WeightSource::Store),
            units: Some(Units::default()),
            refund_items: Some(refund_items),
        };
        let (st, cus) = ids();
        let v = valid(&OrderDocumentV2::map(&order, &st, &cus, &ctx));
        assert_eq!(v["orderId"], 46);
        assert_eq!(v["totals"]["total"], "103.48");
        assert_eq!(
            v["payment"]["cashOnDelivery"],
            json!({"amount": "103.48", "currency": "USD"})
        );
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            (
                &items[0]["sku"],
                &items[0]["weight"],
                &items[0]["dimensions"]
            ),
            (
                &json!("TSHIRT-001"),
                &json!(0.25),
                &json!({"length": 30.0, "width": 20.0, "height": 2.0})
            )
        );
        // The variation's own weight; it has no dimensions (WooCommerce sends "").
        assert_eq!(items[1]["sku"], "HOODIE-S");
        assert_eq!(items[1]["variationId"], 13);
        assert_eq!(items[1]["weight"], 0.8);
        assert_eq!(items[1]["dimensions"], Value::Null);
        assert_eq!(items[2]["sku"], "MUG-001");
        assert_eq!(items[2]["weight"], 0.4);
        assert!(items.iter().all(|i| i["shippable"] == true));
        // 2 × 0.25 + 0.80 + 0.40
        assert_eq!(v["shippableWeight"], 1.7);
        assert_eq!(
            v["feeLines"],
            json!([{"name": "Gift wrap", "total": "3.00", "totalTax": "0.00"}])
        );
        assert_eq!(v["billing"]["company"], "Tienda Sur SpA");
        assert_eq!(v["billing"]["address2"], "Depto 56");
        assert_eq!(v["shipping"]["phone"], "+56 9 1234 5678");
        assert_eq!(
            v["shippingLines"][0]["methodId"],
            "flexible_shipping_inpost"
        );
        assert_eq!(
            (&v["pickupPoint"]["carrier"], &v["pickupPoint"]["id"]),
            (&json!("inpost"), &json!("KRA01M"))
        );
        assert_eq!(v["pickupPoint"]["source"], "_paczkomat_id");
        assert_eq!(
            v["refunds"],
            json!([{"id": 47, "amount": "19.99", "reason": "Damaged in transit",
                    "items": [{"lineItemId": 94, "quantity": 1, "amount": "19.99"}]}])
        );
        assert_eq!(v["totals"]["refunded"], "19.99");
        assert_eq!(v["customerNote"], "Leave at the locker");
        assert_eq!(v["meta"], json!({"_delivery_date": "2026-12-01"}));
        assert!(
            !v.to_string().contains("1990-01-01"),
            "a birthday is not shipping data"
        );
    }

    /// An order with everything v2 describes: a variation, a virtual gift card, a fee, a
    /// partial refund, a pickup point, item attributes and order meta.
    fn rich_order() -> WooOrder {
        WooOrder::parse(
            &json!({
                "id": 77, "number": "A-77", "status": "processing", "currency": "EUR",
                "date_created_gmt": "2026-11-20T10:00:00", "date_paid_gmt": "2026-11-20T10:01:00",
                "prices_include_tax": true, "payment_method": "bacs_cod",
                "payment_method_title": "Pay the driver", "total": "61.50", "total_tax": "10.67",
                "shipping_total": "4.00", "shipping_tax": "0.69", "discount_total": "0.00",
                "discount_tax": "0.00",
                "billing": {"first_name": "Ana", "last_name": "Pérez", "company": "Tienda Sur",
                    "address_1": "Av. Providencia 1", "city": "Santiago", "country": "CL",
                    "email": "ana@example.cl", "phone": "+56 9 1234 5678"},
                "shipping": {"first_name": "Ana", "last_name": "Pérez", "address_1": "Locker",
                    "city": "Santiago", "country": "CL"},
                "line_items": [
                    {"id": 5, "name": "Hoodie - L", "product_id": 12, "variation_id": 14,
                     "quantity": 2, "price": 20, "subtotal": "40.00", "subtotal_tax": "6.39",
                     "total": "40.00", "total_tax": "6.39", "sku": "HOODIE-L",
                     "meta_data": [{"id": 1, "key": "pa_size", "value": "l",
                                    "display_key": "Size", "display_value": "L"},
                                   {"id": 2, "key": "_reduced_stock", "value": "2"}]},
                    {"id": 6, "name": "Gift card", "product_id": 15, "variation_id": 0,
                     "quantity": 1, "price": "10", "subtotal": "10.00", "total": "10.00",
                     "total_tax": "0.00", "sku": null}
                ],
                "fee_lines": [{"name": "Gift wrap", "total": "3.00", "total_tax": "0.48"}],
                "shipping_lines": [{"id": 9, "method_id": "service_point_shipping_method",
                    "method_title": "Service point", "instance_id": "3", "total": "4.00",
                    "total_tax": "0.69",
                    "meta_data": [{"key": "Items", "value": "Hoodie - L × 2"}]}],
                "meta_data": [
                    {"key": "sendcloudshipping_service_point_meta",
                     "value": {"id": "10663", "extra": "Botillería Sur|Av. Matta 120|8330000 Santiago",
                               "post_number": ""}},
                    {"key": "_delivery_date", "value": "2026-11-22"},
                    {"key": "_customer_birthday", "value": "1990-01-01"}
                ],
                "refunds": [{"id": 80, "reason": "Gift card cancelled", "total": "-10.00"},
                            {"id": 81, "reason": "", "total": "-1.50"}]
            })
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn everything_a_courier_needs_from_a_rich_order() {
        let order = rich_order();
        let settings = DocumentSettings {
            version: DocumentVersion::V2,
            cod_methods: vec!["bacs_cod".into()],
            order_meta_keys: vec!["_delivery_date".into()],
        };
        let ctx = Context {
            settings: Some(&settings),
            facts: HashMap::from([
                (14, facts(0.8, Some((40.0, 30.0, 5.0)))),
                (
                    15,
                    ItemFacts {
                        virtual_item: true,
                        ..ItemFacts::default()
                    },
                ),
            ]),
            weight_source: Some(WeightSource::Store),
            units: None,
            refund_items: Some(HashMap::from([(
                80,
                vec![RefundItem {
                    line_item_id: Some(6),
                    quantity: 1.0,
                    amount: "10.00".into(),
                }],
            )])),
        };
        let (st, cus) = ids();
        let v = valid(&OrderDocumentV2::map(&order, &st, &cus, &ctx));
        assert_eq!(v["number"], "A-77");
        assert_eq!(v["pricesIncludeTax"], true);
        assert_eq!(v["payment"]["paid"], true);
        assert_eq!(
            v["payment"]["cashOnDelivery"],
            json!({"amount": "61.50", "currency": "EUR"}),
            "a tenant-configured cash-on-delivery method"
        );
        // The gift card does not ship and weighs nothing in the total: 2 × 0.8.
        assert_eq!(v["items"][1]["shippable"], false);
        assert_eq!(v["items"][1]["sku"], Value::Null);
        assert_eq!(v["items"][1]["unitPrice"], 10.0);
        assert_eq!(v["shippableWeight"], 1.6);
        assert_eq!(
            v["items"][0]["attributes"],
            json!([{"name": "Size", "value": "L"}])
        );
        assert_eq!(v["items"][0]["subtotalTax"], "6.39");
        assert_eq!(
            v["feeLines"],
            json!([{"name": "Gift wrap", "total": "3.00", "totalTax": "0.48"}])
        );
        assert_eq!(v["billing"]["company"], "Tienda Sur");
        assert_eq!(v["shippingLines"][0]["instanceId"], "3");
        assert_eq!(
            v["shippingLines"][0]["meta"],
            json!([{"key": "Items", "value": "Hoodie - L × 2"}])
        );
        assert_eq!(
            v["pickupPoint"],
            json!({"carrier": "sendcloud", "id": "10663", "name": "Botillería Sur",
                   "address": {"street": "Av. Matta 120", "postcode": null, "city": null,
                               "country": null, "line": "Av. Matta 120, 8330000 Santiago"},
                   "source": "sendcloudshipping_service_point_meta"})
        );
        assert_eq!(
            v["refunds"],
            json!([{"id": 80, "amount": "10.00", "reason": "Gift card cancelled",
                    "items": [{"lineItemId": 6, "quantity": 1, "amount": "10.00"}]},
                   {"id": 81, "amount": "1.50", "reason": "", "items": []}])
        );
        assert_eq!(v["totals"]["refunded"], "11.50");
        // Only the allowed meta; never the rest (a birthday is not shipping data).
        assert_eq!(v["meta"], json!({"_delivery_date": "2026-11-22"}));
    }

    #[test]
    fn unknown_facts_are_null_not_guessed() {
        let order = rich_order();
        let (st, cus) = ids();
        // No keys: nothing looked up, no settings (no tenant methods, no meta).
        let v = valid(&OrderDocumentV2::map(
            &order,
            &st,
            &cus,
            &Context::default(),
        ));
        assert_eq!(v["weightSource"], "not_available");
        assert_eq!(v["items"][0]["weight"], Value::Null);
        assert_eq!(v["items"][0]["shippable"], Value::Null);
        assert_eq!(v["shippableWeight"], Value::Null);
        assert_eq!(v["units"], Value::Null);
        assert_eq!(v["payment"]["cashOnDelivery"], Value::Null);
        assert_eq!(v["refunds"][0]["items"], Value::Null);
        assert_eq!(v["meta"], json!({}));
        // A shippable item without a weight makes the total unknown too.
        let ctx = Context {
            facts: HashMap::from([(14, ItemFacts::default()), (15, ItemFacts::default())]),
            ..Context::default()
        };
        let v = valid(&OrderDocumentV2::map(&order, &st, &cus, &ctx));
        assert_eq!(v["items"][0]["shippable"], true);
        assert_eq!(v["shippableWeight"], Value::Null);
    }

    fn with_meta(order_meta: Value, line_meta: Value) -> WooOrder {
        WooOrder::parse(
            &json!({"id": 1, "meta_data": order_meta,
                    "shipping_lines": [{"id": 2, "method_id": "flexible_shipping_inpost",
                                        "meta_data": line_meta}]})
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn the_known_pickup_point_plugins() {
        let packeta = with_meta(
            json!([{"key": "packetery_point_id", "value": 4371},
                   {"key": "packetery_point_name", "value": "Z-BOX Praha 1"},
                   {"key": "packetery_point_street", "value": "Národní 1"},
                   {"key": "packetery_point_zip", "value": "110 00"},
                   {"key": "packetery_point_city", "value": "Praha"}]),
            json!([]),
        );
        assert_eq!(
            pickup_point(&packeta).unwrap(),
            PickupPoint {
                carrier: "packeta".into(),
                id: "4371".into(),
                name: Some("Z-BOX Praha 1".into()),
                address: PickupAddress {
                    street: Some("Národní 1".into()),
                    postcode: Some("110 00".into()),
                    city: Some("Praha".into()),
                    country: None,
                    line: None,
                },
                source: "packetery_point_id".into(),
            }
        );
        let inpost_order = with_meta(
            json!([{"key": "_paczkomat_id", "value": "WAW22A"}]),
            json!([]),
        );
        let inpost_line = with_meta(
            json!([]),
            json!([{"key": "_paczkomat_id", "value": "KRA01M"}]),
        );
        assert_eq!(pickup_point(&inpost_order).unwrap().id, "WAW22A");
        let p = pickup_point(&inpost_line).unwrap();
        assert_eq!((p.carrier.as_str(), p.id.as_str()), ("inpost", "KRA01M"));
        let generic = with_meta(
            json!([]),
            json!([{"key": "delivery_point_id", "value": "PL-123"},
                   {"key": "delivery_point_address", "value": "Długa 1, 30-001 Kraków"}]),
        );
        let p = pickup_point(&generic).unwrap();
        assert_eq!(p.carrier, "flexible_shipping_inpost");
        assert_eq!(p.address.line.as_deref(), Some("Długa 1, 30-001 Kraków"));
        // Empty or malformed values are no pickup point.
        for junk in [
            json!([{"key": "_paczkomat_id", "value": ""}]),
            json!([{"key": "sendcloudshipping_service_point_meta", "value": "not an object"}]),
            json!([{"key": "packetery_point_id", "value": null}]),
        ] {
            assert_eq!(
                pickup_point(&with_meta(junk.clone(), json!([]))),
                None,
                "{junk}"
            );
        }
    }

    #[test]
    fn the_schema_refuses_what_the_contract_does_not_say() {
        let (st, cus) = ids();
        let v = valid(&OrderDocumentV2::map(
            &rich_order(),
            &st,
            &cus,
            &Context::default(),
        ));
        let schema = schema();
        for (path, bad) in [
            ("/schemaVersion", json!(1)),
            ("/totals/total", json!(61.5)),
            ("/items/0/shippable", json!("yes")),
            ("/weightSource", json!("guessed")),
        ] {
            let mut broken = v.clone();
            *broken.pointer_mut(path).unwrap() = bad;
            assert!(!schema.is_valid(&broken), "{path} accepted");
        }
        let mut extra = v.clone();
        extra["surprise"] = json!(true);
        assert!(!schema.is_valid(&extra), "an undocumented field accepted");
        let mut missing = v;
        missing.as_object_mut().unwrap().remove("pickupPoint");
        assert!(!schema.is_valid(&missing), "a missing field accepted");
    }

    #[test]
    fn catalogue_facts_that_are_not_numbers_are_unknown() {
        let found = crate::woocommerce::item_facts(
            br#"[{"id": 1, "weight": "-2", "virtual": "yes",
                  "dimensions": {"length": "1", "width": "x", "height": "3"}},
                 {"id": 2, "weight": 0.5, "downloadable": true, "dimensions": null},
                 {"id": 3}]"#,
        )
        .unwrap();
        assert_eq!(
            found,
            vec![
                (
                    1,
                    ItemFacts {
                        weight: None,
                        dimensions: None,
                        virtual_item: true,
                        downloadable: false
                    }
                ),
                (
                    2,
                    ItemFacts {
                        weight: Some(0.5),
                        dimensions: None,
                        virtual_item: false,
                        downloadable: true
                    }
                ),
                (3, ItemFacts::default()),
            ]
        );
        assert!(crate::woocommerce::item_facts(b"{\"not\": \"a list\"}").is_err());
    }

    #[test]
    fn amounts_add_up_in_cents() {
        assert_eq!(
            sum(["-5.00", "1.25"].map(String::from).into_iter()),
            "-3.75"
        );
        assert_eq!(
            sum(["10.10", "0.20", "-0.30"].map(String::from).into_iter()),
            "10.00"
        );
        assert_eq!(sum(std::iter::empty()), "0.00");
        assert_eq!(positive("-3.50"), "3.50");
        assert_eq!(positive("3.50"), "3.50");
    }

    #[test]
    fn the_hash_ignores_only_the_modification_date() {
        let order = rich_order();
        let (st, cus) = ids();
        let a = OrderDocumentV2::map(&order, &st, &cus, &Context::default());
        let mut b = a.clone();
        b.date_modified = Some("2030-01-01T00:00:00Z".into());
        assert_eq!(a.shipping_hash(), b.shipping_hash());
        b.shipping.address1 = "elsewhere".into();
        assert_ne!(a.shipping_hash(), b.shipping_hash());
    }
}
