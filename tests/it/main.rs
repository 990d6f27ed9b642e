//! Cross-function tests. `scripts/test` starts the moto server they use.

mod connect_api;
mod helpers;
