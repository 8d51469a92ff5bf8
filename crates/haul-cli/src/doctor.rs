//! `haul doctor`: the library's checkup of the database (server, schema, indexes, settings,
//! sessions), one line per check with what to fix; exit 1 when a check fails.

use crate::connect;
use crate::escape::escaped;
use anyhow::Result;
use haul::doctor::{Checkup, Health};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    /// Print the checks as JSON: {"worst": …, "checks": [{name, health, detail, fix?}]}.
    #[arg(long)]
    json: bool,
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    let client = args.schema.client(connect::pool(url, 1).await?)?;
    let checkup = connect::with_url(client.doctor().await, url)?;
    if args.json {
        println!("{}", serde_json::json!({"worst": checkup.worst(), "checks": checkup.checks}));
    } else {
        print_lines(&checkup);
    }
    match checkup.checks.iter().filter(|c| c.health == Health::Fail).count() {
        0 => Ok(()),
        n => anyhow::bail!("{n} check(s) failed"),
    }
}

fn print_lines(checkup: &Checkup) {
    for c in &checkup.checks {
        let mark = match c.health {
            Health::Ok => "ok  ",
            Health::Warn => "WARN",
            Health::Fail => "FAIL",
        };
        println!("{mark}  {}: {}", c.name, escaped(&c.detail));
        if let Some(fix) = &c.fix {
            println!("      fix: {}", escaped(fix));
        }
    }
}
