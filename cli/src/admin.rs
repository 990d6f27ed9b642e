//! Operator commands against a deployed stack (its table and queues, named by flags,
//! `WOOLINK_*` variables or `--stack-name`; `AWS_ENDPOINT_URL` for an emulator). Every command
//! is idempotent where it can be and prints one JSON line (`--output table` for people);
//! progress goes to stderr.

use std::io::BufRead as _;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use woolink::admin::{self, Seed, TenantChange};
use woolink::crypto::SecretString;
use woolink::domain::{CustomerId, Email, Password, StoreId, TenantCode};
use woolink::ports::Written;
use woolink::wiring::Services;

use crate::target::{emit, progress, CliError, Global};

type CliResult = Result<(), CliError>;

#[derive(clap::Args)]
pub struct Target {
    /// The stack's DynamoDB table (its TableName output). Default: the --stack-name's, else
    /// `woolink`.
    #[arg(long, env = "WOOLINK_TABLE")]
    table: Option<String>,
}

impl Target {
    /// The services over the table. Sealing tenant secrets needs the stack's application key:
    /// WOOLINK_SECRETS_KEY, WOOLINK_SECRETS_KEY_ARN or the stack's AppKeyArn output.
    async fn services(&self, global: &Global) -> Result<Arc<Services>, CliError> {
        global
            .context()
            .await?
            .services(self.table.as_deref())
            .await
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
    /// Create a tenant, or change what the flags name and keep the rest (running it twice
    /// changes nothing). A new fulfilment endpoint gets a generated signing secret, printed
    /// once; moving the endpoint keeps the secret (use rotate-secret to change it).
    Create {
        /// The tenant's code (1-32 letters, digits, - or _; stored upper-case).
        #[arg(long)]
        code: String,
        /// Its display name (needed to create; kept when left out).
        #[arg(long)]
        name: Option<String>,
        /// Deactivate it: its users cannot log in, its links stop syncing.
        #[arg(long, conflicts_with = "active")]
        inactive: bool,
        /// Activate it again.
        #[arg(long)]
        active: bool,
        /// Where its orders are delivered (https, a public host); kept when left out.
        #[arg(long)]
        fulfilment_url: Option<String>,
        /// A whsec_… signing secret to set (else one is generated for a new endpoint); read
        /// from WOOLINK_FULFILMENT_SECRET when set.
        #[arg(long, env = "WOOLINK_FULFILMENT_SECRET", hide_env_values = true)]
        fulfilment_secret: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Give the tenant's fulfilment endpoint a new signing secret (generated and printed once,
    /// or --fulfilment-secret); the tenant verifies with it from the next delivery on.
    RotateSecret {
        /// The tenant's code.
        #[arg(long)]
        code: String,
        /// The new whsec_… secret (else one is generated); or WOOLINK_FULFILMENT_SECRET.
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
    /// List the tenants (never their secrets).
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

async fn api_key(cmd: ApiKeyCommand, global: &Global) -> CliResult {
    match cmd {
        ApiKeyCommand::Create {
            tenant,
            scope,
            target,
        } => {
            let tenant = TenantCode::parse(&tenant)?;
            let scopes = woolink::domain::Scope::parse_list(&scope)?;
            let svc = target.services(global).await?;
            let (plain, key) = admin::create_tenant_key(&svc.admin(), &tenant, &scopes).await?;
            let mut out = key_json(&key);
            out["key"] = json!(plain.expose());
            emit(out);
        }
        ApiKeyCommand::List { tenant, target } => {
            let tenant = TenantCode::parse(&tenant)?;
            let svc = target.services(global).await?;
            let keys = admin::list_tenant_keys(&svc.admin(), &tenant).await?;
            emit(json!({"tenant": tenant, "keys": keys.iter().map(key_json).collect::<Vec<_>>()}));
        }
        ApiKeyCommand::Revoke { tenant, id, target } => {
            let tenant = TenantCode::parse(&tenant)?;
            let svc = target.services(global).await?;
            let key = admin::revoke_tenant_key(&svc.admin(), &tenant, &id).await?;
            emit(key_json(&key));
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Add a tenant's user (who logs in to link stores) or change its password. The password
    /// is asked for on a terminal without echo (twice), else read from WOOLINK_USER_PASSWORD
    /// or one line of stdin; it must be 12+ characters and not a common password, a name or
    /// a pattern.
    Add {
        /// The tenant's code.
        #[arg(long)]
        tenant: String,
        /// The user's email (their login).
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
        /// The store's id.
        #[arg(long)]
        id: String,
        /// Erase its order records now instead of letting them expire.
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Erase a store's order records now (progress on stderr). A connected store's next
    /// delivery of each order would then reach the tenant as a new order: refused without
    /// --yes (disconnect it first: store disconnect --purge).
    Purge {
        /// The store's id.
        #[arg(long)]
        id: String,
        /// Purge even though the store is still connected.
        #[arg(long)]
        yes: bool,
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
    /// Add a merchant store to a tenant (or rename it): what the tenant's user picks when
    /// linking.
    Add {
        /// The tenant's code.
        #[arg(long)]
        tenant: String,
        /// The store's id (1-64 letters, digits, - or _): the tenant's own.
        #[arg(long)]
        id: String,
        /// The store's display name.
        #[arg(long)]
        name: String,
        /// The tenant's id for the merchant (its customer account).
        #[arg(long)]
        customer_id: String,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn seed(file: &Path, target: &Target, global: &Global) -> CliResult {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read seed file {}: {e}", file.display()))?;
    let seed = Seed::parse(&text)?;
    let svc = target.services(global).await?;
    let r = admin::apply_seed(&svc.admin(), seed).await?;
    emit(
        json!({"tenants": r.tenants, "users": r.users, "stores": r.stores, "apiKeys": r.api_keys}),
    );
    Ok(())
}

pub async fn tenant(cmd: TenantCommand, global: &Global) -> CliResult {
    match cmd {
        TenantCommand::Create {
            code,
            name,
            inactive,
            active,
            fulfilment_url,
            fulfilment_secret,
            target,
        } => {
            let code = TenantCode::parse(&code)?;
            let change = TenantChange {
                name,
                active: match (active, inactive) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                fulfilment_url,
                fulfilment_secret: fulfilment_secret.map(SecretString::new),
            };
            let svc = target.services(global).await?;
            let (w, generated) = admin::change_tenant(&svc.admin(), &code, change).await?;
            let mut out = json!({"tenant": code, "result": written(w)});
            if let Some(secret) = generated {
                out["fulfilmentSecret"] = json!(secret.expose());
            }
            emit(out);
            Ok(())
        }
        TenantCommand::RotateSecret {
            code,
            fulfilment_secret,
            target,
        } => {
            let code = TenantCode::parse(&code)?;
            let svc = target.services(global).await?;
            let given = fulfilment_secret.is_some();
            let secret = admin::rotate_signing_secret(
                &svc.admin(),
                &code,
                fulfilment_secret.map(SecretString::new),
            )
            .await?;
            let mut out = json!({"tenant": code, "result": "rotated"});
            if !given {
                out["fulfilmentSecret"] = json!(secret.expose());
            }
            emit(out);
            Ok(())
        }
        TenantCommand::ApiKey(c) => api_key(c, global).await,
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
            let svc = target.services(global).await?;
            let (w, d) = admin::set_document_settings(&svc.admin(), &tenant, changes).await?;
            emit(json!({"tenant": tenant, "result": written(w), "document": {
                "version": d.version.number(), "codMethods": d.cod_methods,
                "orderMetaKeys": d.order_meta_keys}}));
            Ok(())
        }
        TenantCommand::List { target } => {
            let svc = target.services(global).await?;
            let tenants: Vec<_> = svc
                .repos
                .tenants
                .list_tenants()
                .await?
                .into_iter()
                .map(|t| {
                    json!({
                        "code": t.code,
                        "name": t.name,
                        "active": t.active,
                        "fulfilmentUrl": t.fulfilment.map(|f| f.url),
                        "documentVersion": t.document.version.number(),
                    })
                })
                .collect();
            emit(json!({ "tenants": tenants }));
            Ok(())
        }
    }
}

/// Shortest password an operator may set.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why a password is refused, if it is: too short, or guessable (zxcvbn's offline lists of
/// common passwords, names, words and keyboard patterns, and the account's own email and
/// tenant; it must take more than 10^10 guesses).
pub fn weak_password(password: &str, email: &str, tenant: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "the password is shorter than {MIN_PASSWORD_CHARS} characters"
        ));
    }
    let local = email.split('@').next().unwrap_or(email);
    let entropy = zxcvbn::zxcvbn(password, &[email, local, tenant, "woolink"]);
    if entropy.score() < zxcvbn::Score::Four {
        let why = entropy
            .feedback()
            .and_then(|f| f.warning())
            .map_or_else(|| "it is easy to guess".to_owned(), |w| w.to_string());
        return Some(format!(
            "the password is too easy to guess ({why}); use a long passphrase of unrelated words"
        ));
    }
    None
}

fn read_password(email: &str, tenant: &str) -> Result<Password, CliError> {
    let raw = match std::env::var("WOOLINK_USER_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password(format!("password for {email}: "))?;
            if let Some(why) = weak_password(&first, email, tenant) {
                return Err(format!("password refused: {why}").into());
            }
            let again = rpassword::prompt_password("the same again: ")?;
            if again != first {
                return Err("the two passwords differ".into());
            }
            first
        }
        _ => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if let Some(why) = weak_password(&raw, email, tenant) {
        return Err(format!("password refused: {why}").into());
    }
    Ok(Password::parse(&raw)?)
}

pub async fn user(cmd: UserCommand, global: &Global) -> CliResult {
    let UserCommand::Add {
        tenant,
        email,
        target,
    } = cmd;
    let tenant = TenantCode::parse(&tenant)?;
    let email = Email::parse(&email)?;
    let password = read_password(email.as_str(), tenant.as_str())?;
    let svc = target.services(global).await?;
    let w = admin::put_user(&svc.admin(), &tenant, &email, password).await?;
    emit(json!({"tenant": tenant, "email": email, "result": written(w)}));
    Ok(())
}

pub async fn store(cmd: StoreCommand, global: &Global) -> CliResult {
    let (tenant, id, name, customer_id, target) = match cmd {
        StoreCommand::Add {
            tenant,
            id,
            name,
            customer_id,
            target,
        } => (tenant, id, name, customer_id, target),
        StoreCommand::Disconnect { id, purge, target } => {
            let svc = target.services(global).await?;
            let store = StoreId::parse(&id)?;
            let caller = woolink::disconnect::Caller::Operator { store };
            let d = woolink::disconnect::disconnect(&svc.unlinking(), caller, purge).await?;
            let c = d.cleanup;
            emit(
                json!({"store": d.link.store_id, "status": d.link.status.as_str(),
                "webhooksDeleted": c.webhooks_deleted, "webhooksNotDeleted": c.webhooks_not_deleted,
                "wooCommerceKeysErased": c.woo_keys_erased,
                "ordersExpireAt": c.orders_expire_at.map(|t| t.to_rfc3339()), "ordersPurged": c.orders_purged}),
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
            let svc = target.services(global).await?;
            let store = StoreId::parse(&id)?;
            let run =
                match woolink::catchup::start_backfill(&svc.starting()?, &store, request).await? {
                    woolink::catchup::Started::DryRun { matching } => {
                        emit(json!({"store": id, "matching": matching}));
                        return Ok(());
                    }
                    woolink::catchup::Started::Running(run) => run,
                };
            let mut run = run;
            while wait && run.state == woolink::model::BackfillState::Running {
                progress(format!(
                    "backfill {}: {} of {} queued",
                    run.run_id, run.queued, run.matched
                ));
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                match svc.repos.backfills.get_backfill(&store).await? {
                    Some(r) if r.run_id == run.run_id => run = r,
                    _ => break,
                }
            }
            emit(
                json!({"store": id, "runId": run.run_id, "state": run.state.as_str(),
                "matched": run.matched, "queued": run.queued, "error": run.error}),
            );
            return Ok(());
        }
        StoreCommand::Purge { id, yes, target } => {
            let svc = target.services(global).await?;
            let store = StoreId::parse(&id)?;
            let connected = svc
                .repos
                .links
                .get_link(&store)
                .await?
                .is_some_and(|l| l.status == woolink::model::LinkStatus::Connected);
            if connected && !yes {
                return Err(format!(
                    "store {store} is connected: with its order records gone, its next delivery of each order reaches the tenant as a new order. Disconnect it first (woolink store disconnect --id {store} --purge), or pass --yes"
                )
                .into());
            }
            progress(format!("purging the order records of {store}…"));
            let n = woolink::disconnect::purge_orders(svc.repos.orders.as_ref(), &store).await?;
            progress(format!("purged {n} order record(s) of {store}"));
            emit(json!({"store": id, "ordersPurged": n}));
            return Ok(());
        }
    };
    let tenant = TenantCode::parse(&tenant)?;
    let id = StoreId::parse(&id)?;
    let customer = CustomerId::parse(&customer_id)?;
    let svc = target.services(global).await?;
    let w = admin::put_store(&svc.admin(), &tenant, id.clone(), &name, customer).await?;
    emit(json!({"tenant": tenant, "store": id, "result": written(w)}));
    Ok(())
}

#[derive(clap::Args)]
pub struct Queues {
    /// The orders dead-letter queue (the stack's OrdersDeadLetterQueueUrl output).
    #[arg(long, env = "WOOLINK_DLQ_URL")]
    dlq_url: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// Show what waits in the orders dead-letter queue (store, order, topic), leaving it there.
    Peek {
        /// How many to show: at most 10 (one SQS receive; asking for more says so).
        #[arg(long, default_value_t = 10)]
        max: usize,
        #[command(flatten)]
        queues: Queues,
    },
    /// Move the dead letters back to the orders queue for another try, with SQS's own message
    /// move task (progress on stderr). Where SQS offers no move task (an emulator), or with
    /// --max, they are moved one by one, until the queue is empty.
    Redrive {
        /// Move at most this many, one by one (default: all, by a move task).
        #[arg(long)]
        max: Option<usize>,
        #[command(flatten)]
        queues: Queues,
        /// The orders queue, for moving one by one (the stack's OrdersQueueUrl output).
        #[arg(long, env = "WOOLINK_QUEUE_URL")]
        queue_url: Option<String>,
    },
}

/// The most one peek shows (one SQS receive).
const PEEK_MAX: usize = 10;

pub async fn dlq(cmd: DlqCommand, global: &Global) -> CliResult {
    let ctx = global.context().await?;
    let sqs = aws_sdk_sqs::Client::new(&ctx.sdk);
    let dlq_of = |q: &Queues| {
        ctx.require(
            q.dlq_url.as_deref(),
            "OrdersDeadLetterQueueUrl",
            "no dead-letter queue: set WOOLINK_DLQ_URL or --dlq-url",
        )
    };
    match cmd {
        DlqCommand::Peek { max, queues } => {
            let dead = woolink::queue::SqsQueue::new(sqs.clone(), &dlq_of(&queues)?);
            if max > PEEK_MAX {
                progress(format!(
                    "peek shows at most {PEEK_MAX} dead letters (one SQS receive), not {max}"
                ));
            }
            let (visible, in_flight) = woolink::queue::Queue::depth(&dead).await?;
            let shown: Vec<_> = admin::peek(&dead, max.min(PEEK_MAX))
                .await?
                .into_iter()
                .map(|m| match woolink::envelope::Envelope::decode(&m.body) {
                    Ok(e) => json!({"messageId": m.message_id, "storeId": e.head.store_id(),
                        "orderId": e.head.order_id(), "topic": e.head.topic(),
                        "modifiedAt": e.head.modified_at(), "receivedAt": e.head.received_at()}),
                    Err(e) => json!({"messageId": m.message_id, "undecodable": e.message()}),
                })
                .collect();
            emit(
                json!({"deadLetters": visible + in_flight, "shown": shown.len(),
                "capped": max > PEEK_MAX, "messages": shown}),
            );
            Ok(())
        }
        DlqCommand::Redrive {
            max,
            queues,
            queue_url,
        } => {
            let dlq_url = dlq_of(&queues)?;
            if max.is_none() {
                match move_task(&sqs, &dlq_url).await {
                    Ok(moved) => {
                        emit(json!({"redriven": moved, "method": "move-task"}));
                        return Ok(());
                    }
                    Err(e) => progress(format!(
                        "SQS's message move task is not available here ({e}); moving the messages one by one"
                    )),
                }
            }
            let queue_url = ctx.require(
                queue_url.as_deref(),
                "OrdersQueueUrl",
                "moving one by one needs the orders queue: set WOOLINK_QUEUE_URL or --queue-url",
            )?;
            let queue = woolink::queue::SqsQueue::new(sqs.clone(), &queue_url);
            let dead = woolink::queue::SqsQueue::new(sqs.clone(), &dlq_url);
            let (visible, _) = woolink::queue::Queue::depth(&dead).await?;
            let total = max.map_or(visible, |m| (m as u64).min(visible));
            let moved = admin::redrive(&dead, &queue, max.unwrap_or(usize::MAX), &mut |n| {
                progress(format!("redrive: {n} of about {total} moved"))
            })
            .await?;
            emit(json!({"redriven": moved, "method": "one-by-one"}));
            Ok(())
        }
    }
}

/// SQS's own redrive: a message move task from the dead-letter queue back to the queue its
/// messages came from, followed until it ends. Answers how many it moved.
async fn move_task(sqs: &aws_sdk_sqs::Client, dlq_url: &str) -> Result<i64, CliError> {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    use aws_sdk_sqs::types::QueueAttributeName;
    let why = |e: &dyn ProvideErrorMetadata| {
        e.message()
            .or(e.code())
            .unwrap_or("no answer")
            .chars()
            .take(200)
            .collect::<String>()
    };
    let arn = sqs
        .get_queue_attributes()
        .queue_url(dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| why(&e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or("the dead-letter queue has no ARN")?;
    sqs.start_message_move_task()
        .source_arn(&arn)
        .send()
        .await
        .map_err(|e| why(&e))?;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(&arn)
            .max_results(1)
            .send()
            .await
            .map_err(|e| why(&e))?;
        let Some(task) = tasks.results().first() else {
            return Err("the move task vanished".into());
        };
        let moved = task.approximate_number_of_messages_moved();
        let to_move = task.approximate_number_of_messages_to_move().unwrap_or(0);
        let status = task.status().unwrap_or("RUNNING");
        progress(format!("redrive: {moved} of {to_move} moved ({status})"));
        match status {
            "RUNNING" | "CANCELLING" => continue,
            "COMPLETED" => return Ok(moved),
            other => {
                return Err(format!(
                    "the move task ended {other}: {}",
                    task.failure_reason().unwrap_or("no reason given")
                )
                .into())
            }
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

pub async fn keys(command: KeysCommand, global: &Global) -> CliResult {
    match command {
        KeysCommand::Reseal { target } => {
            let svc = target.services(global).await?;
            let r = admin::reseal(&svc.admin()).await?;
            emit(serde_json::json!({
                "keyId": svc.secrets.current_key_id(),
                "tenants": r.tenants,
                "links": r.links,
                "resealed": r.resealed,
                "alreadyCurrent": r.current,
                "conflicts": r.conflicts,
            }));
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

pub async fn order(command: OrderCommand, global: &Global) -> CliResult {
    match command {
        OrderCommand::Show {
            store,
            order,
            target,
        } => {
            let svc = target.services(global).await?;
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
            emit(serde_json::to_value(woolink::api::operations::order_view(
                &found, &shipments,
            ))?);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_named_and_passphrases_pass() {
        for weak in [
            "short",
            "password1234",
            "qwertyuiop123",
            "acmeacmeacme1",
            "ops@acme.test12",
            "aaaaaaaaaaaaaaaa",
        ] {
            assert!(
                weak_password(weak, "ops@acme.test", "ACME").is_some(),
                "{weak}"
            );
        }
        assert!(weak_password("short", "a@b.test", "X")
            .unwrap()
            .contains("12 characters"));
        for strong in ["Quartz-harbor lantern violet 47", "vN7#qLp2-Wz9@kT!"] {
            assert_eq!(
                weak_password(strong, "ops@acme.test", "ACME"),
                None,
                "{strong}"
            );
        }
    }
}
