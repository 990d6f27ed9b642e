//! The `shipment-worker` Lambda function: SQS batches of shipment jobs, each writing one
//! tenant shipment to its store (or removing one), then telling the tenant. Wiring only; the
//! handler returns the ids of the jobs that must come back (ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    woolink::telemetry::init_json();
    let (sdk, config) = woolink::wiring::load_config().await?;
    let worker = woolink::shipments::ShipmentWorker::aws(&sdk, &config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move {
            let messages = woolink::sqs_batch::received(event.payload);
            let failed = worker.handle_batch(&messages).await;
            Ok::<SqsBatchResponse, Error>(woolink::sqs_batch::response(failed))
        }
    }))
    .await
}
