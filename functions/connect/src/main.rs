//! The `connect` Lambda function: onboarding routes (resolve, login, stores, link, store status).
//! Wiring only: logs, configuration and clients are set up once per cold start.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    woolink::telemetry::init_json();
    let (sdk, config) = woolink::wiring::load_config().await?;
    let services = woolink::wiring::Services::aws(&sdk, &config)?;
    lambda_http::run(woolink::api::connect_app(services)).await
}
