//! Validation of log streams and entries with Loki's default limits: label count, label
//! name syntax and lengths, line size (reject or truncate), structured metadata size and
//! count, and the accepted time window (too old / too far in the future).

use vigil_model::{Label, Labels, LogEntry, is_valid_label_name};

const SECOND_NS: i64 = 1_000_000_000;

/// Per-tenant limits of the log push paths; defaults are Loki's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPushLimits {
    /// Longest accepted line in bytes (default 256 KiB; 0 = unlimited).
    pub max_line_size_bytes: usize,
    /// Truncate longer lines to the limit instead of rejecting them (default false).
    pub max_line_size_truncate: bool,
    /// Most labels a stream may have (default 15).
    pub max_label_names_per_stream: usize,
    /// Longest label name in bytes (default 1024).
    pub max_label_name_length: usize,
    /// Longest label value in bytes (default 2048).
    pub max_label_value_length: usize,
    /// Largest structured metadata per entry, names plus values, in bytes (default 64 KiB).
    pub max_structured_metadata_bytes: usize,
    /// Most structured metadata pairs per entry (default 128).
    pub max_structured_metadata_entries: usize,
    /// Entries older than this before now are refused (default 1 week; `None` = accept).
    pub reject_older_than_ns: Option<i64>,
    /// Entries further than this ahead of now are refused (default 10 minutes).
    pub creation_grace_period_ns: i64,
    /// Sustained ingestion rate per tenant in bytes per second (default 10 MiB; 0 = off).
    pub ingestion_rate_bytes: u64,
    /// Burst size of the ingestion rate per tenant in bytes (default 20 MiB).
    pub ingestion_burst_bytes: u64,
    /// Add `detected_level` structured metadata to entries that have none (default true).
    pub discover_log_levels: bool,
    /// How many rejection messages a response names (default 10).
    pub max_errors_reported: usize,
}

impl Default for LogPushLimits {
    fn default() -> Self {
        Self {
            max_line_size_bytes: 256 << 10,
            max_line_size_truncate: false,
            max_label_names_per_stream: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_structured_metadata_bytes: 64 << 10,
            max_structured_metadata_entries: 128,
            reject_older_than_ns: Some(7 * 24 * 3600 * SECOND_NS),
            creation_grace_period_ns: 10 * 60 * SECOND_NS,
            ingestion_rate_bytes: 10 << 20,
            ingestion_burst_bytes: 20 << 20,
            discover_log_levels: true,
            max_errors_reported: 10,
        }
    }
}

/// Formats nanoseconds as RFC 3339 UTC for messages, e.g. `2024-01-02T03:04:05.000000006Z`.
pub(crate) fn format_ns(ts_ns: i64) -> String {
    let seconds = ts_ns.div_euclid(SECOND_NS);
    let nanos = ts_ns.rem_euclid(SECOND_NS);
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for the whole i64 ns range.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Turns the sender's label pairs into a validated stream label set, or says why not.
pub(crate) fn validate_stream(
    pairs: &[(String, String)],
    labels_text: &str,
    limits: &LogPushLimits,
) -> Result<Labels, String> {
    let non_empty: Vec<&(String, String)> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    if non_empty.is_empty() {
        return Err(format!(
            "error parsing labels '{labels_text}': a stream needs at least one label with a value"
        ));
    }
    if non_empty.len() > limits.max_label_names_per_stream {
        return Err(format!(
            "stream '{labels_text}' has {} label names; limit {}",
            non_empty.len(),
            limits.max_label_names_per_stream
        ));
    }
    for (name, value) in &non_empty {
        if !is_valid_label_name(name) {
            return Err(format!(
                "stream '{labels_text}' has invalid label name {name:?}: names must match [a-zA-Z_][a-zA-Z0-9_]*"
            ));
        }
        if name.len() > limits.max_label_name_length {
            return Err(format!(
                "stream '{labels_text}' has label name too long: {name:?} is {} bytes, limit {}",
                name.len(),
                limits.max_label_name_length
            ));
        }
        if value.len() > limits.max_label_value_length {
            return Err(format!(
                "stream '{labels_text}' has label value too long: label {name:?} value is {} bytes, limit {}",
                value.len(),
                limits.max_label_value_length
            ));
        }
    }
    let labels: Vec<Label> = non_empty
        .iter()
        .map(|(n, v)| Label::new(n.as_str(), v.as_str()))
        .collect();
    Labels::from_unsorted_unique(labels)
        .map_err(|err| format!("stream '{labels_text}' has duplicate label name: {err}"))
}

/// Checks (and per the limits truncates) one entry; `Err` names the stream and the entry.
pub(crate) fn validate_entry(
    stream: &Labels,
    entry: &mut LogEntry,
    limits: &LogPushLimits,
    now_ns: i64,
) -> Result<(), String> {
    if let Some(max_age) = limits.reject_older_than_ns {
        let oldest = now_ns.saturating_sub(max_age);
        if entry.timestamp_ns < oldest {
            return Err(format!(
                "entry for stream '{stream}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                format_ns(entry.timestamp_ns),
                format_ns(oldest)
            ));
        }
    }
    let newest = now_ns.saturating_add(limits.creation_grace_period_ns);
    if entry.timestamp_ns > newest {
        return Err(format!(
            "entry for stream '{stream}' has timestamp too new: {}, newest acceptable timestamp is: {}",
            format_ns(entry.timestamp_ns),
            format_ns(newest)
        ));
    }
    if limits.max_line_size_bytes > 0 && entry.line.len() > limits.max_line_size_bytes {
        if !limits.max_line_size_truncate {
            return Err(format!(
                "max entry size '{}' bytes exceeded for stream '{stream}' while adding an entry with length '{}' bytes (timestamp {})",
                limits.max_line_size_bytes,
                entry.line.len(),
                format_ns(entry.timestamp_ns)
            ));
        }
        let mut cut = limits.max_line_size_bytes;
        while !entry.line.is_char_boundary(cut) {
            cut -= 1;
        }
        entry.line.truncate(cut);
    }
    let metadata = &entry.structured_metadata;
    if metadata.len() > limits.max_structured_metadata_entries {
        return Err(format!(
            "structured metadata for stream '{stream}' at {} has {} entries; limit {}",
            format_ns(entry.timestamp_ns),
            metadata.len(),
            limits.max_structured_metadata_entries
        ));
    }
    let metadata_bytes: usize = metadata.iter().map(|l| l.name.len() + l.value.len()).sum();
    if metadata_bytes > limits.max_structured_metadata_bytes {
        return Err(format!(
            "structured metadata for stream '{stream}' at {} is {metadata_bytes} bytes; limit {}",
            format_ns(entry.timestamp_ns),
            limits.max_structured_metadata_bytes
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn formats_timestamps_as_rfc3339() {
        assert_eq!(format_ns(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_ns(1_735_689_600_000_000_123),
            "2025-01-01T00:00:00.000000123Z"
        );
        assert_eq!(format_ns(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_ns(951_782_400 * SECOND_NS),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn stream_rules() {
        let limits = LogPushLimits::default();
        let ok = validate_stream(
            &pairs(&[("job", "a"), ("app", "b"), ("x", "")]),
            "{..}",
            &limits,
        )
        .unwrap();
        assert_eq!(ok, Labels::from_static(&[("app", "b"), ("job", "a")]));
        let too_many: Vec<(String, String)> = (0..16)
            .map(|i| (format!("l{i}"), "v".to_string()))
            .collect();
        assert!(
            validate_stream(&too_many, "{many}", &limits)
                .unwrap_err()
                .contains("16 label names; limit 15")
        );
        assert!(
            validate_stream(&pairs(&[("a.b", "v")]), "{a.b}", &limits)
                .unwrap_err()
                .contains("invalid label name \"a.b\"")
        );
        assert!(
            validate_stream(&pairs(&[("a", "1"), ("a", "2")]), "{dup}", &limits)
                .unwrap_err()
                .contains("duplicate")
        );
        assert!(
            validate_stream(&pairs(&[("a", "")]), "{a=\"\"}", &limits)
                .unwrap_err()
                .contains("at least one label")
        );
        let long_value = "v".repeat(2049);
        assert!(
            validate_stream(&[("a".into(), long_value)], "{a}", &limits)
                .unwrap_err()
                .contains("value too long")
        );
    }

    #[test]
    fn entry_rules() {
        let limits = LogPushLimits {
            max_line_size_bytes: 8,
            ..LogPushLimits::default()
        };
        let stream = Labels::from_static(&[("app", "x")]);
        let now = 1_000_000 * SECOND_NS;
        let mut fine = LogEntry::new(now, "12345678");
        assert!(validate_entry(&stream, &mut fine, &limits, now).is_ok());
        let mut long = LogEntry::new(now, "123456789");
        let err = validate_entry(&stream, &mut long, &limits, now).unwrap_err();
        assert!(
            err.starts_with("max entry size '8' bytes exceeded for stream '{app=\"x\"}'"),
            "{err}"
        );
        let truncating = LogPushLimits {
            max_line_size_truncate: true,
            ..limits.clone()
        };
        let mut multibyte = LogEntry::new(now, "1234567é");
        validate_entry(&stream, &mut multibyte, &truncating, now).unwrap();
        assert_eq!(multibyte.line, "1234567", "cut on a char boundary");
        let mut old = LogEntry::new(now - 8 * 24 * 3600 * SECOND_NS, "x");
        assert!(
            validate_entry(&stream, &mut old, &limits, now)
                .unwrap_err()
                .contains("timestamp too old")
        );
        let mut future = LogEntry::new(now + 11 * 60 * SECOND_NS, "x");
        assert!(
            validate_entry(&stream, &mut future, &limits, now)
                .unwrap_err()
                .contains("timestamp too new")
        );
        let mut near_future = LogEntry::new(now + 9 * 60 * SECOND_NS, "x");
        assert!(validate_entry(&stream, &mut near_future, &limits, now).is_ok());
    }
}
