//! `woolink dev`: the local runner.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use woolink::admin::{self, Seed};
use woolink::config::{
    Config, DEFAULT_LINK_CACHE_TTL, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TOKEN_TTL,
};
use woolink::crypto::{SecretBox, SecretString};
use woolink::intake::Intake;
use woolink::outbound::OutboundPolicy;
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, SqsQueue};
use woolink::services::Services;
use woolink::store::{DynamoStore, MemoryStore};

/// Like the deployed queue: messages come back 60 s after a failed attempt, and move to the
/// dead-letter queue after 5 receives.
const QUEUE_VISIBILITY: Duration = Duration::from_secs(60);
const MAX_RECEIVES: u32 = 5;

#[derive(clap::Args)]
pub struct DevArgs {
    /// Seed file with tenants, users and stores (default: a built-in demo tenant).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Public base URL used in delivery URLs (default: http://127.0.0.1:<port>).
    #[arg(long)]
    public_url: Option<String>,
    /// Use DynamoDB (and later SQS) instead of the embedded store; implied by AWS_ENDPOINT_URL.
    #[arg(long)]
    aws: bool,
    /// DynamoDB table (created if missing) when running against AWS or an emulator.
    #[arg(long, env = "WOOLINK_TABLE", default_value = "woolink-dev")]
    table: String,
}

pub async fn run(args: DevArgs) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    let addr = listener.local_addr()?;
    let base = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let public_url =
        url::Url::parse(&base).map_err(|_| format!("--public-url {base} is not a URL"))?;
    let use_aws = args.aws || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let secrets_key = std::env::var("WOOLINK_SECRETS_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(SecretBox::generate_key_base64);
    let config = Config {
        table: args.table.clone(),
        secrets_key: SecretString::new(secrets_key),
        public_url: Some(public_url),
        token_ttl: DEFAULT_TOKEN_TTL,
        http_timeout: Duration::from_secs(10),
        outbound: OutboundPolicy::local_development(),
        queue_url: std::env::var("WOOLINK_QUEUE_URL")
            .ok()
            .filter(|u| !u.is_empty()),
        link_cache_ttl: DEFAULT_LINK_CACHE_TTL,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
    };
    let (svc, intake, queue_name) = if use_aws {
        let sdk = woolink::services::sdk_config().await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        DynamoStore::ensure_table(&client, &args.table).await?;
        let store = Arc::new(DynamoStore::new(client, args.table.clone()));
        let queue_url = match &config.queue_url {
            Some(url) => url.clone(),
            None => {
                let sqs = aws_sdk_sqs::Client::new(&sdk);
                let name = format!("{}-orders", args.table);
                SqsQueue::create_with_dlq(&sqs, &name, QUEUE_VISIBILITY, MAX_RECEIVES)
                    .await?
                    .0
            }
        };
        let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &queue_url));
        let svc = Arc::new(Services::new(Repos::from_adapter(store.clone()), &config)?);
        let intake = Arc::new(Intake::new(store, queue, &config)?);
        (svc, intake, format!("SQS queue {queue_url}"))
    } else {
        let store = Arc::new(MemoryStore::new());
        let dlq = Arc::new(MemoryQueue::new(QUEUE_VISIBILITY));
        let queue = Arc::new(MemoryQueue::with_dead_letter(
            QUEUE_VISIBILITY,
            MAX_RECEIVES,
            dlq,
        ));
        let svc = Arc::new(Services::new(Repos::from_adapter(store.clone()), &config)?);
        let intake = Arc::new(Intake::new(store, queue, &config)?);
        (svc, intake, "in-memory queue".to_owned())
    };

    let mut out = std::io::stdout().lock();
    let backend = if use_aws {
        format!("DynamoDB table {}", args.table)
    } else {
        "in-memory store (nothing leaves this process)".to_owned()
    };
    writeln!(out, "woolink dev: {backend}, {queue_name}")?;
    match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?;
            let report = admin::apply_seed(&svc, Seed::parse(&text)?).await?;
            writeln!(
                out,
                "seed {}: {} tenant(s), {} user(s), {} store(s)",
                path.display(),
                report.tenants,
                report.users,
                report.stores
            )?;
        }
        None => {
            let inbox = format!("{}/_local/inbox", base.trim_end_matches('/'));
            let secret = admin::new_signing_secret();
            admin::apply_seed(&svc, Seed::demo(&inbox, &secret)).await?;
            writeln!(
                out,
                "demo tenant: code {} · user {} · password {} · stores st_demo_1, st_demo_2",
                admin::DEMO_TENANT,
                admin::DEMO_EMAIL,
                admin::DEMO_PASSWORD
            )?;
        }
    }
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    drop(out);

    woolink::local::serve(listener, svc, intake, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
