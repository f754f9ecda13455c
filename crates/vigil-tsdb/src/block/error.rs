use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;
use vigil_model::Labels;

/// Errors writing or reading a block.
#[derive(Debug, Error)]
pub enum BlockError {
    /// The block directory has no `meta.json`: it was never finished or is still being written.
    #[error("block {dir} is not committed: meta.json is missing")]
    NotCommitted {
        /// The block directory.
        dir: PathBuf,
    },
    /// A file of the block could not be created, read, written or synced.
    #[error("i/o error on block file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file of the block does not follow the format (bad magic, CRC mismatch, bad lengths…).
    #[error("corrupt block file {path}: {reason}")]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, with offsets where they help.
        reason: String,
    },
    /// Series were given to the writer out of order; blocks store them sorted by labels.
    #[error(
        "series {current} added after {previous}: series must come in strictly increasing label order"
    )]
    OutOfOrderSeries {
        /// The series added before.
        previous: Labels,
        /// The rejected series.
        current: Labels,
    },
    /// The writer was given something a block cannot hold (bad chunk times, empty series…).
    #[error("invalid block input: {reason}")]
    InvalidInput {
        /// What was rejected and why.
        reason: String,
    },
}

impl BlockError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_input(reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            reason: reason.into(),
        }
    }
}
