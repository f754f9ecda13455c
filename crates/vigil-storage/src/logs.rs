//! The log side of the storage contracts: [`LogAppendable`]/[`LogAppender`] for batched,
//! durable pushes of log entries per stream, and [`LogQueryable`]/[`LogQuerier`] for
//! streaming reads by stream matchers over a nanosecond time range.
//!
//! Ordering contract of [`LogQuerier::select_entries`]: entries come out merged across
//! streams, `Forward` by ascending `(timestamp_ns, stream labels, line)`, `Backward` by the
//! exact reverse, so a LogQL engine can stop after `limit` entries and page with the last
//! timestamp seen. Implementations must produce them lazily with memory bounded by the
//! number of streams and a small per-stream window, never by the size of the range.

use std::fmt;

use async_trait::async_trait;
use thiserror::Error;
use vigil_model::{Direction, Labels, LogEntry, LogTimeRange, Matcher, TenantId};

use crate::{AppendErrorKind, StorageError};

/// Options for one log appender. One struct, so new needs grow fields, not sub-traits.
#[derive(Debug, Clone, Default)]
pub struct LogAppendOptions {
    /// Skip the per-stream out-of-order window (WAL replay, backfill tools).
    pub skip_time_checks: bool,
}

/// What a successful log commit stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCommitStats {
    /// Entries made durable, not counting dropped exact duplicates.
    pub entries: u64,
    /// Entries dropped because the stream already held the same timestamp and line.
    pub duplicates: u64,
    /// Bytes of lines and structured metadata made durable.
    pub bytes: u64,
    /// Streams created by this commit.
    pub new_streams: u64,
}

/// A rejected log entry. Other entries of the same batch are unaffected.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum LogAppendError {
    /// The entry is older than the stream's newest entry by more than the unordered-writes
    /// window (Loki: "entry too far behind").
    #[error(
        "entry for stream '{stream}' has timestamp too far behind: {timestamp_ns} is more than {window_ns}ns before the newest entry of the stream ({newest_ns})"
    )]
    TooFarBehind {
        /// The stream.
        stream: Labels,
        /// The rejected entry's timestamp (ns).
        timestamp_ns: i64,
        /// The stream's newest timestamp (ns).
        newest_ns: i64,
        /// The accepted window behind the newest entry (ns).
        window_ns: i64,
    },
    /// The stream label set is unusable (empty).
    #[error("invalid stream '{stream}': {reason}")]
    InvalidStream {
        /// The stream.
        stream: Labels,
        /// Why it was rejected.
        reason: String,
    },
    /// The tenant reached its active stream limit.
    #[error(
        "maximum active stream limit exceeded: the tenant already has {limit} streams, stream '{stream}' was not created"
    )]
    StreamLimit {
        /// The stream that could not be created.
        stream: Labels,
        /// The configured limit.
        limit: usize,
    },
}

impl LogAppendError {
    /// The class of the error, for status mapping.
    pub fn kind(&self) -> AppendErrorKind {
        match self {
            Self::StreamLimit { .. } => AppendErrorKind::LimitExceeded,
            Self::TooFarBehind { .. } | Self::InvalidStream { .. } => AppendErrorKind::InvalidInput,
        }
    }
}

/// Something that hands out log appenders for a tenant.
pub trait LogAppendable: Send + Sync {
    /// A fresh appender for `tenant`. Nothing is visible or durable before `commit`.
    fn log_appender(&self, tenant: &TenantId, options: LogAppendOptions) -> Box<dyn LogAppender>;
}

/// A batch of log entries for one tenant, applied on `commit`.
///
/// `append_entry` checks each entry on its own: a rejected entry returns an error and is
/// left out, the rest of the batch stays valid. Entries of one stream may arrive in any
/// order within the window (Loki's unordered writes). An entry equal in timestamp and line
/// to one already in the stream is dropped as a duplicate, so retried pushes are idempotent.
/// `commit` returns only once the batch is durable (e.g. after the WAL fsync) and visible.
#[async_trait]
pub trait LogAppender: Send {
    /// Buffers one entry of the stream `stream` (labels sorted and validated by the caller).
    fn append_entry(&mut self, stream: &Labels, entry: LogEntry) -> Result<(), LogAppendError>;

    /// Makes the batch durable and visible.
    async fn commit(self: Box<Self>) -> Result<LogCommitStats, StorageError>;

    /// Drops the batch.
    fn rollback(self: Box<Self>);
}

/// What to read with [`LogQuerier::select_entries`].
#[derive(Debug, Clone, Default)]
pub struct LogSelect {
    /// Stream matchers; all must match, and at least one must not match the empty string.
    pub matchers: Vec<Matcher>,
    /// Oldest first or newest first.
    pub direction: Direction,
    /// Stop after this many entries (0 = no limit).
    pub limit: usize,
    /// Case-sensitive substrings that must all occur in a returned line (the literals of
    /// LogQL `|=` filters). The storage applies them exactly and may use a content index to
    /// skip data that cannot contain them; an empty list filters nothing.
    pub line_contains: Vec<String>,
}

/// One entry as read, with the labels of its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The stream identity.
    pub stream: Labels,
    /// The entry.
    pub entry: LogEntry,
}

/// A lazy, ordered sequence of entries; decoding happens as the iterator advances.
pub type LogEntryIter = Box<dyn Iterator<Item = Result<StreamEntry, StorageError>> + Send>;

/// Something whose logs can be read for a tenant.
pub trait LogQueryable: Send + Sync {
    /// A reader over `range` (inclusive, ns) for `tenant`, seeing a consistent snapshot.
    fn log_querier(
        &self,
        tenant: &TenantId,
        range: LogTimeRange,
    ) -> Result<Box<dyn LogQuerier>, StorageError>;
}

/// A reader over one time range of one tenant's logs.
pub trait LogQuerier: Send + Sync {
    /// Entries of the streams matching `select.matchers` within the range, containing all
    /// `select.line_contains`, merged across streams in the order described in the module
    /// docs, at most `select.limit` of them.
    fn select_entries(&self, select: &LogSelect) -> Result<LogEntryIter, StorageError>;

    /// The entries `select_entries` would return (ignoring `direction` and `limit`) as
    /// independent parts to read in any order, on any thread (see [`crate::LogScanPart`]).
    ///
    /// The default reads each matching stream through `select_entries` into memory: right
    /// for small stores, while a store on disk overrides it to read its data lazily.
    fn scan_parts(
        &self,
        select: &LogSelect,
        columns: crate::ScanColumns,
    ) -> Result<Vec<Box<dyn crate::LogScanPart>>, StorageError> {
        let _ = columns;
        let mut parts: Vec<Box<dyn crate::LogScanPart>> = Vec::new();
        for stream in self.series(&select.matchers)? {
            let exact: Vec<Matcher> = stream
                .iter()
                .map(|label| Matcher::equal(label.name.clone(), label.value.clone()))
                .collect();
            let mut entries = Vec::new();
            for read in self.select_entries(&LogSelect {
                matchers: exact,
                direction: Direction::Forward,
                limit: 0,
                line_contains: select.line_contains.clone(),
            })? {
                let read = read?;
                // A stream with more labels matches the same equality matchers.
                if read.stream == stream {
                    entries.push(read.entry);
                }
            }
            if !entries.is_empty() {
                parts.push(Box::new(crate::EntriesPart::new(stream, entries)));
            }
        }
        Ok(parts)
    }

    /// Label sets of the streams matching all `matchers` that have entries in the range,
    /// sorted; with no matchers, every stream with entries in the range.
    fn series(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, StorageError>;

    /// Sorted, unique label names of streams with entries in the range (restricted by
    /// matchers if any).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Sorted, unique values of label `name` of streams with entries in the range
    /// (restricted by matchers if any).
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// Checks the rule every entry selection shares: at least one matcher must not match the
/// empty string, so a selection cannot mean "every stream" by accident.
pub fn check_log_matchers(matchers: &[Matcher]) -> Result<(), StorageError> {
    if matchers.iter().any(|m| !m.matches_empty()) {
        return Ok(());
    }
    Err(StorageError::InvalidInput(format!(
        "stream selector {} must contain at least one label matcher that does not match the empty string",
        DisplayMatchers(matchers)
    )))
}

struct DisplayMatchers<'a>(&'a [Matcher]);

impl fmt::Display for DisplayMatchers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, matcher) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{matcher}")?;
        }
        f.write_str("}")
    }
}

/// The total order of entries in [`Direction::Forward`]: timestamp, then stream labels,
/// then line. Shared by implementations so they all merge the same way.
pub fn forward_entry_order(
    a_stream: &Labels,
    a: &LogEntry,
    b_stream: &Labels,
    b: &LogEntry,
) -> std::cmp::Ordering {
    a.timestamp_ns
        .cmp(&b.timestamp_ns)
        .then_with(|| a_stream.cmp(b_stream))
        .then_with(|| a.line.cmp(&b.line))
}

/// True when `line` contains every literal of `literals`.
pub fn line_matches_all(line: &str, literals: &[String]) -> bool {
    literals
        .iter()
        .all(|literal| line.contains(literal.as_str()))
}
