//! Compaction of a tenant's small segments into larger ones, and the delayed deletion of the
//! segments they replace (formats in `docs/format/log-segment.md`).
//!
//! Every flush writes one segment per tenant, so a tenant accumulates many small segments
//! that each query opens. Compaction merges runs of small, time-adjacent segments into one
//! segment (streams in label order, each stream's entries in `(timestamp_ns, line)` order,
//! exact duplicates dropped as the head drops them), whose `meta.json` lists the segments it
//! replaces in `compacted_from`. Once that `meta.json` is uploaded (the commit), the store
//! serves the new segment instead of its sources, and writes a deletion mark per source;
//! sources are deleted only `delete_delay` after their mark, so readers that listed them
//! before the swap keep working.
//!
//! Opening never loads a segment that has a deletion mark or that a committed segment lists
//! in `compacted_from`, so a crash at any step leaves every entry loaded exactly once.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::path::Path;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use vigil_model::{Labels, LogEntry, TenantId};

use crate::LogStoreError;
use crate::segment::{SegmentLayout, SegmentMeta, SegmentReader, SegmentWriter};
use crate::store::{LogStore, TenantLogs, blocking, now_ns, object_path};

/// Format version of a deletion mark.
const MARK_VERSION: u32 = 1;

/// `logs/<tenant>/deletion-marks/<segment id>.json`: the segment was replaced by a committed
/// compacted segment and is deleted once `marked_at_ns` is `delete_delay` in the past.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeletionMark {
    /// Format version (1).
    pub version: u32,
    /// The replaced segment.
    pub id: String,
    /// The compacted segment that replaced it.
    pub replaced_by: String,
    /// When the mark was written (ns since the epoch).
    pub marked_at_ns: i64,
}

/// Per-tenant bookkeeping of compaction: deletion marks on the object store, marks still to
/// write, and uncommitted segment directories left by a crash.
#[derive(Debug, Default)]
pub(crate) struct CompactionState {
    /// Deletion marks on the object store, by segment id.
    pub(crate) marks: BTreeMap<String, DeletionMark>,
    /// Replaced segments whose mark could not be written yet: id → replacing segment.
    pub(crate) pending_marks: BTreeMap<String, String>,
    /// Segment directories without `meta.json` found on open (uploads that died).
    pub(crate) uncommitted: BTreeSet<String>,
}

/// What one compaction run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Compacted segments written.
    pub segments_written: usize,
    /// Segments they replaced (now marked for deletion).
    pub segments_replaced: usize,
    /// Replaced segments (and leftovers of dead uploads) deleted after the delay.
    pub segments_deleted: usize,
}

pub(crate) fn marks_prefix(tenant: &str) -> String {
    format!("logs/{tenant}/deletion-marks")
}

pub(crate) fn mark_path(tenant: &TenantId, id: &str) -> ObjectPath {
    ObjectPath::from(format!("{}/{id}.json", marks_prefix(tenant.as_str())))
}

/// Bytes a segment occupies on the object store.
fn stored_bytes(meta: &SegmentMeta) -> u64 {
    meta.files.values().sum()
}

/// Groups of segments to merge, each as segment ids sorted by time.
///
/// Segments are taken in time order (`min_time_ns`, then `max_time_ns`, then id). A segment
/// of `target_bytes` or more is left alone and ends a run; runs of smaller segments are cut
/// where their stored size would exceed `target_bytes` or their time span `max_span_ns`
/// (0 = unlimited). Within a run, a segment more than twice as large as all the others
/// together is not rewritten (the run is split around it), so a byte is rewritten only when
/// the segment holding it grows by at least half: compaction writes each entry
/// O(log(target / flush size)) times, not once per flush.
pub(crate) fn plan(
    segments: &[&SegmentMeta],
    target_bytes: u64,
    max_span_ns: i64,
) -> Vec<Vec<String>> {
    if target_bytes == 0 {
        return Vec::new();
    }
    let mut sorted: Vec<&SegmentMeta> = segments.to_vec();
    sorted.sort_by(|a, b| {
        (a.min_time_ns, a.max_time_ns, &a.id).cmp(&(b.min_time_ns, b.max_time_ns, &b.id))
    });
    let mut groups = Vec::new();
    let mut run: Vec<&SegmentMeta> = Vec::new();
    let (mut run_bytes, mut run_min, mut run_max) = (0u64, i64::MAX, i64::MIN);
    for meta in sorted {
        let bytes = stored_bytes(meta);
        if bytes >= target_bytes {
            split_dominant(&run, &mut groups);
            run.clear();
            continue;
        }
        let span =
            i128::from(run_max.max(meta.max_time_ns)) - i128::from(run_min.min(meta.min_time_ns));
        let too_long = max_span_ns > 0 && span > i128::from(max_span_ns);
        if !run.is_empty() && (run_bytes + bytes > target_bytes || too_long) {
            split_dominant(&run, &mut groups);
            run.clear();
        }
        if run.is_empty() {
            (run_bytes, run_min, run_max) = (0, i64::MAX, i64::MIN);
        }
        run.push(meta);
        run_bytes += bytes;
        run_min = run_min.min(meta.min_time_ns);
        run_max = run_max.max(meta.max_time_ns);
    }
    split_dominant(&run, &mut groups);
    groups
}

fn split_dominant(run: &[&SegmentMeta], groups: &mut Vec<Vec<String>>) {
    if run.len() < 2 {
        return;
    }
    let total: u64 = run.iter().map(|m| stored_bytes(m)).sum();
    let (largest_at, largest) = run
        .iter()
        .enumerate()
        .map(|(i, m)| (i, stored_bytes(m)))
        .max_by_key(|&(i, bytes)| (bytes, Reverse(i)))
        .unwrap_or((0, 0));
    if largest > 2 * (total - largest) {
        split_dominant(&run[..largest_at], groups);
        split_dominant(&run[largest_at + 1..], groups);
    } else {
        groups.push(run.iter().map(|m| m.id.clone()).collect());
    }
}

/// One stream of one source segment, decoded a row group at a time, checked to be in
/// `(timestamp_ns, line)` order as the format requires.
struct Cursor {
    segment: Arc<SegmentReader>,
    row_groups: std::ops::Range<u32>,
    buffered: std::vec::IntoIter<LogEntry>,
    last: Option<(i64, String)>,
}

impl Cursor {
    fn next(&mut self) -> Result<Option<LogEntry>, LogStoreError> {
        loop {
            if let Some(entry) = self.buffered.next() {
                if let Some((ts, line)) = &self.last
                    && (*ts, line.as_str()) > (entry.timestamp_ns, entry.line.as_str())
                {
                    return Err(LogStoreError::corrupt(
                        format!("segment {}", self.segment.meta.id),
                        "a stream's entries are not in (timestamp, line) order",
                    ));
                }
                self.last = Some((entry.timestamp_ns, entry.line.clone()));
                return Ok(Some(entry));
            }
            let Some(row_group) = self.row_groups.next() else {
                return Ok(None);
            };
            self.buffered = self.segment.read_row_group(row_group)?.into_iter();
        }
    }
}

/// An entry waiting in the merge, ordered so the heap pops the smallest
/// `(timestamp_ns, line, source)` first.
struct Pending {
    entry: LogEntry,
    source: usize,
}

impl Pending {
    fn key(&self) -> (i64, &str, usize) {
        (
            self.entry.timestamp_ns,
            self.entry.line.as_str(),
            self.source,
        )
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// Merges `sources` into a new segment written to `dir` (without `meta.json`), streaming:
/// memory holds one row group per source stream being merged plus the writer's row group.
/// Entries with the same stream, timestamp and line are kept once (the first source's).
pub(crate) fn merge_segments(
    sources: &[Arc<SegmentReader>],
    dir: &Path,
    id: &str,
    layout: SegmentLayout,
) -> Result<SegmentMeta, LogStoreError> {
    let mut streams: BTreeMap<&Labels, Vec<(usize, usize)>> = BTreeMap::new();
    for (source, segment) in sources.iter().enumerate() {
        for (stream, info) in segment.index.streams.iter().enumerate() {
            streams
                .entry(&info.labels)
                .or_default()
                .push((source, stream));
        }
    }
    let mut compacted_from: Vec<String> = sources.iter().map(|s| s.meta.id.clone()).collect();
    compacted_from.sort();
    let mut writer = SegmentWriter::create(dir, id, layout, compacted_from)?;
    for (labels, parts) in streams {
        let mut cursors: Vec<Cursor> = parts
            .iter()
            .filter_map(|&(source, stream)| {
                let segment = sources.get(source)?;
                let info = segment.index.streams.get(stream)?;
                Some(Cursor {
                    segment: segment.clone(),
                    row_groups: info.row_groups.clone(),
                    buffered: Vec::new().into_iter(),
                    last: None,
                })
            })
            .collect();
        let mut heap = BinaryHeap::with_capacity(cursors.len());
        for (source, cursor) in cursors.iter_mut().enumerate() {
            if let Some(entry) = cursor.next()? {
                heap.push(Pending { entry, source });
            }
        }
        let mut started = false;
        let mut last: Option<(i64, String)> = None;
        while let Some(Pending { entry, source }) = heap.pop() {
            if let Some(next) = cursors[source].next()? {
                heap.push(Pending {
                    entry: next,
                    source,
                });
            }
            if last
                .as_ref()
                .is_some_and(|(ts, line)| *ts == entry.timestamp_ns && *line == entry.line)
            {
                continue;
            }
            if !started {
                writer.begin_stream(labels.clone())?;
                started = true;
            }
            last = Some((entry.timestamp_ns, entry.line.clone()));
            writer.push(entry)?;
        }
    }
    writer.finish()
}

impl LogStore {
    /// Merges each tenant's small, time-adjacent segments into larger ones (see
    /// `LogStoreOptions::compaction_target_bytes`), swaps them in atomically for readers and
    /// marks the replaced segments for deletion after the delete delay.
    pub async fn compact(&self) -> Result<CompactionReport, LogStoreError> {
        let mut report = CompactionReport::default();
        let options = &self.inner.options;
        if options.compaction_target_bytes == 0 {
            return Ok(report);
        }
        for (tenant, logs) in self.inner.tenant_list() {
            {
                let _one_at_a_time = self.inner.maintenance.lock().await;
                self.write_pending_marks(&tenant, &logs).await?;
            }
            let groups = {
                let segments = logs.segments.read();
                let metas: Vec<&SegmentMeta> = segments.iter().map(|s| &s.meta).collect();
                plan(
                    &metas,
                    options.compaction_target_bytes,
                    options.compaction_max_span_ns,
                )
            };
            for group in groups {
                if self.compact_group(&tenant, &logs, &group).await? {
                    report.segments_written += 1;
                    report.segments_replaced += group.len();
                }
            }
        }
        Ok(report)
    }

    /// Compacts one group; false when its segments changed since planning (retention).
    async fn compact_group(
        &self,
        tenant: &TenantId,
        logs: &Arc<TenantLogs>,
        group: &[String],
    ) -> Result<bool, LogStoreError> {
        let _one_at_a_time = self.inner.maintenance.lock().await;
        let sources: Vec<Arc<SegmentReader>> = {
            let segments = logs.segments.read();
            group
                .iter()
                .filter_map(|id| segments.iter().find(|s| &s.meta.id == id).cloned())
                .collect()
        };
        if sources.len() != group.len() || sources.len() < 2 {
            return Ok(false);
        }
        let id = ulid::Ulid::new().to_string();
        let dir = self.inner.cache_dir().join(tenant.as_str()).join(&id);
        let layout = SegmentLayout {
            row_group_rows: self.inner.options.row_group_rows,
            zstd_level: self.inner.options.compaction_zstd_level,
        };
        let (merge_dir, merge_id, merge_sources) = (dir.clone(), id.clone(), sources.clone());
        let merged =
            blocking(move || merge_segments(&merge_sources, &merge_dir, &merge_id, layout)).await;
        let meta = match merged {
            Ok(meta) => meta,
            Err(err) => {
                let _ = tokio::fs::remove_dir_all(&dir).await;
                return Err(err);
            }
        };
        // Uploads the files, `meta.json` last: from here on the new segment replaces its
        // sources for every later open, whatever happens next.
        let reader = self.commit_segment(tenant, &dir, &meta).await?;
        {
            let mut segments = logs.segments.write();
            segments.retain(|s| !group.contains(&s.meta.id));
            segments.push(Arc::new(reader));
        }
        tracing::info!(
            tenant = %tenant,
            segment = %id,
            sources = group.len(),
            entries = meta.entries,
            bytes = meta.files.values().sum::<u64>(),
            "compacted log segments"
        );
        logs.compaction
            .lock()
            .pending_marks
            .extend(group.iter().map(|source| (source.clone(), id.clone())));
        self.write_pending_marks(tenant, logs).await?;
        Ok(true)
    }

    /// Writes the deletion marks still owed for replaced segments.
    async fn write_pending_marks(
        &self,
        tenant: &TenantId,
        logs: &Arc<TenantLogs>,
    ) -> Result<(), LogStoreError> {
        let pending: Vec<(String, String)> = logs
            .compaction
            .lock()
            .pending_marks
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        for (id, replaced_by) in pending {
            let mark = DeletionMark {
                version: MARK_VERSION,
                id: id.clone(),
                replaced_by,
                marked_at_ns: now_ns(),
            };
            let json = serde_json::to_vec_pretty(&mark)
                .map_err(|e| LogStoreError::corrupt("deletion mark", e.to_string()))?;
            self.inner
                .store
                .put(&mark_path(tenant, &id), PutPayload::from(json))
                .await?;
            let mut state = logs.compaction.lock();
            state.pending_marks.remove(&id);
            state.marks.insert(id, mark);
        }
        Ok(())
    }

    /// Deletes the segments whose deletion mark is at least the delete delay older than
    /// `now_ns` (local cache copy first, then `meta.json`, the other files, and the mark
    /// last, so a crash half way leaves a mark that the next run finishes), and the
    /// leftovers of uploads that died (directories without `meta.json`) once their ULID is
    /// as old. A tenant with marks still to write deletes nothing: a replaced segment must
    /// be marked before the segment that replaced it may go.
    pub async fn delete_replaced(&self, now_ns: i64) -> Result<usize, LogStoreError> {
        let _one_at_a_time = self.inner.maintenance.lock().await;
        let delay = self.inner.options.compaction_delete_delay_ns.max(0);
        let mut deleted = 0;
        for (tenant, logs) in self.inner.tenant_list() {
            self.write_pending_marks(&tenant, &logs).await?;
            let (due, dead_uploads): (Vec<String>, Vec<String>) = {
                let state = logs.compaction.lock();
                if !state.pending_marks.is_empty() {
                    continue;
                }
                let due = state
                    .marks
                    .values()
                    .filter(|m| m.marked_at_ns.saturating_add(delay) <= now_ns)
                    .map(|m| m.id.clone())
                    .collect();
                let dead = state
                    .uncommitted
                    .iter()
                    .filter(|id| {
                        ulid::Ulid::from_string(id).is_ok_and(|u| {
                            let created_ns = i64::try_from(u.timestamp_ms())
                                .unwrap_or(i64::MAX)
                                .saturating_mul(1_000_000);
                            created_ns.saturating_add(delay) <= now_ns
                        })
                    })
                    .cloned()
                    .collect();
                (due, dead)
            };
            for id in due {
                self.delete_segment_objects(&tenant, &id).await?;
                delete_if_present(&*self.inner.store, &mark_path(&tenant, &id)).await?;
                logs.compaction.lock().marks.remove(&id);
                deleted += 1;
            }
            for id in dead_uploads {
                self.delete_segment_objects(&tenant, &id).await?;
                logs.compaction.lock().uncommitted.remove(&id);
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Removes a segment's local cache copy, then its objects, `meta.json` first.
    async fn delete_segment_objects(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<(), LogStoreError> {
        let local = self.inner.cache_dir().join(tenant.as_str()).join(id);
        match tokio::fs::remove_dir_all(&local).await {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(LogStoreError::io(
                    format!("removing {}", local.display()),
                    err,
                ));
            }
        }
        for file in crate::segment::DELETE_ORDER {
            delete_if_present(&*self.inner.store, &object_path(tenant, id, file)).await?;
        }
        Ok(())
    }
}

async fn delete_if_present(
    store: &dyn object_store::ObjectStore,
    path: &ObjectPath,
) -> Result<(), LogStoreError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::head::sort_dedup;
    use crate::store::{read_segment_dir, write_segment_dir};

    type Streams = Vec<(Labels, Vec<LogEntry>)>;

    fn stream_labels(i: u8) -> Labels {
        Labels::from_unsorted_unique(vec![
            vigil_model::Label::new("app", format!("a{}", i % 3)),
            vigil_model::Label::new("pod", format!("p{i}")),
        ])
        .unwrap()
    }

    /// Segments as a flush writes them: streams sorted by labels, entries sorted and
    /// de-duplicated; small timestamp and line alphabets so sources share entries.
    fn segments() -> impl Strategy<Value = Vec<Streams>> {
        let entry = (0i64..40, 0u8..6, proptest::option::of(0u8..3)).prop_map(|(ts, line, md)| {
            let mut e = LogEntry::new(ts, format!("line {line} {}", "x".repeat(line as usize)));
            if let Some(md) = md {
                e.structured_metadata =
                    Labels::from_unsorted_unique(vec![vigil_model::Label::new(
                        "k",
                        md.to_string(),
                    )])
                    .unwrap();
            }
            e
        });
        let stream = (0u8..5, proptest::collection::vec(entry, 1..30));
        proptest::collection::vec(proptest::collection::vec(stream, 1..4), 2..5).prop_map(
            |segments| {
                segments
                    .into_iter()
                    .map(|streams| {
                        let mut by_labels: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
                        for (i, entries) in streams {
                            by_labels
                                .entry(stream_labels(i))
                                .or_default()
                                .extend(entries);
                        }
                        by_labels
                            .into_iter()
                            .map(|(labels, mut entries)| {
                                sort_dedup(&mut entries);
                                (labels, entries)
                            })
                            .collect()
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// The merged segment holds, per stream, exactly the union of its sources' entries
        /// with exact duplicates (timestamp and line) kept once, the earliest source's copy.
        #[test]
        fn merging_preserves_the_entries_of_the_sources(sources in segments(), rows in 1usize..5) {
            let dir = tempfile::tempdir().unwrap();
            let mut readers = Vec::new();
            let mut expected: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
            for (i, streams) in sources.iter().enumerate() {
                let seg_dir = dir.path().join(format!("src{i}"));
                write_segment_dir(&seg_dir, &format!("src{i}"), streams, rows).unwrap();
                readers.push(Arc::new(SegmentReader::open(&seg_dir).unwrap()));
                for (labels, entries) in streams {
                    expected.entry(labels.clone()).or_default().extend(entries.iter().cloned());
                }
            }
            for entries in expected.values_mut() {
                sort_dedup(entries);
            }
            let out = dir.path().join("merged");
            let layout = SegmentLayout { row_group_rows: rows, zstd_level: 9 };
            let meta = merge_segments(&readers, &out, "merged", layout).unwrap();
            let json = serde_json::to_vec(&meta).unwrap();
            std::fs::write(out.join(crate::segment::META_FILE), json).unwrap();
            let (read_meta, streams) = read_segment_dir(&out).unwrap();
            let expected: Vec<(Labels, Vec<LogEntry>)> = expected.into_iter().collect();
            prop_assert_eq!(&streams, &expected);
            let total: usize = expected.iter().map(|(_, e)| e.len()).sum();
            prop_assert_eq!(read_meta.entries, total as u64);
            prop_assert_eq!(read_meta.compacted_from.len(), sources.len());
            let reader = SegmentReader::open(&out).unwrap();
            for (stream, (_, entries)) in expected.iter().enumerate() {
                let groups = reader.index.streams[stream].row_groups.clone();
                prop_assert_eq!(groups.len(), entries.len().div_ceil(rows));
            }
        }
    }

    #[test]
    fn merging_rejects_a_source_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let labels = stream_labels(0);
        let unsorted = vec![(labels, vec![LogEntry::new(5, "b"), LogEntry::new(3, "a")])];
        write_segment_dir(&dir.path().join("bad"), "bad", &unsorted, 8).unwrap();
        let bad = Arc::new(SegmentReader::open(&dir.path().join("bad")).unwrap());
        let layout = SegmentLayout {
            row_group_rows: 8,
            zstd_level: 3,
        };
        let err = merge_segments(&[bad.clone(), bad], &dir.path().join("out"), "out", layout)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("not in (timestamp, line) order"),
            "{err}"
        );
    }

    fn meta(id: &str, min: i64, max: i64, bytes: u64) -> SegmentMeta {
        SegmentMeta {
            version: 1,
            id: id.into(),
            min_time_ns: min,
            max_time_ns: max,
            entries: 1,
            streams: 1,
            raw_bytes: bytes,
            files: BTreeMap::from([("data.parquet".to_string(), bytes)]),
            compacted_from: Vec::new(),
        }
    }

    fn planned(metas: &[SegmentMeta], target: u64, span: i64) -> Vec<Vec<String>> {
        let refs: Vec<&SegmentMeta> = metas.iter().collect();
        plan(&refs, target, span)
    }

    #[test]
    fn merges_equal_small_segments_in_time_order_up_to_the_target() {
        let metas: Vec<SegmentMeta> = (0..10)
            .rev()
            .map(|i| meta(&format!("s{i}"), i * 10, i * 10 + 15, 100))
            .collect();
        assert_eq!(
            planned(&metas, 1_000, 0),
            vec![(0..10).map(|i| format!("s{i}")).collect::<Vec<_>>()]
        );
        // A 450-byte target holds four 100-byte segments per group.
        assert_eq!(
            planned(&metas, 450, 0),
            vec![
                vec!["s0", "s1", "s2", "s3"],
                vec!["s4", "s5", "s6", "s7"],
                vec!["s8", "s9"],
            ]
        );
        assert!(
            planned(&metas, 0, 0).is_empty(),
            "a zero target turns compaction off"
        );
    }

    #[test]
    fn large_segments_and_long_spans_end_runs() {
        let metas = vec![
            meta("a", 0, 10, 100),
            meta("b", 10, 20, 100),
            meta("big", 20, 30, 5_000),
            meta("c", 30, 40, 100),
            meta("d", 40, 50, 100),
            meta("e", 1_000, 1_010, 100),
        ];
        assert_eq!(
            planned(&metas, 1_000, 100),
            vec![vec!["a", "b"], vec!["c", "d"]],
            "big is at the target, e is too far in time from d"
        );
        assert_eq!(
            planned(&metas, 1_000, 0),
            vec![vec!["a", "b"], vec!["c", "d", "e"]]
        );
    }

    #[test]
    fn a_dominant_segment_is_not_rewritten_for_small_neighbours() {
        let metas = vec![
            meta("compacted", 0, 100, 800),
            meta("n1", 100, 110, 10),
            meta("n2", 110, 120, 10),
            meta("n3", 120, 130, 30),
        ];
        // 800 > 2 × 50: the compacted segment stays; the new ones merge.
        assert_eq!(planned(&metas, 10_000, 0), vec![vec!["n1", "n2", "n3"]]);
        let metas = vec![
            meta("n0", 0, 90, 9),
            meta("compacted", 90, 100, 100),
            meta("n1", 100, 110, 10),
            meta("n2", 110, 120, 10),
            meta("n3", 120, 130, 50),
        ];
        // 100 > 2 × 79 is false: all merge.
        assert_eq!(planned(&metas, 10_000, 0).len(), 1);
        let metas = vec![
            meta("n0", 0, 90, 9),
            meta("compacted", 90, 100, 100),
            meta("n1", 100, 110, 10),
            meta("n2", 110, 120, 10),
            meta("n3", 120, 130, 20),
        ];
        // 100 > 2 × 49: split around it; n0 alone stays, n1..n3 merge.
        assert_eq!(planned(&metas, 10_000, 0), vec![vec!["n1", "n2", "n3"]]);
        let metas = vec![
            meta("compacted", 0, 100, 40),
            meta("n1", 100, 110, 10),
            meta("n2", 110, 120, 10),
            meta("n3", 120, 130, 20),
        ];
        assert_eq!(
            planned(&metas, 10_000, 0),
            vec![vec!["compacted", "n1", "n2", "n3"]],
            "once the new data is as large as the old segment, all merge"
        );
    }
}
