//! Binary operators: arithmetic, comparisons (with and without `bool`), set
//! operators and vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`, `fill*`).

use std::collections::{HashMap, HashSet};

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use vigil_model::{Label, Labels, METRIC_NAME};
use xxhash_rust::xxh3::Xxh3;

use crate::error::QueryError;
use crate::eval::{
    EvalResult, Evaluator, Grid, Series, SeriesBuilder, StepCursor, Val, labels_from,
};

/// Applies an arithmetic or comparison operator to two floats. For
/// comparisons, returns `(lhs, keep)`.
pub(crate) fn apply_op(op: u16, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (go_mod(l, r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// Go's `math.Mod`: result has the sign of `x`.
pub(crate) fn go_mod(x: f64, y: f64) -> f64 {
    if y == 0.0 || x.is_infinite() || x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    x % y
}

fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

fn drops_name(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// How two vectors are matched.
struct Matching<'e> {
    on: bool,
    labels: Vec<&'e str>,
    card: &'e VectorMatchCardinality,
    include: Vec<&'e str>,
}

impl Matching<'_> {
    fn signature(&self, labels: &Labels) -> u64 {
        let mut h = Xxh3::new();
        for l in labels.iter() {
            let used = if self.on {
                self.labels.contains(&l.name.as_str())
            } else {
                l.name != METRIC_NAME && !self.labels.contains(&l.name.as_str())
            };
            if used {
                h.update(l.name.as_bytes());
                h.update(&[0xff]);
                h.update(l.value.as_bytes());
                h.update(&[0xff]);
            }
        }
        h.digest()
    }

    /// The labels the signature is computed from (Prometheus' `MatchLabels`).
    fn matched_labels(&self, labels: &Labels) -> Labels {
        let kept: Vec<Label> = labels
            .iter()
            .filter(|l| {
                if self.on {
                    self.labels.contains(&l.name.as_str())
                } else {
                    l.name != METRIC_NAME && !self.labels.contains(&l.name.as_str())
                }
            })
            .cloned()
            .collect();
        labels_from(kept)
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(&mut self, b: &BinaryExpr, g: Grid) -> EvalResult<Val> {
        let op = b.op.id();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, g)?;
        let rhs = self.eval(&b.rhs, g)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let out = l
                    .iter()
                    .zip(r.iter())
                    .map(|(&a, &b)| {
                        let (v, keep) = apply_op(op, a, b);
                        if is_comparison(op) {
                            if keep { 1.0 } else { 0.0 }
                        } else {
                            v
                        }
                    })
                    .collect();
                Ok(Val::Scalar(out))
            }
            (Val::Vector(v), Val::Scalar(s)) => {
                Ok(Val::Vector(vector_scalar(op, v, &s, false, return_bool, g)))
            }
            (Val::Scalar(s), Val::Vector(v)) => {
                Ok(Val::Vector(vector_scalar(op, v, &s, true, return_bool, g)))
            }
            (Val::Vector(l), Val::Vector(r)) => self.vector_vector(b, op, return_bool, l, r, g),
            _ => Err(QueryError::bad_data(
                "binary expression must contain only scalar and instant vector types",
            )),
        }
    }

    fn vector_vector(
        &mut self,
        b: &BinaryExpr,
        op: u16,
        return_bool: bool,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        g: Grid,
    ) -> EvalResult<Val> {
        let default_card = if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
            VectorMatchCardinality::ManyToMany
        } else {
            VectorMatchCardinality::OneToOne
        };
        let (card, on, labels) = match &b.modifier {
            Some(m) => {
                let card = if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
                    &default_card
                } else {
                    &m.card
                };
                match &m.matching {
                    Some(LabelModifier::Include(ls)) => {
                        (card, true, ls.labels.iter().map(String::as_str).collect())
                    }
                    Some(LabelModifier::Exclude(ls)) => {
                        (card, false, ls.labels.iter().map(String::as_str).collect())
                    }
                    None => (card, false, Vec::new()),
                }
            }
            None => (&default_card, false, Vec::new()),
        };
        let include: Vec<&str> = card
            .labels()
            .map(|l| l.labels.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let matching = Matching {
            on,
            labels,
            card,
            include,
        };
        let fill = b
            .modifier
            .as_ref()
            .map(|m| m.fill_values.clone())
            .unwrap_or_default();

        let lsig: Vec<u64> = lhs.iter().map(|s| matching.signature(&s.labels)).collect();
        let rsig: Vec<u64> = rhs.iter().map(|s| matching.signature(&s.labels)).collect();
        let mut lcur = StepCursor::new(lhs.len());
        let mut rcur = StepCursor::new(rhs.len());
        let (mut lv, mut rv) = (Vec::new(), Vec::new());
        let mut builder = SeriesBuilder::new();
        let mut result_labels: HashMap<(usize, usize), Labels> = HashMap::new();

        for (_, ts) in g.iter() {
            self.check()?;
            lcur.values_at(&lhs, ts, &mut lv);
            rcur.values_at(&rhs, ts, &mut rv);
            match op {
                T_LAND => {
                    if lv.is_empty() || rv.is_empty() {
                        continue;
                    }
                    let right: HashSet<u64> = rv.iter().map(|&(i, _)| rsig[i]).collect();
                    for &(i, v) in &lv {
                        if right.contains(&lsig[i]) {
                            let s = &lhs[i];
                            builder.push(s.labels.clone(), s.drop_name, ts, v)?;
                        }
                    }
                }
                T_LOR => {
                    let left: HashSet<u64> = lv.iter().map(|&(i, _)| lsig[i]).collect();
                    for &(i, v) in &lv {
                        let s = &lhs[i];
                        builder.push(s.labels.clone(), s.drop_name, ts, v)?;
                    }
                    for &(j, v) in &rv {
                        if !left.contains(&rsig[j]) {
                            let s = &rhs[j];
                            builder.push(s.labels.clone(), s.drop_name, ts, v)?;
                        }
                    }
                }
                T_LUNLESS => {
                    let right: HashSet<u64> = rv.iter().map(|&(i, _)| rsig[i]).collect();
                    for &(i, v) in &lv {
                        if !right.contains(&lsig[i]) {
                            let s = &lhs[i];
                            builder.push(s.labels.clone(), s.drop_name, ts, v)?;
                        }
                    }
                }
                _ => self.binop_step(
                    op,
                    return_bool,
                    &matching,
                    &fill,
                    (&lhs, &lsig, &lv),
                    (&rhs, &rsig, &rv),
                    ts,
                    &mut builder,
                    &mut result_labels,
                )?,
            }
        }
        Ok(Val::Vector(builder.finish()))
    }

    #[allow(clippy::too_many_arguments)]
    fn binop_step(
        &mut self,
        op: u16,
        return_bool: bool,
        matching: &Matching<'_>,
        fill: &promql_parser::parser::VectorMatchFillValues,
        left: (&[Series], &[u64], &[(usize, f64)]),
        right: (&[Series], &[u64], &[(usize, f64)]),
        ts: i64,
        builder: &mut SeriesBuilder,
        cache: &mut HashMap<(usize, usize), Labels>,
    ) -> EvalResult<()> {
        let one_to_many = matches!(matching.card, VectorMatchCardinality::OneToMany(_));
        let one_to_one = matches!(matching.card, VectorMatchCardinality::OneToOne);
        let (lv, rv) = (left.2, right.2);
        if (lv.is_empty() && rv.is_empty())
            || ((lv.is_empty() || rv.is_empty()) && fill.rhs.is_none() && fill.lhs.is_none())
        {
            return Ok(());
        }
        // After the swap, `many` holds every series of its side and `one`
        // must be unique per signature.
        let (many, one) = if one_to_many {
            (right, left)
        } else {
            (left, right)
        };
        let (many_series, many_sig, many_vals) = many;
        let (one_series, one_sig, one_vals) = one;
        let mut one_by_sig: HashMap<u64, (usize, f64)> = HashMap::with_capacity(one_vals.len());
        for &(j, v) in one_vals {
            let sig = one_sig[j];
            if let Some(&(dup, _)) = one_by_sig.get(&sig) {
                let side = if one_to_many { "left" } else { "right" };
                let (mut a, mut b) = (
                    one_series[j].labels.to_string(),
                    one_series[dup].labels.to_string(),
                );
                if a > b {
                    std::mem::swap(&mut a, &mut b);
                }
                return Err(QueryError::execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side",
                    matching.matched_labels(&one_series[j].labels),
                )));
            }
            one_by_sig.insert(sig, (j, v));
        }
        // (one-to-one matched signatures, many-to-one result labels per signature)
        let mut matched: (HashSet<u64>, HashMap<u64, HashSet<Labels>>) =
            (HashSet::new(), HashMap::new());
        // One element operation; `l`/`r` are the (labels, value) of the
        // (swapped) many and one side.
        let mut do_binop = |matched: &mut (HashSet<u64>, HashMap<u64, HashSet<Labels>>),
                            l_labels: &Labels,
                            lval: f64,
                            r_labels: &Labels,
                            rval: f64,
                            sig: u64,
                            cache_key: Option<(usize, usize)>|
         -> EvalResult<()> {
            let (fl, fr) = if one_to_many {
                (rval, lval)
            } else {
                (lval, rval)
            };
            let (mut value, keep) = apply_op(op, fl, fr);
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
            }
            let labels = match cache_key {
                Some(key) => cache
                    .entry(key)
                    .or_insert_with(|| result_metric(l_labels, r_labels, op, matching))
                    .clone(),
                None => result_metric(l_labels, r_labels, op, matching),
            };
            if one_to_one {
                if !matched.0.insert(sig) {
                    return Err(QueryError::execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
            } else if !matched.1.entry(sig).or_default().insert(labels.clone()) {
                return Err(QueryError::execution(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                ));
            }
            if !keep && !return_bool {
                return Ok(());
            }
            builder.push(labels, return_bool, ts, value)
        };
        for &(i, mv) in many_vals {
            let sig = many_sig[i];
            match one_by_sig.get(&sig) {
                Some(&(j, ov)) => do_binop(
                    &mut matched,
                    &many_series[i].labels,
                    mv,
                    &one_series[j].labels,
                    ov,
                    sig,
                    Some((i, j)),
                )?,
                None => {
                    let Some(f) = fill.rhs else { continue };
                    let filled = matching.matched_labels(&many_series[i].labels);
                    do_binop(
                        &mut matched,
                        &many_series[i].labels,
                        mv,
                        &filled,
                        f,
                        sig,
                        None,
                    )?;
                }
            }
        }
        if let Some(f) = fill.lhs {
            for &(j, ov) in one_vals {
                let sig = one_sig[j];
                let done = if one_to_one {
                    matched.0.contains(&sig)
                } else {
                    matched.1.get(&sig).is_some_and(|s| !s.is_empty())
                };
                if done {
                    continue;
                }
                let filled = matching.matched_labels(&one_series[j].labels);
                do_binop(
                    &mut matched,
                    &filled,
                    f,
                    &one_series[j].labels,
                    ov,
                    sig,
                    None,
                )?;
            }
        }
        Ok(())
    }
}

/// The labels of a vector/vector result (Prometheus' `resultMetric`).
fn result_metric(many: &Labels, one: &Labels, op: u16, m: &Matching<'_>) -> Labels {
    let mut out: Vec<Label> = many
        .iter()
        .filter(|l| !(drops_name(op) && crate::eval::is_metadata_label(&l.name)))
        .filter(|l| {
            if !matches!(m.card, VectorMatchCardinality::OneToOne) {
                return true;
            }
            if m.on {
                m.labels.contains(&l.name.as_str())
            } else {
                !m.labels.contains(&l.name.as_str())
            }
        })
        .cloned()
        .collect();
    for name in &m.include {
        out.retain(|l| l.name != *name);
        if let Some(v) = one.get(name) {
            out.push(Label::new(*name, v));
        }
    }
    labels_from(out)
}

fn vector_scalar(
    op: u16,
    series: Vec<Series>,
    scalar: &[f64],
    scalar_left: bool,
    return_bool: bool,
    g: Grid,
) -> Vec<Series> {
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        let mut points = Vec::with_capacity(s.points.len());
        for p in &s.points {
            let idx = ((p.t_ms - g.start) / g.step) as usize;
            let sv = scalar.get(idx).copied().unwrap_or(f64::NAN);
            let (l, r) = if scalar_left { (sv, p.v) } else { (p.v, sv) };
            let (mut value, keep) = apply_op(op, l, r);
            if is_comparison(op) && scalar_left {
                value = p.v;
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            points.push(crate::value::Point {
                t_ms: p.t_ms,
                v: value,
            });
        }
        if drops_name(op) || return_bool {
            s.drop_name = true;
        }
        if !points.is_empty() {
            s.points = points;
            out.push(s);
        }
    }
    out
}
