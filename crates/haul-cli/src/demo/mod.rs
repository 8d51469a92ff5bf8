//! `haul demo`: the project's main job in one command. It connects (starting a throwaway
//! server if none answers and PostgreSQL is installed), migrates a demo schema, enqueues a
//! realistic mix of jobs, works them with a live progress bar, and ends with a summary.

mod jobs;
mod report;
mod schema;
mod server;
mod work;

use crate::signals::interruptible;
use anyhow::Result;
use haul::{Client, ClientConfig, NewJob};
use jobs::*;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Schema for the demo's tables (dropped and recreated on each run; one the demo created).
    #[arg(long, default_value = "haul_demo")]
    schema: String,
    /// Drop and recreate --schema even though the demo did not create it (never `public`, nor
    /// a schema holding a jobs table: a real queue's).
    #[arg(long)]
    force: bool,
    /// Welcome emails to enqueue in bulk (0 to 1000000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    emails: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics while the demo runs (e.g. 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// What the demo enqueued, to tell the summary what to expect.
pub struct Enqueued {
    pub total: u64,
    pub lines: Vec<String>,
    pub took: Duration,
}

/// The demo, ready to work: its client, the handlers' state, what it enqueued, and the
/// throwaway server it runs on, if any (stopped and deleted when dropped).
struct Prepared {
    client: Client,
    shop: Shop,
    enqueued: Enqueued,
    _server: Option<haul_pgtemp::Cluster>,
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    schema::check_name(&args.schema)?;
    crate::init_logging("error");
    let signals = crate::signals::listen();
    if let Some(addr) = args.metrics_addr {
        crate::metrics::serve(addr)?;
        println!("Prometheus metrics at http://{addr}/metrics\n");
    }
    let demo = interruptible(&signals, prepare(url, &args)).await?;
    let metrics = args.metrics_addr.is_some();
    let (elapsed, stats) =
        work::work(&demo.client, demo.shop, demo.enqueued.total, metrics, &signals).await?;
    interruptible(&signals, report::print(&demo.client, &args.schema, elapsed, &stats)).await
}

/// Connects, resets the demo's schema and enqueues the jobs.
async fn prepare(url: &str, args: &Args) -> Result<Prepared> {
    let (pool, server) = server::connect_or_throwaway(url).await?;
    let client = Client::with_config(pool.clone(), ClientConfig::default().with_schema(&args.schema))?;
    schema::reset(&client, &args.schema, args.force).await?;
    println!("Haul demo · schema `{}` (reset on every run)\n", args.schema);
    let enqueued = enqueue(&client, args).await?;
    for line in &enqueued.lines {
        println!("  enqueued {line}");
    }
    println!("  ({} jobs in {:.0?})\n", enqueued.total, enqueued.took);
    let shop = Shop { pool, schema: args.schema.clone() };
    Ok(Prepared { client, shop, enqueued, _server: server })
}

async fn enqueue(client: &Client, args: &Args) -> Result<Enqueued> {
    let started = Instant::now();
    let mut lines = Vec::new();
    let emails =
        (0..args.emails).map(|i| SendWelcomeEmail { user_id: i, email: format!("user{i}@example.com") });
    client.insert_many(emails).await?;
    lines.push(format!("{} welcome emails          (one bulk insert)", args.emails));
    client
        .insert_many((0..200).map(|i| ResizeImage { image_id: i, width: 640 + (i % 5) as u32 * 320 }))
        .await?;
    lines.push("200 image resizes            (one bulk insert)".into());
    client.insert(BuildMonthlyReport { month: "2026-11".into() }).await?;
    lines.push("1 monthly report             (a long job, 1.2 s)".into());
    client.insert_many((0..60).map(|order_id| NotifyPartner { order_id })).await?;
    lines.push("60 partner webhooks          (a flaky API: 2 in 3 fail once or twice, then succeed)".into());
    let orders = transactional_orders(client, args).await?;
    lines.push(format!("{orders} order confirmations      (each in the transaction that saved its order; 1 more order rolled back: no job)"));
    client
        .insert(ImportCustomers { csv_url: "https://files.example.com/customers-2026-11.csv".into() })
        .await?;
    let undecodable = NewJob::raw("send_welcome_email", serde_json::json!({ "user_id": "not-a-number" }));
    client.insert(undecodable).await?;
    lines.push("2 poison jobs                (a missing file, and args that do not decode)".into());
    let total = args.emails + 200 + 1 + 60 + orders + 2;
    Ok(Enqueued { total, lines, took: started.elapsed() })
}

/// Saves orders and enqueues their confirmations in the same transactions; rolls one back.
async fn transactional_orders(client: &Client, args: &Args) -> Result<u64> {
    let insert = format!("INSERT INTO \"{}\".orders (id, total_cents) VALUES ($1, $2)", args.schema);
    for order_id in 1..=21i64 {
        let mut tx = client.pool().begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(insert.clone())).bind(order_id).bind(1999).execute(&mut *tx).await?;
        client.insert_tx(&mut *tx, ConfirmOrder { order_id }).await?;
        if order_id == 21 {
            tx.rollback().await?; // the payment failed: no order, and so no confirmation job
        } else {
            tx.commit().await?;
        }
    }
    Ok(20)
}
