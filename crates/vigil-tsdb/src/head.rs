//! The in-memory head of one tenant: series, their chunks and out-of-order buffers, the
//! postings index over their labels, and metric metadata. Appends live in
//! `head_append.rs`, reads in `head_read.rs`, WAL records in `head_wal.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use vigil_model::{Labels, MetricMetadata, Sample, TenantId};

use crate::chunk::XorChunk;
use crate::postings::MemPostings;

/// Settings the head needs from [`crate::TsdbOptions`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadOptions {
    pub(crate) block_range_ms: i64,
    pub(crate) out_of_order_window_ms: i64,
    pub(crate) out_of_order_time_window_ms: i64,
    pub(crate) max_future_ms: i64,
    pub(crate) max_samples_per_chunk: usize,
    pub(crate) max_series: usize,
}

/// The samples of one series held in memory.
#[derive(Default)]
pub(crate) struct SeriesData {
    /// In-order chunks; the last one is open for appends. No chunk straddles a block boundary.
    chunks: Vec<XorChunk>,
    /// Samples that arrived behind the newest sample, kept sorted until the block cut.
    out_of_order: BTreeMap<i64, f64>,
    /// Newest timestamp ever appended (ms), `i64::MIN` when empty.
    max_time_ms: i64,
}

/// What happened to one sample applied to a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Stored as a new sample.
    Stored,
    /// A sample with that timestamp already existed; nothing changed.
    Duplicate,
}

impl SeriesData {
    fn new() -> Self {
        Self {
            chunks: Vec::new(),
            out_of_order: BTreeMap::new(),
            max_time_ms: i64::MIN,
        }
    }

    /// Newest timestamp (ms), or `None` when the series holds no samples.
    pub(crate) fn max_time_ms(&self) -> Option<i64> {
        (self.max_time_ms != i64::MIN).then_some(self.max_time_ms)
    }

    /// Oldest timestamp (ms) still in memory.
    pub(crate) fn min_time_ms(&self) -> Option<i64> {
        let in_order = self.chunks.first().and_then(XorChunk::first_timestamp);
        let ooo = self.out_of_order.keys().next().copied();
        match (in_order, ooo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The value stored at exactly `timestamp_ms`, if any.
    pub(crate) fn value_at(&self, timestamp_ms: i64) -> Option<f64> {
        if let Some(value) = self.out_of_order.get(&timestamp_ms) {
            return Some(*value);
        }
        let chunk = self.chunks.iter().find(|c| {
            c.first_timestamp()
                .is_some_and(|first| first <= timestamp_ms)
                && c.last_timestamp().is_some_and(|last| timestamp_ms <= last)
        })?;
        chunk
            .iter()
            .find(|s| s.timestamp_ms == timestamp_ms)
            .map(|s| s.value)
    }

    /// Stores a sample: appended in order, or buffered out of order. Never rejects; callers
    /// validate against the out-of-order window before the WAL write.
    pub(crate) fn apply(&mut self, sample: Sample, options: &HeadOptions) -> Applied {
        let Sample {
            timestamp_ms,
            value,
        } = sample;
        if timestamp_ms > self.max_time_ms {
            let needs_new_chunk = match self.chunks.last() {
                None => true,
                Some(open) => {
                    let first = open.first_timestamp().unwrap_or(timestamp_ms);
                    open.num_samples() >= options.max_samples_per_chunk
                        || first.div_euclid(options.block_range_ms)
                            != timestamp_ms.div_euclid(options.block_range_ms)
                }
            };
            if needs_new_chunk {
                self.chunks.push(XorChunk::new());
            }
            if let Some(open) = self.chunks.last_mut() {
                open.append(timestamp_ms, value);
            }
            self.max_time_ms = timestamp_ms;
            return Applied::Stored;
        }
        if self.value_at(timestamp_ms).is_some() {
            return Applied::Duplicate;
        }
        self.out_of_order.insert(timestamp_ms, value);
        Applied::Stored
    }

    /// Samples within `[min_ms, max_ms]`, sorted by time.
    pub(crate) fn samples_in(&self, min_ms: i64, max_ms: i64) -> Vec<Sample> {
        let mut in_order: Vec<Sample> = Vec::new();
        for chunk in &self.chunks {
            let (Some(first), Some(last)) = (chunk.first_timestamp(), chunk.last_timestamp())
            else {
                continue;
            };
            if last < min_ms || first > max_ms {
                continue;
            }
            in_order.extend(
                chunk
                    .iter()
                    .filter(|s| min_ms <= s.timestamp_ms && s.timestamp_ms <= max_ms),
            );
        }
        if self.out_of_order.is_empty() {
            return in_order;
        }
        let extra: Vec<Sample> = self
            .out_of_order
            .range(min_ms..=max_ms)
            .map(|(t, v)| Sample::new(*t, *v))
            .collect();
        merge_sorted(in_order, extra)
    }

    /// True when some sample lies within `[min_ms, max_ms]`.
    pub(crate) fn overlaps(&self, min_ms: i64, max_ms: i64) -> bool {
        let chunk_hit =
            self.chunks
                .iter()
                .any(|c| match (c.first_timestamp(), c.last_timestamp()) {
                    (Some(first), Some(last)) => first <= max_ms && min_ms <= last,
                    _ => false,
                });
        chunk_hit || self.out_of_order.range(min_ms..=max_ms).next().is_some()
    }

    /// Drops everything before `cut_ms`; returns true when the series is now empty.
    pub(crate) fn truncate_before(&mut self, cut_ms: i64) -> bool {
        self.chunks
            .retain(|c| c.last_timestamp().is_some_and(|last| last >= cut_ms));
        self.out_of_order = self.out_of_order.split_off(&cut_ms);
        self.chunks.is_empty() && self.out_of_order.is_empty()
    }

    /// Drops everything before `cut_ms` except the samples `written` (time-sorted) does not
    /// hold: those arrived after the block was read from the head and stay, buffered out of
    /// order, for the next cut. Returns true when the series is now empty.
    pub(crate) fn truncate_written(&mut self, cut_ms: i64, written: &[Sample]) -> bool {
        let kept: Vec<Sample> = self
            .samples_in(i64::MIN, cut_ms.saturating_sub(1))
            .into_iter()
            .filter(|s| {
                written
                    .binary_search_by_key(&s.timestamp_ms, |w| w.timestamp_ms)
                    .is_err()
            })
            .collect();
        self.truncate_before(cut_ms);
        for sample in kept {
            self.out_of_order.insert(sample.timestamp_ms, sample.value);
        }
        self.chunks.is_empty() && self.out_of_order.is_empty()
    }

    /// Number of chunks held (the out-of-order buffer counts as one when non-empty).
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len() + usize::from(!self.out_of_order.is_empty())
    }
}

/// Adds time-sorted `next` to time-sorted `acc`: a plain append when `next` starts after `acc`
/// ends (consecutive chunks, the common case), else a merge where `acc` wins ties.
pub(crate) fn extend_sorted(acc: &mut Vec<Sample>, next: Vec<Sample>) {
    match (acc.last(), next.first()) {
        (_, None) => {}
        (None, _) => *acc = next,
        (Some(last), Some(first)) if last.timestamp_ms < first.timestamp_ms => acc.extend(next),
        _ => *acc = merge_sorted(std::mem::take(acc), next),
    }
}

/// Merges two time-sorted sample lists; on equal timestamps the first list wins.
pub(crate) fn merge_sorted(a: Vec<Sample>, b: Vec<Sample>) -> Vec<Sample> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => {
                if x.timestamp_ms < y.timestamp_ms {
                    out.extend(a.next());
                } else if y.timestamp_ms < x.timestamp_ms {
                    out.extend(b.next());
                } else {
                    out.extend(a.next());
                    b.next();
                }
            }
            (Some(_), None) => out.extend(a.by_ref()),
            (None, Some(_)) => out.extend(b.by_ref()),
            (None, None) => return out,
        }
    }
}

/// One series in the head.
pub(crate) struct MemSeries {
    pub(crate) id: u32,
    pub(crate) labels: Labels,
    pub(crate) data: Mutex<SeriesData>,
}

#[derive(Default)]
pub(crate) struct HeadIndex {
    by_hash: HashMap<u64, Vec<u32>>,
    pub(crate) series: HashMap<u32, Arc<MemSeries>>,
    pub(crate) postings: MemPostings,
    next_id: u32,
}

impl HeadIndex {
    pub(crate) fn get(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        let ids = self.by_hash.get(&labels.stable_hash())?;
        ids.iter()
            .filter_map(|id| self.series.get(id))
            .find(|s| &s.labels == labels)
            .cloned()
    }

    /// Inserts a series with a given id (WAL replay) or the next free id.
    pub(crate) fn insert(&mut self, id: Option<u32>, labels: Labels) -> Arc<MemSeries> {
        if let Some(existing) = self.get(&labels) {
            return existing;
        }
        let id = id.unwrap_or(self.next_id);
        self.next_id = self.next_id.max(id.saturating_add(1));
        let series = Arc::new(MemSeries {
            id,
            labels: labels.clone(),
            data: Mutex::new(SeriesData::new()),
        });
        self.by_hash
            .entry(labels.stable_hash())
            .or_default()
            .push(id);
        self.postings.add(id, &labels);
        self.series.insert(id, series.clone());
        series
    }

    fn remove(&mut self, id: u32) {
        let Some(series) = self.series.remove(&id) else {
            return;
        };
        let hash = series.labels.stable_hash();
        if let Some(ids) = self.by_hash.get_mut(&hash) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.by_hash.remove(&hash);
            }
        }
        self.postings.remove(id, &series.labels);
    }
}

/// The in-memory head of one tenant.
pub(crate) struct Head {
    pub(crate) tenant: TenantId,
    pub(crate) options: HeadOptions,
    pub(crate) index: RwLock<HeadIndex>,
    pub(crate) metadata: RwLock<BTreeMap<String, Vec<MetricMetadata>>>,
    /// Samples older than this are in blocks and are rejected (ms).
    min_valid_time_ms: AtomicI64,
    min_time_ms: AtomicI64,
    max_time_ms: AtomicI64,
    /// Counts truncations, raised before one removes anything: a reader that finds it
    /// changed since it listed the blocks may have missed samples that moved from the head
    /// into a block it did not list.
    truncations: AtomicU64,
}

impl Head {
    pub(crate) fn new(tenant: TenantId, options: HeadOptions) -> Self {
        Self {
            tenant,
            options,
            index: RwLock::new(HeadIndex::default()),
            metadata: RwLock::new(BTreeMap::new()),
            min_valid_time_ms: AtomicI64::new(i64::MIN),
            min_time_ms: AtomicI64::new(i64::MAX),
            max_time_ms: AtomicI64::new(i64::MIN),
            truncations: AtomicU64::new(0),
        }
    }

    /// Truncations so far (see the field).
    pub(crate) fn truncations(&self) -> u64 {
        self.truncations.load(Ordering::SeqCst)
    }

    pub(crate) fn min_valid_time_ms(&self) -> i64 {
        self.min_valid_time_ms.load(Ordering::Acquire)
    }

    /// Oldest timestamp the out-of-order time window accepts: that far behind the tenant's
    /// newest time (the head's max time, or the newest cut block's end when the head is
    /// older or empty). `None` when the window is off or nothing was written yet.
    pub(crate) fn late_floor_ms(&self) -> Option<i64> {
        let window = self.options.out_of_order_time_window_ms;
        if window <= 0 {
            return None;
        }
        let newest = self
            .max_time_ms
            .load(Ordering::Acquire)
            .max(self.min_valid_time_ms());
        (newest != i64::MIN).then(|| newest.saturating_sub(window))
    }

    pub(crate) fn raise_min_valid_time(&self, t: i64) {
        self.min_valid_time_ms.fetch_max(t, Ordering::AcqRel);
    }

    /// Oldest and newest sample time in the head, `None` when empty.
    pub(crate) fn time_bounds(&self) -> Option<(i64, i64)> {
        let (min, max) = (
            self.min_time_ms.load(Ordering::Acquire),
            self.max_time_ms.load(Ordering::Acquire),
        );
        (min <= max).then_some((min, max))
    }

    /// Applies samples (a committed batch, or a replayed WAL record) and widens the head's time
    /// bounds once for all of them, so concurrent commits do not contend on the bounds for
    /// every sample. Returns how many samples were applied, identical duplicates included.
    pub(crate) fn apply_batch<'a>(
        &self,
        batch: impl IntoIterator<Item = (&'a MemSeries, Sample)>,
    ) -> u64 {
        let (mut min, mut max, mut applied) = (i64::MAX, i64::MIN, 0u64);
        for (series, sample) in batch {
            series.data.lock().apply(sample, &self.options);
            min = min.min(sample.timestamp_ms);
            max = max.max(sample.timestamp_ms);
            applied += 1;
        }
        if applied > 0 {
            self.min_time_ms.fetch_min(min, Ordering::AcqRel);
            self.max_time_ms.fetch_max(max, Ordering::AcqRel);
        }
        applied
    }

    pub(crate) fn add_metadata(&self, family: String, metadata: MetricMetadata) {
        let mut all = self.metadata.write();
        let entries = all.entry(family).or_default();
        // Newest first and no duplicates, like Prometheus' metadata store per target.
        entries.retain(|m| m != &metadata);
        entries.insert(0, metadata);
        entries.truncate(10);
    }

    pub(crate) fn num_series(&self) -> usize {
        self.index.read().series.len()
    }

    /// Drops the samples before `cut_ms` that the block just cut holds (`written`, sorted by
    /// labels, as [`Head::series_samples`] returned them), removes emptied series and rejects
    /// later appends before `cut_ms` unless the out-of-order time window takes them. Samples
    /// before `cut_ms` that are not in `written` (late samples committed while the block was
    /// written) stay in the head for the next cut.
    pub(crate) fn truncate_before(&self, cut_ms: i64, written: &[(Labels, Vec<Sample>)]) {
        self.truncations.fetch_add(1, Ordering::SeqCst);
        self.raise_min_valid_time(cut_ms);
        let mut index = self.index.write();
        let mut emptied = Vec::new();
        let (mut new_min, mut new_max) = (i64::MAX, i64::MIN);
        for series in index.series.values() {
            let in_block = written
                .binary_search_by(|(labels, _)| labels.cmp(&series.labels))
                .map(|i| written[i].1.as_slice())
                .unwrap_or(&[]);
            let mut data = series.data.lock();
            if data.truncate_written(cut_ms, in_block) {
                emptied.push(series.id);
            } else {
                new_min = new_min.min(data.min_time_ms().unwrap_or(i64::MAX));
                new_max = new_max.max(data.max_time_ms().unwrap_or(i64::MIN));
            }
        }
        for id in emptied {
            index.remove(id);
        }
        self.min_time_ms.store(new_min, Ordering::Release);
        self.max_time_ms.store(new_max, Ordering::Release);
    }

    /// All series with their samples in `[min_ms, max_ms]`, sorted by labels (block cutting).
    pub(crate) fn series_samples(&self, min_ms: i64, max_ms: i64) -> Vec<(Labels, Vec<Sample>)> {
        let all: Vec<Arc<MemSeries>> = self.index.read().series.values().cloned().collect();
        let mut out: Vec<(Labels, Vec<Sample>)> = all
            .iter()
            .filter_map(|s| {
                let samples = s.data.lock().samples_in(min_ms, max_ms);
                (!samples.is_empty()).then(|| (s.labels.clone(), samples))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// WAL records that recreate this head: series, samples and metadata (checkpoints).
    pub(crate) fn snapshot_records(&self) -> Vec<Vec<u8>> {
        const SAMPLES_PER_RECORD: usize = 10_000;
        let all: Vec<Arc<MemSeries>> = self.index.read().series.values().cloned().collect();
        let mut records = Vec::new();
        for group in all.chunks(1_000) {
            let series: Vec<(u32, Labels)> =
                group.iter().map(|s| (s.id, s.labels.clone())).collect();
            records.push(crate::head_wal::encode_series(&self.tenant, &series));
        }
        let mut batch: Vec<(u32, i64, f64)> = Vec::new();
        for series in &all {
            let samples = series.data.lock().samples_in(i64::MIN, i64::MAX);
            batch.extend(samples.iter().map(|s| (series.id, s.timestamp_ms, s.value)));
            if batch.len() >= SAMPLES_PER_RECORD {
                records.push(crate::head_wal::encode_samples(&self.tenant, &batch));
                batch.clear();
            }
        }
        if !batch.is_empty() {
            records.push(crate::head_wal::encode_samples(&self.tenant, &batch));
        }
        for (family, entries) in self.metadata.read().iter() {
            for metadata in entries.iter().rev() {
                records.push(crate::head_wal::encode_metadata(
                    &self.tenant,
                    family,
                    metadata,
                ));
            }
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> HeadOptions {
        HeadOptions {
            block_range_ms: 7_200_000,
            out_of_order_window_ms: 600_000,
            out_of_order_time_window_ms: 0,
            max_future_ms: 600_000,
            max_samples_per_chunk: 120,
            max_series: 0,
        }
    }

    #[test]
    fn extend_sorted_appends_or_merges() {
        let s = |ts: &[i64]| {
            ts.iter()
                .map(|t| Sample::new(*t, *t as f64))
                .collect::<Vec<_>>()
        };
        let mut acc = s(&[1, 2]);
        extend_sorted(&mut acc, s(&[3, 4]));
        assert_eq!(acc, s(&[1, 2, 3, 4]));
        extend_sorted(&mut acc, s(&[0, 2, 5]));
        assert_eq!(acc, s(&[0, 1, 2, 3, 4, 5]));
        let mut empty = Vec::new();
        extend_sorted(&mut empty, s(&[7]));
        assert_eq!(empty, s(&[7]));
    }

    #[test]
    fn truncation_keeps_samples_the_block_does_not_hold() {
        let mut data = SeriesData::new();
        // Cuts are at block boundaries, which no chunk straddles.
        let cut = options().block_range_ms;
        for t in [10_000, 20_000, cut + 90_000] {
            data.apply(Sample::new(t, 1.0), &options());
        }
        // The block was read with 10 s and 20 s; 15 s and 5 s arrived (late) meanwhile.
        let written = [Sample::new(10_000, 1.0), Sample::new(20_000, 1.0)];
        data.apply(Sample::new(15_000, 2.0), &options());
        data.apply(Sample::new(5_000, 3.0), &options());
        assert!(!data.truncate_written(cut, &written));
        let times: Vec<i64> = data
            .samples_in(i64::MIN, i64::MAX)
            .iter()
            .map(|s| s.timestamp_ms)
            .collect();
        assert_eq!(times, [5_000, 15_000, cut + 90_000]);
        let all = data.samples_in(i64::MIN, i64::MAX);
        assert!(data.truncate_written(2 * cut, &all));
    }

    #[test]
    fn chunks_are_cut_by_count_and_block_boundary() {
        let mut data = SeriesData::new();
        for i in 0..300 {
            data.apply(Sample::new(i * 15_000, i as f64), &options());
        }
        // 300 samples at 15 s span 75 min: count limit alone cuts 3 chunks.
        assert_eq!(data.chunk_count(), 3);
        let mut crossing = SeriesData::new();
        crossing.apply(Sample::new(7_199_000, 1.0), &options());
        crossing.apply(Sample::new(7_200_000, 2.0), &options());
        assert_eq!(
            crossing.chunk_count(),
            2,
            "a chunk never straddles a block boundary"
        );
    }

    #[test]
    fn out_of_order_samples_merge_and_truncate() {
        let mut data = SeriesData::new();
        for t in [10_000, 30_000, 50_000] {
            data.apply(Sample::new(t, t as f64), &options());
        }
        assert_eq!(
            data.apply(Sample::new(20_000, 2.0), &options()),
            Applied::Stored
        );
        assert_eq!(
            data.apply(Sample::new(30_000, 30_000.0), &options()),
            Applied::Duplicate
        );
        let times: Vec<i64> = data
            .samples_in(0, 100_000)
            .iter()
            .map(|s| s.timestamp_ms)
            .collect();
        assert_eq!(times, [10_000, 20_000, 30_000, 50_000]);
        assert_eq!(data.value_at(20_000), Some(2.0));
        assert!(!data.truncate_before(40_000));
        assert_eq!(
            data.value_at(20_000),
            None,
            "out-of-order samples before the cut are dropped"
        );
        assert!(data.truncate_before(7_200_000));
    }
}
