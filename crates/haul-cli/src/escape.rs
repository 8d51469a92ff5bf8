//! Untrusted text on a terminal: control characters and bidi overrides are escaped (`\n`,
//! `\u{1b}`), so job data cannot move the cursor or recolour the screen; other unicode is kept.

use std::borrow::Cow;

/// `s` with every control character escaped, newlines included: one line stays one line.
pub fn escaped(s: &str) -> Cow<'_, str> {
    escape_where(s, hostile)
}

/// `s` with control characters escaped except newlines, for multi-line messages.
pub fn escaped_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && hostile(c))
}

/// Control characters (C0, DEL, C1) and the bidi embedding, override and isolate marks.
fn hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_where(s: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_unicode_kept() {
        assert_eq!(escaped("café ✓"), "café ✓");
        assert_eq!(escaped("a\x1b[31mb\n\t\u{9b}\u{202e}"), r"a\u{1b}[31mb\n\t\u{9b}\u{202e}");
        assert_eq!(escaped_lines("one\ntwo\x07"), "one\ntwo\\u{7}");
    }
}
