//! Wiring: the one place that builds adapters and hands each use case the ports it uses.
//! Deployed functions build their part once per container (cold start, `*::aws`); the local
//! runner, tests and benchmarks build every part in one process (`one_process`).

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use url::Url;

use crate::admin::Admin;
use crate::auth::{Gate, Logins};
use crate::config::Config;
use crate::connect::Linking;
use crate::crypto::SecretBox;
use crate::disconnect::Unlinking;
use crate::error::Result;
use crate::fulfilment::FulfilmentClient;
use crate::intake::{Intake, LinkCache};
use crate::outbound::OutboundPolicy;
use crate::ports::{LinkChanges, LinkChangesIgnored, Links, Repos, Tenants};
use crate::queue::{Queue, SqsQueue};
use crate::store::{DynamoStore, MemoryStore};
use crate::woocommerce::WooClient;
use crate::worker::{Worker, WorkerPorts, WorkerRepos, WorkerSettings};

/// The standard AWS configuration chain; `AWS_ENDPOINT_URL` points every client at a moto
/// server or another endpoint.
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_from_env().await
}

/// Everything a deployed function needs at cold start, read once: the environment, the AWS
/// configuration, and the application key (from Secrets Manager when given by ARN: one call).
pub async fn load_config() -> Result<(SdkConfig, Config)> {
    let mut config = Config::from_env()?;
    let sdk = sdk_config().await;
    if let Some(arn) = Config::secrets_key_arn() {
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        config.secrets_key = secret_version(&client, &arn, "AWSCURRENT")
            .await?
            .ok_or_else(|| crate::error::Error::internal("the application key secret is empty"))?;
        // During a rotation, values may still be sealed with the previous key (or, between
        // the two steps, with the pending one): both open, neither seals.
        for stage in ["AWSPREVIOUS", "AWSPENDING"] {
            if let Some(key) = secret_version(&client, &arn, stage).await? {
                config.previous_secrets_keys.push(key);
            }
        }
    }
    Ok((sdk, config))
}

/// One version stage of the application key secret (`None`: no such version, or empty).
async fn secret_version(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    stage: &str,
) -> Result<Option<crate::crypto::SecretString>> {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    match client
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .secret_string()
            .filter(|s| !s.is_empty())
            .map(|s| crate::crypto::SecretString::new(s.to_owned()))),
        Err(e) if stage != "AWSCURRENT" && e.code() == Some("ResourceNotFoundException") => {
            Ok(None)
        }
        Err(e) => Err(crate::error::Error::unavailable(
            "the secrets store",
            format!(
                "secretsmanager: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ),
        )),
    }
}

/// The DynamoDB adapter for the configured table.
pub fn dynamo_store(sdk: &SdkConfig, config: &Config) -> Arc<DynamoStore> {
    Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table.clone(),
    ))
}

/// What the HTTP functions (connect, disconnect) and the operator CLI hold: the adapters
/// their use cases are lent, a narrow set each (`logins`, `gate`, `linking`, …).
pub struct Services {
    pub repos: Repos,
    pub secrets: SecretBox,
    pub outbound: OutboundPolicy,
    pub woo: WooClient,
    pub public_url: Option<Url>,
    pub token_ttl: Duration,
    /// How long a disconnected store's order records are kept.
    pub retention: chrono::Duration,
    /// Told of every link change (the local runner's intake cache listens).
    pub link_changes: Arc<dyn LinkChanges>,
}

impl Services {
    pub fn new(repos: Repos, config: &Config) -> Result<Self> {
        let http = config.outbound.client(config.http_timeout)?;
        Ok(Self {
            repos,
            secrets: config.secret_box()?,
            outbound: config.outbound,
            woo: WooClient::new(http, config.outbound),
            public_url: config.public_url.clone(),
            token_ttl: config.token_ttl,
            retention: chrono::Duration::from_std(config.retention)
                .map_err(|e| crate::error::Error::internal(e.to_string()))?,
            link_changes: Arc::new(LinkChangesIgnored),
        })
    }

    /// Everything in memory (local runner, fast tests).
    pub fn in_memory(config: &Config) -> Result<Arc<Self>> {
        Ok(Arc::new(Self::new(
            Repos::from_adapter(Arc::new(MemoryStore::new())),
            config,
        )?))
    }

    /// DynamoDB-backed.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Self>> {
        Ok(Arc::new(Self::new(
            Repos::from_adapter(dynamo_store(sdk, config)),
            config,
        )?))
    }

    pub fn logins(&self) -> Logins<'_> {
        Logins {
            tenants: self.repos.tenants.as_ref(),
            users: self.repos.users.as_ref(),
            sessions: self.repos.sessions.as_ref(),
            throttles: self.repos.throttles.as_ref(),
            token_ttl: self.token_ttl,
        }
    }

    pub fn gate(&self) -> Gate<'_> {
        Gate {
            tenants: self.repos.tenants.as_ref(),
            sessions: self.repos.sessions.as_ref(),
            links: self.repos.links.as_ref(),
        }
    }

    pub fn linking(&self) -> Linking<'_> {
        Linking {
            stores: self.repos.stores.as_ref(),
            links: self.repos.links.as_ref(),
            secrets: &self.secrets,
            woo: &self.woo,
            outbound: &self.outbound,
            link_changes: self.link_changes.as_ref(),
        }
    }

    pub fn unlinking(&self) -> Unlinking<'_> {
        Unlinking {
            gate: self.gate(),
            orders: self.repos.orders.as_ref(),
            secrets: &self.secrets,
            woo: &self.woo,
            retention: self.retention,
            link_changes: self.link_changes.as_ref(),
        }
    }

    pub fn admin(&self) -> Admin<'_> {
        Admin {
            tenants: self.repos.tenants.as_ref(),
            users: self.repos.users.as_ref(),
            stores: self.repos.stores.as_ref(),
            links: self.repos.links.as_ref(),
            secrets: &self.secrets,
            outbound: &self.outbound,
        }
    }
}

/// Every function in one process (local runner, tests, benchmarks): one set of repositories
/// and queues, and link changes reach the intake's cache at once.
pub struct OneProcess {
    pub services: Arc<Services>,
    pub intake: Arc<Intake>,
    pub worker: Arc<Worker>,
}

impl OneProcess {
    pub fn new(
        repos: Repos,
        queue: Arc<dyn Queue>,
        dead_letters: Arc<dyn Queue>,
        config: &Config,
        settings: WorkerSettings,
    ) -> Result<Self> {
        let intake = Arc::new(Intake::new(
            repos.links.clone(),
            repos.tenants.clone(),
            queue.clone(),
            config,
        )?);
        let mut services = Services::new(repos.clone(), config)?;
        services.link_changes = intake.cache.clone();
        let worker = Arc::new(Worker::from_parts(
            &repos,
            queue,
            dead_letters,
            config,
            settings,
        )?);
        Ok(Self {
            services: Arc::new(services),
            intake,
            worker,
        })
    }
}

impl Intake {
    pub fn new(
        links: Arc<dyn Links>,
        tenants: Arc<dyn Tenants>,
        queue: Arc<dyn Queue>,
        config: &Config,
    ) -> Result<Self> {
        Ok(Self {
            links,
            tenants,
            queue,
            secrets: config.secret_box()?,
            cache: Arc::new(LinkCache::new(config.link_cache_ttl)),
            max_message_bytes: config.max_message_bytes,
        })
    }

    /// The deployed intake: links from DynamoDB, messages to SQS.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Self>> {
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(sdk), config.require_queue_url()?);
        let store = dynamo_store(sdk, config);
        Ok(Arc::new(Self::new(
            store.clone(),
            store,
            Arc::new(queue),
            config,
        )?))
    }
}

impl Worker {
    /// A worker over the given repositories and queues.
    pub fn from_parts(
        repos: &Repos,
        queue: Arc<dyn Queue>,
        dead_letters: Arc<dyn Queue>,
        config: &Config,
        settings: WorkerSettings,
    ) -> Result<Self> {
        let http = config.outbound.client(config.http_timeout)?;
        Ok(Self::new(
            WorkerPorts {
                repos: WorkerRepos {
                    tenants: repos.tenants.clone(),
                    links: repos.links.clone(),
                    orders: repos.orders.clone(),
                },
                secrets: config.secret_box()?,
                fulfilment: FulfilmentClient::new(http.clone(), config.outbound),
                woo: WooClient::new(http, config.outbound),
                queue,
                dead_letters,
            },
            settings,
        ))
    }

    /// The deployed worker: DynamoDB, the orders queue and its DLQ on SQS.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Self>> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue = Arc::new(SqsQueue::new(sqs.clone(), config.require_queue_url()?));
        let dlq = Arc::new(SqsQueue::new(sqs, config.require_dlq_url()?));
        let settings = WorkerSettings {
            max_receives: config.max_receives,
            retention: config.retention,
            ..WorkerSettings::default()
        };
        Ok(Arc::new(Self::from_parts(
            &Repos::from_adapter(dynamo_store(sdk, config)),
            queue,
            dlq,
            config,
            settings,
        )?))
    }
}
