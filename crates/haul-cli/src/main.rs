//! The `haul` command: a thin shell over the library, one file per subcommand.

mod batches;
mod completions;
mod connect;
mod dashboard;
mod dead;
mod demo;
mod doctor;
mod enqueue;
mod errors;
mod escape;
mod jobs;
mod limits;
mod metrics;
mod migrate;
mod periodic;
mod queues;
mod redact;
mod sagas;
mod signals;
mod stats;

use clap::{Parser, Subcommand};

/// Default database when neither --database-url nor DATABASE_URL is given.
pub const DATABASE_URL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Parser)]
#[command(name = "haul", version, about = "Haul: durable background jobs in PostgreSQL")]
pub struct Cli {
    /// PostgreSQL to use.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true, default_value = DATABASE_URL_DEFAULT)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate Haul's schema: apply, show status, or print the SQL.
    Migrate(migrate::Args),
    /// Run the demo: enqueue a realistic mix of jobs, work them, and show what happened.
    Demo(demo::Args),
    /// Look at jobs and act on them by id or filter: list, show, depth, retry, cancel, delete.
    Jobs(jobs::Args),
    /// Fan-out batches: `haul batches show ID` prints one's progress and result.
    Batches(batches::Args),
    /// The dead letters (discarded jobs): list, redrive, purge.
    Dead(dead::Args),
    /// The periodic schedules a leader has seen, with the last tick done.
    Periodic(periodic::Args),
    /// Check the database a queue runs on, with what to fix (exit 1 when a check fails).
    Doctor(doctor::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Insert one job by kind name: `haul enqueue send_email --args '{"to":"a@b.c"}'`.
    Enqueue(enqueue::Args),
    /// Sagas: `haul sagas show ID` prints one's steps and compensations with their states.
    Sagas(sagas::Args),
    /// List queues with their state and counts, or pause or resume one: `haul queues pause mail`.
    Queues(queues::Args),
    /// Serve the web dashboard: `haul dashboard --bind 127.0.0.1:8080`.
    Dashboard(dashboard::Args),
    /// Global limits per queue: list, set, clear: `haul limits set partner --rate 100/1s`.
    Limits(limits::Args),
    /// Per queue and kind: depth, oldest available, dead letters, throughput, error rate, P50/P95/P99.
    Stats(stats::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate(args) => migrate::run(&cli.database_url, args).await,
        Command::Demo(args) => demo::run(&cli.database_url, args).await,
        Command::Jobs(args) => jobs::run(&cli.database_url, args).await,
        Command::Batches(args) => batches::run(&cli.database_url, args).await,
        Command::Dead(args) => dead::run(&cli.database_url, args).await,
        Command::Periodic(args) => periodic::run(&cli.database_url, args).await,
        Command::Doctor(args) => doctor::run(&cli.database_url, args).await,
        Command::Completions(args) => completions::run(args),
        Command::Enqueue(args) => enqueue::run(&cli.database_url, args).await,
        Command::Sagas(args) => sagas::run(&cli.database_url, args).await,
        Command::Queues(args) => queues::run(&cli.database_url, args).await,
        Command::Limits(args) => limits::run(&cli.database_url, args).await,
        Command::Stats(args) => stats::run(&cli.database_url, args).await,
        Command::Dashboard(args) => dashboard::run(&cli.database_url, args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => errors::exit(&e),
    }
}

/// Logs to stderr, filtered by RUST_LOG or `default`.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
