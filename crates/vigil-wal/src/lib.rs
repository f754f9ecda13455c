//! A segmented, checksummed, group-committed write-ahead log of opaque byte records.
//!
//! Owns the WAL directory: segment files of CRC32C-framed records, checkpoints that replace
//! older segments, repair of torn or corrupt tails on open, and durability through a writer
//! thread that gives every batch of concurrent appends one fsync (group commit). The byte
//! layout and the repair rules are specified in `docs/format/wal.md`.
//!
//! This crate knows bytes, not samples: what a record means (series, samples, tombstones)
//! belongs to its user, the TSDB head. It must not depend on any other Vigil crate.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vigil_wal::{Wal, WalOptions};
//!
//! let (wal, _repair_report) = Wal::open(WalOptions::default())?;
//! wal.replay(|record| {
//!     println!("{} bytes", record.len());
//!     Ok::<(), std::convert::Infallible>(())
//! })?;
//! wal.append_blocking(vec![b"record".to_vec()])?;
//! let next_segment = wal.cut_segment()?;
//! wal.write_checkpoint(next_segment, [b"state so far".to_vec()])?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod checkpoint;
mod dir;
mod error;
mod format;
mod reader;
mod repair;
mod wal;
mod writer;

pub use error::{ReplayError, WalError};
pub use repair::{RepairReport, Truncation};
pub use wal::{FsyncMode, ReplayStats, Wal, WalOptions, WalStats};
