//! Items: how each domain value is stored, and read back. Every value round-trips (tests
//! below); a stored item that no longer parses is `corrupt`, an internal error (a bug or
//! tampering, never the client's fault).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys;
use crate::crypto::{CredentialHash, Sealed};
use crate::domain::{
    CustomerId, DeviceId, Email, OrderId, OrderVersion, StoreId, StoreUrl, TenantCode, TenantEvent,
    TriggerStatus,
};
use crate::error::{Error, Result};
use crate::model::{
    CompleteRule, DocumentSettings, DocumentVersion, Fulfilment, Link, LinkStatus, LoginAttempts,
    OrderSync, Reconciliation, Session, Shipment, ShipmentItem, ShipmentState, Store, SyncState,
    Tenant, TenantApiKey, User, WebhookHealth, WooKeys,
};

pub type Item = HashMap<String, AttributeValue>;

pub fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored {what} item is malformed"))
}

fn to_item<T: Serialize>(value: &T) -> Result<Item> {
    serde_dynamo::to_item(value).map_err(|e| Error::internal(format!("encode item: {e}")))
}

fn from_item<T: DeserializeOwned>(item: Item, what: &str) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|_| corrupt(what))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// An item's key.
pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantItem {
    pk: String,
    sk: String,
    code: String,
    name: String,
    active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fulfilment_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fulfilment_secret: Option<String>,
    /// Absent on tenants stored before order document v2: they keep v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    document_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cod_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    order_meta_keys: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserItem {
    pk: String,
    sk: String,
    email: String,
    password_hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoreItem {
    pk: String,
    sk: String,
    store_id: String,
    tenant: String,
    name: String,
    customer_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkItem {
    pk: String,
    sk: String,
    store_id: String,
    tenant: String,
    customer_id: String,
    store_url: String,
    device_id: String,
    status: String,
    trigger_statuses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_webhook_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_secret_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_api_key_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    woo_consumer_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    woo_consumer_secret: Option<String>,
    #[serde(default)]
    webhook_ids: Vec<u64>,
    linked_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disconnected_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paused_at: Option<DateTime<Utc>>,
    /// The poll index's keys, present only while the link is connected with keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    poll_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    poll_key: Option<String>,
    revision: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiKeyItem {
    pk: String,
    sk: String,
    store_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionItem {
    pk: String,
    sk: String,
    token_hash: String,
    tenant: String,
    email: String,
    device_id: String,
    expires_at: DateTime<Utc>,
    ttl: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginItem {
    #[serde(default)]
    failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locked_until: Option<DateTime<Utc>>,
}

pub fn tenant(t: &Tenant) -> Result<Item> {
    to_item(&tenant_item(t))
}

pub fn tenant_of(item: Item) -> Result<Tenant> {
    tenant_from(from_item(item, "tenant")?)
}

fn tenant_from(item: TenantItem) -> Result<Tenant> {
    let fulfilment = match (item.fulfilment_url, item.fulfilment_secret) {
        (Some(url), Some(secret)) => Some(Fulfilment {
            url,
            secret: Sealed::from_stored(secret),
        }),
        _ => None,
    };
    let version = match item.document_version {
        None => DocumentVersion::V1,
        Some(n) => DocumentVersion::from_number(n).ok_or_else(|| corrupt("tenant"))?,
    };
    Ok(Tenant {
        code: TenantCode::parse(&item.code).map_err(|_| corrupt("tenant"))?,
        name: item.name,
        active: item.active,
        fulfilment,
        document: DocumentSettings {
            version,
            cod_methods: item.cod_methods,
            order_meta_keys: item.order_meta_keys,
        },
    })
}

fn tenant_item(t: &Tenant) -> TenantItem {
    TenantItem {
        pk: keys::TENANTS.to_owned(),
        sk: keys::tenant_sk(t.code.as_str()),
        code: t.code.to_string(),
        name: t.name.clone(),
        active: t.active,
        fulfilment_url: t.fulfilment.as_ref().map(|f| f.url.clone()),
        fulfilment_secret: t.fulfilment.as_ref().map(|f| f.secret.as_str().to_owned()),
        document_version: Some(t.document.version.number()),
        cod_methods: t.document.cod_methods.clone(),
        order_meta_keys: t.document.order_meta_keys.clone(),
    }
}

pub fn user(u: &User) -> Result<Item> {
    to_item(&UserItem {
        pk: keys::tenant_pk(u.tenant.as_str()),
        sk: keys::user_sk(u.email.as_str()),
        email: u.email.to_string(),
        password_hash: u.password_hash.clone(),
    })
}

/// A user item (its key names the tenant).
pub fn user_of(item: Item, tenant: &TenantCode) -> Result<User> {
    let u: UserItem = from_item(item, "user")?;
    Ok(User {
        tenant: tenant.clone(),
        email: Email::parse(&u.email).map_err(|_| corrupt("user"))?,
        password_hash: u.password_hash,
    })
}

/// An account's failed-login record; it expires `keep` after its last failure or lock.
pub fn login_attempts(
    tenant: &TenantCode,
    email: &Email,
    a: &LoginAttempts,
    keep: chrono::Duration,
) -> Result<Item> {
    let mut item = to_item(&LoginItem {
        failures: a.consecutive_failures,
        locked_until: a.locked_until,
    })?;
    let last = a.locked_until.unwrap_or_else(Utc::now).max(Utc::now());
    item.extend(key(
        keys::tenant_pk(tenant.as_str()),
        keys::login_sk(email.as_str()),
    ));
    item.insert(
        keys::TTL.to_owned(),
        AttributeValue::N((last + keep).timestamp().to_string()),
    );
    Ok(item)
}

pub fn login_attempts_of(item: Item) -> Result<LoginAttempts> {
    let l: LoginItem = from_item(item, "login attempts")?;
    Ok(LoginAttempts {
        consecutive_failures: l.failures,
        locked_until: l.locked_until,
    })
}

/// A store's own item and its copy in the tenant's partition (the store picker's listing).
pub fn store(st: &Store) -> Result<(Item, Item)> {
    let record = |pk: String, sk: String| StoreItem {
        pk,
        sk,
        store_id: st.id.to_string(),
        tenant: st.tenant.to_string(),
        name: st.name.clone(),
        customer_id: st.customer_id.to_string(),
    };
    Ok((
        to_item(&record(
            keys::store_pk(st.id.as_str()),
            keys::STORE_SK.to_owned(),
        ))?,
        to_item(&record(
            keys::tenant_pk(st.tenant.as_str()),
            keys::store_pk(st.id.as_str()),
        ))?,
    ))
}

pub fn store_of(item: Item) -> Result<Store> {
    store_from(from_item(item, "store")?)
}

fn store_from(item: StoreItem) -> Result<Store> {
    Ok(Store {
        id: StoreId::parse(&item.store_id).map_err(|_| corrupt("store"))?,
        tenant: TenantCode::parse(&item.tenant).map_err(|_| corrupt("store"))?,
        name: item.name,
        customer_id: CustomerId::parse(&item.customer_id).map_err(|_| corrupt("store"))?,
    })
}

pub fn link(l: &Link) -> Result<Item> {
    to_item(&link_item(l))
}

pub fn link_of(item: Item) -> Result<Link> {
    link_from(from_item(item, "link")?)
}

fn link_item(l: &Link) -> LinkItem {
    LinkItem {
        pk: keys::store_pk(l.store_id.as_str()),
        sk: keys::LINK_SK.to_owned(),
        store_id: l.store_id.to_string(),
        tenant: l.tenant.to_string(),
        customer_id: l.customer_id.to_string(),
        store_url: l.store_url.to_string(),
        device_id: l.device_id.to_string(),
        status: l.status.as_str().to_owned(),
        trigger_statuses: l.trigger_statuses.iter().map(|t| t.to_string()).collect(),
        webhook_secret: l.webhook_secret.as_ref().map(|s| s.as_str().to_owned()),
        previous_webhook_secret: l
            .previous_webhook_secret
            .as_ref()
            .map(|s| s.as_str().to_owned()),
        previous_secret_until: l.previous_secret_until,
        api_key_hash: l.api_key_hash.as_ref().map(|h| h.as_str().to_owned()),
        revoked_api_key_hash: l
            .revoked_api_key_hash
            .as_ref()
            .map(|h| h.as_str().to_owned()),
        woo_consumer_key: l
            .woo_keys
            .as_ref()
            .map(|k| k.consumer_key.as_str().to_owned()),
        woo_consumer_secret: l
            .woo_keys
            .as_ref()
            .map(|k| k.consumer_secret.as_str().to_owned()),
        webhook_ids: l.webhook_ids.clone(),
        linked_at: l.linked_at,
        updated_at: l.updated_at,
        disconnected_at: l.disconnected_at,
        paused_at: l.paused_at,
        poll_shard: pollable(l).then(|| keys::poll_shard(l.store_id.as_str())),
        poll_key: pollable(l).then(|| l.store_id.to_string()),
        revision: l.revision,
    }
}

/// Whether the reconciliation poll visits the link's store.
fn pollable(l: &Link) -> bool {
    l.is_connected() && l.woo_keys.is_some()
}

fn link_from(i: LinkItem) -> Result<Link> {
    let c = |_| corrupt("link");
    Ok(Link {
        store_id: StoreId::parse(&i.store_id).map_err(c)?,
        tenant: TenantCode::parse(&i.tenant).map_err(c)?,
        customer_id: CustomerId::parse(&i.customer_id).map_err(c)?,
        store_url: StoreUrl::parse(&i.store_url).map_err(c)?,
        device_id: DeviceId::parse(&i.device_id).map_err(c)?,
        status: LinkStatus::parse(&i.status).ok_or_else(|| corrupt("link"))?,
        trigger_statuses: i
            .trigger_statuses
            .iter()
            .map(|t| TriggerStatus::parse(t))
            .collect::<Result<_>>()
            .map_err(c)?,
        webhook_secret: i.webhook_secret.map(Sealed::from_stored),
        previous_webhook_secret: i.previous_webhook_secret.map(Sealed::from_stored),
        previous_secret_until: i.previous_secret_until,
        api_key_hash: i.api_key_hash.map(CredentialHash::from_stored),
        revoked_api_key_hash: i.revoked_api_key_hash.map(CredentialHash::from_stored),
        woo_keys: match (i.woo_consumer_key, i.woo_consumer_secret) {
            (Some(k), Some(s)) => Some(WooKeys {
                consumer_key: Sealed::from_stored(k),
                consumer_secret: Sealed::from_stored(s),
            }),
            _ => None,
        },
        webhook_ids: i.webhook_ids,
        linked_at: i.linked_at,
        updated_at: i.updated_at,
        disconnected_at: i.disconnected_at,
        paused_at: i.paused_at,
        revision: i.revision,
    })
}

/// The API-key index item: the key's hash names the store whose link holds it.
pub fn api_key(hash: &CredentialHash, store: &StoreId) -> Result<Item> {
    to_item(&ApiKeyItem {
        pk: keys::api_key_pk(hash.as_str()),
        sk: keys::API_KEY_SK.to_owned(),
        store_id: store.to_string(),
    })
}

pub fn api_key_store(item: Item) -> Result<StoreId> {
    let index: ApiKeyItem = from_item(item, "api key")?;
    StoreId::parse(&index.store_id).map_err(|_| corrupt("api key"))
}

pub fn session(session: &Session) -> Result<Item> {
    to_item(&SessionItem {
        pk: keys::session_pk(session.token_hash.as_str()),
        sk: keys::SESSION_SK.to_owned(),
        token_hash: session.token_hash.as_str().to_owned(),
        tenant: session.tenant.to_string(),
        email: session.email.to_string(),
        device_id: session.device_id.to_string(),
        expires_at: session.expires_at,
        ttl: session.expires_at.timestamp(),
    })
}

pub fn session_of(item: Item) -> Result<Session> {
    let s: SessionItem = from_item(item, "session")?;
    let c = |_| corrupt("session");
    Ok(Session {
        token_hash: CredentialHash::from_stored(s.token_hash),
        tenant: TenantCode::parse(&s.tenant).map_err(c)?,
        email: Email::parse(&s.email).map_err(c)?,
        device_id: DeviceId::parse(&s.device_id).map_err(c)?,
        expires_at: s.expires_at,
    })
}

pub fn order(o: &OrderSync) -> Result<Item> {
    to_item(&order_item(o))
}

pub fn order_of(item: Item) -> Result<OrderSync> {
    order_from(from_item(item, "order")?)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderItem {
    pk: String,
    sk: String,
    store_id: String,
    order_id: u64,
    state: String,
    woo_status: String,
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    waiting: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replay_guard: Option<String>,
    in_scope: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    unsettled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doc_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivered_hash: Option<String>,
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant_answer: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    synced_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    /// Absent for webhooks (the items written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovered_at: Option<DateTime<Utc>>,
    /// `crate::timeline`, compact JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeline: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    timeline_dropped: u32,
    /// The `orderState` index: `STORE#{storeId}#{state}` and `changed_key`, for states listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_at: Option<String>,
    /// What the store's counters count it as (`crate::health::counted_as`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    counted: Option<String>,
    revision: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn order_item(o: &OrderSync) -> OrderItem {
    OrderItem {
        pk: keys::store_pk(o.store_id.as_str()),
        sk: keys::order_sk(o.order_id.get()),
        store_id: o.store_id.to_string(),
        order_id: o.order_id.get(),
        state: o.state.as_str().to_owned(),
        woo_status: o.woo_status.clone(),
        version: o.version.to_string(),
        received_at: o.received_at.clone(),
        content_hash: o.content_hash.clone(),
        waiting: o.waiting.clone(),
        replay_guard: o.replay_guard.clone(),
        in_scope: o.in_scope,
        event: o.event.map(|e| e.as_str().to_owned()),
        webhook_id: o.webhook_id.clone(),
        claimed_by: o.claimed_by.clone(),
        unsettled: o.unsettled,
        doc_hash: o.doc_hash.clone(),
        delivered_hash: o.delivered_hash.clone(),
        attempts: o.attempts,
        last_error: o.last_error.clone(),
        tenant_answer: o.tenant_answer.clone(),
        created_at: o.created_at,
        updated_at: o.updated_at,
        synced_at: o.synced_at,
        ttl: o.expires_at.map(|e| e.timestamp()),
        source: (!o.source.is_webhook()).then(|| o.source.as_str().to_owned()),
        recovered_at: o.recovered_at,
        timeline: (!o.timeline.is_empty()).then(|| crate::timeline::encode(&o.timeline)),
        timeline_dropped: o.timeline_dropped,
        state_key: crate::health::listing(o)
            .map(|(state, _)| keys::order_state_key(o.store_id.as_str(), state.as_str())),
        state_at: crate::health::listing(o).map(|_| crate::health::changed_key(o)),
        counted: crate::health::counted_as(o).map(|c| c.as_str().to_owned()),
        revision: o.revision,
    }
}

fn order_from(i: OrderItem) -> Result<OrderSync> {
    Ok(OrderSync {
        store_id: StoreId::parse(&i.store_id).map_err(|_| corrupt("order"))?,
        order_id: OrderId::new(i.order_id),
        state: SyncState::parse(&i.state).ok_or_else(|| corrupt("order"))?,
        woo_status: i.woo_status,
        version: OrderVersion::stored(i.version),
        received_at: i.received_at,
        content_hash: i.content_hash,
        waiting: i.waiting,
        replay_guard: i.replay_guard,
        in_scope: i.in_scope,
        event: i
            .event
            .map(|e| TenantEvent::parse(&e).ok_or_else(|| corrupt("order")))
            .transpose()?,
        webhook_id: i.webhook_id,
        claimed_by: i.claimed_by,
        unsettled: i.unsettled,
        doc_hash: i.doc_hash,
        delivered_hash: i.delivered_hash,
        attempts: i.attempts,
        last_error: i.last_error,
        tenant_answer: i.tenant_answer,
        created_at: i.created_at,
        updated_at: i.updated_at,
        synced_at: i.synced_at,
        expires_at: i.ttl.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
        source: match i.source {
            None => crate::envelope::Source::Webhook,
            Some(s) => crate::envelope::Source::parse(&s).ok_or_else(|| corrupt("order"))?,
        },
        recovered_at: i.recovered_at,
        timeline: crate::timeline::decode(i.timeline.as_deref()),
        timeline_dropped: i.timeline_dropped,
        counted: i
            .counted
            .map(|c| SyncState::parse(&c).ok_or_else(|| corrupt("order")))
            .transpose()?,
        listed_at: i.state_at.as_deref().and_then(crate::health::changed_at),
        revision: i.revision,
    })
}

/// The store's counters (`crate::health::StoreTally`), as `ADD` and `SET` keep them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TallyItem {
    #[serde(default)]
    received: i64,
    #[serde(default)]
    skipped: i64,
    #[serde(default)]
    queued: i64,
    #[serde(default)]
    synced: i64,
    #[serde(default)]
    failed: i64,
    #[serde(default)]
    last_webhook_at: Option<DateTime<Utc>>,
    #[serde(default)]
    last_order_at: Option<DateTime<Utc>>,
    #[serde(default)]
    last_synced_at: Option<DateTime<Utc>>,
}

pub fn tally_of(item: Item) -> Result<crate::health::StoreTally> {
    let t: TallyItem = from_item(item, "store tally")?;
    Ok(crate::health::StoreTally {
        received: t.received,
        skipped: t.skipped,
        queued: t.queued,
        synced: t.synced,
        failed: t.failed,
        last_webhook_at: t.last_webhook_at,
        last_order_at: t.last_order_at,
        last_synced_at: t.last_synced_at,
    })
}

/// The update expression moving the counters (`ADD`s and `SET`s) and its values.
pub fn tally_update(change: &crate::health::TallyChange) -> (String, Item) {
    let mut adds = Vec::new();
    let mut sets = Vec::new();
    let mut values = Item::new();
    let n = |v: i64| AttributeValue::N(v.to_string());
    if change.new_order {
        adds.push("received :one".to_owned());
    }
    values.insert(":one".into(), n(1));
    if let Some(from) = change.from {
        adds.push(format!("{} :minus", from.as_str()));
        values.insert(":minus".into(), n(-1));
    }
    adds.push(format!("{} :one", change.to.as_str()));
    let at = |t: DateTime<Utc>| s(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    if let Some(t) = change.webhook_at {
        sets.push("lastWebhookAt = :webhook".to_owned());
        values.insert(":webhook".into(), at(t));
    }
    if let Some(t) = change.order_at {
        sets.push("lastOrderAt = :order".to_owned());
        values.insert(":order".into(), at(t));
    }
    if let Some(t) = change.synced_at {
        sets.push("lastSyncedAt = :synced".to_owned());
        values.insert(":synced".into(), at(t));
    }
    let mut expr = format!("ADD {}", adds.join(", "));
    if !sets.is_empty() {
        expr.push_str(&format!(" SET {}", sets.join(", ")));
    }
    (expr, values)
}

pub fn bucket_of(item: Item) -> Result<crate::health::Bucket> {
    let corrupt_bucket = || corrupt("store bucket");
    let start = item
        .get("start")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(corrupt_bucket)?;
    let mut bucket = crate::health::Bucket::empty(start);
    let num = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    for (i, slot) in bucket.lag.iter_mut().enumerate() {
        *slot = num(&format!("lag{i:02}"));
    }
    bucket.recovered = num("recovered");
    Ok(bucket)
}

/// The update expression adding one sample to its bucket (created on first use, kept
/// `BUCKETS_KEPT`).
pub fn bucket_update(sample: &crate::health::Sample) -> (String, Item) {
    let n = |v: i64| AttributeValue::N(v.to_string());
    let mut adds = Vec::new();
    let values = Item::from([
        (":one".to_owned(), n(1)),
        (":start".to_owned(), n(sample.bucket)),
        (
            ":ttl".to_owned(),
            n(sample.bucket + crate::health::BUCKETS_KEPT.num_seconds()),
        ),
    ]);
    if let Some(bin) = sample.lag_bin {
        adds.push(format!("lag{bin:02} :one"));
    }
    if sample.recovered {
        adds.push("recovered :one".to_owned());
    }
    (
        format!("ADD {} SET #start = :start, #ttl = :ttl", adds.join(", ")),
        values,
    )
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackfillItem {
    pk: String,
    sk: String,
    store_id: String,
    run_id: String,
    state: String,
    #[serde(default)]
    statuses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_before: Option<String>,
    matched: u64,
    queued: u64,
    next_page: u32,
    last_id: u64,
    started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    revision: u64,
}

pub fn backfill(r: &crate::model::BackfillRun) -> Result<Item> {
    to_item(&BackfillItem {
        pk: keys::store_pk(r.store_id.as_str()),
        sk: keys::BACKFILL_SK.to_owned(),
        store_id: r.store_id.to_string(),
        run_id: r.run_id.clone(),
        state: r.state.as_str().to_owned(),
        statuses: r.statuses.clone(),
        created_after: r.created_after.clone(),
        created_before: r.created_before.clone(),
        matched: r.matched,
        queued: r.queued,
        next_page: r.next_page,
        last_id: r.last_id,
        started_at: r.started_at,
        finished_at: r.finished_at,
        error: r.error.clone(),
        revision: r.revision,
    })
}

pub fn backfill_of(item: Item) -> Result<crate::model::BackfillRun> {
    let i: BackfillItem = from_item(item, "backfill")?;
    Ok(crate::model::BackfillRun {
        store_id: StoreId::parse(&i.store_id).map_err(|_| corrupt("backfill"))?,
        run_id: i.run_id,
        state: crate::model::BackfillState::parse(&i.state).ok_or_else(|| corrupt("backfill"))?,
        statuses: i.statuses,
        created_after: i.created_after,
        created_before: i.created_before,
        matched: i.matched,
        queued: i.queued,
        next_page: i.next_page,
        last_id: i.last_id,
        started_at: i.started_at,
        finished_at: i.finished_at,
        error: i.error,
        revision: i.revision,
    })
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReconciliationItem {
    pk: String,
    sk: String,
    store_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watermark: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_run_at: Option<DateTime<Utc>>,
    #[serde(default)]
    last_queued: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhooks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhooks_checked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    repairs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attention: Option<String>,
    revision: u64,
}

pub fn reconciliation(r: &Reconciliation) -> Result<Item> {
    to_item(&ReconciliationItem {
        pk: keys::store_pk(r.store_id.as_str()),
        sk: keys::POLL_SK.to_owned(),
        store_id: r.store_id.to_string(),
        watermark: r.watermark.clone(),
        last_run_at: r.last_run_at,
        last_queued: r.last_queued,
        last_error: r.last_error.clone(),
        lease_until: r.lease_until,
        webhooks: r.webhooks.map(|w| w.as_str().to_owned()),
        webhooks_checked_at: r.webhooks_checked_at,
        repairs: r.repairs,
        attention: r.attention.clone(),
        revision: r.revision,
    })
}

pub fn reconciliation_of(item: Item) -> Result<Reconciliation> {
    let i: ReconciliationItem = from_item(item, "reconciliation")?;
    Ok(Reconciliation {
        store_id: StoreId::parse(&i.store_id).map_err(|_| corrupt("reconciliation"))?,
        watermark: i.watermark,
        last_run_at: i.last_run_at,
        last_queued: i.last_queued,
        last_error: i.last_error,
        lease_until: i.lease_until,
        webhooks: i
            .webhooks
            .map(|w| WebhookHealth::parse(&w).ok_or_else(|| corrupt("reconciliation")))
            .transpose()?,
        webhooks_checked_at: i.webhooks_checked_at,
        repairs: i.repairs,
        attention: i.attention,
        revision: i.revision,
    })
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantKeyItem {
    pk: String,
    sk: String,
    id: String,
    tenant: String,
    hash: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
}

/// A tenant API key: the item found by its hash, and its entry under the tenant (the hash).
pub fn tenant_key(k: &TenantApiKey) -> Result<(Item, Item)> {
    let item = to_item(&TenantKeyItem {
        pk: keys::tenant_key_pk(k.hash.as_str()),
        sk: keys::TENANT_KEY_SK.to_owned(),
        id: k.id.clone(),
        tenant: k.tenant.to_string(),
        hash: k.hash.as_str().to_owned(),
        scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    })?;
    let mut entry = key(
        keys::tenant_pk(k.tenant.as_str()),
        keys::tenant_key_sk(&k.id),
    );
    entry.insert("hash".into(), s(k.hash.as_str()));
    Ok((item, entry))
}

pub fn tenant_key_of(item: Item) -> Result<TenantApiKey> {
    let i: TenantKeyItem = from_item(item, "tenant key")?;
    Ok(TenantApiKey {
        id: i.id,
        tenant: TenantCode::parse(&i.tenant).map_err(|_| corrupt("tenant key"))?,
        hash: CredentialHash::from_stored(i.hash),
        scopes: crate::domain::Scope::parse_list(&i.scopes).map_err(|_| corrupt("tenant key"))?,
        created_at: i.created_at,
        last_used_at: i.last_used_at,
        revoked_at: i.revoked_at,
    })
}

/// The hash a tenant's key entry names.
pub fn tenant_key_entry_hash(item: &Item) -> Result<CredentialHash> {
    item.get("hash")
        .and_then(|v| v.as_s().ok())
        .map(|h| CredentialHash::from_stored(h.clone()))
        .ok_or_else(|| corrupt("tenant key entry"))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line_item_id: Option<u64>,
    quantity: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentItemRecord {
    pk: String,
    sk: String,
    store_id: String,
    order_id: u64,
    shipment_id: String,
    tracking_number: String,
    carrier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tracking_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shipped_at: Option<DateTime<Utc>>,
    #[serde(default)]
    items: Vec<ShipmentLine>,
    notify_customer: bool,
    #[serde(default)]
    complete: Option<String>,
    request_hash: String,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_tracking_id: Option<String>,
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_status: Option<String>,
    #[serde(default)]
    reported: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    revision: u64,
}

pub fn shipment(x: &Shipment) -> Result<Item> {
    to_item(&ShipmentItemRecord {
        pk: keys::store_pk(x.store_id.as_str()),
        sk: keys::shipment_sk(x.order_id.get(), &x.shipment_id),
        store_id: x.store_id.to_string(),
        order_id: x.order_id.get(),
        shipment_id: x.shipment_id.clone(),
        tracking_number: x.tracking_number.clone(),
        carrier: x.carrier.clone(),
        tracking_url: x.tracking_url.clone(),
        shipped_at: x.shipped_at,
        items: x
            .items
            .iter()
            .map(|i| ShipmentLine {
                sku: i.sku.clone(),
                line_item_id: i.line_item_id,
                quantity: i.quantity,
            })
            .collect(),
        notify_customer: x.notify_customer,
        complete: Some(x.complete.as_str().to_owned()),
        request_hash: x.request_hash.clone(),
        state: x.state.as_str().to_owned(),
        method: x.method.clone(),
        store_tracking_id: x.store_tracking_id.clone(),
        attempts: x.attempts,
        last_error: x.last_error.clone(),
        claimed_until: x.claimed_until,
        order_status: x.order_status.clone(),
        reported: x.reported,
        created_at: x.created_at,
        updated_at: x.updated_at,
        revision: x.revision,
    })
}

pub fn shipment_of(item: Item) -> Result<Shipment> {
    let i: ShipmentItemRecord = from_item(item, "shipment")?;
    Ok(Shipment {
        store_id: StoreId::parse(&i.store_id).map_err(|_| corrupt("shipment"))?,
        order_id: OrderId::new(i.order_id),
        shipment_id: i.shipment_id,
        tracking_number: i.tracking_number,
        carrier: i.carrier,
        tracking_url: i.tracking_url,
        shipped_at: i.shipped_at,
        items: i
            .items
            .into_iter()
            .map(|l| ShipmentItem {
                sku: l.sku,
                line_item_id: l.line_item_id,
                quantity: l.quantity,
            })
            .collect(),
        notify_customer: i.notify_customer,
        complete: match i.complete.as_deref() {
            None => CompleteRule::default(),
            Some(c) => CompleteRule::parse(c).ok_or_else(|| corrupt("shipment"))?,
        },
        request_hash: i.request_hash,
        state: ShipmentState::parse(&i.state).ok_or_else(|| corrupt("shipment"))?,
        method: i.method,
        store_tracking_id: i.store_tracking_id,
        attempts: i.attempts,
        last_error: i.last_error,
        claimed_until: i.claimed_until,
        order_status: i.order_status,
        reported: i.reported,
        created_at: i.created_at,
        updated_at: i.updated_at,
        revision: i.revision,
    })
}

/// A catalogue record (item, import run, inventory job or chunk) under its keys: its
/// attributes are the model's own fields (camelCase), beside `pk` and `sk`.
#[derive(Serialize, Deserialize)]
struct Keyed<T> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    value: T,
}

fn keyed<T: Serialize>(store: &StoreId, sk: String, value: &T) -> Result<Item> {
    to_item(&Keyed {
        pk: keys::store_pk(store.as_str()),
        sk,
        value,
    })
}

fn unkeyed<T: DeserializeOwned>(item: Item, what: &str) -> Result<T> {
    from_item::<Keyed<T>>(item, what).map(|k| k.value)
}

pub fn catalogue_item(x: &crate::model::CatalogueItem) -> Result<Item> {
    keyed(&x.store_id, keys::item_sk(x.id), x)
}
pub fn catalogue_item_of(item: Item) -> Result<crate::model::CatalogueItem> {
    unkeyed(item, "catalogue item")
}
pub fn catalogue_run(x: &crate::model::CatalogueRun) -> Result<Item> {
    keyed(&x.store_id, keys::CATALOGUE_SK.to_owned(), x)
}
pub fn catalogue_run_of(item: Item) -> Result<crate::model::CatalogueRun> {
    unkeyed(item, "catalogue import")
}
pub fn inventory_job(x: &crate::model::InventoryJob) -> Result<Item> {
    keyed(&x.store_id, keys::inventory_job_sk(&x.job_id), x)
}
pub fn inventory_job_of(item: Item) -> Result<crate::model::InventoryJob> {
    unkeyed(item, "inventory job")
}
pub fn inventory_chunk(x: &crate::model::InventoryChunk) -> Result<Item> {
    keyed(&x.store_id, keys::inventory_chunk_sk(&x.job_id, x.index), x)
}
pub fn inventory_chunk_of(item: Item) -> Result<crate::model::InventoryChunk> {
    unkeyed(item, "inventory chunk")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_400_000 + secs, 0).unwrap()
    }

    fn code() -> TenantCode {
        TenantCode::parse("ACME").unwrap()
    }

    fn store_id() -> StoreId {
        StoreId::parse("st_1").unwrap()
    }

    fn link(full: bool) -> Link {
        Link {
            store_id: store_id(),
            tenant: code(),
            customer_id: CustomerId::parse("cus_1").unwrap(),
            store_url: StoreUrl::parse("https://shop.example.com/de").unwrap(),
            device_id: DeviceId::parse(&"ab".repeat(32)).unwrap(),
            status: if full {
                LinkStatus::Connected
            } else {
                LinkStatus::Disconnected
            },
            trigger_statuses: TriggerStatus::parse_list(Some(&[
                "processing".to_owned(),
                "on-hold".to_owned(),
            ]))
            .unwrap(),
            webhook_secret: full.then(|| Sealed::from_stored("v1.sealed-a".into())),
            previous_webhook_secret: full.then(|| Sealed::from_stored("v1.sealed-b".into())),
            previous_secret_until: full.then(|| at(86_400)),
            api_key_hash: full.then(|| CredentialHash::of("wlk_current")),
            revoked_api_key_hash: full.then(|| CredentialHash::of("wlk_old")),
            woo_keys: full.then(|| WooKeys {
                consumer_key: Sealed::from_stored("v1.ck".into()),
                consumer_secret: Sealed::from_stored("v1.cs".into()),
            }),
            webhook_ids: if full { vec![11, 12, 13] } else { vec![] },
            linked_at: at(0),
            updated_at: at(5),
            disconnected_at: (!full).then(|| at(9)),
            paused_at: full.then(|| at(8)),
            revision: 7,
        }
    }

    fn order(full: bool) -> OrderSync {
        let mut o = OrderSync::first(store_id(), OrderId::new(1_234), at(0));
        if full {
            o.state = SyncState::Synced;
            o.woo_status = "processing".into();
            o.version = OrderVersion::of_modified("2026-11-23T10:00:00");
            o.received_at = Some("2026-11-23T10:00:00.250001Z".into());
            o.content_hash = Some("c0ffee".into());
            o.waiting = Some("2026-11-23T10:00:01.000|2026-11-23T10:00:01.5Z".into());
            o.replay_guard = Some("5e1f".into());
            o.in_scope = true;
            o.event = Some(TenantEvent::Cancelled);
            o.webhook_id = Some("msg_abc".into());
            o.claimed_by = Some("m-1".into());
            o.unsettled = true;
            o.doc_hash = Some("d1".into());
            o.delivered_hash = Some("d0".into());
            o.attempts = 3;
            o.last_error = Some("tenant answered 503".into());
            o.tenant_answer = Some("{\"error\": \"busy\"}".into());
            o.synced_at = Some(at(30));
            o.expires_at = Some(at(90 * 86_400));
            o.source = crate::envelope::Source::Poll;
            o.recovered_at = Some(at(31));
            o.note(
                at(30),
                crate::timeline::Step::Synced {
                    event: "order.created".into(),
                },
                chrono::Duration::days(90),
            );
            o.timeline_dropped = 3;
            o.revision = 12;
        }
        o
    }

    #[test]
    fn a_tenant_stored_before_document_v2_reads_as_v1() {
        let mut item = tenant(&Tenant {
            code: code(),
            name: "Old Couriers".into(),
            active: true,
            fulfilment: None,
            document: DocumentSettings::current(),
        })
        .unwrap();
        assert_eq!(
            item.get("documentVersion"),
            Some(&AttributeValue::N("2".into()))
        );
        // What every tenant item written before looks like.
        item.remove("documentVersion");
        assert_eq!(
            tenant_of(item.clone()).unwrap().document,
            DocumentSettings::legacy()
        );
        item.insert("documentVersion".into(), AttributeValue::N("7".into()));
        assert!(
            tenant_of(item).is_err(),
            "an unknown version is corrupt, not guessed"
        );
    }

    #[test]
    fn every_value_reads_back_as_it_was_written() {
        for full in [false, true] {
            let tenant = Tenant {
                code: code(),
                name: "Acme Couriers".into(),
                active: full,
                fulfilment: full.then(|| Fulfilment {
                    url: "https://tenant.example.com/hook".into(),
                    secret: Sealed::from_stored("v1.whsec".into()),
                }),
                document: if full {
                    DocumentSettings {
                        version: DocumentVersion::V2,
                        cod_methods: vec!["cheque_on_delivery".into()],
                        order_meta_keys: vec!["_delivery_date".into(), "_pickup_point".into()],
                    }
                } else {
                    DocumentSettings::legacy()
                },
            };
            assert_eq!(tenant_of(super::tenant(&tenant).unwrap()).unwrap(), tenant);

            let l = link(full);
            assert_eq!(link_of(super::link(&l).unwrap()).unwrap(), l);

            let o = order(full);
            let back = order_of(super::order(&o).unwrap()).unwrap();
            // Stored, it counts as what its state counts as, listed since it was written.
            assert_eq!(back.counted, crate::health::counted_as(&o));
            assert_eq!(
                back,
                OrderSync {
                    counted: crate::health::counted_as(&o),
                    listed_at: crate::health::listing(&o).map(|(_, at)| at),
                    ..o
                }
            );

            let mut r = Reconciliation::new(store_id());
            if full {
                r.watermark = Some("2026-11-29T10:00:00".into());
                r.last_run_at = Some(at(40));
                r.last_queued = 3;
                r.last_error = Some("store unreachable".into());
                r.lease_until = Some(at(41));
                r.webhooks = Some(WebhookHealth::Repaired);
                r.webhooks_checked_at = Some(at(42));
                r.repairs = 2;
                r.attention = Some("keys refused".into());
                r.revision = 4;
            }
            assert_eq!(
                reconciliation_of(super::reconciliation(&r).unwrap()).unwrap(),
                r
            );

            let k = TenantApiKey {
                id: "tk_1".into(),
                tenant: code(),
                hash: CredentialHash::of("wlt_x"),
                scopes: vec![
                    crate::domain::Scope::OrdersRead,
                    crate::domain::Scope::ShipmentsWrite,
                ],
                created_at: at(1),
                last_used_at: full.then(|| at(2)),
                revoked_at: full.then(|| at(3)),
            };
            let sh = shipment_record(full);
            assert_eq!(shipment_of(super::shipment(&sh).unwrap()).unwrap(), sh);

            let (item, entry) = super::tenant_key(&k).unwrap();
            assert_eq!(tenant_key_of(item).unwrap(), k);
            assert_eq!(tenant_key_entry_hash(&entry).unwrap(), k.hash);
        }

        for finished in [false, true] {
            let run = crate::model::BackfillRun {
                store_id: store_id(),
                run_id: "bf_1".into(),
                state: if finished {
                    crate::model::BackfillState::Done
                } else {
                    crate::model::BackfillState::Running
                },
                statuses: vec!["processing".into()],
                created_after: finished.then(|| "2026-01-01T00:00:00".into()),
                created_before: None,
                matched: 1_050,
                queued: 300,
                next_page: 4,
                last_id: 412,
                started_at: at(0),
                finished_at: finished.then(|| at(60)),
                error: None,
                revision: 5,
            };
            assert_eq!(backfill_of(backfill(&run).unwrap()).unwrap(), run);
        }

        let u = User {
            tenant: code(),
            email: Email::parse("ops@acme.test").unwrap(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        };
        assert_eq!(user_of(user(&u).unwrap(), &code()).unwrap(), u);

        let st = Store {
            id: store_id(),
            tenant: code(),
            name: "Shop".into(),
            customer_id: CustomerId::parse("cus_1").unwrap(),
        };
        let (main, listing) = store(&st).unwrap();
        assert_eq!(main["pk"], s("STORE#st_1"));
        assert_eq!(listing["pk"], s("TENANT#ACME"));
        assert_eq!(store_of(main).unwrap(), st);
        assert_eq!(store_of(listing).unwrap(), st);

        let hash = CredentialHash::of("wlk_current");
        assert_eq!(
            api_key_store(api_key(&hash, &store_id()).unwrap()).unwrap(),
            store_id()
        );

        let sess = Session {
            token_hash: CredentialHash::of("wls_token"),
            tenant: code(),
            email: Email::parse("ops@acme.test").unwrap(),
            device_id: DeviceId::parse(&"cd".repeat(32)).unwrap(),
            expires_at: at(3_600),
        };
        let item = session(&sess).unwrap();
        assert_eq!(
            item["ttl"],
            AttributeValue::N(at(3_600).timestamp().to_string())
        );
        assert_eq!(session_of(item).unwrap(), sess);
    }

    #[test]
    fn keys_and_expiry_attributes_are_where_dynamodb_looks() {
        let item = super::order(&order(true)).unwrap();
        assert_eq!(item["pk"], s("STORE#st_1"));
        assert_eq!(item["sk"], s("ORDER#00000000000000001234"));
        assert_eq!(
            item["ttl"],
            AttributeValue::N(at(90 * 86_400).timestamp().to_string())
        );
        assert!(!super::order(&order(false)).unwrap().contains_key("ttl"));
        let item = super::link(&link(true)).unwrap();
        assert_eq!((&item["pk"], &item["sk"]), (&s("STORE#st_1"), &s("LINK")));
        // Only a connected link with keys is in the poll index.
        assert_eq!(item[keys::POLL_KEY], s("st_1"));
        assert_eq!(item[keys::POLL_SHARD], s(keys::poll_shard("st_1")));
        let item = super::link(&link(false)).unwrap();
        assert!(!item.contains_key(keys::POLL_SHARD) && !item.contains_key(keys::POLL_KEY));
        let mut keyless = link(true);
        keyless.woo_keys = None;
        assert!(!super::link(&keyless)
            .unwrap()
            .contains_key(keys::POLL_SHARD));
    }

    fn shipment_record(full: bool) -> Shipment {
        Shipment {
            store_id: store_id(),
            order_id: OrderId::new(1_234),
            shipment_id: "sh-1".into(),
            tracking_number: "1Z999".into(),
            carrier: "UPS".into(),
            tracking_url: full.then(|| "https://ups.example/1Z999".into()),
            shipped_at: full.then(|| at(4)),
            items: if full {
                vec![
                    ShipmentItem {
                        sku: Some("TSHIRT-001".into()),
                        line_item_id: None,
                        quantity: 2,
                    },
                    ShipmentItem {
                        sku: None,
                        line_item_id: Some(7),
                        quantity: 1,
                    },
                ]
            } else {
                vec![]
            },
            notify_customer: full,
            complete: if full {
                CompleteRule::Never
            } else {
                CompleteRule::Auto
            },
            request_hash: "feed".into(),
            state: if full {
                ShipmentState::Written
            } else {
                ShipmentState::Pending
            },
            method: full.then(|| "ast".into()),
            store_tracking_id: full.then(|| "abc123".into()),
            attempts: 2,
            last_error: full.then(|| "store answered 500".into()),
            claimed_until: full.then(|| at(7)),
            order_status: full.then(|| "completed".into()),
            reported: full,
            created_at: at(5),
            updated_at: at(6),
            revision: 3,
        }
    }

    fn full_shipment() -> Shipment {
        shipment_record(true)
    }

    /// The attribute list under `marker` in template.yaml (IAM `dynamodb:Attributes`), sorted.
    fn template_attributes(marker: &str) -> Vec<String> {
        let template = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"));
        let line = template
            .lines()
            .skip_while(|l| !l.contains(marker))
            .find(|l| l.trim_start().starts_with("dynamodb:Attributes: ["))
            .unwrap_or_else(|| panic!("template.yaml lists {marker}"));
        let list = line
            .split_once('[')
            .unwrap()
            .1
            .trim_end()
            .trim_end_matches(']');
        let mut allowed: Vec<String> = list.split(',').map(|a| a.trim().to_owned()).collect();
        allowed.sort_unstable();
        allowed
    }

    fn sorted_keys(item: &Item) -> Vec<String> {
        let mut keys: Vec<String> = item.keys().cloned().collect();
        keys.sort_unstable();
        keys
    }

    /// The worker may put only items whose attributes are all in template.yaml's list (IAM
    /// `dynamodb:Attributes`): an order record with every field set must fit it exactly.
    #[test]
    fn the_workers_iam_attribute_list_is_the_order_record() {
        let item = super::order(&order(true)).unwrap();
        assert_eq!(
            sorted_keys(&item),
            template_attributes("order item attributes (shared/src/store/dynamo/items.rs")
        );
    }

    /// The worker's counter and bucket updates name only the attributes its `UpdateItem`
    /// statement allows.
    #[test]
    fn the_workers_tally_and_bucket_updates_fit_their_iam_list() {
        use crate::health::{Sample, TallyChange, LAG_BINS};
        let allowed =
            template_attributes("tally and bucket attributes (shared/src/store/dynamo/items.rs");
        let names_in = |expr: &str| -> Vec<String> {
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '#' || c == ':'))
                .filter(|w| !w.is_empty() && !w.starts_with(':') && w != &"ADD" && w != &"SET")
                .map(|w| match w {
                    "#start" => "start".to_owned(),
                    "#ttl" => "ttl".to_owned(),
                    other => other.to_owned(),
                })
                .collect()
        };
        let change = TallyChange {
            new_order: true,
            from: Some(SyncState::Queued),
            to: SyncState::Synced,
            webhook_at: Some(at(1)),
            order_at: Some(at(1)),
            synced_at: Some(at(2)),
        };
        let mut used = names_in(&tally_update(&change).0);
        for bin in 0..LAG_BINS {
            let sample = Sample {
                bucket: 600,
                lag_bin: Some(bin),
                recovered: true,
            };
            used.extend(names_in(&bucket_update(&sample).0));
        }
        used.extend(["pk".to_owned(), "sk".to_owned()]);
        used.sort_unstable();
        used.dedup();
        let mut states: Vec<String> = ["skipped", "queued", "synced", "failed"]
            .map(String::from)
            .to_vec();
        used.append(&mut states);
        used.sort_unstable();
        used.dedup();
        assert_eq!(used, allowed);
    }

    /// Likewise the sync worker's catalogue list and a catalogue item with every field set.
    #[test]
    fn the_workers_catalogue_attribute_list_is_the_catalogue_item() {
        let item = crate::model::CatalogueItem {
            store_id: store_id(),
            id: 13,
            parent_id: 12,
            sku: Some("HOODIE-S".into()),
            doc_hash: "h".into(),
            deleted: false,
            managed: true,
            quantity: Some(3),
            written_quantity: Some(4),
            snapshot_at: Some(at(1)),
            updated_at: at(2),
            revision: 2,
        };
        let stored = super::catalogue_item(&item).unwrap();
        assert_eq!(catalogue_item_of(stored.clone()).unwrap(), item);
        assert_eq!(
            sorted_keys(&stored),
            template_attributes("catalogue item attributes (shared/src/store/dynamo/items.rs")
        );
    }

    /// Likewise the shipment worker's list and a shipment record with every field set.
    #[test]
    fn the_shipment_workers_iam_attribute_list_is_the_shipment_record() {
        let item = super::shipment(&full_shipment()).unwrap();
        assert_eq!(
            sorted_keys(&item),
            template_attributes("shipment item attributes (shared/src/store/dynamo/items.rs")
        );
    }

    #[test]
    fn malformed_items_are_corrupt_not_a_panic() {
        let mut item = super::link(&link(true)).unwrap();
        item.insert("status".into(), s("half-linked"));
        assert_eq!(
            link_of(item).unwrap_err().kind(),
            crate::error::ErrorKind::Internal
        );
        let mut item = super::order(&order(true)).unwrap();
        item.insert("state".into(), s("lost"));
        assert!(order_of(item).is_err());
        let mut item = super::order(&order(true)).unwrap();
        item.remove("revision");
        assert!(order_of(item).is_err());
        assert!(login_attempts_of(HashMap::new()).is_ok_and(|a| a == LoginAttempts::default()));
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsentItem {
    pk: String,
    sk: String,
    tenant: String,
    store_id: String,
    /// `pending | connected | failed`
    outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<u64>,
    at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revision: u64,
    ttl: i64,
}

pub fn consent(r: &crate::consent::ConsentRecord) -> Result<Item> {
    use crate::consent::Outcome;
    let (outcome, problem) = match r.outcome {
        Outcome::Pending => ("pending", None),
        Outcome::Connected => ("connected", None),
        Outcome::Failed(p) => ("failed", Some(p.as_str().to_owned())),
    };
    to_item(&ConsentItem {
        pk: keys::consent_pk(&r.nonce),
        sk: keys::CONSENT_SK.to_owned(),
        tenant: r.tenant.to_string(),
        store_id: r.store_id.to_string(),
        outcome: outcome.to_owned(),
        problem,
        key_id: r.key_id,
        at: r.at,
        expires_at: r.expires_at,
        revision: r.revision,
        ttl: r.expires_at.timestamp(),
    })
}

pub fn consent_of(nonce: &str, item: Item) -> Result<crate::consent::ConsentRecord> {
    use crate::consent::{Outcome, Problem};
    let i: ConsentItem = from_item(item, "consent")?;
    let c = || corrupt("consent");
    let outcome = match (i.outcome.as_str(), i.problem.as_deref()) {
        ("pending", _) => Outcome::Pending,
        ("connected", _) => Outcome::Connected,
        ("failed", Some(p)) => Outcome::Failed(Problem::parse(p).ok_or_else(c)?),
        _ => return Err(c()),
    };
    Ok(crate::consent::ConsentRecord {
        nonce: nonce.to_owned(),
        tenant: TenantCode::parse(&i.tenant).map_err(|_| c())?,
        store_id: StoreId::parse(&i.store_id).map_err(|_| c())?,
        outcome,
        key_id: i.key_id,
        at: i.at,
        expires_at: i.expires_at,
        revision: i.revision,
    })
}
