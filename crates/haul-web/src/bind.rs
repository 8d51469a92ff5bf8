//! The bind rule of a standalone dashboard: loopback always; any other address only with auth.

use crate::config::Auth;
use std::net::SocketAddr;

/// Why a dashboard may not listen on an address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindError {
    /// A non-loopback address without credentials would open the queue to the network.
    #[error(
        "refusing to serve the dashboard on {0} without auth: bind 127.0.0.1, or set a token \
         (HAUL_DASHBOARD_TOKEN) or basic auth (HAUL_DASHBOARD_USER and HAUL_DASHBOARD_PASSWORD)"
    )]
    NeedsAuth(SocketAddr),
}

/// Checks that a dashboard guarded by `auth` may listen on `addr`: on a loopback address
/// always, on any other only with auth.
///
/// ```
/// use haul_web::{Auth, check_bind};
/// let token = Auth::Token("s3cret".into());
/// assert!(check_bind("127.0.0.1:8080".parse().unwrap(), None).is_ok());
/// assert!(check_bind("[::1]:8080".parse().unwrap(), None).is_ok());
/// assert!(check_bind("0.0.0.0:8080".parse().unwrap(), None).is_err());
/// assert!(check_bind("0.0.0.0:8080".parse().unwrap(), Some(&token)).is_ok());
/// ```
pub fn check_bind(addr: SocketAddr, auth: Option<&Auth>) -> Result<(), BindError> {
    if addr.ip().is_loopback() || auth.is_some() { Ok(()) } else { Err(BindError::NeedsAuth(addr)) }
}
