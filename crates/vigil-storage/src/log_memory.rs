//! An in-memory implementation of the log storage traits, for tests of the crates above
//! storage (ingest, the LogQL engine, the API). Each stream is a sorted map keyed by
//! timestamp and line; the unordered-writes window and the stream limit are configurable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use vigil_model::{Direction, Labels, LogEntry, LogTimeRange, Matcher, TenantId};

use crate::logs::{check_log_matchers, forward_entry_order, line_matches_all};
use crate::{
    LogAppendError, LogAppendOptions, LogAppendable, LogAppender, LogCommitStats, LogEntryIter,
    LogQuerier, LogQueryable, LogSelect, StorageError, StreamEntry,
};

type Stream = BTreeMap<(i64, String), LogEntry>;

/// Limits of [`MemLogStorage`]; the same knobs every log storage has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemLogLimits {
    /// How far behind a stream's newest entry an entry may be (ns); `i64::MAX` = unlimited.
    pub unordered_window_ns: i64,
    /// Streams per tenant (0 = unlimited).
    pub max_streams_per_tenant: usize,
}

impl Default for MemLogLimits {
    fn default() -> Self {
        Self {
            unordered_window_ns: i64::MAX,
            max_streams_per_tenant: 0,
        }
    }
}

/// In-memory log storage implementing [`LogAppendable`] and [`LogQueryable`].
#[derive(Clone, Default)]
pub struct MemLogStorage {
    tenants: Arc<RwLock<HashMap<TenantId, BTreeMap<Labels, Stream>>>>,
    limits: MemLogLimits,
}

impl MemLogStorage {
    /// An empty storage without limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty storage with `limits`.
    pub fn with_limits(limits: MemLogLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }
}

struct MemLogAppender {
    storage: MemLogStorage,
    tenant: TenantId,
    options: LogAppendOptions,
    entries: Vec<(Labels, LogEntry)>,
    /// Newest timestamp per stream including this batch, for the window check.
    newest: HashMap<Labels, i64>,
}

impl LogAppendable for MemLogStorage {
    fn log_appender(&self, tenant: &TenantId, options: LogAppendOptions) -> Box<dyn LogAppender> {
        Box::new(MemLogAppender {
            storage: self.clone(),
            tenant: tenant.clone(),
            options,
            entries: Vec::new(),
            newest: HashMap::new(),
        })
    }
}

#[async_trait]
impl LogAppender for MemLogAppender {
    fn append_entry(&mut self, stream: &Labels, entry: LogEntry) -> Result<(), LogAppendError> {
        if stream.is_empty() {
            return Err(LogAppendError::InvalidStream {
                stream: stream.clone(),
                reason: "a stream needs at least one label".into(),
            });
        }
        let tenants = self.storage.tenants.read();
        let existing_streams = tenants.get(&self.tenant);
        let stored_newest = existing_streams
            .and_then(|streams| streams.get(stream))
            .and_then(|entries| entries.keys().next_back().map(|(ts, _)| *ts));
        let is_new_stream = stored_newest.is_none()
            && existing_streams.is_none_or(|streams| !streams.contains_key(stream));
        let newest = match (stored_newest, self.newest.get(stream).copied()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(newest_ns) = newest
            && !self.options.skip_time_checks
            && entry.timestamp_ns
                < newest_ns.saturating_sub(self.storage.limits.unordered_window_ns)
        {
            return Err(LogAppendError::TooFarBehind {
                stream: stream.clone(),
                timestamp_ns: entry.timestamp_ns,
                newest_ns,
                window_ns: self.storage.limits.unordered_window_ns,
            });
        }
        let limit = self.storage.limits.max_streams_per_tenant;
        if is_new_stream && limit > 0 && !self.newest.contains_key(stream) {
            let pending_new = self
                .newest
                .keys()
                .filter(|s| existing_streams.is_none_or(|streams| !streams.contains_key(*s)))
                .count();
            let stored = existing_streams.map_or(0, BTreeMap::len);
            if stored + pending_new >= limit {
                return Err(LogAppendError::StreamLimit {
                    stream: stream.clone(),
                    limit,
                });
            }
        }
        drop(tenants);
        let slot = self
            .newest
            .entry(stream.clone())
            .or_insert(entry.timestamp_ns);
        *slot = (*slot).max(entry.timestamp_ns);
        self.entries.push((stream.clone(), entry));
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<LogCommitStats, StorageError> {
        let mut tenants = self.storage.tenants.write();
        let streams = tenants.entry(self.tenant.clone()).or_default();
        let mut stats = LogCommitStats::default();
        for (labels, entry) in self.entries {
            let stream = streams.entry(labels).or_insert_with(|| {
                stats.new_streams += 1;
                BTreeMap::new()
            });
            let key = (entry.timestamp_ns, entry.line.clone());
            if stream.contains_key(&key) {
                stats.duplicates += 1;
                continue;
            }
            stats.entries += 1;
            stats.bytes += entry.size_bytes() as u64;
            stream.insert(key, entry);
        }
        Ok(stats)
    }

    fn rollback(self: Box<Self>) {}
}

struct MemLogQuerier {
    /// Streams with at least one entry in the range, each with its entries in the range.
    streams: Vec<(Labels, Vec<LogEntry>)>,
}

impl LogQueryable for MemLogStorage {
    fn log_querier(
        &self,
        tenant: &TenantId,
        range: LogTimeRange,
    ) -> Result<Box<dyn LogQuerier>, StorageError> {
        let tenants = self.tenants.read();
        let streams = tenants
            .get(tenant)
            .map(|streams| {
                streams
                    .iter()
                    .filter_map(|(labels, entries)| {
                        let in_range: Vec<LogEntry> = entries
                            .range((range.start_ns, String::new())..)
                            .take_while(|((ts, _), _)| *ts <= range.end_ns)
                            .map(|(_, e)| e.clone())
                            .collect();
                        (!in_range.is_empty()).then(|| (labels.clone(), in_range))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Box::new(MemLogQuerier { streams }))
    }
}

fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

impl LogQuerier for MemLogQuerier {
    fn select_entries(&self, select: &LogSelect) -> Result<LogEntryIter, StorageError> {
        check_log_matchers(&select.matchers)?;
        let mut selected: Vec<StreamEntry> = self
            .streams
            .iter()
            .filter(|(labels, _)| matches_all(labels, &select.matchers))
            .flat_map(|(labels, entries)| {
                entries
                    .iter()
                    .filter(|e| line_matches_all(&e.line, &select.line_contains))
                    .map(|e| StreamEntry {
                        stream: labels.clone(),
                        entry: e.clone(),
                    })
            })
            .collect();
        selected.sort_by(|a, b| forward_entry_order(&a.stream, &a.entry, &b.stream, &b.entry));
        if select.direction == Direction::Backward {
            selected.reverse();
        }
        if select.limit > 0 {
            selected.truncate(select.limit);
        }
        Ok(Box::new(selected.into_iter().map(Ok)))
    }

    fn series(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, StorageError> {
        Ok(self
            .streams
            .iter()
            .filter(|(labels, _)| matches_all(labels, matchers))
            .map(|(labels, _)| labels.clone())
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .series(matchers)?
            .iter()
            .flat_map(|labels| labels.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut values: Vec<String> = self
            .series(matchers)?
            .iter()
            .filter_map(|labels| labels.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_conformance::{self, LogStorageUnderTest};

    #[tokio::test]
    async fn memory_log_storage_passes_the_log_conformance_suite() {
        log_conformance::run_all(|limits| {
            let storage = MemLogStorage::with_limits(MemLogLimits {
                unordered_window_ns: limits.unordered_window_ns,
                max_streams_per_tenant: limits.max_streams_per_tenant,
            });
            LogStorageUnderTest {
                appendable: Arc::new(storage.clone()),
                queryable: Arc::new(storage),
                persist: None,
            }
        })
        .await;
    }
}
