//! Domain values, parsed once at the edge ("parse, don't validate").
//!
//! Every type here has private fields and a `parse` constructor; once a value exists it is valid.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Error;

macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(&raw).map_err(|e| serde::de::Error::custom(e.message()))
            }
        }
    };
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A tenant's short code. Matched case-insensitively after trimming, so it is kept upper-case.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TenantCode(String);
string_value!(TenantCode);

impl TenantCode {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let code = raw.trim();
        if code.is_empty() || code.len() > 32 || !code.chars().all(is_token_char) {
            return Err(Error::invalid_request(
                "code must be 1-32 letters, digits, '-' or '_'",
            ));
        }
        Ok(Self(code.to_ascii_uppercase()))
    }
}

/// The site's identity: SHA-256 hex of site URL + auth salt, computed by the plugin.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DeviceId(String);
string_value!(DeviceId);

impl DeviceId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.len() != 64 || !raw.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid_request(
                "deviceId must be 64 hexadecimal characters",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }
}

/// A merchant store's id, unique across all tenants (it appears alone in the delivery URL).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct StoreId(String);
string_value!(StoreId);

impl StoreId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(is_token_char) {
            return Err(Error::invalid_request(
                "storeId must be 1-64 letters, digits, '-' or '_'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// The tenant's own id for the merchant (its customer account).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CustomerId(String);
string_value!(CustomerId);

impl CustomerId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let id = raw.trim();
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(Error::invalid_request(
                "customerId must be 1-128 printable characters",
            ));
        }
        Ok(Self(id.to_owned()))
    }
}

/// A tenant user's login, compared case-insensitively.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Email(String);
string_value!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let email = raw.trim();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            return Err(Error::invalid_request("email is not a valid address"));
        }
        Ok(Self(email.to_lowercase()))
    }
}

/// A plain-text password as received; never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.is_empty() || raw.len() > 1024 {
            return Err(Error::invalid_request("password must be 1-1024 bytes"));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// For constants known to be valid.
    pub(crate) fn trusted(raw: &str) -> Self {
        Self(raw.to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A WooCommerce store's base URL, normalised: lower-case scheme and host, no trailing slash,
/// no credentials, query or fragment. Whether its address may be contacted is the outbound
/// policy's job (`crate::outbound`), since that needs DNS.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct StoreUrl(String);
string_value!(StoreUrl);

impl StoreUrl {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid_store_url(format!("storeUrl {why}"));
        let url = Url::parse(raw.trim()).map_err(|_| bad("is not a valid URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad("must use https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not contain a query or fragment"));
        }
        if url.host().is_none() {
            return Err(bad("must have a host"));
        }
        let mut normal = url.as_str().trim_end_matches('/').to_owned();
        if normal.len() > 2048 {
            return Err(bad("is too long"));
        }
        // `Url` already lower-cases scheme and host and normalises IP forms.
        normal.shrink_to_fit();
        Ok(Self(normal))
    }

    pub fn url(&self) -> Url {
        // Safe: the string was produced by `Url` in `parse`.
        Url::parse(&self.0).unwrap_or_else(|_| unreachable_url())
    }

    /// `{storeUrl}/wp-json/{path}`: the WooCommerce REST API below this store.
    pub fn rest_endpoint(&self, path: &str) -> String {
        format!("{}/wp-json/{}", self.0, path.trim_start_matches('/'))
    }
}

fn unreachable_url() -> Url {
    // A constant that always parses; only reachable if `StoreUrl` invariants were broken.
    Url::parse("https://invalid.invalid/").expect("constant URL parses")
}

/// A WooCommerce order status name (without the `wc-` prefix) that makes an order enter scope.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TriggerStatus(String);
string_value!(TriggerStatus);

/// The WooCommerce webhook topics woolink registers and carries, as they are spelled on the
/// wire (`X-WC-Webhook-Topic`, the queue message's `topic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WooTopic {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.updated")]
    OrderUpdated,
    /// The order went to the trash (or for good): the body is only `{"id": N}`.
    #[serde(rename = "order.deleted")]
    OrderDeleted,
    #[serde(rename = "order.restored")]
    OrderRestored,
}

impl WooTopic {
    pub const ALL: [Self; 4] = [
        Self::OrderCreated,
        Self::OrderUpdated,
        Self::OrderDeleted,
        Self::OrderRestored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderUpdated => "order.updated",
            Self::OrderDeleted => "order.deleted",
            Self::OrderRestored => "order.restored",
        }
    }

    /// One of woolink's topics, or `None` for any other (which the intake ignores).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// A product topic, registered beside the order topics on links that hold WooCommerce keys
/// (the worker reads the product from the store: issue 17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductTopic {
    Created,
    Updated,
    Deleted,
    Restored,
}

impl ProductTopic {
    pub const ALL: [Self; 4] = [Self::Created, Self::Updated, Self::Deleted, Self::Restored];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "product.created",
            Self::Updated => "product.updated",
            Self::Deleted => "product.deleted",
            Self::Restored => "product.restored",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// A webhook topic woolink registers on a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Order(WooTopic),
    Product(ProductTopic),
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order(t) => t.as_str(),
            Self::Product(t) => t.as_str(),
        }
    }

    /// What a link registers: the order topics, and with WooCommerce keys (so the product can
    /// be read back) the product topics.
    pub fn for_link(with_keys: bool) -> Vec<Self> {
        let mut all: Vec<Self> = WooTopic::ALL.into_iter().map(Self::Order).collect();
        if with_keys {
            all.extend(ProductTopic::ALL.into_iter().map(Self::Product));
        }
        all
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for WooTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the tenant is told about an order (the Standard Webhooks message's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantEvent {
    #[serde(rename = "order.created")]
    Created,
    #[serde(rename = "order.updated")]
    Updated,
    #[serde(rename = "order.cancelled")]
    Cancelled,
}

impl TenantEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "order.created",
            Self::Updated => "order.updated",
            Self::Cancelled => "order.cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Cancelled]
            .into_iter()
            .find(|e| e.as_str() == raw)
    }
}

impl fmt::Display for TenantEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Statuses that belong to unfinished checkouts; never a trigger, always ignored.
pub const DRAFT_STATUSES: [&str; 3] = ["checkout-draft", "draft", "auto-draft"];

impl TriggerStatus {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let s = raw.trim().to_ascii_lowercase();
        let s = s.strip_prefix("wc-").unwrap_or(&s);
        if s.is_empty()
            || s.len() > 32
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::invalid_request(
                "triggerStatuses entries must be WooCommerce status names",
            ));
        }
        if DRAFT_STATUSES.contains(&s) {
            return Err(Error::invalid_request(
                "draft statuses cannot trigger a sync",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn defaults() -> Vec<Self> {
        vec![Self("processing".to_owned())]
    }

    /// Parses a caller's list: 1-10 distinct statuses, default `["processing"]` when absent.
    pub fn parse_list(raw: Option<&[String]>) -> Result<Vec<Self>, Error> {
        let Some(raw) = raw else {
            return Ok(Self::defaults());
        };
        if raw.is_empty() || raw.len() > 10 {
            return Err(Error::invalid_request(
                "triggerStatuses must list 1-10 statuses",
            ));
        }
        let mut out: Vec<Self> = Vec::with_capacity(raw.len());
        for s in raw {
            let status = Self::parse(s)?;
            if !out.contains(&status) {
                out.push(status);
            }
        }
        Ok(out)
    }
}

/// A WooCommerce order id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrderId(u64);

impl OrderId {
    pub fn new(id: u64) -> Self {
        Self(id)
    }
    pub fn parse(raw: &str) -> Result<Self, Error> {
        raw.parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Self)
            .ok_or_else(|| Error::invalid_request("order id must be a positive integer"))
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The only platform woolink connects today.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Platform {
    WooCommerce,
}

impl Platform {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "woocommerce" => Ok(Self::WooCommerce),
            _ => Err(Error::new(
                crate::error::ErrorKind::UnsupportedPlatform,
                "only the woocommerce platform is supported",
            )),
        }
    }
}

/// WooCommerce's own time form for listings and cursors: `YYYY-MM-DDTHH:MM:SS`, GMT, to the
/// second.
pub fn woo_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A time as WooCommerce writes it (`YYYY-MM-DDTHH:MM:SS`, with or without fractions or a
/// `Z`, taken as GMT) or as RFC 3339 with any offset; to the second.
pub fn parse_woo_time(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::Timelike as _;
    let t = raw.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return d.with_timezone(&chrono::Utc).with_nanosecond(0);
    }
    let naive = t.trim_end_matches('Z');
    let whole = naive.split('.').next().unwrap_or(naive);
    chrono::NaiveDateTime::parse_from_str(whole, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

/// What a tenant API key may do (`woolink tenant api-key create --scope …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read the tenant's stores and their status.
    StoresRead,
    /// Read orders and their sync state.
    OrdersRead,
    /// Post shipments (tracking) back to stores.
    ShipmentsWrite,
    /// Read shipments.
    ShipmentsRead,
    /// Push inventory to stores.
    InventoryWrite,
    /// Change a store's settings (trigger statuses, pause and resume).
    StoresWrite,
    /// Send orders again (one, or every failed one of a store).
    OrdersWrite,
    /// Move the tenant's fulfilment endpoint (where every order goes).
    FulfilmentWrite,
}

impl Scope {
    pub const ALL: [Self; 8] = [
        Self::StoresRead,
        Self::OrdersRead,
        Self::ShipmentsWrite,
        Self::ShipmentsRead,
        Self::InventoryWrite,
        Self::StoresWrite,
        Self::OrdersWrite,
        Self::FulfilmentWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StoresRead => "stores:read",
            Self::OrdersRead => "orders:read",
            Self::ShipmentsWrite => "shipments:write",
            Self::ShipmentsRead => "shipments:read",
            Self::InventoryWrite => "inventory:write",
            Self::StoresWrite => "stores:write",
            Self::OrdersWrite => "orders:write",
            Self::FulfilmentWrite => "fulfilment:write",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Error> {
        let s = raw.trim();
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_request(format!(
                    "unknown scope {s:?} (known: {})",
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }

    /// A non-empty list, sorted, without repeats.
    pub fn parse_list<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Self>, Error> {
        let mut scopes = raw
            .iter()
            .map(|s| Self::parse(s.as_ref()))
            .collect::<Result<Vec<_>, Error>>()?;
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(Error::invalid_request(
                "a tenant API key needs at least one scope",
            ));
        }
        Ok(scopes)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A web page's address as woolink passes it on (a carrier's tracking page): an http(s) URL
/// with a host, at most 2,048 characters.
pub fn web_url(raw: &str) -> Option<url::Url> {
    if raw.len() > 2048 {
        return None;
    }
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Characters that print as nothing or reorder what follows (zero-width, bidi controls,
/// line and paragraph separators, the byte-order mark): never repeated from a peer's text.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn woocommerce_times_read_and_write_to_the_second() {
        let t = parse_woo_time("2026-11-29T10:00:05").unwrap();
        assert_eq!(woo_time(t), "2026-11-29T10:00:05");
        assert_eq!(parse_woo_time("2026-11-29T10:00:05Z"), Some(t));
        assert_eq!(parse_woo_time("2026-11-29T10:00:05.123"), Some(t));
        assert_eq!(parse_woo_time("2026-11-29T11:00:05+01:00"), Some(t));
        assert_eq!(parse_woo_time("yesterday"), None);
    }

    #[test]
    fn scopes_parse_as_documented() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(
            Scope::parse_list(&["shipments:write", " orders:read", "shipments:write"]).unwrap(),
            [Scope::OrdersRead, Scope::ShipmentsWrite]
        );
        assert!(Scope::parse("shipments:delete").is_err());
        assert!(Scope::parse_list::<&str>(&[]).is_err());
    }

    use super::*;

    #[test]
    fn tenant_codes_are_trimmed_and_case_insensitive() {
        assert_eq!(TenantCode::parse("  acme ").unwrap().as_str(), "ACME");
        assert!(TenantCode::parse("").is_err());
        assert!(TenantCode::parse("a b").is_err());
        assert!(TenantCode::parse(&"A".repeat(33)).is_err());
    }

    #[test]
    fn device_ids_are_64_hex() {
        let id = "AB".repeat(32);
        assert_eq!(DeviceId::parse(&id).unwrap().as_str(), "ab".repeat(32));
        assert!(DeviceId::parse(&"g".repeat(64)).is_err());
        assert!(DeviceId::parse(&"a".repeat(63)).is_err());
    }

    #[test]
    fn store_urls_are_normalised() {
        let u = StoreUrl::parse("HTTPS://Shop.Example.COM/").unwrap();
        assert_eq!(u.as_str(), "https://shop.example.com");
        let u = StoreUrl::parse("https://example.com/shop/").unwrap();
        assert_eq!(u.as_str(), "https://example.com/shop");
        assert_eq!(
            u.rest_endpoint("wc/v3/webhooks"),
            "https://example.com/shop/wp-json/wc/v3/webhooks"
        );
        for bad in [
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/?a=1",
            "not a url",
            "https://",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_and_octal_ip_forms_are_normalised_so_policy_sees_them() {
        let u = StoreUrl::parse("https://2130706433/").unwrap();
        assert_eq!(u.as_str(), "https://127.0.0.1");
        let u = StoreUrl::parse("https://0177.0.0.1/").unwrap();
        assert_eq!(u.as_str(), "https://127.0.0.1");
    }

    #[test]
    fn trigger_statuses_default_and_refuse_drafts() {
        assert_eq!(
            TriggerStatus::parse_list(None).unwrap(),
            TriggerStatus::defaults()
        );
        let list =
            TriggerStatus::parse_list(Some(&["wc-Processing".into(), "on-hold".into()])).unwrap();
        assert_eq!(list[0].as_str(), "processing");
        assert!(TriggerStatus::parse_list(Some(&["checkout-draft".into()])).is_err());
        assert!(TriggerStatus::parse_list(Some(&[])).is_err());
    }

    #[test]
    fn emails_are_lower_cased() {
        assert_eq!(
            Email::parse(" Ops@Acme.Test ").unwrap().as_str(),
            "ops@acme.test"
        );
        for bad in ["", "a", "a@b", "@b.c", "a@b@c.d", "a b@c.d"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::parse("hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn topics_and_events_are_their_wire_strings() {
        for t in WooTopic::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<WooTopic>(&json).unwrap(), t);
            assert_eq!(WooTopic::parse(t.as_str()), Some(t));
        }
        assert_eq!(WooTopic::parse("product.updated"), None);
        for e in [
            TenantEvent::Created,
            TenantEvent::Updated,
            TenantEvent::Cancelled,
        ] {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(TenantEvent::parse(e.as_str()), Some(e));
        }
        assert_eq!(TenantEvent::parse("order.deleted"), None);
    }
}

/// An order's version: its `date_modified_gmt` (or, for a body without one, the second woolink
/// received it), normalised to `YYYY-MM-DDTHH:MM:SS.mmm` so that versions sort as text in
/// time order (and as DynamoDB compares strings). A value that is not a time is kept as given.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderVersion(String);

impl OrderVersion {
    /// `date_modified_gmt` as WooCommerce writes it (`2026-11-23T10:00:00`, with or without
    /// fractions or `Z`, or with a space for the `T`).
    pub fn of_modified(raw: &str) -> Self {
        let trimmed = raw.trim().trim_end_matches('Z');
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S",
        ] {
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(trimmed, fmt) {
                return Self(t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string());
            }
        }
        Self(raw.to_owned())
    }

    /// The version of a body that carries no timestamp (`order.deleted` is only `{"id": N}`):
    /// the second it was received in (RFC 3339), as WooCommerce would have stamped the change,
    /// so a restore in the same second, which carries that second, is not taken for older.
    pub fn of_receipt(received_at: &str) -> Self {
        let full = Self::of_modified(received_at);
        match full.0.split_once('.') {
            Some((seconds, _)) => Self(format!("{seconds}.000")),
            None => full,
        }
    }

    /// A version as stored (already normalised when it was first made).
    pub fn stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for OrderVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
impl From<&str> for OrderVersion {
    fn from(raw: &str) -> Self {
        Self(raw.to_owned())
    }
}
