//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, …) with
//! `by`/`without` grouping.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use vigil_model::{Label, Labels, METRIC_NAME, is_valid_label_name};

use crate::error::QueryError;
use crate::eval::{
    EvalResult, Evaluator, Grid, Series, SeriesBuilder, StepCursor, Val, labels_from,
};
use crate::kernels::{KahanSum, format_go_float, go_quote, quantile};

/// `by` / `without` grouping.
pub(crate) struct Grouping<'e> {
    without: bool,
    labels: Vec<&'e str>,
}

impl Grouping<'_> {
    fn from_modifier(m: &Option<LabelModifier>) -> Grouping<'_> {
        match m {
            None => Grouping {
                without: false,
                labels: Vec::new(),
            },
            Some(LabelModifier::Include(ls)) => Grouping {
                without: false,
                labels: ls.labels.iter().map(String::as_str).collect(),
            },
            Some(LabelModifier::Exclude(ls)) => Grouping {
                without: true,
                labels: ls.labels.iter().map(String::as_str).collect(),
            },
        }
    }

    fn group_labels(&self, labels: &Labels) -> Labels {
        let kept: Vec<Label> = labels
            .iter()
            .filter(|l| {
                if self.without {
                    l.name != METRIC_NAME && !self.labels.contains(&l.name.as_str())
                } else {
                    self.labels.contains(&l.name.as_str())
                }
            })
            .cloned()
            .collect();
        labels_from(kept)
    }
}

#[derive(Default, Clone)]
struct Group {
    seen: bool,
    value: f64,
    kahan: KahanSum,
    mean: f64,
    mean_c: f64,
    count: f64,
    incremental_mean: bool,
    values: Vec<f64>,
    members: Vec<(usize, f64)>,
}

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(&mut self, a: &AggregateExpr, g: Grid) -> EvalResult<Val> {
        let op = a.op.id();
        let grouping = Grouping::from_modifier(&a.modifier);
        if op == T_COUNT_VALUES {
            let label = match a.param.as_deref().map(unwrap_parens) {
                Some(Expr::StringLiteral(s)) => s.val.clone(),
                _ => {
                    return Err(QueryError::bad_data(
                        "count_values requires a string parameter",
                    ));
                }
            };
            if !is_valid_label_name(&label) {
                return Err(QueryError::execution(format!(
                    "invalid label name {}",
                    go_quote(&label)
                )));
            }
            let input = self.eval_vector(&a.expr, g)?;
            return self
                .count_values(&grouping, &label, input, g)
                .map(Val::Vector);
        }
        let param = match &a.param {
            Some(p) => Some(self.eval_scalar(p, g)?),
            None => None,
        };
        let input = self.eval_vector(&a.expr, g)?;
        if matches!(op, T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO) {
            let pos = a.param.as_deref().map(|e| self.pos(e)).unwrap_or_default();
            return self
                .aggregate_k(
                    op,
                    &grouping,
                    param.as_deref().unwrap_or(&[]),
                    input,
                    g,
                    &pos,
                )
                .map(Val::Vector);
        }
        if op == T_QUANTILE
            && let Some(p) = &param
        {
            for &q in p {
                if q.is_nan() || !(0.0..=1.0).contains(&q) {
                    let pos = a.param.as_deref().map(|e| self.pos(e)).unwrap_or_default();
                    self.warn(format!(
                        "PromQL warning: quantile value should be between 0 and 1, got {}{pos}",
                        format_go_float(q)
                    ));
                    break;
                }
            }
        }

        // Map input series to groups.
        let mut group_index: HashMap<Labels, usize> = HashMap::new();
        let mut group_labels: Vec<Labels> = Vec::new();
        let mut series_group = Vec::with_capacity(input.len());
        for s in &input {
            let gl = grouping.group_labels(&s.labels);
            let next = group_labels.len();
            let idx = *group_index.entry(gl.clone()).or_insert(next);
            if idx == next {
                group_labels.push(gl);
            }
            series_group.push(idx);
        }
        if !matches!(
            op,
            T_SUM | T_AVG | T_COUNT | T_GROUP | T_MIN | T_MAX | T_STDDEV | T_STDVAR | T_QUANTILE
        ) {
            return Err(QueryError::bad_data(format!(
                "unsupported aggregation {}",
                a.op
            )));
        }
        let ngroups = group_labels.len();
        let nsteps = g.len();
        let mut outputs: Vec<Vec<crate::value::Point>> = vec![Vec::new(); ngroups];
        let mut group_drop = vec![false; ngroups];
        for (s, &gi) in input.iter().zip(&series_group) {
            group_drop[gi] |= s.drop_name;
        }
        // Series-major accumulation over chunks of steps: every (group, step)
        // cell sees its series in input order, exactly as a per-step pass
        // would, while the state stays bounded for high-cardinality groupings.
        let chunk = (262_144 / ngroups.max(1)).clamp(1, nsteps.max(1));
        let mut pos = vec![0usize; input.len()];
        let mut held = vec![0usize; nsteps];
        let mut chunk_start = 0;
        while chunk_start < nsteps {
            let chunk_end = (chunk_start + chunk).min(nsteps);
            let width = chunk_end - chunk_start;
            let mut cells: Vec<Group> = vec![Group::default(); ngroups * width];
            for (si, s) in input.iter().enumerate() {
                self.check()?;
                let gi = series_group[si];
                while let Some(p) = s.points.get(pos[si]) {
                    let step = ((p.t_ms - g.start) / g.step) as usize;
                    if step >= chunk_end {
                        break;
                    }
                    pos[si] += 1;
                    held[step] += 1;
                    accumulate(op, &mut cells[gi * width + (step - chunk_start)], p.v);
                }
            }
            for gi in 0..ngroups {
                for k in 0..width {
                    let grp = &mut cells[gi * width + k];
                    if !grp.seen {
                        continue;
                    }
                    let step = chunk_start + k;
                    let q = param
                        .as_ref()
                        .and_then(|p| p.get(step))
                        .copied()
                        .unwrap_or(f64::NAN);
                    outputs[gi].push(crate::value::Point {
                        t_ms: g.ts(step),
                        v: finish(op, grp, q),
                    });
                }
            }
            chunk_start = chunk_end;
        }
        for n in held {
            self.hold_samples(n)?;
        }
        let out = group_labels
            .into_iter()
            .zip(outputs)
            .zip(group_drop)
            .filter(|((_, p), _)| !p.is_empty())
            .map(|((labels, points), drop_name)| Series {
                labels,
                points,
                drop_name,
            })
            .collect();
        Ok(Val::Vector(out))
    }

    fn aggregate_k(
        &mut self,
        op: u16,
        grouping: &Grouping<'_>,
        param: &[f64],
        input: Vec<Series>,
        g: Grid,
        pos: &str,
    ) -> EvalResult<Vec<Series>> {
        let mut group_index: HashMap<Labels, usize> = HashMap::new();
        let mut series_group = Vec::with_capacity(input.len());
        for s in &input {
            let gl = grouping.group_labels(&s.labels);
            let next = group_index.len();
            let idx = *group_index.entry(gl).or_insert(next);
            series_group.push(idx);
        }
        let ngroups = group_index.len();
        let mut builder = SeriesBuilder::new();
        let mut cursor = StepCursor::new(input.len());
        let mut vals = Vec::new();
        let mut groups: Vec<Group> = vec![Group::default(); ngroups];
        for (step, ts) in g.iter() {
            self.check()?;
            let p = param.get(step).copied().unwrap_or(f64::NAN);
            let mut k = 0usize;
            let mut ratio = 0.0;
            if op == T_LIMIT_RATIO {
                if p.is_nan() {
                    return Err(QueryError::execution("Ratio value is NaN"));
                }
                ratio = p;
                if !(-1.0..=1.0).contains(&p) {
                    ratio = p.clamp(-1.0, 1.0);
                    self.warn(format!(
                        "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}{pos}",
                        format_go_float(p),
                        format_go_float(ratio)
                    ));
                }
                if ratio == 0.0 {
                    continue;
                }
            } else {
                if p.is_nan() {
                    return Err(QueryError::execution("Parameter value is NaN"));
                }
                if !(-9.223372036854776e18..9.223372036854776e18).contains(&p) {
                    return Err(QueryError::execution(format!(
                        "Scalar value {} overflows int64",
                        format_go_float(p)
                    )));
                }
                let ki = p as i64;
                if ki < 1 {
                    continue;
                }
                k = (ki as usize).min(input.len());
            }
            cursor.values_at(&input, ts, &mut vals);
            self.hold_samples(vals.len())?;
            for grp in groups.iter_mut() {
                grp.members.clear();
                grp.seen = false;
            }
            let mut order: Vec<usize> = Vec::new();
            for &(i, f) in &vals {
                let gi = series_group[i];
                let grp = &mut groups[gi];
                if !grp.seen {
                    grp.seen = true;
                    order.push(gi);
                }
                match op {
                    T_LIMITK => {
                        if grp.members.len() < k {
                            grp.members.push((i, f));
                        }
                    }
                    T_LIMIT_RATIO => {
                        if ratio_sample(ratio, &input[i].labels) {
                            grp.members.push((i, f));
                        }
                    }
                    _ => grp.members.push((i, f)),
                }
            }
            for gi in order {
                let grp = &mut groups[gi];
                match op {
                    T_TOPK => {
                        grp.members.sort_by(|a, b| cmp_desc_nan_last(a.1, b.1));
                        grp.members.truncate(k);
                    }
                    T_BOTTOMK => {
                        grp.members.sort_by(|a, b| cmp_asc_nan_last(a.1, b.1));
                        grp.members.truncate(k);
                    }
                    _ => {}
                }
                for &(i, f) in &grp.members {
                    let s = &input[i];
                    builder.push(s.labels.clone(), s.drop_name, ts, f)?;
                }
            }
        }
        Ok(builder.finish())
    }

    fn count_values(
        &mut self,
        grouping: &Grouping<'_>,
        label: &str,
        input: Vec<Series>,
        g: Grid,
    ) -> EvalResult<Vec<Series>> {
        let mut builder = SeriesBuilder::new();
        let mut cursor = StepCursor::new(input.len());
        let mut vals = Vec::new();
        for (_, ts) in g.iter() {
            self.check()?;
            cursor.values_at(&input, ts, &mut vals);
            let mut counts: Vec<(Labels, f64)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for &(i, f) in &vals {
                let mut with_value: Vec<Label> = input[i]
                    .labels
                    .iter()
                    .filter(|l| l.name != label)
                    .cloned()
                    .collect();
                with_value.push(Label::new(label, format_go_float(f)));
                let with_value = labels_from(with_value);
                let gl = if grouping.without {
                    grouping.group_labels(&with_value)
                } else {
                    let mut names = grouping.labels.clone();
                    names.push(label);
                    Grouping {
                        without: false,
                        labels: names,
                    }
                    .group_labels(&with_value)
                };
                match index.get(&gl) {
                    Some(&j) => counts[j].1 += 1.0,
                    None => {
                        index.insert(gl.clone(), counts.len());
                        counts.push((gl, 1.0));
                    }
                }
            }
            for (labels, c) in counts {
                builder.push(labels, false, ts, c)?;
            }
        }
        Ok(builder.finish())
    }
}

/// Adds one input value to an aggregation cell (Prometheus' per-step
/// update rules, including Kahan sums and the overflow-safe mean).
fn accumulate(op: u16, grp: &mut Group, f: f64) {
    if !grp.seen {
        *grp = Group {
            seen: true,
            value: f,
            mean: f,
            count: 1.0,
            kahan: KahanSum::new(f),
            ..Group::default()
        };
        match op {
            T_STDDEV | T_STDVAR => {
                grp.value = if f.is_nan() || f.is_infinite() {
                    f64::NAN
                } else {
                    0.0
                };
            }
            T_QUANTILE => grp.values.push(f),
            T_GROUP => grp.value = 1.0,
            _ => {}
        }
        return;
    }
    match op {
        T_SUM => grp.kahan.add(f),
        T_AVG => {
            grp.count += 1.0;
            if !grp.incremental_mean {
                let mut next = grp.kahan;
                next.add(f);
                if !next.sum.is_infinite() {
                    grp.kahan = next;
                    return;
                }
                grp.incremental_mean = true;
                grp.mean = grp.kahan.sum / (grp.count - 1.0);
                grp.mean_c = grp.kahan.c / (grp.count - 1.0);
            }
            if grp.mean.is_infinite() {
                if f.is_infinite() && (grp.mean > 0.0) == (f > 0.0) {
                    return;
                }
                if !f.is_infinite() && !f.is_nan() {
                    return;
                }
            }
            let current = grp.mean + grp.mean_c;
            let mut k = KahanSum {
                sum: grp.mean,
                c: grp.mean_c,
            };
            k.add(f / grp.count - current / grp.count);
            grp.mean = k.sum;
            grp.mean_c = k.c;
        }
        T_MAX if grp.value < f || grp.value.is_nan() => grp.value = f,
        T_MIN if grp.value > f || grp.value.is_nan() => grp.value = f,
        T_COUNT => grp.count += 1.0,
        T_STDDEV | T_STDVAR => {
            grp.count += 1.0;
            let delta = f - grp.mean;
            grp.mean += delta / grp.count;
            grp.value += delta * (f - grp.mean);
        }
        T_QUANTILE => grp.values.push(f),
        _ => {}
    }
}

/// The value of a finished aggregation cell; `q` is the step's quantile.
fn finish(op: u16, grp: &mut Group, q: f64) -> f64 {
    match op {
        T_SUM => grp.kahan.value(),
        T_AVG => {
            if grp.incremental_mean {
                grp.mean + grp.mean_c
            } else {
                grp.kahan.value() / grp.count
            }
        }
        T_COUNT => grp.count,
        T_STDVAR => grp.value / grp.count,
        T_STDDEV => (grp.value / grp.count).sqrt(),
        T_QUANTILE => quantile(q, &mut grp.values),
        _ => grp.value,
    }
}

fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        other => other,
    }
}

fn cmp_desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn cmp_asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Prometheus' deterministic `limit_ratio` sampler: a series is kept when
/// its label hash, scaled to [0, 1), falls inside the ratio.
fn ratio_sample(ratio: f64, labels: &Labels) -> bool {
    let mut buf = Vec::new();
    for l in labels.iter() {
        buf.extend_from_slice(l.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(l.value.as_bytes());
        buf.push(0xff);
    }
    let h = xxhash_rust::xxh64::xxh64(&buf, 0);
    let offset = h as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}
