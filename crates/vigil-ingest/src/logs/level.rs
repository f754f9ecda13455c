//! `detected_level`: the level Grafana's logs volume groups by, derived from the severity a
//! sender gave or, failing that, from the line itself (a `level=`/`"level":` field or a
//! level word), in the spirit of Loki's level discovery.

/// The structured metadata name Loki and Grafana use for the derived level.
pub(crate) const DETECTED_LEVEL: &str = "detected_level";

fn normalize(word: &str) -> Option<&'static str> {
    let lower = word.trim().to_ascii_lowercase();
    let level = match lower.as_str() {
        "trace" | "trc" => "trace",
        "debug" | "dbg" => "debug",
        "info" | "inf" | "information" | "informational" | "notice" => "info",
        "warn" | "warning" | "wrn" => "warn",
        "error" | "err" | "eror" => "error",
        "critical" | "crit" | "fatal" | "panic" | "emerg" | "emergency" | "alert" => "critical",
        _ => return None,
    };
    Some(level)
}

/// The level of an OTLP severity number (1–24), if it is in range.
pub(crate) fn level_from_severity_number(number: i32) -> Option<&'static str> {
    match number {
        1..=4 => Some("trace"),
        5..=8 => Some("debug"),
        9..=12 => Some("info"),
        13..=16 => Some("warn"),
        17..=20 => Some("error"),
        21..=24 => Some("critical"),
        _ => None,
    }
}

/// The value of a `level` key in a logfmt or JSON line, if any.
fn level_field(line: &str) -> Option<&'static str> {
    for key in ["level", "lvl", "severity"] {
        for pattern in [format!("{key}="), format!("\"{key}\":")] {
            let mut search_from = 0;
            while let Some(found) = line[search_from..].find(&pattern) {
                let start = search_from + found;
                search_from = start + pattern.len();
                let preceded_ok = line[..start]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
                if !preceded_ok {
                    continue;
                }
                let value = line[search_from..]
                    .trim_start()
                    .trim_start_matches('"')
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or_default();
                if let Some(level) = normalize(value) {
                    return Some(level);
                }
            }
        }
    }
    None
}

/// A level word standing alone in the first part of the line, e.g. `2024-01-01 ERROR ...`.
fn level_word(line: &str) -> Option<&'static str> {
    let head = line.get(..line.len().min(256)).unwrap_or(line);
    head.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_uppercase()))
        .find_map(normalize)
}

/// The detected level: from `severity_text`, else `severity_number`, else the line,
/// else `unknown`.
pub fn detect_level(
    severity_text: Option<&str>,
    severity_number: Option<i32>,
    line: &str,
) -> &'static str {
    severity_text
        .and_then(normalize)
        .or_else(|| severity_number.and_then(level_from_severity_number))
        .or_else(|| level_field(line))
        .or_else(|| level_word(line))
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_wins_over_the_line() {
        assert_eq!(detect_level(Some("Warning"), None, "level=error"), "warn");
        assert_eq!(detect_level(None, Some(17), "all good"), "error");
        assert_eq!(detect_level(Some("bogus"), Some(9), ""), "info");
        assert_eq!(detect_level(None, Some(0), "x"), "unknown");
    }

    #[test]
    fn finds_levels_in_lines() {
        assert_eq!(detect_level(None, None, "ts=1 level=debug msg=hi"), "debug");
        assert_eq!(
            detect_level(None, None, r#"{"level":"error","msg":"x"}"#),
            "error"
        );
        assert_eq!(
            detect_level(None, None, "2024-01-01 12:00:00 WARN disk slow"),
            "warn"
        );
        assert_eq!(
            detect_level(None, None, "[Sun Dec 04 04:47:44 2005] [error] mod_jk"),
            "unknown"
        );
        assert_eq!(
            detect_level(None, None, "loglevel=info"),
            "unknown",
            "key must stand alone"
        );
        assert_eq!(detect_level(None, None, "GET /error 200"), "unknown");
    }
}
