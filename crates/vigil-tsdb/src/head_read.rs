//! Reads from the head: series selection through the postings, label names and values.

use std::sync::Arc;

use vigil_model::Matcher;

use crate::head::{Head, MemSeries};

impl Head {
    /// Series matching all matchers with samples in `[min_ms, max_ms]`, sorted by labels.
    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
        min_ms: i64,
        max_ms: i64,
    ) -> Vec<Arc<MemSeries>> {
        let candidates: Vec<Arc<MemSeries>> = {
            let index = self.index.read();
            let ids = index.postings.select(matchers);
            ids.iter()
                .filter_map(|id| index.series.get(&id).cloned())
                .collect()
        };
        let mut selected: Vec<Arc<MemSeries>> = candidates
            .into_iter()
            .filter(|s| s.data.lock().overlaps(min_ms, max_ms))
            .collect();
        selected.sort_by(|a, b| a.labels.cmp(&b.labels));
        selected
    }
}
