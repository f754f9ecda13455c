//! Reads: a snapshot of the head's matching entries plus the committed segments overlapping
//! the range, merged lazily across streams and sources in the order the storage contract
//! fixes. Memory is bounded by one decoded row group per (stream, segment) source.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use vigil_model::{Direction, Labels, LogEntry, LogTimeRange, Matcher};
use vigil_storage::{
    EntriesPart, LogBatch, LogEntryIter, LogQuerier, LogScanPart, LogSelect, ScanColumns,
    StorageError, StreamEntry, check_log_matchers, forward_entry_order, line_matches_all,
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
            // Only the rows in range holding every literal become entries.
            let mut entries = Vec::new();
            let empty = Labels::empty();
            let read = self.segment.scan_row_group(
                row_group,
                self.range,
                &self.literals,
                true,
                &mut |batch| {
                    entries.extend(batch.rows().map(|row| LogEntry {
                        timestamp_ns: batch.timestamp(row),
                        line: batch.line(row).to_string(),
                        structured_metadata: batch.metadata(row).unwrap_or(&empty).clone(),
                    }));
                    Ok(())
                },
            );
            if let Err(err) = read {
                return Some(Err(LogStoreError::Storage(err)));
            }
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

/// Where a stream's entries come from in a scan.
enum ScanSource {
    Head {
        span: (i64, i64),
        entries: Vec<LogEntry>,
    },
    RowGroup {
        span: (i64, i64),
        segment: Arc<SegmentReader>,
        row_group: u32,
    },
}

impl ScanSource {
    fn span(&self) -> (i64, i64) {
        match self {
            Self::Head { span, .. } | Self::RowGroup { span, .. } => *span,
        }
    }
}

/// One row group of one stream, read column by column.
struct RowGroupPart {
    stream: Labels,
    segment: Arc<SegmentReader>,
    row_group: u32,
    range: LogTimeRange,
    literals: Vec<String>,
    lines: bool,
}

impl LogScanPart for RowGroupPart {
    fn stream(&self) -> &Labels {
        &self.stream
    }

    fn read(
        self: Box<Self>,
        visit: &mut dyn FnMut(&LogBatch<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.segment.scan_row_group(
            self.row_group,
            self.range,
            &self.literals,
            self.lines,
            visit,
        )
    }
}

/// Time-overlapping sources of one stream, merged in order without duplicates.
struct MergedPart {
    stream: Labels,
    merge: Merge,
}

impl LogScanPart for MergedPart {
    fn stream(&self) -> &Labels {
        &self.stream
    }

    fn read(
        self: Box<Self>,
        visit: &mut dyn FnMut(&LogBatch<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        const ROWS: usize = 4096;
        let MergedPart { stream, merge } = *self;
        let mut merge = merge.peekable();
        while merge.peek().is_some() {
            let entries = merge
                .by_ref()
                .take(ROWS)
                .map(|read| read.map(|r| r.entry))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(EntriesPart::new(stream.clone(), entries)).read(visit)?;
        }
        Ok(())
    }
}

impl LogStoreQuerier {
    /// The part reading one cluster of time-overlapping sources of `stream`.
    fn scan_part(
        &self,
        stream: &Labels,
        mut cluster: Vec<ScanSource>,
        literals: &[String],
        columns: ScanColumns,
    ) -> Box<dyn LogScanPart> {
        if cluster.len() == 1
            && let Some(source) = cluster.pop()
        {
            return match source {
                ScanSource::Head { entries, .. } => {
                    Box::new(EntriesPart::new(stream.clone(), entries))
                }
                ScanSource::RowGroup {
                    segment, row_group, ..
                } => Box::new(RowGroupPart {
                    stream: stream.clone(),
                    segment,
                    row_group,
                    range: self.range,
                    literals: literals.to_vec(),
                    lines: columns.lines,
                }),
            };
        }
        let sources: Vec<(Labels, Source)> = cluster
            .into_iter()
            .map(|source| -> (Labels, Source) {
                let iter: Source = match source {
                    ScanSource::Head { entries, .. } => Box::new(entries.into_iter().map(Ok)),
                    ScanSource::RowGroup {
                        segment, row_group, ..
                    } => Box::new(SegmentSource {
                        segment,
                        row_groups: vec![row_group].into_iter(),
                        buffered: Vec::new().into_iter(),
                        range: self.range,
                        literals: literals.to_vec(),
                        direction: Direction::Forward,
                    }),
                };
                (stream.clone(), iter)
            })
            .collect();
        Box::new(MergedPart {
            stream: stream.clone(),
            merge: Merge {
                sources,
                heap: BinaryHeap::new(),
                direction: Direction::Forward,
                remaining: usize::MAX,
                started: false,
            },
        })
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

    /// Parts of one row group each, read column by column. Sources of one stream that
    /// overlap in time (a late entry, or a WAL replay re-adding flushed entries) are merged
    /// into one de-duplicating part, so every entry comes out once.
    fn scan_parts(
        &self,
        select: &LogSelect,
        columns: ScanColumns,
    ) -> Result<Vec<Box<dyn LogScanPart>>, StorageError> {
        check_log_matchers(&select.matchers)?;
        let literals = &select.line_contains;
        let mut by_stream: BTreeMap<Labels, Vec<ScanSource>> = BTreeMap::new();
        for (labels, entries) in self.head_snapshot(&select.matchers, literals) {
            let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
                continue;
            };
            let span = (first.timestamp_ns, last.timestamp_ns);
            by_stream
                .entry(labels)
                .or_default()
                .push(ScanSource::Head { span, entries });
        }
        for segment in self.segments() {
            for id in segment.index.matching(&select.matchers) {
                let Some(info) = segment.index.streams.get(id as usize) else {
                    continue;
                };
                if !self.range.overlaps(info.min_time_ns, info.max_time_ns) {
                    continue;
                }
                let groups =
                    segment.row_groups_for(id, self.range, literals, Direction::Forward)?;
                let sources = by_stream.entry(info.labels.clone()).or_default();
                for row_group in groups {
                    sources.push(ScanSource::RowGroup {
                        span: segment.row_group_time(row_group),
                        segment: segment.clone(),
                        row_group,
                    });
                }
            }
        }
        let mut parts: Vec<Box<dyn LogScanPart>> = Vec::new();
        for (stream, mut sources) in by_stream {
            sources.sort_by_key(|s| s.span());
            let mut cluster: Vec<ScanSource> = Vec::new();
            let mut cluster_end = i64::MIN;
            for source in sources {
                let (start, end) = source.span();
                if !cluster.is_empty() && start > cluster_end {
                    parts.push(self.scan_part(
                        &stream,
                        std::mem::take(&mut cluster),
                        literals,
                        columns,
                    ));
                }
                cluster_end = if cluster.is_empty() {
                    end
                } else {
                    cluster_end.max(end)
                };
                cluster.push(source);
            }
            if !cluster.is_empty() {
                parts.push(self.scan_part(&stream, cluster, literals, columns));
            }
        }
        Ok(parts)
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
