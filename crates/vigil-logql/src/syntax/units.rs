//! Durations and byte sizes as LogQL writes them.

const NS_UNITS: [(&str, f64); 10] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
    ("d", 86400e9),
    ("w", 7.0 * 86400e9),
    ("y", 365.0 * 86400e9),
];

/// Parses a duration such as `5m`, `1h30m`, `1.5s`, `250ms`, `2d` into nanoseconds.
///
/// Accepts Go's `time.ParseDuration` syntax (fractions, `ns`/`us`/`µs`) plus Prometheus'
/// `d`, `w` and `y`; a leading `-` makes it negative.
pub fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() {
        return Err("empty duration".to_string());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let Some((_, mult)) = NS_UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("unknown unit {unit:?} in duration {text:?}"));
        };
        total += num * mult;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(format!("duration {text:?} out of range"));
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// Formats nanoseconds in the shortest unit sequence [`parse_duration_ns`] reads back
/// exactly (`1h30m`, `250ms`, `0s`).
pub fn format_duration_ns(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let mut rest = ns.unsigned_abs();
    const UNITS: [(&str, u64); 9] = [
        ("y", 365 * 86_400_000_000_000),
        ("w", 7 * 86_400_000_000_000),
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    for (name, size) in UNITS {
        if rest >= size {
            out.push_str(&format!("{}{name}", rest / size));
            rest %= size;
        }
    }
    out
}

/// Parses a human byte size (`20MB`, `1.5KiB`, `512B`, `3kb`): decimal units are powers
/// of 1000, `i` units powers of 1024; unit letters are case-insensitive.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let num: f64 = t[..num_len]
        .parse()
        .map_err(|_| format!("invalid byte size {text:?}"))?;
    let unit = t[num_len..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" | "p" => 1e15,
        "eb" | "e" => 1e18,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024f64.powi(2),
        "gib" | "gi" => 1024f64.powi(3),
        "tib" | "ti" => 1024f64.powi(4),
        "pib" | "pi" => 1024f64.powi(5),
        "eib" | "ei" => 1024f64.powi(6),
        _ => return Err(format!("invalid byte size {text:?}")),
    };
    let v = num * mult;
    if !v.is_finite() || v > u64::MAX as f64 {
        return Err(format!("byte size {text:?} out of range"));
    }
    Ok(v.round() as u64)
}

/// Formats a byte count with the largest unit that divides it exactly (`20MB`, `1KiB`, `7B`).
pub fn format_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 12] = [
        ("EiB", 1 << 60),
        ("EB", 1_000_000_000_000_000_000),
        ("PiB", 1 << 50),
        ("PB", 1_000_000_000_000_000),
        ("TiB", 1 << 40),
        ("TB", 1_000_000_000_000),
        ("GiB", 1 << 30),
        ("GB", 1_000_000_000),
        ("MiB", 1 << 20),
        ("MB", 1_000_000),
        ("KiB", 1 << 10),
        ("KB", 1_000),
    ];
    if b > 0 {
        for (name, size) in UNITS {
            if b.is_multiple_of(size) {
                return format!("{}{name}", b / size);
            }
        }
    }
    format!("{b}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration_ns("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration_ns("250ms").unwrap(), 250_000_000);
        assert_eq!(parse_duration_ns("2d").unwrap(), 172_800_000_000_000);
        assert!(parse_duration_ns("5x").is_err());
        assert!(parse_duration_ns("").is_err());
        for ns in [1, 1_500_000_000, 5_400_000_000_000, -3_000_000_000] {
            assert_eq!(parse_duration_ns(&format_duration_ns(ns)).unwrap(), ns);
        }
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("20MB").unwrap(), 20_000_000);
        assert_eq!(parse_bytes("1KiB").unwrap(), 1024);
        assert_eq!(parse_bytes("1.5kb").unwrap(), 1500);
        assert!(parse_bytes("3xb").is_err());
        for b in [0, 7, 1024, 20_000_000, 1_500] {
            assert_eq!(parse_bytes(&format_bytes(b)).unwrap(), b);
        }
    }
}
