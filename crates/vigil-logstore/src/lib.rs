//! Vigil's log storage engine.
//!
//! Will own the log WAL, the per-stream heads, Parquet segments on the object store, the
//! roaring label index and the tantivy content index, implementing the log traits of
//! `vigil-storage`. Depends on `vigil-model`, `vigil-storage`, `vigil-wal` and
//! `vigil-objstore` only; it must never name an engine, the ingest or API crates.
