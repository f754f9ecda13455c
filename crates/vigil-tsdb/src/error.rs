use thiserror::Error;
use vigil_storage::StorageError;

/// Failures of the metrics storage engine.
#[derive(Debug, Error)]
pub enum TsdbError {
    /// The write-ahead log failed.
    #[error("wal: {0}")]
    Wal(#[from] vigil_wal::WalError),
    /// A WAL record could not be decoded.
    #[error("corrupt wal record: {0}")]
    CorruptRecord(String),
    /// A block failed to write, read or validate.
    #[error("block: {0}")]
    Block(#[from] crate::block::BlockError),
    /// A chunk failed to decode.
    #[error("chunk: {0}")]
    Chunk(#[from] crate::chunk::ChunkError),
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Block metadata could not be parsed.
    #[error("block meta {path}: {source}")]
    Meta {
        /// Which object.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl TsdbError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<TsdbError> for StorageError {
    fn from(err: TsdbError) -> Self {
        match err {
            TsdbError::Wal(vigil_wal::WalError::Closed | vigil_wal::WalError::Stopped { .. }) => {
                StorageError::Unavailable(err.to_string())
            }
            TsdbError::Chunk(_) | TsdbError::CorruptRecord(_) | TsdbError::Meta { .. } => {
                StorageError::Corrupt {
                    what: "tsdb".into(),
                    reason: err.to_string(),
                }
            }
            other => StorageError::Internal(other.to_string()),
        }
    }
}
