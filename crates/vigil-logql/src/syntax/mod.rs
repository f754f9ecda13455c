//! LogQL syntax: lexer, recursive-descent parser, typed AST and canonical printing.

mod ast;
mod display;
mod lexer;
mod parser;
pub mod units;

use std::fmt;

pub use ast::*;
pub use parser::{parse, parse_log_expr, parse_sample_expr};

/// A query that does not parse, rendered as Loki renders it:
/// `parse error at line 1, col 14: syntax error: unexpected IDENTIFIER, expecting STRING`,
/// or `parse error : <message>` for errors that are not tied to a position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line, 0 when the error has no position.
    pub line: usize,
    /// 1-based column (in characters), 0 when the error has no position.
    pub col: usize,
    /// The message after the position.
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(line: usize, col: usize, message: String) -> Self {
        Self { line, col, message }
    }
    pub(crate) fn bare(message: impl Into<String>) -> Self {
        Self {
            line: 0,
            col: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "parse error : {}", self.message)
        } else {
            write!(
                f,
                "parse error at line {}, col {}: {}",
                self.line, self.col, self.message
            )
        }
    }
}
