//! Text from outside the server (a request path, a device's sale) as it appears in a log
//! line: control characters and line separators escaped, so nobody can forge a log line.
//! It only changes how text is shown, never what is stored or answered.

use std::fmt;

/// Shows the wrapped text with `\n`, `\r`, `\t`, `\u{1b}` and the like escaped.
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.chars() {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_line_breaks_are_escaped_and_the_rest_kept() {
        let shown =
            Untrusted("uk-01\n2026-12-02T00:00:00Z  INFO forged\r\u{1b}[31m\u{2028}ok").to_string();
        assert_eq!(
            shown,
            "uk-01\\n2026-12-02T00:00:00Z  INFO forged\\r\\u{1b}[31m\\u{2028}ok"
        );
        assert_eq!(Untrusted("Café ☕ R07").to_string(), "Café ☕ R07");
    }
}
