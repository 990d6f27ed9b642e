//! The `sync-worker` Lambda function: SQS batches of orders, delivered to the tenants.
//! Wiring only: logs, configuration and clients are set up once per cold start; the handler
//! returns only the ids of the records that must come back (ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    woolink::telemetry::init_json();
    let (sdk, config) = woolink::wiring::load_config().await?;
    let worker = woolink::worker::Worker::aws(&sdk, &config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<SqsBatchResponse, Error>(worker.handle(event.payload).await) }
    }))
    .await
}
