//! Parsing PromQL with the query-time extensions `promql-parser` lacks.
//! (Being written; see `parse`.)

use promql_parser::parser::Expr;

use crate::error::QueryError;

/// Values the parser needs to resolve `step()`, `range()` and friends.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseContext {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

/// Parses `query` into promql-parser's AST.
pub fn parse(query: &str, _ctx: &ParseContext) -> Result<Expr, QueryError> {
    promql_parser::parser::parse(query).map_err(QueryError::bad_data)
}

/// `anchored` / `smoothed` after a selector are carried into the AST as an
/// extra equality matcher on this pseudo label (value `anchored` or
/// `smoothed`); the engine removes it before it reaches storage.
pub const RANGE_MODIFIER_LABEL: &str = "__vigil_range_mod__";
