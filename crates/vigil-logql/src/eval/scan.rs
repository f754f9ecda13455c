//! Range aggregations over an unordered scan: `count_over_time`, `rate`, `bytes_over_time`
//! and `bytes_rate` without `unwrap` add one integer per entry to every window holding it,
//! so entries may arrive in any order. The scan reads the source's parts on several threads;
//! each thread keeps, per series, difference arrays over the steps (an entry adds at the
//! first step whose window holds it and subtracts after the last), and the threads' arrays
//! are summed at the end. Integers keep the answer exact, whatever the order.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use vigil_model::Labels;
use vigil_storage::{LogBatch, LogScanPart, StorageError};

use super::{EvalError, EvalOptions};
use crate::log::{ERROR_LABEL, KeepLabel, Pipeline};
use crate::syntax::{Grouping, RangeOp};

/// True for the range aggregations [`scan_range`] computes.
pub(super) fn scan_friendly(op: RangeOp, has_unwrap: bool) -> bool {
    !has_unwrap
        && matches!(
            op,
            RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate
        )
}

/// True when the op sums line lengths rather than counting lines.
pub(super) fn sums_bytes(op: RangeOp) -> bool {
    matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate)
}

/// The windows of a range aggregation at evenly spaced steps: step `k` at
/// `t0 + k * step` covers `(t_k - offset - range, t_k - offset]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Windows {
    pub(super) t0: i64,
    pub(super) step: i64,
    pub(super) n: usize,
    pub(super) offset: i64,
    pub(super) range: i64,
    /// Entries at or before this time, or after `last`, belong to no window.
    pub(super) first: i64,
    pub(super) last: i64,
}

impl Windows {
    /// Steps `[k0, k1)` whose windows hold an entry at `ts`: those with
    /// `ts + offset <= t_k < ts + offset + range`.
    fn covering(&self, ts: i64) -> (usize, usize) {
        let at = |t: i64| -> usize {
            // The first k with t0 + k * step >= t.
            let d = t.saturating_sub(self.t0);
            if d <= 0 {
                return 0;
            }
            let k = (d - 1) / self.step + 1;
            usize::try_from(k).map_or(self.n, |k| k.min(self.n))
        };
        let start = ts.saturating_add(self.offset);
        (at(start), at(start.saturating_add(self.range)))
    }
}

/// One series' difference arrays over the steps.
struct SeriesDiff {
    labels: Labels,
    /// The first entry counted, as (time, index of its part in the source's order, row in
    /// the part): the order the ordered evaluation meets series in. Series are listed in
    /// that order, so that aggregations add them up in the same order, and an error names
    /// the series the ordered evaluation would.
    first: (i64, usize, usize),
    counts: Vec<i64>,
    bytes: Vec<i64>,
}

/// Series built by one thread (or, merged, by all).
struct Acc {
    n: usize,
    with_bytes: bool,
    max_series: usize,
    index: HashMap<Labels, usize>,
    series: Vec<SeriesDiff>,
}

impl Acc {
    fn new(n: usize, with_bytes: bool, max_series: usize) -> Self {
        Self {
            n,
            with_bytes,
            max_series,
            index: HashMap::new(),
            series: Vec::new(),
        }
    }

    fn id(&mut self, labels: Labels) -> Result<usize, EvalError> {
        if let Some(&id) = self.index.get(&labels) {
            return Ok(id);
        }
        if self.series.len() >= self.max_series {
            return Err(super::metric::series_limit(self.max_series));
        }
        self.series.push(SeriesDiff {
            labels: labels.clone(),
            first: (i64::MAX, usize::MAX, usize::MAX),
            counts: vec![0; self.n + 1],
            bytes: if self.with_bytes {
                vec![0; self.n + 1]
            } else {
                Vec::new()
            },
        });
        self.index.insert(labels, self.series.len() - 1);
        Ok(self.series.len() - 1)
    }

    fn add(&mut self, id: usize, at: (i64, usize, usize), (k0, k1): (usize, usize), bytes: i64) {
        let s = &mut self.series[id];
        s.first = s.first.min(at);
        if k0 >= k1 {
            return;
        }
        s.counts[k0] += 1;
        s.counts[k1] -= 1;
        if self.with_bytes {
            s.bytes[k0] += bytes;
            s.bytes[k1] -= bytes;
        }
    }

    fn merge(&mut self, other: Acc) -> Result<(), EvalError> {
        for s in other.series {
            let id = self.id(s.labels)?;
            let mine = &mut self.series[id];
            mine.first = mine.first.min(s.first);
            for (a, b) in mine.counts.iter_mut().zip(&s.counts) {
                *a += b;
            }
            for (a, b) in mine.bytes.iter_mut().zip(&s.bytes) {
                *a += b;
            }
        }
        Ok(())
    }
}

/// What the range aggregation computes and how its series are labelled.
pub(super) struct ScanPlan<'p> {
    pub(super) op: RangeOp,
    pub(super) pipeline: &'p Pipeline,
    pub(super) windows: Windows,
    /// `by`/`without` of the range aggregation itself.
    pub(super) grouping: Option<&'p Grouping>,
    /// The enclosing `sum`'s grouping, applied early (series with `__error__` excepted).
    pub(super) pushdown: Option<&'p Grouping>,
    pub(super) opts: EvalOptions,
}

/// Per-step samples `(labels, value)` of the range aggregation, each step in the order the
/// ordered evaluation meets the series,
/// plus the lines and bytes the scan looked at.
pub(super) type ScanResult = (Vec<Vec<(Labels, f64)>>, u64, u64);

/// Reads `parts` on up to `opts.scan_threads` threads and evaluates the plan.
pub(super) fn scan_range(
    plan: &ScanPlan<'_>,
    parts: Vec<Box<dyn LogScanPart>>,
) -> Result<ScanResult, EvalError> {
    let threads = plan.opts.scan_threads.clamp(1, parts.len().max(1));
    let queue = Mutex::new(parts.into_iter().enumerate());
    let failed = AtomicBool::new(false);
    let run = || -> Result<(Acc, u64, u64), EvalError> {
        let result = worker(plan, &queue, &failed);
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        result
    };
    let results: Vec<Result<(Acc, u64, u64), EvalError>> = if threads == 1 {
        vec![run()]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(run)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(EvalError::Execution("a scan thread panicked".into()))
                    })
                })
                .collect()
        })
    };
    let mut total = Acc::new(plan.windows.n, sums_bytes(plan.op), plan.opts.max_series);
    let (mut lines, mut bytes) = (0, 0);
    for result in results {
        let (acc, l, b) = result?;
        total.merge(acc)?;
        lines += l;
        bytes += b;
    }
    Ok((finish(plan, total)?, lines, bytes))
}

/// Prefix-sums the difference arrays into per-step samples.
fn finish(plan: &ScanPlan<'_>, acc: Acc) -> Result<Vec<Vec<(Labels, f64)>>, EvalError> {
    let range_s = plan.windows.range as f64 / 1e9;
    let mut out: Vec<Vec<(Labels, f64)>> = vec![Vec::new(); plan.windows.n];
    let mut series = acc.series;
    // A series with `__error__` fails the query at the first step it has a value, naming
    // the series seen first, as the evaluation in time order does.
    let mut error: Option<(usize, (i64, usize, usize), &Labels)> = None;
    for s in &series {
        if s.labels.get(ERROR_LABEL).is_none() {
            continue;
        }
        let mut count = 0i64;
        let first_step = s.counts[..plan.windows.n].iter().position(|d| {
            count += d;
            count > 0
        });
        if let Some(k) = first_step
            && error.is_none_or(|(ek, ef, _)| (k, s.first) < (ek, ef))
        {
            error = Some((k, s.first, &s.labels));
        }
    }
    if let Some((_, _, labels)) = error {
        return Err(super::metric::pipeline_error(labels));
    }
    series.sort_by(|a, b| a.first.cmp(&b.first).then_with(|| a.labels.cmp(&b.labels)));
    for s in series {
        let (mut count, mut bytes) = (0i64, 0i64);
        for (k, step) in out.iter_mut().enumerate() {
            count += s.counts[k];
            if let Some(b) = s.bytes.get(k) {
                bytes += b;
            }
            if count <= 0 {
                continue;
            }
            let v = match plan.op {
                RangeOp::CountOverTime => count as f64,
                RangeOp::Rate => count as f64 / range_s,
                RangeOp::BytesOverTime => bytes as f64,
                _ => bytes as f64 / range_s,
            };
            step.push((s.labels.clone(), v));
        }
    }
    Ok(out)
}

/// Takes parts off the queue until it is empty or another thread failed.
fn worker(
    plan: &ScanPlan<'_>,
    queue: &Mutex<std::iter::Enumerate<std::vec::IntoIter<Box<dyn LogScanPart>>>>,
    failed: &AtomicBool,
) -> Result<(Acc, u64, u64), EvalError> {
    let with_bytes = sums_bytes(plan.op);
    let mut acc = Acc::new(plan.windows.n, with_bytes, plan.opts.max_series);
    let (mut lines, mut bytes) = (0u64, 0u64);
    let lines_only = plan.pipeline.filters_lines_only();
    let empty = Labels::empty();
    // The series an entry counts in, as the ordered evaluation names it: the range
    // aggregation's own grouping, else the enclosing sum's (unless the entry has an error).
    let by = |g: &Grouping, name: &str| g.labels.iter().any(|l| l == name) != g.without;
    let keep_grouped = |name: &str, _error: bool| plan.grouping.is_some_and(|g| by(g, name));
    let keep_pushed = |name: &str, error: bool| error || plan.pushdown.is_some_and(|g| by(g, name));
    let keep: Option<KeepLabel<'_>> = match (plan.grouping, plan.pushdown) {
        (Some(_), _) => Some(&keep_grouped),
        (None, Some(_)) => Some(&keep_pushed),
        (None, None) => None,
    };
    let sample = |ts: i64, line: &str, stream: &Labels, metadata: &Labels| {
        plan.pipeline
            .process_sample_kept(ts, line, stream, metadata, keep)
    };
    loop {
        if failed.load(Ordering::Relaxed) {
            break;
        }
        let next = match queue.lock() {
            Ok(mut parts) => parts.next(),
            Err(_) => return Err(EvalError::Execution("a scan thread panicked".into())),
        };
        let Some((part_index, part)) = next else {
            break;
        };
        let stream = part.stream().clone();
        // With line filters only, a series is known by its structured metadata.
        let mut known: Vec<(Labels, usize)> = Vec::new();
        // Rows met so far in this part, in its order.
        let mut row_seq = 0usize;
        let mut stopped: Option<EvalError> = None;
        let mut visit = |batch: &LogBatch<'_>| -> Result<(), StorageError> {
            let mut step = || -> Result<(), EvalError> {
                plan.opts.check_deadline()?;
                for row in batch.rows() {
                    row_seq += 1;
                    let ts = batch.timestamp(row);
                    if ts <= plan.windows.first || ts > plan.windows.last {
                        continue;
                    }
                    let line = batch.line(row);
                    let metadata = batch.metadata(row).unwrap_or(&empty);
                    lines += 1;
                    bytes += (line.len() + metadata_bytes(metadata)) as u64;
                    let (id, len) = if lines_only {
                        if !plan.pipeline.line_passes(line) {
                            continue;
                        }
                        let id = match known.iter().find(|(m, _)| m == metadata) {
                            Some((_, id)) => *id,
                            None => {
                                let Some(p) = sample(ts, line, &stream, metadata) else {
                                    continue;
                                };
                                let id = acc.id(p.labels)?;
                                if known.len() < 64 {
                                    known.push((metadata.clone(), id));
                                }
                                id
                            }
                        };
                        (id, line.len())
                    } else {
                        let Some(p) = sample(ts, line, &stream, metadata) else {
                            continue;
                        };
                        (acc.id(p.labels)?, p.line_len)
                    };
                    let len = if with_bytes { len as i64 } else { 0 };
                    acc.add(
                        id,
                        (ts, part_index, row_seq),
                        plan.windows.covering(ts),
                        len,
                    );
                }
                Ok(())
            };
            step().map_err(|err| {
                stopped = Some(err);
                StorageError::Internal("scan stopped".into())
            })
        };
        let read = part.read(&mut visit);
        if let Some(err) = stopped {
            return Err(err);
        }
        read.map_err(super::storage_error)?;
    }
    Ok((acc, lines, bytes))
}

fn metadata_bytes(metadata: &Labels) -> usize {
    metadata.iter().map(|l| l.name.len() + l.value.len()).sum()
}
