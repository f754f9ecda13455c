//! Prometheus-style durations (`15s`, `2h`, `1h30m`) as used in Vigil's config.

use crate::BenchError;

/// Parses a duration such as `500ms`, `15s`, `2h` or `1h30m` into milliseconds.
pub fn parse_duration_ms(input: &str) -> Result<i64, BenchError> {
    let invalid = |reason| BenchError::InvalidDuration {
        input: input.to_string(),
        reason,
    };
    if input.is_empty() {
        return Err(invalid("empty"));
    }
    let mut total: i64 = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| invalid("a number must be followed by a unit (ms, s, m, h, d)"))?;
        if digits_end == 0 {
            return Err(invalid("expected a number"));
        }
        let number: i64 = rest[..digits_end]
            .parse()
            .map_err(|_| invalid("number too large"))?;
        let after_number = &rest[digits_end..];
        let unit_end = after_number
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after_number.len());
        let unit_ms = match &after_number[..unit_end] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid("unknown unit (use ms, s, m, h or d)")),
        };
        let part = number
            .checked_mul(unit_ms)
            .ok_or_else(|| invalid("too large"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| invalid("too large"))?;
        rest = &after_number[unit_end..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert_eq!(parse_duration_ms("15s").unwrap(), 15_000);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("1d").unwrap(), 86_400_000);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "15", "s", "1x", "1h-", "99999999999999999999s"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}
