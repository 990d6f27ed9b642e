//! Test harness: each test gets its own app on a free port, its own data (a fresh DynamoDB
//! table on the moto server when the backend is `Dynamo`), and helpers named after what a
//! merchant or operator does.
//!
//! Split by role: `backends` (data and configuration), `app` (the app and its client),
//! `fake_store`, `fake_tenant`, `scenarios` (orders, fixtures, signed deliveries, a linked
//! store: what the test modules share), `wait`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use woolink::admin::{self, Seed};
use woolink::config::{
    Config, DEFAULT_LINK_CACHE_TTL, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TOKEN_TTL,
};
use woolink::crypto::{SecretBox, SecretString};
use woolink::gate::GateSettings;
use woolink::intake::Intake;
use woolink::outbound::OutboundPolicy;
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, Queue, SqsQueue};
use woolink::store::{DynamoStore, MemoryStore};
use woolink::wiring::{OneProcess, Services};
use woolink::worker::{Worker, WorkerSettings};

mod app;
mod backends;
mod fake_store;
mod fake_tenant;
mod scenarios;
mod wait;

pub use app::*;
pub use backends::*;
pub use fake_store::*;
pub use fake_tenant::*;
pub use scenarios::*;
pub use wait::*;

/// The value of meta entry `key` of a WooCommerce object (an order, a fulfillment: its
/// `meta_data` of `{id, key, value}`), if it has one.
pub fn meta_value(entity: &serde_json::Value, key: &str) -> Option<serde_json::Value> {
    entity["meta_data"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)
        .map(|m| m["value"].clone())
}
