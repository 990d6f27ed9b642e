//! Configuration, parsed once at start-up (cold start) from the environment.

use std::time::Duration;

use url::Url;

use crate::crypto::SecretString;
use crate::error::{Error, Result};
use crate::outbound::OutboundPolicy;

/// Everything a function or the local runner needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct Config {
    /// DynamoDB table holding every item (`WOOLINK_TABLE`).
    pub table: String,
    /// Base64 of the 32-byte application key for sealed secrets (`WOOLINK_SECRETS_KEY`).
    pub secrets_key: SecretString,
    /// Keys that sealed values may still be under during a rotation, opened but never used to
    /// seal (`WOOLINK_SECRETS_PREVIOUS_KEYS`, comma-separated; with Secrets Manager, the
    /// secret's AWSPREVIOUS and AWSPENDING versions).
    pub previous_secrets_keys: Vec<SecretString>,
    /// Public base URL of the HTTP API, for delivery URLs (`WOOLINK_PUBLIC_URL`); when absent,
    /// taken from the request's `Host` (API Gateway sets it to the API's domain).
    pub public_url: Option<Url>,
    /// Where WooCommerce delivers the stores' webhooks, when not at the public URL
    /// (`WOOLINK_WEBHOOK_BASE_URL`): the webhook function's own URL when the intake runs on a
    /// Lambda function URL (template `IntakeEndpoint: function-url`).
    pub webhook_base_url: Option<Url>,
    /// The https base WooCommerce's consent callback is sent to (`WOOLINK_CALLBACK_URL`;
    /// default: the public base). `woolink dev` sets it to its own https listener, since
    /// WooCommerce refuses a `callback_url` that is not https.
    pub callback_url: Option<Url>,
    /// Lifetime of login tokens (`WOOLINK_TOKEN_TTL_SECS`, default 900).
    pub token_ttl: Duration,
    /// How long a merchant has to approve woolink in their shop after leaving the connect
    /// page (`WOOLINK_CONSENT_TTL_SECS`, default 1800).
    pub consent_ttl: Duration,
    /// Timeout of calls to stores and tenant endpoints (`WOOLINK_HTTP_TIMEOUT_SECS`, default 10).
    pub http_timeout: Duration,
    /// Where outbound calls may go. Always public-only outside the local runner.
    pub outbound: OutboundPolicy,
    /// The orders queue (`WOOLINK_QUEUE_URL`); required by the webhook and worker functions.
    pub queue_url: Option<String>,
    /// Its dead-letter queue (`WOOLINK_DLQ_URL`); the worker parks refused orders there.
    pub dlq_url: Option<String>,
    /// The orders' slow lane (`WOOLINK_SLOW_LANE_URL`): where the worker sends a tenant whose
    /// endpoint keeps failing or answering slowly; unset, there is none.
    pub slow_lane_url: Option<String>,
    /// The queue's `maxReceiveCount` (`WOOLINK_MAX_RECEIVES`, default 16).
    pub max_receives: u32,
    /// How long a disconnected store's order records are kept (`WOOLINK_RETENTION_DAYS`,
    /// default 30).
    pub retention: Duration,
    /// How long an order's history (`crate::timeline`) is kept, and a finished order's record
    /// after its last change (`WOOLINK_ORDER_RETENTION_DAYS`, default 90).
    pub history_retention: Duration,
    /// How long the intake trusts a cached link (`WOOLINK_LINK_CACHE_SECS`, default 5): the
    /// longest a disconnect or secret rotation takes to be seen.
    pub link_cache_ttl: Duration,
    /// The queue's maximum message size (`WOOLINK_MAX_MESSAGE_BYTES`, default 1 MiB, as the
    /// template configures the queue).
    pub max_message_bytes: usize,
    /// The catch-up queue (`WOOLINK_JOBS_QUEUE_URL`): backfill and poll jobs. Without it the
    /// backfill route answers 503.
    pub jobs_queue_url: Option<String>,
    /// The shipments queue (`WOOLINK_SHIPMENTS_QUEUE_URL`): tenant shipments to write to
    /// stores. Without it the shipment routes answer 503.
    pub shipments_queue_url: Option<String>,
    /// Its dead-letter queue (`WOOLINK_SHIPMENTS_DLQ_URL`), for the shipments worker.
    pub shipments_dlq_url: Option<String>,
    /// Calls per second and burst to one store (`WOOLINK_STORE_RATE`, `5/10`).
    pub store_rate: crate::politeness::StoreRate,
    /// Verified deliveries per second and burst one store may make to one intake instance
    /// (`WOOLINK_STORE_INTAKE_RATE`, e.g. `50/200`); past it, 429. None: no limit.
    pub store_intake_rate: Option<crate::politeness::StoreRate>,
    /// How far before its watermark a poll reads again (`WOOLINK_POLL_OVERLAP_SECS`, 120).
    pub poll_overlap: Duration,
    /// Store pages (100 orders each) one catch-up job reads before it hands on to the next
    /// (`WOOLINK_CATCHUP_PAGES_PER_JOB`, 50: well inside the function's timeout).
    pub catchup_pages_per_job: u32,
}

/// A number of days (1-3650) from the environment.
fn env_days(name: &str, default: Duration) -> Result<Duration> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .map(|d| Duration::from_secs(d * 86_400))
            .ok_or_else(|| Error::internal(format!("{name} must be 1-3650"))),
    }
}

/// How long a connect state is accepted (`crate::consent`).
pub const DEFAULT_CONSENT_TTL: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_LINK_CACHE_TTL: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Receives before a message is parked in the dead-letter queue. With the worker's backoff
/// (10 s doubling to 15 min) 16 receives let a tenant be down for about 2 h 20 min, and a
/// tenant failing 35 % of requests loses nothing to the DLQ (0.35^16 ≈ 5e-8 per version).
pub const DEFAULT_MAX_RECEIVES: u32 = 16;
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
pub const DEFAULT_HISTORY_RETENTION: Duration = Duration::from_secs(90 * 86_400);

pub const DEFAULT_POLL_OVERLAP: Duration = Duration::from_secs(120);
pub const DEFAULT_CATCHUP_PAGES_PER_JOB: u32 = 50;

pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn env_secs(name: &str, default: Duration) -> Result<Duration> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| Error::internal(format!("{name} must be a positive number of seconds"))),
    }
}

impl Config {
    /// Whether the application key itself was given (`WOOLINK_SECRETS_KEY`).
    pub fn secrets_key_given(&self) -> bool {
        !self.secrets_key.expose().is_empty()
    }

    /// Where to fetch the application key from, when it is not given directly.
    pub fn secrets_key_arn() -> Option<String> {
        env("WOOLINK_SECRETS_KEY")
            .is_none()
            .then(|| env("WOOLINK_SECRETS_KEY_ARN"))
            .flatten()
    }

    /// The dead-letter queue URL, for the worker.
    pub fn require_dlq_url(&self) -> Result<&str> {
        self.dlq_url
            .as_deref()
            .ok_or_else(|| Error::internal("WOOLINK_DLQ_URL is not set"))
    }

    /// The catch-up queue URL, for the functions that cannot run without one.
    pub fn require_jobs_queue_url(&self) -> Result<&str> {
        self.jobs_queue_url
            .as_deref()
            .ok_or_else(|| Error::internal("WOOLINK_JOBS_QUEUE_URL is not set"))
    }

    /// The shipments queue and its dead-letter queue, for the shipments worker.
    pub fn require_shipments_queues(&self) -> Result<(&str, &str)> {
        let queue = self
            .shipments_queue_url
            .as_deref()
            .ok_or_else(|| Error::internal("WOOLINK_SHIPMENTS_QUEUE_URL is not set"))?;
        let dlq = self
            .shipments_dlq_url
            .as_deref()
            .ok_or_else(|| Error::internal("WOOLINK_SHIPMENTS_DLQ_URL is not set"))?;
        Ok((queue, dlq))
    }

    /// The queue URL, for functions that cannot run without one.
    pub fn require_queue_url(&self) -> Result<&str> {
        self.queue_url
            .as_deref()
            .ok_or_else(|| Error::internal("WOOLINK_QUEUE_URL is not set"))
    }

    /// The application keys: the current one, and the previous ones during a rotation.
    pub fn secret_box(&self) -> Result<crate::crypto::SecretBox> {
        crate::crypto::SecretBox::with_previous(
            self.secrets_key.expose(),
            &self.previous_secrets_keys,
        )
    }

    /// The configuration from the environment. The application key comes from
    /// `WOOLINK_SECRETS_KEY`, or is to be fetched from `WOOLINK_SECRETS_KEY_ARN` (Secrets
    /// Manager) by `services::load_config` before use.
    pub fn from_env() -> Result<Self> {
        Self::from_env_with(None)
    }

    /// The same, with the application key's ARN given by the caller when the environment
    /// names none (the CLI reads it from the stack's outputs).
    pub fn from_env_with(key_arn: Option<&str>) -> Result<Self> {
        let arn = env("WOOLINK_SECRETS_KEY_ARN").or_else(|| key_arn.map(str::to_owned));
        let secrets_key = match (env("WOOLINK_SECRETS_KEY"), arn) {
            (Some(key), _) => SecretString::new(key),
            (None, Some(_)) => SecretString::new(String::new()),
            (None, None) => {
                return Err(Error::internal(
                    "neither WOOLINK_SECRETS_KEY nor WOOLINK_SECRETS_KEY_ARN is set",
                ))
            }
        };
        let public_url = env("WOOLINK_PUBLIC_URL")
            .map(|u| Url::parse(&u))
            .transpose()
            .map_err(|_| Error::internal("WOOLINK_PUBLIC_URL is not a URL"))?;
        let webhook_base_url = env("WOOLINK_WEBHOOK_BASE_URL")
            .map(|u| Url::parse(&u))
            .transpose()
            .map_err(|_| Error::internal("WOOLINK_WEBHOOK_BASE_URL is not a URL"))?;
        let callback_url = env("WOOLINK_CALLBACK_URL")
            .map(|u| Url::parse(&u))
            .transpose()
            .map_err(|_| Error::internal("WOOLINK_CALLBACK_URL is not a URL"))?;
        Ok(Self {
            table: env("WOOLINK_TABLE").unwrap_or_else(|| "woolink".to_owned()),
            secrets_key,
            previous_secrets_keys: env("WOOLINK_SECRETS_PREVIOUS_KEYS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(|k| SecretString::new(k.to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            public_url,
            webhook_base_url,
            callback_url,
            token_ttl: env_secs("WOOLINK_TOKEN_TTL_SECS", DEFAULT_TOKEN_TTL)?,
            consent_ttl: env_secs("WOOLINK_CONSENT_TTL_SECS", DEFAULT_CONSENT_TTL)?,
            http_timeout: env_secs("WOOLINK_HTTP_TIMEOUT_SECS", Duration::from_secs(10))?,
            outbound: OutboundPolicy::public_only(),
            queue_url: env("WOOLINK_QUEUE_URL"),
            dlq_url: env("WOOLINK_DLQ_URL"),
            slow_lane_url: env("WOOLINK_SLOW_LANE_URL"),
            max_receives: match env("WOOLINK_MAX_RECEIVES") {
                None => DEFAULT_MAX_RECEIVES,
                Some(v) => v.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    Error::internal("WOOLINK_MAX_RECEIVES must be a positive number")
                })?,
            },
            link_cache_ttl: env_secs("WOOLINK_LINK_CACHE_SECS", DEFAULT_LINK_CACHE_TTL)?,
            retention: env_days("WOOLINK_RETENTION_DAYS", DEFAULT_RETENTION)?,
            history_retention: env_days("WOOLINK_ORDER_RETENTION_DAYS", DEFAULT_HISTORY_RETENTION)?,
            max_message_bytes: match env("WOOLINK_MAX_MESSAGE_BYTES") {
                None => DEFAULT_MAX_MESSAGE_BYTES,
                Some(v) => v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1024)
                    .ok_or_else(|| {
                        Error::internal("WOOLINK_MAX_MESSAGE_BYTES must be a number ≥ 1024")
                    })?,
            },
            jobs_queue_url: env("WOOLINK_JOBS_QUEUE_URL"),
            shipments_queue_url: env("WOOLINK_SHIPMENTS_QUEUE_URL"),
            shipments_dlq_url: env("WOOLINK_SHIPMENTS_DLQ_URL"),
            store_rate: match env("WOOLINK_STORE_RATE") {
                None => crate::politeness::StoreRate::DEFAULT,
                Some(v) => crate::politeness::StoreRate::parse(&v).ok_or_else(|| {
                    Error::internal("WOOLINK_STORE_RATE must be `per-second` or `per-second/burst`")
                })?,
            },
            store_intake_rate: match env("WOOLINK_STORE_INTAKE_RATE") {
                None => None,
                Some(v) => Some(crate::politeness::StoreRate::parse(&v).ok_or_else(|| {
                    Error::internal(
                        "WOOLINK_STORE_INTAKE_RATE must be `per-second` or `per-second/burst`",
                    )
                })?),
            },
            poll_overlap: env_secs("WOOLINK_POLL_OVERLAP_SECS", DEFAULT_POLL_OVERLAP)?,
            catchup_pages_per_job: match env("WOOLINK_CATCHUP_PAGES_PER_JOB") {
                None => DEFAULT_CATCHUP_PAGES_PER_JOB,
                Some(v) => v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=1_000).contains(n))
                    .ok_or_else(|| {
                        Error::internal("WOOLINK_CATCHUP_PAGES_PER_JOB must be 1-1000")
                    })?,
            },
        })
    }
}
