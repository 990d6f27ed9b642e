//! What the benchmarks share.

use std::sync::{Arc, Mutex};

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
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    (ddb, sqs)
}
