//! Text helpers below every room: cutting text short without splitting a character (error
//! bodies, echoed inputs, summary blocks), sizes and counts in words, and [`defang`], which makes
//! untrusted text inert as a workflow command. (GitHub's own limits count UTF-16 units; see
//! `render::workflow::cut_chars`.)

/// At most `max` characters, with a marker when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}… (cut)", text.chars().take(max).collect::<String>())
    }
}

/// The longest prefix of at most `max` bytes that ends on a character boundary.
pub fn prefix_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A byte count for people: `512 B`, `3.5 KiB`, `12.0 MiB`.
pub fn size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// `1 message`, `2 messages`.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// How a message names an input: as the action input on GitHub Actions (`` input `place-id` ``),
/// elsewhere as the flag and the environment variable that set it (`` `--place-id` /
/// `INPUT_PLACE_ID` ``); the API key has no flag.
pub fn input_name(input: &str, github_actions: bool) -> String {
    let variable = format!("INPUT_{}", input.to_ascii_uppercase().replace('-', "_"));
    match (github_actions, input) {
        (true, _) => format!("input `{input}`"),
        (false, "api-key") => format!("`{variable}`"),
        (false, _) => format!("`--{input}` / `{variable}`"),
    }
}

/// The word joiner (U+2060): invisible, and breaks the legacy `##[` command prefix.
const WORD_JOINER: char = '\u{2060}';

/// Makes one line of untrusted text inert as a workflow command: `##[` is broken; line breaks
/// are the caller's to handle (see [`split_lines`]).
pub fn defang(line: &str) -> String {
    line.replace("##[", &format!("##{WORD_JOINER}["))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(cut("héllo", 10), "héllo");
        assert_eq!(cut("héllo", 2), "hé… (cut)");
        assert_eq!(prefix_bytes("héllo", 2), "h");
        assert_eq!(prefix_bytes("héllo", 3), "hé");
        assert_eq!(prefix_bytes("abc", 10), "abc");
    }

    #[test]
    fn sizes_and_counts_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 * 1024 + 512), "3.5 KiB");
        assert_eq!(size(12 * 1024 * 1024), "12.0 MiB");
        assert_eq!(count(1, "message", "messages"), "1 message");
        assert_eq!(count(0, "message", "messages"), "0 messages");
    }

    #[test]
    fn inputs_are_named_as_the_user_set_them() {
        assert_eq!(input_name("place-id", true), "input `place-id`");
        assert_eq!(
            input_name("place-id", false),
            "`--place-id` / `INPUT_PLACE_ID`"
        );
        assert_eq!(input_name("api-key", false), "`INPUT_API_KEY`");
    }
}
