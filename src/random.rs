//! Unguessable tokens: workflow-command stop tokens, heredoc delimiters, the emulator's
//! download URLs and local keys. Below every room that needs one.

/// A fresh random token of 128 bits, hex-encoded, with a prefix.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    // The OS generator cannot fail on the platforms we ship; if it did, mixing in the clock
    // still gives a token no script can predict before it runs.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh() {
        let a = random_token("t");
        let b = random_token("t");
        assert_ne!(a, b);
        assert_eq!(a.len(), 33);
    }
}
