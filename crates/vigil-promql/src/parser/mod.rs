//! Parsing PromQL with the Prometheus extensions `promql-parser` 0.11.1
//! lacks.
//!
//! # Approach
//!
//! [`parse`] is a thin wrapper around
//! [`promql_parser::parser::parse`](fn@promql_parser::parser::parse). A
//! pre-pass tokenizes the query (respecting `"…"`, `'…'` and backtick
//! strings, `#` comments, braces and brackets — see `lexer`), rewrites the
//! handful of constructs promql-parser cannot read into text it can, and
//! hands the result to promql-parser. A query without any of these
//! constructs is passed through byte for byte, so it parses exactly as
//! promql-parser parses it.
//!
//! 1. **Duration expressions** (`promql-duration-expr`): inside `[range]`,
//!    `[range:step]` and after `offset`, arithmetic (`+ - * / % ^`,
//!    parentheses, unary sign) over number literals (seconds) and duration
//!    literals, plus `step()`, `range()`, `min_of(a, b)`, `max_of(a, b)`,
//!    is evaluated with [`ParseContext`] (`step()` = `step_ms`, `range()` =
//!    `end_ms - start_ms`) and replaced by a canonical duration literal
//!    (`1h30m`, `10s500ms`). Values are float seconds truncated to whole
//!    milliseconds, as upstream does (so a fractional result such as
//!    `1h/7` becomes `514285ms`, and float rounding can make a sum land
//!    1ms low, exactly as in Prometheus). After `offset`, as in upstream's
//!    grammar, only a (signed) literal, `step()`, `range()`, `min_of(…)`,
//!    `max_of(…)` or a signed `(…)` belongs to the offset — `x offset 100 + 2`
//!    is `(x offset 100) + 2` and `x offset -2 ^ 2` is `(x offset -2) ^ 2` —
//!    while an unsigned `(…)` may continue with operators
//!    (`x offset (1m) * 2`). A zero offset is dropped. Ranges and steps
//!    must come out > 0; division or modulo by zero and results out of
//!    range are errors.
//! 2. **Extended range selectors** (`promql-extended-range-selectors`): the
//!    keyword `anchored` or `smoothed` after a vector selector — after its
//!    `[range]`, `offset` and `@` modifiers, in any order — is removed and
//!    the selector gains the matcher
//!    `__vigil_range_mod__="anchored"` / `="smoothed"`
//!    ([`RANGE_MODIFIER_LABEL`]).
//! 3. **`info(v, {data=~".*"})`**: when the second argument of `info()` is a
//!    selector that promql-parser rejects because every matcher matches the
//!    empty string, it gains the matcher `__vigil_info_all__="true"`
//!    ([`INFO_MATCH_ALL_LABEL`]), which satisfies that check.
//!
//! # AST conventions for the engine
//!
//! * [`RANGE_MODIFIER_LABEL`] appears as a `MatchOp::Equal` matcher in
//!   `VectorSelector::matchers.matchers` — of a plain `VectorSelector`
//!   (`metric smoothed`) or of a `MatrixSelector`'s `vs`
//!   (`rate(m[5m] anchored)`) — with value `anchored` or `smoothed`. It is
//!   never in `or_matchers`. The engine must remove it before selecting
//!   series and apply the modifier. A selector carrying it must still have
//!   a name or a non-empty matcher of its own (checked here).
//! * [`INFO_MATCH_ALL_LABEL`] appears as a `MatchOp::Equal` matcher with
//!   value `true` in the selector that is `info()`'s second argument, and
//!   only when that selector's own matchers all match the empty string.
//!   It selects nothing by itself: the engine must drop it.
//! * Duration expressions leave no trace: the AST holds plain `Duration`s
//!   (`MatrixSelector::range`, `SubqueryExpr::range`/`step`, `Offset`).
//!
//! # Errors
//!
//! All errors are `bad_data`. promql-parser's messages carry no position;
//! they become `parse error: <message>`. Errors found by the pre-pass carry
//! the position of the duration expression:
//! `<line>:<col>: parse error: <message>`.

mod duration;
mod lexer;
mod rewrite;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};
use promql_parser::util::{ExprVisitor, walk_expr};

use crate::error::QueryError;

/// Values the parser needs to resolve `step()`, `range()` and friends.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseContext {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

/// `anchored` / `smoothed` after a selector are carried into the AST as an
/// extra equality matcher on this pseudo label (value `anchored` or
/// `smoothed`); the engine removes it before it reaches storage.
pub const RANGE_MODIFIER_LABEL: &str = "__vigil_range_mod__";

/// Marker matcher (`__vigil_info_all__="true"`) added to `info()`'s second
/// argument when all of its own matchers match the empty string; the engine
/// removes it before it reaches storage.
pub const INFO_MATCH_ALL_LABEL: &str = "__vigil_info_all__";

/// Parses `query` into promql-parser's AST, accepting the Prometheus
/// extensions described in the module documentation.
pub fn parse(query: &str, ctx: &ParseContext) -> Result<Expr, QueryError> {
    let rewritten = rewrite::rewrite(query, ctx).map_err(|e| {
        let (line, col) = line_col(query, e.start);
        QueryError::bad_data(format!("{line}:{col}: parse error: {}", e.message))
    })?;
    let expr = promql_parser::parser::parse(&rewritten)
        .map_err(|msg| QueryError::bad_data(format!("parse error: {msg}")))?;
    if rewritten != query {
        check_markers(&expr)?;
    }
    Ok(expr)
}

/// 1-based line and column (in characters) of byte offset `pos`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = src.get(..pos).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Rejects selectors that only passed promql-parser's "at least one
/// non-empty matcher" check thanks to [`RANGE_MODIFIER_LABEL`].
fn check_markers(expr: &Expr) -> Result<(), QueryError> {
    struct Checker;
    impl ExprVisitor for Checker {
        type Error = QueryError;
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, QueryError> {
            let vs = match expr {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            if has_marker(vs) && vs.name.is_none() && own_matchers_all_empty(vs) {
                return Err(QueryError::bad_data(
                    "parse error: vector selector must contain at least one non-empty matcher",
                ));
            }
            Ok(true)
        }
    }
    walk_expr(&mut Checker, expr).map(|_| ())
}

fn has_marker(vs: &VectorSelector) -> bool {
    vs.matchers
        .matchers
        .iter()
        .any(|m| m.name == RANGE_MODIFIER_LABEL && m.op == MatchOp::Equal)
}

fn own_matchers_all_empty(vs: &VectorSelector) -> bool {
    vs.matchers
        .matchers
        .iter()
        .filter(|m| m.name != RANGE_MODIFIER_LABEL)
        .chain(vs.matchers.or_matchers.iter().flatten())
        .all(|m| m.is_match(""))
}

#[cfg(test)]
mod tests;
