//! The storage traits between Vigil's engines and its storage engines.
//!
//! Owns the contracts only: [`Appendable`]/[`Appender`] for batched writes with
//! `commit`/`rollback` and one [`AppendOptions`] struct, [`Queryable`]/[`Querier`] for lazy
//! reads over a time range, the log side ([`LogAppendable`]/[`LogAppender`],
//! [`LogQueryable`]/[`LogQuerier`] with streaming, ordered entry reads), the error types
//! shared by all, and (behind the `testing` feature) in-memory implementations plus the
//! [`conformance`] and `log_conformance` suites every implementation must pass. Ingest, query engines, rules and the API see storage only through these
//! traits. This crate depends on `vigil-model` alone and must never name a storage engine.

mod error;
mod log_scan;
mod logs;
mod traits;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod log_conformance;
#[cfg(any(test, feature = "testing"))]
pub mod log_memory;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use error::{AppendError, AppendErrorKind, StorageError, StorageErrorKind};
pub use log_scan::{EntriesPart, LogBatch, LogScanPart, ScanColumns, rows_containing};
pub use logs::{
    LogAppendError, LogAppendOptions, LogAppendable, LogAppender, LogCommitStats, LogEntryIter,
    LogQuerier, LogQueryable, LogSelect, StreamEntry, check_log_matchers, forward_entry_order,
    line_matches_all,
};
pub use traits::{
    AppendOptions, Appendable, Appender, CommitStats, HeadStats, Querier, Queryable, SelectHints,
    Series, SeriesSet, TsdbStatus,
};
