//! The in-memory head: per tenant, per stream, the entries not yet flushed to a segment,
//! plus what the write checks need (newest timestamp, keys of recent entries for
//! de-duplication). Entries are kept in arrival order and sorted when read or flushed.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use vigil_model::{Labels, LogEntry};

/// Identity of an entry within a stream for de-duplication: timestamp and a 128-bit hash
/// of the line (a collision would need ~2^64 lines at one timestamp).
pub(crate) type EntryKey = (i64, u128);

pub(crate) fn entry_key(entry: &LogEntry) -> EntryKey {
    (
        entry.timestamp_ns,
        xxhash_rust::xxh3::xxh3_128(entry.line.as_bytes()),
    )
}

/// One stream's unflushed entries and write-check state.
pub(crate) struct StreamHead {
    pub(crate) entries: Vec<LogEntry>,
    keys: HashSet<EntryKey>,
    pub(crate) newest_ns: i64,
    pub(crate) bytes: usize,
    oldest_unflushed: Option<Instant>,
    last_append: Instant,
}

impl StreamHead {
    fn new() -> Self {
        Self {
            entries: Vec::new(),
            keys: HashSet::new(),
            newest_ns: i64::MIN,
            bytes: 0,
            oldest_unflushed: None,
            last_append: Instant::now(),
        }
    }

    /// True when the stream's chunk should be cut and flushed.
    pub(crate) fn is_due(&self, target_bytes: usize, max_age: Duration) -> bool {
        !self.entries.is_empty()
            && (self.bytes >= target_bytes
                || self
                    .oldest_unflushed
                    .is_some_and(|t| t.elapsed() >= max_age))
    }
}

/// All streams of one tenant.
#[derive(Default)]
pub(crate) struct TenantHead {
    pub(crate) streams: HashMap<Labels, StreamHead>,
}

impl TenantHead {
    /// Newest timestamp of a stream, if the head knows the stream.
    pub(crate) fn newest(&self, stream: &Labels) -> Option<i64> {
        self.streams.get(stream).map(|s| s.newest_ns)
    }

    /// Stores an entry; false when it duplicates one the stream holds or recently flushed.
    pub(crate) fn apply(&mut self, labels: &Labels, entry: LogEntry) -> (bool, bool) {
        let mut created = false;
        let stream = self.streams.entry(labels.clone()).or_insert_with(|| {
            created = true;
            StreamHead::new()
        });
        if !stream.keys.insert(entry_key(&entry)) {
            return (false, created);
        }
        stream.newest_ns = stream.newest_ns.max(entry.timestamp_ns);
        stream.bytes += entry.size_bytes();
        stream.last_append = Instant::now();
        stream.oldest_unflushed.get_or_insert_with(Instant::now);
        stream.entries.push(entry);
        (true, created)
    }

    /// Removes the first `count` entries of `labels` after they were flushed; keeps the keys
    /// still inside the unordered window so retries stay idempotent.
    pub(crate) fn remove_flushed(&mut self, labels: &Labels, count: usize, window_ns: i64) {
        let Some(stream) = self.streams.get_mut(labels) else {
            return;
        };
        let count = count.min(stream.entries.len());
        stream.entries.drain(..count);
        stream.bytes = stream.entries.iter().map(LogEntry::size_bytes).sum();
        let horizon = stream.newest_ns.saturating_sub(window_ns);
        stream.keys.retain(|key| key.0 >= horizon);
        for entry in &stream.entries {
            stream.keys.insert(entry_key(entry));
        }
        stream.oldest_unflushed = if stream.entries.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
    }

    /// Forgets streams without unflushed entries that saw no append for `idle`.
    pub(crate) fn drop_idle(&mut self, idle: Duration) {
        self.streams
            .retain(|_, s| !s.entries.is_empty() || s.last_append.elapsed() < idle);
    }

    /// Bytes of unflushed entries.
    pub(crate) fn bytes(&self) -> usize {
        self.streams.values().map(|s| s.bytes).sum()
    }
}

/// Sorts entries by timestamp then line and drops exact duplicates (same timestamp and line).
pub(crate) fn sort_dedup(entries: &mut Vec<LogEntry>) {
    entries.sort_by(|a, b| {
        a.timestamp_ns
            .cmp(&b.timestamp_ns)
            .then_with(|| a.line.cmp(&b.line))
    });
    entries.dedup_by(|a, b| a.timestamp_ns == b.timestamp_ns && a.line == b.line);
}
