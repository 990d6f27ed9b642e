//! woolink's shared library: domain values, use cases, ports and their adapters, and the HTTP
//! routers every function and the local runner serve.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cache;
pub mod catalogue;
pub mod catchup;
pub mod config;
pub mod connect;
pub mod consent;
pub mod controls;
pub mod crypto;
pub mod decide;
pub mod disconnect;
pub mod domain;
pub mod envelope;
pub mod error;
pub mod fulfilment;
pub mod gate;
pub mod health;
pub mod i18n;
pub mod intake;
pub mod local;
pub mod metrics;
pub mod model;
pub mod order;
pub mod outbound;
pub mod politeness;
pub mod ports;
pub mod queue;
pub mod secrets;
pub mod shipments;
pub mod sqs_batch;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod timeline;
pub mod web;
pub mod wiring;
pub mod woocommerce;
pub mod worker;

pub use error::{Error, ErrorKind, Result};
