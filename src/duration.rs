//! Durations as people write them in workflow files (`90`, `90s`, `1m30s`, `5m`, `1h`), and as
//! Open Cloud wants them on the wire (protobuf JSON: decimal seconds with an `s` suffix).

use std::time::Duration;

/// Why a duration string was refused. The caller names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("is empty")]
    Empty,
    #[error("`{0}` is not a duration: use seconds (`90`) or units h/m/s (`90s`, `1m30s`, `5m`)")]
    Malformed(String),
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Parses `90` (seconds), or one or more `<digits><unit>` parts with units `h`, `m`, `s` in that
/// order, each at most once (`1h`, `5m`, `1m30s`). Whitespace around the value is ignored.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let malformed = || DurationError::Malformed(trimmed.to_owned());
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = trimmed
            .parse()
            .map_err(|_| DurationError::Overflow(trimmed.to_owned()))?;
        return Ok(Duration::from_secs(seconds));
    }

    let mut total: u64 = 0;
    // Units must appear in descending order, once each: `1m30s`, not `30s1m` or `1m1m`.
    let mut allowed_units: &[(char, u64)] = &[('h', 3600), ('m', 60), ('s', 1)];
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(malformed)?;
        if digits_end == 0 {
            return Err(malformed());
        }
        let (digits, after) = rest.split_at(digits_end);
        let unit = after.chars().next().ok_or_else(malformed)?;
        let position = allowed_units
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(malformed)?;
        let multiplier = allowed_units[position].1;
        allowed_units = &allowed_units[position + 1..];
        let value: u64 = digits
            .parse()
            .map_err(|_| DurationError::Overflow(trimmed.to_owned()))?;
        total = value
            .checked_mul(multiplier)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| DurationError::Overflow(trimmed.to_owned()))?;
        rest = &after[unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// The protobuf JSON form of a duration: `"90s"`, or `"1.5s"` when it has a fraction.
pub fn to_protobuf_duration(duration: Duration) -> String {
    let nanos = duration.subsec_nanos();
    if nanos == 0 {
        format!("{}s", duration.as_secs())
    } else {
        let fraction = format!("{nanos:09}");
        format!("{}.{}s", duration.as_secs(), fraction.trim_end_matches('0'))
    }
}

/// Reads a protobuf JSON duration (`"3s"`, `"1.5s"`). Used by the emulator for request bodies.
pub fn parse_protobuf_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    if number.is_empty() || number.starts_with('-') || number.starts_with('+') {
        return None;
    }
    let seconds: f64 = number.parse().ok()?;
    if !seconds.is_finite() {
        return None;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

/// A short human form for log lines: `850ms`, `12.3s`, `2m05s`.
pub fn human(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        let secs = duration.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_duration(" 45s "), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_malformed_forms() {
        for bad in [
            "", "  ", "s", "1x", "1.5s", "-5", "30s1m", "1m1m", "5 m", "m5", "1ms", "abc",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
    }

    #[test]
    fn refuses_overflow_instead_of_wrapping() {
        assert!(matches!(
            parse_duration("99999999999999999999"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("9999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn protobuf_form_round_trips() {
        assert_eq!(to_protobuf_duration(Duration::from_secs(90)), "90s");
        assert_eq!(to_protobuf_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(
            parse_protobuf_duration("90s"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_protobuf_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_protobuf_duration("90"), None);
        assert_eq!(parse_protobuf_duration("-1s"), None);
        assert_eq!(parse_protobuf_duration("s"), None);
    }

    #[test]
    fn human_form() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human(Duration::from_secs(125)), "2m05s");
    }
}
