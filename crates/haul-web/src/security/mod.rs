//! The dashboard's guards, applied to every route: the `Host` answered ([`host`]),
//! credentials ([`auth`]), cross-site and
//! read-only refusal of every POST with its CSRF token checked ([`csrf`]), and the response
//! headers that keep pages out of frames and caches ([`headers`]).

pub(crate) mod auth;
pub(crate) mod csrf;
pub(crate) mod headers;
pub(crate) mod host;

use subtle::ConstantTimeEq;

/// `a == b` in time independent of where they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
