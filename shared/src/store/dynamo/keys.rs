//! Attribute names and key formats (the table in `super`'s documentation).

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
pub const BACKFILL_SK: &str = "BACKFILL";
pub const POLL_SK: &str = "POLL";
/// The sparse index of links the reconciliation poll visits (connected, with keys): its
/// partition key is one of `POLL_SHARDS` shards (so no partition holds every store), its sort
/// key the store id.
pub const POLL_INDEX: &str = "poll";
pub const POLL_SHARD: &str = "pollShard";
pub const POLL_KEY: &str = "pollKey";
pub const POLL_SHARDS: u32 = 16;
pub fn poll_shard(store: &str) -> String {
    let digest = crate::crypto::sha256_hex(store.as_bytes());
    let n = u32::from_str_radix(&digest[..8], 16).unwrap_or(0) % POLL_SHARDS;
    poll_shard_name(n)
}
pub fn poll_shard_name(n: u32) -> String {
    format!("POLL#{n:02}")
}
pub fn api_key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}
pub const API_KEY_SK: &str = "APIKEY";
/// A tenant API key by its hash (what a request looks up) …
pub fn tenant_key_pk(hash: &str) -> String {
    format!("TKEY#{hash}")
}
pub const TENANT_KEY_SK: &str = "TKEY";
/// … and its entry in the tenant's partition (what listing and revocation read).
pub const TENANT_KEY_PREFIX: &str = "TKEY#";
pub fn tenant_key_sk(id: &str) -> String {
    format!("{TENANT_KEY_PREFIX}{id}")
}
pub fn session_pk(hash: &str) -> String {
    format!("SESSION#{hash}")
}
pub const SESSION_SK: &str = "SESSION";
/// The item `woolink dev` writes into a table it creates, and looks for before using one.
pub const LOCAL_MARKER_PK: &str = "WOOLINK";
pub const LOCAL_MARKER_SK: &str = "LOCAL_DEV_TABLE";
pub fn throttle_pk(key: &str) -> String {
    format!("THROTTLE#{key}")
}
pub fn throttle_sk(window: i64) -> String {
    format!("W#{window}")
}
/// A shipment's sort key: under its order, so an order's shipments are one prefix.
pub fn shipment_prefix(order: u64) -> String {
    format!("SHIP#{order:020}#")
}
pub fn shipment_sk(order: u64, shipment: &str) -> String {
    format!("{}{shipment}", shipment_prefix(order))
}
pub const ORDER_PREFIX: &str = "ORDER#";
pub fn order_sk(order: u64) -> String {
    format!("{ORDER_PREFIX}{order:020}")
}

/// A store's counters in `TALLY_SHARDS` shards (by order id), and its ten-minute buckets of
/// delivery lag (`crate::health`).
pub const TALLY_PREFIX: &str = "TALLY#";
pub const TALLY_SHARDS: u64 = 8;
pub fn tally_sk(order: u64) -> String {
    format!("{TALLY_PREFIX}{}", order % TALLY_SHARDS)
}
pub const BUCKET_PREFIX: &str = "BUCKET#";
pub fn bucket_sk(start: i64) -> String {
    format!("{BUCKET_PREFIX}{start:012}")
}
/// The index listing a store's orders by state: `STORE#{storeId}#{state}` (under the store's
/// own key prefix, so IAM's leading-key conditions hold), then `stateAt`.
pub const ORDER_STATE_INDEX: &str = "orderState";
pub const STATE_KEY: &str = "stateKey";
pub const STATE_AT: &str = "stateAt";
pub fn order_state_key(store: &str, state: &str) -> String {
    format!("{STORE_PREFIX}{store}#{state}")
}

pub const ITEM_PREFIX: &str = "ITEM#";
pub fn item_sk(id: u64) -> String {
    format!("{ITEM_PREFIX}{id:020}")
}
pub const CATALOGUE_SK: &str = "CATALOGUE";
pub const INVENTORY_LEASE_SK: &str = "INVLEASE";
pub fn inventory_job_sk(job: &str) -> String {
    format!("INVJOB#{job}")
}
pub fn inventory_chunk_sk(job: &str, index: u32) -> String {
    format!("INVJOB#{job}#C{index:05}")
}

/// A tenant's audit entry (under the tenant, time-ordered).
pub const AUDIT_PREFIX: &str = "AUDIT#";
pub fn audit_sk(id: &str) -> String {
    format!("{AUDIT_PREFIX}{id}")
}

/// A one-click connect attempt, by its nonce (TTL'd).
pub fn consent_pk(nonce: &str) -> String {
    format!("CONSENT#{nonce}")
}
pub const CONSENT_SK: &str = "CONSENT";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_documented_forms() {
        assert_eq!(tenant_sk("ACME"), "TENANT#ACME");
        assert_eq!(tenant_pk("ACME"), "TENANT#ACME");
        assert_eq!(user_sk("a@b.test"), "USER#a@b.test");
        assert_eq!(login_sk("a@b.test"), "LOGIN#a@b.test");
        assert_eq!(store_pk("st_1"), "STORE#st_1");
        assert_eq!(api_key_pk("ab12"), "APIKEY#ab12");
        assert_eq!(session_pk("ab12"), "SESSION#ab12");
        assert_eq!(order_sk(42), "ORDER#00000000000000000042");
        assert_eq!(poll_shard_name(7), "POLL#07");
        assert_eq!(tenant_key_pk("ab12"), "TKEY#ab12");
        assert_eq!(shipment_sk(42, "sh-1"), "SHIP#00000000000000000042#sh-1");
        assert_eq!(tenant_key_sk("tk_1"), "TKEY#tk_1");
    }

    #[test]
    fn stores_spread_over_every_poll_shard() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1_000 {
            let shard = poll_shard(&format!("st_{i}"));
            assert_eq!(shard, poll_shard(&format!("st_{i}")), "stable");
            seen.insert(shard);
        }
        assert_eq!(seen.len(), POLL_SHARDS as usize);
    }

    #[test]
    fn order_keys_sort_as_their_numbers() {
        let ids = [0u64, 9, 10, 99, 100, 1_000_000, u64::MAX];
        for pair in ids.windows(2) {
            assert!(order_sk(pair[0]) < order_sk(pair[1]));
        }
        assert!(order_sk(5).starts_with(ORDER_PREFIX));
    }
}
