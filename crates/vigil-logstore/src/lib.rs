//! Vigil's log storage engine.
//!
//! Owns the log WAL (records in `docs/format/log-wal-records.md`, written through
//! `vigil-wal` with group commit), the in-memory head per stream, cutting chunks by size or
//! age into segments on the object store (`docs/format/log-segment.md`: Parquet entries with
//! zstd and time statistics per row group, a roaring label index, a content index of tantivy
//! trigrams and token Bloom filters per row group, `meta.json` last as the commit marker), the local segment cache, retention,
//! compaction of small segments with delayed deletion of the replaced ones, and the reads
//! that merge head and segments. Implements the log traits of `vigil-storage`.
//!
//! Depends on `vigil-model`, `vigil-storage`, `vigil-wal` and `vigil-objstore` only; it must
//! never name a query engine, the ingest or the API crates.

mod codec;
mod compact;
mod content;
mod error;
mod head;
mod options;
mod querier;
mod segment;
mod store;
mod tokens;
mod wal_record;

pub use compact::{CompactionReport, DeletionMark};
pub use error::LogStoreError;
pub use options::LogStoreOptions;
pub use segment::{SegmentLayout, SegmentMeta};
pub use store::{
    LogStore, MaintenanceReport, OpenReport, StreamEntries, StreamFootprint, read_segment_dir,
    segment_footprint, write_segment_dir,
};
pub use vigil_wal::FsyncMode;
