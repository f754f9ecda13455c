//! The read interface evaluation needs from a log store, and an in-memory implementation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use vigil_model::{Labels, Matcher};

use super::EvalError;

/// One stored log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Timestamp in nanoseconds since the epoch.
    pub ts_ns: i64,
    /// The log line.
    pub line: String,
    /// Structured metadata attached to the entry (may be empty).
    pub metadata: Labels,
}

/// One stream returned by a [`LogSource`]: its labels and a forward iterator over its
/// entries.
pub struct LogStream<'a> {
    /// The stream's labels.
    pub labels: Labels,
    /// Entries in ascending timestamp order. Errors end the query.
    pub entries: Box<dyn Iterator<Item = Result<LogEntry, EvalError>> + 'a>,
}

/// What the evaluator asks a [`LogSource`] for.
#[derive(Debug, Clone, Copy)]
pub struct SelectRequest<'r> {
    /// Stream selector matchers (all must match the stream labels).
    pub matchers: &'r [Matcher],
    /// Inclusive lower time bound, nanoseconds.
    pub start_ns: i64,
    /// Exclusive upper time bound, nanoseconds.
    pub end_ns: i64,
    /// Substrings every useful line contains (see [`crate::required_substrings`]); the
    /// source may use them to skip chunks, and may ignore them.
    pub line_hints: &'r [String],
}

/// A log store as the LogQL evaluator sees it.
///
/// Contract: return every stream whose labels satisfy all `matchers`, each with the
/// entries in `[start_ns, end_ns)` in ascending time order. Returning extra entries (out
/// of range, or lines without the hinted substrings) is allowed: the evaluator filters
/// them again. Iterators are pulled lazily and merged across streams by time, so a store
/// can stream from disk with bounded memory. The evaluator only reads forward; backward
/// log queries keep the last `limit` entries.
pub trait LogSource {
    /// Selects the matching streams.
    fn select<'a>(&'a self, req: &SelectRequest<'_>) -> Result<Vec<LogStream<'a>>, EvalError>;
}

/// A [`LogSource`] over streams held in memory (tests, small tools).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    streams: Vec<(Labels, Vec<LogEntry>)>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds entries to the stream with `labels` (creating it), keeping time order.
    pub fn push(&mut self, labels: Labels, entries: impl IntoIterator<Item = LogEntry>) {
        let idx = match self.streams.iter().position(|(l, _)| *l == labels) {
            Some(i) => i,
            None => {
                self.streams.push((labels, Vec::new()));
                self.streams.len() - 1
            }
        };
        let list = &mut self.streams[idx].1;
        list.extend(entries);
        list.sort_by_key(|e| e.ts_ns);
    }
}

impl LogSource for MemorySource {
    fn select<'a>(&'a self, req: &SelectRequest<'_>) -> Result<Vec<LogStream<'a>>, EvalError> {
        let (start, end) = (req.start_ns, req.end_ns);
        Ok(self
            .streams
            .iter()
            .filter(|(labels, _)| req.matchers.iter().all(|m| m.matches_labels(labels)))
            .map(|(labels, entries)| LogStream {
                labels: labels.clone(),
                entries: Box::new(
                    entries
                        .iter()
                        .filter(move |e| e.ts_ns >= start && e.ts_ns < end)
                        .cloned()
                        .map(Ok),
                ),
            })
            .collect())
    }
}

/// Merges streams into one sequence ordered by (timestamp, stream index).
pub(crate) struct Merger<'a> {
    streams: Vec<LogStream<'a>>,
    heads: Vec<Option<LogEntry>>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
}

impl<'a> Merger<'a> {
    pub(crate) fn new(streams: Vec<LogStream<'a>>) -> Result<Self, EvalError> {
        let mut m = Self {
            heads: (0..streams.len()).map(|_| None).collect(),
            streams,
            heap: BinaryHeap::new(),
        };
        for i in 0..m.streams.len() {
            m.advance(i)?;
        }
        Ok(m)
    }

    fn advance(&mut self, i: usize) -> Result<(), EvalError> {
        if let Some(e) = self.streams[i].entries.next() {
            let e = e?;
            self.heap.push(Reverse((e.ts_ns, i)));
            self.heads[i] = Some(e);
        }
        Ok(())
    }

    pub(crate) fn labels(&self, i: usize) -> &Labels {
        &self.streams[i].labels
    }

    /// The next entry and the index of its stream.
    pub(crate) fn next_entry(&mut self) -> Result<Option<(usize, LogEntry)>, EvalError> {
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let Some(entry) = self.heads[i].take() else {
            return Ok(None);
        };
        self.advance(i)?;
        Ok(Some((i, entry)))
    }
}
