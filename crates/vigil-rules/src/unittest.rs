//! `vigil rules test`: runs `promtool test rules` files unchanged, with promtool's semantics
//! (in-memory storage, groups evaluated at `0, interval, 2×interval … max(eval_time)`, alert
//! checks against the evaluation at the largest step `<= eval_time`, alerts marked restored)
//! and its verdicts and failure texts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use serde::Deserialize;
use vigil_model::{
    Label, Labels, Sample, TenantId, format_duration_ms, parse_duration_ms, stale_nan,
};
use vigil_promql::Engine;
use vigil_storage::memory::MemStorage;
use vigil_storage::{AppendOptions, Appendable, Queryable};

use crate::alert::AlertState;
use crate::eval::{PromqlEvaluator, QueryEvaluator};
use crate::file::{ParseOptions, parse_rule_file};
use crate::group::{Group, GroupEnv};
use crate::template::format::go_float_e;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// The verdict of one test file: `None` for success, else the failure texts in promtool's words.
pub fn run_test_file(path: &Path) -> Option<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => return Some(vec![format!("open {}: {err}", path.display())]),
    };
    let file: TestFile = match serde_norway::from_str(&text) {
        Ok(file) => file,
        Err(err) => return Some(vec![err.to_string()]),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let rule_files = match resolve_rule_files(base, &file.rule_files) {
        Ok(files) => files,
        Err(err) => return Some(vec![err]),
    };
    let eval_interval_ms = match file.evaluation_interval.as_deref() {
        None | Some("") | Some("0") => 60_000,
        Some(d) => match parse_duration_ms(d) {
            Ok(ms) if ms > 0 => ms,
            Ok(_) => 60_000,
            Err(_) => return Some(vec![format!("not a valid duration string: {d:?}")]),
        },
    };
    let mut order: HashMap<String, usize> = HashMap::new();
    for (i, name) in file.group_eval_order.iter().enumerate() {
        if order.insert(name.clone(), i).is_some() {
            return Some(vec![format!(
                "group name repeated in evaluation order: {name}"
            )]);
        }
    }
    let mut errors = Vec::new();
    for test in &file.tests {
        errors.extend(run_group(test, eval_interval_ms, &order, &rule_files));
    }
    (!errors.is_empty()).then_some(errors)
}

fn resolve_rule_files(base: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let text = full.to_string_lossy().to_string();
        let matches = glob::glob(&text).map_err(|err| format!("{pattern}: {err}"))?;
        let mut found: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
        if found.is_empty() && !text.contains(['*', '?', '[']) {
            found.push(full);
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Go's `time.Duration.String()` for whole milliseconds (`0s`, `5m0s`, `1h0m30s`, `1.5s`).
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = (ms / 60_000) % 60;
    let seconds = (ms / 1000) % 60;
    let frac = ms % 1000;
    let mut secs = seconds.to_string();
    if frac > 0 {
        let mut f = format!("{frac:03}");
        while f.ends_with('0') {
            f.pop();
        }
        secs = format!("{seconds}.{f}");
    }
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

fn duration(text: &str) -> Result<i64, String> {
    parse_duration_ms(text).map_err(|_| format!("not a valid duration string: {text:?}"))
}

/// Parses a series selector like `up{job="a"}` into labels.
pub(crate) fn parse_metric(text: &str) -> Result<Labels, String> {
    let expr = promql_parser::parser::parse(text)?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!("{text:?} is not a series selector"));
    };
    let mut labels = Vec::new();
    if let Some(name) = vs.name {
        labels.push(Label::new("__name__", name));
    }
    for m in vs.matchers.matchers {
        if m.op != MatchOp::Equal {
            return Err(format!("only equality matchers are allowed in {text:?}"));
        }
        if m.name == "__name__" && labels.iter().any(|l: &Label| l.name == "__name__") {
            continue;
        }
        labels.push(Label::new(m.name, m.value));
    }
    Labels::from_unsorted_unique(labels).map_err(|err| err.to_string())
}

fn parse_number(text: &str) -> Option<f64> {
    match text {
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// Expands promtool's series notation: `a`, `axN`, `a+bxN`, `a-bxN`, `_`, `_xN`, `stale`.
/// `None` entries are omitted samples.
pub(crate) fn expand_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let bad = || format!("invalid series value {token:?}");
        if token == "_" {
            out.push(None);
            continue;
        }
        if token == "stale" {
            out.push(Some(stale_nan()));
            continue;
        }
        let (head, times) = match token.rsplit_once('x') {
            Some((head, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                (head, Some(n.parse::<usize>().map_err(|_| bad())?))
            }
            _ => (token, None),
        };
        if head == "_" {
            let n = times.ok_or_else(bad)?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        let bytes = head.as_bytes();
        let op_at = (1..bytes.len()).find(|&i| {
            (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E')
        });
        let (start, step) = match op_at {
            Some(i) => {
                let start = parse_number(&head[..i]).ok_or_else(bad)?;
                let step = parse_number(&head[i..]).ok_or_else(bad)?;
                (start, step)
            }
            None => (parse_number(head).ok_or_else(bad)?, 0.0),
        };
        match times {
            None if op_at.is_some() => return Err(bad()),
            None => out.push(Some(start)),
            Some(n) => {
                let mut v = start;
                for _ in 0..=n {
                    out.push(Some(v));
                    v += step;
                }
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LabelsAndAnnotations {
    labels: Labels,
    annotations: Labels,
}

fn to_labels(map: &BTreeMap<String, String>) -> Labels {
    Labels::from_unsorted_unique(
        map.iter()
            .map(|(k, v)| Label::new(k.clone(), v.clone()))
            .collect(),
    )
    .unwrap_or_default()
}

fn indent_lines(lines: &str, indentation: &str) -> String {
    let parts: Vec<&str> = lines.split('\n').collect();
    let mut out = String::new();
    for (i, line) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(indentation);
        }
        out.push_str(line);
        if i != parts.len() - 1 {
            out.push('\n');
        }
    }
    out
}

fn alerts_string(list: &[LabelsAndAnnotations]) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let one =
        |la: &LabelsAndAnnotations| format!("Labels:{}\nAnnotations:{}", la.labels, la.annotations);
    let mut s = format!(
        "[\n0:{}",
        indent_lines(&format!("\n{}", one(&list[0])), "  ")
    );
    for (i, la) in list[1..].iter().enumerate() {
        s.push_str(&format!(
            ",\n{}:{}",
            i + 1,
            indent_lines(&format!("\n{}", one(la)), "  ")
        ));
    }
    s.push_str("\n]");
    s
}

fn samples_string(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    samples
        .iter()
        .map(|(l, v)| format!("{l} {}", go_float_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_group(
    test: &TestGroup,
    eval_interval_ms: i64,
    order: &HashMap<String, usize>,
    rule_files: &[PathBuf],
) -> Vec<String> {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(err) => return vec![format!("cannot start a runtime: {err}")],
    };
    let input_interval_ms = match test.interval.as_deref() {
        None | Some("") | Some("0") => eval_interval_ms,
        Some(d) => match duration(d) {
            Ok(ms) => ms,
            Err(err) => return vec![err],
        },
    };
    let storage = MemStorage::new();
    let tenant = match TenantId::new("promtool") {
        Ok(t) => t,
        Err(err) => return vec![err.to_string()],
    };
    let queryable: Arc<dyn Queryable> = Arc::new(storage.clone());
    let evaluator = Arc::new(PromqlEvaluator::new(Engine::default(), queryable.clone()));
    let env = GroupEnv {
        tenant: tenant.clone(),
        appendable: Arc::new(storage.clone()),
        queryable,
        promql: evaluator.clone(),
        logql: None,
        external_labels: test.external_labels.clone(),
        external_url: test.external_url.clone(),
        for_grace_period_ms: 10 * 60_000,
        outage_tolerance_ms: 60 * 60_000,
        resend_delay_ms: 60_000,
        runtime: runtime.handle().clone(),
    };

    // Load the rule files.
    let mut groups: Vec<Group> = Vec::new();
    let mut load_errors = Vec::new();
    for path in rule_files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(err) => {
                load_errors.push(format!("{}: {err}", path.display()));
                continue;
            }
        };
        match parse_rule_file(&text, &ParseOptions::default()) {
            Ok(file) => {
                for spec in &file.groups {
                    let mut group = Group::new(&path.to_string_lossy(), spec, input_interval_ms, 0);
                    group.mark_restored();
                    groups.push(group);
                }
            }
            Err(errs) => {
                for err in errs {
                    load_errors.push(format!("{}: {err}", path.display()));
                }
            }
        }
    }
    if !load_errors.is_empty() {
        return load_errors;
    }
    groups.sort_by_key(|g| order.get(&g.name).copied().unwrap_or(0));

    // Input samples, loaded lazily up to each evaluation step as promtool does.
    let mut samples: Vec<(i64, Labels, f64)> = Vec::new();
    for input in &test.input_series {
        let labels = match parse_metric(&input.series) {
            Ok(l) => l,
            Err(err) => return vec![format!("parse error: {err}")],
        };
        let values = match expand_values(&input.values) {
            Ok(v) => v,
            Err(err) => return vec![err],
        };
        for (i, value) in values.into_iter().enumerate() {
            if let Some(v) = value {
                samples.push((i as i64 * input_interval_ms, labels.clone(), v));
            }
        }
    }
    samples.sort_by_key(|(t, _, _)| *t);

    let mut alert_times: Vec<i64> = Vec::new();
    let mut alerts_at: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
    let mut max_eval_ms = 0;
    for alert in &test.alert_rule_test {
        let t = match duration(&alert.eval_time) {
            Ok(t) => t,
            Err(err) => return vec![err],
        };
        if alert.alertname.is_empty() {
            let group_log = if test.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", test.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{group_log}",
                format_duration_ms(t)
            )];
        }
        if !alert_times.contains(&t) {
            alert_times.push(t);
        }
        alerts_at.entry(t).or_default().push(alert);
        max_eval_ms = max_eval_ms.max(t);
    }
    let mut expr_times = Vec::new();
    for expr in &test.promql_expr_test {
        match duration(&expr.eval_time) {
            Ok(t) => {
                max_eval_ms = max_eval_ms.max(t);
                expr_times.push(t);
            }
            Err(err) => return vec![err],
        }
    }
    alert_times.sort_unstable();

    let mut errors = Vec::new();
    let mut loaded = 0;
    let mut current = 0;
    let mut ts = 0;
    while ts <= max_eval_ms {
        let mut appender = storage.appender(&tenant, AppendOptions::default());
        while loaded < samples.len() && samples[loaded].0 <= ts {
            let (t, labels, v) = &samples[loaded];
            if let Err(err) = appender.append_sample(labels, Sample::new(*t, *v)) {
                errors.push(err.to_string());
            }
            loaded += 1;
        }
        if let Err(err) = runtime.block_on(appender.commit()) {
            errors.push(err.to_string());
        }
        let mut eval_errors = Vec::new();
        for group in &mut groups {
            group.eval(ts, &env);
            for rule in &group.rules {
                if let Some(err) = &rule.last_error {
                    eval_errors.push(format!(
                        "    rule: {}, time: {}, err: {err}",
                        rule.spec.name(),
                        go_duration(ts)
                    ));
                }
            }
        }
        let failed = !eval_errors.is_empty();
        errors.extend(eval_errors);
        if failed {
            return errors;
        }
        while current < alert_times.len()
            && ts <= alert_times[current]
            && alert_times[current] < ts + eval_interval_ms
        {
            let t = alert_times[current];
            let tests = alerts_at.get(&t).cloned().unwrap_or_default();
            let mut got: HashMap<String, Vec<LabelsAndAnnotations>> = HashMap::new();
            for group in &groups {
                for rule in &group.rules {
                    if !rule.spec.is_alert()
                        || !tests.iter().any(|a| a.alertname == rule.spec.name())
                    {
                        continue;
                    }
                    let entry = got.entry(rule.spec.name().to_string()).or_default();
                    for alert in rule.alerts.active.values() {
                        if alert.state == AlertState::Firing {
                            entry.push(LabelsAndAnnotations {
                                labels: alert.labels.clone(),
                                annotations: to_labels(&alert.annotations),
                            });
                        }
                    }
                }
            }
            for case in tests {
                let mut got_alerts = got.get(&case.alertname).cloned().unwrap_or_default();
                let mut exp_alerts: Vec<LabelsAndAnnotations> = case
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut labels = a.exp_labels.clone();
                        labels.insert("alertname".into(), case.alertname.clone());
                        LabelsAndAnnotations {
                            labels: to_labels(&labels),
                            annotations: to_labels(&a.exp_annotations),
                        }
                    })
                    .collect();
                got_alerts.sort();
                exp_alerts.sort();
                if got_alerts != exp_alerts {
                    let name = if test.name.is_empty() {
                        String::new()
                    } else {
                        format!("    name: {},\n", test.name)
                    };
                    errors.push(format!(
                        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        case.alertname,
                        format_duration_ms(t),
                        indent_lines(&alerts_string(&exp_alerts), "            "),
                        indent_lines(&alerts_string(&got_alerts), "            ")
                    ));
                }
            }
            current += 1;
        }
        ts += eval_interval_ms;
    }

    'cases: for (case, t) in test.promql_expr_test.iter().zip(expr_times) {
        let got = match evaluator.instant(&tenant, &case.expr, t) {
            Ok(got) => got,
            Err(err) => {
                errors.push(format!(
                    "    expr: {:?}, time: {}, err: {err}",
                    case.expr,
                    format_duration_ms(t)
                ));
                continue;
            }
        };
        let mut got: Vec<(Labels, f64)> = got.into_iter().map(|s| (s.labels, s.value)).collect();
        let mut exp = Vec::new();
        for sample in &case.exp_samples {
            match parse_metric_or_empty(&sample.labels) {
                Ok(labels) => exp.push((labels, sample.value)),
                Err(err) => {
                    errors.push(format!(
                        "    expr: {:?}, time: {}, err: labels {:?}: {err}",
                        case.expr,
                        format_duration_ms(t),
                        sample.labels
                    ));
                    continue 'cases;
                }
            }
        }
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let equal =
            exp.len() == got.len() && exp.iter().zip(&got).all(|(e, g)| e.0 == g.0 && e.1 == g.1);
        if !equal {
            errors.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                case.expr,
                format_duration_ms(t),
                samples_string(&exp),
                samples_string(&got)
            ));
        }
    }
    errors
}

fn parse_metric_or_empty(text: &str) -> Result<Labels, String> {
    if text.trim().is_empty() || text.trim() == "{}" {
        return Ok(Labels::empty());
    }
    parse_metric(text)
}

/// Runs every file as `promtool test rules` does, printing its report; returns true when all passed.
pub fn run_test_files(files: &[PathBuf]) -> bool {
    let mut all_passed = true;
    for file in files {
        println!("Unit Testing:  {}", file.display());
        match run_test_file(file) {
            None => println!("  SUCCESS"),
            Some(errors) => {
                all_passed = false;
                eprintln!("  FAILED:");
                for err in errors {
                    eprintln!("{err}");
                    println!();
                }
            }
        }
        println!();
    }
    all_passed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn series_notation_expands_like_promtool() {
        let v = expand_values("1+1x3 _ stale 5x1 _x2 -1-2x2 1e3").unwrap();
        assert_eq!(v[..4], [Some(1.0), Some(2.0), Some(3.0), Some(4.0)]);
        assert_eq!(v[4], None);
        assert!(vigil_model::is_stale_nan(v[5].unwrap()));
        assert_eq!(v[6..8], [Some(5.0), Some(5.0)]);
        assert_eq!(v[8..10], [None, None]);
        assert_eq!(v[10..13], [Some(-1.0), Some(-3.0), Some(-5.0)]);
        assert_eq!(v[13], Some(1000.0));
        assert!(expand_values("1+x").is_err());
        assert!(expand_values("abc").is_err());
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(300_000), "5m0s");
        assert_eq!(go_duration(3_630_000), "1h0m30s");
        assert_eq!(go_duration(1_500), "1.5s");
    }

    #[test]
    fn metrics_parse_from_selectors() {
        let l = parse_metric("up{job=\"a\", instance=\"b\"}").unwrap();
        assert_eq!(
            l.to_string(),
            "{__name__=\"up\", instance=\"b\", job=\"a\"}"
        );
        assert!(parse_metric("up{job=~\"a\"}").is_err());
    }
}
