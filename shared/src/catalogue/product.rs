//! WooCommerce products as they arrive (parsed leniently, as orders are) and the tenant's
//! item document: one per *sellable* item — a simple product or a variation. A variable
//! parent is not sellable (its variations are), a grouped product is represented by its
//! children (products of their own), and external, virtual and downloadable items are skipped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::sha256_hex;
use crate::error::{Error, Result};
use crate::order::lenient;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooDimensions {
    #[serde(deserialize_with = "lenient::string")]
    pub length: String,
    #[serde(deserialize_with = "lenient::string")]
    pub width: String,
    #[serde(deserialize_with = "lenient::string")]
    pub height: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooAttribute {
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    /// A variation's chosen value.
    #[serde(deserialize_with = "lenient::string")]
    pub option: String,
}

pub use crate::order::WooMeta;

/// A product or a variation (`/wc/v3/products`, `/products/{id}/variations`, product
/// webhooks). A variation has `parent_id` and no `type` in older stores (`variation` in newer).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WooProduct {
    #[serde(deserialize_with = "lenient::id")]
    pub id: u64,
    #[serde(deserialize_with = "lenient::id")]
    pub parent_id: u64,
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(rename = "type", deserialize_with = "lenient::string")]
    pub kind: String,
    #[serde(deserialize_with = "lenient::string")]
    pub status: String,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub sku: Option<String>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub r#virtual: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    pub downloadable: bool,
    /// `true`, `false`, or `"parent"` for a variation whose stock its parent manages.
    pub manage_stock: Value,
    pub stock_quantity: Value,
    #[serde(deserialize_with = "lenient::string")]
    pub stock_status: String,
    #[serde(deserialize_with = "lenient::string")]
    pub weight: String,
    #[serde(deserialize_with = "lenient::object")]
    pub dimensions: WooDimensions,
    #[serde(deserialize_with = "lenient::string")]
    pub price: String,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub date_modified_gmt: Option<String>,
    #[serde(deserialize_with = "lenient::list")]
    pub attributes: Vec<WooAttribute>,
    #[serde(deserialize_with = "lenient::list")]
    pub meta_data: Vec<WooMeta>,
    #[serde(deserialize_with = "lenient::list")]
    pub variations: Vec<u64>,
}

impl WooProduct {
    pub fn parse(json: &str) -> Result<Self> {
        if !json.trim_start().starts_with('{') {
            return Err(Error::invalid_request(
                "the product payload is not a JSON object",
            ));
        }
        let p: Self = serde_json::from_str(json)
            .map_err(|_| Error::invalid_request("the product payload is not a JSON object"))?;
        if p.id == 0 {
            return Err(Error::invalid_request("the product payload has no id"));
        }
        Ok(p)
    }

    pub fn is_variation(&self) -> bool {
        self.kind == "variation" || (self.parent_id != 0 && self.kind.is_empty())
    }

    /// Whether woolink manages this item's stock number (a variation whose parent manages it
    /// is `"parent"`: not managed on its own).
    pub fn manages_stock(&self) -> bool {
        self.manage_stock.as_bool() == Some(true)
    }

    pub fn stock_quantity(&self) -> Option<i64> {
        match &self.stock_quantity {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// What an item is to the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A simple product or a variation.
    Sellable,
    /// A variable product: its variations are the sellable items.
    VariableParent,
    /// Not sent, and why (a product that becomes one of these is sent as deleted).
    Skipped(&'static str),
}

pub fn classify(p: &WooProduct) -> Class {
    if p.status == "trash" {
        return Class::Skipped("in the trash");
    }
    if p.r#virtual {
        return Class::Skipped("virtual");
    }
    if p.downloadable {
        return Class::Skipped("downloadable");
    }
    if p.is_variation() {
        return Class::Sellable;
    }
    match p.kind.as_str() {
        "simple" | "" => Class::Sellable,
        "variable" => Class::VariableParent,
        "grouped" => Class::Skipped("grouped: its children are the items"),
        "external" => Class::Skipped("external"),
        _ => Class::Skipped("a product type woolink does not ship"),
    }
}

/// The store's units (`woocommerce_weight_unit`, `woocommerce_dimension_unit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Units {
    pub weight: String,
    pub dimension: String,
}

impl Default for Units {
    fn default() -> Self {
        Self {
            weight: "kg".into(),
            dimension: "cm".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measure {
    pub value: Option<f64>,
    pub unit: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dimensions {
    pub length: Option<f64>,
    pub width: Option<f64>,
    pub height: Option<f64>,
    pub unit: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stock {
    pub managed: bool,
    pub quantity: Option<i64>,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    pub option: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Barcode {
    /// The meta key it was found under (`_global_unique_id`, `_gtin`, `_ean`…).
    pub key: String,
    pub value: String,
}

/// One sellable item as the tenant receives it (`product.upserted`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemDocument {
    /// The product's id, or the variation's.
    pub id: u64,
    /// The variable product's id for a variation.
    pub parent_id: Option<u64>,
    pub sku: Option<String>,
    pub parent_sku: Option<String>,
    pub name: String,
    /// `simple` or `variation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: Vec<Attribute>,
    pub weight: Measure,
    pub dimensions: Dimensions,
    pub price: Option<String>,
    pub stock: Stock,
    pub barcode: Option<Barcode>,
    pub modified_at: Option<String>,
}

/// Meta keys the common GTIN/EAN plugins (and WooCommerce 9.2+'s own field) use, in order.
pub const BARCODE_KEYS: [&str; 9] = [
    "_global_unique_id",
    "_gtin",
    "_wpm_gtin_code",
    "_alg_ean",
    "_ean",
    "ean",
    "gtin",
    "_upc",
    "barcode",
];

fn number(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

fn barcode(p: &WooProduct) -> Option<Barcode> {
    BARCODE_KEYS.iter().find_map(|key| {
        p.meta_data.iter().find(|m| m.key == *key).and_then(|m| {
            let value = match &m.value {
                Value::String(s) => s.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            (!value.is_empty()).then(|| Barcode {
                key: (*key).to_owned(),
                value,
            })
        })
    })
}

impl ItemDocument {
    /// The document of sellable item `p` (a variation with its `parent`), in `units`. A
    /// variation without a weight or dimensions of its own shows its parent's, as
    /// WooCommerce does.
    pub fn of(p: &WooProduct, parent: Option<&WooProduct>, units: &Units) -> Self {
        let or_parent =
            |own: &str, theirs: Option<&str>| number(own).or_else(|| theirs.and_then(number));
        let name = match parent {
            Some(par) if !p.is_variation() || p.name.is_empty() => par.name.clone(),
            _ => p.name.clone(),
        };
        Self {
            id: p.id,
            parent_id: parent
                .map(|par| par.id)
                .or((p.parent_id != 0).then_some(p.parent_id)),
            sku: p.sku.clone(),
            parent_sku: parent.and_then(|par| par.sku.clone()),
            name,
            kind: if p.is_variation() {
                "variation"
            } else {
                "simple"
            }
            .into(),
            attributes: p
                .attributes
                .iter()
                .filter(|a| !a.option.is_empty())
                .map(|a| Attribute {
                    name: a.name.clone(),
                    option: a.option.clone(),
                })
                .collect(),
            weight: Measure {
                value: or_parent(&p.weight, parent.map(|x| x.weight.as_str())),
                unit: units.weight.clone(),
            },
            dimensions: Dimensions {
                length: or_parent(
                    &p.dimensions.length,
                    parent.map(|x| x.dimensions.length.as_str()),
                ),
                width: or_parent(
                    &p.dimensions.width,
                    parent.map(|x| x.dimensions.width.as_str()),
                ),
                height: or_parent(
                    &p.dimensions.height,
                    parent.map(|x| x.dimensions.height.as_str()),
                ),
                unit: units.dimension.clone(),
            },
            price: Some(p.price.clone()).filter(|s| !s.is_empty()),
            stock: Stock {
                managed: p.manages_stock(),
                quantity: p.stock_quantity(),
                status: p.stock_status.clone(),
            },
            barcode: barcode(p).or_else(|| parent.and_then(barcode)),
            modified_at: p.date_modified_gmt.clone(),
        }
    }

    /// What the tenant would see change: the document without its modification time.
    pub fn hash(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("modifiedAt");
        }
        sha256_hex(v.to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../tests/fixtures/woocommerce/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_docs_samples_classify_and_map() {
        let simple =
            WooProduct::parse(&fixture("docs-v3-product-simple-retrieve-response.json")).unwrap();
        assert_eq!(classify(&simple), Class::Sellable);
        let variable =
            WooProduct::parse(&fixture("docs-v3-product-variable-create-response.json")).unwrap();
        assert_eq!(classify(&variable), Class::VariableParent);
        let variation =
            WooProduct::parse(&fixture("docs-v3-product-variation-retrieve-response.json"))
                .unwrap();
        assert!(variation.is_variation() || variation.parent_id == 0);
        let doc = ItemDocument::of(&simple, None, &Units::default());
        assert_eq!(doc.id, 794);
        assert_eq!(doc.kind, "simple");
        assert_eq!(doc.sku, None, "an empty SKU is no SKU");
        assert_eq!(doc.price.as_deref(), Some("21.99"));
        assert_eq!(
            doc.stock,
            Stock {
                managed: false,
                quantity: None,
                status: "instock".into()
            }
        );
        assert_eq!(
            doc.weight,
            Measure {
                value: None,
                unit: "kg".into()
            }
        );
    }

    #[test]
    fn variations_take_the_parents_measures_and_name_their_attributes() {
        let parent = WooProduct::parse(
            r#"{"id": 12, "type": "variable", "name": "Hoodie", "sku": "HOODIE", "weight": "0.8",
                "dimensions": {"length": "30", "width": "20", "height": "5"},
                "meta_data": [{"key": "_gtin", "value": "4006381333931"}]}"#,
        )
        .unwrap();
        let v = WooProduct::parse(
            r#"{"id": 13, "parent_id": 12, "type": "variation", "sku": "HOODIE-S", "weight": "",
                "dimensions": {"length": "31", "width": "", "height": ""}, "price": "40",
                "manage_stock": true, "stock_quantity": 7, "stock_status": "instock",
                "attributes": [{"id": 0, "name": "Size", "option": "Small"}]}"#,
        )
        .unwrap();
        assert_eq!(classify(&v), Class::Sellable);
        let doc = ItemDocument::of(
            &v,
            Some(&parent),
            &Units {
                weight: "lbs".into(),
                dimension: "in".into(),
            },
        );
        assert_eq!(
            (doc.parent_id, doc.parent_sku.as_deref()),
            (Some(12), Some("HOODIE"))
        );
        assert_eq!(doc.name, "Hoodie");
        assert_eq!(
            doc.weight,
            Measure {
                value: Some(0.8),
                unit: "lbs".into()
            }
        );
        assert_eq!(
            (doc.dimensions.length, doc.dimensions.width),
            (Some(31.0), Some(20.0))
        );
        assert_eq!(
            doc.attributes,
            vec![Attribute {
                name: "Size".into(),
                option: "Small".into()
            }]
        );
        assert_eq!(doc.stock.quantity, Some(7));
        assert!(doc.stock.managed);
        assert_eq!(doc.barcode.unwrap().value, "4006381333931");
    }

    #[test]
    fn what_is_not_shipped_is_skipped() {
        for (body, why) in [
            (r#"{"id": 1, "type": "simple", "virtual": true}"#, "virtual"),
            (
                r#"{"id": 1, "type": "simple", "downloadable": true}"#,
                "downloadable",
            ),
            (r#"{"id": 1, "type": "external"}"#, "external"),
            (
                r#"{"id": 1, "type": "grouped"}"#,
                "grouped: its children are the items",
            ),
            (
                r#"{"id": 1, "type": "simple", "status": "trash"}"#,
                "in the trash",
            ),
        ] {
            assert_eq!(
                classify(&WooProduct::parse(body).unwrap()),
                Class::Skipped(why)
            );
        }
        assert!(WooProduct::parse("[]").is_err());
        assert!(WooProduct::parse(r#"{"name": "no id"}"#).is_err());
    }

    #[test]
    fn the_hash_ignores_the_modification_time_only() {
        let p = |modified: &str, qty: i64| {
            WooProduct::parse(&format!(
                r#"{{"id": 5, "type": "simple", "sku": "A", "manage_stock": true,
                    "stock_quantity": {qty}, "date_modified_gmt": "{modified}"}}"#
            ))
            .unwrap()
        };
        let u = Units::default();
        let h = |x: &WooProduct| ItemDocument::of(x, None, &u).hash();
        assert_eq!(
            h(&p("2026-01-01T00:00:00", 3)),
            h(&p("2026-02-01T00:00:00", 3))
        );
        assert_ne!(
            h(&p("2026-01-01T00:00:00", 3)),
            h(&p("2026-01-01T00:00:00", 4))
        );
    }
}
