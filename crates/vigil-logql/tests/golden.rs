//! Golden suite: every `tests/golden/*.yaml` case, each citing the Loki documentation
//! section whose semantics it checks.
//!
//! A case has a `query` and one or more expectations:
//! - `error`: the exact parse error; `error_contains`: a substring of any error;
//! - `format`: the canonical text (`Display`) of the parsed query;
//! - `hints`: the content-index substrings;
//! - `pipeline`: lines run through the log pipeline one by one;
//! - `streams` + `log` + `expect_streams`: a log query;
//! - `streams` + `instant`/`range` + `expect_vector`/`expect_matrix`/`expect_scalar`: a
//!   metric query.
//!
//! Times in cases are seconds (entries: `"<secs> <line>"`).

#![allow(clippy::unwrap_used)] // test harness: malformed case files should fail loudly

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use vigil_logql::eval::{Direction, LogEntry, LogQueryParams, MemorySource, MetricQueryParams};
use vigil_logql::{
    EvalOptions, Expr, Pipeline, QueryOutput, eval_query, parse, required_substrings,
};
use vigil_model::Labels;
use vigil_promql::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    doc: String,
    query: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_contains: Option<String>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    hints: Option<Vec<String>>,
    #[serde(default)]
    pipeline: Option<PipelineCase>,
    #[serde(default)]
    streams: Vec<StreamIn>,
    #[serde(default)]
    log: Option<LogParams>,
    #[serde(default)]
    expect_streams: Option<Vec<StreamOut>>,
    #[serde(default)]
    instant: Option<f64>,
    #[serde(default)]
    range: Option<[f64; 3]>,
    #[serde(default)]
    expect_vector: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    expect_matrix: Option<BTreeMap<String, String>>,
    #[serde(default)]
    expect_scalar: Option<f64>,
    #[serde(default)]
    ordered: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineCase {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    lines: Vec<LineCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineCase {
    #[serde(rename = "in")]
    input: String,
    #[serde(default)]
    meta: BTreeMap<String, String>,
    #[serde(default)]
    ts: Option<f64>,
    /// Expected line, or null when the line must be filtered out.
    out: Option<String>,
    /// Expected full label set in `{a="1", b="2"}` form.
    #[serde(default)]
    labels: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamIn {
    labels: BTreeMap<String, String>,
    entries: Vec<EntryIn>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EntryIn {
    Text(String),
    Full {
        t: f64,
        line: String,
        #[serde(default)]
        meta: BTreeMap<String, String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    start: f64,
    end: f64,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    direction: Option<String>,
}

fn default_limit() -> usize {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamOut {
    labels: String,
    entries: Vec<String>,
}

fn secs(t: f64) -> i64 {
    (t * 1e9).round() as i64
}

fn labels_of(m: &BTreeMap<String, String>) -> Labels {
    Labels::try_from_pairs(m.iter().map(|(k, v)| (k.clone(), v.clone()))).unwrap()
}

fn fmt_ts(ns: i64) -> String {
    let s = ns as f64 / 1e9;
    format!("{s}")
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn run_case(c: &Case) -> Result<(), String> {
    if c.doc.trim().is_empty() {
        return Err("case has no doc reference".into());
    }
    let parsed = parse(&c.query);
    if let Some(want) = &c.error {
        return match parsed {
            Ok(e) => Err(format!("expected error {want:?}, parsed as {e}")),
            Err(e) if e.to_string() == *want => Ok(()),
            Err(e) => Err(format!("error mismatch:\n  want {want}\n   got {e}")),
        };
    }
    let expr = match parsed {
        Ok(e) => e,
        Err(e) => {
            if let Some(sub) = &c.error_contains
                && e.to_string().contains(sub.as_str())
            {
                return Ok(());
            }
            return Err(format!("unexpected parse error: {e}"));
        }
    };
    // Every successfully parsed case must round-trip through Display.
    let printed = expr.to_string();
    let reparsed =
        parse(&printed).map_err(|e| format!("canonical form {printed:?} does not parse: {e}"))?;
    if reparsed != expr {
        return Err(format!(
            "canonical form {printed:?} parses to a different AST"
        ));
    }
    if let Some(want) = &c.format
        && printed != *want
    {
        return Err(format!("format mismatch:\n  want {want}\n   got {printed}"));
    }
    if let Some(want) = &c.hints {
        let Expr::Log(l) = &expr else {
            return Err("hints need a log query".into());
        };
        let got = required_substrings(l);
        if got != *want {
            return Err(format!("hints: want {want:?}, got {got:?}"));
        }
    }
    if let Some(p) = &c.pipeline {
        let Expr::Log(l) = &expr else {
            return Err("pipeline cases need a log query".into());
        };
        let pipeline = Pipeline::new(l)?;
        let stream = match &p.labels {
            Some(m) => labels_of(m),
            None => Labels::from_static(&[("app", "a")]),
        };
        for (i, lc) in p.lines.iter().enumerate() {
            let meta = labels_of(&lc.meta);
            let got = pipeline.process(secs(lc.ts.unwrap_or(1.0)), &lc.input, &stream, &meta);
            match (&lc.out, got) {
                (None, None) => {}
                (None, Some(g)) => {
                    return Err(format!(
                        "line {i}: expected filtered, got {:?} {}",
                        g.line, g.labels
                    ));
                }
                (Some(w), None) => return Err(format!("line {i}: expected {w:?}, was filtered")),
                (Some(w), Some(g)) => {
                    if g.line != *w {
                        return Err(format!("line {i}: want line {w:?}, got {:?}", g.line));
                    }
                    if let Some(wl) = &lc.labels
                        && g.labels.to_string() != *wl
                    {
                        return Err(format!("line {i}: want labels {wl}, got {}", g.labels));
                    }
                }
            }
        }
    }
    let needs_eval = c.expect_streams.is_some()
        || c.expect_vector.is_some()
        || c.expect_matrix.is_some()
        || c.expect_scalar.is_some()
        || (c.error_contains.is_some()
            && (c.instant.is_some() || c.range.is_some() || c.log.is_some()));
    if !needs_eval {
        if c.error_contains.is_some() {
            return Err("expected an error, query parsed".into());
        }
        return Ok(());
    }
    let mut src = MemorySource::new();
    for s in &c.streams {
        let entries = s.entries.iter().map(|e| match e {
            EntryIn::Text(t) => {
                let (ts, line) = t.split_once(' ').unwrap_or((t.as_str(), ""));
                LogEntry {
                    ts_ns: secs(ts.parse::<f64>().unwrap()),
                    line: line.to_string(),
                    metadata: Labels::empty(),
                }
            }
            EntryIn::Full { t, line, meta } => LogEntry {
                ts_ns: secs(*t),
                line: line.clone(),
                metadata: labels_of(meta),
            },
        });
        src.push(labels_of(&s.labels), entries.collect::<Vec<_>>());
    }
    let log = match &c.log {
        Some(l) => LogQueryParams {
            start_ns: secs(l.start),
            end_ns: secs(l.end),
            limit: l.limit,
            direction: match l.direction.as_deref() {
                Some("backward") => Direction::Backward,
                _ => Direction::Forward,
            },
        },
        None => LogQueryParams {
            start_ns: 0,
            end_ns: secs(1e6),
            limit: 1000,
            direction: Direction::Forward,
        },
    };
    let metric = match (c.instant, c.range) {
        (_, Some([s, e, st])) => MetricQueryParams::range(secs(s), secs(e), secs(st)),
        (Some(t), None) => MetricQueryParams::instant(secs(t)),
        (None, None) => MetricQueryParams::instant(0),
    };
    let out = eval_query(&src, &c.query, &log, &metric, &EvalOptions::default());
    let out = match (out, &c.error_contains) {
        (Err(e), Some(sub)) if e.to_string().contains(sub.as_str()) => return Ok(()),
        (Err(e), _) => return Err(format!("evaluation failed: {e}")),
        (Ok(_), Some(sub)) => return Err(format!("expected an error containing {sub:?}")),
        (Ok(o), None) => o,
    };
    match out {
        QueryOutput::Streams(streams) => {
            let Some(want) = &c.expect_streams else {
                return Err("log query result but no expect_streams".into());
            };
            let got: Vec<(String, Vec<String>)> = streams
                .iter()
                .map(|s| {
                    (
                        s.labels.to_string(),
                        s.entries
                            .iter()
                            .map(|e| format!("{} {}", fmt_ts(e.ts_ns), e.line))
                            .collect(),
                    )
                })
                .collect();
            let want: Vec<(String, Vec<String>)> = want
                .iter()
                .map(|s| (s.labels.clone(), s.entries.clone()))
                .collect();
            if got != want {
                return Err(format!(
                    "streams mismatch:\n  want {want:?}\n   got {got:?}"
                ));
            }
        }
        QueryOutput::Metric(v) => match v {
            Value::Vector(samples) => {
                let Some(want) = &c.expect_vector else {
                    return Err(format!("vector result but no expect_vector: {samples:?}"));
                };
                if let Some(order) = &c.ordered {
                    let got: Vec<String> = samples.iter().map(|s| s.labels.to_string()).collect();
                    if got != *order {
                        return Err(format!("order: want {order:?}, got {got:?}"));
                    }
                }
                let got: BTreeMap<String, f64> = samples
                    .iter()
                    .map(|s| (s.labels.to_string(), s.v))
                    .collect();
                if got.len() != samples.len()
                    || got.len() != want.len()
                    || want
                        .iter()
                        .any(|(k, v)| !got.get(k).is_some_and(|g| close(*g, *v)))
                {
                    return Err(format!("vector mismatch:\n  want {want:?}\n   got {got:?}"));
                }
            }
            Value::Matrix(series) => {
                let Some(want) = &c.expect_matrix else {
                    return Err(format!("matrix result but no expect_matrix: {series:?}"));
                };
                let got: BTreeMap<String, Vec<(f64, f64)>> = series
                    .iter()
                    .map(|s| {
                        (
                            s.labels.to_string(),
                            s.points
                                .iter()
                                .map(|p| (p.t_ms as f64 / 1000.0, p.v))
                                .collect(),
                        )
                    })
                    .collect();
                let want_parsed: BTreeMap<String, Vec<(f64, f64)>> = want
                    .iter()
                    .map(|(k, v)| {
                        let pts = v
                            .split_whitespace()
                            .map(|p| {
                                let (t, v) = p.split_once(':').unwrap();
                                (t.parse().unwrap(), v.parse().unwrap())
                            })
                            .collect();
                        (k.clone(), pts)
                    })
                    .collect();
                let same = got.len() == want_parsed.len()
                    && want_parsed.iter().all(|(k, w)| {
                        got.get(k).is_some_and(|g| {
                            g.len() == w.len()
                                && g.iter()
                                    .zip(w)
                                    .all(|(a, b)| close(a.0, b.0) && close(a.1, b.1))
                        })
                    });
                if !same {
                    return Err(format!(
                        "matrix mismatch:\n  want {want_parsed:?}\n   got {got:?}"
                    ));
                }
            }
            Value::Scalar { v, .. } => match c.expect_scalar {
                Some(w) if close(v, w) => {}
                other => return Err(format!("scalar {v}, expected {other:?}")),
            },
            Value::String { .. } => return Err("unexpected string result".into()),
        },
    }
    Ok(())
}

#[test]
fn golden_suite() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    let filter = std::env::var("GOLDEN_FILTER").ok();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let cases: Vec<Case> =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for c in &cases {
            if filter
                .as_ref()
                .is_some_and(|flt| !c.name.contains(flt.as_str()))
            {
                continue;
            }
            match run_case(c) {
                Ok(()) => passed += 1,
                Err(e) => {
                    failed += 1;
                    println!(
                        "FAIL {} :: {} [{}]\n  query: {}\n  {e}",
                        f.file_name().unwrap().to_string_lossy(),
                        c.name,
                        c.doc,
                        c.query
                    );
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} golden cases failed");
    if filter.is_none() {
        assert!(
            passed >= 200,
            "golden suite must have at least 200 cases, has {passed}"
        );
    }
}
