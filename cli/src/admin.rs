//! Operator commands against a deployed stack's DynamoDB table (or any endpoint named by
//! `AWS_ENDPOINT_URL`). Every command is idempotent and prints one JSON line.

use std::io::BufRead as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use woolink::admin::{self, Seed, TenantSpec};
use woolink::crypto::SecretString;
use woolink::domain::{CustomerId, Email, Password, StoreId, TenantCode};
use woolink::ports::Written;
use woolink::wiring::Services;

type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(clap::Args)]
pub struct Target {
    /// DynamoDB table of the stack.
    #[arg(long, env = "WOOLINK_TABLE", default_value = "woolink")]
    table: String,
}

impl Target {
    /// Needs `WOOLINK_SECRETS_KEY` (the stack's application key) to seal tenant secrets.
    async fn services(&self) -> Result<Arc<Services>, Box<dyn std::error::Error>> {
        let (sdk, mut config) = woolink::wiring::load_config().await?;
        config.table = self.table.clone();
        Ok(Services::aws(&sdk, &config)?)
    }
}

fn written(w: Written) -> &'static str {
    match w {
        Written::Created => "created",
        Written::Updated => "updated",
        Written::Unchanged => "unchanged",
    }
}

#[derive(clap::Subcommand)]
pub enum TenantCommand {
    /// Create or update a tenant. Without --fulfilment-secret a new one is generated and printed once.
    Create {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        inactive: bool,
        #[arg(long)]
        fulfilment_url: Option<String>,
        /// whsec_… secret; read from WOOLINK_FULFILMENT_SECRET when set.
        #[arg(long, env = "WOOLINK_FULFILMENT_SECRET", hide_env_values = true)]
        fulfilment_secret: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Switch the tenant's order document: its version (new tenants get 2; tenants created
    /// before version 2 keep 1 until switched), the payment methods that mean cash on
    /// delivery, and the order meta keys passed through. What is not given is kept.
    Document {
        /// The tenant's code.
        #[arg(long)]
        tenant: String,
        /// 1 or 2.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        version: Option<u8>,
        /// Comma-separated payment method ids that mean cash on delivery besides `cod`
        /// (an empty value clears them).
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        cod_methods: Option<Vec<String>>,
        /// Comma-separated order meta keys passed through in `meta` (an empty value clears them).
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        order_meta_keys: Option<Vec<String>>,
        #[command(flatten)]
        target: Target,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// The tenant's machine credentials (wlt_…) for its own systems.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
}

#[derive(clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key with the given scopes; the key is printed once and stored only as a hash.
    Create {
        /// The tenant's code.
        #[arg(long)]
        tenant: String,
        /// Comma-separated: stores:read, orders:read, shipments:write, shipments:read, inventory:write,
        /// stores:write, orders:write.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List the tenant's keys: ids, scopes, created, last used, revoked (never the keys).
    List {
        /// The tenant's code.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a key by its id (from then on it authorises nothing).
    Revoke {
        /// The tenant's code.
        #[arg(long)]
        tenant: String,
        /// The key's id (`tk_…`, from `create` or `list`).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

fn key_json(k: &woolink::model::TenantApiKey) -> serde_json::Value {
    json!({"id": k.id, "tenant": k.tenant, "scopes": k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "createdAt": k.created_at.to_rfc3339(), "lastUsedAt": k.last_used_at.map(|t| t.to_rfc3339()),
        "revokedAt": k.revoked_at.map(|t| t.to_rfc3339())})
}

async fn api_key(cmd: ApiKeyCommand) -> CliResult {
    match cmd {
        ApiKeyCommand::Create {
            tenant,
            scope,
            target,
        } => {
            let tenant = TenantCode::parse(&tenant)?;
            let scopes = woolink::domain::Scope::parse_list(&scope)?;
            let svc = target.services().await?;
            let (plain, key) = admin::create_tenant_key(&svc.admin(), &tenant, &scopes).await?;
            let mut out = key_json(&key);
            out["key"] = json!(plain.expose());
            println!("{out}");
        }
        ApiKeyCommand::List { tenant, target } => {
            let tenant = TenantCode::parse(&tenant)?;
            let svc = target.services().await?;
            let keys = admin::list_tenant_keys(&svc.admin(), &tenant).await?;
            println!(
                "{}",
                json!({"tenant": tenant, "keys": keys.iter().map(key_json).collect::<Vec<_>>()})
            );
        }
        ApiKeyCommand::Revoke { tenant, id, target } => {
            let tenant = TenantCode::parse(&tenant)?;
            let svc = target.services().await?;
            let key = admin::revoke_tenant_key(&svc.admin(), &tenant, &id).await?;
            println!("{}", key_json(&key));
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a user or change its password. The password comes from WOOLINK_USER_PASSWORD or stdin.
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(clap::Subcommand)]
pub enum StoreCommand {
    /// Disconnect a store's link: revoke its key and secrets, delete woolink's webhooks on
    /// the store, erase the WooCommerce keys; order records expire (or --purge them now).
    Disconnect {
        #[arg(long)]
        id: String,
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Erase a store's order records now.
    Purge {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Backfill a linked store's existing orders (it must hold WooCommerce keys): counts them
    /// with --dry-run, else starts a run that the catch-up function carries out; --wait shows
    /// its progress on stderr until it ends. Needs WOOLINK_JOBS_QUEUE_URL (the stack's
    /// CatchUpQueueUrl output).
    Backfill {
        /// The store's id.
        #[arg(long)]
        id: String,
        /// WooCommerce statuses, comma-separated (default: the link's trigger statuses).
        #[arg(long, value_delimiter = ',')]
        statuses: Option<Vec<String>>,
        /// Only orders created after this time (RFC 3339, or YYYY-MM-DDTHH:MM:SS in GMT).
        #[arg(long)]
        created_after: Option<String>,
        /// Only orders created before this time.
        #[arg(long)]
        created_before: Option<String>,
        /// Count the matching orders; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Wait for the run to end, showing progress on stderr.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Add a merchant store to a tenant (or rename it).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        customer_id: String,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn seed(file: &Path, target: &Target) -> CliResult {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read seed file {}: {e}", file.display()))?;
    let seed = Seed::parse(&text)?;
    let svc = target.services().await?;
    let r = admin::apply_seed(&svc.admin(), seed).await?;
    println!(
        "{}",
        json!({"tenants": r.tenants, "users": r.users, "stores": r.stores, "apiKeys": r.api_keys})
    );
    Ok(())
}

pub async fn tenant(cmd: TenantCommand) -> CliResult {
    match cmd {
        TenantCommand::Create {
            code,
            name,
            inactive,
            fulfilment_url,
            fulfilment_secret,
            target,
        } => {
            let code = TenantCode::parse(&code)?;
            let mut generated = None;
            let fulfilment = match (fulfilment_url, fulfilment_secret) {
                (None, None) => None,
                (None, Some(_)) => return Err("--fulfilment-secret needs --fulfilment-url".into()),
                (Some(url), Some(secret)) => Some((url, SecretString::new(secret))),
                (Some(url), None) => {
                    let secret = admin::new_signing_secret();
                    generated = Some(secret.expose().to_owned());
                    Some((url, secret))
                }
            };
            let svc = target.services().await?;
            let w = admin::put_tenant(
                &svc.admin(),
                TenantSpec {
                    code: code.clone(),
                    name,
                    active: !inactive,
                    fulfilment,
                    document: None,
                },
            )
            .await?;
            let mut out = json!({"tenant": code, "result": written(w)});
            if let Some(secret) = generated {
                out["fulfilmentSecret"] = json!(secret);
            }
            println!("{out}");
            Ok(())
        }
        TenantCommand::ApiKey(c) => api_key(c).await,
        TenantCommand::Document {
            tenant,
            version,
            cod_methods,
            order_meta_keys,
            target,
        } => {
            let tenant = TenantCode::parse(&tenant)?;
            let clean = |v: Option<Vec<String>>| {
                v.map(|v| {
                    v.into_iter()
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                })
            };
            let changes = admin::DocumentChanges {
                version: version.and_then(woolink::model::DocumentVersion::from_number),
                cod_methods: clean(cod_methods),
                order_meta_keys: clean(order_meta_keys),
            };
            let svc = target.services().await?;
            let (w, d) = admin::set_document_settings(&svc.admin(), &tenant, changes).await?;
            println!(
                "{}",
                json!({"tenant": tenant, "result": written(w), "document": {
                    "version": d.version.number(), "codMethods": d.cod_methods,
                    "orderMetaKeys": d.order_meta_keys}})
            );
            Ok(())
        }
        TenantCommand::List { target } => {
            let svc = target.services().await?;
            for t in svc.repos.tenants.list_tenants().await? {
                println!(
                    "{}",
                    json!({
                        "code": t.code,
                        "name": t.name,
                        "active": t.active,
                        "fulfilmentUrl": t.fulfilment.map(|f| f.url),
                        "documentVersion": t.document.version.number(),
                    })
                );
            }
            Ok(())
        }
    }
}

fn read_password() -> Result<Password, Box<dyn std::error::Error>> {
    let raw = match std::env::var("WOOLINK_USER_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    Ok(Password::parse(&raw)?)
}

pub async fn user(cmd: UserCommand) -> CliResult {
    let UserCommand::Add {
        tenant,
        email,
        target,
    } = cmd;
    let tenant = TenantCode::parse(&tenant)?;
    let email = Email::parse(&email)?;
    let password = read_password()?;
    let svc = target.services().await?;
    let w = admin::put_user(&svc.admin(), &tenant, &email, password).await?;
    println!(
        "{}",
        json!({"tenant": tenant, "email": email, "result": written(w)})
    );
    Ok(())
}

pub async fn store(cmd: StoreCommand) -> CliResult {
    let (tenant, id, name, customer_id, target) = match cmd {
        StoreCommand::Add {
            tenant,
            id,
            name,
            customer_id,
            target,
        } => (tenant, id, name, customer_id, target),
        StoreCommand::Disconnect { id, purge, target } => {
            let svc = target.services().await?;
            let store = StoreId::parse(&id)?;
            let caller = woolink::disconnect::Caller::Operator { store };
            let d = woolink::disconnect::disconnect(&svc.unlinking(), caller, purge).await?;
            let c = d.cleanup;
            println!(
                "{}",
                json!({"store": d.link.store_id, "status": d.link.status.as_str(),
                    "webhooksDeleted": c.webhooks_deleted, "webhooksNotDeleted": c.webhooks_not_deleted,
                    "wooCommerceKeysErased": c.woo_keys_erased,
                    "ordersExpireAt": c.orders_expire_at.map(|t| t.to_rfc3339()), "ordersPurged": c.orders_purged})
            );
            return Ok(());
        }
        StoreCommand::Backfill {
            id,
            statuses,
            created_after,
            created_before,
            dry_run,
            wait,
            target,
        } => {
            let request = woolink::catchup::BackfillRequest::parse(
                statuses.as_deref(),
                created_after.as_deref(),
                created_before.as_deref(),
                dry_run,
            )?;
            let svc = target.services().await?;
            let store = StoreId::parse(&id)?;
            let run =
                match woolink::catchup::start_backfill(&svc.starting()?, &store, request).await? {
                    woolink::catchup::Started::DryRun { matching } => {
                        println!("{}", json!({"store": id, "matching": matching}));
                        return Ok(());
                    }
                    woolink::catchup::Started::Running(run) => run,
                };
            let mut run = run;
            while wait && run.state == woolink::model::BackfillState::Running {
                eprintln!(
                    "backfill {}: {} of {} queued",
                    run.run_id, run.queued, run.matched
                );
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                match svc.repos.backfills.get_backfill(&store).await? {
                    Some(r) if r.run_id == run.run_id => run = r,
                    _ => break,
                }
            }
            println!(
                "{}",
                json!({"store": id, "runId": run.run_id, "state": run.state.as_str(),
                    "matched": run.matched, "queued": run.queued, "error": run.error})
            );
            return Ok(());
        }
        StoreCommand::Purge { id, target } => {
            let svc = target.services().await?;
            let n =
                woolink::disconnect::purge_orders(svc.repos.orders.as_ref(), &StoreId::parse(&id)?)
                    .await?;
            println!("{}", json!({"store": id, "ordersPurged": n}));
            return Ok(());
        }
    };
    let tenant = TenantCode::parse(&tenant)?;
    let id = StoreId::parse(&id)?;
    let customer = CustomerId::parse(&customer_id)?;
    let svc = target.services().await?;
    let w = admin::put_store(&svc.admin(), &tenant, id.clone(), &name, customer).await?;
    println!(
        "{}",
        json!({"tenant": tenant, "store": id, "result": written(w)})
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct Queues {
    /// The orders queue.
    #[arg(long, env = "WOOLINK_QUEUE_URL")]
    queue_url: String,
    /// Its dead-letter queue.
    #[arg(long, env = "WOOLINK_DLQ_URL")]
    dlq_url: String,
}

#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// Show what waits in the dead-letter queue (store, order, topic), leaving it there.
    Peek {
        #[arg(long, default_value_t = 10)]
        max: usize,
        #[command(flatten)]
        queues: Queues,
    },
    /// Move dead letters back to the orders queue for another try.
    Redrive {
        #[arg(long, default_value_t = 1000)]
        max: usize,
        #[command(flatten)]
        queues: Queues,
    },
}

pub async fn dlq(cmd: DlqCommand) -> CliResult {
    let sdk = woolink::wiring::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let open = |q: &Queues| {
        (
            woolink::queue::SqsQueue::new(sqs.clone(), &q.queue_url),
            woolink::queue::SqsQueue::new(sqs.clone(), &q.dlq_url),
        )
    };
    match cmd {
        DlqCommand::Peek { max, queues } => {
            let (_, dead) = open(&queues);
            let (visible, in_flight) = woolink::queue::Queue::depth(&dead).await?;
            println!("{}", json!({"deadLetters": visible + in_flight}));
            for m in admin::peek(&dead, max).await? {
                let line = match woolink::envelope::Envelope::decode(&m.body) {
                    Ok(e) => json!({"messageId": m.message_id, "storeId": e.head.store_id(),
                        "orderId": e.head.order_id(), "topic": e.head.topic(),
                        "modifiedAt": e.head.modified_at(), "receivedAt": e.head.received_at()}),
                    Err(e) => json!({"messageId": m.message_id, "undecodable": e.message()}),
                };
                println!("{line}");
            }
            Ok(())
        }
        DlqCommand::Redrive { max, queues } => {
            let (queue, dead) = open(&queues);
            let moved = admin::redrive(&dead, &queue, max).await?;
            println!("{}", json!({"redriven": moved}));
            Ok(())
        }
    }
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Re-seal every stored secret under the current application key (run after the new key
    /// is current and every function has restarted; idempotent, run again after conflicts).
    Reseal {
        #[command(flatten)]
        target: Target,
    },
}

pub async fn keys(command: KeysCommand) -> CliResult {
    match command {
        KeysCommand::Reseal { target } => {
            let svc = target.services().await?;
            let r = admin::reseal(&svc.admin()).await?;
            println!(
                "{}",
                serde_json::json!({
                    "keyId": svc.secrets.current_key_id(),
                    "tenants": r.tenants,
                    "links": r.links,
                    "resealed": r.resealed,
                    "alreadyCurrent": r.current,
                    "conflicts": r.conflicts,
                })
            );
            Ok(())
        }
    }
}

#[derive(clap::Subcommand)]
pub enum OrderCommand {
    /// One order as its tenant sees it (GET /v1/tenant/stores/{storeId}/orders/{orderId}):
    /// its state, its history (received, skipped and why, queued, each delivery attempt with
    /// the tenant's status and latency, synced or failed) and its shipments.
    Show {
        /// The store's id (st_…).
        #[arg(long)]
        store: String,
        /// The WooCommerce order id.
        #[arg(long)]
        order: u64,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn order(command: OrderCommand) -> CliResult {
    match command {
        OrderCommand::Show {
            store,
            order,
            target,
        } => {
            let svc = target.services().await?;
            let store = StoreId::parse(&store)?;
            let id = woolink::domain::OrderId::new(order);
            let found = svc
                .repos
                .orders
                .get_order_sync(&store, id)
                .await?
                .ok_or_else(|| format!("order {order} of store {store} is not known to woolink"))?;
            let shipments =
                woolink::shipments::list_shipments(svc.repos.shipments.as_ref(), &store, id)
                    .await?;
            println!(
                "{}",
                serde_json::to_string(&woolink::api::operations::order_view(&found, &shipments))?
            );
            Ok(())
        }
    }
}
