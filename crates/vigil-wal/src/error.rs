//! The crate's error types.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::format::MAX_RECORD_LEN;

/// An error of the WAL itself. Cloneable because one failed fsync answers a whole batch.
#[derive(Debug, Clone, Error)]
pub enum WalError {
    /// A filesystem call failed.
    #[error("cannot {action} {path}: {error}")]
    Io {
        /// What the WAL was doing, e.g. "fsync segment".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        error: Arc<io::Error>,
    },
    /// The WAL was closed (or its writer thread is gone).
    #[error("wal is closed")]
    Closed,
    /// An earlier write or fsync failed; nothing more is appended until the WAL is reopened.
    #[error("wal stopped after an earlier failure, reopen it to repair the tail: {cause}")]
    Stopped {
        /// The failure that stopped the WAL.
        cause: Box<WalError>,
    },
    /// A record is larger than the format can frame.
    #[error("record {position} is {len} bytes, above the limit of {MAX_RECORD_LEN} bytes")]
    RecordTooLarge {
        /// Position of the record in its append call or checkpoint.
        position: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A file was written by a format version this build cannot read.
    #[error("{path} has wal format version {version}, this build reads version 1 only")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version byte found.
        version: u8,
    },
    /// The newest checkpoint is damaged; the segments it replaced are gone, so open cannot repair it.
    #[error(
        "checkpoint {path} is corrupt at offset {offset}: {reason}; move the wal directory away to start empty"
    )]
    CorruptCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A segment is damaged (found by replay; open repairs damage before replay runs).
    #[error("segment {path} is corrupt at offset {offset}: {reason}")]
    CorruptSegment {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Replay found a hole in the segment sequence.
    #[error("segment {index} is missing in {dir}")]
    MissingSegment {
        /// The WAL directory.
        dir: PathBuf,
        /// The missing index.
        index: u64,
    },
    /// A checkpoint would replace the segment being written.
    #[error(
        "checkpoint cannot replace segments below {first_kept_segment}: segment {active_segment} is still being written"
    )]
    CheckpointBeyondActiveSegment {
        /// The requested first kept segment.
        first_kept_segment: u64,
        /// The segment being written.
        active_segment: u64,
    },
    /// A checkpoint would be older than the newest existing one.
    #[error(
        "checkpoint replacing segments below {first_kept_segment} is older than the existing checkpoint replacing segments below {newest_checkpoint}"
    )]
    CheckpointOutdated {
        /// The requested first kept segment.
        first_kept_segment: u64,
        /// The index of the newest existing checkpoint.
        newest_checkpoint: u64,
    },
    /// The segment index reached `u64::MAX`.
    #[error("segment index space is exhausted after segment {last_segment}")]
    SegmentIndexExhausted {
        /// The last index in use.
        last_segment: u64,
    },
}

/// An error of [`Wal::replay`](crate::Wal::replay): the WAL's own, or the callback's.
#[derive(Debug, Error)]
pub enum ReplayError<E> {
    /// Reading the WAL failed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The callback rejected a record; replay stopped there.
    #[error("replay callback failed on record {record} of {path}: {error}")]
    Callback {
        /// The checkpoint or segment holding the record.
        path: PathBuf,
        /// Position of the record in that file, from 0.
        record: u64,
        /// The callback's error.
        error: E,
    },
}

/// Builds a [`WalError::Io`].
pub(crate) fn io_error(action: &'static str, path: &Path, error: io::Error) -> WalError {
    WalError::Io {
        action,
        path: path.to_path_buf(),
        error: Arc::new(error),
    }
}
