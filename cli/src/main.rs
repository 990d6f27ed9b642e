//! `woolink`: the local runner (`woolink dev`) and operator commands against DynamoDB.

mod admin;
mod dev;
mod target;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "woolink",
    version,
    about = "WooCommerce ⇄ logistics integration backend"
)]
struct Cli {
    #[command(flatten)]
    global: target::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every route locally on one port (in-memory store by default).
    Dev(dev::DevArgs),
    /// Load a seed file (tenants, users, stores, tenant API keys; README.md, "The local
    /// runner", shows the format) into the stack's table.
    Seed {
        /// The seed file (JSON).
        file: PathBuf,
        #[command(flatten)]
        target: admin::Target,
    },
    /// Manage tenants in DynamoDB.
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// Manage tenant users in DynamoDB.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage merchant stores in DynamoDB.
    #[command(subcommand)]
    Store(admin::StoreCommand),
    /// Look at one order: where it stands, its history and its shipments.
    #[command(subcommand)]
    Order(admin::OrderCommand),
    /// Look at or redrive the orders dead-letter queue (SQS).
    #[command(subcommand)]
    Dlq(admin::DlqCommand),
    /// Application-key rotation (README.md, "Rotating the application key").
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// Print the API's OpenAPI 3.1 reference (what `GET /openapi.json` serves).
    Openapi {
        /// The reference as Markdown (docs/API-REFERENCE.md) instead of JSON.
        #[arg(long)]
        markdown: bool,
    },
    /// Print the X-WC-Webhook-Signature WooCommerce would send for a body (file or stdin).
    Sign {
        /// The link's webhook secret (or WOOLINK_WEBHOOK_SECRET).
        #[arg(long, env = "WOOLINK_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The body file; stdin when absent. Signed byte for byte.
        file: Option<PathBuf>,
    },
}

fn sign(secret: &str, file: Option<&std::path::Path>) -> Result<(), Box<dyn std::error::Error>> {
    let body = match file {
        Some(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        None => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            buf
        }
    };
    println!(
        "{}",
        woolink::intake::woo_signature(secret.as_bytes(), &body)
    );
    Ok(())
}

/// An error for people: woolink's own as `code: message`, with at most a line of its cause
/// (an SDK error's debug form runs to kilobytes; WOOLINK_CLI_DEBUG=1 shows all of it).
fn plain(e: &(dyn std::error::Error + 'static)) -> String {
    let Some(err) = e.downcast_ref::<woolink::error::Error>() else {
        return e.to_string();
    };
    let mut out = format!("{}: {}", err.kind().code(), err.message());
    if let Some(cause) = err.cause() {
        if std::env::var("WOOLINK_CLI_DEBUG").as_deref() == Ok("1") {
            out.push_str(&format!(" ({cause})"));
        } else {
            let short: String = cause.chars().take(160).collect();
            let more = if short.len() < cause.len() { "…" } else { "" };
            out.push_str(&format!(" ({short}{more})"));
        }
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    woolink::telemetry::init_pretty();
    let cli = Cli::parse();
    let global = cli.global;
    target::set_output(global.output);
    let result = match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Seed { file, target } => admin::seed(&file, &target, &global).await,
        Command::Tenant(c) => admin::tenant(c, &global).await,
        Command::User(c) => admin::user(c, &global).await,
        Command::Store(c) => admin::store(c, &global).await,
        Command::Order(c) => admin::order(c, &global).await,
        Command::Dlq(c) => admin::dlq(c, &global).await,
        Command::Keys(c) => admin::keys(c, &global).await,
        Command::Sign { secret, file } => sign(&secret, file.as_deref()),
        Command::Openapi { markdown } => {
            if markdown {
                print!(
                    "{}",
                    woolink::api::openapi::markdown(&woolink::api::openapi::document())
                );
            } else {
                print!("{}", woolink::api::openapi::document_json());
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", plain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and every flag says what it is for (`woolink help …`).
    #[test]
    fn every_command_and_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "woolink", &mut missing);
        assert!(missing.is_empty(), "no help: {missing:#?}");
    }
}
