//! Integration tests of `vigil_promql::parser::parse`: every `eval`
//! expression of Prometheus' conformance scripts, and property tests.

use std::path::PathBuf;

use promql_parser::parser::{Expr, Offset};
use proptest::prelude::*;
use vigil_promql::parser::{ParseContext, parse};

const DEFAULT_TESTDATA: &str = "/work/shared/conformance/promql/testdata";

/// Files whose every expression must parse.
const MUST_PASS: [&str; 3] = [
    "duration_expression.test",
    "extended_vectors.test",
    "info.test",
];

/// Minimum number of expressions (trim operators excluded) that must
/// parse, set from the measured count.
const MIN_PARSED: usize = 2104;

/// Parses a header duration like `50m`, `1000s`, `10s53ms` or `0`.
fn header_ms(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    let mut total = 0i64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let value: i64 = rest.get(..digits)?.parse().ok()?;
        rest = &rest[digits..];
        let (unit, size) = [
            ("ms", 1),
            ("y", 31_536_000_000),
            ("w", 604_800_000),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        total += value * size;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

/// Splits an `eval…` header into the query context and the expression.
fn eval_line(line: &str) -> Option<(ParseContext, String)> {
    let mut words = line.split_whitespace();
    let cmd = words.next()?;
    if !cmd.starts_with("eval") {
        return None;
    }
    let words: Vec<&str> = words.collect();
    match words.first().copied()? {
        "instant" => {
            // instant at <t> <expr>
            let t = header_ms(words.get(2)?)?;
            let expr = words.get(3..)?.join(" ");
            let ctx = ParseContext {
                start_ms: t,
                end_ms: t,
                step_ms: 0,
            };
            Some((ctx, expr))
        }
        "range" => {
            // range from <a> to <b> step <s> <expr>
            let ctx = ParseContext {
                start_ms: header_ms(words.get(2)?)?,
                end_ms: header_ms(words.get(4)?)?,
                step_ms: header_ms(words.get(6)?)?,
            };
            Some((ctx, words.get(7..)?.join(" ")))
        }
        _ => None,
    }
}

#[test]
fn conformance_eval_expressions_parse() {
    let dir = std::env::var_os("VIGIL_PROMQL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TESTDATA));
    if !dir.is_dir() {
        println!(
            "SKIP: conformance testdata not found at {} (set VIGIL_PROMQL_TESTDATA)",
            dir.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    let (mut parsed, mut trim_ops) = (0, 0);
    let mut failures = Vec::new();
    let mut must_pass_failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let (mut ok, mut total) = (0, 0);
        for (n, line) in text.lines().enumerate() {
            let Some((ctx, expr)) = eval_line(line.trim()) else {
                continue;
            };
            if expr.contains("</") || expr.contains(">/") {
                trim_ops += 1;
                continue;
            }
            total += 1;
            match parse(&expr, &ctx) {
                Ok(_) => ok += 1,
                Err(err) => {
                    let entry = format!("{name}:{}: {expr}\n    -> {}", n + 1, err.message);
                    if MUST_PASS.contains(&name.as_str()) {
                        must_pass_failures.push(entry.clone());
                    }
                    failures.push(entry);
                }
            }
        }
        println!("{name}: {ok}/{total} parse");
        parsed += ok;
    }
    println!(
        "total: {parsed} parse, {} fail, {trim_ops} skipped (trim operators)",
        failures.len()
    );
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(must_pass_failures.is_empty(), "{must_pass_failures:#?}");
    assert!(
        parsed >= MIN_PARSED,
        "only {parsed} parse, expected ≥ {MIN_PARSED}"
    );
}

/// Reference evaluation of a random arithmetic tree, in seconds.
#[derive(Debug, Clone)]
enum Arith {
    Secs(u32),
    Millis(u32),
    Add(Box<Arith>, Box<Arith>),
    Sub(Box<Arith>, Box<Arith>),
    Mul(Box<Arith>, u8),
    Neg(Box<Arith>),
    Min(Box<Arith>, Box<Arith>),
    Max(Box<Arith>, Box<Arith>),
    Step,
}

impl Arith {
    fn text(&self) -> String {
        match self {
            Arith::Secs(s) => s.to_string(),
            Arith::Millis(ms) => format!("{ms}ms"),
            Arith::Add(a, b) => format!("({} + {})", a.text(), b.text()),
            Arith::Sub(a, b) => format!("({} - {})", a.text(), b.text()),
            Arith::Mul(a, k) => format!("{} * {k}", a.text()),
            Arith::Neg(a) => format!("-({})", a.text()),
            Arith::Min(a, b) => format!("min_of({}, {})", a.text(), b.text()),
            Arith::Max(a, b) => format!("MAX_OF({},{})", a.text(), b.text()),
            Arith::Step => "step()".into(),
        }
    }

    /// Exact value in milliseconds (all leaves are whole ms).
    fn ms(&self, step: i64) -> i64 {
        match self {
            Arith::Secs(s) => i64::from(*s) * 1000,
            Arith::Millis(ms) => i64::from(*ms),
            Arith::Add(a, b) => a.ms(step) + b.ms(step),
            Arith::Sub(a, b) => a.ms(step) - b.ms(step),
            Arith::Mul(a, k) => a.ms(step) * i64::from(*k),
            Arith::Neg(a) => -a.ms(step),
            Arith::Min(a, b) => a.ms(step).min(b.ms(step)),
            Arith::Max(a, b) => a.ms(step).max(b.ms(step)),
            Arith::Step => step,
        }
    }
}

fn arith() -> impl Strategy<Value = Arith> {
    let leaf = prop_oneof![
        (0u32..100_000).prop_map(Arith::Secs),
        (0u32..100_000).prop_map(Arith::Millis),
        Just(Arith::Step),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Arith::Add(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Arith::Sub(a.into(), b.into())),
            (inner.clone(), 0u8..10).prop_map(|(a, k)| Arith::Mul(a.into(), k)),
            inner.clone().prop_map(|a| Arith::Neg(a.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Arith::Min(a.into(), b.into())),
            (inner.clone(), inner).prop_map(|(a, b)| Arith::Max(a.into(), b.into())),
        ]
    })
}

/// Random ordinary queries built from pieces promql-parser accepts.
fn plain_query() -> impl Strategy<Value = String> {
    let selector = prop_oneof![
        Just("up".to_string()),
        Just("http_requests_total{job=\"api\", code=~\"5..\"}".to_string()),
        Just("{__name__=\"m\", a!=\"[5m] offset (1m)\"}".to_string()),
        Just("job:rate5m".to_string()),
    ];
    let modifier = prop_oneof![
        Just(String::new()),
        Just(" offset 5m".to_string()),
        Just(" offset -1h30m".to_string()),
        Just(" @ 100".to_string()),
        Just(" @ end()".to_string()),
    ];
    let leaf = (selector, modifier).prop_map(|(s, m)| format!("{s}{m}"));
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| format!("rate(({e})[5m:1m])")),
            inner.clone().prop_map(|e| format!("sum by (job) ({e})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + on (job) {b}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) and ({b}) # comment")),
        ]
    })
}

/// The offset of `x offset …` in signed milliseconds (0 when absent).
fn offset_ms(expr: &Expr) -> i64 {
    match expr {
        Expr::VectorSelector(vs) => match &vs.offset {
            Some(Offset::Pos(d)) => d.as_millis() as i64,
            Some(Offset::Neg(d)) => -(d.as_millis() as i64),
            None => 0,
        },
        other => panic!("not a selector: {other:?}"),
    }
}

proptest! {
    /// Values are float seconds truncated to milliseconds, as upstream
    /// does, so a sum like `-43.904 + 44.569` may land 1ms low; the
    /// reference is exact integer arithmetic.
    #[test]
    fn arithmetic_matches_reference(expr in arith(), step in 1i64..100_000) {
        let ctx = ParseContext { start_ms: 0, end_ms: 0, step_ms: step };
        let want = expr.ms(step);
        let got = offset_ms(&parse(&format!("x offset ({})", expr.text()), &ctx).unwrap());
        prop_assert!((got - want).abs() <= 1, "offset: got {got}ms, want {want}ms");
        match parse(&format!("x[{}]", expr.text()), &ctx) {
            Ok(Expr::MatrixSelector(ms)) => {
                let got = ms.range.as_millis() as i64;
                prop_assert!((got - want).abs() <= 1, "range: got {got}ms, want {want}ms");
            }
            Ok(other) => prop_assert!(false, "unexpected {other:?}"),
            Err(e) => {
                prop_assert!(want <= 1, "want {want}ms, got error {}", e.message);
                prop_assert!(e.message.contains("greater than 0"), "{}", e.message);
            }
        }
    }

    #[test]
    fn plain_queries_parse_like_promql_parser(query in plain_query()) {
        let ctx = ParseContext { start_ms: 0, end_ms: 60_000, step_ms: 15_000 };
        let ours = parse(&query, &ctx).map_err(|e| e.message);
        let theirs = promql_parser::parser::parse(&query)
            .map_err(|e| format!("parse error: {e}"));
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn arbitrary_strings_never_panic(query in "\\PC{0,80}") {
        let _ = parse(&query, &ParseContext::default());
    }

    #[test]
    fn promql_flavoured_noise_never_panics(
        query in "[a-z_{}()\\[\\]:,=~!\"'`#@+*/%^ 0-9.\\-\n]{0,60}",
    ) {
        let ctx = ParseContext { start_ms: 0, end_ms: 10_000, step_ms: 1_000 };
        let _ = parse(&query, &ctx);
        let _ = parse(&format!("m[{query}]"), &ctx);
        let _ = parse(&format!("m offset {query}"), &ctx);
    }
}
