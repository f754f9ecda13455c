use std::path::PathBuf;

/// Errors of the benchmark helpers.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A block's `meta.json` is not what the reader expects.
    #[error("block meta {path} is invalid: {reason}")]
    InvalidMeta {
        /// The `meta.json` file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A duration argument could not be parsed.
    #[error("duration {input:?} is invalid: {reason}")]
    InvalidDuration {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Snappy compression of a request body failed.
    #[error("snappy compression failed: {0}")]
    Snappy(#[from] snap::Error),
}

impl BenchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
