use thiserror::Error;
use vigil_storage::StorageError;

/// A failure of the log store.
#[derive(Debug, Error)]
pub enum LogStoreError {
    /// Local file I/O failed.
    #[error("log store i/o error while {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The write-ahead log failed.
    #[error("log wal: {0}")]
    Wal(#[from] vigil_wal::WalError),
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The content index failed.
    #[error("content index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// Stored bytes failed a check (magic, version, checksum, bounds).
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What is corrupt.
        what: String,
        /// Which check failed.
        reason: String,
    },
    /// The store is closed.
    #[error("log store is closed")]
    Closed,
    /// A read through the storage traits failed (kept as is when passed back).
    #[error("{0}")]
    Storage(StorageError),
}

impl LogStoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl From<LogStoreError> for StorageError {
    fn from(err: LogStoreError) -> Self {
        match err {
            LogStoreError::Io { context, source } => StorageError::Io { context, source },
            LogStoreError::Corrupt { what, reason } => StorageError::Corrupt { what, reason },
            LogStoreError::Closed => StorageError::Unavailable("log store is closed".into()),
            LogStoreError::Storage(err) => err,
            other => StorageError::Internal(other.to_string()),
        }
    }
}
