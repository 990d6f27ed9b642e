//! `woolink dev`: the local runner.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use woolink::admin::{self, Seed};
use woolink::config::{
    Config, DEFAULT_LINK_CACHE_TTL, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_RECEIVES,
    DEFAULT_POLL_OVERLAP, DEFAULT_RETENTION, DEFAULT_TOKEN_TTL,
};
use woolink::crypto::{SecretBox, SecretString};
use woolink::local::{Inbox, LocalRunner};
use woolink::outbound::OutboundPolicy;
use woolink::politeness::StoreRate;
use woolink::ports::Repos;
use woolink::queue::{MemoryQueue, SqsQueue};
use woolink::store::{DynamoStore, MemoryStore};
use woolink::wiring::{OneProcess, Queues};
use woolink::worker::WorkerSettings;

#[derive(clap::Args)]
pub struct DevArgs {
    /// Seed file with tenants, users and stores (default: a built-in demo tenant).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Port of the https listener on 127.0.0.1 (WooCommerce's consent callback must be
    /// https); 0 picks a free one. Default: 8443, or a free port when 8443 is taken.
    #[arg(long)]
    tls_port: Option<u16>,
    /// Where to write the https listener's certificate (PEM; made fresh at every start).
    /// Default: woolink-dev-cert-<port>.pem in the system's temporary directory.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// Public base URL used in delivery URLs (default: http://127.0.0.1:<port>).
    #[arg(long)]
    public_url: Option<String>,
    /// Use DynamoDB and SQS instead of the embedded store and queue; implied by AWS_ENDPOINT_URL.
    #[arg(long)]
    aws: bool,
    /// DynamoDB table (created if missing) when running against AWS or an emulator.
    #[arg(long, env = "WOOLINK_TABLE", default_value = "woolink-dev")]
    table: String,
    /// Seconds a received message stays invisible: how soon a message comes back after the
    /// runner died holding it (set on the queues the runner creates, and the in-memory one).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=43_200))]
    queue_visibility: u64,
    /// Minutes between reconciliation polls of every linked store with keys (the deployed
    /// stack's schedule); 0 turns the poll off.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1_440))]
    poll_minutes: u64,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

type Backend = (Repos, Queues, String);

async fn aws_backend(
    config: &Config,
    visibility: Duration,
) -> Result<Backend, Box<dyn std::error::Error>> {
    let sdk = woolink::wiring::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    DynamoStore::ensure_local_table(&client, &config.table).await?;
    let store = Arc::new(DynamoStore::new(client, config.table.clone()));
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (queue_url, dlq_url) = match (&config.queue_url, &config.dlq_url) {
        (Some(q), Some(d)) => (q.clone(), d.clone()),
        _ => {
            let name = format!("{}-orders", config.table);
            SqsQueue::create_with_dlq(&sqs, &name, visibility, DEFAULT_MAX_RECEIVES).await?
        }
    };
    let slow_lane_url = match &config.slow_lane_url {
        Some(url) => url.clone(),
        None => {
            let name = format!("{}-orders-slow", config.table);
            SqsQueue::create_redriving_to(&sqs, &name, visibility, DEFAULT_MAX_RECEIVES, &dlq_url)
                .await?
        }
    };
    let jobs_url = match &config.jobs_queue_url {
        Some(url) => url.clone(),
        None => {
            let name = format!("{}-catch-up", config.table);
            SqsQueue::create_with_dlq(&sqs, &name, visibility, DEFAULT_MAX_RECEIVES)
                .await?
                .0
        }
    };
    let (shipments_url, shipments_dlq_url) =
        match (&config.shipments_queue_url, &config.shipments_dlq_url) {
            (Some(q), Some(d)) => (q.clone(), d.clone()),
            _ => {
                let name = format!("{}-shipments", config.table);
                SqsQueue::create_with_dlq(&sqs, &name, visibility, DEFAULT_MAX_RECEIVES).await?
            }
        };
    Ok((
        Repos::from_adapter(store),
        Queues {
            orders: Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
            dead_letters: Arc::new(SqsQueue::new(sqs.clone(), dlq_url)),
            slow_lane: Some(Arc::new(SqsQueue::new(sqs.clone(), slow_lane_url))),
            jobs: Arc::new(SqsQueue::new(sqs.clone(), jobs_url)),
            shipments: Arc::new(SqsQueue::new(sqs.clone(), shipments_url)),
            shipment_dead_letters: Arc::new(SqsQueue::new(sqs, shipments_dlq_url)),
        },
        format!("DynamoDB table {}, SQS queue {queue_url}", config.table),
    ))
}

fn memory_backend(visibility: Duration) -> Backend {
    let shipments_dlq = Arc::new(MemoryQueue::new(visibility));
    let shipments_queue = Arc::new(MemoryQueue::with_dead_letter(
        visibility,
        DEFAULT_MAX_RECEIVES,
        shipments_dlq.clone(),
    ));
    let dlq = Arc::new(MemoryQueue::new(visibility));
    let queue = Arc::new(MemoryQueue::with_dead_letter(
        visibility,
        DEFAULT_MAX_RECEIVES,
        dlq.clone(),
    ));
    let slow_lane = Arc::new(MemoryQueue::with_dead_letter(
        visibility,
        DEFAULT_MAX_RECEIVES,
        dlq.clone(),
    ));
    (
        Repos::from_adapter(Arc::new(MemoryStore::new())),
        Queues {
            orders: queue,
            dead_letters: dlq,
            slow_lane: Some(slow_lane),
            jobs: Arc::new(MemoryQueue::new(visibility)),
            shipments: shipments_queue,
            shipment_dead_letters: shipments_dlq,
        },
        "in-memory store and queue (nothing leaves this process)".to_owned(),
    )
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
    let cert_path = args.tls_cert.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("woolink-dev-cert-{}.pem", addr.port()))
    });
    let tls = match args.tls_port {
        Some(port) => {
            crate::tls::TlsListener::bind(([127, 0, 0, 1], port).into(), &cert_path).await
        }
        // The default port, or any free one (several runners side by side, as the tests start).
        None => {
            match crate::tls::TlsListener::bind(([127, 0, 0, 1], 8443).into(), &cert_path).await {
                Ok(l) => Ok(l),
                Err(_) => {
                    crate::tls::TlsListener::bind(([127, 0, 0, 1], 0).into(), &cert_path).await
                }
            }
        }
    }
    .map_err(|e| format!("the https listener could not start: {e}"))?;
    let tls_addr = axum::serve::Listener::local_addr(&tls)?;
    // An https public URL (a tunnel) takes the callback too; else the local https listener.
    let callback_url = if public_url.scheme() == "https" {
        None
    } else {
        Some(url::Url::parse(&format!("https://{tls_addr}"))?)
    };
    let use_aws = args.aws || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let config = Config {
        table: args.table.clone(),
        secrets_key: SecretString::new(
            env("WOOLINK_SECRETS_KEY").unwrap_or_else(SecretBox::generate_key_base64),
        ),
        previous_secrets_keys: env("WOOLINK_SECRETS_PREVIOUS_KEYS")
            .map(|v| {
                v.split(',')
                    .map(|k| SecretString::new(k.trim().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        public_url: Some(public_url),
        webhook_base_url: None,
        callback_url,
        token_ttl: DEFAULT_TOKEN_TTL,
        consent_ttl: woolink::config::env_secs(
            "WOOLINK_CONSENT_TTL_SECS",
            woolink::config::DEFAULT_CONSENT_TTL,
        )?,
        http_timeout: Duration::from_secs(10),
        outbound: OutboundPolicy::local_development(),
        queue_url: env("WOOLINK_QUEUE_URL"),
        dlq_url: env("WOOLINK_DLQ_URL"),
        slow_lane_url: env("WOOLINK_SLOW_LANE_URL"),
        max_receives: DEFAULT_MAX_RECEIVES,
        retention: DEFAULT_RETENTION,
        history_retention: woolink::config::DEFAULT_HISTORY_RETENTION,
        link_cache_ttl: DEFAULT_LINK_CACHE_TTL,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        jobs_queue_url: env("WOOLINK_JOBS_QUEUE_URL"),
        shipments_queue_url: env("WOOLINK_SHIPMENTS_QUEUE_URL"),
        shipments_dlq_url: env("WOOLINK_SHIPMENTS_DLQ_URL"),
        store_rate: match env("WOOLINK_STORE_RATE") {
            None => StoreRate::DEFAULT,
            Some(v) => StoreRate::parse(&v).ok_or("WOOLINK_STORE_RATE must be like 5/10")?,
        },
        store_intake_rate: match env("WOOLINK_STORE_INTAKE_RATE") {
            None => None,
            Some(v) => {
                Some(StoreRate::parse(&v).ok_or("WOOLINK_STORE_INTAKE_RATE must be like 50/200")?)
            }
        },
        poll_overlap: DEFAULT_POLL_OVERLAP,
        catchup_pages_per_job: woolink::config::DEFAULT_CATCHUP_PAGES_PER_JOB,
    };
    let visibility = Duration::from_secs(args.queue_visibility);
    let (repos, queues, backend) = if use_aws {
        aws_backend(&config, visibility).await?
    } else {
        memory_backend(visibility)
    };
    let defaults = WorkerSettings::default();
    let settings = WorkerSettings {
        // A claim older than the visibility timeout belongs to an attempt that is gone.
        in_flight_window: defaults.in_flight_window.min(visibility),
        ..defaults
    };
    let queue = queues.orders.clone();
    let OneProcess {
        services,
        intake,
        worker,
        slow_lane,
        catch_up,
        shipments,
    } = OneProcess::new(repos, queues, &config, settings)?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "woolink dev: {backend}")?;
    let mut inbox = None;
    match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?;
            let report = admin::apply_seed(&services.admin(), Seed::parse(&text)?).await?;
            writeln!(
                out,
                "seed {}: {} tenant(s), {} user(s), {} store(s), {} tenant API key(s)",
                path.display(),
                report.tenants,
                report.users,
                report.stores,
                report.api_keys
            )?;
        }
        None => {
            let inbox_url = format!("{}/_local/inbox", base.trim_end_matches('/'));
            let secret = admin::new_signing_secret();
            admin::apply_seed(&services.admin(), Seed::demo(&inbox_url, &secret)).await?;
            inbox = Some(Inbox::new(secret));
            writeln!(
                out,
                "demo tenant: code {} · user {} · password {} · stores st_demo_1, st_demo_2 · API key {}",
                admin::DEMO_TENANT,
                admin::DEMO_EMAIL,
                admin::DEMO_PASSWORD,
                admin::DEMO_API_KEY
            )?;
            writeln!(
                out,
                "demo inbox: orders the tenant receives are listed at {inbox_url}"
            )?;
        }
    }
    writeln!(
        out,
        "https on https://{tls_addr} (WooCommerce's consent callback; certificate {})",
        cert_path.display()
    )?;
    writeln!(
        out,
        "connect page: http://{addr}/connect (one-click connect for merchants)"
    )?;
    // Last: scripts and tests read up to this line, then may stop reading.
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    drop(out);

    let runner = LocalRunner {
        services,
        intake,
        worker: Some(worker),
        queue,
        slow_lane,
        inbox,
        catch_up: Some(catch_up),
        shipments: Some(shipments),
        poll_every: (args.poll_minutes > 0).then(|| Duration::from_secs(args.poll_minutes * 60)),
    };
    woolink::local::serve_also(
        listener,
        runner,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        |app| crate::tls::spawn(tls, app),
    )
    .await?;
    Ok(())
}
