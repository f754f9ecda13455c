//! The evaluator: every expression is evaluated over a grid of steps
//! (`start..=end` by `step`) into series whose points sit on the grid, the
//! way Prometheus' engine does it. Instant queries are a one-step grid.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};
use vigil_model::{Labels, MatchOp, Matcher, TenantId, TimeRange, is_stale_nan};
use vigil_storage::{Queryable, SelectHints};

use crate::error::{ErrorKind, QueryError};
use crate::parser::RANGE_MODIFIER_LABEL;
use crate::value::Point;

/// The evaluation grid of one (sub)expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Always > 0 (instant queries use 1).
    pub(crate) step: i64,
}

impl Grid {
    pub(crate) fn len(&self) -> usize {
        if self.end < self.start {
            return 0;
        }
        ((self.end - self.start) / self.step) as usize + 1
    }

    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        (0..self.len()).map(move |i| (i, self.ts(i)))
    }
}

/// One series of an intermediate result.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    pub(crate) points: Vec<Point>,
    /// Delayed `__name__` removal: the name is dropped when the query ends.
    pub(crate) drop_name: bool,
}

/// Raw (or subquery) points of range-vector arguments, before windowing.
#[derive(Debug, Clone)]
pub(crate) struct RangeData {
    pub(crate) series: Vec<Series>,
    pub(crate) range_ms: i64,
    pub(crate) offset_ms: i64,
    /// `@` time, if any: every step then looks at the same window.
    pub(crate) at_ms: Option<i64>,
    pub(crate) modifier: RangeModifier,
    /// Matchers of the selector (for `absent_over_time`), empty for subqueries.
    pub(crate) selector: Option<VectorSelector>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeModifier {
    None,
    Anchored,
    Smoothed,
}

impl RangeData {
    /// The window end (inclusive) for the step at `ts`.
    pub(crate) fn window_end(&self, ts: i64) -> i64 {
        self.at_ms.unwrap_or(ts) - self.offset_ms
    }
}

/// An intermediate value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// An instant vector over the grid.
    Vector(Vec<Series>),
    /// One value per grid step.
    Scalar(Vec<f64>),
    String(String),
    /// A range vector (only as a function argument or a top-level instant result).
    Range(RangeData),
}

/// A warning or info annotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Annotation {
    Warning(String),
    Info(String),
}

pub(crate) struct Evaluator<'a> {
    pub(crate) storage: &'a dyn Queryable,
    pub(crate) tenant: &'a TenantId,
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    /// Step of the top-level query (0 for instant queries), for `step()`.
    pub(crate) query_step: i64,
    /// The query text annotation positions refer to (may be empty).
    pub(crate) query: String,
    pub(crate) lookback_ms: i64,
    pub(crate) default_subquery_step_ms: i64,
    pub(crate) max_samples: usize,
    pub(crate) deadline: Instant,
    pub(crate) cancel: Option<Arc<AtomicBool>>,
    pub(crate) annotations: Vec<Annotation>,
    pub(crate) total_samples: u64,
    /// The top-level query grid and the samples read per step of it
    /// (Prometheus' `totalQueryableSamplesPerStep`).
    pub(crate) top_grid: Option<Grid>,
    pub(crate) step_samples: Vec<u64>,
    pub(crate) peak_samples: u64,
    checks: u32,
}

pub(crate) type EvalResult<T> = Result<T, QueryError>;

pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

pub(crate) fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub(crate) fn too_many_samples() -> QueryError {
    QueryError::execution(
        "query processing would load too many samples into memory in query execution",
    )
}

impl<'a> Evaluator<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        storage: &'a dyn Queryable,
        tenant: &'a TenantId,
        query_start: i64,
        query_end: i64,
        lookback_ms: i64,
        default_subquery_step_ms: i64,
        max_samples: usize,
        deadline: Instant,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Self {
        Evaluator {
            storage,
            tenant,
            query_start,
            query_end,
            query_step: 0,
            query: String::new(),
            lookback_ms,
            default_subquery_step_ms,
            max_samples,
            deadline,
            cancel,
            annotations: Vec::new(),
            total_samples: 0,
            top_grid: None,
            step_samples: Vec::new(),
            peak_samples: 0,
            checks: 0,
        }
    }

    /// Checks for cancellation and timeout; cheap enough for inner loops.
    pub(crate) fn check(&mut self) -> EvalResult<()> {
        self.checks = self.checks.wrapping_add(1);
        if !self.checks.is_multiple_of(256) {
            return Ok(());
        }
        self.check_now()
    }

    pub(crate) fn check_now(&mut self) -> EvalResult<()> {
        if let Some(cancel) = &self.cancel
            && cancel.load(Ordering::Relaxed)
        {
            return Err(QueryError::new(
                ErrorKind::Canceled,
                "query was canceled in expression evaluation",
            ));
        }
        if Instant::now() >= self.deadline {
            return Err(QueryError::new(
                ErrorKind::Timeout,
                "query timed out in expression evaluation",
            ));
        }
        Ok(())
    }

    /// ` (line:col)` of where `e` starts in the query text, as Prometheus
    /// appends to annotations; empty when it cannot be located.
    pub(crate) fn pos(&self, e: &Expr) -> String {
        let needle = e.to_string();
        let Some(at) = self.query.find(&needle) else {
            return String::new();
        };
        let before = &self.query[..at];
        let line = before.matches('\n').count() + 1;
        let col = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!(" ({line}:{col})")
    }

    pub(crate) fn warn(&mut self, msg: impl Into<String>) {
        let a = Annotation::Warning(msg.into());
        if !self.annotations.contains(&a) {
            self.annotations.push(a);
        }
    }

    pub(crate) fn info(&mut self, msg: impl Into<String>) {
        let a = Annotation::Info(msg.into());
        if !self.annotations.contains(&a) {
            self.annotations.push(a);
        }
    }

    /// Accounts for samples read by a selector evaluated over grid `g`:
    /// `held[i]` at step `i`. Steps of subquery grids are attributed to the
    /// last step of the query, as Prometheus does.
    pub(crate) fn account_samples(&mut self, g: Grid, held: &[usize]) -> EvalResult<()> {
        let total: usize = held.iter().sum();
        self.total_samples += total as u64;
        if let Some(top) = self.top_grid {
            if self.step_samples.len() != top.len() {
                self.step_samples = vec![0; top.len()];
            }
            if g == top {
                for (acc, n) in self.step_samples.iter_mut().zip(held) {
                    *acc += *n as u64;
                }
            } else if let Some(last) = self.step_samples.last_mut() {
                *last += total as u64;
            }
        }
        for &n in held {
            self.hold_samples(n)?;
        }
        Ok(())
    }

    /// Accounts for `n` samples held at one step.
    pub(crate) fn hold_samples(&mut self, n: usize) -> EvalResult<()> {
        if n > self.max_samples {
            return Err(too_many_samples());
        }
        self.peak_samples = self.peak_samples.max(n as u64);
        Ok(())
    }

    pub(crate) fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    pub(crate) fn eval(&mut self, expr: &Expr, g: Grid) -> EvalResult<Val> {
        self.check_now()?;
        match expr {
            Expr::Paren(p) => self.eval(&p.expr, g),
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; g.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::VectorSelector(vs) => self.eval_vector_selector(vs, g).map(Val::Vector),
            Expr::MatrixSelector(ms) => {
                let data = self.load_range(&ms.vs, ms.range.as_millis() as i64, g)?;
                Ok(Val::Range(data))
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, g).map(Val::Range),
            Expr::Unary(u) => match self.eval(&u.expr, g)? {
                Val::Scalar(mut v) => {
                    v.iter_mut().for_each(|x| *x = -*x);
                    Ok(Val::Scalar(v))
                }
                Val::Vector(mut series) => {
                    for s in &mut series {
                        s.drop_name = true;
                        s.points.iter_mut().for_each(|p| p.v = -p.v);
                    }
                    Ok(Val::Vector(series))
                }
                _ => Err(QueryError::bad_data(
                    "unary expression only allowed on expressions of type scalar or instant vector",
                )),
            },
            Expr::Binary(b) => self.eval_binary(b, g),
            Expr::Aggregate(a) => self.eval_aggregate(a, g),
            Expr::Call(c) => self.eval_call(c, g),
            Expr::Extension(_) => Err(QueryError::bad_data("unsupported expression extension")),
        }
    }

    /// Evaluates `expr` expecting an instant vector.
    pub(crate) fn eval_vector(&mut self, expr: &Expr, g: Grid) -> EvalResult<Vec<Series>> {
        match self.eval(expr, g)? {
            Val::Vector(v) => Ok(v),
            other => Err(QueryError::bad_data(format!(
                "expected instant vector, got {}",
                val_type_name(&other)
            ))),
        }
    }

    /// Evaluates `expr` expecting a scalar (one value per step).
    pub(crate) fn eval_scalar(&mut self, expr: &Expr, g: Grid) -> EvalResult<Vec<f64>> {
        match self.eval(expr, g)? {
            Val::Scalar(v) => Ok(v),
            other => Err(QueryError::bad_data(format!(
                "expected scalar, got {}",
                val_type_name(&other)
            ))),
        }
    }

    /// Selects the series of `vs` with samples in `[mint, maxt]`.
    pub(crate) fn select(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> EvalResult<Vec<(Labels, Vec<vigil_model::Sample>)>> {
        let groups = selector_matchers(vs)?;
        self.select_groups(&groups, mint, maxt)
    }

    /// Selects the series matching all of `matchers` in `[mint, maxt]`.
    pub(crate) fn select_matchers(
        &mut self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> EvalResult<Vec<(Labels, Vec<vigil_model::Sample>)>> {
        self.select_groups(&[matchers.to_vec()], mint, maxt)
    }

    fn select_groups(
        &mut self,
        groups: &[Vec<Matcher>],
        mint: i64,
        maxt: i64,
    ) -> EvalResult<Vec<(Labels, Vec<vigil_model::Sample>)>> {
        let querier = self
            .storage
            .querier(self.tenant, TimeRange::new(mint, maxt))?;
        let mut out: Vec<(Labels, Vec<vigil_model::Sample>)> = Vec::new();
        let mut seen: HashMap<Labels, ()> = HashMap::new();
        for group in groups {
            let set = querier.select(group, &SelectHints::default())?;
            for series in set {
                self.check()?;
                let series = series?;
                if groups.len() > 1 && seen.insert(series.labels.clone(), ()).is_some() {
                    continue;
                }
                let samples: Vec<_> = series
                    .samples
                    .into_iter()
                    .filter(|s| s.timestamp_ms >= mint && s.timestamp_ms <= maxt)
                    .collect();
                out.push((series.labels, samples));
            }
        }
        Ok(out)
    }

    fn eval_vector_selector(&mut self, vs: &VectorSelector, g: Grid) -> EvalResult<Vec<Series>> {
        self.eval_vector_selector_inner(vs, g, false)
    }

    /// Instant-vector selection; with `orig_ts` the value of each point is the
    /// timestamp (seconds) of the sample it came from (for `timestamp()`).
    pub(crate) fn eval_vector_selector_inner(
        &mut self,
        vs: &VectorSelector,
        g: Grid,
        orig_ts: bool,
    ) -> EvalResult<Vec<Series>> {
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let (first_ref, last_ref) = match at {
            Some(a) => (a - off, a - off),
            None => (g.start - off, g.end - off),
        };
        if range_modifier(vs) == RangeModifier::Smoothed && !orig_ts {
            return self.eval_smoothed_selector(vs, g, at, off, first_ref, last_ref);
        }
        let raw = self.select(vs, first_ref - self.lookback_ms + 1, last_ref)?;
        let mut out = Vec::with_capacity(raw.len());
        let mut held = vec![0usize; g.len()];
        for (labels, samples) in raw {
            self.check()?;
            let mut points = Vec::new();
            let mut idx = 0usize; // first sample with t > ref
            for (i, ts) in g.iter() {
                let rf = at.unwrap_or(ts) - off;
                if at.is_some() {
                    idx = samples.partition_point(|s| s.timestamp_ms <= rf);
                } else {
                    while idx < samples.len() && samples[idx].timestamp_ms <= rf {
                        idx += 1;
                    }
                }
                if idx == 0 {
                    continue;
                }
                let s = samples[idx - 1];
                if s.timestamp_ms <= rf - self.lookback_ms || is_stale_nan(s.value) {
                    continue;
                }
                let v = if orig_ts {
                    s.timestamp_ms as f64 / 1000.0
                } else {
                    s.value
                };
                points.push(Point { t_ms: ts, v });
                held[i] += 1;
            }
            if !points.is_empty() {
                out.push(Series {
                    labels,
                    points,
                    drop_name: false,
                });
            }
        }
        self.account_samples(g, &held)?;
        Ok(out)
    }

    /// `metric smoothed`: the value at each step is interpolated between the
    /// samples around it (within the lookback delta on both sides).
    fn eval_smoothed_selector(
        &mut self,
        vs: &VectorSelector,
        g: Grid,
        at: Option<i64>,
        off: i64,
        first_ref: i64,
        last_ref: i64,
    ) -> EvalResult<Vec<Series>> {
        let lb = self.lookback_ms;
        let raw = self.select(vs, first_ref - lb + 1, last_ref + lb)?;
        let mut out = Vec::with_capacity(raw.len());
        for (labels, samples) in raw {
            self.check()?;
            let pts: Vec<Point> = samples
                .iter()
                .filter(|s| !is_stale_nan(s.value))
                .map(|s| Point {
                    t_ms: s.timestamp_ms,
                    v: s.value,
                })
                .collect();
            let mut points = Vec::new();
            for (_, ts) in g.iter() {
                let data_ts = at.unwrap_or(ts) - off;
                let lo = pts.partition_point(|p| p.t_ms <= data_ts - lb);
                let hi = pts.partition_point(|p| p.t_ms <= data_ts + lb);
                let window = &pts[lo..hi];
                let i = window.partition_point(|p| p.t_ms < data_ts);
                let v = if i < window.len() && window[i].t_ms == data_ts {
                    window[i].v
                } else if i > 0 && i < window.len() {
                    let (p1, p2) = (window[i - 1], window[i]);
                    p1.v + (p2.v - p1.v) * (data_ts - p1.t_ms) as f64 / (p2.t_ms - p1.t_ms) as f64
                } else if i > 0 {
                    window[i - 1].v
                } else {
                    continue;
                };
                points.push(Point { t_ms: ts, v });
            }
            if !points.is_empty() {
                out.push(Series {
                    labels,
                    points,
                    drop_name: false,
                });
            }
        }
        Ok(out)
    }

    /// Loads the raw points a matrix selector needs over the whole grid.
    pub(crate) fn load_range(
        &mut self,
        vs: &VectorSelector,
        range_ms: i64,
        g: Grid,
    ) -> EvalResult<RangeData> {
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let modifier = range_modifier(vs);
        let (first_ref, last_ref) = match at {
            Some(a) => (a - off, a - off),
            None => (g.start - off, g.end - off),
        };
        // Anchored and smoothed windows also look at the sample just before the
        // window (up to the lookback delta) and, for smoothed, just after it.
        let (extra_before, extra_after) = match modifier {
            RangeModifier::None => (0, 0),
            RangeModifier::Anchored => (self.lookback_ms, 0),
            RangeModifier::Smoothed => (self.lookback_ms, self.lookback_ms),
        };
        let raw = self.select(
            vs,
            first_ref - range_ms - extra_before + 1,
            last_ref + extra_after,
        )?;
        let mut series = Vec::with_capacity(raw.len());
        for (labels, samples) in raw {
            let points: Vec<Point> = samples
                .into_iter()
                .filter(|s| !is_stale_nan(s.value))
                .map(|s| Point {
                    t_ms: s.timestamp_ms,
                    v: s.value,
                })
                .collect();
            series.push(Series {
                labels,
                points,
                drop_name: false,
            });
        }
        Ok(RangeData {
            series,
            range_ms,
            offset_ms: off,
            at_ms: at,
            modifier,
            selector: Some(vs.clone()),
        })
    }

    fn eval_subquery(&mut self, sq: &SubqueryExpr, g: Grid) -> EvalResult<RangeData> {
        let off = offset_ms(&sq.offset);
        let at = self.at_ms(&sq.at);
        let range_ms = sq.range.as_millis() as i64;
        let step = match &sq.step {
            Some(s) if !s.is_zero() => s.as_millis() as i64,
            _ => self.default_subquery_step_ms,
        };
        if step <= 0 {
            return Err(QueryError::bad_data("subquery step must be positive"));
        }
        let (outer_start, outer_end) = match at {
            Some(a) => (a, a),
            None => (g.start, g.end),
        };
        let lower = outer_start - off - range_ms;
        let mut start = step * (lower / step);
        if start <= lower {
            start += step;
        }
        let inner = Grid {
            start,
            end: outer_end - off,
            step,
        };
        let series = match self.eval(&sq.expr, inner)? {
            Val::Vector(v) => v,
            Val::Scalar(values) => vec![Series {
                labels: Labels::empty(),
                points: inner
                    .iter()
                    .map(|(i, t)| Point {
                        t_ms: t,
                        v: values.get(i).copied().unwrap_or(f64::NAN),
                    })
                    .collect(),
                drop_name: false,
            }],
            other => {
                return Err(QueryError::bad_data(format!(
                    "subquery is only allowed on instant vector, got {}",
                    val_type_name(&other)
                )));
            }
        };
        Ok(RangeData {
            series,
            range_ms,
            offset_ms: off,
            at_ms: at,
            modifier: RangeModifier::None,
            selector: None,
        })
    }
}

pub(crate) fn val_type_name(v: &Val) -> &'static str {
    match v {
        Val::Vector(_) => "instant vector",
        Val::Scalar(_) => "scalar",
        Val::String(_) => "string",
        Val::Range(_) => "range vector",
    }
}

pub(crate) fn range_modifier(vs: &VectorSelector) -> RangeModifier {
    let all = vs
        .matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten());
    for m in all {
        if m.name == RANGE_MODIFIER_LABEL {
            return match m.value.as_str() {
                "anchored" => RangeModifier::Anchored,
                "smoothed" => RangeModifier::Smoothed,
                _ => RangeModifier::None,
            };
        }
    }
    RangeModifier::None
}

fn convert_matcher(m: &promql_parser::label::Matcher) -> EvalResult<Matcher> {
    let op = match &m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::Regex,
        PMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| QueryError::bad_data(e.to_string()))
}

/// The matcher groups of a selector (one per `or` alternative), with the
/// metric name folded in and Vigil's pseudo matchers removed.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> EvalResult<Vec<Vec<Matcher>>> {
    let mut groups: Vec<Vec<Matcher>> = Vec::new();
    let convert = |ms: &[promql_parser::label::Matcher]| -> EvalResult<Vec<Matcher>> {
        ms.iter()
            .filter(|m| !m.name.starts_with("__vigil_"))
            .map(convert_matcher)
            .collect()
    };
    if !vs.matchers.matchers.is_empty() || vs.matchers.or_matchers.is_empty() {
        groups.push(convert(&vs.matchers.matchers)?);
    }
    for alt in &vs.matchers.or_matchers {
        groups.push(convert(alt)?);
    }
    if let Some(name) = &vs.name {
        for group in &mut groups {
            if !group.iter().any(|m| m.name == vigil_model::METRIC_NAME) {
                group.push(Matcher::equal(vigil_model::METRIC_NAME, name.clone()));
            }
        }
    }
    Ok(groups)
}

/// Per-step access to the points of a set of grid-aligned series.
pub(crate) struct StepCursor {
    pos: Vec<usize>,
}

impl StepCursor {
    pub(crate) fn new(n: usize) -> Self {
        StepCursor { pos: vec![0; n] }
    }

    /// Calls `f(series_index, value)` for every series with a point at `ts`.
    pub(crate) fn values_at(&mut self, series: &[Series], ts: i64, out: &mut Vec<(usize, f64)>) {
        out.clear();
        for (i, s) in series.iter().enumerate() {
            let p = &mut self.pos[i];
            while *p < s.points.len() && s.points[*p].t_ms < ts {
                *p += 1;
            }
            if *p < s.points.len() && s.points[*p].t_ms == ts {
                out.push((i, s.points[*p].v));
            }
        }
    }
}

/// Collects per-step outputs into series, rejecting duplicate label sets
/// within one step.
pub(crate) struct SeriesBuilder {
    index: HashMap<Labels, usize>,
    pub(crate) out: Vec<Series>,
}

impl SeriesBuilder {
    pub(crate) fn new() -> Self {
        SeriesBuilder {
            index: HashMap::new(),
            out: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        labels: Labels,
        drop_name: bool,
        ts: i64,
        v: f64,
    ) -> EvalResult<()> {
        match self.index.get(&labels) {
            Some(&i) => {
                let s = &mut self.out[i];
                if s.points.last().is_some_and(|p| p.t_ms == ts) {
                    return Err(QueryError::execution(
                        "vector cannot contain metrics with the same labelset",
                    ));
                }
                s.points.push(Point { t_ms: ts, v });
                s.drop_name |= drop_name;
            }
            None => {
                self.index.insert(labels.clone(), self.out.len());
                self.out.push(Series {
                    labels,
                    points: vec![Point { t_ms: ts, v }],
                    drop_name,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<Series> {
        self.out
    }
}

/// Labels that describe the metric itself and are dropped together with
/// `__name__` (Prometheus' metadata labels).
pub(crate) fn is_metadata_label(name: &str) -> bool {
    matches!(name, "__name__" | "__type__" | "__unit__")
}

/// Labels with `__name__` (and the other metadata labels) removed.
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    if !labels.iter().any(|l| is_metadata_label(&l.name)) {
        return labels.clone();
    }
    let kept: Vec<_> = labels
        .iter()
        .filter(|l| !is_metadata_label(&l.name))
        .cloned()
        .collect();
    Labels::from_unsorted_unique(kept).unwrap_or_else(|_| Labels::empty())
}

/// Builds labels from already-sorted, unique labels.
pub(crate) fn labels_from(list: Vec<vigil_model::Label>) -> Labels {
    Labels::from_unsorted_unique(list).unwrap_or_else(|_| Labels::empty())
}
