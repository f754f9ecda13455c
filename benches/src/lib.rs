//! Shared helpers for Vigil's benchmarks and load generators.
//!
//! Owns the synthetic workloads (node-exporter-like series with realistic value shapes and
//! scrape timestamps; a Loghub-like log corpus), their encoding as Prometheus remote write 1.0
//! requests, starting the `vigil` binary as a black box (`process`), and the reading of blocks
//! a server left on disk (Vigil's or Prometheus') to compute bytes per sample. Used by the
//! criterion benches in `benches/` and by the `vigil-bench`, `vigil-query-bench` and
//! `vigil-log-bench` binaries. May
//! depend on `vigil-ingest` for the wire types only; it must not depend on the storage engine,
//! so the load generator stays a black-box client of the `vigil` binary.

pub mod disk;
pub mod duration;
pub mod log_corpus;
pub mod node_exporter;
pub mod process;
pub mod remote_write;
pub mod rng;

mod error;

pub use error::BenchError;
