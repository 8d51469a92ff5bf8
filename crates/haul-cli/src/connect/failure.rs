//! Why a connection failed, in the user's terms, with what to do about each cause.

use crate::redact::redact;
use std::fmt;

/// The kinds of connection failure the CLI tells apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens at the address.
    Refused,
    /// The address did not answer (unknown host, no route, timed out).
    Unreachable,
    /// The server turned the user down (wrong password, unknown role, pg_hba.conf).
    Authentication,
    /// The server has no database of this name.
    UnknownDatabase(String),
    /// The string is not a `postgres://` URL.
    NotPostgres,
    /// Anything else (TLS, protocol, the server shutting down...).
    Other,
}

/// A failed connection: which failure, to which (redacted) URL, and the driver's words.
#[derive(Debug)]
pub struct ConnectError {
    pub failure: Failure,
    shown: String,
    cause: String,
}

impl ConnectError {
    pub fn new(url: &str, failure: Failure, cause: impl Into<String>) -> Self {
        ConnectError { failure, shown: redact(url), cause: cause.into() }
    }

    /// Sorts a driver error into its failure.
    pub fn from_sqlx(url: &str, e: &sqlx::Error) -> Self {
        let (failure, cause) = match e {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                (Failure::Refused, "connection refused".to_owned())
            }
            sqlx::Error::Io(io) => (Failure::Unreachable, io.to_string()),
            sqlx::Error::PoolTimedOut => (Failure::Unreachable, "timed out".to_owned()),
            sqlx::Error::Configuration(c) => (Failure::NotPostgres, c.to_string()),
            sqlx::Error::Database(db) => {
                (database_failure(url, db.code().as_deref()), db.message().to_owned())
            }
            other => (Failure::Other, other.to_string()),
        };
        ConnectError::new(url, failure, cause)
    }

    /// True when no server answered, so starting one would help.
    pub fn is_unreachable(&self) -> bool {
        matches!(self.failure, Failure::Refused | Failure::Unreachable)
    }
}

/// The failure of an error the server sent while the connection was being set up.
fn database_failure(url: &str, code: Option<&str>) -> Failure {
    match code {
        // invalid_password, invalid_authorization_specification (unknown role, pg_hba.conf)
        Some("28P01" | "28000") => Failure::Authentication,
        Some("3D000") => Failure::UnknownDatabase(database_name(url)),
        _ => Failure::Other,
    }
}

/// The database a URL names (the user name when it names none, as PostgreSQL does).
fn database_name(url: &str) -> String {
    use std::str::FromStr;
    let Ok(options) = sqlx::postgres::PgConnectOptions::from_str(url) else { return String::new() };
    options.get_database().unwrap_or(options.get_username()).to_owned()
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.failure {
            Failure::Authentication => "authentication failed: ",
            Failure::NotPostgres => "not a PostgreSQL URL: ",
            _ => "",
        };
        write!(f, "could not connect to PostgreSQL at {}: {what}{}\n\n", self.shown, self.cause)?;
        f.write_str(&hint(&self.failure))
    }
}

impl std::error::Error for ConnectError {}

/// What to do about each failure.
fn hint(failure: &Failure) -> String {
    const URL: &str = "DATABASE_URL (or --database-url)";
    match failure {
        Failure::Refused | Failure::Unreachable => format!(
            "Haul keeps its jobs in PostgreSQL; start a server and run this again:\n  \
             - Debian/Ubuntu packages:  sudo pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n  \
             - Homebrew:                brew services start postgresql\n  \
             - Docker:                  docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16\n\
             or point {URL} at a server you have"
        ),
        Failure::Authentication => format!(
            "check the user name and password in {URL}, and that the server's pg_hba.conf lets \
             this user in from here"
        ),
        Failure::UnknownDatabase(name) => format!(
            "create it (`createdb {name}`, or `CREATE DATABASE \"{name}\";` in psql) or point {URL} at \
             a database that exists"
        ),
        Failure::NotPostgres => format!(
            "{URL} must be a URL like postgres://user:password@host:5432/database (libpq's \
             `host=... user=...` form is not supported)"
        ),
        Failure::Other => format!("check {URL} and that the server accepts connections"),
    }
}
