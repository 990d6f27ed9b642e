//! The two backends (in memory; DynamoDB and SQS on the moto server `scripts/test` starts),
//! fresh data per test, the test configuration and seed.

use super::*;

/// Quick retries and short caches, so tests see retries and changes within milliseconds.
pub fn test_worker_settings() -> WorkerSettings {
    WorkerSettings {
        max_receives: MAX_RECEIVES,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        cache_ttl: Duration::from_millis(100),
        in_flight_window: Duration::from_secs(2),
        wait_budget: Duration::from_millis(300),
        wait_retry: Duration::from_millis(50),
        pause_recheck: Duration::from_millis(200),
        gate: GateSettings {
            open_base: Duration::from_millis(100),
            open_max: Duration::from_millis(400),
            hold_max: Duration::from_secs(2),
            ..GateSettings::default()
        },
        ..WorkerSettings::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Dynamo,
}

/// Runs an async scenario against both adapters: `both_backends!(scenario);` makes
/// `scenario::memory` and `scenario::dynamo` tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$name($crate::helpers::Backend::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamo() {
                super::$name($crate::helpers::Backend::Dynamo).await
            }
        }
    )+};
}

/// The moto server started by `scripts/test` (never assumed: a clear failure when absent).
pub fn moto_endpoint() -> String {
    std::env::var("WOOLINK_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "WOOLINK_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test, \
             which starts a moto server and points the tests at it"
        )
    })
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A table name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    // moto is one Python process on the test machine: on a loaded 2-core machine it can take
    // seconds to accept a connection, past the SDK's default 3.1 s connect timeout (after
    // which a counter's ADD is given up and only logged). The tests wait for it instead.
    let patient = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(30))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .timeout_config(patient)
        .test_credentials()
        .load()
        .await
}

/// A fresh DynamoDB adapter on its own table.
pub async fn fresh_dynamo() -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&moto_sdk_config().await);
    let table = unique_name("woolink-test");
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create test table on moto");
    DynamoStore::new(client, table)
}

pub async fn repos(backend: Backend) -> Repos {
    match backend {
        Backend::Memory => Repos::from_adapter(Arc::new(MemoryStore::new())),
        Backend::Dynamo => Repos::from_adapter(Arc::new(fresh_dynamo().await)),
    }
}

pub const MAX_RECEIVES: u32 = 5;

/// A fresh orders queue (and its DLQ: messages move there after `max_receives` receives),
/// in memory, or SQS on moto.
pub async fn fresh_queue_with(
    backend: Backend,
    visibility: Duration,
    max_receives: u32,
) -> (Arc<dyn Queue>, Arc<dyn Queue>) {
    match backend {
        Backend::Memory => {
            let dlq = Arc::new(MemoryQueue::new(visibility));
            let q = Arc::new(MemoryQueue::with_dead_letter(
                visibility,
                max_receives,
                dlq.clone(),
            ));
            (q, dlq)
        }
        Backend::Dynamo => {
            let client = aws_sdk_sqs::Client::new(&moto_sdk_config().await);
            let (url, dlq_url) = SqsQueue::create_with_dlq(
                &client,
                &unique_name("orders"),
                visibility,
                max_receives,
            )
            .await
            .expect("create test queue on moto");
            (
                Arc::new(SqsQueue::new(client.clone(), url)),
                Arc::new(SqsQueue::new(client, dlq_url)),
            )
        }
    }
}

/// The orders queue, its dead-letter queue and its slow lane (redriving to the same
/// dead-letter queue), as the template makes them.
pub async fn fresh_queues_with_lane(
    backend: Backend,
    visibility: Duration,
    max_receives: u32,
) -> (Arc<dyn Queue>, Arc<dyn Queue>, Arc<dyn Queue>) {
    match backend {
        Backend::Memory => {
            let dlq = Arc::new(MemoryQueue::new(visibility));
            let q = Arc::new(MemoryQueue::with_dead_letter(
                visibility,
                max_receives,
                dlq.clone(),
            ));
            let lane = Arc::new(MemoryQueue::with_dead_letter(
                visibility,
                max_receives,
                dlq.clone(),
            ));
            (q, dlq, lane)
        }
        Backend::Dynamo => {
            let client = aws_sdk_sqs::Client::new(&moto_sdk_config().await);
            let name = unique_name("orders");
            let (url, dlq_url) =
                SqsQueue::create_with_dlq(&client, &name, visibility, max_receives)
                    .await
                    .expect("create test queue on moto");
            let lane_url = SqsQueue::create_redriving_to(
                &client,
                &format!("{name}-slow"),
                visibility,
                max_receives,
                &dlq_url,
            )
            .await
            .expect("create the slow lane on moto");
            (
                Arc::new(SqsQueue::new(client.clone(), url)),
                Arc::new(SqsQueue::new(client.clone(), dlq_url)),
                Arc::new(SqsQueue::new(client, lane_url)),
            )
        }
    }
}

pub fn test_config(public_url: &str, outbound: OutboundPolicy) -> Config {
    Config {
        table: "unused".into(),
        secrets_key: SecretString::new(SecretBox::generate_key_base64()),
        previous_secrets_keys: Vec::new(),
        public_url: Some(url::Url::parse(public_url).expect("url")),
        webhook_base_url: None,
        callback_url: None,
        token_ttl: DEFAULT_TOKEN_TTL,
        consent_ttl: woolink::config::DEFAULT_CONSENT_TTL,
        http_timeout: Duration::from_secs(5),
        outbound,
        queue_url: None,
        dlq_url: None,
        slow_lane_url: None,
        max_receives: MAX_RECEIVES,
        retention: woolink::config::DEFAULT_RETENTION,
        history_retention: woolink::config::DEFAULT_HISTORY_RETENTION,
        link_cache_ttl: DEFAULT_LINK_CACHE_TTL,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        jobs_queue_url: None,
        shipments_queue_url: None,
        shipments_dlq_url: None,
        // Fast for tests that are not about politeness (those set their own rate).
        store_rate: woolink::politeness::StoreRate {
            per_second: 10_000.0,
            burst: 10_000.0,
        },
        store_intake_rate: None,
        poll_overlap: woolink::config::DEFAULT_POLL_OVERLAP,
        catchup_pages_per_job: woolink::config::DEFAULT_CATCHUP_PAGES_PER_JOB,
    }
}

/// A fresh catch-up queue (no dead-letter queue), in memory, or SQS on moto.
pub async fn fresh_jobs_queue(backend: Backend, visibility: Duration) -> Arc<dyn Queue> {
    match backend {
        Backend::Memory => Arc::new(MemoryQueue::new(visibility)),
        Backend::Dynamo => {
            let client = aws_sdk_sqs::Client::new(&moto_sdk_config().await);
            let (url, _) =
                SqsQueue::create_with_dlq(&client, &unique_name("jobs"), visibility, 100)
                    .await
                    .expect("create test queue on moto");
            Arc::new(SqsQueue::new(client, url))
        }
    }
}

pub const DEVICE: &str = "1111111111111111111111111111111111111111111111111111111111111111";
pub const OTHER_DEVICE: &str = "2222222222222222222222222222222222222222222222222222222222222222";
pub const PASSWORD: &str = "correct horse battery staple";

/// Two tenants: ACME (stores st_a1, st_a2) and BETA (store st_b1), plus an inactive SLEEPY.
pub fn test_seed() -> Seed {
    Seed::parse(
        &json!({"tenants": [
            {"code": "ACME", "name": "Acme Couriers", "active": true,
             "users": [{"email": "ops@acme.test", "password": PASSWORD}],
             "stores": [{"id": "st_a1", "name": "Acme Shop", "customerId": "cus_a1"},
                        {"id": "st_a2", "name": "Acme Outlet", "customerId": "cus_a2"}]},
            {"code": "BETA", "name": "Beta Logistics", "active": true,
             "users": [{"email": "ops@beta.test", "password": PASSWORD}],
             "stores": [{"id": "st_b1", "name": "Beta Shop", "customerId": "cus_b1"}]},
            {"code": "SLEEPY", "name": "Sleepy Freight", "active": false,
             "users": [{"email": "ops@sleepy.test", "password": PASSWORD}],
             "stores": []}
        ]})
        .to_string(),
    )
    .expect("test seed parses")
}
