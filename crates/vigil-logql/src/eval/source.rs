//! The read interface evaluation needs from a log store, and an in-memory implementation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use vigil_model::{Labels, LogEntry as StoredEntry, Matcher};
use vigil_storage::{EntriesPart, LogScanPart, ScanColumns};

use super::{Direction, EvalError};

/// One stored log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Timestamp in nanoseconds since the epoch.
    pub ts_ns: i64,
    /// The log line.
    pub line: String,
    /// Structured metadata attached to the entry (may be empty).
    pub metadata: Labels,
}

/// One stream returned by a [`LogSource`]: its labels and an iterator over its entries in
/// the requested direction.
pub struct LogStream<'a> {
    /// The stream's labels.
    pub labels: Labels,
    /// Entries in ascending timestamp order, or for [`Direction::Backward`] in exactly the
    /// reverse of that order. Errors end the query.
    pub entries: Box<dyn Iterator<Item = Result<LogEntry, EvalError>> + 'a>,
}

/// What the evaluator asks a [`LogSource`] for.
#[derive(Debug, Clone, Copy)]
pub struct SelectRequest<'r> {
    /// Stream selector matchers (all must match the stream labels).
    pub matchers: &'r [Matcher],
    /// Inclusive lower time bound, nanoseconds.
    pub start_ns: i64,
    /// Exclusive upper time bound, nanoseconds.
    pub end_ns: i64,
    /// Substrings every useful line contains (see [`crate::required_substrings`]); the
    /// source may use them to skip chunks, and may ignore them.
    pub line_hints: &'r [String],
    /// Order of each stream's entries: [`Direction::Backward`] is the exact reverse of
    /// [`Direction::Forward`], so a log query for the newest entries can stop early.
    pub direction: Direction,
}

/// A log store as the LogQL evaluator sees it.
///
/// Contract: return every stream whose labels satisfy all `matchers`, each with the
/// entries in `[start_ns, end_ns)` in ascending time order (descending, the exact reverse,
/// when the request says [`Direction::Backward`]). Returning extra entries (out of range,
/// or lines without the hinted substrings) is allowed: the evaluator filters them again.
/// Iterators are pulled lazily and merged across streams by time, so a store can stream
/// from disk with bounded memory, and a log query stops reading at its limit.
pub trait LogSource {
    /// Selects the matching streams.
    fn select<'a>(&'a self, req: &SelectRequest<'_>) -> Result<Vec<LogStream<'a>>, EvalError>;

    /// The same entries as independent parts to read in any order and on several threads
    /// (see [`vigil_storage::LogScanPart`]), for aggregations that do not depend on order;
    /// `direction` is ignored. `None` when the source cannot, and the evaluator then uses
    /// [`LogSource::select`].
    fn scan_parts(
        &self,
        req: &SelectRequest<'_>,
        columns: ScanColumns,
    ) -> Result<Option<Vec<Box<dyn LogScanPart>>>, EvalError> {
        let _ = (req, columns);
        Ok(None)
    }

    /// Counts what a scan through [`LogSource::scan_parts`] read, for the query's stats.
    fn note_scanned(&self, lines: u64, bytes: u64) {
        let _ = (lines, bytes);
    }
}

/// A [`LogSource`] over streams held in memory (tests, small tools).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    streams: Vec<(Labels, Vec<LogEntry>)>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds entries to the stream with `labels` (creating it), keeping time order.
    pub fn push(&mut self, labels: Labels, entries: impl IntoIterator<Item = LogEntry>) {
        let idx = match self.streams.iter().position(|(l, _)| *l == labels) {
            Some(i) => i,
            None => {
                self.streams.push((labels, Vec::new()));
                self.streams.len() - 1
            }
        };
        let list = &mut self.streams[idx].1;
        list.extend(entries);
        list.sort_by_key(|e| e.ts_ns);
    }
}

impl LogSource for MemorySource {
    fn scan_parts(
        &self,
        req: &SelectRequest<'_>,
        columns: ScanColumns,
    ) -> Result<Option<Vec<Box<dyn LogScanPart>>>, EvalError> {
        let _ = columns;
        let parts = self
            .streams
            .iter()
            .filter(|(labels, _)| req.matchers.iter().all(|m| m.matches_labels(labels)))
            .map(|(labels, entries)| -> Box<dyn LogScanPart> {
                let entries = entries
                    .iter()
                    .filter(|e| e.ts_ns >= req.start_ns && e.ts_ns < req.end_ns)
                    .map(|e| StoredEntry {
                        timestamp_ns: e.ts_ns,
                        line: e.line.clone(),
                        structured_metadata: e.metadata.clone(),
                    })
                    .collect();
                Box::new(EntriesPart::new(labels.clone(), entries))
            })
            .collect();
        Ok(Some(parts))
    }

    fn select<'a>(&'a self, req: &SelectRequest<'_>) -> Result<Vec<LogStream<'a>>, EvalError> {
        let (start, end) = (req.start_ns, req.end_ns);
        let direction = req.direction;
        Ok(self
            .streams
            .iter()
            .filter(|(labels, _)| req.matchers.iter().all(|m| m.matches_labels(labels)))
            .map(|(labels, entries)| {
                let in_range = move |e: &&LogEntry| e.ts_ns >= start && e.ts_ns < end;
                let entries: Box<dyn Iterator<Item = Result<LogEntry, EvalError>> + 'a> =
                    match direction {
                        Direction::Forward => {
                            Box::new(entries.iter().filter(in_range).cloned().map(Ok))
                        }
                        Direction::Backward => {
                            Box::new(entries.iter().rev().filter(in_range).cloned().map(Ok))
                        }
                    };
                LogStream {
                    labels: labels.clone(),
                    entries,
                }
            })
            .collect())
    }
}

/// Merges streams into one sequence ordered by (timestamp, stream index), or for
/// [`Direction::Backward`] (streams read backward) in exactly the reverse order.
pub(crate) struct Merger<'a> {
    streams: Vec<LogStream<'a>>,
    heads: Vec<Option<LogEntry>>,
    /// Min-heap of the sort keys: `(ts, index)` forward, both inverted backward.
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    direction: Direction,
}

impl<'a> Merger<'a> {
    pub(crate) fn new(
        streams: Vec<LogStream<'a>>,
        direction: Direction,
    ) -> Result<Self, EvalError> {
        let mut m = Self {
            heads: (0..streams.len()).map(|_| None).collect(),
            streams,
            heap: BinaryHeap::new(),
            direction,
        };
        for i in 0..m.streams.len() {
            m.advance(i)?;
        }
        Ok(m)
    }

    fn advance(&mut self, i: usize) -> Result<(), EvalError> {
        if let Some(e) = self.streams[i].entries.next() {
            let e = e?;
            // `!x` reverses the order of integers without overflow.
            let key = match self.direction {
                Direction::Forward => (e.ts_ns, i),
                Direction::Backward => (!e.ts_ns, !i),
            };
            self.heap.push(Reverse(key));
            self.heads[i] = Some(e);
        }
        Ok(())
    }

    pub(crate) fn labels(&self, i: usize) -> &Labels {
        &self.streams[i].labels
    }

    /// The next entry and the index of its stream.
    pub(crate) fn next_entry(&mut self) -> Result<Option<(usize, LogEntry)>, EvalError> {
        let Some(Reverse((_, key))) = self.heap.pop() else {
            return Ok(None);
        };
        let i = match self.direction {
            Direction::Forward => key,
            Direction::Backward => !key,
        };
        let Some(entry) = self.heads[i].take() else {
            return Ok(None);
        };
        self.advance(i)?;
        Ok(Some((i, entry)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{EvalOptions, LogQueryParams, eval_log_query};
    use crate::syntax::{Expr, parse};

    fn entry(ts_ns: i64, line: &str) -> LogEntry {
        LogEntry {
            ts_ns,
            line: line.to_string(),
            metadata: Labels::empty(),
        }
    }

    /// Three streams with entries on shared timestamps and equal timestamps within a stream.
    fn source() -> MemorySource {
        let mut source = MemorySource::new();
        for (s, name) in ["a", "b", "c"].iter().enumerate() {
            let labels = Labels::from_static(&[("app", "x"), ("s", name)]);
            let entries = (0..40_i64).map(|i| {
                let ts = (i / 3) * 10 + (s as i64 % 2);
                entry(
                    ts,
                    &format!(
                        "{name} line {i} {}",
                        if i % 4 == 0 { "hit" } else { "miss" }
                    ),
                )
            });
            source.push(labels, entries);
        }
        source
    }

    fn run(query: &str, limit: usize, direction: Direction) -> Vec<(String, Vec<(i64, String)>)> {
        let Ok(Expr::Log(log)) = parse(query) else {
            panic!("not a log query: {query}");
        };
        let params = LogQueryParams {
            start_ns: 5,
            end_ns: 125,
            limit,
            direction,
        };
        eval_log_query(&source(), &log, &params, &EvalOptions::default())
            .unwrap()
            .into_iter()
            .map(|s| {
                let entries = s.entries.into_iter().map(|e| (e.ts_ns, e.line)).collect();
                (s.labels.to_string(), entries)
            })
            .collect()
    }

    /// Reading backward and stopping at the limit keeps exactly the entries that reading
    /// everything forward and keeping the last `limit` would.
    #[test]
    fn backward_reads_are_the_tail_of_forward_reads() {
        for query in [
            r#"{app="x"}"#,
            r#"{app="x"} |= "hit""#,
            r#"{s=~"a|c"} != "hit""#,
        ] {
            let all = run(query, usize::MAX, Direction::Forward);
            let mut merged: Vec<(i64, usize, String, String)> = Vec::new();
            for (labels, entries) in &all {
                for (pos, (ts, line)) in entries.iter().enumerate() {
                    merged.push((*ts, pos, labels.clone(), line.clone()));
                }
            }
            // Forward order: time, then stream (label order here), then position.
            merged.sort_by(|a, b| (a.0, &a.2, a.1).cmp(&(b.0, &b.2, b.1)));
            for limit in [1, 2, 5, 17, 1000] {
                let backward = run(query, limit, Direction::Backward);
                let tail = &merged[merged.len().saturating_sub(limit)..];
                let mut expected: Vec<(String, Vec<(i64, String)>)> = Vec::new();
                for (ts, _, labels, line) in tail.iter().rev() {
                    match expected.iter_mut().find(|(l, _)| l == labels) {
                        Some((_, entries)) => entries.push((*ts, line.clone())),
                        None => expected.push((labels.clone(), vec![(*ts, line.clone())])),
                    }
                }
                expected.sort();
                assert_eq!(backward, expected, "{query} limit {limit}");
                let forward = run(query, limit, Direction::Forward);
                let head: usize = forward.iter().map(|(_, e)| e.len()).sum();
                assert_eq!(head, limit.min(merged.len()), "{query} limit {limit}");
            }
        }
    }

    /// `sum by (…) (count_over_time(…))` counts per group while scanning, with parsers
    /// skipping labels the sum drops; it must answer exactly as the unfused form (the
    /// `+ 0` keeps the engine from fusing), errors included.
    #[test]
    fn fused_sum_of_counts_answers_as_the_plain_evaluation() {
        use crate::eval::{MetricQueryParams, QueryOutput, eval_query};
        let mut source = MemorySource::new();
        for (host, level) in [("h1", None), ("h2", Some("warn"))] {
            let mut labels = vec![("app", "x"), ("host", host)];
            if let Some(level) = level {
                labels.push(("level", level));
            }
            let labels = Labels::from_static(&labels);
            let entries = (0..60_i64).map(|i| {
                let line = match i % 5 {
                    0 => format!("level=info method=GET trace={i} msg=\"ok {i}\""),
                    1 => format!("level=error method=POST trace={i}"),
                    2 => format!("{{\"level\":\"debug\",\"method\":\"PUT\",\"n\":{i}}}"),
                    3 => format!("level=info bad\"quote {i}"),
                    _ => format!("method=GET level=warn level=info trace={i}"),
                };
                entry(i * 1_000_000_000 + 7, &line)
            });
            source.push(labels, entries);
        }
        let params = MetricQueryParams::range(5_000_000_000, 70_000_000_000, 10_000_000_000);
        let log = LogQueryParams {
            start_ns: 0,
            end_ns: 0,
            limit: 0,
            direction: Direction::Backward,
        };
        let eval = |q: &str| match eval_query(&source, q, &log, &params, &EvalOptions::default()) {
            Ok(QueryOutput::Metric(v)) => Ok(format!("{v:?}")),
            Ok(other) => panic!("not a metric answer: {other:?}"),
            Err(err) => Err(err.to_string()),
        };
        for inner in [
            r#"count_over_time({app="x"} | logfmt [10s])"#,
            r#"count_over_time({app="x"} | logfmt --strict [10s])"#,
            r#"count_over_time({app="x"} |= "GET" | logfmt [10s])"#,
            r#"count_over_time({app="x"} | json [10s])"#,
            r#"bytes_over_time({app="x"} | logfmt [10s])"#,
            r#"count_over_time({app="x"} |~ "level=(info|warn)" [10s])"#,
            r#"count_over_time({app="x"} | logfmt | method="GET" [10s])"#,
        ] {
            for grouping in [
                "by (level)",
                "by (level_extracted, host)",
                "by (method)",
                "without (host)",
                "by ()",
            ] {
                let fused = eval(&format!("sum {grouping} ({inner})"));
                let plain = eval(&format!("sum {grouping} ({inner} + 0)"));
                assert_eq!(fused, plain, "sum {grouping} ({inner})");
            }
        }
        assert!(
            eval(r#"sum by (level) (count_over_time({app="x"} | logfmt --strict [10s]))"#)
                .is_err_and(|e| e.contains("LogfmtParserErr")),
            "strict logfmt errors still surface"
        );
    }

    /// Counts, rates and byte sums read through unordered, multi-threaded scans must answer
    /// exactly as the evaluation that merges entries in time order: same series, same
    /// values, same errors, for any steps, ranges and offsets.
    #[test]
    fn unordered_scans_answer_as_the_ordered_evaluation() {
        use crate::eval::{MetricQueryParams, QueryOutput, eval_query};
        use proptest::prelude::*;
        let queries = [
            r#"count_over_time({app="x"} [R])"#,
            r#"rate({app=~"x|y"} [R] offset O)"#,
            r#"bytes_over_time({app=~".+"} |= "GET" [R])"#,
            r#"bytes_rate({app="y"} != "GET" [R])"#,
            r#"count_over_time({app=~".+"} |~ "level=(info|warn)" [R])"#,
            r#"sum by (level) (count_over_time({app=~".+"} | logfmt [R]))"#,
            r#"sum by (method, app) (rate({app=~".+"} | logfmt | level!="info" [R]))"#,
            r#"count_over_time({app="x"} | json | line_format "{{.method}}" [R])"#,
            r#"sum without (host) (bytes_over_time({app=~".+"} | logfmt --strict [R]))"#,
            r#"count_over_time({app=~".+"} | logfmt --strict [R])"#,
            r#"count by (app) (count_over_time({app=~".+"} | logfmt | method="GET" [R]))"#,
        ];
        let config = ProptestConfig {
            cases: 48,
            ..ProptestConfig::default()
        };
        proptest!(config, |(
            lines in proptest::collection::vec((0usize..3, 0i64..200, 0usize..6), 0..120),
            start in 0i64..100,
            span in 0i64..120,
            step in 1i64..30,
            range in 1i64..60,
            offset in 0i64..20,
            query in 0usize..11,
        )| {
            let s = 1_000_000_000i64;
            let mut source = MemorySource::new();
            for (stream, ts, shape) in lines {
                let (app, host) = [("x", "h1"), ("x", "h2"), ("y", "h1")][stream];
                let line = match shape {
                    0 => format!("level=info method=GET n={ts}"),
                    1 => format!("level=error method=POST n={ts}"),
                    2 => r#"{"level":"debug","method":"PUT"}"#.to_string(),
                    3 => format!("level=info bad\"quote {ts}"),
                    4 => "method=GET level=warn".to_string(),
                    _ => String::new(),
                };
                let mut e = entry(ts * s / 2, &line);
                if shape == 1 {
                    e.metadata = Labels::from_static(&[("trace_id", "t1")]);
                }
                source.push(Labels::from_static(&[("app", app), ("host", host)]), [e]);
            }
            let q = queries[query]
                .replace("[R]", &format!("[{range}s]"))
                .replace(" O)", &format!(" {offset}s)"));
            let params = if span == 0 {
                MetricQueryParams::instant((start + 50) * s)
            } else {
                MetricQueryParams::range(start * s, (start + span) * s, step * s)
            };
            let log = LogQueryParams {
                start_ns: 0,
                end_ns: 0,
                limit: 0,
                direction: Direction::Backward,
            };
            let eval = |threads: usize| {
                let opts = EvalOptions {
                    scan_threads: threads,
                    ..EvalOptions::default()
                };
                match eval_query(&source, &q, &log, &params, &opts) {
                    Ok(QueryOutput::Metric(v)) => Ok(format!("{v:?}")),
                    Ok(other) => Err(format!("not a metric answer: {other:?}")),
                    Err(err) => Err(err.to_string()),
                }
            };
            let ordered = eval(0);
            prop_assert!(ordered.as_ref().is_ok_and(|v| !v.starts_with("not")) || ordered.is_err());
            prop_assert_eq!(eval(3), ordered.clone(), "{}", q);
            prop_assert_eq!(eval(1), ordered, "{}", q);
        });
    }
}
