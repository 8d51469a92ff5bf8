//! `haul dashboard`: serves the web dashboard (`haul-web`) alone until SIGINT or SIGTERM.
//! Binds 127.0.0.1 unless told otherwise, and refuses any non-loopback address without a
//! token or basic auth (from the environment, so they stay out of `ps`). Without them it
//! answers only requests naming a loopback host. `--read-only` refuses every action.

use crate::connect;
use crate::errors::Usage;
use anyhow::{Context, Result};
use haul_web::{Auth, Dashboard};
use std::net::SocketAddr;

/// The address served unless `--bind` says otherwise.
const BIND_DEFAULT: &str = "127.0.0.1:8080";
/// The `Host` names an unauthenticated dashboard answers.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    schema: connect::SchemaArg,
    /// Address to listen on. Anything but loopback needs --token or --user/--password.
    #[arg(long, default_value = BIND_DEFAULT)]
    bind: SocketAddr,
    /// Refuse every action (retry, cancel, delete, redrive, purge, pause, resume).
    #[arg(long)]
    read_only: bool,
    /// Require this token: `Authorization: Bearer TOKEN`, or basic auth with it as password.
    #[arg(long, env = "HAUL_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Require basic auth with this user (and --password).
    #[arg(long, env = "HAUL_DASHBOARD_USER", requires = "password", conflicts_with = "token")]
    user: Option<String>,
    /// The basic-auth password (with --user).
    #[arg(long, env = "HAUL_DASHBOARD_PASSWORD", hide_env_values = true, requires = "user")]
    password: Option<String>,
}

impl Args {
    fn auth(&self) -> Result<Option<Auth>> {
        Ok(match (&self.token, &self.user, &self.password) {
            (Some(t), _, _) if t.is_empty() => Err(Usage("the dashboard token is empty".into()))?,
            (Some(t), _, _) => Some(Auth::Token(t.clone())),
            (None, Some(user), Some(password)) if !password.is_empty() => {
                Some(Auth::Basic { user: user.clone(), password: password.clone() })
            }
            (None, Some(_), _) => Err(Usage("basic auth needs a non-empty --password".into()))?,
            (None, None, _) => None,
        })
    }
}

pub async fn run(url: &str, args: Args) -> Result<()> {
    // a failed request's cause is logged (the page says only that it failed): warnings and up
    crate::init_logging("warn");
    let auth = args.auth()?;
    // checked before connecting: a refused address costs nothing
    haul_web::check_bind(args.bind, auth.as_ref()).map_err(|e| Usage(e.to_string()))?;
    let client = args.schema.client(connect::pool(url, 4).await?)?;
    let mut dashboard = Dashboard::new(client).with_read_only(args.read_only);
    dashboard = match auth {
        Some(auth) => dashboard.with_auth(auth),
        // no credentials: loopback only, and only by a loopback name (no DNS rebinding)
        None => dashboard.with_allowed_hosts(LOOPBACK_NAMES),
    };
    let listener =
        tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("binding {}", args.bind))?;
    let mode = if args.read_only { " (read-only)" } else { "" };
    eprintln!("haul dashboard on http://{}/{mode}", listener.local_addr()?);
    let signals = crate::signals::listen();
    axum::serve(listener, haul_web::router(dashboard))
        .with_graceful_shutdown(signals.graceful.cancelled_owned())
        .await
        .context("serving the dashboard")
}
