//! [`LogSource`] over `vigil-storage`'s log read traits, so the evaluator runs on any log
//! store (the in-memory one in tests, the real one in the server) for one tenant.
//!
//! The storage merges entries across streams; the evaluator wants one iterator per stream,
//! in the query's direction. The adapter lists the matching streams with [`LogQuerier::series`] and opens one
//! [`LogQuerier::select_entries`] per stream, selected by equality on every label of the
//! stream (a superset stream also matches those, so entries are kept only when their stream
//! is exactly the one asked for). Each per-stream read receives the query's line hints, so a
//! store with a content index can skip data that cannot match.

use std::cell::Cell;

use vigil_model::{Direction, LogTimeRange, Matcher, TenantId};
use vigil_storage::{
    LogQueryable, LogScanPart, LogSelect, ScanColumns, StorageError, StorageErrorKind,
};

use super::EvalError;
use super::source::{LogEntry, LogSource, LogStream, SelectRequest};

/// Counters of what a query read from storage, for the API's `stats` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Entries read from storage (after the storage applied the line hints).
    pub lines: u64,
    /// Bytes of those entries (line plus structured metadata).
    pub bytes: u64,
    /// Streams opened.
    pub streams: u64,
}

/// A [`LogSource`] reading one tenant's logs through a [`LogQueryable`].
pub struct StorageLogSource<'q> {
    queryable: &'q dyn LogQueryable,
    tenant: TenantId,
    lines: Cell<u64>,
    bytes: Cell<u64>,
    streams: Cell<u64>,
}

impl<'q> StorageLogSource<'q> {
    /// A source over `queryable` for `tenant`.
    pub fn new(queryable: &'q dyn LogQueryable, tenant: TenantId) -> Self {
        Self {
            queryable,
            tenant,
            lines: Cell::new(0),
            bytes: Cell::new(0),
            streams: Cell::new(0),
        }
    }

    /// What the queries run so far read from storage.
    pub fn stats(&self) -> ScanStats {
        ScanStats {
            lines: self.lines.get(),
            bytes: self.bytes.get(),
            streams: self.streams.get(),
        }
    }
}

/// Maps a storage failure to the evaluator's error: bad selectors are the client's fault.
pub fn storage_error(err: StorageError) -> EvalError {
    match err.kind() {
        StorageErrorKind::InvalidInput => EvalError::BadRequest(err.to_string()),
        StorageErrorKind::Unavailable | StorageErrorKind::Internal => {
            EvalError::Source(err.to_string())
        }
    }
}

impl StorageLogSource<'_> {
    fn querier(
        &self,
        req: &SelectRequest<'_>,
    ) -> Result<Option<Box<dyn vigil_storage::LogQuerier>>, EvalError> {
        // The evaluator's end is exclusive, the storage's inclusive.
        let last_ns = req.end_ns.saturating_sub(1);
        if last_ns < req.start_ns {
            return Ok(None);
        }
        let range = LogTimeRange {
            start_ns: req.start_ns,
            end_ns: last_ns,
        };
        self.queryable
            .log_querier(&self.tenant, range)
            .map(Some)
            .map_err(storage_error)
    }
}

impl LogSource for StorageLogSource<'_> {
    fn scan_parts(
        &self,
        req: &SelectRequest<'_>,
        columns: ScanColumns,
    ) -> Result<Option<Vec<Box<dyn LogScanPart>>>, EvalError> {
        let Some(querier) = self.querier(req)? else {
            return Ok(Some(Vec::new()));
        };
        let select = LogSelect {
            matchers: req.matchers.to_vec(),
            direction: Direction::Forward,
            limit: 0,
            line_contains: req.line_hints.to_vec(),
        };
        let parts = querier
            .scan_parts(&select, columns)
            .map_err(storage_error)?;
        let streams: std::collections::HashSet<&vigil_model::Labels> =
            parts.iter().map(|p| p.stream()).collect();
        self.streams.set(self.streams.get() + streams.len() as u64);
        Ok(Some(parts))
    }

    fn note_scanned(&self, lines: u64, bytes: u64) {
        self.lines.set(self.lines.get() + lines);
        self.bytes.set(self.bytes.get() + bytes);
    }

    fn select<'a>(&'a self, req: &SelectRequest<'_>) -> Result<Vec<LogStream<'a>>, EvalError> {
        let Some(querier) = self.querier(req)? else {
            return Ok(Vec::new());
        };
        let streams = querier.series(req.matchers).map_err(storage_error)?;
        let mut out = Vec::with_capacity(streams.len());
        for labels in streams {
            let exact: Vec<Matcher> = labels
                .iter()
                .map(|label| Matcher::equal(label.name.clone(), label.value.clone()))
                .collect();
            let select = LogSelect {
                matchers: exact,
                direction: match req.direction {
                    super::Direction::Forward => Direction::Forward,
                    super::Direction::Backward => Direction::Backward,
                },
                limit: 0,
                line_contains: req.line_hints.to_vec(),
            };
            let entries = querier.select_entries(&select).map_err(storage_error)?;
            self.streams.set(self.streams.get() + 1);
            let wanted = labels.clone();
            let iter = entries.filter_map(move |item| match item {
                Ok(read) if read.stream != wanted => None,
                Ok(read) => {
                    self.lines.set(self.lines.get() + 1);
                    self.bytes
                        .set(self.bytes.get() + read.entry.size_bytes() as u64);
                    Some(Ok(LogEntry {
                        ts_ns: read.entry.timestamp_ns,
                        line: read.entry.line,
                        metadata: read.entry.structured_metadata,
                    }))
                }
                Err(err) => Some(Err(storage_error(err))),
            });
            out.push(LogStream {
                labels,
                entries: Box::new(iter),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use vigil_model::{Labels, LogEntry as StoredEntry, MatchOp};
    use vigil_storage::log_memory::MemLogStorage;
    use vigil_storage::{LogAppendOptions, LogAppendable};

    use super::*;
    use crate::eval::{
        Direction as EvalDirection, EvalOptions, LogQueryParams, MetricQueryParams, QueryOutput,
        eval_query,
    };

    fn tenant() -> TenantId {
        TenantId::new("t").unwrap()
    }

    async fn store() -> MemLogStorage {
        let storage = MemLogStorage::new();
        let mut appender = storage.log_appender(&tenant(), LogAppendOptions::default());
        let api = Labels::from_static(&[("app", "api")]);
        let api_prod = Labels::from_static(&[("app", "api"), ("env", "prod")]);
        let web = Labels::from_static(&[("app", "web")]);
        for i in 0..10_i64 {
            let line = if i % 5 == 0 {
                "level=error needle"
            } else {
                "level=info hay"
            };
            appender
                .append_entry(&api, StoredEntry::new(i * 1_000, line))
                .unwrap();
            appender
                .append_entry(
                    &api_prod,
                    StoredEntry::new(i * 1_000 + 1, "level=info prod"),
                )
                .unwrap();
            appender
                .append_entry(&web, StoredEntry::new(i * 1_000 + 2, "web needle"))
                .unwrap();
        }
        appender.commit().await.unwrap();
        storage
    }

    #[tokio::test]
    async fn streams_come_back_one_per_label_set_with_only_their_own_entries() {
        let storage = store().await;
        let source = StorageLogSource::new(&storage, tenant());
        let matchers = [Matcher::new(MatchOp::Equal, "app", "api").unwrap()];
        let streams = source
            .select(&SelectRequest {
                matchers: &matchers,
                start_ns: 0,
                end_ns: 5_000,
                line_hints: &[],
                direction: crate::eval::Direction::Forward,
            })
            .unwrap();
        let mut seen: Vec<(String, Vec<i64>)> = streams
            .into_iter()
            .map(|s| {
                let ts = s.entries.map(|e| e.unwrap().ts_ns).collect();
                (s.labels.to_string(), ts)
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (
                    r#"{app="api", env="prod"}"#.to_string(),
                    vec![1, 1_001, 2_001, 3_001, 4_001]
                ),
                (
                    r#"{app="api"}"#.to_string(),
                    vec![0, 1_000, 2_000, 3_000, 4_000]
                ),
            ]
        );
        // End is exclusive: 5_000 itself is not read.
        assert_eq!(source.stats().lines, 10);
        assert_eq!(source.stats().streams, 2);
    }

    #[tokio::test]
    async fn line_hints_reach_the_store_and_prune_what_it_returns() {
        let storage = store().await;
        let source = StorageLogSource::new(&storage, tenant());
        let out = eval_query(
            &source,
            r#"{app=~"api|web"} |= "needle""#,
            &LogQueryParams {
                start_ns: 0,
                end_ns: 100_000,
                limit: 100,
                direction: EvalDirection::Forward,
            },
            &MetricQueryParams::instant(0),
            &EvalOptions::default(),
        )
        .unwrap();
        let QueryOutput::Streams(streams) = out else {
            panic!("expected streams");
        };
        let total: usize = streams.iter().map(|s| s.entries.len()).sum();
        assert_eq!(total, 12);
        // Only the 12 needle lines were read: the store applied the hint.
        assert_eq!(source.stats().lines, 12);
    }

    #[tokio::test]
    async fn metric_queries_evaluate_over_the_store() {
        let storage = store().await;
        let source = StorageLogSource::new(&storage, tenant());
        let out = eval_query(
            &source,
            r#"sum by (level) (count_over_time({app="api"} | logfmt [1h]))"#,
            &LogQueryParams {
                start_ns: 0,
                end_ns: 0,
                limit: 0,
                direction: EvalDirection::Backward,
            },
            &MetricQueryParams::instant(10_000),
            &EvalOptions::default(),
        )
        .unwrap();
        let QueryOutput::Metric(vigil_promql::Value::Vector(samples)) = out else {
            panic!("expected a vector");
        };
        let mut got: Vec<(String, f64)> = samples
            .iter()
            .map(|s| (s.labels.get("level").unwrap_or("").to_string(), s.v))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, vec![("error".into(), 2.0), ("info".into(), 18.0)]);
    }

    #[test]
    fn selectors_matching_only_empty_are_bad_requests() {
        let storage = MemLogStorage::new();
        let source = StorageLogSource::new(&storage, tenant());
        let matchers = [Matcher::new(MatchOp::Equal, "app", "").unwrap()];
        let streams = source.select(&SelectRequest {
            matchers: &matchers,
            start_ns: 0,
            end_ns: 10,
            line_hints: &[],
            direction: crate::eval::Direction::Forward,
        });
        // The empty store lists no streams, so nothing is selected and nothing fails.
        assert!(streams.unwrap().is_empty());
    }
}
