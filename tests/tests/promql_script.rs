//! The PromQL test-script parser reads every upstream conformance script (from
//! `../shared/conformance/promql/testdata`, or `$VIGIL_PROMQL_TESTDATA`) and finds exactly the
//! commands FORMAT.md counts. Skips with a message when the scripts are absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use vigil_tests::promql_script::{Command, EvalKind, Expected, Point, parse_script};

fn testdata() -> Option<PathBuf> {
    let dir = std::env::var("VIGIL_PROMQL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/conformance/promql/testdata"
            ))
        });
    if dir.is_dir() {
        return Some(dir);
    }
    eprintln!(
        "SKIPPED: PromQL conformance scripts not found at {} (set VIGIL_PROMQL_TESTDATA)",
        dir.display()
    );
    None
}

#[test]
fn parses_every_upstream_script_with_the_documented_counts() {
    let Some(dir) = testdata() else { return };
    let (mut evals, mut instant, mut range, mut fails, mut loads, mut clears) = (0, 0, 0, 0, 0, 0);
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("test") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let commands = parse_script(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for command in commands {
            match command {
                Command::Clear => clears += 1,
                Command::Load { .. } => loads += 1,
                Command::Eval(eval) => {
                    evals += 1;
                    match eval.kind {
                        EvalKind::Instant { .. } => instant += 1,
                        EvalKind::Range { .. } => range += 1,
                    }
                    fails += usize::from(eval.expect.fail.is_some());
                }
            }
        }
    }
    assert_eq!(files, 21);
    assert_eq!((evals, instant, range, fails), (2214, 1885, 329, 35));
    assert_eq!((loads, clears), (310, 231));
}

#[test]
fn value_notation_expands_as_documented() {
    let script = "load 5m\n  m{job=\"a\", i='0'} 0+10x3 _x2 1 _ -2+4x3 stale 7x1 1-2x2\n  {__name__=\"n\"} {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x1\n\neval instant at 10m m\n  m{job=\"a\", i=\"0\"} 20\n\neval range from 0 to 10m step 5m n\n  {} 1 _ 3\n\neval instant at 0s 1\n  0x10\n";
    let commands = parse_script(script).unwrap();
    let Command::Load {
        interval_ms,
        series,
        ..
    } = &commands[0]
    else {
        panic!("load expected")
    };
    assert_eq!(*interval_ms, 300_000);
    let floats: Vec<String> = series[0]
        .points
        .iter()
        .map(|p| match p {
            Point::Omitted => "_".to_string(),
            Point::Float(v) if v.to_bits() == 0x7ff0_0000_0000_0002 => "stale".to_string(),
            Point::Float(v) => v.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        floats.join(" "),
        "0 10 20 30 _ _ 1 _ -2 2 6 10 stale 7 7 1 -1 -3"
    );
    assert_eq!(
        series[0].labels,
        [
            ("__name__".to_string(), "m".to_string()),
            ("job".into(), "a".into()),
            ("i".into(), "0".into())
        ]
    );
    assert_eq!(series[1].points.len(), 2);
    assert!(matches!(&series[1].points[0], Point::Histogram(h) if h.starts_with("schema:0")));
    let Command::Eval(eval) = &commands[2] else {
        panic!("eval expected")
    };
    assert_eq!(
        eval.kind,
        EvalKind::Range {
            start_ms: 0,
            end_ms: 600_000,
            step_ms: 300_000
        }
    );
    let Command::Eval(scalar) = &commands[3] else {
        panic!("eval expected")
    };
    assert_eq!(scalar.expected, Expected::Scalar(16.0));
}
