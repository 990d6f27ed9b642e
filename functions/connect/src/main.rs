//! The `connect` Lambda function: onboarding routes (resolve, login, stores, link, store status).
//! Wiring only: logs, configuration and clients are set up once per cold start.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    woolink::telemetry::init_json();
    let config = woolink::config::Config::from_env()?;
    let services = woolink::services::Services::aws(&config).await?;
    lambda_http::run(woolink::api::connect_app(services)).await
}
