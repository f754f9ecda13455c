//! Property tests: the lexer/parser never panic, and canonical printing round-trips.

use proptest::prelude::*;
use vigil_logql::syntax::{
    CmpOp, Expr, FilterValue, Grouping, LabelFilter, LabelMatcher, LineFilter, LineFilterOp,
    LogExpr, LogRange, NameMatcher, ParserStage, RangeOp, SampleExpr, Stage, VectorOp, parse,
};
use vigil_logql::{Pipeline, log::required_substrings};
use vigil_model::{Labels, MatchOp};

fn label_name() -> impl Strategy<Value = String> {
    "l_[a-z0-9_]{0,4}"
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.:/=-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Lt),
        Just(CmpOp::Le)
    ]
}

fn leaf_filter() -> impl Strategy<Value = LabelFilter> {
    prop_oneof![
        (
            label_name(),
            prop_oneof![Just(MatchOp::Equal), Just(MatchOp::NotEqual)],
            text()
        )
            .prop_map(|(name, op, value)| LabelFilter::String { name, op, value }),
        (label_name(), cmp_op(), -1e9f64..1e9).prop_map(|(name, op, value)| LabelFilter::Number {
            name,
            op,
            value
        }),
        (label_name(), cmp_op(), 1i64..10_000_000_000_000)
            .prop_map(|(name, op, ns)| LabelFilter::Duration { name, op, ns }),
        (label_name(), cmp_op(), 0u64..1u64 << 50)
            .prop_map(|(name, op, bytes)| LabelFilter::Bytes { name, op, bytes }),
    ]
}

fn label_filter() -> impl Strategy<Value = LabelFilter> {
    leaf_filter().prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| LabelFilter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| LabelFilter::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        (
            prop_oneof![
                Just(LineFilterOp::Contains),
                Just(LineFilterOp::NotContains)
            ],
            prop::collection::vec(text(), 1..3)
        )
            .prop_map(|(op, vs)| Stage::LineFilter(LineFilter {
                op,
                values: vs.into_iter().map(FilterValue::Text).collect()
            })),
        Just(Stage::Parser(ParserStage::Json(vec![]))),
        (any::<bool>(), any::<bool>()).prop_map(|(strict, keep_empty)| Stage::Parser(
            ParserStage::Logfmt {
                strict,
                keep_empty,
                extractions: vec![]
            }
        )),
        Just(Stage::Parser(ParserStage::Unpack)),
        label_filter().prop_map(Stage::LabelFilter),
        // Matchers on every name: `drop a != "x"` would be ambiguous with a following
        // `!=` line filter (the language reads it as a matcher).
        prop::collection::vec((label_name(), text()), 1..3).prop_map(|ns| Stage::Drop(
            ns.into_iter()
                .map(|(name, v)| NameMatcher {
                    name,
                    matcher: Some((MatchOp::Equal, v))
                })
                .collect()
        )),
        Just(Stage::Decolorize),
        text().prop_map(|t| Stage::LineFormat(t.replace('{', "("))),
    ]
}

fn log_expr() -> impl Strategy<Value = LogExpr> {
    (
        label_name(),
        "[a-z]{1,6}",
        prop::collection::vec((label_name(), text()), 0..2),
        prop::collection::vec(stage(), 0..5),
    )
        .prop_map(|(n, v, extra, stages)| {
            let mut matchers = vec![LabelMatcher {
                name: n,
                op: MatchOp::Equal,
                value: v,
            }];
            matchers.extend(extra.into_iter().map(|(name, value)| LabelMatcher {
                name,
                op: MatchOp::NotEqual,
                value,
            }));
            LogExpr { matchers, stages }
        })
}

fn sample_expr() -> impl Strategy<Value = SampleExpr> {
    let range = (
        log_expr(),
        1i64..100_000,
        0i64..100,
        prop_oneof![
            Just(RangeOp::CountOverTime),
            Just(RangeOp::Rate),
            Just(RangeOp::BytesRate),
            Just(RangeOp::BytesOverTime),
            Just(RangeOp::AbsentOverTime)
        ],
    )
        .prop_map(|(log, r, o, op)| SampleExpr::Range {
            op,
            param: None,
            range: Box::new(LogRange {
                log,
                unwrap: None,
                range_ns: r * 1_000_000_000,
                offset_ns: o * 60_000_000_000,
            }),
            grouping: None,
        });
    range.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::collection::vec(label_name(), 0..3),
                any::<bool>()
            )
                .prop_map(|(e, labels, without)| SampleExpr::Vector {
                    op: VectorOp::Sum,
                    param: None,
                    grouping: Some(Grouping { without, labels }),
                    expr: Box::new(e),
                }),
            (inner.clone(), inner, -1e6f64..1e6).prop_map(|(a, b, k)| SampleExpr::Binary {
                op: vigil_logql::syntax::BinOp::Add,
                return_bool: false,
                matching: None,
                lhs: Box::new(SampleExpr::Binary {
                    op: vigil_logql::syntax::BinOp::Mul,
                    return_bool: false,
                    matching: None,
                    lhs: Box::new(a),
                    rhs: Box::new(SampleExpr::Literal(k)),
                }),
                rhs: Box::new(b),
            }),
        ]
    })
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let q = format!("{}vector(1){}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(
        parse(&q)
            .unwrap_err()
            .to_string()
            .contains("nested too deeply")
    );
    let f = format!(
        "{{app=\"x\"}} | {}a=\"1\"{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(
        parse(&f)
            .unwrap_err()
            .to_string()
            .contains("nested too deeply")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_input_never_panics(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn query_like_input_never_panics(s in "[{}()\\[\\]|=!~<>\"`a-z0-9_ ,.:#*/+^%-]{0,60}") {
        let _ = parse(&s);
        let _ = parse(&format!("{{app=\"x\"}} {s}"));
        let _ = parse(&format!("sum(rate({{app=\"x\"}} {s}[1m]))"));
    }

    #[test]
    fn log_expr_round_trips(l in log_expr()) {
        let e = Expr::Log(l);
        let text = e.to_string();
        let back = parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(back, e);
    }

    #[test]
    fn sample_expr_round_trips(s in sample_expr()) {
        let e = Expr::Sample(s);
        let text = e.to_string();
        let back = parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(back, e);
    }

    #[test]
    fn pipeline_never_panics_and_hints_hold(l in log_expr(), line in any::<String>()) {
        let pipeline = Pipeline::new(&l).map_err(TestCaseError::fail)?;
        let stream = Labels::from_static(&[("app", "x")]);
        if let Some(out) = pipeline.process(1, &line, &stream, &Labels::empty()) {
            // Every hinted substring must be present in a line that passed the filters.
            for h in required_substrings(&l) {
                prop_assert!(line.contains(&h), "hint {:?} missing from accepted line {:?}", h, line);
            }
            let _ = out;
        }
    }
}
