//! Reads: a snapshot of the head's matching entries plus the committed segments overlapping
//! the range, merged lazily across streams and sources in the order the storage contract
//! fixes. Memory is bounded by one decoded row group per (stream, segment) source.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;

use vigil_model::{Direction, Labels, LogEntry, LogTimeRange, Matcher};
use vigil_storage::{
    LogEntryIter, LogQuerier, LogSelect, StorageError, StreamEntry, check_log_matchers,
    forward_entry_order, line_matches_all,
};

use crate::LogStoreError;
use crate::head::sort_dedup;
use crate::segment::SegmentReader;
use crate::store::TenantLogs;

type Source = Box<dyn Iterator<Item = Result<LogEntry, LogStoreError>> + Send>;

pub(crate) struct LogStoreQuerier {
    pub(crate) tenant: Option<Arc<TenantLogs>>,
    pub(crate) range: LogTimeRange,
}

/// Entries of one stream in one segment, decoded one row group at a time.
struct SegmentSource {
    segment: Arc<SegmentReader>,
    row_groups: std::vec::IntoIter<u32>,
    buffered: std::vec::IntoIter<LogEntry>,
    range: LogTimeRange,
    literals: Vec<String>,
    direction: Direction,
}

impl Iterator for SegmentSource {
    type Item = Result<LogEntry, LogStoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.buffered.next() {
                return Some(Ok(entry));
            }
            let row_group = self.row_groups.next()?;
            let mut entries = match self.segment.read_row_group(row_group) {
                Ok(entries) => entries,
                Err(err) => return Some(Err(err)),
            };
            entries.retain(|e| {
                self.range.contains(e.timestamp_ns) && line_matches_all(&e.line, &self.literals)
            });
            if self.direction == Direction::Backward {
                entries.reverse();
            }
            self.buffered = entries.into_iter();
        }
    }
}

struct HeapItem {
    entry: LogEntry,
    stream: Labels,
    source: usize,
    direction: Direction,
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapItem {
    /// The heap pops its maximum, so the item to emit first must compare greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        let forward = forward_entry_order(&self.stream, &self.entry, &other.stream, &other.entry);
        match self.direction {
            Direction::Forward => forward.reverse(),
            Direction::Backward => forward,
        }
    }
}

/// A k-way merge of per-stream sources that drops exact duplicates (a WAL replay can
/// re-add entries a segment already holds) and stops at the limit.
struct Merge {
    sources: Vec<(Labels, Source)>,
    heap: BinaryHeap<HeapItem>,
    direction: Direction,
    remaining: usize,
    started: bool,
}

impl Merge {
    fn pull(&mut self, source: usize) -> Result<(), LogStoreError> {
        let (stream, iter) = &mut self.sources[source];
        if let Some(next) = iter.next() {
            self.heap.push(HeapItem {
                entry: next?,
                stream: stream.clone(),
                source,
                direction: self.direction,
            });
        }
        Ok(())
    }
}

impl Iterator for Merge {
    type Item = Result<StreamEntry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for source in 0..self.sources.len() {
                if let Err(err) = self.pull(source) {
                    return Some(Err(err.into()));
                }
            }
        }
        if self.remaining == 0 {
            return None;
        }
        let item = self.heap.pop()?;
        if let Err(err) = self.pull(item.source) {
            return Some(Err(err.into()));
        }
        // Exact copies sort right next to each other, and every source's next entry is
        // in the heap: the copies of this entry, if any, are on top now.
        while let Some(next) = self.heap.peek()
            && next.entry.timestamp_ns == item.entry.timestamp_ns
            && next.entry.line == item.entry.line
            && next.stream == item.stream
        {
            let source = next.source;
            self.heap.pop();
            if let Err(err) = self.pull(source) {
                return Some(Err(err.into()));
            }
        }
        self.remaining -= 1;
        Some(Ok(StreamEntry {
            stream: item.stream,
            entry: item.entry,
        }))
    }
}

impl LogStoreQuerier {
    fn segments(&self) -> Vec<Arc<SegmentReader>> {
        let Some(tenant) = &self.tenant else {
            return Vec::new();
        };
        tenant
            .segments
            .read()
            .iter()
            .filter(|s| self.range.overlaps(s.meta.min_time_ns, s.meta.max_time_ns))
            .cloned()
            .collect()
    }

    /// Matching head streams with their in-range entries (sorted, de-duplicated).
    fn head_snapshot(
        &self,
        matchers: &[Matcher],
        literals: &[String],
    ) -> Vec<(Labels, Vec<LogEntry>)> {
        let Some(tenant) = &self.tenant else {
            return Vec::new();
        };
        let head = tenant.head.read();
        head.streams
            .iter()
            .filter(|(labels, _)| matchers.iter().all(|m| m.matches_labels(labels)))
            .filter_map(|(labels, stream)| {
                let mut entries: Vec<LogEntry> = stream
                    .entries
                    .iter()
                    .filter(|e| {
                        self.range.contains(e.timestamp_ns) && line_matches_all(&e.line, literals)
                    })
                    .cloned()
                    .collect();
                if entries.is_empty() {
                    return None;
                }
                sort_dedup(&mut entries);
                Some((labels.clone(), entries))
            })
            .collect()
    }

    fn stream_sets(&self, matchers: &[Matcher]) -> BTreeSet<Labels> {
        let mut out: BTreeSet<Labels> = self
            .head_snapshot(matchers, &[])
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        for segment in self.segments() {
            for id in segment.index.matching(matchers) {
                if let Some(info) = segment.index.streams.get(id as usize)
                    && self.range.overlaps(info.min_time_ns, info.max_time_ns)
                {
                    out.insert(info.labels.clone());
                }
            }
        }
        out
    }
}

impl LogQuerier for LogStoreQuerier {
    fn select_entries(&self, select: &LogSelect) -> Result<LogEntryIter, StorageError> {
        check_log_matchers(&select.matchers)?;
        let mut sources: Vec<(Labels, Source)> = Vec::new();
        for (labels, mut entries) in self.head_snapshot(&select.matchers, &select.line_contains) {
            if select.direction == Direction::Backward {
                entries.reverse();
            }
            sources.push((labels, Box::new(entries.into_iter().map(Ok))));
        }
        for segment in self.segments() {
            for id in segment.index.matching(&select.matchers) {
                let Some(info) = segment.index.streams.get(id as usize) else {
                    continue;
                };
                if !self.range.overlaps(info.min_time_ns, info.max_time_ns) {
                    continue;
                }
                let row_groups = segment.row_groups_for(
                    id,
                    self.range,
                    &select.line_contains,
                    select.direction,
                )?;
                if row_groups.is_empty() {
                    continue;
                }
                let labels = info.labels.clone();
                sources.push((
                    labels,
                    Box::new(SegmentSource {
                        segment: segment.clone(),
                        row_groups: row_groups.into_iter(),
                        buffered: Vec::new().into_iter(),
                        range: self.range,
                        literals: select.line_contains.clone(),
                        direction: select.direction,
                    }),
                ));
            }
        }
        Ok(Box::new(Merge {
            sources,
            heap: BinaryHeap::new(),
            direction: select.direction,
            remaining: if select.limit == 0 {
                usize::MAX
            } else {
                select.limit
            },
            started: false,
        }))
    }

    fn series(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, StorageError> {
        Ok(self.stream_sets(matchers).into_iter().collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let names: BTreeSet<String> = self
            .stream_sets(matchers)
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let values: BTreeSet<String> = self
            .stream_sets(matchers)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        Ok(values.into_iter().collect())
    }
}
