//! `woolink`: the local runner (`woolink dev`) and operator commands against DynamoDB.

mod admin;
mod dev;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every route locally on one port (in-memory store by default).
    Dev(dev::DevArgs),
    /// Load a seed file (tenants, users, stores) into DynamoDB.
    Seed {
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
}

#[tokio::main]
async fn main() -> ExitCode {
    woolink::telemetry::init_pretty();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Seed { file, target } => admin::seed(&file, &target).await,
        Command::Tenant(c) => admin::tenant(c).await,
        Command::User(c) => admin::user(c).await,
        Command::Store(c) => admin::store(c).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
