//! PromQL/LogQL text helpers: counter selectors, exact slice increments, window placeholders.

use promql_parser::parser::{self, Expr};
use vigil_model::format_duration_ms;

/// The placeholders a windowed query may use for its range: Sloth's `{{.window}}` and
/// the `$window` form.
const PLACEHOLDERS: &[&str] = &["{{.window}}", "{{ .window }}", "${window}", "$window"];

/// True when `query` contains a window placeholder.
pub(crate) fn has_window_placeholder(query: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| query.contains(p))
}

/// `query` with every window placeholder replaced by `window`.
pub(crate) fn substitute_window(query: &str, window: &str) -> String {
    let mut out = query.to_string();
    for p in PLACEHOLDERS {
        out = out.replace(p, window);
    }
    out
}

/// Checks that `text` is PromQL; returns the parser's message otherwise.
pub(crate) fn check_promql(text: &str) -> Result<(), String> {
    parser::parse(text).map(|_| ())
}

/// Checks that `text` is a plain vector selector (a counter, a histogram bucket …) without
/// `offset` or `@`, and returns it trimmed.
pub(crate) fn counter_selector(text: &str) -> Result<String, String> {
    let text = text.trim();
    match parser::parse(text)? {
        Expr::VectorSelector(vs) => {
            if vs.offset.is_some() || vs.at.is_some() {
                Err("the selector must not use offset or @".into())
            } else {
                Ok(text.to_string())
            }
        }
        _ => Err(format!(
            "expected a plain series selector such as http_requests_total{{job=\"api\"}}, got {text:?}"
        )),
    }
}

/// A counter selector possibly wrapped in `sum(...)`/`sum by (...)(...)` (OpenSLO's
/// `counter: true` queries): the selector inside.
pub(crate) fn counter_in_sum(text: &str) -> Result<String, String> {
    let text = text.trim();
    match parser::parse(text)? {
        Expr::VectorSelector(_) => counter_selector(text),
        Expr::Aggregate(agg) if agg.op.to_string() == "sum" => match *agg.expr {
            Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
                Ok(vs.to_string())
            }
            _ => Err("with counter: true the query must be a counter selector, optionally inside sum(...)".into()),
        },
        _ => Err(
            "with counter: true the query must be a counter selector, optionally inside sum(...), or use a {{.window}} placeholder"
                .into(),
        ),
    }
}

/// The exact, counter-reset-aware increase of every series of `selector` over the slice
/// that ends at the evaluation time (see the crate docs for the derivation):
/// the difference of the last samples at the slice's two ends; when it is negative (a
/// reset), the value after the reset plus what the counter gained before it
/// (`max_over_time` over the slice minus the value at its start); for a series that has no
/// sample at the slice's start (it appeared during the slice), what it gained since its
/// first sample (`x - min_over_time(x[s])`).
pub(crate) fn slice_increase(selector: &str, slice_ms: i64) -> String {
    let s = format_duration_ms(slice_ms);
    format!(
        "(({sel} - {sel} offset {s}) >= 0 or (({sel} + clamp_min(max_over_time({sel}[{s}]) - {sel} offset {s}, 0)) and ({sel} < {sel} offset {s})) or ({sel} - min_over_time({sel}[{s}])))",
        sel = selector
    )
}

/// The per-slice event count of a counter selector, summed over its series.
pub(crate) fn summed_slice_increase(selector: &str, slice_ms: i64) -> String {
    format!("sum({})", slice_increase(selector, slice_ms))
}

/// Rewrites every `rate(<selector>[{{.window}}])` and `increase(<selector>[{{.window}}])` of
/// a Sloth-style query into the exact slice increase of the selector. `None` when the query
/// uses its window placeholder any other way (then it can only be evaluated as written).
pub(crate) fn rewrite_windowed_counters(query: &str, slice_ms: i64) -> Option<String> {
    let bytes = query.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let rest = &query[i..];
        let func = ["increase(", "rate("]
            .into_iter()
            .find(|f| rest.starts_with(f));
        let boundary = i == 0 || {
            let prev = bytes[i - 1];
            !(prev.is_ascii_alphanumeric() || prev == b'_' || prev == b':')
        };
        let Some(func) = func.filter(|_| boundary) else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let open = i + func.len();
        let close = matching_paren(query, open)?;
        let inner = query[open..close].trim();
        let Some(selector) = PLACEHOLDERS.iter().find_map(|p| {
            inner
                .strip_suffix(&format!("[{p}]"))
                .map(str::trim)
                .map(str::to_string)
        }) else {
            i = open;
            continue;
        };
        let selector = counter_selector(&selector).ok()?;
        out.push_str(&query[copied..i]);
        out.push_str(&slice_increase(&selector, slice_ms));
        i = close + 1;
        copied = i;
    }
    out.push_str(&query[copied..]);
    if has_window_placeholder(&out) || check_promql(&out).is_err() {
        return None;
    }
    Some(out)
}

/// Index of the `)` closing the parenthesis opened just before `start`, skipping quoted
/// strings.
fn matching_paren(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 1usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The LogQL count of lines of `selector` (a stream selector with an optional pipeline) in
/// the slice, zero when there are none.
pub(crate) fn logql_slice_count(selector: &str, slice_ms: i64) -> String {
    format!(
        "sum(count_over_time({} [{}])) or vector(0)",
        selector.trim(),
        format_duration_ms(slice_ms)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slice_increase_parses_and_names_the_selector() {
        let inc = slice_increase("http_requests_total{job=\"a\"}", 60_000);
        check_promql(&inc).unwrap();
        assert!(
            inc.contains("http_requests_total{job=\"a\"} offset 1m"),
            "{inc}"
        );
    }

    #[test]
    fn windowed_rates_are_rewritten_to_exact_increments() {
        let q = "sum(rate(http_requests_total{code=~\"(5..|429)\",path=\")\"}[{{.window}}]))";
        let out = rewrite_windowed_counters(q, 60_000).unwrap();
        assert!(out.starts_with("sum(((http_requests_total{"), "{out}");
        assert!(!out.contains("rate("), "{out}");
        // irate is another function; histogram_quantile cannot be rewritten.
        assert!(rewrite_windowed_counters("sum(irate(x[{{.window}}]))", 60_000).is_none());
        assert!(rewrite_windowed_counters("avg_over_time(x[{{.window}}])", 60_000).is_none());
        assert!(
            rewrite_windowed_counters("sum(increase(x[$window])) / 2", 60_000)
                .unwrap()
                .ends_with(" / 2")
        );
    }

    #[test]
    fn selectors_are_checked() {
        assert!(counter_selector("x{a=\"b\"}").is_ok());
        assert!(counter_selector("rate(x[5m])").is_err());
        assert!(counter_selector("x offset 5m").is_err());
        assert!(counter_selector("x{").is_err());
        assert_eq!(counter_in_sum("sum(x{a=\"b\"})").unwrap(), "x{a=\"b\"}");
        assert!(counter_in_sum("max(x)").is_err());
        assert_eq!(
            substitute_window("rate(x[{{.window}}]) + rate(y[$window])", "5m"),
            "rate(x[5m]) + rate(y[5m])"
        );
    }
}
