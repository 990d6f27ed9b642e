//! The `webhook` Lambda function: WooCommerce deliveries, verified, into the orders queue.
//! Wiring only: logs, configuration and clients are set up once per cold start.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    woolink::telemetry::init_json();
    let (sdk, config) = woolink::wiring::load_config().await?;
    let intake = woolink::intake::Intake::aws(&sdk, &config)?;
    lambda_http::run(woolink::api::webhook_app(intake)).await
}
