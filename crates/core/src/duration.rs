//! Lease durations as users write them: `"1h"`, `"30m"`, `"2h30m"`, `"90s"`.

use std::time::Duration;

/// Parses a duration such as `"1h"`, `"2h30m"`, `"45m"`, `"1d"` or `"90s"`.
///
/// Units: `d`, `h`, `m`, `s` (and the longer spellings humantime accepts).
/// The result must be greater than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the duration is empty; write it like \"1h\", \"30m\" or \"2h30m\"".into());
    }
    let spaced = insert_spaces_between_units(trimmed);
    let duration = humantime::parse_duration(&spaced)
        .map_err(|e| format!("`{trimmed}` is not a duration ({e}); write it like \"1h\", \"30m\" or \"2h30m\""))?;
    if duration.is_zero() {
        return Err(format!("`{trimmed}` is zero; a duration must be longer than that"));
    }
    Ok(duration)
}

/// humantime wants `2h 30m`; users write `2h30m`. Put a space before every
/// digit that follows a letter.
fn insert_spaces_between_units(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let mut previous_was_letter = false;
    for c in text.chars() {
        if c.is_ascii_digit() && previous_was_letter {
            out.push(' ');
        }
        previous_was_letter = c.is_alphabetic();
        out.push(c);
    }
    out
}

/// Formats a duration the way users write it (`2h30m`, `45s`).
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_write() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("2h30m").unwrap(), Duration::from_secs(9000));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration(" 90s ").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h 5m").unwrap(), Duration::from_secs(3900));
    }

    #[test]
    fn rejects_nonsense_with_a_hint() {
        for bad in ["", "soon", "10", "0s", "-1h", "1x"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("duration") || err.contains("zero"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_duration(Duration::from_secs(9000)), "2h30m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
    }
}
