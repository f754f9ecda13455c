//! Vigil's PromQL engine.
//!
//! Owns: evaluation of PromQL expressions (instant and range queries) with
//! Prometheus' semantics, the query-time extensions of the parser
//! (duration expressions, `anchored`/`smoothed` range selectors), result
//! values and query errors classified by Prometheus' `errorType`.
//!
//! Reads data only through `vigil-storage`'s `Queryable`/`Querier` traits;
//! it must never depend on a concrete storage (`vigil-tsdb`) nor on the
//! HTTP layer.

mod aggregate;
mod binary;
mod engine;
mod error;
mod eval;
mod functions;
mod kernels;
pub mod parser;
mod value;

pub use engine::{Engine, EngineOptions, QueryOptions};
pub use error::{ErrorKind, QueryError};
pub use value::{InstantSample, Point, QueryResult, QueryStats, RangeSeries, Value};
