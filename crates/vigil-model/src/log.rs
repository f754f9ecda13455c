//! Log data as the ingest paths, the log store and the LogQL engine exchange it. Log
//! timestamps are nanoseconds since the epoch, and the names say so.

use crate::Labels;

/// One log line of a stream: when it happened, the line, and its structured metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// The log line, exactly as received.
    pub line: String,
    /// Per-entry key/value pairs that are not part of the stream identity (Loki's
    /// "structured metadata"): sorted by name, unique names, no empty values.
    pub structured_metadata: Labels,
}

impl LogEntry {
    /// An entry without structured metadata.
    pub fn new(timestamp_ns: i64, line: impl Into<String>) -> Self {
        Self {
            timestamp_ns,
            line: line.into(),
            structured_metadata: Labels::empty(),
        }
    }

    /// Bytes this entry counts for in rate limits and chunk sizes: the line plus the names
    /// and values of its structured metadata (Loki counts the same).
    pub fn size_bytes(&self) -> usize {
        self.line.len()
            + self
                .structured_metadata
                .iter()
                .map(|l| l.name.len() + l.value.len())
                .sum::<usize>()
    }
}

/// An inclusive time range in nanoseconds: `[start_ns, end_ns]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogTimeRange {
    /// Inclusive lower bound, nanoseconds since the epoch.
    pub start_ns: i64,
    /// Inclusive upper bound, nanoseconds since the epoch.
    pub end_ns: i64,
}

impl LogTimeRange {
    /// The whole representable time line.
    pub const ALL: LogTimeRange = LogTimeRange {
        start_ns: i64::MIN,
        end_ns: i64::MAX,
    };

    /// Builds a range; callers must pass `start_ns <= end_ns` for it to contain anything.
    pub fn new(start_ns: i64, end_ns: i64) -> Self {
        Self { start_ns, end_ns }
    }

    /// True when `t_ns` lies within the range.
    pub fn contains(&self, t_ns: i64) -> bool {
        self.start_ns <= t_ns && t_ns <= self.end_ns
    }

    /// True when the range shares at least one instant with `[min_ns, max_ns]`.
    pub fn overlaps(&self, min_ns: i64, max_ns: i64) -> bool {
        self.start_ns <= max_ns && min_ns <= self.end_ns
    }
}

/// The order in which log entries are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_line_and_metadata() {
        let mut entry = LogEntry::new(1, "hello");
        assert_eq!(entry.size_bytes(), 5);
        entry.structured_metadata = Labels::from_static(&[("trace_id", "abc")]);
        assert_eq!(entry.size_bytes(), 5 + 8 + 3);
    }

    #[test]
    fn range_is_inclusive() {
        let range = LogTimeRange::new(10, 20);
        assert!(range.contains(10) && range.contains(20) && !range.contains(21));
        assert!(range.overlaps(20, 30) && !range.overlaps(21, 30));
    }
}
