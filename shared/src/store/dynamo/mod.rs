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

mod items;
mod keys;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use chrono::Duration;

use crate::crypto::CredentialHash;
use crate::domain::{Email, OrderId, StoreId, TenantCode};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Link, LoginAttempts, OrderSync, Reconciliation, Session, Shipment, Store, Tenant, TenantApiKey,
    User,
};
use crate::ports::{
    Backfills, Links, OrderSyncs, Reconciliations, Sessions, Shipments, Stores, TenantKeys,
    Tenants, Throttles, Users, Written,
};
use crate::store::{
    conflict_on_backfill, conflict_on_link, conflict_on_order, conflict_on_reconciliation,
    conflict_on_shipment, trim_page,
};
use items::{key, s, Item};

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

/// A page is asked for with one item more than it shows, so that "more follow" is known
/// (DynamoDB hands back a `LastEvaluatedKey` whenever the limit is reached, even at the end).
fn page_limit(limit: usize) -> i32 {
    i32::try_from(limit.clamp(1, 100) + 1).unwrap_or(101)
}

/// How long failed-login bookkeeping outlives its last failure.
const LOGIN_ATTEMPTS_TTL: Duration = Duration::days(1);

fn db_error<E>(e: aws_sdk_dynamodb::error::SdkError<E>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    Error::unavailable(
        "the database",
        format!("dynamodb: {}", DisplayErrorContext(&e)),
    )
}

/// Whether a conditional write's condition held: `false` when DynamoDB refused it for that
/// reason, any other failure an error.
fn condition_met<O, E>(
    out: std::result::Result<O, aws_sdk_dynamodb::error::SdkError<E>>,
) -> Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match out {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(db_error(e)),
    }
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
        // A sparse index holding keys only (the table's and its own).
        let keys_only = |name: &str, hash: &str, range: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key_el(hash, KeyType::Hash)?)
                .key_schema(key_el(range, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .map_err(|e| Error::internal(e.to_string()))
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(keys::PK)?)
            .attribute_definitions(attr(keys::SK)?)
            .attribute_definitions(attr(keys::POLL_SHARD)?)
            .attribute_definitions(attr(keys::POLL_KEY)?)
            .attribute_definitions(attr(keys::STATE_KEY)?)
            .attribute_definitions(attr(keys::STATE_AT)?)
            .key_schema(key_el(keys::PK, KeyType::Hash)?)
            .key_schema(key_el(keys::SK, KeyType::Range)?)
            .global_secondary_indexes(keys_only(
                keys::POLL_INDEX,
                keys::POLL_SHARD,
                keys::POLL_KEY,
            )?)
            .global_secondary_indexes(keys_only(
                keys::ORDER_STATE_INDEX,
                keys::STATE_KEY,
                keys::STATE_AT,
            )?)
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
    /// The local runner's table: created (and marked as the local runner's) when missing;
    /// an existing table is used only if it carries that mark, because the runner seeds a
    /// demo login and loopback URLs into it (never into a deployed stack's table).
    pub async fn ensure_local_table(client: &Client, table: &str) -> Result<()> {
        let marker = key(keys::LOCAL_MARKER_PK.to_owned(), keys::LOCAL_MARKER_SK);
        match client.describe_table().table_name(table).send().await {
            Ok(_) => {
                let found = client
                    .get_item()
                    .table_name(table)
                    .set_key(Some(marker))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(db_error)?
                    .item
                    .is_some();
                if found {
                    Ok(())
                } else {
                    Err(Error::invalid_request(format!(
                        "table {table} was not created by woolink dev (it may be a deployed \
                         stack's table, and the local runner seeds a demo login and loopback \
                         URLs); choose another --table"
                    )))
                }
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                Self::create_table(client, table).await?;
                client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(marker))
                    .send()
                    .await
                    .map_err(db_error)?;
                Ok(())
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
    /// Puts `item` if the stored item's revision is still `expected` (`None`: none stored
    /// yet); a lost race is `conflict()`.
    async fn put_at_revision(
        &self,
        item: Item,
        expected: Option<u64>,
        conflict: impl FnOnce() -> Error,
    ) -> Result<()> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(rev) => put
                .condition_expression("revision = :rev")
                .expression_attribute_values(":rev", AttributeValue::N(rev.to_string())),
        };
        if condition_met(put.send().await)? {
            Ok(())
        } else {
            Err(conflict())
        }
    }

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

    /// The items at `keys` (consistent reads, 100 a call, unprocessed keys retried); missing
    /// ones are left out, the order is not kept.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let items = until_processed(chunk.to_vec(), |pending| async move {
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
            out.extend(items);
        }
        Ok(out)
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

#[async_trait]
impl Tenants for DynamoStore {
    async fn get_tenant(&self, code: &TenantCode) -> Result<Option<Tenant>> {
        let item = self
            .get(key(
                keys::TENANTS.to_owned(),
                keys::tenant_sk(code.as_str()),
            ))
            .await?;
        item.map(items::tenant_of).transpose()
    }

    async fn set_fulfilment_url(&self, code: &TenantCode, url: &str) -> Result<bool> {
        // Only the URL: the function that does this may write no other tenant attribute.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::TENANTS.to_owned(),
                keys::tenant_sk(code.as_str()),
            )))
            .update_expression("SET fulfilmentUrl = :url")
            .condition_expression("attribute_exists(fulfilmentSecret)")
            .expression_attribute_values(":url", s(url))
            .send()
            .await;
        condition_met(out)
    }

    async fn put_tenant(&self, tenant: &Tenant) -> Result<Written> {
        let old = self.get_tenant(&tenant.code).await?;
        self.put(items::tenant(tenant)?).await?;
        Ok(Written::of(old.as_ref(), tenant))
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.query_partition(keys::TENANTS.to_owned(), Some("TENANT#"))
            .await?
            .into_iter()
            .map(items::tenant_of)
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
        item.map(|i| items::user_of(i, tenant)).transpose()
    }

    async fn put_user(&self, user: &User) -> Result<Written> {
        let old = self.get_user(&user.tenant, &user.email).await?;
        self.put(items::user(user)?).await?;
        Ok(Written::of(old.as_ref(), user))
    }

    async fn login_attempts(&self, tenant: &TenantCode, email: &Email) -> Result<LoginAttempts> {
        let item = self
            .get(key(
                keys::tenant_pk(tenant.as_str()),
                keys::login_sk(email.as_str()),
            ))
            .await?;
        item.map(items::login_attempts_of)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn swap_login_attempts(
        &self,
        tenant: &TenantCode,
        email: &Email,
        expected: &LoginAttempts,
        next: &LoginAttempts,
    ) -> Result<bool> {
        let item = items::login_attempts(tenant, email, next, LOGIN_ATTEMPTS_TTL)?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        // A stored record always has a failure count of at least one (clearing deletes it),
        // and every other write raises it: the count is the record's revision.
        put = match expected.consecutive_failures {
            0 => put.condition_expression("attribute_not_exists(pk)"),
            f => put
                .condition_expression("failures = :f")
                .expression_attribute_values(":f", AttributeValue::N(f.to_string())),
        };
        condition_met(put.send().await)
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

#[async_trait]
impl Stores for DynamoStore {
    async fn get_store(&self, id: &StoreId) -> Result<Option<Store>> {
        let item = self
            .get(key(keys::store_pk(id.as_str()), keys::STORE_SK))
            .await?;
        item.map(items::store_of).transpose()
    }

    async fn list_stores(&self, tenant: &TenantCode) -> Result<Vec<Store>> {
        self.query_partition(keys::tenant_pk(tenant.as_str()), Some(keys::STORE_PREFIX))
            .await?
            .into_iter()
            .map(items::store_of)
            .collect()
    }

    async fn list_stores_page(
        &self,
        tenant: &TenantCode,
        after: Option<&StoreId>,
        limit: usize,
    ) -> Result<(Vec<Store>, Option<StoreId>)> {
        let pk = keys::tenant_pk(tenant.as_str());
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s(keys::STORE_PREFIX))
            .limit(page_limit(limit));
        if let Some(a) = after {
            q = q
                .exclusive_start_key(keys::PK, s(pk))
                .exclusive_start_key(keys::SK, s(keys::store_pk(a.as_str())));
        }
        let out = q.send().await.map_err(db_error)?;
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let mut stores = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(items::store_of)
            .collect::<Result<Vec<_>>>()?;
        let more = trim_page(&mut stores, limit, more);
        let next = more.then(|| stores.last().map(|s| s.id.clone())).flatten();
        Ok((stores, next))
    }

    async fn put_store(&self, store: &Store) -> Result<Written> {
        let old = self.get_store(&store.id).await?;
        if let Some(o) = &old {
            if o.tenant != store.tenant {
                return Err(store_owned_elsewhere(&store.id));
            }
        }
        let (main, listing) = items::store(store)?;
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

#[async_trait]
impl Links for DynamoStore {
    /// One shard of the poll index per call (cursor `NN|last store id`): a query, never a
    /// scan; an empty page with a cursor only means that shard had nothing more.
    async fn pollable_stores(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<StoreId>, Option<String>)> {
        let (shard, after) = match cursor.as_deref().and_then(|c| c.split_once('|')) {
            Some((n, after)) => (
                n.parse::<u32>()
                    .map_err(|_| Error::invalid_request("malformed poll cursor"))?,
                after.to_owned(),
            ),
            None => (0, String::new()),
        };
        if shard >= keys::POLL_SHARDS {
            return Ok((Vec::new(), None));
        }
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::POLL_INDEX)
            .expression_attribute_names("#shard", keys::POLL_SHARD)
            .expression_attribute_values(":shard", s(keys::poll_shard_name(shard)))
            .limit(limit);
        // A key attribute cannot be compared with an empty string: a shard's first page has
        // no lower bound.
        let query = if after.is_empty() {
            query.key_condition_expression("#shard = :shard")
        } else {
            query
                .key_condition_expression("#shard = :shard AND #key > :after")
                .expression_attribute_names("#key", keys::POLL_KEY)
                .expression_attribute_values(":after", s(after))
        };
        let out = query.send().await.map_err(db_error)?;
        let ids = out
            .items()
            .iter()
            .filter_map(|i| i.get(keys::POLL_KEY)?.as_s().ok())
            .map(|id| StoreId::parse(id).map_err(|_| items::corrupt("poll index")))
            .collect::<Result<Vec<_>>>()?;
        let next = match (out.last_evaluated_key().is_some(), ids.last()) {
            (true, Some(last)) => Some(format!("{shard}|{last}")),
            _ if shard + 1 < keys::POLL_SHARDS => Some(format!("{}|", shard + 1)),
            _ => None,
        };
        Ok((ids, next))
    }

    async fn get_link(&self, store: &StoreId) -> Result<Option<Link>> {
        let item = self
            .get(key(keys::store_pk(store.as_str()), keys::LINK_SK))
            .await?;
        item.map(items::link_of).transpose()
    }

    async fn get_links(&self, stores: &[StoreId]) -> Result<Vec<Link>> {
        let keys: Vec<Item> = stores
            .iter()
            .map(|s| key(keys::store_pk(s.as_str()), keys::LINK_SK))
            .collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(items::link_of)
            .collect()
    }

    async fn find_link_by_api_key(&self, hash: &CredentialHash) -> Result<Option<Link>> {
        let Some(item) = self
            .get(key(keys::api_key_pk(hash.as_str()), keys::API_KEY_SK))
            .await?
        else {
            return Ok(None);
        };
        let store = items::api_key_store(item)?;
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
        ops.push(self.put_op(items::link(link)?, Some(condition), values)?);
        let old: Vec<CredentialHash> = current
            .as_ref()
            .map(|l| l.indexed_keys().into_iter().cloned().collect())
            .unwrap_or_default();
        let new = link.indexed_keys();
        for gone in old.iter().filter(|k| !new.contains(k)) {
            ops.push(self.delete_op(key(keys::api_key_pk(gone.as_str()), keys::API_KEY_SK))?);
        }
        for added in new.into_iter().filter(|k| !old.contains(k)) {
            ops.push(self.put_op(items::api_key(added, &link.store_id)?, None, HashMap::new())?);
        }
        self.transact(ops, conflict_on_link(&link.store_id)).await
    }
}

#[async_trait]
impl Sessions for DynamoStore {
    async fn put_session(&self, session: &Session) -> Result<()> {
        self.put(items::session(session)?).await
    }

    async fn get_session(&self, token: &CredentialHash) -> Result<Option<Session>> {
        let item = self
            .get(key(keys::session_pk(token.as_str()), keys::SESSION_SK))
            .await?;
        item.map(items::session_of).transpose()
    }
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
        item.map(items::order_of).transpose()
    }

    async fn save_order_sync(&self, sync: &OrderSync, expected: Option<u64>) -> Result<()> {
        let item = items::order(sync)?;
        let conflict = || conflict_on_order(&sync.store_id, sync.order_id);
        let pk = keys::store_pk(sync.store_id.as_str());
        self.put_at_revision(item, expected, conflict).await?;
        // The record is written: its state change moves one of the store's counter shards
        // (ADD; the shard by order id, so no single item takes a busy store's every write).
        // Not in a transaction, which would double the record's write cost and make every
        // write of a store contend for one item: a worker dying between the two writes
        // leaves the counters one order short (ARCHITECTURE.md, "Store health").
        if let Some(change) = crate::health::tally_change(sync) {
            let (expr, values) = items::tally_update(&change);
            let shard = keys::tally_sk(sync.order_id.get());
            let out = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), shard)))
                .update_expression(expr)
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            if let Err(e) = out {
                tracing::error!(store = %sync.store_id, order = %sync.order_id, error = %DisplayErrorContext(&e), "the store's counters missed an order's state change");
            }
        }
        // Lag and recoveries are statistics: a sample lost to a failure here is only logged.
        if let Some(sample) = crate::health::sample_of(sync) {
            let (expr, values) = items::bucket_update(&sample);
            let out = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, keys::bucket_sk(sample.bucket))))
                .update_expression(expr)
                .expression_attribute_names("#start", "start")
                .expression_attribute_names("#ttl", keys::TTL)
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            if let Err(e) = out {
                tracing::warn!(store = %sync.store_id, error = %DisplayErrorContext(&e), "a delivery-lag sample was not recorded");
            }
        }
        Ok(())
    }

    async fn list_orders(
        &self,
        store: &StoreId,
        query: &crate::health::OrderQuery,
    ) -> Result<crate::health::OrderPage> {
        use crate::health::{After, OrderPage};
        let pk = keys::store_pk(store.as_str());
        let limit = query.limit.clamp(1, 100);
        let Some(state) = query.state else {
            // Every order, newest id first: the store's own partition, a page at a time.
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(keys::ORDER_PREFIX))
                .scan_index_forward(false)
                .limit(page_limit(limit));
            if let Some(After::Order(id)) = &query.after {
                q = q.exclusive_start_key(keys::PK, s(pk.clone()));
                q = q.exclusive_start_key(keys::SK, s(keys::order_sk(*id)));
            }
            let out = q.send().await.map_err(db_error)?;
            let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
            let mut orders = out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(items::order_of)
                .collect::<Result<Vec<_>>>()?;
            let more = trim_page(&mut orders, limit, more);
            let next = more
                .then(|| orders.last().map(|o| After::Order(o.order_id.get())))
                .flatten();
            return Ok(OrderPage { orders, next });
        };
        if !crate::health::indexed(state) {
            return Ok(OrderPage::default());
        }
        let state_key = keys::order_state_key(store.as_str(), state.as_str());
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::ORDER_STATE_INDEX)
            .expression_attribute_names("#k", keys::STATE_KEY)
            .expression_attribute_values(":k", s(state_key.clone()))
            .scan_index_forward(false)
            .limit(page_limit(limit));
        q = match query.since {
            None => q.key_condition_expression("#k = :k"),
            Some(since) => q
                .key_condition_expression("#k = :k AND #at >= :since")
                .expression_attribute_names("#at", keys::STATE_AT)
                .expression_attribute_values(":since", s(crate::health::since_key(since))),
        };
        if let Some(After::Changed(at)) = &query.after {
            let id = at
                .rsplit('#')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            q = q
                .exclusive_start_key(keys::PK, s(pk.clone()))
                .exclusive_start_key(keys::SK, s(keys::order_sk(id)))
                .exclusive_start_key(keys::STATE_KEY, s(state_key))
                .exclusive_start_key(keys::STATE_AT, s(at.clone()));
        }
        let out = q.send().await.map_err(db_error)?;
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let mut listed: Vec<(String, Item)> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| {
                let at = i.get(keys::STATE_AT)?.as_s().ok()?.clone();
                let k = key(
                    i.get(keys::PK)?.as_s().ok()?.clone(),
                    i.get(keys::SK)?.as_s().ok()?.clone(),
                );
                Some((at, k))
            })
            .collect();
        let more = trim_page(&mut listed, limit, more);
        let next = more
            .then(|| listed.last().map(|(at, _)| After::Changed(at.clone())))
            .flatten();
        // The index holds keys only: the records themselves, read consistently. One that
        // changed state since is left out here (it is listed under its new state).
        let mut orders = self
            .batch_get(listed.into_iter().map(|(_, k)| k).collect())
            .await?
            .into_iter()
            .map(items::order_of)
            .collect::<Result<Vec<_>>>()?;
        orders.retain(|o| crate::health::listing(o).map(|(s, _)| s) == Some(state));
        orders.sort_by_key(|o| std::cmp::Reverse(crate::health::changed_key(o)));
        Ok(OrderPage { orders, next })
    }

    async fn get_tally(&self, store: &StoreId) -> Result<crate::health::StoreTally> {
        // Every shard in one query.
        let shards = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::store_pk(store.as_str())))
            .expression_attribute_values(":prefix", s(keys::TALLY_PREFIX))
            .send()
            .await
            .map_err(db_error)?
            .items
            .unwrap_or_default()
            .into_iter()
            .map(items::tally_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::health::StoreTally::sum(&shards))
    }

    async fn get_buckets(&self, store: &StoreId, since: i64) -> Result<Vec<crate::health::Bucket>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(keys::store_pk(store.as_str())))
            .expression_attribute_values(":from", s(keys::bucket_sk(since.max(0))))
            .expression_attribute_values(":to", s(keys::bucket_sk(999_999_999_999)))
            .send()
            .await
            .map_err(db_error)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(items::bucket_of)
            .collect()
    }

    async fn list_order_syncs(&self, store: &StoreId) -> Result<Vec<OrderSync>> {
        self.query_partition(keys::store_pk(store.as_str()), Some(keys::ORDER_PREFIX))
            .await?
            .into_iter()
            .map(items::order_of)
            .collect()
    }

    async fn delete_order_syncs(&self, store: &StoreId) -> Result<usize> {
        // Every record of the store's orders (order state, shipments) and of its catch-up
        // (backfill, poll); the store itself and its link stay.
        let items: Vec<Item> = self
            .query_partition(keys::store_pk(store.as_str()), None)
            .await?
            .into_iter()
            .filter(|i| {
                i.get(keys::SK)
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk != keys::STORE_SK && sk != keys::LINK_SK)
            })
            .collect();
        let count = items
            .iter()
            .filter(|i| {
                i.get(keys::SK)
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk.starts_with(keys::ORDER_PREFIX))
            })
            .count();
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

/// How long the audit trail keeps an entry.
const AUDIT_KEPT: Duration = Duration::days(400);

#[async_trait]
impl crate::ports::Audits for DynamoStore {
    async fn record_audit(&self, entry: &crate::model::AuditEntry) -> Result<()> {
        let mut item = serde_dynamo::to_item::<_, Item>(entry)
            .map_err(|e| Error::internal(format!("audit entry: {e}")))?;
        item.insert(keys::PK.into(), s(keys::tenant_pk(entry.tenant.as_str())));
        item.insert(keys::SK.into(), s(keys::audit_sk(&entry.id)));
        item.insert(
            keys::TTL.into(),
            AttributeValue::N((entry.at + AUDIT_KEPT).timestamp().to_string()),
        );
        self.put(item).await
    }

    async fn list_audit(
        &self,
        tenant: &TenantCode,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<crate::model::AuditEntry>, Option<String>)> {
        let pk = keys::tenant_pk(tenant.as_str());
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s(keys::AUDIT_PREFIX))
            .scan_index_forward(false)
            .limit(page_limit(limit));
        if let Some(a) = after {
            q = q
                .exclusive_start_key(keys::PK, s(pk))
                .exclusive_start_key(keys::SK, s(keys::audit_sk(a)));
        }
        let out = q.send().await.map_err(db_error)?;
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let mut entries = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|mut i| {
                for k in [keys::PK, keys::SK, keys::TTL] {
                    i.remove(k);
                }
                serde_dynamo::from_item::<_, crate::model::AuditEntry>(i)
                    .map_err(|_| items::corrupt("audit entry"))
            })
            .collect::<Result<Vec<_>>>()?;
        let more = trim_page(&mut entries, limit, more);
        let next = more.then(|| entries.last().map(|e| e.id.clone())).flatten();
        Ok((entries, next))
    }
}

#[async_trait]
impl crate::ports::Consents for DynamoStore {
    async fn claim_consent(&self, record: &crate::consent::ConsentRecord) -> Result<bool> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::consent(record)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        condition_met(out)
    }

    async fn finish_consent(&self, record: &crate::consent::ConsentRecord) -> Result<()> {
        self.put(items::consent(record)?).await
    }

    async fn get_consent(&self, nonce: &str) -> Result<Option<crate::consent::ConsentRecord>> {
        let item = self
            .get(key(keys::consent_pk(nonce), keys::CONSENT_SK))
            .await?;
        item.map(|i| items::consent_of(nonce, i)).transpose()
    }
}

#[async_trait]
impl Throttles for DynamoStore {
    async fn take(&self, key: &str, window: i64, limit: u32, expires_at: i64) -> Result<bool> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::key(
                keys::throttle_pk(key),
                keys::throttle_sk(window),
            )))
            .update_expression("ADD n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        condition_met(out)
    }
}

#[async_trait]
impl Backfills for DynamoStore {
    async fn get_backfill(&self, store: &StoreId) -> Result<Option<crate::model::BackfillRun>> {
        let item = self
            .get(key(keys::store_pk(store.as_str()), keys::BACKFILL_SK))
            .await?;
        item.map(items::backfill_of).transpose()
    }

    async fn save_backfill(
        &self,
        run: &crate::model::BackfillRun,
        expected: Option<u64>,
    ) -> Result<()> {
        self.put_at_revision(items::backfill(run)?, expected, || {
            conflict_on_backfill(&run.store_id)
        })
        .await
    }
}

#[async_trait]
impl Reconciliations for DynamoStore {
    async fn get_reconciliation(&self, store: &StoreId) -> Result<Option<Reconciliation>> {
        let item = self
            .get(key(keys::store_pk(store.as_str()), keys::POLL_SK))
            .await?;
        item.map(items::reconciliation_of).transpose()
    }

    async fn save_reconciliation(
        &self,
        state: &Reconciliation,
        expected: Option<u64>,
    ) -> Result<()> {
        self.put_at_revision(items::reconciliation(state)?, expected, || {
            conflict_on_reconciliation(&state.store_id)
        })
        .await
    }
}

#[async_trait]
impl TenantKeys for DynamoStore {
    async fn put_tenant_key(&self, k: &TenantApiKey) -> Result<()> {
        let (item, entry) = items::tenant_key(k)?;
        let new = "attribute_not_exists(pk)";
        let ops = vec![
            self.put_op(item, Some(new), HashMap::new())?,
            self.put_op(entry, Some(new), HashMap::new())?,
        ];
        self.transact(
            ops,
            Error::new(ErrorKind::Conflict, "this tenant API key exists"),
        )
        .await
    }

    async fn find_tenant_key(&self, hash: &CredentialHash) -> Result<Option<TenantApiKey>> {
        let item = self
            .get(key(keys::tenant_key_pk(hash.as_str()), keys::TENANT_KEY_SK))
            .await?;
        item.map(items::tenant_key_of).transpose()
    }

    async fn list_tenant_keys(&self, tenant: &TenantCode) -> Result<Vec<TenantApiKey>> {
        let entries = self
            .query_partition(
                keys::tenant_pk(tenant.as_str()),
                Some(keys::TENANT_KEY_PREFIX),
            )
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in &entries {
            let hash = items::tenant_key_entry_hash(entry)?;
            if let Some(k) = self.find_tenant_key(&hash).await? {
                out.push(k);
            }
        }
        Ok(out)
    }

    async fn revoke_tenant_key(
        &self,
        tenant: &TenantCode,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<TenantApiKey>> {
        let Some(entry) = self
            .get(key(
                keys::tenant_pk(tenant.as_str()),
                keys::tenant_key_sk(id),
            ))
            .await?
        else {
            return Ok(None);
        };
        let hash = items::tenant_key_entry_hash(&entry)?;
        if self
            .set_on_tenant_key(&hash, "SET revokedAt = if_not_exists(revokedAt, :at)", at)
            .await?
        {
            self.find_tenant_key(&hash).await
        } else {
            Ok(None)
        }
    }

    async fn touch_tenant_key(
        &self,
        hash: &CredentialHash,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.set_on_tenant_key(hash, "SET lastUsedAt = :at", at)
            .await
            .map(|_| ())
    }
}

impl DynamoStore {
    /// Applies `update` (with `:at`) to the tenant key stored under `hash`: `false` when
    /// there is none.
    async fn set_on_tenant_key(
        &self,
        hash: &CredentialHash,
        update: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_key_pk(hash.as_str()),
                keys::TENANT_KEY_SK,
            )))
            .update_expression(update)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .send()
            .await;
        condition_met(out)
    }
}

#[async_trait]
impl Shipments for DynamoStore {
    async fn get_shipment(
        &self,
        store: &StoreId,
        order: OrderId,
        shipment_id: &str,
    ) -> Result<Option<Shipment>> {
        let item = self
            .get(key(
                keys::store_pk(store.as_str()),
                keys::shipment_sk(order.get(), shipment_id),
            ))
            .await?;
        item.map(items::shipment_of).transpose()
    }

    async fn save_shipment(&self, shipment: &Shipment, expected: Option<u64>) -> Result<()> {
        self.put_at_revision(items::shipment(shipment)?, expected, || {
            conflict_on_shipment(&shipment.store_id, &shipment.shipment_id)
        })
        .await
    }

    async fn list_shipments(&self, store: &StoreId, order: OrderId) -> Result<Vec<Shipment>> {
        let found = self
            .query_partition(
                keys::store_pk(store.as_str()),
                Some(&keys::shipment_prefix(order.get())),
            )
            .await?;
        let mut list = found
            .into_iter()
            .map(items::shipment_of)
            .collect::<Result<Vec<_>>>()?;
        crate::store::oldest_first(&mut list);
        Ok(list)
    }

    async fn delete_shipment(
        &self,
        store: &StoreId,
        order: OrderId,
        shipment_id: &str,
    ) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::store_pk(store.as_str()),
                keys::shipment_sk(order.get(), shipment_id),
            )))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(db_error)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

#[async_trait]
impl crate::ports::Catalogue for DynamoStore {
    async fn catalogue_items(&self, store: &StoreId) -> Result<Vec<crate::model::CatalogueItem>> {
        self.query_partition(keys::store_pk(store.as_str()), Some(keys::ITEM_PREFIX))
            .await?
            .into_iter()
            .map(items::catalogue_item_of)
            .collect()
    }
    async fn get_catalogue_item(
        &self,
        store: &StoreId,
        id: u64,
    ) -> Result<Option<crate::model::CatalogueItem>> {
        let item = self
            .get(key(keys::store_pk(store.as_str()), keys::item_sk(id)))
            .await?;
        item.map(items::catalogue_item_of).transpose()
    }
    async fn save_catalogue_item(
        &self,
        item: &crate::model::CatalogueItem,
        expected: Option<u64>,
    ) -> Result<()> {
        self.put_at_revision(items::catalogue_item(item)?, expected, || {
            crate::store::conflict_on_catalogue(&item.store_id, "an item")
        })
        .await
    }
    async fn get_catalogue_run(
        &self,
        store: &StoreId,
    ) -> Result<Option<crate::model::CatalogueRun>> {
        let item = self
            .get(key(
                keys::store_pk(store.as_str()),
                keys::CATALOGUE_SK.to_owned(),
            ))
            .await?;
        item.map(items::catalogue_run_of).transpose()
    }
    async fn save_catalogue_run(
        &self,
        run: &crate::model::CatalogueRun,
        expected: Option<u64>,
    ) -> Result<()> {
        self.put_at_revision(items::catalogue_run(run)?, expected, || {
            crate::store::conflict_on_catalogue(&run.store_id, "the catalogue import")
        })
        .await
    }
    async fn get_inventory_job(
        &self,
        store: &StoreId,
        job: &str,
    ) -> Result<Option<crate::model::InventoryJob>> {
        let item = self
            .get(key(
                keys::store_pk(store.as_str()),
                keys::inventory_job_sk(job),
            ))
            .await?;
        item.map(items::inventory_job_of).transpose()
    }
    async fn save_inventory_job(
        &self,
        job: &crate::model::InventoryJob,
        expected: Option<u64>,
    ) -> Result<()> {
        self.put_at_revision(items::inventory_job(job)?, expected, || {
            crate::store::conflict_on_catalogue(&job.store_id, "an inventory job")
        })
        .await
    }
    async fn get_inventory_chunk(
        &self,
        store: &StoreId,
        job: &str,
        index: u32,
    ) -> Result<Option<crate::model::InventoryChunk>> {
        let item = self
            .get(key(
                keys::store_pk(store.as_str()),
                keys::inventory_chunk_sk(job, index),
            ))
            .await?;
        item.map(items::inventory_chunk_of).transpose()
    }
    async fn take_inventory_lease(
        &self,
        store: &StoreId,
        job: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let mut item = key(keys::store_pk(store.as_str()), keys::INVENTORY_LEASE_SK);
        item.insert("holder".into(), s(job));
        item.insert(
            "until".into(),
            AttributeValue::N(until.timestamp().to_string()),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR holder = :job OR #until < :now")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":job", s(job))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()));
        condition_met(put.send().await)
    }
    async fn release_inventory_lease(&self, store: &StoreId, job: &str) -> Result<()> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::store_pk(store.as_str()),
                keys::INVENTORY_LEASE_SK,
            )))
            .condition_expression("holder = :job")
            .expression_attribute_values(":job", s(job));
        // Held by another (ours ran out and was taken): nothing to give back.
        condition_met(delete.send().await).map(|_| ())
    }
    async fn put_inventory_chunk(&self, chunk: &crate::model::InventoryChunk) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::inventory_chunk(chunk)?))
            .send()
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
