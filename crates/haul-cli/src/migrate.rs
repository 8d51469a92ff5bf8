//! `haul migrate`: apply Haul's migrations, show their status, or print them as SQL.

use crate::connect;
use anyhow::Result;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Apply every missing migration (safe to run concurrently; a no-op when current).
    Up,
    /// Show each migration and when it was applied.
    Status,
    /// Print the whole schema as SQL, for your own migration tool (no database needed).
    Print,
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    if let Action::Print = args.action {
        // no connection needed, nor a valid URL: a client on a lazy pool that never connects
        let never = sqlx::postgres::PgConnectOptions::new();
        let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy_with(never);
        print!("{}", args.schema.client(pool)?.migration_script());
        return Ok(());
    }
    let client = args.schema.client(connect::pool(url, 2).await?)?;
    match args.action {
        Action::Up => {
            let report = connect::with_url(client.migrate().await, url)?;
            match report.applied.as_slice() {
                [] => println!("schema `{}` is up to date (version {})", args.schema.schema, report.version),
                done => {
                    println!(
                        "schema `{}`: applied {done:?}, now at version {}",
                        args.schema.schema, report.version
                    )
                }
            }
        }
        Action::Status => {
            for m in connect::with_url(client.migration_status().await, url)? {
                let when = m.applied_at.map_or("pending".to_owned(), |t| format!("applied {t}"));
                println!("{:04} {:<20} {when}", m.version, m.name);
            }
        }
        Action::Print => unreachable!("handled above"),
    }
    Ok(())
}
