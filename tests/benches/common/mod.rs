//! What the benchmarks share.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `p` quantile of `sorted` (nearest rank); zero for none.
#[allow(dead_code)]
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The docs' REST v3 order (3.3 KB), the benchmarks' sample order.
#[allow(dead_code)]
pub fn sample_order() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/woocommerce/docs-v3-order-retrieve-response.json"
        ))
        .expect("fixture"),
    )
    .expect("json")
}

/// A number from the environment, or `default`.
#[allow(dead_code)]
pub fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Counts the AWS calls a client makes, by `service.operation`.
#[derive(Debug, Default, Clone)]
pub struct CallCounter(pub Arc<Mutex<std::collections::BTreeMap<String, u64>>>);

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }
    /// Once per HTTP attempt (so SDK retries are counted too, as AWS bills them).
    fn read_before_transmit(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if let Some(m) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            // The SDK's own retries (of a throttled or failed attempt) are counted apart, so
            // the calls the code makes can be told from what a saturated server caused.
            let retry = cfg
                .load::<aws_smithy_runtime_api::client::retries::RequestAttempts>()
                .is_some_and(|a| a.attempts() > 1);
            let suffix = if retry { " (SDK retry)" } else { "" };
            *self
                .0
                .lock()
                .expect("lock")
                .entry(format!("{}.{}{suffix}", m.service(), m.name()))
                .or_default() += 1;
        }
        Ok(())
    }
}

impl CallCounter {
    /// The counts so far.
    #[allow(dead_code)]
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, u64> {
        self.0.lock().expect("lock").clone()
    }
}

/// DynamoDB and SQS clients for the moto server at `WOOLINK_TEST_MOTO_ENDPOINT`, each call
/// counted by `counter`.
#[allow(dead_code)]
pub async fn moto_clients(
    counter: &CallCounter,
) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let endpoint = std::env::var("WOOLINK_TEST_MOTO_ENDPOINT")
        .expect("WOOLINK_TEST_MOTO_ENDPOINT for the moto backend");
    let sdk = moto_sdk(&endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    (ddb, sqs_client(&sdk, counter))
}

/// An SQS client of a moto server at `endpoint` (a second server, for a queue that must not
/// share the first one's CPU).
#[allow(dead_code)]
pub async fn moto_sqs_at(endpoint: &str, counter: &CallCounter) -> aws_sdk_sqs::Client {
    sqs_client(&moto_sdk(endpoint).await, counter)
}

async fn moto_sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

fn sqs_client(sdk: &aws_config::SdkConfig, counter: &CallCounter) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(counter.clone())
            .build(),
    )
}

/// The benchmarks' configuration: a fresh application key, the local runner's outbound policy
/// (stores on loopback), the template's limits, and `store_rate` to each store.
#[allow(dead_code)]
pub fn bench_config(store_rate: woolink::politeness::StoreRate) -> woolink::config::Config {
    use woolink::crypto::{SecretBox, SecretString};
    woolink::config::Config {
        table: "bench".into(),
        secrets_key: SecretString::new(SecretBox::generate_key_base64()),
        previous_secrets_keys: Vec::new(),
        public_url: None,
        webhook_base_url: None,
        callback_url: None,
        token_ttl: woolink::config::DEFAULT_TOKEN_TTL,
        consent_ttl: woolink::config::DEFAULT_CONSENT_TTL,
        http_timeout: std::time::Duration::from_secs(10),
        outbound: woolink::outbound::OutboundPolicy::local_development(),
        queue_url: None,
        dlq_url: None,
        slow_lane_url: None,
        max_receives: 16,
        retention: woolink::config::DEFAULT_RETENTION,
        history_retention: woolink::config::DEFAULT_HISTORY_RETENTION,
        link_cache_ttl: woolink::config::DEFAULT_LINK_CACHE_TTL,
        max_message_bytes: woolink::config::DEFAULT_MAX_MESSAGE_BYTES,
        jobs_queue_url: None,
        shipments_queue_url: None,
        shipments_dlq_url: None,
        store_rate,
        store_intake_rate: None,
        poll_overlap: woolink::config::DEFAULT_POLL_OVERLAP,
        // The template's value.
        catchup_pages_per_job: 20,
    }
}

/// Tenant BENCH's store `st_bench` at `store_url`, connected with WooCommerce keys and
/// woolink's four webhooks, sealed with `secrets`.
#[allow(dead_code)]
pub fn bench_link(secrets: &woolink::crypto::SecretBox, store_url: &str) -> woolink::model::Link {
    use woolink::domain::{CustomerId, DeviceId, StoreId, StoreUrl, TenantCode, TriggerStatus};
    use woolink::secrets::{seal, Sealing};
    let store = StoreId::parse("st_bench").expect("id");
    let now = chrono::Utc::now();
    woolink::model::Link {
        store_id: store.clone(),
        tenant: TenantCode::parse("BENCH").expect("code"),
        customer_id: CustomerId::parse("cus_bench").expect("customer"),
        store_url: StoreUrl::parse(store_url).expect("url"),
        device_id: DeviceId::parse(&"ab".repeat(32)).expect("device"),
        status: woolink::model::LinkStatus::Connected,
        trigger_statuses: TriggerStatus::defaults(),
        webhook_secret: Some(seal(secrets, "whsec", Sealing::Webhook(&store)).expect("seal")),
        previous_webhook_secret: None,
        previous_secret_until: None,
        api_key_hash: Some(woolink::crypto::issue_credential("wlk_").hash),
        revoked_api_key_hash: None,
        woo_keys: Some(woolink::model::WooKeys {
            consumer_key: seal(secrets, "ck_bench", Sealing::WooKey(&store)).expect("seal"),
            consumer_secret: seal(secrets, "cs_bench", Sealing::WooSecret(&store)).expect("seal"),
        }),
        webhook_ids: vec![1, 2, 3, 4],
        linked_at: now,
        updated_at: now,
        disconnected_at: None,
        paused_at: None,
        revision: 1,
    }
}

/// Stores tenant BENCH (active, with `fulfilment` when given) and `link`.
#[allow(dead_code)]
pub async fn install(
    repos: &woolink::ports::Repos,
    link: &woolink::model::Link,
    fulfilment: Option<woolink::model::Fulfilment>,
) {
    repos
        .tenants
        .put_tenant(&woolink::model::Tenant {
            code: link.tenant.clone(),
            name: "Bench".into(),
            active: true,
            fulfilment,
            document: woolink::model::DocumentSettings::current(),
        })
        .await
        .expect("tenant");
    repos.links.save_link(link, None).await.expect("link");
}
