//! The API key as a type that cannot be printed by accident: `Debug` and `Display` both say
//! `(redacted)`, so a `{:?}` of the config, an error or a trace never shows it. The two places
//! that need the value (the `x-api-key` header, GitHub's `::add-mask::`) call [`ApiKey::expose`].
//!
//! A server can still send the key back (echoed in an error body, a task error, a log line).
//! [`Redactor`] removes it, in its plain, URL-escaped and JSON-escaped forms, from every piece of
//! remote text: the API client applies it where text enters, and every sink applies it again.

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

    /// What removes this key from text.
    pub fn redactor(&self) -> Redactor {
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

    /// Redacts every string (and object key) of a JSON value, in place.
    pub fn scrub_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(text) => self.scrub(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.scrub_json(item)),
            Value::Object(object) => {
                if object.keys().any(|k| self.finds_in(k)) {
                    let taken = std::mem::take(object);
                    *object = taken
                        .into_iter()
                        .map(|(k, v)| (self.redact(&k).into_owned(), v))
                        .collect();
                }
                object.values_mut().for_each(|item| self.scrub_json(item));
            }
            _ => {}
        }
    }
}

impl Redactor {
    /// Redacts a JSON value kept as text. Without escapes the text is scrubbed as it is;
    /// with escapes (which can spell the key any way) it is decoded, scrubbed and written anew.
    pub fn scrub_raw_json(&self, raw: &mut Box<serde_json::value::RawValue>) {
        if self.needles.is_empty() {
            return;
        }
        let text = raw.get();
        let rewritten = if !text.contains('\\') {
            match self.redact(text) {
                Cow::Borrowed(_) => return,
                Cow::Owned(clean) => serde_json::value::RawValue::from_string(clean).ok(),
            }
        } else {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|mut value| {
                    let before = value.clone();
                    self.scrub_json(&mut value);
                    (value != before).then_some(value)
                })
                .and_then(|value| serde_json::value::to_raw_value(&value).ok())
        };
        if let Some(clean) = rewritten {
            *raw = clean;
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

    #[test]
    fn scrubs_raw_json_however_it_is_escaped() {
        let redactor = Redactor::for_secret("s3cret");
        for text in [
            r#"["s3cret"]"#,
            r#"{"a":"x\u0073\u0033cret y"}"#,
            r#"{"a":"line\ns3cret"}"#,
        ] {
            let mut raw = serde_json::value::RawValue::from_string(text.to_owned()).unwrap();
            redactor.scrub_raw_json(&mut raw);
            let decoded: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
            assert!(
                !decoded.to_string().contains("s3cret"),
                "{text} -> {}",
                raw.get()
            );
        }
    }

    #[test]
    fn scrubs_json_strings_and_keys() {
        let redactor = Redactor::for_secret("s3cret");
        let mut value = serde_json::json!({ "a": ["x s3cret", 1], "s3cret": "ok" });
        redactor.scrub_json(&mut value);
        let text = value.to_string();
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(value["a"][0], "x (redacted)");
        assert_eq!(value[REDACTED], "ok");
    }
}
