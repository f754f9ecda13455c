//! The querier over one tenant: the head plus the blocks overlapping the range, merged by
//! labels; samples are decoded series by series as the result is iterated.

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_model::{Labels, Matcher, Sample, TimeRange};
use vigil_storage::{Querier, SelectHints, Series, SeriesSet, StorageError};

use crate::block::{BlockReader, ChunkMeta};
use crate::chunk::decode_xor;
use crate::db::TenantDb;
use crate::head::{Head, MemSeries, extend_sorted};

pub(crate) struct TsdbQuerier {
    head: Option<Arc<Head>>,
    blocks: Vec<Arc<BlockReader>>,
    range: TimeRange,
    /// The tenant, to list the blocks again when the head was truncated meanwhile.
    db: Option<Arc<TenantDb>>,
}

/// How often a selection re-lists the blocks when head truncations keep racing it.
const MAX_RELISTS: usize = 8;

/// Where one series' samples come from.
#[derive(Default)]
struct Sources {
    head: Option<Arc<MemSeries>>,
    blocks: Vec<(Arc<BlockReader>, Vec<ChunkMeta>)>,
    /// The head's truncation count when the blocks were listed, and the blocks listed
    /// (one list shared by every series of the selection).
    epoch: u64,
    listed: Arc<[Arc<BlockReader>]>,
}

impl TsdbQuerier {
    /// A querier over `db`: its head and the blocks overlapping `range`.
    ///
    /// Maintenance moves samples from the head into a new block (added first) and then
    /// truncates the head, while a query may be reading: so every selection lists the
    /// blocks after noting the head's truncation count, and a series read after a
    /// truncation also reads the blocks added since (see [`load_samples`]).
    pub(crate) fn new(db: Arc<TenantDb>, range: TimeRange) -> Self {
        Self {
            head: Some(db.head.clone()),
            blocks: overlapping(db.blocks_snapshot(), range),
            range,
            db: Some(db),
        }
    }

    pub(crate) fn empty(range: TimeRange) -> Self {
        Self {
            head: None,
            blocks: Vec::new(),
            range,
            db: None,
        }
    }

    /// The head's truncation count, then the blocks now listed (in that order: a block
    /// cut before a truncation is listed before it).
    fn current_blocks(&self) -> (u64, Vec<Arc<BlockReader>>) {
        match (&self.head, &self.db) {
            (Some(head), Some(db)) => {
                let epoch = head.truncations();
                (epoch, overlapping(db.blocks_snapshot(), self.range))
            }
            _ => (0, self.blocks.clone()),
        }
    }

    /// Sources of the series matching `matchers`, consistent with one truncation count:
    /// listed again while a truncation races the listing.
    fn sources(&self, matchers: &[Matcher]) -> BTreeMap<Labels, Sources> {
        let mut attempt = 0;
        loop {
            let (epoch, blocks) = self.current_blocks();
            let by_labels = self.sources_over(matchers, &blocks, epoch);
            attempt += 1;
            let stable = self.head.as_ref().is_none_or(|h| h.truncations() == epoch);
            if stable || attempt >= MAX_RELISTS {
                return by_labels;
            }
        }
    }

    fn sources_over(
        &self,
        matchers: &[Matcher],
        blocks: &[Arc<BlockReader>],
        epoch: u64,
    ) -> BTreeMap<Labels, Sources> {
        let mut by_labels: BTreeMap<Labels, Sources> = BTreeMap::new();
        for block in blocks {
            for series in block.select(matchers, self.range.min_ms, self.range.max_ms) {
                by_labels
                    .entry(series.labels)
                    .or_default()
                    .blocks
                    .push((block.clone(), series.chunks));
            }
        }
        if let Some(head) = &self.head {
            for series in head.select(matchers, self.range.min_ms, self.range.max_ms) {
                let labels = series.labels.clone();
                by_labels.entry(labels).or_default().head = Some(series);
            }
        }
        let listed: Arc<[Arc<BlockReader>]> = blocks.into();
        for sources in by_labels.values_mut() {
            sources.epoch = epoch;
            sources.listed = listed.clone();
        }
        by_labels
    }
}

fn overlapping(blocks: Vec<Arc<BlockReader>>, range: TimeRange) -> Vec<Arc<BlockReader>> {
    blocks
        .into_iter()
        // Block max_time is exclusive.
        .filter(|b| range.overlaps(b.meta().min_time, b.meta().max_time.saturating_sub(1)))
        .collect()
}

/// Appends the samples of `labels` in `block`'s chunks within `range`.
fn read_block(
    block: &BlockReader,
    chunks: &[ChunkMeta],
    range: TimeRange,
    merged: &mut Vec<Sample>,
) -> Result<(), StorageError> {
    for meta in chunks {
        let chunk = block
            .read_chunk(meta)
            .map_err(|err| StorageError::Corrupt {
                what: format!("block {}", block.meta().ulid),
                reason: err.to_string(),
            })?;
        let samples = decode_xor(&chunk.data).map_err(|err| StorageError::Corrupt {
            what: format!("chunk in block {}", block.meta().ulid),
            reason: err.to_string(),
        })?;
        let in_range: Vec<Sample> = samples
            .into_iter()
            .filter(|s| range.contains(s.timestamp_ms))
            .collect();
        extend_sorted(merged, in_range);
    }
    Ok(())
}

/// Reads one series: its listed blocks, then the head. When the head was truncated since
/// the blocks were listed, samples read from the head may lack some that moved into a block
/// cut meanwhile (always added before the truncation): those blocks are read too, and
/// samples present in both count once.
fn load_samples(
    labels: &Labels,
    sources: &Sources,
    range: TimeRange,
    db: Option<&Arc<TenantDb>>,
) -> Result<Vec<Sample>, StorageError> {
    let mut merged: Vec<Sample> = Vec::new();
    for (block, chunks) in &sources.blocks {
        read_block(block, chunks, range, &mut merged)?;
    }
    if let Some(series) = &sources.head {
        let head_samples = series.data.lock().samples_in(range.min_ms, range.max_ms);
        extend_sorted(&mut merged, head_samples);
    }
    if let Some(db) = db
        && db.head.truncations() != sources.epoch
    {
        let exact: Vec<Matcher> = labels
            .iter()
            .map(|l| Matcher::equal(l.name.clone(), l.value.clone()))
            .collect();
        for block in overlapping(db.blocks_snapshot(), range) {
            if sources.listed.iter().any(|b| Arc::ptr_eq(b, &block)) {
                continue;
            }
            for series in block.select(&exact, range.min_ms, range.max_ms) {
                if &series.labels == labels {
                    read_block(&block, &series.chunks, range, &mut merged)?;
                }
            }
        }
    }
    Ok(merged)
}

impl Querier for TsdbQuerier {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<SeriesSet, StorageError> {
        let mut sources: Vec<(Labels, Sources)> = self.sources(matchers).into_iter().collect();
        if hints.limit > 0 {
            sources.truncate(hints.limit);
        }
        let range = self.range;
        let series_only = hints.series_only;
        let db = self.db.clone();
        Ok(Box::new(sources.into_iter().map(
            move |(labels, sources)| {
                let samples = if series_only {
                    Vec::new()
                } else {
                    load_samples(&labels, &sources, range, db.as_ref())?
                };
                Ok(Series { labels, samples })
            },
        )))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(self.distinct(
            matchers,
            |postings| postings.label_names(),
            |block| block.label_names(&[]),
            |labels| labels.iter().map(|l| l.name.clone()).collect(),
        ))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut restricted = matchers.to_vec();
        // Only series that have the label can contribute a value.
        if !(matchers.is_empty() && self.range == TimeRange::ALL)
            && let Ok(has_label) = Matcher::new(vigil_model::MatchOp::NotEqual, name, "")
        {
            restricted.push(has_label);
        }
        Ok(self.distinct(
            &restricted,
            |postings| postings.label_values(name),
            |block| block.label_values(name, &[]),
            |labels| labels.get(name).map(str::to_string).into_iter().collect(),
        ))
    }
}

impl TsdbQuerier {
    /// Sorted distinct strings over the selected series. Without matchers over all time the
    /// indexes answer directly (`from_postings`, `from_block`); otherwise the series are selected
    /// and `from_labels` reads each label set.
    fn distinct(
        &self,
        matchers: &[Matcher],
        from_postings: impl Fn(&crate::postings::MemPostings) -> Vec<String>,
        from_block: impl Fn(&BlockReader) -> Vec<String>,
        from_labels: impl Fn(&Labels) -> Vec<String>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if matchers.is_empty() && self.range == TimeRange::ALL {
            if let Some(head) = &self.head {
                out.extend(from_postings(&head.index.read().postings));
            }
            for block in &self.blocks {
                out.extend(from_block(block));
            }
        } else {
            for labels in self.sources(&effective(matchers)).keys() {
                out.extend(from_labels(labels));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Matchers for "all series" when none are given: every series has a metric name.
fn effective(matchers: &[Matcher]) -> Vec<Matcher> {
    if matchers.is_empty()
        && let Ok(any_name) =
            Matcher::new(vigil_model::MatchOp::Regex, vigil_model::METRIC_NAME, ".+")
    {
        return vec![any_name];
    }
    matchers.to_vec()
}
