//! The API key as a type that cannot be printed by accident: `Debug` and `Display` both say
//! `(redacted)`, so a `{:?}` of the config, an error or a trace never shows it. The two places
//! that need the value (the `x-api-key` header, GitHub's `::add-mask::`) call [`ApiKey::expose`].
//!
//! A server can still send the key back (echoed in an error body, a task error, a log line).
//! [`Redactor`] removes it, in its plain, URL-escaped and JSON-escaped forms, from text that is
//! shown: the API client applies it to free text where it enters, the test results once they are
//! parsed, and every sink (stdout, stderr, outputs, summary, JUnit) to all it writes. It never
//! touches data before it is parsed or checked (a task path, a page token, the results JSON).
//!
//! A key shorter than [`MIN_SCRUBBED_KEY_CHARS`] is not scrubbed from text: it is too short to be
//! an Open Cloud key (those run to hundreds of characters) or a secret, and replacing every `x`
//! of the text for a key `x` would mangle everything shown. It is still never printed by us, and
//! GitHub is still told to mask it.

use std::borrow::Cow;
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The key itself. Every caller is a place the key is meant to go.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What removes this key from text: nothing for a key too short to be secret.
    pub fn redactor(&self) -> Redactor {
        if self.0.chars().count() < MIN_SCRUBBED_KEY_CHARS {
            return Redactor::default();
        }
        Redactor::for_secret(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Keys shorter than this are not scrubbed from text (see the module's doc).
pub const MIN_SCRUBBED_KEY_CHARS: usize = 16;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "(redacted)";

/// Replaces every known spelling of one secret with [`REDACTED`]. The empty redactor (no key)
/// changes nothing.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The secret as it may appear in text: plain, percent-encoded (both hex cases), and
    /// JSON-escaped (minimal escapes, and every character as `\uXXXX` in both hex cases).
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms)", self.needles.len())
    }
}

impl Redactor {
    pub fn for_secret(secret: &str) -> Self {
        if secret.is_empty() {
            return Self::default();
        }
        let mut needles = vec![
            secret.to_owned(),
            percent_encode(secret, false),
            percent_encode(secret, true),
            serde_json::to_string(secret)
                .map(|quoted| quoted[1..quoted.len() - 1].to_owned())
                .unwrap_or_default(),
            unicode_escape(secret, false),
            unicode_escape(secret, true),
        ];
        needles.retain(|n| !n.is_empty());
        needles.sort();
        needles.dedup();
        // Longest first, so a longer spelling is not half-replaced through a shorter one.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Self { needles }
    }

    /// Whether the text holds the secret in any known spelling.
    pub fn finds_in(&self, text: &str) -> bool {
        self.needles.iter().any(|n| text.contains(n.as_str()))
    }

    /// The text with every spelling of the secret replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.finds_in(text) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_owned();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        Cow::Owned(out)
    }

    /// Redacts a string in place.
    pub fn scrub(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }
}

fn percent_encode(text: &str, upper: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else if upper {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

fn unicode_escape(text: &str, upper: bool) -> String {
    text.encode_utf16()
        .map(|unit| {
            if upper {
                format!("\\u{unit:04X}")
            } else {
                format!("\\u{unit:04x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_value() {
        let key = ApiKey::new("super-secret-value".into());
        assert!(!format!("{key:?}").contains("super-secret"));
        assert!(!format!("{key}").contains("super-secret"));
        assert!(!format!("{:#?}", Some(&key)).contains("super-secret"));
        assert_eq!(key.expose(), "super-secret-value");
        // It says what it is, so a `{:?}` of the config still reads.
        assert_eq!(format!("{key:?}"), "ApiKey(redacted)");
        assert_eq!(format!("{key}"), REDACTED);
        assert_eq!(
            format!("{:?}", key.redactor()),
            format!("Redactor({} forms)", key.redactor().needles.len())
        );
    }

    #[test]
    fn a_keys_redactor_removes_that_key() {
        let key = ApiKey::new("super-secret-value".into());
        assert_eq!(
            key.redactor().redact("sent super-secret-value back"),
            "sent (redacted) back"
        );
    }

    #[test]
    fn keys_too_short_to_be_secret_leave_text_alone() {
        let short = ApiKey::new("x".repeat(MIN_SCRUBBED_KEY_CHARS - 1));
        let text = format!("exit {}", short.expose());
        assert_eq!(short.redactor().redact(&text), text);
        let long = ApiKey::new("x".repeat(MIN_SCRUBBED_KEY_CHARS));
        assert_eq!(
            long.redactor().redact(&format!("exit {}", long.expose())),
            "exit (redacted)"
        );
    }

    #[test]
    fn redacts_every_spelling() {
        let redactor = Redactor::for_secret("k+y/\"1=");
        for text in [
            "plain k+y/\"1= here",
            "url k%2By%2F%221%3D here",
            "url k%2by%2f%221%3d here",
            "json k+y/\\\"1= here",
            "escaped \\u006b\\u002b\\u0079\\u002f\\u0022\\u0031\\u003d here",
            "escaped \\u006B\\u002B\\u0079\\u002F\\u0022\\u0031\\u003D here",
        ] {
            let clean = redactor.redact(text);
            assert!(clean.contains(REDACTED), "{text} -> {clean}");
            assert!(!redactor.finds_in(&clean), "{text} -> {clean}");
        }
        assert!(matches!(redactor.redact("nothing"), Cow::Borrowed(_)));
        assert_eq!(Redactor::default().redact("k+y"), "k+y");
    }
}
