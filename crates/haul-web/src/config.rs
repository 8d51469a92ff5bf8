//! [`Dashboard`]: what the router serves and how it guards itself (auth, read-only, page size).

use haul::Client;

/// Jobs one list page shows unless the request asks for fewer. Defaults to 50.
pub const PAGE_SIZE_DEFAULT: u32 = 50;
/// The most jobs a request may ask one page to show: a page costs the same on any table.
pub const PAGE_SIZE_MAX: u32 = 200;

/// Who may use the dashboard. Credentials are compared in constant time.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Bearer TOKEN`, or HTTP basic auth with TOKEN as the password (any user
    /// name), so a browser can log in from its own prompt.
    Token(String),
    /// HTTP basic auth with this user and password.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Auth::Token(..)"),
            Auth::Basic { user, .. } => write!(f, "Auth::Basic {{ user: {user:?}, .. }}"),
        }
    }
}

/// The dashboard's settings: the client it reads and acts through, and its guards.
///
/// ```no_run
/// # async fn demo(client: haul::Client) {
/// let dashboard = haul_web::Dashboard::new(client)
///     .with_read_only(true)
///     .with_auth(haul_web::Auth::Token("s3cret".into()));
/// let app = axum::Router::new().nest("/admin/jobs", haul_web::router(dashboard));
/// # let _: axum::Router = app;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub(crate) client: Client,
    pub(crate) auth: Option<Auth>,
    pub(crate) read_only: bool,
    pub(crate) page_size: u32,
    pub(crate) hosts: Option<Vec<String>>,
}

impl Dashboard {
    /// A dashboard over `client`'s schema: no auth of its own (nest it behind your app's, or
    /// set [`Dashboard::with_auth`]), actions allowed.
    pub fn new(client: Client) -> Self {
        Dashboard { client, auth: None, read_only: false, page_size: PAGE_SIZE_DEFAULT, hosts: None }
    }

    /// Requires these credentials on every request. Defaults to none.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Refuses every action (retry, cancel, delete, redrive, purge, pause, resume) and hides
    /// their buttons. Defaults to false.
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Jobs per list page unless a request asks for fewer, 1 to [`PAGE_SIZE_MAX`]. Defaults to
    /// [`PAGE_SIZE_DEFAULT`].
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = size.clamp(1, PAGE_SIZE_MAX);
        self
    }

    /// Answers only requests whose `Host` names one of `hosts` (without the port; an IPv6
    /// address in brackets, `[::1]`), refusing others with 421. An unauthenticated dashboard
    /// on loopback sets it to its loopback names, so a page of another site that a DNS trick
    /// points at 127.0.0.1 reads nothing. Defaults to any host.
    pub fn with_allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = Some(hosts.into_iter().map(|h| h.into().to_ascii_lowercase()).collect());
        self
    }

    /// Whether credentials are required.
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }
}
