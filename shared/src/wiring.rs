//! Wiring: the one place that builds adapters and hands each use case the ports it uses.
//! Deployed functions build their part once per container (cold start, `*::aws`); the local
//! runner, tests and benchmarks build every part in one process (`one_process`).

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use url::Url;

use crate::admin::Admin;
use crate::auth::{Gate, Logins};
use crate::catchup::{fan_out, run_job, CatchUp, CatchUpSettings, Job, Starting};
use crate::config::Config;
use crate::connect::Linking;
use crate::crypto::SecretBox;
use crate::disconnect::Unlinking;
use crate::error::Result;
use crate::fulfilment::FulfilmentClient;
use crate::intake::{Intake, LinkCache};
use crate::outbound::OutboundPolicy;
use crate::ports::{LinkChanges, LinkChangesIgnored, Links, Repos, Tenants};
use crate::queue::{Queue, Received, SqsQueue};
use crate::shipments::{Accepting, ShipmentWorker};
use crate::sqs_batch::Lanes;
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
    load_config_with(sdk_config().await, None).await
}

/// The same with the caller's AWS configuration (the CLI's profile and region) and, when the
/// environment names no key, the application key's ARN (the CLI's stack outputs).
pub async fn load_config_with(
    sdk: SdkConfig,
    key_arn: Option<&str>,
) -> Result<(SdkConfig, Config)> {
    let mut config = Config::from_env_with(key_arn)?;
    // The key given in clear wins; else the environment's ARN, else the caller's.
    let arn = Config::secrets_key_arn().or_else(|| key_arn.map(str::to_owned));
    if let (false, Some(arn)) = (config.secrets_key_given(), arn) {
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        let (current, previous) = fetch_keys(&client, &arn).await?;
        config.secrets_key = current;
        config.previous_secrets_keys.extend(previous);
    }
    Ok((sdk, config))
}

/// The configuration without fetching the application key: with the ARN to fetch it from
/// when the environment names one (the webhook function fetches it beside the runtime).
pub async fn load_config_deferred() -> Result<(SdkConfig, Config, Option<String>)> {
    let config = Config::from_env()?;
    Ok((sdk_config().await, config, Config::secrets_key_arn()))
}

/// The application key's versions in Secrets Manager, read at once: the current one, then the
/// previous and pending ones. During a rotation values may still be sealed with the previous
/// key (or, between the two steps, with the pending one): both open, neither seals.
pub async fn fetch_keys(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<(
    crate::crypto::SecretString,
    Vec<crate::crypto::SecretString>,
)> {
    let (current, previous, pending) = futures::try_join!(
        secret_version(client, arn, "AWSCURRENT"),
        secret_version(client, arn, "AWSPREVIOUS"),
        secret_version(client, arn, "AWSPENDING"),
    )?;
    let current = current
        .ok_or_else(|| crate::error::Error::internal("the application key secret is empty"))?;
    Ok((current, previous.into_iter().chain(pending).collect()))
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
    /// The catch-up queue, where a backfill's first job goes (`None`: not configured).
    pub jobs: Option<Arc<dyn Queue>>,
    /// The shipments queue, where accepted shipments go (`None`: not configured).
    pub shipments: Option<Arc<dyn Queue>>,
    /// The orders queue, where the tenant's resends go (`None`: not configured).
    pub orders_queue: Option<Arc<dyn Queue>>,
    pub secrets: SecretBox,
    pub outbound: OutboundPolicy,
    pub woo: WooClient,
    pub public_url: Option<Url>,
    /// Where webhooks are delivered when not at `public_url` (a function URL).
    pub webhook_base_url: Option<Url>,
    /// The https base of the consent callback (default: `public_url`).
    pub callback_url: Option<Url>,
    pub token_ttl: Duration,
    /// How long a connect state is accepted.
    pub consent_ttl: Duration,
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
            jobs: None,
            shipments: None,
            orders_queue: None,
            secrets: config.secret_box()?,
            outbound: config.outbound,
            woo: WooClient::new(http, config.outbound).with_rate(config.store_rate),
            public_url: config.public_url.clone(),
            webhook_base_url: config.webhook_base_url.clone(),
            callback_url: config.callback_url.clone(),
            token_ttl: config.token_ttl,
            consent_ttl: config.consent_ttl,
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

    /// DynamoDB-backed, with the catch-up queue when one is configured.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Self>> {
        let mut services = Self::new(Repos::from_adapter(dynamo_store(sdk, config)), config)?;
        let queue = |url: &String| {
            Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url)) as Arc<dyn Queue>
        };
        services.jobs = config.jobs_queue_url.as_ref().map(queue);
        services.shipments = config.shipments_queue_url.as_ref().map(queue);
        services.orders_queue = config.queue_url.as_ref().map(queue);
        Ok(Arc::new(services))
    }

    /// The catch-up queue; a stack without one cannot start jobs.
    fn jobs_queue(&self) -> Result<&dyn Queue> {
        self.jobs.as_deref().ok_or_else(|| {
            crate::error::Error::unavailable(
                "the catch-up queue",
                "WOOLINK_JOBS_QUEUE_URL is not set",
            )
        })
    }

    /// What starting a backfill uses; a stack without a catch-up queue cannot.
    pub fn starting(&self) -> Result<Starting<'_>> {
        let jobs = self.jobs_queue()?;
        Ok(Starting {
            links: self.repos.links.as_ref(),
            backfills: self.repos.backfills.as_ref(),
            secrets: &self.secrets,
            woo: &self.woo,
            jobs,
        })
    }

    /// What the catalogue and inventory routes use; a stack without a catch-up queue cannot.
    pub fn submitting(&self) -> Result<crate::catalogue::Submitting<'_>> {
        let jobs = self.jobs_queue()?;
        Ok(crate::catalogue::Submitting {
            links: self.repos.links.as_ref(),
            catalogue: self.repos.catalogue.as_ref(),
            secrets: &self.secrets,
            jobs,
        })
    }

    /// What the tenant's controls use (`crate::controls`).
    pub fn controlling(&self) -> crate::controls::Controlling<'_> {
        crate::controls::Controlling {
            tenants: self.repos.tenants.as_ref(),
            outbound: self.outbound,
            links: self.repos.links.as_ref(),
            orders: self.repos.orders.as_ref(),
            audits: self.repos.audits.as_ref(),
            queue: self.orders_queue.as_deref(),
            link_changes: self.link_changes.as_ref(),
        }
    }

    /// What the shipment routes use; a stack without a shipments queue cannot.
    pub fn accepting(&self) -> Result<Accepting<'_>> {
        let queue = self.shipments.as_deref().ok_or_else(|| {
            crate::error::Error::unavailable(
                "the shipments queue",
                "WOOLINK_SHIPMENTS_QUEUE_URL is not set",
            )
        })?;
        Ok(Accepting {
            links: self.repos.links.as_ref(),
            orders: self.repos.orders.as_ref(),
            shipments: self.repos.shipments.as_ref(),
            secrets: &self.secrets,
            woo: &self.woo,
            queue,
        })
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
            tenant_keys: self.repos.tenant_keys.as_ref(),
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

    pub fn consenting(&self) -> crate::consent::Consenting<'_> {
        crate::consent::Consenting {
            linking: self.linking(),
            tenants: self.repos.tenants.as_ref(),
            consents: self.repos.consents.as_ref(),
            secrets: &self.secrets,
            state_ttl: chrono::Duration::from_std(self.consent_ttl)
                .unwrap_or(crate::consent::STATE_TTL),
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
            tenant_keys: self.repos.tenant_keys.as_ref(),
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
    /// The slow lane's worker, when there is a slow lane.
    pub slow_lane: Option<Arc<Worker>>,
    pub catch_up: Arc<CatchUpWork>,
    pub shipments: Arc<ShipmentWorker>,
}

/// The queues one process uses: orders, their dead letters, the orders' slow lane, catch-up
/// jobs, shipments and theirs.
pub struct Queues {
    pub orders: Arc<dyn Queue>,
    pub dead_letters: Arc<dyn Queue>,
    /// Where tenants whose endpoints keep failing or answering slowly are delivered (`None`:
    /// no slow lane; every tenant stays in the orders queue).
    pub slow_lane: Option<Arc<dyn Queue>>,
    pub jobs: Arc<dyn Queue>,
    pub shipments: Arc<dyn Queue>,
    pub shipment_dead_letters: Arc<dyn Queue>,
}

impl OneProcess {
    pub fn new(
        repos: Repos,
        queues: Queues,
        config: &Config,
        settings: WorkerSettings,
    ) -> Result<Self> {
        let Queues {
            orders: queue,
            dead_letters,
            slow_lane,
            jobs,
            shipments,
            shipment_dead_letters,
        } = queues;
        let intake = Arc::new(Intake::new(
            repos.links.clone(),
            repos.tenants.clone(),
            queue.clone(),
            config,
        )?);
        let mut services = Services::new(repos.clone(), config)?;
        services.link_changes = intake.cache.clone();
        services.jobs = Some(jobs.clone());
        services.shipments = Some(shipments.clone());
        services.orders_queue = Some(queue.clone());
        let shipments = Arc::new(ShipmentWorker::from_parts(
            &repos,
            shipments,
            shipment_dead_letters,
            config,
            WorkerSettings {
                max_receives: settings.max_receives,
                backoff_base: settings.backoff_base,
                backoff_max: settings.backoff_max,
                cache_ttl: settings.cache_ttl,
                ..WorkerSettings::default()
            },
        )?);
        let catch_up = Arc::new(CatchUpWork::new(
            &repos,
            queue.clone(),
            jobs,
            config,
            CatchUpSettings {
                max_receives: config.max_receives,
                ..CatchUpSettings::default()
            },
        )?);
        let (worker, slow_worker) =
            Worker::lanes(&repos, queue, dead_letters, slow_lane, config, settings)?;
        let (worker, slow_worker) = (Arc::new(worker), slow_worker.map(Arc::new));
        Ok(Self {
            services: Arc::new(services),
            intake,
            worker,
            slow_lane: slow_worker,
            catch_up,
            shipments,
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
        let keys = crate::crypto::KeyRing::ready(config.secret_box()?);
        Ok(Self::with_keys(links, tenants, queue, config, keys))
    }

    fn with_keys(
        links: Arc<dyn Links>,
        tenants: Arc<dyn Tenants>,
        queue: Arc<dyn Queue>,
        config: &Config,
        secrets: crate::crypto::KeyRing,
    ) -> Self {
        Self {
            links,
            tenants,
            queue,
            secrets,
            cache: Arc::new(LinkCache::new(config.link_cache_ttl)),
            max_message_bytes: config.max_message_bytes,
            limit: config
                .store_intake_rate
                .map(crate::intake::IntakeLimit::new),
        }
    }

    /// The deployed intake: links from DynamoDB, messages to SQS.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Self>> {
        let keys = crate::crypto::KeyRing::ready(config.secret_box()?);
        Self::aws_with(sdk, config, keys)
    }

    fn aws_with(
        sdk: &SdkConfig,
        config: &Config,
        keys: crate::crypto::KeyRing,
    ) -> Result<Arc<Self>> {
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(sdk), config.require_queue_url()?);
        let store = dynamo_store(sdk, config);
        Ok(Arc::new(Self::with_keys(
            store.clone(),
            store,
            Arc::new(queue),
            config,
            keys,
        )))
    }

    /// The same with the application key fetched from Secrets Manager (`key_arn`) on first
    /// use, and that fetch started now, beside whatever runs next (the Lambda runtime): the
    /// cold start does not wait for it. Without an ARN, the configured key.
    pub fn aws_with_deferred_key(
        sdk: &SdkConfig,
        config: &Config,
        key_arn: Option<String>,
    ) -> Result<Arc<Self>> {
        let Some(arn) = key_arn else {
            return Self::aws(sdk, config);
        };
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        let configured = config.previous_secrets_keys.clone();
        let fetch: crate::crypto::FetchKeys = Box::new(move || {
            let (client, arn, configured) = (client.clone(), arn.clone(), configured.clone());
            Box::pin(async move {
                let (current, mut previous) = fetch_keys(&client, &arn).await?;
                previous.extend(configured);
                SecretBox::with_previous(current.expose(), &previous)
            })
        });
        let intake = Self::aws_with(sdk, config, crate::crypto::KeyRing::deferred(fetch))?;
        let early = intake.clone();
        tokio::spawn(async move {
            if let Err(e) = early.secrets.get().await {
                tracing::warn!(error = %e, "the application key could not be read yet; the first delivery that needs it will try again");
            }
        });
        Ok(intake)
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
        let (worker, _) = Self::lanes(repos, queue, dead_letters, None, config, settings)?;
        Ok(worker)
    }

    /// The orders queue's worker and, with a slow lane, the slow lane's: one HTTP client and
    /// one opened key for both (built once per cold start).
    pub fn lanes(
        repos: &Repos,
        queue: Arc<dyn Queue>,
        dead_letters: Arc<dyn Queue>,
        slow_lane: Option<Arc<dyn Queue>>,
        config: &Config,
        settings: WorkerSettings,
    ) -> Result<(Self, Option<Self>)> {
        let http = config.outbound.client(config.http_timeout)?;
        let secrets = config.secret_box()?;
        let build = |queue: Arc<dyn Queue>| {
            let ports = WorkerPorts {
                repos: WorkerRepos {
                    tenants: repos.tenants.clone(),
                    links: repos.links.clone(),
                    orders: repos.orders.clone(),
                    catalogue: repos.catalogue.clone(),
                },
                secrets: secrets.clone(),
                fulfilment: FulfilmentClient::new(http.clone(), config.outbound),
                woo: WooClient::new(http.clone(), config.outbound).with_rate(config.store_rate),
                queue,
                dead_letters: dead_letters.clone(),
                slow_lane: None,
            };
            Self::new(ports, settings.clone())
        };
        let slow = slow_lane.clone().map(|lane| build(lane).into_slow_lane());
        Ok((build(queue).with_slow_lane(slow_lane), slow))
    }

    /// The deployed worker: DynamoDB, the orders queue and its DLQ on SQS, and the slow
    /// lane's worker when the stack has one (`WOOLINK_SLOW_LANE_URL`).
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Lanes>> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue = Arc::new(SqsQueue::new(sqs.clone(), config.require_queue_url()?));
        let dlq: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs.clone(), config.require_dlq_url()?));
        let settings = WorkerSettings {
            max_receives: config.max_receives,
            retention: config.retention,
            history_retention: config.history_retention,
            ..WorkerSettings::default()
        };
        let repos = Repos::from_adapter(dynamo_store(sdk, config));
        let lane = config
            .slow_lane_url
            .as_ref()
            .map(|url| Arc::new(SqsQueue::new(sqs, url)) as Arc<dyn Queue>);
        let (main, slow) = Self::lanes(&repos, queue, dlq, lane, config, settings)?;
        let slow = config.slow_lane_url.as_deref().zip(slow);
        Ok(Arc::new(Lanes::new(main, slow)))
    }
}

impl ShipmentWorker {
    /// A shipments worker over the given repositories and queues.
    pub fn from_parts(
        repos: &Repos,
        queue: Arc<dyn Queue>,
        dead_letters: Arc<dyn Queue>,
        config: &Config,
        settings: WorkerSettings,
    ) -> Result<Self> {
        let http = config.outbound.client(config.http_timeout)?;
        Ok(Self {
            links: repos.links.clone(),
            shipments: repos.shipments.clone(),
            tenants: repos.tenants.clone(),
            secrets: config.secret_box()?,
            woo: WooClient::new(http.clone(), config.outbound).with_rate(config.store_rate),
            fulfilment: FulfilmentClient::new(http, config.outbound),
            queue,
            dead_letters,
            profiles: crate::cache::TtlCache::new(crate::shipments::PROFILE_TTL),
            targets: crate::cache::TtlCache::new(settings.cache_ttl),
            settings,
        })
    }

    /// The deployed shipments worker: DynamoDB, the shipments queue and its DLQ on SQS.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Self>> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let (queue, dlq) = config.require_shipments_queues()?;
        Ok(Arc::new(Self::from_parts(
            &Repos::from_adapter(dynamo_store(sdk, config)),
            Arc::new(SqsQueue::new(sqs.clone(), queue)),
            Arc::new(SqsQueue::new(sqs, dlq)),
            config,
            WorkerSettings {
                max_receives: config.max_receives,
                ..WorkerSettings::default()
            },
        )?))
    }
}

/// The catch-up function's parts: backfill and poll jobs from the catch-up queue, orders to
/// the orders queue (see `crate::catchup`).
pub struct CatchUpWork {
    pub repos: Repos,
    pub secrets: SecretBox,
    pub woo: WooClient,
    pub orders: Arc<dyn Queue>,
    pub jobs: Arc<dyn Queue>,
    pub max_message_bytes: usize,
    pub settings: CatchUpSettings,
}

impl CatchUpWork {
    pub fn new(
        repos: &Repos,
        orders: Arc<dyn Queue>,
        jobs: Arc<dyn Queue>,
        config: &Config,
        mut settings: CatchUpSettings,
    ) -> Result<Self> {
        let http = config.outbound.client(config.http_timeout)?;
        settings.overlap = config.poll_overlap;
        settings.pages_per_job = config.catchup_pages_per_job;
        if settings.public_base.is_none() {
            settings.public_base = config
                .webhook_base_url
                .as_ref()
                .or(config.public_url.as_ref())
                .map(|u| u.as_str().trim_end_matches('/').to_owned());
        }
        Ok(Self {
            repos: repos.clone(),
            secrets: config.secret_box()?,
            woo: WooClient::new(http, config.outbound).with_rate(config.store_rate),
            orders,
            jobs,
            max_message_bytes: config.max_message_bytes,
            settings,
        })
    }

    /// The deployed catch-up function: DynamoDB, the orders and catch-up queues on SQS.
    pub fn aws(sdk: &SdkConfig, config: &Config) -> Result<Arc<Self>> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let orders = Arc::new(SqsQueue::new(sqs.clone(), config.require_queue_url()?));
        let jobs = Arc::new(SqsQueue::new(sqs, config.require_jobs_queue_url()?));
        Ok(Arc::new(Self::new(
            &Repos::from_adapter(dynamo_store(sdk, config)),
            orders,
            jobs,
            config,
            CatchUpSettings {
                max_receives: config
                    .max_receives
                    .min(CatchUpSettings::default().max_receives),
                ..CatchUpSettings::default()
            },
        )?))
    }

    pub fn ports(&self) -> CatchUp<'_> {
        CatchUp {
            tenants: self.repos.tenants.as_ref(),
            links: self.repos.links.as_ref(),
            backfills: self.repos.backfills.as_ref(),
            reconciliations: self.repos.reconciliations.as_ref(),
            secrets: &self.secrets,
            woo: &self.woo,
            orders: self.orders.as_ref(),
            jobs: self.jobs.as_ref(),
            max_message_bytes: self.max_message_bytes,
            settings: &self.settings,
            catalogue: self.repos.catalogue.as_ref(),
            order_records: self.repos.orders.as_ref(),
            shipments: self.repos.shipments.as_ref(),
        }
    }

    /// Runs a batch of jobs one after another (each is bounded; jobs of one store must not
    /// overlap): returns the ids of the messages that must come back. A message that is not a
    /// job is dropped with a log line (it will never become one).
    pub async fn handle_batch(&self, messages: &[Received]) -> Vec<String> {
        let ports = self.ports();
        let mut failed = Vec::new();
        for message in messages {
            let job = match Job::decode(&message.body) {
                Ok(job) => job,
                Err(e) => {
                    tracing::error!(message = %message.message_id, error = %e.message(), "not a catch-up job; dropped");
                    continue;
                }
            };
            if let Err(e) = run_job(&ports, &job, message.receive_count).await {
                tracing::warn!(store = %job.store_id(), error = %e, "catch-up job failed; it will come back");
                failed.push(message.message_id.clone());
            }
        }
        failed
    }

    /// One poll job per store the poll visits (the scheduled fan-out).
    pub async fn fan_out(&self) -> Result<u64> {
        fan_out(self.repos.links.as_ref(), self.jobs.as_ref()).await
    }
}
