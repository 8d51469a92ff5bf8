//! Validation of every name that reaches SQL or a NOTIFY channel: schemas, queues, kinds, tags.
//! Runs before any statement is built, so a bad name never touches the database.

use crate::error::{Error, Result};

/// Longest schema name: leaves room for the `_jobs` channel suffix under PostgreSQL's 63 bytes.
pub const SCHEMA_MAX_LEN: usize = 48;
/// Longest queue or kind name.
pub const NAME_MAX_LEN: usize = 128;
/// Longest tag.
pub const TAG_MAX_LEN: usize = 64;

/// Checks a schema name: lowercase ASCII letters, digits and `_`, starting with a letter or `_`.
///
/// Schema names are spliced into SQL as identifiers, so the rule is strict.
///
/// ```
/// assert!(haul::names::validate_schema("haul").is_ok());
/// assert!(haul::names::validate_schema("haul; drop table x").is_err());
/// ```
pub fn validate_schema(name: &str) -> Result<()> {
    let reason = if name.is_empty() || name.len() > SCHEMA_MAX_LEN {
        Some("a schema name must be 1 to 48 characters long")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        Some("a schema name must start with a lowercase letter or `_`")
    } else if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        Some("a schema name may hold only lowercase ASCII letters, digits and `_`")
    } else if name.starts_with("pg_") {
        Some("names starting with `pg_` are reserved by PostgreSQL")
    } else {
        None
    };
    reject("schema", name, reason)
}

/// Checks a queue name: 1–128 of ASCII letters, digits, `_`, `-`, `.` and `:`.
///
/// ```
/// assert!(haul::names::validate_queue("mail.high").is_ok());
/// assert!(haul::names::validate_queue("").is_err());
/// ```
pub fn validate_queue(name: &str) -> Result<()> {
    reject("queue", name, word_rule(name, NAME_MAX_LEN))
}

/// Checks a job kind: the same rule as queue names.
///
/// ```
/// assert!(haul::names::validate_kind("send_email").is_ok());
/// assert!(haul::names::validate_kind("send email").is_err());
/// ```
pub fn validate_kind(name: &str) -> Result<()> {
    reject("kind", name, word_rule(name, NAME_MAX_LEN))
}

/// Checks a tag: 1–64 of ASCII letters, digits, `_`, `-`, `.` and `:`.
///
/// ```
/// assert!(haul::names::validate_tag("customer:42").is_ok());
/// assert!(haul::names::validate_tag("a,b").is_err());
/// ```
pub fn validate_tag(name: &str) -> Result<()> {
    reject("tag", name, word_rule(name, TAG_MAX_LEN))
}

fn word_rule(name: &str, max: usize) -> Option<&'static str> {
    if name.is_empty() || name.len() > max {
        Some("must be non-empty and not too long (queues and kinds 128, tags 64 characters)")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b)) {
        Some("may hold only ASCII letters, digits, `_`, `-`, `.` and `:`")
    } else {
        None
    }
}

fn reject(what: &'static str, name: &str, reason: Option<&'static str>) -> Result<()> {
    match reason {
        None => Ok(()),
        Some(reason) => {
            let name = name.chars().take(80).collect();
            Err(Error::InvalidName { what, name, reason })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_rules() {
        for ok in ["haul", "_x", "a1_b2", &"s".repeat(48)] {
            assert!(validate_schema(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Haul", "1a", "a-b", "a b", "pg_x", "x\"y", &"s".repeat(49)] {
            assert!(validate_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queue_rules() {
        assert!(validate_queue("default").is_ok());
        assert!(validate_queue("Mail-2.eu:west").is_ok());
        assert!(validate_queue(&"q".repeat(129)).is_err());
        assert!(validate_queue("é").is_err());
        let err = validate_queue("a b").unwrap_err().to_string();
        assert!(err.contains("invalid queue `a b`"), "{err}");
    }
}
