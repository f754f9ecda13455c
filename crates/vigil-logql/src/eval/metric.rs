//! Metric query evaluation: streaming range aggregations, then vector aggregations,
//! binary operators, `label_replace` and `vector()` step by step.

use std::collections::{HashMap, VecDeque};

use regex::Regex;
use vigil_model::{Label, Labels, MatchOp};
use vigil_promql::{InstantSample, Point, RangeSeries, Value};

use vigil_storage::ScanColumns;

use super::scan::{ScanPlan, Windows, scan_friendly, scan_range, sums_bytes};
use super::{
    EvalError, EvalOptions, LogSource, Merger, MetricQueryParams, SelectRequest, compile_matchers,
};
use crate::log::{ERROR_DETAILS_LABEL, ERROR_LABEL, Pipeline, required_substrings};
use crate::syntax::{
    BinOp, CmpOp, GroupSide, Grouping, LogRange, RangeOp, SampleExpr, VectorMatching, VectorOp,
};

#[derive(Debug, Clone)]
struct Sample {
    labels: Labels,
    v: f64,
}

enum StepValue {
    Scalar(Vec<f64>),
    Vector(Vec<Vec<Sample>>),
}

struct Ctx<'s> {
    source: &'s dyn LogSource,
    steps: Vec<i64>,
    opts: EvalOptions,
}

pub(super) fn eval(
    source: &dyn LogSource,
    expr: &SampleExpr,
    params: &MetricQueryParams,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    let ctx = Ctx {
        source,
        steps: params.steps()?,
        opts: *opts,
    };
    let result = ctx.eval(expr)?;
    let ordered = matches!(
        expr,
        SampleExpr::Vector {
            op: VectorOp::Sort | VectorOp::SortDesc | VectorOp::Topk | VectorOp::Bottomk,
            ..
        }
    );
    let to_ms = |ns: i64| ns.div_euclid(1_000_000);
    match result {
        StepValue::Scalar(vs) => {
            if params.is_instant() {
                Ok(Value::Scalar {
                    t_ms: to_ms(ctx.steps[0]),
                    v: vs[0],
                })
            } else {
                Ok(Value::Matrix(vec![RangeSeries {
                    labels: Labels::empty(),
                    points: ctx
                        .steps
                        .iter()
                        .zip(vs)
                        .map(|(t, v)| Point { t_ms: to_ms(*t), v })
                        .collect(),
                }]))
            }
        }
        StepValue::Vector(mut steps) => {
            if params.is_instant() {
                let mut v = steps.pop().unwrap_or_default();
                check_unique(&v)?;
                if !ordered {
                    v.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                let t_ms = to_ms(ctx.steps[0]);
                Ok(Value::Vector(
                    v.into_iter()
                        .map(|s| InstantSample {
                            labels: s.labels,
                            t_ms,
                            v: s.v,
                        })
                        .collect(),
                ))
            } else {
                let mut series: Vec<RangeSeries> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::new();
                for (t, vec) in ctx.steps.iter().zip(steps) {
                    check_unique(&vec)?;
                    for s in vec {
                        let i = *index.entry(s.labels.clone()).or_insert_with(|| {
                            series.push(RangeSeries {
                                labels: s.labels.clone(),
                                points: Vec::new(),
                            });
                            series.len() - 1
                        });
                        series[i].points.push(Point {
                            t_ms: to_ms(*t),
                            v: s.v,
                        });
                    }
                    if series.len() > ctx.opts.max_series {
                        return Err(series_limit(ctx.opts.max_series));
                    }
                }
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                Ok(Value::Matrix(series))
            }
        }
    }
}

pub(super) fn series_limit(n: usize) -> EvalError {
    EvalError::Limit(format!(
        "maximum number of series ({n}) reached for a single query"
    ))
}

fn check_unique(v: &[Sample]) -> Result<(), EvalError> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    for s in v {
        if !seen.insert(&s.labels) {
            return Err(EvalError::Execution(format!(
                "vector cannot contain metrics with the same labelset {}",
                s.labels
            )));
        }
    }
    Ok(())
}

pub(super) fn pipeline_error(labels: &Labels) -> EvalError {
    let err = labels.get(ERROR_LABEL).unwrap_or("");
    let shown: Vec<Label> = labels
        .iter()
        .filter(|l| l.name != ERROR_DETAILS_LABEL)
        .cloned()
        .collect();
    let shown = Labels::from_unsorted_unique(shown).unwrap_or_default();
    EvalError::Pipeline(format!(
        "pipeline error: '{err}' for series: '{shown}'.\nUse a label filter to intentionally skip this error. \
         (e.g | __error__!=\"{err}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\n\
         The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    ))
}

pub(super) fn relabel(labels: &Labels, grouping: &Grouping) -> Labels {
    let kept: Vec<Label> = labels
        .iter()
        .filter(|l| grouping.labels.contains(&l.name) != grouping.without)
        .cloned()
        .collect();
    Labels::from_unsorted_unique(kept).unwrap_or_default()
}

struct SeriesBuf {
    labels: Labels,
    buf: VecDeque<(i64, f64)>,
}

impl Ctx<'_> {
    fn eval(&self, expr: &SampleExpr) -> Result<StepValue, EvalError> {
        let n = self.steps.len();
        match expr {
            SampleExpr::Literal(v) => Ok(StepValue::Scalar(vec![*v; n])),
            SampleExpr::VectorLit(v) => Ok(StepValue::Vector(
                (0..n)
                    .map(|_| {
                        vec![Sample {
                            labels: Labels::empty(),
                            v: *v,
                        }]
                    })
                    .collect(),
            )),
            SampleExpr::Range {
                op,
                param,
                range,
                grouping,
            } => self.eval_range(*op, *param, range, grouping.as_ref(), None),
            SampleExpr::Vector {
                op,
                param,
                grouping,
                expr,
            } => {
                let inner = match (op, grouping, expr.as_ref()) {
                    // `sum by/without (g) (count_over_time(...))`: counts add up, so series
                    // that the sum puts in one group can be counted as one from the start
                    // (and their parsers can skip the labels the sum drops).
                    (
                        VectorOp::Sum,
                        Some(g),
                        SampleExpr::Range {
                            op: range_op @ (RangeOp::CountOverTime | RangeOp::BytesOverTime),
                            param: range_param,
                            range,
                            grouping: None,
                        },
                    ) => self.eval_range(*range_op, *range_param, range, None, Some(g))?,
                    _ => self.eval(expr)?,
                };
                let inner = match inner {
                    StepValue::Vector(v) => v,
                    StepValue::Scalar(_) => {
                        return Err(EvalError::BadRequest(format!(
                            "{} expects a vector, got a scalar",
                            op.as_str()
                        )));
                    }
                };
                Ok(StepValue::Vector(
                    inner
                        .into_iter()
                        .map(|v| aggregate(*op, *param, grouping.as_ref(), v))
                        .collect(),
                ))
            }
            SampleExpr::LabelReplace {
                expr,
                dst,
                replacement,
                src,
                regex,
            } => {
                let re = Regex::new(&format!("^(?s:{regex})$")).map_err(|e| {
                    EvalError::BadRequest(format!("invalid regex in label_replace: {e}"))
                })?;
                let inner = match self.eval(expr)? {
                    StepValue::Vector(v) => v,
                    StepValue::Scalar(_) => {
                        return Err(EvalError::BadRequest(
                            "label_replace expects a vector".into(),
                        ));
                    }
                };
                Ok(StepValue::Vector(
                    inner
                        .into_iter()
                        .map(|v| {
                            v.into_iter()
                                .map(|s| Sample {
                                    labels: label_replace(&s.labels, &re, dst, replacement, src),
                                    v: s.v,
                                })
                                .collect()
                        })
                        .collect(),
                ))
            }
            SampleExpr::Binary {
                op,
                return_bool,
                matching,
                lhs,
                rhs,
            } => {
                let l = self.eval(lhs)?;
                let r = self.eval(rhs)?;
                binary(*op, *return_bool, matching.as_ref(), l, r)
            }
        }
    }

    /// Streams the selected entries in time order through the pipeline, keeping per series
    /// only the samples of the current window.
    fn eval_range(
        &self,
        op: RangeOp,
        param: Option<f64>,
        range: &LogRange,
        grouping: Option<&Grouping>,
        pushdown: Option<&Grouping>,
    ) -> Result<StepValue, EvalError> {
        let mut pipeline = Pipeline::with_unwrap(&range.log, range.unwrap.as_ref())
            .map_err(EvalError::BadRequest)?;
        if let Some(g) = pushdown
            && !g.without
        {
            pipeline.restrict_parsed_labels(&g.labels);
        }
        let matchers = compile_matchers(&range.log.matchers)?;
        let hints = required_substrings(&range.log);
        let first = self.steps[0] - range.offset_ns - range.range_ns;
        let last = self.steps[self.steps.len() - 1] - range.offset_ns;
        let request = SelectRequest {
            matchers: &matchers,
            start_ns: first.saturating_add(1),
            end_ns: last.saturating_add(1),
            line_hints: &hints,
            direction: super::Direction::Forward,
        };
        if self.opts.scan_threads > 0 && scan_friendly(op, range.unwrap.is_some()) {
            let columns = ScanColumns {
                lines: sums_bytes(op) || !pipeline.is_noop(),
            };
            if let Some(parts) = self.source.scan_parts(&request, columns)? {
                let plan = ScanPlan {
                    op,
                    pipeline: &pipeline,
                    windows: Windows {
                        t0: self.steps[0],
                        step: match self.steps.as_slice() {
                            [a, b, ..] => (b - a).max(1),
                            _ => 1,
                        },
                        n: self.steps.len(),
                        offset: range.offset_ns,
                        range: range.range_ns,
                        first,
                        last,
                    },
                    grouping,
                    pushdown,
                    opts: self.opts,
                };
                let (steps, lines, bytes) = scan_range(&plan, parts)?;
                self.source.note_scanned(lines, bytes);
                return Ok(StepValue::Vector(
                    steps
                        .into_iter()
                        .map(|step| {
                            step.into_iter()
                                .map(|(labels, v)| Sample { labels, v })
                                .collect()
                        })
                        .collect(),
                ));
            }
        }
        let streams = self.source.select(&request)?;
        let lines_only = pipeline.filters_lines_only();
        let mut known: Vec<HashMap<Labels, usize>> = vec![HashMap::new(); streams.len()];
        let mut merger = Merger::new(streams, super::Direction::Forward)?;
        let mut series: Vec<SeriesBuf> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut pending: Option<(i64, usize, f64)> = None;
        let mut exhausted = false;
        let mut scanned: u64 = 0;
        let range_s = range.range_ns as f64 / 1e9;
        let mut out = Vec::with_capacity(self.steps.len());
        let mut active: Vec<usize> = Vec::new();
        for &t in &self.steps {
            let wend = t - range.offset_ns;
            let wstart = wend - range.range_ns;
            loop {
                if pending.is_none() && !exhausted {
                    // Pull the next sample.
                    loop {
                        let Some((si, e)) = merger.next_entry()? else {
                            exhausted = true;
                            break;
                        };
                        scanned += 1;
                        if scanned.is_multiple_of(1024) {
                            self.opts.check_deadline()?;
                        }
                        if e.ts_ns <= first || e.ts_ns > last {
                            continue;
                        }
                        // A pipeline of line filters keeps lines unchanged and their labels
                        // are those of the stream and metadata: the series is known once
                        // seen for that pair.
                        if lines_only {
                            if !pipeline.line_passes(&e.line) {
                                continue;
                            }
                            if let Some(&id) = known.get(si).and_then(|k| k.get(&e.metadata)) {
                                let v = match op {
                                    RangeOp::BytesOverTime | RangeOp::BytesRate => {
                                        e.line.len() as f64
                                    }
                                    _ => 1.0,
                                };
                                pending = Some((e.ts_ns, id, v));
                                break;
                            }
                        }
                        let Some(p) = pipeline.process_sample(
                            e.ts_ns,
                            &e.line,
                            merger.labels(si),
                            &e.metadata,
                        ) else {
                            continue;
                        };
                        let v = match op {
                            RangeOp::BytesOverTime | RangeOp::BytesRate => p.line_len as f64,
                            _ => p.value.unwrap_or(1.0),
                        };
                        let labels = match (grouping, pushdown) {
                            (Some(g), _) => relabel(&p.labels, g),
                            // A series with `__error__` keeps its labels, so the error is
                            // reported exactly as without the pushdown.
                            (None, Some(g)) if p.labels.get(ERROR_LABEL).is_none() => {
                                relabel(&p.labels, g)
                            }
                            _ => p.labels,
                        };
                        let id = match index.get(&labels) {
                            Some(id) => *id,
                            None => {
                                if series.len() >= self.opts.max_series {
                                    return Err(series_limit(self.opts.max_series));
                                }
                                series.push(SeriesBuf {
                                    labels: labels.clone(),
                                    buf: VecDeque::new(),
                                });
                                index.insert(labels, series.len() - 1);
                                series.len() - 1
                            }
                        };
                        if lines_only && let Some(k) = known.get_mut(si) {
                            k.insert(e.metadata.clone(), id);
                        }
                        pending = Some((e.ts_ns, id, v));
                        break;
                    }
                }
                match pending {
                    Some((ts, id, v)) if ts <= wend => {
                        if ts > wstart {
                            if series[id].buf.is_empty() {
                                active.push(id);
                            }
                            series[id].buf.push_back((ts, v));
                        }
                        pending = None;
                    }
                    _ => break,
                }
            }
            let mut step_out = Vec::new();
            active.retain(|&id| {
                let buf = &mut series[id].buf;
                while buf.front().is_some_and(|(ts, _)| *ts <= wstart) {
                    buf.pop_front();
                }
                !buf.is_empty()
            });
            active.sort_unstable();
            if op == RangeOp::AbsentOverTime {
                if active.is_empty() {
                    step_out.push(Sample {
                        labels: absent_labels(range),
                        v: 1.0,
                    });
                }
                out.push(step_out);
                continue;
            }
            for &id in &active {
                let s = &series[id];
                if s.labels.get(ERROR_LABEL).is_some() {
                    return Err(pipeline_error(&s.labels));
                }
                if let Some(v) = range_fn(op, param, &s.buf, range_s, wstart, wend) {
                    step_out.push(Sample {
                        labels: s.labels.clone(),
                        v,
                    });
                }
            }
            out.push(step_out);
        }
        Ok(StepValue::Vector(out))
    }
}

fn absent_labels(range: &LogRange) -> Labels {
    let mut seen = std::collections::HashSet::new();
    let mut dup = std::collections::HashSet::new();
    for m in &range.log.matchers {
        if !seen.insert(m.name.clone()) {
            dup.insert(m.name.clone());
        }
    }
    let ls: Vec<Label> = range
        .log
        .matchers
        .iter()
        .filter(|m| m.op == MatchOp::Equal && !dup.contains(&m.name))
        .map(|m| Label::new(m.name.clone(), m.value.clone()))
        .collect();
    Labels::from_unsorted_unique(ls).unwrap_or_default()
}

fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0) as usize;
    let hi = (lo + 1).min(values.len() - 1);
    let w = rank - rank.floor();
    values[lo] * (1.0 - w) + values[hi] * w
}

fn variance(values: impl Iterator<Item = f64>) -> f64 {
    // Welford's online algorithm, population variance.
    let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
    for v in values {
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    if n == 0.0 { f64::NAN } else { m2 / n }
}

fn range_fn(
    op: RangeOp,
    param: Option<f64>,
    buf: &VecDeque<(i64, f64)>,
    range_s: f64,
    wstart: i64,
    wend: i64,
) -> Option<f64> {
    let vals = || buf.iter().map(|(_, v)| *v);
    let n = buf.len() as f64;
    Some(match op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate | RangeOp::BytesRate => vals().sum::<f64>() / range_s,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => vals().sum(),
        RangeOp::AvgOverTime => vals().sum::<f64>() / n,
        RangeOp::MinOverTime => vals().fold(f64::INFINITY, |a, b| {
            if b < a || b.is_nan() && a.is_infinite() {
                b
            } else {
                a
            }
        }),
        RangeOp::MaxOverTime => vals().fold(f64::NEG_INFINITY, |a, b| {
            if b > a || b.is_nan() && a.is_infinite() {
                b
            } else {
                a
            }
        }),
        RangeOp::StdvarOverTime => variance(vals()),
        RangeOp::StddevOverTime => variance(vals()).sqrt(),
        RangeOp::QuantileOverTime => {
            let mut v: Vec<f64> = vals().collect();
            quantile(param.unwrap_or(f64::NAN), &mut v)
        }
        RangeOp::FirstOverTime => buf.front()?.1,
        RangeOp::LastOverTime => buf.back()?.1,
        RangeOp::RateCounter => extrapolated_rate(buf, wstart, wend, range_s)?,
        RangeOp::AbsentOverTime => 1.0,
    })
}

/// Prometheus' extrapolated counter rate over the window `(wstart, wend]`.
fn extrapolated_rate(
    buf: &VecDeque<(i64, f64)>,
    wstart: i64,
    wend: i64,
    range_s: f64,
) -> Option<f64> {
    if buf.len() < 2 {
        return None;
    }
    let (first_t, first_v) = *buf.front()?;
    let (last_t, last_v) = *buf.back()?;
    let mut result = last_v - first_v;
    let mut prev = first_v;
    for (_, v) in buf.iter().skip(1) {
        if *v < prev {
            result += prev;
        }
        prev = *v;
    }
    let sampled = (last_t - first_t) as f64 / 1e9;
    if sampled <= 0.0 {
        return None;
    }
    let mut to_start = (first_t - wstart) as f64 / 1e9;
    let to_end = (wend - last_t) as f64 / 1e9;
    let avg = sampled / (buf.len() as f64 - 1.0);
    if result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    Some(result * (interval / sampled) / range_s)
}

fn aggregate(
    op: VectorOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    v: Vec<Sample>,
) -> Vec<Sample> {
    let key_of = |l: &Labels| match grouping {
        Some(g) => relabel(l, g),
        None => Labels::empty(),
    };
    match op {
        VectorOp::Sort | VectorOp::SortDesc => {
            let mut v = v;
            v.sort_by(|a, b| {
                let o = a.v.total_cmp(&b.v);
                if op == VectorOp::Sort { o } else { o.reverse() }
            });
            v
        }
        VectorOp::Topk | VectorOp::Bottomk => {
            let k = param.unwrap_or(1.0).max(0.0) as usize;
            let mut groups: Vec<(Labels, Vec<Sample>)> = Vec::new();
            let mut idx: HashMap<Labels, usize> = HashMap::new();
            for s in v {
                let key = key_of(&s.labels);
                let i = *idx.entry(key.clone()).or_insert_with(|| {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(s);
            }
            let mut out = Vec::new();
            for (_, mut g) in groups {
                g.sort_by(|a, b| {
                    // NaN sorts last for both directions.
                    let o = match (a.v.is_nan(), b.v.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if op == VectorOp::Topk => b.v.total_cmp(&a.v),
                        _ => a.v.total_cmp(&b.v),
                    };
                    o.then_with(|| a.labels.cmp(&b.labels))
                });
                g.truncate(k);
                out.extend(g);
            }
            out
        }
        _ => {
            struct Acc {
                labels: Labels,
                values: Vec<f64>,
            }
            let mut groups: Vec<Acc> = Vec::new();
            let mut idx: HashMap<Labels, usize> = HashMap::new();
            for s in v {
                let key = key_of(&s.labels);
                let i = *idx.entry(key.clone()).or_insert_with(|| {
                    groups.push(Acc {
                        labels: key,
                        values: Vec::new(),
                    });
                    groups.len() - 1
                });
                groups[i].values.push(s.v);
            }
            groups
                .into_iter()
                .map(|g| {
                    let vals = g.values.iter().copied();
                    let n = g.values.len() as f64;
                    let v = match op {
                        VectorOp::Sum => vals.sum(),
                        VectorOp::Avg => vals.sum::<f64>() / n,
                        VectorOp::Count => n,
                        VectorOp::Min => {
                            vals.fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a })
                        }
                        VectorOp::Max => {
                            vals.fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a })
                        }
                        VectorOp::Stdvar => variance(vals),
                        _ => variance(vals).sqrt(),
                    };
                    Sample {
                        labels: g.labels,
                        v,
                    }
                })
                .collect()
        }
    }
}

fn label_replace(labels: &Labels, re: &Regex, dst: &str, repl: &str, src: &str) -> Labels {
    let value = labels.get(src).unwrap_or("");
    let Some(caps) = re.captures(value) else {
        return labels.clone();
    };
    let mut out = String::new();
    caps.expand(repl, &mut out);
    let mut ls: Vec<Label> = labels.iter().filter(|l| l.name != dst).cloned().collect();
    if !out.is_empty() {
        ls.push(Label::new(dst, out));
    }
    Labels::from_unsorted_unique(ls).unwrap_or_default()
}

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        _ => f64::NAN,
    }
}

/// Applies `op` to one pair; `None` drops the element (failed comparison without `bool`).
fn elem(op: BinOp, return_bool: bool, a: f64, b: f64, keep: f64) -> Option<f64> {
    match op {
        BinOp::Cmp(c) => {
            let hit = cmp(c, a, b);
            if return_bool {
                Some(if hit { 1.0 } else { 0.0 })
            } else if hit {
                Some(keep)
            } else {
                None
            }
        }
        _ => Some(arith(op, a, b)),
    }
}

fn cmp(c: CmpOp, a: f64, b: f64) -> bool {
    c.apply(a, b)
}

fn signature(labels: &Labels, m: Option<&VectorMatching>) -> Labels {
    match m {
        None => labels.clone(),
        Some(m) => {
            let kept: Vec<Label> = labels
                .iter()
                .filter(|l| m.labels.contains(&l.name) == m.on)
                .cloned()
                .collect();
            Labels::from_unsorted_unique(kept).unwrap_or_default()
        }
    }
}

fn binary(
    op: BinOp,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    l: StepValue,
    r: StepValue,
) -> Result<StepValue, EvalError> {
    Ok(match (l, r) {
        (StepValue::Scalar(a), StepValue::Scalar(b)) => StepValue::Scalar(
            a.into_iter()
                .zip(b)
                .map(|(x, y)| elem(op, true, x, y, x).unwrap_or(0.0))
                .collect(),
        ),
        (StepValue::Vector(vs), StepValue::Scalar(ss)) => StepValue::Vector(
            vs.into_iter()
                .zip(ss)
                .map(|(v, s)| {
                    v.into_iter()
                        .filter_map(|e| {
                            elem(op, return_bool, e.v, s, e.v).map(|v| Sample {
                                labels: e.labels,
                                v,
                            })
                        })
                        .collect()
                })
                .collect(),
        ),
        (StepValue::Scalar(ss), StepValue::Vector(vs)) => StepValue::Vector(
            vs.into_iter()
                .zip(ss)
                .map(|(v, s)| {
                    v.into_iter()
                        .filter_map(|e| {
                            elem(op, return_bool, s, e.v, e.v).map(|v| Sample {
                                labels: e.labels,
                                v,
                            })
                        })
                        .collect()
                })
                .collect(),
        ),
        (StepValue::Vector(ls), StepValue::Vector(rs)) => {
            let mut out = Vec::with_capacity(ls.len());
            for (l, r) in ls.into_iter().zip(rs) {
                out.push(vector_binary(op, return_bool, matching, l, r)?);
            }
            StepValue::Vector(out)
        }
    })
}

fn vector_binary(
    op: BinOp,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    l: Vec<Sample>,
    r: Vec<Sample>,
) -> Result<Vec<Sample>, EvalError> {
    let sig = |s: &Sample| signature(&s.labels, matching);
    match op {
        BinOp::And => {
            let rs: std::collections::HashSet<Labels> = r.iter().map(sig).collect();
            return Ok(l.into_iter().filter(|s| rs.contains(&sig(s))).collect());
        }
        BinOp::Unless => {
            let rs: std::collections::HashSet<Labels> = r.iter().map(sig).collect();
            return Ok(l.into_iter().filter(|s| !rs.contains(&sig(s))).collect());
        }
        BinOp::Or => {
            let ls: std::collections::HashSet<Labels> = l.iter().map(sig).collect();
            let mut out = l;
            out.extend(r.into_iter().filter(|s| !ls.contains(&sig(s))));
            return Ok(out);
        }
        _ => {}
    }
    let group = matching.and_then(|m| m.group.as_ref());
    // The "one" side is indexed by signature; the "many" side is iterated.
    let (many, one, swapped, include) = match group {
        Some(GroupSide::Right(inc)) => (r, l, true, inc.clone()),
        Some(GroupSide::Left(inc)) => (l, r, false, inc.clone()),
        None => (l, r, false, Vec::new()),
    };
    let mut one_idx: HashMap<Labels, usize> = HashMap::new();
    for (i, s) in one.iter().enumerate() {
        if one_idx.insert(sig(s), i).is_some() {
            let side = if swapped { "left" } else { "right" };
            return Err(EvalError::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}];many-to-many matching not allowed: matching labels must be unique on one side",
                sig(s),
                s.labels
            )));
        }
    }
    let mut out = Vec::new();
    let mut seen_many: HashMap<Labels, ()> = HashMap::new();
    for m in many {
        let key = sig(&m);
        let Some(&oi) = one_idx.get(&key) else {
            continue;
        };
        if group.is_none() && seen_many.insert(key.clone(), ()).is_some() {
            return Err(EvalError::Execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
            ));
        }
        let o = &one[oi];
        let (a, b) = if swapped { (o.v, m.v) } else { (m.v, o.v) };
        let Some(v) = elem(op, return_bool, a, b, if swapped { b } else { a }) else {
            continue;
        };
        let labels = match (group, matching) {
            (None, Some(mm)) => signature(&m.labels, Some(mm)),
            (None, None) => m.labels.clone(),
            (Some(_), _) => {
                let mut ls: Vec<Label> = m
                    .labels
                    .iter()
                    .filter(|l| !include.contains(&l.name))
                    .cloned()
                    .collect();
                for name in &include {
                    if let Some(v) = o.labels.get(name) {
                        ls.push(Label::new(name.clone(), v));
                    }
                }
                Labels::from_unsorted_unique(ls).unwrap_or_default()
            }
        };
        out.push(Sample { labels, v });
    }
    Ok(out)
}
