//! A PgBouncer of the test's own: transaction pooling on a free port in front of the test
//! database, with a server pool smaller than the clients' pools so connections really are
//! shared, and prepared statements tracked (`max_prepared_statements`). Killed when dropped.
//!
//! The binary is `HAUL_PGBOUNCER`, else `pgbouncer` on PATH, else the one `.ci/pgbouncer.sh`
//! builds into `~/.cache/haul-pgbouncer`; it must be 1.21 or newer. Without one, each test
//! says it was skipped, unless `CI=true`, where a missing PgBouncer fails the test.

use crate::common::database_url;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// Longest PgBouncer may take to listen.
const START_WAIT: Duration = Duration::from_secs(10);

/// Server connections per database and user: fewer than any test's client connections.
pub const SERVER_POOL: u32 = 3;

/// What a test's PgBouncer is configured with beyond the fixed settings.
#[derive(Clone, Copy, Debug)]
pub struct Ini {
    /// The worker's session settings in `connect_query` (docs/deployment.md).
    pub session: bool,
    /// `options` in `ignore_startup_parameters`, so the worker's startup options are dropped
    /// rather than refused.
    pub ignore_options: bool,
}

impl Ini {
    /// As docs/deployment.md configures it.
    pub const DOCUMENTED: Ini = Ini { session: true, ignore_options: true };
}

/// A running PgBouncer, stopped and its folder removed when dropped.
pub struct Bouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Bouncer {
    /// Starts one configured as documented, or `None` (after saying why) when no PgBouncer
    /// 1.21+ is installed outside CI.
    pub async fn start() -> Option<Bouncer> {
        Self::start_with(Ini::DOCUMENTED).await
    }

    /// Like [`Bouncer::start`], configured with `ini`.
    pub async fn start_with(ini: Ini) -> Option<Bouncer> {
        let Some(binary) = binary() else {
            let why = "no PgBouncer 1.21+ (set HAUL_PGBOUNCER, put one on PATH, or run .ci/pgbouncer.sh)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI needs PgBouncer: {why}");
            skipped(why);
            return None;
        };
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("haul-pgbouncer-{port}-{:08x}", fastrand::u32(..)));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("users.txt"), format!("\"{}\" \"\"\n", server().user)).unwrap();
        fs::write(dir.join("pgbouncer.ini"), render(ini, &dir, port)).unwrap();
        let log = fs::File::create(dir.join("pgbouncer.log")).unwrap();
        let child = Command::new(&binary)
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs: {e}", binary.display()));
        let bouncer = Bouncer { child, dir, port };
        bouncer.until_listening().await;
        Some(bouncer)
    }

    /// Its URL for the test database.
    pub fn url(&self) -> String {
        let s = server();
        format!("postgres://{}@127.0.0.1:{}/{}", s.user, self.port, s.database)
    }

    /// What PgBouncer logged so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    async fn until_listening(&self) {
        let deadline = Instant::now() + START_WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(Instant::now() < deadline, "PgBouncer did not listen on {}:\n{}", self.port, self.log());
            sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Host, port, user and database of `DATABASE_URL`.
struct Server {
    host: String,
    port: u16,
    user: String,
    database: String,
}

fn server() -> Server {
    let url = url::Url::parse(&database_url()).expect("DATABASE_URL is a URL");
    Server {
        host: url.host_str().unwrap_or("127.0.0.1").to_owned(),
        port: url.port().unwrap_or(5432),
        user: if url.username().is_empty() { "postgres".into() } else { url.username().into() },
        database: url.path().trim_start_matches('/').to_owned(),
    }
}

/// The settings the worker sends as startup options, as `connect_query` sets them.
const SESSION: &str = "SET enable_seqscan = off; SET enable_bitmapscan = off; \
                       SET enable_nestloop = off; SET plan_cache_mode = force_generic_plan; SET statement_timeout = 10000";

/// The configuration docs/deployment.md asks for (unless `ini` says otherwise), with the
/// test's own port and folder.
fn render(ini: Ini, dir: &Path, port: u16) -> String {
    let s = server();
    let session = if ini.session { format!(" connect_query='{SESSION}'") } else { String::new() };
    let ignored = if ini.ignore_options { "extra_float_digits, options" } else { "extra_float_digits" };
    // PgBouncer refuses to run as root unless told whom to become
    let user = if is_root() { "user = nobody\n" } else { "" };
    format!(
        "[databases]\n\
         * = host={host} port={server_port}{session}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {auth}\n\
         pool_mode = transaction\n\
         max_prepared_statements = 200\n\
         default_pool_size = {SERVER_POOL}\n\
         max_client_conn = 500\n\
         ignore_startup_parameters = {ignored}\n\
         server_tls_sslmode = disable\n\
         {user}",
        host = s.host,
        server_port = s.port,
        auth = dir.join("users.txt").display(),
    )
}

/// Says once per test binary, past libtest's capture of `eprintln!`, that the PgBouncer tests
/// were skipped and why.
fn skipped(why: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: the PgBouncer tests pass without running: {why}");
    });
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The first PgBouncer 1.21+ among `HAUL_PGBOUNCER`, PATH and the CI script's cache.
fn binary() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
    let candidates = [
        std::env::var_os("HAUL_PGBOUNCER").map(PathBuf::from),
        Some(PathBuf::from("pgbouncer")),
        Some(home.join(".cache/haul-pgbouncer/bin/pgbouncer")),
    ];
    candidates.into_iter().flatten().find(|p| version(p).is_some_and(|v| v >= (1, 21)))
}

/// `(major, minor)` of the PgBouncer at `path`, if it runs.
fn version(path: &Path) -> Option<(u32, u32)> {
    let out = Command::new(path).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.lines().next()?.strip_prefix("PgBouncer ")?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}
