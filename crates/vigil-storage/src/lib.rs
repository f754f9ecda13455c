//! The storage traits between Vigil's engines and its storage engines.
//!
//! Owns the contracts only: [`Appendable`]/[`Appender`] for batched writes with
//! `commit`/`rollback` and one [`AppendOptions`] struct, [`Queryable`]/[`Querier`] for lazy
//! reads over a time range, the error types shared by both, and (behind the `testing`
//! feature) an in-memory implementation plus the [`conformance`] suite every implementation
//! must pass. Ingest, query engines, rules and the API see storage only through these
//! traits. This crate depends on `vigil-model` alone and must never name a storage engine.

mod error;
mod traits;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use error::{AppendError, AppendErrorKind, StorageError, StorageErrorKind};
pub use traits::{
    AppendOptions, Appendable, Appender, CommitStats, HeadStats, Querier, Queryable, SelectHints,
    Series, SeriesSet, TsdbStatus,
};
