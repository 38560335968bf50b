//! The API key as a type that cannot be printed by accident: `Debug` and `Display` both say
//! `(redacted)`, so a `{:?}` of the config, an error or a trace never shows it. The two places
//! that need the value (the `x-api-key` header, GitHub's `::add-mask::`) call [`ApiKey::expose`].

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
    }
}
