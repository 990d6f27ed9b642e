//! The dependencies use cases run against, built once per process (cold start) and lent to
//! every request.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::config::Config;
use crate::crypto::SecretBox;
use crate::error::Result;
use crate::outbound::OutboundPolicy;
use crate::ports::Repos;
use crate::store::{DynamoStore, MemoryStore};
use crate::woocommerce::WooClient;

pub struct Services {
    pub repos: Repos,
    pub secrets: SecretBox,
    pub outbound: OutboundPolicy,
    pub woo: WooClient,
    pub public_url: Option<Url>,
    pub token_ttl: Duration,
}

impl Services {
    pub fn new(repos: Repos, config: &Config) -> Result<Self> {
        let http = config.outbound.client(config.http_timeout)?;
        Ok(Self {
            repos,
            secrets: SecretBox::from_base64(config.secrets_key.expose())?,
            outbound: config.outbound,
            woo: WooClient::new(http),
            public_url: config.public_url.clone(),
            token_ttl: config.token_ttl,
        })
    }

    /// Everything in memory (local runner, fast tests).
    pub fn in_memory(config: &Config) -> Result<Arc<Self>> {
        Ok(Arc::new(Self::new(
            Repos::from_adapter(Arc::new(MemoryStore::new())),
            config,
        )?))
    }

    /// DynamoDB through the standard AWS configuration chain; `AWS_ENDPOINT_URL` points it at
    /// a moto server or any other endpoint.
    pub async fn aws(config: &Config) -> Result<Arc<Self>> {
        let sdk = aws_config::load_from_env().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        Ok(Arc::new(Self::new(
            Repos::from_adapter(Arc::new(DynamoStore::new(client, config.table.clone()))),
            config,
        )?))
    }
}
