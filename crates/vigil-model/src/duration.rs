use crate::ModelError;

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a Prometheus duration (`1h30m`, `15s`, `500ms`, `2w`) into milliseconds.
///
/// Units must appear from largest to smallest, each at most once, as Prometheus requires.
pub fn parse_duration_ms(input: &str) -> Result<i64, ModelError> {
    let invalid = |reason| ModelError::InvalidDuration {
        input: input.to_string(),
        reason,
    };
    if input.is_empty() {
        return Err(invalid("empty duration"));
    }
    if input == "0" {
        return Ok(0);
    }
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut total: i64 = 0;
    let mut last_unit_index: Option<usize> = None;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err(invalid("expected a number"));
        }
        let number: i64 = input[digits_start..pos]
            .parse()
            .map_err(|_| invalid("number too large"))?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &input[unit_start..pos];
        let Some(unit_index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(invalid("unknown unit; use ms, s, m, h, d, w or y"));
        };
        if last_unit_index.is_some_and(|last| unit_index <= last) {
            return Err(invalid("units must go from largest to smallest, each once"));
        }
        last_unit_index = Some(unit_index);
        let part = number
            .checked_mul(UNITS[unit_index].1)
            .ok_or_else(|| invalid("duration out of range"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| invalid("duration out of range"))?;
    }
    Ok(total)
}

/// Formats milliseconds as the shortest Prometheus duration (`90000` → `1m30s`).
pub fn format_duration_ms(mut ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = ms.saturating_neg();
    }
    for (name, size) in UNITS {
        if ms >= size {
            out.push_str(&format!("{}{}", ms / size, name));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert_eq!(parse_duration_ms("15d").unwrap(), 15 * 86_400_000);
        assert!(parse_duration_ms("30m1h").is_err());
        assert!(parse_duration_ms("5x").is_err());
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("99999999999999999y").is_err());
        assert_eq!(format_duration_ms(5_400_000), "1h30m");
    }
}
