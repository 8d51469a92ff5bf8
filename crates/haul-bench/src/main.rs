//! The `haul-bench` command: the benchmark of Haul against the peer job queues, kept out of the
//! user-facing `haul` command. The workloads live in `bench/`; this file parses the flags.

mod bench;
mod connect;

use clap::Parser;

/// Default database when neither --database-url nor DATABASE_URL is given.
const DATABASE_URL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Measure Haul with the peer job queues' workloads (W1–W6); `--smoke` for a quick check.
#[derive(Parser)]
#[command(name = "haul-bench", version)]
struct Cli {
    /// PostgreSQL server to run on (the bench creates its own database there).
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DATABASE_URL_DEFAULT)]
    database_url: String,
    #[command(flatten)]
    bench: bench::Args,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match bench::run(&cli.database_url, cli.bench).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by RUST_LOG or `default`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
