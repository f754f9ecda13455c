//! Vigil's metrics storage engine.
//!
//! Owns chunk encodings (Gorilla XOR), the in-memory head with its roaring postings, the
//! head's use of the WAL, immutable blocks on the object store, compaction and retention;
//! implements the `vigil-storage` traits. Must not depend on any engine, ingest or API crate.

pub mod block;
pub mod chunk;
pub mod postings;

mod blocks;
mod db;
mod error;
mod head;
mod head_append;
mod head_read;
mod head_wal;
mod options;
mod querier;
mod status;

pub use blocks::MaintenanceReport;
pub use db::{OpenReport, Tsdb};
pub use error::TsdbError;
pub use options::{FsyncMode, TsdbOptions};
