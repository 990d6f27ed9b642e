//! DynamoDB adapter for every port. This module is the only place that knows attribute names
//! and key formats. One table, `pk`/`sk` string keys, `ttl` (epoch seconds) for expiry:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | tenant | `TENANTS` | `TENANT#{code}` |
//! | user | `TENANT#{code}` | `USER#{email}` |
//! | login attempts | `TENANT#{code}` | `LOGIN#{email}` |
//! | tenant's store (listing copy) | `TENANT#{code}` | `STORE#{storeId}` |
//! | store | `STORE#{storeId}` | `STORE` |
//! | store link | `STORE#{storeId}` | `LINK` |
//! | API key index | `APIKEY#{sha256}` | `APIKEY` |
//! | session | `SESSION#{sha256}` | `SESSION` |
//! | order sync state | `STORE#{storeId}` | `ORDER#{orderId, 20 digits}` |

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType,
    KeysAndAttributes, Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::crypto::{CredentialHash, Sealed};
use crate::domain::{
    CustomerId, DeviceId, Email, OrderId, StoreId, StoreUrl, TenantCode, TenantEvent, TriggerStatus,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Fulfilment, Link, LinkStatus, LoginAttempts, OrderSync, Session, Store, SyncState, Tenant,
    User, WooKeys,
};
use crate::ports::{Links, OrderSyncs, Sessions, Stores, Tenants, Users, Written};
use crate::store::{conflict_on_link, conflict_on_order};

type Item = HashMap<String, AttributeValue>;

/// Attribute names and key formats.
mod keys {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const TTL: &str = "ttl";
    pub const TENANTS: &str = "TENANTS";

    pub fn tenant_sk(code: &str) -> String {
        format!("TENANT#{code}")
    }
    pub fn tenant_pk(code: &str) -> String {
        format!("TENANT#{code}")
    }
    pub fn user_sk(email: &str) -> String {
        format!("USER#{email}")
    }
    pub fn login_sk(email: &str) -> String {
        format!("LOGIN#{email}")
    }
    pub const STORE_PREFIX: &str = "STORE#";
    pub fn store_pk(id: &str) -> String {
        format!("{STORE_PREFIX}{id}")
    }
    pub const STORE_SK: &str = "STORE";
    pub const LINK_SK: &str = "LINK";
    pub fn api_key_pk(hash: &str) -> String {
        format!("APIKEY#{hash}")
    }
    pub const API_KEY_SK: &str = "APIKEY";
    pub fn session_pk(hash: &str) -> String {
        format!("SESSION#{hash}")
    }
    pub const SESSION_SK: &str = "SESSION";
    pub const ORDER_PREFIX: &str = "ORDER#";
    pub fn order_sk(order: u64) -> String {
        format!("{ORDER_PREFIX}{order:020}")
    }
}

/// Runs a batch call until nothing is left unprocessed (DynamoDB hands back what it could not
/// do under load): `round` takes what is pending and returns what is left and what it got. At
/// most 8 rounds, backing off 40 ms, 80 ms, … between them.
async fn until_processed<T, R, F, Fut>(mut pending: Vec<T>, mut round: F) -> Result<Vec<R>>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Vec<R>)>>,
{
    let mut got = Vec::new();
    let mut rounds = 0;
    while !pending.is_empty() {
        if rounds == 8 {
            return Err(Error::unavailable(
                "the database",
                "a batch call kept returning unprocessed items",
            ));
        }
        if rounds > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20 << rounds)).await;
        }
        rounds += 1;
        let (left, more) = round(pending).await?;
        got.extend(more);
        pending = left;
    }
    Ok(got)
}

/// How long failed-login bookkeeping outlives its last failure.
const LOGIN_ATTEMPTS_TTL: Duration = Duration::days(1);

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginItem {
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    locked_until: Option<DateTime<Utc>>,
}

/// A stored item that no longer parses is a bug or tampering, never the client's fault.
fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored {what} item is malformed"))
}

fn db_error<E>(e: aws_sdk_dynamodb::error::SdkError<E>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    Error::unavailable(
        "the database",
        format!("dynamodb: {}", DisplayErrorContext(&e)),
    )
}

fn to_item<T: Serialize>(value: &T) -> Result<Item> {
    serde_dynamo::to_item(value).map_err(|e| Error::internal(format!("encode item: {e}")))
}

fn from_item<T: DeserializeOwned>(item: Item, what: &str) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|_| corrupt(what))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with the schema above (tests, `woolink dev --aws`, admin tooling).
    /// The SAM template declares the same schema for deployed stacks.
    pub async fn create_table(client: &Client, table: &str) -> Result<()> {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| Error::internal(e.to_string()))
        };
        let key_el = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(|e| Error::internal(e.to_string()))
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(keys::PK)?)
            .attribute_definitions(attr(keys::SK)?)
            .key_schema(key_el(keys::PK, KeyType::Hash)?)
            .key_schema(key_el(keys::SK, KeyType::Range)?)
            .send()
            .await
            .map_err(db_error)?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(keys::TTL)
                    .enabled(true)
                    .build()
                    .map_err(|e| Error::internal(e.to_string()))?,
            )
            .send()
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Creates the table unless it exists already.
    pub async fn ensure_table(client: &Client, table: &str) -> Result<()> {
        match client.describe_table().table_name(table).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                Self::create_table(client, table).await
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn get(&self, key: Item) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(db_error)?;
        Ok(out.item)
    }

    async fn put(&self, item: Item) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// All items of one partition (optionally below a sort-key prefix), following pages.
    async fn query_partition(&self, pk: String, sk_prefix: Option<&str>) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            q = match sk_prefix {
                Some(prefix) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let page = q.send().await.map_err(db_error)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>, on_condition: Error) -> Result<()> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("TransactionCanceledException") => {
                let message = e.message().unwrap_or_default();
                if message.contains("ConditionalCheckFailed") {
                    Err(on_condition)
                } else {
                    Err(db_error(e))
                }
            }
            Err(e) => Err(db_error(e)),
        }
    }

    fn put_op(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Item,
    ) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete_op(&self, key: Item) -> Result<TransactWriteItem> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }
}

fn tenant_from(item: TenantItem) -> Result<Tenant> {
    let fulfilment = match (item.fulfilment_url, item.fulfilment_secret) {
        (Some(url), Some(secret)) => Some(Fulfilment {
            url,
            secret: Sealed::from_stored(secret),
        }),
        _ => None,
    };
    Ok(Tenant {
        code: TenantCode::parse(&item.code).map_err(|_| corrupt("tenant"))?,
        name: item.name,
        active: item.active,
        fulfilment,
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
    }
}

#[async_trait]
impl Tenants for DynamoStore {
    async fn get_tenant(&self, code: &TenantCode) -> Result<Option<Tenant>> {
        let item = self
            .get(key(
                keys::TENANTS.to_owned(),
                keys::tenant_sk(code.as_str()),
            ))
            .await?;
        item.map(|i| from_item::<TenantItem>(i, "tenant").and_then(tenant_from))
            .transpose()
    }

    async fn put_tenant(&self, tenant: &Tenant) -> Result<Written> {
        let old = self.get_tenant(&tenant.code).await?;
        self.put(to_item(&tenant_item(tenant))?).await?;
        Ok(Written::of(old.as_ref(), tenant))
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.query_partition(keys::TENANTS.to_owned(), Some("TENANT#"))
            .await?
            .into_iter()
            .map(|i| from_item::<TenantItem>(i, "tenant").and_then(tenant_from))
            .collect()
    }
}

#[async_trait]
impl Users for DynamoStore {
    async fn get_user(&self, tenant: &TenantCode, email: &Email) -> Result<Option<User>> {
        let item = self
            .get(key(
                keys::tenant_pk(tenant.as_str()),
                keys::user_sk(email.as_str()),
            ))
            .await?;
        item.map(|i| {
            let u: UserItem = from_item(i, "user")?;
            Ok(User {
                tenant: tenant.clone(),
                email: Email::parse(&u.email).map_err(|_| corrupt("user"))?,
                password_hash: u.password_hash,
            })
        })
        .transpose()
    }

    async fn put_user(&self, user: &User) -> Result<Written> {
        let old = self.get_user(&user.tenant, &user.email).await?;
        let item = UserItem {
            pk: keys::tenant_pk(user.tenant.as_str()),
            sk: keys::user_sk(user.email.as_str()),
            email: user.email.to_string(),
            password_hash: user.password_hash.clone(),
        };
        self.put(to_item(&item)?).await?;
        Ok(Written::of(old.as_ref(), user))
    }

    async fn login_attempts(&self, tenant: &TenantCode, email: &Email) -> Result<LoginAttempts> {
        let item = self
            .get(key(
                keys::tenant_pk(tenant.as_str()),
                keys::login_sk(email.as_str()),
            ))
            .await?;
        Ok(match item {
            None => LoginAttempts::default(),
            Some(i) => {
                let l: LoginItem = from_item(i, "login attempts")?;
                LoginAttempts {
                    consecutive_failures: l.failures,
                    locked_until: l.locked_until,
                }
            }
        })
    }

    async fn add_login_failure(&self, tenant: &TenantCode, email: &Email) -> Result<u32> {
        let ttl = (Utc::now() + LOGIN_ATTEMPTS_TTL).timestamp();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant.as_str()),
                keys::login_sk(email.as_str()),
            )))
            .update_expression("ADD failures :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(db_error)?;
        out.attributes
            .and_then(|a| a.get("failures").cloned())
            .and_then(|v| v.as_n().ok().and_then(|n| n.parse().ok()))
            .ok_or_else(|| corrupt("login attempts"))
    }

    async fn lock_login(
        &self,
        tenant: &TenantCode,
        email: &Email,
        until: DateTime<Utc>,
    ) -> Result<()> {
        let ttl = (until + LOGIN_ATTEMPTS_TTL).timestamp();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant.as_str()),
                keys::login_sk(email.as_str()),
            )))
            .update_expression("SET lockedUntil = :u, #ttl = :ttl")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":u", s(until.to_rfc3339()))
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .send()
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn clear_login_failures(&self, tenant: &TenantCode, email: &Email) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant.as_str()),
                keys::login_sk(email.as_str()),
            )))
            .send()
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

fn store_from(item: StoreItem) -> Result<Store> {
    Ok(Store {
        id: StoreId::parse(&item.store_id).map_err(|_| corrupt("store"))?,
        tenant: TenantCode::parse(&item.tenant).map_err(|_| corrupt("store"))?,
        name: item.name,
        customer_id: CustomerId::parse(&item.customer_id).map_err(|_| corrupt("store"))?,
    })
}

#[async_trait]
impl Stores for DynamoStore {
    async fn get_store(&self, id: &StoreId) -> Result<Option<Store>> {
        let item = self
            .get(key(keys::store_pk(id.as_str()), keys::STORE_SK))
            .await?;
        item.map(|i| from_item::<StoreItem>(i, "store").and_then(store_from))
            .transpose()
    }

    async fn list_stores(&self, tenant: &TenantCode) -> Result<Vec<Store>> {
        self.query_partition(keys::tenant_pk(tenant.as_str()), Some(keys::STORE_PREFIX))
            .await?
            .into_iter()
            .map(|i| from_item::<StoreItem>(i, "store").and_then(store_from))
            .collect()
    }

    async fn put_store(&self, store: &Store) -> Result<Written> {
        let old = self.get_store(&store.id).await?;
        if let Some(o) = &old {
            if o.tenant != store.tenant {
                return Err(store_owned_elsewhere(&store.id));
            }
        }
        let record = |pk: String, sk: String| StoreItem {
            pk,
            sk,
            store_id: store.id.to_string(),
            tenant: store.tenant.to_string(),
            name: store.name.clone(),
            customer_id: store.customer_id.to_string(),
        };
        let main = to_item(&record(
            keys::store_pk(store.id.as_str()),
            keys::STORE_SK.to_owned(),
        ))?;
        let listing = to_item(&record(
            keys::tenant_pk(store.tenant.as_str()),
            keys::store_pk(store.id.as_str()),
        ))?;
        self.transact(
            vec![
                self.put_op(
                    main,
                    Some("attribute_not_exists(pk) OR tenant = :t"),
                    HashMap::from([(":t".to_owned(), s(store.tenant.to_string()))]),
                )?,
                self.put_op(listing, None, HashMap::new())?,
            ],
            store_owned_elsewhere(&store.id),
        )
        .await?;
        Ok(Written::of(old.as_ref(), store))
    }
}

fn store_owned_elsewhere(id: &StoreId) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("store id {id} belongs to another tenant"),
    )
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
        revision: l.revision,
    }
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
        revision: i.revision,
    })
}

#[async_trait]
impl Links for DynamoStore {
    async fn get_link(&self, store: &StoreId) -> Result<Option<Link>> {
        let item = self
            .get(key(keys::store_pk(store.as_str()), keys::LINK_SK))
            .await?;
        item.map(|i| from_item::<LinkItem>(i, "link").and_then(link_from))
            .transpose()
    }

    async fn get_links(&self, stores: &[StoreId]) -> Result<Vec<Link>> {
        let mut out = Vec::with_capacity(stores.len());
        for chunk in stores.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|s| key(keys::store_pk(s.as_str()), keys::LINK_SK))
                .collect();
            let items = until_processed(keys, |pending| async move {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| Error::internal(e.to_string()))?;
                let page = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(db_error)?;
                let got = page
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                let left = page
                    .unprocessed_keys
                    .and_then(|mut l| l.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                Ok((left, got))
            })
            .await?;
            for i in items {
                out.push(link_from(from_item(i, "link")?)?);
            }
        }
        Ok(out)
    }

    async fn find_link_by_api_key(&self, hash: &CredentialHash) -> Result<Option<Link>> {
        let Some(item) = self
            .get(key(keys::api_key_pk(hash.as_str()), keys::API_KEY_SK))
            .await?
        else {
            return Ok(None);
        };
        let index: ApiKeyItem = from_item(item, "api key")?;
        let store = StoreId::parse(&index.store_id).map_err(|_| corrupt("api key"))?;
        // Trust only a link that still names the key (current or revoked).
        Ok(self
            .get_link(&store)
            .await?
            .filter(|l| l.indexed_keys().contains(&hash)))
    }

    async fn save_link(&self, link: &Link, expected: Option<u64>) -> Result<()> {
        let current = self.get_link(&link.store_id).await?;
        if current.as_ref().map(|l| l.revision) != expected {
            return Err(conflict_on_link(&link.store_id));
        }
        let mut ops = Vec::with_capacity(3);
        let (condition, values) = match expected {
            None => ("attribute_not_exists(pk)", HashMap::new()),
            Some(rev) => (
                "revision = :rev",
                HashMap::from([(":rev".to_owned(), AttributeValue::N(rev.to_string()))]),
            ),
        };
        ops.push(self.put_op(to_item(&link_item(link))?, Some(condition), values)?);
        let old: Vec<CredentialHash> = current
            .as_ref()
            .map(|l| l.indexed_keys().into_iter().cloned().collect())
            .unwrap_or_default();
        let new = link.indexed_keys();
        for gone in old.iter().filter(|k| !new.contains(k)) {
            ops.push(self.delete_op(key(keys::api_key_pk(gone.as_str()), keys::API_KEY_SK))?);
        }
        for added in new.into_iter().filter(|k| !old.contains(k)) {
            let index = ApiKeyItem {
                pk: keys::api_key_pk(added.as_str()),
                sk: keys::API_KEY_SK.to_owned(),
                store_id: link.store_id.to_string(),
            };
            ops.push(self.put_op(to_item(&index)?, None, HashMap::new())?);
        }
        self.transact(ops, conflict_on_link(&link.store_id)).await
    }
}

#[async_trait]
impl Sessions for DynamoStore {
    async fn put_session(&self, session: &Session) -> Result<()> {
        let item = SessionItem {
            pk: keys::session_pk(session.token_hash.as_str()),
            sk: keys::SESSION_SK.to_owned(),
            token_hash: session.token_hash.as_str().to_owned(),
            tenant: session.tenant.to_string(),
            email: session.email.to_string(),
            device_id: session.device_id.to_string(),
            expires_at: session.expires_at,
            ttl: session.expires_at.timestamp(),
        };
        self.put(to_item(&item)?).await
    }

    async fn get_session(&self, token: &CredentialHash) -> Result<Option<Session>> {
        let item = self
            .get(key(keys::session_pk(token.as_str()), keys::SESSION_SK))
            .await?;
        item.map(|i| {
            let s: SessionItem = from_item(i, "session")?;
            let c = |_| corrupt("session");
            Ok(Session {
                token_hash: CredentialHash::from_stored(s.token_hash),
                tenant: TenantCode::parse(&s.tenant).map_err(c)?,
                email: Email::parse(&s.email).map_err(c)?,
                device_id: DeviceId::parse(&s.device_id).map_err(c)?,
                expires_at: s.expires_at,
            })
        })
        .transpose()
    }
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
    in_scope: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    doc_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivered_hash: Option<String>,
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    synced_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    revision: u64,
}

fn order_item(o: &OrderSync) -> OrderItem {
    OrderItem {
        pk: keys::store_pk(o.store_id.as_str()),
        sk: keys::order_sk(o.order_id.get()),
        store_id: o.store_id.to_string(),
        order_id: o.order_id.get(),
        state: o.state.as_str().to_owned(),
        woo_status: o.woo_status.clone(),
        version: o.version.clone(),
        received_at: o.received_at.clone(),
        content_hash: o.content_hash.clone(),
        waiting: o.waiting.clone(),
        in_scope: o.in_scope,
        event: o.event.map(|e| e.as_str().to_owned()),
        webhook_id: o.webhook_id.clone(),
        claimed_by: o.claimed_by.clone(),
        doc_hash: o.doc_hash.clone(),
        delivered_hash: o.delivered_hash.clone(),
        attempts: o.attempts,
        last_error: o.last_error.clone(),
        created_at: o.created_at,
        updated_at: o.updated_at,
        synced_at: o.synced_at,
        ttl: o.expires_at.map(|e| e.timestamp()),
        revision: o.revision,
    }
}

fn order_from(i: OrderItem) -> Result<OrderSync> {
    Ok(OrderSync {
        store_id: StoreId::parse(&i.store_id).map_err(|_| corrupt("order"))?,
        order_id: OrderId::new(i.order_id),
        state: SyncState::parse(&i.state).ok_or_else(|| corrupt("order"))?,
        woo_status: i.woo_status,
        version: i.version,
        received_at: i.received_at,
        content_hash: i.content_hash,
        waiting: i.waiting,
        in_scope: i.in_scope,
        event: i
            .event
            .map(|e| TenantEvent::parse(&e).ok_or_else(|| corrupt("order")))
            .transpose()?,
        webhook_id: i.webhook_id,
        claimed_by: i.claimed_by,
        doc_hash: i.doc_hash,
        delivered_hash: i.delivered_hash,
        attempts: i.attempts,
        last_error: i.last_error,
        created_at: i.created_at,
        updated_at: i.updated_at,
        synced_at: i.synced_at,
        expires_at: i.ttl.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
        revision: i.revision,
    })
}

#[async_trait]
impl OrderSyncs for DynamoStore {
    async fn get_order_sync(&self, store: &StoreId, order: OrderId) -> Result<Option<OrderSync>> {
        let item = self
            .get(key(
                keys::store_pk(store.as_str()),
                keys::order_sk(order.get()),
            ))
            .await?;
        item.map(|i| from_item::<OrderItem>(i, "order").and_then(order_from))
            .transpose()
    }

    async fn save_order_sync(&self, sync: &OrderSync, expected: Option<u64>) -> Result<()> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&order_item(sync))?));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(rev) => put
                .condition_expression("revision = :rev")
                .expression_attribute_values(":rev", AttributeValue::N(rev.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                Err(conflict_on_order(&sync.store_id, sync.order_id))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn list_order_syncs(&self, store: &StoreId) -> Result<Vec<OrderSync>> {
        self.query_partition(keys::store_pk(store.as_str()), Some(keys::ORDER_PREFIX))
            .await?
            .into_iter()
            .map(|i| from_item::<OrderItem>(i, "order").and_then(order_from))
            .collect()
    }

    async fn delete_order_syncs(&self, store: &StoreId) -> Result<usize> {
        let items = self
            .query_partition(keys::store_pk(store.as_str()), Some(keys::ORDER_PREFIX))
            .await?;
        let count = items.len();
        for chunk in items.chunks(25) {
            let requests: Vec<aws_sdk_dynamodb::types::WriteRequest> = chunk
                .iter()
                .filter_map(|i| {
                    let k: Item = [keys::PK, keys::SK]
                        .iter()
                        .filter_map(|n| i.get(*n).map(|v| ((*n).to_owned(), v.clone())))
                        .collect();
                    aws_sdk_dynamodb::types::DeleteRequest::builder()
                        .set_key(Some(k))
                        .build()
                        .ok()
                        .map(|d| {
                            aws_sdk_dynamodb::types::WriteRequest::builder()
                                .delete_request(d)
                                .build()
                        })
                })
                .collect();
            until_processed(requests, |pending| async move {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(db_error)?;
                let left = out
                    .unprocessed_items
                    .and_then(|mut l| l.remove(&self.table))
                    .unwrap_or_default();
                Ok((left, Vec::<()>::new()))
            })
            .await?;
        }
        Ok(count)
    }
}
