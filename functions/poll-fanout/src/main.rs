//! The `poll-fanout` Lambda function, run by EventBridge Scheduler: one poll job per linked
//! store that holds WooCommerce keys, read from an index, sent to the catch-up queue. Wiring
//! only; the event's content is not used.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    woolink::telemetry::init_json();
    let (sdk, config) = woolink::wiring::load_config().await?;
    let work = woolink::wiring::CatchUpWork::aws(&sdk, &config)?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let work = work.clone();
        async move {
            let stores = work.fan_out().await?;
            Ok::<serde_json::Value, Error>(serde_json::json!({ "stores": stores }))
        }
    }))
    .await
}
