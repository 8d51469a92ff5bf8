//! Passwords out of connection strings before they are shown: a URL's `user:password@`, a
//! `password=` query parameter, and libpq's `key=value` form, even when the string does not
//! parse.

/// What a hidden password is shown as.
const HIDDEN: &str = "***";

/// `conn` with every password replaced by `***`.
pub fn redact(conn: &str) -> String {
    redact_params(&redact_userinfo(conn))
}

/// Hides the password of `scheme://user:password@host...`.
fn redact_userinfo(conn: &str) -> String {
    let Some(scheme_end) = conn.find("://") else { return conn.to_owned() };
    let start = scheme_end + 3;
    let rest = &conn[start..];
    // the userinfo ends at the last `@` before the query: a password may hold `/` or `@`
    let query = rest.find(['?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..query].rfind('@') else { return conn.to_owned() };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{HIDDEN}{}", &conn[..start + colon + 1], &rest[at..]),
        None => conn.to_owned(),
    }
}

/// Hides the value of every `password=` (also `sslpassword=`, any case): in a URL's query
/// or in `host=.. password=..`.
fn redact_params(conn: &str) -> String {
    let lower = conn.to_ascii_lowercase();
    let mut out = String::with_capacity(conn.len());
    let mut done = 0;
    for (i, _) in lower.match_indices("password=") {
        let value = i + "password=".len();
        if value < done {
            continue;
        }
        out.push_str(&conn[done..value]);
        out.push_str(HIDDEN);
        done = value + value_len(&conn[value..]);
    }
    out.push_str(&conn[done..]);
    out
}

/// Length of a parameter's value: a quoted libpq value, or up to `&`, `#` or white space.
fn value_len(s: &str) -> usize {
    if let Some(quoted) = s.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => return i + 2,
                _ => escaped = false,
            }
        }
        return s.len();
    }
    s.find(|c: char| c == '&' || c == '#' || c.is_whitespace()).unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn every_form_is_redacted() {
        let cases = [
            ("postgres://u:secret@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgres://u:se/c@ret@h/db?x=1", "postgres://u:***@h/db?x=1"),
            (
                "postgres://u@h/db?sslmode=disable&password=secret",
                "postgres://u@h/db?sslmode=disable&password=***",
            ),
            ("postgres://h/db?PASSWORD=secret&user=u", "postgres://h/db?PASSWORD=***&user=u"),
            ("host=h password=secret user=u", "host=h password=*** user=u"),
            ("host=h password='se cr\\'et' user=u", "host=h password=*** user=u"),
            ("host=h sslpassword=secret", "host=h sslpassword=***"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("garbage", "garbage"),
        ];
        for (given, shown) in cases {
            assert_eq!(redact(given), shown, "{given}");
        }
    }
}
