//! Query evaluation over a [`LogSource`].
//!
//! Entry points: [`eval_query`] (parse + dispatch), [`eval_log_query`] and
//! [`eval_metric_query`].

mod metric;
mod scan;
mod source;
mod storage;

use std::collections::HashMap;
use std::time::Instant;

use vigil_model::{Labels, Matcher};
use vigil_promql::Value;

use crate::log::{Pipeline, required_substrings};
use crate::syntax::{Expr, LabelMatcher, LogExpr, ParseError, SampleExpr, parse};

pub(crate) use source::Merger;
pub use source::{LogEntry, LogSource, LogStream, MemorySource, SelectRequest};
pub use storage::{ScanStats, StorageLogSource, storage_error};

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The query does not parse (HTTP 400).
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// Bad query parameters or an invalid expression for the request (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// A metric series carries `__error__` (Loki's pipeline error, HTTP 400).
    #[error("{0}")]
    Pipeline(String),
    /// A query limit was hit (HTTP 400 in Loki).
    #[error("{0}")]
    Limit(String),
    /// The query ran past its deadline.
    #[error("query timed out")]
    Timeout,
    /// The source failed.
    #[error("{0}")]
    Source(String),
    /// Evaluation failed (e.g. many-to-many matching).
    #[error("{0}")]
    Execution(String),
}

/// Limits and deadline for one query.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// Maximum number of series a metric query may build (per range aggregation) or
    /// return.
    pub max_series: usize,
    /// Wall-clock deadline; checked while scanning.
    pub deadline: Option<Instant>,
    /// Threads a range aggregation that does not depend on entry order (`count_over_time`,
    /// `rate`, `bytes_over_time`, `bytes_rate`) may scan with; 0 turns such scans off, and
    /// every aggregation then reads the entries merged in time order.
    pub scan_threads: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            max_series: 500_000,
            deadline: None,
            scan_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl EvalOptions {
    pub(crate) fn check_deadline(&self) -> Result<(), EvalError> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(EvalError::Timeout),
            _ => Ok(()),
        }
    }
}

/// Order of entries in a log query result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    Backward,
}

/// Parameters of a log query.
#[derive(Debug, Clone, Copy)]
pub struct LogQueryParams {
    /// Inclusive start, nanoseconds.
    pub start_ns: i64,
    /// Exclusive end, nanoseconds.
    pub end_ns: i64,
    /// Maximum number of entries returned (over all streams).
    pub limit: usize,
    pub direction: Direction,
}

/// Parameters of a metric query: an instant query has `start_ns == end_ns` and
/// `step_ns == 0`.
#[derive(Debug, Clone, Copy)]
pub struct MetricQueryParams {
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
}

impl MetricQueryParams {
    /// An instant query at `t_ns`.
    pub fn instant(t_ns: i64) -> Self {
        Self {
            start_ns: t_ns,
            end_ns: t_ns,
            step_ns: 0,
        }
    }
    /// A range query evaluated at `start, start+step, ... <= end`.
    pub fn range(start_ns: i64, end_ns: i64, step_ns: i64) -> Self {
        Self {
            start_ns,
            end_ns,
            step_ns,
        }
    }
    fn is_instant(&self) -> bool {
        self.step_ns == 0
    }
    fn steps(&self) -> Result<Vec<i64>, EvalError> {
        if self.is_instant() {
            return Ok(vec![self.end_ns]);
        }
        if self.step_ns < 0 {
            return Err(EvalError::BadRequest(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        if self.end_ns < self.start_ns {
            return Err(EvalError::BadRequest(
                "end timestamp must not be before start time".into(),
            ));
        }
        let n = (self.end_ns - self.start_ns) / self.step_ns + 1;
        if n > 11_000 {
            return Err(EvalError::BadRequest(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        Ok((0..n).map(|i| self.start_ns + i * self.step_ns).collect())
    }
}

/// One entry of a log query result.
#[derive(Debug, Clone, PartialEq)]
pub struct OutEntry {
    pub ts_ns: i64,
    pub line: String,
    /// Structured metadata of the entry.
    pub metadata: Labels,
    /// Labels added by the pipeline (parsers, formatters, `__error__`).
    pub parsed: Labels,
}

/// One stream of a log query result.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    /// All labels (stream + metadata + parsed): the stream identity without
    /// `categorize-labels`.
    pub labels: Labels,
    /// The stream labels alone (with `categorize-labels`).
    pub stream: Labels,
    /// Entries in the requested direction.
    pub entries: Vec<OutEntry>,
}

/// The result of [`eval_query`].
#[derive(Debug, Clone, PartialEq)]
pub enum QueryOutput {
    /// A log query's streams.
    Streams(Vec<StreamResult>),
    /// A metric query's value (`Vector`/`Scalar` for instant, `Matrix` for range queries).
    Metric(Value),
}

pub(crate) fn compile_matchers(ms: &[LabelMatcher]) -> Result<Vec<Matcher>, EvalError> {
    ms.iter()
        .map(|m| {
            Matcher::new(m.op, m.name.clone(), m.value.clone())
                .map_err(|e| EvalError::BadRequest(e.to_string()))
        })
        .collect()
}

/// Parses and evaluates `query`. Log queries use `log` (its time range, limit, direction);
/// metric queries use `metric`.
pub fn eval_query(
    source: &dyn LogSource,
    query: &str,
    log: &LogQueryParams,
    metric: &MetricQueryParams,
    opts: &EvalOptions,
) -> Result<QueryOutput, EvalError> {
    match parse(query)? {
        Expr::Log(l) => eval_log_query(source, &l, log, opts).map(QueryOutput::Streams),
        Expr::Sample(s) => eval_metric_query(source, &s, metric, opts).map(QueryOutput::Metric),
    }
}

/// Evaluates a log query: at most `limit` entries in `[start, end)`, the oldest ones for
/// [`Direction::Forward`] and the newest ones for [`Direction::Backward`], grouped by
/// their final label set. The streams are read in the query's direction and reading stops
/// at the limit, so memory is bounded by `limit` (plus one entry per stream).
pub fn eval_log_query(
    source: &dyn LogSource,
    log: &LogExpr,
    params: &LogQueryParams,
    opts: &EvalOptions,
) -> Result<Vec<StreamResult>, EvalError> {
    let pipeline = Pipeline::new(log).map_err(EvalError::BadRequest)?;
    let matchers = compile_matchers(&log.matchers)?;
    let hints = required_substrings(log);
    let streams = source.select(&SelectRequest {
        matchers: &matchers,
        start_ns: params.start_ns,
        end_ns: params.end_ns,
        line_hints: &hints,
        direction: params.direction,
    })?;
    let mut merger = Merger::new(streams, params.direction)?;
    // In reading order: oldest first forward, newest first backward.
    let mut kept: Vec<(i64, crate::log::ProcessedLine)> = Vec::new();
    let mut scanned: u64 = 0;
    if params.limit > 0 {
        while let Some((si, e)) = merger.next_entry()? {
            scanned += 1;
            if scanned.is_multiple_of(1024) {
                opts.check_deadline()?;
            }
            if e.ts_ns < params.start_ns || e.ts_ns >= params.end_ns {
                continue;
            }
            let Some(p) = pipeline.process(e.ts_ns, &e.line, merger.labels(si), &e.metadata) else {
                continue;
            };
            kept.push((e.ts_ns, p));
            if kept.len() == params.limit {
                break;
            }
        }
    }
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<StreamResult> = Vec::new();
    for (ts, p) in kept {
        let i = *index.entry(p.labels.clone()).or_insert_with(|| {
            out.push(StreamResult {
                labels: p.labels.clone(),
                stream: p.stream.clone(),
                entries: Vec::new(),
            });
            out.len() - 1
        });
        out[i].entries.push(OutEntry {
            ts_ns: ts,
            line: p.line,
            metadata: p.metadata,
            parsed: p.parsed,
        });
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

/// Evaluates a metric query at one instant or over a step range.
pub fn eval_metric_query(
    source: &dyn LogSource,
    expr: &SampleExpr,
    params: &MetricQueryParams,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    metric::eval(source, expr, params, opts)
}
