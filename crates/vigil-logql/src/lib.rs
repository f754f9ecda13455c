//! Vigil's LogQL language.
//!
//! Owns: the LogQL syntax (lexer, parser, typed AST, canonical printing, Loki-style
//! parse errors) in [`syntax`]; line-level execution of pipelines (parsers, filters,
//! formatters, `unwrap`) and content-index hints in [`log`]; and query evaluation in
//! [`eval`] — log queries (streams, direction, limit) and metric queries (range and
//! vector aggregations, binary operators, `label_replace`, `vector()`) over the small
//! [`eval::LogSource`] trait (adapted to `vigil-storage`'s log read traits by
//! [`eval::StorageLogSource`]), with metric results expressed as `vigil_promql` values so
//! rules and APIs treat PromQL and LogQL alike.
//!
//! This crate must not depend on `vigil-tsdb` or any concrete log store: it sees logs
//! only through [`eval::LogSource`] and `vigil-storage`'s log traits, and depends only on `vigil-model`, `vigil-storage` traits and
//! `vigil-promql`'s value types.

pub mod eval;
pub mod log;
pub mod syntax;

pub use eval::{
    Direction, EvalError, EvalOptions, LogEntry, LogQueryParams, LogSource, LogStream,
    MemorySource, MetricQueryParams, OutEntry, QueryOutput, ScanStats, SelectRequest,
    StorageLogSource, StreamResult, eval_log_query, eval_metric_query, eval_query,
};
pub use log::{Pipeline, ProcessedLine, required_substrings};
pub use syntax::{Expr, ParseError, parse};
