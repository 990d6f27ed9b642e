//! The `catch-up` Lambda function: SQS batches of catch-up jobs (backfill steps, store polls),
//! each bounded, a job that did not finish sending its own continuation. Wiring only; the
//! handler returns the ids of the jobs that must come back (ReportBatchItemFailures).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    woolink::telemetry::init_json();
    let (sdk, config) = woolink::wiring::load_config().await?;
    let work = woolink::wiring::CatchUpWork::aws(&sdk, &config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let work = work.clone();
        async move {
            let messages = woolink::sqs_batch::received(event.payload);
            let failed = work.handle_batch(&messages).await;
            Ok::<SqsBatchResponse, Error>(woolink::sqs_batch::response(failed))
        }
    }))
    .await
}
