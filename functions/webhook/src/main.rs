//! The `webhook` Lambda function: WooCommerce deliveries, verified, into the orders queue.
//! Wiring only: logs, configuration and clients are set up once per cold start; the
//! application key is read from Secrets Manager beside the runtime, not before it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    woolink::telemetry::init_json();
    let (sdk, config, key_arn) = woolink::wiring::load_config_deferred().await?;
    let intake = woolink::intake::Intake::aws_with_deferred_key(&sdk, &config, key_arn)?;
    lambda_http::run(woolink::api::webhook_app(intake)).await
}
