//! Cross-function tests. `scripts/test` starts the moto server they use.
#![allow(clippy::unwrap_used)]

mod backfill;
mod bursts;
mod catalogue;
mod catch_up;
mod connect_api;
mod consent;
mod contract;
mod disconnect;
mod fairness;
mod fuzz;
mod hardening;
mod helpers;
mod lambda_events;
mod logs;
mod operations;
mod real_deliveries;
mod real_store;
mod reliability;
mod security;
mod shipments;
mod sync_worker;
mod tenant_keys;
mod tracking;
mod webhook_intake;
