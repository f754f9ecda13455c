//! The querier over one tenant: the head plus the blocks overlapping the range, merged by
//! labels; samples are decoded series by series as the result is iterated.

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_model::{Labels, Matcher, Sample, TimeRange};
use vigil_storage::{Querier, SelectHints, Series, SeriesSet, StorageError};

use crate::block::{BlockReader, ChunkMeta};
use crate::chunk::decode_xor;
use crate::head::{Head, MemSeries, extend_sorted};

pub(crate) struct TsdbQuerier {
    head: Option<Arc<Head>>,
    blocks: Vec<Arc<BlockReader>>,
    range: TimeRange,
}

/// Where one series' samples come from.
#[derive(Default)]
struct Sources {
    head: Option<Arc<MemSeries>>,
    blocks: Vec<(Arc<BlockReader>, Vec<ChunkMeta>)>,
}

impl TsdbQuerier {
    pub(crate) fn new(head: Arc<Head>, blocks: Vec<Arc<BlockReader>>, range: TimeRange) -> Self {
        let blocks = blocks
            .into_iter()
            // Block max_time is exclusive.
            .filter(|b| range.overlaps(b.meta().min_time, b.meta().max_time.saturating_sub(1)))
            .collect();
        Self {
            head: Some(head),
            blocks,
            range,
        }
    }

    pub(crate) fn empty(range: TimeRange) -> Self {
        Self {
            head: None,
            blocks: Vec::new(),
            range,
        }
    }

    fn sources(&self, matchers: &[Matcher]) -> BTreeMap<Labels, Sources> {
        let mut by_labels: BTreeMap<Labels, Sources> = BTreeMap::new();
        for block in &self.blocks {
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
        by_labels
    }
}

fn load_samples(sources: &Sources, range: TimeRange) -> Result<Vec<Sample>, StorageError> {
    let mut merged: Vec<Sample> = Vec::new();
    for (block, chunks) in &sources.blocks {
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
            extend_sorted(&mut merged, in_range);
        }
    }
    if let Some(series) = &sources.head {
        let head_samples = series.data.lock().samples_in(range.min_ms, range.max_ms);
        extend_sorted(&mut merged, head_samples);
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
        Ok(Box::new(sources.into_iter().map(
            move |(labels, sources)| {
                let samples = if series_only {
                    Vec::new()
                } else {
                    load_samples(&sources, range)?
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
