//! PromQL function calls.

use std::collections::HashMap;

use chrono::{Datelike, TimeZone, Timelike, Utc};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr, VectorSelector};
use vigil_model::{Label, Labels, METRIC_NAME, is_valid_label_name};

use crate::error::QueryError;
use crate::eval::{
    EvalResult, Evaluator, Grid, RangeModifier, Series, StepCursor, Val, labels_from, val_type_name,
};
use crate::kernels::{
    Bucket, KahanSum, bucket_fraction, bucket_quantile, format_go_float, linear_regression,
    quantile,
};
use crate::value::Point;

/// Functions that take a range vector.
const RANGE_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "resets",
    "changes",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "absent_over_time",
    "mad_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "double_exponential_smoothing",
    "holt_winters",
];

fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        other => other,
    }
}

fn string_arg(e: &Expr) -> EvalResult<String> {
    match unwrap_parens(e) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => Err(QueryError::bad_data("expected string literal argument")),
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Context of one range-function evaluation step.
struct Window<'p> {
    points: &'p [Point],
    /// Evaluation time of the step.
    ts: i64,
    /// Window end (inclusive) and start (exclusive), before any extension.
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    modifier: RangeModifier,
    params: &'p [f64],
    /// Whether a counter reset (a decrease) happens inside `points`; lets
    /// `rate`/`increase` skip the per-pair scan in the common case.
    has_reset: bool,
}

impl Evaluator<'_> {
    pub(crate) fn eval_call(&mut self, c: &Call, g: Grid) -> EvalResult<Val> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
        if RANGE_FUNCTIONS.contains(&name) {
            return self.eval_range_call(name, &args, g);
        }
        match name {
            "time" => Ok(Val::Scalar(
                g.iter().map(|(_, t)| t as f64 / 1000.0).collect(),
            )),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; g.len()])),
            "start" => Ok(Val::Scalar(vec![self.query_start as f64 / 1000.0; g.len()])),
            "end" => Ok(Val::Scalar(vec![self.query_end as f64 / 1000.0; g.len()])),
            "range" => Ok(Val::Scalar(vec![
                (self.query_end - self.query_start) as f64
                    / 1000.0;
                g.len()
            ])),
            "step" => Ok(Val::Scalar(vec![self.query_step as f64 / 1000.0; g.len()])),
            "min_of" | "max_of" => {
                let a = self.arg_scalar(&args, 0, g)?;
                let b = self.arg_scalar(&args, 1, g)?;
                let f = if name == "min_of" { go_min } else { go_max };
                Ok(Val::Scalar(
                    a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect(),
                ))
            }
            "vector" => {
                let s = self.arg_scalar(&args, 0, g)?;
                Ok(Val::Vector(vec![Series {
                    labels: Labels::empty(),
                    points: g.iter().map(|(i, t)| Point { t_ms: t, v: s[i] }).collect(),
                    drop_name: false,
                }]))
            }
            "scalar" => {
                let v = self.arg_vector(&args, 0, g)?;
                let mut cursor = StepCursor::new(v.len());
                let mut vals = Vec::new();
                let out = g
                    .iter()
                    .map(|(_, t)| {
                        cursor.values_at(&v, t, &mut vals);
                        if vals.len() == 1 { vals[0].1 } else { f64::NAN }
                    })
                    .collect();
                Ok(Val::Scalar(out))
            }
            "timestamp" => {
                let arg = args
                    .first()
                    .map(|a| unwrap_parens(a))
                    .ok_or_else(|| QueryError::bad_data("timestamp() needs an argument"))?;
                let mut series = match arg {
                    Expr::VectorSelector(vs) => self.eval_vector_selector_inner(vs, g, true)?,
                    other => {
                        let mut v = self.eval_vector(other, g)?;
                        for s in &mut v {
                            for p in &mut s.points {
                                p.v = p.t_ms as f64 / 1000.0;
                            }
                        }
                        v
                    }
                };
                for s in &mut series {
                    s.drop_name = true;
                }
                Ok(Val::Vector(series))
            }
            "absent" => {
                let v = self.arg_vector(&args, 0, g)?;
                let labels = absent_labels(args.first().map(|a| unwrap_parens(a)));
                let mut present = vec![false; g.len()];
                for s in &v {
                    for p in &s.points {
                        let i = ((p.t_ms - g.start) / g.step) as usize;
                        if let Some(x) = present.get_mut(i) {
                            *x = true;
                        }
                    }
                }
                let points: Vec<Point> = g
                    .iter()
                    .filter(|(i, _)| !present[*i])
                    .map(|(_, t)| Point { t_ms: t, v: 1.0 })
                    .collect();
                Ok(Val::Vector(if points.is_empty() {
                    Vec::new()
                } else {
                    vec![Series {
                        labels,
                        points,
                        drop_name: false,
                    }]
                }))
            }
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                let mut v = self.arg_vector(&args, 0, g)?;
                if self.query_step != 0 {
                    let pos = self.pos(&Expr::Call(c.clone()));
                    self.warn(format!(
                        "PromQL warning: sort is ineffective for range queries since results are always ordered by labels{pos}"
                    ));
                }
                if g.len() == 1 {
                    let names: Vec<String> = args
                        .iter()
                        .skip(1)
                        .map(|a| string_arg(a))
                        .collect::<EvalResult<_>>()?;
                    sort_instant(name, &names, &mut v);
                }
                Ok(Val::Vector(v))
            }
            "label_replace" => self.label_replace(&args, g),
            "info" => self.info_function(&args, g),
            "label_join" => self.label_join(&args, g),
            "histogram_quantile" => self.histogram_quantile(&args, g),
            "histogram_fraction" => self.histogram_fraction(&args, g),
            "histogram_quantiles" => self.histogram_quantiles(&args, g),
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                // Only native histograms have these; float samples are skipped.
                let _ = self.arg_vector(&args, 0, g)?;
                Ok(Val::Vector(Vec::new()))
            }
            "round" => {
                let v = self.arg_vector(&args, 0, g)?;
                let to_nearest = if args.len() > 1 {
                    Some(self.arg_scalar(&args, 1, g)?)
                } else {
                    None
                };
                Ok(Val::Vector(map_values(v, g, |f, i| {
                    let n = to_nearest.as_ref().map_or(1.0, |s| s[i]);
                    let inv = 1.0 / n;
                    Some((f * inv + 0.5).floor() / inv)
                })))
            }
            "clamp" => {
                let v = self.arg_vector(&args, 0, g)?;
                let lo = self.arg_scalar(&args, 1, g)?;
                let hi = self.arg_scalar(&args, 2, g)?;
                Ok(Val::Vector(map_values(v, g, |f, i| {
                    if hi[i] < lo[i] {
                        None
                    } else {
                        Some(go_max(lo[i], go_min(hi[i], f)))
                    }
                })))
            }
            "clamp_min" => {
                let v = self.arg_vector(&args, 0, g)?;
                let lo = self.arg_scalar(&args, 1, g)?;
                Ok(Val::Vector(map_values(v, g, |f, i| Some(go_max(lo[i], f)))))
            }
            "clamp_max" => {
                let v = self.arg_vector(&args, 0, g)?;
                let hi = self.arg_scalar(&args, 1, g)?;
                Ok(Val::Vector(map_values(v, g, |f, i| Some(go_min(hi[i], f)))))
            }
            "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour"
            | "minute" | "month" | "year" => {
                let f = date_function(name);
                if args.is_empty() {
                    return Ok(Val::Vector(vec![Series {
                        labels: Labels::empty(),
                        points: g
                            .iter()
                            .map(|(_, t)| Point {
                                t_ms: t,
                                v: f(t.div_euclid(1000)),
                            })
                            .collect(),
                        drop_name: false,
                    }]));
                }
                let v = self.arg_vector(&args, 0, g)?;
                Ok(Val::Vector(map_values(v, g, |x, _| {
                    if x.is_nan() || x.is_infinite() {
                        return Some(f64::NAN);
                    }
                    Some(f(x as i64))
                })))
            }
            other => match math_function(other) {
                Some(f) => {
                    let v = self.arg_vector(&args, 0, g)?;
                    Ok(Val::Vector(map_values(v, g, |x, _| Some(f(x)))))
                }
                None => Err(QueryError::bad_data(format!(
                    "function {other:?} is not supported"
                ))),
            },
        }
    }

    fn arg_vector(&mut self, args: &[&Expr], i: usize, g: Grid) -> EvalResult<Vec<Series>> {
        let e = args
            .get(i)
            .ok_or_else(|| QueryError::bad_data("missing function argument"))?;
        self.eval_vector(e, g)
    }

    fn arg_scalar(&mut self, args: &[&Expr], i: usize, g: Grid) -> EvalResult<Vec<f64>> {
        let e = args
            .get(i)
            .ok_or_else(|| QueryError::bad_data("missing function argument"))?;
        self.eval_scalar(e, g)
    }

    fn eval_range_call(&mut self, name: &str, args: &[&Expr], g: Grid) -> EvalResult<Val> {
        let matrix_idx = args
            .iter()
            .position(|a| {
                matches!(
                    unwrap_parens(a),
                    Expr::MatrixSelector(_) | Expr::Subquery(_)
                )
            })
            .ok_or_else(|| {
                QueryError::bad_data(format!("expected range vector argument for {name}()"))
            })?;
        // Scalar parameters, one value per step, in argument order.
        let mut params: Vec<Vec<f64>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i != matrix_idx {
                params.push(self.eval_scalar(a, g)?);
            }
        }
        let data = match self.eval(args[matrix_idx], g)? {
            Val::Range(d) => d,
            other => {
                return Err(QueryError::bad_data(format!(
                    "expected range vector, got {}",
                    val_type_name(&other)
                )));
            }
        };
        match data.modifier {
            RangeModifier::Anchored
                if !matches!(name, "changes" | "delta" | "increase" | "rate" | "resets") =>
            {
                return Err(QueryError::execution(format!(
                    "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with {name}"
                )));
            }
            RangeModifier::Smoothed if !matches!(name, "delta" | "increase" | "rate") => {
                return Err(QueryError::execution(format!(
                    "smoothed modifier can only be used with: delta, increase, rate - not with {name}"
                )));
            }
            _ => {}
        }
        let param_pos = args
            .iter()
            .enumerate()
            .find(|(i, _)| *i != matrix_idx)
            .map(|(_, a)| self.pos(a))
            .unwrap_or_default();
        let matrix_pos = self.pos(args[matrix_idx]);
        self.check_range_params(name, &params, &param_pos)?;

        let keep_name = matches!(name, "last_over_time" | "first_over_time");
        let (extra_before, extra_after) = match data.modifier {
            RangeModifier::None => (0, 0),
            RangeModifier::Anchored => (self.lookback_ms, 0),
            RangeModifier::Smoothed => (self.lookback_ms, self.lookback_ms),
        };
        let mut out = Vec::with_capacity(data.series.len());
        let mut held = vec![0usize; g.len()];
        let mut present = vec![false; g.len()];
        let mut step_params = vec![0.0; params.len()];
        let counter_fn = matches!(name, "rate" | "increase");
        let mut resets_before: Vec<u32> = Vec::new();
        for s in &data.series {
            // resets_before[i]: decreases among points[..=i], so a window
            // [lo, hi) holds one iff resets_before[hi-1] != resets_before[lo].
            if counter_fn {
                resets_before.clear();
                let mut n = 0u32;
                resets_before.push(0);
                for p in s.points.windows(2) {
                    if p[1].v < p[0].v {
                        n += 1;
                    }
                    resets_before.push(n);
                }
            }
            let (mut lo, mut hi) = (0usize, 0usize);
            let mut points = Vec::with_capacity(g.len());
            for (i, ts) in g.iter() {
                self.check()?;
                let end = data.window_end(ts);
                let start = end - data.range_ms;
                let (wstart, wend) = (start - extra_before, end + extra_after);
                if data.at_ms.is_some() {
                    lo = s.points.partition_point(|p| p.t_ms <= wstart);
                    hi = s.points.partition_point(|p| p.t_ms <= wend);
                } else {
                    while hi < s.points.len() && s.points[hi].t_ms <= wend {
                        hi += 1;
                    }
                    while lo < hi && s.points[lo].t_ms <= wstart {
                        lo += 1;
                    }
                }
                if lo >= hi {
                    continue;
                }
                held[i] += hi - lo;
                for (k, p) in params.iter().enumerate() {
                    step_params[k] = p[i];
                }
                let w = Window {
                    points: &s.points[lo..hi],
                    ts,
                    range_start: start,
                    range_end: end,
                    range_ms: data.range_ms,
                    modifier: data.modifier,
                    params: &step_params,
                    has_reset: !counter_fn || resets_before[hi - 1] != resets_before[lo],
                };
                if let Some(v) = range_function(name, &w)? {
                    points.push(Point { t_ms: ts, v });
                    present[i] = true;
                }
            }
            if !points.is_empty() {
                out.push(Series {
                    labels: s.labels.clone(),
                    points,
                    drop_name: !keep_name || s.drop_name,
                });
            }
        }
        self.account_samples(g, &held)?;
        if name == "rate" || name == "increase" {
            for s in &out {
                if let Some(metric) = s.labels.get(METRIC_NAME)
                    && !["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|suffix| metric.ends_with(suffix))
                {
                    self.info(format!(
                        "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}{matrix_pos}"
                    ));
                }
            }
        }
        if name == "absent_over_time" {
            let labels = absent_labels(
                data.selector
                    .as_ref()
                    .map(|vs| Expr::VectorSelector(vs.clone()))
                    .as_ref(),
            );
            let points: Vec<Point> = g
                .iter()
                .filter(|(i, _)| !present[*i])
                .map(|(_, t)| Point { t_ms: t, v: 1.0 })
                .collect();
            return Ok(Val::Vector(if points.is_empty() {
                Vec::new()
            } else {
                vec![Series {
                    labels,
                    points,
                    drop_name: true,
                }]
            }));
        }
        Ok(Val::Vector(out))
    }

    fn check_range_params(&mut self, name: &str, params: &[Vec<f64>], pos: &str) -> EvalResult<()> {
        match name {
            "quantile_over_time" => {
                if let Some(qs) = params.first()
                    && let Some(&q) = qs.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q))
                {
                    self.warn(format!(
                        "PromQL warning: quantile value should be between 0 and 1, got {}{pos}",
                        format_go_float(q)
                    ));
                }
            }
            "double_exponential_smoothing" | "holt_winters" => {
                if let Some(sf) = params.first()
                    && let Some(&bad) = sf.iter().find(|v| !(**v > 0.0 && **v < 1.0))
                {
                    return Err(QueryError::execution(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                        format_go_float(bad)
                    )));
                }
                if let Some(tf) = params.get(1)
                    && let Some(&bad) = tf.iter().find(|v| !(**v > 0.0 && **v < 1.0))
                {
                    return Err(QueryError::execution(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                        format_go_float(bad)
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn label_replace(&mut self, args: &[&Expr], g: Grid) -> EvalResult<Val> {
        if args.len() != 5 {
            return Err(QueryError::bad_data("label_replace() takes 5 arguments"));
        }
        let dst = string_arg(args[1])?;
        let repl = string_arg(args[2])?;
        let src = string_arg(args[3])?;
        let regex_str = string_arg(args[4])?;
        let regex = regex::Regex::new(&format!("^(?s:{regex_str})$")).map_err(|_| {
            QueryError::execution(format!(
                "invalid regular expression in label_replace(): {regex_str}"
            ))
        })?;
        if !is_valid_label_name(&dst) {
            return Err(QueryError::execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut v = self.eval_vector(args[0], g)?;
        for s in &mut v {
            let src_val = s.labels.get(&src).unwrap_or("");
            if let Some(caps) = regex.captures(src_val) {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                s.labels = set_label(&s.labels, &dst, &res);
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
        }
        merge_same_labels(v).map(Val::Vector)
    }

    fn label_join(&mut self, args: &[&Expr], g: Grid) -> EvalResult<Val> {
        if args.len() < 3 {
            return Err(QueryError::bad_data(
                "label_join() takes at least 3 arguments",
            ));
        }
        let dst = string_arg(args[1])?;
        let sep = string_arg(args[2])?;
        let mut srcs = Vec::new();
        for a in &args[3..] {
            let src = string_arg(a)?;
            if !is_valid_label_name(&src) {
                return Err(QueryError::execution(format!(
                    "invalid source label name in label_join(): {src}"
                )));
            }
            srcs.push(src);
        }
        if !is_valid_label_name(&dst) {
            return Err(QueryError::execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut v = self.eval_vector(args[0], g)?;
        for s in &mut v {
            let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
            let joined = joined.join(&sep);
            s.labels = set_label(&s.labels, &dst, &joined);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        merge_same_labels(v).map(Val::Vector)
    }

    /// Groups classic bucket series by their labels without `le`.
    fn bucket_groups(
        &mut self,
        v: &[Series],
        pos: &str,
    ) -> (Vec<Labels>, Vec<Option<(usize, f64)>>) {
        let mut sig_index: HashMap<Labels, usize> = HashMap::new();
        let mut out_labels = Vec::new();
        let mut series_group = Vec::with_capacity(v.len());
        for s in v {
            let le = s.labels.get("le").and_then(parse_go_float);
            let Some(le) = le else {
                self.warn(format!(
                    "PromQL warning: bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}{pos}",
                    s.labels.get("le").unwrap_or(""),
                    s.labels.get(METRIC_NAME).unwrap_or("")
                ));
                series_group.push(None);
                continue;
            };
            let sig = labels_without(&s.labels, &["le"]);
            let next = out_labels.len();
            let idx = *sig_index.entry(sig).or_insert(next);
            if idx == next {
                out_labels.push(labels_without(&s.labels, &["le"]));
            }
            series_group.push(Some((idx, le)));
        }
        (out_labels, series_group)
    }

    fn histogram_quantile(&mut self, args: &[&Expr], g: Grid) -> EvalResult<Val> {
        let q = self.arg_scalar(args, 0, g)?;
        let v = self.arg_vector(args, 1, g)?;
        if let Some(&bad) = q.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q)) {
            let pos = self.pos(args[0]);
            self.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}{pos}",
                format_go_float(bad)
            ));
        }
        let pos = self.pos(args[1]);
        self.bucket_function(&v, g, &pos, |i, buckets, ev, name| {
            let r = bucket_quantile(q[i], buckets);
            if r.forced_monotonic {
                ev.info(format!(
                    "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}{pos}"
                ));
            }
            vec![(None, r.value)]
        })
    }

    fn histogram_quantiles(&mut self, args: &[&Expr], g: Grid) -> EvalResult<Val> {
        let v = self.arg_vector(args, 0, g)?;
        let label = string_arg(
            args.get(1)
                .ok_or_else(|| QueryError::bad_data("histogram_quantiles() needs a label"))?,
        )?;
        if !is_valid_label_name(&label) {
            return Err(QueryError::execution(format!(
                "invalid quantile label name {label:?}"
            )));
        }
        let mut qs = Vec::new();
        for i in 2..args.len() {
            let q = self.arg_scalar(args, i, g)?;
            if let Some(&bad) = q.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q)) {
                let pos = self.pos(args[i]);
                self.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}{pos}",
                    format_go_float(bad)
                ));
            }
            qs.push(q);
        }
        let pos = self.pos(args[0]);
        self.bucket_function(&v, g, &pos, |i, buckets, ev, name| {
            let mut out = Vec::with_capacity(qs.len());
            for q in &qs {
                let mut b = buckets.clone();
                let r = bucket_quantile(q[i], &mut b);
                if r.forced_monotonic {
                    ev.info(format!(
                        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}{pos}"
                    ));
                }
                out.push((Some((label.clone(), format_openmetrics_float(q[i]))), r.value));
            }
            out
        })
    }

    fn histogram_fraction(&mut self, args: &[&Expr], g: Grid) -> EvalResult<Val> {
        let lower = self.arg_scalar(args, 0, g)?;
        let upper = self.arg_scalar(args, 1, g)?;
        let v = self.arg_vector(args, 2, g)?;
        let pos = self.pos(args[2]);
        self.bucket_function(&v, g, &pos, |i, buckets, _, _| {
            vec![(None, bucket_fraction(lower[i], upper[i], buckets))]
        })
    }

    fn bucket_function(
        &mut self,
        v: &[Series],
        g: Grid,
        pos: &str,
        mut f: impl FnMut(
            usize,
            &mut Vec<Bucket>,
            &mut Self,
            &str,
        ) -> Vec<(Option<(String, String)>, f64)>,
    ) -> EvalResult<Val> {
        let (group_labels, series_group) = self.bucket_groups(v, pos);
        let mut builder = crate::eval::SeriesBuilder::new();
        let mut cursor = StepCursor::new(v.len());
        let mut vals = Vec::new();
        let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); group_labels.len()];
        let mut names: Vec<String> = vec![String::new(); group_labels.len()];
        for (i, ts) in g.iter() {
            self.check()?;
            cursor.values_at(v, ts, &mut vals);
            for b in buckets.iter_mut() {
                b.clear();
            }
            let mut order = Vec::new();
            for &(si, val) in &vals {
                if let Some((gi, le)) = series_group[si] {
                    if buckets[gi].is_empty() {
                        order.push(gi);
                        names[gi] = v[si].labels.get(METRIC_NAME).unwrap_or("").to_string();
                    }
                    buckets[gi].push(Bucket {
                        upper: le,
                        count: val,
                    });
                }
            }
            for gi in order {
                let mut b = std::mem::take(&mut buckets[gi]);
                let name = names[gi].clone();
                let value = f(i, &mut b, self, &name);
                for (labels, v) in value {
                    let labels = match labels {
                        Some(extra) => set_label(&group_labels[gi], &extra.0, &extra.1),
                        None => group_labels[gi].clone(),
                    };
                    builder.push(labels, true, ts, v)?;
                }
                buckets[gi] = b;
            }
        }
        Ok(Val::Vector(builder.finish()))
    }
}

/// The `@` time and accumulated offset of the first vector selector of an
/// expression (pre-order), looking through enclosing subqueries when the
/// selector has no `@` of its own.
fn first_selector_time(
    ev: &Evaluator<'_>,
    e: &Expr,
    path: &mut Vec<(Option<i64>, i64)>,
) -> Option<(Option<i64>, i64)> {
    match e {
        Expr::VectorSelector(vs) => {
            let mut at = ev.at_ms(&vs.at);
            let mut offset = crate::eval::offset_ms(&vs.offset);
            for (sq_at, sq_off) in path.iter().rev() {
                if at.is_some() {
                    break;
                }
                offset += sq_off;
                at = *sq_at;
            }
            Some((at, offset))
        }
        Expr::MatrixSelector(ms) => {
            first_selector_time(ev, &Expr::VectorSelector(ms.vs.clone()), path)
        }
        Expr::Subquery(sq) => {
            path.push((ev.at_ms(&sq.at), crate::eval::offset_ms(&sq.offset)));
            let r = first_selector_time(ev, &sq.expr, path);
            path.pop();
            r
        }
        Expr::Aggregate(a) => a
            .param
            .as_deref()
            .and_then(|p| first_selector_time(ev, p, path))
            .or_else(|| first_selector_time(ev, &a.expr, path)),
        Expr::Unary(u) => first_selector_time(ev, &u.expr, path),
        Expr::Binary(b) => {
            first_selector_time(ev, &b.lhs, path).or_else(|| first_selector_time(ev, &b.rhs, path))
        }
        Expr::Paren(p) => first_selector_time(ev, &p.expr, path),
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .find_map(|a| first_selector_time(ev, a, path)),
        _ => None,
    }
}

const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

impl Evaluator<'_> {
    /// `info(v [, selector])`: enriches series with the data labels of
    /// matching info metrics (`target_info` by default), joined on
    /// `instance` and `job`.
    fn info_function(&mut self, args: &[&Expr], g: Grid) -> EvalResult<Val> {
        use vigil_model::{MatchOp, Matcher};
        let first = args
            .first()
            .ok_or_else(|| QueryError::bad_data("info() needs an argument"))?;
        let (at, offset) = first_selector_time(self, first, &mut Vec::new()).unwrap_or((None, 0));
        let base = self.eval_vector(first, g)?;
        // Data label matchers of the second argument, by label name.
        let mut data: Vec<(String, Vec<Matcher>)> = Vec::new();
        let mut name_matchers: Vec<Matcher> = Vec::new();
        if let Some(sel) = args.get(1) {
            let Expr::VectorSelector(vs) = unwrap_parens(sel) else {
                return Err(QueryError::bad_data(
                    "info() second argument must be a label selector",
                ));
            };
            let groups = crate::eval::selector_matchers(vs)?;
            for m in groups.into_iter().flatten() {
                if m.name == METRIC_NAME {
                    name_matchers.push(m.clone());
                }
                match data.iter_mut().find(|(n, _)| *n == m.name) {
                    Some((_, ms)) => ms.push(m),
                    None => data.push((m.name.clone(), vec![m])),
                }
            }
        } else {
            name_matchers.push(Matcher::equal(METRIC_NAME, "target_info"));
        }
        let effective = |ms: &[Matcher]| -> Vec<Matcher> {
            if ms
                .iter()
                .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex))
            {
                return ms.to_vec();
            }
            if !ms.is_empty() {
                let mut out = Vec::with_capacity(ms.len() + 1);
                if let Ok(m) = Matcher::new(MatchOp::Regex, METRIC_NAME, ".+_info") {
                    out.push(m);
                }
                out.extend(ms.iter().cloned());
                return out;
            }
            vec![Matcher::equal(METRIC_NAME, "target_info")]
        };
        let effective_names = effective(&name_matchers);
        let ignored: Vec<bool> = base
            .iter()
            .map(|s| {
                let name = s.labels.get(METRIC_NAME).unwrap_or("");
                effective_names.iter().all(|m| m.matches(name))
            })
            .collect();
        // Identifying label values of the series to enrich.
        let mut id_values: Vec<(&str, Vec<String>)> = Vec::new();
        for (s, ign) in base.iter().zip(&ignored) {
            if *ign {
                continue;
            }
            for l in IDENTIFYING_LABELS {
                if let Some(v) = s.labels.get(l) {
                    match id_values.iter_mut().find(|(n, _)| *n == l) {
                        Some((_, vals)) => {
                            if !vals.iter().any(|x| x == v) {
                                vals.push(v.to_string());
                            }
                        }
                        None => id_values.push((l, vec![v.to_string()])),
                    }
                }
            }
        }
        let data_names: Vec<Matcher> = data
            .iter()
            .flat_map(|(_, ms)| ms.iter())
            .filter(|m| m.name == METRIC_NAME)
            .cloned()
            .collect();
        data.retain_mut(|(_, ms)| {
            ms.retain(|m| m.name != METRIC_NAME);
            !ms.is_empty()
        });
        let mut info_series: Vec<Series> = Vec::new();
        if !id_values.is_empty() {
            let mut matchers: Vec<Matcher> = Vec::new();
            for (name, vals) in &id_values {
                let re = vals
                    .iter()
                    .map(|v| regex::escape(v))
                    .collect::<Vec<_>>()
                    .join("|");
                matchers.push(
                    Matcher::new(MatchOp::Regex, *name, re)
                        .map_err(|e| QueryError::execution(e.to_string()))?,
                );
            }
            for (_, ms) in &data {
                matchers.extend(ms.iter().cloned());
            }
            matchers.extend(effective(&data_names));
            let (first_ref, last_ref) = match at {
                Some(a) => (a - offset, a - offset),
                None => (g.start - offset, g.end - offset),
            };
            let raw =
                self.select_matchers(&matchers, first_ref - self.lookback_ms + 1, last_ref)?;
            for (labels, samples) in raw {
                let mut points = Vec::new();
                for (_, ts) in g.iter() {
                    let rf = at.unwrap_or(ts) - offset;
                    let idx = samples.partition_point(|s| s.timestamp_ms <= rf);
                    if idx == 0 {
                        continue;
                    }
                    let smp = samples[idx - 1];
                    if smp.timestamp_ms <= rf - self.lookback_ms
                        || vigil_model::is_stale_nan(smp.value)
                    {
                        continue;
                    }
                    points.push(Point {
                        t_ms: ts,
                        v: smp.timestamp_ms as f64,
                    });
                }
                if !points.is_empty() {
                    info_series.push(Series {
                        labels,
                        points,
                        drop_name: false,
                    });
                }
            }
        }
        let sig = |name: &str, labels: &Labels| -> String {
            let mut s = name.to_string();
            for l in IDENTIFYING_LABELS {
                s.push('\u{ff}');
                s.push_str(labels.get(l).unwrap_or(""));
            }
            s
        };
        let mut info_names: Vec<String> = Vec::new();
        for s in &info_series {
            let n = s.labels.get(METRIC_NAME).unwrap_or("").to_string();
            if !info_names.contains(&n) {
                info_names.push(n);
            }
        }
        let info_sigs: Vec<String> = info_series
            .iter()
            .map(|s| sig(s.labels.get(METRIC_NAME).unwrap_or(""), &s.labels))
            .collect();
        let all_match_empty = data.iter().all(|(_, ms)| ms.iter().all(|m| m.matches("")));
        let mut builder = crate::eval::SeriesBuilder::new();
        let mut bcur = StepCursor::new(base.len());
        let mut icur = StepCursor::new(info_series.len());
        let (mut bvals, mut ivals) = (Vec::new(), Vec::new());
        for (_, ts) in g.iter() {
            self.check()?;
            bcur.values_at(&base, ts, &mut bvals);
            icur.values_at(&info_series, ts, &mut ivals);
            if bvals.is_empty() {
                continue;
            }
            let mut by_sig: HashMap<&str, (usize, f64)> = HashMap::new();
            for &(j, orig_t) in &ivals {
                let key = info_sigs[j].as_str();
                match by_sig.get(key) {
                    Some(&(k, existing)) => {
                        if existing < orig_t {
                            by_sig.insert(key, (j, orig_t));
                        } else if existing == orig_t {
                            return Err(QueryError::execution(format!(
                                "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                                info_series[k].labels,
                                existing as i64,
                                info_series[j].labels,
                                orig_t as i64
                            )));
                        }
                    }
                    None => {
                        by_sig.insert(key, (j, orig_t));
                    }
                }
            }
            for &(i, v) in &bvals {
                let s = &base[i];
                if ignored[i] {
                    builder.push(s.labels.clone(), s.drop_name, ts, v)?;
                    continue;
                }
                let mut added: Vec<Label> = Vec::new();
                let mut seen = 0usize;
                for name in &info_names {
                    let Some(&(j, _)) = by_sig.get(sig(name, &s.labels).as_str()) else {
                        continue;
                    };
                    seen += 1;
                    for l in info_series[j].labels.iter() {
                        if l.name == METRIC_NAME {
                            continue;
                        }
                        if !data.is_empty() && !data.iter().any(|(n, _)| *n == l.name) {
                            continue;
                        }
                        if let Some(prev) = added.iter().find(|a| a.name == l.name) {
                            if prev.value != l.value {
                                return Err(QueryError::execution(format!(
                                    "conflicting label: {}",
                                    l.name
                                )));
                            }
                            continue;
                        }
                        if s.labels.get(&l.name).is_some() {
                            continue;
                        }
                        added.push(l.clone());
                    }
                }
                if seen == 0 && !all_match_empty {
                    continue;
                }
                let mut labels: Vec<Label> = s.labels.iter().cloned().collect();
                labels.extend(added);
                builder.push(labels_from(labels), s.drop_name, ts, v)?;
            }
        }
        Ok(Val::Vector(builder.finish()))
    }
}

/// Formats a float as OpenMetrics does for label values (`1.0`, `0.25`).
fn format_openmetrics_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        format_go_float(f)
    }
}

/// Parses a float like Go's `strconv.ParseFloat` (accepting `+Inf` etc.).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t != s {
        return None;
    }
    t.parse::<f64>().ok()
}

fn labels_without(labels: &Labels, names: &[&str]) -> Labels {
    labels_from(
        labels
            .iter()
            .filter(|l| !names.contains(&l.name.as_str()))
            .cloned()
            .collect(),
    )
}

pub(crate) fn set_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut list: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        list.push(Label::new(name, value));
    }
    labels_from(list)
}

/// Merges series that ended up with identical labels; overlapping points are
/// an error, as in Prometheus.
pub(crate) fn merge_same_labels(v: Vec<Series>) -> EvalResult<Vec<Series>> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::with_capacity(v.len());
    for s in v {
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let target = &mut out[i];
                let mut merged = Vec::with_capacity(target.points.len() + s.points.len());
                let (mut a, mut b) = (0, 0);
                while a < target.points.len() || b < s.points.len() {
                    match (target.points.get(a), s.points.get(b)) {
                        (Some(x), Some(y)) if x.t_ms == y.t_ms => {
                            return Err(QueryError::execution(
                                "vector cannot contain metrics with the same labelset",
                            ));
                        }
                        (Some(x), Some(y)) if x.t_ms < y.t_ms => {
                            merged.push(*x);
                            a += 1;
                        }
                        (Some(_), Some(y)) => {
                            merged.push(*y);
                            b += 1;
                        }
                        (Some(x), None) => {
                            merged.push(*x);
                            a += 1;
                        }
                        (None, Some(y)) => {
                            merged.push(*y);
                            b += 1;
                        }
                        (None, None) => break,
                    }
                }
                target.points = merged;
                target.drop_name &= s.drop_name;
            }
        }
    }
    Ok(out)
}

/// Applies `f(value, step_index)` to every point, dropping the metric name.
fn map_values(
    v: Vec<Series>,
    g: Grid,
    mut f: impl FnMut(f64, usize) -> Option<f64>,
) -> Vec<Series> {
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let points: Vec<Point> = s
            .points
            .iter()
            .filter_map(|p| {
                let i = ((p.t_ms - g.start) / g.step) as usize;
                f(p.v, i).map(|v| Point { t_ms: p.t_ms, v })
            })
            .collect();
        if !points.is_empty() {
            s.points = points;
            s.drop_name = true;
            out.push(s);
        }
    }
    out
}

fn math_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |x| x * std::f64::consts::PI / 180.0,
        "deg" => |x| x * 180.0 / std::f64::consts::PI,
        "sgn" => |x| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        },
        _ => return None,
    })
}

fn date_function(name: &str) -> fn(i64) -> f64 {
    fn at(secs: i64) -> Option<chrono::DateTime<Utc>> {
        Utc.timestamp_opt(secs, 0).single()
    }
    match name {
        "day_of_month" => |s| at(s).map_or(f64::NAN, |t| t.day() as f64),
        "day_of_week" => |s| at(s).map_or(f64::NAN, |t| t.weekday().num_days_from_sunday() as f64),
        "day_of_year" => |s| at(s).map_or(f64::NAN, |t| t.ordinal() as f64),
        "days_in_month" => |s| {
            at(s).map_or(f64::NAN, |t| {
                let (y, m) = (t.year(), t.month());
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1);
                let first = chrono::NaiveDate::from_ymd_opt(y, m, 1);
                match (first, first_next) {
                    (Some(a), Some(b)) => (b - a).num_days() as f64,
                    _ => f64::NAN,
                }
            })
        },
        "hour" => |s| at(s).map_or(f64::NAN, |t| t.hour() as f64),
        "minute" => |s| at(s).map_or(f64::NAN, |t| t.minute() as f64),
        "month" => |s| at(s).map_or(f64::NAN, |t| t.month() as f64),
        _ => |s| at(s).map_or(f64::NAN, |t| t.year() as f64),
    }
}

/// The labels `absent()` reports: equality matchers of the selector.
fn absent_labels(arg: Option<&Expr>) -> Labels {
    let vs: &VectorSelector = match arg {
        Some(Expr::VectorSelector(vs)) => vs,
        Some(Expr::MatrixSelector(ms)) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut set: Vec<(String, String)> = Vec::new();
    let mut has: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME || m.name.starts_with("__vigil_") {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && !has.contains(&m.name) {
            set.push((m.name.clone(), m.value.clone()));
            has.push(m.name.clone());
        } else {
            set.retain(|(n, _)| *n != m.name);
        }
    }
    labels_from(set.into_iter().map(|(n, v)| Label::new(n, v)).collect())
}

fn sort_instant(name: &str, label_names: &[String], v: &mut [Series]) {
    let value = |s: &Series| s.points.first().map_or(f64::NAN, |p| p.v);
    match name {
        "sort" => v.sort_by(|a, b| {
            let (x, y) = (value(a), value(b));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
            }
        }),
        "sort_desc" => v.sort_by(|a, b| {
            let (x, y) = (value(a), value(b));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
            }
        }),
        _ => {
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                for n in label_names {
                    let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if x == y {
                        continue;
                    }
                    let ord = natural_cmp(x, y);
                    return if desc { ord.reverse() } else { ord };
                }
                let ord = a.labels.cmp(&b.labels);
                if desc { ord.reverse() } else { ord }
            });
        }
    }
}

/// Natural ordering: digit runs compare numerically.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        } else {
            let ord = ab[i].cmp(&bb[j]);
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

/// Evaluates one range function over one window.
fn range_function(name: &str, w: &Window<'_>) -> EvalResult<Option<f64>> {
    let pts = w.points;
    let param = |i: usize| w.params.get(i).copied().unwrap_or(f64::NAN);
    let values = || pts.iter().map(|p| p.v);
    Ok(match name {
        "rate" => extrapolated_rate(w, true, true),
        "increase" => extrapolated_rate(w, true, false),
        "delta" => extrapolated_rate(w, false, false),
        "irate" => instant_value(pts, true),
        "idelta" => instant_value(pts, false),
        "deriv" => {
            if pts.len() < 2 {
                None
            } else {
                Some(linear_regression(pts, pts[0].t_ms).0)
            }
        }
        "predict_linear" => {
            if pts.len() < 2 {
                None
            } else {
                let (slope, intercept) = linear_regression(pts, w.ts);
                Some(slope * param(0) + intercept)
            }
        }
        "resets" | "changes" => {
            let first = match w.modifier {
                RangeModifier::Anchored => {
                    let le = pts.partition_point(|p| p.t_ms <= w.range_start);
                    if le >= pts.len() {
                        return Ok(None);
                    }
                    le.saturating_sub(1)
                }
                _ => 0,
            };
            let pts = &pts[first..];
            let n = pts
                .windows(2)
                .filter(|p| {
                    if name == "resets" {
                        p[1].v < p[0].v
                    } else {
                        p[1].v != p[0].v && !(p[1].v.is_nan() && p[0].v.is_nan())
                    }
                })
                .count();
            Some(n as f64)
        }
        "avg_over_time" => Some(avg_over_time(pts)),
        "sum_over_time" => {
            let mut k = KahanSum::default();
            values().for_each(|v| k.add(v));
            Some(k.value())
        }
        "count_over_time" => Some(pts.len() as f64),
        "min_over_time" | "max_over_time" | "ts_of_min_over_time" | "ts_of_max_over_time" => {
            let is_max = name.contains("max");
            let want_ts = name.starts_with("ts_of");
            let mut best = pts[0].v;
            let mut best_t = pts[0].t_ms;
            for p in pts {
                let better = if want_ts {
                    if is_max {
                        p.v >= best || best.is_nan()
                    } else {
                        p.v <= best || best.is_nan()
                    }
                } else if is_max {
                    p.v > best || best.is_nan()
                } else {
                    p.v < best || best.is_nan()
                };
                if better {
                    best = p.v;
                    best_t = p.t_ms;
                }
            }
            Some(if want_ts {
                best_t as f64 / 1000.0
            } else {
                best
            })
        }
        "stddev_over_time" | "stdvar_over_time" => {
            let mut count = 0.0;
            let (mut mean, mut aux) = (KahanSum::default(), KahanSum::default());
            for v in values() {
                count += 1.0;
                let delta = v - mean.value();
                mean.add(delta / count);
                aux.add(delta * (v - mean.value()));
            }
            let var = aux.value() / count;
            Some(if name == "stddev_over_time" {
                var.sqrt()
            } else {
                var
            })
        }
        "quantile_over_time" => {
            let mut vals: Vec<f64> = values().collect();
            Some(quantile(param(0), &mut vals))
        }
        "mad_over_time" => {
            let mut vals: Vec<f64> = values().collect();
            if vals.iter().any(|v| v.is_nan()) {
                Some(f64::NAN)
            } else {
                let median = quantile(0.5, &mut vals);
                let mut dev: Vec<f64> = vals.iter().map(|v| (v - median).abs()).collect();
                Some(quantile(0.5, &mut dev))
            }
        }
        "last_over_time" => pts.last().map(|p| p.v),
        "first_over_time" => pts.first().map(|p| p.v),
        "ts_of_first_over_time" => pts.first().map(|p| p.t_ms as f64 / 1000.0),
        "ts_of_last_over_time" => pts.last().map(|p| p.t_ms as f64 / 1000.0),
        "present_over_time" | "absent_over_time" => Some(1.0),
        "double_exponential_smoothing" | "holt_winters" => {
            double_exponential_smoothing(pts, param(0), param(1))
        }
        _ => None,
    })
}

fn avg_over_time(pts: &[Point]) -> f64 {
    let mut sum = KahanSum::default();
    let (mut mean, mut mean_c) = (0.0, 0.0);
    let mut count = 0.0;
    let mut incremental = false;
    for p in pts {
        let f = p.v;
        count += 1.0;
        if !incremental {
            let mut next = sum;
            next.add(f);
            if count == 1.0 || !next.sum.is_infinite() {
                sum = next;
                continue;
            }
            incremental = true;
            mean = sum.sum / (count - 1.0);
            mean_c = sum.c / (count - 1.0);
        }
        if mean.is_infinite() {
            if f.is_infinite() && (mean > 0.0) == (f > 0.0) {
                continue;
            }
            if !f.is_infinite() && !f.is_nan() {
                continue;
            }
        }
        let corrected = mean + mean_c;
        let mut k = KahanSum {
            sum: mean,
            c: mean_c,
        };
        k.add(f / count - corrected / count);
        mean = k.sum;
        mean_c = k.c;
    }
    if incremental {
        mean + mean_c
    } else {
        sum.value() / count
    }
}

fn instant_value(pts: &[Point], is_rate: bool) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (a, b) = (pts[pts.len() - 2], pts[pts.len() - 1]);
    let interval = b.t_ms - a.t_ms;
    if interval == 0 {
        return None;
    }
    let mut v = b.v;
    // NaNs compare false, so a NaN pair counts as "no reset" (as upstream).
    let reset = b.v < a.v;
    if !is_rate || !reset {
        v = b.v - a.v;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

fn extrapolated_rate(w: &Window<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    if w.modifier != RangeModifier::None {
        return extended_rate(w, is_counter, is_rate);
    }
    let pts = w.points;
    if pts.len() < 2 {
        return None;
    }
    let n1 = pts.len() - 1;
    let (first, last) = (pts[0], pts[n1]);
    let mut result = last.v - first.v;
    if is_counter && w.has_reset {
        for p in pts.windows(2) {
            if p[1].v < p[0].v {
                result += p[0].v;
            }
        }
    }
    let mut to_start = (first.t_ms - w.range_start) as f64 / 1000.0;
    let mut to_end = (w.range_end - last.t_ms) as f64 / 1000.0;
    let sampled = (last.t_ms - first.t_ms) as f64 / 1000.0;
    let avg = sampled / n1 as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first.v >= 0.0 {
            to_zero = sampled * (first.v / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = if sampled != 0.0 {
        (sampled + to_start + to_end) / sampled
    } else {
        1.0
    };
    if is_rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

fn interpolate(p1: Point, p2: Point, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.v;
    let y2 = p2.v;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t_ms) as f64 / (p2.t_ms - p1.t_ms) as f64
}

/// `rate`/`increase`/`delta` over `anchored` or `smoothed` windows.
fn extended_rate(w: &Window<'_>, is_counter: bool, is_rate: bool) -> Option<f64> {
    let f = w.points;
    let smoothed = w.modifier == RangeModifier::Smoothed;
    let mut last = f.len() - 1;
    let mut first = f[..last]
        .partition_point(|p| p.t_ms <= w.range_start)
        .saturating_sub(1);
    if smoothed {
        last = f[..last].partition_point(|p| p.t_ms < w.range_end);
    }
    if f[last].t_ms <= w.range_start {
        return None;
    }
    if smoothed && f[first].t_ms > w.range_end {
        return None;
    }
    let left = if smoothed && f[first].t_ms < w.range_start && first + 1 < f.len() {
        interpolate(f[first], f[first + 1], w.range_start, is_counter)
    } else {
        f[first].v
    };
    let right = if smoothed && last > 0 && f[last].t_ms > w.range_end {
        interpolate(f[last - 1], f[last], w.range_end, is_counter)
    } else {
        f[last].v
    };
    let mut result = right - left;
    if is_counter {
        if f[first].t_ms <= w.range_start {
            first += 1;
        }
        let mut end = last as isize;
        if f[last].t_ms >= w.range_end {
            end -= 1;
        }
        let inner: &[Point] = if end >= first as isize {
            &f[first..=end as usize]
        } else {
            &[]
        };
        let mut correction = 0.0;
        let mut prev = left;
        for p in inner {
            if p.v < prev {
                correction += prev;
            }
            prev = p.v;
        }
        if right < prev {
            correction += prev;
        }
        result += correction;
    }
    if is_rate {
        result /= w.range_ms as f64 / 1000.0;
    }
    Some(result)
}

fn double_exponential_smoothing(pts: &[Point], sf: f64, tf: f64) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let trend = |i: usize, s0: f64, s1: f64, b: f64| -> f64 {
        if i == 0 {
            b
        } else {
            tf * (s1 - s0) + (1.0 - tf) * b
        }
    };
    let mut s0 = 0.0;
    let mut s1 = pts[0].v;
    let mut b = pts[1].v - pts[0].v;
    for (i, p) in pts.iter().enumerate().skip(1) {
        let x = sf * p.v;
        b = trend(i - 1, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), std::cmp::Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), std::cmp::Ordering::Greater);
        assert_eq!(natural_cmp("x", "x"), std::cmp::Ordering::Equal);
    }

    #[test]
    fn go_float_parsing() {
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.5"), Some(0.5));
        assert_eq!(parse_go_float("abc"), None);
    }
}
