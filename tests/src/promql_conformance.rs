//! Runs Prometheus' PromQL test scripts (`*.test`, see the shared FORMAT.md)
//! against Vigil's engine on the in-memory storage, including upstream's
//! extra checks of every instant eval (`@`-pinned re-runs and range mode).

use std::collections::HashSet;
use std::time::{Duration, Instant, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr};
use vigil_model::{Labels, Sample, TenantId, stale_nan};
use vigil_promql::parser::{ParseContext, parse};
use vigil_promql::{Engine, EngineOptions, QueryError, QueryOptions, QueryResult, Value};
use vigil_storage::memory::MemStorage;
use vigil_storage::{AppendOptions, Appendable};

use crate::promql_script::{
    Command, Eval, EvalKind, Expected, MessageMatch, Point, SeriesLine, parse_script,
};

/// Files whose float-only evals form the "core float" group.
pub const CORE_FILES: &[&str] = &[
    "aggregators.test",
    "at_modifier.test",
    "collision.test",
    "functions.test",
    "histograms.test",
    "literals.test",
    "name_label_dropping.test",
    "operators.test",
    "range_queries.test",
    "selectors.test",
    "staleness.test",
    "subquery.test",
    "trig_functions.test",
];

/// The three groups results are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    CoreFloat,
    ExperimentalFloat,
    NativeHistograms,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::CoreFloat => "core float",
            Group::ExperimentalFloat => "experimental float",
            Group::NativeHistograms => "native histograms",
        }
    }
}

/// Outcome of one eval.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    pub file: String,
    pub line: usize,
    pub expr: String,
    pub group: Group,
    /// `None` when passed, else why it failed.
    pub failure: Option<String>,
}

const TENANT: &str = "conformance";

fn engine() -> Engine {
    Engine::new(EngineOptions {
        lookback_delta_ms: 5 * 60 * 1000,
        max_samples: 10_000,
        timeout: Duration::from_secs(100),
        default_subquery_step_ms: 60 * 1000,
    })
}

/// Runs one script; returns one outcome per eval.
pub fn run_file(name: &str, text: &str) -> Result<Vec<EvalOutcome>, String> {
    let commands = parse_script(text).map_err(|e| format!("{name}: {e}"))?;
    let core = CORE_FILES.contains(&name);
    let engine = engine();
    let tenant = TenantId::new(TENANT).map_err(|e| e.to_string())?;
    let mut storage = MemStorage::new();
    let mut nh_metrics: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for cmd in commands {
        match cmd {
            Command::Clear => {
                storage = MemStorage::new();
                nh_metrics.clear();
            }
            Command::Load {
                interval_ms,
                with_nhcb,
                series,
            } => load(
                &storage,
                &tenant,
                interval_ms,
                with_nhcb,
                &series,
                &mut nh_metrics,
            )?,
            Command::Eval(eval) => {
                let nh = is_native_histogram_eval(&eval, &nh_metrics);
                let group = if nh {
                    Group::NativeHistograms
                } else if core {
                    Group::CoreFloat
                } else {
                    Group::ExperimentalFloat
                };
                let failure = run_eval(&engine, &storage, &tenant, &eval).err();
                out.push(EvalOutcome {
                    file: name.to_string(),
                    line: eval.line,
                    expr: eval.expr.clone(),
                    group,
                    failure,
                });
            }
        }
    }
    Ok(out)
}

fn labels_of(line: &SeriesLine) -> Result<Labels, String> {
    Labels::try_from_pairs(line.labels.iter().cloned()).map_err(|e| e.to_string())
}

fn metric_name(line: &SeriesLine) -> Option<&str> {
    line.labels
        .iter()
        .find(|(n, _)| n == "__name__")
        .map(|(_, v)| v.as_str())
}

fn load(
    storage: &MemStorage,
    tenant: &TenantId,
    interval_ms: i64,
    with_nhcb: bool,
    series: &[SeriesLine],
    nh_metrics: &mut HashSet<String>,
) -> Result<(), String> {
    // Within one load block, a later line with the same labels replaces an earlier one.
    let mut lines: Vec<(Labels, &SeriesLine)> = Vec::new();
    for line in series.iter().filter(|l| !l.start_timestamps) {
        let labels = labels_of(line)?;
        lines.retain(|(l, _)| *l != labels);
        lines.push((labels, line));
    }
    for (labels, line) in lines {
        let name = metric_name(line).unwrap_or("");
        let has_histograms = line
            .points
            .iter()
            .any(|p| matches!(p, Point::Histogram(_) | Point::HistogramExpansion { .. }));
        if has_histograms {
            nh_metrics.insert(name.to_string());
        }
        if with_nhcb {
            nh_metrics.insert(name.to_string());
            for suffix in ["_bucket", "_count", "_sum"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    nh_metrics.insert(base.to_string());
                }
            }
        }
        let mut app = storage.appender(tenant, AppendOptions::default());
        for (i, p) in line.points.iter().enumerate() {
            let t = i as i64 * interval_ms;
            let v = match p {
                Point::Float(v) => *v,
                _ => continue,
            };
            let v = if vigil_model::is_stale_nan(v) {
                stale_nan()
            } else {
                v
            };
            app.append_sample(&labels, Sample::new(t, v))
                .map_err(|e| e.to_string())?;
        }
        futures::executor::block_on(app.commit()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn is_native_histogram_eval(eval: &Eval, nh_metrics: &HashSet<String>) -> bool {
    if eval.expr.contains("{{") {
        return true;
    }
    if let Expected::Series(lines) = &eval.expected
        && lines.iter().any(|l| {
            l.points
                .iter()
                .any(|p| matches!(p, Point::Histogram(_) | Point::HistogramExpansion { .. }))
        })
    {
        return true;
    }
    nh_metrics.iter().any(|m| contains_word(&eval.expr, m))
}

fn contains_word(haystack: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut start = 0;
    while let Some(pos) = haystack[start..].find(word) {
        let at = start + pos;
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + word.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return true;
        }
        start = at + word.len();
    }
    false
}

/// Functions whose result depends on the evaluation time, which upstream
/// excludes from the `@` re-run check.
const AT_UNSAFE: &[&str] = &[
    "time",
    "timestamp",
    "predict_linear",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "start",
    "end",
    "range",
    "step",
];

fn calls_any(expr: &str, names: &[&str]) -> bool {
    names.iter().any(|n| {
        let mut start = 0;
        while let Some(pos) = expr[start..].find(n) {
            let at = start + pos;
            let before = expr[..at].chars().next_back();
            let rest = expr[at + n.len()..].trim_start();
            let ident_before =
                before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            if !ident_before && rest.starts_with('(') {
                return true;
            }
            start = at + n.len();
        }
        false
    })
}

fn run_eval(
    engine: &Engine,
    storage: &MemStorage,
    tenant: &TenantId,
    eval: &Eval,
) -> Result<(), String> {
    let opts = QueryOptions::default();
    match eval.kind {
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let res = engine.range_query(
                storage, tenant, &eval.expr, start_ms, end_ms, step_ms, &opts,
            );
            check_result(eval, res, Some((start_ms, end_ms, step_ms)), true)
        }
        EvalKind::Instant { at_ms } => {
            let res = engine.instant_query(storage, tenant, &eval.expr, at_ms, &opts);
            let range = eval.expect.range_vector;
            check_result(eval, res, range, false)?;
            if eval.expect.fail.is_some() {
                return Ok(());
            }
            // Upstream's extra checks.
            let ctx = ParseContext {
                start_ms: at_ms,
                end_ms: at_ms,
                step_ms: 0,
            };
            let mut expr = parse(&eval.expr, &ctx).map_err(|e| format!("parse: {e}"))?;
            let at_safe = !calls_any(&eval.expr, AT_UNSAFE);
            if at_safe {
                pin_at(&mut expr, at_ms, false);
                let times: Vec<i64> = if at_ms == 0 {
                    vec![-1000, 0, 1000]
                } else {
                    vec![-10 * at_ms, 0, at_ms / 5, at_ms, 10 * at_ms]
                };
                for t in times {
                    let text = expr.to_string();
                    let res = engine.eval_expr(
                        storage,
                        tenant,
                        &expr,
                        &text,
                        t,
                        t,
                        0,
                        &opts,
                        true,
                        Instant::now(),
                    );
                    check_result(eval, res, range, false)
                        .map_err(|e| format!("with @ {at_ms} evaluated at {t}: {e}"))?;
                }
            }
            let range_excluded = eval.expect.ordered
                || eval.expect.range_vector.is_some()
                || eval.expect.string.is_some()
                || calls_any(&eval.expr, &["start", "end", "range", "step"]);
            if !range_excluded {
                let text = if at_safe {
                    expr.to_string()
                } else {
                    eval.expr.clone()
                };
                let res = engine.eval_expr(
                    storage,
                    tenant,
                    &expr,
                    &text,
                    at_ms - 60_000,
                    at_ms + 60_000,
                    60_000,
                    &opts,
                    false,
                    Instant::now(),
                );
                let res = res.map(|mut r| {
                    r.value = point_at(r.value, at_ms, &eval.expected);
                    r
                });
                check_result(eval, res, None, false).map_err(|e| format!("in range mode: {e}"))?;
            }
            Ok(())
        }
    }
}

/// Extracts the points at `t` of a range result as an instant result.
fn point_at(v: Value, t: i64, expected: &Expected) -> Value {
    match v {
        Value::Matrix(series) => {
            if matches!(expected, Expected::Scalar(_)) {
                let v = series
                    .first()
                    .and_then(|s| s.points.iter().find(|p| p.t_ms == t))
                    .map_or(f64::NAN, |p| p.v);
                return Value::Scalar { t_ms: t, v };
            }
            Value::Vector(
                series
                    .into_iter()
                    .filter_map(|s| {
                        s.points
                            .iter()
                            .find(|p| p.t_ms == t)
                            .map(|p| vigil_promql::InstantSample {
                                labels: s.labels.clone(),
                                t_ms: t,
                                v: p.v,
                            })
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

/// Adds `@ t` to every selector and subquery without one, not descending
/// into subqueries that already have one.
fn pin_at(expr: &mut Expr, t: i64, inside_pinned: bool) {
    let at = || {
        let time = if t >= 0 {
            UNIX_EPOCH + Duration::from_millis(t as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(t.unsigned_abs())
        };
        Some(AtModifier::At(time))
    };
    match expr {
        Expr::VectorSelector(vs) => {
            if vs.at.is_none() && !inside_pinned {
                vs.at = at();
            }
        }
        Expr::MatrixSelector(ms) => {
            if ms.vs.at.is_none() && !inside_pinned {
                ms.vs.at = at();
            }
        }
        Expr::Subquery(sq) => {
            let pinned = inside_pinned || sq.at.is_some();
            if sq.at.is_none() && !inside_pinned {
                sq.at = at();
            }
            pin_at(&mut sq.expr, t, pinned || sq.at.is_some());
        }
        Expr::Aggregate(a) => {
            pin_at(&mut a.expr, t, inside_pinned);
            if let Some(p) = &mut a.param {
                pin_at(p, t, inside_pinned);
            }
        }
        Expr::Unary(u) => pin_at(&mut u.expr, t, inside_pinned),
        Expr::Binary(b) => {
            pin_at(&mut b.lhs, t, inside_pinned);
            pin_at(&mut b.rhs, t, inside_pinned);
        }
        Expr::Paren(p) => pin_at(&mut p.expr, t, inside_pinned),
        Expr::Call(c) => {
            for a in &mut c.args.args {
                pin_at(a, t, inside_pinned);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn message_matches(m: &MessageMatch, text: &str) -> bool {
    match m {
        MessageMatch::Exact(s) => s == text,
        MessageMatch::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(text)),
    }
}

fn check_annotations(
    kind: &str,
    expected: &[Option<MessageMatch>],
    forbid: bool,
    got: &[String],
) -> Result<(), String> {
    if forbid && !got.is_empty() {
        return Err(format!("expected no {kind}, got {got:?}"));
    }
    if expected.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!("expected a {kind}, got none"));
    }
    for e in expected.iter().flatten() {
        if !got.iter().any(|g| message_matches(e, g)) {
            return Err(format!("expected {kind} {e:?}, got {got:?}"));
        }
    }
    if expected.iter().all(Option::is_some) {
        for g in got {
            if !expected.iter().flatten().any(|e| message_matches(e, g)) {
                return Err(format!("unexpected {kind} {g:?}"));
            }
        }
    }
    Ok(())
}

fn check_result(
    eval: &Eval,
    res: Result<QueryResult, QueryError>,
    range: Option<(i64, i64, i64)>,
    range_query: bool,
) -> Result<(), String> {
    if let Some(fail) = &eval.expect.fail {
        return match res {
            Ok(_) => Err("expected the query to fail, it succeeded".into()),
            Err(e) => match fail {
                Some(m) if !message_matches(m, &e.message) => {
                    Err(format!("failed with {:?}, expected {m:?}", e.message))
                }
                _ => Ok(()),
            },
        };
    }
    let res = res.map_err(|e| format!("unexpected error: {}", e.message))?;
    check_annotations(
        "warning",
        &eval.expect.warn,
        eval.expect.no_warn,
        &res.warnings,
    )?;
    check_annotations("info", &eval.expect.info, eval.expect.no_info, &res.infos)?;
    if let Some(s) = &eval.expect.string {
        return match &res.value {
            Value::String { s: got, .. } if got == s => Ok(()),
            other => Err(format!("expected string {s:?}, got {other:?}")),
        };
    }
    match (&eval.expected, &res.value) {
        (Expected::Scalar(want), Value::Scalar { v, .. }) => {
            if almost_equal(*want, *v) {
                Ok(())
            } else {
                Err(format!("expected scalar {want}, got {v}"))
            }
        }
        (Expected::Scalar(want), Value::Matrix(m)) if range_query => {
            // A scalar range result is a matrix with one {} series.
            let ok = m.len() == 1 && m[0].points.iter().all(|p| almost_equal(*want, p.v));
            if ok {
                Ok(())
            } else {
                Err(format!("expected scalar {want}, got {m:?}"))
            }
        }
        (Expected::Scalar(_), other) => {
            Err(format!("expected a scalar, got {}", other.type_name()))
        }
        (Expected::Series(lines), Value::Vector(samples)) if range.is_none() && !range_query => {
            compare_vector(lines, samples, eval.expect.ordered)
        }
        (Expected::Series(lines), Value::Matrix(m)) => {
            let (start, _end, step) = match (range, eval.kind) {
                (Some(r), _) => r,
                (
                    None,
                    EvalKind::Range {
                        start_ms,
                        end_ms,
                        step_ms,
                    },
                ) => (start_ms, end_ms, step_ms),
                (None, EvalKind::Instant { .. }) => {
                    return Err("expected an instant vector, got a matrix".into());
                }
            };
            compare_matrix(lines, m, start, step)
        }
        (Expected::Series(_), Value::Scalar { v, .. }) if !range_query => {
            Err(format!("expected a vector, got scalar {v}"))
        }
        (Expected::Series(_), other) => {
            Err(format!("unexpected result type {}", other.type_name()))
        }
    }
}

fn almost_equal(a: f64, b: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    let (sa, sb) = (vigil_model::is_stale_nan(a), vigil_model::is_stale_nan(b));
    if sa || sb {
        return sa && sb;
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < 1e-6 * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < 1e-6
}

fn compare_vector(
    lines: &[SeriesLine],
    got: &[vigil_promql::InstantSample],
    ordered: bool,
) -> Result<(), String> {
    if lines.len() != got.len() {
        return Err(format!(
            "expected {} series, got {}: {:?}",
            lines.len(),
            got.len(),
            got.iter()
                .map(|s| format!("{} {}", s.labels, s.v))
                .collect::<Vec<_>>()
        ));
    }
    for (k, line) in lines.iter().enumerate() {
        let labels = labels_of(line)?;
        let want = match line.points.as_slice() {
            [Point::Float(v)] => *v,
            [Point::Histogram(_)] | [Point::HistogramExpansion { .. }] => {
                return Err("expected a histogram sample".into());
            }
            other => return Err(format!("expected one value for {labels}, found {other:?}")),
        };
        let found = if ordered {
            got.get(k).filter(|s| s.labels == labels)
        } else {
            got.iter().find(|s| s.labels == labels)
        };
        match found {
            None => {
                return Err(format!(
                    "missing series {labels}{} in {:?}",
                    if ordered { " (at this position)" } else { "" },
                    got.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>()
                ));
            }
            Some(s) if !almost_equal(want, s.v) => {
                return Err(format!("{labels}: expected {want}, got {}", s.v));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn compare_matrix(
    lines: &[SeriesLine],
    got: &[vigil_promql::RangeSeries],
    start: i64,
    step: i64,
) -> Result<(), String> {
    if got.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("matrix is not sorted by labels".into());
    }
    if lines.len() != got.len() {
        return Err(format!(
            "expected {} series, got {}: {:?}",
            lines.len(),
            got.len(),
            got.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>()
        ));
    }
    for line in lines {
        let labels = labels_of(line)?;
        let s = got
            .iter()
            .find(|s| s.labels == labels)
            .ok_or_else(|| format!("missing series {labels}"))?;
        let mut want: Vec<(i64, f64)> = Vec::new();
        for (i, p) in line.points.iter().enumerate() {
            let t = start + i as i64 * step;
            match p {
                Point::Omitted => {}
                Point::Float(v) => want.push((t, *v)),
                _ => return Err("expected a histogram sample".into()),
            }
        }
        if want.len() != s.points.len() {
            return Err(format!(
                "{labels}: expected {} points {want:?}, got {} {:?}",
                want.len(),
                s.points.len(),
                s.points.iter().map(|p| (p.t_ms, p.v)).collect::<Vec<_>>()
            ));
        }
        for ((t, v), p) in want.iter().zip(&s.points) {
            if *t != p.t_ms || !almost_equal(*v, p.v) {
                return Err(format!(
                    "{labels}: expected ({t}, {v}), got ({}, {})",
                    p.t_ms, p.v
                ));
            }
        }
    }
    Ok(())
}

/// Where the upstream scripts are: `$VIGIL_PROMQL_TESTDATA`, else
/// `../shared/conformance/promql/testdata` beside the repository. `None`
/// (with a printed reason) when absent; with `VIGIL_REQUIRE_CONFORMANCE=1`
/// (set by CI) absence is a test failure instead.
pub fn testdata_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var("VIGIL_PROMQL_TESTDATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/conformance/promql/testdata"
            ))
        });
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "PromQL conformance scripts not found at {} (set VIGIL_PROMQL_TESTDATA)",
        dir.display()
    );
    assert!(
        std::env::var("VIGIL_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
        "{msg}, and VIGIL_REQUIRE_CONFORMANCE=1"
    );
    println!("SKIPPED: {msg}");
    None
}
