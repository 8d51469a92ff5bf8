//! Values made storable before they reach SQL: text without NUL (PostgreSQL's `text` and
//! `jsonb` cannot hold it) and capped in bytes, and delays clamped to what an `interval` holds,
//! so one value can never make a batched statement fail for its batch-mates.

use std::fmt::{self, Write};
use std::time::Duration;

/// The longest delay Haul stores (snooze, retry-after, scheduled delay): 100 years. Longer
/// delays are clamped to it when an outcome is built, and refused by inserts.
pub const DELAY_MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What marks text cut at its cap; it counts inside the cap.
pub(crate) const TRUNCATED: &str = "… [truncated]";

/// The years PostgreSQL's `timestamptz` holds (4713 BC to 294276 AD, as chrono counts them).
pub(crate) const YEARS: std::ops::RangeInclusive<i32> = -4712..=294_275;

/// Whether JSON text holds a NUL character (the escape `\u0000` inside a string), which
/// PostgreSQL's `jsonb` cannot store.
pub(crate) fn json_has_nul(json: &str) -> bool {
    let mut rest = json;
    while let Some(at) = rest.find('\\') {
        let escaped = &rest[at + 1..];
        if escaped.starts_with("u0000") {
            return true;
        }
        // skip the escaped character: `\\` must not start another escape
        rest = escaped.get(1..).unwrap_or("");
    }
    false
}

/// Clamps `d` to [`DELAY_MAX`].
pub(crate) fn delay(d: Duration) -> Duration {
    d.min(DELAY_MAX)
}

/// `text` with each NUL written as the two characters `\0`, cut to at most `cap` bytes at a
/// character boundary and then marked [`TRUNCATED`].
pub(crate) fn text(text: &str, cap: usize) -> String {
    let mut out = Capped::new(cap);
    let _ = out.write_str(text);
    out.finish()
}

/// Formats `value` into at most `cap` bytes, made storable as [`text`] does. Formatting stops
/// once the cap is reached, so an endless or huge `Display` never allocates past it, and a
/// `Display` that panics yields a note instead of unwinding into the caller.
pub(crate) fn display(value: &dyn fmt::Display, cap: usize) -> String {
    let mut out = Capped::new(cap);
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write!(out, "{value}")));
    match written {
        Ok(_) => out.finish(),
        Err(_) => text("the error's Display implementation panicked", cap),
    }
}

/// A `fmt::Write` that escapes NUL and refuses to grow past its cap.
struct Capped {
    buf: String,
    cap: usize,
    cut: bool,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Capped { buf: String::new(), cap, cut: false }
    }

    fn finish(mut self) -> String {
        // room for the marker inside the cap, at a character boundary (a cap under the
        // marker's size keeps the text only)
        if self.cut && self.cap >= TRUNCATED.len() {
            let mut end = (self.cap - TRUNCATED.len()).min(self.buf.len());
            while !self.buf.is_char_boundary(end) {
                end -= 1;
            }
            self.buf.truncate(end);
            self.buf.push_str(TRUNCATED);
        }
        self.buf
    }

    fn push(&mut self, s: &str) -> fmt::Result {
        if self.buf.len() + s.len() > self.cap {
            self.cut = true;
            return Err(fmt::Error);
        }
        self.buf.push_str(s);
        Ok(())
    }
}

impl Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Err(fmt::Error);
        }
        for (i, part) in s.split('\0').enumerate() {
            if i > 0 {
                self.push("\\0")?;
            }
            // a part longer than the room left is kept up to the cap, then cut
            let room = self.cap.saturating_sub(self.buf.len());
            if part.len() > room {
                let mut end = room;
                while !part.is_char_boundary(end) {
                    end -= 1;
                }
                self.buf.push_str(&part[..end]);
                self.cut = true;
                return Err(fmt::Error);
            }
            self.buf.push_str(part);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_escaped_and_short_text_kept() {
        assert_eq!(text("a\0b", 100), "a\\0b");
        assert_eq!(text("héllo", 100), "héllo");
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary_with_the_marker_inside_the_cap() {
        let long = "é".repeat(10_000);
        let t = text(&long, 101);
        assert!(t.len() <= 101, "{}", t.len());
        assert!(t.ends_with(TRUNCATED));
        assert!(t.starts_with("éé"));
        assert_eq!(text("abcdef", 3), "abc", "a cap under the marker's size keeps the text only");
    }

    #[test]
    fn display_stops_at_the_cap_and_survives_a_panicking_display() {
        struct Endless;
        impl fmt::Display for Endless {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                loop {
                    f.write_str("again ")?;
                }
            }
        }
        struct Panics;
        impl fmt::Display for Panics {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                panic!("no display for you")
            }
        }
        let t = display(&Endless, 64);
        assert!(t.len() <= 64 && t.ends_with(TRUNCATED));
        assert!(display(&Panics, 64).contains("panicked"));
    }

    #[test]
    fn an_escaped_nul_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(json_has_nul(r#"{"a":"x\u0000"}"#));
        assert!(json_has_nul(r#"{"a\u0000":1}"#));
        assert!(!json_has_nul(r#"{"a":"x\\u0000"}"#), "a backslash, then the text u0000");
        assert!(json_has_nul(r#"{"a":"x\\\u0000"}"#));
        assert!(!json_has_nul(r#"{"a":"\u0001 \n"}"#));
    }

    #[test]
    fn delays_are_clamped() {
        assert_eq!(delay(Duration::MAX), DELAY_MAX);
        assert_eq!(delay(Duration::from_secs(5)), Duration::from_secs(5));
    }
}
