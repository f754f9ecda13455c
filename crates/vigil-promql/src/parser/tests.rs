use super::*;
use promql_parser::parser::{Expr, Offset};
use std::time::Duration;

fn range_ctx() -> ParseContext {
    ParseContext {
        start_ms: 50_000,
        end_ms: 60_000,
        step_ms: 5_000,
    }
}

fn rw(q: &str) -> String {
    rewrite::rewrite(q, &range_ctx()).unwrap()
}

fn p(q: &str) -> Expr {
    parse(q, &range_ctx()).unwrap_or_else(|e| panic!("{q}: {e}"))
}

#[test]
fn plain_queries_pass_through_untouched() {
    for q in [
        "sum by (job) (rate(x{a=\"[5m] anchored\"}[5m] offset 1m))",
        "x offset 5m",
        "x offset -5m @ 100",
        "x[1800]",
        "sum(offset)",
        "foo and anchored",
        "x # [1m+1m] anchored\n",
    ] {
        assert_eq!(rw(q), q);
    }
}

#[test]
fn duration_rewrites() {
    let cases = [
        ("changes(m[26m+4m])", "changes(m[30m])"),
        (
            "m[29s+1s:((((8 - 2) / 3) * 7s) % 4) + 8000ms]",
            "m[30s:10s]",
        ),
        ("m[step()]", "m[5s]"),
        ("m[range():]", "m[10s:]"),
        ("m offset (100 + 2)", "m offset 1m42s"),
        ("m offset 100 + 2", "m offset 100 + 2"),
        ("m offset -2 ^ 2", "m offset -2 ^ 2"),
        ("m offset (-2 ^ 2)", "m offset -4s"),
        ("m offset -step()*2", "m offset -5s*2"),
        ("m offset (-step()*2)", "m offset -10s"),
        ("m offset step()^0", "m offset 5s^0"),
        ("m offset -(min_of(step(), 2s)-5)+8000", "m offset 3s+8000"),
        ("m offset +min_of(step(), 1s)^0", "m offset 1s^0"),
        ("m offset (1m) * 2 > 0", "m offset 2m > 0"),
        ("m offset (1m) + other", "m offset 1m + other"),
        ("m offset(1m)", "m offset 1m"),
        ("m offset step()*0", "m offset 5s*0"),
    ];
    for (q, want) in cases {
        assert_eq!(rw(q), want, "{q}");
    }
    // An instant query's range() is 0: the offset disappears.
    let instant = ParseContext {
        start_ms: 50_000,
        end_ms: 50_000,
        step_ms: 0,
    };
    assert_eq!(
        rewrite::rewrite("m offset range()", &instant).unwrap(),
        "m "
    );
}

#[test]
fn duration_values_reach_the_ast() {
    match p("m[1h/2]") {
        Expr::MatrixSelector(ms) => assert_eq!(ms.range, Duration::from_secs(1800)),
        other => panic!("{other:?}"),
    }
    match p("sum_over_time(m[29s+1s:20*500ms] offset -(20*(((((8 - 2) / 3) * 7s) % 4) + 8000ms)))")
    {
        Expr::Call(c) => match &*c.args.args[0] {
            Expr::Subquery(sq) => {
                assert_eq!(sq.range, Duration::from_secs(30));
                assert_eq!(sq.step, Some(Duration::from_secs(10)));
                assert_eq!(sq.offset, Some(Offset::Neg(Duration::from_secs(200))));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn duration_errors_are_bad_data_with_position() {
    let e = parse("m[5m-10m]", &range_ctx()).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::BadData);
    assert_eq!(
        e.message,
        "1:3: parse error: duration must be greater than 0"
    );
    let e = parse("m offset (1m/(2-2))", &range_ctx()).unwrap_err();
    assert_eq!(e.message, "1:10: parse error: division by zero");
    let e = parse("m[step()]", &ParseContext::default()).unwrap_err();
    assert!(e.message.contains("greater than 0"), "{}", e.message);
}

fn marker(vs: &VectorSelector, label: &str) -> Option<String> {
    vs.matchers
        .matchers
        .iter()
        .find(|m| m.name == label)
        .map(|m| m.value.clone())
}

#[test]
fn range_modifiers_become_matchers() {
    assert_eq!(
        rw("rate(m[5m] anchored)"),
        "rate(m{__vigil_range_mod__=\"anchored\"}[5m] )"
    );
    assert_eq!(rw("m{} smoothed"), "m{__vigil_range_mod__=\"smoothed\"} ");
    assert_eq!(
        rw("{__name__=\"m\", a='b'}[1m] SMOOTHED"),
        "{__vigil_range_mod__=\"smoothed\",__name__=\"m\", a='b'}[1m] "
    );
    for (q, want) in [
        ("increase(m[1m] anchored)", "anchored"),
        ("m @ 100 smoothed + 0", "smoothed"),
        ("m offset -100 smoothed", "smoothed"),
        ("histogram_count(m smoothed)", "smoothed"),
        ("{__name__=\"m\"}[5m] anchored", "anchored"),
        ("m[1m] offset 1m @ start() anchored", "anchored"),
    ] {
        let mut found = None;
        struct Find<'a>(&'a mut Option<String>);
        impl ExprVisitor for Find<'_> {
            type Error = ();
            fn pre_visit(&mut self, e: &Expr) -> Result<bool, ()> {
                let vs = match e {
                    Expr::VectorSelector(vs) => vs,
                    Expr::MatrixSelector(ms) => &ms.vs,
                    _ => return Ok(true),
                };
                if let Some(v) = marker(vs, RANGE_MODIFIER_LABEL) {
                    *self.0 = Some(v);
                }
                Ok(true)
            }
        }
        walk_expr(&mut Find(&mut found), &p(q)).unwrap();
        assert_eq!(found.as_deref(), Some(want), "{q}");
    }
}

#[test]
fn range_modifier_does_not_excuse_empty_selectors() {
    let e = parse("{a=~\".*\"} smoothed", &range_ctx()).unwrap_err();
    assert!(e.message.contains("non-empty matcher"), "{}", e.message);
    assert!(parse("(sum(m)) anchored", &range_ctx()).is_err());
}

#[test]
fn info_all_empty_selector_gets_marker() {
    let info_arg = |q: &str| match p(q) {
        Expr::Call(c) => match &*c.args.args[1] {
            Expr::VectorSelector(vs) => vs.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let vs = info_arg("info(metric, {data=~\".*\"})");
    assert_eq!(marker(&vs, INFO_MATCH_ALL_LABEL).as_deref(), Some("true"));
    let vs = info_arg("info(metric, {__name__!~\".+_info\", data=~\".*\"})");
    assert_eq!(marker(&vs, INFO_MATCH_ALL_LABEL).as_deref(), Some("true"));
    let vs = info_arg("info(metric, {data=~\".+\"})");
    assert_eq!(marker(&vs, INFO_MATCH_ALL_LABEL), None);
    // Elsewhere the check still applies.
    assert!(parse("rate({data=~\".*\"}[5m])", &range_ctx()).is_err());
}

#[test]
fn promql_parser_errors_are_prefixed() {
    let e = parse("sum(", &range_ctx()).unwrap_err();
    assert_eq!(e.kind, crate::ErrorKind::BadData);
    assert!(e.message.starts_with("parse error: "), "{}", e.message);
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("ab\ncé d", 7), (2, 4));
    assert_eq!(line_col("x", 0), (1, 1));
}
