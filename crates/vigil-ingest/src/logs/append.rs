//! Validating, rate limiting and appending a decoded push, then committing it once.

use vigil_model::{Label, Labels, LogEntry, TenantId};
use vigil_storage::{AppendErrorKind, LogAppendOptions, LogAppendable};

use crate::IngestError;
use crate::logs::level::{DETECTED_LEVEL, detect_level};
use crate::logs::validate::{validate_entry, validate_stream};
use crate::logs::{DecodedPush, LogPushLimits, RateLimiter};

/// What a log push stored and what it refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPushOutcome {
    /// Entries made durable (duplicates of stored entries not counted).
    pub entries_written: u64,
    /// Entries dropped as exact duplicates of stored ones (retries).
    pub duplicates: u64,
    /// Bytes of the accepted entries (lines plus structured metadata).
    pub bytes_accepted: u64,
    /// Entries refused as invalid.
    pub entries_invalid: u64,
    /// Entries refused by a per-tenant limit (stream limit).
    pub entries_over_limit: u64,
    /// The first rejection messages, at most `max_errors_reported`.
    pub errors: Vec<String>,
}

impl LogPushOutcome {
    /// Entries refused for any reason.
    pub fn rejected(&self) -> u64 {
        self.entries_invalid + self.entries_over_limit
    }

    fn reject(&mut self, message: String, count: u64, over_limit: bool, max_reported: usize) {
        if over_limit {
            self.entries_over_limit += count;
        } else {
            self.entries_invalid += count;
        }
        if self.errors.len() < max_reported {
            self.errors.push(message);
        }
    }

    /// One message for the response body: the first reasons and how many were refused.
    pub fn message(&self) -> String {
        let mut message = self.errors.join("\n");
        let unnamed = self.rejected().saturating_sub(self.errors.len() as u64);
        if unnamed > 0 {
            message.push_str(&format!("\n(and {unnamed} more rejected entries)"));
        }
        message.push_str(&format!(
            "\n{} entries rejected, {} entries written",
            self.rejected(),
            self.entries_written + self.duplicates
        ));
        message
    }
}

/// Names whose value Loki takes as an entry's level: from the stream labels first, then
/// from the entry's structured metadata (e.g. python-logging-loki's `severity` label).
const LEVEL_NAMES: [&str; 9] = [
    "level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl",
];

/// Adds `detected_level` as Loki's distributor does: the value of a level label of the
/// stream, else of a level field of the structured metadata, else what the line says.
/// Entries (or streams) that carry `detected_level` already are left alone.
fn with_detected_level(stream: &Labels, mut entry: LogEntry) -> LogEntry {
    if stream.get(DETECTED_LEVEL).is_some()
        || entry.structured_metadata.get(DETECTED_LEVEL).is_some()
    {
        return entry;
    }
    let given = LEVEL_NAMES
        .iter()
        .find_map(|name| stream.get(name))
        .or_else(|| {
            LEVEL_NAMES
                .iter()
                .find_map(|name| entry.structured_metadata.get(name))
        })
        .map(str::to_string);
    let level = given.unwrap_or_else(|| detect_level(None, None, &entry.line).to_string());
    let mut metadata: Vec<Label> = entry.structured_metadata.iter().cloned().collect();
    metadata.push(Label::new(DETECTED_LEVEL, level));
    if let Ok(labels) = Labels::from_unsorted_unique(metadata) {
        entry.structured_metadata = labels;
    }
    entry
}

/// Validates, rate-limits, appends and commits `push` for `tenant` at wall-clock `now_ns`.
///
/// Returns the outcome when every entry was stored. When some were refused, the valid rest
/// is committed all the same and the result is [`IngestError::LogsPartial`]. Over the rate
/// limit, nothing is stored and the result is [`IngestError::RateLimited`].
pub async fn push(
    appendable: &dyn LogAppendable,
    tenant: &TenantId,
    push: DecodedPush,
    limits: &LogPushLimits,
    rate_limiter: &RateLimiter,
    now_ns: i64,
) -> Result<LogPushOutcome, IngestError> {
    let mut outcome = LogPushOutcome::default();
    let max_reported = limits.max_errors_reported;
    let mut valid: Vec<(Labels, LogEntry)> = Vec::with_capacity(push.entry_count());
    for decoded in push.streams {
        for reason in decoded.invalid_entries {
            outcome.reject(reason, 1, false, max_reported);
        }
        let entry_count = decoded.entries.len() as u64;
        let stream = match decoded
            .labels
            .and_then(|pairs| validate_stream(&pairs, &decoded.labels_text, limits))
        {
            Ok(stream) => stream,
            Err(reason) => {
                outcome.reject(reason, entry_count.max(1), false, max_reported);
                continue;
            }
        };
        for entry in decoded.entries {
            let mut entry = if limits.discover_log_levels {
                with_detected_level(&stream, entry)
            } else {
                entry
            };
            match validate_entry(&stream, &mut entry, limits, now_ns) {
                Ok(()) => valid.push((stream.clone(), entry)),
                Err(reason) => outcome.reject(reason, 1, false, max_reported),
            }
        }
    }
    let bytes: u64 = valid.iter().map(|(_, e)| e.size_bytes() as u64).sum();
    if !valid.is_empty() && !rate_limiter.try_take(tenant, bytes, now_ns) {
        return Err(IngestError::RateLimited {
            reason: format!(
                "ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{}' lines totaling '{bytes}' bytes, reduce log volume or ask for a higher limit",
                rate_limiter.bytes_per_second(),
                valid.len()
            ),
        });
    }
    let mut appender = appendable.log_appender(tenant, LogAppendOptions::default());
    for (stream, entry) in valid {
        if let Err(err) = appender.append_entry(&stream, entry) {
            let over_limit = err.kind() == AppendErrorKind::LimitExceeded;
            outcome.reject(err.to_string(), 1, over_limit, max_reported);
        }
    }
    let stats = appender.commit().await.map_err(IngestError::Storage)?;
    outcome.entries_written = stats.entries;
    outcome.duplicates = stats.duplicates;
    outcome.bytes_accepted = stats.bytes;
    if outcome.rejected() > 0 {
        let message = outcome.message();
        return Err(IngestError::LogsPartial {
            outcome: Box::new(outcome),
            message,
        });
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use vigil_model::{LogTimeRange, Matcher};
    use vigil_storage::LogQueryable;
    use vigil_storage::LogSelect;
    use vigil_storage::log_memory::{MemLogLimits, MemLogStorage};

    use super::*;
    use crate::IngestErrorKind;
    use crate::logs::DecodedStream;

    const NOW: i64 = 1_735_689_600_000_000_000;

    fn stream(labels: &[(&str, &str)], entries: Vec<LogEntry>) -> DecodedStream {
        DecodedStream {
            labels: Ok(labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()),
            labels_text: format!("{labels:?}"),
            entries,
            invalid_entries: Vec::new(),
        }
    }

    fn stored_lines(storage: &MemLogStorage, tenant: &TenantId) -> Vec<String> {
        let querier = storage.log_querier(tenant, LogTimeRange::ALL).unwrap();
        let select = LogSelect {
            matchers: vec![Matcher::new(vigil_model::MatchOp::Regex, "app", ".+").unwrap()],
            ..LogSelect::default()
        };
        querier
            .select_entries(&select)
            .unwrap()
            .map(|e| e.unwrap().entry.line)
            .collect()
    }

    #[tokio::test]
    async fn good_entries_are_stored_and_bad_ones_named() {
        let storage = MemLogStorage::new();
        let tenant = TenantId::new("t").unwrap();
        let limits = LogPushLimits {
            max_line_size_bytes: 10,
            ..LogPushLimits::default()
        };
        let push_request = DecodedPush {
            streams: vec![
                stream(
                    &[("app", "a")],
                    vec![
                        LogEntry::new(NOW, "ok one"),
                        LogEntry::new(NOW + 1, "far too long a line"),
                        LogEntry::new(NOW - 30 * 24 * 3600 * 1_000_000_000, "ancient"),
                    ],
                ),
                stream(
                    &[("bad.name", "x")],
                    vec![LogEntry::new(NOW, "lost with its stream")],
                ),
                stream(&[("app", "b")], vec![LogEntry::new(NOW + 2, "ok two")]),
            ],
        };
        let limiter = RateLimiter::new(0, 0);
        let err = push(&storage, &tenant, push_request, &limits, &limiter, NOW)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::BadRequest);
        let message = err.to_string();
        assert!(
            message.contains("max entry size '10' bytes exceeded for stream '{app=\"a\"}'"),
            "{message}"
        );
        assert!(message.contains("timestamp too old"), "{message}");
        assert!(
            message.contains("invalid label name \"bad.name\""),
            "{message}"
        );
        assert!(
            message.contains("3 entries rejected, 2 entries written"),
            "{message}"
        );
        assert_eq!(stored_lines(&storage, &tenant), ["ok one", "ok two"]);
    }

    #[tokio::test]
    async fn stream_limit_is_429_and_rate_limit_refuses_everything() {
        let storage = MemLogStorage::with_limits(MemLogLimits {
            max_streams_per_tenant: 1,
            ..MemLogLimits::default()
        });
        let tenant = TenantId::new("t").unwrap();
        let limits = LogPushLimits::default();
        let limiter = RateLimiter::new(0, 0);
        let request = DecodedPush {
            streams: vec![
                stream(&[("app", "a")], vec![LogEntry::new(NOW, "first stream")]),
                stream(&[("app", "b")], vec![LogEntry::new(NOW, "second stream")]),
            ],
        };
        let err = push(&storage, &tenant, request, &limits, &limiter, NOW)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::TooManyRequests);
        assert!(err.to_string().contains("stream limit"), "{err}");
        assert_eq!(stored_lines(&storage, &tenant), ["first stream"]);

        let tight = RateLimiter::new(10, 10);
        let request = DecodedPush {
            streams: vec![stream(
                &[("app", "a")],
                vec![LogEntry::new(NOW + 5, "more than ten bytes")],
            )],
        };
        let err = push(&storage, &tenant, request, &limits, &tight, NOW)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::TooManyRequests);
        assert!(
            err.to_string()
                .starts_with("ingestion rate limit exceeded for user t"),
            "{err}"
        );
        assert_eq!(
            stored_lines(&storage, &tenant),
            ["first stream"],
            "nothing stored"
        );
    }

    #[tokio::test]
    async fn detected_level_comes_from_a_level_label_metadata_or_the_line() {
        let storage = MemLogStorage::new();
        let tenant = TenantId::new("t").unwrap();
        let mut with_detected = LogEntry::new(NOW + 1, "level=error boom");
        with_detected.structured_metadata = Labels::from_static(&[("detected_level", "debug")]);
        let mut with_level_field = LogEntry::new(NOW + 2, "level=error but metadata wins");
        with_level_field.structured_metadata = Labels::from_static(&[("level", "debug")]);
        let request = DecodedPush {
            streams: vec![
                stream(
                    &[("app", "a")],
                    vec![
                        LogEntry::new(NOW, "level=warn slow"),
                        with_detected,
                        with_level_field,
                        LogEntry::new(NOW + 3, "no level at all"),
                    ],
                ),
                // python-logging-loki's `severity` label, as Loki reads it.
                stream(
                    &[("app", "b"), ("severity", "warning")],
                    vec![LogEntry::new(NOW, "level=error the label wins")],
                ),
            ],
        };
        push(
            &storage,
            &tenant,
            request,
            &LogPushLimits::default(),
            &RateLimiter::new(0, 0),
            NOW,
        )
        .await
        .unwrap();
        let levels = |app: &str| -> Vec<String> {
            let querier = storage.log_querier(&tenant, LogTimeRange::ALL).unwrap();
            let select = LogSelect {
                matchers: vec![Matcher::equal("app", app)],
                ..LogSelect::default()
            };
            querier
                .select_entries(&select)
                .unwrap()
                .map(|e| {
                    e.unwrap()
                        .entry
                        .structured_metadata
                        .get("detected_level")
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(levels("a"), ["warn", "debug", "debug", "unknown"]);
        assert_eq!(levels("b"), ["warning"]);
    }
}
