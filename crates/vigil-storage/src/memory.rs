//! An in-memory implementation of the metric storage traits, for tests of the crates above
//! storage (ingest, engines, API). It keeps every sample in a sorted map and accepts samples
//! in any order; a different value at an existing timestamp is rejected.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use vigil_model::{Labels, Matcher, MetricMetadata, Sample, TenantId, TimeRange};

use crate::{
    AppendError, AppendOptions, Appendable, Appender, CommitStats, HeadStats, Querier, Queryable,
    SelectHints, Series, SeriesSet, StorageError, TsdbStatus,
};

#[derive(Default)]
struct TenantData {
    series: BTreeMap<Labels, BTreeMap<i64, f64>>,
    metadata: BTreeMap<String, Vec<MetricMetadata>>,
}

/// In-memory storage implementing [`Appendable`] and [`Queryable`].
#[derive(Clone, Default)]
pub struct MemStorage {
    tenants: Arc<RwLock<HashMap<TenantId, TenantData>>>,
}

impl MemStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }
}

struct MemAppender {
    storage: MemStorage,
    tenant: TenantId,
    samples: Vec<(Labels, Sample)>,
    /// Pending samples by (series, timestamp), to reject conflicting duplicates in O(1).
    pending: HashMap<(Labels, i64), f64>,
    metadata: Vec<(String, MetricMetadata)>,
}

impl Appendable for MemStorage {
    fn appender(&self, tenant: &TenantId, _options: AppendOptions) -> Box<dyn Appender> {
        Box::new(MemAppender {
            storage: self.clone(),
            tenant: tenant.clone(),
            samples: Vec::new(),
            pending: HashMap::new(),
            metadata: Vec::new(),
        })
    }
}

#[async_trait]
impl Appender for MemAppender {
    fn append_sample(&mut self, labels: &Labels, sample: Sample) -> Result<(), AppendError> {
        if labels.metric_name().is_none_or(str::is_empty) {
            return Err(AppendError::InvalidSeries {
                labels: labels.clone(),
                reason: "missing metric name".into(),
            });
        }
        let tenants = self.storage.tenants.read();
        let existing = tenants
            .get(&self.tenant)
            .and_then(|t| t.series.get(labels))
            .and_then(|s| s.get(&sample.timestamp_ms));
        let pending = self
            .pending
            .get(&(labels.clone(), sample.timestamp_ms))
            .copied();
        if let Some(old) = existing.copied().or(pending)
            && old.to_bits() != sample.value.to_bits()
        {
            return Err(AppendError::DuplicateTimestamp {
                labels: labels.clone(),
                timestamp_ms: sample.timestamp_ms,
            });
        }
        drop(tenants);
        self.pending
            .insert((labels.clone(), sample.timestamp_ms), sample.value);
        self.samples.push((labels.clone(), sample));
        Ok(())
    }

    fn append_metadata(
        &mut self,
        metric_family: &str,
        metadata: MetricMetadata,
    ) -> Result<(), AppendError> {
        self.metadata.push((metric_family.to_string(), metadata));
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let mut tenants = self.storage.tenants.write();
        let data = tenants.entry(self.tenant.clone()).or_default();
        let mut stats = CommitStats::default();
        for (labels, sample) in self.samples {
            let series = data.series.entry(labels).or_insert_with(|| {
                stats.new_series += 1;
                BTreeMap::new()
            });
            series.insert(sample.timestamp_ms, sample.value);
            stats.samples += 1;
        }
        for (family, metadata) in self.metadata {
            let entries = data.metadata.entry(family).or_default();
            if !entries.contains(&metadata) {
                entries.push(metadata);
            }
            stats.metadata += 1;
        }
        Ok(stats)
    }

    fn rollback(self: Box<Self>) {}
}

struct MemQuerier {
    series: Vec<Series>,
}

impl Queryable for MemStorage {
    fn querier(
        &self,
        tenant: &TenantId,
        range: TimeRange,
    ) -> Result<Box<dyn Querier>, StorageError> {
        let tenants = self.tenants.read();
        let series = tenants
            .get(tenant)
            .map(|data| {
                data.series
                    .iter()
                    .filter_map(|(labels, samples)| {
                        let samples: Vec<Sample> = samples
                            .range(range.min_ms..=range.max_ms)
                            .map(|(t, v)| Sample::new(*t, *v))
                            .collect();
                        (!samples.is_empty()).then(|| Series {
                            labels: labels.clone(),
                            samples,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Box::new(MemQuerier { series }))
    }

    fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<(String, Vec<MetricMetadata>)>, StorageError> {
        let tenants = self.tenants.read();
        Ok(tenants
            .get(tenant)
            .map(|data| {
                data.metadata
                    .iter()
                    .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
                    .map(|(name, entries)| (name.clone(), entries.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn status(&self, tenant: &TenantId, limit: usize) -> Result<TsdbStatus, StorageError> {
        let tenants = self.tenants.read();
        let Some(data) = tenants.get(tenant) else {
            return Ok(TsdbStatus::default());
        };
        let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
        for labels in data.series.keys() {
            *by_name
                .entry(labels.metric_name().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        let mut series_count_by_metric_name: Vec<(String, u64)> = by_name.into_iter().collect();
        series_count_by_metric_name.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        series_count_by_metric_name.truncate(limit);
        let times = data.series.values().flat_map(|s| s.keys().copied());
        let (min_time_ms, max_time_ms) =
            times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        Ok(TsdbStatus {
            head: HeadStats {
                num_series: data.series.len() as u64,
                min_time_ms: if data.series.is_empty() {
                    0
                } else {
                    min_time_ms
                },
                max_time_ms: if data.series.is_empty() {
                    0
                } else {
                    max_time_ms
                },
                ..HeadStats::default()
            },
            series_count_by_metric_name,
            ..TsdbStatus::default()
        })
    }
}

fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<SeriesSet, StorageError> {
        let mut selected: Vec<Series> = self
            .series
            .iter()
            .filter(|s| matches_all(&s.labels, matchers))
            .cloned()
            .collect();
        if hints.limit > 0 {
            selected.truncate(hints.limit);
        }
        if hints.series_only {
            selected.iter_mut().for_each(|s| s.samples.clear());
        }
        Ok(Box::new(selected.into_iter().map(Ok)))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .series
            .iter()
            .filter(|s| matches_all(&s.labels, matchers))
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut values: Vec<String> = self
            .series
            .iter()
            .filter(|s| matches_all(&s.labels, matchers))
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[tokio::test]
    async fn memory_storage_passes_the_conformance_suite() {
        conformance::run_all(|| {
            let storage = MemStorage::new();
            (
                Arc::new(storage.clone()) as Arc<dyn Appendable>,
                Arc::new(storage) as Arc<dyn Queryable>,
            )
        })
        .await;
    }
}
